//! The small words of the audit sentences: roles, test results, token limits, reasons.

pub(super) fn role(r: &str) -> &str {
    match r {
        "owner" => "an owner",
        "member" => "a member",
        other => other,
    }
}

pub(super) fn test_result(code: &str) -> &str {
    match code {
        "ok" => "it works",
        "invalid" => "the provider rejected it",
        "quota_exceeded" => "it works but its quota is used up",
        "timeout" => "the provider did not answer in time",
        "unreachable" => "the provider could not be reached",
        "provider_error" => "the provider answered with an error",
        other => other,
    }
}

pub(super) fn tokens(v: &str) -> String {
    if v.is_empty() {
        "unlimited".into()
    } else {
        format!("{v} tokens")
    }
}

pub(super) fn revocation_reason(code: &str) -> &str {
    match code {
        "creator_disabled" => " because its creator\u{2019}s account was disabled",
        "creator_left_workspace" => " because its creator left the workspace",
        "creator_no_longer_owner" => " because its creator is no longer an owner",
        "inviter_disabled" => " because its sender\u{2019}s account was disabled",
        "inviter_left_workspace" => " because its sender left the workspace",
        "inviter_no_longer_owner" => " because its sender is no longer an owner",
        _ => "",
    }
}

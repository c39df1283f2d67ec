use serde_json::{Value, json};

use super::*;

fn say(action: &str, who: &Who, target: Option<&str>, details: Value, ws: Option<&str>) -> String {
    sentence(&Event {
        action,
        who,
        target,
        details: &details,
        workspace: ws,
        actor_email: Some("olivia@example.test"),
        without_masks: false,
    })
}

fn olivia() -> Who {
    Who::Person("Olivia".into())
}

#[test]
fn workspace_key_events_name_the_provider_label_mask_and_workspace() {
    let o = olivia();
    let key = |action, details| say(action, &o, Some("Production"), details, Some("Acme Labs"));
    assert_eq!(
        key(
            "workspace_key.added",
            json!({"provider": "openai", "mask": "sk-proj-…wxyz", "status": "active"})
        ),
        "Olivia added the OpenAI key \u{201c}Production\u{201d} (sk-proj-…wxyz) in Acme Labs."
    );
    assert_eq!(
        key(
            "workspace_key.replaced",
            json!({"provider": "anthropic", "mask_before": "sk-ant-…1111", "mask": "sk-ant-…2222"})
        ),
        "Olivia replaced the Anthropic key \u{201c}Production\u{201d} in Acme Labs: sk-ant-…1111 became sk-ant-…2222."
    );
    assert_eq!(
        key(
            "workspace_key.renamed",
            json!({"provider": "openai", "mask": "sk-…abcd", "label_before": "Prod"})
        ),
        "Olivia renamed the OpenAI key \u{201c}Prod\u{201d} (sk-…abcd) to \u{201c}Production\u{201d} in Acme Labs."
    );
    let removed = key(
        "workspace_key.removed",
        json!({"provider": "openai", "mask": "sk-…abcd"}),
    );
    assert!(
        removed.starts_with("Olivia removed the OpenAI key"),
        "{removed}"
    );
    let tested = key(
        "workspace_key.tested",
        json!({"provider": "openai", "mask": "sk-…abcd", "result": "invalid"}),
    );
    assert!(
        tested.ends_with("in Acme Labs: the provider rejected it."),
        "{tested}"
    );
    let moved = key(
        "workspace_key.priority_changed",
        json!({"provider": "openai", "mask": "m", "before": 2, "after": 1}),
    );
    assert!(moved.ends_with("from position 2 to 1."), "{moved}");
    let rejected = say(
        "workspace_key.rejected",
        &Who::System,
        Some("Production"),
        json!({"provider": "openai", "mask": "sk-…abcd"}),
        Some("Acme Labs"),
    );
    assert!(
        rejected.starts_with("OpenAI rejected the OpenAI key"),
        "{rejected}"
    );
    for (action, verb) in [
        ("workspace_key.enabled", "enabled"),
        ("workspace_key.disabled", "disabled"),
    ] {
        let s = key(action, json!({"provider": "openai", "mask": "m"}));
        assert!(
            s.starts_with(&format!("Olivia {verb} the OpenAI key")),
            "{s}"
        );
    }
}

#[test]
fn platform_events_name_the_provider_and_can_leave_masks_out() {
    let admin = Who::Administrator;
    let off = say(
        "provider.byok_disabled",
        &admin,
        Some("openai"),
        json!({"before": true, "after": false}),
        None,
    );
    assert_eq!(
        off,
        "An administrator turned off BYOK for OpenAI: every workspace now uses the platform key."
    );
    let on = say(
        "provider.byok_enabled",
        &olivia(),
        Some("anthropic"),
        json!({}),
        None,
    );
    assert!(
        on.starts_with("Olivia turned on BYOK for Anthropic"),
        "{on}"
    );
    let details = json!({"label": "Global", "mask_before": "sk-…1111", "mask": "sk-…2222"});
    let shown = say(
        "provider.global_key_replaced",
        &olivia(),
        Some("openai"),
        details.clone(),
        None,
    );
    assert_eq!(
        shown,
        "Olivia replaced the platform\u{2019}s OpenAI key: sk-…1111 became sk-…2222."
    );
    let hidden = sentence(&Event {
        action: "provider.global_key_replaced",
        who: &admin,
        target: Some("openai"),
        details: &details,
        workspace: None,
        actor_email: None,
        without_masks: true,
    });
    assert_eq!(
        hidden,
        "An administrator replaced the platform\u{2019}s OpenAI key."
    );
    let policy = say(
        "provider.failure_policy_changed",
        &olivia(),
        Some("openai"),
        json!({"before": "fail", "after": "fallback"}),
        None,
    );
    assert!(
        policy.contains("the platform key answers (was: the call fails)"),
        "{policy}"
    );
    let unknown = say(
        "provider.disabled",
        &olivia(),
        Some("acme_ai"),
        json!({}),
        None,
    );
    assert_eq!(unknown, "Olivia turned off acme_ai for the platform.");
}

#[test]
fn account_and_sign_in_events_read_as_sentences() {
    let o = olivia();
    assert_eq!(
        say("user.signed_in", &o, None, json!({}), None),
        "Olivia signed in."
    );
    let failed = say(
        "user.sign_in_failed",
        &Who::Email("x@example.test".into()),
        None,
        json!({"reason": "wrong_password"}),
        None,
    );
    assert_eq!(
        failed,
        "Someone using x@example.test failed to sign in (wrong password)."
    );
    let admin = say(
        "user.admin_changed",
        &o,
        Some("b@example.test"),
        json!({"before": false, "after": true}),
        None,
    );
    assert_eq!(admin, "Olivia made b@example.test a platform admin.");
    let created = say(
        "user.created",
        &Who::CommandLine,
        Some("root@example.test"),
        json!({"is_admin": true}),
        None,
    );
    assert_eq!(
        created,
        "An operator on the command line created the platform admin account root@example.test."
    );
    let joined = say(
        "user.created",
        &Who::Email("olivia@example.test".into()),
        Some("olivia@example.test"),
        json!({"is_admin": false}),
        None,
    );
    assert_eq!(joined, "olivia@example.test created their account.");
    let signup = say(
        "settings.signup_changed",
        &o,
        None,
        json!({"after": false}),
        None,
    );
    assert_eq!(signup, "Olivia turned public sign-up off.");
}

#[test]
fn workspace_member_and_token_events_name_the_workspace() {
    let o = olivia();
    let ws = Some("Acme Labs");
    assert_eq!(
        say(
            "member.added",
            &o,
            Some("b@example.test"),
            json!({"role": "owner"}),
            ws
        ),
        "Olivia added b@example.test to Acme Labs as an owner."
    );
    assert_eq!(
        say(
            "member.added",
            &o,
            Some("olivia@example.test"),
            json!({"role": "member"}),
            ws
        ),
        "Olivia joined Acme Labs as a member."
    );
    assert_eq!(
        say(
            "workspace.created",
            &o,
            Some("acme"),
            json!({"name": "Acme Labs"}),
            ws
        ),
        "Olivia created the workspace Acme Labs (acme)."
    );
    let allowance = say(
        "workspace.allowance_changed",
        &o,
        Some("acme"),
        json!({"before": null, "after": 1000}),
        ws,
    );
    assert!(
        allowance.ends_with("from unlimited to 1000 tokens."),
        "{allowance}"
    );
    let revoked = say(
        "api_token.revoked",
        &o,
        Some("CI"),
        json!({"prefix": "kh_abc123…", "reason": "creator_left_workspace"}),
        ws,
    );
    assert_eq!(
        revoked,
        "Olivia revoked the API token \u{201c}CI\u{201d} (kh_abc123…) in Acme Labs because its creator left the workspace."
    );
    let invited = say(
        "invitation.created",
        &o,
        Some("c@example.test"),
        json!({"role": "member"}),
        ws,
    );
    assert_eq!(
        invited,
        "Olivia invited c@example.test to Acme Labs as a member."
    );
    let withdrawn = say(
        "invitation.revoked",
        &o,
        Some("c@example.test"),
        json!({"reason": "inviter_left_workspace"}),
        ws,
    );
    assert_eq!(
        withdrawn,
        "Olivia revoked c@example.test\u{2019}s invitation to Acme Labs because its sender left the workspace."
    );
}

#[test]
fn prices_and_the_master_key() {
    let o = olivia();
    let price = say(
        "price.changed",
        &o,
        Some("openai/gpt-4o"),
        json!({"before": {}, "after": {"input_usd_per_million": "2.50", "output_usd_per_million": "10"}}),
        None,
    );
    assert_eq!(
        price,
        "Olivia changed the price of openai/gpt-4o: $2.50 per million input tokens, $10 per million output tokens."
    );
    let rotated = say(
        "master_key.rotated",
        &Who::CommandLine,
        None,
        json!({"from": "v1", "to": "v2", "resealed": 3, "failed": 0}),
        None,
    );
    assert!(
        rotated.contains("from v1 to v2: 3 keys resealed, 0 failed"),
        "{rotated}"
    );
}

#[test]
fn an_unknown_action_falls_back_to_a_readable_sentence() {
    let s = say(
        "workspace_key.archived",
        &olivia(),
        Some("Production"),
        json!({}),
        Some("Acme Labs"),
    );
    assert_eq!(
        s,
        "Olivia recorded \u{201c}workspace key: archived\u{201d} for \u{201c}Production\u{201d} in Acme Labs."
    );
    let s = say("backup.made", &Who::System, None, json!({}), None);
    assert_eq!(s, "Keyhold recorded \u{201c}backup: made\u{201d}.");
}

/// The action strings written anywhere under `src/services/` (`"family.verb"` literals).
fn emitted_actions() -> Vec<String> {
    const FAMILIES: &[&str] = &[
        "user",
        "workspace_key",
        "provider",
        "member",
        "invitation",
        "api_token",
        "price",
        "master_key",
        "platform",
        "settings",
        "workspace",
    ];
    // Every source file under src/services, its area folders included.
    let mut files = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/services")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/services") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "found the services: {}", files.len());
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).expect("source");
        for literal in text.split('"') {
            let Some((family, verb)) = literal.split_once('.') else {
                continue;
            };
            let word =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if FAMILIES.contains(&family) && word(verb) {
                found.push(literal.to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_action_the_services_write_has_its_own_sentence() {
    let actions = emitted_actions();
    assert!(actions.len() > 40, "the scan found too little: {actions:?}");
    for action in &actions {
        let s = say(action, &olivia(), Some("t"), json!({}), Some("W"));
        assert!(
            !s.contains("recorded \u{201c}"),
            "{action} has no wording: {s}"
        );
        assert!(s.ends_with('.'), "{s}");
    }
    for listed in SIGN_IN_ACTIONS.iter().chain(ROUTING_ACTIONS) {
        assert!(
            actions.iter().any(|a| a == listed),
            "{listed} is never written"
        );
    }
}

//! The audit log for people: one sentence per event, with names instead of ids — the
//! actor's name, the provider's display name, a key's label and mask, the workspace's
//! name. Pure: the caller looks the names up; details never hold a secret (SPEC §8).

use serde_json::Value;

use super::providers;

mod words;
use words::{revocation_reason, role, test_result, tokens};

/// Sign-in traffic, which "Hide sign-ins" hides: sessions beginning and ending, and failed
/// or refused sign-ins. Changes to an account ("sign out everywhere", password changes,
/// a wrong current password) are not traffic and stay visible.
pub const SIGN_IN_ACTIONS: &[&str] = &[
    "user.signed_in",
    "user.signed_out",
    "user.sign_in_failed",
    "user.sign_in_throttled",
];

/// Platform events (no workspace) that change how every workspace's calls are routed: a
/// provider on or off, BYOK on or off, the failure policy, the global key. Owners see them
/// in their workspace's log, marked "Platform", the admin unnamed.
pub const ROUTING_ACTIONS: &[&str] = &[
    "provider.enabled",
    "provider.disabled",
    "provider.byok_enabled",
    "provider.byok_disabled",
    "provider.failure_policy_changed",
    "provider.global_key_set",
    "provider.global_key_replaced",
    "provider.global_key_removed",
];

/// Who did it, as a sentence names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Someone with an account: their name, or their email when the name is empty.
    Person(String),
    /// An email no account answers to (a sign-in attempt, a reset request).
    Email(String),
    /// A platform admin left unnamed (an owner reading platform events).
    Administrator,
    /// `keyhold` run from the command line.
    CommandLine,
    /// Keyhold itself (background work).
    System,
}

impl Who {
    fn subject(&self) -> String {
        match self {
            Who::Person(name) => name.clone(),
            Who::Email(email) => format!("Someone using {email}"),
            Who::Administrator => "An administrator".into(),
            Who::CommandLine => "An operator on the command line".into(),
            Who::System => "Keyhold".into(),
        }
    }
}

/// One event, with the names the sentence needs.
pub struct Event<'a> {
    pub action: &'a str,
    pub who: &'a Who,
    pub target: Option<&'a str>,
    /// The event's details (JSON object).
    pub details: &'a Value,
    /// The workspace's name, when the event happened in one.
    pub workspace: Option<&'a str>,
    /// The actor's email, to tell "joined" from "added someone".
    pub actor_email: Option<&'a str>,
    /// Leaves masks out (owners reading platform events about the global key).
    pub without_masks: bool,
}

impl Event<'_> {
    fn str(&self, field: &str) -> Option<&str> {
        self.details.get(field).and_then(Value::as_str)
    }

    fn text(&self, field: &str) -> String {
        match self.details.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }

    fn flag(&self, field: &str) -> Option<bool> {
        self.details.get(field).and_then(Value::as_bool)
    }

    fn target(&self) -> &str {
        self.target.unwrap_or("")
    }

    fn provider(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => providers::find(id).map_or_else(|| id.to_owned(), |p| p.name.to_owned()),
            None => String::new(),
        }
    }

    /// `" in Acme Labs"`, or nothing outside a workspace.
    fn in_ws(&self) -> String {
        self.workspace
            .map(|w| format!(" in {w}"))
            .unwrap_or_default()
    }

    /// `" to Acme Labs"`, or nothing outside a workspace.
    fn to_ws(&self) -> String {
        self.workspace
            .map(|w| format!(" to {w}"))
            .unwrap_or_default()
    }

    /// Whether the actor did it to themselves (joining, accepting).
    fn by_target(&self) -> bool {
        matches!((self.actor_email, self.target), (Some(a), Some(t)) if a.eq_ignore_ascii_case(t))
    }

    fn mask(&self, field: &str) -> String {
        match self
            .str(field)
            .filter(|m| !m.is_empty() && !self.without_masks)
        {
            Some(m) => format!(" ({m})"),
            None => String::new(),
        }
    }

    /// `the OpenAI key “Production” (sk-proj-…wxyz)`.
    fn workspace_key(&self) -> String {
        self.key_named(self.target, Some("mask"))
    }

    /// The workspace key labelled `label`, with the mask in `mask_field` if any.
    fn key_named(&self, label: Option<&str>, mask_field: Option<&str>) -> String {
        let provider = self.provider(self.str("provider"));
        let name = if provider.is_empty() {
            "the key".to_owned()
        } else {
            format!("the {provider} key")
        };
        let mask = mask_field.map(|f| self.mask(f)).unwrap_or_default();
        format!("{name} \u{201c}{}\u{201d}{mask}", label.unwrap_or(""))
    }

    /// `: sk-…1111 became sk-…2222` for a replaced key, or nothing without masks.
    fn swap(&self) -> String {
        let shown = |f: &str| self.str(f).filter(|m| !m.is_empty() && !self.without_masks);
        match (shown("mask_before"), shown("mask")) {
            (Some(before), Some(after)) => format!(": {before} became {after}"),
            (None, Some(after)) => format!(" ({after})"),
            _ => String::new(),
        }
    }

    /// `the platform's OpenAI key (sk-…abcd)`.
    fn global_key(&self) -> String {
        format!(
            "the platform\u{2019}s {} key{}",
            self.provider(self.target),
            self.mask("mask")
        )
    }
}

/// The sentence for `e`, e.g. "Olivia added the OpenAI key “Production” (sk-proj-…wxyz)
/// in Acme Labs." An action this function does not know still reads as a sentence.
pub fn sentence(e: &Event<'_>) -> String {
    let who = e.who.subject();
    let t = e.target();
    let ws = e.in_ws();
    let said = match e.action {
        // ---- a workspace's keys
        "workspace_key.added" => format!("{who} added {}{ws}", e.workspace_key()),
        "workspace_key.replaced" => format!(
            "{who} replaced {}{ws}{}",
            e.key_named(e.target, None),
            e.swap()
        ),
        "workspace_key.renamed" => format!(
            "{who} renamed {} to \u{201c}{t}\u{201d}{ws}",
            e.key_named(e.str("label_before"), Some("mask"))
        ),
        "workspace_key.removed" => format!("{who} removed {}{ws}", e.workspace_key()),
        "workspace_key.enabled" => format!("{who} enabled {}{ws}", e.workspace_key()),
        "workspace_key.disabled" => format!("{who} disabled {}{ws}", e.workspace_key()),
        "workspace_key.tested" => format!(
            "{who} tested {}{ws}: {}",
            e.workspace_key(),
            test_result(&e.text("result"))
        ),
        "workspace_key.priority_changed" => format!(
            "{who} moved {}{ws} from position {} to {}",
            e.workspace_key(),
            e.text("before"),
            e.text("after")
        ),
        "workspace_key.rejected" => format!(
            "{} rejected {}{ws}, so Keyhold marked it invalid and told the owners",
            e.provider(e.str("provider")),
            e.workspace_key()
        ),
        // ---- providers and global keys (platform)
        "provider.enabled" => format!("{who} turned on {} for the platform", e.provider(e.target)),
        "provider.disabled" => {
            format!("{who} turned off {} for the platform", e.provider(e.target))
        }
        "provider.byok_enabled" => format!(
            "{who} turned on BYOK for {}: workspaces may use their own keys",
            e.provider(e.target)
        ),
        "provider.byok_disabled" => format!(
            "{who} turned off BYOK for {}: every workspace now uses the platform key",
            e.provider(e.target)
        ),
        "provider.failure_policy_changed" => {
            let policy = |p: String| match p.as_str() {
                "fail" => "the call fails".to_owned(),
                "fallback" => "the platform key answers".to_owned(),
                _ => p,
            };
            format!(
                "{who} changed what happens when a workspace\u{2019}s {} keys fail: {} (was: {})",
                e.provider(e.target),
                policy(e.text("after")),
                policy(e.text("before"))
            )
        }
        "provider.global_key_set" => format!("{who} added {}", e.global_key()),
        "provider.global_key_replaced" => format!(
            "{who} replaced the platform\u{2019}s {} key{}",
            e.provider(e.target),
            e.swap()
        ),
        "provider.global_key_removed" => format!("{who} removed {}", e.global_key()),
        "provider.global_key_tested" => format!(
            "{who} tested {}: {}",
            e.global_key(),
            test_result(&e.text("result"))
        ),
        // ---- accounts
        "user.created" if e.by_target() => format!("{t} created their account"),
        "user.created" if e.flag("is_admin") == Some(true) => {
            format!("{who} created the platform admin account {t}")
        }
        "user.created" => format!("{who} created the account {t}"),
        "user.disabled" => format!("{who} disabled the account {t}"),
        "user.enabled" => format!("{who} enabled the account {t} again"),
        "user.admin_changed" if e.flag("after") == Some(true) => {
            format!("{who} made {t} a platform admin")
        }
        "user.admin_changed" => format!("{who} took platform admin rights from {t}"),
        "user.signed_in" => format!("{who} signed in"),
        "user.signed_out" => format!("{who} signed out"),
        "user.signed_out_everywhere" => format!("{who} signed out everywhere"),
        "user.sign_in_failed" => {
            let why = match e.text("reason").as_str() {
                "unknown_email" => " (no account has this email)",
                "disabled" => " (the account is disabled)",
                "wrong_password" => " (wrong password)",
                _ => "",
            };
            format!("{who} failed to sign in{why}")
        }
        "user.sign_in_throttled" => {
            format!("{who} was refused a sign-in for a while after too many failures")
        }
        "user.password_changed" => format!("{who} changed their password"),
        "user.password_reset" => format!("{who} chose a new password with a reset link"),
        "user.password_reset_requested" => format!("{who} asked for a password reset link"),
        "user.password_check_failed" => format!("{who} entered a wrong current password"),
        "user.password_check_throttled" => {
            format!("{who} was stopped after too many wrong current passwords")
        }
        "user.sign_up_existing_email" => format!(
            "{who} tried to sign up as {t}, which already has an account; its owner was emailed"
        ),
        "platform.setup_completed" => format!("{t} set up Keyhold as its first admin"),
        "settings.signup_changed" if e.flag("after") == Some(true) => {
            format!("{who} turned public sign-up on")
        }
        "settings.signup_changed" => format!("{who} turned public sign-up off"),
        // ---- workspaces, members, invitations
        "workspace.created" => {
            let name = e.str("name").or(e.workspace).unwrap_or(t);
            format!("{who} created the workspace {name} ({t})")
        }
        "workspace.allowance_changed" => format!(
            "{who} changed the monthly platform allowance{ws} from {} to {}",
            tokens(&e.text("before")),
            tokens(&e.text("after"))
        ),
        "member.added" if e.by_target() => {
            let ws = e.workspace.unwrap_or("the workspace");
            format!("{who} joined {ws} as {}", role(&e.text("role")))
        }
        "member.added" => format!("{who} added {t}{} as {}", e.to_ws(), role(&e.text("role"))),
        "member.removed" => format!(
            "{who} removed {t} ({}) from {}",
            e.text("role"),
            e.workspace.unwrap_or("the workspace")
        ),
        "member.role_changed" => format!(
            "{who} changed the role of {t}{ws} from {} to {}",
            e.text("before"),
            e.text("after")
        ),
        "invitation.created" => format!(
            "{who} invited {t}{} as {}",
            e.to_ws(),
            role(&e.text("role"))
        ),
        "invitation.resent" => format!("{who} sent {t}\u{2019}s invitation{} again", e.to_ws()),
        "invitation.link_shown" => format!(
            "{who} renewed {t}\u{2019}s invitation{} and copied its link",
            e.to_ws()
        ),
        "invitation.revoked" => format!(
            "{who} revoked {t}\u{2019}s invitation{}{}",
            e.to_ws(),
            revocation_reason(&e.text("reason"))
        ),
        "invitation.accepted" => format!(
            "{who} accepted the invitation{} as {}",
            e.to_ws(),
            role(&e.text("role"))
        ),
        // ---- API tokens
        "api_token.created" => format!(
            "{who} created the API token \u{201c}{t}\u{201d} ({}){ws}",
            e.text("prefix")
        ),
        "api_token.revoked" => format!(
            "{who} revoked the API token \u{201c}{t}\u{201d} ({}){ws}{}",
            e.text("prefix"),
            revocation_reason(&e.text("reason"))
        ),
        // ---- prices and the vault
        "price.added" | "price.changed" => {
            let after = e.details.get("after").unwrap_or(e.details);
            let usd = |f: &str| after.get(f).map(|v| v.to_string().replace('"', ""));
            let verb = if e.action == "price.added" {
                "set"
            } else {
                "changed"
            };
            format!(
                "{who} {verb} the price of {t}: ${} per million input tokens, ${} per million output tokens",
                usd("input_usd_per_million").unwrap_or_default(),
                usd("output_usd_per_million").unwrap_or_default()
            )
        }
        "price.removed" => format!("{who} removed the price of {t}"),
        "master_key.rotated" => format!(
            "{who} rotated the master key from {} to {}: {} keys resealed, {} failed",
            e.text("from"),
            e.text("to"),
            e.text("resealed"),
            e.text("failed")
        ),
        _ => generic(e, &who),
    };
    format!("{said}.")
}

/// "Olivia recorded “workspace key: archived” for “Production” in Acme Labs".
fn generic(e: &Event<'_>, who: &str) -> String {
    let what = e.action.replace('_', " ").replacen('.', ": ", 1);
    let target = e
        .target
        .map(|t| format!(" for \u{201c}{t}\u{201d}"))
        .unwrap_or_default();
    format!("{who} recorded \u{201c}{what}\u{201d}{target}{}", e.in_ws())
}

#[cfg(test)]
#[path = "audit_words_tests.rs"]
mod tests;

//! Which key answers a workspace's request to a provider (SPEC §4), and why.
//! Pure: callers load the settings, keys and allowance; this decides. Why it cannot, and
//! how that is worded for each reader, is in `errors`.

use std::fmt;

use crate::domain::ids::KeyId;

mod errors;

pub use errors::{ResolveError, Viewer};

/// What happens when a workspace key fails upstream: an admin policy per provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailurePolicy {
    /// The request fails; the platform never pays for a workspace's broken key.
    #[default]
    Fail,
    /// The platform key answers after the workspace keys.
    FallbackToGlobal,
}

impl FailurePolicy {
    /// Stored form: `fail` or `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "fail",
            FailurePolicy::FallbackToGlobal => "fallback",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<FailurePolicy> {
        match s {
            "fail" => Some(FailurePolicy::Fail),
            "fallback" => Some(FailurePolicy::FallbackToGlobal),
            _ => None,
        }
    }
}

impl fmt::Display for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of a workspace key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Tested and working.
    Active,
    /// Saved but not yet confirmed (the test timed out or the provider failed).
    Untested,
    /// Working, but the provider reports the quota is exceeded.
    QuotaWarning,
    /// Turned off by an owner; kept.
    Disabled,
    /// Rejected by the provider (401/403).
    Invalid,
    /// Revoked: ciphertext wiped, row kept for the audit trail.
    Removed,
}

impl KeyStatus {
    /// Every status, for exhaustive tests and select boxes.
    pub const ALL: [KeyStatus; 6] = [
        KeyStatus::Active,
        KeyStatus::Untested,
        KeyStatus::QuotaWarning,
        KeyStatus::Disabled,
        KeyStatus::Invalid,
        KeyStatus::Removed,
    ];

    /// Stored form, e.g. `quota_warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Untested => "untested",
            KeyStatus::QuotaWarning => "quota_warning",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Invalid => "invalid",
            KeyStatus::Removed => "removed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<KeyStatus> {
        KeyStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a key in this status may answer requests.
    pub fn is_usable(self) -> bool {
        matches!(
            self,
            KeyStatus::Active | KeyStatus::Untested | KeyStatus::QuotaWarning
        )
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The admin's settings for one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Whether the provider may be used at all.
    pub enabled: bool,
    /// Whether workspaces may bring their own key.
    pub byok_enabled: bool,
    /// Whether a failing workspace key may fall back to the platform key.
    pub failure_policy: FailurePolicy,
    /// The platform (global) key, if one is stored.
    pub global_key: Option<GlobalKey>,
}

/// Reference to the platform key (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalKey {
    /// Record id.
    pub id: KeyId,
    /// Whether it may answer.
    pub active: bool,
}

/// Reference to one of a workspace's keys for the provider (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceKeyRef {
    /// Record id.
    pub id: KeyId,
    /// Owner-chosen label.
    pub label: String,
    /// Lower answers first.
    pub priority: i32,
    /// Lifecycle status.
    pub status: KeyStatus,
}

/// A workspace's platform allowance (credits) for the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allowance {
    /// Token limit; `None` means unlimited.
    pub limit_tokens: Option<i64>,
    /// Platform tokens used so far in the period.
    pub used_tokens: i64,
}

impl Allowance {
    /// No limit.
    pub const UNLIMITED: Allowance = Allowance {
        limit_tokens: None,
        used_tokens: 0,
    };

    /// Whether the platform key may no longer answer for this workspace.
    pub fn is_exhausted(&self) -> bool {
        self.limit_tokens
            .is_some_and(|limit| self.used_tokens >= limit)
    }

    /// Tokens left, or `None` when unlimited.
    pub fn remaining(&self) -> Option<i64> {
        self.limit_tokens
            .map(|limit| limit.saturating_sub(self.used_tokens).max(0))
    }
}

/// Whose key answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The workspace's own key (BYOK).
    Workspace,
    /// The platform's global key.
    Platform,
}

impl Source {
    /// Stored form: `workspace` or `platform`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Workspace => "workspace",
            Source::Platform => "platform",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Workspace or platform.
    pub source: Source,
    /// Record id of the key.
    pub key_id: KeyId,
    /// The workspace key's label; `Platform key` for the global key.
    pub label: String,
}

/// The outcome of [`resolve`]: keys in the order to try, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Never empty.
    pub candidates: Vec<Candidate>,
    /// One plain sentence explaining the choice, for the admin and owner views.
    pub reason: String,
}

/// Label shown for the platform candidate.
const PLATFORM_LABEL: &str = "Platform key";

/// Decides which keys answer for one workspace and provider (SPEC §4):
///
/// 1. provider disabled → [`ResolveError::ProviderDisabled`];
/// 2. BYOK on and usable workspace keys → those, by priority (ties by id), then the
///    platform key last if the policy allows fallback, it is active and the allowance
///    is not used up;
/// 3. else an active platform key → it alone, unless the allowance is used up
///    ([`ResolveError::AllowanceExhausted`]);
/// 4. else [`ResolveError::NoKey`].
///
/// # Errors
/// A [`ResolveError`] when no key may answer.
pub fn resolve(
    provider_name: &str,
    p: &ProviderSettings,
    workspace_keys: &[WorkspaceKeyRef],
    allowance: &Allowance,
) -> Result<Resolution, ResolveError> {
    if !p.enabled {
        return Err(ResolveError::ProviderDisabled);
    }
    let platform = p.global_key.as_ref().filter(|g| g.active);
    let platform_candidate = |g: &GlobalKey| Candidate {
        source: Source::Platform,
        key_id: g.id.clone(),
        label: PLATFORM_LABEL.to_owned(),
    };
    // Stored = still holding a secret (removed keys are wiped).
    let stored = workspace_keys
        .iter()
        .filter(|k| k.status != KeyStatus::Removed)
        .count();

    if p.byok_enabled {
        let mut usable: Vec<&WorkspaceKeyRef> = workspace_keys
            .iter()
            .filter(|k| k.status.is_usable())
            .collect();
        usable.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));
        if let Some(first) = usable.first() {
            let mut reason = if usable.len() == 1 {
                format!(
                    "BYOK is on for {provider_name}, so this workspace's key “{}” answers",
                    first.label
                )
            } else {
                format!(
                    "BYOK is on for {provider_name} and this workspace has {} active keys; “{}” answers first",
                    usable.len(),
                    first.label
                )
            };
            let mut candidates: Vec<Candidate> = usable
                .iter()
                .map(|k| Candidate {
                    source: Source::Workspace,
                    key_id: k.id.clone(),
                    label: k.label.clone(),
                })
                .collect();
            if p.failure_policy == FailurePolicy::FallbackToGlobal {
                match platform {
                    Some(g) if !allowance.is_exhausted() => {
                        candidates.push(platform_candidate(g));
                        reason.push_str(", and the platform key is allowed as a fallback");
                    }
                    Some(_) => reason.push_str(
                        " (fallback to the platform key is allowed, but this workspace's platform allowance is used up)",
                    ),
                    None => reason.push_str(
                        " (fallback to the platform key is allowed, but there is no active platform key)",
                    ),
                }
            }
            reason.push('.');
            return Ok(Resolution { candidates, reason });
        }
    }

    if p.byok_enabled && p.failure_policy == FailurePolicy::Fail {
        // Keys an owner disabled count as absent; rejected ones do not open the platform key.
        let mut kept = workspace_keys
            .iter()
            .filter(|k| !matches!(k.status, KeyStatus::Removed | KeyStatus::Disabled))
            .peekable();
        if kept.peek().is_some() && kept.all(|k| k.status == KeyStatus::Invalid) {
            return Err(ResolveError::WorkspaceKeysInvalid);
        }
    }
    let Some(global) = platform else {
        return Err(ResolveError::NoKey {
            byok_enabled: p.byok_enabled,
        });
    };
    if allowance.is_exhausted() {
        return Err(ResolveError::AllowanceExhausted);
    }
    let mut reason = if !p.byok_enabled {
        match stored {
            0 => format!("BYOK is off for {provider_name}, so the platform key answers"),
            n => format!(
                "BYOK is off for {provider_name}, so the platform key answers; this workspace's {n} stored {} kept but inactive",
                if n == 1 { "key is" } else { "keys are" }
            ),
        }
    } else {
        match stored {
            0 => format!(
                "This workspace has no active {provider_name} key, so the platform key answers"
            ),
            n => format!(
                "This workspace has no active {provider_name} key (its {n} stored {} disabled or rejected), so the platform key answers",
                if n == 1 { "key is" } else { "keys are" }
            ),
        }
    };
    if let Some(left) = allowance.remaining() {
        reason.push_str(&format!(
            " within this workspace's allowance ({left} tokens left)"
        ));
    }
    reason.push('.');
    Ok(Resolution {
        candidates: vec![platform_candidate(global)],
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- builders -------------------------------------------------------------------

    fn key(id: &str, label: &str, priority: i32, status: KeyStatus) -> WorkspaceKeyRef {
        WorkspaceKeyRef {
            id: KeyId::from_trusted(id.to_owned()),
            label: label.to_owned(),
            priority,
            status,
        }
    }

    fn settings(
        enabled: bool,
        byok: bool,
        policy: FailurePolicy,
        global: Option<bool>,
    ) -> ProviderSettings {
        ProviderSettings {
            enabled,
            byok_enabled: byok,
            failure_policy: policy,
            global_key: global.map(|active| GlobalKey {
                id: KeyId::from_trusted("g1".to_owned()),
                active,
            }),
        }
    }

    fn exhausted() -> Allowance {
        Allowance {
            limit_tokens: Some(1_000),
            used_tokens: 1_000,
        }
    }

    /// `(source, key id)` pairs, to compare candidate lists briefly.
    fn picked(r: &Resolution) -> Vec<(Source, &str)> {
        r.candidates
            .iter()
            .map(|c| (c.source, c.key_id.as_str()))
            .collect()
    }

    // ---- the exhaustive table ------------------------------------------------------

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Global {
        Active,
        Inactive,
        Absent,
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Keys {
        None,
        OneActive,
        OneDisabled,
        OneInvalid,
        Several,
    }

    fn keys_for(k: Keys) -> Vec<WorkspaceKeyRef> {
        match k {
            Keys::None => vec![],
            Keys::OneActive => vec![key("a", "Alpha", 1, KeyStatus::Active)],
            Keys::OneDisabled => vec![key("d", "Delta", 1, KeyStatus::Disabled)],
            Keys::OneInvalid => vec![key("i", "India", 1, KeyStatus::Invalid)],
            Keys::Several => vec![
                key("k-active", "Active p2", 2, KeyStatus::Active),
                key("k-untested", "Untested p1", 1, KeyStatus::Untested),
                key("k-quota", "Quota p3", 3, KeyStatus::QuotaWarning),
                key("k-disabled", "Disabled p0", 0, KeyStatus::Disabled),
            ],
        }
    }

    /// The expected outcome written independently from SPEC §4, as a flat decision
    /// over the scenario enums (no key-status logic shared with `resolve`).
    fn expected(
        enabled: bool,
        byok: bool,
        global: Global,
        keys: Keys,
        policy: FailurePolicy,
        exhausted: bool,
    ) -> Result<Vec<(Source, &'static str)>, &'static str> {
        use Source::{Platform, Workspace};
        if !enabled {
            return Err("provider_disabled");
        }
        let ws: Vec<(Source, &'static str)> = match keys {
            Keys::OneActive => vec![(Workspace, "a")],
            Keys::Several => vec![
                (Workspace, "k-untested"),
                (Workspace, "k-active"),
                (Workspace, "k-quota"),
            ],
            Keys::None | Keys::OneDisabled | Keys::OneInvalid => vec![],
        };
        let platform_ok = global == Global::Active;
        if byok && !ws.is_empty() {
            let mut out = ws;
            if policy == FailurePolicy::FallbackToGlobal && platform_ok && !exhausted {
                out.push((Platform, "g1"));
            }
            return Ok(out);
        }
        if byok && keys == Keys::OneInvalid && policy == FailurePolicy::Fail {
            return Err("workspace_keys_invalid");
        }
        match (platform_ok, exhausted) {
            (true, false) => Ok(vec![(Platform, "g1")]),
            (true, true) => Err("allowance_exhausted"),
            (false, _) => Err("no_key"),
        }
    }

    #[test]
    fn every_combination_matches_the_spec() {
        let mut rows = 0;
        for enabled in [true, false] {
            for byok in [true, false] {
                for global in [Global::Active, Global::Inactive, Global::Absent] {
                    for keys in [
                        Keys::None,
                        Keys::OneActive,
                        Keys::OneDisabled,
                        Keys::OneInvalid,
                        Keys::Several,
                    ] {
                        for policy in [FailurePolicy::Fail, FailurePolicy::FallbackToGlobal] {
                            for is_exhausted in [false, true] {
                                rows += 1;
                                let s = settings(
                                    enabled,
                                    byok,
                                    policy,
                                    match global {
                                        Global::Active => Some(true),
                                        Global::Inactive => Some(false),
                                        Global::Absent => None,
                                    },
                                );
                                let allowance = if is_exhausted {
                                    exhausted()
                                } else {
                                    Allowance::UNLIMITED
                                };
                                let ws = keys_for(keys);
                                let got = resolve("OpenAI", &s, &ws, &allowance);
                                let want =
                                    expected(enabled, byok, global, keys, policy, is_exhausted);
                                let row = format!(
                                    "enabled={enabled} byok={byok} global={global:?} keys={keys:?} policy={policy:?} exhausted={is_exhausted}"
                                );
                                match (&got, &want) {
                                    (Ok(r), Ok(w)) => {
                                        assert_eq!(&picked(r), w, "{row}");
                                        assert!(!r.candidates.is_empty(), "{row}");
                                        assert!(r.reason.contains("OpenAI"), "{row}");
                                        assert!(r.reason.ends_with('.'), "{row}");
                                    }
                                    (Err(e), Err(w)) => assert_eq!(e.code().as_str(), *w, "{row}"),
                                    _ => panic!("{row}: got {got:?}, want {want:?}"),
                                }
                                if let Err(ResolveError::NoKey { byok_enabled }) = got {
                                    assert_eq!(byok_enabled, byok, "{row}");
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(rows, 2 * 2 * 3 * 5 * 2 * 2);
    }

    // ---- focused cases -------------------------------------------------------------

    #[test]
    fn workspace_keys_answer_by_priority_then_id() {
        let s = settings(true, true, FailurePolicy::Fail, Some(true));
        let ws = vec![
            key("b", "Second tie", 5, KeyStatus::Active),
            key("z", "Last", 9, KeyStatus::QuotaWarning),
            key("a", "First tie", 5, KeyStatus::Untested),
            key("m", "Negative", -3, KeyStatus::Active),
        ];
        let r = resolve("OpenAI", &s, &ws, &Allowance::UNLIMITED).expect("resolves");
        assert_eq!(
            picked(&r),
            [
                (Source::Workspace, "m"),
                (Source::Workspace, "a"),
                (Source::Workspace, "b"),
                (Source::Workspace, "z"),
            ]
        );
        assert_eq!(r.candidates[0].label, "Negative");
    }

    #[test]
    fn unusable_keys_are_never_candidates() {
        let s = settings(true, true, FailurePolicy::FallbackToGlobal, Some(true));
        for status in KeyStatus::ALL {
            let ws = vec![key("k", "Only", 0, status)];
            let r = resolve("OpenAI", &s, &ws, &Allowance::UNLIMITED).expect("resolves");
            let has_workspace = r.candidates.iter().any(|c| c.source == Source::Workspace);
            assert_eq!(has_workspace, status.is_usable(), "{status}");
        }
    }

    #[test]
    fn removed_keys_are_ignored_like_disabled_ones() {
        let s = settings(true, true, FailurePolicy::Fail, None);
        let ws = vec![key("r", "Gone", 0, KeyStatus::Removed)];
        assert_eq!(
            resolve("OpenAI", &s, &ws, &Allowance::UNLIMITED),
            Err(ResolveError::NoKey { byok_enabled: true })
        );
    }

    #[test]
    fn fallback_puts_the_platform_key_last() {
        let s = settings(true, true, FailurePolicy::FallbackToGlobal, Some(true));
        let ws = keys_for(Keys::Several);
        let r = resolve("OpenAI", &s, &ws, &Allowance::UNLIMITED).expect("resolves");
        let last = r.candidates.last().expect("non-empty");
        assert_eq!(last.source, Source::Platform);
        assert_eq!(last.label, "Platform key");
        assert_eq!(
            r.candidates
                .iter()
                .filter(|c| c.source == Source::Platform)
                .count(),
            1
        );
    }

    #[test]
    fn allowance_only_limits_the_platform_key() {
        let s = settings(true, true, FailurePolicy::Fail, Some(true));
        let ws = keys_for(Keys::OneActive);
        let r = resolve("OpenAI", &s, &ws, &exhausted()).expect("workspace key answers");
        assert_eq!(picked(&r), [(Source::Workspace, "a")]);
    }

    #[test]
    fn allowance_boundaries() {
        let a = |limit, used| Allowance {
            limit_tokens: limit,
            used_tokens: used,
        };
        assert!(!a(None, i64::MAX).is_exhausted());
        assert!(!a(Some(10), 9).is_exhausted());
        assert!(a(Some(10), 10).is_exhausted());
        assert!(a(Some(10), 11).is_exhausted());
        assert!(a(Some(0), 0).is_exhausted());
        assert_eq!(a(Some(10), 4).remaining(), Some(6));
        assert_eq!(a(Some(10), 40).remaining(), Some(0));
        assert_eq!(a(None, 40).remaining(), None);
        assert_eq!(a(Some(i64::MIN), i64::MAX).remaining(), Some(0));
    }

    #[test]
    fn turning_byok_off_keeps_keys_but_switches_to_the_platform() {
        let ws = keys_for(Keys::Several);
        let off = settings(true, false, FailurePolicy::Fail, Some(true));
        let r = resolve("OpenAI", &off, &ws, &Allowance::UNLIMITED).expect("resolves");
        assert_eq!(picked(&r), [(Source::Platform, "g1")]);
        // Turned back on, the same keys answer again.
        let on = ProviderSettings {
            byok_enabled: true,
            ..off
        };
        let r = resolve("OpenAI", &on, &ws, &Allowance::UNLIMITED).expect("resolves");
        assert_eq!(r.candidates[0].key_id, "k-untested");
    }

    #[test]
    fn reason_for_several_workspace_keys_names_the_first() {
        let s = settings(true, true, FailurePolicy::Fail, Some(true));
        let ws = vec![
            key("a", "Primary", 1, KeyStatus::Active),
            key("b", "Backup", 2, KeyStatus::Active),
        ];
        let r = resolve("OpenAI", &s, &ws, &Allowance::UNLIMITED).expect("resolves");
        assert_eq!(
            r.reason,
            "BYOK is on for OpenAI and this workspace has 2 active keys; “Primary” answers first."
        );
    }

    #[test]
    fn reason_for_one_workspace_key() {
        let s = settings(true, true, FailurePolicy::Fail, None);
        let ws = vec![key("a", "Primary", 1, KeyStatus::Active)];
        let r = resolve("Anthropic", &s, &ws, &Allowance::UNLIMITED).expect("resolves");
        assert_eq!(
            r.reason,
            "BYOK is on for Anthropic, so this workspace's key “Primary” answers."
        );
    }

    #[test]
    fn reason_mentions_the_fallback() {
        let ws = vec![key("a", "Primary", 1, KeyStatus::Active)];
        let with_global = settings(true, true, FailurePolicy::FallbackToGlobal, Some(true));
        let r = resolve("OpenAI", &with_global, &ws, &Allowance::UNLIMITED).expect("ok");
        assert_eq!(
            r.reason,
            "BYOK is on for OpenAI, so this workspace's key “Primary” answers, and the platform key is allowed as a fallback."
        );
        let r = resolve("OpenAI", &with_global, &ws, &exhausted()).expect("ok");
        assert_eq!(
            r.reason,
            "BYOK is on for OpenAI, so this workspace's key “Primary” answers (fallback to the platform key is allowed, but this workspace's platform allowance is used up)."
        );
        let no_global = settings(true, true, FailurePolicy::FallbackToGlobal, Some(false));
        let r = resolve("OpenAI", &no_global, &ws, &Allowance::UNLIMITED).expect("ok");
        assert_eq!(
            r.reason,
            "BYOK is on for OpenAI, so this workspace's key “Primary” answers (fallback to the platform key is allowed, but there is no active platform key)."
        );
        let fail = settings(true, true, FailurePolicy::Fail, Some(true));
        let r = resolve("OpenAI", &fail, &ws, &Allowance::UNLIMITED).expect("ok");
        assert!(!r.reason.contains("fallback"), "{}", r.reason);
    }

    #[test]
    fn reason_when_byok_is_off() {
        let s = settings(true, false, FailurePolicy::Fail, Some(true));
        let one = vec![key("a", "Primary", 1, KeyStatus::Active)];
        let r = resolve("OpenAI", &s, &one, &Allowance::UNLIMITED).expect("ok");
        assert_eq!(
            r.reason,
            "BYOK is off for OpenAI, so the platform key answers; this workspace's 1 stored key is kept but inactive."
        );
        let r = resolve(
            "OpenAI",
            &s,
            &keys_for(Keys::Several),
            &Allowance::UNLIMITED,
        )
        .expect("ok");
        assert!(r.reason.contains("4 stored keys are kept"), "{}", r.reason);
        let r = resolve("OpenAI", &s, &[], &Allowance::UNLIMITED).expect("ok");
        assert_eq!(
            r.reason,
            "BYOK is off for OpenAI, so the platform key answers."
        );
    }

    #[test]
    fn reason_when_the_workspace_has_no_active_key() {
        let s = settings(true, true, FailurePolicy::Fail, Some(true));
        let r = resolve("OpenAI", &s, &[], &Allowance::UNLIMITED).expect("ok");
        assert_eq!(
            r.reason,
            "This workspace has no active OpenAI key, so the platform key answers."
        );
        let ws = vec![key("d", "Old", 1, KeyStatus::Disabled)];
        let r = resolve("OpenAI", &s, &ws, &Allowance::UNLIMITED).expect("ok");
        assert_eq!(
            r.reason,
            "This workspace has no active OpenAI key (its 1 stored key is disabled or rejected), so the platform key answers."
        );
    }

    #[test]
    fn rejected_keys_do_not_open_the_platform_key_unless_the_policy_says_so() {
        let ws = vec![
            key("i", "Rejected", 1, KeyStatus::Invalid),
            key("d", "Off", 2, KeyStatus::Disabled),
            key("r", "Gone", 3, KeyStatus::Removed),
        ];
        let fail = settings(true, true, FailurePolicy::Fail, Some(true));
        assert_eq!(
            resolve("OpenAI", &fail, &ws, &Allowance::UNLIMITED),
            Err(ResolveError::WorkspaceKeysInvalid)
        );
        let fallback = settings(true, true, FailurePolicy::FallbackToGlobal, Some(true));
        let r = resolve("OpenAI", &fallback, &ws, &Allowance::UNLIMITED).expect("ok");
        assert_eq!(picked(&r), vec![(Source::Platform, "g1")]);
        // With BYOK off the workspace's keys play no part.
        let off = settings(true, false, FailurePolicy::Fail, Some(true));
        let r = resolve("OpenAI", &off, &ws, &Allowance::UNLIMITED).expect("ok");
        assert_eq!(picked(&r), vec![(Source::Platform, "g1")]);
    }

    #[test]
    fn reason_mentions_the_remaining_allowance() {
        let s = settings(true, true, FailurePolicy::Fail, Some(true));
        let allowance = Allowance {
            limit_tokens: Some(50_000),
            used_tokens: 12_000,
        };
        let r = resolve("OpenAI", &s, &[], &allowance).expect("ok");
        assert_eq!(
            r.reason,
            "This workspace has no active OpenAI key, so the platform key answers within this workspace's allowance (38000 tokens left)."
        );
    }

    #[test]
    fn statuses_and_policies_round_trip_their_text() {
        for status in KeyStatus::ALL {
            assert_eq!(KeyStatus::parse(status.as_str()), Some(status));
        }
        let usable: Vec<_> = KeyStatus::ALL
            .into_iter()
            .filter(|s| s.is_usable())
            .collect();
        assert_eq!(
            usable,
            [
                KeyStatus::Active,
                KeyStatus::Untested,
                KeyStatus::QuotaWarning
            ]
        );
        assert_eq!(KeyStatus::parse("Active"), None);
        for policy in [FailurePolicy::Fail, FailurePolicy::FallbackToGlobal] {
            assert_eq!(FailurePolicy::parse(policy.as_str()), Some(policy));
        }
        assert_eq!(FailurePolicy::Fail.as_str(), "fail");
        assert_eq!(FailurePolicy::FallbackToGlobal.as_str(), "fallback");
        assert_eq!(FailurePolicy::default(), FailurePolicy::Fail);
        assert_eq!(FailurePolicy::parse("fallback_to_global"), None);
        assert_eq!(Source::Workspace.as_str(), "workspace");
        assert_eq!(Source::Platform.to_string(), "platform");
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            ResolveError::ProviderDisabled.code().as_str(),
            "provider_disabled"
        );
        assert_eq!(
            ResolveError::NoKey { byok_enabled: true }.code().as_str(),
            "no_key"
        );
        assert_eq!(
            ResolveError::AllowanceExhausted.code().as_str(),
            "allowance_exhausted"
        );
        assert_eq!(
            ResolveError::AllowanceExhausted.to_string(),
            "allowance_exhausted"
        );
    }

    #[test]
    fn no_key_messages_give_each_viewer_their_fix() {
        let on = ResolveError::NoKey { byok_enabled: true };
        let off = ResolveError::NoKey {
            byok_enabled: false,
        };
        assert_eq!(
            on.message("OpenAI", Viewer::Owner),
            "No OpenAI key is available. Add a key under Settings → Provider keys, or ask a platform admin to set a global key."
        );
        assert_eq!(
            on.message("OpenAI", Viewer::Member),
            "No OpenAI key is available. Ask a workspace owner to add a key."
        );
        assert_eq!(
            off.message("OpenAI", Viewer::Owner),
            "No OpenAI key is available. Ask a platform admin to set a global OpenAI key."
        );
        assert_eq!(
            off.message("OpenAI", Viewer::Member),
            "No OpenAI key is available. Ask a platform admin to set a global OpenAI key."
        );
        assert!(
            on.message("OpenAI", Viewer::Admin)
                .contains("Settings → Integrations")
        );
        assert!(
            !off.message("OpenAI", Viewer::Owner)
                .contains("Provider keys")
        );
    }

    #[test]
    fn every_message_names_the_provider_and_a_fix() {
        let errors = [
            ResolveError::ProviderDisabled,
            ResolveError::NoKey { byok_enabled: true },
            ResolveError::NoKey {
                byok_enabled: false,
            },
            ResolveError::AllowanceExhausted,
        ];
        for e in errors {
            for viewer in [Viewer::Admin, Viewer::Owner, Viewer::Member] {
                let m = e.message("Mistral", viewer);
                assert!(m.contains("Mistral"), "{m}");
                assert_eq!(m.matches(". ").count(), 1, "two sentences: {m}");
                assert!(m.ends_with('.'), "{m}");
                if viewer == Viewer::Member {
                    assert!(!m.contains("Settings"), "members have no settings: {m}");
                }
            }
        }
    }
}

//! Audit events: the chain that makes tampering visible. Every event links to the one
//! before it by SHA-256 (`chain_hash`); every event written since the chain was keyed also
//! carries an HMAC-SHA256 of its link under a key derived from a master key (`ChainKey`),
//! and so does the chain's head, so that rewriting the database is not enough to forge it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::tokens::{constant_time_eq, hex};
use super::vault::Keyring;

/// The fields of an event that its hash covers.
pub struct ChainedFields<'a> {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<&'a str>,
    pub actor_email: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub workspace_id: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub details: &'a str,
}

/// Feeds `label`, `prev_hash` and the event's fields to `put`, each length-prefixed so that
/// no two different events serialise alike.
fn serialise(label: &str, prev_hash: &str, f: &ChainedFields<'_>, put: &mut dyn FnMut(&[u8])) {
    let mut field = |s: &str| {
        put(&(s.len() as u64).to_be_bytes());
        put(s.as_bytes());
    };
    field(label);
    field(prev_hash);
    field(&f.id.to_string());
    field(&f.at.to_string());
    for opt in [f.actor_id, f.actor_email, f.ip, f.workspace_id, f.target] {
        match opt {
            Some(v) => field(&format!("+{v}")),
            None => field("-"),
        }
    }
    field(f.action);
    field(f.details);
}

/// The link of an event: `SHA-256(prev_hash | id | at | actor | ... | details)`. Every
/// event has one; the events written since the chain was keyed also carry a MAC of it.
pub fn chain_hash(prev_hash: &str, f: &ChainedFields<'_>) -> String {
    let mut h = Sha256::new();
    serialise("keyhold-audit/v1", prev_hash, f, &mut |b| h.update(b));
    hex(&h.finalize())
}

/// The hash the chain starts from.
pub const GENESIS: &str = "genesis";

/// What the head's MAC covers: the last event, where the keyed part of the chain begins
/// (events up to `legacy_until` are the unkeyed ones written before keying), and when the
/// chain was keyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub last_id: i64,
    pub last_hash: String,
    pub legacy_until: i64,
    pub sealed_at: i64,
}

/// How far the chain has been verified: every event up to `verified_id` (whose link is
/// `verified_hash`) held at `verified_at`, and the re-check of older events has reached
/// `swept_id` (0: it starts over from the first event). The last check ran at `checked_at`
/// and found `finding` (a check that finds the chain broken leaves the rest as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub verified_id: i64,
    pub verified_hash: String,
    pub verified_at: i64,
    pub swept_id: i64,
    pub checked_at: i64,
    pub finding: Finding,
}

/// What a check of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Everything it looked at held.
    Held,
    /// Event `at_id` breaks the chain.
    Broken { at_id: i64, problem: String },
    /// The head was MACed under a master key that is not configured.
    Unverifiable { problem: String },
}

impl Finding {
    /// As stored: the outcome's name, the event at fault (0 if none) and the problem.
    pub fn columns(&self) -> (&'static str, i64, &str) {
        match self {
            Finding::Held => ("held", 0, ""),
            Finding::Broken { at_id, problem } => ("broken", *at_id, problem),
            Finding::Unverifiable { problem } => ("unverifiable", 0, problem),
        }
    }

    /// From the stored columns; `None` for an outcome this version does not know.
    pub fn from_columns(outcome: &str, at_id: i64, problem: String) -> Option<Finding> {
        match outcome {
            "held" => Some(Finding::Held),
            "broken" => Some(Finding::Broken { at_id, problem }),
            "unverifiable" => Some(Finding::Unverifiable { problem }),
            _ => None,
        }
    }
}

/// The key that MACs the chain, derived from one master key: HMAC-SHA256(master,
/// "keyhold/audit-chain/v1"). Each keyed event and the head record the master-key version,
/// so events stay verifiable after rotation while the old master key is configured.
pub struct ChainKey {
    version: String,
    key: Zeroizing<[u8; 32]>,
}

/// Domain separation for the derived key.
const CONTEXT: &str = "keyhold/audit-chain/v1";

impl ChainKey {
    /// The key of the active master key (new events and heads use it).
    pub fn active(keyring: &Keyring) -> Option<ChainKey> {
        Self::of(keyring, keyring.active_id())
    }

    /// The key of master-key version `version`, if configured.
    pub fn of(keyring: &Keyring, version: &str) -> Option<ChainKey> {
        Some(ChainKey {
            version: version.to_owned(),
            key: keyring.derive_subkey(version, CONTEXT)?,
        })
    }

    /// The master-key version it derives from.
    pub fn version(&self) -> &str {
        &self.version
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC zero-pads keys shorter than its 64-byte block, so this is HMAC keyed with
        // the 32-byte derived key itself (and cannot fail).
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(&self.key[..]);
        <Hmac<Sha256> as hmac::digest::KeyInit>::new(
            hmac::digest::generic_array::GenericArray::from_slice(&block[..]),
        )
    }

    fn mac_of(&self, parts: &[&str]) -> String {
        let mut m = self.mac();
        for part in parts {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part.as_bytes());
        }
        hex(&m.finalize().into_bytes())
    }

    /// The MAC of event `id`'s link `hash` (hex). The link covers the event's fields and
    /// the link before it, so the MAC pins the whole chain up to this event.
    pub fn event_mac(&self, id: i64, hash: &str) -> String {
        self.mac_of(&[
            "keyhold-audit-event/v1",
            &self.version,
            &id.to_string(),
            hash,
        ])
    }

    /// Whether `mac` is this key's MAC of event `id`'s link.
    pub fn event_matches(&self, mac: &str, id: i64, hash: &str) -> bool {
        constant_time_eq(&self.event_mac(id, hash), mac)
    }

    /// The head's MAC (hex).
    pub fn head_mac(&self, head: &Head) -> String {
        self.mac_of(&[
            "keyhold-audit-head/v1",
            &self.version,
            &head.last_id.to_string(),
            &head.last_hash,
            &head.legacy_until.to_string(),
            &head.sealed_at.to_string(),
        ])
    }

    /// The checkpoint's MAC (hex), over what the last check found as well.
    pub fn checkpoint_mac(&self, c: &Checkpoint) -> String {
        let (outcome, at_id, problem) = c.finding.columns();
        self.mac_of(&[
            "keyhold-audit-checkpoint/v2",
            &self.version,
            &c.verified_id.to_string(),
            &c.verified_hash,
            &c.verified_at.to_string(),
            &c.swept_id.to_string(),
            &c.checked_at.to_string(),
            outcome,
            &at_id.to_string(),
            problem,
        ])
    }

    /// Whether `mac` is this key's MAC of `checkpoint`.
    pub fn checkpoint_matches(&self, mac: &str, checkpoint: &Checkpoint) -> bool {
        constant_time_eq(&self.checkpoint_mac(checkpoint), mac)
    }

    /// Whether `mac` is this key's MAC of `head`.
    pub fn head_matches(&self, mac: &str, head: &Head) -> bool {
        constant_time_eq(&self.head_mac(head), mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(details: &'a str, actor: Option<&'a str>) -> ChainedFields<'a> {
        ChainedFields {
            id: 1,
            at: 10,
            actor_id: actor,
            actor_email: None,
            ip: None,
            workspace_id: None,
            action: "user.created",
            target: None,
            details,
        }
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = chain_hash(GENESIS, &fields("{}", None));
        assert_ne!(base, chain_hash(GENESIS, &fields("{\"a\":1}", None)));
        assert_ne!(base, chain_hash("other", &fields("{}", None)));
        assert_ne!(base, chain_hash(GENESIS, &fields("{}", Some(""))));
        assert_eq!(base, chain_hash(GENESIS, &fields("{}", None)));
    }

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).expect("keyring")
    }

    const V1: &str = "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const V2: &str = "v2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn the_event_mac_depends_on_key_version_id_and_link() {
        let both = ring(&format!("{V2},{V1}"));
        let (k1, k2) = (
            ChainKey::of(&both, "v1").expect("v1"),
            ChainKey::active(&both).expect("v2"),
        );
        assert_eq!(k2.version(), "v2");
        let link = chain_hash(GENESIS, &fields("{}", None));
        let m1 = k1.event_mac(1, &link);
        assert_ne!(m1, k2.event_mac(1, &link));
        assert!(k1.event_matches(&m1, 1, &link));
        assert!(!k2.event_matches(&m1, 1, &link));
        assert!(!k1.event_matches(&m1, 2, &link));
        let other = chain_hash(GENESIS, &fields("{\"a\":1}", None));
        assert!(!k1.event_matches(&m1, 1, &other));
        // The same master key under v1 in another keyring derives the same key.
        let alone = ChainKey::active(&ring(V1)).expect("v1");
        assert!(alone.event_matches(&m1, 1, &link));
        assert!(ChainKey::of(&ring(V1), "v2").is_none());
    }

    #[test]
    fn the_head_mac_covers_every_field() {
        let k = ChainKey::active(&ring(V1)).expect("v1");
        let head = Head {
            last_id: 5,
            last_hash: "abc".into(),
            legacy_until: 2,
            sealed_at: 100,
        };
        let mac = k.head_mac(&head);
        assert!(k.head_matches(&mac, &head));
        for other in [
            Head {
                last_id: 4,
                ..head.clone()
            },
            Head {
                last_hash: "abd".into(),
                ..head.clone()
            },
            Head {
                legacy_until: 5,
                ..head.clone()
            },
            Head {
                sealed_at: 101,
                ..head.clone()
            },
        ] {
            assert!(!k.head_matches(&mac, &other), "{other:?}");
        }
    }

    #[test]
    fn a_finding_reads_back_as_stored() {
        for f in [
            Finding::Held,
            Finding::Broken {
                at_id: 3,
                problem: "event 3 was altered".into(),
            },
            Finding::Unverifiable {
                problem: "no key".into(),
            },
        ] {
            let (outcome, at_id, problem) = f.columns();
            assert_eq!(
                Finding::from_columns(outcome, at_id, problem.to_owned()),
                Some(f.clone())
            );
        }
        assert_eq!(Finding::from_columns("", 0, String::new()), None);
    }

    #[test]
    fn the_checkpoint_mac_covers_every_field_and_differs_from_the_head_mac() {
        let k = ChainKey::active(&ring(V1)).expect("v1");
        let c = Checkpoint {
            verified_id: 5,
            verified_hash: "abc".into(),
            verified_at: 100,
            swept_id: 2,
            checked_at: 100,
            finding: Finding::Held,
        };
        let mac = k.checkpoint_mac(&c);
        assert!(k.checkpoint_matches(&mac, &c));
        let head = Head {
            last_id: 5,
            last_hash: "abc".into(),
            legacy_until: 100,
            sealed_at: 2,
        };
        assert!(
            !k.head_matches(&mac, &head),
            "a checkpoint MAC is no head MAC"
        );
        for other in [
            Checkpoint {
                verified_id: 6,
                ..c.clone()
            },
            Checkpoint {
                verified_hash: "abd".into(),
                ..c.clone()
            },
            Checkpoint {
                verified_at: 101,
                ..c.clone()
            },
            Checkpoint {
                swept_id: 0,
                ..c.clone()
            },
            Checkpoint {
                checked_at: 101,
                ..c.clone()
            },
            Checkpoint {
                finding: Finding::Broken {
                    at_id: 0,
                    problem: String::new(),
                },
                ..c.clone()
            },
            Checkpoint {
                finding: Finding::Unverifiable {
                    problem: String::new(),
                },
                ..c.clone()
            },
        ] {
            assert!(!k.checkpoint_matches(&mac, &other), "{other:?}");
        }
    }
}

//! Audit events: the action names and the hash chain that makes tampering visible.

use sha2::{Digest, Sha256};

use super::tokens::hex;

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

/// `hash = SHA-256(prev_hash | id | at | actor | ... | details)`, each field length-prefixed
/// so that no two different events serialise alike.
pub fn chain_hash(prev_hash: &str, f: &ChainedFields<'_>) -> String {
    let mut h = Sha256::new();
    let mut put = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    put("keyhold-audit/v1");
    put(prev_hash);
    put(&f.id.to_string());
    put(&f.at.to_string());
    for opt in [f.actor_id, f.actor_email, f.ip, f.workspace_id, f.target] {
        match opt {
            Some(v) => put(&format!("+{v}")),
            None => put("-"),
        }
    }
    put(f.action);
    put(f.details);
    hex(&h.finalize())
}

/// The hash the chain starts from.
pub const GENESIS: &str = "genesis";

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
}

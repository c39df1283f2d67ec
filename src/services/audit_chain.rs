//! The keyed audit chain's head and `keyhold audit verify`. The head (last event, where
//! keying began, and when) is MACed under a key derived from a master key, so that whoever
//! can write the database but lacks the master keys can neither recompute the chain, nor
//! cut its tail, nor pass keyed events off as the unkeyed ones written before keying.
//!
//! What stays out of reach from inside the database: a copy of an older head row put back
//! together with the events after it deleted (a rollback to an earlier state, as restoring
//! a backup would be). `keyhold audit verify` prints the count and the time of the last
//! event so an operator can compare them with what they noted before.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::models::AuditRow;
use crate::db::schema::{audit_chain, audit_events};
use crate::db::{DbConn, now};
use crate::domain::audit::{ChainKey, ChainedFields, GENESIS, Head, chain_hash};
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};

/// The migration that introduced the keyed chain; the head is sealed in its transaction.
const KEYED_CHAIN_MIGRATION: &str = "20261207000012";

/// Why the head cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the head of the chain is not sealed")]
    NotSealed,
    #[error(
        "the head of the chain was sealed with master key {0}, which KEYHOLD_MASTER_KEYS does not hold"
    )]
    UnknownKey(String),
    #[error("the head of the chain was altered")]
    Altered,
}

pub(super) type HeadRow = (
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

pub(super) fn read_head(conn: &mut DbConn) -> Result<HeadRow> {
    Ok(audit_chain::table
        .find(1)
        .select((
            audit_chain::last_id,
            audit_chain::last_hash,
            audit_chain::key_version,
            audit_chain::legacy_until,
            audit_chain::sealed_at,
            audit_chain::mac,
        ))
        .get_result(conn)?)
}

/// The head, checked against its MAC.
pub fn authentic_head(
    conn: &mut DbConn,
    keyring: &Keyring,
) -> Result<std::result::Result<Head, HeadError>> {
    let (last_id, last_hash, version, legacy_until, sealed_at, mac) = read_head(conn)?;
    let (Some(version), Some(legacy_until), Some(sealed_at), Some(mac)) =
        (version, legacy_until, sealed_at, mac)
    else {
        return Ok(Err(HeadError::NotSealed));
    };
    let Some(key) = ChainKey::of(keyring, &version) else {
        return Ok(Err(HeadError::UnknownKey(version)));
    };
    let head = Head {
        last_id,
        last_hash,
        legacy_until,
        sealed_at,
    };
    Ok(if key.head_matches(&mac, &head) {
        Ok(head)
    } else {
        Err(HeadError::Altered)
    })
}

/// The head, or an internal error (logged, never shown) when it cannot be trusted: no
/// event is added to a chain whose head may have been cut or forged, which would launder it.
pub fn head_for_append(conn: &mut DbConn, keyring: &Keyring) -> Result<Head> {
    authentic_head(conn, keyring)?.map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "audit log: {e}; nothing is recorded until `keyhold audit verify` passes"
        ))
    })
}

/// Writes `head` MACed under the active master key.
pub fn write_head(conn: &mut DbConn, key: &ChainKey, head: &Head) -> Result<()> {
    diesel::update(audit_chain::table.find(1))
        .set((
            audit_chain::last_id.eq(head.last_id),
            audit_chain::last_hash.eq(&head.last_hash),
            audit_chain::legacy_until.eq(head.legacy_until),
            audit_chain::sealed_at.eq(head.sealed_at),
            audit_chain::key_version.eq(key.version()),
            audit_chain::mac.eq(key.head_mac(head)),
        ))
        .execute(conn)?;
    Ok(())
}

fn active_key(keyring: &Keyring) -> Result<ChainKey> {
    ChainKey::active(keyring)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no active master key")))
}

/// Called in the transaction that ran the pending migrations: when it was the one that
/// introduced the keyed chain, seals the head over the events written before it (they
/// stay plain SHA-256; the seal pins their last hash, so they cannot be rewritten either).
/// Only then: a head found unsealed later is tampering, never sealed anew.
pub fn seal_after_migrations(
    conn: &mut DbConn,
    keyring: &Keyring,
    applied: &[String],
) -> Result<()> {
    if !applied
        .iter()
        .any(|v| v.replace('-', "") == KEYED_CHAIN_MIGRATION)
    {
        return Ok(());
    }
    let (last_id, last_hash, ..) = read_head(conn)?;
    let head = Head {
        last_id,
        last_hash,
        legacy_until: last_id,
        sealed_at: now(),
    };
    write_head(conn, &active_key(keyring)?, &head)
}

/// MACs the head anew under the active master key (after a rotation, so that the old
/// master key is not needed to append). Refuses a head that does not verify.
pub fn rekey_head(conn: &mut DbConn, keyring: &Keyring) -> Result<()> {
    let head = head_for_append(conn, keyring)?;
    write_head(conn, &active_key(keyring)?, &head)
}

/// What `keyhold audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        events: i64,
        /// Events 1..=legacy were written before the chain was keyed.
        legacy: i64,
        /// When the chain was keyed.
        keyed_since: i64,
        /// Time of the last event, if any.
        last_at: Option<i64>,
        /// Master-key versions no longer configured whose events' own MACs were not
        /// checked (their links are, and the head pins them).
        retired: Vec<String>,
    },
    Broken {
        at_id: i64,
        problem: String,
    },
    /// The head was MACed under a master key that is not configured: nothing can be said.
    Unverifiable {
        problem: String,
    },
}

/// The master-key versions met while walking the chain, derived once each (`None`: not
/// configured, so that version's event MACs cannot be checked).
pub(super) type Keys = HashMap<String, Option<ChainKey>>;

/// Checks one event against the link before it (`prev`): that it follows it, that its
/// fields hash to its link, and its MAC when it was written after keying (events up to
/// `legacy_until` were not). `None` when it holds, else what is wrong.
fn check_event(
    row: &AuditRow,
    prev: &str,
    legacy_until: i64,
    keys: &mut Keys,
    keyring: &Keyring,
) -> Option<String> {
    let id = row.id;
    if row.prev_hash != prev {
        return Some(format!("event {id} does not follow the one before it"));
    }
    let fields = ChainedFields {
        id,
        at: row.at,
        actor_id: row.actor_id.as_deref(),
        actor_email: row.actor_email.as_deref(),
        ip: row.ip.as_deref(),
        workspace_id: row.workspace_id.as_deref(),
        action: &row.action,
        target: row.target.as_deref(),
        details: &row.details,
    };
    if chain_hash(&row.prev_hash, &fields) != row.hash {
        return Some(format!("event {id} was altered"));
    }
    match (&row.key_version, &row.mac, id > legacy_until) {
        (None, None, false) => None,
        (Some(v), Some(mac), true) => {
            let key = keys
                .entry(v.clone())
                .or_insert_with(|| ChainKey::of(keyring, v));
            match key {
                Some(key) if !key.event_matches(mac, id, &row.hash) => {
                    Some(format!("event {id} was altered"))
                }
                _ => None,
            }
        }
        (_, _, true) => Some(format!(
            "event {id} lacks its MAC, yet it was written after the chain was keyed"
        )),
        (_, _, false) => Some(format!(
            "event {id} was altered (it predates keying but carries a MAC)"
        )),
    }
}

/// How far a walk got: the last event that held, its link and when it was written, or what
/// broke.
pub(super) enum Walk {
    Reached {
        id: i64,
        hash: String,
        at: Option<i64>,
    },
    Broken {
        at_id: i64,
        problem: String,
    },
}

/// Checks events in order from `from`, starting from the link `prev`, reading `batch` rows
/// at a time: up to `to`, each of which must exist, or with `None` as far as the log goes.
pub(super) fn walk(
    conn: &mut DbConn,
    keyring: &Keyring,
    legacy_until: i64,
    keys: &mut Keys,
    (from, to): (i64, Option<i64>),
    prev: String,
    batch: i64,
) -> Result<Walk> {
    let missing = |id: i64| {
        Ok(Walk::Broken {
            at_id: id,
            problem: format!("event {id} is missing"),
        })
    };
    let last = to.unwrap_or(i64::MAX);
    let (mut expected, mut prev, mut at) = (from, prev, None);
    while expected <= last {
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::id.ge(expected))
            .filter(audit_events::id.le(last))
            .order(audit_events::id.asc())
            .limit(batch)
            .select(AuditRow::as_select())
            .load(conn)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            if row.id != expected {
                return missing(expected);
            }
            if let Some(problem) = check_event(row, &prev, legacy_until, keys, keyring) {
                return Ok(Walk::Broken {
                    at_id: row.id,
                    problem,
                });
            }
            prev = row.hash.clone();
            at = Some(row.at);
            expected += 1;
        }
    }
    if to.is_some_and(|to| expected <= to) {
        return missing(expected);
    }
    Ok(Walk::Reached {
        id: expected - 1,
        hash: prev,
        at,
    })
}

fn broken(at_id: i64, problem: String) -> Result<Verdict> {
    Ok(Verdict::Broken { at_id, problem })
}

/// Walks the whole chain in order: every link is recomputed, every keyed event's MAC
/// checked (when its master key is configured), and the last event must be the one the
/// head names; then the head is checked against its MAC. The head's MAC under a configured
/// key pins every link before it, so an event MACed under a retired key is still covered.
/// (The walk goes first so that a broken event is named even when the head broke too.)
pub fn verify(conn: &mut DbConn, keyring: &Keyring) -> Result<Verdict> {
    let (last_id, last_hash, _, legacy_until, sealed_at, _) = read_head(conn)?;
    let head = Head {
        last_id,
        last_hash,
        legacy_until: legacy_until.unwrap_or(i64::MAX),
        sealed_at: sealed_at.unwrap_or_default(),
    };
    let mut keys = Keys::new();
    let from_genesis = (1, None);
    let (last, prev, last_at) = match walk(
        conn,
        keyring,
        head.legacy_until,
        &mut keys,
        from_genesis,
        GENESIS.to_owned(),
        2000,
    )? {
        Walk::Reached { id, hash, at } => (id, hash, at),
        Walk::Broken { at_id, problem } => return broken(at_id, problem),
    };
    if head.last_id != last || head.last_hash != prev {
        return broken(
            head.last_id.max(last + 1),
            format!(
                "the log ends at event {last} but its head records event {}: events were removed from the end",
                head.last_id
            ),
        );
    }
    let head = match authentic_head(conn, keyring)? {
        Ok(head) => head,
        Err(e @ HeadError::UnknownKey(_)) => {
            return Ok(Verdict::Unverifiable {
                problem: e.to_string(),
            });
        }
        Err(e) => return broken(head.last_id, e.to_string()),
    };
    let mut retired: Vec<String> = keys
        .into_iter()
        .filter_map(|(v, k)| k.is_none().then_some(v))
        .collect();
    retired.sort();
    Ok(Verdict::Intact {
        events: last,
        legacy: head.legacy_until,
        keyed_since: head.sealed_at,
        last_at,
        retired,
    })
}

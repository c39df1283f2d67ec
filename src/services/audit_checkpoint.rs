//! The chain's state as the admin's audit page shows it, kept cheap at a million events:
//! each view checks the events written since the last checkpoint and re-checks a slice of
//! older ones (wrapping around, so an edited old event is found within a round of views),
//! a bounded number of each, then stores where it got to under a MAC. `keyhold audit
//! verify` still walks every event at once.

use diesel::prelude::*;

use super::audit_chain::{HeadError, Keys, authentic_head, check_event, read_head};
use crate::db::models::AuditRow;
use crate::db::schema::{audit_checkpoint, audit_events};
use crate::db::{DbConn, now, write_tx};
use crate::domain::audit::{ChainKey, Checkpoint, GENESIS};
use crate::domain::vault::Keyring;
use crate::error::Result;

/// At most this many new events are checked per view (a debug build checks about 17 a
/// millisecond on one busy core, SQLite and PostgreSQL alike).
pub const NEW_BUDGET: i64 = 2_000;

/// At most this many older events are re-checked per view: a round over 10,000 events
/// takes 20 views, over a million 2,000 (`keyhold audit verify` does it at once).
pub const SWEEP_BUDGET: i64 = 500;

/// What the page says about the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainState {
    /// Every event up to `up_to` (written at `up_to_at`) verified at `checked_at`;
    /// `pending` newer events wait for the next views; the re-check of older events
    /// reached `swept_to` (0: a round just finished).
    Verified {
        up_to: i64,
        up_to_at: Option<i64>,
        checked_at: i64,
        pending: i64,
        swept_to: i64,
    },
    /// `at_id` breaks the chain.
    Broken { at_id: i64, problem: String },
    /// The head was MACed under a master key that is not configured.
    Unverifiable { problem: String },
}

/// How far a walk got: the last event that held and its link, or what broke.
enum Walk {
    Reached { id: i64, hash: String },
    Broken { at_id: i64, problem: String },
}

/// Checks events `from..=to` in order, starting from the link `prev`.
fn walk(
    conn: &mut DbConn,
    keyring: &Keyring,
    legacy_until: i64,
    (from, to): (i64, i64),
    prev: String,
) -> Result<Walk> {
    let mut keys = Keys::new();
    let (mut expected, mut prev) = (from, prev);
    while expected <= to {
        let batch: Vec<AuditRow> = audit_events::table
            .filter(audit_events::id.ge(expected))
            .filter(audit_events::id.le(to))
            .order(audit_events::id.asc())
            .limit(1000)
            .select(AuditRow::as_select())
            .load(conn)?;
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            if row.id != expected {
                return Ok(Walk::Broken {
                    at_id: expected,
                    problem: format!("event {expected} is missing"),
                });
            }
            if let Some(problem) = check_event(row, &prev, legacy_until, &mut keys, keyring) {
                return Ok(Walk::Broken {
                    at_id: row.id,
                    problem,
                });
            }
            prev = row.hash.clone();
            expected += 1;
        }
    }
    if expected <= to {
        return Ok(Walk::Broken {
            at_id: expected,
            problem: format!("event {expected} is missing"),
        });
    }
    Ok(Walk::Reached {
        id: expected - 1,
        hash: prev,
    })
}

fn stored_hash(conn: &mut DbConn, id: i64) -> Result<Option<String>> {
    if id == 0 {
        return Ok(Some(GENESIS.to_owned()));
    }
    Ok(audit_events::table
        .find(id)
        .select(audit_events::hash)
        .get_result(conn)
        .optional()?)
}

/// The stored checkpoint, if its MAC holds under a configured master key (one that does
/// not is ignored: the walk starts over from the first event, which costs time, not truth).
fn load(conn: &mut DbConn, keyring: &Keyring) -> Result<Option<Checkpoint>> {
    let row: Option<(i64, String, i64, i64, String, String)> = audit_checkpoint::table
        .find(1)
        .select((
            audit_checkpoint::verified_id,
            audit_checkpoint::verified_hash,
            audit_checkpoint::verified_at,
            audit_checkpoint::swept_id,
            audit_checkpoint::key_version,
            audit_checkpoint::mac,
        ))
        .get_result(conn)
        .optional()?;
    let Some((verified_id, verified_hash, verified_at, swept_id, version, mac)) = row else {
        return Ok(None);
    };
    let c = Checkpoint {
        verified_id,
        verified_hash,
        verified_at,
        swept_id,
    };
    let holds = ChainKey::of(keyring, &version).is_some_and(|k| k.checkpoint_matches(&mac, &c));
    Ok(holds.then_some(c))
}

fn save(conn: &mut DbConn, keyring: &Keyring, c: &Checkpoint) -> Result<()> {
    let Some(key) = ChainKey::active(keyring) else {
        return Ok(());
    };
    let mac = key.checkpoint_mac(c);
    let values = || {
        (
            audit_checkpoint::verified_id.eq(c.verified_id),
            audit_checkpoint::verified_hash.eq(c.verified_hash.clone()),
            audit_checkpoint::verified_at.eq(c.verified_at),
            audit_checkpoint::swept_id.eq(c.swept_id),
            audit_checkpoint::key_version.eq(key.version().to_owned()),
            audit_checkpoint::mac.eq(mac.clone()),
        )
    };
    let updated = diesel::update(audit_checkpoint::table.find(1))
        .set(values())
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(audit_checkpoint::table)
            .values((audit_checkpoint::id.eq(1), values()))
            .execute(conn)?;
    }
    Ok(())
}

/// Verifies what is new since the checkpoint and a slice of what is older, stores the
/// checkpoint, and says how the chain stands.
pub fn state(conn: &mut DbConn, keyring: &Keyring) -> Result<ChainState> {
    write_tx(conn, |c| state_in(c, keyring))
}

fn state_in(conn: &mut DbConn, keyring: &Keyring) -> Result<ChainState> {
    // Events are walked only up to the head read here: on PostgreSQL an event committed
    // after this read is simply left for the next view.
    let (last_id, last_hash, _, legacy_until, ..) = read_head(conn)?;
    let legacy_until = legacy_until.unwrap_or(i64::MAX);
    let broken = |at_id: i64, problem: String| Ok(ChainState::Broken { at_id, problem });
    let start = load(conn, keyring)?.unwrap_or(Checkpoint {
        verified_id: 0,
        verified_hash: GENESIS.to_owned(),
        verified_at: 0,
        swept_id: 0,
    });
    if start.verified_id > last_id {
        return broken(
            last_id + 1,
            format!(
                "the log ends at event {last_id} but event {} was verified before: events were removed from the end",
                start.verified_id
            ),
        );
    }
    if stored_hash(conn, start.verified_id)?.as_deref() != Some(start.verified_hash.as_str()) {
        let id = start.verified_id;
        return broken(id, format!("event {id} was altered or removed"));
    }
    // New events first, then the slice of older ones.
    let to = last_id.min(start.verified_id + NEW_BUDGET);
    let (verified_id, verified_hash) = match walk(
        conn,
        keyring,
        legacy_until,
        (start.verified_id + 1, to),
        start.verified_hash.clone(),
    )? {
        Walk::Reached { id, hash } => (id, hash),
        Walk::Broken { at_id, problem } => return broken(at_id, problem),
    };
    let mut swept_id = start.swept_id;
    if start.verified_id > 0 && swept_id < start.verified_id {
        let from = swept_id;
        let Some(prev) = stored_hash(conn, from)? else {
            return broken(from, format!("event {from} is missing"));
        };
        let end = start.verified_id.min(from + SWEEP_BUDGET);
        match walk(conn, keyring, legacy_until, (from + 1, end), prev)? {
            // A round that reached the checkpoint starts over with the next view.
            Walk::Reached { id, .. } => swept_id = if id >= start.verified_id { 0 } else { id },
            Walk::Broken { at_id, problem } => return broken(at_id, problem),
        }
    }
    if verified_id == last_id && verified_hash != last_hash {
        return broken(
            last_id,
            format!("event {last_id} is not the one the head of the chain records"),
        );
    }
    match authentic_head(conn, keyring)? {
        Ok(_) => {}
        Err(e @ HeadError::UnknownKey(_)) => {
            return Ok(ChainState::Unverifiable {
                problem: e.to_string(),
            });
        }
        Err(e) => return broken(last_id, e.to_string()),
    }
    let checked_at = now();
    save(
        conn,
        keyring,
        &Checkpoint {
            verified_id,
            verified_hash,
            verified_at: checked_at,
            swept_id,
        },
    )?;
    let up_to_at: Option<i64> = audit_events::table
        .find(verified_id)
        .select(audit_events::at)
        .get_result(conn)
        .optional()?;
    Ok(ChainState::Verified {
        up_to: verified_id,
        up_to_at,
        checked_at,
        pending: last_id - verified_id,
        swept_to: swept_id,
    })
}

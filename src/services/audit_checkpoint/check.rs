//! One check of the chain: the events written since the checkpoint and a slice of older
//! ones, read `BATCH` rows at a time, then the checkpoint with what the check found.

use diesel::prelude::*;

use super::{load, save};
use crate::db::schema::audit_events;
use crate::db::{DbConn, now, write_tx};
use crate::domain::audit::{Checkpoint, Finding, GENESIS};
use crate::domain::vault::Keyring;
use crate::error::Result;
use crate::services::audit_chain::{HeadError, Keys, Walk, authentic_head, read_head, walk};

/// At most this many new events are checked per check (a debug build checks about 17 a
/// millisecond on one busy core, SQLite and PostgreSQL alike).
pub const NEW_BUDGET: i64 = 2_000;

/// At most this many older events are re-checked per check: a round over 10,000 events
/// takes 20 checks, over a million 2,000 (`keyhold audit verify` does it at once).
pub const SWEEP_BUDGET: i64 = 500;

/// Rows read per query, so that a check holds at most this many events in memory.
const BATCH: i64 = 200;

/// Any number of its own, shared by every instance: the PostgreSQL advisory lock that lets
/// one instance check at a time.
pub const CHECK_LOCK: i64 = 0x006b_6861_7564_6974;

/// What a check recorded, and how many events were newer than it could take on.
#[derive(Debug, Clone)]
pub struct Checked {
    pub checkpoint: Checkpoint,
    pub pending: i64,
}

/// Checks the chain once and records what it found. On PostgreSQL one instance checks at
/// a time (`None`: another one is checking now); on SQLite the events are read in a
/// transaction of their own, so the check never holds the one writer's lock while it walks.
pub fn check(conn: &mut DbConn, keyring: &Keyring) -> Result<Option<Checked>> {
    if let DbConn::Postgres(_) = conn {
        return write_tx(conn, |c| {
            if !locked(c)? {
                return Ok(None);
            }
            let found = examine(c, keyring)?;
            save(c, keyring, &found.checkpoint)?;
            Ok(Some(found))
        });
    }
    let found = conn.transaction(|c| examine(c, keyring))?;
    write_tx(conn, |c| save(c, keyring, &found.checkpoint))?;
    Ok(Some(found))
}

/// Takes the check's advisory lock until the transaction ends, if no one holds it.
fn locked(conn: &mut DbConn) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Lock {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    let DbConn::Postgres(c) = conn else {
        return Ok(true);
    };
    let lock: Lock = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS taken")
        .bind::<diesel::sql_types::BigInt, _>(CHECK_LOCK)
        .get_result(c)?;
    Ok(lock.taken)
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

/// Verifies what is new since the checkpoint and a slice of what is older: the checkpoint
/// moved on, or as it was with what broke.
fn examine(conn: &mut DbConn, keyring: &Keyring) -> Result<Checked> {
    // Events are walked only up to the head read here: on PostgreSQL an event committed
    // after this read is simply left for the next check.
    let (last_id, last_hash, _, legacy_until, ..) = read_head(conn)?;
    let legacy_until = legacy_until.unwrap_or(i64::MAX);
    let checked_at = now();
    let start = load(conn, keyring)?.unwrap_or(Checkpoint {
        verified_id: 0,
        verified_hash: GENESIS.to_owned(),
        verified_at: 0,
        swept_id: 0,
        checked_at,
        finding: Finding::Held,
    });
    // What broke is recorded over the checkpoint as it was: nothing moves it past a break.
    let found = |finding: Finding| {
        Ok(Checked {
            pending: last_id - start.verified_id,
            checkpoint: Checkpoint {
                checked_at,
                finding,
                ..start.clone()
            },
        })
    };
    let broken = |at_id: i64, problem: String| found(Finding::Broken { at_id, problem });
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
    let mut keys = Keys::new();
    let (verified_id, verified_hash) = match walk(
        conn,
        keyring,
        legacy_until,
        &mut keys,
        (start.verified_id + 1, Some(to)),
        start.verified_hash.clone(),
        BATCH,
    )? {
        Walk::Reached { id, hash, .. } => (id, hash),
        Walk::Broken { at_id, problem } => return broken(at_id, problem),
    };
    let mut swept_id = start.swept_id;
    if start.verified_id > 0 && swept_id < start.verified_id {
        let from = swept_id;
        let Some(prev) = stored_hash(conn, from)? else {
            return broken(from, format!("event {from} is missing"));
        };
        let end = start.verified_id.min(from + SWEEP_BUDGET);
        let range = (from + 1, Some(end));
        match walk(conn, keyring, legacy_until, &mut keys, range, prev, BATCH)? {
            // A round that reached the checkpoint starts over with the next check.
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
            return found(Finding::Unverifiable {
                problem: e.to_string(),
            });
        }
        Err(e) => return broken(last_id, e.to_string()),
    }
    Ok(Checked {
        pending: last_id - verified_id,
        checkpoint: Checkpoint {
            verified_id,
            verified_hash,
            verified_at: checked_at,
            swept_id,
            checked_at,
            finding: Finding::Held,
        },
    })
}

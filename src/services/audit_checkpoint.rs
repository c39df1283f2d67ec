//! The chain's state as the admin's audit page shows it, kept cheap at a million events.
//! A background worker per instance (`worker`) checks the chain every few seconds: the
//! events written since the last checkpoint and a slice of older ones (wrapping around, so
//! an edited old event is found within a round of checks), a bounded number of each, read
//! a couple of hundred rows at a time (`check`). It stores where it got to and what it
//! found under a MAC, in one row. The page only reads that row (`read`): a view never
//! walks the chain and never writes. `keyhold audit verify` still walks every event at once.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{audit_chain, audit_checkpoint, audit_events};
use crate::domain::audit::{ChainKey, Checkpoint, Finding};
use crate::domain::vault::Keyring;
use crate::error::Result;

mod check;
mod worker;

pub use check::{CHECK_LOCK, Checked, NEW_BUDGET, SWEEP_BUDGET, check};
pub use worker::run_worker;

/// What the page says about the chain: what the last check found, as of `checked_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainState {
    /// No check is recorded yet (or its record was MACed under a master key that is not
    /// configured any more; the next check writes it anew).
    NotChecked,
    /// The record of the last check does not hold under its master key: it was edited in
    /// the database.
    RecordAltered,
    /// Every event up to `up_to` (written at `up_to_at`) verified; `pending` newer events
    /// wait for the next checks; the re-check of older events reached `swept_to` (0: a
    /// round just finished).
    Verified {
        up_to: i64,
        up_to_at: Option<i64>,
        checked_at: i64,
        pending: i64,
        swept_to: i64,
    },
    /// `at_id` breaks the chain.
    Broken {
        at_id: i64,
        problem: String,
        checked_at: i64,
    },
    /// The head was MACed under a master key that is not configured.
    Unverifiable { problem: String, checked_at: i64 },
}

/// The stored row: the checkpoint, the master-key version and the MAC.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_checkpoint)]
struct Row {
    verified_id: i64,
    verified_hash: String,
    verified_at: i64,
    swept_id: i64,
    checked_at: i64,
    outcome: String,
    outcome_id: i64,
    problem: String,
    key_version: String,
    mac: String,
}

/// Whether a stored row holds.
enum Stored {
    Holds(Checkpoint),
    /// Never written, or under a master key that is not configured.
    Unknown,
    Altered,
}

fn authenticate(row: Row, keyring: &Keyring) -> Stored {
    let Some(key) = ChainKey::of(keyring, &row.key_version).filter(|_| !row.mac.is_empty()) else {
        return Stored::Unknown;
    };
    // An empty outcome: written before checks recorded what they found.
    if row.outcome.is_empty() {
        return Stored::Unknown;
    }
    let Some(finding) = Finding::from_columns(&row.outcome, row.outcome_id, row.problem) else {
        return Stored::Altered;
    };
    let c = Checkpoint {
        verified_id: row.verified_id,
        verified_hash: row.verified_hash,
        verified_at: row.verified_at,
        swept_id: row.swept_id,
        checked_at: row.checked_at,
        finding,
    };
    if key.checkpoint_matches(&row.mac, &c) {
        Stored::Holds(c)
    } else {
        Stored::Altered
    }
}

/// The stored checkpoint, if its MAC holds under a configured master key (one that does
/// not is ignored: the walk starts over from the first event, which costs time, not truth).
fn load(conn: &mut DbConn, keyring: &Keyring) -> Result<Option<Checkpoint>> {
    let row: Option<Row> = audit_checkpoint::table
        .find(1)
        .select(Row::as_select())
        .get_result(conn)
        .optional()?;
    Ok(match row.map(|r| authenticate(r, keyring)) {
        Some(Stored::Holds(c)) => Some(c),
        _ => None,
    })
}

fn save(conn: &mut DbConn, keyring: &Keyring, c: &Checkpoint) -> Result<()> {
    let Some(key) = ChainKey::active(keyring) else {
        return Ok(());
    };
    let mac = key.checkpoint_mac(c);
    let (outcome, outcome_id, problem) = c.finding.columns();
    let values = || {
        (
            audit_checkpoint::verified_id.eq(c.verified_id),
            audit_checkpoint::verified_hash.eq(c.verified_hash.clone()),
            audit_checkpoint::verified_at.eq(c.verified_at),
            audit_checkpoint::swept_id.eq(c.swept_id),
            audit_checkpoint::checked_at.eq(c.checked_at),
            audit_checkpoint::outcome.eq(outcome),
            audit_checkpoint::outcome_id.eq(outcome_id),
            audit_checkpoint::problem.eq(problem.to_owned()),
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

/// What the last check found, for the page: one query (the checkpoint, the head's last
/// event for what is still pending, and when the last verified event was written), no
/// walk, no write.
pub fn read(conn: &mut DbConn, keyring: &Keyring) -> Result<ChainState> {
    let row: Option<(Row, i64, Option<i64>)> = audit_checkpoint::table
        .inner_join(audit_chain::table.on(audit_chain::id.eq(audit_checkpoint::id)))
        .left_join(audit_events::table.on(audit_events::id.eq(audit_checkpoint::verified_id)))
        .filter(audit_checkpoint::id.eq(1))
        .select((
            Row::as_select(),
            audit_chain::last_id,
            audit_events::at.nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((row, last_id, up_to_at)) = row else {
        return Ok(ChainState::NotChecked);
    };
    let c = match authenticate(row, keyring) {
        Stored::Holds(c) => c,
        Stored::Unknown => return Ok(ChainState::NotChecked),
        Stored::Altered => return Ok(ChainState::RecordAltered),
    };
    let checked_at = c.checked_at;
    Ok(match c.finding {
        Finding::Held => ChainState::Verified {
            up_to: c.verified_id,
            up_to_at,
            checked_at,
            pending: (last_id - c.verified_id).max(0),
            swept_to: c.swept_id,
        },
        Finding::Broken { at_id, problem } => ChainState::Broken {
            at_id,
            problem,
            checked_at,
        },
        Finding::Unverifiable { problem } => ChainState::Unverifiable {
            problem,
            checked_at,
        },
    })
}

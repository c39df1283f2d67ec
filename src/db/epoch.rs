//! The cache epoch's mechanics: one counter moved, by database triggers, in the transaction
//! of every change a cache reads (users, memberships, workspaces, tokens, provider settings,
//! provider keys), and followed here by `write_tx`. The rule and its entry points for the
//! caches are stated once, in `services::cache`.
//!
//! On PostgreSQL (several instances) the gateway follows the shared counter through
//! notifications (`listen`); a transaction of this process that moved it leaves the new
//! version for `Ctx::db` to take ([`take_written`]), so this instance follows its own
//! change at once. On SQLite (one instance) an in-process counter is enough; it is bumped
//! both inside the transaction and again after commit, so a copy loaded in between is never
//! trusted.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::prelude::*;

use super::DbConn;
use super::schema::cache_epoch;

static LOCAL: AtomicU64 = AtomicU64::new(1);
/// Transactions of `write_tx` committed by this process, whatever they changed.
static COMMITS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static DIRTY: Cell<bool> = const { Cell::new(false) };
    /// The shared version this thread's open PostgreSQL transaction moved the counter to.
    static PENDING: Cell<Option<u64>> = const { Cell::new(None) };
    /// The newest shared version this thread's committed transactions moved it to.
    static WRITTEN: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Records that the current (outermost, PostgreSQL) transaction moved the shared counter
/// to `version`; it counts once committed.
pub(super) fn moved_to(version: i64) {
    PENDING.with(|p| p.set(u64::try_from(version).ok()));
}

/// The shared version a transaction committed on this thread moved the counter to, once.
pub fn take_written() -> Option<u64> {
    WRITTEN.with(Cell::take)
}

/// Records that the current transaction moved the epoch: the in-process counter moves now
/// and again after commit.
pub(super) fn mark_changed() {
    DIRTY.with(|d| d.set(true));
    LOCAL.fetch_add(1, Ordering::AcqRel);
}

/// The in-process counter.
pub fn local() -> u64 {
    LOCAL.load(Ordering::Acquire)
}

/// Moves the in-process counter for a write made behind the application's back (a test
/// arranging the database directly): every in-memory copy is reloaded on its next use.
pub fn external_change() {
    LOCAL.fetch_add(1, Ordering::AcqRel);
}

/// The shared counter.
pub fn shared(conn: &mut DbConn) -> QueryResult<i64> {
    cache_epoch::table
        .find(1)
        .select(cache_epoch::version)
        .get_result(conn)
}

/// How many `write_tx` transactions this process has committed: any write of this
/// process, also of columns that do not move the epoch (a key's last test, its last use).
pub fn commits() -> u64 {
    COMMITS.load(Ordering::Acquire)
}

/// Called by `write_tx` after a commit.
pub(super) fn committed() {
    COMMITS.fetch_add(1, Ordering::AcqRel);
    if DIRTY.with(|d| d.replace(false)) {
        LOCAL.fetch_add(1, Ordering::AcqRel);
    }
    if let Some(v) = PENDING.with(Cell::take) {
        WRITTEN.with(|w| w.set(Some(w.get().map_or(v, |old| old.max(v)))));
    }
}

/// Called by `write_tx` after a rollback (the in-transaction bump only costs a reload).
pub(super) fn rolled_back() {
    DIRTY.with(|d| d.set(false));
    PENDING.with(|p| p.set(None));
}

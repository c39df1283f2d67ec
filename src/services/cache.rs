//! Cache invalidation, written down once.
//!
//! **Every write a cache reads goes through [`crate::db::write_tx`].** Its transaction is
//! where the database's triggers move the cache epoch (on users, memberships, workspaces,
//! API tokens, provider settings and provider keys: the columns a cache reads), and
//! `write_tx` is what publishes the move: at once in this process (SQLite's in-process
//! counter; on PostgreSQL the new version taken by [`Ctx::db`]), and to the other instances
//! through the database's notifications (`db::listen`). Nothing else needs to remember to
//! invalidate anything.
//!
//! The caches, and how each trusts a copy:
//! - the gateway's tokens and routes (`gateway::cache`): a copy loaded at the epoch that
//!   [`current_epoch`] returns now;
//! - the signed-in users (`web::principals`) and the session rows (`web::session_store`),
//!   kept on SQLite only, where this process is the one writer: the same, through
//!   [`current_epoch`] and [`local_epoch`];
//! - the gateway's allowance counters (tokens used this month), which no table change moves:
//!   a service that changes an allowance tells the [`Listener`] after its commit.
//!
//! A write made behind the application's back (a test arranging the database with SQL)
//! calls [`external_change`], so every copy is reloaded on its next use.
//!
//! [`Ctx::db`]: super::Ctx::db

use super::Ctx;
use crate::db::{Backend, epoch};
use crate::error::{Error, Result};

pub use crate::db::epoch::external_change;

/// Something outside the services that must hear of a change no table change moves (the
/// gateway's allowance counters): the services call it without knowing who listens.
pub trait Listener: Send + Sync {
    /// A workspace's allowance changed or its usage was reset.
    fn allowance_changed(&self, workspace_id: &str);
}

/// Nobody listening (commands, benchmarks).
pub struct NoListener;

impl Listener for NoListener {
    fn allowance_changed(&self, _: &str) {}
}

/// The epoch this process's in-memory copies are compared with on SQLite (one instance):
/// moved by every `write_tx` that changed what a cache reads, in the transaction and again
/// after the commit, so a copy loaded in between is never trusted.
pub fn local_epoch() -> u64 {
    epoch::local()
}

/// The epoch to compare copies with: in-process on SQLite, shared on PostgreSQL, where the
/// listener keeps it in memory (`db::listen`). While the listener is down, the shared row
/// is read on every request; if the database cannot be reached either, the last version
/// known current is kept for a while (no change can commit meanwhile; see
/// `listen::UNREACHABLE_TRUST`), so cached routes keep answering.
pub async fn current_epoch(state: &Ctx) -> Result<u64> {
    match Backend::from_url(&state.config.database_url) {
        Some(Backend::Postgres) => {
            use crate::db::listen::Plan;
            let unreachable = || Error::Unavailable("the database cannot be reached".into());
            match state.epoch.plan() {
                Plan::Live(v) => Ok(v),
                Plan::Unreachable(v) => v.ok_or_else(unreachable),
                Plan::Read => {
                    let pool = state.pool.clone();
                    let read =
                        tokio::task::spawn_blocking(move || crate::db::listen::read_shared(&pool));
                    match read.await.ok().flatten() {
                        Some(v) => Ok(state.epoch.confirm(v)),
                        None => state.epoch.read_failed().ok_or_else(unreachable),
                    }
                }
            }
        }
        _ => Ok(local_epoch()),
    }
}

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
//! - the signed-in users (`web::principals`): the same, through [`current_epoch`];
//! - the session rows (`web::session_store`): under [`local_epoch`], and on PostgreSQL only
//!   while the listener is live, which also passes on every session row changed anywhere;
//! - the gateway's allowance counters (tokens used this month), which no table change moves:
//!   a service that changes an allowance tells the [`Listener`] after its commit;
//! - the busiest signed-in pages' reads ([`PageMemo`]: Settings → Integrations, a
//!   workspace's Provider keys): trusted while the epoch has not moved and this process has
//!   committed nothing since, and for [`PAGE_TTL`] at most, the bound on how late such a
//!   page shows what another instance wrote to a column no trigger watches (a key's last
//!   test or use).
//!
//! A write made behind the application's back (a test arranging the database with SQL)
//! calls [`external_change`], so every copy is reloaded on its next use.
//!
//! [`Ctx::db`]: super::Ctx::db

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::Ctx;
use crate::db::{Backend, DbConn, epoch};
use crate::domain::ids::WorkspaceId;
use crate::error::{Error, Result};

pub use crate::db::epoch::external_change;

/// Something outside the services that must hear of a change no table change moves (the
/// gateway's allowance counters): the services call it without knowing who listens.
pub trait Listener: Send + Sync {
    /// A workspace's allowance changed or its usage was reset.
    fn allowance_changed(&self, workspace_id: &WorkspaceId);
}

/// Nobody listening (commands, benchmarks).
pub struct NoListener;

impl Listener for NoListener {
    fn allowance_changed(&self, _: &WorkspaceId) {}
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

/// The longest a page read is kept (see [`PageMemo`]).
pub const PAGE_TTL: Duration = Duration::from_secs(1);

/// What a page read was loaded under: the epoch (shared, as [`current_epoch`] returns it),
/// this process's counter and its count of commits.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    shared: u64,
    local: u64,
    commits: u64,
}

/// One page's reads kept in memory by key (a workspace's id, or `()`): loaded through
/// [`Ctx::db`] on a miss, reused while nothing they read can have changed (module
/// documentation). On PostgreSQL a signed-in page then needs no database round trip.
pub struct PageMemo<K, V> {
    entries: RwLock<HashMap<K, Kept<V>>>,
}

/// A page read, with the stamp and the time it was loaded at.
type Kept<V> = (Stamp, Instant, Arc<V>);

impl<K, V> Default for PageMemo<K, V> {
    fn default() -> Self {
        PageMemo {
            entries: RwLock::default(),
        }
    }
}

/// Past this many keys the entries are dropped and reloaded as needed.
const PAGE_MEMO_MAX: usize = 10_000;

impl<K, V> PageMemo<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Send + Sync + 'static,
{
    /// The reads for `key`, from memory or from `load`.
    pub async fn get(
        &self,
        ctx: &Ctx,
        key: K,
        load: impl FnOnce(&mut DbConn) -> Result<V> + Send + 'static,
    ) -> Result<Arc<V>> {
        // Taken before loading: a change committed meanwhile makes the copy stale at once.
        let stamp = Stamp {
            shared: current_epoch(ctx).await?,
            local: epoch::local(),
            commits: epoch::commits(),
        };
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((at, when, v)) = entries.get(&key)
                && *at == stamp
                && when.elapsed() < PAGE_TTL
            {
                return Ok(v.clone());
            }
        }
        let v = Arc::new(ctx.db(load).await?);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= PAGE_MEMO_MAX {
            entries.clear();
        }
        entries.insert(key, (stamp, Instant::now(), v.clone()));
        Ok(v)
    }
}

/// The page reads this instance keeps (see [`PageMemo`]).
#[derive(Default)]
pub struct Pages {
    /// Settings → Integrations.
    pub integrations: PageMemo<(), Vec<super::integrations::ProviderRow>>,
    /// A workspace's Provider keys page: its keys and what answers for each provider.
    pub keys: PageMemo<
        WorkspaceId,
        (
            Vec<crate::db::models::ProviderKeyRow>,
            Vec<super::explain::ProviderExplanation>,
        ),
    >,
}

//! What the use cases need from the running instance — configuration, the pool, the mail
//! wake-up, the provider client, counters and limits — and nothing of the web. Services and
//! the gateway take a `&Ctx`; the web's state holds one and hands it on.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::db::{DbConn, DbPool};
use crate::error::{Error, Result};

pub use super::cache::{Listener, NoListener};

/// Tests credentials with their providers' cheap authenticated requests. The gateway
/// implements it (it holds the clients, the outbound guard and Vertex's tokens); the
/// services only ask.
pub trait KeyTester: Send + Sync {
    /// Tests `cred`, a credential of `provider`'s kind.
    fn test<'a>(
        &'a self,
        provider: &'static crate::domain::providers::Provider,
        cred: &'a crate::domain::credentials::Credential,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::upstream::KeyReport> + Send + 'a>>;
}

/// The services' context (cheap to clone).
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub pool: DbPool,
    /// Wakes the outbox worker when a transaction has queued mail.
    pub mail_wakeup: Arc<Notify>,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Limits on password guessing.
    pub throttle: Arc<super::throttle::Policy>,
    /// Told of changes no table change moves (see `services::cache`).
    pub listener: Arc<dyn Listener>,
    /// Tests keys of every credential kind.
    pub key_tester: Arc<dyn KeyTester>,
    /// The shared cache epoch as this instance knows it (PostgreSQL; see `db::listen`).
    pub epoch: Arc<crate::db::listen::EpochWatch>,
    /// The busiest pages' reads, kept while current (`services::cache::PageMemo`).
    pub pages: Arc<super::cache::Pages>,
}

impl Ctx {
    /// Runs blocking database work on the blocking pool, with a pooled connection.
    pub async fn db<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let watch = self.epoch.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            let result = f(&mut conn);
            // A change this work committed applies to this instance's very next request.
            if let Some(v) = crate::db::epoch::take_written() {
                watch.advance(v);
            }
            result
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("database task failed: {e}")))?
    }
}

//! What every handler and background task shares: configuration, the pool, the mail
//! wake-up and the upstream client.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::db::{DbConn, DbPool};
use crate::error::{Error, Result};

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    /// Wakes the outbox worker when a transaction has queued mail.
    pub mail_wakeup: Arc<Notify>,
    /// The one HTTP client for providers: short timeouts, no redirects.
    pub upstream: reqwest::Client,
    /// The API gateway's cache, limits and usage queue.
    pub gateway: Arc<crate::gateway::Gateway>,
    /// Signed-in users, kept between requests where that is safe.
    pub principals: Arc<crate::web::principals::Principals>,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Limits on password guessing.
    pub throttle: Arc<crate::services::throttle::Policy>,
    /// The shared cache epoch as this instance knows it (PostgreSQL; see `db::listen`).
    pub epoch: Arc<crate::db::listen::EpochWatch>,
}

impl AppState {
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

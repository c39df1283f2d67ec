//! Usage events: queued in memory by the hot path and written in batches by a background
//! task, so recording never slows an answer; drained on shutdown. While the database cannot
//! take them they wait in memory, up to `KEYHOLD_USAGE_QUEUE_MAX` events; past that new
//! events are dropped and counted (`/metrics`), and the rest are written when it is back. Each batch is also added
//! to the daily rollup the usage pages read. Also keeps each workspace's month-to-date
//! platform-key tokens for the allowance check. This file queues and counts; `batch` writes
//! one batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::translate::Usage;
use crate::db::now;
use crate::domain::ids::{KeyId, TokenId, UserId, WorkspaceId};
use crate::domain::resolution::Source;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::services::Ctx;

/// One call's record.
#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub at: i64,
    pub workspace_id: WorkspaceId,
    pub token_id: Option<TokenId>,
    pub user_id: Option<UserId>,
    pub provider: &'static str,
    pub model: String,
    pub source: Option<Source>,
    pub key_id: Option<KeyId>,
    pub status: u16,
    pub error_code: Option<crate::domain::error_code::ErrorCode>,
    pub latency_ms: i64,
    pub usage: Usage,
}

mod batch;

pub use crate::db::month_start;
pub use batch::write_batch;

/// The queue into the writer, and the allowance counters.
pub struct Recorder {
    tx: mpsc::UnboundedSender<UsageEvent>,
    metrics: Arc<Metrics>,
    /// Most events waiting to be written (queued or in a failed batch).
    max_waiting: i64,
    platform_used: RwLock<HashMap<WorkspaceId, (i64, Arc<AtomicI64>)>>,
}

impl Recorder {
    /// A recorder counting into `metrics` that holds at most `max_waiting` unwritten
    /// events, and the receiving end for [`run_writer`].
    pub fn new(
        metrics: Arc<Metrics>,
        max_waiting: usize,
    ) -> (Recorder, mpsc::UnboundedReceiver<UsageEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        metrics.usage_limit(max_waiting);
        (
            Recorder {
                tx,
                metrics,
                max_waiting: i64::try_from(max_waiting).unwrap_or(i64::MAX),
                platform_used: RwLock::default(),
            },
            rx,
        )
    }

    /// Queues an event (never blocks).
    pub fn record(&self, ev: UsageEvent) {
        if ev.source == Some(Source::Platform) {
            let month = month_start(ev.at);
            if let Some((m, counter)) = self
                .platform_used
                .read()
                .ok()
                .and_then(|m| m.get(&ev.workspace_id).cloned())
                && m == month
            {
                counter.fetch_add(ev.usage.input + ev.usage.output, Ordering::AcqRel);
            }
        }
        self.metrics.call(
            (
                ev.provider,
                ev.source.map_or("none", |s| s.as_str()),
                ev.error_code.map_or("ok", |c| c.as_str()),
            ),
            ev.usage.input,
            ev.usage.output,
            ev.latency_ms,
        );
        if self.metrics.usage_waiting() >= self.max_waiting {
            // The database has not taken events for a while: keep memory bounded.
            self.metrics.usage_dropped();
        } else if self.tx.send(ev).is_ok() {
            self.metrics.usage_queued(1);
        } else {
            tracing::error!("usage writer stopped; a usage event was dropped");
        }
    }

    /// Platform-key tokens the workspace used this month (loaded once a month per
    /// workspace, then counted in memory).
    pub async fn platform_used(&self, state: &Ctx, workspace_id: &WorkspaceId) -> Result<i64> {
        let month = month_start(now());
        if let Some((m, c)) = self
            .platform_used
            .read()
            .ok()
            .and_then(|m| m.get(workspace_id).cloned())
            && m == month
        {
            return Ok(c.load(Ordering::Acquire));
        }
        let ws = workspace_id.clone();
        let used = state
            .db(move |c| Ok(crate::services::usage_report::allowance_use(c, &ws, now())?.used))
            .await?;
        if let Ok(mut map) = self.platform_used.write() {
            map.insert(
                workspace_id.clone(),
                (month, Arc::new(AtomicI64::new(used))),
            );
        }
        Ok(used)
    }

    /// Forgets the counters (after an admin changes an allowance or usage is reset).
    pub fn forget(&self, workspace_id: &WorkspaceId) {
        if let Ok(mut map) = self.platform_used.write() {
            map.remove(workspace_id);
        }
    }
}

/// Most events written in one transaction.
const MAX_BATCH: usize = 5_000;

/// Writes queued events in batches until shutdown, then drains what is left.
pub async fn run_writer(
    state: Ctx,
    mut rx: mpsc::UnboundedReceiver<UsageEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch: Vec<UsageEvent> = Vec::new();
    loop {
        let stop = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => { batch.push(ev); false }
                None => true,
            },
            _ = shutdown.changed() => true,
            // Events kept from a failed write are retried without waiting for new ones.
            _ = tokio::time::sleep(Duration::from_secs(1)), if !batch.is_empty() => false,
        };
        if !stop {
            // Gather what arrives in the next moment into the same transaction.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        while let Ok(ev) = rx.try_recv() {
            batch.push(ev);
        }
        // A backlog (the database was away) goes in transactions of MAX_BATCH events.
        while !batch.is_empty() {
            let n = batch.len().min(MAX_BATCH);
            let events: Arc<Vec<UsageEvent>> = Arc::new(batch.drain(..n).collect());
            let written = events.clone();
            let result = state.db(move |c| write_batch(c, &written)).await;
            match result {
                Ok(()) => state.metrics.usage_queued(-(n as i64)),
                Err(e) => {
                    tracing::error!(error = %e, events = n + batch.len(),
                        "usage events not written; kept in memory, will retry");
                    let events = Arc::try_unwrap(events).unwrap_or_else(|e| (*e).clone());
                    batch.splice(0..0, events);
                    if !stop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    break;
                }
            }
        }
        if stop {
            if !batch.is_empty() {
                tracing::error!(
                    events = batch.len(),
                    "usage events lost at shutdown (database unavailable)"
                );
            }
            return;
        }
    }
}

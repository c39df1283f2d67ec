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
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::translate::Usage;
use crate::db::{Backend, now};
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

/// How long, on PostgreSQL, a workspace's platform usage counted in memory is trusted
/// before the database's total is read again. Another instance's calls reach this one's
/// count that late (plus the moment its writer takes to store them), so instances sharing
/// a database may together overrun an allowance by about what they use in that time. One
/// instance (SQLite) counts every call itself and never reads again within the month.
const PLATFORM_RELOAD_MS: i64 = 2_000;

/// A workspace's platform-key tokens this month as this instance counts them.
struct PlatformUsed {
    month: i64,
    tokens: AtomicI64,
    /// When `tokens` was last read from the database (ms after [`Recorder::started`]).
    loaded_ms: AtomicI64,
}

/// The queue into the writer, and the allowance counters.
pub struct Recorder {
    tx: mpsc::UnboundedSender<UsageEvent>,
    metrics: Arc<Metrics>,
    /// Most events waiting to be written (queued or in a failed batch).
    max_waiting: i64,
    platform_used: RwLock<HashMap<WorkspaceId, Arc<PlatformUsed>>>,
    started: Instant,
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
                started: Instant::now(),
            },
            rx,
        )
    }

    /// Queues an event (never blocks).
    pub fn record(&self, ev: UsageEvent) {
        if ev.source == Some(Source::Platform) {
            let month = month_start(ev.at);
            if let Some(used) = self
                .platform_used
                .read()
                .ok()
                .and_then(|m| m.get(&ev.workspace_id).cloned())
                && used.month == month
            {
                used.tokens
                    .fetch_add(ev.usage.input + ev.usage.output, Ordering::AcqRel);
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
    /// workspace, then counted in memory; on PostgreSQL read again when older than
    /// [`PLATFORM_RELOAD_MS`], for the other instances' calls).
    pub async fn platform_used(&self, state: &Ctx, workspace_id: &WorkspaceId) -> Result<i64> {
        let month = month_start(now());
        let known = self
            .platform_used
            .read()
            .ok()
            .and_then(|m| m.get(workspace_id).cloned())
            .filter(|u| u.month == month);
        if let Some(u) = &known
            && !self.reload_due(state, u)
        {
            return Ok(u.tokens.load(Ordering::Acquire));
        }
        let ws = workspace_id.clone();
        let read = state
            .db(move |c| Ok(crate::services::usage_report::allowance_use(c, &ws, now())?.used))
            .await;
        if let Some(u) = known {
            // Both are short of the truth, never over it: this instance's count since it
            // was loaded, and the stored total (without what is still queued here).
            return Ok(match read {
                Ok(used) => u.tokens.fetch_max(used, Ordering::AcqRel).max(used),
                Err(e) => {
                    tracing::warn!(error = %e, "platform usage not read again; counting on");
                    u.tokens.load(Ordering::Acquire)
                }
            });
        }
        let used = read?;
        if let Ok(mut map) = self.platform_used.write() {
            map.insert(
                workspace_id.clone(),
                Arc::new(PlatformUsed {
                    month,
                    tokens: AtomicI64::new(used),
                    loaded_ms: AtomicI64::new(self.elapsed_ms()),
                }),
            );
        }
        Ok(used)
    }

    /// Whether `u` is to be read from the database again: on PostgreSQL, once it is older
    /// than [`PLATFORM_RELOAD_MS`]. The call that says so claims the reading; calls at the
    /// same moment go on with the count.
    fn reload_due(&self, state: &Ctx, u: &PlatformUsed) -> bool {
        let t = self.elapsed_ms();
        let loaded = u.loaded_ms.load(Ordering::Acquire);
        t - loaded >= PLATFORM_RELOAD_MS
            && Backend::from_url(&state.config.database_url) == Some(Backend::Postgres)
            && u.loaded_ms
                .compare_exchange(loaded, t, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
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

//! The shared cache epoch without a round trip per request (PostgreSQL).
//!
//! The triggers that move `cache_epoch` also `pg_notify('keyhold_epoch', <new version>)`
//! (migration 000013). Each instance keeps one dedicated connection listening on that
//! channel and holds the newest version it heard of in memory ([`EpochWatch`]); the gateway
//! compares its cached entries with that instead of reading the row on every call. The
//! instance that commits a change moves its own copy at once (`AppState::db` takes the
//! version `write_tx` saw), so it obeys the change on its very next request; the others
//! when the notification arrives (milliseconds).
//!
//! While the listener is down (not yet connected, connection lost, heartbeat unanswered)
//! the gateway falls back to reading the shared row on every request, as before
//! notifications, and the listener reconnects with backoff. On reconnecting it listens
//! first and then reads the row, so a change committed while it was away is not missed.
//!
//! The same connection follows `keyhold_sessions` (migration 000018): every update or
//! deletion of a session row names the row, and the session store's in-memory copies
//! ([`SessionCopies`]) drop it, so a signed-in page need not read its session from the
//! database either. Copies are trusted only while the listener is live, and all of them are
//! forgotten when it (re)connects, since notifications sent meanwhile were missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

/// The channel the epoch triggers notify.
pub const CHANNEL: &str = "keyhold_epoch";
/// The channel the `sessions` trigger notifies with the changed row's id.
pub const SESSIONS_CHANNEL: &str = "keyhold_sessions";

/// In-memory copies of session rows, which another instance may change behind them
/// (implemented by the web's session store).
pub trait SessionCopies: Send + Sync {
    /// Row `id` was updated or deleted.
    fn forget(&self, id: &str);
    /// Notifications may have been missed: forget every copy.
    fn forget_all(&self);
}
/// The listener's `application_name`, as `pg_stat_activity` shows it.
pub const APPLICATION_NAME: &str = "keyhold-epoch-listener";
/// How often the listener asks for the version on its own connection: a connection that
/// died without the server closing it (a network cut) is noticed within
/// `HEARTBEAT + HEARTBEAT_TIMEOUT`, and the fallback takes over.
const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest pause between two reconnection attempts (the first is the caller's choice, then
/// doubled): after an outage the listener is back within this of the database, and until
/// then every request reads the row.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// While the database cannot be reached at all, the last version known current is trusted
/// this long (no change can commit on a database nobody reaches; a change committed by
/// another instance that can still reach it is obeyed once this one reaches it again).
/// Past it, requests that need the epoch answer 503.
pub const UNREACHABLE_TRUST: Duration = Duration::from_secs(60);

/// The newest shared epoch this instance knows of, and whether that is current.
#[derive(Debug)]
pub struct EpochWatch {
    version: AtomicU64,
    /// The listener is connected and listening: `version` is current.
    live: AtomicBool,
    /// When `version` was last known current (listener up, or the fallback read it).
    confirmed: Mutex<Instant>,
    /// After a failed fallback read, no request reads again before this (one probes): an
    /// unreachable database must not hold every request for the pool's timeout.
    next_probe: Mutex<Option<Instant>>,
    reconnects: AtomicU64,
    /// The session store's copies, told of every session row changed anywhere.
    sessions: OnceLock<Arc<dyn SessionCopies>>,
}

impl std::fmt::Debug for dyn SessionCopies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCopies")
    }
}

/// How a request gets the epoch (see [`EpochWatch::plan`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The listener vouches for this version.
    Live(u64),
    /// Read the shared row, then [`EpochWatch::confirm`] or [`EpochWatch::read_failed`].
    Read,
    /// The database did not answer a moment ago: this version, or `None` (503).
    Unreachable(Option<u64>),
}

/// Pause between two reads of an unreachable database.
const PROBE_EVERY: Duration = Duration::from_secs(1);

impl Default for EpochWatch {
    fn default() -> Self {
        EpochWatch {
            version: AtomicU64::new(0),
            live: AtomicBool::new(false),
            confirmed: Mutex::new(Instant::now()),
            next_probe: Mutex::new(None),
            reconnects: AtomicU64::new(0),
            sessions: OnceLock::new(),
        }
    }
}

impl EpochWatch {
    /// The version, when the listener vouches for it (no database work needed).
    pub fn live(&self) -> Option<u64> {
        self.live
            .load(Ordering::Acquire)
            .then(|| self.version.load(Ordering::Acquire))
    }

    /// Tells `copies` of every session row changed on the database from now on (once).
    pub fn follow_sessions(&self, copies: Arc<dyn SessionCopies>) {
        let _ = self.sessions.set(copies);
    }

    /// What a request does to learn the epoch.
    pub fn plan(&self) -> Plan {
        if let Some(v) = self.live() {
            return Plan::Live(v);
        }
        let mut next = lock(&self.next_probe);
        match *next {
            Some(at) if Instant::now() < at => Plan::Unreachable(self.unconfirmed()),
            Some(_) => {
                // This request probes; the others keep the last version meanwhile.
                *next = Some(Instant::now() + PROBE_EVERY);
                Plan::Read
            }
            None => Plan::Read,
        }
    }

    /// A fallback read failed: the last version if still trusted (see
    /// [`UNREACHABLE_TRUST`]), and the next read waits for [`PROBE_EVERY`].
    pub fn read_failed(&self) -> Option<u64> {
        *lock(&self.next_probe) = Some(Instant::now() + PROBE_EVERY);
        self.unconfirmed()
    }

    /// Moves to `v` if it is newer (a notification, a commit of this instance, a read).
    pub fn advance(&self, v: u64) -> u64 {
        self.version.fetch_max(v, Ordering::AcqRel).max(v)
    }

    /// The fallback read `v` from the database: newer of it and what is known.
    pub fn confirm(&self, v: u64) -> u64 {
        *lock(&self.confirmed) = Instant::now();
        *lock(&self.next_probe) = None;
        self.advance(v)
    }

    /// The database could not be read: the last version, if it was current recently
    /// enough (see [`UNREACHABLE_TRUST`]).
    pub fn unconfirmed(&self) -> Option<u64> {
        let at = *lock(&self.confirmed);
        (at.elapsed() <= UNREACHABLE_TRUST).then(|| self.version.load(Ordering::Acquire))
    }

    /// Whether the listener is up, and how many times it connected again after a loss.
    pub fn status(&self) -> (bool, u64) {
        (
            self.live.load(Ordering::Acquire),
            self.reconnects.load(Ordering::Relaxed),
        )
    }

    fn set_live(&self, live: bool) {
        if live {
            self.live.store(true, Ordering::Release);
        } else if self.live.swap(false, Ordering::AcqRel) {
            // It was current until now.
            *lock(&self.confirmed) = Instant::now();
        }
    }
}

/// How long the fallback waits for a pooled connection: a request that probes an
/// unreachable database is held this long, not the pool's whole timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The fallback's read of the shared row (blocking); `None` when the database did not
/// answer.
pub fn read_shared(pool: &super::DbPool) -> Option<u64> {
    let mut conn = pool
        .get_timeout(PROBE_TIMEOUT)
        .inspect_err(|e| tracing::debug!(error = %e, "cache epoch: no connection"))
        .ok()?;
    let v = super::epoch::shared(&mut conn)
        .inspect_err(|e| tracing::debug!(error = %e, "cache epoch: read failed"))
        .ok()?;
    u64::try_from(v).ok()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps the listener connected until `shutdown`: reconnects after `first_retry`, doubling
/// up to [`MAX_RETRY`], and back to `first_retry` once a connection held.
pub async fn run(
    url: String,
    watch: std::sync::Arc<EpochWatch>,
    first_retry: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut retry = first_retry;
    let mut connected_before = false;
    let mut failures: u32 = 0;
    loop {
        let outcome = listen(&url, &watch, &mut connected_before, &mut shutdown).await;
        watch.set_live(false);
        match outcome {
            Ok(()) => return,
            Err(Lost::Held(e)) => {
                retry = first_retry;
                failures = 0;
                tracing::warn!(error = %e, retry_ms = retry.as_millis() as u64,
                    "cache-change listener lost its connection; reading the epoch per request until it is back");
            }
            Err(Lost::Never(e)) => {
                // Once per streak (and then every ~10 minutes), not every few seconds.
                failures += 1;
                if failures % 120 == 1 {
                    tracing::warn!(error = %e, attempts = failures,
                        "cache-change listener cannot connect; reading the epoch per request until it can");
                } else {
                    tracing::debug!(error = %e, attempts = failures, "cache-change listener cannot connect");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.changed() => return,
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Why a listening session ended.
enum Lost {
    /// It had been listening.
    Held(String),
    /// It never got that far.
    Never(String),
}

/// One connection: listen, read the version, then follow notifications and heartbeats
/// until the connection fails (`Err`) or `shutdown` (`Ok`).
async fn listen(
    url: &str,
    watch: &EpochWatch,
    connected_before: &mut bool,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Lost> {
    let never = |e: tokio_postgres::Error| Lost::Never(e.to_string());
    let mut config: tokio_postgres::Config = url.parse().map_err(never)?;
    config
        .application_name(APPLICATION_NAME)
        .connect_timeout(Duration::from_secs(5))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10));
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.map_err(never)?;
    // The connection object delivers notifications; it runs beside the client.
    let (tx, mut notified) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let sessions = n.channel() == SESSIONS_CHANNEL;
                    if tx.send(Ok((sessions, n.payload().to_owned()))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        }
        let _ = tx.send(Err("the server closed the connection".into()));
    });
    let result = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {SESSIONS_CHANNEL}"))
            .await
            .map_err(never)?;
        let v = read_version(&client).await.map_err(Lost::Never)?;
        watch.advance(v);
        // Session rows changed while nobody listened are unknown: start over.
        if let Some(copies) = watch.sessions.get() {
            copies.forget_all();
        }
        watch.set_live(true);
        if std::mem::replace(connected_before, true) {
            watch.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!("cache-change listener connected");
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                m = notified.recv() => match m {
                    Some(Ok((true, id))) => {
                        if let Some(copies) = watch.sessions.get() {
                            copies.forget(&id);
                        }
                    }
                    Some(Ok((false, payload))) => match payload.parse::<u64>() {
                        Ok(v) => { watch.advance(v); }
                        // Not ours (someone else notified the channel): read the truth.
                        Err(_) => { watch.advance(read_version(&client).await.map_err(Lost::Held)?); }
                    },
                    Some(Err(e)) => return Err(Lost::Held(e)),
                    None => return Err(Lost::Held("the connection task ended".into())),
                },
                _ = heartbeat.tick() => {
                    let v = tokio::time::timeout(HEARTBEAT_TIMEOUT, read_version(&client))
                        .await
                        .map_err(|_| Lost::Held("heartbeat unanswered".into()))?
                        .map_err(Lost::Held)?;
                    watch.advance(v);
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
    .await;
    driver.abort();
    result
}

async fn read_version(client: &tokio_postgres::Client) -> Result<u64, String> {
    let row = client
        .query_one("SELECT version FROM cache_epoch WHERE id = 1", &[])
        .await
        .map_err(|e| e.to_string())?;
    let v: i64 = row.try_get(0).map_err(|e| e.to_string())?;
    Ok(u64::try_from(v).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::{EpochWatch, Plan};

    #[test]
    fn the_watch_only_moves_forward_and_is_trusted_only_while_live() {
        let w = EpochWatch::default();
        assert_eq!(w.live(), None, "not live before the listener connects");
        assert_eq!(w.advance(7), 7);
        assert_eq!(
            w.advance(5),
            7,
            "an older notification does not move it back"
        );
        w.set_live(true);
        assert_eq!(w.live(), Some(7));
        w.set_live(false);
        assert_eq!(w.live(), None);
        assert_eq!(
            w.unconfirmed(),
            Some(7),
            "just lost: still trusted for a while"
        );
        assert_eq!(w.confirm(9), 9);
    }

    #[test]
    fn an_unreachable_database_is_probed_by_one_request_at_a_time() {
        let w = EpochWatch::default();
        w.advance(3);
        assert_eq!(w.plan(), Plan::Read, "listener down: read the row");
        assert_eq!(w.read_failed(), Some(3));
        assert_eq!(
            w.plan(),
            Plan::Unreachable(Some(3)),
            "right after a failure the others keep the last version"
        );
        *super::lock(&w.next_probe) = Some(std::time::Instant::now());
        assert_eq!(w.plan(), Plan::Read, "one request probes again");
        assert_eq!(w.plan(), Plan::Unreachable(Some(3)), "only one");
        w.confirm(4);
        assert_eq!(w.plan(), Plan::Read, "reachable again: every request reads");
        w.set_live(true);
        assert_eq!(w.plan(), Plan::Live(4));
    }
}

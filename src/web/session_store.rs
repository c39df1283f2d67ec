//! actix-session's storage over the database, so sessions live on the server, work on
//! SQLite and PostgreSQL alike, and are shared by every instance.
//!
//! Rows are keyed by a SHA-256 of the session key (a copy of the table opens no session).
//! Idle expiry is `expires_at`; the absolute limit counts from `created_at`, which a renew
//! (sign-in) resets. Refreshing the idle deadline is a write, so it is skipped when the
//! row was refreshed less than a minute ago.
//!
//! The rows are also kept in memory, so a signed-in page does not read its session from the
//! database. A copy is trusted only while the cache epoch has not moved (`services::cache`):
//! the changes that end sessions behind the store's back (sign out everywhere, disable,
//! removal from a workspace) all change the user in the same transaction, which moves it.
//! On SQLite (one instance) every session write goes through this store. On PostgreSQL other
//! instances write rows too: each update or deletion notifies (migration 000018), the epoch
//! listener passes it on ([`SessionCopies`]), and copies are trusted only while that
//! listener is live (else every page reads its row, as before).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use diesel::prelude::*;

use crate::db::listen::EpochWatch;
use crate::db::schema::sessions;
use crate::db::{Backend, DbPool, now};
use crate::domain::ids::UserId;
use crate::domain::tokens;
use crate::services::cache;
use crate::web::extractors::{SESSION_EPOCH, SESSION_USER};

mod copies;
use copies::{Cache, Cached, Listened};

/// The longest a session lives, however active (12 h).
pub const ABSOLUTE_LIMIT_SECS: i64 = 12 * 3600;
/// The idle limit (30 min).
pub const IDLE_LIMIT_SECS: i64 = 30 * 60;
const REFRESH_EVERY_SECS: i64 = 60;
/// The database-backed session store.
#[derive(Clone)]
pub struct DbSessionStore {
    pool: DbPool,
    absolute_limit: i64,
    /// When this instance last pushed each session's idle deadline forward.
    refreshed: Arc<Mutex<HashMap<String, i64>>>,
    /// Rows kept in memory (see the module documentation).
    cache: Option<Cache>,
    /// On PostgreSQL, the listener that tells the copies of other instances' writes.
    watch: Option<Arc<EpochWatch>>,
}

impl DbSessionStore {
    /// A store over `pool`, a database of kind `backend`.
    pub fn new(pool: DbPool, backend: Backend) -> Self {
        DbSessionStore {
            pool,
            absolute_limit: ABSOLUTE_LIMIT_SECS,
            refreshed: Arc::default(),
            cache: (backend == Backend::Sqlite).then(Cache::default),
            watch: None,
        }
    }

    /// Keeps copies on PostgreSQL too, trusted while `watch`'s listener is live and told by
    /// it of every row another instance changes.
    pub fn following(mut self, backend: Backend, watch: Arc<EpochWatch>) -> Self {
        if backend == Backend::Postgres {
            let cache = Cache::default();
            watch.follow_sessions(Arc::new(Listened(cache.clone())));
            self.cache = Some(cache);
            self.watch = Some(watch);
        }
        self
    }

    /// The in-memory copy of row `id`, if there is one and it can be trusted.
    fn cached(&self, id: &str) -> Option<Cached> {
        if let Some(watch) = &self.watch {
            watch.live()?;
        }
        copies::copy_of(self.cache.as_ref()?, id)
    }

    /// How many writes the store has made (see [`Copies`]).
    fn writes(&self) -> u64 {
        self.cache.as_ref().map_or(0, copies::writes_of)
    }

    /// Keeps (or, with `None`, forgets) the copy of row `id`, as the store writes it. Call
    /// after the database write (and, to be safe against a failed write, before it too).
    fn remember(&self, id: &str, row: Option<Cached>) {
        self.keep(id, row, None);
    }

    /// Keeps a copy read from the database when there were `writes` writes, unless a write
    /// happened since.
    fn keep(&self, id: &str, row: Option<Cached>, read_after: Option<u64>) {
        if let Some(cache) = &self.cache {
            copies::keep(cache, id, row, read_after);
        }
    }

    /// Overrides the absolute limit (tests).
    pub fn with_absolute_limit(mut self, secs: i64) -> Self {
        self.absolute_limit = secs;
        self
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::db::DbConn) -> QueryResult<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            Ok(f(&mut conn)?)
        })
        .await?
    }
}

/// The state a session has when the store could not read it (the database is down): the
/// cookie is kept (an empty state would make actix-session drop it, and the next write would
/// replace the user's good cookie with a new, anonymous one), pages answer 503 (see
/// [`unavailable`]), and a state carrying it is never written back.
const UNAVAILABLE: &str = "_store_unavailable";

/// Whether this request's session could not be read because the store is down.
pub fn unavailable(session: &actix_session::Session) -> bool {
    session.contains_key(UNAVAILABLE)
}

fn row_id(key: &SessionKey) -> String {
    tokens::hash(key.as_ref())
}

fn user_of(state: &HashMap<String, String>) -> Option<UserId> {
    state
        .get(SESSION_USER)
        .and_then(|v| serde_json::from_str::<UserId>(v).ok())
}

fn new_key() -> anyhow::Result<SessionKey> {
    // 256 random bits, URL-safe.
    SessionKey::try_from(tokens::generate("")).map_err(|e| anyhow::anyhow!("session key: {e}"))
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let id = row_id(key);
        let absolute_limit = self.absolute_limit;
        let t = now();
        let live = |created: i64, expires: i64| expires > t && created + absolute_limit > t;
        if let Some(c) = self.cached(&id) {
            return Ok(live(c.created, c.expires).then_some(c.state));
        }
        let epoch = cache::local_epoch();
        let writes = self.writes();
        let lookup = id.clone();
        let row: Option<(String, i64, i64)> = match self
            .run(move |c| {
                sessions::table
                    .find(lookup)
                    .select((sessions::state, sessions::created_at, sessions::expires_at))
                    .get_result(c)
                    .optional()
            })
            .await
        {
            Ok(row) => row,
            Err(e) => {
                // Not an error here: actix-session would answer a bare 500 outside the error
                // pages. The marked state makes the pages answer 503 instead.
                tracing::error!(error = %e, "session store unavailable");
                return Ok(Some(HashMap::from([(
                    UNAVAILABLE.to_owned(),
                    "1".to_owned(),
                )])));
            }
        };
        match row {
            Some((state, created, expires)) if live(created, expires) => {
                let state: HashMap<String, String> = serde_json::from_str(&state)
                    .map_err(|e| LoadError::Deserialization(e.into()))?;
                self.keep(
                    &id,
                    Some(Cached {
                        state: state.clone(),
                        created,
                        expires,
                        epoch,
                    }),
                    Some(writes),
                );
                Ok(Some(state))
            }
            _ => Ok(None),
        }
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        if state.contains_key(UNAVAILABLE) {
            return Ok(key);
        }
        let id = row_id(&key);
        let body = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let user = user_of(&state);
        let t = now();
        let expires = t + ttl.whole_seconds();
        let epoch = cache::local_epoch();
        let row = id.clone();
        let saved = self
            .run(move |c| {
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(row),
                        sessions::user_id.eq(user),
                        sessions::state.eq(body),
                        sessions::created_at.eq(t),
                        sessions::expires_at.eq(expires),
                    ))
                    .execute(c)
            })
            .await;
        match saved {
            Ok(_) => self.remember(
                &id,
                Some(Cached {
                    state,
                    created: t,
                    expires,
                    epoch,
                }),
            ),
            // The cookie then names no stored session: the next request is anonymous.
            Err(e) => tracing::error!(error = %e, "session store unavailable; session not saved"),
        }
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        if state.contains_key(UNAVAILABLE) {
            // Read while the store was down: keep the cookie and the stored row as they are.
            return Ok(key);
        }
        let id = row_id(&key);
        let body =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let user = user_of(&state);
        let expires = now() + ttl.whole_seconds();
        let epoch = cache::local_epoch();
        let row = id.clone();
        // Forget the copy first: if the write fails, the next request reads the database.
        let kept = self.cached(&id);
        self.remember(&id, None);
        let updated = match self
            .run(move |c| {
                diesel::update(sessions::table.find(row))
                    .set((
                        sessions::state.eq(body),
                        sessions::user_id.eq(user),
                        sessions::expires_at.eq(expires),
                    ))
                    .execute(c)
            })
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "session store unavailable; session not updated");
                return Ok(key);
            }
        };
        if updated == 1 {
            let row = kept.map(|kept| Cached {
                state: state.clone(),
                expires,
                epoch,
                ..kept
            });
            self.remember(&id, row);
            return Ok(key);
        }
        self.remember(&id, None);
        // The row is gone: it expired, or was purged (sign-out, disable) while this request
        // was in flight. Start a fresh session, but never a signed-in one: writing the old
        // state back would undo the sign-out.
        let mut state = state;
        state.remove(SESSION_USER);
        state.remove(SESSION_EPOCH);
        self.save(state, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let id = row_id(key);
        let t = now();
        {
            let mut seen = self
                .refreshed
                .lock()
                .map_err(|_| anyhow::anyhow!("session refresh map poisoned"))?;
            if seen
                .get(&id)
                .is_some_and(|last| t - last < REFRESH_EVERY_SECS)
            {
                return Ok(());
            }
            if seen.len() > 100_000 {
                seen.retain(|_, last| t - *last < REFRESH_EVERY_SECS);
            }
            seen.insert(id.clone(), t);
        }
        let expires = t + ttl.whole_seconds();
        let row = id.clone();
        let r = self
            .run(move |c| {
                diesel::update(sessions::table.find(row))
                    .filter(sessions::expires_at.gt(t))
                    .set(sessions::expires_at.eq(expires))
                    .execute(c)
            })
            .await;
        match r {
            Ok(1) => {
                let row = self.cached(&id).map(|kept| Cached { expires, ..kept });
                self.remember(&id, row);
            }
            Ok(_) => self.remember(&id, None),
            Err(e) => tracing::warn!(error = %e, "session expiry not refreshed"),
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let id = row_id(key);
        if let Ok(mut seen) = self.refreshed.lock() {
            seen.remove(&id);
        }
        self.remember(&id, None);
        // Answer, never fail: an error here would bypass the error pages. Sign-out clears the
        // cookie either way, and "sign out everywhere" also bumps the user's epoch.
        let row = id.clone();
        if let Err(e) = self
            .run(move |c| diesel::delete(sessions::table.find(row)).execute(c))
            .await
        {
            tracing::error!(error = %e, "session not deleted");
        }
        self.remember(&id, None);
        Ok(())
    }
}

//! actix-session's storage over the database, so sessions live on the server, work on
//! SQLite and PostgreSQL alike, and are shared by every instance.
//!
//! Rows are keyed by a SHA-256 of the session key (a copy of the table opens no session).
//! Idle expiry is `expires_at`; the absolute limit counts from `created_at`, which a renew
//! (sign-in) resets. Refreshing the idle deadline is a write, so it is skipped when the
//! row was refreshed less than a minute ago.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use diesel::prelude::*;

use crate::db::schema::sessions;
use crate::db::{DbPool, now};
use crate::domain::tokens;
use crate::web::extractors::{SESSION_EPOCH, SESSION_USER};

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
}

impl DbSessionStore {
    /// A store over `pool`.
    pub fn new(pool: DbPool) -> Self {
        DbSessionStore {
            pool,
            absolute_limit: ABSOLUTE_LIMIT_SECS,
            refreshed: Arc::default(),
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

fn row_id(key: &SessionKey) -> String {
    tokens::hash(key.as_ref())
}

fn user_of(state: &HashMap<String, String>) -> Option<String> {
    state
        .get(SESSION_USER)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

fn new_key() -> anyhow::Result<SessionKey> {
    // 256 random bits, URL-safe.
    SessionKey::try_from(tokens::generate("")).map_err(|e| anyhow::anyhow!("session key: {e}"))
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let id = row_id(key);
        let absolute_limit = self.absolute_limit;
        let row: Option<(String, i64, i64)> = match self
            .run(move |c| {
                sessions::table
                    .find(id)
                    .select((sessions::state, sessions::created_at, sessions::expires_at))
                    .first(c)
                    .optional()
            })
            .await
        {
            Ok(row) => row,
            Err(e) => {
                // Degrade to anonymous rather than fail the request outside the error
                // pages; the handler's own database access answers 503.
                tracing::error!(error = %e, "session store unavailable");
                return Ok(None);
            }
        };
        let t = now();
        match row {
            Some((state, created, expires)) if expires > t && created + absolute_limit > t => {
                serde_json::from_str(&state)
                    .map(Some)
                    .map_err(|e| LoadError::Deserialization(e.into()))
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
        let id = row_id(&key);
        let body = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let user = user_of(&state);
        let t = now();
        let expires = t + ttl.whole_seconds();
        let saved = self
            .run(move |c| {
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(id),
                        sessions::user_id.eq(user),
                        sessions::state.eq(body),
                        sessions::created_at.eq(t),
                        sessions::expires_at.eq(expires),
                    ))
                    .execute(c)
            })
            .await;
        if let Err(e) = saved {
            // The cookie then names no stored session: the next request is anonymous.
            tracing::error!(error = %e, "session store unavailable; session not saved");
        }
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let id = row_id(&key);
        let body =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let user = user_of(&state);
        let expires = now() + ttl.whole_seconds();
        let updated = match self
            .run(move |c| {
                diesel::update(sessions::table.find(id))
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
            return Ok(key);
        }
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
        let r = self
            .run(move |c| {
                diesel::update(sessions::table.find(id))
                    .filter(sessions::expires_at.gt(t))
                    .set(sessions::expires_at.eq(expires))
                    .execute(c)
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "session expiry not refreshed");
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let id = row_id(key);
        if let Ok(mut seen) = self.refreshed.lock() {
            seen.remove(&id);
        }
        // Answer, never fail: an error here would bypass the error pages. Sign-out clears the
        // cookie either way, and "sign out everywhere" also bumps the user's epoch.
        if let Err(e) = self
            .run(move |c| diesel::delete(sessions::table.find(id)).execute(c))
            .await
        {
            tracing::error!(error = %e, "session not deleted");
        }
        Ok(())
    }
}

/// Ends every session of `user_id` (sign out everywhere, disable, role change). Call inside
/// the change's transaction; the user's epoch bump makes it immediate on every instance.
pub fn purge_user_sessions(conn: &mut crate::db::DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Deletes expired rows (run now and then by a background task).
pub fn purge_expired(conn: &mut crate::db::DbConn, absolute_limit: i64) -> QueryResult<usize> {
    let t = now();
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(t)
                .or(sessions::created_at.le(t - absolute_limit)),
        ),
    )
    .execute(conn)
}

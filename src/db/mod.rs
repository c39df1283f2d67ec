//! The data layer: one connection type over SQLite and PostgreSQL, the pool, migrations
//! and the transaction helper every service writes through.

pub mod epoch;
pub mod listen;
pub mod models;
pub mod schema;
pub mod sessions;
pub mod types;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to whichever backend the URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme (`sqlite://`, `postgres://`, `postgresql://`).
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The path SQLite opens for a `sqlite://` URL (`sqlite://./data/keyhold.db`, `sqlite:///abs.db`).
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// The file a SQLite path names; `None` for an in-memory database or a `file:` URI.
fn sqlite_file(path: &str) -> Option<&std::path::Path> {
    (!path.is_empty() && !path.starts_with(':') && !path.starts_with("file:"))
        .then(|| std::path::Path::new(path))
}

/// Opens one connection of the right kind and reports the real error (diesel's derived
/// `establish` tries every variant and throws the reasons away).
pub fn establish(url: &str) -> Result<DbConn, ConnectionError> {
    match Backend::from_url(url) {
        Some(Backend::Sqlite) => {
            let path = sqlite_path(url);
            // The database and its WAL hold every secret sealed and every link unsealed
            // until sent: this user's only (SPEC §11), whatever the umask.
            let file = sqlite_file(path);
            if let Some(file) = file {
                crate::private_files::prepare_sqlite(file).map_err(|e| {
                    ConnectionError::BadConnection(format!("{}: {e}", file.display()))
                })?;
            }
            let mut conn = SqliteConnection::establish(path)?;
            conn.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
            )
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            if let Some(file) = file {
                // A WAL left by an older version may be too open; new ones take the
                // database's mode.
                crate::private_files::prepare_sqlite(file).map_err(|e| {
                    ConnectionError::BadConnection(format!("{}: {e}", file.display()))
                })?;
            }
            Ok(DbConn::Sqlite(conn))
        }
        Some(Backend::Postgres) => {
            // libpq talks TLS through OpenSSL, which by default registers an atexit handler
            // that frees its global state. A thread still closing a TLS connection while the
            // process exits (a server worker dropping its pool after shutdown) then touches
            // freed memory: SIGSEGV at exit. Initialising OpenSSL first without that handler
            // (as the `openssl` crate does) leaves the cleanup to the OS. Idempotent.
            openssl_sys::init();
            Ok(DbConn::Postgres(PgConnection::establish(url)?))
        }
        None => Err(ConnectionError::InvalidConnectionUrl(
            "the URL must start with sqlite:// or postgres://".into(),
        )),
    }
}

/// r2d2 manager that opens connections with [`establish`].
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        establish(&self.url)
    }

    /// Checked at every check-out (PostgreSQL only, see [`build_pool`]) without a round
    /// trip: libpq reads what the server already sent, and a connection the server closed
    /// (a restart, `pg_terminate_backend`, an idle timeout) shows as an error here.
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        match conn {
            DbConn::Postgres(pg) => match pg.notifications_iter().next() {
                Some(Err(e)) => Err(ConnectionError::CouldntSetupConfiguration(e)),
                _ => Ok(()),
            },
            DbConn::Sqlite(_) => Ok(()),
        }
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // A connection handed back mid-transaction (a panic inside one) is not reusable, nor
        // one whose server went away while it was out (the query's error path): checked
        // locally, as at check-out.
        !matches!(
            <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
                .transaction_depth(),
            Ok(None)
        ) || self.is_valid(conn).is_err()
    }
}

/// The connection pool, built once at start.
/// Runs `$body` with `$c` bound to the backend's own connection. A query through `DbConn`
/// goes through diesel's multi-backend layer, which serialises it and prepares it anew every
/// time (no prepared-statement cache: ~40 % of a signed-in page's database time); on the
/// backend's own connection a query is prepared once and then found in its cache. For the
/// queries every page runs.
#[macro_export]
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgres($c) => $body,
        }
    };
}

pub type DbPool = Pool<Manager>;
/// A connection checked out of the pool.
pub type PooledConn = PooledConnection<Manager>;

/// Builds the pool. SQLite gets a small pool (one writer at a time anyway).
pub fn build_pool(url: &str, max_size: u32) -> Result<DbPool, anyhow::Error> {
    // Fail fast with the real reason before r2d2 starts retrying in the background.
    establish(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pool = Pool::builder()
        // A SQLite connection is a file handle that cannot go stale: no check at check-out.
        // A PostgreSQL connection can (a server restart), and a broken one must not be
        // handed out; [`Manager::is_valid`] tells without a query (r2d2's `SELECT 1` was a
        // round trip on every API call and every page).
        .test_on_check_out(Backend::from_url(url) == Some(Backend::Postgres))
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .build(Manager {
            url: url.to_owned(),
        })?;
    Ok(pool)
}

/// Runs every pending migration for the connection's backend.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, anyhow::Error> {
    run_migrations_then(conn, |_, _| Ok(()))
}

/// Runs every pending migration, then `after` with the versions applied, all in one
/// transaction: a step that must follow a migration but needs what SQL cannot do (the
/// master keys) lands with it or not at all.
pub fn run_migrations_then(
    conn: &mut DbConn,
    after: impl FnOnce(&mut DbConn, &[String]) -> Result<(), anyhow::Error>,
) -> Result<usize, anyhow::Error> {
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        let applied: Vec<String> = match conn {
            DbConn::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                .iter()
                .map(ToString::to_string)
                .collect(),
            DbConn::Postgres(c) => c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                .iter()
                .map(ToString::to_string)
                .collect(),
        };
        after(conn, &applied)?;
        Ok(applied.len())
    })
}

/// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (no lock upgrade
/// deadlocks between writers), an ordinary transaction on PostgreSQL. The change and its
/// audit event are written through this, so either both land or neither does.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let result = match conn {
        DbConn::Postgres(_) => {
            // Only the outermost transaction's change is known to commit with it.
            let outermost = matches!(
                <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
                    .transaction_depth(),
                Ok(None)
            );
            conn.transaction(|c| {
                // As on SQLite: see whether a trigger moved the epoch, so that this
                // instance follows its own change on its very next request (others hear
                // of it through `listen`). Two primary-key reads per write.
                let before = epoch::shared(c)?;
                let value = f(c)?;
                let after = epoch::shared(c)?;
                if outermost && after != before {
                    epoch::moved_to(after);
                }
                Ok(value)
            })
        }
        DbConn::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            // Triggers move the epoch on any change the gateway caches; notice it here so
            // this process's in-memory epoch follows (see `epoch`).
            let before = epoch::shared(conn).ok();
            let outcome = f(conn);
            if outcome.is_ok() && epoch::shared(conn).ok() != before {
                epoch::mark_changed();
            }
            match outcome {
                Ok(value) => {
                    <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(e) => {
                    <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
                    Err(e)
                }
            }
        }
    };
    match &result {
        Ok(_) => epoch::committed(),
        Err(_) => epoch::rolled_back(),
    }
    result
}

/// Current time as unix seconds, the unit of every `*_at` column.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds of the first moment of the current UTC month.
pub fn month_start(at: i64) -> i64 {
    let d =
        time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    d.replace_day(1)
        .map(|d| d.replace_time(time::Time::MIDNIGHT).unix_timestamp())
        .unwrap_or(at)
}

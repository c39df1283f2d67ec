//! Builds the application from a [`Config`]: pool, migrations, background workers and the
//! HTTP server. Tests bind port 0 and talk to it over HTTP like anyone else.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::db::{self, Backend};
use crate::error::Error;
use crate::gateway;
use crate::metrics::Metrics;
use crate::services::{audit_chain, audit_checkpoint, mail, throttle};
use crate::state::AppState;
use crate::web::principals::Principals;
use crate::web::session_store::{self, DbSessionStore};
use crate::web::{csrf, error, routes};

/// A built, bound, not yet running Keyhold.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    shutdown: watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// Knobs the test suite turns; production uses the defaults.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// First retry delay of the outbox, doubled each time.
    pub mail_retry_base_secs: i64,
    /// Absolute session lifetime.
    pub session_absolute_secs: i64,
    /// Upstream timeouts and size limits of the gateway.
    pub gateway: gateway::Limits,
    /// Limits on password guessing, and the clock they read.
    pub throttle: throttle::Policy,
    /// First pause before the cache-change listener connects again (PostgreSQL), doubled
    /// after each failure up to 5 s.
    pub listen_retry: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            mail_retry_base_secs: 5,
            session_absolute_secs: session_store::ABSOLUTE_LIMIT_SECS,
            gateway: gateway::Limits::default(),
            throttle: throttle::Policy::default(),
            listen_retry: Duration::from_millis(250),
        }
    }
}

/// Narrows a data folder that an older version (or a wide umask) left readable by others,
/// and says so once.
fn secure_data_dir(config: &Config) {
    let dir = &config.data_dir;
    match crate::private_files::secure_data_dir(dir) {
        Ok(fixed) if !fixed.is_empty() => tracing::warn!(
            "the data folder {} was readable by other users: {} folder(s) and file(s) narrowed \
             to this user only (folders 0700, files 0600)",
            dir.display(),
            fixed.len()
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(
            "the data folder {} may be readable by other users and could not be narrowed: {e}",
            dir.display()
        ),
    }
}

impl Application {
    /// Builds with default tuning.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with(config, Tuning::default()).await
    }

    /// Connects, migrates, starts the workers and binds the listener.
    pub async fn build_with(config: Config, tuning: Tuning) -> anyhow::Result<Application> {
        let backend = Backend::from_url(&config.database_url).context("KEYHOLD_DATABASE_URL")?;
        // SQLite has one writer at a time anyway, and four readers keep two cores busy
        // (each connection caches up to 2 MiB of pages: eight held a tenth of the soak's peak
        // RSS for no more throughput); on PostgreSQL every instance holds this many
        // connections (plus one listener), so N instances need N × (size + 1) of the server's
        // `max_connections` (README, "Several instances").
        let pool_size = config.db_pool_size.unwrap_or(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        });
        secure_data_dir(&config);
        let url = config.database_url.clone();
        let keyring = config.keyring.clone();
        let pool = tokio::task::spawn_blocking(move || -> anyhow::Result<db::DbPool> {
            let pool = db::build_pool(&url, pool_size)?;
            let mut conn = pool.get()?;
            db::run_migrations_then(&mut conn, |c, applied| {
                Ok(audit_chain::seal_after_migrations(c, &keyring, applied)?)
            })?;
            Ok(pool)
        })
        .await??;

        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let transport = mail::Transport::from_config(&config)?;
        let session_key = Key::derive_from(config.session_secret.expose_secret());
        let https = config.is_https();
        let workers_n = config.workers;

        let metrics = Arc::new(Metrics::default());
        let (recorder, usage_rx) =
            gateway::usage::Recorder::new(metrics.clone(), config.usage_queue_max);
        let gateway = gateway::Gateway::new(recorder, tuning.gateway.clone(), &config)?;
        let state = AppState {
            ctx: crate::services::Ctx {
                config: Arc::new(config),
                pool: pool.clone(),
                mail_wakeup: Arc::new(Notify::new()),
                metrics,
                throttle: Arc::new(tuning.throttle),
                listener: gateway.clone(),
                key_tester: gateway.clone(),
                epoch: Default::default(),
                pages: Default::default(),
            },
            gateway,
            principals: Arc::new(Principals::new()),
        };

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut workers = vec![
            tokio::spawn(gateway::usage::run_writer(
                state.ctx.clone(),
                usage_rx,
                shutdown_rx.clone(),
            )),
            tokio::spawn(mail::run_worker(
                state.ctx.clone(),
                transport,
                tuning.mail_retry_base_secs,
                shutdown_rx.clone(),
            )),
            tokio::spawn(purge_sessions(
                state.clone(),
                tuning.session_absolute_secs,
                shutdown_rx.clone(),
            )),
            tokio::spawn(audit_checkpoint::run_worker(
                state.ctx.clone(),
                shutdown_rx.clone(),
            )),
        ];
        if backend == Backend::Postgres {
            workers.push(tokio::spawn(db::listen::run(
                state.config.database_url.clone(),
                state.epoch.clone(),
                tuning.listen_retry,
                shutdown_rx,
            )));
        }

        let store = DbSessionStore::new(pool, backend)
            .following(backend, state.epoch.clone())
            .with_absolute_limit(tuning.session_absolute_secs);
        let data = web::Data::new(state.clone());
        let mut server = HttpServer::new(move || {
            let cookie_name = if https {
                "__Host-keyhold"
            } else {
                "keyhold_session"
            };
            let sessions = SessionMiddleware::builder(store.clone(), session_key.clone())
                .cookie_name(cookie_name.into())
                .cookie_secure(https)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_path("/".into())
                .cookie_content_security(CookieContentSecurity::Signed)
                .session_lifecycle(
                    BrowserSession::default()
                        .state_ttl(actix_web::cookie::time::Duration::seconds(
                            session_store::IDLE_LIMIT_SECS,
                        ))
                        .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
                )
                .build();
            App::new()
                .app_data(data.clone())
                .app_data(
                    web::FormConfig::default()
                        .limit(256 * 1024)
                        .error_handler(|e, _| {
                            tracing::debug!(error = %e, "form rejected");
                            Error::invalid(
                                "form",
                                "The form was incomplete or malformed. Go back and try again.",
                            )
                            .into()
                        }),
                )
                .app_data(web::QueryConfig::default().error_handler(|_, _| {
                    Error::invalid(
                        "query",
                        "The address has a malformed query. Check the link.",
                    )
                    .into()
                }))
                .app_data(web::PathConfig::default().error_handler(|_, _| Error::NotFound.into()))
                // API bodies (prompts with images) are larger than forms.
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .configure(routes::configure_api)
                .service(
                    web::scope("")
                        .configure(routes::configure_pages)
                        .wrap(from_fn(csrf::guard))
                        .wrap(sessions),
                )
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, Error>(Error::NotFound)
                }))
                .wrap(from_fn(error::frame))
        })
        .listen(listener)?
        // Database work runs on each worker's blocking pool. Past the pool's connections more
        // threads only wait on it (each with its own stack and allocator cache; the default
        // allows 256 per worker): with this bound, work queues instead.
        .worker_max_blocking_threads(blocking_threads(pool_size, workers_n))
        .tcp_nodelay(true)
        .shutdown_timeout(10);
        if let Some(n) = workers_n {
            server = server.workers(n);
        }
        let server = server.run();

        Ok(Application {
            port,
            server,
            state,
            shutdown,
            workers,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (the CLI and tests use its pool).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests and the workers finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        for w in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
        result
    }
}

/// Deletes expired sessions and throttle counters nothing remembers any more.
async fn purge_sessions(state: AppState, absolute: i64, mut shutdown: watch::Receiver<bool>) {
    loop {
        let r = state
            .db(move |c| Ok(crate::db::sessions::purge_expired(c, absolute)?))
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not purge expired sessions");
        }
        let policy = state.throttle.clone();
        if let Err(e) = state.db(move |c| throttle::prune(c, &policy)).await {
            tracing::warn!(error = %e, "could not prune throttle counters");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Blocking threads per HTTP worker: together the workers can hold every pooled connection
/// at once, plus one each for password work (admitted one per hasher thread, it waits there
/// without a connection: `services::passwords`).
fn blocking_threads(pool_size: u32, workers: Option<usize>) -> usize {
    let workers = workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    (pool_size as usize).div_ceil(workers) + 1
}

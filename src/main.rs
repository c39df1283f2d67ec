//! The `keyhold` command: serve, migrate, create-admin, gen-master-key, rotate-master-key,
//! audit verify, check.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyhold::config::{Config, redact_url};
use keyhold::db;
use keyhold::domain::vault::Keyring;
use keyhold::logging::LogFormat;
use keyhold::services::{accounts, audit, audit_chain, rotation};
use keyhold::startup::Application;
use secrecy::SecretString;

/// jemalloc rather than glibc's malloc: a sixth of the gateway's CPU went to glibc's
/// malloc/free, and its per-thread arenas held most of the mixed soak's peak RSS (see
/// BENCHMARKS.md, seventh session).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "keyhold",
    version,
    about = "Bring Your Own Key backoffice for AI providers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// How `serve` writes its log on stdout: `text` (the default) or `json` (one JSON object a
    /// line, for a log collector).
    #[arg(long, env = "KEYHOLD_LOG_FORMAT", value_name = "text|json")]
    log_format: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default). With no configuration: SQLite and keys in ./data.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a platform admin; prints a one-time link to choose the password unless
    /// --password-stdin is given.
    CreateAdmin {
        /// The admin's email address.
        #[arg(long)]
        email: String,
        /// The admin's name.
        #[arg(long, default_value = "Admin")]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a fresh master key for KEYHOLD_MASTER_KEYS.
    GenMasterKey {
        /// The id to give the key (v1, v2, ...).
        #[arg(long, default_value = "v1")]
        id: String,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Re-seal every stored key under the active (first) master key of KEYHOLD_MASTER_KEYS.
    /// Safe while serving; run it again to resume after an interruption.
    RotateMasterKey {
        /// Keys re-sealed per transaction.
        #[arg(long, default_value_t = 100)]
        batch: i64,
    },
    /// Check the configuration, the database, the audit chain and that every stored key opens.
    Check,
    /// Fill the database with demo data (for benchmarks and trying Keyhold out): an admin,
    /// OpenAI and Anthropic enabled with BYOK on, workspaces with owners, workspace keys,
    /// audit events, and an API token of the first workspace.
    SeedDemo {
        /// Workspaces to create (each with an owner).
        #[arg(long, default_value_t = 3)]
        workspaces: usize,
        /// Workspace OpenAI keys to create, spread over the workspaces.
        #[arg(long, default_value_t = 3)]
        keys: usize,
        /// Audit events to append.
        #[arg(long, default_value_t = 100)]
        audit: usize,
        /// Print only the API token (for scripts).
        #[arg(long)]
        token_only: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report the first edited, missing or reordered event.
    Verify,
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("keyhold: configuration error: {e}");
        ExitCode::from(2)
    })
}

fn open_db(config: &Config) -> Result<db::DbConn, ExitCode> {
    let mut conn = db::establish(&config.database_url).map_err(|e| {
        eprintln!(
            "keyhold: cannot open the database {}: {e}",
            redact_url(&config.database_url)
        );
        ExitCode::from(2)
    })?;
    db::run_migrations_then(&mut conn, |c, applied| {
        Ok(audit_chain::seal_after_migrations(
            c,
            &config.keyring,
            applied,
        )?)
    })
    .map_err(|e| {
        eprintln!("keyhold: {e}");
        ExitCode::FAILURE
    })?;
    Ok(conn)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command.unwrap_or(Command::Serve), cli.log_format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn run(command: Command, log_format: Option<String>) -> Result<(), ExitCode> {
    match command {
        Command::Serve => serve(log_format),
        Command::Migrate => {
            let config = load_config()?;
            open_db(&config)?;
            println!("Database is up to date.");
            Ok(())
        }
        Command::CreateAdmin {
            email,
            name,
            password_stdin,
        } => {
            let config = load_config()?;
            let mut conn = open_db(&config)?;
            let (password, link_needed) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|_| ExitCode::FAILURE)?;
                let pw = line.trim_end_matches(['\r', '\n']).to_owned();
                if let Err(m) = keyhold::domain::password::check_policy(&pw) {
                    eprintln!("keyhold: password: {m}");
                    return Err(ExitCode::from(2));
                }
                (pw, false)
            } else {
                (keyhold::domain::tokens::generate(""), true)
            };
            let hash =
                keyhold::domain::password::hash(&SecretString::from(password)).map_err(|e| {
                    eprintln!("keyhold: {e}");
                    ExitCode::FAILURE
                })?;
            let user = accounts::create_admin_cli(&mut conn, &config.keyring, &email, &name, &hash)
                .map_err(|e| {
                    eprintln!("keyhold: cannot create the admin: {e}");
                    ExitCode::from(2)
                })?;
            println!("Created platform admin {}.", user.email);
            if link_needed {
                let token = accounts::cli_password_link(&mut conn, &user).map_err(|e| {
                    eprintln!("keyhold: {e}");
                    ExitCode::FAILURE
                })?;
                println!(
                    "Choose the password here (valid 72 hours, once):\n  {}",
                    config.link(&format!("/password/reset?token={token}"))
                );
            }
            Ok(())
        }
        Command::GenMasterKey { id } => {
            let (_, spec) = Keyring::generate();
            let key = spec.split_once(':').map(|(_, k)| k).unwrap_or_default();
            let line = format!("{id}:{key}");
            if Keyring::parse(&line).is_err() {
                eprintln!("keyhold: --id must be 1–16 letters, digits, '-' or '_'");
                return Err(ExitCode::from(2));
            }
            println!("{line}");
            if std::io::stdout().is_terminal() {
                eprintln!(
                    "Put it first in KEYHOLD_MASTER_KEYS (newest first, e.g. {id}:…,v1:…), then run `keyhold rotate-master-key`."
                );
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let config = load_config()?;
            let mut conn = open_db(&config)?;
            match audit::verify(&mut conn, &config.keyring) {
                Ok(audit::Verdict::Intact {
                    events,
                    legacy,
                    keyed_since,
                    last_at,
                    retired,
                }) => {
                    println!("Audit log intact: {events} events, hash chain verified.");
                    println!("{}", chain_facts(events, legacy, keyed_since, last_at));
                    if !retired.is_empty() {
                        println!(
                            "Events MACed under retired master keys ({}) are covered by the later keyed events and the head.",
                            retired.join(", ")
                        );
                    }
                    Ok(())
                }
                Ok(audit::Verdict::Broken { at_id, problem }) => {
                    println!("Audit log TAMPERED at event {at_id}: {problem}.");
                    Err(ExitCode::FAILURE)
                }
                Ok(audit::Verdict::Unverifiable { problem }) => {
                    println!("Audit log cannot be verified: {problem}.");
                    Err(ExitCode::FAILURE)
                }
                Err(e) => {
                    eprintln!("keyhold: {e}");
                    Err(ExitCode::FAILURE)
                }
            }
        }
        Command::Check => {
            let config = load_config()?;
            println!(
                "Configuration: ok ({:?} master keys, active {})",
                config.keyring.ids().count(),
                config.keyring.active_id()
            );
            let mut conn = open_db(&config)?;
            println!("Database: ok ({})", redact_url(&config.database_url));
            match audit::verify(&mut conn, &config.keyring) {
                Ok(audit::Verdict::Intact { events, .. }) => {
                    println!("Audit log: ok ({events} events)")
                }
                Ok(audit::Verdict::Broken { at_id, problem }) => {
                    println!("Audit log: TAMPERED at event {at_id}: {problem}");
                    return Err(ExitCode::FAILURE);
                }
                Ok(audit::Verdict::Unverifiable { problem }) => {
                    // Say so, and still report on the stored keys (likely the same cause).
                    println!("Audit log: cannot be verified: {problem}");
                    check_secrets(&mut conn, &config)?;
                    return Err(ExitCode::FAILURE);
                }
                Err(e) => {
                    eprintln!("keyhold: {e}");
                    return Err(ExitCode::FAILURE);
                }
            }
            check_secrets(&mut conn, &config)
        }
        Command::SeedDemo {
            workspaces,
            keys,
            audit: events,
            token_only,
        } => {
            let config = load_config()?;
            let mut conn = open_db(&config)?;
            let opts = keyhold::services::seed::SeedOptions {
                workspaces,
                keys,
                audit: events,
                secret: "sk-demo-not-a-real-key-0000".into(),
            };
            let report = keyhold::services::seed::seed_demo(&mut conn, &config.keyring, &opts)
                .map_err(|e| {
                    eprintln!("keyhold: seeding failed: {e}");
                    ExitCode::FAILURE
                })?;
            if token_only {
                println!("{}", report.token);
            } else {
                println!("Seeded {workspaces} workspaces, {keys} keys, {events} audit events.");
                println!("Admin: {} / {}", report.admin_email, report.admin_password);
                println!(
                    "API token of /w/{}: {}",
                    report.first_workspace, report.token
                );
            }
            Ok(())
        }
        Command::RotateMasterKey { batch } => {
            let config = load_config()?;
            let mut conn = open_db(&config)?;
            rotate_master_key(&mut conn, &config, batch)
        }
    }
}

/// What an operator may note to compare later: a rollback of the whole database to an
/// earlier state (head included) is the one change the chain cannot reveal by itself.
fn chain_facts(events: i64, legacy: i64, keyed_since: i64, last_at: Option<i64>) -> String {
    let when = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    };
    let last = last_at.map_or_else(|| "none".to_owned(), when);
    let legacy = if legacy > 0 {
        format!(
            "; events 1–{legacy} predate keying and are plain SHA-256, pinned by the keyed head"
        )
    } else {
        String::new()
    };
    format!(
        "Keyed (HMAC-SHA256 under the master keys) since {}{legacy}. Last event: #{events} at {last}.",
        when(keyed_since)
    )
}

/// `keyhold check`, last part: every stored key opens (reported by id, never by value).
fn check_secrets(conn: &mut db::DbConn, config: &Config) -> Result<(), ExitCode> {
    let report = rotation::check(conn, &config.keyring).map_err(|e| {
        eprintln!("keyhold: {e}");
        ExitCode::FAILURE
    })?;
    if report.failing.is_empty() {
        println!("Stored keys: ok ({} open)", report.opened);
        return Ok(());
    }
    println!(
        "Stored keys: {} CANNOT be opened (key unavailable): {}",
        report.failing.len(),
        report.failing.join(", ")
    );
    println!(
        "  Each was sealed for another record, altered, or sealed under a master key missing from KEYHOLD_MASTER_KEYS."
    );
    Err(ExitCode::FAILURE)
}

/// `keyhold rotate-master-key`: re-seals in batches with a progress bar.
fn rotate_master_key(conn: &mut db::DbConn, config: &Config, batch: i64) -> Result<(), ExitCode> {
    let keyring = &config.keyring;
    let pending = rotation::pending(conn, keyring).map_err(|e| {
        eprintln!("keyhold: {e}");
        ExitCode::FAILURE
    })?;
    println!(
        "Re-sealing {pending} stored key(s) under master key {}.",
        keyring.active_id()
    );
    let bar = indicatif::ProgressBar::new(u64::try_from(pending).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} keys ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = rotation::rotate(conn, keyring, &audit::Actor::cli(), batch, |done| {
        bar.set_position(done)
    });
    bar.finish_and_clear();
    let report = result.map_err(|e| {
        eprintln!("keyhold: rotation stopped: {e}. Run the command again to resume.");
        ExitCode::FAILURE
    })?;
    println!("Re-sealed {} key(s) under {}.", report.resealed, report.to);
    if report.failed.is_empty() {
        Ok(())
    } else {
        println!(
            "{} key(s) could not be opened and were left as they are: {}",
            report.failed.len(),
            report.failed.join(", ")
        );
        Err(ExitCode::FAILURE)
    }
}

fn serve(log_format: Option<String>) -> Result<(), ExitCode> {
    let mut config = load_config()?;
    // `--log-format` (or the same variable, which the configuration has already checked).
    if let Some(given) = log_format {
        config.log_format = LogFormat::parse(&given).ok_or_else(|| {
            eprintln!("keyhold: configuration error: --log-format: must be text or json");
            ExitCode::from(2)
        })?;
    }
    let log = keyhold::logging::init(config.log_format);
    for var in &config.generated {
        tracing::warn!(
            "{var} was not set: a new secret was GENERATED into {} (mode 0600). Back it up; \
             for production set {var} explicitly.",
            config.data_dir.display()
        );
    }
    if config.metrics_token.is_none() {
        tracing::info!(
            "GET /metrics is open to anyone who reaches Keyhold; set KEYHOLD_METRICS_TOKEN to \
             require a bearer token"
        );
    }
    for id in &config.provider_overrides {
        if let (Some(url), Some(var)) = (
            config.provider_base_url(id),
            config.provider_override_var(id),
        ) {
            tracing::info!(
                "{var} is set: {id} is reached at {} instead of the catalogue's default",
                keyhold::upstream::endpoint_text(url)
            );
        }
    }
    if config.smtp_url.is_none() {
        tracing::warn!(
            "KEYHOLD_SMTP_URL is not set: mail is written as .eml files to {}",
            config.mail_dir().display()
        );
    }
    // This runtime accepts nothing itself (the server's workers have their own): it runs
    // start-up and the background workers (usage writer, outbox), whose database work needs
    // a few blocking threads, not tokio's default of 512.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .map_err(|_| ExitCode::FAILURE)?;
    runtime.block_on(async move {
        let app = Application::build(config).await.map_err(|e| {
            eprintln!("keyhold: cannot start: {e:#}");
            ExitCode::from(2)
        })?;
        let state = app.state().clone();
        let setup = state
            .db(accounts::issue_setup_token)
            .await
            .map_err(|e| {
                eprintln!("keyhold: {e}");
                ExitCode::FAILURE
            })?;
        let base = state.config.public_url.as_str().trim_end_matches('/').to_owned();
        tracing::info!("Keyhold is listening on {} (public URL {base})", state.config.bind);
        if let Some(token) = setup {
            let link = state.config.link(&format!("/setup?token={token}"));
            if state.config.log_format == LogFormat::Json {
                // Every line on stdout stays one JSON object.
                tracing::info!(
                    "No users yet. Open this one-time link to create the first platform admin: {link}"
                );
            } else {
                log.flush();
                println!(
                    "\n  No users yet. Open this one-time link to create the first platform admin:\n\n    {link}\n"
                );
            }
        }
        app.run_until_stopped().await.map_err(|e| {
            eprintln!("keyhold: server error: {e}");
            ExitCode::FAILURE
        })
    })
}

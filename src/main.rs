//! The `keyhold` command: serve, migrate, create-admin, gen-master-key, rotate-master-key,
//! audit verify, check. This file parses the command and opens what every command needs;
//! each command lives under `main/`.

use std::process::ExitCode;

use clap::Parser;
use keyhold::config::{Config, redact_url};
use keyhold::db;
use keyhold::services::audit_chain;

/// jemalloc rather than glibc's malloc: a sixth of the gateway's CPU went to glibc's
/// malloc/free, and its per-thread arenas held most of the mixed soak's peak RSS (see
/// BENCHMARKS.md, seventh session).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "main/admin.rs"]
mod admin;
#[path = "main/check.rs"]
mod check;
#[path = "main/cli.rs"]
mod cli;
#[path = "main/master_key.rs"]
mod master_key;
#[path = "main/serve.rs"]
mod serve;

use cli::{AuditCommand, Cli, Command};

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
        Command::Serve => serve::serve(log_format),
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
        } => admin::create_admin(email, name, password_stdin),
        Command::GenMasterKey { id } => master_key::gen_master_key(id),
        Command::Audit {
            command: AuditCommand::Verify,
        } => check::audit_verify(),
        Command::Check => check::check(),
        Command::SeedDemo {
            workspaces,
            keys,
            audit,
            token_only,
            bedrock,
        } => admin::seed_demo(workspaces, keys, audit, token_only, bedrock),
        Command::RotateMasterKey { batch } => {
            let config = load_config()?;
            let mut conn = open_db(&config)?;
            master_key::rotate_master_key(&mut conn, &config, batch)
        }
    }
}

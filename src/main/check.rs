//! `keyhold audit verify` and `keyhold check`: the audit chain, and that every stored key
//! opens.

use std::process::ExitCode;

use keyhold::config::{Config, redact_url};
use keyhold::db;
use keyhold::services::{audit, rotation};

use super::{load_config, open_db};

/// `keyhold audit verify`.
pub(crate) fn audit_verify() -> Result<(), ExitCode> {
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

/// `keyhold check`: the configuration, the database, the audit chain, the stored keys.
pub(crate) fn check() -> Result<(), ExitCode> {
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

//! `keyhold gen-master-key` and `keyhold rotate-master-key`: the master keys stored keys
//! are sealed under.

use std::io::IsTerminal;
use std::process::ExitCode;

use keyhold::config::Config;
use keyhold::db;
use keyhold::domain::vault::Keyring;
use keyhold::services::{audit, rotation};

/// `keyhold gen-master-key`: prints a fresh key named `id`.
pub(crate) fn gen_master_key(id: String) -> Result<(), ExitCode> {
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

/// `keyhold rotate-master-key`: re-seals in batches with a progress bar.
pub(crate) fn rotate_master_key(
    conn: &mut db::DbConn,
    config: &Config,
    batch: i64,
) -> Result<(), ExitCode> {
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

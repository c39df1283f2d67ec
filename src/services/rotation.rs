//! Master-key rotation and the "does every secret open?" check. Rotation re-seals, in
//! small transactions, every stored secret not sealed under the active master key; a
//! crash loses nothing (the next run picks up what still names an old key), and the
//! server may keep serving meanwhile (a key replaced mid-run is left as its writer put it).

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::audit_chain;
use super::key_records as records;
use crate::db::models::ProviderKeyRow;
use crate::db::schema::provider_keys;
use crate::db::{DbConn, write_tx};
use crate::domain::ids::KeyId;
use crate::domain::vault::{self, Keyring};
use crate::error::Result;

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Secrets now sealed under the active key by this run.
    pub resealed: u64,
    /// Ids of secrets that could not be opened (left untouched).
    pub failed: Vec<KeyId>,
    /// Master-key ids the re-sealed secrets were under.
    pub from: BTreeSet<String>,
    /// The active master-key id.
    pub to: String,
}

/// How many stored secrets are not sealed under the active key.
pub fn pending(conn: &mut DbConn, keyring: &Keyring) -> Result<i64> {
    Ok(provider_keys::table
        .filter(provider_keys::sealed.is_not_null())
        .filter(
            provider_keys::master_key_id
                .is_null()
                .or(provider_keys::master_key_id.ne(keyring.active_id())),
        )
        .count()
        .get_result(conn)?)
}

fn next_batch(
    conn: &mut DbConn,
    keyring: &Keyring,
    after: &str,
    batch: i64,
) -> Result<Vec<ProviderKeyRow>> {
    Ok(provider_keys::table
        .filter(provider_keys::sealed.is_not_null())
        .filter(
            provider_keys::master_key_id
                .is_null()
                .or(provider_keys::master_key_id.ne(keyring.active_id())),
        )
        .filter(provider_keys::id.gt(after))
        .order(provider_keys::id.asc())
        .limit(batch)
        .select(ProviderKeyRow::as_select())
        .load(conn)?)
}

/// Re-seals every secret not under the active master key, `batch` rows per transaction,
/// calling `progress(done)` after each batch. Ends with one `master_key.rotated` event
/// when anything was re-sealed or failed.
pub fn rotate(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    batch: i64,
    mut progress: impl FnMut(u64),
) -> Result<RotationReport> {
    let mut report = RotationReport {
        to: keyring.active_id().to_owned(),
        ..RotationReport::default()
    };
    let mut after = String::new();
    loop {
        let done = write_tx(conn, |c| -> Result<Option<String>> {
            let rows = next_batch(c, keyring, &after, batch.max(1))?;
            let Some(last) = rows.last().map(|r| r.id.to_string()) else {
                return Ok(None);
            };
            for row in rows {
                let Some(old_blob) = row.sealed.clone() else {
                    continue;
                };
                let (Ok(secret), aad) =
                    (records::open_secret(keyring, &row), records::aad_of(&row))
                else {
                    report.failed.push(row.id.clone());
                    continue;
                };
                let sealed = keyring
                    .seal(&secret, &aad)
                    .map_err(|e| anyhow::anyhow!("re-sealing key {}: {e}", row.id))?;
                // Only if nobody replaced it meanwhile.
                let n = diesel::update(provider_keys::table.find(&row.id))
                    .filter(provider_keys::sealed.eq(&old_blob))
                    .set((
                        provider_keys::sealed.eq(Some(sealed)),
                        provider_keys::master_key_id.eq(Some(keyring.active_id())),
                        provider_keys::fingerprint.eq(keyring.fingerprint(&secret)),
                    ))
                    .execute(c)?;
                if n == 1 {
                    report.resealed += 1;
                    if let Some(from) = vault::key_id_of(&old_blob) {
                        report.from.insert(from.to_owned());
                    }
                }
            }
            Ok(Some(last))
        })?;
        match done {
            Some(last) => {
                after = last;
                progress(report.resealed + report.failed.len() as u64);
            }
            None => break,
        }
    }
    // The audit chain's head moves under the active key too (its events keep the version
    // they were written with), so appending no longer needs the old master key.
    write_tx(conn, |c| {
        audit_chain::rekey_head(c, keyring)?;
        if report.resealed == 0 && report.failed.is_empty() {
            return Ok(());
        }
        audit::record(
            c,
            keyring,
            actor,
            Event::new("master_key.rotated").details(json!({
                "resealed": report.resealed,
                "failed": report.failed.len(),
                "failed_ids": report.failed,
                "from": report.from,
                "to": report.to,
            })),
        )?;
        Ok::<_, crate::error::Error>(())
    })?;
    Ok(report)
}

/// What `keyhold check` found in the vault.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Secrets that opened.
    pub opened: u64,
    /// Ids of keys that should hold a secret but cannot be opened.
    pub failing: Vec<KeyId>,
}

/// Opens every stored secret (in pages, never holding more than one open at a time);
/// a key that is not removed but has no ciphertext fails too.
pub fn check(conn: &mut DbConn, keyring: &Keyring) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut after = String::new();
    loop {
        let rows: Vec<ProviderKeyRow> = provider_keys::table
            .filter(provider_keys::id.gt(&after))
            .order(provider_keys::id.asc())
            .limit(500)
            .select(ProviderKeyRow::as_select())
            .load(conn)?;
        let Some(last) = rows.last().map(|r| r.id.to_string()) else {
            break;
        };
        for row in rows {
            if row.sealed.is_none() && row.removed_at.is_some() {
                continue;
            }
            match records::open_secret(keyring, &row) {
                Ok(_) => report.opened += 1,
                Err(e) => report.failing.push(e.key_id),
            }
        }
        after = last;
    }
    Ok(report)
}

//! The platform's global key per provider: stored (replaced in place), removed (wiped,
//! row kept) and tested. Called from Settings → Integrations only.

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::key_records as records;
use crate::config::Config;
use crate::db::models::ProviderKeyRow;
use crate::db::schema::provider_keys;
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::KeyId;
use crate::domain::providers::Provider;
use crate::domain::vault::Scope;
use crate::error::Result;
use crate::upstream::{KeyTest, TestOutcome};

/// Label of every global key row.
const GLOBAL_LABEL: &str = "Platform key";

/// Stores `secret` as the provider's global key, replacing the current one in place.
/// Call inside the transaction that audits the settings change.
pub(super) fn put(
    conn: &mut DbConn,
    config: &Config,
    actor: &Actor,
    provider: &'static Provider,
    secret: &SecretString,
    outcome: TestOutcome,
) -> Result<()> {
    let t = now();
    let current = records::global_key(conn, provider.id)?;
    let id = current
        .as_ref()
        .map_or_else(KeyId::random, |r| r.id.clone());
    let sealed = records::seal(&config.keyring, Scope::Global, None, provider, &id, secret)?;
    match &current {
        Some(old) => {
            diesel::update(provider_keys::table.find(&id))
                .set((
                    provider_keys::sealed.eq(Some(&sealed.sealed)),
                    provider_keys::master_key_id.eq(Some(&sealed.master_key_id)),
                    provider_keys::mask.eq(&sealed.mask),
                    provider_keys::fingerprint.eq(&sealed.fingerprint),
                    provider_keys::status.eq(outcome.status()),
                    provider_keys::last_tested_at.eq(Some(t)),
                    provider_keys::last_test_result.eq(Some(outcome.code())),
                    provider_keys::updated_at.eq(t),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                &config.keyring,
                actor,
                Event::new("provider.global_key_replaced")
                    .target(provider.id)
                    .details(json!({
                        "label": GLOBAL_LABEL,
                        "mask_before": old.mask,
                        "mask": sealed.mask,
                        "status": outcome.status().as_str(),
                    })),
            )?;
        }
        None => {
            diesel::insert_into(provider_keys::table)
                .values(&ProviderKeyRow {
                    id: id.clone(),
                    scope: Scope::Global,
                    workspace_id: None,
                    provider: provider.id.to_owned(),
                    label: GLOBAL_LABEL.to_owned(),
                    priority: 0,
                    sealed: Some(sealed.sealed),
                    master_key_id: Some(sealed.master_key_id),
                    mask: sealed.mask.clone(),
                    fingerprint: sealed.fingerprint,
                    status: outcome.status(),
                    last_tested_at: Some(t),
                    last_test_result: Some(outcome.code().to_owned()),
                    last_used_at: None,
                    created_by: actor.user_id.clone(),
                    created_at: t,
                    updated_at: t,
                    removed_at: None,
                    removed_by: None,
                })
                .execute(conn)?;
            audit::record(
                conn,
                &config.keyring,
                actor,
                Event::new("provider.global_key_set")
                    .target(provider.id)
                    .details(json!({
                        "label": GLOBAL_LABEL,
                        "mask": sealed.mask,
                        "status": outcome.status().as_str(),
                    })),
            )?;
        }
    }
    Ok(())
}

/// Removes the global key: its ciphertext is wiped, the row stays for the record.
pub async fn remove_global_key(
    state: &Ctx,
    actor: Actor,
    provider: &'static Provider,
) -> Result<bool> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let Some(row) = records::global_key(c, provider.id)? else {
                    return Ok(false);
                };
                records::wipe(c, &row.id, actor.user_id.as_ref())?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("provider.global_key_removed")
                        .target(provider.id)
                        .details(json!({ "label": row.label, "mask": row.mask })),
                )?;
                Ok(true)
            })
        })
        .await
}

/// Tests `key` against the provider's own base URL (the catalogue's or the operator's).
pub(super) async fn test_secret(
    state: &Ctx,
    provider: &'static Provider,
    key: &SecretString,
) -> Result<KeyTest> {
    let cred = records::credential_of(provider, key)?;
    Ok(state.key_tester.test(provider, &cred).await.test)
}

/// Tests the stored global key and records the result; `None` when there is none.
pub async fn test_global_key(
    state: &Ctx,
    actor: Actor,
    provider: &'static Provider,
) -> Result<Option<KeyTest>> {
    let Some(row) = state
        .db(move |c| records::global_key(c, provider.id))
        .await?
    else {
        return Ok(None);
    };
    let secret = records::open_secret(&state.config.keyring, &row)?;
    let test = test_secret(state, provider, &secret).await?;
    let outcome = test.outcome;
    drop(secret);
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let t = now();
                diesel::update(provider_keys::table.find(&row.id))
                    .filter(provider_keys::removed_at.is_null())
                    .set((
                        provider_keys::status.eq(outcome.status()),
                        provider_keys::last_tested_at.eq(Some(t)),
                        provider_keys::last_test_result.eq(Some(outcome.code())),
                        provider_keys::updated_at.eq(t),
                    ))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("provider.global_key_tested")
                        .target(provider.id)
                        .details(json!({
                            "label": row.label,
                            "mask": row.mask,
                            "result": outcome.code(),
                        })),
                )?;
                Ok(())
            })
        })
        .await?;
    Ok(Some(test))
}

//! A workspace's own provider keys (BYOK), managed by its owners: add (tested first),
//! replace, disable, enable, remove, test and reorder. Each change is audited in its
//! transaction, and the other owners are told by mail of additions, replacements and
//! removals. Disable, enable, remove, test and reorder live in [`super::key_lifecycle`];
//! which key answers is [`super::explain`]'s job.

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::credential_input as input;
use super::key_mail::{self, Change};
use super::key_records::{self as records, SealedKey};
use crate::db::models::ProviderKeyRow;
use crate::db::schema::provider_keys;
use crate::db::{DbConn, now, write_tx};
use crate::domain::credentials::{Credential, CredentialKind, FormInput, fields, key_field};
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::providers::{self, Provider};
use crate::domain::resolution::KeyStatus;
use crate::domain::vault::Scope;
use crate::error::{Error, Result};
use crate::upstream::KeyTest;

pub use super::explain::{ProviderExplanation, explain, explain_with};
pub use super::key_lifecycle::{move_key, remove, set_enabled, test};
pub use super::key_records::{KeyUnavailable, open_secret};

/// The workspace's keys (removed ones included), by provider then priority.
pub fn list(conn: &mut DbConn, workspace_id: &WorkspaceId) -> Result<Vec<ProviderKeyRow>> {
    records::workspace_keys(conn, workspace_id)
}

pub(super) fn provider_of(id: &str) -> Result<&'static Provider> {
    providers::find(id).ok_or_else(|| Error::invalid("provider", "Choose a provider."))
}

/// Refuses unless the provider is on and accepts workspace keys.
fn ensure_byok(conn: &mut DbConn, provider: &'static Provider) -> Result<()> {
    if records::settings(conn, provider)?.byok_available() {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "{} keys are managed by the platform: a platform admin has not turned on custom API keys (BYOK) for it.",
            provider.name
        )))
    }
}

/// Refuses a secret already stored (not removed) for the same workspace and provider.
fn ensure_new(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    provider: &Provider,
    fingerprint: &str,
    field: &'static str,
) -> Result<()> {
    let existing: Option<String> = provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Workspace))
        .filter(provider_keys::workspace_id.eq(workspace_id))
        .filter(provider_keys::provider.eq(provider.id))
        .filter(provider_keys::fingerprint.eq(fingerprint))
        .filter(provider_keys::removed_at.is_null())
        .select(provider_keys::label)
        .first(conn)
        .optional()?;
    match existing {
        Some(label) => Err(Error::invalid(
            field,
            format!("This key is already saved here as “{label}”."),
        )),
        None => Ok(()),
    }
}

pub(super) fn tell_owners(
    conn: &mut DbConn,
    state_config: &crate::config::Config,
    actor: &Actor,
    workspace_id: &WorkspaceId,
    change: Change,
    provider: &Provider,
    label: &str,
) -> Result<()> {
    let owners = records::owners(conn, Some(&[workspace_id.to_owned()]))?;
    key_mail::key_changed(
        conn,
        state_config,
        &owners,
        actor.user_id.as_deref(),
        actor.email.as_deref(),
        change,
        provider.name,
        label,
    )
}

/// Adds a key: its form read (a field error names the field), tested upstream (rejected →
/// not saved), sealed to its record. A structured credential is sealed as one document.
/// Returns the new key's id and its test, so the page can warn about quota or an untested
/// key, say why, and offer to test it again.
pub async fn add(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    provider: &str,
    label: &str,
    form: &FormInput,
) -> Result<(KeyId, KeyTest)> {
    let provider = provider_of(provider)?;
    let cred = input::read(&state.config, provider, form)?;
    let label = input::label(label, &cred)?;
    let field = key_field(provider.auth.credential_kind(), form);
    {
        let (ws, fp) = (
            workspace_id.clone(),
            state.config.keyring.fingerprint(&cred.to_sealed_json()),
        );
        state
            .db(move |c| {
                ensure_byok(c, provider)?;
                ensure_new(c, &ws, provider, &fp, field)
            })
            .await?;
    }
    let (cred, test) = input::test(state, provider, cred, form).await?;
    let secret = cred.to_sealed_json();
    let fingerprint = state.config.keyring.fingerprint(&secret);
    let outcome = test.outcome;
    let config = state.config.clone();
    let id = state
        .db(move |c| {
            write_tx(c, |c| {
                ensure_byok(c, provider)?;
                ensure_new(c, &workspace_id, provider, &fingerprint, field)?;
                let id = KeyId::random();
                let SealedKey {
                    sealed,
                    master_key_id,
                    mask,
                    fingerprint,
                } = records::seal(
                    &config.keyring,
                    Scope::Workspace,
                    Some(&workspace_id),
                    provider,
                    &id,
                    &secret,
                )?;
                let last: Option<i32> = provider_keys::table
                    .filter(provider_keys::workspace_id.eq(&workspace_id))
                    .filter(provider_keys::provider.eq(provider.id))
                    .filter(provider_keys::removed_at.is_null())
                    .select(diesel::dsl::max(provider_keys::priority))
                    .first(c)?;
                let t = now();
                diesel::insert_into(provider_keys::table)
                    .values(&ProviderKeyRow {
                        id: id.clone(),
                        scope: Scope::Workspace,
                        workspace_id: Some(workspace_id.clone()),
                        provider: provider.id.to_owned(),
                        label: label.clone(),
                        priority: last.map_or(0, |p| p + 1),
                        sealed: Some(sealed),
                        master_key_id: Some(master_key_id),
                        mask: mask.clone(),
                        fingerprint,
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
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("workspace_key.added")
                        .workspace(&workspace_id)
                        .target(&label)
                        .details(json!({
                            "provider": provider.id,
                            "mask": mask,
                            "status": outcome.status().as_str(),
                        })),
                )?;
                tell_owners(
                    c,
                    &config,
                    &actor,
                    &workspace_id,
                    Change::Added,
                    provider,
                    &label,
                )?;
                Ok(id)
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok((id, test))
}

/// Edits a key: a new label, and a new credential unless the form leaves it as stored
/// (an empty secret field keeps the stored secret). Returns the test outcome of a new
/// credential.
pub async fn replace(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    key_id: KeyId,
    label: &str,
    form: &FormInput,
) -> Result<Option<KeyTest>> {
    let (ws, id) = (workspace_id.clone(), key_id.clone());
    let row = state
        .db(move |c| records::workspace_key(c, &ws, &id))
        .await?;
    if records::status_of(&row) == KeyStatus::Removed {
        return Err(Error::Conflict(
            "This key was removed. Add a new key instead.".into(),
        ));
    }
    let provider = provider_of(&row.provider)?;
    let kind = provider.auth.credential_kind();
    let cred = match kind {
        CredentialKind::ApiKey if form.filled(fields::API_KEY).is_none() => None,
        CredentialKind::ApiKey => Some(input::read(&state.config, provider, form)?),
        _ => {
            let opened = records::open_secret(&state.config.keyring, &row)?;
            let stored = records::credential_of(provider, &opened)?;
            let edited = input::read_edit(&state.config, &stored, form)?;
            (!edited.same_as(&stored)).then_some(edited)
        }
    };
    let label = match &cred {
        Some(c) => input::label(label, c)?,
        None => records::parse_label(label, None)?,
    };
    let (secret, test) = match cred {
        Some(cred) => {
            let field = key_field(kind, form);
            let fp = state.config.keyring.fingerprint(&cred.to_sealed_json());
            let ws = workspace_id.clone();
            state
                .db(move |c| {
                    ensure_byok(c, provider)?;
                    ensure_new(c, &ws, provider, &fp, field)
                })
                .await?;
            let (cred, test): (Credential, KeyTest) =
                input::test(state, provider, cred, form).await?;
            (Some(cred.to_sealed_json()), Some(test))
        }
        None => (None, None),
    };
    let outcome = test.as_ref().map(|t| t.outcome);
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let row = records::workspace_key(c, &workspace_id, &key_id)?;
                if row.removed_at.is_some() {
                    return Err(Error::Conflict(
                        "This key was removed. Add a new key instead.".into(),
                    ));
                }
                let t = now();
                let (Some(secret), Some(outcome)) = (&secret, outcome) else {
                    if row.label == label {
                        return Ok(());
                    }
                    diesel::update(provider_keys::table.find(&row.id))
                        .set((
                            provider_keys::label.eq(&label),
                            provider_keys::updated_at.eq(t),
                        ))
                        .execute(c)?;
                    audit::record(
                        c,
                        &config.keyring,
                        &actor,
                        Event::new("workspace_key.renamed")
                            .workspace(&workspace_id)
                            .target(&label)
                            .details(json!({
                                "provider": row.provider,
                                "mask": row.mask,
                                "label_before": row.label,
                                "label": label,
                            })),
                    )?;
                    return Ok(());
                };
                ensure_byok(c, provider)?;
                let sealed = records::seal(
                    &config.keyring,
                    Scope::Workspace,
                    Some(&workspace_id),
                    provider,
                    &row.id,
                    secret,
                )?;
                // A disabled key stays disabled with its new secret.
                let status = if records::status_of(&row) == KeyStatus::Disabled {
                    KeyStatus::Disabled
                } else {
                    outcome.status()
                };
                diesel::update(provider_keys::table.find(&row.id))
                    .set((
                        provider_keys::label.eq(&label),
                        provider_keys::sealed.eq(Some(&sealed.sealed)),
                        provider_keys::master_key_id.eq(Some(&sealed.master_key_id)),
                        provider_keys::mask.eq(&sealed.mask),
                        provider_keys::fingerprint.eq(&sealed.fingerprint),
                        provider_keys::status.eq(status),
                        provider_keys::last_tested_at.eq(Some(t)),
                        provider_keys::last_test_result.eq(Some(outcome.code())),
                        provider_keys::updated_at.eq(t),
                    ))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("workspace_key.replaced")
                        .workspace(&workspace_id)
                        .target(&label)
                        .details(json!({
                            "provider": row.provider,
                            "mask_before": row.mask,
                            "mask": sealed.mask,
                            "label_before": row.label,
                            "status_before": row.status.as_str(),
                            "status": status.as_str(),
                        })),
                )?;
                tell_owners(
                    c,
                    &config,
                    &actor,
                    &workspace_id,
                    Change::Replaced,
                    provider,
                    &label,
                )
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(test)
}

//! What an owner does to a stored workspace key besides adding or replacing it: disable,
//! enable, remove (wipe), test and reorder. Each change is audited in its transaction.

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::key_mail::Change;
use super::key_records as records;
use super::keys::{provider_of, tell_owners};
use crate::db::models::ProviderKeyRow;
use crate::db::schema::provider_keys;
use crate::db::{now, write_tx};
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::resolution::KeyStatus;
use crate::error::{Error, Result};
use crate::upstream::{KeyTest, TestOutcome};

/// The status an enabled key returns to: what its last test said.
fn status_after_enable(row: &ProviderKeyRow) -> KeyStatus {
    row.last_test_result
        .as_deref()
        .and_then(TestOutcome::from_code)
        .map_or(KeyStatus::Untested, TestOutcome::status)
}

/// Disables (`on == false`) or enables a key. Disabled keys are kept but never answer.
pub async fn set_enabled(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    key_id: KeyId,
    on: bool,
) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let row = records::workspace_key(c, &workspace_id, &key_id)?;
                let before = records::status_of(&row);
                let after = match (before, on) {
                    (KeyStatus::Removed, _) => {
                        return Err(Error::Conflict("This key was removed.".into()));
                    }
                    (KeyStatus::Disabled, true) => status_after_enable(&row),
                    (KeyStatus::Disabled, false) => return Ok(()),
                    (_, true) => return Ok(()),
                    (_, false) => KeyStatus::Disabled,
                };
                diesel::update(provider_keys::table.find(&row.id))
                    .set((
                        provider_keys::status.eq(after),
                        provider_keys::updated_at.eq(now()),
                    ))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new(if on {
                        "workspace_key.enabled"
                    } else {
                        "workspace_key.disabled"
                    })
                    .workspace(&workspace_id)
                    .target(&row.label)
                    .details(json!({
                        "provider": row.provider,
                        "mask": row.mask,
                        "before": before.as_str(),
                        "after": after.as_str(),
                    })),
                )?;
                Ok(())
            })
        })
        .await
}

/// Removes a key: the ciphertext is wiped; label, mask, who and when stay.
pub async fn remove(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    key_id: KeyId,
) -> Result<()> {
    let config = state.config.clone();
    let removed = state
        .db(move |c| {
            write_tx(c, |c| {
                let row = records::workspace_key(c, &workspace_id, &key_id)?;
                if row.removed_at.is_some() {
                    return Ok(false);
                }
                records::wipe(c, &row.id, actor.user_id.as_ref())?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("workspace_key.removed")
                        .workspace(&workspace_id)
                        .target(&row.label)
                        .details(json!({
                            "provider": row.provider,
                            "mask": row.mask,
                            "status_before": row.status.as_str(),
                        })),
                )?;
                let provider = provider_of(&row.provider)?;
                tell_owners(
                    c,
                    &config,
                    &actor,
                    &workspace_id,
                    Change::Removed,
                    provider,
                    &row.label,
                )?;
                Ok(true)
            })
        })
        .await?;
    if removed {
        state.mail_wakeup.notify_one();
    }
    Ok(())
}

/// Tests a stored key now and records the result (a disabled key stays disabled).
pub async fn test(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    key_id: KeyId,
) -> Result<KeyTest> {
    let config = state.config.clone();
    let (ws, id) = (workspace_id.clone(), key_id.clone());
    let row = state
        .db(move |c| records::workspace_key(c, &ws, &id))
        .await?;
    if row.removed_at.is_some() {
        return Err(Error::Conflict("This key was removed.".into()));
    }
    let provider = provider_of(&row.provider)?;
    let secret = records::open_secret(&state.config.keyring, &row)?;
    let cred = records::credential_of(provider, &secret)?;
    let test = state.key_tester.test(provider, &cred).await.test;
    let outcome = test.outcome;
    drop(secret);
    state
        .db(move |c| {
            write_tx(c, |c| {
                let row = records::workspace_key(c, &workspace_id, &key_id)?;
                let before = records::status_of(&row);
                let after = match before {
                    KeyStatus::Disabled | KeyStatus::Removed => before,
                    _ => outcome.status(),
                };
                let t = now();
                diesel::update(provider_keys::table.find(&row.id))
                    .set((
                        provider_keys::status.eq(after),
                        provider_keys::last_tested_at.eq(Some(t)),
                        provider_keys::last_test_result.eq(Some(outcome.code())),
                        provider_keys::updated_at.eq(t),
                    ))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("workspace_key.tested")
                        .workspace(&workspace_id)
                        .target(&row.label)
                        .details(json!({
                            "provider": row.provider,
                            "mask": row.mask,
                            "result": outcome.code(),
                            "before": before.as_str(),
                            "after": after.as_str(),
                        })),
                )?;
                Ok(())
            })
        })
        .await?;
    Ok(test)
}

/// Moves a key one place up (answers earlier) or down among the workspace's keys for the
/// same provider. Priorities are renumbered 0.. so ties cannot stick.
pub async fn move_key(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    key_id: KeyId,
    up: bool,
) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let row = records::workspace_key(c, &workspace_id, &key_id)?;
                let mut order: Vec<ProviderKeyRow> = records::workspace_keys(c, &workspace_id)?
                    .into_iter()
                    .filter(|k| k.provider == row.provider && k.removed_at.is_none())
                    .collect();
                let Some(from) = order.iter().position(|k| k.id == row.id) else {
                    return Err(Error::Conflict("This key was removed.".into()));
                };
                let to = if up {
                    from.checked_sub(1)
                } else {
                    Some(from + 1)
                };
                let Some(to) = to.filter(|&t| t < order.len()) else {
                    return Ok(());
                };
                order.swap(from, to);
                for (i, k) in order.iter().enumerate() {
                    let p = i32::try_from(i).unwrap_or(i32::MAX);
                    if k.priority != p {
                        diesel::update(provider_keys::table.find(&k.id))
                            .set(provider_keys::priority.eq(p))
                            .execute(c)?;
                    }
                }
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("workspace_key.priority_changed")
                        .workspace(&workspace_id)
                        .target(&row.label)
                        .details(json!({
                            "provider": row.provider,
                            "mask": row.mask,
                            "before": from + 1,
                            "after": to + 1,
                        })),
                )?;
                Ok(())
            })
        })
        .await
}

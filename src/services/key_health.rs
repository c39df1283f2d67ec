//! What the gateway learns about keys: a workspace key the provider rejects (401/403) is
//! marked invalid and stops being used, the change is audited, and the owners are told.

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::{key_mail, key_records};
use crate::db::schema::provider_keys;
use crate::db::{now, write_tx};
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::providers::Provider;
use crate::domain::resolution::KeyStatus;
use crate::error::Result;

/// Marks `key_id` of `workspace_id` invalid if it is still in use; idempotent, so concurrent
/// rejections produce one event and one mail per owner.
pub async fn mark_rejected(
    state: &Ctx,
    workspace_id: WorkspaceId,
    provider: &'static Provider,
    key_id: KeyId,
) -> Result<()> {
    let config = state.config.clone();
    let mailed = state
        .db(move |c| {
            write_tx(c, |c| {
                let row = key_records::key_by_id(c, &key_id)?;
                if row.workspace_id.as_deref() != Some(workspace_id.as_str())
                    || !key_records::status_of(&row).is_usable()
                {
                    return Ok(false);
                }
                diesel::update(provider_keys::table.find(&key_id))
                    .set((
                        provider_keys::status.eq(KeyStatus::Invalid),
                        provider_keys::last_test_result
                            .eq(crate::upstream::TestOutcome::Invalid.code()),
                        provider_keys::last_tested_at.eq(now()),
                        provider_keys::updated_at.eq(now()),
                    ))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &Actor::system(),
                    Event::new("workspace_key.rejected")
                        .workspace(&workspace_id)
                        .target(&row.label)
                        .details(json!({
                            "provider": provider.id,
                            "key_id": row.id,
                            "mask": row.mask,
                            "before": row.status.as_str(),
                            "after": KeyStatus::Invalid.as_str(),
                        })),
                )?;
                let owners = key_records::owners(c, Some(std::slice::from_ref(&workspace_id)))?;
                key_mail::key_rejected(c, &config, &owners, provider.name, &row.label)?;
                Ok(true)
            })
        })
        .await?;
    if mailed {
        state.mail_wakeup.notify_one();
    }
    Ok(())
}

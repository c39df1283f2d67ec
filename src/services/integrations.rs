//! Settings → Integrations: the platform admin's per-provider settings and global keys.
//! Every function here is called from `PlatformAdmin` handlers only. The global key's
//! own storage, removal and test are in [`super::global_keys`].

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::credential_input as input;
use super::global_keys;
use super::key_mail;
use super::key_records::{self as records, Settings};
use crate::db::models::ProviderKeyRow;
use crate::db::schema::provider_keys;
use crate::db::{DbConn, write_tx};
use crate::domain::credentials::FormInput;
use crate::domain::ids::WorkspaceId;
use crate::domain::providers::Provider;
use crate::domain::resolution::{FailurePolicy, KeyStatus};
use crate::domain::vault::Keyring;
use crate::domain::vault::Scope;
use crate::error::{Error, Result};
use crate::upstream::{KeyTest, TestOutcome};

/// What the admin sees of a global key: never the secret.
#[derive(Debug, Clone)]
pub struct GlobalKeyView {
    pub mask: String,
    pub status: KeyStatus,
    pub last_tested_at: Option<i64>,
    pub last_test_result: Option<TestOutcome>,
    pub updated_at: i64,
}

impl GlobalKeyView {
    fn of(row: &ProviderKeyRow) -> GlobalKeyView {
        GlobalKeyView {
            mask: row.mask.clone(),
            status: records::status_of(row),
            last_tested_at: row.last_tested_at,
            last_test_result: row
                .last_test_result
                .as_deref()
                .and_then(TestOutcome::from_code),
            updated_at: row.updated_at,
        }
    }
}

/// One provider as Settings → Integrations shows it.
#[derive(Debug, Clone)]
pub struct ProviderRow {
    pub settings: Settings,
    pub global_key: Option<GlobalKeyView>,
    /// Workspaces holding at least one key (not removed) for the provider.
    pub workspaces_with_keys: i64,
}

fn workspaces_with_keys(conn: &mut DbConn, only_usable: bool) -> Result<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Text)]
        provider: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // The statuses are the code's own constants, never input, so they are written inline.
    let statuses: Vec<String> = KeyStatus::ALL
        .into_iter()
        .filter(|s| *s != KeyStatus::Removed && (!only_usable || s.is_usable()))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    // DISTINCT over (provider, workspace_id) walks `provider_keys_live_idx` in its order;
    // COUNT(DISTINCT …) sorted all 50,000 keys again on PostgreSQL.
    let query = diesel::sql_query(format!(
        "SELECT provider, COUNT(*) AS n FROM (\
           SELECT DISTINCT provider, workspace_id FROM provider_keys \
           WHERE scope = '{}' AND removed_at IS NULL AND status IN ({})\
         ) AS w GROUP BY provider",
        Scope::Workspace.as_str(),
        statuses.join(", ")
    ));
    let rows: Vec<Count> = crate::native!(conn, |c| query.load(c))?;
    Ok(rows.into_iter().map(|r| (r.provider, r.n)).collect())
}

fn usable_statuses() -> Vec<KeyStatus> {
    KeyStatus::ALL
        .into_iter()
        .filter(|s| s.is_usable())
        .collect()
}

/// Every catalogue provider with its settings, global key and workspace-key count
/// (three queries, whatever the number of workspaces).
pub fn list(conn: &mut DbConn) -> Result<Vec<ProviderRow>> {
    let settings = records::all_settings(conn)?;
    let globals = records::global_keys(conn)?;
    let counts = workspaces_with_keys(conn, false)?;
    Ok(settings
        .into_iter()
        .map(|s| {
            let id = s.provider.id;
            ProviderRow {
                global_key: globals
                    .iter()
                    .find(|g| g.provider == id)
                    .map(GlobalKeyView::of),
                workspaces_with_keys: counts.iter().find(|(p, _)| p == id).map_or(0, |(_, n)| *n),
                settings: s,
            }
        })
        .collect())
}

/// One provider's row.
pub fn detail(conn: &mut DbConn, provider: &'static Provider) -> Result<ProviderRow> {
    list(conn)?
        .into_iter()
        .find(|r| r.settings.provider.id == provider.id)
        .ok_or(Error::NotFound)
}

fn usable_workspace_ids(conn: &mut DbConn, provider: &Provider) -> Result<Vec<WorkspaceId>> {
    let ids: Vec<Option<WorkspaceId>> = provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Workspace))
        .filter(provider_keys::provider.eq(provider.id))
        .filter(provider_keys::status.eq_any(usable_statuses()))
        .select(provider_keys::workspace_id)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// What the admin submitted on a provider's page.
pub struct Change {
    pub enabled: bool,
    pub byok_enabled: bool,
    pub failure_policy: FailurePolicy,
    /// The form holding a new global key (any credential kind); `None` keeps the stored one.
    pub credential: Option<FormInput>,
}

/// What saving did, for the flash.
#[derive(Debug, Default)]
pub struct Saved {
    /// The result of testing the new global key, when one was entered.
    pub key_test: Option<KeyTest>,
    /// Owners mailed about a BYOK change.
    pub owners_mailed: usize,
}

fn audit_flag(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    provider: &Provider,
    (before, after): (bool, bool),
    (on, off): (&str, &str),
) -> Result<()> {
    if before != after {
        audit::record(
            conn,
            keyring,
            actor,
            Event::new(if after { on } else { off })
                .target(provider.id)
                .details(json!({ "before": before, "after": after })),
        )?;
    }
    Ok(())
}

/// Saves a provider's settings and, when given, its new global key (tested first: a key
/// the provider rejects is not saved, and neither is anything else of the form).
pub async fn save(
    state: &Ctx,
    actor: Actor,
    provider: &'static Provider,
    change: Change,
) -> Result<Saved> {
    let api_key = match &change.credential {
        Some(_) if provider.workspace_keys_only() => {
            return Err(Error::invalid(
                "form",
                format!(
                    "{} takes workspace keys only: there is no global key to enter.",
                    provider.name
                ),
            ));
        }
        Some(form) => Some((form, input::read(&state.config, provider, form)?)),
        None => None,
    };
    let (api_key, key_test) = match api_key {
        Some((form, cred)) => {
            let (cred, test) = input::test(state, provider, cred, form).await?;
            (Some(cred.to_sealed_json()), Some(test))
        }
        None => (None, None),
    };
    let outcome = key_test.as_ref().map(|t| t.outcome);
    let config = state.config.clone();
    let owners_mailed = state
        .db(move |c| {
            write_tx(c, |c| {
                let before = records::settings(c, provider)?;
                // Who held a usable key before the change, for the BYOK-off mail.
                let holders = usable_workspace_ids(c, provider)?;
                let after = Settings {
                    provider,
                    enabled: change.enabled,
                    byok_enabled: change.byok_enabled,
                    failure_policy: change.failure_policy,
                };
                records::store_settings(c, &after)?;
                let flags = [
                    (
                        (before.enabled, after.enabled),
                        ("provider.enabled", "provider.disabled"),
                    ),
                    (
                        (before.byok_enabled, after.byok_enabled),
                        ("provider.byok_enabled", "provider.byok_disabled"),
                    ),
                ];
                for (values, actions) in flags {
                    audit_flag(c, &config.keyring, &actor, provider, values, actions)?;
                }
                if before.failure_policy != after.failure_policy {
                    audit::record(
                        c,
                        &config.keyring,
                        &actor,
                        Event::new("provider.failure_policy_changed")
                            .target(provider.id)
                            .details(json!({
                                "before": before.failure_policy.as_str(),
                                "after": after.failure_policy.as_str(),
                            })),
                    )?;
                }
                if let (Some(k), Some(outcome)) = (&api_key, outcome) {
                    global_keys::put(c, &config, &actor, provider, k, outcome)?;
                }
                let mut mailed = 0;
                if before.byok_enabled
                    && !after.byok_enabled
                    && after.enabled
                    && !holders.is_empty()
                {
                    let contacts = records::owners(c, Some(&holders))?;
                    mailed += key_mail::byok_disabled(c, &config, provider.name, &contacts)?;
                }
                if !before.byok_available() && after.byok_available() {
                    let contacts = records::owners(c, None)?;
                    mailed += key_mail::byok_enabled(c, &config, provider.name, &contacts)?;
                }
                Ok(mailed)
            })
        })
        .await?;
    if owners_mailed > 0 {
        state.mail_wakeup.notify_one();
    }
    Ok(Saved {
        key_test,
        owners_mailed,
    })
}

pub use super::global_keys::{remove_global_key, test_global_key};

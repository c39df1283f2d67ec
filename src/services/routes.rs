//! The one route loader: what resolution needs for a workspace and a provider — the admin's
//! settings, the global key, the workspace's keys with their statuses — read in one way and
//! handed to the pure `domain::resolution::resolve`. The gateway caches what it resolves to;
//! the owner's key page and the admin's explanation word it. The key a page says answers
//! is, by construction, the key the gateway picks.

use diesel::prelude::*;

use super::key_records::{self as records, Settings};
use crate::db::DbConn;
use crate::db::models::ProviderKeyRow;
use crate::db::schema::provider_keys;
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::providers::Provider;
use crate::domain::resolution::{
    self, Allowance, GlobalKey, KeyStatus, ProviderSettings, Resolution, ResolveError,
    WorkspaceKeyRef,
};
use crate::domain::vault::Scope;
use crate::error::Result;

/// Everything resolution reads for one provider and one workspace.
#[derive(Debug, Clone)]
pub struct RouteInputs {
    pub settings: Settings,
    /// The provider's current global key, if one is stored.
    pub global: Option<ProviderKeyRow>,
    /// The workspace's keys for the provider, removed ones included.
    pub keys: Vec<ProviderKeyRow>,
}

/// A key's status as resolution sees it: a wiped key is removed, whatever its row says, and
/// a status Keyhold does not know is treated as invalid (never as usable).
pub fn status(row: &ProviderKeyRow) -> KeyStatus {
    if row.sealed.is_none() || row.removed_at.is_some() {
        KeyStatus::Removed
    } else {
        records::status_of(row)
    }
}

impl RouteInputs {
    /// The catalogue entry.
    pub fn provider(&self) -> &'static Provider {
        self.settings.provider
    }

    /// Settings in the form resolution takes.
    pub fn domain_settings(&self) -> ProviderSettings {
        ProviderSettings {
            enabled: self.settings.enabled,
            byok_enabled: self.settings.byok_enabled,
            failure_policy: self.settings.failure_policy,
            global_key: self.global.as_ref().map(|g| GlobalKey {
                id: g.id.clone(),
                active: status(g).is_usable(),
            }),
        }
    }

    /// The workspace's keys in the form resolution takes.
    pub fn key_refs(&self) -> Vec<WorkspaceKeyRef> {
        self.keys
            .iter()
            .map(|k| WorkspaceKeyRef {
                id: k.id.clone(),
                label: k.label.clone(),
                priority: k.priority,
                status: status(k),
            })
            .collect()
    }

    /// Which keys answer, in order, given the workspace's allowance.
    pub fn resolve(&self, allowance: &Allowance) -> std::result::Result<Resolution, ResolveError> {
        resolution::resolve(
            self.provider().name,
            &self.domain_settings(),
            &self.key_refs(),
            allowance,
        )
    }

    /// The stored record of a resolved candidate.
    pub fn row(&self, key_id: &KeyId) -> Option<&ProviderKeyRow> {
        self.global
            .iter()
            .chain(self.keys.iter())
            .find(|k| &k.id == key_id)
    }
}

/// The route inputs of one provider for one workspace (two queries).
pub fn load(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    provider: &'static Provider,
) -> Result<RouteInputs> {
    let settings = records::settings(conn, provider)?;
    let rows: Vec<ProviderKeyRow> = crate::native!(conn, |c| provider_keys::table
        .filter(provider_keys::provider.eq(provider.id))
        .filter(provider_keys::removed_at.is_null())
        .filter(
            provider_keys::scope
                .eq(Scope::Global)
                .or(provider_keys::workspace_id.eq(workspace_id)),
        )
        .order((
            provider_keys::priority.asc(),
            provider_keys::created_at.desc(),
            provider_keys::id.asc(),
        ))
        .select(ProviderKeyRow::as_select())
        .load(c))?;
    let (globals, keys): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.scope == Scope::Global);
    Ok(RouteInputs {
        settings,
        global: newest(globals),
        keys,
    })
}

/// The route inputs of every catalogue provider for a workspace whose keys the caller has
/// already read (`workspace_keys`), in catalogue order (two more queries).
pub fn load_all(conn: &mut DbConn, workspace_keys: &[ProviderKeyRow]) -> Result<Vec<RouteInputs>> {
    let globals = records::global_keys(conn)?;
    Ok(records::all_settings(conn)?
        .into_iter()
        .map(|settings| {
            let id = settings.provider.id;
            RouteInputs {
                global: newest(
                    globals
                        .iter()
                        .filter(|g| g.provider == id)
                        .cloned()
                        .collect(),
                ),
                keys: workspace_keys
                    .iter()
                    .filter(|k| k.provider == id && k.removed_at.is_none())
                    .cloned()
                    .collect(),
                settings,
            }
        })
        .collect())
}

/// The newest of a provider's global keys (there is one; an interrupted replacement may
/// briefly leave two, and then the newer one answers, as on every page).
fn newest(globals: Vec<ProviderKeyRow>) -> Option<ProviderKeyRow> {
    globals.into_iter().max_by_key(|g| g.created_at)
}

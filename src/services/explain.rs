//! Which key answers a workspace's requests to each provider now, and why: the same route
//! inputs the gateway resolves ([`super::routes`]), worded for the page's reader.

use super::key_records::{self as records, Settings};
use super::routes;
use crate::db::DbConn;
use crate::db::models::ProviderKeyRow;
use crate::domain::ids::WorkspaceId;
use crate::domain::providers::Provider;
use crate::domain::resolution::{Allowance, Resolution, ResolveError, Source, Viewer};
use crate::error::Result;
use crate::services::workspaces;

/// The answer for one provider.
#[derive(Debug, Clone)]
pub struct ProviderExplanation {
    pub settings: Settings,
    pub outcome: std::result::Result<Resolution, ResolveError>,
}

impl ProviderExplanation {
    /// The catalogue entry.
    pub fn provider(&self) -> &'static Provider {
        self.settings.provider
    }

    /// Whose key answers first, if any may.
    pub fn source(&self) -> Option<Source> {
        self.outcome
            .as_ref()
            .ok()
            .and_then(|r| r.candidates.first())
            .map(|c| c.source)
    }

    /// `workspace`, `platform` or empty: for the key-source badge.
    pub fn source_str(&self) -> &'static str {
        self.source().map_or("", Source::as_str)
    }

    /// What a member may see: "Workspace key", "Platform key" or "Not available".
    pub fn source_label(&self) -> &'static str {
        match self.source() {
            Some(Source::Workspace) => "Workspace key",
            Some(Source::Platform) => "Platform key",
            None => "Not available",
        }
    }

    /// The label of the key that answers first (owners and admins only).
    pub fn answering_label(&self) -> Option<&str> {
        self.outcome
            .as_ref()
            .ok()
            .and_then(|r| r.candidates.first())
            .map(|c| c.label.as_str())
    }

    /// The reason in one sentence, worded for `viewer`. Names a key by label, never by
    /// value or mask.
    pub fn reason(&self, viewer: Viewer) -> String {
        match &self.outcome {
            Ok(r) => r.reason.clone(),
            Err(e) => e.message(self.settings.provider.name, viewer),
        }
    }

    /// The reason for an owner.
    pub fn owner_reason(&self) -> String {
        self.reason(Viewer::Owner)
    }

    /// The reason for a platform admin.
    pub fn admin_reason(&self) -> String {
        self.reason(Viewer::Admin)
    }
}

/// Resolves every catalogue provider for the workspace, in catalogue order.
pub fn explain(conn: &mut DbConn, workspace_id: &WorkspaceId) -> Result<Vec<ProviderExplanation>> {
    let keys = records::workspace_keys(conn, workspace_id)?;
    explain_with(conn, workspace_id, &keys)
}

/// [`explain`] given the workspace's keys (`workspace_keys`), for a page that shows them too:
/// the routes the gateway loads ([`routes`]), resolved with the allowance used so far.
pub fn explain_with(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    keys: &[ProviderKeyRow],
) -> Result<Vec<ProviderExplanation>> {
    let inputs = routes::load_all(conn, keys)?;
    let ws = workspaces::get(conn, workspace_id)?;
    let allowance = Allowance {
        limit_tokens: ws.allowance_tokens,
        used_tokens: match ws.allowance_tokens {
            Some(_) => {
                super::usage_report::allowance_use(conn, workspace_id, crate::db::now())?.used
            }
            None => 0,
        },
    };
    Ok(inputs
        .into_iter()
        .map(|route| ProviderExplanation {
            outcome: route.resolve(&allowance),
            settings: route.settings,
        })
        .collect())
}

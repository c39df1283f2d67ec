//! What a workspace can name (`/v1/models`) and where each provider's chat endpoint is.

use super::keys::open;
use crate::domain::credentials::Credential;
use crate::domain::ids::WorkspaceId;
use crate::domain::providers::{Provider, Wire};
use crate::gateway::Gateway;
use crate::services::Ctx;

/// The chat endpoint under a provider's base URL.
pub fn endpoint_for(base: &url::Url, wire: Wire) -> reqwest::Url {
    let path = match wire {
        Wire::OpenAi => "/chat/completions",
        Wire::Anthropic => "/messages",
        Wire::Converse => "/converse",
    };
    crate::gateway::cloud::urls::join(base, path).unwrap_or_else(|_| base.clone())
}

/// What a workspace can name now, per provider whose route resolves (`/v1/models`): the
/// catalogue's models, and for Azure and compatible hosts what the workspace's keys hold
/// (deployments, the hosts' models), read from the keys themselves.
pub async fn available_models(
    state: &Ctx,
    gw: &Gateway,
    workspace_id: &WorkspaceId,
    epoch: u64,
) -> crate::error::Result<Vec<(&'static Provider, Vec<String>)>> {
    let mut out = Vec::new();
    for p in
        crate::gateway::cache::available_providers(state, &gw.cache, workspace_id, epoch).await?
    {
        if !p.models.is_empty() {
            out.push((p, p.models.iter().map(|m| (*m).to_owned()).collect()));
            continue;
        }
        let route = gw.cache.route(state, workspace_id, p, epoch).await?;
        let mut models: Vec<String> = Vec::new();
        for key in route
            .outcome
            .as_ref()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            match open(state, p, key) {
                Ok(Credential::Azure(c)) => {
                    models.extend(c.deployments.into_iter().map(|d| d.model));
                }
                Ok(Credential::Compatible(c)) => models.extend(c.models),
                _ => {}
            }
        }
        models.sort();
        models.dedup();
        out.push((p, models));
    }
    Ok(out)
}

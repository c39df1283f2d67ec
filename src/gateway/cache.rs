//! In-memory view of what the hot path needs: token → workspace, and (workspace, provider)
//! → the resolved, still-sealed keys. Entries carry the cache epoch they were loaded under
//! and are reloaded when it moves (the rule that moves it: `services::cache`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::workspaces;
use crate::domain::ids::{KeyId, TokenId, WorkspaceId};
use crate::domain::providers::{self, Provider};
use crate::domain::resolution::{Allowance, ResolveError, Source};
use crate::error::Result;
use crate::services::Ctx;
use crate::services::{api_tokens, key_records, routes};

/// What a token stands for.
#[derive(Debug)]
pub struct TokenEntry {
    pub epoch: u64,
    pub token_id: TokenId,
    pub workspace_id: WorkspaceId,
    /// Monthly platform allowance in tokens, `None` for unlimited.
    pub allowance: Option<i64>,
}

/// One key the route may use, still sealed.
#[derive(Debug, Clone)]
pub struct SealedKey {
    pub id: KeyId,
    pub source: Source,
    pub label: String,
    pub sealed: Vec<u8>,
    pub aad: String,
}

/// The resolution of one provider for one workspace.
#[derive(Debug)]
pub struct Route {
    pub epoch: u64,
    pub provider: &'static Provider,
    pub outcome: std::result::Result<Vec<SealedKey>, ResolveError>,
}

/// The cache.
#[derive(Default)]
pub struct Cache {
    tokens: RwLock<HashMap<String, Arc<TokenEntry>>>,
    routes: RwLock<HashMap<(WorkspaceId, &'static str), Arc<Route>>>,
}

/// The epoch entries are compared with (one rule for every cache: `services::cache`).
pub use crate::services::cache::current_epoch;

impl Cache {
    /// The token's entry, loading it on a miss or a stale epoch. `None`: no such live token.
    pub async fn token(
        &self,
        state: &Ctx,
        token_hash: &str,
        epoch: u64,
    ) -> Result<Option<Arc<TokenEntry>>> {
        if let Some(e) = read(&self.tokens).get(token_hash)
            && e.epoch == epoch
        {
            return Ok(Some(e.clone()));
        }
        let hash = token_hash.to_owned();
        let loaded = state
            .db(move |c| {
                let Some((token_id, workspace_id)) = api_tokens::find_live(c, &hash)? else {
                    return Ok(None);
                };
                let allowance: Option<i64> = workspaces::table
                    .find(&workspace_id)
                    .select(workspaces::allowance_tokens)
                    .get_result(c)?;
                Ok(Some((token_id, workspace_id, allowance)))
            })
            .await?;
        let mut map = write(&self.tokens);
        match loaded {
            Some((token_id, workspace_id, allowance)) => {
                let entry = Arc::new(TokenEntry {
                    epoch,
                    token_id,
                    workspace_id,
                    allowance,
                });
                map.insert(token_hash.to_owned(), entry.clone());
                Ok(Some(entry))
            }
            None => {
                map.remove(token_hash);
                Ok(None)
            }
        }
    }

    /// The route for (workspace, provider), loading it on a miss or a stale epoch.
    pub async fn route(
        &self,
        state: &Ctx,
        workspace_id: &WorkspaceId,
        provider: &'static Provider,
        epoch: u64,
    ) -> Result<Arc<Route>> {
        let key = (workspace_id.clone(), provider.id);
        if let Some(r) = read(&self.routes).get(&key)
            && r.epoch == epoch
        {
            return Ok(r.clone());
        }
        let ws = workspace_id.clone();
        let outcome = state.db(move |c| load_route(c, &ws, provider)).await?;
        let route = Arc::new(Route {
            epoch,
            provider,
            outcome,
        });
        write(&self.routes).insert(key, route.clone());
        Ok(route)
    }

    /// The workspace's monthly allowance (for the chat page, which has no token entry).
    pub async fn allowance(&self, state: &Ctx, workspace_id: &WorkspaceId) -> Result<Option<i64>> {
        let ws = workspace_id.clone();
        state
            .db(move |c| {
                Ok(workspaces::table
                    .find(&ws)
                    .select(workspaces::allowance_tokens)
                    .get_result(c)?)
            })
            .await
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Loads the route's inputs ([`routes::load`], the loader every page uses too) and resolves
/// them; the allowance is applied per request, not cached.
pub fn load_route(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    provider: &'static Provider,
) -> Result<std::result::Result<Vec<SealedKey>, ResolveError>> {
    let inputs = routes::load(conn, workspace_id, provider)?;
    let resolved = match inputs.resolve(&Allowance::default()) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let keys = resolved
        .candidates
        .into_iter()
        .filter_map(|cand| {
            let row = inputs.row(&cand.key_id)?;
            Some(SealedKey {
                aad: key_records::aad_of(row),
                sealed: row.sealed.clone()?,
                id: row.id.clone(),
                source: cand.source,
                label: cand.label,
            })
        })
        .collect();
    Ok(Ok(keys))
}

/// The providers whose route currently resolves for the workspace (for `/v1/models`).
pub async fn available_providers(
    state: &Ctx,
    cache: &Cache,
    workspace_id: &WorkspaceId,
    epoch: u64,
) -> Result<Vec<&'static Provider>> {
    let mut out = Vec::new();
    for p in providers::catalogue() {
        let route = cache.route(state, workspace_id, p, epoch).await?;
        if matches!(&route.outcome, Ok(keys) if !keys.is_empty()) {
            out.push(p);
        }
    }
    Ok(out)
}

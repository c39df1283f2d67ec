//! Who is calling: the API token a request carries, looked up in the cache.

use actix_web::HttpRequest;

use super::unavailable;
use crate::domain::tokens;
use crate::gateway::cache::current_epoch;
use crate::gateway::errors::GatewayError;
use crate::gateway::{CallContext, Caller, Gateway};
use crate::services::Ctx;

/// The token a request carries: `Authorization: Bearer kh_…` or `x-api-key: kh_…`.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let h = req.headers();
    if let Some(k) = h.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    h.get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Authenticates an API request: the token's workspace and the epoch the answer is built on.
pub async fn authenticate(
    state: &Ctx,
    gw: &Gateway,
    req: &HttpRequest,
) -> Result<(CallContext, Option<i64>, u64), GatewayError> {
    let token = bearer_token(req)
        .filter(|t| t.starts_with("kh_"))
        .ok_or_else(GatewayError::unauthorized)?;
    let epoch = current_epoch(state).await.map_err(|e| unavailable(&e))?;
    let entry = gw
        .cache
        .token(state, &tokens::hash(token), epoch)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(GatewayError::unauthorized)?;
    Ok((
        CallContext {
            workspace_id: entry.workspace_id.clone(),
            caller: Caller::Token {
                token_id: entry.token_id.clone(),
            },
        },
        entry.allowance,
        epoch,
    ))
}

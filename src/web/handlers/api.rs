//! `/v1/*`: the OpenAI- and Anthropic-compatible API for member-facing AI features,
//! authenticated by workspace API tokens.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::domain::providers;
use crate::gateway::errors::Format;
use crate::gateway::{dispatch, respond};
use crate::state::AppState;

fn format_of(req: &HttpRequest) -> Format {
    if req.headers().contains_key("anthropic-version") {
        Format::Anthropic
    } else {
        Format::OpenAi
    }
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
    format: Format,
) -> HttpResponse {
    let gw = &state.gateway;
    let (ctx, allowance, epoch) = match dispatch::authenticate(&state, gw, &req).await {
        Ok(x) => x,
        Err(e) => return e.render(format),
    };
    let prepared = match respond::prepare(format, &body) {
        Ok(p) => p,
        Err(e) => return e.render(format),
    };
    respond::run(&state, gw, ctx, allowance, epoch, prepared, format).await
}

/// `POST /v1/chat/completions` (OpenAI format, any provider; `stream: true` is SSE).
pub async fn chat_completions(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    handle(req, body, state, Format::OpenAi).await
}

/// `POST /v1/messages` (Anthropic format, any provider; streaming too).
pub async fn messages(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> HttpResponse {
    handle(req, body, state, Format::Anthropic).await
}

/// `GET /v1/models`: the models this workspace can use now (Anthropic's list shape when the
/// request carries `anthropic-version`).
pub async fn models(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let format = format_of(&req);
    let gw = &state.gateway;
    let (ctx, _, epoch) = match dispatch::authenticate(&state, gw, &req).await {
        Ok(x) => x,
        Err(e) => return e.render(format),
    };
    let available = match dispatch::available_models(&state, gw, &ctx.workspace_id, epoch).await {
        Ok(p) => p,
        Err(e) => return dispatch::unavailable(&e).render(format),
    };
    let ids: Vec<(String, &str)> = available
        .iter()
        .flat_map(|(p, models)| {
            // A compatible host's models are named `custom/<model>`.
            let prefix = if p.workspace_keys_only() {
                providers::CUSTOM
            } else {
                p.id
            };
            models.iter().map(move |m| (format!("{prefix}/{m}"), p.id))
        })
        .collect();
    let body = match format {
        Format::OpenAi => json!({
            "object": "list",
            "data": ids.iter().map(|(id, owner)| json!({ "id": id, "object": "model", "created": 0, "owned_by": owner })).collect::<Vec<_>>(),
        }),
        Format::Anthropic => json!({
            "data": ids.iter().map(|(id, _)| json!({ "type": "model", "id": id, "display_name": id, "created_at": "2024-01-01T00:00:00Z" })).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": ids.first().map(|(id, _)| id.clone()),
            "last_id": ids.last().map(|(id, _)| id.clone()),
        }),
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.to_string())
}

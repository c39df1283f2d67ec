//! Shapes answers for the client: pass-through when the provider speaks the client's format,
//! translation otherwise; streams are passed on chunk by chunk and their usage recorded
//! when they end (or when the client goes away, which also cancels the upstream call).
//! This file runs a call and records its usage; `request` reads and rewrites the client's
//! request, `whole` answers whole responses, `streamed` answers streams.

use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;

use super::dispatch::{self, Failure};
use super::errors::{Format, GatewayError};
use super::translate::Usage;
use super::usage::UsageEvent;
use super::{CallContext, Caller, Gateway};
use crate::db::now;
use crate::domain::resolution::Source;
use crate::services::Ctx;

mod request;
mod streamed;
mod whole;

pub use request::{Prepared, prepare};
use streamed::stream_back;

fn event(ctx: &CallContext, p: &Prepared, status: u16) -> UsageEvent {
    let (token_id, user_id) = match &ctx.caller {
        Caller::Token { token_id } => (Some(token_id.clone()), None),
        Caller::User { user_id } => (None, Some(user_id.clone())),
    };
    UsageEvent {
        at: now(),
        workspace_id: ctx.workspace_id.clone(),
        token_id,
        user_id,
        provider: p.provider.id,
        model: p.client_model.clone(),
        source: None,
        key_id: None,
        status,
        error_code: None,
        latency_ms: 0,
        usage: Usage::default(),
    }
}

/// A call's answer, before anything renders it: the API sends it as it is, the chat page
/// reads its text.
pub enum Answered {
    /// A whole answer (a success status), in the client's format.
    Whole {
        status: u16,
        body: Bytes,
        source: Source,
    },
    /// Server-sent events in the client's format, scrubbed and metered as they pass.
    Streamed { source: Source, events: Events },
}

/// The events of a streamed answer.
pub type Events =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, actix_web::Error>>>>;

impl Answered {
    /// The HTTP response of the API front doors.
    pub fn into_response(self) -> HttpResponse {
        match self {
            Answered::Whole {
                status,
                body,
                source,
            } => HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .content_type("application/json")
                .insert_header(("x-keyhold-key-source", source.as_str()))
                .body(body),
            Answered::Streamed { source, events } => HttpResponse::Ok()
                .content_type("text/event-stream")
                .insert_header(("cache-control", "no-cache"))
                .insert_header(("x-keyhold-key-source", source.as_str()))
                .streaming(events),
        }
    }
}

/// Records a failed call; its error is the answer.
fn failed(
    gw: &Gateway,
    ctx: &CallContext,
    p: &Prepared,
    f: Failure,
    started: Instant,
) -> GatewayError {
    let mut ev = event(ctx, p, f.error.status);
    ev.source = f.source;
    ev.key_id = f.key_id;
    ev.error_code = Some(f.error.code);
    ev.latency_ms = started.elapsed().as_millis() as i64;
    gw.usage.record(ev);
    f.error
}

/// Runs a prepared call end to end and answers in `format`, as the API front doors send it.
pub async fn run(
    state: &Ctx,
    gw: &Arc<Gateway>,
    ctx: CallContext,
    allowance: Option<i64>,
    epoch: u64,
    p: Prepared,
    format: Format,
) -> HttpResponse {
    match call(state, gw, ctx, allowance, epoch, p, format).await {
        Ok(a) => a.into_response(),
        Err(e) => e.render(format),
    }
}

/// Runs a prepared call end to end: resolves, opens the key, calls the provider, fails
/// over, scrubs, meters. The answer is in `format`; a failure is recorded and returned.
pub async fn call(
    state: &Ctx,
    gw: &Arc<Gateway>,
    ctx: CallContext,
    allowance: Option<i64>,
    epoch: u64,
    p: Prepared,
    format: Format,
) -> Result<Answered, GatewayError> {
    let started = Instant::now();
    let route = gw
        .cache
        .route(state, &ctx.workspace_id, p.provider, epoch)
        .await
        .map_err(|e| dispatch::unavailable(&e))?;
    let ask = dispatch::Ask {
        model: &p.upstream_model,
        stream: p.stream,
        wire: p.wire,
        body: &p.body,
    };
    let answer = dispatch::send(state, gw, &ctx, &route, allowance, ask)
        .await
        .map_err(|f| failed(gw, &ctx, &p, f, started))?;
    if p.stream && answer.response.status().is_success() {
        Ok(stream_back(gw.clone(), ctx, p, answer, format))
    } else {
        whole::answer(gw, &ctx, &p, answer, format)
            .await
            .map_err(|f| failed(gw, &ctx, &p, f, started))
    }
}

/// Roughly four bytes of text a token: the estimate a call is metered by when its provider
/// reports no usage (SPEC §7: never zero).
pub(crate) fn tokens_in(bytes: u64) -> i64 {
    i64::try_from(bytes.div_ceil(4)).unwrap_or(i64::MAX).max(1)
}

/// `usage` as the provider reported it, or, where it reported nothing, the estimate from the
/// request sent and the `shown` bytes of text passed on.
pub(crate) fn metered(usage: Usage, p: &Prepared, shown: u64) -> Usage {
    if usage != Usage::default() {
        return usage;
    }
    Usage {
        input: tokens_in(p.body.len() as u64),
        output: if shown == 0 { 0 } else { tokens_in(shown) },
    }
}

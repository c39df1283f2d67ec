//! Shapes answers for the client: pass-through when the provider speaks the client's format,
//! translation otherwise; streams are passed on chunk by chunk and their usage recorded
//! when they end (or when the client goes away, which also cancels the upstream call).
//! This file prepares requests and answers whole responses; `streamed` answers streams.

use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use super::dispatch::{self, Answer, Failure};
use super::errors::{Format, GatewayError};
use super::redact::{scrub_body, scrub_text};
use super::translate::{self, Usage, converse};
use super::usage::UsageEvent;
use super::{CallContext, Caller, Gateway};
use crate::db::now;
use crate::domain::error_code::ErrorCode;
use crate::domain::providers::{self, Provider, Wire};
use crate::domain::resolution::Source;
use crate::services::Ctx;

mod streamed;

use streamed::stream_back;

/// A parsed client request, ready to send to its provider.
pub struct Prepared {
    pub provider: &'static Provider,
    /// The model as the client named it (echoed back).
    pub client_model: String,
    /// The model as the provider names it.
    pub upstream_model: String,
    /// The wire the body is in (one per provider; Vertex's depends on the model).
    pub wire: Wire,
    pub stream: bool,
    pub include_usage: bool,
    /// Keyhold asked an OpenAI-format provider for the streamed usage the client did not.
    pub usage_added: bool,
    /// The body in the provider's wire format.
    pub body: Bytes,
}

/// What the gateway reads of a request it may pass through unchanged: borrowed, the rest of
/// the body only checked, never built into a tree.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    /// `None` when absent, `Some(None)` when `null`: only an absent member may be spliced
    /// in (a second, escaped `"stream\u005foptions": null` would win with many parsers).
    #[serde(default, deserialize_with = "present")]
    stream_options: Option<Option<StreamOptions>>,
}

/// Marks a member as present even when its value is `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[derive(serde::Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Parses a client request in `format` and rewrites it for its provider.
pub fn prepare(format: Format, raw: &Bytes) -> Result<Prepared, GatewayError> {
    if let Ok(head) = serde_json::from_slice::<Head>(raw)
        && let Some(model) = head.model.as_deref().filter(|m| !m.is_empty())
        && let Some((provider, upstream_model)) = providers::for_model(model)
        && upstream_model == model
    {
        let stream = head.stream.unwrap_or(false);
        let include_usage = head
            .stream_options
            .as_ref()
            .and_then(|o| o.as_ref()?.include_usage)
            .unwrap_or(false);
        let wire = provider.wire_for(upstream_model);
        let passed = |body, usage_added| Prepared {
            provider,
            client_model: model.to_owned(),
            upstream_model: model.to_owned(),
            wire,
            stream,
            include_usage,
            usage_added,
            body,
        };
        match (format, wire) {
            (Format::OpenAi, Wire::OpenAi) if !stream || include_usage => {
                return Ok(passed(raw.clone(), false));
            }
            (Format::OpenAi, Wire::OpenAi) if head.stream_options.is_none() => {
                if let Some(body) = with_usage_requested(raw) {
                    return Ok(passed(body, true));
                }
            }
            (Format::Anthropic, Wire::Anthropic) => return Ok(passed(raw.clone(), false)),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_slice(raw)
        .map_err(|_| GatewayError::bad_request("The request body is not valid JSON."))?;
    let client_model = v
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            GatewayError::bad_request(
                "Name a model, e.g. \"openai/gpt-4o-mini\" or \"claude-3-5-haiku-latest\".",
            )
        })?
        .to_owned();
    let (provider, upstream_model) = providers::for_model(&client_model).ok_or_else(|| {
        GatewayError::bad_request(format!(
            "Unknown model \"{client_model}\". Prefix it with its provider, e.g. \"openai/gpt-4o-mini\"; GET /v1/models lists what this workspace can use."
        ))
    })?;
    let upstream_model = upstream_model.to_owned();
    let wire = provider.wire_for(&upstream_model);
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = v
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let bad = |e: translate::TranslateError| GatewayError::bad_request(e.to_string());
    let usage_added = format == Format::OpenAi && wire == Wire::OpenAi && stream && !include_usage;
    let body = match (format, wire) {
        (Format::OpenAi, Wire::OpenAi) => {
            let needs_usage = stream && !include_usage;
            if upstream_model == client_model && !needs_usage {
                raw.clone()
            } else {
                v["model"] = Value::String(upstream_model.clone());
                if needs_usage {
                    // Ask for the usage chunk so streamed calls are metered too.
                    v["stream_options"] = serde_json::json!({ "include_usage": true });
                }
                Bytes::from(v.to_string())
            }
        }
        (Format::OpenAi, Wire::Anthropic) => {
            v["model"] = Value::String(upstream_model.clone());
            Bytes::from(
                translate::openai_request_to_anthropic(&v)
                    .map_err(bad)?
                    .to_string(),
            )
        }
        (Format::Anthropic, Wire::Anthropic) => {
            if upstream_model == client_model {
                raw.clone()
            } else {
                v["model"] = Value::String(upstream_model.clone());
                Bytes::from(v.to_string())
            }
        }
        (Format::Anthropic, Wire::OpenAi) => {
            v["model"] = Value::String(upstream_model.clone());
            Bytes::from(
                translate::anthropic_request_to_openai(&v)
                    .map_err(bad)?
                    .to_string(),
            )
        }
        (Format::OpenAi, Wire::Converse) => Bytes::from(
            converse::openai_request_to_converse(&v)
                .map_err(bad)?
                .to_string(),
        ),
        (Format::Anthropic, Wire::Converse) => {
            let openai = translate::anthropic_request_to_openai(&v).map_err(bad)?;
            Bytes::from(
                converse::openai_request_to_converse(&openai)
                    .map_err(bad)?
                    .to_string(),
            )
        }
    };
    Ok(Prepared {
        provider,
        client_model,
        upstream_model,
        wire,
        stream,
        include_usage,
        usage_added,
        body,
    })
}

/// `raw` (a JSON object without `stream_options`) asking for the usage chunk, spliced in
/// front of its first member rather than parsed and written out again.
fn with_usage_requested(raw: &Bytes) -> Option<Bytes> {
    const MEMBER: &[u8] = br#""stream_options":{"include_usage":true},"#;
    if memchr::memmem::find(raw, b"\"stream_options\"").is_some() {
        return None; // e.g. `"stream_options": null`: the general path rewrites it
    }
    let open = raw.iter().position(|b| !b.is_ascii_whitespace())?;
    if raw[open] != b'{' {
        return None;
    }
    let mut body = Vec::with_capacity(raw.len() + MEMBER.len());
    body.extend_from_slice(&raw[..=open]);
    body.extend_from_slice(MEMBER);
    body.extend_from_slice(&raw[open + 1..]);
    Some(Bytes::from(body))
}

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
        whole(gw, &ctx, &p, answer, format)
            .await
            .map_err(|f| failed(gw, &ctx, &p, f, started))
    }
}

/// Reads a whole answer (bounded in size and time) and translates it if needed.
async fn whole(
    gw: &Gateway,
    ctx: &CallContext,
    p: &Prepared,
    a: Answer,
    format: Format,
) -> Result<Answered, Failure> {
    let status = a.response.status().as_u16();
    let secrets = a.secrets;
    let here = |error| Failure {
        error,
        key_id: Some(a.key_id.clone()),
        source: Some(a.source),
    };
    if a.response
        .content_length()
        .is_some_and(|n| n as usize > gw.limits.max_body)
    {
        return Err(here(GatewayError::new(
            502,
            ErrorCode::UpstreamTooLarge,
            "The provider's answer was too large.",
        )));
    }
    let mut body = Vec::new();
    let mut chunks = a.response.bytes_stream();
    let read = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|_| "cut")?;
            if body.len() + chunk.len() > gw.limits.max_body {
                return Err("large");
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(gw.limits.total, read).await {
        Ok(Ok(())) => {}
        Ok(Err("large")) => {
            return Err(here(GatewayError::new(
                502,
                ErrorCode::UpstreamTooLarge,
                "The provider's answer was too large.",
            )));
        }
        Ok(Err(_)) => {
            return Err(here(GatewayError::new(
                502,
                ErrorCode::UpstreamError,
                format!(
                    "The connection to {} broke before the answer was complete. Try again.",
                    p.provider.name
                ),
            )));
        }
        Err(_) => {
            return Err(here(GatewayError::new(
                504,
                ErrorCode::UpstreamTimeout,
                format!("{} did not finish answering in time.", p.provider.name),
            )));
        }
    }
    let passes = matches!(
        (format, p.wire),
        (Format::OpenAi, Wire::OpenAi) | (Format::Anthropic, Wire::Anthropic)
    );
    if passes
        && status < 400
        && let Ok(answer) = serde_json::from_slice::<UsageOnly>(&body)
    {
        // Passed on unchanged: only its usage is read, not the whole answer built as a tree.
        let usage = answer
            .usage
            .and_then(|u| translate::usage_of(p.wire, &u))
            .unwrap_or_default();
        let key = (a.key_id.as_str(), a.source, a.started);
        let (out, shown) = scrub_body(&secrets, Bytes::from(body));
        let usage = metered(usage, p, shown);
        return Ok(answered(gw, ctx, p, key, status, usage, out));
    }
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let (out, usage): (Bytes, Usage) = match (&parsed, format, p.wire) {
        (Some(v), Format::OpenAi, Wire::OpenAi) if status < 400 => (
            Bytes::from(body),
            translate::usage_from_openai(v).unwrap_or_default(),
        ),
        (Some(v), Format::Anthropic, Wire::Anthropic) if status < 400 => (
            Bytes::from(body),
            translate::usage_from_anthropic(v).unwrap_or_default(),
        ),
        (Some(v), Format::OpenAi, Wire::Anthropic) if status < 400 => {
            let (t, u) = translate::anthropic_response_to_openai(v, &p.client_model, now())
                .map_err(|_| here(bad_upstream(p)))?;
            (Bytes::from(t.to_string()), u)
        }
        (Some(v), Format::Anthropic, Wire::OpenAi) if status < 400 => {
            let (t, u) = translate::openai_response_to_anthropic(v, &p.client_model)
                .map_err(|_| here(bad_upstream(p)))?;
            (Bytes::from(t.to_string()), u)
        }
        (Some(v), Format::OpenAi, Wire::Converse) if status < 400 => {
            let (t, u) = converse::converse_response_to_openai(v, &p.client_model, now())
                .map_err(|_| here(bad_upstream(p)))?;
            (Bytes::from(t.to_string()), u)
        }
        (Some(v), Format::Anthropic, Wire::Converse) if status < 400 => {
            let (openai, u) = converse::converse_response_to_openai(v, &p.client_model, now())
                .map_err(|_| here(bad_upstream(p)))?;
            let (t, _) = translate::openai_response_to_anthropic(&openai, &p.client_model)
                .map_err(|_| here(bad_upstream(p)))?;
            (Bytes::from(t.to_string()), u)
        }
        (_, _, _) if status >= 400 => {
            // A client-side error the provider explained (bad model, bad parameter): pass its
            // message on in the client's format, never the raw body, and never the key should
            // the provider repeat it.
            let message = parsed
                .as_ref()
                .and_then(|v| {
                    // OpenAI and Anthropic nest it under `error`; AWS says `message`.
                    v.pointer("/error/message")
                        .or_else(|| v.pointer("/message"))
                        .and_then(Value::as_str)
                })
                .unwrap_or("The provider refused the request.");
            let message = scrub_text(message, &secrets)
                .chars()
                .take(500)
                .collect::<String>();
            let code = match status {
                403 => ErrorCode::UpstreamForbidden,
                404 => ErrorCode::ModelNotFound,
                _ => ErrorCode::BadRequest,
            };
            return Err(here(GatewayError::new(
                status,
                code,
                format!("{}: {message}", p.provider.name),
            )));
        }
        _ => return Err(here(bad_upstream(p))),
    };
    let key = (a.key_id.as_str(), a.source, a.started);
    let (out, shown) = scrub_body(&secrets, out);
    let usage = metered(usage, p, shown);
    Ok(answered(gw, ctx, p, key, status, usage, out))
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

/// An upstream answer's `usage`, the rest skipped.
#[derive(serde::Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<Value>,
}

/// Records a successful call and sends its answer; `key` is the key that answered: its id,
/// its source and when the call to it started.
fn answered(
    gw: &Gateway,
    ctx: &CallContext,
    p: &Prepared,
    (key_id, source, started): (&str, Source, Instant),
    status: u16,
    usage: Usage,
    out: Bytes,
) -> Answered {
    let mut ev = event(ctx, p, status);
    ev.source = Some(source);
    ev.key_id = Some(key_id.to_owned());
    ev.latency_ms = started.elapsed().as_millis() as i64;
    ev.usage = usage;
    gw.usage.record(ev);
    Answered::Whole {
        status,
        body: out,
        source,
    }
}

fn bad_upstream(p: &Prepared) -> GatewayError {
    GatewayError::new(
        502,
        ErrorCode::UpstreamError,
        format!("{} sent an answer Keyhold could not read.", p.provider.name),
    )
}

/// Marks a workspace key the provider rejected as invalid, audits it and tells the owners —
/// in the background, so the failover is not slowed.
pub fn key_rejected(
    state: &Ctx,
    ctx: &CallContext,
    provider: &'static Provider,
    key: &super::cache::SealedKey,
) {
    let state = state.clone();
    let ws = ctx.workspace_id.clone();
    let key_id = key.id.clone();
    tokio::spawn(async move {
        if let Err(e) =
            crate::services::key_health::mark_rejected(&state, ws, provider, key_id).await
        {
            tracing::error!(error = %e, "could not mark a rejected key invalid");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{Bytes, Format, prepare};
    use serde_json::{Value, json};

    fn body(p: &super::Prepared) -> Value {
        serde_json::from_slice(&p.body).expect("the body sent upstream is JSON")
    }

    #[test]
    fn a_streamed_openai_request_asks_for_usage_and_says_so() {
        let raw = json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
        let p = prepare(Format::OpenAi, &Bytes::from(raw.to_string())).expect("prepared");
        assert!(p.usage_added);
        let mut want = raw.clone();
        want["stream_options"] = json!({"include_usage": true});
        assert_eq!(body(&p), want);

        // `stream_options` present without include_usage (here null) goes the general way.
        let mut raw = raw;
        raw["stream_options"] = Value::Null;
        let p = prepare(Format::OpenAi, &Bytes::from(raw.to_string())).expect("prepared");
        assert!(p.usage_added);
        assert_eq!(body(&p)["stream_options"], json!({"include_usage": true}));

        // Nor may an escaped second `stream_options` be answered with a spliced first one.
        let escaped =
            r#"{"model":"gpt-4o-mini","stream":true,"stream\u005foptions":null,"messages":[]}"#;
        let p = prepare(Format::OpenAi, &Bytes::from(escaped)).expect("prepared");
        assert!(p.usage_added);
        assert_eq!(body(&p)["stream_options"], json!({"include_usage": true}));
        let sent = String::from_utf8(p.body.to_vec()).expect("UTF-8");
        assert_eq!(
            sent.matches("stream_options").count() + sent.matches("stream\\u005foptions").count(),
            1,
            "one stream_options member: {sent}"
        );

        // A prefixed model is rewritten and asks for usage too.
        let raw = json!({"model": "openai/gpt-4o-mini", "stream": true, "messages": []});
        let p = prepare(Format::OpenAi, &Bytes::from(raw.to_string())).expect("prepared");
        assert!(p.usage_added);
        assert_eq!(body(&p)["model"], "gpt-4o-mini");
        assert_eq!(body(&p)["stream_options"]["include_usage"], true);
    }

    #[test]
    fn requests_that_need_no_change_pass_as_they_came() {
        for raw in [
            json!({"model": "gpt-4o-mini", "messages": []}),
            json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true}, "messages": []}),
        ] {
            let bytes = Bytes::from(raw.to_string());
            let p = prepare(Format::OpenAi, &bytes).expect("prepared");
            assert!(!p.usage_added);
            assert_eq!(p.body, bytes);
        }
    }
}

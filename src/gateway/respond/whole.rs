//! Whole (non-streamed) answers: read within the limits, translated when the client speaks
//! another format, scrubbed, metered and recorded.

use std::time::Instant;

use actix_web::web::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use super::{Answered, Prepared, event, metered};
use crate::db::now;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::KeyId;
use crate::domain::providers::Wire;
use crate::domain::resolution::Source;
use crate::gateway::dispatch::{Answer, Failure};
use crate::gateway::errors::{Format, GatewayError};
use crate::gateway::redact::{Secrets, scrub_body, scrub_reported, scrub_text};
use crate::gateway::translate::{self, Usage, converse};
use crate::gateway::{CallContext, Gateway};

/// Reads a whole answer (bounded in size and time) and translates it if needed.
pub(super) async fn answer(
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
    let mut chunks = a.response.chunks();
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
        let key = (&a.key_id, a.source, a.started);
        let (out, usage) = scrubbed(&secrets, Bytes::from(body), usage, p);
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
    let key = (&a.key_id, a.source, a.started);
    let (out, usage) = scrubbed(&secrets, out, usage, p);
    Ok(answered(gw, ctx, p, key, status, usage, out))
}

/// The answer scrubbed, and its usage: the provider's, or else estimated from the request
/// and the text shown (which only then needs counting).
fn scrubbed(secrets: &Secrets, out: Bytes, usage: Usage, p: &Prepared) -> (Bytes, Usage) {
    if usage == Usage::default() {
        let (out, shown) = scrub_body(secrets, out);
        (out, metered(usage, p, shown))
    } else {
        (scrub_reported(secrets, out), usage)
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
    (key_id, source, started): (&KeyId, Source, Instant),
    status: u16,
    usage: Usage,
    out: Bytes,
) -> Answered {
    let mut ev = event(ctx, p, status);
    ev.source = Some(source);
    ev.key_id = Some(key_id.clone());
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

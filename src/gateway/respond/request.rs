//! The client's request, read (borrowed where it passes unchanged) and rewritten in its
//! provider's wire format.

use actix_web::web::Bytes;
use serde_json::Value;

use crate::domain::providers::{self, Provider, Wire};
use crate::gateway::errors::{Format, GatewayError};
use crate::gateway::translate::{self, converse};

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

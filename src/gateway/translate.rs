//! Translation between the OpenAI chat-completions and Anthropic Messages wire formats.
//!
//! Everything here is pure (JSON in, JSON out, and small state machines for
//! server-sent-event streams): no I/O. Whole requests and responses are translated in
//! `to_anthropic` and `to_openai`, streams in `to_anthropic_stream` and `to_openai_stream`
//! (events parsed by `sse`, the OpenAI side written and ended by `openai_chunks`, which
//! Bedrock's `converse_stream` shares); streams passed on in the client's own format go
//! through `pass`.
//!
//! Requests come from clients and are translated best-effort; whatever cannot be
//! expressed in the other format is a [`TranslateError::BadRequest`] with a message
//! naming the offending field. Responses come from providers and are translated
//! leniently: missing optional fields get the defaults the target format uses.
//!
//! Token accounting ([`Usage`]) counts every prompt token: for Anthropic that is
//! `input_tokens` plus `cache_creation_input_tokens` and `cache_read_input_tokens`,
//! which matches OpenAI's `prompt_tokens` (cached tokens included).

use serde_json::{Value, json};

use crate::domain::providers::Wire;

// Explicit paths, so that the child modules resolve to `translate/*.rs` whether
// this file is reached as `gateway/translate.rs` or through a `#[path]` attribute.
#[path = "translate/converse.rs"]
pub mod converse;
#[path = "translate/converse_stream.rs"]
pub mod converse_stream;
#[cfg(test)]
#[path = "translate/fixtures.rs"]
mod fixtures;
#[path = "translate/openai_chunks.rs"]
mod openai_chunks;
#[path = "translate/pass.rs"]
mod pass;
#[path = "translate/sse.rs"]
mod sse;
#[cfg(test)]
#[path = "translate/stream_tests.rs"]
mod stream_tests;
#[path = "translate/to_anthropic.rs"]
mod to_anthropic;
#[path = "translate/to_anthropic_stream.rs"]
mod to_anthropic_stream;
#[path = "translate/to_openai.rs"]
mod to_openai;
#[path = "translate/to_openai_stream.rs"]
mod to_openai_stream;

pub use pass::PassThrough;
pub(crate) use pass::joined;
pub use sse::{SseEvent, SseParser};
pub use to_anthropic::{openai_request_to_anthropic, openai_response_to_anthropic};
pub use to_anthropic_stream::OpenAiToAnthropicStream;
pub use to_openai::{anthropic_request_to_openai, anthropic_response_to_openai};
pub use to_openai_stream::AnthropicToOpenAiStream;

/// Anthropic requires `max_tokens`; this is used when an OpenAI request gives none.
pub const DEFAULT_MAX_TOKENS: i64 = 4096;

/// Errors: the client sent something we cannot translate (becomes a 400 `bad_request`).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// The request (or, rarely, an upstream response) cannot be translated; the
    /// message says why and is meant to be shown to the client.
    #[error("{0}")]
    BadRequest(String),
}

/// Token usage, whichever format it came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input: i64,
    /// Completion tokens.
    pub output: i64,
}

impl Usage {
    /// Reads an OpenAI `usage` object (`prompt_tokens`, `completion_tokens`).
    fn from_openai_usage(u: &Value) -> Option<Usage> {
        u.is_object().then(|| Usage {
            input: int(u, "prompt_tokens").unwrap_or(0),
            output: int(u, "completion_tokens").unwrap_or(0),
        })
    }

    /// Applies the fields present in an Anthropic `usage` object (which are cumulative).
    fn update_from_anthropic(&mut self, u: &Value) {
        if let Some(input) = int(u, "input_tokens") {
            self.input = input
                + int(u, "cache_creation_input_tokens").unwrap_or(0)
                + int(u, "cache_read_input_tokens").unwrap_or(0);
        }
        if let Some(output) = int(u, "output_tokens") {
            self.output = output;
        }
    }

    fn openai_json(self) -> Value {
        json!({
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.input + self.output,
        })
    }
}

fn bad(msg: impl Into<String>) -> TranslateError {
    TranslateError::BadRequest(msg.into())
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
fn finish_reason_from_anthropic(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
fn stop_reason_from_openai(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// The `messages` array of a request, required and non-empty.
fn messages_of(req: &Value) -> Result<&Vec<Value>, TranslateError> {
    if !req.is_object() {
        return Err(bad("request body must be a JSON object"));
    }
    match req.get("messages") {
        None | Some(Value::Null) => Err(bad("`messages` is required")),
        Some(Value::Array(m)) if m.is_empty() => Err(bad("`messages` must not be empty")),
        Some(Value::Array(m)) => Ok(m),
        Some(_) => Err(bad("`messages` must be an array")),
    }
}

/// Reads usage from an OpenAI response (or stream chunk) without translating it.
pub fn usage_from_openai(resp: &Value) -> Option<Usage> {
    resp.get("usage").and_then(Usage::from_openai_usage)
}

/// Reads a `usage` object in the provider's own format.
pub fn usage_of(wire: Wire, usage: &Value) -> Option<Usage> {
    match wire {
        Wire::OpenAi => Usage::from_openai_usage(usage),
        Wire::Anthropic => usage.is_object().then(|| {
            let mut u = Usage::default();
            u.update_from_anthropic(usage);
            u
        }),
        Wire::Converse => converse::usage_from_converse(usage),
    }
}

/// Reads usage from an Anthropic response without translating it.
pub fn usage_from_anthropic(resp: &Value) -> Option<Usage> {
    resp.get("usage").and_then(|u| usage_of(Wire::Anthropic, u))
}

#[cfg(test)]
#[path = "translate/tests.rs"]
mod tests;

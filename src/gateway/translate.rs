//! Translation between the OpenAI chat-completions and Anthropic Messages wire formats.
//!
//! Everything here is pure (JSON in, JSON out, and small state machines for
//! server-sent-event streams in the child module `stream`): no I/O.
//!
//! Requests come from clients and are translated best-effort; whatever cannot be
//! expressed in the other format is a [`TranslateError::BadRequest`] with a message
//! naming the offending field. Responses come from providers and are translated
//! leniently: missing optional fields get the defaults the target format uses.
//!
//! Token accounting ([`Usage`]) counts every prompt token: for Anthropic that is
//! `input_tokens` plus `cache_creation_input_tokens` and `cache_read_input_tokens`,
//! which matches OpenAI's `prompt_tokens` (cached tokens included).

use serde_json::{Map, Value, json};

use crate::domain::providers::Wire;

// An explicit path, so that the child module resolves to `translate/stream.rs` whether
// this file is reached as `gateway/translate.rs` or through a `#[path]` attribute.
#[cfg(test)]
#[path = "translate/fixtures.rs"]
mod fixtures;
#[path = "translate/pass.rs"]
mod pass;
#[path = "translate/stream.rs"]
mod stream;

pub use pass::PassThrough;
pub(crate) use pass::joined;
pub use stream::{AnthropicToOpenAiStream, OpenAiToAnthropicStream, SseEvent, SseParser};

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

/// Parses OpenAI tool-call `arguments` (a JSON string) into an object; empty means `{}`.
fn parse_arguments(args: &Value) -> Option<Value> {
    match args {
        Value::Null => Some(json!({})),
        Value::Object(_) => Some(args.clone()),
        Value::String(s) if s.trim().is_empty() => Some(json!({})),
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object),
        _ => None,
    }
}

/// A `data:` URL or a plain URL → an Anthropic `source` object.
fn url_to_source(url: &str, what: &str) -> Result<Value, TranslateError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(json!({"type": "url", "url": url}));
    };
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| bad(format!("{what}: malformed data URL")))?;
    let meta = meta
        .strip_suffix(";base64")
        .ok_or_else(|| bad(format!("{what}: only base64 data URLs are supported")))?;
    let media_type = meta.split(';').next().unwrap_or(meta);
    Ok(json!({"type": "base64", "media_type": media_type, "data": data}))
}

/// An Anthropic `source` object → a URL (a data URL for base64 sources).
fn source_to_url(block: &Value, what: &str) -> Result<String, TranslateError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    match str_of(source, "type") {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            str_of(source, "media_type").unwrap_or("application/octet-stream"),
            str_of(source, "data").unwrap_or("")
        )),
        Some("url") => str_of(source, "url")
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{what}: url source without a url"))),
        other => Err(bad(format!(
            "{what}: unsupported source type `{}`",
            other.unwrap_or("none")
        ))),
    }
}

/// The text of an OpenAI content that may only hold text (a string or text parts).
fn openai_text(content: &Value, what: &str) -> Result<String, TranslateError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match str_of(part, "type") {
                    Some("text") => text.push_str(str_of(part, "text").unwrap_or("")),
                    other => {
                        return Err(bad(format!(
                            "{what}: only text parts are supported here, got `{}`",
                            other.unwrap_or("none")
                        )));
                    }
                }
            }
            Ok(text)
        }
        _ => Err(bad(format!("{what}.content must be a string or an array"))),
    }
}

/// The text of an Anthropic string or array of text blocks, blocks joined by `sep`.
/// Non-text blocks are an error when `strict`, skipped otherwise.
fn anthropic_text(
    content: &Value,
    sep: &str,
    strict: bool,
    what: &str,
) -> Result<String, TranslateError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut texts = Vec::new();
            for block in blocks {
                match str_of(block, "type") {
                    Some("text") => texts.push(str_of(block, "text").unwrap_or("")),
                    other if strict => {
                        return Err(bad(format!(
                            "{what}: only text blocks are supported here, got `{}`",
                            other.unwrap_or("none")
                        )));
                    }
                    _ => {}
                }
            }
            Ok(texts.join(sep))
        }
        _ => Err(bad(format!("{what} must be a string or an array"))),
    }
}

/// OpenAI user/assistant content → Anthropic content blocks (empty text dropped).
fn openai_content_to_blocks(content: &Value, what: &str) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![text_block(s)]),
        Value::Array(parts) => parts,
        _ => return Err(bad(format!("{what}.content must be a string or an array"))),
    };
    let mut blocks = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let here = format!("{what}.content[{j}]");
        match str_of(part, "type") {
            Some("text") => match str_of(part, "text") {
                Some("") => {}
                Some(t) => blocks.push(text_block(t)),
                None => return Err(bad(format!("{here}: text part without `text`"))),
            },
            Some("image_url") => {
                let image = part.get("image_url").unwrap_or(&Value::Null);
                let url = image
                    .as_str()
                    .or_else(|| str_of(image, "url"))
                    .ok_or_else(|| bad(format!("{here}: image_url part without a url")))?;
                blocks.push(json!({"type": "image", "source": url_to_source(url, &here)?}));
            }
            Some("file") => {
                let data = part
                    .get("file")
                    .and_then(|f| str_of(f, "file_data"))
                    .ok_or_else(|| bad(format!("{here}: only inline `file_data` is supported")))?;
                blocks.push(json!({"type": "document", "source": url_to_source(data, &here)?}));
            }
            Some("refusal") => {}
            other => {
                return Err(bad(format!(
                    "{here}: unsupported content part type `{}`",
                    other.unwrap_or("none")
                )));
            }
        }
    }
    Ok(blocks)
}

/// OpenAI assistant `tool_calls` → Anthropic `tool_use` blocks.
fn openai_tool_calls_to_blocks(msg: &Value, what: &str) -> Result<Vec<Value>, TranslateError> {
    let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for (j, call) in calls.iter().enumerate() {
        let here = format!("{what}.tool_calls[{j}]");
        let id = str_of(call, "id").ok_or_else(|| bad(format!("{here}: missing `id`")))?;
        let function = call.get("function").unwrap_or(&Value::Null);
        let name = str_of(function, "name")
            .ok_or_else(|| bad(format!("{here}: missing `function.name`")))?;
        let args = function.get("arguments").unwrap_or(&Value::Null);
        let input = parse_arguments(args)
            .ok_or_else(|| bad(format!("{here}: `function.arguments` is not a JSON object")))?;
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
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

/// OpenAI chat-completions request JSON → Anthropic Messages request JSON (model
/// already replaced by the caller).
///
/// system/developer messages become the top-level `system` (joined with blank lines);
/// text, `image_url` and inline `file` parts become content blocks; `tool_calls` and
/// `tool` messages become `tool_use` / `tool_result` blocks (ids kept); consecutive
/// same-role messages are merged. `max_completion_tokens` / `max_tokens` (default
/// [`DEFAULT_MAX_TOKENS`]), `temperature`, `top_p`, `stop`, `stream`, `tools`,
/// `tool_choice`, `parallel_tool_calls` and `user` are carried over; other fields are
/// ignored. Errors when `messages` is missing or empty, has no user/assistant content,
/// or holds something Anthropic cannot express.
pub fn openai_request_to_anthropic(req: &Value) -> Result<Value, TranslateError> {
    let messages = messages_of(req)?;
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let what = format!("messages[{i}]");
        let role = str_of(msg, "role").ok_or_else(|| bad(format!("{what}: missing `role`")))?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match role {
            "system" | "developer" => {
                let text = openai_text(content, &what)?;
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            "user" => ("user", openai_content_to_blocks(content, &what)?),
            "assistant" => {
                let mut blocks = openai_content_to_blocks(content, &what)?;
                blocks.extend(openai_tool_calls_to_blocks(msg, &what)?);
                ("assistant", blocks)
            }
            "tool" => {
                let id = str_of(msg, "tool_call_id")
                    .ok_or_else(|| bad(format!("{what}: tool message without `tool_call_id`")))?;
                let mut block = json!({"type": "tool_result", "tool_use_id": id});
                let text = openai_text(content, &what)?;
                if !text.is_empty() {
                    block["content"] = Value::String(text);
                }
                ("user", vec![block])
            }
            other => return Err(bad(format!("{what}: unsupported role `{other}`"))),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last)) if *last_role == role => last.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(bad("`messages` has no user or assistant content"));
    }

    let mut out = Map::new();
    if let Some(model) = req.get("model") {
        out.insert("model".into(), model.clone());
    }
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system.join("\n\n")));
    }
    let turns: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    out.insert("messages".into(), Value::Array(turns));
    let max_tokens = int(req, "max_completion_tokens")
        .or_else(|| int(req, "max_tokens"))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), max_tokens.into());
    for key in ["temperature", "top_p", "stream"] {
        if let Some(v) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    match req.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if !a.is_empty() {
                out.insert("stop_sequences".into(), Value::Array(a.clone()));
            }
        }
        Some(_) => return Err(bad("`stop` must be a string or an array of strings")),
    }
    let mut has_tools = false;
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let mut converted = Vec::new();
        for (j, tool) in tools.iter().enumerate() {
            if str_of(tool, "type").is_some_and(|t| t != "function") {
                return Err(bad(format!(
                    "tools[{j}]: only function tools can be translated"
                )));
            }
            let function = tool.get("function").unwrap_or(&Value::Null);
            let name = str_of(function, "name")
                .ok_or_else(|| bad(format!("tools[{j}]: missing `function.name`")))?;
            let schema = function
                .get("parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            let mut t = json!({"name": name, "input_schema": schema});
            if let Some(desc) = str_of(function, "description") {
                t["description"] = desc.into();
            }
            converted.push(t);
        }
        has_tools = !converted.is_empty();
        if has_tools {
            out.insert("tools".into(), Value::Array(converted));
        }
    }
    let mut choice = match req.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            other => return Err(bad(format!("unsupported `tool_choice` `{other}`"))),
        },
        Some(obj) => {
            let name = obj
                .get("function")
                .and_then(|f| str_of(f, "name"))
                .ok_or_else(|| bad("`tool_choice` object must name a function"))?;
            Some(json!({"type": "tool", "name": name}))
        }
    };
    if has_tools {
        if req.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
            let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
            if c["type"] != "none" {
                c["disable_parallel_tool_use"] = true.into();
            }
        }
        if let Some(c) = choice {
            out.insert("tool_choice".into(), c);
        }
    }
    if let Some(user) = str_of(req, "user") {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
}

/// Anthropic user content blocks → OpenAI messages: `tool` messages for `tool_result`
/// blocks first (OpenAI wants them right after the assistant's `tool_calls`), then one
/// user message with the remaining parts.
fn anthropic_user_to_openai(
    blocks: &[Value],
    what: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let here = format!("{what}.content[{j}]");
        match str_of(block, "type") {
            Some("text") => parts.push(text_block(str_of(block, "text").unwrap_or(""))),
            Some("image") => parts.push(
                json!({"type": "image_url", "image_url": {"url": source_to_url(block, &here)?}}),
            ),
            Some("document") => parts.push(json!({"type": "file", "file": {
                "filename": str_of(block, "title").unwrap_or("document"),
                "file_data": source_to_url(block, &here)?,
            }})),
            Some("tool_result") => {
                let id = str_of(block, "tool_use_id")
                    .ok_or_else(|| bad(format!("{here}: tool_result without `tool_use_id`")))?;
                let content = block.get("content").unwrap_or(&Value::Null);
                let text = anthropic_text(content, "\n", false, &here)?;
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            other => {
                return Err(bad(format!(
                    "{here}: unsupported content block type `{}`",
                    other.unwrap_or("none")
                )));
            }
        }
    }
    match parts.as_slice() {
        [] => {}
        [only] if only["type"] == "text" => {
            out.push(json!({"role": "user", "content": only["text"]}));
        }
        _ => out.push(json!({"role": "user", "content": parts})),
    }
    Ok(())
}

/// Anthropic assistant content blocks → one OpenAI assistant message (if not empty).
fn anthropic_assistant_to_openai(
    blocks: &[Value],
    what: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match str_of(block, "type") {
            Some("text") => text.push_str(str_of(block, "text").unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": str_of(block, "id").unwrap_or(""),
                "type": "function",
                "function": {
                    "name": str_of(block, "name").unwrap_or(""),
                    "arguments": block.get("input").unwrap_or(&json!({})).to_string(),
                },
            })),
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(bad(format!(
                    "{what}.content[{j}]: unsupported content block type `{}`",
                    other.unwrap_or("none")
                )));
            }
        }
    }
    if text.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut msg = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if text.is_empty() {
            msg["content"] = Value::Null;
        }
        msg["tool_calls"] = Value::Array(calls);
    }
    out.push(msg);
    Ok(())
}

/// Anthropic Messages request JSON → OpenAI chat-completions request JSON (model
/// already replaced by the caller).
///
/// `system` (string or text blocks) becomes a leading system message; text, image and
/// document blocks become content parts; `tool_use` blocks become `tool_calls` and
/// `tool_result` blocks become `tool` messages; `max_tokens`, `temperature`, `top_p`,
/// `stop_sequences` (→ `stop`), `stream` (plus `stream_options.include_usage`),
/// `tools`, `tool_choice` and `metadata.user_id` (→ `user`) are carried over.
pub fn anthropic_request_to_openai(req: &Value) -> Result<Value, TranslateError> {
    let messages = messages_of(req)?;
    let mut msgs = Vec::new();
    let system = anthropic_text(
        req.get("system").unwrap_or(&Value::Null),
        "\n\n",
        true,
        "`system`",
    )?;
    if !system.is_empty() {
        msgs.push(json!({"role": "system", "content": system}));
    }
    for (i, msg) in messages.iter().enumerate() {
        let what = format!("messages[{i}]");
        let role = str_of(msg, "role").ok_or_else(|| bad(format!("{what}: missing `role`")))?;
        if role != "user" && role != "assistant" {
            return Err(bad(format!("{what}: unsupported role `{role}`")));
        }
        match msg.get("content") {
            Some(Value::String(s)) if !s.is_empty() => {
                msgs.push(json!({"role": role, "content": s}));
            }
            Some(Value::String(_)) => {}
            Some(Value::Array(blocks)) if role == "user" => {
                anthropic_user_to_openai(blocks, &what, &mut msgs)?;
            }
            Some(Value::Array(blocks)) => anthropic_assistant_to_openai(blocks, &what, &mut msgs)?,
            _ => return Err(bad(format!("{what}.content must be a string or an array"))),
        }
    }
    if !msgs.iter().any(|m| m["role"] != "system") {
        return Err(bad("`messages` has no user or assistant content"));
    }

    let mut out = Map::new();
    if let Some(model) = req.get("model") {
        out.insert("model".into(), model.clone());
    }
    out.insert("messages".into(), Value::Array(msgs));
    for key in ["max_tokens", "temperature", "top_p"] {
        if let Some(v) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stops) = req.get("stop_sequences").and_then(Value::as_array)
        && !stops.is_empty()
    {
        out.insert("stop".into(), Value::Array(stops.clone()));
    }
    if let Some(stream) = req.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), stream.into());
        if stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    let mut has_tools = false;
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let mut converted = Vec::new();
        for (j, tool) in tools.iter().enumerate() {
            if let Some(kind) = str_of(tool, "type").filter(|t| *t != "custom") {
                return Err(bad(format!(
                    "tools[{j}]: server tool `{kind}` cannot be translated"
                )));
            }
            let name =
                str_of(tool, "name").ok_or_else(|| bad(format!("tools[{j}]: missing `name`")))?;
            let mut function = json!({
                "name": name,
                "parameters": tool.get("input_schema").cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
            if let Some(desc) = str_of(tool, "description") {
                function["description"] = desc.into();
            }
            converted.push(json!({"type": "function", "function": function}));
        }
        has_tools = !converted.is_empty();
        if has_tools {
            out.insert("tools".into(), Value::Array(converted));
        }
    }
    if let Some(choice) = req.get("tool_choice").filter(|_| has_tools) {
        let converted = match str_of(choice, "type") {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                let name = str_of(choice, "name")
                    .ok_or_else(|| bad("`tool_choice` of type `tool` must have a `name`"))?;
                json!({"type": "function", "function": {"name": name}})
            }
            other => {
                return Err(bad(format!(
                    "unsupported `tool_choice` type `{}`",
                    other.unwrap_or("none")
                )));
            }
        };
        out.insert("tool_choice".into(), converted);
        if choice.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
            out.insert("parallel_tool_calls".into(), false.into());
        }
    }
    if let Some(user) = req.get("metadata").and_then(|m| str_of(m, "user_id")) {
        out.insert("user".into(), user.into());
    }
    Ok(Value::Object(out))
}

/// Anthropic Messages response → OpenAI `chat.completion`, plus its [`Usage`].
///
/// `id` is `"chatcmpl-"` + the Anthropic id, `model` and `created` are the given ones
/// (the model the client asked for); text blocks are concatenated into
/// `message.content`, `tool_use` blocks become `message.tool_calls`.
pub fn anthropic_response_to_openai(
    resp: &Value,
    model: &str,
    created: i64,
) -> Result<(Value, Usage), TranslateError> {
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("upstream response has no `content` array"))?;
    // Blocks OpenAI has no place for (thinking, server tool results) are dropped.
    let known: Vec<Value> = blocks
        .iter()
        .filter(|b| matches!(str_of(b, "type"), Some("text" | "tool_use")))
        .cloned()
        .collect();
    let mut msgs = Vec::new();
    anthropic_assistant_to_openai(&known, "response", &mut msgs)?;
    let mut message = msgs
        .pop()
        .unwrap_or_else(|| json!({"role": "assistant", "content": ""}));
    message["refusal"] = Value::Null;
    let finish = str_of(resp, "stop_reason").map_or("stop", finish_reason_from_anthropic);
    let mut usage = Usage::default();
    if let Some(u) = resp.get("usage") {
        usage.update_from_anthropic(u);
    }
    let out = json!({
        "id": format!("chatcmpl-{}", str_of(resp, "id").unwrap_or("unknown")),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage.openai_json(),
    });
    Ok((out, usage))
}

/// OpenAI `chat.completion` → Anthropic Messages response, plus its [`Usage`].
///
/// `id` is `"msg_"` + the OpenAI id without its `chatcmpl-` prefix; the first choice's
/// text becomes a text block and its `tool_calls` become `tool_use` blocks (arguments
/// that are not a JSON object become `{}`).
pub fn openai_response_to_anthropic(
    resp: &Value,
    model: &str,
) -> Result<(Value, Usage), TranslateError> {
    let choice = resp
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| bad("upstream response has no choices"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    let mut text =
        openai_text(message.get("content").unwrap_or(&Value::Null), "response").unwrap_or_default();
    if text.is_empty() {
        text = str_of(message, "refusal").unwrap_or("").to_owned();
    }
    if !text.is_empty() {
        content.push(text_block(&text));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = call.get("function").unwrap_or(&Value::Null);
        let args = function.get("arguments").unwrap_or(&Value::Null);
        content.push(json!({
            "type": "tool_use",
            "id": str_of(call, "id").unwrap_or(""),
            "name": str_of(function, "name").unwrap_or(""),
            "input": parse_arguments(args).unwrap_or_else(|| json!({})),
        }));
    }
    let has_tools = content.iter().any(|b| b["type"] == "tool_use");
    let stop_reason = match str_of(choice, "finish_reason").map(stop_reason_from_openai) {
        Some("end_turn") | None if has_tools => "tool_use",
        Some(reason) => reason,
        None => "end_turn",
    };
    let usage = resp
        .get("usage")
        .and_then(Usage::from_openai_usage)
        .unwrap_or_default();
    let id = str_of(resp, "id").unwrap_or("unknown");
    let out = json!({
        "id": format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id)),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": usage.input, "output_tokens": usage.output},
    });
    Ok((out, usage))
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
    }
}

/// Reads usage from an Anthropic response without translating it.
pub fn usage_from_anthropic(resp: &Value) -> Option<Usage> {
    resp.get("usage").and_then(|u| usage_of(Wire::Anthropic, u))
}

#[cfg(test)]
#[path = "translate/tests.rs"]
mod tests;

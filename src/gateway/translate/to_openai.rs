//! Anthropic Messages → OpenAI chat-completions: requests from Anthropic clients on their
//! way to OpenAI-format providers, and Anthropic responses for OpenAI clients.

use serde_json::{Map, Value, json};

use super::{
    TranslateError, Usage, bad, finish_reason_from_anthropic, messages_of, str_of, text_block,
};

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

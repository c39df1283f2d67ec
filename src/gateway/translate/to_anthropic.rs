//! OpenAI chat-completions → Anthropic Messages: requests from OpenAI clients on their way
//! to Anthropic, and OpenAI responses for clients that speak Anthropic's format.

use serde_json::{Map, Value, json};

use super::{
    DEFAULT_MAX_TOKENS, TranslateError, Usage, bad, int, messages_of, stop_reason_from_openai,
    str_of, text_block,
};

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

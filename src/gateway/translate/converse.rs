//! OpenAI chat-completions ⇄ Bedrock Converse: OpenAI requests on their way to Bedrock's
//! `/model/{modelId}/converse` (or `converse-stream`), and Converse responses back as OpenAI
//! chat completions. Clients of the Anthropic format chain through the OpenAI one.

use serde_json::{Map, Value, json};

use super::{DEFAULT_MAX_TOKENS, TranslateError, Usage, bad, int, messages_of, str_of};

/// The image formats Converse takes, by media type.
fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// An OpenAI `image_url` part → a Converse `image` block (base64 data URLs only).
fn image_block(part: &Value, what: &str) -> Result<Value, TranslateError> {
    let image = part.get("image_url").unwrap_or(&Value::Null);
    let url = image
        .as_str()
        .or_else(|| str_of(image, "url"))
        .ok_or_else(|| bad(format!("{what}: image_url part without a url")))?;
    let unsupported = || {
        bad(format!(
            "{what}: Bedrock models take images only as base64 data URLs of PNG, JPEG, GIF or WebP"
        ))
    };
    let (meta, data) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .ok_or_else(unsupported)?;
    let media_type = meta.strip_suffix(";base64").ok_or_else(unsupported)?;
    let format = image_format(media_type).ok_or_else(unsupported)?;
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

/// OpenAI message content → Converse content blocks (empty text dropped).
fn content_blocks(content: &Value, what: &str, images: bool) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![json!({"text": s})]),
        Value::Array(parts) => parts,
        _ => return Err(bad(format!("{what}.content must be a string or an array"))),
    };
    let mut blocks = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let here = format!("{what}.content[{j}]");
        match str_of(part, "type") {
            Some("text") => match str_of(part, "text") {
                Some("") => {}
                Some(t) => blocks.push(json!({"text": t})),
                None => return Err(bad(format!("{here}: text part without `text`"))),
            },
            Some("image_url") if images => blocks.push(image_block(part, &here)?),
            Some("refusal") => {}
            other => {
                return Err(bad(format!(
                    "{here}: content part type `{}` is not supported for Bedrock models",
                    other.unwrap_or("none")
                )));
            }
        }
    }
    Ok(blocks)
}

const NO_TOOLS: &str = "tools and tool calls are not supported for Bedrock models yet";

/// OpenAI chat request → Bedrock Converse request body (the model id goes in the URL).
///
/// system/developer messages become `system` text blocks; user and assistant text and
/// base64 `image_url` parts become content blocks, consecutive same-role messages merged;
/// `max_completion_tokens` / `max_tokens` (default [`DEFAULT_MAX_TOKENS`]), `temperature`,
/// `top_p` and `stop` become `inferenceConfig`. Tools, tool calls and tool messages are a
/// 400 with a clear message, as is anything else Converse cannot express here.
pub fn openai_request_to_converse(req: &Value) -> Result<Value, TranslateError> {
    let messages = messages_of(req)?;
    if req
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
        || req.get("functions").is_some_and(|f| !f.is_null())
    {
        return Err(bad(format!("`tools`: {NO_TOOLS}")));
    }
    if req.get("n").and_then(Value::as_i64).is_some_and(|n| n != 1) {
        return Err(bad("`n`: Bedrock models give one choice per request"));
    }
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let what = format!("messages[{i}]");
        let role = str_of(msg, "role").ok_or_else(|| bad(format!("{what}: missing `role`")))?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(content_blocks(content, &what, false)?);
                continue;
            }
            "user" => ("user", content_blocks(content, &what, true)?),
            "assistant" => {
                if msg.get("tool_calls").is_some_and(|c| !c.is_null()) {
                    return Err(bad(format!("{what}.tool_calls: {NO_TOOLS}")));
                }
                ("assistant", content_blocks(content, &what, false)?)
            }
            "tool" | "function" => return Err(bad(format!("{what}: {NO_TOOLS}"))),
            other => return Err(bad(format!("{what}: unsupported role `{other}`"))),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    match turns.first() {
        None => return Err(bad("`messages` has no user or assistant content")),
        Some(("assistant", _)) => {
            return Err(bad(
                "`messages`: Bedrock needs the conversation to start with a user message",
            ));
        }
        Some(_) => {}
    }

    let mut out = Map::new();
    let turns: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    out.insert("messages".into(), Value::Array(turns));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    let mut config = Map::new();
    let max_tokens = int(req, "max_completion_tokens")
        .or_else(|| int(req, "max_tokens"))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    config.insert("maxTokens".into(), max_tokens.into());
    for (from, to) in [("temperature", "temperature"), ("top_p", "topP")] {
        match req.get(from) {
            None | Some(Value::Null) => {}
            Some(v) if v.is_number() => {
                config.insert(to.into(), v.clone());
            }
            Some(_) => return Err(bad(format!("`{from}` must be a number"))),
        }
    }
    match req.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            config.insert("stopSequences".into(), json!([s]));
        }
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
            config.insert("stopSequences".into(), Value::Array(list.clone()));
        }
        Some(_) => return Err(bad("`stop` must be a string or an array of strings")),
    }
    out.insert("inferenceConfig".into(), Value::Object(config));
    Ok(Value::Object(out))
}

/// Converse `stopReason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason_from_converse(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop", // end_turn, stop_sequence
    }
}

/// Converse `usage` (`inputTokens`, `outputTokens`, cache reads and writes) → [`Usage`],
/// every prompt token counted as in the rest of this module.
pub(crate) fn usage_from_converse(u: &Value) -> Option<Usage> {
    u.is_object().then(|| Usage {
        input: int(u, "inputTokens").unwrap_or(0)
            + int(u, "cacheReadInputTokens").unwrap_or(0)
            + int(u, "cacheWriteInputTokens").unwrap_or(0),
        output: int(u, "outputTokens").unwrap_or(0),
    })
}

/// A fresh OpenAI completion id (Converse answers carry none in their body).
pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// Bedrock Converse response → OpenAI `chat.completion`, plus its [`Usage`].
///
/// `model` and `created` are the given ones (the model the client asked for); the text
/// blocks of `output.message.content` are concatenated (reasoning and other blocks dropped).
pub fn converse_response_to_openai(
    resp: &Value,
    model: &str,
    created: i64,
) -> Result<(Value, Usage), TranslateError> {
    let blocks = resp
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("upstream response has no `output.message.content` array"))?;
    if blocks.iter().any(|b| b.get("toolUse").is_some()) {
        return Err(bad(format!(
            "upstream response asks for a tool: {NO_TOOLS}"
        )));
    }
    let text: String = blocks.iter().filter_map(|b| str_of(b, "text")).collect();
    let finish = str_of(resp, "stopReason").map_or("stop", finish_reason_from_converse);
    let usage = resp
        .get("usage")
        .and_then(usage_from_converse)
        .unwrap_or_default();
    let out = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null,
            "finish_reason": finish,
        }],
        "usage": usage.openai_json(),
    });
    Ok((out, usage))
}

#[cfg(test)]
#[path = "converse_tests.rs"]
mod tests;

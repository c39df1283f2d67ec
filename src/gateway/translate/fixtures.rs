//! Streams both stream test modules feed: realistic OpenAI and Anthropic SSE answers.

use serde_json::{Value, json};

pub fn sse(events: &[(&str, Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

pub fn crlf(s: &str) -> String {
    s.replace('\n', "\r\n")
}

/// A realistic Anthropic text stream, with pings and multi-byte characters.
pub fn anthropic_text_stream() -> String {
    sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "! Ünïcødé 🎉"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " How can I help?\n"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}
pub const ANTHROPIC_TEXT: &str = "Hello! Ünïcødé 🎉 How can I help?\n";

pub fn anthropic_tool_stream() -> String {
    sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_02", "type": "message", "role": "assistant", "content": [], "model": "claude",
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 400, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

pub fn openai_chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_694_268_190,
           "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}], "usage": null})
}

pub fn openai_stream(chunks: &[Value], usage: bool, done: bool) -> String {
    let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    if usage {
        let u = json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_694_268_190,
                       "model": "gpt-4o-mini", "choices": [],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}});
        s.push_str(&format!("data: {u}\n\n"));
    }
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

pub fn openai_text_chunks() -> Vec<Value> {
    vec![
        openai_chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        openai_chunk(json!({"content": "Hello"}), Value::Null),
        openai_chunk(json!({"content": "! Ünïcødé 🎉"}), Value::Null),
        openai_chunk(json!({"content": " How can I help?\n"}), Value::Null),
        openai_chunk(json!({}), json!("stop")),
    ]
}

pub fn openai_tool_chunks() -> Vec<Value> {
    vec![
        openai_chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_1",
            "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
        openai_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
            Value::Null,
        ),
        openai_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            Value::Null,
        ),
        openai_chunk(json!({}), json!("tool_calls")),
    ]
}

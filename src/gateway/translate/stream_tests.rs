//! Tests of SSE parsing and stream translation (`sse`, `to_openai_stream`, `to_anthropic_stream`).

use serde_json::{Value, json};

use super::*;

use crate::gateway::translate::fixtures::*;

/// Feeds `input` in pieces of `step` bytes, then finishes.
fn run<T>(
    mut t: T,
    input: &str,
    step: usize,
    feed: fn(&mut T, &[u8]) -> Vec<u8>,
    finish: fn(&mut T) -> Vec<u8>,
) -> (Vec<u8>, T) {
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(step.max(1)) {
        out.extend(feed(&mut t, piece));
    }
    out.extend(finish(&mut t));
    (out, t)
}

fn a2o(input: &str, step: usize, include_usage: bool) -> (Vec<u8>, AnthropicToOpenAiStream) {
    let t = AnthropicToOpenAiStream::new("client-model", 1_700_000_000, include_usage);
    run(
        t,
        input,
        step,
        AnthropicToOpenAiStream::feed,
        AnthropicToOpenAiStream::finish,
    )
}

fn o2a(input: &str, step: usize) -> (Vec<u8>, OpenAiToAnthropicStream) {
    let t = OpenAiToAnthropicStream::new("claude-client");
    run(
        t,
        input,
        step,
        OpenAiToAnthropicStream::feed,
        OpenAiToAnthropicStream::finish,
    )
}

/// Output as (event name, data) pairs; data that is not JSON is kept as a string.
fn events(out: &[u8]) -> Vec<(Option<String>, Value)> {
    let mut p = SseParser::new();
    let mut evs = p.feed(out);
    evs.extend(p.finish());
    evs.into_iter()
        .map(|e| {
            let data = serde_json::from_str(&e.data).unwrap_or(Value::String(e.data));
            (e.event, data)
        })
        .collect()
}

fn openai_content(out: &[u8]) -> String {
    events(out)
        .iter()
        .filter_map(|(_, d)| {
            d["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn sse_parser_fields_comments_and_multiline_data() {
    let mut p = SseParser::new();
    let evs = p.feed(
        b": keep-alive\n\nevent: a\nid: 7\nretry: 10\ndata: one\ndata:two\ndata\n\nevent: no-data\n\ndata: {\"x\":1}\n\n",
    );
    assert_eq!(
        evs,
        vec![
            SseEvent {
                event: Some("a".into()),
                data: "one\ntwo\n".into()
            },
            SseEvent {
                event: None,
                data: "{\"x\":1}".into()
            },
        ]
    );
    // An unterminated last event is only dispatched by finish().
    assert!(p.feed(b"data: [DONE]").is_empty());
    assert_eq!(
        p.finish(),
        vec![SseEvent {
            event: None,
            data: "[DONE]".into()
        }]
    );
    assert!(p.finish().is_empty());
}

#[test]
fn sse_parser_any_split_and_crlf_give_the_same_events() {
    let input = anthropic_text_stream();
    let whole = SseParser::new().feed(input.as_bytes());
    assert_eq!(whole.len(), 9);
    assert_eq!(whole[0].event.as_deref(), Some("message_start"));
    for text in [input.clone(), crlf(&input)] {
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut p = SseParser::new();
            let mut evs = p.feed(&bytes[..cut]);
            evs.extend(p.feed(&bytes[cut..]));
            assert_eq!(evs, whole, "split at {cut}");
        }
        let mut p = SseParser::new();
        let bytewise: Vec<SseEvent> = bytes.iter().flat_map(|b| p.feed(&[*b])).collect();
        assert_eq!(bytewise, whole);
    }
}

#[test]
fn anthropic_to_openai_text_stream() {
    let input = anthropic_text_stream();
    let (out, t) = a2o(&input, input.len(), true);
    assert!(t.completed());
    assert_eq!(
        t.usage(),
        Usage {
            input: 30,
            output: 15
        }
    );
    let text = String::from_utf8(out.clone()).expect("utf-8");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(!text.contains("event:"));
    let evs = events(&out);
    assert_eq!(
        evs[0].1,
        json!({"id": "chatcmpl-msg_01", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": "client-model",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})
    );
    assert_eq!(openai_content(&out), ANTHROPIC_TEXT);
    let n = evs.len();
    assert_eq!(evs[n - 3].1["choices"][0]["finish_reason"], "stop");
    assert_eq!(evs[n - 3].1["choices"][0]["delta"], json!({}));
    assert_eq!(evs[n - 2].1["choices"], json!([]));
    assert_eq!(
        evs[n - 2].1["usage"],
        json!({"prompt_tokens": 30, "completion_tokens": 15, "total_tokens": 45})
    );
    assert_eq!(evs[n - 1].1, json!("[DONE]"));
    // Byte by byte, odd pieces, and \r\n line endings: the same bytes out.
    for step in [1, 7] {
        assert_eq!(a2o(&input, step, true).0, out);
        assert_eq!(a2o(&crlf(&input), step, true).0, out);
    }
}

#[test]
fn anthropic_to_openai_without_usage_chunk() {
    let (out, t) = a2o(&anthropic_text_stream(), 3, false);
    assert!(t.completed());
    assert_eq!(
        t.usage(),
        Usage {
            input: 30,
            output: 15
        }
    );
    assert!(events(&out).iter().all(|(_, d)| d.get("usage").is_none()));
    assert_eq!(openai_content(&out), ANTHROPIC_TEXT);
}

#[test]
fn anthropic_to_openai_tool_stream() {
    let input = anthropic_tool_stream();
    let (out, t) = a2o(&input, 1, true);
    assert_eq!(out, a2o(&input, input.len(), true).0);
    assert_eq!(
        t.usage(),
        Usage {
            input: 400,
            output: 89
        }
    );
    let evs = events(&out);
    let calls: Vec<&Value> = evs
        .iter()
        .filter_map(|(_, d)| d["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(
        calls[0],
        &json!([{"index": 0, "id": "toolu_01", "type": "function",
                 "function": {"name": "get_weather", "arguments": ""}}])
    );
    let args: String = calls
        .iter()
        .map(|c| c[0]["function"]["arguments"].as_str().expect("a string"))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("arguments are JSON"),
        json!({"city": "Paris"})
    );
    assert!(
        calls[1..]
            .iter()
            .all(|c| c[0].get("id").is_none() && c[0]["index"] == 0)
    );
    assert_eq!(openai_content(&out), "Checking.");
    let finish: Vec<&Value> = evs
        .iter()
        .map(|(_, d)| &d["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec!["tool_calls"]);
}

#[test]
fn anthropic_to_openai_cut_stream_ends_with_an_error() {
    let input = anthropic_text_stream();
    let cut = input.find(" How can I help").expect("in fixture") + 5; // inside the third delta
    let mut t = AnthropicToOpenAiStream::new("m", 1, true);
    let out = t.feed(&input.as_bytes()[..cut]);
    assert_eq!(openai_content(&out), "Hello! Ünïcødé 🎉");
    let tail = t.finish();
    assert!(!t.completed());
    let evs = events(&tail);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].1["error"]["type"], "api_error");
    assert!(
        evs[0].1["error"]["message"]
            .as_str()
            .expect("a string")
            .contains("ended before")
    );
    assert!(!String::from_utf8(tail).expect("utf-8").contains("[DONE]"));
    assert!(t.finish().is_empty());
    assert!(t.feed(input.as_bytes()).is_empty());
    assert_eq!(
        t.usage(),
        Usage {
            input: 30,
            output: 1
        }
    );
}

#[test]
fn anthropic_to_openai_error_event() {
    let input = sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_9", "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ),
        (
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
    ]);
    let mut t = AnthropicToOpenAiStream::new("m", 1, true);
    let out = t.feed(input.as_bytes());
    let evs = events(&out);
    assert_eq!(evs.len(), 2);
    assert_eq!(
        evs[1].1,
        json!({"error": {"message": "Overloaded", "type": "overloaded_error", "param": null, "code": null}})
    );
    assert!(t.finish().is_empty());
    assert!(!t.completed());
}

#[test]
fn openai_to_anthropic_text_stream() {
    let input = openai_stream(&openai_text_chunks(), true, true);
    let (out, t) = o2a(&input, input.len());
    assert!(t.completed());
    assert_eq!(
        t.usage(),
        Usage {
            input: 9,
            output: 12
        }
    );
    let evs = events(&out);
    let names: Vec<&str> = evs
        .iter()
        .map(|(n, _)| n.as_deref().expect("named event"))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(
        evs.iter()
            .all(|(n, d)| d["type"] == n.as_deref().expect("named event"))
    );
    assert_eq!(
        evs[0].1,
        json!({"type": "message_start", "message": {"id": "msg_123", "type": "message", "role": "assistant",
               "model": "claude-client", "content": [], "stop_reason": null, "stop_sequence": null,
               "usage": {"input_tokens": 0, "output_tokens": 0}}})
    );
    assert_eq!(
        evs[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    let text: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, ANTHROPIC_TEXT);
    assert_eq!(
        evs[6].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"input_tokens": 9, "output_tokens": 12}})
    );
    for step in [1, 5] {
        assert_eq!(o2a(&input, step).0, out);
        assert_eq!(o2a(&crlf(&input), step).0, out);
    }
}

#[test]
fn openai_to_anthropic_tool_stream() {
    let input = openai_stream(&openai_tool_chunks(), false, true);
    let (out, t) = o2a(&input, 1);
    assert!(t.completed());
    let evs = events(&out);
    assert_eq!(
        evs[1].1,
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}})
    );
    let json_text: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).expect("input is JSON"),
        json!({"city": "Paris"})
    );
    let delta = evs
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .expect("message_delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        evs.last().expect("an event").1,
        json!({"type": "message_stop"})
    );
}

#[test]
fn openai_to_anthropic_cut_streams() {
    // Cut before any finish_reason: an Anthropic error event, not message_stop.
    let input = openai_stream(&openai_text_chunks()[..3], false, false);
    let (out, t) = o2a(&input[..input.len() - 1], 1);
    assert!(!t.completed());
    let evs = events(&out);
    let (name, data) = evs.last().expect("an event");
    assert_eq!(name.as_deref(), Some("error"));
    assert_eq!(data["error"]["type"], "api_error");
    assert!(
        !evs.iter()
            .any(|(n, _)| n.as_deref() == Some("message_stop"))
    );
    // finish_reason (and usage) seen but no [DONE]: ended normally.
    let input = openai_stream(&openai_text_chunks(), true, false);
    let (out, t) = o2a(&input, 4);
    assert!(t.completed());
    assert_eq!(
        t.usage(),
        Usage {
            input: 9,
            output: 12
        }
    );
    assert_eq!(
        events(&out).last().expect("an event").1,
        json!({"type": "message_stop"})
    );
}

#[test]
fn openai_to_anthropic_error_chunk() {
    let input = "data: {\"error\": {\"message\": \"Rate limit reached\", \"type\": \"requests\", \"code\": \"rate_limit_exceeded\"}}\n\n";
    let (out, t) = o2a(input, 1);
    assert!(!t.completed());
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "event: error\ndata: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n"
    );
}

#[test]
fn streams_round_trip() {
    let (openai, a) = a2o(&anthropic_text_stream(), 1, true);
    let (back, b) = o2a(std::str::from_utf8(&openai).expect("utf-8"), 1);
    assert_eq!(a.usage(), b.usage());
    assert!(b.completed());
    let text: String = events(&back)
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, ANTHROPIC_TEXT);
}

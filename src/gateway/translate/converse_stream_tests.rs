use serde_json::{Value, json};

use super::*;
use crate::gateway::cloud::eventstream::{event_frame, exception_frame};

fn upstream() -> Vec<u8> {
    let mut bytes = event_frame("messageStart", &json!({"role": "assistant"}));
    bytes.extend(event_frame(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": "ab"}),
    ));
    bytes.extend(event_frame(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": " world"}}),
    ));
    bytes.extend(event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0}),
    ));
    bytes.extend(event_frame(
        "messageStop",
        &json!({"stopReason": "end_turn"}),
    ));
    bytes.extend(event_frame("metadata", &json!({"usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11}, "metrics": {"latencyMs": 5}})));
    bytes
}

/// The `data:` payloads of an SSE body.
fn datas(sse: &[u8]) -> Vec<String> {
    let text = String::from_utf8(sse.to_vec()).expect("utf-8");
    assert!(text.ends_with("\n\n"), "whole events");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data lines").to_owned())
        .collect()
}

fn json_of(data: &str) -> Value {
    serde_json::from_str(data).expect("json")
}

#[test]
fn a_converse_stream_becomes_openai_chunks_with_usage_and_done() {
    let mut t = ConverseToOpenAiStream::new("bedrock/m", 7, true);
    let mut out = t.feed(&upstream());
    out.extend(t.finish());
    let datas = datas(&out);
    assert_eq!(datas.len(), 6, "{datas:?}");
    let first = json_of(&datas[0]);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["model"], "bedrock/m");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        json_of(&datas[1])["choices"][0]["delta"]["content"],
        "Hello"
    );
    assert_eq!(
        json_of(&datas[2])["choices"][0]["delta"]["content"],
        " world"
    );
    assert_eq!(json_of(&datas[3])["choices"][0]["finish_reason"], "stop");
    let usage = json_of(&datas[4]);
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11})
    );
    assert_eq!(datas[5], "[DONE]");
    assert!(t.completed());
    assert_eq!(
        t.usage(),
        Usage {
            input: 9,
            output: 2
        }
    );
    let ids: Vec<Value> = datas[..5]
        .iter()
        .map(|d| json_of(d)["id"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one id for the whole stream"
    );
}

#[test]
fn chunks_split_anywhere_give_the_same_stream() {
    let bytes = upstream();
    for split in (1..bytes.len()).step_by(7) {
        let mut t = ConverseToOpenAiStream::new("m", 7, false);
        let mut out = t.feed(&bytes[..split]);
        out.extend(t.feed(&bytes[split..]));
        out.extend(t.finish());
        let datas = datas(&out);
        assert_eq!(datas.len(), 5, "split at {split}: {datas:?}");
        assert_eq!(datas[4], "[DONE]");
    }
}

#[test]
fn an_exception_mid_stream_is_an_openai_error_without_done() {
    let mut bytes = event_frame("messageStart", &json!({"role": "assistant"}));
    bytes.extend(event_frame(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    ));
    bytes.extend(exception_frame(
        "modelStreamErrorException",
        "The model stopped.",
    ));
    let mut t = ConverseToOpenAiStream::new("m", 7, true);
    let mut out = t.feed(&bytes);
    out.extend(t.finish());
    let datas = datas(&out);
    let last = json_of(datas.last().expect("events"));
    assert_eq!(last["error"]["message"], "The model stopped.");
    assert_eq!(last["error"]["type"], "modelStreamErrorException");
    assert!(!datas.iter().any(|d| d == "[DONE]"));
    assert!(!t.completed());
}

#[test]
fn a_cut_stream_ends_with_an_error_not_done() {
    let bytes = upstream();
    let mut t = ConverseToOpenAiStream::new("m", 7, true);
    let mut out = t.feed(&bytes[..bytes.len() / 2]);
    out.extend(t.finish());
    let datas = datas(&out);
    assert!(json_of(datas.last().expect("events"))["error"]["message"].is_string());
    assert!(!datas.iter().any(|d| d == "[DONE]"));
    assert!(!t.completed());
}

#[test]
fn a_stop_without_metadata_still_ends_the_stream() {
    let mut bytes = event_frame("messageStart", &json!({"role": "assistant"}));
    bytes.extend(event_frame(
        "messageStop",
        &json!({"stopReason": "max_tokens"}),
    ));
    let mut t = ConverseToOpenAiStream::new("m", 7, false);
    let mut out = t.feed(&bytes);
    out.extend(t.finish());
    let datas = datas(&out);
    assert_eq!(json_of(&datas[1])["choices"][0]["finish_reason"], "length");
    assert_eq!(datas.last().map(String::as_str), Some("[DONE]"));
    assert!(t.completed());
}

//! OpenAI chunk stream → Anthropic event stream.

use serde_json::{Value, json};

use super::openai_chunks::TRUNCATED;
use super::sse::{SseEvent, SseParser};
use super::{Usage, int, stop_reason_from_openai, str_of};

fn anthropic_frame(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(str_of(v, "type").unwrap_or("error").as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The content block currently open in an [`OpenAiToAnthropicStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text(i64),
    Tool(i64),
}

/// OpenAI chunk SSE stream → Anthropic SSE event stream (framed
/// `event: <name>\ndata: <json>\n\n`).
///
/// Emits `message_start` on the first chunk (input tokens are unknown then: 0),
/// `content_block_start` / `content_block_delta` / `content_block_stop` for text
/// (`text_delta`) and tool calls (`tool_use` + `input_json_delta`), and at `[DONE]`
/// `message_delta` (`stop_reason`, and usage from the usage chunk when present) and
/// `message_stop`. An upstream error chunk becomes an Anthropic `error` event.
#[derive(Debug)]
pub struct OpenAiToAnthropicStream {
    parser: SseParser,
    model: String,
    usage: Usage,
    open: Open,
    next_block: i64,
    /// `(OpenAI tool index, Anthropic block index)` of each tool call seen.
    tools: Vec<(i64, i64)>,
    stop_reason: Option<&'static str>,
    started: bool,
    completed: bool,
    ended: bool,
}

impl OpenAiToAnthropicStream {
    /// A translator whose `message_start` names `model` (what the client asked for).
    pub fn new(model: &str) -> Self {
        Self {
            parser: SseParser::new(),
            model: model.to_owned(),
            usage: Usage::default(),
            open: Open::None,
            next_block: 0,
            tools: Vec::new(),
            stop_reason: None,
            started: false,
            completed: false,
            ended: false,
        }
    }

    /// Feeds upstream bytes; returns the bytes to send to the client.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in self.parser.feed(chunk) {
            self.event(&ev, &mut out);
        }
        out
    }

    /// What to send at upstream EOF. An upstream that sent a `finish_reason` but no
    /// `[DONE]` is ended normally (`message_delta`, `message_stop`); one cut before any
    /// `finish_reason` gets an Anthropic `error` event, so that it is not mistaken for a
    /// complete answer.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in self.parser.finish() {
            self.event(&ev, &mut out);
        }
        if !self.ended {
            if self.stop_reason.is_some() {
                self.done(&mut out);
            } else {
                self.ended = true;
                anthropic_frame(
                    &mut out,
                    &json!({"type": "error", "error": {"type": "api_error", "message": TRUNCATED}}),
                );
            }
        }
        out
    }

    /// Usage seen so far (final once [`completed`](Self::completed)).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether the response ended normally (`[DONE]`, or a `finish_reason` before EOF).
    pub fn completed(&self) -> bool {
        self.completed
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = id.unwrap_or("unknown");
        let message = json!({
            "id": format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id)),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": self.usage.input, "output_tokens": 0},
        });
        anthropic_frame(out, &json!({"type": "message_start", "message": message}));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Open::Text(index) | Open::Tool(index) = self.open {
            anthropic_frame(out, &json!({"type": "content_block_stop", "index": index}));
        }
        self.open = Open::None;
    }

    fn open_block(&mut self, block: Value, out: &mut Vec<u8>) -> i64 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        anthropic_frame(
            out,
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    fn delta(out: &mut Vec<u8>, index: i64, delta: Value) {
        anthropic_frame(
            out,
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        self.start(None, out);
        self.close(out);
        let stop_reason = match self.stop_reason {
            Some("end_turn") | None if !self.tools.is_empty() => "tool_use",
            Some(reason) => reason,
            None => "end_turn",
        };
        anthropic_frame(
            out,
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"input_tokens": self.usage.input, "output_tokens": self.usage.output},
            }),
        );
        anthropic_frame(out, &json!({"type": "message_stop"}));
        self.completed = true;
        self.ended = true;
    }

    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if ev.data.trim() == "[DONE]" {
            self.done(out);
            return;
        }
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        if let Some(err) = data.get("error").filter(|e| !e.is_null()) {
            let kind = match str_of(err, "type") {
                Some("invalid_request_error") => "invalid_request_error",
                _ => "api_error",
            };
            let message = str_of(err, "message").unwrap_or("upstream error");
            anthropic_frame(
                out,
                &json!({"type": "error", "error": {"type": kind, "message": message}}),
            );
            self.ended = true;
            return;
        }
        if let Some(u) = data.get("usage").and_then(Usage::from_openai_usage) {
            self.usage = u;
        }
        self.start(str_of(&data, "id"), out);
        let Some(choice) = data.get("choices").and_then(|c| c.get(0)) else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = str_of(delta, "content").filter(|t| !t.is_empty()) {
            let index = match self.open {
                Open::Text(index) => index,
                _ => self.open_block(json!({"type": "text", "text": ""}), out),
            };
            self.open = Open::Text(index);
            Self::delta(out, index, json!({"type": "text_delta", "text": text}));
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tool_index = int(call, "index").unwrap_or(0);
            let function = call.get("function").unwrap_or(&Value::Null);
            let known = self.tools.iter().find(|(t, _)| *t == tool_index);
            let index = match known {
                Some(&(_, index)) => index,
                None => {
                    let id = str_of(call, "id")
                        .map_or_else(|| format!("toolu_{tool_index}"), str::to_owned);
                    let block = json!({
                        "type": "tool_use",
                        "id": id,
                        "name": str_of(function, "name").unwrap_or(""),
                        "input": {},
                    });
                    let index = self.open_block(block, out);
                    self.tools.push((tool_index, index));
                    self.open = Open::Tool(index);
                    index
                }
            };
            if let Some(args) = str_of(function, "arguments").filter(|a| !a.is_empty()) {
                let delta = json!({"type": "input_json_delta", "partial_json": args});
                Self::delta(out, index, delta);
            }
        }
        if let Some(reason) = str_of(choice, "finish_reason") {
            self.stop_reason = Some(stop_reason_from_openai(reason));
        }
    }
}

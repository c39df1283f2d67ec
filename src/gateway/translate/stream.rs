//! Server-sent-event streams: an incremental parser, translators between the OpenAI
//! and Anthropic streaming formats (pass-through streams are in the sibling `pass`).

use serde_json::{Value, json};

use super::{Usage, finish_reason_from_anthropic, int, stop_reason_from_openai, str_of};

/// Sent to the client when the upstream stream ends before the response was complete.
const TRUNCATED: &str = "upstream stream ended before the response was complete";

/// One complete server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed arbitrary byte chunks (events may be split across
/// chunks, lines end in `\n` or `\r\n`), get complete events. Comments and `id:` /
/// `retry:` fields are ignored; an event without `data:` is dropped, as the SSE spec says.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no `\n` (so byte-by-byte feeding stays linear).
    scanned: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of the stream and returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let buf = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        let mut start = 0;
        let mut pos = self.scanned;
        while let Some(off) = memchr::memchr(b'\n', &buf[pos..]) {
            let end = pos + off;
            let line = &buf[start..end];
            self.line(line.strip_suffix(b"\r").unwrap_or(line), &mut out);
            start = end + 1;
            pos = start;
        }
        self.buf = buf;
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        out
    }

    /// Ends the stream: a last line or event that was not terminated is dispatched
    /// anyway (some upstreams omit the final blank line).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        if !rest.is_empty() {
            self.line(rest.strip_suffix(b"\r").unwrap_or(&rest), &mut out);
        }
        self.line(b"", &mut out);
        out
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            let event = self.event.take();
            if std::mem::take(&mut self.has_data) {
                let data = std::mem::take(&mut self.data);
                out.push(SseEvent { event, data });
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

fn openai_frame(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn anthropic_frame(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(str_of(v, "type").unwrap_or("error").as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The event's type: the `type` of its JSON data, else its `event:` name.
fn event_type<'a>(ev: &'a SseEvent, data: &'a Value) -> &'a str {
    str_of(data, "type").or(ev.event.as_deref()).unwrap_or("")
}

/// Anthropic SSE stream → OpenAI `chat.completion.chunk` SSE stream. Stateful: feed
/// upstream bytes, get bytes to send to the client (framed `data: <json>\n\n`).
///
/// `message_start` gives a first chunk with `delta {role, content: ""}`; text deltas
/// become `delta.content`; `tool_use` blocks become `delta.tool_calls`; `message_delta`
/// gives the chunk with `finish_reason`; `message_stop` gives (if `include_usage`) a
/// usage chunk with `"choices": []`, then `data: [DONE]`. An upstream `error` event
/// becomes `data: {"error": {...}}` and ends the stream (no `[DONE]`), which the OpenAI
/// SDKs raise as an error.
#[derive(Debug)]
pub struct AnthropicToOpenAiStream {
    parser: SseParser,
    model: String,
    created: i64,
    include_usage: bool,
    id: String,
    usage: Usage,
    /// Anthropic block index of each tool call; the position is the OpenAI tool index.
    tools: Vec<i64>,
    started: bool,
    completed: bool,
    /// The client stream has been ended ([DONE] or an error line).
    ended: bool,
}

impl AnthropicToOpenAiStream {
    /// A translator whose chunks name `model` (what the client asked for) and `created`.
    pub fn new(model: &str, created: i64, include_usage: bool) -> Self {
        Self {
            parser: SseParser::new(),
            model: model.to_owned(),
            created,
            include_usage,
            id: "chatcmpl-unknown".to_owned(),
            usage: Usage::default(),
            tools: Vec::new(),
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

    /// What to send at upstream EOF. If the upstream ended without `message_stop` (or
    /// an error), the client gets an OpenAI error line and no `[DONE]`, so that a cut
    /// stream is never mistaken for a complete answer.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in self.parser.finish() {
            self.event(&ev, &mut out);
        }
        if !self.ended {
            self.ended = true;
            openai_frame(
                &mut out,
                &json!({"error": {
                    "message": TRUNCATED, "type": "api_error", "param": null, "code": null,
                }}),
            );
        }
        out
    }

    /// Usage seen so far (final once [`completed`](Self::completed)).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether the upstream sent `message_stop`.
    pub fn completed(&self) -> bool {
        self.completed
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish_reason: Value) {
        openai_frame(
            out,
            &json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{
                    "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason,
                }],
            }),
        );
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.chunk(
                out,
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            );
        }
    }

    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        match event_type(ev, &data) {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                if let Some(id) = str_of(message, "id") {
                    self.id = format!("chatcmpl-{id}");
                }
                if let Some(u) = message.get("usage") {
                    self.usage.update_from_anthropic(u);
                }
                self.start(out);
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                self.start(out);
                match str_of(block, "type") {
                    Some("text") => {
                        if let Some(text) = str_of(block, "text").filter(|t| !t.is_empty()) {
                            self.chunk(out, json!({"content": text}), Value::Null);
                        }
                    }
                    Some("tool_use") => {
                        let index = self.tools.len();
                        self.tools.push(int(&data, "index").unwrap_or(-1));
                        let call = json!({
                            "index": index,
                            "id": str_of(block, "id").unwrap_or(""),
                            "type": "function",
                            "function": {
                                "name": str_of(block, "name").unwrap_or(""),
                                "arguments": "",
                            },
                        });
                        self.chunk(out, json!({"tool_calls": [call]}), Value::Null);
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                self.start(out);
                match str_of(delta, "type") {
                    Some("text_delta") => {
                        let text = str_of(delta, "text").unwrap_or("");
                        if !text.is_empty() {
                            self.chunk(out, json!({"content": text}), Value::Null);
                        }
                    }
                    Some("input_json_delta") => {
                        let block = int(&data, "index").unwrap_or(-1);
                        let partial = str_of(delta, "partial_json").unwrap_or("");
                        if let Some(index) = self.tools.iter().position(|&b| b == block)
                            && !partial.is_empty()
                        {
                            let call = json!({"index": index, "function": {"arguments": partial}});
                            self.chunk(out, json!({"tool_calls": [call]}), Value::Null);
                        }
                    }
                    _ => {} // thinking, signatures, citations: nothing in OpenAI's format
                }
            }
            "message_delta" => {
                if let Some(u) = data.get("usage") {
                    self.usage.update_from_anthropic(u);
                }
                let reason = data.get("delta").and_then(|d| str_of(d, "stop_reason"));
                if let Some(reason) = reason {
                    self.start(out);
                    let finish = finish_reason_from_anthropic(reason);
                    self.chunk(out, json!({}), finish.into());
                }
            }
            "message_stop" => {
                self.start(out);
                if self.include_usage {
                    openai_frame(
                        out,
                        &json!({
                            "id": self.id,
                            "object": "chat.completion.chunk",
                            "created": self.created,
                            "model": self.model,
                            "choices": [],
                            "usage": self.usage.openai_json(),
                        }),
                    );
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.completed = true;
                self.ended = true;
            }
            "error" => {
                let err = data.get("error").unwrap_or(&Value::Null);
                let error = json!({
                    "message": str_of(err, "message").unwrap_or("upstream error"),
                    "type": str_of(err, "type").unwrap_or("api_error"),
                    "param": null,
                    "code": null,
                });
                openai_frame(out, &json!({ "error": error }));
                self.ended = true;
            }
            _ => {} // ping, content_block_stop, unknown events
        }
    }
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

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;

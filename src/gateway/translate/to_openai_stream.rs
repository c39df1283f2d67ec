//! Anthropic event stream → OpenAI `chat.completion.chunk` stream.

use serde_json::{Value, json};

use super::openai_chunks::OpenAiChunks;
use super::sse::{SseEvent, SseParser};
use super::{Usage, finish_reason_from_anthropic, int, str_of};

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
    /// What the client gets.
    client: OpenAiChunks,
    usage: Usage,
    /// Anthropic block index of each tool call; the position is the OpenAI tool index.
    tools: Vec<i64>,
}

impl AnthropicToOpenAiStream {
    /// A translator whose chunks name `model` (what the client asked for) and `created`.
    pub fn new(model: &str, created: i64, include_usage: bool) -> Self {
        Self {
            parser: SseParser::new(),
            client: OpenAiChunks::new("chatcmpl-unknown".to_owned(), model, created, include_usage),
            usage: Usage::default(),
            tools: Vec::new(),
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
        self.client.cut(&mut out);
        out
    }

    /// Usage seen so far (final once [`completed`](Self::completed)).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether the upstream sent `message_stop`.
    pub fn completed(&self) -> bool {
        self.client.completed()
    }

    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        if self.client.ended() {
            return;
        }
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        match event_type(ev, &data) {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                if let Some(id) = str_of(message, "id") {
                    self.client.id = format!("chatcmpl-{id}");
                }
                if let Some(u) = message.get("usage") {
                    self.usage.update_from_anthropic(u);
                }
                self.client.start(out);
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                self.client.start(out);
                match str_of(block, "type") {
                    Some("text") => {
                        if let Some(text) = str_of(block, "text").filter(|t| !t.is_empty()) {
                            self.client
                                .chunk(out, json!({"content": text}), Value::Null);
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
                        self.client
                            .chunk(out, json!({"tool_calls": [call]}), Value::Null);
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                self.client.start(out);
                match str_of(delta, "type") {
                    Some("text_delta") => {
                        let text = str_of(delta, "text").unwrap_or("");
                        if !text.is_empty() {
                            self.client
                                .chunk(out, json!({"content": text}), Value::Null);
                        }
                    }
                    Some("input_json_delta") => {
                        let block = int(&data, "index").unwrap_or(-1);
                        let partial = str_of(delta, "partial_json").unwrap_or("");
                        if let Some(index) = self.tools.iter().position(|&b| b == block)
                            && !partial.is_empty()
                        {
                            let call = json!({"index": index, "function": {"arguments": partial}});
                            self.client
                                .chunk(out, json!({"tool_calls": [call]}), Value::Null);
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
                    self.client.start(out);
                    let finish = finish_reason_from_anthropic(reason);
                    self.client.chunk(out, json!({}), finish.into());
                }
            }
            "message_stop" => {
                self.client.start(out);
                self.client.done(out, self.usage);
            }
            "error" => {
                let err = data.get("error").unwrap_or(&Value::Null);
                let message = str_of(err, "message").unwrap_or("upstream error");
                let kind = str_of(err, "type").unwrap_or("api_error");
                self.client.error(out, message, kind);
            }
            _ => {} // ping, content_block_stop, unknown events
        }
    }
}

//! Bedrock ConverseStream (AWS event-stream frames) → OpenAI `chat.completion.chunk` SSE.
//!
//! `messageStart` gives the first chunk (`delta {role, content: ""}`), `contentBlockDelta`
//! text gives `delta.content`, `messageStop` the chunk with `finish_reason`, and `metadata`
//! (which Bedrock sends last, with the usage) the usage chunk when asked for and then
//! `data: [DONE]`. An exception frame or broken framing becomes an OpenAI error line and
//! ends the stream without `[DONE]`, so a cut answer is never taken for a whole one.

use serde_json::{Value, json};

use super::converse::{completion_id, finish_reason_from_converse, usage_from_converse};
use super::{Usage, str_of};
use crate::gateway::cloud::eventstream::{Event, EventStreamDecoder, EventStreamError};

/// Sent to the client when the upstream stream ends before its last event.
const TRUNCATED: &str = "The upstream stream ended before the answer was complete.";

/// Event-stream bytes in, OpenAI SSE bytes out; same shape as the other stream translators.
#[derive(Debug)]
pub struct ConverseToOpenAiStream {
    decoder: EventStreamDecoder,
    model: String,
    created: i64,
    include_usage: bool,
    id: String,
    usage: Usage,
    started: bool,
    /// `messageStop` was seen (the answer is whole; `metadata` may still come).
    stopped: bool,
    completed: bool,
    /// The client stream has been ended ([DONE] or an error line).
    ended: bool,
}

fn frame(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

impl ConverseToOpenAiStream {
    /// A translator whose chunks name `model` (what the client asked for) and `created`.
    pub fn new(model: &str, created: i64, include_usage: bool) -> Self {
        Self {
            decoder: EventStreamDecoder::new(),
            model: model.to_owned(),
            created,
            include_usage,
            id: completion_id(),
            usage: Usage::default(),
            started: false,
            stopped: false,
            completed: false,
            ended: false,
        }
    }

    /// Feeds upstream bytes; returns the bytes to send to the client.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.decoder.feed(chunk) {
            match event {
                Ok(event) => self.event(&event, &mut out),
                Err(e) => self.error(&e, &mut out),
            }
        }
        out
    }

    /// What to send at upstream EOF: the end if `messageStop` came without `metadata`,
    /// else an error line if the answer is not whole.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = self.decoder.finish() {
            self.error(&e, &mut out);
        }
        if self.stopped && !self.ended {
            self.end(&mut out);
        }
        if !self.ended {
            self.ended = true;
            frame(
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

    /// Whether the upstream sent the whole answer (`messageStop`, then `metadata` or EOF)
    /// and the client got `[DONE]`.
    pub fn completed(&self) -> bool {
        self.completed
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish_reason: Value) {
        frame(
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

    /// The usage chunk (when asked for) and `[DONE]`.
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.include_usage {
            frame(
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

    fn error(&mut self, e: &EventStreamError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let (message, kind) = match e {
            EventStreamError::Exception { kind, message } => (message.clone(), kind.as_str()),
            other => (other.to_string(), "api_error"),
        };
        frame(
            out,
            &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
        );
        self.ended = true;
    }

    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let data = &event.payload;
        match event.event_type.as_str() {
            "messageStart" => self.start(out),
            "contentBlockDelta" => {
                self.start(out);
                let delta = data.get("delta").unwrap_or(&Value::Null);
                if let Some(text) = str_of(delta, "text").filter(|t| !t.is_empty()) {
                    self.chunk(out, json!({"content": text}), Value::Null);
                }
                // toolUse and reasoning deltas have no place here (tools are refused).
            }
            "messageStop" => {
                self.start(out);
                let finish = str_of(data, "stopReason").map_or("stop", finish_reason_from_converse);
                self.chunk(out, json!({}), finish.into());
                self.stopped = true;
            }
            "metadata" => {
                if let Some(usage) = data.get("usage").and_then(usage_from_converse) {
                    self.usage = usage;
                }
                if self.stopped {
                    self.end(out);
                }
            }
            _ => {} // contentBlockStart, contentBlockStop, unknown events
        }
    }
}

#[cfg(test)]
#[path = "converse_stream_tests.rs"]
mod tests;

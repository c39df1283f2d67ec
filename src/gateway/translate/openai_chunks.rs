//! The OpenAI side of a translated stream: its chunks and how it ends (`[DONE]`, an error
//! line, or the error line for a cut stream), shared by every translator into OpenAI's format.

use serde_json::{Value, json};

use super::Usage;

/// Sent to the client when the upstream stream ends before the response was complete.
pub(super) const TRUNCATED: &str = "upstream stream ended before the response was complete";

/// Writes `data: <json>\n\n`.
fn frame(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The client's `chat.completion.chunk` stream: what its chunks are named and whether it
/// has started, completed (`[DONE]` sent) or ended (`[DONE]` or an error line sent).
#[derive(Debug)]
pub(super) struct OpenAiChunks {
    model: String,
    created: i64,
    include_usage: bool,
    /// The chunks' `id`.
    pub(super) id: String,
    started: bool,
    completed: bool,
    ended: bool,
}

impl OpenAiChunks {
    /// Chunks named `id` and `model` (what the client asked for), made at `created`.
    pub(super) fn new(id: String, model: &str, created: i64, include_usage: bool) -> Self {
        Self {
            model: model.to_owned(),
            created,
            include_usage,
            id,
            started: false,
            completed: false,
            ended: false,
        }
    }

    /// Whether `[DONE]` was sent.
    pub(super) fn completed(&self) -> bool {
        self.completed
    }

    /// Whether the client stream has been ended (nothing more is written).
    pub(super) fn ended(&self) -> bool {
        self.ended
    }

    /// One chunk with one choice.
    pub(super) fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish_reason: Value) {
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

    /// The first chunk (`delta {role, content: ""}`), once.
    pub(super) fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.chunk(
                out,
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            );
        }
    }

    /// The normal end: the usage chunk (when asked for), then `[DONE]`.
    pub(super) fn done(&mut self, out: &mut Vec<u8>, usage: Usage) {
        if self.include_usage {
            frame(
                out,
                &json!({
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage.openai_json(),
                }),
            );
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.completed = true;
        self.ended = true;
    }

    /// Ends the stream with an error line (no `[DONE]`), which the OpenAI SDKs raise.
    pub(super) fn error(&mut self, out: &mut Vec<u8>, message: &str, kind: &str) {
        if self.ended {
            return;
        }
        frame(
            out,
            &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
        );
        self.ended = true;
    }

    /// At upstream EOF: a stream not yet ended was cut, and says so, so that it is never
    /// mistaken for a complete answer.
    pub(super) fn cut(&mut self, out: &mut Vec<u8>) {
        self.error(out, TRUNCATED, "api_error");
    }
}

//! Bedrock ConverseStream (AWS event-stream frames) → OpenAI `chat.completion.chunk` SSE.
//!
//! `messageStart` gives the first chunk (`delta {role, content: ""}`), `contentBlockDelta`
//! text gives `delta.content`, `messageStop` the chunk with `finish_reason`, and `metadata`
//! (which Bedrock sends last, with the usage) the usage chunk when asked for and then
//! `data: [DONE]`. An exception frame or broken framing becomes an OpenAI error line and
//! ends the stream without `[DONE]`, so a cut answer is never taken for a whole one.

use serde_json::{Value, json};

use super::converse::{completion_id, finish_reason_from_converse, usage_from_converse};
use super::openai_chunks::OpenAiChunks;
use super::{Usage, str_of};
use crate::gateway::cloud::eventstream::{Event, EventStreamDecoder, EventStreamError};

/// Event-stream bytes in, OpenAI SSE bytes out; same shape as the other stream translators.
#[derive(Debug)]
pub struct ConverseToOpenAiStream {
    decoder: EventStreamDecoder,
    /// What the client gets.
    client: OpenAiChunks,
    usage: Usage,
    /// `messageStop` was seen (the answer is whole; `metadata` may still come).
    stopped: bool,
}

impl ConverseToOpenAiStream {
    /// A translator whose chunks name `model` (what the client asked for) and `created`.
    pub fn new(model: &str, created: i64, include_usage: bool) -> Self {
        Self {
            decoder: EventStreamDecoder::new(),
            client: OpenAiChunks::new(completion_id(), model, created, include_usage),
            usage: Usage::default(),
            stopped: false,
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
        if self.stopped && !self.client.ended() {
            self.client.done(&mut out, self.usage);
        }
        self.client.cut(&mut out);
        out
    }

    /// Usage seen so far (final once [`completed`](Self::completed)).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether the upstream sent the whole answer (`messageStop`, then `metadata` or EOF)
    /// and the client got `[DONE]`.
    pub fn completed(&self) -> bool {
        self.client.completed()
    }

    fn error(&mut self, e: &EventStreamError, out: &mut Vec<u8>) {
        match e {
            EventStreamError::Exception { kind, message } => self.client.error(out, message, kind),
            other => self.client.error(out, &other.to_string(), "api_error"),
        }
    }

    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        if self.client.ended() {
            return;
        }
        let data = &event.payload;
        match event.event_type.as_str() {
            "messageStart" => self.client.start(out),
            "contentBlockDelta" => {
                self.client.start(out);
                let delta = data.get("delta").unwrap_or(&Value::Null);
                if let Some(text) = str_of(delta, "text").filter(|t| !t.is_empty()) {
                    self.client
                        .chunk(out, json!({"content": text}), Value::Null);
                }
                // toolUse and reasoning deltas have no place here (tools are refused).
            }
            "messageStop" => {
                self.client.start(out);
                let finish = str_of(data, "stopReason").map_or("stop", finish_reason_from_converse);
                self.client.chunk(out, json!({}), finish.into());
                self.stopped = true;
            }
            "metadata" => {
                if let Some(usage) = data.get("usage").and_then(usage_from_converse) {
                    self.usage = usage;
                }
                if self.stopped {
                    self.client.done(out, self.usage);
                }
            }
            _ => {} // contentBlockStart, contentBlockStop, unknown events
        }
    }
}

#[cfg(test)]
#[path = "converse_stream_tests.rs"]
mod tests;

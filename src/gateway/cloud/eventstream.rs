//! An incremental decoder of AWS event-stream frames (`application/vnd.amazon.eventstream`,
//! Bedrock's ConverseStream) over byte chunks that may split a frame anywhere. Framing and
//! CRCs are `aws-smithy-eventstream`'s; this module only buffers and reads the headers.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use serde_json::Value;

/// The largest amount of undecoded bytes held (a frame is at most 16 MiB).
const MAX_PENDING: usize = 17 * 1024 * 1024;

/// One event: its `:event-type` header and its JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `messageStart`, `contentBlockDelta`, `metadata`, ...
    pub event_type: String,
    /// The payload, parsed (`Null` when empty).
    pub payload: Value,
}

/// Why the stream cannot go on. Messages come from AWS or describe framing; never secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    /// A frame with `:message-type` `exception` (e.g. `throttlingException`) or `error`.
    #[error("{kind}: {message}")]
    Exception { kind: String, message: String },
    /// Bytes that are not event-stream frames (bad CRC, bad lengths, bad JSON, ...).
    #[error("malformed event stream: {0}")]
    Malformed(String),
    /// The stream ended inside a frame.
    #[error("the event stream ended in the middle of a frame")]
    Truncated,
}

/// Feeds on byte chunks, yields whole events. After the first error it yields nothing more.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    decoder: MessageFrameDecoder,
    pending: Vec<u8>,
    /// Whether a frame has been partly consumed by the decoder (its prelude).
    mid_frame: bool,
    failed: bool,
}

impl EventStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes every frame completed by `chunk`, in order; an error ends the list.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Result<Event, EventStreamError>> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        self.pending.extend_from_slice(chunk);
        loop {
            let mut buf: &[u8] = &self.pending;
            let before = buf.len();
            let decoded = self.decoder.decode_frame(&mut buf);
            let consumed = before - buf.len();
            self.pending.drain(..consumed);
            match decoded {
                Ok(DecodedFrame::Complete(message)) => {
                    self.mid_frame = false;
                    let event = event_of(&message);
                    let stop = event.is_err();
                    out.push(event);
                    if stop {
                        self.failed = true;
                        return out;
                    }
                }
                Ok(DecodedFrame::Incomplete) => {
                    self.mid_frame |= consumed > 0;
                    if self.pending.len() > MAX_PENDING {
                        self.failed = true;
                        out.push(Err(EventStreamError::Malformed("frame too large".into())));
                    }
                    return out;
                }
                Err(e) => {
                    self.failed = true;
                    out.push(Err(EventStreamError::Malformed(e.to_string())));
                    return out;
                }
            }
        }
    }

    /// At the end of the body: an error if a frame was left unfinished.
    pub fn finish(&mut self) -> Result<(), EventStreamError> {
        if !self.failed && (self.mid_frame || !self.pending.is_empty()) {
            self.failed = true;
            return Err(EventStreamError::Truncated);
        }
        Ok(())
    }
}

/// A header's value when it is a string.
fn string_header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

fn event_of(message: &Message) -> Result<Event, EventStreamError> {
    let payload = if message.payload().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(message.payload())
            .map_err(|e| EventStreamError::Malformed(format!("payload is not JSON: {e}")))?
    };
    match string_header(message, ":message-type") {
        Some("event") => {
            let event_type = string_header(message, ":event-type")
                .ok_or_else(|| EventStreamError::Malformed("event without :event-type".into()))?;
            Ok(Event {
                event_type: event_type.to_owned(),
                payload,
            })
        }
        Some("exception") => Err(EventStreamError::Exception {
            kind: string_header(message, ":exception-type")
                .unwrap_or("exception")
                .to_owned(),
            message: payload_message(&payload),
        }),
        Some("error") => Err(EventStreamError::Exception {
            kind: string_header(message, ":error-code")
                .unwrap_or("error")
                .to_owned(),
            message: string_header(message, ":error-message")
                .map(str::to_owned)
                .unwrap_or_else(|| payload_message(&payload)),
        }),
        other => Err(EventStreamError::Malformed(format!(
            "unknown :message-type {}",
            other.unwrap_or("(none)")
        ))),
    }
}

/// The `message` (or `Message`) of an exception's JSON payload.
fn payload_message(payload: &Value) -> String {
    ["message", "Message"]
        .iter()
        .find_map(|k| payload.get(k).and_then(Value::as_str))
        .unwrap_or("upstream error")
        .to_owned()
}

/// Encodes one frame (for tests and mocks): string headers and a JSON payload.
pub fn encode_frame(headers: &[(&str, &str)], payload: &Value) -> Vec<u8> {
    use aws_smithy_types::event_stream::Header;
    let body = if payload.is_null() {
        Vec::new()
    } else {
        payload.to_string().into_bytes()
    };
    let mut message = Message::new(body);
    for (name, value) in headers {
        message = message.add_header(Header::new(
            (*name).to_owned(),
            HeaderValue::String((*value).to_owned().into()),
        ));
    }
    let mut out = Vec::new();
    // Writing into a Vec cannot fail; a header too long for the format is a caller's bug.
    if let Err(e) = aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        tracing::error!(error = %e, "event-stream frame not encodable");
    }
    out
}

/// An `event` frame of type `event_type` (ConverseStream's shape), for tests and mocks.
pub fn event_frame(event_type: &str, payload: &Value) -> Vec<u8> {
    encode_frame(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        payload,
    )
}

/// An `exception` frame (`throttlingException`, ...), for tests and mocks.
pub fn exception_frame(exception_type: &str, message: &str) -> Vec<u8> {
    encode_frame(
        &[
            (":message-type", "exception"),
            (":exception-type", exception_type),
            (":content-type", "application/json"),
        ],
        &serde_json::json!({ "message": message }),
    )
}

#[cfg(test)]
#[path = "eventstream_tests.rs"]
mod tests;

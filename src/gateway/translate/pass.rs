//! Streams passed on in the client's own format: whole events only, usage read from the
//! events that carry it, and the usage-only chunk Keyhold asked for on its own behalf taken
//! out again.
//!
//! Most events (content deltas) are only framed, never parsed: an event is looked at closely
//! when its bytes hold `"usage"`, `[DONE]` or `message_stop`.

use std::sync::LazyLock;

use actix_web::web::Bytes;
use memchr::memmem::Finder;
use serde_json::Value;

use super::{SseParser, Usage};

/// A provider's stream on its way to a client that speaks the same format.
#[derive(Debug)]
pub struct PassThrough {
    anthropic: bool,
    /// Drop OpenAI's usage-only chunk (`"choices": []`): Keyhold added `include_usage` to
    /// meter the call, and a client that did not ask for it may index `choices[0]`.
    drop_usage_chunk: bool,
    /// The start of an event not yet ended by its blank line.
    pending: Vec<u8>,
    /// How far into `pending` the search for the blank line has already looked.
    scanned: usize,
    usage: Usage,
    completed: bool,
}

impl PassThrough {
    /// An OpenAI chat-completions stream; `drop_usage_chunk` when the client did not ask for
    /// `stream_options.include_usage` and Keyhold did.
    pub fn openai(drop_usage_chunk: bool) -> Self {
        PassThrough {
            anthropic: false,
            drop_usage_chunk,
            pending: Vec::new(),
            scanned: 0,
            usage: Usage::default(),
            completed: false,
        }
    }

    /// An Anthropic Messages stream.
    pub fn anthropic() -> Self {
        PassThrough {
            anthropic: true,
            ..Self::openai(false)
        }
    }

    /// The whole events that `chunk` completes, as they came (less a dropped usage chunk).
    /// A chunk made of whole events, the rule, goes out without a copy.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        let data = joined(&mut self.pending, chunk);
        let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        let mut ends = EventEnds::new(&data, self.scanned);
        for end in ends.by_ref() {
            if self.keep(&data[start..end]) {
                match kept.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => kept.push(start..end),
                }
            }
            start = end;
        }
        self.scanned = ends.pos - start;
        if data.len() - start > MAX_EVENT {
            // No blank line in sight (a huge event, or line breaks this framing does not
            // know): pass the bytes on unread rather than hold them or rescan them.
            kept.push(start..data.len());
            start = data.len();
            self.scanned = 0;
        }
        self.pending.extend_from_slice(&data[start..]);
        match kept.as_slice() {
            [] => Bytes::new(),
            [only] => data.slice(only.clone()),
            ranges => {
                let mut out = Vec::with_capacity(start);
                for r in ranges {
                    out.extend_from_slice(&data[r.clone()]);
                }
                Bytes::from(out)
            }
        }
    }

    /// Ends the stream: a last event without its blank line (some upstreams omit it) is
    /// passed on too.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.pending);
        self.scanned = 0;
        if !rest.is_empty() && self.keep(&rest) {
            Bytes::from(rest)
        } else {
            Bytes::new()
        }
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether the stream ended normally: OpenAI `[DONE]` or Anthropic `message_stop`.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Reads one whole event; false when it is to be dropped.
    fn keep(&mut self, raw: &[u8]) -> bool {
        let marker = if self.anthropic { &MESSAGE_STOP } else { &DONE };
        if !has_usage_object(raw) && marker.find(raw).is_none() {
            return true;
        }
        if let Some((event, data)) = simple_event(raw) {
            return self.event(event, data);
        }
        let mut parser = SseParser::new();
        let mut events = parser.feed(raw);
        events.extend(parser.finish());
        let mut keep = true;
        for ev in &events {
            keep &= self.event(ev.event.as_deref(), &ev.data);
        }
        keep
    }

    fn event(&mut self, event: Option<&str>, data: &str) -> bool {
        if self.anthropic {
            self.anthropic_event(event, data);
            true
        } else {
            self.openai_event(data)
        }
    }

    fn openai_event(&mut self, data: &str) -> bool {
        if data.trim() == "[DONE]" {
            self.completed = true;
            return true;
        }
        if !has_usage_object(data.as_bytes()) {
            return true;
        }
        let Ok(chunk) = serde_json::from_str::<OpenAiUsageChunk>(data) else {
            return true;
        };
        if let Some(u) = chunk.usage.as_ref().and_then(Usage::from_openai_usage) {
            self.usage = u;
        }
        let no_choices = matches!(&chunk.choices, Some(Value::Array(c)) if c.is_empty());
        !(self.drop_usage_chunk && no_choices)
    }

    fn anthropic_event(&mut self, event: Option<&str>, data: &str) {
        if event == Some("message_stop") || (event.is_none() && data.contains("\"message_stop\"")) {
            self.completed = true;
        } else if has_usage_object(data.as_bytes())
            && let Ok(ev) = serde_json::from_str::<AnthropicUsageOf>(data)
        {
            let usage = match ev.kind.as_deref().or(event).unwrap_or("") {
                "message_start" => ev.message.and_then(|m| m.usage),
                "message_delta" => ev.usage,
                _ => None,
            };
            if let Some(u) = usage {
                self.usage.update_from_anthropic(&u);
            }
        }
    }
}

/// An event of one `data:` line, after at most an `event:` line (what providers send), read
/// in place; anything else (several data lines, comments, ids) is left to [`SseParser`].
fn simple_event(raw: &[u8]) -> Option<(Option<&str>, &str)> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut event = None;
    let mut data = None;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let field = |name: &str| {
            line.strip_prefix(name)
                .map(|v| v.strip_prefix(' ').unwrap_or(v))
        };
        match (field("event:"), field("data:")) {
            (Some(e), _) if event.is_none() && data.is_none() => event = Some(e),
            (_, Some(d)) if data.is_none() => data = Some(d),
            _ => return None,
        }
    }
    Some((event, data?))
}

/// `chunk` after the bytes held back from earlier chunks (which are taken): without a copy
/// when nothing was held back, the rule.
pub(crate) fn joined(pending: &mut Vec<u8>, chunk: Bytes) -> Bytes {
    if pending.is_empty() {
        chunk
    } else {
        pending.extend_from_slice(&chunk);
        Bytes::from(std::mem::take(pending))
    }
}

/// The most of an unfinished event held back; an event's usage is read only within it.
const MAX_EVENT: usize = 1 << 20;

/// The offsets just past each blank line that ends an event. Lines end in `\n`, `\r\n` or
/// a bare `\r`, as the SSE format allows. A line break at the very end of the data may be
/// the first half of `\r\n` or be followed by a blank line: the search stops before it
/// (`pos`) and resumes there when more data has come.
struct EventEnds<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> EventEnds<'a> {
    fn new(data: &'a [u8], from: usize) -> Self {
        EventEnds { data, pos: from }
    }

    /// The length of the line break at `i`, if the data shows it whole.
    fn line_break(&self, i: usize) -> Option<usize> {
        match (self.data.get(i)?, self.data.get(i + 1)) {
            (b'\n', _) => Some(1),
            (b'\r', Some(b'\n')) => Some(2),
            (b'\r', Some(_)) => Some(1),
            (b'\r', None) => None,
            _ => Some(0),
        }
    }
}

impl Iterator for EventEnds<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            let Some(off) = memchr::memchr2(b'\n', b'\r', &self.data[self.pos..]) else {
                self.pos = self.data.len();
                return None;
            };
            let i = self.pos + off;
            let whole = self.line_break(i).and_then(|first| {
                let after = i + first;
                Some((
                    after,
                    self.line_break(after).filter(|_| after < self.data.len())?,
                ))
            });
            let Some((after, second)) = whole else {
                self.pos = i; // wait for what follows this line break
                return None;
            };
            if second > 0 {
                self.pos = after + second;
                return Some(self.pos);
            }
            self.pos = after;
        }
    }
}

// Searchers built once: building one per search cost more than the search of an event.
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static DONE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"[DONE]"));
static MESSAGE_STOP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"message_stop"));

/// Whether an event holds `"usage"` followed by an object (cheap, no parsing; OpenAI sends
/// `"usage":null` on every chunk of a stream that asked for usage).
pub(super) fn has_usage_object(data: &[u8]) -> bool {
    USAGE.find_iter(data).any(|i| {
        let rest = data[i + USAGE.needle().len()..].trim_ascii_start();
        rest.strip_prefix(b":")
            .is_some_and(|r| r.trim_ascii_start().starts_with(b"{"))
    })
}

/// An OpenAI chunk's `usage` and its choices (whatever their shape); serde skips the rest
/// unbuilt. Parsed only for the one or two events of a stream that carry a usage object.
#[derive(serde::Deserialize)]
struct OpenAiUsageChunk {
    usage: Option<Value>,
    choices: Option<Value>,
}

/// An event's `usage` alone.
#[derive(serde::Deserialize)]
struct UsageOf {
    usage: Option<Value>,
}

/// An Anthropic event's type and usage (`message_start` keeps it under `message`).
#[derive(serde::Deserialize)]
struct AnthropicUsageOf {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<UsageOf>,
    usage: Option<Value>,
}

#[cfg(test)]
#[path = "pass_tests.rs"]
mod tests;

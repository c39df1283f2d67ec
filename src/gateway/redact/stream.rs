//! Server-sent events, scrubbed whole events at a time: an event's `data:` lines joined as a
//! client joins them, every other field's value scrubbed as text.

use actix_web::web::Bytes;

use super::scrub::{Carry, Scrubber, hash_bytes, mix};
use super::{MAX_PENDING, Secrets};

/// Scrubs a stream of server-sent events, whole events at a time, and counts the text it
/// lets through (the estimate a dropped stream is metered by).
pub struct StreamScrubber {
    secrets: Secrets,
    carries: Vec<Carry>,
    pending: Vec<u8>,
    shown: u64,
}

impl StreamScrubber {
    /// A scrubber for a stream answered with `secrets`.
    pub fn new(secrets: Secrets) -> Self {
        StreamScrubber {
            secrets,
            carries: Vec::new(),
            pending: Vec::new(),
            shown: 0,
        }
    }

    /// Bytes of shown text (content, tool arguments) passed on so far.
    pub fn shown_bytes(&self) -> u64 {
        self.shown
    }

    /// The whole events `chunk` completes, scrubbed; an unfinished event is held back.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        if chunk.is_empty() {
            return chunk;
        }
        let data = crate::gateway::translate::joined(&mut self.pending, chunk);
        let Some(end) = last_event_end(&data) else {
            if data.len() > MAX_PENDING {
                return self.events(data);
            }
            self.pending.extend_from_slice(&data);
            return Bytes::new();
        };
        self.pending.extend_from_slice(&data[end..]);
        self.events(data.slice(..end))
    }

    /// Whatever was held back, scrubbed; call once the stream has ended.
    pub fn finish(&mut self) -> Bytes {
        let rest = Bytes::from(std::mem::take(&mut self.pending));
        self.events(rest)
    }

    fn events(&mut self, data: Bytes) -> Bytes {
        if data.is_empty() {
            return data;
        }
        let mut s = Scrubber {
            secrets: &self.secrets,
            carries: std::mem::take(&mut self.carries),
            shown: 0,
        };
        let mut out: Option<Vec<u8>> = None;
        let mut at = 0;
        for ev in split_events(&data) {
            if let Some(new) = s.event(&data[ev.clone()]) {
                let o = out.get_or_insert_with(|| Vec::with_capacity(data.len()));
                o.extend_from_slice(&data[at..ev.start]);
                o.extend_from_slice(&new);
                at = ev.end;
            }
        }
        self.carries = s.carries;
        self.shown += s.shown;
        match out {
            None => data,
            Some(mut o) => {
                o.extend_from_slice(&data[at..]);
                Bytes::from(o)
            }
        }
    }
}

/// Where the last whole event of `data` ends (after its blank line).
fn last_event_end(data: &[u8]) -> Option<usize> {
    let lf = memchr::memmem::rfind(data, b"\n\n").map(|i| i + 2);
    let crlf = memchr::memmem::rfind(data, b"\r\n\r\n").map(|i| i + 4);
    let cr = memchr::memmem::rfind(data, b"\r\r").map(|i| i + 2);
    [lf, crlf, cr].into_iter().flatten().max()
}

/// The events of `data`, each with its blank line.
fn split_events(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        let end = match &data[i..] {
            [b'\r', b'\n', b'\r', b'\n', ..] => Some(i + 4),
            [b'\n', b'\n', ..] | [b'\r', b'\r', ..] => Some(i + 2),
            _ => None,
        };
        match end {
            Some(e) => {
                out.push(start..e);
                start = e;
                i = e;
            }
            None => i += 1,
        }
    }
    if start < data.len() {
        out.push(start..data.len());
    }
    out
}

/// A line of an event as field and value (`data: x` → `data`, `x`).
fn field_value(line: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b':', line) {
        Some(i) => {
            let v = &line[i + 1..];
            (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &[][..]),
    }
}

impl<'a> Scrubber<'a> {
    /// One server-sent event: every field's value scrubbed, `data:` lines joined as a client
    /// joins them.
    fn event(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        let mut lines: Vec<&[u8]> = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            let end = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
            lines.push(&rest[..end]);
            let mut next = end;
            if rest[next..].starts_with(b"\r\n") {
                next += 2;
            } else if next < rest.len() {
                next += 1;
            }
            rest = &rest[next..];
        }
        let data: Vec<&[u8]> = lines
            .iter()
            .filter(|l| field_value(l).0 == b"data")
            .map(|l| field_value(l).1)
            .collect();
        let joined = data.join(&b'\n');
        let new_data = self.document_at(&joined, hash_bytes(b"data"));
        let mut new_fields: Vec<Option<Vec<u8>>> = Vec::with_capacity(lines.len());
        for line in &lines {
            let (field, v) = field_value(line);
            if field == b"data" || field.is_empty() || v.is_empty() {
                new_fields.push(None);
                continue;
            }
            let text = self.text_at(v, mix(hash_bytes(b"field"), hash_bytes(field)));
            new_fields.push(text.map(|t| {
                let mut l = field.to_vec();
                l.extend_from_slice(b": ");
                l.extend_from_slice(&t);
                l
            }));
        }
        if new_data.is_none() && new_fields.iter().all(Option::is_none) {
            return None;
        }
        let mut out = Vec::with_capacity(raw.len() + 16);
        let mut data_written = false;
        for (line, new) in lines.iter().zip(new_fields) {
            if field_value(line).0 == b"data"
                && !line.is_empty()
                && let Some(d) = &new_data
            {
                if !data_written {
                    for part in d.split(|b| *b == b'\n') {
                        out.extend_from_slice(b"data: ");
                        out.extend_from_slice(part);
                        out.push(b'\n');
                    }
                    data_written = true;
                }
                continue;
            }
            out.extend_from_slice(new.as_deref().unwrap_or(line));
            out.push(b'\n');
        }
        Some(out)
    }
}

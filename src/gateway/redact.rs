//! Taking the call's credentials out of whatever a provider says back (SPEC §11), on what a
//! client *decodes*: JSON strings are read with their escapes undone (`sk\u002dproj…` is
//! the key), a key may arrive without its known prefix or cut into pieces, and a stream may
//! spread it over several events or several `data:` lines of one event.
//!
//! The rule: no run of [`MIN_PIECE`] or more characters that is a piece of a credential
//! reaches the client, counting a string field's text across the events of a stream (a
//! client appends `choices[0].delta.content` event after event, so the check does too).
//! A run that starts in an event already sent is cut where the new event continues it.
//!
//! Cheap on clean text: a run of a key is first of all a chain of character pairs that occur
//! in the key, looked up in a 2 KiB bit set; only a chain of [`MIN_PIECE`] such pairs (rare
//! in text that is not the key) is compared with the key itself.

use actix_web::web::Bytes;
use secrecy::{ExposeSecret, SecretString};

/// The shortest run of a credential that is taken out.
pub const MIN_PIECE: usize = 12;
/// What a run of a credential becomes.
const GONE: &str = "[redacted]";
/// An event larger than this without its blank line is scrubbed as it stands.
const MAX_PENDING: usize = 1024 * 1024;
/// JSON members whose strings are the text a client shows (the output estimate counts them).
const CONTENT_KEYS: [&[u8]; 7] = [
    b"content",
    b"text",
    b"arguments",
    b"partial_json",
    b"thinking",
    b"reasoning_content",
    b"refusal",
];

/// The credentials a call used, and the pairs of characters that occur in them.
pub struct Secrets {
    keys: Vec<SecretString>,
    /// Bit `a * 128 + b` is set when the ASCII pair `ab` occurs in a credential.
    pairs: [u64; 256],
    longest: usize,
}

impl Secrets {
    /// The credentials of one call; ones shorter than 8 characters cannot be told from text.
    pub fn new(keys: impl IntoIterator<Item = SecretString>) -> Secrets {
        let mut s = Secrets {
            keys: Vec::new(),
            pairs: [0; 256],
            longest: 0,
        };
        for key in keys {
            let k = key.expose_secret().as_bytes();
            if k.len() < 8 {
                continue;
            }
            for w in k.windows(2) {
                if w[0].is_ascii() && w[1].is_ascii() {
                    let bit = usize::from(w[0]) * 128 + usize::from(w[1]);
                    s.pairs[bit / 64] |= 1 << (bit % 64);
                }
            }
            s.longest = s.longest.max(k.len());
            s.keys.push(key);
        }
        s
    }

    /// One credential.
    pub fn one(key: SecretString) -> Secrets {
        Secrets::new([key])
    }

    fn pair(&self, a: u8, b: u8) -> bool {
        if !a.is_ascii() || !b.is_ascii() {
            return false;
        }
        let bit = usize::from(a) * 128 + usize::from(b);
        self.pairs[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// Ranges of `text` that are runs of a credential. Line breaks inside a run do not end
    /// it (a client showing the text joins the lines by eye).
    fn runs(&self, text: &[u8]) -> Vec<std::ops::Range<usize>> {
        if self.keys.is_empty() || text.len() < MIN_PIECE {
            return Vec::new();
        }
        if memchr::memchr2(b'\n', b'\r', text).is_none() {
            return self.runs_plain(text);
        }
        let (kept, at): (Vec<u8>, Vec<usize>) = text
            .iter()
            .enumerate()
            .filter(|(_, b)| !matches!(b, b'\n' | b'\r'))
            .map(|(i, b)| (*b, i))
            .unzip();
        self.runs_plain(&kept)
            .into_iter()
            .map(|r| at[r.start]..at[r.end - 1] + 1)
            .collect()
    }

    fn runs_plain(&self, text: &[u8]) -> Vec<std::ops::Range<usize>> {
        let mut out: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let mut end = start + 1;
            while end < text.len() && self.pair(text[end - 1], text[end]) {
                end += 1;
            }
            if end - start >= MIN_PIECE {
                self.pieces(&text[start..end], start, &mut out);
            }
            start = end;
        }
        out
    }

    /// Marks in `chain` (at `offset` of the text) every run of a credential.
    fn pieces(&self, chain: &[u8], offset: usize, out: &mut Vec<std::ops::Range<usize>>) {
        for i in 0..chain.len() {
            let mut best = 0;
            for key in &self.keys {
                let k = key.expose_secret().as_bytes();
                for (j, _) in k.iter().enumerate().filter(|(_, b)| **b == chain[i]) {
                    let n = chain[i..]
                        .iter()
                        .zip(&k[j..])
                        .take_while(|(a, b)| a == b)
                        .count();
                    best = best.max(n);
                }
            }
            if best >= MIN_PIECE {
                let r = offset + i..offset + i + best;
                match out.last_mut() {
                    Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                    _ => out.push(r),
                }
            }
        }
    }

    /// How many bytes at the end of `text` could begin a run continued by what follows.
    fn trailing_chain(&self, text: &[u8]) -> usize {
        let mut n = 0;
        let mut i = text.len();
        while i > 0 && n < self.longest {
            let b = text[i - 1];
            if matches!(b, b'\n' | b'\r') {
                i -= 1;
                n += 1;
                continue;
            }
            let next = text[i..].iter().find(|c| !matches!(c, b'\n' | b'\r'));
            match next {
                Some(&c) if !self.pair(b, c) => break,
                None if !self
                    .keys
                    .iter()
                    .any(|k| k.expose_secret().as_bytes().contains(&b)) =>
                {
                    break;
                }
                _ => {}
            }
            i -= 1;
            n += 1;
        }
        n
    }
}

/// `text` with every run of a credential replaced.
pub fn scrub_text(text: &str, secrets: &Secrets) -> String {
    match replace(text.as_bytes(), 0, &secrets.runs(text.as_bytes()), false) {
        Some(t) => String::from_utf8_lossy(&t).into_owned(),
        None => text.to_owned(),
    }
}

/// `text` with the ranges (from `keep` on) replaced; `None` when nothing is to be replaced.
/// `after_gone`: what was shown before `keep` ended with the marker, so a range starting at
/// `keep` adds none.
fn replace(
    text: &[u8],
    keep: usize,
    runs: &[std::ops::Range<usize>],
    after_gone: bool,
) -> Option<Vec<u8>> {
    let runs: Vec<_> = runs
        .iter()
        .filter(|r| r.end > keep)
        .map(|r| r.start.max(keep)..r.end)
        .collect();
    if runs.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut at = keep;
    for r in runs {
        out.extend_from_slice(&text[at..r.start]);
        if !(after_gone && r.start == keep) {
            out.extend_from_slice(GONE.as_bytes());
        }
        at = r.end;
    }
    out.extend_from_slice(&text[at..]);
    Some(out)
}

/// A whole (non-streamed) answer, scrubbed, and how many bytes of shown text it holds.
pub fn scrub_body(secrets: &Secrets, body: Bytes) -> (Bytes, u64) {
    let mut r = Scrubber::new(secrets);
    let out = match r.document(&body) {
        Some(new) => Bytes::from(new),
        None => body,
    };
    (out, r.shown)
}

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
        let data = super::translate::joined(&mut self.pending, chunk);
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

/// One pass over a document or an event, with the carries of the fields seen before.
struct Scrubber<'a> {
    secrets: &'a Secrets,
    /// Per field (a hash of its path), the end of its text so far that may begin a run.
    carries: Vec<Carry>,
    shown: u64,
}

/// Where the lexer is inside a JSON document.
enum Frame {
    Object {
        key: u64,
        content: bool,
        want_key: bool,
    },
    Array {
        index: u64,
    },
}

fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

fn hash_bytes(b: &[u8]) -> u64 {
    b.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, c| mix(h, u64::from(*c)))
}

impl<'a> Scrubber<'a> {
    fn new(secrets: &'a Secrets) -> Self {
        Scrubber {
            secrets,
            carries: Vec::new(),
            shown: 0,
        }
    }

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

    /// A whole body: JSON when it looks like JSON, else text.
    fn document(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        self.document_at(raw, 0)
    }

    fn document_at(&mut self, raw: &[u8], root: u64) -> Option<Vec<u8>> {
        match raw.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => self.json(raw, root),
            Some(_) => self.text_at(raw, root),
            None => None,
        }
    }

    /// Plain text (not JSON): scrubbed as one field.
    fn text_at(&mut self, raw: &[u8], path: u64) -> Option<Vec<u8>> {
        self.field(path, raw)
    }

    /// A JSON document: each string value scrubbed as its client decodes it.
    fn json(&mut self, raw: &[u8], root: u64) -> Option<Vec<u8>> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)> = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'{' => stack.push(Frame::Object {
                    key: 0,
                    content: false,
                    want_key: true,
                }),
                b'[' => stack.push(Frame::Array { index: 0 }),
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => match stack.last_mut() {
                    Some(Frame::Object { want_key, .. }) => *want_key = true,
                    Some(Frame::Array { index }) => *index += 1,
                    None => {}
                },
                b':' => {
                    if let Some(Frame::Object { want_key, .. }) = stack.last_mut() {
                        *want_key = false;
                    }
                }
                b'"' => {
                    let (end, decoded) = string_at(raw, i);
                    match stack.last_mut() {
                        Some(Frame::Object {
                            key,
                            content,
                            want_key: want_key @ true,
                        }) => {
                            *key = hash_bytes(&decoded);
                            *content = CONTENT_KEYS.contains(&decoded.as_ref());
                            *want_key = false;
                        }
                        _ => {
                            let shown =
                                matches!(stack.last(), Some(Frame::Object { content: true, .. }));
                            if shown {
                                self.shown += decoded.len() as u64;
                            }
                            let path = stack.iter().fold(root, |h, f| match f {
                                Frame::Object { key, .. } => mix(h, *key),
                                Frame::Array { index } => mix(h, *index),
                            });
                            if let Some(new) = self.field(path, &decoded) {
                                let text = String::from_utf8_lossy(&new);
                                let lit = serde_json::to_string(&text).unwrap_or_default();
                                edits.push((i..end, lit.into_bytes()));
                            }
                        }
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        if edits.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut at = 0;
        for (r, lit) in edits {
            out.extend_from_slice(&raw[at..r.start]);
            out.extend_from_slice(&lit);
            at = r.end;
        }
        out.extend_from_slice(&raw[at..]);
        Some(out)
    }

    /// The next text of the field at `path`: scrubbed together with what the field showed
    /// before (its carry); `None` when it passes unchanged.
    fn field(&mut self, path: u64, text: &[u8]) -> Option<Vec<u8>> {
        let at = self.carries.iter().position(|c| c.path == path);
        let carry = at.map(|i| std::mem::take(&mut self.carries[i]));
        let (carried, gone) = carry
            .as_ref()
            .map_or((0, false), |c| (c.tail.len(), c.gone));
        let whole: std::borrow::Cow<'_, [u8]> = match &carry {
            Some(c) if !c.tail.is_empty() => {
                let mut w = c.tail.clone();
                w.extend_from_slice(text);
                std::borrow::Cow::Owned(w)
            }
            _ => std::borrow::Cow::Borrowed(text),
        };
        let runs = self.secrets.runs(&whole);
        let new = replace(&whole, carried, &runs, gone);
        // The run goes on over what the client was not shown: the next event's text is
        // checked against the field's text as the provider sent it.
        let n = self.secrets.trailing_chain(&whole);
        let gone = match &new {
            Some(n) => n.ends_with(GONE.as_bytes()) || (n.is_empty() && gone),
            None => false,
        };
        let next = Carry {
            path,
            tail: whole[whole.len() - n..].to_vec(),
            gone,
        };
        match at {
            Some(i) if next.tail.is_empty() => {
                self.carries.swap_remove(i);
            }
            Some(i) => self.carries[i] = next,
            None if !next.tail.is_empty() => self.carries.push(next),
            None => {}
        }
        new
    }
}

/// What a field of a stream showed last: the end of its text that may begin a run of a
/// credential, and whether what the client got of it ended with [`GONE`].
#[derive(Default)]
struct Carry {
    path: u64,
    tail: Vec<u8>,
    gone: bool,
}

/// The JSON string starting at `raw[start]` (its quote): where it ends and its text.
fn string_at(raw: &[u8], start: usize) -> (usize, std::borrow::Cow<'_, [u8]>) {
    let body = start + 1;
    match memchr::memchr2(b'"', b'\\', &raw[body..]) {
        Some(n) if raw[body + n] == b'"' => {
            return (
                body + n + 1,
                std::borrow::Cow::Borrowed(&raw[body..body + n]),
            );
        }
        None => return (raw.len(), std::borrow::Cow::Borrowed(&raw[body..])),
        _ => {}
    }
    let mut out = Vec::new();
    let mut i = body;
    while i < raw.len() {
        match raw[i] {
            b'"' => return (i + 1, std::borrow::Cow::Owned(out)),
            b'\\' if i + 1 < raw.len() => {
                let c = raw[i + 1];
                i += 2;
                match c {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'u' => {
                        let (ch, used) = unicode_escape(&raw[i..]);
                        i += used;
                        let mut buf = [0; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    other => out.push(other),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    (raw.len(), std::borrow::Cow::Owned(out))
}

/// The character of a `\u` escape (`rest` starts after the `u`), surrogate pairs joined, and
/// how many bytes of `rest` it used.
fn unicode_escape(rest: &[u8]) -> (char, usize) {
    let hex = |b: &[u8]| -> Option<u32> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u32::from_str_radix(s, 16).ok()
    };
    let Some(first) = hex(rest) else {
        return (char::REPLACEMENT_CHARACTER, 0);
    };
    if (0xD800..0xDC00).contains(&first)
        && rest.get(4..6) == Some(b"\\u")
        && let Some(second) = hex(&rest[6..])
        && (0xDC00..0xE000).contains(&second)
    {
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return (char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), 10);
    }
    (
        char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
        4,
    )
}

#[cfg(test)]
mod tests;

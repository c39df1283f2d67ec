//! One pass over a JSON document or a piece of text: each string read as its client decodes
//! it, scrubbed together with what the same field showed before (its carry).

use super::{CONTENT_KEYS, GONE, Secrets, replace};

/// One pass over a document or an event, with the carries of the fields seen before.
pub(super) struct Scrubber<'a> {
    pub(super) secrets: &'a Secrets,
    /// Per field (a hash of its path), the end of its text so far that may begin a run.
    pub(super) carries: Vec<Carry>,
    pub(super) shown: u64,
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

pub(super) fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

pub(super) fn hash_bytes(b: &[u8]) -> u64 {
    b.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, c| mix(h, u64::from(*c)))
}

impl<'a> Scrubber<'a> {
    pub(super) fn new(secrets: &'a Secrets) -> Self {
        Scrubber {
            secrets,
            carries: Vec::new(),
            shown: 0,
        }
    }

    /// A whole body: JSON when it looks like JSON, else text.
    pub(super) fn document(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        self.document_at(raw, 0)
    }

    pub(super) fn document_at(&mut self, raw: &[u8], root: u64) -> Option<Vec<u8>> {
        match raw.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => self.json(raw, root),
            Some(_) => self.text_at(raw, root),
            None => None,
        }
    }

    /// Plain text (not JSON): scrubbed as one field.
    pub(super) fn text_at(&mut self, raw: &[u8], path: u64) -> Option<Vec<u8>> {
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
pub(super) struct Carry {
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

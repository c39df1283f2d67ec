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
    /// Bit `a * 128 + b` is set when the ASCII pair `ab` occurs in a credential. Boxed: a
    /// call's `Secrets` travels with its answer through several futures, and each move of
    /// 2 KiB inline was a `memcpy` the gateway paid per call.
    pairs: Box<[u64; 256]>,
    longest: usize,
}

impl Secrets {
    /// The credentials of one call; ones shorter than 8 characters cannot be told from text.
    pub fn new(keys: impl IntoIterator<Item = SecretString>) -> Secrets {
        let mut s = Secrets {
            keys: Vec::new(),
            pairs: Box::new([0; 256]),
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

    /// Whether `raw`, a whole answer as the provider sent it, may hold a run a client could
    /// read as `MIN_PIECE` characters of a key, in any of its strings once decoded. `false`
    /// is a proof there is none: every such run is, in the raw bytes, a chain at least as
    /// long in which each two neighbours are a pair of the key's, a line break (which
    /// [`Self::runs`] looks through), or part of an escape (`\"`, `\u0070`, which may
    /// decode to anything); this looks for such chains with the escapes' bytes counted as
    /// matching anything, so it may say `true` of a clean answer, never `false` of a leak.
    pub fn may_hold(&self, raw: &[u8]) -> bool {
        if self.keys.is_empty() || raw.len() < MIN_PIECE {
            return false;
        }
        // Pair `i` joins `raw[i - 1]` and `raw[i]`. An escape is a backslash and up to five
        // bytes after it (`\uXXXX`): each pair that touches one of them joins.
        let joined = |i: usize| {
            let (a, b) = (raw[i - 1], raw[i]);
            matches!(a, b'\n' | b'\r')
                || matches!(b, b'\n' | b'\r')
                || self.pair(a, b)
                || raw[i.saturating_sub(6)..=i].contains(&b'\\')
        };
        // A chain of MIN_PIECE bytes is PIECE_PAIRS joined pairs in a row, so it holds one of
        // every PIECE_PAIRS-th pair after one that does not join: look only at those, and
        // around the ones that join.
        const PIECE_PAIRS: usize = MIN_PIECE - 1;
        let mut i = PIECE_PAIRS;
        while i < raw.len() {
            if !joined(i) {
                i += PIECE_PAIRS;
                continue;
            }
            let (mut lo, mut hi) = (i, i);
            while lo > 1 && joined(lo - 1) {
                lo -= 1;
            }
            while hi + 1 < raw.len() && joined(hi + 1) {
                hi += 1;
            }
            if hi - lo + 1 >= PIECE_PAIRS {
                return true;
            }
            i = hi + 1 + PIECE_PAIRS;
        }
        false
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

/// A whole answer whose usage the provider reported (so its shown text need not be counted),
/// scrubbed only if it may hold a piece of a key at all ([`Secrets::may_hold`]): most answers
/// are passed on after one pass over their bytes instead of being read field by field.
pub fn scrub_reported(secrets: &Secrets, body: Bytes) -> Bytes {
    if secrets.may_hold(&body) {
        scrub_body(secrets, body).0
    } else {
        body
    }
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

mod scrub;
mod stream;

use scrub::Scrubber;
pub use stream::StreamScrubber;

#[cfg(test)]
mod tests;

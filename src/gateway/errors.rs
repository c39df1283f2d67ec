//! Gateway errors, rendered in the shape the client's SDK expects (OpenAI or Anthropic),
//! always with a plain message and a stable code.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// Which API shape the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
}

/// A failed call: HTTP status, stable code, and a sentence saying what to do.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl GatewayError {
    /// Builds an error.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// 401 for a missing, unknown or revoked token.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "invalid_api_key",
            "Missing or invalid Keyhold API token. Create one under the workspace's API tokens page.",
        )
    }

    /// 500 for our own failures (details are in the log with the request id).
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "Keyhold could not complete the request. Try again shortly.",
        )
    }

    /// Renders in the client's format.
    pub fn render(&self, format: Format) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match format {
            Format::OpenAi => json!({
                "error": { "message": self.message, "type": openai_type(self.status), "code": self.code, "param": null }
            }),
            Format::Anthropic => json!({
                "type": "error",
                "error": { "type": anthropic_type(self.status), "message": self.message, "code": self.code }
            }),
        };
        HttpResponse::build(status)
            .content_type("application/json")
            .body(body.to_string())
    }
}

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        402 | 429 => "insufficient_quota",
        400 | 404 | 413 => "invalid_request_error",
        _ => "api_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        400 | 413 => "invalid_request_error",
        401 => "authentication_error",
        402 | 403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

/// `text` with `secret` taken out: the whole of it, and every word of 12 or more key
/// characters that is a piece of it (a provider repeating the key without its prefix, or
/// cut short). Words are runs of letters, digits, `-`, `_` and `.`; a masked form such as
/// `sk-proj-****7f3a` is not a piece of the key and stays.
pub fn redact(text: &str, secret: &str) -> String {
    const GONE: &str = "[redacted]";
    if secret.len() < 8 {
        return text.to_owned();
    }
    let text = text.replace(secret, GONE);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() >= 12 && secret.contains(word.as_str()) {
            out.push_str(GONE);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Takes the key out of a streamed answer (a provider's `error` event inside a 200 stream may
/// repeat it), line by line with [`redact`]. A key never spans a line break, so holding back
/// only an unfinished line is enough to catch a key cut across two network reads; providers
/// send whole events, so in practice nothing is held back and a clean chunk passes as is.
pub struct StreamRedactor {
    secret: SecretString,
    pending: Vec<u8>,
}

impl StreamRedactor {
    /// A redactor for answers given with `secret`.
    pub fn new(secret: SecretString) -> Self {
        StreamRedactor {
            secret,
            pending: Vec::new(),
        }
    }

    /// The part of `chunk` (after what was held back) that is safe to send now.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        let data = super::translate::joined(&mut self.pending, chunk);
        let Some(end) = data.iter().rposition(|&b| b == b'\n') else {
            self.pending.extend_from_slice(&data);
            return Bytes::new();
        };
        self.pending.extend_from_slice(&data[end + 1..]);
        self.clean(data.slice(..=end))
    }

    /// Whatever was held back, cleaned; call once the stream has ended.
    pub fn finish(&mut self) -> Bytes {
        let rest = Bytes::from(std::mem::take(&mut self.pending));
        self.clean(rest)
    }

    fn clean(&self, lines: Bytes) -> Bytes {
        let secret = self.secret.expose_secret();
        // One pass over the whole chunk first: a clean one (the rule) goes out as it came.
        if secret.len() < 8 || !suspect(&lines, secret) {
            return lines;
        }
        let mut out = Vec::with_capacity(lines.len());
        for line in lines.split_inclusive(|&b| b == b'\n') {
            if suspect(line, secret) {
                out.extend_from_slice(redact(&String::from_utf8_lossy(line), secret).as_bytes());
            } else {
                out.extend_from_slice(line);
            }
        }
        Bytes::from(out)
    }
}

/// Whether a line may carry the key: it holds the key whole, or it is an error a provider
/// wrote (where pieces of the key turn up).
fn suspect(line: &[u8], secret: &str) -> bool {
    static ERROR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"error"));
    // The key's searcher is built per search, not kept: it would hold an unwiped copy.
    ERROR.find(line).is_some() || memchr::memmem::find(line, secret.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::{Bytes, SecretString, StreamRedactor, redact};

    const KEY: &str = "sk-proj-Abc123Def456Ghi789";

    #[test]
    fn the_key_and_its_pieces_are_taken_out_of_provider_words() {
        assert_eq!(
            redact(&format!("Invalid key {KEY}. Check it."), KEY),
            "Invalid key [redacted]. Check it."
        );
        assert_eq!(redact(&format!("key={KEY}"), KEY), "key=[redacted]");
        assert_eq!(
            redact("Key Abc123Def456Ghi789 not found", KEY),
            "Key [redacted] not found"
        );
        assert_eq!(redact("Key sk-proj-Abc123 cut", KEY), "Key [redacted] cut");
        assert_eq!(redact(&format!("x{KEY}y"), KEY), "x[redacted]y");
    }

    #[test]
    fn other_words_and_masks_stay() {
        for text in [
            "The model gpt-4o-mini does not exist.",
            "Incorrect API key provided: sk-proj-****************h789.",
            "max_tokens must be at most 4096",
        ] {
            assert_eq!(redact(text, KEY), text);
        }
        assert_eq!(redact("short", "abc"), "short");
    }

    fn streamed(chunks: &[&str]) -> String {
        let mut r = StreamRedactor::new(SecretString::from(KEY));
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&r.feed(Bytes::from(c.to_string())));
        }
        out.extend_from_slice(&r.finish());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_key_in_a_streamed_error_is_taken_out_even_when_cut_across_reads() {
        let event = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"Hi\"}}}}]}}\n\n\
             data: {{\"error\":{{\"message\":\"Bad key {KEY} (Abc123Def456Ghi)\"}}}}\n\n"
        );
        let want = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
                    data: {\"error\":{\"message\":\"Bad key [redacted] ([redacted])\"}}\n\n";
        assert_eq!(streamed(&[&event]), want);
        for cut in 1..event.len() {
            let (a, b) = event.split_at(cut);
            assert_eq!(streamed(&[a, b]), want, "cut at {cut}");
        }
        // No final line break: the held-back tail is cleaned at the end.
        assert_eq!(streamed(&[&format!("data: {KEY}")]), "data: [redacted]");
    }

    #[test]
    fn a_clean_stream_passes_unchanged_and_whole_chunks_are_not_held_back() {
        let mut r = StreamRedactor::new(SecretString::from(KEY));
        let chunk = "data: {\"choices\":[]}\n\n";
        assert_eq!(r.feed(Bytes::from(chunk)), chunk);
        assert_eq!(r.feed(Bytes::from("data: {\"cho")), "");
        assert_eq!(r.feed(Bytes::from("ices\":[]}\n\n")), chunk);
        assert_eq!(r.finish(), "");
    }
}

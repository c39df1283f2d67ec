use super::{Bytes, MIN_PIECE, Secrets, StreamScrubber, scrub_body, scrub_reported, scrub_text};
use secrecy::SecretString;
use serde_json::{Value, json};

const KEY: &str = "sk-proj-Abc123Def456Ghi789Jkl012Mno345";

fn secrets() -> Secrets {
    Secrets::one(SecretString::from(KEY))
}

/// Whether `text` holds a run of the key a client could read: MIN_PIECE characters of it.
fn leaks(text: &str) -> bool {
    let text: String = text.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
    KEY.as_bytes()
        .windows(MIN_PIECE)
        .any(|w| text.contains(std::str::from_utf8(w).unwrap_or_default()))
}

fn streamed(chunks: &[String]) -> String {
    let mut r = StreamScrubber::new(secrets());
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&r.feed(Bytes::from(c.clone())));
    }
    out.extend_from_slice(&r.finish());
    String::from_utf8(out).expect("utf-8")
}

/// What a client shows of an OpenAI stream: each event's data decoded, content appended.
fn shown(stream: &str) -> String {
    let mut text = String::new();
    for ev in stream.split("\n\n") {
        let data: Vec<&str> = ev
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .collect();
        let data = data.join("\n");
        match serde_json::from_str::<Value>(&data) {
            Ok(v) => {
                for p in ["/choices/0/delta/content", "/error/message", "/delta/text"] {
                    if let Some(s) = v.pointer(p).and_then(Value::as_str) {
                        text.push_str(s);
                    }
                }
            }
            Err(_) if data == "[DONE]" => {}
            Err(_) => text.push_str(&data),
        }
    }
    text
}

fn delta(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}}]})
    )
}

#[test]
fn provider_words_lose_the_key_and_its_pieces_but_keep_the_rest() {
    let s = secrets();
    assert_eq!(
        scrub_text(&format!("Invalid key {KEY}. Check it."), &s),
        "Invalid key [redacted]. Check it."
    );
    assert_eq!(scrub_text(&format!("x{KEY}y"), &s), "x[redacted]y");
    assert_eq!(
        scrub_text("Key Abc123Def456Ghi789 not found", &s),
        "Key [redacted] not found"
    );
    for text in [
        "The model gpt-4o-mini does not exist.",
        "Incorrect API key provided: sk-proj-****************o345.",
        "max_tokens must be at most 4096",
        "sk-proj-Abc is only the start",
    ] {
        assert_eq!(scrub_text(text, &s), text);
    }
    assert_eq!(
        scrub_text("short", &Secrets::one(SecretString::from("abc"))),
        "short"
    );
}

#[test]
fn a_successful_answer_carrying_the_key_is_scrubbed_as_the_client_decodes_it() {
    let escaped = KEY.replace('-', "\\u002d");
    for body in [
        json!({"choices": [{"message": {"content": format!("Your key is {KEY}")}}]}).to_string(),
        json!({"error": {"message": format!("bad {KEY}")}, "choices": []}).to_string(),
        format!(r#"{{"choices":[{{"message":{{"content":"key: {escaped}"}}}}]}}"#),
        json!({"choices": [{"message": {"content": &KEY[8..]}}]}).to_string(),
        format!("<html>{KEY}</html>"),
    ] {
        let (out, _) = scrub_body(&secrets(), Bytes::from(body.clone()));
        let out = String::from_utf8(out.to_vec()).expect("utf-8");
        let decoded = serde_json::from_str::<Value>(&out)
            .map(|v| v.to_string())
            .unwrap_or(out.clone());
        assert!(!leaks(&decoded), "{body} → {out}");
        assert!(out.contains("[redacted]"), "{out}");
        if body.starts_with('{') {
            assert!(
                serde_json::from_str::<Value>(&out).is_ok(),
                "still JSON: {out}"
            );
        }
    }
}

#[test]
fn a_clean_answer_passes_byte_for_byte_and_its_shown_text_is_counted() {
    let body = Bytes::from(
        json!({"choices": [{"message": {"role": "assistant", "content": "Hello there, friend."}}]})
            .to_string(),
    );
    let (out, shown) = scrub_body(&secrets(), body.clone());
    assert_eq!(out, body);
    assert_eq!(shown, "Hello there, friend.".len() as u64);
}

#[test]
fn a_key_spread_over_events_never_reaches_the_client_whole_or_in_long_pieces() {
    for size in [1, 3, 5, 11, 12, 20] {
        let mut events = vec![delta("Here it comes: ")];
        for piece in KEY.as_bytes().chunks(size) {
            events.push(delta(std::str::from_utf8(piece).expect("ascii")));
        }
        events.push(delta(" — done."));
        events.push("data: [DONE]\n\n".to_owned());
        let out = streamed(&events);
        let text = shown(&out);
        assert!(!leaks(&text), "pieces of {size}: {text}");
        assert!(text.starts_with("Here it comes: "), "{text}");
        assert!(text.ends_with(" — done."), "{text}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    }
}

#[test]
fn escaped_split_and_unprefixed_keys_in_streams_are_scrubbed() {
    let escaped = KEY.replace('-', "\\u002d");
    let (a, b) = KEY.split_at(17);
    let cases = vec![
        vec![format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{escaped}\"}}}}]}}\n\n"
        )],
        // One event, its data on two lines: a client joins them.
        vec![format!(
            "data: {{\"error\":{{\"message\":\"{a}\ndata: {b}\"}}}}\n\n"
        )],
        vec![delta(&KEY[8..])],
        vec![format!("event: error\ndata: {KEY}\n\n")],
    ];
    for chunks in cases {
        let out = streamed(&chunks);
        assert!(!leaks(&out), "{chunks:?} → {out}");
        assert!(!leaks(&shown(&out)), "{chunks:?} → {out}");
        // Cut across network reads anywhere, the result is the same.
        let whole = chunks.concat();
        for cut in (1..whole.len()).step_by(7) {
            let (x, y) = whole.split_at(cut);
            assert_eq!(streamed(&[x.to_owned(), y.to_owned()]), out, "cut at {cut}");
        }
    }
}

#[test]
fn a_clean_stream_passes_unchanged_and_whole_events_are_not_held_back() {
    let mut r = StreamScrubber::new(secrets());
    let chunk = delta("Hello");
    assert_eq!(r.feed(Bytes::from(chunk.clone())), chunk);
    let (x, y) = chunk.split_at(10);
    assert_eq!(r.feed(Bytes::from(x.to_owned())), "");
    assert_eq!(r.feed(Bytes::from(y.to_owned())), chunk);
    assert_eq!(r.finish(), "");
    assert_eq!(r.shown_bytes(), 10);
}

/// An answer whose content is `text`, its first `plain` characters written as JSON writes
/// them (a line break as `\n`), the rest as `\uXXXX` escapes (a client decodes both alike).
fn answer_with(text: &str, plain: usize) -> String {
    let escaped: String = text
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < plain {
                let quoted = serde_json::to_string(&c.to_string()).expect("a string");
                quoted[1..quoted.len() - 1].to_owned()
            } else {
                format!("\\u{:04x}", u32::from(c))
            }
        })
        .collect();
    format!(
        r#"{{"id":"chatcmpl-1","choices":[{{"message":{{"role":"assistant","content":"{escaped}"}}}}],"usage":{{"prompt_tokens":9,"completion_tokens":9}}}}"#
    )
}

#[test]
fn an_answer_with_no_chain_of_the_keys_characters_passes_as_it_came() {
    let s = secrets();
    let clean = Bytes::from(answer_with("Hello! How can I help you today?", usize::MAX));
    assert!(!s.may_hold(&clean));
    let out = scrub_reported(&s, clean.clone());
    assert_eq!(out, clean);
    assert_eq!(out.as_ptr(), clean.as_ptr(), "passed on without a copy");
    // No keys at all: nothing to look for.
    assert!(!Secrets::new([]).may_hold(&Bytes::from(answer_with(KEY, usize::MAX))));
}

#[test]
fn every_piece_of_the_key_a_client_could_read_is_caught_by_the_quick_look_and_scrubbed() {
    let s = secrets();
    for len in [MIN_PIECE, MIN_PIECE + 5, KEY.len()] {
        for start in 0..=KEY.len() - len {
            let piece = &KEY[start..start + len];
            let texts = [
                format!("Your key is {piece}."),
                piece.to_string(),
                // A line break inside the piece: a client still reads the run across it.
                format!("key: {}\n{}", &piece[..len / 2], &piece[len / 2..]),
            ];
            for text in &texts {
                // Plain, partly escaped, and escaped throughout.
                for plain in [usize::MAX, text.len() / 2, 0] {
                    let body = Bytes::from(answer_with(text, plain));
                    assert!(s.may_hold(&body), "missed {text:?} (plain {plain})");
                    let out = scrub_reported(&s, body);
                    let v: Value = serde_json::from_slice(&out).expect("still JSON");
                    let shown = v
                        .pointer("/choices/0/message/content")
                        .and_then(Value::as_str)
                        .expect("content");
                    assert!(!leaks(shown), "{text:?} (plain {plain}) showed {shown:?}");
                }
            }
        }
    }
}

/// The quick look as a plain walk over every pair (what `may_hold` must agree with).
fn holds_by_walking(raw: &[u8]) -> bool {
    let mut chain = 1;
    for i in 1..raw.len() {
        let (a, b) = (raw[i - 1], raw[i]);
        let near_escape = raw[i.saturating_sub(6)..=i].contains(&b'\\');
        let line = matches!(a, b'\n' | b'\r') || matches!(b, b'\n' | b'\r');
        let pair = KEY.as_bytes().windows(2).any(|w| w == [a, b]);
        chain = if near_escape || line || pair {
            chain + 1
        } else {
            1
        };
        if chain >= MIN_PIECE {
            return true;
        }
    }
    false
}

#[test]
fn the_quick_look_agrees_with_a_walk_over_every_pair() {
    let s = secrets();
    // Bytes from the key, a few others, backslashes and line breaks, mixed by a fixed
    // generator so that chains of every length around MIN_PIECE occur.
    let alphabet: Vec<u8> = KEY.bytes().chain(*b"xyz \\\n\"{}:,").collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut held, mut clean) = (0, 0);
    for _ in 0..3_000 {
        let len = (next() % 80) as usize;
        let mut raw = Vec::with_capacity(len);
        let mut at = (next() % KEY.len() as u64) as usize;
        for _ in 0..len {
            // Mostly the key's next byte (long chains), sometimes any byte of the alphabet.
            let b = if next() % 4 == 0 {
                alphabet[(next() % alphabet.len() as u64) as usize]
            } else {
                at = (at + 1) % KEY.len();
                KEY.as_bytes()[at]
            };
            raw.push(b);
        }
        let quick = s.may_hold(&raw);
        assert_eq!(
            quick,
            holds_by_walking(&raw),
            "{:?}",
            String::from_utf8_lossy(&raw)
        );
        if quick { held += 1 } else { clean += 1 }
    }
    assert!(
        held > 100 && clean > 100,
        "both kinds tried: {held} held, {clean} clean"
    );
}

//! A provider that misbehaves on purpose (SPEC §4, §7, §11): it repeats the key in answers
//! of every status and shape, streams it in pieces, stalls before its usage report, and
//! refuses requests with 403 / "model not found". None of it may hand a key to a member,
//! stretch an allowance, or push a workspace onto the platform key.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::schema::provider_keys;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gateway::*;
use crate::support::mock_provider::Behavior;

/// A workspace key long enough to look like a real one.
const WS_KEY: &str = "sk-proj-Wk7Qz2Lm9Xv4Bn8Rt1Yp6Hs3Dc5Fg0Ja2Ke7Mu";

/// Whether `text` holds 12 or more consecutive characters of `key` (line breaks ignored):
/// enough of a key to matter, and more than any mask shows.
fn holds(text: &str, key: &str) -> bool {
    let text: String = text.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
    key.as_bytes()
        .windows(12)
        .any(|w| text.contains(std::str::from_utf8(w).expect("ascii key")))
}

/// Everything a client can read of a body: the bytes, and every JSON document in it decoded.
fn readable(body: &str) -> String {
    let mut out = body.to_owned();
    let mut docs: Vec<String> = sse_data(body);
    docs.push(body.to_owned());
    // A client joins an event's `data:` lines.
    for ev in body.split("\n\n") {
        let joined: Vec<&str> = ev
            .lines()
            .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
            .collect();
        docs.push(joined.join("\n"));
    }
    for d in docs {
        if let Ok(v) = serde_json::from_str::<Value>(&d) {
            strings(&v, &mut out);
        }
    }
    out.push_str(&openai_stream_text(body));
    out.push_str(&anthropic_stream_text(body));
    out
}

fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('\u{1}');
            out.push_str(s);
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn anthropic_stream_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// OpenAI chunks carrying `pieces` as content deltas, then `[DONE]`.
fn delta_events(pieces: &[&str]) -> Vec<String> {
    let mut events: Vec<String> = pieces
        .iter()
        .map(|p| {
            let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// The hostile answers for `key`: whole ones (status, body) and streamed ones.
fn hostile(key: &str) -> (Vec<(u16, String)>, Vec<Vec<String>>) {
    let escaped = key.replace('-', "\\u002d");
    let bare = &key[key.find(|c: char| c.is_ascii_uppercase()).unwrap_or(4)..];
    let completion = |content: &str| {
        json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}})
        .to_string()
    };
    let whole = vec![
        (200, completion(&format!("Sure, your key is {key}."))),
        (
            200,
            json!({"error": {"message": format!("Invalid key {key}"), "type": "x"}}).to_string(),
        ),
        (200, completion(bare)),
        (
            200,
            completion("ESCAPED").replace("ESCAPED", &format!("k={escaped}")),
        ),
        (
            400,
            json!({"error": {"message": format!("Bad key {bare}")}}).to_string(),
        ),
    ];
    let singles: Vec<String> = key.chars().map(String::from).collect();
    let singles: Vec<&str> = singles.iter().map(String::as_str).collect();
    let (a, b) = key.split_at(key.len() / 2);
    let streams = vec![
        delta_events(&["The key: ", key, " end."]),
        delta_events(&singles),
        delta_events(&[bare]),
        vec![
            format!(
                "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{escaped}\"}}}}]}}\n\n"
            ),
            "data: [DONE]\n\n".to_owned(),
        ],
        vec![
            format!("data: {{\"error\":{{\"message\":\"{a}\ndata: {b}\"}}}}\n\n"),
            "data: [DONE]\n\n".to_owned(),
        ],
    ];
    (whole, streams)
}

/// Every hostile answer, on both API front doors, streamed and not: nothing of `key`.
async fn assert_never_leaks(gw: &Gw, key: &str) {
    let (whole, streams) = hostile(key);
    for (status, body) in whole {
        gw.app.provider.set_behavior(
            key,
            Behavior::Answer {
                status,
                body: body.clone(),
            },
        );
        let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
        let got = r.text().await.expect("body");
        assert!(!holds(&readable(&got), key), "chat {status} {body} → {got}");
        let r = gw
            .messages(
                Auth::XApiKey,
                &messages_request("openai/gpt-4o-mini", false),
            )
            .await;
        let got = r.text().await.expect("body");
        assert!(
            !holds(&readable(&got), key),
            "messages {status} {body} → {got}"
        );
    }
    for events in streams {
        gw.app
            .provider
            .set_behavior(key, Behavior::Events(events.clone()));
        let r = gw
            .chat_body(&gw.token, &chat_request("openai/gpt-4o-mini", true))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let got = r.text().await.expect("body");
        assert!(!holds(&readable(&got), key), "stream {events:?} → {got}");
        let r = gw
            .messages(Auth::Bearer, &messages_request("openai/gpt-4o-mini", true))
            .await;
        let got = r.text().await.expect("body");
        assert!(
            !holds(&readable(&got), key),
            "messages stream {events:?} → {got}"
        );
    }
}

#[tokio::test]
async fn a_workspace_key_in_any_answer_never_reaches_the_member() {
    let gw = Gw::start().await;
    gw.add_key("openai", "Main", WS_KEY).await;
    assert_never_leaks(&gw, WS_KEY).await;
}

#[tokio::test]
async fn the_platform_key_in_any_answer_never_reaches_the_member() {
    let gw = Gw::start().await;
    assert_never_leaks(&gw, GLOBAL_OPENAI).await;
}

#[tokio::test]
async fn the_chat_page_neither_shows_nor_stores_a_key_the_provider_repeats() {
    let gw = Gw::start().await;
    gw.add_key("openai", "Main", WS_KEY).await;
    let member = gw.app.client();
    gw.app.sign_in(&member, MEMBER_EMAIL).await;
    let (whole, streams) = hostile(WS_KEY);
    for (status, body) in whole {
        gw.app
            .provider
            .set_behavior(WS_KEY, Behavior::Answer { status, body });
        let r = gw
            .app
            .post_form(
                &member,
                &format!("/w/{}/chat", gw.slug),
                &[("model", "gpt-4o-mini"), ("prompt", "What is my key?")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    for events in streams {
        gw.app
            .provider
            .set_behavior(WS_KEY, Behavior::Events(events));
        let r = gw
            .app
            .post_form(
                &member,
                &format!("/w/{}/chat/stream", gw.slug),
                &[("model", "gpt-4o-mini"), ("prompt", "Stream my key")],
            )
            .await;
        let got = r.text().await.expect("stream body");
        assert!(!holds(&readable(&got), WS_KEY), "chat stream → {got}");
    }
    let (status, page) = gw.app.get_html(&member, &format!("/w/{}", gw.slug)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("What is my key?"),
        "the history is on the page"
    );
    assert!(!holds(&page, WS_KEY), "the stored history holds no key");
}

#[tokio::test]
async fn a_dropped_stream_is_metered_and_cannot_stretch_the_allowance() {
    for (path, body) in [
        (
            "/v1/chat/completions",
            chat_request("openai/gpt-4o-mini", true),
        ),
        (
            "/v1/messages",
            messages_request("claude-3-5-haiku-latest", true),
        ),
    ] {
        let gw = Gw::start().await;
        gw.set_allowance("20").await;
        gw.app.provider.set_default_behavior(Behavior::StallStream);
        let mut r = gw
            .http
            .post(gw.app.url(path))
            .bearer_auth(&gw.token)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .expect("stream");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        // The member reads the first content, then hangs up before the usage report.
        let first = tokio::time::timeout(Duration::from_secs(10), r.chunk())
            .await
            .expect("a first chunk in time")
            .expect("readable");
        assert!(first.is_some(), "{path}: some content arrives");
        drop(r);
        let rows = gw.usage(1).await;
        let row = rows.first().expect("the dropped call is recorded");
        assert_eq!(row.status, 499, "{path}: {row:?}");
        assert!(
            row.prompt_tokens >= 1 && row.completion_tokens >= 1,
            "{path}: metered by estimate, never zero: {row:?}"
        );
        assert!(
            row.prompt_tokens + row.completion_tokens >= 20,
            "{path}: the estimate counts what was sent: {row:?}"
        );
        // One dropped stream used the allowance up: the next call is refused.
        gw.app.provider.reset_behaviors();
        let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
        assert_openai_error(r, StatusCode::PAYMENT_REQUIRED, "allowance_exhausted").await;
    }
}

fn status_of(gw: &Gw, id: &str) -> String {
    provider_keys::table
        .find(id)
        .select(provider_keys::status)
        .first(&mut gw.app.db())
        .expect("key status")
}

#[tokio::test]
async fn forbidden_and_unknown_model_move_on_without_marking_the_key() {
    let gw = Gw::start().await;
    let first = gw
        .add_key("openai", "First", "sk-acme-first-key-0001")
        .await;
    gw.add_key("openai", "Second", "sk-acme-second-key-0002")
        .await;
    for status in [403, 404] {
        gw.app
            .provider
            .set_behavior("sk-acme-first-key-0001", Behavior::Status(status));
        let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
        assert_eq!(
            (key.as_str(), source.as_str()),
            ("sk-acme-second-key-0002", "workspace")
        );
        assert_eq!(status_of(&gw, &first), "active", "{status} marks nothing");
    }
    // The last key's refusal is the answer, in words, and still marks nothing.
    gw.app.provider.set_default_behavior(Behavior::Status(403));
    let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
    assert_openai_error(r, StatusCode::FORBIDDEN, "upstream_forbidden").await;
    assert!(
        !posted_keys(&gw.app).contains(&GLOBAL_OPENAI.to_owned()),
        "the platform key is not tried under the policy `fail`"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&gw, &first), "active");
    assert_eq!(gw.app.audit_count("workspace_key.rejected"), 0);
    assert!(
        gw.app
            .smtp
            .messages()
            .iter()
            .all(|m| !m.subject.contains("rejected")),
        "no owner is told a key was rejected"
    );
}

#[tokio::test]
async fn rejected_keys_never_open_the_platform_key_under_the_fail_policy() {
    let gw = Gw::start().await;
    let id = gw.add_key("openai", "Only", WS_KEY).await;
    gw.app.provider.set_behavior(WS_KEY, Behavior::Status(401));
    let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
    assert_openai_error(r, StatusCode::BAD_GATEWAY, "upstream_auth").await;
    // Marked in the background; wait for it.
    for _ in 0..100 {
        if status_of(&gw, &id) == "invalid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(status_of(&gw, &id), "invalid");
    gw.app.provider.clear();
    let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
    let message = assert_openai_error(r, StatusCode::FORBIDDEN, "workspace_keys_invalid").await;
    assert!(message.contains("rejected"), "{message}");
    assert!(posted_keys(&gw.app).is_empty(), "no key is sent at all");

    // The admin's policy lets the platform key step in: then it answers.
    gw.set_byok("openai", true, "fallback").await;
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!((key.as_str(), source.as_str()), (GLOBAL_OPENAI, "platform"));
}

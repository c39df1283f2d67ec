//! Failover across a workspace's keys, the providers' failure policy, and upstream failures
//! (hang, cut stream), read from the mock provider's record of which key it received.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::gateway::*;
use crate::helpers::Options;
use crate::support::mock_provider::Behavior;

const FIRST: &str = "sk-acme-first-key-0001";
const SECOND: &str = "sk-acme-second-key-0002";

/// Two OpenAI workspace keys, "First" (priority 1) and "Second" (priority 2).
async fn two_keys() -> (Gw, String, String) {
    let gw = Gw::start().await;
    let first = gw.add_key("openai", "First", FIRST).await;
    let second = gw.add_key("openai", "Second", SECOND).await;
    (gw, first, second)
}

#[tokio::test]
async fn rate_limited_and_failing_keys_pass_to_the_next_in_priority_order() {
    let (gw, first, second) = two_keys().await;
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!((key.as_str(), source.as_str()), (FIRST, "workspace"));
    assert_eq!(posted_keys(&gw.app), vec![FIRST.to_owned()]);

    for status in [429, 500, 503] {
        gw.app
            .provider
            .set_behavior(FIRST, Behavior::Status(status));
        let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
        assert_eq!((key.as_str(), source.as_str()), (SECOND, "workspace"));
        assert_eq!(
            posted_keys(&gw.app),
            vec![FIRST.to_owned(), SECOND.to_owned()],
            "{status} on the first key moves to the second"
        );
    }
    // 429 and 5xx do not disable a key: it answers again once it recovers.
    gw.app.provider.set_behavior(FIRST, Behavior::Ok);
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, FIRST);

    // The owner moves "Second" up: it is tried first from the next call on.
    let r = gw
        .app
        .post_form(
            &gw.owner,
            &format!("/w/{}/settings/keys/{second}/move", gw.slug),
            &[("direction", "up")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, SECOND, "the new priority order is used");
    gw.app.provider.set_behavior(SECOND, Behavior::Status(429));
    gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(
        posted_keys(&gw.app),
        vec![SECOND.to_owned(), FIRST.to_owned()]
    );

    // Which key answered is recorded.
    let rows = gw.usage(7).await;
    assert_eq!(rows.len(), 7, "one row per call: {rows:?}");
    assert!(rows.iter().all(|r| r.status == 200), "{rows:?}");
    assert_eq!(rows[1].key_id.as_deref(), Some(second.as_str()));
    assert_eq!(rows[4].key_id.as_deref(), Some(first.as_str()));
}

#[tokio::test]
async fn a_rejected_key_is_marked_invalid_audited_mailed_and_skipped() {
    let (gw, first, _) = two_keys().await;
    gw.app.provider.set_behavior(FIRST, Behavior::Status(401));

    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, SECOND, "the next key answers");
    assert_eq!(
        posted_keys(&gw.app),
        vec![FIRST.to_owned(), SECOND.to_owned()]
    );

    // The owner is told by mail...
    let mail = gw
        .app
        .smtp
        .wait_for(|m| m.subject.contains("rejected"), Duration::from_secs(10))
        .await
        .expect("a mail to the owner");
    assert_eq!(mail.envelope_to, vec![OWNER_EMAIL.to_owned()]);
    assert!(
        mail.subject.contains("rejected and disabled"),
        "{}",
        mail.subject
    );
    assert!(mail.subject.contains("OpenAI"), "{}", mail.subject);
    assert!(mail.text.contains("First"), "{}", mail.text);
    assert!(!mail.shows(FIRST), "the key itself is never mailed");
    assert!(
        gw.app
            .smtp
            .messages()
            .iter()
            .filter(|m| m.subject.contains("rejected"))
            .all(|m| !m.envelope_to.iter().any(|t| t == MEMBER_EMAIL)),
        "members are not mailed"
    );
    // ...the change is audited...
    assert_eq!(gw.app.audit_count("workspace_key.rejected"), 1);
    // ...and the key page shows it invalid.
    let (status, page) = gw
        .app
        .get_html(&gw.owner, &format!("/w/{}/settings/keys", gw.slug))
        .await;
    assert_eq!(status, StatusCode::OK);
    let row = page
        .split("<tr>")
        .find(|r| r.contains(&format!("/settings/keys/{first}/")))
        .expect("the key's row");
    assert!(row.contains(">Invalid<"), "{row}");

    // Later calls skip it, without asking the provider again.
    for _ in 0..2 {
        let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
        assert_eq!(key, SECOND);
        assert_eq!(posted_keys(&gw.app), vec![SECOND.to_owned()]);
    }
    assert_eq!(gw.app.audit_count("workspace_key.rejected"), 1, "once");
}

#[tokio::test]
async fn after_the_last_workspace_key_the_policy_decides() {
    let gw = Gw::start().await;
    gw.add_key("openai", "Only", FIRST).await;
    gw.app.provider.set_behavior(FIRST, Behavior::Status(500));

    // `fail`: an error, and the global key is not touched.
    gw.app.provider.clear();
    assert_openai_error(
        gw.chat(&gw.token, "openai/gpt-4o-mini").await,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
    )
    .await;
    assert_eq!(posted_keys(&gw.app), vec![FIRST.to_owned()]);
    gw.app.provider.set_behavior(FIRST, Behavior::Status(429));
    gw.app.provider.clear();
    assert_openai_error(
        gw.chat(&gw.token, "openai/gpt-4o-mini").await,
        StatusCode::TOO_MANY_REQUESTS,
        "upstream_rate_limited",
    )
    .await;
    assert_eq!(posted_keys(&gw.app), vec![FIRST.to_owned()]);

    // `fallback`: the global key answers.
    gw.set_byok("openai", true, "fallback").await;
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!((key.as_str(), source.as_str()), (GLOBAL_OPENAI, "platform"));
    assert_eq!(
        posted_keys(&gw.app),
        vec![FIRST.to_owned(), GLOBAL_OPENAI.to_owned()]
    );
    // While the workspace key works it still answers first.
    gw.app.provider.set_behavior(FIRST, Behavior::Ok);
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, FIRST);

    // A rejected last key under `fail`: upstream_auth.
    gw.set_byok("openai", true, "fail").await;
    gw.app.provider.set_behavior(FIRST, Behavior::Status(401));
    assert_openai_error(
        gw.chat(&gw.token, "openai/gpt-4o-mini").await,
        StatusCode::BAD_GATEWAY,
        "upstream_auth",
    )
    .await;

    let rows = gw.usage(5).await;
    let failed: Vec<_> = rows.iter().filter(|r| r.status >= 400).collect();
    assert_eq!(failed.len(), 3, "{rows:?}");
    assert_eq!(failed[0].error_code.as_deref(), Some("upstream_error"));
    assert_eq!(
        failed[1].error_code.as_deref(),
        Some("upstream_rate_limited")
    );
    assert_eq!(failed[2].error_code.as_deref(), Some("upstream_auth"));
    assert!(failed.iter().all(|r| r.source == "workspace"));
}

#[tokio::test]
async fn a_hanging_provider_gets_upstream_timeout_within_the_first_byte_limit() {
    let limits = keyhold::gateway::Limits {
        first_byte: Duration::from_secs(2),
        ..Default::default()
    };
    let gw = Gw::start_with(Options {
        gateway: Some(limits),
        ..Options::default()
    })
    .await;
    gw.app.provider.set_behavior(GLOBAL_OPENAI, Behavior::Hang);

    let started = Instant::now();
    let msg = assert_openai_error(
        gw.chat(&gw.token, "openai/gpt-4o-mini").await,
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "answered after {took:?}: {msg}"
    );

    // Streaming too, and through the Anthropic format.
    gw.app
        .provider
        .set_behavior(GLOBAL_ANTHROPIC, Behavior::Hang);
    let started = Instant::now();
    assert_anthropic_error(
        gw.messages(
            Auth::XApiKey,
            &messages_request("claude-3-5-haiku-latest", true),
        )
        .await,
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(6));

    // A slow but answering provider within the limit is fine.
    gw.app.provider.set_behavior(
        GLOBAL_OPENAI,
        Behavior::SlowFirstByte(Duration::from_millis(500)),
    );
    gw.chat_ok("openai/gpt-4o-mini").await;

    let rows = gw.usage(3).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.error_code.as_deref() == Some("upstream_timeout"))
            .count(),
        2,
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_cut_stream_ends_without_done_and_is_recorded_as_an_error() {
    let gw = Gw::start().await;
    gw.app
        .provider
        .set_behavior(GLOBAL_OPENAI, Behavior::CutStream);
    gw.app
        .provider
        .set_behavior(GLOBAL_ANTHROPIC, Behavior::CutStream);

    // Passed through: the first chunks, then the end, without [DONE].
    let r = gw
        .chat_body(&gw.token, &chat_request("openai/gpt-4o-mini", true))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap_or_default();
    assert!(
        openai_stream_text(&body).starts_with("mock "),
        "the chunks before the cut arrive: {body}"
    );
    assert!(!body.contains("[DONE]"), "{body}");

    // Translated: an error line instead of [DONE].
    let r = gw
        .chat_body(&gw.token, &chat_request("claude-3-5-haiku-latest", true))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap_or_default();
    assert!(!body.contains("[DONE]"), "{body}");
    let last: Value = sse_data(&body)
        .last()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    assert!(last["error"]["message"].is_string(), "{body}");

    // A cut non-streaming answer is an error, not a half answer.
    assert_openai_error(
        gw.chat(&gw.token, "openai/gpt-4o-mini").await,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
    )
    .await;

    let rows = gw.usage(3).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in &rows {
        assert_eq!(row.status, 502, "{row:?}");
        assert_eq!(row.error_code.as_deref(), Some("upstream_error"), "{row:?}");
        assert_eq!(row.source, "platform");
    }
}

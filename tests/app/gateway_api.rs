//! The API's formats, errors, allowance, streaming, model list and usage records through
//! HTTP (helpers and key routing are in `gateway.rs`).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyhold::db::schema::workspaces;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gateway::*;

// ------------------------------------------------------------------ errors

#[tokio::test]
async fn missing_garbage_and_revoked_tokens_get_401() {
    let gw = Gw::start().await;
    let url = gw.app.url("/v1/chat/completions");
    let body = chat_request("openai/gpt-4o-mini", false);

    let r = gw.http.post(&url).json(&body).send().await.expect("POST");
    assert_openai_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    for bad in ["kh_not-a-real-token", "sk-something", ""] {
        let r = gw.chat(bad, "openai/gpt-4o-mini").await;
        assert_openai_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    }
    // Anthropic's format for /v1/messages.
    let r = gw
        .http
        .post(gw.app.url("/v1/messages"))
        .header("x-api-key", "kh_garbage")
        .header("anthropic-version", "2023-06-01")
        .json(&messages_request("claude-3-5-haiku-latest", false))
        .send()
        .await
        .expect("POST");
    assert_anthropic_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let r = gw
        .http
        .get(gw.app.url("/v1/models"))
        .send()
        .await
        .expect("GET");
    assert_openai_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert!(
        posted_keys(&gw.app).is_empty(),
        "nothing reached the provider"
    );

    // A working token (now cached) is refused on the request right after its revocation.
    gw.chat_ok("openai/gpt-4o-mini").await;
    gw.revoke_token().await;
    gw.app.provider.clear();
    let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
    assert_openai_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert!(
        posted_keys(&gw.app).is_empty(),
        "a revoked token calls nothing"
    );
}

#[tokio::test]
async fn unknown_model_disabled_provider_and_missing_key_have_their_codes() {
    let gw = Gw::start().await;

    let msg = assert_openai_error(
        gw.chat(&gw.token, "no-such-model").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("no-such-model"), "{msg}");
    let r = gw
        .http
        .post(gw.app.url("/v1/chat/completions"))
        .bearer_auth(&gw.token)
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_openai_error(r, StatusCode::BAD_REQUEST, "bad_request").await;

    // A provider the admin never enabled.
    assert_openai_error(
        gw.chat(&gw.token, "mistral/mistral-small-latest").await,
        StatusCode::FORBIDDEN,
        "provider_disabled",
    )
    .await;
    // One turned off after it answered: the very next call is refused.
    gw.chat_ok("claude-3-5-haiku-latest").await;
    gw.turn_off("anthropic").await;
    gw.app.provider.clear();
    assert_openai_error(
        gw.chat(&gw.token, "claude-3-5-haiku-latest").await,
        StatusCode::FORBIDDEN,
        "provider_disabled",
    )
    .await;
    assert_anthropic_error(
        gw.messages(
            Auth::XApiKey,
            &messages_request("claude-3-5-haiku-latest", false),
        )
        .await,
        StatusCode::FORBIDDEN,
        "provider_disabled",
    )
    .await;

    // Enabled, but no global key and no workspace key.
    let r = gw
        .admin_save(
            "mistral",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "enabling Mistral");
    assert_openai_error(
        gw.chat(&gw.token, "mistral/mistral-small-latest").await,
        StatusCode::FORBIDDEN,
        "no_key",
    )
    .await;
    assert!(
        posted_keys(&gw.app).is_empty(),
        "no upstream call for refusals"
    );

    // Refusals are recorded too.
    let rows = gw.usage(1).await;
    assert!(
        rows.iter()
            .any(|r| r.error_code.as_deref() == Some("provider_disabled") && r.status == 403),
        "{rows:?}"
    );
}

// ------------------------------------------------------------------ allowance

#[tokio::test]
async fn platform_calls_draw_the_allowance_and_workspace_key_calls_never_do() {
    let gw = Gw::start().await;
    // Each mock call costs 2 prompt + 5 completion tokens: 10 allows two calls.
    gw.set_allowance("10").await;

    for _ in 0..2 {
        let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
        assert_eq!((key.as_str(), source.as_str()), (GLOBAL_OPENAI, "platform"));
    }
    gw.app.provider.clear();
    let msg = assert_openai_error(
        gw.chat(&gw.token, "openai/gpt-4o-mini").await,
        StatusCode::PAYMENT_REQUIRED,
        "allowance_exhausted",
    )
    .await;
    assert!(msg.contains("allowance"), "{msg}");
    assert!(
        posted_keys(&gw.app).is_empty(),
        "no upstream call once used up"
    );
    // The allowance is per workspace, not per provider: Anthropic's platform key is out too.
    assert_openai_error(
        gw.chat(&gw.token, "claude-3-5-haiku-latest").await,
        StatusCode::PAYMENT_REQUIRED,
        "allowance_exhausted",
    )
    .await;

    let rows = gw.usage(4).await;
    let platform: i64 = rows
        .iter()
        .filter(|r| r.source == "platform")
        .map(|r| r.prompt_tokens + r.completion_tokens)
        .sum();
    assert_eq!(platform, 14, "two platform calls of 7 tokens: {rows:?}");

    // With the workspace's own key, calls answer again and never count.
    gw.add_key("openai", "Own", WS_OPENAI).await;
    for _ in 0..3 {
        let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
        assert_eq!((key.as_str(), source.as_str()), (WS_OPENAI, "workspace"));
    }
    let rows = gw.usage(7).await;
    let by = |src: &str| -> i64 {
        rows.iter()
            .filter(|r| r.source == src)
            .map(|r| r.prompt_tokens + r.completion_tokens)
            .sum()
    };
    assert_eq!(by("platform"), 14, "workspace-key calls never draw it down");
    assert_eq!(by("workspace"), 21);
    // Still exhausted on the platform key...
    assert_openai_error(
        gw.chat(&gw.token, "claude-3-5-haiku-latest").await,
        StatusCode::PAYMENT_REQUIRED,
        "allowance_exhausted",
    )
    .await;
    // ...until the admin raises the allowance: the next call answers.
    gw.set_allowance("100").await;
    let (key, source) = gw.chat_ok("claude-3-5-haiku-latest").await;
    assert_eq!(
        (key.as_str(), source.as_str()),
        (GLOBAL_ANTHROPIC, "platform")
    );
    let limit: Option<i64> = workspaces::table
        .find(&gw.ws_id)
        .select(workspaces::allowance_tokens)
        .first(&mut gw.app.db())
        .expect("allowance");
    assert_eq!(limit, Some(100));
}

// ------------------------------------------------------------------ streaming and formats

#[tokio::test]
async fn streaming_chat_passes_openai_sse_through_and_translates_anthropic() {
    let gw = Gw::start().await;

    // OpenAI model: the SSE passes through, ending in [DONE]. Keyhold asks the provider for
    // the usage chunk to meter the call, but a client that did not ask never sees it (code
    // reading `chunk.choices[0]` of every chunk would fail on its empty `choices`).
    gw.app.provider.clear();
    let r = gw
        .chat_body(&gw.token, &chat_request("openai/gpt-4o-mini", true))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    assert_eq!(header(&r, "x-keyhold-key-source"), "platform");
    let body = r.text().await.expect("stream");
    assert_eq!(openai_stream_text(&body), "mock answer to: Say hi");
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    for d in data.iter().filter(|d| *d != "[DONE]") {
        let v: Value = serde_json::from_str(d).expect("JSON chunk");
        assert_eq!(v["choices"].as_array().map(Vec::len), Some(1), "{d}");
    }
    let upstream = gw.app.provider.requests().pop().expect("a request");
    assert_eq!(upstream.key.as_deref(), Some(GLOBAL_OPENAI));
    assert_eq!(upstream.body["stream"], true);
    assert_eq!(upstream.body["stream_options"]["include_usage"], true);
    assert_eq!(upstream.body["messages"][0]["content"], "Say hi");

    // A client that asks for the usage chunk gets it, unchanged.
    let mut asking = chat_request("openai/gpt-4o-mini", true);
    asking["stream_options"] = json!({"include_usage": true});
    let body = gw
        .chat_body(&gw.token, &asking)
        .await
        .text()
        .await
        .expect("stream");
    assert!(
        sse_data(&body)
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .any(|v| v["usage"]["total_tokens"] == 7 && v["choices"] == json!([])),
        "the usage chunk: {body}"
    );

    // Anthropic model through the OpenAI format: translated into OpenAI chunks.
    gw.app.provider.clear();
    let r = gw
        .chat_body(
            &gw.token,
            &chat_request("anthropic/claude-3-5-haiku-latest", true),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let body = r.text().await.expect("stream");
    assert_eq!(
        openai_stream_text(&body),
        "mock answer to: Say hi",
        "{body}"
    );
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    for d in data.iter().filter(|d| *d != "[DONE]") {
        let v: Value = serde_json::from_str(d).expect("JSON chunk");
        assert_eq!(v["object"], "chat.completion.chunk", "{d}");
        assert_eq!(v["model"], "anthropic/claude-3-5-haiku-latest", "{d}");
    }
    assert!(!body.contains("message_start"), "no Anthropic events leak");
    let upstream = gw.app.provider.requests().pop().expect("a request");
    assert_eq!(upstream.path, "/v1/messages");
    assert_eq!(upstream.key.as_deref(), Some(GLOBAL_ANTHROPIC));
    assert_eq!(upstream.body["model"], "claude-3-5-haiku-latest");
    assert_eq!(upstream.body["stream"], true);

    // Non-streaming Anthropic through the OpenAI format.
    let (key, _) = gw.chat_ok("anthropic/claude-3-5-haiku-latest").await;
    assert_eq!(key, GLOBAL_ANTHROPIC);

    // Streamed calls are metered from the stream's usage, whether the client saw it or not.
    let rows = gw.usage(4).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        assert_eq!(row.status, 200, "{row:?}");
        assert_eq!(
            (row.prompt_tokens, row.completion_tokens),
            (2, 5),
            "{row:?}"
        );
    }
}

#[tokio::test]
async fn messages_endpoint_takes_x_api_key_and_bearer_and_streams() {
    let gw = Gw::start().await;
    for auth in [Auth::XApiKey, Auth::Bearer] {
        gw.app.provider.clear();
        let r = gw
            .messages(auth, &messages_request("claude-3-5-haiku-latest", false))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(v["type"], "message", "{v}");
        assert_eq!(v["content"][0]["text"], "mock answer to: Say hi", "{v}");
        assert_eq!(posted_keys(&gw.app), vec![GLOBAL_ANTHROPIC.to_owned()]);

        let r = gw
            .messages(
                auth,
                &messages_request("anthropic/claude-3-5-haiku-latest", true),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(header(&r, "content-type").starts_with("text/event-stream"));
        let body = r.text().await.expect("stream");
        assert!(body.contains("event: message_start"), "{body}");
        assert!(
            body.trim_end()
                .ends_with(r#"data: {"type":"message_stop"}"#),
            "{body}"
        );
        let text: String = sse_data(&body)
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(text, "mock answer to: Say hi");
    }
    // An OpenAI model through the Anthropic format is translated both ways.
    gw.app.provider.clear();
    let r = gw
        .messages(Auth::Bearer, &messages_request("openai/gpt-4o-mini", false))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["content"][0]["text"], "mock answer to: Say hi", "{v}");
    let upstream = gw.app.provider.requests().pop().expect("a request");
    assert_eq!(upstream.path, "/v1/chat/completions");
    assert_eq!(upstream.key.as_deref(), Some(GLOBAL_OPENAI));
    assert_eq!(upstream.auth_style, "bearer");

    let rows = gw.usage(5).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.status == 200 && r.completion_tokens == 5)
    );
}

#[tokio::test]
async fn models_lists_only_what_the_workspace_can_use_now() {
    let gw = Gw::start().await;
    let list = |anthropic: bool| {
        let mut req = gw.http.get(gw.app.url("/v1/models")).bearer_auth(&gw.token);
        if anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        async move {
            let r = req.send().await.expect("GET /v1/models");
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.expect("JSON")
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect()
    };

    let v = list(false).await;
    assert_eq!(v["object"], "list");
    let all = ids(&v);
    assert!(all.contains(&"openai/gpt-4o-mini".to_owned()), "{all:?}");
    assert!(
        all.contains(&"anthropic/claude-3-5-haiku-latest".to_owned()),
        "{all:?}"
    );
    assert!(
        all.iter()
            .all(|id| id.starts_with("openai/") || id.starts_with("anthropic/")),
        "only enabled providers with a key: {all:?}"
    );
    assert!(v["data"][0]["object"] == "model" && v["data"][0]["owned_by"].is_string());

    // Anthropic's list shape.
    let v = list(true).await;
    assert_eq!(v["has_more"], false);
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(ids(&v), all);

    // Mistral enabled without any key: still not usable, so not listed. Anthropic off:
    // gone on the next request.
    let r = gw
        .admin_save(
            "mistral",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = gw
        .admin_save(
            "anthropic",
            &[("byok_enabled", "on"), ("failure_policy", "fail")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let now = ids(&list(false).await);
    assert!(!now.is_empty());
    assert!(now.iter().all(|id| id.starts_with("openai/")), "{now:?}");
}

// ------------------------------------------------------------------ usage

#[tokio::test]
async fn every_call_writes_a_usage_row_with_who_what_and_which_key() {
    let gw = Gw::start().await;
    let ws_key = gw.add_key("openai", "Production", WS_OPENAI).await;
    let global_anthropic = global_key_id(&gw.app, "anthropic");

    gw.chat_ok("openai/gpt-4o-mini").await;
    gw.chat_ok("claude-3-5-haiku-latest").await;
    let r = gw.chat(&gw.token, "no-such-model").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let rows = gw.usage(2).await;
    assert_eq!(rows.len(), 2, "a malformed request calls nobody: {rows:?}");
    let openai = rows
        .iter()
        .find(|r| r.provider == "openai")
        .expect("openai row");
    assert_eq!(openai.workspace_id, gw.ws_id);
    assert_eq!(openai.token_id.as_deref(), Some(gw.token_id.as_str()));
    assert_eq!(openai.model, "openai/gpt-4o-mini");
    assert_eq!(openai.source, "workspace");
    assert_eq!(openai.key_id.as_deref(), Some(ws_key.as_str()));
    assert_eq!(openai.status, 200);
    assert_eq!(openai.error_code, None);
    assert!(openai.latency_ms >= 0);
    assert_eq!((openai.prompt_tokens, openai.completion_tokens), (2, 5));

    let anthropic = rows
        .iter()
        .find(|r| r.provider == "anthropic")
        .expect("anthropic row");
    assert_eq!(anthropic.model, "claude-3-5-haiku-latest");
    assert_eq!(anthropic.source, "platform");
    assert_eq!(anthropic.key_id.as_deref(), Some(global_anthropic.as_str()));
    assert_eq!(
        (anthropic.prompt_tokens, anthropic.completion_tokens),
        (2, 5)
    );

    // The token's last use is recorded for the tokens page.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        use keyhold::db::schema::api_tokens as t;
        let last: Option<i64> = t::table
            .find(&gw.token_id)
            .select(t::last_used_at)
            .first(&mut gw.app.db())
            .expect("token");
        if last.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at set");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

//! The gateway through HTTP: `/v1/chat/completions`, `/v1/messages`, `/v1/models`. Which
//! key answered is always read from the mock provider's record of what it received, never
//! from our own logs. Formats, errors, allowance, streaming and usage are in
//! `gateway_api.rs`; failover and upstream failures in `gateway_failover.rs`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyhold::db::schema::{provider_keys, usage_events};
use keyhold::services::{api_tokens, audit::Actor};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_security_headers};

pub const GLOBAL_OPENAI: &str = "sk-global-openai-key-0001";
pub const GLOBAL_ANTHROPIC: &str = "sk-ant-global-anthropic-0001";
pub const WS_OPENAI: &str = "sk-acme-openai-key-0001";
pub const OWNER_EMAIL: &str = "owner@example.test";
pub const MEMBER_EMAIL: &str = "member@example.test";

/// A platform set up for API calls: an admin with global OpenAI and Anthropic keys (both
/// providers enabled, BYOK on, policy `fail`), a workspace `acme` with an owner and a member,
/// and an API token of `acme`. Workspace keys are added by the tests that need them.
pub struct Gw {
    pub app: TestApp,
    pub admin: Client,
    pub owner: Client,
    pub ws_id: String,
    pub slug: String,
    pub token: String,
    pub token_id: String,
    /// A plain client for the API (no cookies).
    pub http: Client,
}

impl Gw {
    pub async fn start() -> Gw {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Gw {
        let app = TestApp::spawn_with(opts).await;
        let (admin, _) = app.user_client("admin@example.test", true).await;
        let (owner, owner_id) = app.user_client(OWNER_EMAIL, false).await;
        let member_id = app.create_user(MEMBER_EMAIL, false);
        let (ws_id, slug) =
            app.create_workspace("acme", &[(&owner_id, "owner"), (&member_id, "member")]);
        let (token_id, token) = new_token(&app, &ws_id, "CI");
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let gw = Gw {
            app,
            admin,
            owner,
            ws_id,
            slug,
            token,
            token_id,
            http,
        };
        for (provider, key) in [("openai", GLOBAL_OPENAI), ("anthropic", GLOBAL_ANTHROPIC)] {
            let r = gw
                .admin_save(
                    provider,
                    &[
                        ("enabled", "on"),
                        ("byok_enabled", "on"),
                        ("failure_policy", "fail"),
                        ("api_key", key),
                    ],
                )
                .await;
            assert_eq!(
                r.status(),
                StatusCode::SEE_OTHER,
                "saving {provider} settings"
            );
        }
        gw
    }

    /// Turns `provider` off as the admin (the form posted without "enabled"; BYOK and the
    /// failure policy as they were set up).
    pub async fn turn_off(&self, provider: &str) {
        let r = self
            .admin_save(
                provider,
                &[("byok_enabled", "on"), ("failure_policy", "fail")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "turning {provider} off");
    }

    /// Posts the admin's provider form (Settings → Integrations → provider).
    pub async fn admin_save(&self, provider: &str, fields: &[(&str, &str)]) -> Response {
        self.app
            .post_form(
                &self.admin,
                &format!("/admin/integrations/{provider}"),
                fields,
            )
            .await
    }

    /// Turns BYOK for OpenAI off (confirmed) or on, keeping it enabled with `policy`.
    pub async fn set_byok(&self, provider: &str, on: bool, policy: &str) {
        let mut fields = vec![("enabled", "on"), ("failure_policy", policy)];
        if on {
            fields.push(("byok_enabled", "on"));
        } else {
            fields.push(("confirm", "yes"));
        }
        let r = self.admin_save(provider, &fields).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "turning BYOK for {provider} {}",
            if on { "on" } else { "off" }
        );
    }

    /// Adds a workspace key through the owner's key page; returns its id.
    pub async fn add_key(&self, provider: &str, label: &str, key: &str) -> String {
        let r = self
            .app
            .post_form(
                &self.owner,
                &format!("/w/{}/settings/keys", self.slug),
                &[("provider", provider), ("label", label), ("api_key", key)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "adding key {label}");
        key_id(&self.app, Some(&self.ws_id), provider, label)
    }

    /// `POST /v1/chat/completions` with `body`, as `token`.
    pub async fn chat_body(&self, token: &str, body: &Value) -> Response {
        self.http
            .post(self.app.url("/v1/chat/completions"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST /v1/chat/completions")
    }

    /// A one-message chat with `model`, as `token`.
    pub async fn chat(&self, token: &str, model: &str) -> Response {
        self.chat_body(token, &chat_request(model, false)).await
    }

    /// A chat that must succeed; returns the key the mock received (and checks the answer).
    pub async fn chat_ok(&self, model: &str) -> (String, String) {
        self.app.provider.clear();
        let r = self.chat(&self.token, model).await;
        let status = r.status();
        let source = header(&r, "x-keyhold-key-source");
        let body: Value = r.json().await.expect("JSON answer");
        assert_eq!(status, StatusCode::OK, "chat with {model}: {body}");
        assert_eq!(
            body["choices"][0]["message"]["content"], "mock answer to: Say hi",
            "{body}"
        );
        let keys = posted_keys(&self.app);
        (keys.last().cloned().expect("the mock saw a call"), source)
    }

    /// `POST /v1/messages` in Anthropic's format with the token in `auth` style.
    pub async fn messages(&self, auth: Auth, body: &Value) -> Response {
        let req = self
            .http
            .post(self.app.url("/v1/messages"))
            .header("anthropic-version", "2023-06-01")
            .json(body);
        let req = match auth {
            Auth::XApiKey => req.header("x-api-key", &self.token),
            Auth::Bearer => req.bearer_auth(&self.token),
        };
        req.send().await.expect("POST /v1/messages")
    }

    /// The admin sets the workspace's monthly platform allowance (tokens).
    pub async fn set_allowance(&self, tokens: &str) {
        let r = self
            .app
            .post_form(
                &self.admin,
                &format!("/admin/workspaces/{}/allowance", self.ws_id),
                &[("allowance_tokens", tokens)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "setting the allowance");
    }

    /// The owner revokes the token on the tokens page.
    pub async fn revoke_token(&self) {
        let r = self
            .app
            .post_form(
                &self.owner,
                &format!("/w/{}/settings/tokens/{}/revoke", self.slug, self.token_id),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "revoking the token");
    }

    /// The workspace's usage rows once at least `n` are written (the writer batches).
    pub async fn usage(&self, n: usize) -> Vec<UsageRow> {
        usage_rows(&self.app, &self.ws_id, n).await
    }
}

#[derive(Clone, Copy)]
pub enum Auth {
    XApiKey,
    Bearer,
}

/// Creates an API token directly (arrange step); returns (id, token in clear).
pub fn new_token(app: &TestApp, ws_id: &str, name: &str) -> (String, String) {
    let (row, token) = api_tokens::create(
        &mut app.db(),
        &app.keyring(),
        &Actor::cli(),
        &crate::helpers::id(ws_id),
        name,
    )
    .expect("create token");
    (row.id.into(), token)
}

/// The id of the live key with `label` (workspace `ws`, or the global one when `None`).
pub fn key_id(app: &TestApp, ws: Option<&str>, provider: &str, label: &str) -> String {
    let q = provider_keys::table
        .filter(provider_keys::provider.eq(provider))
        .filter(provider_keys::removed_at.is_null())
        .select(provider_keys::id)
        .into_boxed();
    let q = match ws {
        Some(ws) => q
            .filter(provider_keys::workspace_id.eq(ws.to_owned()))
            .filter(provider_keys::label.eq(label.to_owned())),
        None => q.filter(provider_keys::scope.eq("global")),
    };
    q.first(&mut app.db()).expect("key id")
}

/// The global key's id for `provider`.
pub fn global_key_id(app: &TestApp, provider: &str) -> String {
    key_id(app, None, provider, "")
}

/// A chat request body.
pub fn chat_request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hi"}],
    })
}

/// An Anthropic messages request body.
pub fn messages_request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hi"}],
    })
}

/// The keys of the chat/messages calls the mock received (key tests on save excluded).
pub fn posted_keys(app: &TestApp) -> Vec<String> {
    app.provider
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.key.unwrap_or_default())
        .collect()
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts an OpenAI-shaped error with `status` and `code`; returns its message.
pub async fn assert_openai_error(r: Response, status: StatusCode, code: &str) -> String {
    let got = r.status();
    let body: Value = r.json().await.expect("JSON error");
    assert_eq!(got, status, "status of {body}");
    assert_eq!(body["error"]["code"], code, "code of {body}");
    assert!(body["error"]["type"].is_string(), "type in {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a message in {body}");
    message.to_owned()
}

/// Asserts an Anthropic-shaped error with `status` and `code`.
pub async fn assert_anthropic_error(r: Response, status: StatusCode, code: &str) {
    let got = r.status();
    let body: Value = r.json().await.expect("JSON error");
    assert_eq!(got, status, "status of {body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// One usage row.
#[derive(Debug, Clone, Queryable)]
pub struct UsageRow {
    pub workspace_id: String,
    pub token_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub source: String,
    pub key_id: Option<String>,
    pub status: i32,
    pub error_code: Option<String>,
    pub latency_ms: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// The usage rows of `ws` in order, waiting up to 3 s for at least `n` of them.
pub async fn usage_rows(app: &TestApp, ws: &str, n: usize) -> Vec<UsageRow> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let rows: Vec<UsageRow> = usage_events::table
            .filter(usage_events::workspace_id.eq(ws))
            .order(usage_events::id)
            .select((
                usage_events::workspace_id,
                usage_events::token_id,
                usage_events::provider,
                usage_events::model,
                usage_events::source,
                usage_events::key_id,
                usage_events::status,
                usage_events::error_code,
                usage_events::latency_ms,
                usage_events::prompt_tokens,
                usage_events::completion_tokens,
            ))
            .load(&mut app.db())
            .expect("usage rows");
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim().to_owned())
        .collect()
}

/// The text an OpenAI chunk stream carries.
pub fn openai_stream_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

// ------------------------------------------------------------------ which key answers

#[tokio::test]
async fn byok_on_workspace_key_answers_off_global_key_on_again_workspace_key() {
    let gw = Gw::start().await;

    // No workspace key yet: the global key answers.
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, GLOBAL_OPENAI);
    assert_eq!(source, "platform");

    // The owner adds a key: the very next call uses it.
    let ws_key = gw.add_key("openai", "Production", WS_OPENAI).await;
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, WS_OPENAI, "with BYOK on, the workspace key answers");
    assert_eq!(source, "workspace");

    // The admin turns BYOK off: the very next call uses the global key.
    gw.set_byok("openai", false, "fail").await;
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, GLOBAL_OPENAI, "with BYOK off, the global key answers");
    assert_eq!(source, "platform");

    // And on again: the kept workspace key answers again.
    gw.set_byok("openai", true, "fail").await;
    let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(
        key, WS_OPENAI,
        "BYOK back on: the kept workspace key answers"
    );
    assert_eq!(source, "workspace");

    // The owner disables the key: the global key answers on the next call.
    let r = gw
        .app
        .post_form(
            &gw.owner,
            &format!("/w/{}/settings/keys/{ws_key}/disable", gw.slug),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "disabling the key");
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, GLOBAL_OPENAI, "a disabled workspace key is not used");

    // Bare model names pick the provider too; the Anthropic key goes as x-api-key.
    gw.app.provider.clear();
    let (key, source) = gw.chat_ok("claude-3-5-haiku-latest").await;
    assert_eq!(key, GLOBAL_ANTHROPIC);
    assert_eq!(source, "platform");
    let req = gw.app.provider.requests().pop().expect("a request");
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.auth_style, "x-api-key");
    assert!(req.anthropic_version.is_some(), "anthropic-version sent");
    assert_eq!(req.body["model"], "claude-3-5-haiku-latest");
}

#[tokio::test]
async fn one_workspace_token_never_reaches_another_workspace_key() {
    let gw = Gw::start().await;
    gw.add_key("openai", "Acme key", WS_OPENAI).await;
    let other_owner = gw.app.create_user("b-owner@example.test", false);
    let (b_ws, _) = gw
        .app
        .create_workspace("globex", &[(&other_owner, "owner")]);
    let (_, b_token) = new_token(&gw.app, &b_ws, "B app");

    for model in ["openai/gpt-4o-mini", "gpt-4o-mini"] {
        gw.app.provider.clear();
        let r = gw.chat(&b_token, model).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "x-keyhold-key-source"), "platform");
        // SPEC §11's headers on API answers too; the two that only concern documents are
        // left off an answer no browser renders.
        assert_security_headers(&r, model);
        assert_eq!(header(&r, "cache-control"), "no-store");
        assert_eq!(header(&r, "x-frame-options"), "", "{model}");
        assert_eq!(
            posted_keys(&gw.app),
            vec![GLOBAL_OPENAI.to_owned()],
            "B resolves to the global key only, never to A's key"
        );
    }
    // A still gets its own key, and B's calls are recorded for B only.
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(key, WS_OPENAI);
    let b_rows = usage_rows(&gw.app, &b_ws, 2).await;
    assert_eq!(b_rows.len(), 2);
    assert!(b_rows.iter().all(|r| r.source == "platform"));
    let a_rows = gw.usage(1).await;
    assert_eq!(a_rows.len(), 1);
    assert_eq!(a_rows[0].source, "workspace");
}

// Several instances on one PostgreSQL: tests/app/propagation.rs.

#[tokio::test]
async fn a_key_status_keyhold_does_not_know_counts_as_invalid_on_the_key_page_and_in_the_gateway() {
    let gw = Gw::start().await;
    let ws_key = gw.add_key("openai", "Production", WS_OPENAI).await;
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert_eq!(
        key, WS_OPENAI,
        "the workspace key answers while it is active"
    );

    // A status written by a newer version (or by hand) that this one does not know.
    diesel::update(provider_keys::table.find(&ws_key))
        .set(provider_keys::status.eq("suspended_by_a_newer_version"))
        .execute(&mut gw.app.db())
        .expect("arrange the database");
    keyhold::services::cache::external_change();

    // On PostgreSQL the change reaches the gateway by notification (milliseconds later).
    let t0 = Instant::now();
    let r = loop {
        gw.app.provider.clear();
        let r = gw.chat(&gw.token, "openai/gpt-4o-mini").await;
        if r.status() != StatusCode::OK || t0.elapsed() > Duration::from_secs(2) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_openai_error(r, StatusCode::FORBIDDEN, "workspace_keys_invalid").await;
    assert!(
        posted_keys(&gw.app).is_empty(),
        "a key in an unknown status is never sent (and, policy `fail`, nor is the platform's)"
    );
    let (status, page) = gw
        .app
        .get_html(&gw.owner, &format!("/w/{}/settings/keys", gw.slug))
        .await;
    assert_eq!(status, StatusCode::OK, "the key page still opens");
    let start = page
        .find("<th scope=\"row\">Production</th>")
        .expect("the key's row");
    let row = &page[start..start + page[start..].find("</tr>").expect("row end")];
    assert!(
        row.contains("<span class=\"badge badge-bad\">Invalid</span>"),
        "the key page shows it as invalid: {row}"
    );
}

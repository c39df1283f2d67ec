//! A fake Google on loopback: an OAuth2 token endpoint that verifies the JWT-bearer
//! assertion's RS256 signature with the service account's public key and its claims (iss,
//! aud, scope, exp), and a Vertex AI that requires the access token it handed out.
//!
//! Routes, under [`GoogleMock::base_url`]:
//! - `POST /token` ([`GoogleMock::token_url`]): the grant; a bad assertion gets `400
//!   {"error": "invalid_grant"}` like Google; [`GoogleMock::fail_tokens`] makes it answer
//!   an error status instead (Google down); every request is counted;
//! - `POST /v1/projects/{p}/locations/{l}/endpoints/openapi/chat/completions`: Gemini
//!   through the OpenAI-compatible endpoint (model `google/...`), streamed or not;
//! - `POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict` and
//!   `:streamRawPredict`: Claude on the Anthropic wire (`anthropic_version` in the body).
//!
//! [`GoogleMock::echo_token`] makes Vertex repeat the access token it was sent, in an
//! error's message or in the answer's text (a provider that echoes credentials back).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::loopback_http::{self, Request, Response, Server};

/// The private key of the test service account (TEST ONLY, generated for these tests).
pub const TEST_ONLY_PRIVATE_KEY: &str = include_str!("test_only_rsa_key.pem");
/// Its public key, which the token endpoint verifies with.
pub const TEST_ONLY_PUBLIC_KEY: &str = include_str!("test_only_rsa_key.pub.pem");
/// Another key, which the token endpoint does not know (TEST ONLY).
pub const TEST_ONLY_OTHER_PRIVATE_KEY: &str = include_str!("test_only_other_rsa_key.pem");
/// The test service account's email.
pub const CLIENT_EMAIL: &str = "keyhold-test@keyhold-test.iam.gserviceaccount.com";
/// What Vertex wants in Claude requests' bodies.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// Where Vertex repeats the access token it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    No,
    /// `400 {"error": {"message": "... <token> ..."}}`.
    InError,
    /// The answer's text (streamed or not) holds the token.
    InAnswer,
}

/// One Vertex call the mock received.
#[derive(Debug, Clone)]
pub struct VertexCall {
    pub path: String,
    pub project: String,
    pub location: String,
    /// From the body (OpenAI-compatible) or the path (Claude).
    pub model: String,
    pub authorized: bool,
    pub body: Value,
}

struct State {
    public_key: DecodingKey,
    expires_in: AtomicU64,
    issued: Mutex<HashSet<String>>,
    grants: AtomicU64,
    refused_grants: AtomicU64,
    token_requests: AtomicU64,
    /// 0: grant normally; else the status every token request gets.
    token_failure: AtomicU64,
    echo: Mutex<Echo>,
    calls: Mutex<Vec<VertexCall>>,
    port: AtomicU64,
}

/// A handle to a running Google mock.
#[derive(Clone)]
pub struct GoogleMock {
    server: Arc<Server>,
    state: Arc<State>,
}

#[derive(Deserialize)]
struct Claims {
    scope: String,
    iat: u64,
    exp: u64,
}

impl GoogleMock {
    /// Serves on `127.0.0.1:0`, trusting the test service account's public key.
    pub async fn start() -> GoogleMock {
        let state = Arc::new(State {
            public_key: DecodingKey::from_rsa_pem(TEST_ONLY_PUBLIC_KEY.as_bytes())
                .expect("the test public key"),
            expires_in: AtomicU64::new(3_599),
            issued: Mutex::new(HashSet::new()),
            grants: AtomicU64::new(0),
            refused_grants: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            token_failure: AtomicU64::new(0),
            echo: Mutex::new(Echo::No),
            calls: Mutex::new(Vec::new()),
            port: AtomicU64::new(0),
        });
        let handler_state = state.clone();
        let server = loopback_http::serve(Arc::new(move |req| handle(&handler_state, req))).await;
        state.port.store(u64::from(server.port), Ordering::SeqCst);
        GoogleMock {
            server: Arc::new(server),
            state,
        }
    }

    /// `http://127.0.0.1:<port>`: what replaces `https://<location>-aiplatform.googleapis.com`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// `http://127.0.0.1:<port>/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The lifetime of the tokens handed out from now on (default 3599 s).
    pub fn set_expires_in(&self, seconds: u64) {
        self.state.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// How many tokens were handed out.
    pub fn grants(&self) -> u64 {
        self.state.grants.load(Ordering::SeqCst)
    }

    /// How many requests reached the token endpoint (granted, refused or failed).
    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// From now on every token request gets `status` (`None`: grant again).
    pub fn fail_tokens(&self, status: Option<u16>) {
        self.state
            .token_failure
            .store(status.map_or(0, u64::from), Ordering::SeqCst);
    }

    /// From now on Vertex repeats the access token as `echo` says.
    pub fn echo_token(&self, echo: Echo) {
        *self.state.echo.lock().expect("lock") = echo;
    }

    /// Every access token handed out so far.
    pub fn issued(&self) -> Vec<String> {
        self.state
            .issued
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect()
    }

    /// How many assertions were refused.
    pub fn refused_grants(&self) -> u64 {
        self.state.refused_grants.load(Ordering::SeqCst)
    }

    /// Every Vertex call so far.
    pub fn calls(&self) -> Vec<VertexCall> {
        self.state.calls.lock().expect("lock").clone()
    }
}

fn invalid_grant(state: &State, description: &str) -> Response {
    state.refused_grants.fetch_add(1, Ordering::SeqCst);
    Response::json(
        400,
        &json!({"error": "invalid_grant", "error_description": description}),
    )
}

fn token(state: &State, req: &Request) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    let failure = state.token_failure.load(Ordering::SeqCst);
    if let Ok(status @ 400..=599) = u16::try_from(failure) {
        return Response::json(status, &json!({"error": "backend_error"}));
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Response::json(400, &json!({"error": "unsupported_grant_type"}));
    }
    let Some(assertion) = field("assertion") else {
        return invalid_grant(state, "Missing assertion.");
    };
    let token_url = format!(
        "http://127.0.0.1:{}/token",
        state.port.load(Ordering::SeqCst)
    );
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_url.as_str()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    validation.leeway = 0;
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &state.public_key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return invalid_grant(state, &format!("Invalid JWT: {e}")),
    };
    if claims
        .scope
        .split(' ')
        .all(|s| s != "https://www.googleapis.com/auth/cloud-platform")
    {
        return invalid_grant(state, "Invalid OAuth scope.");
    }
    if claims.exp <= claims.iat || claims.exp - claims.iat > 3_600 {
        return invalid_grant(state, "Invalid JWT: expiry more than an hour after issue.");
    }
    let n = state.grants.fetch_add(1, Ordering::SeqCst) + 1;
    // Unique per mock and grant, so a test can look for this very token in what it got back.
    let access_token = format!("ya29.mock-{n}-{}", uuid::Uuid::new_v4().simple());
    state
        .issued
        .lock()
        .expect("lock")
        .insert(access_token.clone());
    Response::json(
        200,
        &json!({
            "access_token": access_token,
            "expires_in": state.expires_in.load(Ordering::SeqCst),
            "token_type": "Bearer",
        }),
    )
}

fn unauthenticated() -> Response {
    Response::json(
        401,
        &json!({"error": {
            "code": 401,
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            "status": "UNAUTHENTICATED",
        }}),
    )
}

fn handle(state: &State, req: Request) -> Response {
    if req.method == "POST" && req.path == "/token" {
        return token(state, &req);
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (project, location, model, kind) = match segments[..] {
        [
            "v1",
            "projects",
            p,
            "locations",
            l,
            "endpoints",
            "openapi",
            "chat",
            "completions",
        ] => (
            p,
            l,
            body["model"].as_str().unwrap_or_default().to_owned(),
            "openai",
        ),
        [
            "v1",
            "projects",
            p,
            "locations",
            l,
            "publishers",
            "anthropic",
            "models",
            m,
        ] => match m.split_once(':') {
            Some((model, "rawPredict")) => (p, l, model.to_owned(), "claude"),
            Some((model, "streamRawPredict")) => (p, l, model.to_owned(), "claude-stream"),
            _ => return Response::json(404, &json!({"error": {"code": 404}})),
        },
        _ => return Response::json(404, &json!({"error": {"code": 404, "status": "NOT_FOUND"}})),
    };
    let authorized = req
        .bearer()
        .is_some_and(|t| state.issued.lock().expect("lock").contains(t));
    state.calls.lock().expect("lock").push(VertexCall {
        path: req.path.clone(),
        project: project.to_owned(),
        location: location.to_owned(),
        model: model.clone(),
        authorized,
        body: body.clone(),
    });
    if !authorized {
        return unauthenticated();
    }
    let (mut text, input, output) = loopback_http::answer(&body["messages"]);
    let bearer = req.bearer().unwrap_or_default();
    match *state.echo.lock().expect("lock") {
        Echo::No => {}
        Echo::InError => {
            return Response::json(
                400,
                &json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                    "message": format!("Request contains an invalid argument (sent with {bearer}).")}}),
            );
        }
        Echo::InAnswer => text = format!("{text} (your token: {bearer})"),
    }
    match kind {
        "openai" => {
            if !model.starts_with("google/") {
                return Response::json(
                    400,
                    &json!({"error": {"code": 400,
                    "message": "model must be publishers' model name, e.g. google/gemini-2.0-flash-001"}}),
                );
            }
            openai(&model, &text, input, output, body["stream"] == true)
        }
        _ => {
            if body["anthropic_version"] != ANTHROPIC_VERSION || body.get("model").is_some() {
                return Response::json(
                    400,
                    &json!({"type": "error", "error": {
                        "type": "invalid_request_error",
                        "message": "anthropic_version: vertex-2023-10-16 is required; model goes in the URL",
                    }}),
                );
            }
            claude(&model, &text, input, output, kind == "claude-stream")
        }
    }
}

fn openai(model: &str, text: &str, input: u64, output: u64, stream: bool) -> Response {
    let usage = json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output});
    if !stream {
        return Response::json(
            200,
            &json!({
                "id": "chatcmpl-vertex-mock",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "chatcmpl-vertex-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n").into_bytes()
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in text.split_inclusive(' ') {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    let usage_chunk = json!({"id": "chatcmpl-vertex-mock", "object": "chat.completion.chunk",
        "created": 1_700_000_000, "model": model, "choices": [], "usage": usage});
    events.push(format!("data: {usage_chunk}\n\n").into_bytes());
    events.push(b"data: [DONE]\n\n".to_vec());
    Response::chunked("text/event-stream", events)
}

fn claude(model: &str, text: &str, input: u64, output: u64, stream: bool) -> Response {
    if !stream {
        return Response::json(
            200,
            &json!({
                "id": "msg_vertex_mock", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output},
            }),
        );
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n").into_bytes();
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_vertex_mock", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": 0}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for piece in text.split_inclusive(' ') {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event("message_delta", json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output}})));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    Response::chunked("text/event-stream", events)
}

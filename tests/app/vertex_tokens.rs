//! Vertex AI's access tokens, through the front door against the Google mock: a refresh that
//! fails is answered again for a short while instead of asking Google on every call, and the
//! access token a call carried never comes back to the client, whatever Vertex repeats.

use std::time::{Duration, Instant};

use keyhold::domain::credentials::{Credential, ServiceAccount, Vertex};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;

use crate::cloud_gateway::{byok_on, store, store_as, vertex_cred};
use crate::gateway::*;
use crate::helpers::Options;
use crate::support::google_mock::{self, Echo, GoogleMock};

const GEMINI: &str = "vertex/gemini-2.0-flash-001";
const CLAUDE: &str = "vertex/claude-3-5-haiku@20241022";
/// Keyhold's `RETRY_AFTER_FAILURE`.
const RETRY_AFTER: Duration = Duration::from_secs(10);

async fn with_vertex() -> (GoogleMock, Gw) {
    let google = GoogleMock::start().await;
    let gw = Gw::start_with(Options {
        env: vec![
            ("KEYHOLD_PROVIDER_VERTEX_BASE_URL".into(), google.base_url()),
            ("KEYHOLD_GOOGLE_TOKEN_URL".into(), google.token_url()),
        ],
        ..Options::default()
    })
    .await;
    byok_on(&gw, "vertex").await;
    (google, gw)
}

/// Status and body text of a chat through `/v1/chat/completions`.
async fn chat(gw: &Gw, model: &str, stream: bool) -> (StatusCode, String) {
    let r = gw.chat_body(&gw.token, &chat_request(model, stream)).await;
    (r.status(), r.text().await.expect("body"))
}

/// Stores `cred` as Vertex's platform key, sealed as the admin's page seals it.
fn store_global(gw: &Gw, cred: &Credential) {
    store_as(gw, None, "vertex", "Platform key", cred);
}

/// The pieces of `secret` a reader could use: every run of 12 of its characters.
fn leaks(text: &str, secret: &str) -> bool {
    secret
        .as_bytes()
        .windows(12)
        .any(|w| text.contains(std::str::from_utf8(w).unwrap_or_default()))
}

#[tokio::test]
async fn a_failed_token_refresh_is_answered_again_for_a_while_not_asked_again() {
    let (google, gw) = with_vertex().await;
    store(&gw, "vertex", "GCP prod", &vertex_cred(&google));
    google.fail_tokens(Some(503));

    let failed_at = Instant::now();
    let (status, first) = chat(&gw, GEMINI, false).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{first}");
    let body: Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert!(
        !leaks(&first, google_mock::TEST_ONLY_PRIVATE_KEY),
        "no secret in {first}"
    );
    assert_eq!(google.token_requests(), 1);

    // Quick calls, one streamed and one of Claude (the same key): the same answer, and
    // Google is not asked again, even once it is back.
    for (i, (model, stream)) in [
        (GEMINI, false),
        (GEMINI, true),
        (CLAUDE, false),
        (GEMINI, false),
    ]
    .into_iter()
    .enumerate()
    {
        if i == 3 {
            google.fail_tokens(None);
        }
        let (status, again) = chat(&gw, model, stream).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{model}: {again}");
        assert_eq!(again, first, "{model}: the failed refresh's answer again");
    }
    assert!(failed_at.elapsed() < RETRY_AFTER, "the calls were quick");
    assert_eq!(
        google.token_requests(),
        1,
        "one token request for five calls"
    );
    assert!(google.calls().is_empty(), "Vertex was never called");

    // Once the failure is due again, one new request, and the call goes through.
    tokio::time::sleep(
        RETRY_AFTER.saturating_sub(failed_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let (status, body) = chat(&gw, GEMINI, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(google.token_requests(), 2);
    assert_eq!(google.grants(), 1);
}

#[tokio::test]
async fn a_platform_service_account_google_refuses_is_refused_once_for_many_calls() {
    let (google, gw) = with_vertex().await;
    let mut cred = vertex_cred(&google);
    if let Credential::Vertex(Vertex {
        service_account: ServiceAccount { private_key, .. },
        ..
    }) = &mut cred
    {
        *private_key = SecretString::from(google_mock::TEST_ONLY_OTHER_PRIVATE_KEY);
    }
    store_global(&gw, &cred);

    let mut answers = Vec::new();
    for _ in 0..5 {
        let (status, body) = chat(&gw, GEMINI, false).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        answers.push(body);
    }
    let body: Value = serde_json::from_str(&answers[0]).expect("JSON");
    assert_eq!(body["error"]["code"], "upstream_auth", "{body}");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(
        !answers
            .iter()
            .any(|a| leaks(a, google_mock::TEST_ONLY_OTHER_PRIVATE_KEY)),
        "no secret in {answers:?}"
    );
    assert_eq!(
        google.refused_grants(),
        1,
        "Google asked once, not five times"
    );
    assert_eq!(google.token_requests(), 1);
}

/// The canary: Vertex repeats the access token it was sent; the client never sees it.
#[tokio::test]
async fn an_access_token_vertex_repeats_never_reaches_the_client() {
    let (google, gw) = with_vertex().await;
    store(&gw, "vertex", "GCP prod", &vertex_cred(&google));

    google.echo_token(Echo::InError);
    let (status, error) = chat(&gw, GEMINI, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let r = gw
        .messages(Auth::XApiKey, &messages_request(CLAUDE, false))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let anthropic_error = r.text().await.expect("body");

    google.echo_token(Echo::InAnswer);
    let mut answers = vec![error, anthropic_error];
    for (model, stream) in [
        (GEMINI, false),
        (GEMINI, true),
        (CLAUDE, false),
        (CLAUDE, true),
    ] {
        let (status, body) = chat(&gw, model, stream).await;
        assert_eq!(status, StatusCode::OK, "{model}: {body}");
        answers.push(body);
    }

    // The token reached Vertex on every call (a canary that never left proves nothing) ...
    let issued = google.issued();
    assert_eq!(issued.len(), 1, "one token for the key: {issued:?}");
    let token = &issued[0];
    let calls = google.calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert!(calls.iter().all(|c| c.authorized), "{calls:?}");
    // ... and Vertex's words came back, without it.
    for body in &answers {
        assert!(!leaks(body, token), "the access token in {body}");
        assert!(body.contains("[redacted]"), "the echo was scrubbed: {body}");
    }
}

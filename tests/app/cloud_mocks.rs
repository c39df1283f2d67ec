//! The cloud plumbing (SigV4 signing, event-stream decoding, Google's token source) against
//! the loopback mocks of Bedrock, Google and Azure, which verify what they receive.

use std::sync::Arc;
use std::time::Duration;

use keyhold::gateway::cloud::eventstream::{EventStreamDecoder, EventStreamError};
use keyhold::gateway::cloud::google::{self, TokenCache, TokenError};
use keyhold::gateway::cloud::sigv4::sign_request;
use keyhold::gateway::cloud::urls;
use reqwest::{Client, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::support::azure_mock::AzureMock;
use crate::support::bedrock_mock::BedrockMock;
use crate::support::google_mock::{self, GoogleMock};

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "eu-west-3";
const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

fn client() -> Client {
    Client::builder().no_proxy().build().expect("a client")
}

fn converse_body() -> Value {
    json!({
        "messages": [{"role": "user", "content": [{"text": "hello bedrock"}]}],
        "inferenceConfig": {"maxTokens": 50},
    })
}

/// A signed Converse (or ConverseStream) request for `MODEL`.
fn signed(mock: &BedrockMock, action: &str, secret: &str, token: Option<&str>) -> reqwest::Request {
    let base = Url::parse(&mock.base_url()).expect("a URL");
    let stream = action == "converse-stream";
    let url = urls::bedrock_converse_url(&base, MODEL, stream).expect("a URL");
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(converse_body().to_string())
        .build()
        .expect("a request");
    let token = token.map(SecretString::from);
    sign_request(
        &mut request,
        KEY_ID,
        &SecretString::from(secret),
        token.as_ref(),
        REGION,
    )
    .expect("signed");
    request
}

async fn bedrock() -> BedrockMock {
    let mock = BedrockMock::start(REGION).await;
    mock.add_key(KEY_ID, SECRET, None);
    mock
}

#[tokio::test]
async fn a_signed_converse_call_is_verified_and_answered() {
    let mock = bedrock().await;

    let response = client()
        .execute(signed(&mock, "converse", SECRET, None))
        .await
        .expect("an answer");

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        "mock answer to: hello bedrock"
    );
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].model_id.as_deref(), Some(MODEL));
    assert_eq!(recorded[0].refused, None);
}

#[tokio::test]
async fn a_wrong_secret_gets_a_403_from_the_verifying_mock() {
    let mock = bedrock().await;

    let response = client()
        .execute(signed(&mock, "converse", "not-the-secret-key", None))
        .await
        .expect("an answer");

    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "InvalidSignatureException"
    );
    assert_eq!(
        mock.requests()[0].refused,
        Some("InvalidSignatureException")
    );
}

#[tokio::test]
async fn a_session_token_must_be_sent_when_the_key_has_one() {
    let mock = BedrockMock::start(REGION).await;
    mock.add_key(KEY_ID, SECRET, Some("FwoGZXIvYXdzEXAMPLETOKEN"));

    let with = client()
        .execute(signed(
            &mock,
            "converse",
            SECRET,
            Some("FwoGZXIvYXdzEXAMPLETOKEN"),
        ))
        .await
        .expect("an answer");
    let without = client()
        .execute(signed(&mock, "converse", SECRET, None))
        .await
        .expect("an answer");

    assert_eq!(with.status(), 200);
    assert_eq!(without.status(), 403);
}

#[tokio::test]
async fn list_foundation_models_is_a_signed_get() {
    let mock = bedrock().await;
    let url = format!(
        "{}/foundation-models?byOutputModality=TEXT",
        mock.base_url()
    );
    let mut request = client().get(url).build().expect("a request");
    sign_request(
        &mut request,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        REGION,
    )
    .expect("signed");

    let response = client().execute(request).await.expect("an answer");

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["modelSummaries"][0]["modelId"], MODEL);

    let mut unsigned = client()
        .get(format!("{}/foundation-models", mock.base_url()))
        .build()
        .expect("a request");
    sign_request(
        &mut unsigned,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        "us-east-1",
    )
    .expect("signed");
    let wrong_region = client().execute(unsigned).await.expect("an answer");
    assert_eq!(wrong_region.status(), 403, "signed for another region");
}

/// The decoded events of a streamed Bedrock answer, read chunk by chunk as they arrive.
async fn stream_events(
    response: reqwest::Response,
) -> Vec<Result<(String, Value), EventStreamError>> {
    let mut decoder = EventStreamDecoder::new();
    let mut events = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.expect("a chunk") {
        events.extend(
            decoder
                .feed(&chunk)
                .into_iter()
                .map(|e| e.map(|e| (e.event_type, e.payload))),
        );
    }
    if let Err(e) = decoder.finish() {
        events.push(Err(e));
    }
    events
}

#[tokio::test]
async fn a_converse_stream_round_trips_through_real_event_stream_frames() {
    let mock = bedrock().await;

    let response = client()
        .execute(signed(&mock, "converse-stream", SECRET, None))
        .await
        .expect("an answer");

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let events: Vec<(String, Value)> = stream_events(response)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors");
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types.first(), Some(&"messageStart"));
    assert_eq!(
        &types[types.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    let text: String = events
        .iter()
        .filter(|(t, _)| t == "contentBlockDelta")
        .filter_map(|(_, p)| p["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "mock answer to: hello bedrock");
    assert_eq!(
        events.last().expect("metadata").1["usage"]["outputTokens"],
        5
    );
}

#[tokio::test]
async fn an_exception_frame_surfaces_as_an_error() {
    let mock = bedrock().await;
    let base = Url::parse(&mock.base_url()).expect("a URL");
    let url = urls::bedrock_converse_url(&base, MODEL, true).expect("a URL");
    let body = json!({"messages": [{"role": "user", "content": [{"text": "THROTTLE me"}]}]});
    let mut request = client()
        .post(url)
        .body(body.to_string())
        .build()
        .expect("a request");
    sign_request(
        &mut request,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        REGION,
    )
    .expect("signed");

    let events = stream_events(client().execute(request).await.expect("an answer")).await;

    assert!(matches!(
        events.last(),
        Some(Err(EventStreamError::Exception { kind, .. })) if kind == "throttlingException"
    ));
}

fn service_account_key() -> SecretString {
    SecretString::from(google_mock::TEST_ONLY_PRIVATE_KEY)
}

/// A Claude call on Vertex with this access token.
async fn vertex_claude(mock: &GoogleMock, token: &str) -> reqwest::Response {
    let base = Url::parse(&mock.base_url()).expect("a URL");
    let url = urls::vertex_claude_url(
        &base,
        "keyhold-test",
        "us-east5",
        "claude-3-5-haiku@20241022",
        false,
    )
    .expect("a URL");
    client()
        .post(url)
        .bearer_auth(token)
        .json(&json!({
            "anthropic_version": google_mock::ANTHROPIC_VERSION,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hello vertex"}],
        }))
        .send()
        .await
        .expect("an answer")
}

#[tokio::test]
async fn a_verified_jwt_buys_a_token_that_vertex_accepts() {
    let mock = GoogleMock::start().await;
    let token_url = Url::parse(&mock.token_url()).expect("a URL");
    let cache = TokenCache::new();

    let token = cache
        .token(
            &client(),
            &crate::helpers::id("key-1"),
            google_mock::CLIENT_EMAIL,
            &service_account_key(),
            &token_url,
        )
        .await
        .expect("a token");
    let response = vertex_claude(&mock, token.expose_secret()).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["content"][0]["text"], "mock answer to: hello vertex");
    assert_eq!(mock.calls()[0].model, "claude-3-5-haiku@20241022");
    assert!(mock.calls()[0].authorized);

    let forged = vertex_claude(&mock, "ya29.not-a-token").await;
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_refresh() {
    let mock = GoogleMock::start().await;
    let token_url = Url::parse(&mock.token_url()).expect("a URL");
    let cache = Arc::new(TokenCache::new());
    let key = service_account_key();

    let calls = (0..8).map(|_| {
        let (cache, token_url, key) = (cache.clone(), token_url.clone(), key.clone());
        tokio::spawn(async move {
            cache
                .token(
                    &client(),
                    &crate::helpers::id("key-1"),
                    google_mock::CLIENT_EMAIL,
                    &key,
                    &token_url,
                )
                .await
                .map(|t| t.expose_secret().to_owned())
        })
    });
    let tokens: Vec<String> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("joined").expect("a token"))
        .collect();

    assert_eq!(mock.grants(), 1, "one token exchange for eight callers");
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    let again = cache
        .token(
            &client(),
            &crate::helpers::id("key-1"),
            google_mock::CLIENT_EMAIL,
            &key,
            &token_url,
        )
        .await
        .expect("a token");
    assert_eq!(again.expose_secret(), tokens[0], "served from the cache");
    cache
        .token(
            &client(),
            &crate::helpers::id("key-2"),
            google_mock::CLIENT_EMAIL,
            &key,
            &token_url,
        )
        .await
        .expect("a token");
    assert_eq!(mock.grants(), 2, "each key has its own token");
}

#[tokio::test]
async fn a_token_is_refreshed_five_minutes_before_it_expires() {
    let mock = GoogleMock::start().await;
    // 301 s: due for refresh one second after it is handed out.
    mock.set_expires_in(301);
    let token_url = Url::parse(&mock.token_url()).expect("a URL");
    let cache = TokenCache::new();
    let key = service_account_key();
    let http = client();
    let key_id = crate::helpers::id("k");
    let get = || cache.token(&http, &key_id, google_mock::CLIENT_EMAIL, &key, &token_url);

    let first = get().await.expect("a token");
    let cached = get().await.expect("a token");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let refreshed = get().await.expect("a token");

    assert_eq!(first.expose_secret(), cached.expose_secret());
    assert_ne!(first.expose_secret(), refreshed.expose_secret());
    assert_eq!(mock.grants(), 2);
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_an_invalid_key() {
    let mock = GoogleMock::start().await;
    let token_url = Url::parse(&mock.token_url()).expect("a URL");
    let other = SecretString::from(google_mock::TEST_ONLY_OTHER_PRIVATE_KEY);

    let result =
        google::fetch_token(&client(), google_mock::CLIENT_EMAIL, &other, &token_url).await;

    assert_eq!(result.map(|_| ()), Err(TokenError::InvalidKey));
    assert_eq!(mock.refused_grants(), 1);
    assert_eq!(mock.grants(), 0);
}

#[tokio::test]
async fn a_tampered_jwt_gets_400_invalid_grant() {
    let mock = GoogleMock::start().await;
    let token_url = Url::parse(&mock.token_url()).expect("a URL");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let jwt = google::assertion(
        google_mock::CLIENT_EMAIL,
        &service_account_key(),
        &token_url,
        now,
    )
    .expect("signed");
    // Claim another issuer, keeping the original signature.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value =
        serde_json::from_slice(&b64.decode(&parts[1]).expect("b64")).expect("json");
    claims["exp"] = json!(now + 7_200);
    parts[1] = b64.encode(claims.to_string());
    let tampered = parts.join(".");

    let post = |assertion: String| {
        client()
            .post(token_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", google::GRANT_TYPE),
                    ("assertion", &assertion),
                ])
                .expect("form"),
            )
            .send()
    };
    let refused = post(tampered).await.expect("an answer");
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");

    let accepted = post(jwt).await.expect("an answer");
    assert_eq!(accepted.status(), 200, "the untampered assertion is fine");
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_unavailable_not_invalid() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let token_url = Url::parse(&format!("http://127.0.0.1:{port}/token")).expect("a URL");

    let result = google::fetch_token(
        &client(),
        google_mock::CLIENT_EMAIL,
        &service_account_key(),
        &token_url,
    )
    .await;

    assert!(matches!(result, Err(TokenError::Unavailable(_))));
}

#[tokio::test]
async fn the_azure_mock_checks_key_deployment_and_api_version() {
    let mock = AzureMock::start("azure-test-key", &["gpt4o-prod"]).await;
    let call = |deployment: &str, version: &str, key: &str| {
        client()
            .post(format!(
                "{}/openai/deployments/{deployment}/chat/completions?api-version={version}",
                mock.endpoint()
            ))
            .header("api-key", key)
            .json(&json!({"messages": [{"role": "user", "content": "hello azure"}]}))
            .send()
    };

    let ok = call("gpt4o-prod", "2024-10-21", "azure-test-key")
        .await
        .expect("an answer");
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "mock answer to: hello azure"
    );

    let wrong_key = call("gpt4o-prod", "2024-10-21", "another-key")
        .await
        .expect("an answer");
    assert_eq!(wrong_key.status(), 401);
    let wrong_deployment = call("gpt-4o", "2024-10-21", "azure-test-key")
        .await
        .expect("an answer");
    assert_eq!(wrong_deployment.status(), 404);
    let body: Value = wrong_deployment.json().await.expect("json");
    assert_eq!(body["error"]["code"], "DeploymentNotFound");
    let wrong_version = call("gpt4o-prod", "1999-01-01", "azure-test-key")
        .await
        .expect("an answer");
    assert_eq!(wrong_version.status(), 404);
    assert_eq!(mock.requests()[0].deployment.as_deref(), Some("gpt4o-prod"));
}

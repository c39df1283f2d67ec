//! Azure OpenAI, AWS Bedrock, Google Vertex AI and an OpenAI-compatible host through both
//! front doors, streamed and not, against loopback mocks that verify what they receive
//! (Azure's api-key, deployment and api-version; Bedrock's SigV4 signature, recomputed;
//! Google's RS256 JWT grant and the access token it issued). Keys are stored sealed, as the
//! owner's page stores them; usage is metered as for every provider.

use diesel::prelude::*;
use keyhold::db::models::ProviderKeyRow;
use keyhold::db::schema::{provider_keys, usage_events};
use keyhold::domain::credentials::{
    Azure, Bedrock, Compatible, Credential, Deployment, ServiceAccount, Vertex,
};
use keyhold::domain::providers;
use keyhold::domain::resolution::KeyStatus;
use keyhold::domain::vault::Scope;
use keyhold::services::key_records;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;

use crate::gateway::*;
use crate::helpers::Options;
use crate::support::azure_mock::AzureMock;
use crate::support::bedrock_mock::BedrockMock;
use crate::support::google_mock::{self, GoogleMock};

const AZURE_KEY: &str = "azure-canary-key-0123456789abcdef";
pub(crate) const AWS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub(crate) const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub(crate) const REGION: &str = "eu-west-3";
pub(crate) const BEDROCK_MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// Stores `cred` as a workspace key of `provider`, sealed as the pages seal it.
pub(crate) fn store(gw: &Gw, provider: &str, label: &str, cred: &Credential) -> String {
    store_as(gw, Some(&gw.ws_id), provider, label, cred)
}

/// Stores `cred` as a key of `provider`: the workspace's when `workspace_id` is given, else
/// the platform's, sealed as the pages seal it.
pub(crate) fn store_as(
    gw: &Gw,
    workspace_id: Option<&str>,
    provider: &str,
    label: &str,
    cred: &Credential,
) -> String {
    let provider = providers::find(provider).expect("in the catalogue");
    let scope = if workspace_id.is_some() {
        Scope::Workspace
    } else {
        Scope::Global
    };
    let id = keyhold::domain::ids::KeyId::random();
    let workspace_id: Option<keyhold::domain::ids::WorkspaceId> =
        workspace_id.map(crate::helpers::id);
    let sealed = key_records::seal(
        &gw.app.keyring(),
        scope,
        workspace_id.as_ref(),
        provider,
        &id,
        &cred.to_sealed_json(),
    )
    .expect("sealed");
    let t = keyhold::db::now();
    diesel::insert_into(provider_keys::table)
        .values(&ProviderKeyRow {
            id: id.clone(),
            scope,
            workspace_id,
            provider: provider.id.into(),
            label: label.into(),
            priority: 0,
            sealed: Some(sealed.sealed),
            master_key_id: Some(sealed.master_key_id),
            mask: sealed.mask,
            fingerprint: sealed.fingerprint,
            status: KeyStatus::Active,
            last_tested_at: Some(t),
            last_test_result: Some("ok".into()),
            last_used_at: None,
            created_by: None,
            created_at: t,
            updated_at: t,
            removed_at: None,
            removed_by: None,
        })
        .execute(&mut gw.app.db())
        .expect("insert key");
    id.into()
}

/// The model ids `GET /v1/models` lists for the workspace's token.
async fn listed(gw: &Gw) -> Vec<String> {
    let r = gw
        .http
        .get(gw.app.url("/v1/models"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .expect("GET /v1/models");
    let body: Value = r.json().await.expect("JSON");
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) async fn byok_on(gw: &Gw, provider: &str) {
    let r = gw
        .admin_save(
            provider,
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "turning {provider} on");
}

/// A chat through `/v1/chat/completions`: status and JSON body.
async fn chat(gw: &Gw, model: &str) -> (StatusCode, Value) {
    let r = gw.chat(&gw.token, model).await;
    let status = r.status();
    (status, r.json().await.expect("JSON"))
}

/// A streamed chat: status and the text of every `data:` line.
async fn chat_stream(gw: &Gw, model: &str) -> (StatusCode, String) {
    let r = gw.chat_body(&gw.token, &chat_request(model, true)).await;
    let status = r.status();
    (status, r.text().await.expect("text"))
}

fn streamed_text(sse: &str) -> String {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn usage_rows(gw: &Gw, provider: &str) -> Vec<(i64, i64, String)> {
    usage_events::table
        .filter(usage_events::provider.eq(provider))
        .select((
            usage_events::prompt_tokens,
            usage_events::completion_tokens,
            usage_events::source,
        ))
        .load::<(i64, i64, String)>(&mut gw.app.db())
        .expect("usage")
}

async fn usage_rows_eventually(gw: &Gw, provider: &str, n: usize) -> Vec<(i64, i64, String)> {
    for _ in 0..50 {
        let rows = usage_rows(gw, provider);
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    usage_rows(gw, provider)
}

fn loopback_allowed(extra: Vec<(String, String)>) -> Options {
    let mut env = vec![(
        "KEYHOLD_OUTBOUND_ALLOW".to_owned(),
        "127.0.0.1/32".to_owned(),
    )];
    env.extend(extra);
    Options {
        env,
        ..Options::default()
    }
}

#[tokio::test]
async fn azure_deployments_answer_through_both_front_doors() {
    let azure = AzureMock::start(AZURE_KEY, &["prod-4o-mini"]).await;
    let gw = Gw::start_with(loopback_allowed(vec![])).await;
    byok_on(&gw, "azure").await;
    store(
        &gw,
        "azure",
        "Azure prod",
        &Credential::Azure(Azure {
            endpoint: url::Url::parse(&azure.endpoint()).expect("URL"),
            api_key: SecretString::from(AZURE_KEY),
            api_version: "2024-10-21".into(),
            deployments: vec![Deployment {
                model: "gpt-4o-mini".into(),
                deployment: "prod-4o-mini".into(),
            }],
        }),
    );

    assert!(
        listed(&gw).await.contains(&"azure/gpt-4o-mini".to_owned()),
        "the deployment's model is listed"
    );
    // By model name (mapped to its deployment) and by deployment name.
    for model in ["azure/gpt-4o-mini", "azure/prod-4o-mini"] {
        let (status, body) = chat(&gw, model).await;
        assert_eq!(status, StatusCode::OK, "{model}: {body}");
        assert!(
            body["choices"][0]["message"]["content"].as_str().is_some(),
            "{body}"
        );
    }
    let seen = azure.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for r in &seen {
        assert_eq!(r.deployment.as_deref(), Some("prod-4o-mini"), "{r:?}");
        assert_eq!(r.api_version.as_deref(), Some("2024-10-21"), "{r:?}");
        assert_eq!(r.api_key.as_deref(), Some(AZURE_KEY), "{r:?}");
    }
    // A model the resource has no deployment for is not sent anywhere.
    let before = azure.requests().len();
    let (status, body) = chat(&gw, "azure/gpt-4.1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(azure.requests().len(), before);

    // Streamed, and through the Anthropic front door.
    let (status, sse) = chat_stream(&gw, "azure/gpt-4o-mini").await;
    assert_eq!(status, StatusCode::OK, "{sse}");
    assert!(!streamed_text(&sse).is_empty(), "{sse}");
    let r = gw
        .messages(Auth::XApiKey, &messages_request("azure/gpt-4o-mini", false))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["type"], "message", "{body}");

    let rows = usage_rows_eventually(&gw, "azure", 4).await;
    assert!(
        rows.iter().filter(|r| r.2 == "workspace").count() >= 3,
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.0 > 0 && r.1 > 0), "{rows:?}");
}

pub(crate) fn bedrock_cred(secret: &str) -> Credential {
    Credential::Bedrock(Bedrock {
        access_key_id: AWS_KEY_ID.into(),
        secret_access_key: SecretString::from(secret),
        session_token: None,
        region: REGION.into(),
    })
}

/// A Bedrock mock that knows the test key, and an app whose Bedrock is that mock, BYOK on.
async fn with_bedrock() -> (BedrockMock, Gw) {
    let bedrock = BedrockMock::start(REGION).await;
    bedrock.add_key(AWS_KEY_ID, AWS_SECRET, None);
    let gw = Gw::start_with(Options {
        env: vec![(
            "KEYHOLD_PROVIDER_BEDROCK_BASE_URL".into(),
            bedrock.base_url(),
        )],
        ..Options::default()
    })
    .await;
    byok_on(&gw, "bedrock").await;
    (bedrock, gw)
}

#[tokio::test]
async fn bedrock_converse_is_signed_streamed_and_metered() {
    let (bedrock, gw) = with_bedrock().await;
    store(&gw, "bedrock", "AWS prod", &bedrock_cred(AWS_SECRET));
    let model = format!("bedrock/{BEDROCK_MODEL}");

    let (status, body) = chat(&gw, &model).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"], "mock answer to: Say hi",
        "{body}"
    );
    assert!(body["usage"]["prompt_tokens"].as_i64() > Some(0), "{body}");
    let seen = bedrock.requests();
    let last = seen.last().expect("Bedrock was called");
    assert_eq!(last.refused, None, "the signature verified: {last:?}");
    assert_eq!(last.model_id.as_deref(), Some(BEDROCK_MODEL));

    // ConverseStream: AWS event-stream frames become OpenAI chunks, then Anthropic events.
    let (status, sse) = chat_stream(&gw, &model).await;
    assert_eq!(status, StatusCode::OK, "{sse}");
    assert_eq!(streamed_text(&sse), "mock answer to: Say hi", "{sse}");
    assert!(sse.contains("data: [DONE]"), "{sse}");
    let r = gw
        .messages(Auth::XApiKey, &messages_request(&model, true))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let events = r.text().await.expect("text");
    assert!(events.contains("event: message_stop"), "{events}");
    let text: String = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v.pointer("/delta/text")?.as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "mock answer to: Say hi", "{events}");

    let rows = usage_rows_eventually(&gw, "bedrock", 3).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.0 > 0 && r.1 > 0 && r.2 == "workspace"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_bedrock_key_aws_does_not_recognise_is_marked_invalid() {
    let (_bedrock, gw) = with_bedrock().await; // the mock stays up for the call
    let id = store(
        &gw,
        "bedrock",
        "Wrong secret",
        &bedrock_cred("not-the-secret-0123456789"),
    );
    let (status, body) = chat(&gw, &format!("bedrock/{BEDROCK_MODEL}")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_auth", "{body}");
    let mut status = String::new();
    for _ in 0..50 {
        status = provider_keys::table
            .find(&id)
            .select(provider_keys::status)
            .first(&mut gw.app.db())
            .expect("key");
        if status == "invalid" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "invalid");
}

pub(crate) fn vertex_cred(google: &GoogleMock) -> Credential {
    Credential::Vertex(Vertex {
        service_account: ServiceAccount {
            client_email: google_mock::CLIENT_EMAIL.into(),
            private_key: SecretString::from(google_mock::TEST_ONLY_PRIVATE_KEY),
            private_key_id: Some("test-key-1".into()),
            project_id: "keyhold-test".into(),
            token_uri: google.token_url(),
        },
        location: "europe-west4".into(),
    })
}

#[tokio::test]
async fn vertex_gemini_and_claude_answer_with_one_cached_token() {
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
    store(&gw, "vertex", "GCP prod", &vertex_cred(&google));

    let (status, body) = chat(&gw, "vertex/gemini-2.0-flash-001").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = chat(&gw, "vertex/claude-3-5-haiku@20241022").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["object"], "chat.completion",
        "translated from Anthropic's: {body}"
    );
    let (status, sse) = chat_stream(&gw, "vertex/claude-3-5-haiku@20241022").await;
    assert_eq!(status, StatusCode::OK, "{sse}");
    assert!(!streamed_text(&sse).is_empty(), "{sse}");
    let r = gw
        .messages(
            Auth::XApiKey,
            &messages_request("vertex/claude-3-5-haiku@20241022", false),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let calls = google.calls();
    assert!(calls.len() >= 4, "{calls:?}");
    assert!(calls.iter().all(|c| c.authorized), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| c.model == "google/gemini-2.0-flash-001"),
        "Gemini is named google/<model> on Vertex's OpenAI endpoint: {calls:?}"
    );
    assert_eq!(google.grants(), 1, "one token for every call of the key");
}

#[tokio::test]
async fn a_compatible_host_serves_only_its_models() {
    let gw = Gw::start_with(loopback_allowed(vec![])).await;
    byok_on(&gw, "openai_compatible").await;
    let host = format!("http://127.0.0.1:{}/v1", gw.app.provider.port());
    store(
        &gw,
        "openai_compatible",
        "vLLM",
        &Credential::Compatible(Compatible {
            host: url::Url::parse(&host).expect("URL"),
            api_key: Some(SecretString::from("sk-local-vllm-key-0001")),
            models: vec!["gpt-4o-mini".into()],
        }),
    );
    assert!(listed(&gw).await.contains(&"custom/gpt-4o-mini".to_owned()));
    gw.app.provider.clear();
    let (status, body) = chat(&gw, "custom/gpt-4o-mini").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = gw.app.provider.requests();
    let sent = sent.last().expect("the host was called");
    assert_eq!(sent.key.as_deref(), Some("sk-local-vllm-key-0001"));
    assert_eq!(sent.body["model"], "gpt-4o-mini");

    let (status, body) = chat(&gw, "custom/llama3").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn a_compatible_host_on_an_address_not_allowed_is_never_called() {
    // 127.0.0.2 is loopback, so nothing leaves the machine; only 127.0.0.1/32 is allowed,
    // so the host is refused, whatever was stored.
    let gw = Gw::start_with(loopback_allowed(vec![])).await;
    byok_on(&gw, "openai_compatible").await;
    store(
        &gw,
        "openai_compatible",
        "Elsewhere",
        &Credential::Compatible(Compatible {
            host: url::Url::parse(&format!("http://127.0.0.2:{}/v1", gw.app.provider.port()))
                .expect("URL"),
            api_key: None,
            models: vec![],
        }),
    );
    gw.app.provider.clear();
    let (status, body) = chat(&gw, "custom/gpt-4o-mini").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("API host")),
        "{body}"
    );
    assert!(
        gw.app.provider.requests().is_empty(),
        "nothing reached any host"
    );
}

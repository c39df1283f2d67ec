//! Structured credentials through the front door (SPEC §3): an owner adds an Azure
//! resource, AWS Bedrock keys (fields or Credentials JSON), a Google service account and an
//! OpenAI-compatible host on the keys page, each tested against its loopback mock before it
//! is saved; the page shows only the non-secret mask; a workspace token then reaches each
//! through `/v1/chat/completions`. Every address here is loopback (127.0.0.0/8).

use diesel::prelude::*;
use keyhold::db::schema::provider_keys;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::byok::canary::dump_database;
use crate::gateway::{chat_request, new_token};
use crate::helpers::*;
use crate::support::azure_mock::AzureMock;
use crate::support::bedrock_mock::BedrockMock;
use crate::support::google_mock::{self, GoogleMock};

const AZURE_KEY: &str = "azurekey0123456789abcdef0123wxyz";
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const KEY_ID_2: &str = "AKIAI44QH8DHBEXAMPLE";
const SECRET_2: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const REGION: &str = "eu-west-3";
const BEDROCK_MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
const COMPAT_KEY: &str = "compat-key-0123456789abcdefQRST";

/// An app with an admin, a workspace `acme` with one owner and a workspace API token.
struct Setup {
    app: TestApp,
    admin: Client,
    owner: Client,
    ws_id: String,
    token: String,
}

impl Setup {
    async fn start(env: Vec<(&str, String)>) -> Setup {
        let app = TestApp::spawn_with(Options {
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ..Options::default()
        })
        .await;
        let (admin, _) = app.user_client("admin@example.test", true).await;
        let (owner, owner_id) = app.user_client("owner@example.test", false).await;
        let (ws_id, _) = app.create_workspace("acme", &[(&owner_id, "owner")]);
        let (_, token) = new_token(&app, &ws_id, "ci");
        Setup {
            app,
            admin,
            owner,
            ws_id,
            token,
        }
    }

    /// The admin turns the provider on with BYOK (no global key).
    async fn byok_on(&self, provider: &str) {
        let r = self
            .app
            .post_form(
                &self.admin,
                &format!("/admin/integrations/{provider}"),
                &[
                    ("enabled", "on"),
                    ("byok_enabled", "on"),
                    ("failure_policy", "fail"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "turning {provider} on");
    }

    /// Posts the owner's add form; returns the status and the page that follows.
    async fn add(
        &self,
        provider: &str,
        label: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut all = vec![("provider", provider), ("label", label)];
        all.extend_from_slice(fields);
        let r = self
            .app
            .post_form(&self.owner, "/w/acme/settings/keys", &all)
            .await;
        let status = r.status();
        let body = r.text().await.expect("body");
        if status == StatusCode::SEE_OTHER {
            let (_, page) = self
                .app
                .get_html(&self.owner, "/w/acme/settings/keys")
                .await;
            return (status, page);
        }
        (status, body)
    }

    /// The live keys of the workspace for `provider`: (label, mask).
    fn keys(&self, provider: &str) -> Vec<(String, String)> {
        provider_keys::table
            .filter(provider_keys::workspace_id.eq(&self.ws_id))
            .filter(provider_keys::provider.eq(provider))
            .filter(provider_keys::removed_at.is_null())
            .select((provider_keys::label, provider_keys::mask))
            .load(&mut self.app.db())
            .expect("keys")
    }

    /// A one-message chat as the workspace token: status and JSON body.
    async fn chat(&self, model: &str) -> (StatusCode, Value) {
        let r = reqwest::Client::new()
            .post(self.app.url("/v1/chat/completions"))
            .bearer_auth(&self.token)
            .json(&chat_request(model, false))
            .send()
            .await
            .expect("POST /v1/chat/completions");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Asserts no page, response or stored row (but the sealed column) holds `secret`.
    fn assert_nowhere(&self, secret: &str, pages: &[&str]) {
        for p in pages {
            assert!(!p.contains(secret), "a page holds a secret part");
        }
        let dump = dump_database(&mut self.app.db(), self.app.backend);
        assert!(!dump.contains(secret), "a stored row holds a secret part");
    }
}

fn allow_loopback() -> (&'static str, String) {
    ("KEYHOLD_OUTBOUND_ALLOW", "127.0.0.1/32".to_owned())
}

#[tokio::test]
async fn an_owner_adds_an_azure_resource_and_a_token_calls_its_deployment() {
    let azure = AzureMock::start(AZURE_KEY, &["my-gpt4o"]).await;
    let s = Setup::start(vec![allow_loopback()]).await;
    s.byok_on("azure").await;

    let (_, page) = s.app.get_html(&s.owner, "/w/acme/settings/keys").await;
    for label in [
        "Endpoint",
        "API key",
        "API version",
        "Deployments",
        "Label",
        "Save key",
    ] {
        assert!(page.contains(label), "the Azure form shows {label}");
    }
    assert!(page.contains("placeholder=\"2024-10-21\""));

    // A key the resource rejects: not saved, the endpoint kept in the form.
    let endpoint = azure.endpoint();
    let wrong = "azurekey0123456789abcdef0123zzzz";
    let form = |key: &'static str| {
        vec![
            ("endpoint", endpoint.clone()),
            ("api_key", key.to_owned()),
            ("api_version", String::new()),
            ("deployments", "my-gpt4o".to_owned()),
        ]
    };
    let owned = form(wrong);
    let fields: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = s.add("azure", "Prod", &fields).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Invalid key. Validation failed."), "{page}");
    assert!(page.contains(&endpoint) && !page.contains(wrong));
    assert!(s.keys("azure").is_empty());

    let owned = form(AZURE_KEY);
    let fields: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = s.add("azure", "Prod", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert!(page.contains("The key was saved."));
    let tested = azure.requests();
    let last = tested.last().expect("the key was tested");
    assert_eq!(last.api_key.as_deref(), Some(AZURE_KEY));
    assert_eq!(last.api_version.as_deref(), Some("2024-10-21"));
    assert_eq!(
        s.keys("azure"),
        vec![("Prod".to_owned(), "127.0.0.1 · …wxyz".to_owned())]
    );
    assert!(page.contains("127.0.0.1 · …wxyz"));

    let (status, body) = s.chat("azure/my-gpt4o").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let call = azure.requests().pop().expect("a chat call");
    assert_eq!(call.deployment.as_deref(), Some("my-gpt4o"));
    assert_eq!(call.api_key.as_deref(), Some(AZURE_KEY));
    s.assert_nowhere(AZURE_KEY, &[&page, &body.to_string()]);
}

#[tokio::test]
async fn an_owner_adds_bedrock_keys_by_fields_and_by_json_and_secrets_never_show() {
    let bedrock = BedrockMock::start(REGION).await;
    bedrock.add_key(KEY_ID, SECRET, None);
    bedrock.add_key(KEY_ID_2, SECRET_2, None);
    let s = Setup::start(vec![(
        "KEYHOLD_PROVIDER_BEDROCK_BASE_URL",
        bedrock.base_url(),
    )])
    .await;
    s.byok_on("bedrock").await;
    let (_, page) = s.app.get_html(&s.owner, "/w/acme/settings/keys").await;
    for label in [
        "Access key ID",
        "Secret access key",
        "Region",
        "Session token",
        "Credentials JSON",
    ] {
        assert!(page.contains(label), "the Bedrock form shows {label}");
    }
    let json_doc =
        json!({"accessKeyId": KEY_ID_2, "secretAccessKey": SECRET_2, "region": REGION}).to_string();

    // Both the fields and the JSON: refused, naming the field, before any call.
    let (status, both) = s
        .add(
            "bedrock",
            "Both",
            &[
                ("access_key_id", KEY_ID),
                ("secret_access_key", SECRET),
                ("region", REGION),
                ("credentials_json", &json_doc),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(both.contains("Credentials JSON, not both"), "{both}");
    assert!(bedrock.requests().is_empty(), "nothing was sent");

    // A wrong secret: the signed test is refused, nothing saved.
    let wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEYXX";
    let (status, refused) = s
        .add(
            "bedrock",
            "Wrong",
            &[
                ("access_key_id", KEY_ID),
                ("secret_access_key", wrong),
                ("region", REGION),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused.contains("Invalid key. Validation failed."),
        "{refused}"
    );
    assert!(
        refused.contains(KEY_ID),
        "the access key ID is kept in the form"
    );
    assert!(s.keys("bedrock").is_empty());

    let (status, page) = s
        .add(
            "bedrock",
            "Fields",
            &[
                ("access_key_id", KEY_ID),
                ("secret_access_key", SECRET),
                ("region", REGION),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (status, page) = s
        .add("bedrock", "Json", &[("credentials_json", &json_doc)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert!(page.contains("eu-west-3 · AKIA…MPLE"));
    assert_eq!(
        s.keys("bedrock"),
        vec![
            ("Fields".to_owned(), "eu-west-3 · AKIA…MPLE".to_owned()),
            ("Json".to_owned(), "eu-west-3 · AKIA…MPLE".to_owned()),
        ]
    );
    assert!(bedrock.requests().iter().any(|r| r.refused.is_none()));

    let (status, body) = s.chat(&format!("bedrock/{BEDROCK_MODEL}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The Replace page prefills the plain parts only, and an unchanged form keeps the key.
    let id: String = provider_keys::table
        .filter(provider_keys::label.eq("Fields"))
        .select(provider_keys::id)
        .first(&mut s.app.db())
        .expect("key id");
    let path = format!("/w/acme/settings/keys/{id}/replace");
    let (_, replace) = s.app.get_html(&s.owner, &path).await;
    assert!(
        replace.contains(&format!("value=\"{KEY_ID}\"")),
        "{replace}"
    );
    let r = s
        .app
        .post_form(
            &s.owner,
            &path,
            &[
                ("label", "Renamed"),
                ("access_key_id", KEY_ID),
                ("region", REGION),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, after) = s.app.get_html(&s.owner, "/w/acme/settings/keys").await;
    assert!(after.contains("the stored key was kept"), "{after}");

    for secret in [SECRET, SECRET_2, wrong] {
        s.assert_nowhere(
            secret,
            &[&page, &both, &refused, &replace, &after, &body.to_string()],
        );
    }
}

fn service_account(private_key: &str, token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "keyhold-test",
        "private_key_id": "0123456789abcdef",
        "private_key": private_key,
        "client_email": google_mock::CLIENT_EMAIL,
        "token_uri": token_uri,
    })
    .to_string()
}

#[tokio::test]
async fn an_owner_adds_a_vertex_service_account_and_gemini_answers() {
    let google = GoogleMock::start().await;
    let s = Setup::start(vec![
        ("KEYHOLD_PROVIDER_VERTEX_BASE_URL", google.base_url()),
        ("KEYHOLD_GOOGLE_TOKEN_URL", google.token_url()),
    ])
    .await;
    s.byok_on("vertex").await;
    let (_, page) = s.app.get_html(&s.owner, "/w/acme/settings/keys").await;
    assert!(page.contains("Service account JSON") && page.contains("Location"));
    let google_uri = "https://oauth2.googleapis.com/token";

    // A token_uri that is not Google's: refused at save, naming the field, nothing sent.
    let evil = service_account(
        google_mock::TEST_ONLY_PRIVATE_KEY,
        "https://token.invalid/token",
    );
    let (status, refused) = s
        .add(
            "vertex",
            "Evil",
            &[("service_account_json", &evil), ("location", "us-central1")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("token_uri"), "{refused}");
    assert!(refused.contains("id=\"new-vertex-service_account_json-error\""));
    assert_eq!(google.grants() + google.refused_grants(), 0);

    // A key the token endpoint does not know: invalid, not saved.
    let other = service_account(google_mock::TEST_ONLY_OTHER_PRIVATE_KEY, google_uri);
    let (status, rejected) = s
        .add(
            "vertex",
            "Other",
            &[
                ("service_account_json", &other),
                ("location", "us-central1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        rejected.contains("Invalid key. Validation failed."),
        "{rejected}"
    );
    assert!(
        rejected.contains("value=\"us-central1\""),
        "the location is kept"
    );
    assert!(s.keys("vertex").is_empty());

    let good = service_account(google_mock::TEST_ONLY_PRIVATE_KEY, google_uri);
    let (status, page) = s
        .add(
            "vertex",
            "Prod",
            &[("service_account_json", &good), ("location", "us-central1")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let mask = format!("{} · us-central1", google_mock::CLIENT_EMAIL);
    assert!(page.contains(&mask));

    let (status, body) = s.chat("vertex/gemini-2.0-flash-001").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The PEM's body (not its armour) is the secret part.
    let pem_line = google_mock::TEST_ONLY_PRIVATE_KEY
        .lines()
        .nth(3)
        .expect("a PEM body line");
    s.assert_nowhere(pem_line, &[&page, &refused, &rejected, &body.to_string()]);
}

#[tokio::test]
async fn an_owner_adds_an_openai_compatible_host_whose_models_come_from_the_host() {
    let s = Setup::start(vec![allow_loopback()]).await;
    s.byok_on("openai_compatible").await;

    // No global key for it: the admin page says so and a submitted one is refused.
    let (_, admin_page) = s
        .app
        .get_html(&s.admin, "/admin/integrations/openai_compatible")
        .await;
    assert!(admin_page.contains("Workspace keys only"));
    assert!(!admin_page.contains("name=\"api_host\""));
    let r = s
        .app
        .post_form(
            &s.admin,
            "/admin/integrations/openai_compatible",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
                ("api_host", &s.app.provider.base_url()),
                ("api_key", COMPAT_KEY),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("workspace keys only")
    );

    let (_, page) = s.app.get_html(&s.owner, "/w/acme/settings/keys").await;
    for label in ["API host", "API key", "Models"] {
        assert!(page.contains(label), "the host form shows {label}");
    }

    // 127.0.0.2 is loopback the allow list leaves out: refused before any call.
    let port = s.app.provider.port();
    let outside = format!("http://127.0.0.2:{port}/v1");
    let (status, refused) = s
        .add(
            "openai_compatible",
            "Outside",
            &[("api_host", &outside), ("api_key", COMPAT_KEY)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused.contains("id=\"new-openai_compatible-api_host-error\""),
        "{refused}"
    );
    assert!(s.keys("openai_compatible").is_empty());

    let host = s.app.provider.base_url();
    let (status, page) = s
        .add(
            "openai_compatible",
            "vLLM",
            &[("api_host", &host), ("api_key", COMPAT_KEY), ("models", "")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert!(page.contains(&format!("127.0.0.1:{port} · …QRST")));
    assert!(s.app.provider.keys_seen().contains(&COMPAT_KEY.to_owned()));

    // "Models" was filled from GET /models: the host's model answers as custom/<model>.
    let (status, body) = s.chat("custom/gpt-4o-mini").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = s.chat("custom/not-listed-anywhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.assert_nowhere(
        COMPAT_KEY,
        &[&page, &refused, &admin_page, &body.to_string()],
    );
}

#[tokio::test]
async fn an_admin_sets_a_global_bedrock_credential_with_the_same_fields() {
    let bedrock = BedrockMock::start(REGION).await;
    bedrock.add_key(KEY_ID, SECRET, None);
    let s = Setup::start(vec![(
        "KEYHOLD_PROVIDER_BEDROCK_BASE_URL",
        bedrock.base_url(),
    )])
    .await;
    let (_, page) = s
        .app
        .get_html(&s.admin, "/admin/integrations/bedrock")
        .await;
    for label in [
        "Access key ID",
        "Secret access key",
        "Region",
        "Credentials JSON",
    ] {
        assert!(page.contains(label), "the global form shows {label}");
    }
    let r = s
        .app
        .post_form(
            &s.admin,
            "/admin/integrations/bedrock",
            &[
                ("enabled", "on"),
                ("failure_policy", "fail"),
                ("access_key_id", KEY_ID),
                ("secret_access_key", SECRET),
                ("region", REGION),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = s
        .app
        .get_html(&s.admin, "/admin/integrations/bedrock")
        .await;
    assert!(page.contains("eu-west-3 · AKIA…MPLE"), "{page}");
    let (status, body) = s.chat(&format!("bedrock/{BEDROCK_MODEL}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.assert_nowhere(SECRET, &[&page, &body.to_string()]);
}

//! `keyhold seed-demo --bedrock`, as the gateway benchmark runs it: the seeded platform key
//! opens and signs a Bedrock call that the mock verifies (SigV4 recomputed from the secret).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cloud_gateway::{AWS_KEY_ID, AWS_SECRET, BEDROCK_MODEL};
use crate::process::{Site, output_text as text};
use crate::support::bedrock_mock::BedrockMock;

#[tokio::test]
async fn seed_demo_with_bedrock_gives_the_token_a_working_bedrock_platform_key() {
    // The demo key is AWS's documentation example, the one the Bedrock tests sign with.
    let bedrock = BedrockMock::start("us-east-1").await;
    bedrock.add_key(AWS_KEY_ID, AWS_SECRET, None);
    let mut site = Site::new();
    site.set("KEYHOLD_PROVIDER_BEDROCK_BASE_URL", bedrock.base_url());
    let args = [
        "seed-demo",
        "--workspaces",
        "2",
        "--keys",
        "2",
        "--audit",
        "0",
        "--token-only",
        "--bedrock",
    ];
    let out = site.cli(&args, &[]);
    assert!(out.status.success(), "seed-demo: {}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("kh_"), "only the token: {token}");
    assert!(
        !text(&out).contains(AWS_SECRET),
        "the secret is never printed"
    );

    let _served = site.serve(&[]).await;
    let r = reqwest::Client::new()
        .post(site.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({
            "model": format!("bedrock/{BEDROCK_MODEL}"),
            "messages": [{"role": "user", "content": "Say hello"}],
        }))
        .send()
        .await
        .expect("POST");
    let status = r.status();
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "chat.completion", "{body}");
    let seen = bedrock.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].refused, None, "the signature verified: {seen:?}");
    assert_eq!(seen[0].model_id.as_deref(), Some(BEDROCK_MODEL));
    assert_eq!(seen[0].access_key_id.as_deref(), Some(AWS_KEY_ID));
}

//! The official OpenAI and Anthropic Python clients, unchanged, against a spawned Keyhold:
//! `tests/sdk/check.py` run with the Python of `KEYHOLD_SDK_PYTHON` (a venv with `openai`
//! and `anthropic` installed; `.ci/run` sets it up).

use std::process::Command;

use crate::cloud_gateway::{
    AWS_KEY_ID, AWS_SECRET, BEDROCK_MODEL, REGION, bedrock_cred, byok_on, store, vertex_cred,
};
use crate::gateway::{GLOBAL_ANTHROPIC, Gw, WS_OPENAI};
use crate::helpers::Options;
use crate::support::bedrock_mock::BedrockMock;
use crate::support::google_mock::GoogleMock;

/// The check script run with `python` against `gw`, with `extra` environment.
async fn run_check(python: std::ffi::OsString, gw: &Gw, extra: &[(&str, String)]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/check.py");
    let mut cmd = Command::new(&python);
    cmd.arg(script)
        .env("KEYHOLD_URL", &gw.app.address)
        .env("KEYHOLD_TOKEN", &gw.token)
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_BASE_URL");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run the SDK check script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the SDK checks failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    stdout
}

#[tokio::test]
async fn official_sdks_reach_bedrock_and_vertex_claude() {
    let Some(python) = std::env::var_os("KEYHOLD_SDK_PYTHON").filter(|p| !p.is_empty()) else {
        eprintln!("skipped: set KEYHOLD_SDK_PYTHON (see .ci/run)");
        return;
    };
    let bedrock = BedrockMock::start(REGION).await;
    bedrock.add_key(AWS_KEY_ID, AWS_SECRET, None);
    let google = GoogleMock::start().await;
    let gw = Gw::start_with(Options {
        env: vec![
            (
                "KEYHOLD_PROVIDER_BEDROCK_BASE_URL".into(),
                bedrock.base_url(),
            ),
            ("KEYHOLD_PROVIDER_VERTEX_BASE_URL".into(), google.base_url()),
            ("KEYHOLD_GOOGLE_TOKEN_URL".into(), google.token_url()),
        ],
        ..Options::default()
    })
    .await;
    byok_on(&gw, "bedrock").await;
    byok_on(&gw, "vertex").await;
    store(&gw, "bedrock", "AWS", &bedrock_cred(AWS_SECRET));
    store(&gw, "vertex", "GCP", &vertex_cred(&google));
    let models = format!("bedrock/{BEDROCK_MODEL},vertex/claude-3-5-haiku@20241022");
    let out = run_check(python, &gw, &[("KEYHOLD_EXTRA_MODELS", models)]).await;
    assert_eq!(
        out.matches("\nok   ").count() + usize::from(out.starts_with("ok   ")),
        8,
        "{out}"
    );
    assert!(bedrock.requests().iter().all(|r| r.refused.is_none()));
    assert!(google.calls().iter().all(|c| c.authorized));
}

#[tokio::test]
async fn official_sdks_work_unchanged() {
    let Some(python) = std::env::var_os("KEYHOLD_SDK_PYTHON").filter(|p| !p.is_empty()) else {
        eprintln!(
            "skipped official_sdks_work_unchanged: set KEYHOLD_SDK_PYTHON to a Python with the \
             `openai` and `anthropic` packages (see .ci/run)"
        );
        return;
    };
    let gw = Gw::start().await;
    // OpenAI answers with the workspace's key, Anthropic with the platform's.
    gw.add_key("openai", "Production", WS_OPENAI).await;
    gw.app.provider.clear();

    run_check(python, &gw, &[]).await;

    // Which keys the provider saw: the workspace key for OpenAI models, the global key for
    // Anthropic models, and never the Keyhold token.
    let requests = gw.app.provider.requests();
    let posted: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert!(!posted.is_empty());
    for r in &posted {
        let key = r.key.as_deref().unwrap_or_default();
        match r.path.as_str() {
            "/v1/chat/completions" => assert_eq!(key, WS_OPENAI, "{r:?}"),
            "/v1/messages" => {
                assert_eq!(key, GLOBAL_ANTHROPIC, "{r:?}");
                assert_eq!(r.auth_style, "x-api-key");
            }
            other => panic!("unexpected upstream path {other}"),
        }
    }
    assert!(posted.iter().any(|r| r.path == "/v1/chat/completions"));
    assert!(posted.iter().any(|r| r.path == "/v1/messages"));
    assert!(
        requests
            .iter()
            .all(|r| r.key.as_deref() != Some(gw.token.as_str())),
        "the Keyhold token never reaches the provider"
    );
}

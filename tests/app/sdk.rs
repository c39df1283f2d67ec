//! The official OpenAI and Anthropic Python clients, unchanged, against a spawned Keyhold:
//! `tests/sdk/check.py` run with the Python of `KEYHOLD_SDK_PYTHON` (a venv with `openai`
//! and `anthropic` installed; `.ci/run` sets it up).

use std::process::Command;

use crate::gateway::{GLOBAL_ANTHROPIC, Gw, WS_OPENAI};

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
    // The app and the mock run on this test's runtime: wait without blocking it.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run the SDK check script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the SDK checks failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");

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

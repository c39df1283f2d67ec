//! Failures that explain themselves (issue 19, item 1): the provider page says where
//! requests go and what set it; a key test that fails names what happened on the page
//! ("GET /models → 404: does the base URL end in /v1?", "could not connect to …") with a
//! "Test again" button, and writes a WARN line (never the key); overrides are logged at start.

use std::net::TcpListener;

use reqwest::{Client, StatusCode};

use crate::byok::follow;
use crate::helpers::{Options, PASSWORD, TestApp, csrf_in, location};
use crate::process::{Site, create_user};
use crate::support::mock_provider::MockProvider;

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The flash box of a page (from its opening tag to its end).
fn flash(page: &str) -> &str {
    let start = page
        .find("class=\"flash ")
        .unwrap_or_else(|| panic!("no flash: {page}"));
    let end = page[start..].find("</div>").expect("flash end");
    &page[start..start + end]
}

/// OpenAI reached at the mock's root (no `/v1`), Anthropic at a closed loopback port.
async fn misconfigured() -> (TestApp, MockProvider, u16) {
    let root = MockProvider::start().await;
    root.serve_root(false);
    let base = root.base_url();
    let without_version = base.trim_end_matches("/v1").to_owned();
    let port = closed_port();
    let app = TestApp::spawn_with(Options {
        env: vec![
            (
                keyhold::config::provider_var("openai"),
                without_version.clone(),
            ),
            (
                keyhold::config::provider_var("anthropic"),
                format!("http://127.0.0.1:{port}/v1"),
            ),
        ],
        ..Options::default()
    })
    .await;
    (app, root, port)
}

#[tokio::test]
async fn a_global_key_test_that_gets_a_404_asks_about_the_version_path() {
    let (app, root, _) = misconfigured().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let without_version = root.base_url().trim_end_matches("/v1").to_owned();

    let (status, page) = app.get_html(&admin, "/admin/integrations/openai").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Requests go to"), "{page}");
    assert!(
        page.contains(&without_version),
        "the endpoint in use: {page}"
    );
    assert!(
        page.contains("KEYHOLD_PROVIDER_OPENAI_BASE_URL"),
        "where it comes from: {page}"
    );
    assert!(
        page.contains("https://api.openai.com/v1"),
        "the default: {page}"
    );
    assert!(page.contains("tested with OpenAI when saved"), "{page}");

    let key = "sk-proj-versionpath00000000000000000001";
    let r = app
        .post_form(
            &admin,
            "/admin/integrations/openai",
            &[
                ("enabled", "on"),
                ("failure_policy", "fail"),
                ("api_key", key),
            ],
        )
        .await;
    let page = follow(&app, &admin, r).await;
    let box_ = flash(&page);
    assert!(
        box_.contains("flash-warning"),
        "a warning, not info: {box_}"
    );
    assert!(box_.contains("saved, but untested"), "{box_}");
    assert!(
        box_.contains("GET /models → 404: does the base URL end in /v1?"),
        "{box_}"
    );
    assert!(
        box_.contains("action=\"/admin/integrations/openai/test\"") && box_.contains("Test again"),
        "{box_}"
    );
    assert!(!page.contains(key));
    assert!(
        root.requests().iter().any(|r| r.path == "/models"),
        "the test went to the base URL as configured"
    );

    // "Test again" says the same, and still warns.
    let r = app
        .post_form(&admin, "/admin/integrations/openai/test", &[])
        .await;
    let page = follow(&app, &admin, r).await;
    let box_ = flash(&page);
    assert!(box_.contains("flash-warning"), "{box_}");
    assert!(box_.contains("does the base URL end in /v1?"), "{box_}");
}

#[tokio::test]
async fn an_owner_key_that_cannot_be_tested_names_the_host_and_offers_a_second_test() {
    let (app, _root, port) = misconfigured().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (owner, owner_id) = app.user_client("owner@example.test", false).await;
    let (_, slug) = app.create_workspace("acme", &[(&owner_id, "owner")]);
    let r = app
        .post_form(
            &admin,
            "/admin/integrations/anthropic",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let keys = format!("/w/{slug}/settings/keys");
    let key = "sk-ant-unreachable000000000000000000002";
    let r = app
        .post_form(
            &owner,
            &keys,
            &[
                ("provider", "anthropic"),
                ("label", "Main"),
                ("api_key", key),
            ],
        )
        .await;
    let page = follow(&app, &owner, r).await;
    let box_ = flash(&page);
    assert!(box_.contains("flash-warning"), "{box_}");
    assert!(box_.contains("The key was saved, but untested."), "{box_}");
    assert!(
        box_.contains(&format!("Could not connect to 127.0.0.1:{port}.")),
        "{box_}"
    );
    let test_path = crate::helpers::id_after(box_, &format!("action=\"{keys}/"))
        .expect("a Test again form for the new key");
    assert!(box_.contains("Test again"), "{box_}");
    assert!(!page.contains(key));

    let r = app
        .post_form(&owner, &format!("{keys}/{test_path}/test"), &[])
        .await;
    let page = follow(&app, &owner, r).await;
    let box_ = flash(&page);
    assert!(box_.contains("Test done."), "{box_}");
    assert!(
        box_.contains(&format!("Could not connect to 127.0.0.1:{port}.")),
        "{box_}"
    );
}

/// Signs in to a served site; returns the client.
async fn sign_in(site: &Site, email: &str) -> Client {
    let c = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let body = c
        .get(site.url("/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("body");
    let token = csrf_in(&body).expect("csrf");
    let r = c
        .post(site.url("/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
    c
}

/// The server's output once it holds `needle` (the log is written out every 100 ms), or
/// after 5 s.
async fn logs_with(served: &crate::process::Served, needle: &str) -> String {
    let mut logs = String::new();
    for _ in 0..50 {
        logs = served.logs();
        if logs.contains(needle) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    logs
}

#[tokio::test]
async fn overrides_are_logged_at_start_and_a_failed_test_writes_a_warn_line() {
    let port = closed_port();
    let mut site = Site::new();
    site.set(
        &keyhold::config::provider_var("openai"),
        format!("http://127.0.0.1:{port}/v1"),
    );
    let out = site.cli(&["migrate"], &[]);
    assert!(out.status.success());
    create_user(&mut site.conn(), "admin@example.test", true);
    let served = site.serve(&[]).await;
    let started = format!(
        "KEYHOLD_PROVIDER_OPENAI_BASE_URL is set: openai is reached at http://127.0.0.1:{port}/v1"
    );
    let logs = logs_with(&served, &started).await;
    assert!(logs.contains(&started), "{logs}");
    assert!(
        !logs.contains("KEYHOLD_PROVIDER_ANTHROPIC_BASE_URL"),
        "only overrides are logged: {logs}"
    );

    let admin = sign_in(&site, "admin@example.test").await;
    // A provider without an override shows the catalogue's URL (nothing is sent to it).
    let page = admin
        .get(site.url("/admin/integrations/anthropic"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(page.contains("https://api.anthropic.com/v1"), "{page}");
    assert!(page.contains("The catalogue's default"), "{page}");

    let key = "sk-proj-warnline0000000000000000000003";
    let token = csrf_in(&page).expect("csrf");
    let r = admin
        .post(site.url("/admin/integrations/openai"))
        .form(&[
            ("enabled", "on"),
            ("failure_policy", "fail"),
            ("api_key", key),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", location(&r));
    let logs = logs_with(&served, "key test failed").await;
    let line = logs
        .lines()
        .find(|l| l.contains("key test failed"))
        .unwrap_or_else(|| panic!("no key-test line: {logs}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("openai"), "{line}");
    assert!(
        line.contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{line}"
    );
    assert!(!logs.contains(key), "the key is never logged");
    assert!(!logs.contains("warnline"), "no part of the key is logged");
}

//! A typed key is stored exactly as the provider issued it, or refused: bytes that are not
//! UTF-8 (which form decoding would turn into U+FFFD), a space or a control character
//! inside are refused with a clear message and the rest of the form kept; whitespace
//! around it is trimmed.

use reqwest::{Client, Response, StatusCode};

use super::*;

const KEY: &str = "sk-proj-typedkey00000000000000000005555";
const DAMAGED: &str = "The API key holds bytes that are not text";
const ONE_WORD: &str = "An API key is one word without spaces, line breaks or control characters";

/// Posts `body` (already form-encoded, without the CSRF token) as `c`.
async fn post_raw(app: &TestApp, c: &Client, path: &str, body: &str) -> Response {
    let token = app.csrf(c).await;
    c.post(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("{body}&csrf_token={token}"))
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn byok_a_key_with_bytes_that_are_not_text_is_refused_and_the_label_kept() {
    let b = Byok::start().await;
    let path = b.keys_path();

    let r = post_raw(
        &b.app,
        &b.owner,
        &path,
        "provider=openai&label=Production+EU&api_key=sk-proj-typedkey%FF0000000000000000005555",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.expect("body");
    assert!(page.contains(DAMAGED), "{page}");
    assert!(
        page.contains("value=\"Production EU\""),
        "the label stays filled in"
    );
    assert!(!page.contains('\u{fffd}'), "nothing mangled is shown back");

    for (what, key) in [
        ("an inner space", "sk-proj-typedkey 00000000000000000005555"),
        ("a tab", "sk-proj-typedkey\t00000000000000000005555"),
        (
            "a control character",
            "sk-proj-typedkey\u{7}00000000000000000005555",
        ),
    ] {
        let r = b.add_key(&b.owner, "Production EU", key).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let page = r.text().await.expect("body");
        assert!(page.contains(ONE_WORD), "{what}: {page}");
        assert!(page.contains("value=\"Production EU\""), "{what}");
    }
    assert!(b.all_keys().is_empty(), "nothing stored");
    assert_eq!(b.app.audit_count("workspace_key.added"), 0);
    assert!(
        b.app.provider.keys_seen().is_empty(),
        "nothing was sent upstream"
    );

    // Whitespace around the key is only the way it was copied: trimmed, and the key works.
    let r = b
        .add_key(&b.owner, "Production EU", &format!("  {KEY}\r\n"))
        .await;
    let page = follow(&b.app, &b.owner, r).await;
    assert!(page.contains("The key was saved."), "{page}");
    assert_eq!(b.app.provider.keys_seen(), vec![KEY.to_owned()]);
    assert_eq!(b.key("Production EU").status, KeyStatus::Active);
    assert_eq!(b.app.audit_count("workspace_key.added"), 1);
}

#[tokio::test]
async fn byok_a_global_key_with_bytes_that_are_not_text_is_refused_and_the_settings_kept() {
    let b = Byok::start().await;

    let r = post_raw(
        &b.app,
        &b.admin,
        "/admin/integrations/openai",
        "enabled=on&byok_enabled=on&failure_policy=fallback&api_key=sk-proj-globalkey%FF%FE000000000000000007f3a",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.expect("body");
    assert!(page.contains(DAMAGED), "{page}");
    assert!(
        page.contains("value=\"fallback\" checked"),
        "the policy chosen stays chosen"
    );
    assert_eq!(b.app.audit_count("provider.global_key_set"), 0);
    assert_eq!(b.app.audit_count("provider.failure_policy_changed"), 0);
    assert!(b.all_keys().is_empty(), "no global key stored");
    assert!(b.app.provider.keys_seen().is_empty());
}

//! The admin's journey through Settings → Integrations.

use reqwest::StatusCode;

use super::*;
use crate::support::mock_provider::Behavior;

#[tokio::test]
async fn byok_admin_sees_every_catalogue_provider_disabled_by_default() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;

    let (status, page) = app.get_html(&admin, "/admin/integrations").await;

    assert_eq!(status, StatusCode::OK);
    for name in [
        "OpenAI",
        "Anthropic",
        "Google Gemini",
        "Mistral",
        "DeepSeek",
        "xAI",
        "Groq",
        "OpenRouter",
    ] {
        assert!(page.contains(name), "{name} missing");
    }
    assert!(!page.contains(">Enabled<"), "nothing is enabled yet");
}

#[tokio::test]
async fn byok_admin_enables_openai_sets_a_global_key_tests_it_and_turns_byok_on() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let key = "sk-proj-globalkey0000000000000000007f3a";

    let r = app
        .post_form(
            &admin,
            "/admin/integrations/openai",
            &[
                ("enabled", "on"),
                ("api_key", key),
                ("failure_policy", "fail"),
            ],
        )
        .await;
    let page = follow(&app, &admin, r).await;

    assert!(page.contains("sk-proj-…7f3a"), "the mask is shown");
    assert!(!page.contains(key), "the key is never shown again");
    assert_eq!(
        app.provider.keys_seen(),
        vec![key.to_owned()],
        "tested on save"
    );
    assert_eq!(app.audit_count("provider.enabled"), 1);
    assert_eq!(app.audit_count("provider.global_key_set"), 1);
    assert_eq!(app.audit_count("provider.byok_enabled"), 0);

    let r = app
        .post_form(&admin, "/admin/integrations/openai/test", &[])
        .await;
    let page = follow(&app, &admin, r).await;
    assert!(page.contains("The provider accepted the key."), "{page}");
    assert_eq!(
        app.provider.keys_seen().len(),
        2,
        "Test key calls the provider"
    );
    assert!(
        app.provider
            .requests()
            .iter()
            .all(|r| r.auth_style == "bearer")
    );
    assert_eq!(app.audit_count("provider.global_key_tested"), 1);

    // Turn BYOK on without touching the key (empty field keeps it).
    let r = app
        .post_form(
            &admin,
            "/admin/integrations/openai",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("api_key", ""),
                ("failure_policy", "fallback"),
            ],
        )
        .await;
    follow(&app, &admin, r).await;
    assert_eq!(app.audit_count("provider.byok_enabled"), 1);
    assert_eq!(app.audit_count("provider.failure_policy_changed"), 1);
    assert_eq!(app.audit_count("provider.global_key_replaced"), 0);
    assert_eq!(
        app.provider.keys_seen().len(),
        2,
        "an empty field tests nothing"
    );

    let (_, list) = app.get_html(&admin, "/admin/integrations").await;
    let row = &list[list.find("/admin/integrations/openai").expect("row")..];
    let row = &row[..row.find("</tr>").expect("end")];
    assert!(row.contains(">Enabled<") && row.contains(">On<") && row.contains("sk-proj-…7f3a"));
}

#[tokio::test]
async fn byok_a_global_key_the_provider_rejects_is_not_saved_and_nothing_else_changes() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    app.provider
        .set_behavior("sk-rejected-global-123456", Behavior::Status(401));

    let r = app
        .post_form(
            &admin,
            "/admin/integrations/openai",
            &[("enabled", "on"), ("api_key", "sk-rejected-global-123456")],
        )
        .await;

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains("Invalid key. Validation failed."));
    assert!(!body.contains("sk-rejected-global-123456"));
    assert_eq!(app.audit_count("provider.enabled"), 0, "nothing saved");
    assert_eq!(app.audit_count("provider.global_key_set"), 0);
}

#[tokio::test]
async fn byok_admin_removes_the_global_key_and_the_row_stays_without_ciphertext() {
    let b = Byok::start().await;
    let r = b
        .save_openai(&[
            ("enabled", "on"),
            ("byok_enabled", "on"),
            ("api_key", "sk-global-to-remove-0000abcd"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, confirm) = b
        .app
        .get_html(&b.admin, "/admin/integrations/openai/remove-key")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Remove global key"));
    let r = b
        .app
        .post_form(&b.admin, "/admin/integrations/openai/remove-key", &[])
        .await;
    follow(&b.app, &b.admin, r).await;

    let global: Vec<_> = b
        .all_keys()
        .into_iter()
        .filter(|k| k.scope == Scope::Global)
        .collect();
    assert_eq!(global.len(), 1);
    assert!(global[0].sealed.is_none() && global[0].master_key_id.is_none());
    assert_eq!(global[0].status, KeyStatus::Removed);
    assert_eq!(global[0].mask, "sk-…abcd");
    assert_eq!(b.app.audit_count("provider.global_key_removed"), 1);
}

#[tokio::test]
async fn byok_non_admins_cannot_reach_integrations() {
    let b = Byok::start().await;
    for path in ["/admin/integrations", "/admin/integrations/openai"] {
        let (status, _) = b.app.get_html(&b.owner, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = b
        .app
        .post_form(
            &b.owner,
            "/admin/integrations/openai",
            &[("enabled", "on"), ("api_key", "sk-owner-sneaky-0000000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(b.all_keys().is_empty());
}

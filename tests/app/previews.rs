//! Confirmations that name names: BYOK off lists the workspaces that switch with their
//! calls, removing the global key lists those that lose it, removing a member says what
//! they lose, and the only owner is never offered removal.

use diesel::prelude::*;
use keyhold::db::schema::usage_daily;
use reqwest::StatusCode;

use crate::byok::Byok;
use crate::helpers::*;

fn add_calls(app: &TestApp, ws: &str, source: &str, requests: i64) {
    diesel::insert_into(usage_daily::table)
        .values((
            usage_daily::workspace_id.eq(ws),
            usage_daily::day.eq(keyhold::db::now() / 86_400),
            usage_daily::provider.eq("openai"),
            usage_daily::source.eq(source),
            usage_daily::requests.eq(requests),
            usage_daily::errors.eq(0),
            usage_daily::tokens.eq(requests * 10),
            usage_daily::latency_ms.eq(requests * 100),
        ))
        .execute(&mut app.db())
        .expect("usage row");
}

#[tokio::test]
async fn turning_byok_off_names_the_workspaces_that_switch_with_their_calls() {
    let b = Byok::start().await;
    let r = b
        .add_key(
            &b.owner,
            "Production",
            "sk-proj-previewkey000000000000000001111",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    add_calls(&b.app, &b.ws_id, "workspace", 1_234);
    let (quiet, _) = b.app.create_workspace("quiet", &[]);
    add_calls(&b.app, &quiet, "platform", 7);

    let r = b
        .save_openai(&[("enabled", "on"), ("failure_policy", "fail")])
        .await;

    assert_eq!(r.status(), StatusCode::OK, "asks first");
    let page = r.text().await.expect("body");
    assert!(
        page.contains("1 workspace uses its own OpenAI key"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<a href=\"/admin/workspaces/{}\">Workspace acme</a> <span class=\"muted\">· 1,234 calls in the last 30 days</span>",
            b.ws_id
        )),
        "{page}"
    );
    assert!(
        !page.contains("Workspace quiet"),
        "it has no key of its own"
    );
}

#[tokio::test]
async fn removing_the_global_key_names_the_workspaces_that_lose_it() {
    let b = Byok::start().await;
    let r = b
        .save_openai(&[
            ("enabled", "on"),
            ("byok_enabled", "on"),
            ("api_key", "sk-proj-globalkey0000000000000000000009999"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // acme has its own key; globex and initech rely on the global one, globex used it.
    let r = b
        .add_key(
            &b.owner,
            "Production",
            "sk-proj-previewkey000000000000000001111",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    add_calls(&b.app, &b.ws_id, "platform", 5);
    let (globex, _) = b.app.create_workspace("globex", &[]);
    b.app.create_workspace("initech", &[]);
    add_calls(&b.app, &globex, "platform", 42);

    let (status, page) = b
        .app
        .get_html(&b.admin, "/admin/integrations/openai/remove-key")
        .await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("2 workspaces without their own OpenAI key"),
        "{page}"
    );
    assert!(
        page.contains(">Workspace globex</a> <span class=\"muted\">· 42 calls"),
        "{page}"
    );
    assert!(
        !page.contains(">Workspace acme</a>"),
        "acme keeps its own key"
    );
    assert!(
        !page.contains("Workspace initech"),
        "only those that called are named"
    );
}

#[tokio::test]
async fn removing_a_member_says_what_they_lose_and_the_only_owner_has_no_button() {
    let app = TestApp::spawn().await;
    let w = app.seed_world();
    let owner = app.client();
    app.sign_in(&owner, &w.owner_email).await;
    // The member has an API token in acme (tokens are revoked with the membership).
    let t = keyhold::db::now();
    diesel::insert_into(keyhold::db::schema::api_tokens::table)
        .values((
            keyhold::db::schema::api_tokens::id.eq(uuid::Uuid::new_v4().to_string()),
            keyhold::db::schema::api_tokens::workspace_id.eq(&w.ws_id),
            keyhold::db::schema::api_tokens::name.eq("Nightly report"),
            keyhold::db::schema::api_tokens::token_hash.eq("not-a-real-hash"),
            keyhold::db::schema::api_tokens::prefix.eq("kh_test"),
            keyhold::db::schema::api_tokens::created_by.eq(Some(&w.member)),
            keyhold::db::schema::api_tokens::created_at.eq(t),
        ))
        .execute(&mut app.db())
        .expect("token");

    // The members page: a Remove link for the member, none for the only owner.
    let (_, page) = app.get_html(&owner, "/w/acme/settings/members").await;
    assert!(page.contains(&format!("/w/acme/settings/members/{}/remove", w.member)));
    assert!(!page.contains(&format!("/w/acme/settings/members/{}/remove", w.owner)));
    assert!(page.contains("Only owner"));

    // The member's preview names what goes.
    let (status, page) = app
        .get_html(
            &owner,
            &format!("/w/acme/settings/members/{}/remove", w.member),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("member@example.test"), "{page}");
    assert!(page.contains("loses access to Workspace acme"), "{page}");
    assert!(page.contains("<li>Nightly report</li>"), "{page}");
    assert!(page.contains(">Remove member</button>"));

    // The only owner's page explains instead of offering removal.
    let (status, page) = app
        .get_html(
            &owner,
            &format!("/w/acme/settings/members/{}/remove", w.owner),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("only owner and cannot be removed"), "{page}");
    assert!(!page.contains("<form method=\"post\" action=\"/w/acme/settings/members/"));

    // Someone who is not a member of acme is not found.
    let (status, _) = app
        .get_html(
            &owner,
            &format!("/w/acme/settings/members/{}/remove", w.other_owner),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Confirming removes the member and revokes the token.
    let r = app
        .post_form(
            &owner,
            &format!("/w/acme/settings/members/{}/remove", w.member),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.get_html(&owner, "/w/acme/settings/members").await;
    assert!(!page.contains(&format!("/w/acme/settings/members/{}/remove", w.member)));
}

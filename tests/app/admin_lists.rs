//! The admin's Workspaces and Users lists: what a row tells (owners, keys, this month's
//! platform tokens; last sign-in, workspaces), totals and numbered pages.

use diesel::prelude::*;
use keyhold::db::schema::{provider_keys, usage_daily, users};
use reqwest::StatusCode;

use crate::byok::Byok;
use crate::helpers::*;

/// The `<tr>` holding `needle`.
fn row_of<'a>(page: &'a str, needle: &str) -> &'a str {
    let at = page
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} in the page"));
    let start = page[..at].rfind("<tr>").expect("row start");
    let end = at + page[at..].find("</tr>").expect("row end");
    &page[start..end]
}

fn today() -> String {
    keyhold::web::handlers::workspace::format_time(keyhold::db::now())[..10].to_owned()
}

fn rename(app: &TestApp, id: &str, name: &str) {
    diesel::update(users::table.find(id))
        .set(users::name.eq(name))
        .execute(&mut app.db())
        .expect("rename");
}

fn add_usage(app: &TestApp, ws: &str, day: i64, source: &str, tokens: i64) {
    diesel::insert_into(usage_daily::table)
        .values((
            usage_daily::workspace_id.eq(ws),
            usage_daily::day.eq(day),
            usage_daily::provider.eq("openai"),
            usage_daily::source.eq(source),
            usage_daily::requests.eq(3),
            usage_daily::errors.eq(0),
            usage_daily::tokens.eq(tokens),
            usage_daily::latency_ms.eq(300),
        ))
        .execute(&mut app.db())
        .expect("usage row");
}

#[tokio::test]
async fn the_workspace_list_names_owners_counts_keys_and_this_months_platform_tokens() {
    // Arrange: acme has an owner, two keys (one the provider later rejected), platform
    // tokens this month and before it, workspace-key tokens, and an allowance.
    let b = Byok::start().await;
    rename(&b.app, &b.owner_id, "Olivia Owner");
    for (label, key) in [
        ("Production", "sk-proj-listkey00000000000000000000001111"),
        ("Backup", "sk-proj-listkey00000000000000000000002222"),
    ] {
        let r = b.add_key(&b.owner, label, key).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "adding {label}");
    }
    diesel::update(provider_keys::table.filter(provider_keys::label.eq("Backup")))
        .set(provider_keys::status.eq("invalid"))
        .execute(&mut b.app.db())
        .expect("mark invalid");
    let this_month = keyhold::db::month_start(keyhold::db::now()) / 86_400;
    add_usage(&b.app, &b.ws_id, this_month, "platform", 1_200);
    add_usage(&b.app, &b.ws_id, this_month, "workspace", 99_999);
    add_usage(&b.app, &b.ws_id, this_month - 1, "platform", 77_777);
    let r = b
        .app
        .post_form(
            &b.admin,
            &format!("/admin/workspaces/{}/allowance", b.ws_id),
            &[("allowance_tokens", "5000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    b.app.create_workspace("orphan", &[]);

    // Act
    let (status, page) = b.app.get_html(&b.admin, "/admin/workspaces").await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    let acme = row_of(&page, ">Workspace acme</a>");
    assert!(acme.contains("Olivia Owner"), "{acme}");
    assert!(acme.contains(&today()), "created today: {acme}");
    assert!(acme.contains("1 active"), "{acme}");
    assert!(acme.contains("1 invalid"), "{acme}");
    assert!(
        acme.contains("1,200 of 5,000"),
        "only this month's platform tokens: {acme}"
    );
    let orphan = row_of(&page, ">Workspace orphan</a>");
    assert!(orphan.contains("No owner"), "{orphan}");
    assert!(orphan.contains("0 (no limit)"), "{orphan}");
    assert!(page.contains("Page 1 of 1 · 2 workspaces"), "{page}");
    assert!(!page.contains("sk-proj-listkey"), "no key on the list");
}

#[tokio::test]
async fn the_user_list_shows_last_sign_in_and_workspaces_but_no_password_hash() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (_, olivia) = app.user_client("olivia@example.test", false).await;
    let never = app.create_user("never@example.test", false);
    app.create_workspace("acme", &[(&olivia, "owner"), (&never, "member")]);
    app.create_workspace("globex", &[(&never, "member")]);

    let (status, page) = app.get_html(&admin, "/admin/users").await;

    assert_eq!(status, StatusCode::OK);
    let row = row_of(&page, ">olivia@example.test</a>");
    assert!(row.contains(&today()), "signed in today: {row}");
    assert!(
        row.contains(">Workspace acme</a> <span class=\"muted\">(owner)</span>"),
        "{row}"
    );
    let row = row_of(&page, ">never@example.test</a>");
    assert!(row.contains("Never"), "{row}");
    assert!(
        row.contains(">Workspace acme</a>, <a") && row.contains(">Workspace globex</a>"),
        "{row}"
    );
    assert!(!row.contains("(owner)"), "{row}");
    assert!(!page.contains("$argon2"), "no password hash in the page");
    assert!(page.contains("Page 1 of 1 · 3 users"), "{page}");
}

#[tokio::test]
async fn long_lists_say_how_many_and_link_every_page() {
    // Arrange: 105 more users (inserted directly: hashing 105 passwords adds nothing).
    let app = TestApp::spawn().await;
    let (admin, admin_id) = app.user_client("admin@example.test", true).await;
    let hash: String = users::table
        .find(&admin_id)
        .select(users::password_hash)
        .get_result(&mut app.db())
        .expect("hash");
    for i in 0..105 {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(uuid::Uuid::new_v4().to_string()),
                users::email.eq(format!("u{i:03}@example.test")),
                users::name.eq(format!("Person {i}")),
                users::password_hash.eq(&hash),
                users::is_admin.eq(false),
                users::disabled.eq(false),
                users::session_epoch.eq(0),
                users::created_at.eq(0),
                users::updated_at.eq(0),
            ))
            .execute(&mut app.db())
            .expect("insert user");
    }

    // Page 1: totals, numbered links, no link to itself.
    let (_, page) = app.get_html(&admin, "/admin/users").await;
    assert!(page.contains("Page 1 of 3 · 106 users"), "{page}");
    assert!(page.contains("aria-current=\"page\">1</span>"));
    assert!(page.contains("href=\"?page=2\" aria-label=\"Page 2\""));
    assert!(page.contains("href=\"?page=3\" aria-label=\"Page 3\""));
    assert!(page.contains("href=\"?page=2\" rel=\"next\""));
    assert_eq!(page.matches("<a href=\"/admin/users/").count(), 50);

    // The last page holds the rest, in email order.
    let (_, page) = app.get_html(&admin, "/admin/users?page=3").await;
    assert!(page.contains("Page 3 of 3"));
    assert_eq!(page.matches("<a href=\"/admin/users/").count(), 6);
    for email in ["u099", "u104"] {
        assert!(
            page.contains(&format!(">{email}@example.test</a>")),
            "{email}"
        );
    }
    assert!(
        !page.contains(">u098@example.test</a>"),
        "u098 is on page 2"
    );
    assert!(page.contains("href=\"?page=2\" rel=\"prev\""));

    // A page past the end is the last one; a page that is not a number is the first.
    let (status, page) = app.get_html(&admin, "/admin/users?page=99").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Page 3 of 3"));
    let (status, page) = app.get_html(&admin, "/admin/users?page=two").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Page 1 of 3"));

    // A search counts its own matches, and its page links keep the search.
    let (_, page) = app.get_html(&admin, "/admin/users?q=u0").await;
    assert!(page.contains("Page 1 of 2 · 100 users"), "{page}");
    assert!(page.contains("href=\"?q=u0&#38;page=2\""), "{page}");
}

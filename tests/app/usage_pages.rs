//! Owner pages for API tokens and usage, and the admin's allowance form (issue 4, items 2
//! and 5): tokens shown once and stored as a hash, revocation, who may see what, usage
//! tables and charts from seeded events, and allowance validation.

use diesel::prelude::*;
use keyhold::db::schema::{api_tokens, audit_events, workspaces};
use keyhold::db::{DbConn, now};
use keyhold::domain::resolution::Source;
use keyhold::gateway::translate::Usage;
use keyhold::gateway::usage::{UsageEvent, write_batch};
use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::helpers::*;

const COPY_NOTE: &str = "Copy it now: it will not be shown again.";

pub fn select(html: &str, css: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).expect("selector");
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

fn attr(html: &str, css: &str, name: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).expect("selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(name).map(str::to_owned))
        .collect()
}

/// The cells of the table `css`, row by row (header cell first).
pub fn table(html: &str, css: &str) -> Vec<Vec<String>> {
    let doc = Html::parse_document(html);
    let rows = Selector::parse(&format!("{css} tbody tr")).expect("selector");
    let cells = Selector::parse("th, td").expect("selector");
    doc.select(&rows)
        .map(|r| {
            r.select(&cells)
                .map(|c| c.text().collect::<String>().trim().to_owned())
                .collect()
        })
        .collect()
}

/// The row of the providers table for `name` and `source` (fails the test when missing).
pub fn provider_row(providers: &[Vec<String>], name: &str, source: &str) -> Vec<String> {
    providers
        .iter()
        .find(|r| r[0] == name && r[1] == source)
        .cloned()
        .unwrap_or_else(|| panic!("no {name}/{source} row in {providers:?}"))
}

/// Writes one usage event through the gateway's usage writer (events and daily rollup).
#[allow(clippy::too_many_arguments)]
pub fn seed_event(
    conn: &mut DbConn,
    ws: &str,
    at: i64,
    provider: &'static str,
    source: &str,
    status: u16,
    prompt: i64,
    completion: i64,
) {
    let source = match source {
        "platform" => Some(Source::Platform),
        "workspace" => Some(Source::Workspace),
        _ => None,
    };
    let event = UsageEvent {
        at,
        workspace_id: crate::helpers::id(ws),
        token_id: None,
        user_id: None,
        provider,
        model: "test-model".into(),
        source,
        key_id: None,
        status,
        error_code: None,
        latency_ms: 200,
        usage: Usage {
            input: prompt,
            output: completion,
        },
    };
    write_batch(conn, &[event]).expect("seed usage event");
}

fn day(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .expect("a valid time")
        .format(fmt)
        .expect("a formatted date")
}

#[tokio::test]
async fn a_new_token_is_shown_once_and_stored_only_as_its_hash() {
    let app = TestApp::spawn().await;
    let (c, owner) = app.user_client("owner@example.test", false).await;
    app.create_workspace("acme", &[(&owner, "owner")]);

    let r = app
        .post_form(&c, "/w/acme/settings/tokens", &[("name", "Support bot")])
        .await;

    assert_eq!(
        r.status(),
        StatusCode::OK,
        "rendered directly, not redirected"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.expect("body");
    assert!(html.contains(COPY_NOTE), "{html}");
    let token = select(&html, ".copy-row code#new-token")
        .pop()
        .expect("the token");
    assert!(token.starts_with("kh_") && token.len() > 20, "{token}");
    let (_, again) = app.get_html(&c, "/w/acme/settings/tokens").await;
    assert!(!again.contains(&token), "the token is shown only once");
    assert!(!again.contains(COPY_NOTE));
    assert!(
        again.contains("Support bot") && again.contains(&token[..9]),
        "listed by prefix"
    );
    let (hash, prefix): (String, String) = api_tokens::table
        .select((api_tokens::token_hash, api_tokens::prefix))
        .first(&mut app.db())
        .expect("the token row");
    assert_eq!(hash, keyhold::domain::tokens::hash(&token));
    assert!(!hash.contains(&token[3..]) && !prefix.contains(&token[9..]));
    assert_eq!(app.audit_count("api_token.created"), 1);
}

#[tokio::test]
async fn a_token_without_a_name_is_refused_inline() {
    let app = TestApp::spawn().await;
    let (c, owner) = app.user_client("owner@example.test", false).await;
    app.create_workspace("acme", &[(&owner, "owner")]);

    let r = app
        .post_form(&c, "/w/acme/settings/tokens", &[("name", "  ")])
        .await;

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("body");
    assert!(html.contains("Give the token a name"), "{html}");
    assert!(!html.contains(COPY_NOTE));
    let n: i64 = api_tokens::table
        .count()
        .get_result(&mut app.db())
        .expect("count tokens");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn revoking_a_token_marks_it_revoked_and_is_audited() {
    let app = TestApp::spawn().await;
    let (c, owner) = app.user_client("owner@example.test", false).await;
    app.create_workspace("acme", &[(&owner, "owner")]);
    app.post_form(&c, "/w/acme/settings/tokens", &[("name", "CI")])
        .await;
    let (_, html) = app.get_html(&c, "/w/acme/settings/tokens").await;
    let action = attr(&html, "form[data-confirm]", "action")
        .into_iter()
        .find(|a| a.ends_with("/revoke"))
        .expect("a revoke form");

    let r = app.post_form(&c, &action, &[]).await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/w/acme/settings/tokens");
    let (_, html) = app.get_html(&c, "/w/acme/settings/tokens").await;
    assert!(html.contains("Revoked"), "{html}");
    assert!(attr(&html, "form[data-confirm]", "action").is_empty());
    let revoked: Option<i64> = api_tokens::table
        .select(api_tokens::revoked_at)
        .first(&mut app.db())
        .expect("the token row");
    assert!(revoked.is_some());
    assert_eq!(app.audit_count("api_token.revoked"), 1);
}

#[tokio::test]
async fn members_get_403_and_owners_of_other_workspaces_404_on_tokens_and_usage() {
    let app = TestApp::spawn().await;
    let (member, member_id) = app.user_client("member@example.test", false).await;
    let (other, other_id) = app.user_client("other@example.test", false).await;
    let owner = app.create_user("owner@example.test", false);
    app.create_workspace("acme", &[(&owner, "owner"), (&member_id, "member")]);
    app.create_workspace("globex", &[(&other_id, "owner")]);

    for path in ["/w/acme/settings/tokens", "/w/acme/usage"] {
        assert_eq!(
            app.get(&member, path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            app.get(&other, path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r = app
        .post_form(&member, "/w/acme/settings/tokens", &[("name", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let n: i64 = api_tokens::table
        .count()
        .get_result(&mut app.db())
        .expect("count tokens");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_usage_page_tables_and_chart_show_the_seeded_events() {
    // Arrange: today 3 platform + 2 workspace calls, two days ago 1 platform + 4 workspace
    // (one rate-limited); noise in another workspace and before the window.
    let app = TestApp::spawn().await;
    let (c, owner) = app.user_client("owner@example.test", false).await;
    let (ws, _) = app.create_workspace("acme", &[(&owner, "owner")]);
    let (other_ws, _) = app.create_workspace("globex", &[]);
    let t = now();
    let earlier = t - 2 * 86_400;
    let mut conn = app.db();
    for _ in 0..3 {
        seed_event(&mut conn, &ws, t, "openai", "platform", 200, 60, 40);
    }
    for _ in 0..2 {
        seed_event(&mut conn, &ws, t, "openai", "workspace", 200, 10, 5);
    }
    seed_event(
        &mut conn,
        &ws,
        earlier,
        "anthropic",
        "platform",
        200,
        500,
        500,
    );
    for status in [200, 200, 200, 429] {
        seed_event(&mut conn, &ws, earlier, "openai", "workspace", status, 1, 1);
    }
    seed_event(
        &mut conn, &other_ws, t, "openai", "platform", 200, 9_000, 9_000,
    );
    seed_event(
        &mut conn,
        &ws,
        t - 40 * 86_400,
        "openai",
        "platform",
        200,
        7,
        7,
    );

    let (status, html) = app.get_html(&c, "/w/acme/usage").await;

    assert_eq!(status, StatusCode::OK);
    let days = table(&html, "#ws-days");
    assert_eq!(
        days,
        vec![
            vec![day(t), "3".into(), "2".into(), "300".into(), "30".into()],
            vec![
                day(earlier),
                "1".into(),
                "4".into(),
                "1,000".into(),
                "8".into()
            ],
        ]
    );
    let providers = table(&html, "#ws-providers");
    let row = |name: &str, source: &str| provider_row(&providers, name, source);
    assert_eq!(row("OpenAI", "Platform key")[2..5], ["3", "0", "300"]);
    assert_eq!(
        row("OpenAI", "Workspace key")[2..6],
        ["6", "1", "38", "200 ms"]
    );
    assert_eq!(row("Anthropic", "Platform key")[2..5], ["1", "0", "1,000"]);
    assert_eq!(attr(&html, "figure.chart svg", "role"), ["img", "img"]);
    assert!(!select(&html, "figure.chart svg > title").is_empty());
    assert_eq!(attr(&html, "svg rect.bar-platform", "class").len(), 4);
    assert_eq!(attr(&html, "svg rect.bar-workspace", "class").len(), 4);
    let tips = select(&html, "svg rect title");
    let today_tip = format!("{}: 3 platform / 2 workspace requests", day(t));
    assert!(tips.contains(&today_tip), "{tips:?}");
    assert_eq!(select(&html, "ul.legend li").len(), 4);
    assert!(!html.contains("style="), "no inline styles (CSP)");
    // Two days ago may fall in the previous month.
    let month_tokens = if earlier >= keyhold::gateway::usage::month_start(t) {
        "1,300"
    } else {
        "300"
    };
    assert_eq!(
        select(&html, "#allowance"),
        [format!(
            "Unlimited: {month_tokens} platform tokens used this month"
        )]
    );
}

#[tokio::test]
async fn the_admin_overview_charts_usage_of_every_workspace() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (a, _) = app.create_workspace("acme", &[]);
    let (b, _) = app.create_workspace("globex", &[]);
    let mut conn = app.db();
    seed_event(&mut conn, &a, now(), "openai", "platform", 200, 1, 1);
    seed_event(&mut conn, &b, now(), "openai", "workspace", 200, 1, 1);

    let (status, html) = app.get_html(&admin, "/admin").await;

    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Platform vs workspace-key usage"));
    let days = table(&html, "#platform-days");
    assert_eq!(days[0][1..3], ["1", "1"]);
    assert_eq!(attr(&html, "svg rect.bar-platform", "class").len(), 2);
    assert_eq!(attr(&html, "svg rect.bar-workspace", "class").len(), 2);
}

fn allowance_of(app: &TestApp, ws: &str) -> Option<i64> {
    workspaces::table
        .find(ws)
        .select(workspaces::allowance_tokens)
        .first(&mut app.db())
        .expect("the workspace")
}

fn epoch(app: &TestApp) -> i64 {
    keyhold::db::epoch::shared(&mut app.db()).expect("the cache epoch")
}

#[tokio::test]
async fn an_invalid_allowance_is_refused_inline_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (ws, _) = app.create_workspace("acme", &[]);
    let path = format!("/admin/workspaces/{ws}/allowance");

    let epoch_before = epoch(&app);

    for bad in ["-5", "abc", "1.5"] {
        let r = app
            .post_form(&admin, &path, &[("allowance_tokens", bad)])
            .await;

        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let html = r.text().await.expect("body");
        let errors = select(&html, "#f-allowance_tokens-error");
        assert!(
            errors[0].contains("Enter a whole number of tokens"),
            "{bad}: {errors:?}"
        );
        assert_eq!(
            attr(&html, "#f-allowance_tokens", "value"),
            [bad],
            "what was typed is kept"
        );
        assert_eq!(attr(&html, "#f-allowance_tokens", "aria-invalid"), ["true"]);
        assert!(
            html.contains("Which key answers"),
            "the rest of the page is intact"
        );
        assert_eq!(allowance_of(&app, &ws), None, "{bad}");
    }
    assert_eq!(app.audit_count("workspace.allowance_changed"), 0);
    assert_eq!(epoch(&app), epoch_before);
}

#[tokio::test]
async fn a_valid_allowance_is_saved_audited_and_shown_to_the_owner() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (owner_c, owner) = app.user_client("owner@example.test", false).await;
    let (ws, _) = app.create_workspace("acme", &[(&owner, "owner")]);
    seed_event(
        &mut app.db(),
        &ws,
        now(),
        "openai",
        "platform",
        200,
        10_000,
        2_400,
    );
    seed_event(
        &mut app.db(),
        &ws,
        now(),
        "openai",
        "workspace",
        200,
        50_000,
        0,
    );
    let path = format!("/admin/workspaces/{ws}/allowance");
    let epoch_before = epoch(&app);

    let r = app
        .post_form(&admin, &path, &[("allowance_tokens", "100,000")])
        .await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(epoch(&app) > epoch_before, "the gateway's caches are told");
    assert_eq!(location(&r), format!("/admin/workspaces/{ws}"));
    assert_eq!(allowance_of(&app, &ws), Some(100_000));
    let details: String = audit_events::table
        .filter(audit_events::action.eq("workspace.allowance_changed"))
        .select(audit_events::details)
        .first(&mut app.db())
        .expect("the audit event");
    let details: serde_json::Value = serde_json::from_str(&details).expect("JSON details");
    assert_eq!(details["before"], serde_json::Value::Null);
    assert_eq!(details["after"], 100_000);
    let (_, admin_page) = app
        .get_html(&admin, &format!("/admin/workspaces/{ws}"))
        .await;
    assert_eq!(
        attr(&admin_page, "#f-allowance_tokens", "value"),
        ["100000"]
    );
    let (_, usage) = app.get_html(&owner_c, "/w/acme/usage").await;
    assert_eq!(
        select(&usage, "#allowance"),
        ["12,400 of 100,000 platform tokens used this month"]
    );

    // Emptying the field makes it unlimited again.
    let r = app
        .post_form(&admin, &path, &[("allowance_tokens", "")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(allowance_of(&app, &ws), None);
    assert_eq!(app.audit_count("workspace.allowance_changed"), 2);
    let (_, usage) = app.get_html(&owner_c, "/w/acme/usage").await;
    assert!(select(&usage, "#allowance")[0].starts_with("Unlimited"));
}

//! Cost in money (issue 19, item 9): the price table under Settings → Prices (add, change,
//! remove, audited, bad input refused inline), and cost on the usage pages by key source,
//! over a date range, with a CSV export.

use diesel::prelude::*;
use keyhold::db::schema::model_prices;
use keyhold::db::{DbConn, now};
use keyhold::domain::resolution::Source;
use keyhold::gateway::translate::Usage;
use keyhold::gateway::usage::{UsageEvent, write_batch};
use reqwest::StatusCode;

use crate::helpers::*;
use crate::usage_pages::{select, table};

/// Writes one call through the gateway's usage writer.
fn seed_call(
    conn: &mut DbConn,
    ws: &str,
    at: i64,
    model: &str,
    source: Source,
    input: i64,
    output: i64,
) {
    let event = UsageEvent {
        at,
        workspace_id: crate::helpers::id(ws),
        token_id: None,
        user_id: None,
        provider: "openai",
        model: model.into(),
        source: Some(source),
        key_id: None,
        status: 200,
        error_code: None,
        latency_ms: 100,
        usage: Usage { input, output },
    };
    write_batch(conn, &[event]).expect("seed usage event");
}

fn date(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .expect("a valid time")
        .format(fmt)
        .expect("a formatted date")
}

fn price_rows(app: &TestApp, model: &str) -> Vec<(i64, i64)> {
    model_prices::table
        .filter(model_prices::provider.eq("openai"))
        .filter(model_prices::model.eq(model))
        .select((model_prices::input_micros, model_prices::output_micros))
        .load(&mut app.db())
        .expect("read prices")
}

#[tokio::test]
async fn admins_add_change_and_remove_a_price_and_each_change_is_audited() {
    let app = TestApp::spawn().await;
    let (c, _) = app.user_client("admin@example.test", true).await;
    let (status, html) = app.get_html(&c, "/admin/prices").await;
    assert_eq!(status, StatusCode::OK);
    let seeded = table(&html, "#prices");
    assert!(
        seeded
            .iter()
            .any(|r| r[0] == "gpt-4o-mini" && r[2] == "$0.15" && r[3] == "$0.60"),
        "{seeded:?}"
    );
    assert!(html.contains(r#"href="/admin/prices" aria-current="page""#));

    let r = app
        .post_form(
            &c,
            "/admin/prices",
            &[
                ("provider", "openai"),
                ("model", "openai/gpt-5"),
                ("input_price", "1.25"),
                ("output_price", "$10"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(price_rows(&app, "gpt-5"), vec![(1_250_000, 10_000_000)]);
    let (_, html) = app.get_html(&c, "/admin/prices").await;
    assert!(html.contains("Price of openai/gpt-5 added."), "{html}");
    let (_, form) = app
        .get_html(&c, "/admin/prices?provider=openai&model=gpt-5")
        .await;
    assert!(form.contains("Change a price") && form.contains(r#"value="1.25""#));

    app.post_form(
        &c,
        "/admin/prices",
        &[
            ("provider", "openai"),
            ("model", "gpt-5"),
            ("input_price", "1.5"),
            ("output_price", "10"),
        ],
    )
    .await;
    assert_eq!(price_rows(&app, "gpt-5"), vec![(1_500_000, 10_000_000)]);

    let r = app
        .post_form(
            &c,
            "/admin/prices/remove",
            &[("provider", "openai"), ("model", "gpt-5")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(price_rows(&app, "gpt-5").is_empty());
    assert_eq!(app.audit_count("price.added"), 1);
    assert_eq!(app.audit_count("price.changed"), 1);
    assert_eq!(app.audit_count("price.removed"), 1);
    let (_, audit) = app.get_html(&c, "/admin/audit?action=price.*").await;
    assert!(audit.contains("openai/gpt-5") && audit.contains("1.25") && audit.contains("1.5"));
}

#[tokio::test]
async fn a_bad_price_is_refused_inline_keeps_what_was_typed_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (c, _) = app.user_client("admin@example.test", true).await;

    let r = app
        .post_form(
            &c,
            "/admin/prices",
            &[
                ("provider", "openai"),
                ("model", "gpt-4o-mini"),
                ("input_price", "0.15"),
                ("output_price", "-3"),
            ],
        )
        .await;

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("body");
    assert!(html.contains("A price cannot be negative."), "{html}");
    assert!(html.contains(r#"value="-3""#), "what was typed is kept");
    assert!(html.contains(r#"id="f-output_price" name="output_price" type="text" value="-3" autocomplete="off" aria-invalid="true""#));
    assert_eq!(price_rows(&app, "gpt-4o-mini"), vec![(150_000, 600_000)]);
    let r = app
        .post_form(
            &c,
            "/admin/prices",
            &[
                ("provider", "openai"),
                ("model", "a model"),
                ("input_price", "1"),
                ("output_price", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("body").contains("no spaces"));
    assert_eq!(
        app.audit_count("price.added") + app.audit_count("price.changed"),
        0
    );
}

#[tokio::test]
async fn usage_pages_show_cost_by_key_source_what_byok_saved_and_models_without_a_price() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (owner, owner_id) = app.user_client("owner@example.test", false).await;
    let (ws, _) = app.create_workspace("acme", &[(&owner_id, "owner")]);
    let t = now();
    let mut db = app.db();
    // $0.15 in + $0.60 out per million: 1M + 1M on the platform key = $0.75.
    seed_call(
        &mut db,
        &ws,
        t,
        "gpt-4o-mini",
        Source::Platform,
        1_000_000,
        1_000_000,
    );
    // 2M input tokens on the workspace's own key, called with a dated name = $0.30.
    seed_call(
        &mut db,
        &ws,
        t,
        "openai/gpt-4o-mini-2024-07-18",
        Source::Workspace,
        2_000_000,
        0,
    );
    seed_call(
        &mut db,
        &ws,
        t,
        "mystery-model",
        Source::Workspace,
        700,
        300,
    );

    for (c, path) in [
        (&admin, "/admin".to_owned()),
        (&admin, format!("/admin/workspaces/{ws}")),
        (&owner, "/w/acme/usage".to_owned()),
    ] {
        let (status, html) = app.get_html(c, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            select(&html, "#byok-saved"),
            vec!["This month BYOK saved the platform $0.30."],
            "{path}"
        );
        assert_eq!(select(&html, "#cost-platform"), vec!["$0.75"], "{path}");
        assert_eq!(select(&html, "#cost-workspace"), vec!["$0.30"], "{path}");
        let rows = table(&html, "#cost-models");
        let mystery = rows
            .iter()
            .find(|r| r[0] == "mystery-model")
            .unwrap_or_else(|| panic!("{path}: {rows:?}"));
        assert_eq!(mystery[6], "no price", "not $0");
        let unpriced = select(&html, "#cost-unpriced").join(" ");
        assert!(
            unpriced.contains("openai/mystery-model") && unpriced.contains("1,000 tokens"),
            "{path}: {unpriced}"
        );
    }
    let (_, owner_page) = app.get_html(&owner, "/w/acme/usage").await;
    assert!(
        !owner_page.contains(r#"href="/admin/prices""#),
        "owners are not sent to an admin page"
    );
}

#[tokio::test]
async fn a_date_range_picks_its_days_and_a_bad_range_is_explained() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (ws, _) = app.create_workspace("acme", &[]);
    // 40 days ago is never in this month.
    let old = now() - 40 * 86_400;
    seed_call(
        &mut app.db(),
        &ws,
        old,
        "gpt-4o",
        Source::Workspace,
        1_000_000,
        0,
    );

    let (_, html) = app.get_html(&admin, "/admin").await;
    assert_eq!(select(&html, "#cost-workspace"), vec!["$0.00"]);
    let day = date(old);
    let (_, html) = app
        .get_html(&admin, &format!("/admin?from={day}&to={day}"))
        .await;
    assert_eq!(
        select(&html, "#byok-saved"),
        vec![format!(
            "From {day} to {day} BYOK saved the platform $2.50."
        )]
    );
    assert!(
        html.contains(&format!("/admin/cost.csv?from={day}&#38;to={day}")),
        "{html}"
    );

    let (status, html) = app.get_html(&admin, "/admin?from=31%2F01%2F2026&to=").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Enter dates as YYYY-MM-DD"), "{html}");
    assert!(
        html.contains(r#"value="31/01/2026""#),
        "what was typed is kept"
    );
    assert!(select(&html, "#byok-saved")[0].starts_with("This month"));
    let (_, html) = app
        .get_html(&admin, "/admin?from=2026-02-01&to=2026-01-01")
        .await;
    assert!(
        html.contains("The start date is after the end date"),
        "{html}"
    );
}

#[tokio::test]
async fn the_cost_csv_lists_workspace_provider_and_model_and_defuses_formulas() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (owner, owner_id) = app.user_client("owner@example.test", false).await;
    let (acme, _) = app.create_workspace("acme", &[(&owner_id, "owner")]);
    let (globex, _) = app.create_workspace("globex", &[]);
    let t = now();
    let mut db = app.db();
    seed_call(
        &mut db,
        &acme,
        t,
        "gpt-4o-mini",
        Source::Platform,
        1_000_000,
        0,
    );
    seed_call(&mut db, &acme, t, "=HYPERLINK(1)", Source::Workspace, 5, 5);
    seed_call(
        &mut db,
        &globex,
        t,
        "gpt-4o",
        Source::Workspace,
        1_000_000,
        1_000_000,
    );

    let r = app.get(&admin, "/admin/cost.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let csv = r.text().await.expect("body");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "workspace,provider,model,key_source,requests,input_tokens,output_tokens,cost_usd"
    );
    assert!(
        lines.contains(&"globex,openai,gpt-4o,workspace,1,1000000,1000000,12.500000"),
        "{csv}"
    );
    assert!(
        lines.contains(&"acme,openai,gpt-4o-mini,platform,1,1000000,0,0.150000"),
        "{csv}"
    );
    assert!(
        lines.contains(&"acme,openai,'=HYPERLINK(1),workspace,1,5,5,no price"),
        "{csv}"
    );

    let r = app.get(&owner, "/w/acme/usage/cost.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    let own = r.text().await.expect("body");
    assert!(
        own.contains("acme,openai,gpt-4o-mini") && !own.contains("globex"),
        "{own}"
    );
    let r = app
        .get(&admin, &format!("/admin/workspaces/{globex}/cost.csv"))
        .await;
    let theirs = r.text().await.expect("body");
    assert_eq!(theirs.lines().count(), 2, "{theirs}");
    let (member, member_id) = app.user_client("member@example.test", false).await;
    app.create_workspace("initech", &[(&member_id, "member")]);
    assert_eq!(
        app.get(&member, "/w/initech/usage/cost.csv").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_ne!(
        app.get(&owner, "/admin/cost.csv").await.status(),
        StatusCode::OK
    );
}

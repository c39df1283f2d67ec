//! Reading the audit log: one sentence per event with its details on demand; the admin's
//! view filters by actor, action, workspace (picked by name), date and "Hide sign-ins",
//! pages with a keyset cursor and exports CSV (the chain's state: `audit_check`); an owner
//! sees only their workspace, plus the platform changes to their routing (unnamed admin).

use diesel::prelude::*;
use keyhold::db::schema::audit_events;
use reqwest::StatusCode;

use crate::helpers::*;

/// One row of the audit table as the page shows it.
#[derive(Debug)]
struct Row {
    sentence: String,
    /// The actor's email, as the row's details give it (empty for none).
    actor: String,
    action: String,
    target: String,
    platform: bool,
}

/// The text of the first `<tag class="{class}">…</tag>` in `html`, or "".
fn cell(html: &str, tag: &str, class: &str) -> String {
    let open = format!("<{tag} class=\"{class}\">");
    let Some(start) = html.find(&open) else {
        return String::new();
    };
    let rest = &html[start + open.len()..];
    let end = rest.find(&format!("</{tag}>")).expect("closing tag");
    strip_tags(&rest[..end])
}

/// The rows of the audit table in `html`.
fn rows(html: &str) -> Vec<Row> {
    html.split("<tr id=\"event-")
        .skip(1)
        .map(|chunk| {
            let row = &chunk[..chunk.find("</tr>").expect("row end")];
            assert!(
                row.contains("<details><summary>Details</summary>"),
                "details on demand: {row}"
            );
            Row {
                sentence: cell(row, "span", "audit-sentence"),
                actor: cell(row, "dd", "audit-by"),
                action: cell(row, "dd", "mono audit-action"),
                target: cell(row, "dd", "audit-target"),
                platform: row.contains("<span class=\"badge badge-info\">Platform</span>"),
            }
        })
        .collect()
}

/// The "Older events" link, unescaped.
fn next_link(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\"")?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// Every row of a filtered view, following the "Older events" links.
async fn all_rows(app: &TestApp, c: &reqwest::Client, path: &str) -> Vec<Row> {
    let mut out = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(p) = next {
        let body = get_ok(app, c, &p).await;
        out.extend(rows(&body));
        next = next_link(&body);
    }
    out
}

/// A minimal CSV reader (quoted fields, doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

async fn get_ok(app: &TestApp, c: &reqwest::Client, path: &str) -> String {
    let (status, body) = app.get_html(c, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

fn count_where(app: &TestApp, action: Option<&str>, workspace: Option<&str>) -> usize {
    let mut q = audit_events::table.into_boxed();
    if let Some(a) = action {
        q = q.filter(audit_events::action.eq(a.to_owned()));
    }
    if let Some(w) = workspace {
        q = q.filter(audit_events::workspace_id.eq(w.to_owned()));
    }
    q.count().get_result::<i64>(&mut app.db()).expect("count") as usize
}

const CSV_HEADER: &str = "id,time,actor,ip,workspace,action,target,details";

/// 55 users, two workspaces with an owner each, and a signed-in admin.
async fn seeded() -> (TestApp, reqwest::Client, String, String) {
    let app = TestApp::spawn().await;
    for i in 0..55 {
        app.create_user(&format!("user{i:02}@example.test"), false);
    }
    let a = app.create_user("a@example.test", false);
    let b = app.create_user("b@example.test", false);
    let (ws_a, _) = app.create_workspace("alpha", &[(&a, "owner")]);
    let (ws_b, _) = app.create_workspace("bravo", &[(&b, "owner")]);
    let (admin, _) = app.user_client("admin@example.test", true).await;
    (app, admin, ws_a, ws_b)
}

#[tokio::test]
async fn the_admin_audit_page_filters_by_actor_action_and_workspace() {
    let (app, admin, ws_a, ws_b) = seeded().await;

    let body = get_ok(&app, &admin, "/admin/audit?actor=ADMIN@example.test").await;
    let found = rows(&body);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].actor, "admin@example.test");
    assert_eq!(found[0].action, "user.signed_in");

    let body = get_ok(&app, &admin, "/admin/audit?action=workspace.created").await;
    let found = rows(&body);
    let mut targets: Vec<&str> = found.iter().map(|r| r.target.as_str()).collect();
    targets.sort();
    assert_eq!(targets, ["alpha", "bravo"]);

    let body = get_ok(&app, &admin, "/admin/audit?action=member.*").await;
    let found = rows(&body);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|r| r.action == "member.added"));

    let r = app
        .sign_in_with(&app.client(), "a@example.test", "not the password")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = get_ok(&app, &admin, "/admin/audit?action=user.sign_in_*").await;
    let found = rows(&body);
    assert_eq!(
        found.len(),
        1,
        "an underscore in a prefix is literal: {found:?}"
    );
    assert_eq!(found[0].action, "user.sign_in_failed");
    let body = get_ok(&app, &admin, "/admin/audit?action=user.sign%25*").await;
    assert!(rows(&body).is_empty(), "% is no wildcard");

    let body = get_ok(&app, &admin, &format!("/admin/audit?workspace={ws_b}")).await;
    let found = rows(&body);
    assert_eq!(found.len(), count_where(&app, None, Some(&ws_b)));
    assert!(found.iter().any(|r| r.target == "b@example.test"));
    assert!(
        found
            .iter()
            .all(|r| r.target != "alpha" && r.target != "a@example.test"),
        "workspace A leaks into B's filter: {found:?}"
    );
    assert_ne!(ws_a, ws_b);

    let body = get_ok(&app, &admin, "/admin/audit?action=no.such.action").await;
    assert!(rows(&body).is_empty());
    assert!(body.contains("No events match"));
}

#[tokio::test]
async fn the_admin_audit_page_filters_by_date_range() {
    let (app, admin, _, _) = seeded().await;
    // 2020-01-15 12:00 UTC for the first three events.
    diesel::update(audit_events::table.filter(audit_events::id.le(3)))
        .set(audit_events::at.eq(1_579_089_600i64))
        .execute(&mut app.db())
        .expect("backdate");

    for range in [
        "from=2020-01-01&to=2020-01-31",
        "from=2020-01-15&to=2020-01-15",
    ] {
        let body = get_ok(&app, &admin, &format!("/admin/audit?{range}")).await;
        let found = rows(&body);
        let mut targets: Vec<&str> = found.iter().map(|r| r.target.as_str()).collect();
        targets.sort();
        assert_eq!(
            targets,
            [
                "user00@example.test",
                "user01@example.test",
                "user02@example.test"
            ],
            "{range}"
        );
    }
    let body = get_ok(&app, &admin, "/admin/audit?to=2020-01-14").await;
    assert!(rows(&body).is_empty());
    let found = all_rows(
        &app,
        &admin,
        "/admin/audit?from=2020-01-16&action=user.created",
    )
    .await;
    assert_eq!(
        found.len(),
        count_where(&app, Some("user.created"), None) - 3
    );
    assert!(found.iter().all(|r| r.target != "user00@example.test"));
    assert!(found.iter().any(|r| r.target == "user03@example.test"));

    let (status, body) = app.get_html(&admin, "/admin/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("Use a date like"), "{body}");
}

#[tokio::test]
async fn the_admin_audit_page_pages_with_a_keyset_cursor() {
    let (app, admin, _, _) = seeded().await;
    let expected = count_where(&app, Some("user.created"), None);
    assert!(expected > 50, "seed more than one page");

    let body = get_ok(&app, &admin, "/admin/audit?action=user.created").await;
    let first = rows(&body);
    assert_eq!(first.len(), 50);
    assert_eq!(first[0].target, "admin@example.test", "newest first");
    let next = next_link(&body).expect("an Older events link");
    assert!(next.contains("before="), "{next}");
    assert!(
        next.contains("action=user.created"),
        "the filter is kept: {next}"
    );

    let body = get_ok(&app, &admin, &next).await;
    let second = rows(&body);
    assert_eq!(first.len() + second.len(), expected);
    assert!(next_link(&body).is_none(), "the last page has no next link");
    let mut all: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|r| r.target.as_str())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), expected, "no event twice, none skipped");
    assert!(second.iter().any(|r| r.target == "user00@example.test"));
}

#[tokio::test]
async fn the_audit_csv_export_has_a_header_the_filtered_rows_and_defused_formulas() {
    let (app, admin, _, _) = seeded().await;
    app.create_user("=1+1@example.test", false);
    app.create_user("-2@example.test", false);

    let r = app
        .get(&admin, "/admin/audit.csv?action=user.created")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ctype = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let text = r.text().await.expect("body");
    let records = parse_csv(&text);
    assert_eq!(records[0].join(","), CSV_HEADER);
    let data = &records[1..];
    assert_eq!(data.len(), count_where(&app, Some("user.created"), None));
    assert!(data.iter().all(|r| r.len() == 8 && r[5] == "user.created"));
    let targets: Vec<&str> = data.iter().map(|r| r[6].as_str()).collect();
    assert!(targets.contains(&"'=1+1@example.test"), "{targets:?}");
    assert!(targets.contains(&"'-2@example.test"), "{targets:?}");
    assert!(!targets.contains(&"=1+1@example.test"));
    // Details are JSON with commas and quotes: quoted, and read back intact.
    assert!(
        data[0][7].starts_with("{\"is_admin\":false,\"user_id\":\""),
        "{:?}",
        data[0][7]
    );

    let text = app
        .get(&admin, "/admin/audit.csv?actor=admin@example.test")
        .await
        .text()
        .await
        .expect("body");
    let records = parse_csv(&text);
    assert_eq!(records.len(), 2, "header and the one sign-in: {text}");
    assert_eq!(records[1][5], "user.signed_in");
    assert_eq!(records[1][3], "127.0.0.1");
}

#[tokio::test]
async fn an_owner_sees_only_their_workspace_in_its_audit_log_and_csv() {
    let (app, _, ws_a, ws_b) = seeded().await;
    let a = app.client();
    app.sign_in(&a, "a@example.test").await;
    let b = app.client();
    app.sign_in(&b, "b@example.test").await;
    for (c, slug, email) in [
        (&a, "alpha", "visible-a@example.test"),
        (&b, "bravo", "secret-b@example.test"),
    ] {
        let r = app
            .post_form(
                c,
                &format!("/w/{slug}/settings/members/invite"),
                &[("email", email), ("role", "member")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    for path in [
        "/w/alpha/audit".to_owned(),
        format!("/w/alpha/audit?workspace={ws_b}"),
        "/w/alpha/audit?action=invitation.*".to_owned(),
    ] {
        let body = get_ok(&app, &a, &path).await;
        let found = rows(&body);
        assert!(
            found.iter().any(|r| r.target == "visible-a@example.test"),
            "{path}: {found:?}"
        );
        assert!(!body.contains("secret-b@example.test"), "{path} leaks B");
        assert!(!body.contains("bravo"), "{path} leaks B");
        assert!(
            !body.contains("user00@example.test"),
            "{path} shows platform events"
        );
    }
    let body = get_ok(&app, &a, "/w/alpha/audit").await;
    assert_eq!(rows(&body).len(), count_where(&app, None, Some(&ws_a)));

    let text = app
        .get(&a, &format!("/w/alpha/audit.csv?workspace={ws_b}"))
        .await
        .text()
        .await
        .expect("body");
    let records = parse_csv(&text);
    assert_eq!(records[0].join(","), CSV_HEADER);
    assert_eq!(records.len() - 1, count_where(&app, None, Some(&ws_a)));
    assert!(records[1..].iter().all(|r| r[4] == ws_a), "{text}");
    assert!(!text.contains("secret-b@example.test"));

    let (status, _) = app.get_html(&a, "/w/bravo/audit").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get_html(&a, "/w/bravo/audit.csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Names a person and a workspace the way people do, directly in the database.
fn rename(app: &TestApp, user_email: &str, name: &str, slug: &str, ws_name: &str) {
    use keyhold::db::schema::{users, workspaces};
    diesel::update(users::table.filter(users::email.eq(user_email)))
        .set(users::name.eq(name))
        .execute(&mut app.db())
        .expect("rename user");
    diesel::update(workspaces::table.filter(workspaces::slug.eq(slug)))
        .set(workspaces::name.eq(ws_name))
        .execute(&mut app.db())
        .expect("rename workspace");
}

const PROD: &str = "sk-proj-auditviewkey0000000000000000wxyz";

#[tokio::test]
async fn a_key_added_reads_as_one_sentence_with_its_label_mask_and_workspace_name() {
    let b = crate::byok::Byok::start().await;
    rename(&b.app, "owner@example.test", "Olivia", "acme", "Acme Labs");
    let r = b.add_key(&b.owner, "Production", PROD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let expected =
        "Olivia added the OpenAI key \u{201c}Production\u{201d} (sk-proj-…wxyz) in Acme Labs.";
    for (c, path) in [
        (&b.admin, "/admin/audit?action=workspace_key.added"),
        (&b.owner, "/w/acme/audit?action=workspace_key.added"),
    ] {
        let body = get_ok(&b.app, c, path).await;
        let found = rows(&body);
        assert_eq!(found.len(), 1, "{path}: {found:?}");
        assert_eq!(found[0].sentence, expected, "{path}");
        assert_eq!(found[0].action, "workspace_key.added");
        assert_eq!(found[0].actor, "owner@example.test");
        assert!(
            body.contains(
                "<pre class=\"audit-details\">{\n  &#34;mask&#34;: &#34;sk-proj-…wxyz&#34;"
            ),
            "the raw details behind Details: {body}"
        );
        assert!(
            !body.contains(PROD) && !body.contains("0000wxyz"),
            "{path} shows the key"
        );
    }
    // The workspace's creation names it as it was then.
    let body = get_ok(&b.app, &b.admin, "/admin/audit?action=workspace.created").await;
    assert_eq!(
        rows(&body)[0].sentence,
        "An operator on the command line created the workspace Workspace acme (acme)."
    );
}

#[tokio::test]
async fn hide_sign_ins_hides_sign_in_traffic_and_nothing_else() {
    let (app, admin, _, _) = seeded().await;
    let r = app
        .sign_in_with(&app.client(), "a@example.test", "not the password")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.sign_in(&app.client(), "b@example.test").await;
    let sign_ins: usize = ["user.signed_in", "user.sign_in_failed"]
        .iter()
        .map(|a| count_where(&app, Some(a), None))
        .sum();
    assert_eq!(sign_ins, 3, "the admin's and b's sign-ins and a's failure");
    let total = count_where(&app, None, None);

    let shown = all_rows(&app, &admin, "/admin/audit").await;
    assert_eq!(shown.len(), total);
    assert!(shown.iter().any(|r| r.sentence == "Test User signed in."));
    assert!(
        shown
            .iter()
            .any(|r| r.sentence == "Test User failed to sign in (wrong password).")
    );

    let body = get_ok(&app, &admin, "/admin/audit?hide_sign_ins=1").await;
    assert!(body.contains("name=\"hide_sign_ins\" type=\"checkbox\" value=\"1\" aria-describedby=\"f-hide-hint\" checked"));
    let next = next_link(&body).expect("more than one page");
    assert!(
        next.contains("hide_sign_ins=1"),
        "the pager keeps it: {next}"
    );
    let hidden = all_rows(&app, &admin, "/admin/audit?hide_sign_ins=1").await;
    assert_eq!(hidden.len(), total - sign_ins);
    assert!(
        hidden
            .iter()
            .all(|r| r.action != "user.signed_in" && r.action != "user.sign_in_failed"),
        "{hidden:?}"
    );
    assert!(hidden.iter().any(|r| r.action == "user.created"));
}

#[tokio::test]
async fn the_admin_picks_a_workspace_by_name_and_old_links_by_id_still_work() {
    let (app, admin, _, ws_b) = seeded().await;
    rename(&app, "b@example.test", "Bea", "bravo", "Bravo Corp");

    let body = get_ok(&app, &admin, "/admin/audit").await;
    let option = "<option value=\"bravo\">Bravo Corp (bravo)</option>";
    assert!(
        body.contains("<select id=\"f-workspace\" name=\"workspace\">"),
        "{body}"
    );
    assert!(
        body.contains(option),
        "a workspace is picked by name: {body}"
    );
    assert!(!body.contains(&ws_b), "no workspace id on the page");

    for path in [
        "/admin/audit?workspace=bravo".to_owned(),
        format!("/admin/audit?workspace={ws_b}"),
    ] {
        let body = get_ok(&app, &admin, &path).await;
        assert!(
            body.contains("<option value=\"bravo\" selected>Bravo Corp (bravo)</option>"),
            "{path}"
        );
        let found = rows(&body);
        assert_eq!(found.len(), count_where(&app, None, Some(&ws_b)), "{path}");
        assert!(
            found
                .iter()
                .any(|r| r.sentence == "An operator on the command line added b@example.test to Bravo Corp as an owner."),
            "{path}: {found:?}"
        );
        assert!(found.iter().all(|r| r.target != "a@example.test"), "{path}");
    }
    let csv = app
        .get(&admin, "/admin/audit.csv?workspace=bravo")
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(
        parse_csv(&csv).len() - 1,
        count_where(&app, None, Some(&ws_b)),
        "the export follows the same filter"
    );
}

const GLOBAL: &str = "sk-proj-platformglobal00000000000000q9q9";

#[tokio::test]
async fn an_owner_sees_the_platform_changes_to_their_routing_without_the_admins_email_or_ip() {
    let b = crate::byok::Byok::start().await;
    let r = b
        .save_openai(&[
            ("enabled", "on"),
            ("byok_enabled", "on"),
            ("api_key", GLOBAL),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "global key saved");
    let r = b
        .save_openai(&[("enabled", "on"), ("confirm", "yes")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "BYOK off");

    let body = get_ok(&b.app, &b.owner, "/w/acme/audit").await;
    let found = rows(&body);
    let platform: Vec<&Row> = found.iter().filter(|r| r.platform).collect();
    let sentences: Vec<&str> = platform.iter().map(|r| r.sentence.as_str()).collect();
    assert_eq!(
        sentences,
        [
            "An administrator turned off BYOK for OpenAI: every workspace now uses the platform key.",
            "An administrator added the platform\u{2019}s OpenAI key.",
            "An administrator turned on BYOK for OpenAI: workspaces may use their own keys.",
            "An administrator turned on OpenAI for the platform.",
        ],
        "newest first"
    );
    assert!(platform.iter().all(|r| r.actor.is_empty()));
    assert!(
        !body.contains("admin@example.test"),
        "the admin is not named"
    );
    assert!(!body.contains("127.0.0.1"), "nor their address");
    assert!(
        !body.contains("…q9q9") && !body.contains(GLOBAL),
        "nor the global key's mask"
    );
    assert_eq!(
        found.len() - platform.len(),
        count_where(&b.app, None, Some(&b.ws_id)),
        "and the workspace's own events"
    );
    // Asking for an actor leaves platform events out (it would tell who the admins are).
    let body = get_ok(&b.app, &b.owner, "/w/acme/audit?actor=admin@example.test").await;
    assert!(rows(&body).is_empty(), "{body}");
    // The admin's own page keeps them as they are, named.
    let body = get_ok(
        &b.app,
        &b.admin,
        "/admin/audit?action=provider.byok_disabled",
    )
    .await;
    let found = rows(&body);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].actor, "admin@example.test");
    assert!(!found[0].platform);
    assert_eq!(
        found[0].sentence,
        "Test User turned off BYOK for OpenAI: every workspace now uses the platform key."
    );
}

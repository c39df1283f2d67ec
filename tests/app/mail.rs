//! Mail: an outbox that survives an SMTP outage, `.eml` files without SMTP, headers that
//! cannot be injected, links from KEYHOLD_PUBLIC_URL, and well-formed multipart messages.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::models::OutboxRow;
use keyhold::db::schema::{invitations, outbox, users};
use reqwest::StatusCode;

use crate::helpers::*;
use crate::support::smtp_sink::Mail;

fn outbox_rows(app: &TestApp) -> Vec<OutboxRow> {
    outbox::table
        .order(outbox::created_at.asc())
        .select(OutboxRow::as_select())
        .load(&mut app.db())
        .expect("load outbox")
}

/// Posts "forgot password" for `email` from a fresh, signed-out browser.
async fn forgot(app: &TestApp, email: &str) {
    let c = app.client();
    let r = app
        .post_form(&c, "/password/forgot", &[("email", email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn mail_to(app: &TestApp, to: &str, secs: u64) -> Option<Mail> {
    let to = to.to_owned();
    app.smtp
        .wait_for(move |m| m.to.contains(&to), Duration::from_secs(secs))
        .await
}

#[tokio::test]
async fn the_outbox_survives_an_smtp_outage_and_delivers_once_when_it_returns() {
    let app = TestApp::spawn().await;
    app.create_user("ann@example.test", false);
    app.smtp.set_down(true);
    forgot(&app, "ann@example.test").await;

    // Retries start at 1 s in tests: after 3.5 s the worker has tried and failed.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        app.smtp.messages().is_empty(),
        "nothing delivered while down"
    );
    let rows = outbox_rows(&app);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].attempts > 0, "the worker tried: {:?}", rows[0]);
    assert!(rows[0].last_error.is_some(), "the failure is recorded");
    assert!(rows[0].sent_at.is_none());
    assert!(
        !rows[0].body_text.is_empty(),
        "the body waits in the outbox"
    );
    assert!(app.smtp.refused() > 0, "the sink saw connection attempts");

    app.smtp.set_down(false);
    let mail = mail_to(&app, "ann@example.test", 30)
        .await
        .expect("the mail arrives once SMTP is back");
    assert_eq!(mail.subject, "Reset your Keyhold password");
    assert!(mail.link_with("/password/reset?token=").is_some());

    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = app
        .smtp
        .messages()
        .into_iter()
        .filter(|m| m.to.contains(&"ann@example.test".to_owned()))
        .count();
    assert_eq!(delivered, 1, "exactly once, no duplicate after the retries");
    let rows = outbox_rows(&app);
    assert!(rows[0].sent_at.is_some());
    assert!(rows[0].last_error.is_none());
}

#[tokio::test]
async fn without_smtp_mail_is_written_as_eml_files_under_the_data_dir() {
    let app = TestApp::spawn_with(Options {
        no_smtp: true,
        ..Options::default()
    })
    .await;
    app.create_user("ann@example.test", false);
    forgot(&app, "ann@example.test").await;

    let dir = app.data_dir.path().join("mail");
    let mut files = Vec::new();
    for _ in 0..100 {
        files = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        // The file is written first, then the outbox row is marked sent.
        if !files.is_empty() && outbox_rows(&app)[0].sent_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(files.len(), 1, "one .eml file in {}", dir.display());
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let raw = std::fs::read_to_string(&files[0]).expect("read eml");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    let mail = Mail::from_raw(&raw);
    assert_eq!(mail.subject, "Reset your Keyhold password", "{raw}");
    assert_eq!(mail.to, ["ann@example.test"]);
    let link = mail
        .link_with("/password/reset?token=")
        .expect("a reset link");
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", app.address)),
        "{link}"
    );
    assert!(app.smtp.messages().is_empty(), "no SMTP was configured");
    assert!(outbox_rows(&app)[0].sent_at.is_some());
}

#[tokio::test]
async fn a_line_break_in_a_name_or_email_is_refused_and_nothing_is_queued() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (ws_id, _) = app.create_workspace("acme", &[]);

    let cases = [
        (
            "/admin/users".to_owned(),
            vec![
                ("email", "ann@example.test"),
                ("name", "Ann\r\nBcc: evil@x.test"),
            ],
            "A name cannot contain line breaks",
        ),
        (
            "/admin/users".to_owned(),
            vec![
                ("email", "ann@example.test\r\nBcc: evil@x.test"),
                ("name", "Ann"),
            ],
            "cannot contain spaces or line breaks",
        ),
        (
            format!("/admin/workspaces/{ws_id}/invitations"),
            vec![
                ("email", "ann@example.test\nBcc: evil@x.test"),
                ("role", "member"),
            ],
            "cannot contain spaces or line breaks",
        ),
        (
            "/admin/workspaces".to_owned(),
            vec![("name", "Acme\r\nBcc: evil@x.test"), ("slug", "")],
            "no line breaks",
        ),
    ];
    for (path, fields, message) in cases {
        let r = app.post_form(&admin, &path, &fields).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {fields:?}");
        let body = r.text().await.expect("body");
        assert!(body.contains(message), "{path}: {body}");
        assert!(body.contains("field-error"), "shown beside the field");
    }
    let mut c = app.db();
    let ann: i64 = users::table
        .filter(users::email.like("ann@%"))
        .count()
        .get_result(&mut c)
        .expect("count");
    assert_eq!(ann, 0);
    let invs: i64 = invitations::table
        .count()
        .get_result(&mut c)
        .expect("count");
    assert_eq!(invs, 0);
    let workspaces: i64 = keyhold::db::schema::workspaces::table
        .count()
        .get_result(&mut c)
        .expect("count");
    assert_eq!(workspaces, 1, "only the one made by the test");
    assert!(outbox_rows(&app).is_empty(), "nothing queued");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(app.smtp.messages().is_empty());
}

#[tokio::test]
async fn links_in_mail_come_from_the_public_url_never_from_the_host_header() {
    let app = TestApp::spawn().await;
    app.create_user("ann@example.test", false);
    let c = app.client();
    let token = app.csrf(&c).await;
    let r = c
        .post(app.url("/password/forgot"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .form(&[("email", "ann@example.test"), ("csrf_token", &token)])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    let mail = mail_to(&app, "ann@example.test", 15)
        .await
        .expect("reset mail");
    let link = mail.link_with("/password/reset").expect("link");
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", app.address)),
        "{link}"
    );
    assert!(!mail.shows("evil.example"));

    // The same for an invitation sent by an owner.
    let owner = app.create_user("owner@example.test", false);
    app.create_workspace("acme", &[(&owner, "owner")]);
    let oc = app.client();
    app.sign_in(&oc, "owner@example.test").await;
    let token = app.csrf(&oc).await;
    let r = oc
        .post(app.url("/w/acme/settings/members/invite"))
        .header("Host", "evil.example")
        .form(&[
            ("email", "bob@example.test"),
            ("role", "member"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = mail_to(&app, "bob@example.test", 15)
        .await
        .expect("invitation");
    let link = mail.link_with("/invite/").expect("link");
    assert!(
        link.starts_with(&format!("{}/invite/", app.address)),
        "{link}"
    );
}

#[tokio::test]
async fn mails_have_text_and_html_parts_a_sane_from_and_sent_rows_keep_no_body() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let r = app
        .post_form(
            &admin,
            "/admin/users",
            &[("email", "bob@example.test"), ("name", "Bob <b> & Co")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = mail_to(&app, "bob@example.test", 15)
        .await
        .expect("welcome mail");

    assert_eq!(mail.subject, "Your Keyhold account is ready");
    assert_eq!(mail.from, "keyhold@example.test");
    assert_eq!(mail.envelope_from, "keyhold@example.test");
    assert_eq!(mail.to, ["bob@example.test"]);
    assert_eq!(mail.envelope_to, ["bob@example.test"]);
    let raw_lower = mail.raw.to_ascii_lowercase();
    assert!(raw_lower.contains("multipart/alternative"));
    assert!(raw_lower.contains("\r\ndate: "), "a Date header");
    assert!(raw_lower.contains("message-id: "), "a Message-ID header");
    assert!(raw_lower.contains("from: keyhold <keyhold@example.test>"));

    let link = mail.link_with("/password/reset?token=").expect("text link");
    assert!(mail.text.starts_with("Hello,"), "{}", mail.text);
    assert!(
        !mail.shows("Bob"),
        "the name someone chose is not in the mail: {}",
        mail.decoded()
    );
    assert!(mail.text.contains(&link));
    assert!(mail.html.contains("<html") || mail.html.contains("<!DOCTYPE"));
    assert!(
        mail.html.contains(&link.replace('&', "&amp;")) || mail.html.contains(&link),
        "the HTML part carries the same link"
    );
    assert!(
        !mail.html.contains("Bob <b>"),
        "names are escaped in HTML: {}",
        mail.html
    );
    assert!(mail.html.contains("Choose a password"), "the action button");

    // Once sent, the row keeps the envelope only: the link was a one-time secret.
    let mut row = None;
    for _ in 0..50 {
        row = outbox_rows(&app).into_iter().find(|r| r.sent_at.is_some());
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = row.expect("the outbox row is marked sent");
    assert_eq!(row.to_addr, "bob@example.test");
    assert_eq!(row.body_text, "");
    assert_eq!(row.body_html, "");
    assert_eq!(row.attempts, 1);
    let id_header = format!("message-id: <{}@example.test>", row.id);
    assert!(
        raw_lower.contains(&id_header),
        "a stable Message-ID per row"
    );
}

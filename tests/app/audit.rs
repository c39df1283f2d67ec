//! The audit log: an event for every action, written in the same transaction as the change,
//! hash-chained so `keyhold audit verify` sees tampering, and readable with filters,
//! keyset pages and CSV by admins (everything) and owners (their workspace only).

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::models::AuditRow;
use keyhold::db::schema::{audit_events, invitations, outbox, users};
use reqwest::StatusCode;

use crate::helpers::*;

fn events(app: &TestApp, action: &str) -> Vec<AuditRow> {
    audit_events::table
        .filter(audit_events::action.eq(action))
        .order(audit_events::id.asc())
        .select(AuditRow::as_select())
        .load(&mut app.db())
        .expect("load audit events")
}

fn last_event(app: &TestApp, action: &str) -> AuditRow {
    events(app, action)
        .pop()
        .unwrap_or_else(|| panic!("no {action} event"))
}

fn all_events(app: &TestApp) -> Vec<AuditRow> {
    audit_events::table
        .order(audit_events::id.asc())
        .select(AuditRow::as_select())
        .load(&mut app.db())
        .expect("load audit events")
}

fn exec(app: &TestApp, sql: &str) {
    diesel::sql_query(sql)
        .execute(&mut app.db())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// No event may carry one of `secrets` anywhere in its details or target.
fn assert_no_secret(app: &TestApp, secrets: &[&str]) {
    for e in all_events(app) {
        for s in secrets {
            assert!(
                !e.details.contains(s) && !e.target.clone().unwrap_or_default().contains(s),
                "event {} ({}) leaks a secret: {:?}",
                e.id,
                e.action,
                e.details
            );
        }
    }
}

async fn mail_link(app: &TestApp, to: &str, needle: &str) -> String {
    let mail = app
        .smtp
        .wait_for(|m| m.to.iter().any(|t| t == to), Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no mail to {to}"));
    mail.link_with(needle).expect("a link in the mail")
}

/// A fresh browser accepts the invitation by creating its account.
async fn accept_as_new(app: &TestApp, link: &str) -> reqwest::Client {
    let c = app.client();
    let r = app
        .post_form(
            &c,
            &path_of(link),
            &[
                ("name", "New Person"),
                ("password", "a brand new password"),
                ("password_confirm", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "accepting {link}");
    c
}

#[tokio::test]
async fn every_account_action_writes_its_event_with_actor_and_target() {
    let app = TestApp::spawn().await;
    let (admin, admin_id) = app.user_client("admin@example.test", true).await;
    let signed_in = last_event(&app, "user.signed_in");
    assert_eq!(signed_in.actor_email.as_deref(), Some("admin@example.test"));
    assert_eq!(signed_in.actor_id.as_deref(), Some(admin_id.as_str()));
    assert_eq!(signed_in.ip.as_deref(), Some("127.0.0.1"));

    let r = app
        .sign_in_with(&app.client(), "admin@example.test", "wrong-password-123")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let failed = last_event(&app, "user.sign_in_failed");
    assert_eq!(failed.actor_email.as_deref(), Some("admin@example.test"));
    assert!(
        failed.details.contains("wrong_password"),
        "{}",
        failed.details
    );

    let r = app
        .post_form(
            &admin,
            "/admin/users",
            &[("email", "Bob@Example.test"), ("name", "Bob")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bob_id = location(&r).rsplit('/').next().expect("id").to_owned();
    let created = last_event(&app, "user.created");
    assert_eq!(created.target.as_deref(), Some("bob@example.test"));
    assert_eq!(created.actor_email.as_deref(), Some("admin@example.test"));
    assert!(created.details.contains(&bob_id));
    let welcome = mail_link(&app, "bob@example.test", "/password/reset").await;
    let welcome_token = welcome.split("token=").nth(1).expect("token").to_owned();

    for (path, fields, action) in [
        ("disable", vec![], "user.disabled"),
        ("enable", vec![], "user.enabled"),
        ("admin", vec![("is_admin", "on")], "user.admin_changed"),
    ] {
        let r = app
            .post_form(&admin, &format!("/admin/users/{bob_id}/{path}"), &fields)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let e = last_event(&app, action);
        assert_eq!(e.target.as_deref(), Some("bob@example.test"), "{action}");
        assert_eq!(e.actor_email.as_deref(), Some("admin@example.test"));
    }
    let changed = last_event(&app, "user.admin_changed");
    assert!(
        changed.details.contains("\"after\":true"),
        "{}",
        changed.details
    );

    let r = app
        .post_form(&admin, "/admin/settings", &[("signup_enabled", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let signup = last_event(&app, "settings.signup_changed");
    assert!(signup.details.contains("\"before\":false"));
    assert!(signup.details.contains("\"after\":true"));

    let new_pw = "another long password";
    let r = app
        .post_form(
            &admin,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", new_pw),
                ("password_confirm", new_pw),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pw = last_event(&app, "user.password_changed");
    assert_eq!(pw.actor_email.as_deref(), Some("admin@example.test"));

    let r = app.post_form(&admin, "/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let out = last_event(&app, "user.signed_out");
    assert_eq!(out.actor_id.as_deref(), Some(admin_id.as_str()));

    assert_no_secret(
        &app,
        &[
            PASSWORD,
            new_pw,
            "wrong-password-123",
            &welcome_token,
            "$argon2",
        ],
    );
}

#[tokio::test]
async fn every_workspace_action_writes_its_event_in_that_workspace() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let r = app
        .post_form(
            &admin,
            "/admin/workspaces",
            &[("name", "Acme"), ("slug", "acme")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ws_id = location(&r).rsplit('/').next().expect("id").to_owned();
    let created = last_event(&app, "workspace.created");
    assert_eq!(created.workspace_id.as_deref(), Some(ws_id.as_str()));
    assert_eq!(created.target.as_deref(), Some("acme"));

    let r = app
        .post_form(
            &admin,
            &format!("/admin/workspaces/{ws_id}/invitations"),
            &[("email", "owner@example.test"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let inv = last_event(&app, "invitation.created");
    assert_eq!(inv.workspace_id.as_deref(), Some(ws_id.as_str()));
    assert_eq!(inv.target.as_deref(), Some("owner@example.test"));
    assert_eq!(inv.actor_email.as_deref(), Some("admin@example.test"));
    let owner_link = mail_link(&app, "owner@example.test", "/invite/").await;
    let owner = accept_as_new(&app, &owner_link).await;
    let accepted = last_event(&app, "invitation.accepted");
    assert_eq!(accepted.actor_email.as_deref(), Some("owner@example.test"));
    assert_eq!(accepted.workspace_id.as_deref(), Some(ws_id.as_str()));
    assert!(accepted.details.contains("owner"));

    let invite = |email: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let r = app
                .post_form(
                    owner,
                    "/w/acme/settings/members/invite",
                    &[("email", email), ("role", "member")],
                )
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "invite {email}");
        }
    };
    invite("mem@example.test").await;
    let mem_link = mail_link(&app, "mem@example.test", "/invite/").await;
    accept_as_new(&app, &mem_link).await;
    let mem_id: String = users::table
        .filter(users::email.eq("mem@example.test"))
        .select(users::id)
        .first(&mut app.db())
        .expect("member exists");

    invite("gone@example.test").await;
    let gone_id: String = invitations::table
        .filter(invitations::email.eq("gone@example.test"))
        .select(invitations::id)
        .first(&mut app.db())
        .expect("invitation exists");
    let r = app
        .post_form(
            &owner,
            &format!("/w/acme/settings/invitations/{gone_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let revoked = last_event(&app, "invitation.revoked");
    assert_eq!(revoked.target.as_deref(), Some("gone@example.test"));
    assert_eq!(revoked.actor_email.as_deref(), Some("owner@example.test"));
    assert_eq!(revoked.workspace_id.as_deref(), Some(ws_id.as_str()));

    let base = format!("/w/acme/settings/members/{mem_id}");
    let r = app
        .post_form(&owner, &format!("{base}/role"), &[("role", "owner")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let role = last_event(&app, "member.role_changed");
    assert_eq!(role.target.as_deref(), Some("mem@example.test"));
    assert_eq!(role.workspace_id.as_deref(), Some(ws_id.as_str()));
    assert!(
        role.details.contains("\"before\":\"member\""),
        "{}",
        role.details
    );
    assert!(role.details.contains("\"after\":\"owner\""));

    let r = app.post_form(&owner, &format!("{base}/remove"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let removed = last_event(&app, "member.removed");
    assert_eq!(removed.target.as_deref(), Some("mem@example.test"));
    assert_eq!(removed.actor_email.as_deref(), Some("owner@example.test"));
    assert_eq!(removed.workspace_id.as_deref(), Some(ws_id.as_str()));

    let tokens: Vec<String> = [&owner_link, &mem_link]
        .iter()
        .map(|l| l.rsplit('/').next().expect("token").to_owned())
        .collect();
    assert_no_secret(
        &app,
        &[&tokens[0], &tokens[1], "a brand new password", "$argon2"],
    );
}

/// Makes every audit insert fail from now on.
fn break_audit(app: &TestApp) {
    match app.backend {
        keyhold::db::Backend::Sqlite => exec(
            app,
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit down'); END;",
        ),
        _ => {
            exec(
                app,
                "CREATE FUNCTION fail_audit() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'audit down'; END; $$ LANGUAGE plpgsql",
            );
            exec(
                app,
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION fail_audit()",
            );
        }
    }
}

#[tokio::test]
async fn a_failing_audit_insert_rolls_the_change_back_and_queues_no_mail() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (ws_id, _) = app.create_workspace("acme", &[]);
    let events_before = all_events(&app).len();
    break_audit(&app);

    let r = app
        .post_form(
            &admin,
            "/admin/users",
            &[("email", "bob@example.test"), ("name", "Bob")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await.expect("body");
    assert!(body.contains("Request id"), "{body}");
    assert!(!body.contains("audit down"), "the cause is not shown");

    let r = app
        .post_form(
            &admin,
            &format!("/admin/workspaces/{ws_id}/invitations"),
            &[("email", "carol@example.test"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let r = app
        .post_form(&admin, "/admin/settings", &[("signup_enabled", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let mut c = app.db();
    let bob: i64 = users::table
        .filter(users::email.eq("bob@example.test"))
        .count()
        .get_result(&mut c)
        .expect("count");
    assert_eq!(bob, 0, "the user must not exist without its event");
    let invs: i64 = invitations::table
        .count()
        .get_result(&mut c)
        .expect("count");
    assert_eq!(invs, 0, "the invitation must not exist without its event");
    let queued: i64 = outbox::table.count().get_result(&mut c).expect("count");
    assert_eq!(queued, 0, "no mail may be queued for a rolled-back change");
    let signup = keyhold::services::settings::signup_enabled(&mut c).expect("read");
    assert!(!signup, "sign-up stays off");
    assert_eq!(all_events(&app).len(), events_before);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(app.smtp.messages().is_empty());
}

/// An app whose log holds exactly five events (user.created for five users).
async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    for i in 1..=5 {
        app.create_user(&format!("u{i}@example.test"), false);
    }
    assert_eq!(all_events(&app).len(), 5);
    app
}

fn verify(app: &TestApp) -> (bool, String) {
    let out = app.run_cli(&["audit", "verify"], &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn audit_verify_passes_an_intact_log_and_names_an_edited_event() {
    let app = seeded().await;
    let (ok, text) = verify(&app);
    assert!(ok, "{text}");
    assert!(text.contains("5 events"), "{text}");

    exec(
        &app,
        "UPDATE audit_events SET details = '{\"is_admin\":true}' WHERE id = 3",
    );
    let (ok, text) = verify(&app);
    assert!(!ok, "an edited event must fail verification: {text}");
    assert!(text.contains("event 3"), "{text}");
}

#[tokio::test]
async fn audit_verify_names_a_deleted_middle_event() {
    let app = seeded().await;
    exec(&app, "DELETE FROM audit_events WHERE id = 3");
    let (ok, text) = verify(&app);
    assert!(!ok, "{text}");
    assert!(text.contains("event 3"), "{text}");
}

#[tokio::test]
async fn audit_verify_notices_the_last_event_was_deleted() {
    let app = seeded().await;
    exec(&app, "DELETE FROM audit_events WHERE id = 5");
    let (ok, text) = verify(&app);
    assert!(!ok, "{text}");
    assert!(text.contains("event 5"), "{text}");
}

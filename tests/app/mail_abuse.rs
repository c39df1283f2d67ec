//! Mail a stranger can trigger (SPEC §11): limited per recipient, and no name someone chose
//! reaches a Subject or reads, in a body, as anything but a quoted name.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::schema::{invitations, outbox, password_resets, workspaces};
use reqwest::{Client, StatusCode};

use crate::helpers::*;
use crate::support::smtp_sink::Mail;

/// A display name that reads as a message from Keyhold (short enough to be shown whole).
const PHISHY_NAME: &str = "Keyhold Security: Verify now at https://evil.test/v";
/// A workspace name with a link in it.
const PHISHY_WORKSPACE: &str = "Urgent: confirm at www.evil.test/confirm";

fn count_to(app: &TestApp, to: &str) -> usize {
    app.smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == to))
        .count()
}

/// Posts "forgot password" from a fresh browser; returns the page with its CSRF token
/// blanked (the only part that differs between browsers).
async fn forgot(app: &TestApp, email: &str) -> String {
    let c = app.client();
    let r = app
        .post_form(&c, "/password/forgot", &[("email", email)])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the form never answers an error"
    );
    let body = r.text().await.expect("body");
    match csrf_in(&body) {
        Some(token) => body.replace(&token, "…"),
        None => body,
    }
}

fn count(app: &TestApp, table: &str) -> i64 {
    let mut c = app.db();
    match table {
        "outbox" => outbox::table.count().get_result(&mut c),
        "password_resets" => password_resets::table.count().get_result(&mut c),
        "invitations" => invitations::table.count().get_result(&mut c),
        _ => unreachable!("{table}"),
    }
    .expect("count")
}

#[tokio::test]
async fn thirty_reset_requests_for_one_address_send_three_mails_and_every_answer_is_the_same() {
    let app = TestApp::spawn().await;
    app.create_user("ann@example.test", false);

    let unknown = forgot(&app, "nobody@example.test").await;
    for i in 0..30 {
        // However the address is written, it is the same recipient.
        let spelled = if i % 2 == 0 {
            "ann@example.test"
        } else {
            " ANN@example.test "
        };
        let page = forgot(&app, spelled).await;
        assert_eq!(
            page, unknown,
            "request {i}: the answer tells nothing about the account or the limit"
        );
    }

    app.smtp.wait_for_count(3, Duration::from_secs(15)).await;
    // Time for any further mail to arrive (the worker polls every second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count_to(&app, "ann@example.test"),
        3,
        "three reset mails per address and hour"
    );
    assert_eq!(count(&app, "outbox"), 3, "nothing more queued");
    assert_eq!(count(&app, "password_resets"), 3, "no link made unmailed");
    assert_eq!(app.audit_count("user.password_reset_requested"), 3);

    // Another address has its own count.
    app.create_user("bob@example.test", false);
    forgot(&app, "bob@example.test").await;
    let to_bob = app
        .smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == "bob@example.test"),
            Duration::from_secs(15),
        )
        .await;
    assert!(to_bob.is_some(), "bob still gets his reset mail");
}

/// The owner of `slug` invites `email`; returns the response.
async fn invite(app: &TestApp, c: &Client, slug: &str, email: &str) -> reqwest::Response {
    app.post_form(
        c,
        &format!("/w/{slug}/settings/members/invite"),
        &[("email", email), ("role", "member")],
    )
    .await
}

#[tokio::test]
async fn an_owner_re_inviting_one_address_past_the_limit_is_told_so_and_nothing_is_mailed() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user_client("owner@example.test", false).await;
    app.create_workspace("acme", &[(&owner_id, "owner")]);
    let (other, other_id) = app.user_client("other@example.test", false).await;
    app.create_workspace("globex", &[(&other_id, "owner")]);

    for i in 0..5 {
        let r = invite(&app, &owner, "acme", "outsider@example.test").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "invitation {i}");
    }
    let r = invite(&app, &owner, "acme", "Outsider+again@Example.test").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.expect("body");
    assert!(
        page.contains("This address was sent 5 invitations within the last hour"),
        "{page}"
    );
    assert!(page.contains("Wait an hour, then invite it again."));
    assert!(page.contains("field-error"), "shown beside the field");
    assert!(
        page.contains("value=\"Outsider+again@Example.test\""),
        "the address stays in the form"
    );

    // The limit is the recipient's, whichever workspace invites.
    let r = invite(&app, &other, "globex", "outsider@example.test").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Another address is not affected.
    let r = invite(&app, &owner, "acme", "someone-else@example.test").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    app.smtp.wait_for_count(6, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count_to(&app, "outsider@example.test"), 5);
    assert_eq!(
        count(&app, "invitations"),
        6,
        "no invitation without its mail"
    );
    assert_eq!(app.audit_count("invitation.created"), 6);
}

/// Checks one mail: nothing chosen in the Subject; in the text, the chosen text only inside
/// “quotes”; in the HTML, no link but the mail's own action.
fn assert_names_only_quoted(mail: &Mail, chosen: &[&str], action: &str) {
    for text in chosen {
        let first_words: String = text.chars().take(12).collect();
        assert!(
            !mail.subject.contains(&first_words),
            "chosen text in the Subject: {}",
            mail.subject
        );
        let decoded = mail.decoded();
        let shown = decoded.matches(&first_words).count();
        let quoted = decoded.matches(&format!("“{first_words}")).count();
        assert_eq!(shown, quoted, "“{first_words}” unquoted in:\n{decoded}");
    }
    for part in [&mail.text, &mail.html] {
        for link in ["https://evil", "evil.test", "www.evil"] {
            assert!(
                !part.contains(link),
                "{link} could become a link in:\n{part}"
            );
        }
    }
    let hrefs: Vec<&str> = mail.html.split("href=\"").skip(1).collect();
    assert!(!hrefs.is_empty(), "the action is a link:\n{}", mail.html);
    for href in hrefs {
        let href = &href[..href.find('"').unwrap_or(href.len())];
        assert!(
            href.starts_with("http://127.0.0.1:") && href.contains(action),
            "the only links are the mail's own action: {href}"
        );
    }
}

#[tokio::test]
async fn names_chosen_at_sign_up_never_reach_a_subject_and_are_quoted_in_bodies() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let r = app
        .post_form(&admin, "/admin/settings", &[("signup_enabled", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Someone signs up with a name and a workspace name that read as a message...
    let mallory = app.client();
    let r = app
        .post_form(
            &mallory,
            "/signup",
            &[
                ("name", PHISHY_NAME),
                ("email", "mallory@example.test"),
                ("workspace_name", PHISHY_WORKSPACE),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed up");
    let slug: String = workspaces::table
        .filter(workspaces::name.eq(PHISHY_WORKSPACE))
        .select(workspaces::slug)
        .first(&mut app.db())
        .expect("the new workspace");

    // ...and invites a stranger, from Keyhold's genuine sender.
    let r = invite(&app, &mallory, &slug, "victim@example.test").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = app
        .smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == "victim@example.test"),
            Duration::from_secs(15),
        )
        .await
        .expect("the invitation");
    assert_eq!(mail.subject, "You are invited to a workspace on Keyhold");
    assert!(
        mail.shows(&format!("A Keyhold user named “{PHISHY_NAME}”")),
        "{}",
        mail.decoded()
    );
    assert!(
        mail.shows(&format!("the workspace named “{PHISHY_WORKSPACE}”")),
        "{}",
        mail.decoded()
    );
    assert_names_only_quoted(&mail, &[PHISHY_NAME, PHISHY_WORKSPACE], "/invite/");

    // A reset mail to the person greets no one by the name they chose, in the body or the
    // To header.
    let c = app.client();
    app.post_form(&c, "/password/forgot", &[("email", "mallory@example.test")])
        .await;
    let mail = app
        .smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == "mallory@example.test"),
            Duration::from_secs(15),
        )
        .await
        .expect("the reset mail");
    assert!(!mail.shows("Keyhold Security"), "{}", mail.decoded());
    let to_header = mail
        .raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .expect("a To header");
    assert_eq!(to_header.trim(), "To: mallory@example.test");
    assert_names_only_quoted(&mail, &[PHISHY_NAME], "/password/reset?token=");
}

#[tokio::test]
async fn key_mails_keep_workspace_names_and_labels_out_of_the_subject() {
    let b = crate::byok::Byok::start().await;
    let (_, co_owner_id) = b.app.user_client("co-owner@example.test", false).await;
    {
        use keyhold::services::{accounts, audit::Actor, workspaces as ws};
        let mut conn = b.app.db();
        let keyring = b.app.keyring();
        keyhold::db::write_tx(&mut conn, |c| {
            diesel::update(workspaces::table.find(&b.ws_id))
                .set(workspaces::name.eq(PHISHY_WORKSPACE))
                .execute(c)?;
            let w = ws::get(c, &crate::helpers::id(&b.ws_id))?;
            let user = accounts::get_user(c, &crate::helpers::id(&co_owner_id))?;
            ws::add_member(
                c,
                &keyring,
                &Actor::cli(),
                &w,
                &user,
                keyhold::domain::roles::Role::Owner,
            )
        })
        .expect("arrange");
    }
    let label = "Verify at https://evil.test now";
    let r = b
        .add_key(&b.owner, label, "sk-proj-labelkey000000000000000000004444")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = b
        .app
        .smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == "co-owner@example.test"),
            Duration::from_secs(10),
        )
        .await
        .expect("the other owner is told");
    assert_eq!(
        mail.subject,
        "A key was added in one of your Keyhold workspaces"
    );
    assert!(
        mail.shows(&format!(
            "The owner “owner@example.test” added the OpenAI key “{label}” in the workspace “{PHISHY_WORKSPACE}”."
        )),
        "{}",
        mail.decoded()
    );
    assert_names_only_quoted(&mail, &[label, PHISHY_WORKSPACE], "/settings/keys");
}

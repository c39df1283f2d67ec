//! Passwords: "Forgot password" answers alike for every email, reset links work once and
//! expire and end every session; changing a password needs the current one; policy
//! errors are shown inline without losing what was typed.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::schema::password_resets;
use keyhold::services::throttle::{Clock, Policy};
use reqwest::{Client, StatusCode};

use crate::helpers::*;

const NEW_PW: &str = "a fresh long password";
const USED: &str = "This link has expired or was already used.";

/// Requests a reset for `email` and returns the link's path.
async fn reset_link(app: &TestApp, email: &str) -> String {
    let r = app
        .post_form(&app.client(), "/password/forgot", &[("email", email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let to = email.to_owned();
    let mail = app
        .smtp
        .wait_for(move |m| m.to.contains(&to), Duration::from_secs(15))
        .await
        .expect("a reset mail");
    assert_eq!(mail.subject, "Reset your Keyhold password");
    path_of(&mail.link_with("/password/reset?token=").expect("link"))
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("token").to_owned()
}

async fn post_reset(app: &TestApp, link: &str, pw: &str, confirm: &str) -> reqwest::Response {
    let token = token_of(link);
    app.post_form(
        &app.client(),
        "/password/reset",
        &[
            ("token", token.as_str()),
            ("password", pw),
            ("password_confirm", confirm),
        ],
    )
    .await
}

/// Whether `email` can sign in with `pw` (from a fresh browser).
async fn can_sign_in(app: &TestApp, email: &str, pw: &str) -> bool {
    let r = app.sign_in_with(&app.client(), email, pw).await;
    r.status() == StatusCode::SEE_OTHER
}

async fn signed_in(app: &TestApp, c: &Client) -> bool {
    app.get(c, "/account").await.status() == StatusCode::OK
}

#[tokio::test]
async fn forgot_password_answers_alike_for_known_and_unknown_emails_and_mails_only_the_known() {
    let app = TestApp::spawn().await;
    app.create_user("ann@example.test", false);
    let disabled = app.create_user("off@example.test", false);
    diesel::update(keyhold::db::schema::users::table.find(&disabled))
        .set(keyhold::db::schema::users::disabled.eq(true))
        .execute(&mut app.db())
        .expect("disable");

    let c = app.client();
    let mut answers = Vec::new();
    for email in [
        "ann@example.test",
        "nobody@example.test",
        "off@example.test",
        "not an email",
    ] {
        let r = app
            .post_form(&c, "/password/forgot", &[("email", email)])
            .await;
        let status = r.status();
        answers.push((status, r.text().await.expect("body")));
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    assert!(answers[0].1.contains("If an account exists for that email"));
    for (i, a) in answers.iter().enumerate().skip(1) {
        assert_eq!(a.0, answers[0].0, "status of answer {i}");
        assert_eq!(a.1, answers[0].1, "body of answer {i} differs");
    }

    app.smtp
        .wait_for(
            |m| m.to.contains(&"ann@example.test".into()),
            Duration::from_secs(15),
        )
        .await
        .expect("the known email gets a link");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = app.smtp.messages();
    assert_eq!(all.len(), 1, "only the known, enabled account is mailed");
    let resets: i64 = password_resets::table
        .count()
        .get_result(&mut app.db())
        .expect("count");
    assert_eq!(resets, 1);
}

#[tokio::test]
async fn forgot_password_answers_before_any_look_up_so_a_known_email_takes_no_longer() {
    let app = TestApp::spawn().await;
    app.create_user("ann@example.test", false);
    let c = app.client();
    app.csrf(&c).await;
    // The accounts are out of reach while the answers are asked for: whatever work an
    // address leads to, none of it can happen before its answer.
    let mut locked = app.db();
    let lock = match app.backend {
        keyhold::db::Backend::Sqlite => "BEGIN IMMEDIATE",
        _ => "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
    };
    diesel::connection::SimpleConnection::batch_execute(&mut locked, lock).expect("lock");

    let mut answers = Vec::new();
    for email in ["ann@example.test", "nobody@example.test"] {
        let r = app
            .post_form(&c, "/password/forgot", &[("email", email)])
            .await;
        answers.push((r.status(), r.text().await.expect("body")));
    }
    diesel::connection::SimpleConnection::batch_execute(&mut locked, "ROLLBACK").expect("unlock");

    assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
    assert_eq!(answers[0], answers[1], "the same answer for both");
    app.smtp
        .wait_for(
            |m| m.to.contains(&"ann@example.test".into()),
            Duration::from_secs(15),
        )
        .await
        .expect("the known email gets its link once the work runs");
}

#[tokio::test]
async fn a_reset_link_works_once_ends_every_session_and_replaces_the_password() {
    let app = TestApp::spawn().await;
    let (s1, _) = app.user_client("ann@example.test", false).await;
    let s2 = app.client();
    app.sign_in(&s2, "ann@example.test").await;
    let link = reset_link(&app, "ann@example.test").await;
    let stored: String = password_resets::table
        .select(password_resets::token_hash)
        .first(&mut app.db())
        .expect("row");
    assert_ne!(stored, token_of(&link), "the token is stored hashed");

    let (status, body) = app.get_html(&app.client(), &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Choose a new password"));
    let r = post_reset(&app, &link, NEW_PW, NEW_PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");

    assert!(!signed_in(&app, &s1).await, "session 1 ended");
    assert!(!signed_in(&app, &s2).await, "session 2 ended");
    assert!(!can_sign_in(&app, "ann@example.test", PASSWORD).await);
    assert!(can_sign_in(&app, "ann@example.test", NEW_PW).await);

    // Used once: refused, and the password stays the one just chosen.
    let (status, body) = app.get_html(&app.client(), &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(USED), "{body}");
    let r = post_reset(&app, &link, "third password here", "third password here").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("body").contains(USED));
    assert!(!can_sign_in(&app, "ann@example.test", "third password here").await);
    assert_eq!(app.audit_count("user.password_reset"), 1);
}

#[tokio::test]
async fn an_expired_reset_link_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user("ann@example.test", false);
    let link = reset_link(&app, "ann@example.test").await;
    diesel::update(password_resets::table)
        .set(password_resets::expires_at.eq(keyhold::db::now() - 1))
        .execute(&mut app.db())
        .expect("expire");
    let (status, body) = app.get_html(&app.client(), &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(USED));
    let r = post_reset(&app, &link, NEW_PW, NEW_PW).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(can_sign_in(&app, "ann@example.test", PASSWORD).await);
    assert!(!can_sign_in(&app, "ann@example.test", NEW_PW).await);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let (me, _) = app.user_client("ann@example.test", false).await;
    let other = app.client();
    app.sign_in(&other, "ann@example.test").await;

    let r = app
        .post_form(
            &me,
            "/account/password",
            &[
                ("current_password", "not my password"),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("id=\"f-current_password-error\""),
        "inline, beside the field: {body}"
    );
    assert!(body.contains("The current password is not right."));
    assert!(
        signed_in(&app, &other).await,
        "a failed change ends nothing"
    );
    assert!(can_sign_in(&app, "ann@example.test", PASSWORD).await);

    let r = app
        .post_form(
            &me,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, body) = app.get_html(&me, "/account").await;
    assert_eq!(status, StatusCode::OK, "this session stays");
    assert!(body.contains("Other sessions were signed out."));
    assert!(!signed_in(&app, &other).await, "the other session ended");
    assert!(!can_sign_in(&app, "ann@example.test", PASSWORD).await);
    assert!(can_sign_in(&app, "ann@example.test", NEW_PW).await);
}

async fn change_password(app: &TestApp, c: &Client, current: &str) -> reqwest::Response {
    app.post_form(
        c,
        "/account/password",
        &[
            ("current_password", current),
            ("password", NEW_PW),
            ("password_confirm", NEW_PW),
        ],
    )
    .await
}

#[tokio::test]
async fn the_current_password_check_backs_off_and_then_refuses_even_the_right_one() {
    let clock = Clock::default();
    let app = TestApp::spawn_with(Options {
        throttle: Some(Policy {
            clock: clock.clone(),
            ..Policy::default()
        }),
        ..Default::default()
    })
    .await;
    let (me, _) = app.user_client("ann@example.test", false).await;
    for i in 0..5 {
        let r = change_password(&app, &me, &format!("guess number {i}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "guess {i}");
    }
    let checks = app.metric("keyhold_password_checks_total").await;

    let held = change_password(&app, &me, PASSWORD).await;
    let held_status = held.status();
    let body = held.text().await.expect("body");
    let checks_after = app.metric("keyhold_password_checks_total").await;
    let unchanged = can_sign_in(&app, "ann@example.test", PASSWORD).await;
    clock.advance(61);
    let later = change_password(&app, &me, PASSWORD).await;

    assert_eq!(held_status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body.contains("Too many wrong current passwords. Try again in a minute."),
        "{body}"
    );
    assert_eq!(checks_after, checks, "no argon2 work while refused");
    assert!(unchanged, "the password was not changed while refused");
    assert_eq!(app.audit_count("user.password_check_failed"), 5);
    assert_eq!(app.audit_count("user.password_check_throttled"), 1);
    assert_eq!(later.status(), StatusCode::SEE_OTHER, "the backoff ended");
    assert!(can_sign_in(&app, "ann@example.test", NEW_PW).await);
}

#[tokio::test]
async fn an_admin_created_user_gets_a_choose_a_password_mail_whose_link_works() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let r = app
        .post_form(
            &admin,
            "/admin/users",
            &[("email", "bob@example.test"), ("name", "Bob")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = app
        .smtp
        .wait_for(
            |m| m.to.contains(&"bob@example.test".into()),
            Duration::from_secs(15),
        )
        .await
        .expect("welcome mail");
    assert_eq!(mail.subject, "Your Keyhold account is ready");
    assert!(mail.text.starts_with("Hello,"), "{}", mail.text);
    let link = path_of(&mail.link_with("/password/reset?token=").expect("link"));

    assert_eq!(app.get_html(&app.client(), &link).await.0, StatusCode::OK);
    let r = post_reset(&app, &link, NEW_PW, NEW_PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(can_sign_in(&app, "bob@example.test", NEW_PW).await);
    assert_eq!(
        app.get_html(&app.client(), &link).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn password_policy_errors_are_inline_and_keep_everything_else_typed() {
    let app = TestApp::spawn().await;
    let err = |field: &str| format!("id=\"f-{field}-error\"");

    // Sign-up (an admin allows it).
    keyhold::services::settings::set(&mut app.db(), "signup_enabled", "true").expect("setting");
    let r = app
        .post_form(
            &app.client(),
            "/signup",
            &[
                ("name", "Dana Scully"),
                ("email", "dana@example.test"),
                ("workspace_name", "X Files"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains(&err("password")), "{body}");
    assert!(body.contains("Use at least 10 characters."));
    for kept in ["Dana Scully", "dana@example.test", "X Files"] {
        assert!(body.contains(&format!("value=\"{kept}\"")), "{kept} kept");
    }

    // Reset: mismatched repeat; the token stays in the form so a retry works.
    app.create_user("ann@example.test", false);
    let link = reset_link(&app, "ann@example.test").await;
    let r = post_reset(&app, &link, NEW_PW, "something else entirely").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains(&err("password_confirm")), "{body}");
    assert!(body.contains("The two passwords do not match."));
    assert!(body.contains(&format!("value=\"{}\"", token_of(&link))));
    let r = post_reset(&app, &link, NEW_PW, NEW_PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the link still works");

    // Account page: too short a new password.
    let (me, _) = app.user_client("carl@example.test", false).await;
    let r = app
        .post_form(
            &me,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", "tiny"),
                ("password_confirm", "tiny"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains(&err("password")), "{body}");
    assert!(can_sign_in(&app, "carl@example.test", PASSWORD).await);

    // Invitation: the typed name survives a weak password.
    let owner = app.create_user("owner@example.test", false);
    let (ws_id, _) = app.create_workspace("acme", &[(&owner, "owner")]);
    let oc = app.client();
    app.sign_in(&oc, "owner@example.test").await;
    let r = app
        .post_form(
            &oc,
            "/w/acme/settings/members/invite",
            &[("email", "eve@example.test"), ("role", "member")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = app
        .smtp
        .wait_for(
            |m| m.to.contains(&"eve@example.test".into()),
            Duration::from_secs(15),
        )
        .await
        .expect("invitation");
    let invite = path_of(&mail.link_with("/invite/").expect("link"));
    let r = app
        .post_form(
            &app.client(),
            &invite,
            &[
                ("name", "Eve Moneypenny"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains(&err("password")), "{body}");
    assert!(body.contains("value=\"Eve Moneypenny\""));
    assert!(!ws_id.is_empty());
}

#[tokio::test]
async fn a_new_password_spends_every_older_reset_link() {
    let app = TestApp::spawn().await;
    let (me, _) = app.user_client("ann@example.test", false).await;
    let first = reset_link(&app, "ann@example.test").await;
    app.smtp.clear();
    let second = reset_link(&app, "ann@example.test").await;
    assert_ne!(first, second);
    let r = post_reset(&app, &second, NEW_PW, NEW_PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = app.get_html(&app.client(), &first).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the older link is spent too");
    let r = post_reset(&app, &first, "third password here", "third password here").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(can_sign_in(&app, "ann@example.test", NEW_PW).await);

    // Changing the password on the account page spends outstanding links as well.
    app.smtp.clear();
    let pending = reset_link(&app, "ann@example.test").await;
    app.sign_in_with(&me, "ann@example.test", NEW_PW).await;
    let r = app
        .post_form(
            &me,
            "/account/password",
            &[
                ("current_password", NEW_PW),
                ("password", "yet another password"),
                ("password_confirm", "yet another password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_html(&app.client(), &pending).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn current_passwords_guessed_together_get_five_checks_and_then_the_backoff() {
    let app = TestApp::spawn().await;
    let (me, _) = app.user_client("ann@example.test", false).await;
    let token = app.csrf(&me).await;

    let guesses = (0..20).map(|i| {
        let guess = format!("guess number {i}");
        me.post(app.url("/account/password"))
            .form(&[
                ("current_password", guess.as_str()),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
                ("csrf_token", token.as_str()),
            ])
            .send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.expect("POST /account/password").status())
        .collect();
    let right = change_password(&app, &me, PASSWORD).await;

    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
    assert_eq!(app.audit_count("user.password_check_failed"), 5);
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right one is refused while it backs off"
    );
    assert!(can_sign_in(&app, "ann@example.test", PASSWORD).await);
}

//! Sign-in and sign-out, the first-run setup link, public sign-up (which tells nobody who
//! has an account), throttling from one address, and which client address counts. The
//! throttle's design is proven in `throttle`.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::schema::{audit_events, users};
use reqwest::{Client, Response, StatusCode};

use super::assert_sent_to_login;
use crate::helpers::*;

#[tokio::test]
async fn a_user_signs_in_and_out() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let c = app.client();

    let wrong = app.sign_in_with(&c, "member@example.test", "nope").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.expect("body");
    let right = app.sign_in_with(&c, "member@example.test", PASSWORD).await;

    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert!(wrong_body.contains("Wrong email or password."));
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&right), "/");
    assert_eq!(location(&app.get(&c, "/").await), "/account");
    assert_eq!(app.audit_count("user.signed_in"), 1);
    assert_eq!(app.audit_count("user.sign_in_failed"), 1);
    assert_sent_to_login(&app.post_form(&c, "/logout", &[]).await, "sign-out");
    assert_sent_to_login(&app.get(&c, "/account").await, "signed out");
}

async fn post_setup(app: &TestApp, c: &Client, token: &str) -> Response {
    app.post_form(
        c,
        "/setup",
        &[
            ("token", token),
            ("name", "First Admin"),
            ("email", "first@example.test"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let app = TestApp::spawn().await;
    let token = keyhold::services::accounts::issue_setup_token(&mut app.db())
        .expect("issue a setup token")
        .expect("a setup token while nobody exists");
    let c = app.client();
    let (wrong_get, _) = app.get_html(&c, "/setup?token=wrong").await;
    let wrong_post = post_setup(&app, &c, "wrong").await.status();
    let (form, _) = app.get_html(&c, &format!("/setup?token={token}")).await;

    let done = post_setup(&app, &c, &token).await;

    assert_eq!(
        (wrong_get, wrong_post),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(form, StatusCode::OK);
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/admin");
    assert_eq!(app.get(&c, "/admin").await.status(), StatusCode::OK);
    let admin: bool = users::table
        .filter(users::email.eq("first@example.test"))
        .select(users::is_admin)
        .first(&mut app.db())
        .expect("query");
    assert!(admin);
    let other = app.client();
    let (again_get, _) = app.get_html(&other, &format!("/setup?token={token}")).await;
    assert_eq!(again_get, StatusCode::NOT_FOUND);
    assert_eq!(
        post_setup(&app, &other, &token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        keyhold::services::accounts::issue_setup_token(&mut app.db()).expect("issue a setup token"),
        None
    );
}

#[tokio::test]
async fn sign_up_is_not_found_until_an_admin_turns_it_on() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let visitor = app.client();
    let form = [
        ("name", "New Person"),
        ("email", "new@example.test"),
        ("workspace_name", "New Space"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let (off_get, _) = app.get_html(&visitor, "/signup").await;
    let off_post = app.post_form(&visitor, "/signup", &form).await.status();

    let saved = app
        .post_form(&admin, "/admin/settings", &[("signup_enabled", "on")])
        .await;

    assert_eq!(
        (off_get, off_post),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&visitor, "/signup").await.status(), StatusCode::OK);
    let r = app.post_form(&visitor, "/signup", &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = location(&app.get(&visitor, "/").await);
    assert!(home.starts_with("/w/"), "{home}");
    assert!(
        home.ends_with("/settings/keys"),
        "a new owner starts on the owner's work: {home}"
    );
    let ws = home.trim_end_matches("/settings/keys");
    let (status, _) = app
        .get_html(&visitor, &format!("{ws}/settings/members"))
        .await;
    assert_eq!(status, StatusCode::OK, "the new user owns their workspace");
}

async fn post_signup(app: &TestApp, c: &Client, email: &str) -> Response {
    app.post_form(
        c,
        "/signup",
        &[
            ("name", "Mallory Chosen-Name"),
            ("email", email),
            ("workspace_name", "New Space"),
            ("password", "sign-up password 1"),
            ("password_confirm", "sign-up password 1"),
        ],
    )
    .await
}

/// What a visitor sees of a sign-up answer: status, redirect, whether a session cookie
/// was set, and the body.
async fn seen(r: Response) -> (StatusCode, String, bool, String) {
    let cookie = r.headers().get("set-cookie").is_some();
    (
        r.status(),
        location(&r),
        cookie,
        r.text().await.expect("body"),
    )
}

#[tokio::test]
async fn sign_up_with_a_taken_address_answers_as_for_a_new_one_and_mails_the_owner() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    app.create_user("ann@example.test", false);
    app.post_form(&admin, "/admin/settings", &[("signup_enabled", "on")])
        .await;

    let fresh = seen(post_signup(&app, &app.client(), "new@example.test").await).await;
    let taken = seen(post_signup(&app, &app.client(), "Ann@Example.test").await).await;

    assert_eq!(fresh.0, StatusCode::SEE_OTHER);
    assert_eq!(taken, fresh, "the same answer for a taken address");
    let to = "ann@example.test".to_owned();
    let mail = app
        .smtp
        .wait_for(move |m| m.to.contains(&to), Duration::from_secs(15))
        .await
        .expect("a notice to the owner");
    assert_eq!(
        mail.subject,
        "Someone tried to sign up to Keyhold with your address"
    );
    for part in [&mail.text, &mail.decoded()] {
        assert!(
            part.contains("Someone tried to create a new Keyhold account"),
            "{part}"
        );
        assert!(part.contains("sign in"), "{part}");
        assert!(part.contains("/password/forgot"), "{part}");
        assert!(
            !part.contains("Mallory"),
            "the sign-up's name stays out: {part}"
        );
        assert!(!part.contains("sign-up password 1"), "{part}");
    }
    assert_eq!(
        path_of(&mail.link_with("/login").expect("a sign-in link")),
        "/login"
    );
    assert!(
        app.sign_in_with(&app.client(), "ann@example.test", PASSWORD)
            .await
            .status()
            == StatusCode::SEE_OTHER,
        "the owner's password is unchanged"
    );
    let names: Vec<String> = users::table
        .filter(users::email.eq("ann@example.test"))
        .select(users::name)
        .load(&mut app.db())
        .expect("query");
    assert_eq!(names, ["Test User"], "no second account, nothing renamed");
    assert_eq!(app.audit_count("user.sign_up_existing_email"), 1);
    assert!(
        app.smtp
            .messages()
            .iter()
            .all(|m| !m.to.contains(&"new@example.test".to_owned())),
        "the new address gets no notice"
    );
}

#[tokio::test]
async fn five_wrong_passwords_from_one_address_hold_back_even_the_right_one_there() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let c = app.client();
    for _ in 0..5 {
        let r = app.sign_in_with(&c, "member@example.test", "wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..5 {
        let r = app.sign_in_with(&c, "ghost@example.test", "wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    let known = app.sign_in_with(&c, "member@example.test", PASSWORD).await;
    let unknown = app.sign_in_with(&c, "ghost@example.test", "wrong").await;

    assert_eq!(known.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(unknown.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(known.text().await.expect("body").contains("Too many"));
    assert!(unknown.text().await.expect("body").contains("Too many"));
    assert_sent_to_login(&app.get(&c, "/account").await, "not signed in");
}

#[tokio::test]
async fn known_and_unknown_emails_get_the_same_answer_for_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let c = app.client();

    let known = app.sign_in_with(&c, "member@example.test", "wrong").await;
    let unknown = app.sign_in_with(&c, "nobody@example.test", "wrong").await;

    assert_eq!(known.status(), unknown.status());
    let known = known
        .text()
        .await
        .expect("body")
        .replace("member@example.test", "E");
    let unknown = unknown
        .text()
        .await
        .expect("body")
        .replace("nobody@example.test", "E");
    assert_eq!(known, unknown);
}

fn last_sign_in_ip(app: &TestApp) -> Option<String> {
    audit_events::table
        .filter(audit_events::action.eq("user.signed_in"))
        .order(audit_events::id.desc())
        .select(audit_events::ip)
        .first(&mut app.db())
        .expect("query")
}

async fn sign_in_forwarded(app: &TestApp) -> Response {
    app.create_user("member@example.test", false);
    let c = app.client();
    let token = app.csrf(&c).await;
    c.post(app.url("/login"))
        .header("x-forwarded-for", "203.0.113.7")
        .form(&[
            ("email", "member@example.test"),
            ("password", PASSWORD),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let trusting = TestApp::spawn_with(Options {
        env: vec![("KEYHOLD_TRUSTED_PROXIES".into(), "127.0.0.1".into())],
        ..Default::default()
    })
    .await;
    let plain = TestApp::spawn().await;

    let a = sign_in_forwarded(&trusting).await;
    let b = sign_in_forwarded(&plain).await;

    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER)
    );
    assert_eq!(last_sign_in_ip(&trusting).as_deref(), Some("203.0.113.7"));
    assert_eq!(last_sign_in_ip(&plain).as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn sign_in_follows_only_local_next_paths() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let evil = [
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example",
    ];

    for next in evil {
        let c = app.client();
        let r = app
            .post_form(
                &c,
                "/login",
                &[
                    ("email", "member@example.test"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        let again = app
            .get(&c, &format!("/login?next={}", urlencoding(next)))
            .await;

        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&r), "/", "POST /login next={next:?}");
        assert_eq!(location(&again), "/account", "GET /login next={next:?}");
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn known_and_unknown_emails_take_about_the_same_time() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let c = app.client();
    let token = app.csrf(&c).await;
    let attempt = |email: &'static str| {
        let request = c.post(app.url("/login")).form(&[
            ("email", email),
            ("password", "wrong"),
            ("csrf_token", token.as_str()),
        ]);
        async move {
            let started = std::time::Instant::now();
            let r = request.send().await.expect("request");
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            started.elapsed()
        }
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());

    for _ in 0..4 {
        known.push(attempt("member@example.test").await);
        unknown.push(attempt("nobody@example.test").await);
    }

    let (known, unknown) = (
        known.iter().min().expect("timings"),
        unknown.iter().min().expect("timings"),
    );
    assert!(
        *unknown * 3 > *known && *known * 3 > *unknown,
        "known {known:?} vs unknown {unknown:?}"
    );
}

//! Sign-in throttling that a stranger cannot turn against a person: the (account, address)
//! pair backs off, the account and the address only slow, a completed reset lifts the
//! account's limits, throttled attempts do no password work, and every instance on one
//! database counts the same failures. Client addresses are set with `X-Forwarded-For` from
//! a trusted proxy (the tests' own loopback address).

use std::time::Duration;

use keyhold::services::throttle::{Clock, Policy};
use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;

const MEMBER: &str = "member@example.test";
const NEW_PW: &str = "a fresh long password";
const CHECKS: &str = "keyhold_password_checks_total";
const THROTTLED: &str = "keyhold_password_throttled_total{check=\"sign_in\"}";
const SLOWED: &str = "keyhold_sign_in_slowed_total";

/// An app that takes client addresses from `X-Forwarded-For`, with `policy`.
async fn behind_a_proxy(policy: Policy) -> TestApp {
    TestApp::spawn_with(Options {
        env: vec![("KEYHOLD_TRUSTED_PROXIES".into(), "127.0.0.1".into())],
        throttle: Some(policy),
        ..Default::default()
    })
    .await
}

/// Posts the sign-in form from a fresh browser at client address `ip`.
async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    let c = app.client();
    sign_in_as(app, &c, ip, email, password).await
}

async fn sign_in_as(app: &TestApp, c: &Client, ip: &str, email: &str, pw: &str) -> Response {
    let token = app.csrf(c).await;
    c.post(app.url("/login"))
        .header("x-forwarded-for", ip)
        .form(&[("email", email), ("password", pw), ("csrf_token", &token)])
        .send()
        .await
        .expect("POST /login")
}

/// Asks for a reset link for `email` and sets `password` with it.
async fn reset_password(app: &TestApp, email: &str, password: &str) {
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
    let link = path_of(&mail.link_with("/password/reset?token=").expect("link"));
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let r = app
        .post_form(
            &app.client(),
            "/password/reset",
            &[
                ("token", token.as_str()),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the reset went through");
}

#[tokio::test]
async fn a_stranger_failing_from_elsewhere_is_held_back_but_cannot_keep_the_person_out() {
    let app = behind_a_proxy(Policy::default()).await;
    app.create_user(MEMBER, false);
    let mut stranger = Vec::new();

    for _ in 0..8 {
        let r = sign_in_from(&app, "198.51.100.7", MEMBER, "guess").await;
        stranger.push(r.status());
    }
    let person = sign_in_from(&app, "203.0.113.9", MEMBER, PASSWORD).await;
    let stranger_right = sign_in_from(&app, "198.51.100.7", MEMBER, PASSWORD).await;

    assert_eq!(stranger[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(stranger[5..], [StatusCode::TOO_MANY_REQUESTS; 3]);
    assert_eq!(person.status(), StatusCode::SEE_OTHER, "the person gets in");
    assert_eq!(stranger_right.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = stranger_right.text().await.expect("body");
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
    assert!(body.contains("Try again in a minute"), "{body}");
    assert_eq!(app.audit_count("user.sign_in_failed"), 5);
    assert_eq!(app.audit_count("user.sign_in_throttled"), 4);
}

#[tokio::test]
async fn failures_from_many_addresses_only_slow_the_account_until_a_completed_reset() {
    let app = behind_a_proxy(Policy {
        account_slow_after: 4,
        slowdown: Duration::ZERO,
        ..Policy::default()
    })
    .await;
    app.create_user(MEMBER, false);
    for i in 0..4 {
        let r = sign_in_from(&app, &format!("198.51.100.{i}"), MEMBER, "guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    let slowed = sign_in_from(&app, "203.0.113.9", MEMBER, PASSWORD).await;
    let slowed_count = app.metric(SLOWED).await;
    reset_password(&app, MEMBER, NEW_PW).await;
    let after_reset = sign_in_from(&app, "203.0.113.9", MEMBER, NEW_PW).await;

    assert_eq!(
        slowed.status(),
        StatusCode::SEE_OTHER,
        "slowed, not refused"
    );
    assert_eq!(slowed_count, 1.0);
    assert_eq!(after_reset.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.metric(SLOWED).await, 1.0, "the reset lifted the limit");
}

#[tokio::test]
async fn a_completed_reset_lets_a_person_back_in_after_their_own_failures() {
    let app = behind_a_proxy(Policy::default()).await;
    app.create_user(MEMBER, false);
    for _ in 0..5 {
        sign_in_from(&app, "203.0.113.9", MEMBER, "forgotten").await;
    }
    let before = sign_in_from(&app, "203.0.113.9", MEMBER, PASSWORD).await;

    reset_password(&app, MEMBER, NEW_PW).await;
    let after = sign_in_from(&app, "203.0.113.9", MEMBER, NEW_PW).await;

    assert_eq!(before.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_pair_backoff_ends_on_its_own_and_doubles_with_each_further_failure() {
    let clock = Clock::default();
    let app = behind_a_proxy(Policy {
        clock: clock.clone(),
        ..Policy::default()
    })
    .await;
    app.create_user(MEMBER, false);
    let from = |pw: &'static str| sign_in_from(&app, "198.51.100.7", MEMBER, pw);
    for _ in 0..5 {
        assert_eq!(from("guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let held = from(PASSWORD).await.status();

    clock.advance(61);
    let sixth = from("guess").await.status();
    let held_again = from(PASSWORD).await.status();
    clock.advance(61);
    let still_held = from(PASSWORD).await.status();
    clock.advance(60);
    let free = from(PASSWORD).await.status();

    assert_eq!(held, StatusCode::TOO_MANY_REQUESTS, "60 s after five");
    assert_eq!(
        sixth,
        StatusCode::UNAUTHORIZED,
        "checked once the backoff ended"
    );
    assert_eq!(held_again, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(still_held, StatusCode::TOO_MANY_REQUESTS, "120 s after six");
    assert_eq!(free, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_throttled_attempt_does_no_password_work_for_known_or_unknown_emails() {
    let app = TestApp::spawn().await;
    app.create_user(MEMBER, false);
    let c = app.client();
    for email in [MEMBER, "ghost@example.test"] {
        for _ in 0..5 {
            let r = app.sign_in_with(&c, email, "guess").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let checks = app.metric(CHECKS).await;

    let known = app.sign_in_with(&c, MEMBER, PASSWORD).await;
    let unknown = app.sign_in_with(&c, "ghost@example.test", "guess").await;

    assert_eq!(checks, 10.0, "every failure was checked");
    assert_eq!(known.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(unknown.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.metric(CHECKS).await,
        10.0,
        "no argon2 work when refused"
    );
    assert_eq!(app.metric(THROTTLED).await, 2.0);
    let known = known.text().await.expect("body").replace(MEMBER, "E");
    let unknown = unknown
        .text()
        .await
        .expect("body")
        .replace("ghost@example.test", "E");
    assert_eq!(known, unknown, "the same answer for both");
}

#[tokio::test]
async fn many_failures_from_one_address_only_slow_other_accounts_from_it() {
    let app = TestApp::spawn_with(Options {
        throttle: Some(Policy {
            address_slow_after: 6,
            slowdown: Duration::ZERO,
            ..Policy::default()
        }),
        ..Default::default()
    })
    .await;
    app.create_user(MEMBER, false);
    let c = app.client();
    for i in 0..6 {
        let r = app
            .sign_in_with(&c, &format!("guess{i}@example.test"), "wrong")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }

    let r = app.sign_in_with(&app.client(), MEMBER, PASSWORD).await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER, "slowed, not refused");
    assert_eq!(app.metric(SLOWED).await, 1.0);
}

#[tokio::test]
async fn instances_on_one_database_count_the_same_failures() {
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    a.create_user(MEMBER, false);
    let (on_a, on_b) = (a.client(), b.client());
    for _ in 0..3 {
        let r = a.sign_in_with(&on_a, MEMBER, "guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..2 {
        let r = b.sign_in_with(&on_b, MEMBER, "guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    let right_on_a = a.sign_in_with(&on_a, MEMBER, PASSWORD).await;
    let right_on_b = b.sign_in_with(&on_b, MEMBER, PASSWORD).await;

    assert_eq!(right_on_a.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(right_on_b.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.metric(CHECKS).await + b.metric(CHECKS).await, 5.0);
}

#[tokio::test]
async fn twenty_guesses_sent_together_from_one_address_get_five_checks_and_then_the_backoff() {
    let app = behind_a_proxy(Policy::default()).await;
    app.create_user(MEMBER, false);
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let c = app.client();
        let token = app.csrf(&c).await;
        browsers.push((c, token));
    }

    let guesses = browsers.iter().enumerate().map(|(i, (c, token))| {
        let guess = format!("guess {i}");
        c.post(app.url("/login"))
            .header("x-forwarded-for", "198.51.100.7")
            .form(&[
                ("email", MEMBER),
                ("password", guess.as_str()),
                ("csrf_token", token.as_str()),
            ])
            .send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.expect("POST /login").status())
        .collect();
    let right = sign_in_from(&app, "198.51.100.7", MEMBER, PASSWORD).await;

    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
    assert_eq!(app.metric(CHECKS).await, 5.0, "only five were checked");
    assert_eq!(app.audit_count("user.sign_in_failed"), 5);
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused while the pair backs off"
    );
    let body = right.text().await.expect("body");
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
}

//! Sessions through HTTP and the database: the workflow of actix-session's store acceptance
//! suite (state kept, expiry refreshed, renew, purge), fixation, replay, idle and absolute
//! limits, ending sessions, hostile cookies and cookie attributes. Sign-in, first run,
//! sign-up and throttling are in `sign_in`.

mod sign_in;
mod throttle;

use diesel::prelude::*;
use keyhold::db::now;
use keyhold::db::schema::sessions;
use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;

const COOKIE: &str = "keyhold_session";

/// The value `r` sets for the session cookie, if any.
fn set_cookie_value(r: &Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{COOKIE}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// A client without a cookie jar, so a cookie can be replayed by hand.
fn raw_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GET `path` with exactly `cookie` as the session cookie.
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    raw_client()
        .get(app.url(path))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .expect("GET")
}

fn session_rows(app: &TestApp, user_id: &str) -> Vec<(String, i64, i64)> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .select((sessions::id, sessions::created_at, sessions::expires_at))
        .load(&mut app.db())
        .expect("sessions")
}

fn assert_sent_to_login(r: &Response, what: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
    assert_eq!(location(r), "/login", "{what}");
}

#[tokio::test]
async fn session_state_is_kept_across_requests() {
    let app = TestApp::spawn().await;
    let (c, _) = app.user_client("admin@example.test", true).await;
    let first = csrf_in(&app.get_html(&c, "/account").await.1).expect("token");

    let r = app.post_form(&c, "/admin/settings", &[]).await;
    let (_, with_flash) = app.get_html(&c, "/admin").await;
    let (_, after) = app.get_html(&c, "/admin").await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(csrf_in(&app.get_html(&c, "/account").await.1), Some(first));
    assert!(with_flash.contains("Settings saved."), "{with_flash}");
    assert!(!after.contains("Settings saved."), "a flash is shown once");
}

#[tokio::test]
async fn a_state_change_pushes_the_idle_deadline_forward() {
    let app = TestApp::spawn().await;
    let (c, uid) = app.user_client("admin@example.test", true).await;
    let token = app.csrf(&c).await;
    diesel::update(sessions::table.filter(sessions::user_id.eq(&uid)))
        .set(sessions::expires_at.eq(now() + 120))
        .execute(&mut app.db())
        .expect("arrange the database");

    let r = c
        .post(app.url("/admin/settings"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("request");

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let rows = session_rows(&app, &uid);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].2 >= now() + 1700, "expires_at was not refreshed");
}

#[tokio::test]
async fn activity_keeps_a_session_alive() {
    let app = TestApp::spawn().await;
    let (c, uid) = app.user_client("member@example.test", false).await;
    diesel::update(sessions::table.filter(sessions::user_id.eq(&uid)))
        .set(sessions::expires_at.eq(now() + 120))
        .execute(&mut app.db())
        .expect("arrange the database");

    let (status, _) = app.get_html(&c, "/account").await;

    assert_eq!(status, StatusCode::OK);
    assert!(session_rows(&app, &uid)[0].2 >= now() + 1700);
}

#[tokio::test]
async fn sign_in_renews_the_session_and_the_pre_sign_in_cookie_stays_anonymous() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let c = app.client();
    let before = set_cookie_value(&app.get(&c, "/login").await).expect("a session cookie");

    let r = app.sign_in_with(&c, "member@example.test", PASSWORD).await;

    let after = set_cookie_value(&r).expect("a renewed cookie");
    assert_ne!(before, after);
    assert_eq!(app.get(&c, "/account").await.status(), StatusCode::OK);
    assert_sent_to_login(
        &get_with_cookie(&app, "/account", &before).await,
        "the pre-sign-in cookie",
    );
    assert_eq!(
        get_with_cookie(&app, "/account", &after).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_out_deletes_the_session_and_a_replayed_cookie_is_anonymous() {
    let app = TestApp::spawn().await;
    let uid = app.create_user("member@example.test", false);
    let c = app.client();
    let r = app.sign_in_with(&c, "member@example.test", PASSWORD).await;
    let cookie = set_cookie_value(&r).expect("cookie");
    assert_eq!(session_rows(&app, &uid).len(), 1);

    let out = app.post_form(&c, "/logout", &[]).await;

    assert_sent_to_login(&out, "sign-out");
    assert!(session_rows(&app, &uid).is_empty(), "row purged");
    assert_eq!(app.audit_count("user.signed_out"), 1);
    assert_sent_to_login(&app.get(&c, "/account").await, "after sign-out");
    assert_sent_to_login(
        &get_with_cookie(&app, "/account", &cookie).await,
        "replayed cookie",
    );
}

#[tokio::test]
async fn an_idle_session_is_anonymous() {
    let app = TestApp::spawn().await;
    let (c, uid) = app.user_client("member@example.test", false).await;
    diesel::update(sessions::table.filter(sessions::user_id.eq(&uid)))
        .set(sessions::expires_at.eq(now() - 1))
        .execute(&mut app.db())
        .expect("arrange the database");
    // Time passing, written behind the app's back: drop its in-memory copies.
    keyhold::db::epoch::external_change();

    let r = app.get(&c, "/account").await;

    assert_sent_to_login(&r, "idle session");
}

#[tokio::test]
async fn a_session_older_than_twelve_hours_is_anonymous_however_active() {
    let app = TestApp::spawn().await;
    let (c, uid) = app.user_client("member@example.test", false).await;
    diesel::update(sessions::table.filter(sessions::user_id.eq(&uid)))
        .set(sessions::created_at.eq(now() - 13 * 3600))
        .execute(&mut app.db())
        .expect("arrange the database");
    // Time passing, written behind the app's back: drop its in-memory copies.
    keyhold::db::epoch::external_change();

    let r = app.get(&c, "/account").await;

    assert_sent_to_login(&r, "session past the absolute limit");
}

#[tokio::test]
async fn sign_out_everywhere_ends_the_other_sessions_too() {
    let app = TestApp::spawn().await;
    let (laptop, uid) = app.user_client("member@example.test", false).await;
    let phone = app.client();
    app.sign_in(&phone, "member@example.test").await;
    assert_eq!(session_rows(&app, &uid).len(), 2);

    let r = app
        .post_form(&laptop, "/account/sign-out-everywhere", &[])
        .await;

    assert_sent_to_login(&r, "sign out everywhere");
    assert_sent_to_login(&app.get(&phone, "/account").await, "the other session");
    assert_sent_to_login(&app.get(&laptop, "/account").await, "this session");
    assert!(session_rows(&app, &uid).is_empty());
    assert_eq!(app.audit_count("user.signed_out_everywhere"), 1);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (user, uid) = app.user_client("member@example.test", false).await;
    app.create_workspace("acme", &[(&uid, "member")]);
    assert_eq!(app.get(&user, "/w/acme").await.status(), StatusCode::OK);

    let r = app
        .post_form(&admin, &format!("/admin/users/{uid}/disable"), &[])
        .await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_sent_to_login(&app.get(&user, "/w/acme").await, "disabled user");
    let again = app
        .sign_in_with(&user, "member@example.test", PASSWORD)
        .await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changing_a_workspace_role_ends_the_persons_sessions() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user_client("owner@example.test", false).await;
    let (member, member_id) = app.user_client("member@example.test", false).await;
    app.create_workspace("acme", &[(&owner_id, "owner"), (&member_id, "member")]);

    let r = app
        .post_form(
            &owner,
            &format!("/w/acme/settings/members/{member_id}/role"),
            &[("role", "owner")],
        )
        .await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_sent_to_login(
        &app.get(&member, "/w/acme").await,
        "member after role change",
    );
    assert_eq!(app.get(&owner, "/w/acme").await.status(), StatusCode::OK);
    app.sign_in(&member, "member@example.test").await;
    let (status, _) = app.get_html(&member, "/w/acme/settings/members").await;
    assert_eq!(status, StatusCode::OK, "the new owner sees owner pages");
}

#[tokio::test]
async fn forged_garbage_and_stale_cookies_are_anonymous_never_an_error() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.test", false);
    let c = app.client();
    let r = app.sign_in_with(&c, "member@example.test", PASSWORD).await;
    let valid = set_cookie_value(&r).expect("cookie");
    app.post_form(&c, "/logout", &[]).await;
    let mut tampered = valid.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII cookie");
    let unsigned = valid[44..].to_owned();
    let cookies = [
        "x".to_owned(),
        String::new(),
        "A".repeat(4000),
        keyhold::domain::tokens::generate(""),
        "%00%ff\"\\;".to_owned(),
        tampered,
        unsigned,
        valid,
    ];

    for cookie in &cookies {
        let account = get_with_cookie(&app, "/account", cookie).await;
        let login = get_with_cookie(&app, "/login", cookie).await;
        let post = raw_client()
            .post(app.url("/login"))
            .header("cookie", format!("{COOKIE}={cookie}"))
            .form(&[("email", "member@example.test"), ("password", PASSWORD)])
            .send()
            .await
            .expect("request");

        assert_sent_to_login(&account, &format!("cookie {cookie:.40}"));
        assert_eq!(login.status(), StatusCode::OK, "cookie {cookie:.40}");
        assert_eq!(
            post.status(),
            StatusCode::BAD_REQUEST,
            "cookie {cookie:.40}"
        );
    }
}

#[tokio::test]
async fn the_cookie_is_http_only_same_site_lax_and_not_secure_on_http() {
    let app = TestApp::spawn().await;

    let r = app.get(&app.client(), "/login").await;

    let raw = r
        .headers()
        .get("set-cookie")
        .expect("Set-Cookie")
        .to_str()
        .expect("ASCII header");
    assert!(raw.starts_with("keyhold_session="), "{raw}");
    assert!(raw.contains("HttpOnly"), "{raw}");
    assert!(raw.contains("SameSite=Lax"), "{raw}");
    assert!(raw.contains("Path=/"), "{raw}");
    assert!(!raw.contains("Secure"), "{raw}");
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn under_https_the_cookie_is_host_prefixed_and_secure_and_hsts_is_sent() {
    let app = TestApp::spawn_with(Options {
        env: vec![(
            "KEYHOLD_PUBLIC_URL".into(),
            "https://keyhold.example".into(),
        )],
        ..Default::default()
    })
    .await;

    let r = app.get(&app.client(), "/login").await;

    let raw = r
        .headers()
        .get("set-cookie")
        .expect("Set-Cookie")
        .to_str()
        .expect("ASCII header");
    assert!(raw.starts_with("__Host-keyhold="), "{raw}");
    assert!(raw.contains("Secure"), "{raw}");
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    assert!(raw.contains("Path=/") && !raw.contains("Domain="), "{raw}");
    let hsts = r.headers().get("strict-transport-security").expect("HSTS");
    assert!(hsts.to_str().expect("ASCII header").contains("max-age="));
}

#[tokio::test]
async fn a_request_in_flight_during_sign_out_does_not_sign_the_user_back_in() {
    let app = TestApp::spawn().await;
    let (c, uid) = app.user_client("admin@example.test", true).await;
    let token = app.csrf(&c).await;
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let body = format!("csrf_token={token}");
    let stream = futures_util::stream::once(async move {
        let _ = held.await;
        Ok::<_, std::io::Error>(body)
    });
    // A form post (it sets a flash) whose body is held back: its session is loaded now.
    let slow = tokio::spawn(
        c.post(app.url("/admin/settings"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let out = app.post_form(&c, "/logout", &[]).await;
    release.send(()).expect("release the body");
    let slow = slow.await.expect("slow request").expect("slow request");

    assert_sent_to_login(&out, "sign-out");
    assert_eq!(slow.status(), StatusCode::SEE_OTHER);
    assert_sent_to_login(&app.get(&c, "/account").await, "after the slow request");
    assert!(
        session_rows(&app, &uid).is_empty(),
        "no signed-in session came back"
    );
}

#[tokio::test]
async fn a_session_works_on_every_instance_and_ends_on_all_of_them() {
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    let (c, uid) = a.user_client("member@example.test", false).await;
    let (admin, _) = a.user_client("admin@example.test", true).await;

    let on_b = b.get(&c, "/account").await.status();
    let r = b
        .post_form(&admin, &format!("/admin/users/{uid}/disable"), &[])
        .await;

    assert_eq!(on_b, StatusCode::OK, "the session is shared");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the admin's session too");
    // B acts on its change at once; A as soon as it hears of it (PostgreSQL's notification,
    // milliseconds; SPEC: another instance within a bounded time).
    let t0 = std::time::Instant::now();
    let r = loop {
        let r = a.get(&c, "/account").await;
        if r.status() != StatusCode::OK || t0.elapsed() > std::time::Duration::from_secs(1) {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_sent_to_login(&r, "disabled on the other");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(1),
        "within a second: {:?}",
        t0.elapsed()
    );
}

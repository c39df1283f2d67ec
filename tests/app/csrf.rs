//! CSRF on every POST route of the route table, and no GET route changes state.

use keyhold::web::routes::{Access, ROUTES};
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use crate::helpers::*;

const EXPIRED: &str = "This form has expired";

fn post(app: &TestApp, c: &Client, path: &str, fields: &[(String, String)]) -> RequestBuilder {
    c.post(app.url(path)).form(fields)
}

fn with_token(fields: &[(String, String)], token: &str) -> Vec<(String, String)> {
    let mut all = fields.to_vec();
    all.push(("csrf_token".into(), token.into()));
    all
}

async fn is_csrf_rejection(r: Response) -> (bool, StatusCode, String) {
    let status = r.status();
    let body = r.text().await.expect("body");
    let rejected = matches!(status.as_u16(), 400 | 403) && body.contains(EXPIRED);
    (rejected, status, body)
}

#[tokio::test]
async fn every_post_route_refuses_a_missing_wrong_or_cross_site_token_and_accepts_the_right_one() {
    let app = TestApp::spawn().await;
    let w = app.seed_world();
    let admin = app.client();
    app.sign_in(&admin, &w.admin_email).await;
    // The admin also owns the workspace, so every route is allowed once CSRF passes.
    app.create_workspace("admin-space", &[(&w.admin, "owner")]);
    let mut conn = app.db();
    // The token API takes no cookies, so it is the one exemption, and only it.
    for r in ROUTES {
        let exempt = r.path.starts_with("/v1/");
        assert_eq!(
            exempt,
            r.access == Access::ApiToken,
            "{} {}",
            r.method,
            r.path
        );
    }
    let posts: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.method == "POST" && r.access != Access::ApiToken)
        .collect();
    assert!(posts.len() >= 20, "the route table lists the POST routes");

    for (n, route) in posts.iter().enumerate() {
        let path = w.fill(route.path).replace(&w.slug, "admin-space");
        let fields = any_form(n);
        app.ensure_signed_in(&admin, &w.admin_email).await;
        let token = app.csrf(&admin).await;
        let before = snapshot(&mut conn);

        let attempts = [
            ("no token", post(&app, &admin, &path, &fields)),
            (
                "a wrong token",
                post(&app, &admin, &path, &with_token(&fields, "not-the-token")),
            ),
            (
                "a foreign Origin",
                post(&app, &admin, &path, &with_token(&fields, &token))
                    .header("origin", "https://evil.example"),
            ),
            (
                "a null Origin",
                post(&app, &admin, &path, &with_token(&fields, &token)).header("origin", "null"),
            ),
            (
                "Sec-Fetch-Site: cross-site",
                post(&app, &admin, &path, &with_token(&fields, &token))
                    .header("sec-fetch-site", "cross-site"),
            ),
            (
                "the token in a JSON body",
                admin
                    .post(app.url(&path))
                    .json(&serde_json::json!({ "csrf_token": token })),
            ),
        ];
        for (what, req) in attempts {
            let (rejected, status, _) = is_csrf_rejection(req.send().await.expect("request")).await;
            assert!(rejected, "POST {} with {what}: {status}", route.path);
        }
        assert_eq!(
            snapshot(&mut conn),
            before,
            "POST {} changed the database without a valid token",
            route.path
        );

        let r = post(&app, &admin, &path, &with_token(&fields, &token))
            .header("origin", app.address.as_str())
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .expect("request");
        let (rejected, status, body) = is_csrf_rejection(r).await;
        assert!(
            !rejected,
            "POST {} with the right token: {status} {body}",
            route.path
        );
        assert!(status.as_u16() < 500, "POST {}: {status}", route.path);
    }
}

#[tokio::test]
async fn the_token_is_also_accepted_in_the_x_csrf_token_header() {
    let app = TestApp::spawn().await;
    let (c, _) = app.user_client("admin@example.test", true).await;
    let token = app.csrf(&c).await;

    let r = c
        .post(app.url("/admin/settings"))
        .header("x-csrf-token", token)
        .form(&[("signup_enabled", "on")])
        .send()
        .await
        .expect("request");

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.audit_count("settings.signup_changed"), 1);
}

#[tokio::test]
async fn a_token_from_before_sign_in_does_not_work_after_it() {
    let app = TestApp::spawn().await;
    app.create_user("admin@example.test", true);
    let c = app.client();
    let before = app.csrf(&c).await;
    app.sign_in(&c, "admin@example.test").await;

    let r = c
        .post(app.url("/admin/settings"))
        .form(&[("csrf_token", before.as_str())])
        .send()
        .await
        .expect("request");

    let (rejected, status, _) = is_csrf_rejection(r).await;
    assert!(rejected, "{status}");
    assert_ne!(app.csrf(&c).await, before);
}

#[tokio::test]
async fn the_csrf_error_page_says_the_form_expired_and_carries_security_headers() {
    let app = TestApp::spawn().await;
    let c = app.client();

    let r = c
        .post(app.url("/login"))
        .form(&[("email", "a@example.test"), ("password", "x")])
        .send()
        .await
        .expect("request");

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_security_headers(&r, "the CSRF error page");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ASCII header")
            .starts_with("text/html")
    );
    let body = r.text().await.expect("body");
    assert!(body.contains(EXPIRED), "{body}");
    assert!(body.contains("reload the page"), "{body}");
    assert!(body.contains("Request id"), "{body}");
    assert_eq!(app.audit_count("user.sign_in_failed"), 0);
}

#[tokio::test]
async fn no_get_route_changes_the_database() {
    let app = TestApp::spawn().await;
    let w = app.seed_world();
    let admin = app.client();
    app.sign_in(&admin, &w.admin_email).await;
    app.create_workspace("admin-space", &[(&w.admin, "owner")]);
    let gets: Vec<_> = ROUTES.iter().filter(|r| r.method == "GET").collect();
    let mut conn = app.db();
    let before = snapshot(&mut conn);

    let mut seen = Vec::new();
    for route in &gets {
        let path = w.fill(route.path).replace(&w.slug, "admin-space");
        let r = app.get(&admin, &path).await;
        seen.push((route.path, r.status().as_u16()));
    }

    assert_eq!(
        snapshot(&mut conn),
        before,
        "GETs changed the database: {seen:?}"
    );
    assert!(seen.iter().all(|(_, s)| *s < 500), "{seen:?}");
    assert!(
        seen.iter().filter(|(_, s)| *s == 200).count() >= gets.len() / 2,
        "most GET routes answered the admin: {seen:?}"
    );
}

#[tokio::test]
async fn a_refused_form_on_a_link_with_a_token_logs_the_route_not_the_token() {
    let site = crate::process::Site::new();
    let mut server = site.serve(&[]).await;
    let invite_token = keyhold::domain::tokens::generate("");
    let reset_token = keyhold::domain::tokens::generate("");
    let c = Client::new();
    let fields = [("name", "Someone"), ("password", "a long enough password")];
    for path in [
        format!("/invite/{invite_token}"),
        format!("/password/reset?token={reset_token}"),
    ] {
        // No CSRF token at all, then a cross-site post: each is refused and logged.
        let r = c
            .post(site.url(&path))
            .form(&fields)
            .send()
            .await
            .expect("POST");
        let (rejected, status, _) = is_csrf_rejection(r).await;
        assert!(rejected, "{path}: {status}");
        let r = c
            .post(site.url(&path))
            .header("Origin", "https://evil.example")
            .header("Sec-Fetch-Site", "cross-site")
            .form(&fields)
            .send()
            .await
            .expect("POST");
        let (rejected, status, _) = is_csrf_rejection(r).await;
        assert!(rejected, "{path}: {status}");
    }
    server.terminate(std::time::Duration::from_secs(10)).await;

    let logs = server.logs();
    assert!(
        logs.contains("missing or wrong CSRF token") && logs.contains("cross-site request refused"),
        "both warnings were logged:\n{logs}"
    );
    assert!(
        logs.contains("path=/invite/{token}"),
        "the route is named:\n{logs}"
    );
    for token in [&invite_token, &reset_token] {
        assert!(
            !logs.contains(token.as_str()),
            "a token in the log:\n{logs}"
        );
    }
}

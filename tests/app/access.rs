//! The role × route matrix (SPEC §2) over every route of the route table, and the response
//! frame every answer gets (SPEC §11 headers, error pages).

use std::collections::BTreeSet;

use keyhold::web::routes::{Access, ROUTES};
use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;

/// Who asks, in the matrix's column order.
const ACTORS: [&str; 6] = [
    "anonymous",
    "member",
    "owner of another workspace",
    "owner",
    "disabled owner",
    "admin (no member)",
];
const ANON: usize = 0;
const MEMBER: usize = 1;
const OWNER: usize = 3;
const DISABLED: usize = 4;
const ADMIN: usize = 5;

/// The expected status of every route for every actor. GET routes are fetched; POST routes
/// are posted with a valid CSRF token and a well-formed form. A new route fails
/// `every_route_has_exactly_one_row_in_the_matrix` until it gets a row here.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [u16; 6])] = &[
    // method path                                           anon member other owner disabled admin
    ("GET",  "/",                                            [303, 303, 303, 303, 303, 303]),
    ("GET",  "/healthz",                                     [200, 200, 200, 200, 200, 200]),
    ("GET",  "/readyz",                                      [200, 200, 200, 200, 200, 200]),
    ("GET",  "/metrics",                                     [200, 200, 200, 200, 200, 200]),
    ("GET",  "/static/{version}/{name}",                     [200, 200, 200, 200, 200, 200]),
    ("GET",  "/login",                                       [200, 303, 303, 303, 200, 303]),
    ("POST", "/login",                                       [401, 401, 401, 401, 401, 401]),
    ("POST", "/logout",                                      [303, 303, 303, 303, 303, 303]),
    ("GET",  "/setup",                                       [404, 404, 404, 404, 404, 404]),
    ("POST", "/setup",                                       [404, 404, 404, 404, 404, 404]),
    ("GET",  "/signup",                                      [404, 404, 404, 404, 404, 404]),
    ("POST", "/signup",                                      [404, 404, 404, 404, 404, 404]),
    ("GET",  "/password/forgot",                             [200, 200, 200, 200, 200, 200]),
    ("POST", "/password/forgot",                             [200, 200, 200, 200, 200, 200]),
    ("GET",  "/password/reset",                              [404, 404, 404, 404, 404, 404]),
    ("POST", "/password/reset",                              [400, 400, 400, 400, 400, 400]),
    ("GET",  "/invite/{token}",                              [400, 400, 400, 400, 400, 400]),
    ("POST", "/invite/{token}",                              [400, 400, 400, 400, 400, 400]),
    ("GET",  "/account",                                     [303, 200, 200, 200, 303, 200]),
    ("POST", "/account/password",                            [303, 400, 400, 400, 303, 400]),
    ("POST", "/account/sign-out-everywhere",                 [303, 303, 303, 303, 303, 303]),
    ("GET",  "/admin",                                       [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/settings",                              [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/users",                                 [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/users",                                 [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/users/{id}",                            [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/users/{id}/disable",                    [303, 403, 403, 403, 303, 303]),
    ("POST", "/admin/users/{id}/enable",                     [303, 403, 403, 403, 303, 303]),
    ("POST", "/admin/users/{id}/admin",                      [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/workspaces",                            [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/workspaces",                            [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/workspaces/{id}",                       [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/workspaces/{id}/invitations",           [303, 403, 403, 403, 303, 303]),
    ("POST", "/admin/workspaces/{id}/invitations/{invitation}/resend", [303, 403, 403, 403, 303, 303]),
    ("POST", "/admin/workspaces/{id}/invitations/{invitation}/link",   [303, 403, 403, 403, 303, 303]),
    ("POST", "/admin/workspaces/{id}/invitations/{invitation}/revoke", [303, 403, 403, 403, 303, 303]),
    ("POST", "/admin/workspaces/{id}/allowance",             [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/integrations",                          [303, 403, 403, 403, 303, 200]),
    ("GET",  "/admin/integrations/{provider}",               [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/integrations/{provider}",               [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/integrations/{provider}/test",          [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/integrations/{provider}/remove-key",    [303, 403, 403, 403, 303, 200]),
    ("POST", "/admin/integrations/{provider}/remove-key",    [303, 403, 403, 403, 303, 303]),
    ("GET",  "/admin/audit",                                 [303, 403, 403, 403, 303, 200]),
    ("GET",  "/admin/audit.csv",                             [303, 403, 403, 403, 303, 200]),
    ("GET",  "/w/{slug}",                                    [303, 200, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/chat",                               [303, 400, 404, 400, 303, 404]),
    ("POST", "/w/{slug}/chat/stream",                        [303, 400, 404, 400, 303, 404]),
    ("POST", "/w/{slug}/chat/clear",                         [303, 303, 404, 303, 303, 404]),
    ("GET",  "/w/{slug}/settings/members",                   [303, 403, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/settings/members/invite",            [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/members/{user_id}/role",    [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/members/{user_id}/remove",  [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/invitations/{id}/revoke",   [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/invitations/{id}/resend",   [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/invitations/{id}/link",     [303, 403, 404, 303, 303, 404]),
    ("GET",  "/w/{slug}/settings/keys",                      [303, 403, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/settings/keys",                      [303, 403, 404, 400, 303, 404]),
    ("GET",  "/w/{slug}/settings/keys/{id}/replace",         [303, 403, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/settings/keys/{id}/replace",         [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/keys/{id}/test",            [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/keys/{id}/disable",         [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/keys/{id}/enable",          [303, 403, 404, 303, 303, 404]),
    ("GET",  "/w/{slug}/settings/keys/{id}/remove",          [303, 403, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/settings/keys/{id}/remove",          [303, 403, 404, 303, 303, 404]),
    ("POST", "/w/{slug}/settings/keys/{id}/move",            [303, 403, 404, 303, 303, 404]),
    ("GET",  "/w/{slug}/settings/tokens",                    [303, 403, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/settings/tokens",                    [303, 403, 404, 200, 303, 404]),
    ("POST", "/w/{slug}/settings/tokens/{id}/revoke",        [303, 403, 404, 303, 303, 404]),
    ("GET",  "/w/{slug}/usage",                              [303, 403, 404, 200, 303, 404]),
    ("GET",  "/w/{slug}/audit",                              [303, 403, 404, 200, 303, 404]),
    ("GET",  "/w/{slug}/audit.csv",                          [303, 403, 404, 200, 303, 404]),
    ("POST", "/v1/chat/completions",                         [401, 401, 401, 401, 401, 401]),
    ("POST", "/v1/messages",                                 [401, 401, 401, 401, 401, 401]),
    ("GET",  "/v1/models",                                   [401, 401, 401, 401, 401, 401]),
];

fn may(access: Access, actor: usize) -> bool {
    match access {
        Access::Public => true,
        Access::SignedIn => !matches!(actor, ANON | DISABLED),
        Access::Admin => actor == ADMIN,
        Access::WorkspaceMember => matches!(actor, MEMBER | OWNER),
        Access::WorkspaceOwner => actor == OWNER,
        // A session cookie never stands in for an API token.
        Access::ApiToken => false,
    }
}

/// SPEC §2: how a route of `access` turns `actor` away.
fn denial(access: Access, actor: usize) -> u16 {
    match (access, actor) {
        (Access::ApiToken, _) => 401,
        (_, ANON | DISABLED) => 303,
        (Access::Admin, _) => 403,
        (Access::WorkspaceOwner, MEMBER) => 403,
        _ => 404,
    }
}

fn expected(method: &str, path: &str) -> [u16; 6] {
    MATRIX
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .unwrap_or_else(|| panic!("{method} {path} has no row in the matrix"))
        .2
}

#[test]
fn every_route_has_exactly_one_row_in_the_matrix() {
    let routes: BTreeSet<_> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
    let rows: BTreeSet<_> = MATRIX.iter().map(|(m, p, _)| (*m, *p)).collect();

    let missing: Vec<_> = routes.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&routes).collect();

    assert!(
        missing.is_empty(),
        "routes without a matrix row: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix rows for routes that do not exist: {stale:?}"
    );
    assert_eq!(rows.len(), MATRIX.len(), "a route has two rows");
}

#[test]
fn the_matrix_denies_exactly_as_each_routes_access_level_says() {
    for route in ROUTES {
        let row = expected(route.method, route.path);
        for (actor, &status) in row.iter().enumerate() {
            if may(route.access, actor) {
                assert!(
                    !matches!(status, 403 | 404) || route.access == Access::Public,
                    "{} {} allows the {} but expects {status}",
                    route.method,
                    route.path,
                    ACTORS[actor]
                );
            } else {
                assert_eq!(
                    status,
                    denial(route.access, actor),
                    "{} {} for the {}",
                    route.method,
                    route.path,
                    ACTORS[actor]
                );
            }
        }
    }
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_actor_gets_the_expected_status_on_every_route_and_denials_change_nothing() {
    // Arrange: the world, one signed-in client per actor, the disabled owner disabled
    // after signing in.
    let app = TestApp::spawn().await;
    let mut w = app.seed_world();
    let disabled_id = app.create_user("disabled@example.test", false);
    {
        use diesel::prelude::*;
        use keyhold::db::schema::memberships;
        diesel::insert_into(memberships::table)
            .values((
                memberships::workspace_id.eq(&w.ws_id),
                memberships::user_id.eq(&disabled_id),
                memberships::role.eq("owner"),
                memberships::created_at.eq(keyhold::db::now()),
            ))
            .execute(&mut app.db())
            .expect("disabled owner joins");
    }
    let emails: [Option<String>; 6] = [
        None,
        Some(w.member_email.clone()),
        Some(w.other_owner_email.clone()),
        Some(w.owner_email.clone()),
        None,
        Some(w.admin_email.clone()),
    ];
    let clients: Vec<Client> = (0..6).map(|_| app.client()).collect();
    for (i, email) in emails.iter().enumerate() {
        if let Some(email) = email {
            app.sign_in(&clients[i], email).await;
        }
    }
    app.sign_in(&clients[DISABLED], "disabled@example.test")
        .await;
    let r = app
        .post_form(
            &clients[ADMIN],
            &format!("/admin/users/{disabled_id}/disable"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A workspace key for the key routes: the admin turns BYOK on, the owner adds a key.
    let provider = keyhold::domain::providers::catalogue()[0].id;
    let on = [
        ("enabled", "on"),
        ("byok_enabled", "on"),
        ("failure_policy", ""),
    ];
    let r = app
        .post_form(
            &clients[ADMIN],
            &format!("/admin/integrations/{provider}"),
            &on,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "BYOK on");
    let key = [
        ("provider", provider),
        ("label", "Arrange"),
        ("api_key", "sk-test-0123456789abcdefghij"),
    ];
    let r = app
        .post_form(&clients[OWNER], "/w/acme/settings/keys", &key)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "key added");
    let (_, page) = app.get_html(&clients[OWNER], "/w/acme/settings/keys").await;
    w.key_id = id_after(&page, "/w/acme/settings/keys/");
    assert!(w.key_id.is_some(), "the keys page links the key");
    // An API token for the token routes.
    let r = app
        .post_form(
            &clients[OWNER],
            "/w/acme/settings/tokens",
            &[("name", "Arrange")],
        )
        .await;
    assert!(r.status().as_u16() < 400, "token created: {}", r.status());
    let (_, page) = app
        .get_html(&clients[OWNER], "/w/acme/settings/tokens")
        .await;
    w.token_id = id_after(&page, "/w/acme/settings/tokens/");
    assert!(w.token_id.is_some(), "the tokens page links the token");
    let mut conn = app.db();
    let mut n = 0;

    // Act and assert, route by route, actor by actor.
    let mut failures = Vec::new();
    for route in ROUTES {
        let row = expected(route.method, route.path);
        let path = w.fill(route.path);
        for (actor, c) in clients.iter().enumerate() {
            n += 1;
            if let Some(email) = &emails[actor] {
                app.ensure_signed_in(c, email).await;
            }
            let denied = !may(route.access, actor);
            let req = if route.method == "GET" {
                c.get(app.url(&path))
            } else {
                let mut fields = any_form(n);
                fields.push(("csrf_token".into(), app.csrf(c).await));
                c.post(app.url(&path)).form(&fields)
            };
            let before = denied.then(|| snapshot(&mut conn));

            let r = req.send().await.expect("request");

            let what = format!("{} {} as {}", route.method, path, ACTORS[actor]);
            if r.status().as_u16() != row[actor] {
                failures.push(format!("{what}: {} (expected {})", r.status(), row[actor]));
            }
            assert_security_headers(&r, &what);
            let is_static = path.starts_with("/static/");
            if is_static {
                assert!(
                    header(&r, "cache-control").contains("max-age=31536000"),
                    "{what}"
                );
            } else if emails[actor].is_some() && r.status() == StatusCode::OK {
                assert_eq!(header(&r, "cache-control"), "no-store", "{what}");
            }
            if denied && row[actor] == 303 {
                assert_eq!(location(&r), "/login", "{what}");
            } else if route.access != Access::Public
                && r.status() == StatusCode::SEE_OTHER
                && !route.path.contains("sign-out")
            {
                assert_ne!(location(&r), "/login", "{what} was let through");
            }
            if let Some(before) = before {
                assert_eq!(snapshot(&mut conn), before, "{what} changed the database");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected statuses:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn an_unknown_page_is_a_404_page_in_the_layout_with_a_request_id() {
    let app = TestApp::spawn().await;
    let (c, _) = app.user_client("member@example.test", false).await;

    let r = app.get(&c, "/no/such/page").await;

    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&r, "the 404 page");
    assert!(header(&r, "content-type").starts_with("text/html"));
    let body = r.text().await.expect("body");
    assert!(body.contains("Page not found"), "{body}");
    assert!(body.contains("We could not find that page."), "{body}");
    assert!(body.contains("<!doctype html>") || body.contains("<!DOCTYPE html>"));
    assert!(body.contains(&format!(
        "/static/{}/app.css",
        keyhold::web::assets::version()
    )));
    let id = body.split("Request id:").nth(1).expect("a request id");
    assert!(
        id.chars().filter(char::is_ascii_alphanumeric).count() >= 12,
        "{id}"
    );
    for leak in ["panicked", "src/", "stack backtrace", "Error {", "diesel"] {
        assert!(!body.contains(leak), "404 page leaks {leak:?}");
    }
}

#[tokio::test]
async fn redirects_errors_and_static_files_carry_the_security_headers_too() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let v = keyhold::web::assets::version();
    let cases = [
        ("GET", "/account".to_owned(), 303),
        ("GET", "/logout".to_owned(), 404),
        ("GET", format!("/static/{v}/app.css"), 200),
        ("GET", format!("/static/{v}/app.js"), 200),
        ("GET", format!("/static/{v}/missing.css"), 404),
        ("POST", "/login".to_owned(), 400),
        ("GET", "/healthz".to_owned(), 200),
    ];

    for (method, path, status) in cases {
        let r = match method {
            "GET" => c.get(app.url(&path)),
            _ => c.post(app.url(&path)).form(&[("email", "x")]),
        }
        .send()
        .await
        .expect("request");

        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        assert_security_headers(&r, &path);
        if status == 200 && path.starts_with("/static/") {
            assert_eq!(
                header(&r, "cache-control"),
                "public, max-age=31536000, immutable",
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn signed_in_pages_are_not_cached() {
    let app = TestApp::spawn().await;
    let (c, id) = app.user_client("owner@example.test", false).await;
    app.create_workspace("acme", &[(&id, "owner")]);

    for path in [
        "/account",
        "/w/acme",
        "/w/acme/settings/members",
        "/w/acme/audit",
    ] {
        let r = app.get(&c, path).await;

        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-store", "{path}");
    }
}

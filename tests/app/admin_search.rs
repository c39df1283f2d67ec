//! The admin's user and workspace searches answer alike on SQLite and PostgreSQL: names
//! match whatever their case, and `_` or `%` in a search are plain characters.

use reqwest::StatusCode;

use crate::helpers::*;

fn user_emails(html: &str) -> Vec<String> {
    html.split("<a href=\"/admin/users/")
        .skip(1)
        .filter_map(|s| {
            let start = s.find("\">")? + 2;
            Some(s[start..start + s[start..].find('<')?].to_owned())
        })
        .collect()
}

fn rename(app: &TestApp, id: &str, name: &str) {
    use diesel::prelude::*;
    use keyhold::db::schema::users;
    diesel::update(users::table.find(id))
        .set(users::name.eq(name))
        .execute(&mut app.db())
        .expect("rename");
}

#[tokio::test]
async fn user_search_ignores_case_and_treats_underscores_literally() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let ann = app.create_user("x1@example.test", false);
    rename(&app, &ann, "Ann Lee");
    app.create_user("john_doe@example.test", false);
    app.create_user("johnxdoe@example.test", false);
    app.create_user("100pct@example.test", false);

    for (q, expected) in [
        ("ann", vec!["x1@example.test"]),
        ("ANN LEE", vec!["x1@example.test"]),
        ("john_d", vec!["john_doe@example.test"]),
        (
            "JOHN",
            vec!["john_doe@example.test", "johnxdoe@example.test"],
        ),
        ("%", vec![]),
    ] {
        let (status, body) = app
            .get_html(&admin, &format!("/admin/users?q={}", urlencode(q)))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(user_emails(&body), expected, "search {q:?}");
    }
}

#[tokio::test]
async fn workspace_search_matches_names_whatever_their_case() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    for (name, slug) in [("Globex Corp", "gx-corp"), ("Initech", "initech")] {
        let r = app
            .post_form(
                &admin,
                "/admin/workspaces",
                &[("name", name), ("slug", slug)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let (_, body) = app.get_html(&admin, "/admin/workspaces?q=globex").await;
    assert!(body.contains(">Globex Corp</a>"), "{body}");
    assert!(!body.contains(">Initech</a>"));
    let (_, body) = app.get_html(&admin, "/admin/workspaces?q=INITECH").await;
    assert!(body.contains(">Initech</a>"));
    assert!(!body.contains(">Globex Corp</a>"));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

//! Pages that tell an operator where the next step is, instead of a bare "not found".

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn setup_without_its_link_says_how_to_get_one() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let (status, page) = app.get_html(&c, "/setup").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("/setup?token="), "{page}");
    assert!(page.contains("keyhold create-admin --email"), "{page}");
    let (status, page) = app.get_html(&c, "/setup?token=not-the-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("keyhold create-admin --email"), "{page}");

    app.create_user("admin@example.test", true);
    let (status, page) = app.get_html(&c, "/setup").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("already set up"), "{page}");
    assert!(!page.contains("create-admin"), "{page}");
}

#[tokio::test]
async fn a_workspace_search_without_matches_says_so() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (_, page) = app.get_html(&admin, "/admin/workspaces").await;
    assert!(page.contains("No workspaces yet."), "{page}");
    app.create_workspace("acme", &[]);
    let (status, page) = app.get_html(&admin, "/admin/workspaces?q=zebra").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No workspace matches “zebra”"), "{page}");
    assert!(!page.contains("No workspaces yet."), "{page}");
}

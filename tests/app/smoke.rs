//! The app starts, serves its pages, and answers health checks.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let c = app.client();
    assert_eq!(app.get(&c, "/healthz").await.status(), StatusCode::OK);
    let (status, body) = app.get_html(&c, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ready");
}

#[tokio::test]
async fn an_admin_signs_in_and_sees_the_overview() {
    let app = TestApp::spawn().await;
    let (c, _) = app.user_client("admin@example.test", true).await;
    let (status, body) = app.get_html(&c, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Overview"), "{body}");
    assert!(body.contains("admin@example.test"));
}

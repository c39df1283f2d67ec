//! The chat page words a failure for the person reading it, from the gateway's typed
//! outcome (no answer is read back from its own HTTP response).

use reqwest::StatusCode;

use crate::gateway::*;

#[tokio::test]
async fn with_byok_off_and_no_platform_key_an_owner_is_not_told_to_add_a_key() {
    let gw = Gw::start().await;
    // DeepSeek on, BYOK off, no global key: nobody in the workspace can fix it.
    let r = gw
        .admin_save(
            "deepseek",
            &[
                ("enabled", "on"),
                ("failure_policy", "fail"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "saving DeepSeek");
    let r = gw
        .app
        .post_form(
            &gw.owner,
            &format!("/w/{}/chat", gw.slug),
            &[("model", "deepseek-chat"), ("prompt", "Hello?")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, page) = gw.app.get_html(&gw.owner, &format!("/w/{}", gw.slug)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Ask a platform admin to set a global DeepSeek key"),
        "the owner is sent to the admin: {page}"
    );
    assert!(
        !page.contains("Add a key under Settings"),
        "an owner is not told to add a key BYOK does not allow"
    );

    // With BYOK on, the same owner is told to add one.
    gw.set_byok("deepseek", true, "fail").await;
    let r = gw
        .app
        .post_form(
            &gw.owner,
            &format!("/w/{}/chat", gw.slug),
            &[("model", "deepseek-chat"), ("prompt", "And now?")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = gw.app.get_html(&gw.owner, &format!("/w/{}", gw.slug)).await;
    assert!(page.contains("Add a key under Settings"), "{page}");
}

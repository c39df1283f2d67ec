//! Turning BYOK off shows its impact, switches the very next resolution to the platform
//! key and mails the owners who used their own key; turning it on again brings the kept
//! keys back.

use std::time::Duration;

use reqwest::StatusCode;

use super::*;

const OFF_SUBJECT: &str =
    "BYOK for OpenAI was turned off: your workspace now uses the platform key";

#[tokio::test]
async fn byok_turning_byok_off_asks_first_then_switches_to_the_platform_key_and_mails_owners() {
    let b = Byok::start().await;
    b.save_openai(&[
        ("enabled", "on"),
        ("byok_enabled", "on"),
        ("api_key", "sk-platform-key-00000000000000ffff"),
    ])
    .await;
    follow(
        &b.app,
        &b.owner,
        b.add_key(&b.owner, "Own", "sk-proj-ownkey0000000000000000000aaaa")
            .await,
    )
    .await;
    let (_, bystander_id) = b.app.user_client("bystander@example.test", false).await;
    b.app.create_workspace("plain", &[(&bystander_id, "owner")]);
    assert!(answer_row(&b.owner_page().await, "OpenAI").contains("Workspace key"));

    // Without confirm: the impact, and nothing changes.
    let r = b.save_openai(&[("enabled", "on")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let confirm = r.text().await.expect("body");
    assert!(
        confirm
            .contains("1 workspace uses its own OpenAI key; it will switch to the platform key."),
        "{confirm}"
    );
    assert!(confirm.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(b.app.audit_count("provider.byok_disabled"), 0);
    assert!(answer_row(&b.owner_page().await, "OpenAI").contains("Workspace key"));

    // Confirmed: the very next resolution uses the platform key.
    let r = b
        .save_openai(&[("enabled", "on"), ("confirm", "yes")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = b.owner_page().await;
    let row = answer_row(&page, "OpenAI");
    assert!(
        row.contains("Platform key") && row.contains("BYOK is off"),
        "{row}"
    );
    assert!(
        page.contains("Inactive"),
        "the stored key is listed as inactive"
    );
    let own = b.key("Own");
    assert!(
        own.sealed.is_some() && own.status == KeyStatus::Active,
        "keys are kept"
    );
    assert_eq!(b.app.audit_count("provider.byok_disabled"), 1);

    let mail = b
        .app
        .smtp
        .wait_for(|m| m.subject == OFF_SUBJECT, Duration::from_secs(10))
        .await
        .expect("the owner who used their own key is told");
    assert_eq!(mail.to, vec!["owner@example.test".to_owned()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.app
            .smtp
            .messages()
            .iter()
            .filter(|m| m.subject == OFF_SUBJECT)
            .count(),
        1,
        "owners without a key of their own get no mail"
    );

    // Owners cannot add keys while BYOK is off.
    let r = b
        .add_key(&b.owner, "Another", "sk-proj-anotherkey000000000000000bbbb")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // On again: the kept key answers, and every owner hears BYOK is available.
    b.app.smtp.clear();
    let r = b
        .save_openai(&[("enabled", "on"), ("byok_enabled", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let row_page = b.owner_page().await;
    assert!(answer_row(&row_page, "OpenAI").contains("“Own”"));
    let mails = b.app.smtp.wait_for_count(2, Duration::from_secs(10)).await;
    let mut to: Vec<String> = mails
        .iter()
        .filter(|m| m.subject == "BYOK for OpenAI is available")
        .flat_map(|m| m.to.clone())
        .collect();
    to.sort();
    assert_eq!(to, vec!["bystander@example.test", "owner@example.test"]);
}

#[tokio::test]
async fn byok_the_admin_workspace_page_explains_which_key_answers_without_values() {
    let b = Byok::start().await;
    let key = "sk-proj-explained00000000000000000cccc";
    follow(&b.app, &b.owner, b.add_key(&b.owner, "Team key", key).await).await;

    let (status, page) = b
        .app
        .get_html(&b.admin, &format!("/admin/workspaces/{}", b.ws_id))
        .await;

    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Which key answers"));
    let row = answer_row(&page, "OpenAI");
    assert!(
        row.contains("Workspace key") && row.contains("BYOK is on for OpenAI"),
        "{row}"
    );
    assert!(answer_row(&page, "Anthropic").contains("Anthropic is turned off"));
    assert!(
        !page.contains(key) && !page.contains("…cccc"),
        "no key values"
    );
}

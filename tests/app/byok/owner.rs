//! The owner's journey on `/w/<slug>/settings/keys`, and how saving maps the provider's
//! answer.

use std::time::Duration;

use reqwest::StatusCode;

use super::*;
use crate::support::mock_provider::Behavior;

const PROD: &str = "sk-proj-ownerkey000000000000000000001111";
const BACKUP: &str = "sk-proj-backupkey00000000000000000002222";
const NEW_PROD: &str = "sk-proj-rotatedkey0000000000000000003333";

#[tokio::test]
async fn byok_owner_adds_tests_reorders_disables_replaces_and_removes_keys() {
    let b = Byok::start().await;
    let (_, co_owner_id) = b.app.user_client("co-owner@example.test", false).await;
    {
        use keyhold::services::{accounts, audit::Actor, workspaces};
        let mut conn = b.app.db();
        keyhold::db::write_tx(&mut conn, |c| {
            let ws = workspaces::get(c, &crate::helpers::id(&b.ws_id))?;
            let user = accounts::get_user(c, &crate::helpers::id(&co_owner_id))?;
            workspaces::add_member(
                c,
                &b.app.keyring(),
                &Actor::cli(),
                &ws,
                &user,
                keyhold::domain::roles::Role::Owner,
            )
        })
        .expect("co-owner");
    }

    // Add: tested upstream, then only the mask is shown.
    let page = follow(
        &b.app,
        &b.owner,
        b.add_key(&b.owner, "Production", PROD).await,
    )
    .await;
    assert!(page.contains("The key was saved."));
    assert!(page.contains("sk-proj-…1111") && page.contains("Production"));
    assert!(!page.contains(PROD), "the page never holds the key");
    assert_eq!(b.app.provider.keys_seen(), vec![PROD.to_owned()]);
    assert_eq!(b.key("Production").status, KeyStatus::Active);
    assert!(answer_row(&page, "OpenAI").contains("Workspace key"));
    let mail = b
        .app
        .smtp
        .wait_for(
            |m| m.subject.contains("A key was added"),
            Duration::from_secs(10),
        )
        .await
        .expect("the other owner is told");
    assert_eq!(mail.to, vec!["co-owner@example.test".to_owned()]);
    assert!(!mail.shows(PROD) && !mail.shows("…1111"));

    follow(
        &b.app,
        &b.owner,
        b.add_key(&b.owner, "Backup", BACKUP).await,
    )
    .await;
    let backup = b.key("Backup");
    assert_eq!(backup.priority, b.key("Production").priority + 1);

    // Test repeats the provider's check and records it.
    let page = follow(
        &b.app,
        &b.owner,
        b.key_action(&b.owner, &backup.id, "test", &[]).await,
    )
    .await;
    assert!(page.contains("Test done."));
    assert_eq!(
        b.app.provider.keys_seen().last().map(String::as_str),
        Some(BACKUP)
    );
    assert!(b.key("Backup").last_tested_at.is_some());
    assert_eq!(b.app.audit_count("workspace_key.tested"), 1);

    // Move Backup up: it answers first.
    let page = follow(
        &b.app,
        &b.owner,
        b.key_action(&b.owner, &backup.id, "move", &[("direction", "up")])
            .await,
    )
    .await;
    assert!(
        answer_row(&page, "OpenAI").contains("“Backup”"),
        "{}",
        answer_row(&page, "OpenAI")
    );
    assert!(b.key("Backup").priority < b.key("Production").priority);
    assert_eq!(b.app.audit_count("workspace_key.priority_changed"), 1);

    // Disable keeps the key but it stops answering; enable brings it back.
    let page = follow(
        &b.app,
        &b.owner,
        b.key_action(&b.owner, &backup.id, "disable", &[]).await,
    )
    .await;
    assert_eq!(b.key("Backup").status, KeyStatus::Disabled);
    assert!(b.key("Backup").sealed.is_some());
    assert!(answer_row(&page, "OpenAI").contains("“Production”"));
    follow(
        &b.app,
        &b.owner,
        b.key_action(&b.owner, &backup.id, "enable", &[]).await,
    )
    .await;
    assert_eq!(b.key("Backup").status, KeyStatus::Active);
    assert_eq!(b.app.audit_count("workspace_key.disabled"), 1);
    assert_eq!(b.app.audit_count("workspace_key.enabled"), 1);

    // Replace with an empty key field: the stored key stays, the label changes.
    let prod = b.key("Production");
    let seen = b.app.provider.keys_seen().len();
    follow(
        &b.app,
        &b.owner,
        b.key_action(
            &b.owner,
            &prod.id,
            "replace",
            &[("label", "Prod"), ("api_key", "")],
        )
        .await,
    )
    .await;
    let renamed = b.key("Prod");
    assert_eq!(
        renamed.sealed, prod.sealed,
        "empty field keeps the stored key"
    );
    assert_eq!(b.app.provider.keys_seen().len(), seen, "nothing to test");

    // Replace with a new key: tested, re-sealed, new mask, owners told.
    let page = follow(
        &b.app,
        &b.owner,
        b.key_action(
            &b.owner,
            &prod.id,
            "replace",
            &[("label", "Prod"), ("api_key", NEW_PROD)],
        )
        .await,
    )
    .await;
    assert!(page.contains("sk-proj-…3333") && !page.contains("sk-proj-…1111"));
    assert_ne!(b.key("Prod").sealed, prod.sealed);
    assert_eq!(
        b.app.provider.keys_seen().last().map(String::as_str),
        Some(NEW_PROD)
    );
    assert_eq!(b.app.audit_count("workspace_key.replaced"), 1);

    // Remove asks first (a page, no JS needed), then wipes the ciphertext; the row stays.
    let (status, confirm) = b
        .app
        .get_html(&b.owner, &format!("{}/{}/remove", b.keys_path(), backup.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Remove the key “Backup”?"));
    let page = follow(
        &b.app,
        &b.owner,
        b.key_action(&b.owner, &backup.id, "remove", &[]).await,
    )
    .await;
    let removed = b.key("Backup");
    assert!(removed.sealed.is_none() && removed.master_key_id.is_none());
    assert_eq!(removed.status, KeyStatus::Removed);
    assert_eq!(removed.mask, "sk-proj-…2222");
    assert_eq!(removed.removed_by.as_deref(), Some(b.owner_id.as_str()));
    assert!(page.contains("Removed keys"));
    assert_eq!(b.app.audit_count("workspace_key.removed"), 1);
    b.app
        .smtp
        .wait_for(
            |m| m.subject.contains("A key was removed"),
            Duration::from_secs(10),
        )
        .await
        .expect("removal mail");
    assert!(
        b.app
            .smtp
            .messages()
            .iter()
            .filter(|m| m.subject.starts_with("A key was"))
            .all(|m| m.to != vec!["owner@example.test".to_owned()]),
        "the acting owner is not mailed about their own change"
    );
}

#[tokio::test]
async fn byok_a_key_the_provider_rejects_is_not_saved() {
    let b = Byok::start().await;
    let key = "sk-proj-rejected00000000000000000004444";
    b.app.provider.set_behavior(key, Behavior::Status(401));

    let r = b.add_key(&b.owner, "Rejected", key).await;

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains("Invalid key. Validation failed."));
    assert!(
        body.contains("value=\"Rejected\""),
        "the label is kept in the form"
    );
    assert!(!body.contains(key));
    assert!(b.all_keys().is_empty());
    assert_eq!(b.app.audit_count("workspace_key.added"), 0);
}

#[tokio::test]
async fn byok_a_key_over_its_quota_is_saved_with_a_quota_warning() {
    let b = Byok::start().await;
    let key = "sk-proj-quota0000000000000000000005555";
    b.app.provider.set_behavior(key, Behavior::Status(429));

    let page = follow(&b.app, &b.owner, b.add_key(&b.owner, "Busy", key).await).await;

    assert!(page.contains("The provider reports the quota is exceeded"));
    assert!(page.contains("Quota exceeded"));
    assert_eq!(b.key("Busy").status, KeyStatus::QuotaWarning);
}

#[tokio::test]
async fn byok_a_key_the_provider_cannot_check_is_saved_untested_with_a_warning() {
    let b = Byok::start().await;
    let failing = "sk-proj-fivehundred00000000000000006666";
    let hanging = "sk-proj-hanging000000000000000000007777";
    b.app.provider.set_behavior(failing, Behavior::Status(500));
    b.app.provider.set_behavior(hanging, Behavior::Hang);

    let page = follow(
        &b.app,
        &b.owner,
        b.add_key(&b.owner, "Flaky", failing).await,
    )
    .await;
    assert!(page.contains("could not be tested"), "warning after a 500");
    assert_eq!(b.key("Flaky").status, KeyStatus::Untested);
    assert_eq!(
        b.key("Flaky").last_test_result.as_deref(),
        Some("provider_error")
    );

    let page = follow(&b.app, &b.owner, b.add_key(&b.owner, "Slow", hanging).await).await;
    assert!(
        page.contains("did not answer in time"),
        "warning after a timeout"
    );
    assert_eq!(b.key("Slow").status, KeyStatus::Untested);
    assert_eq!(b.key("Slow").last_test_result.as_deref(), Some("timeout"));
}

#[tokio::test]
async fn byok_keys_are_refused_for_a_provider_without_byok() {
    let b = Byok::start().await;

    let r = b
        .app
        .post_form(
            &b.owner,
            &b.keys_path(),
            &[
                ("provider", "anthropic"),
                ("label", "Claude"),
                ("api_key", "sk-ant-api03-abcdefgh12345678"),
            ],
        )
        .await;

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains("managed by the platform"), "{body}");
    assert!(b.all_keys().is_empty());
    assert!(
        b.app.provider.requests().is_empty(),
        "nothing was sent upstream"
    );
    // A provider turned off on the platform is named once under the table, not a row.
    let off = body
        .split("Turned off on this platform")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .expect("the turned-off providers are named");
    assert!(off.contains("Anthropic"), "{off}");
    assert!(!body.contains("<th scope=\"row\">Anthropic</th>"));
}

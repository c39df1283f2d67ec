//! The "Test" button (SPEC §5: "repeats the test at any time and records the result") on an
//! owner's workspace key and on the admin's global key, for each answer a provider can give
//! its cheap test request: the page says what happened, the key's status changes on the page
//! and in the database, the audit log records the outcome, and the next call obeys it.
//!
//! Mapping (src/upstream.rs, as SPEC §5 has it for saving): 2xx → active, 401/403 → invalid,
//! 429 → quota warning (still used), 5xx → untested (still used), no answer within the test
//! timeout (8 s) → untested.

use std::time::Duration;

use reqwest::StatusCode;

use super::{last_audit, row};
use crate::byok::follow;
use crate::gateway::{
    GLOBAL_OPENAI, Gw, assert_openai_error, global_key_id, new_token, posted_keys,
};
use crate::support::mock_provider::Behavior;

const WS_KEY: &str = "sk-proj-testbutton00000000000000000004242";

/// One provider answer and what the key should show afterwards.
struct Case {
    behavior: Behavior,
    /// `provider_keys.status` and `last_test_result`.
    status: &'static str,
    result: &'static str,
    /// The status badge and the "Last test" cell.
    badge: &'static str,
    last_test: &'static str,
    /// The sentence the page shows (for both pages; the admin's 401 adds a hint).
    message: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            behavior: Behavior::Status(401),
            status: "invalid",
            result: "invalid",
            badge: "Invalid",
            last_test: "Rejected",
            message: "Invalid key. Validation failed.",
        },
        Case {
            behavior: Behavior::Status(429),
            status: "quota_warning",
            result: "quota_exceeded",
            badge: "Quota exceeded",
            last_test: "Quota exceeded",
            message: "The provider reports the quota is exceeded.",
        },
        Case {
            behavior: Behavior::Status(500),
            status: "untested",
            result: "provider_error",
            badge: "Untested",
            last_test: "Provider error",
            message: "The provider had a problem answering, so the key could not be tested.",
        },
        Case {
            behavior: Behavior::Status(503),
            status: "untested",
            result: "provider_error",
            badge: "Untested",
            last_test: "Provider error",
            message: "The provider had a problem answering, so the key could not be tested.",
        },
        Case {
            behavior: Behavior::Hang,
            status: "untested",
            result: "timeout",
            badge: "Untested",
            last_test: "Timed out",
            message: "The provider did not answer in time, so the key could not be tested.",
        },
        Case {
            behavior: Behavior::Ok,
            status: "active",
            result: "ok",
            badge: "Active",
            last_test: "Passed",
            message: "The provider accepted the key.",
        },
    ]
}

/// The stored status and last test result of key `id`.
fn stored(gw: &Gw, id: &str) -> (String, Option<String>) {
    use diesel::prelude::*;
    use keyhold::db::schema::provider_keys;
    provider_keys::table
        .find(id)
        .select((provider_keys::status, provider_keys::last_test_result))
        .first(&mut gw.app.db())
        .expect("the key row")
}

#[tokio::test]
async fn the_test_button_on_a_workspace_key_records_each_provider_answer() {
    let gw = Gw::start().await;
    let id = gw.add_key("openai", "Main", WS_KEY).await;
    let keys_page = format!("/w/{}/settings/keys", gw.slug);

    for (n, case) in cases().into_iter().enumerate() {
        gw.app.provider.set_behavior(WS_KEY, case.behavior.clone());
        gw.app.provider.clear();
        let started = std::time::Instant::now();
        let r = gw
            .app
            .post_form(&gw.owner, &format!("{keys_page}/{id}/test"), &[])
            .await;
        let page = follow(&gw.app, &gw.owner, r).await;
        let what = format!("{:?}", case.behavior);

        assert!(
            page.contains("Test done.") && page.contains(case.message),
            "{what}: the page says what happened: {page}"
        );
        let main = row(&page, "Main");
        assert!(
            main.contains(&format!(">{}</span>", case.badge)),
            "{what}: {main}"
        );
        assert!(main.contains(case.last_test), "{what}: {main}");
        assert!(!page.contains(WS_KEY), "the key is never shown");
        assert_eq!(
            stored(&gw, &id),
            (case.status.to_owned(), Some(case.result.to_owned())),
            "{what}"
        );
        assert_eq!(
            gw.app.audit_count("workspace_key.tested"),
            i64::try_from(n + 1).expect("count")
        );
        let details = last_audit(&gw.app, "workspace_key.tested");
        assert_eq!(details["result"], case.result, "{what}: {details}");
        assert_eq!(details["after"], case.status, "{what}: {details}");
        assert_eq!(
            posted_keys(&gw.app),
            Vec::<String>::new(),
            "a test sends no chat request"
        );
        assert!(
            gw.app
                .provider
                .requests()
                .iter()
                .any(|r| r.key.as_deref() == Some(WS_KEY) && r.path == "/v1/models"),
            "{what}: the test asked the provider"
        );
        if case.behavior == Behavior::Hang {
            let took = started.elapsed();
            assert!(
                took >= Duration::from_secs(7) && took < Duration::from_secs(20),
                "the test gives up after its timeout: {took:?}"
            );
        }

        // The recorded status is obeyed by the next call (policy `fail`: no platform key).
        gw.app.provider.set_behavior(WS_KEY, Behavior::Ok);
        gw.app.provider.clear();
        if case.status == "invalid" {
            assert_openai_error(
                gw.chat(&gw.token, "openai/gpt-4o-mini").await,
                StatusCode::FORBIDDEN,
                "workspace_keys_invalid",
            )
            .await;
            assert!(
                posted_keys(&gw.app).is_empty(),
                "an invalid key is not sent"
            );
        } else {
            let (key, source) = gw.chat_ok("openai/gpt-4o-mini").await;
            assert_eq!(
                (key.as_str(), source.as_str()),
                (WS_KEY, "workspace"),
                "{what}"
            );
        }
    }
    // Only the owner's own tests changed the key: no rejection event, no rejection mail.
    assert_eq!(gw.app.audit_count("workspace_key.rejected"), 0);
}

#[tokio::test]
async fn the_test_button_on_the_global_key_records_each_provider_answer() {
    let gw = Gw::start().await;
    let id = global_key_id(&gw.app, "openai");
    // A workspace without keys of its own: the platform key answers it.
    let (beta, _) = gw.app.create_workspace("beta", &[]);
    let (_, beta_token) = new_token(&gw.app, &beta, "CI");

    for (n, case) in cases().into_iter().enumerate() {
        gw.app
            .provider
            .set_behavior(GLOBAL_OPENAI, case.behavior.clone());
        gw.app.provider.clear();
        let r = gw
            .app
            .post_form(&gw.admin, "/admin/integrations/openai/test", &[])
            .await;
        let page = follow(&gw.app, &gw.admin, r).await;
        let what = format!("{:?}", case.behavior);

        assert!(page.contains(case.message), "{what}: {page}");
        if case.status == "invalid" {
            assert!(page.contains("enter a new one"), "{what}: the fix is named");
        }
        let status = page
            .split("<dt>Status</dt>")
            .nth(1)
            .and_then(|s| s.split("</dd>").next())
            .expect("the global key's status");
        assert!(
            status.contains(&format!(">{}</span>", case.badge)),
            "{what}: {status}"
        );
        let last = page
            .split("<dt>Last test</dt>")
            .nth(1)
            .and_then(|s| s.split("</dd>").next())
            .expect("the global key's last test");
        assert!(last.contains(case.last_test), "{what}: {last}");
        assert!(!page.contains(GLOBAL_OPENAI), "the key is never shown");
        assert_eq!(
            stored(&gw, &id),
            (case.status.to_owned(), Some(case.result.to_owned())),
            "{what}"
        );
        assert_eq!(
            gw.app.audit_count("provider.global_key_tested"),
            i64::try_from(n + 1).expect("count")
        );
        assert_eq!(
            last_audit(&gw.app, "provider.global_key_tested")["result"],
            case.result
        );

        // The next call of a workspace on the platform key obeys the recorded status.
        gw.app.provider.set_behavior(GLOBAL_OPENAI, Behavior::Ok);
        gw.app.provider.clear();
        let r = gw.chat(&beta_token, "openai/gpt-4o-mini").await;
        if case.status == "invalid" {
            let message = assert_openai_error(r, StatusCode::FORBIDDEN, "no_key").await;
            assert!(!message.contains(GLOBAL_OPENAI), "{message}");
            assert!(
                posted_keys(&gw.app).is_empty(),
                "an invalid key is not sent"
            );
        } else {
            assert_eq!(r.status(), StatusCode::OK, "{what}");
            assert_eq!(posted_keys(&gw.app), vec![GLOBAL_OPENAI.to_owned()]);
        }
    }
}

//! A workspace API token does not outlive its creator's standing: disabled by an admin,
//! removed from the workspace, or no longer an owner, the person's tokens stop answering
//! on the very next request (with the gateway's cache warm), each revocation is audited
//! without the token, and the workspace's other owners are mailed.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::models::AuditRow;
use keyhold::db::schema::{audit_events, users};
use reqwest::StatusCode;
use serde_json::Value;

use crate::gateway::{Gw, OWNER_EMAIL};
use crate::helpers::*;

const B_EMAIL: &str = "bea@example.test";
const B_NAME: &str = "Bea Builder";
const TOKEN_NAME: &str = "Bea's nightly sync";

/// The gateway world plus a second owner, B, who creates a token through the tokens page
/// and uses it once (so the gateway holds it in its cache).
struct World {
    gw: Gw,
    b_id: String,
    b_token: String,
}

async fn world() -> World {
    let gw = Gw::start().await;
    let (b, b_id) = gw.app.user_client(B_EMAIL, false).await;
    diesel::update(users::table.find(&b_id))
        .set(users::name.eq(B_NAME))
        .execute(&mut gw.app.db())
        .expect("name B");
    keyhold::db::write_tx(&mut gw.app.db(), |c| {
        let ws = keyhold::services::workspaces::get(c, &crate::helpers::id(&gw.ws_id))?;
        let user = keyhold::services::accounts::get_user(c, &crate::helpers::id(&b_id))?;
        keyhold::services::workspaces::add_member(
            c,
            &gw.app.keyring(),
            &keyhold::services::audit::Actor::cli(),
            &ws,
            &user,
            keyhold::domain::roles::Role::Owner,
        )
    })
    .expect("B owns acme");
    let r = gw
        .app
        .post_form(
            &b,
            &format!("/w/{}/settings/tokens", gw.slug),
            &[("name", TOKEN_NAME)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    let b_token = html
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new token is shown once")
        .to_owned();
    assert!(b_token.starts_with("kh_"), "{b_token}");
    let r = gw.chat(&b_token, "gpt-4o-mini").await;
    assert_eq!(r.status(), StatusCode::OK, "B's token answers before");
    gw.app.smtp.clear();
    World { gw, b_id, b_token }
}

fn revocations(app: &TestApp) -> Vec<AuditRow> {
    audit_events::table
        .filter(audit_events::action.eq("api_token.revoked"))
        .order(audit_events::id.asc())
        .select(AuditRow::as_select())
        .load(&mut app.db())
        .expect("load events")
}

/// The next request with B's token is refused, the owner's token still answers, one
/// audited revocation says why (and never holds the token), and the other owner is mailed.
async fn assert_b_token_revoked(w: &World, reason: &str) {
    let gw = &w.gw;
    let r = gw.chat(&w.b_token, "gpt-4o-mini").await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "B's token must be refused on the next request"
    );
    let r = gw.chat(&gw.token, "gpt-4o-mini").await;
    assert_eq!(r.status(), StatusCode::OK, "other tokens keep answering");

    let events = revocations(&gw.app);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.workspace_id.as_deref(), Some(gw.ws_id.as_str()));
    assert_eq!(e.target.as_deref(), Some(TOKEN_NAME));
    let details: Value = serde_json::from_str(&e.details).expect("json");
    assert_eq!(details["reason"], reason, "{details}");
    assert_eq!(details["created_by"], B_EMAIL, "{details}");
    for row in audit_events::table
        .select(AuditRow::as_select())
        .load(&mut gw.app.db())
        .expect("events")
    {
        assert!(!row.details.contains(&w.b_token), "event {} leaks", row.id);
    }
    let (ok, text) = {
        let out = gw.app.run_cli(&["audit", "verify"], &[]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert!(ok, "{text}");

    let mail = gw
        .app
        .smtp
        .wait_for(
            // Other mail (a provider's BYOK turned on) may reach the owner first.
            |m| {
                m.to.iter().any(|t| t.contains(OWNER_EMAIL))
                    && m.subject == "API tokens were revoked in a workspace you own"
            },
            Duration::from_secs(10),
        )
        .await
        .expect("the other owner is mailed");
    assert_eq!(
        mail.subject, "API tokens were revoked in a workspace you own",
        "no name anyone chose in the Subject"
    );
    {
        let part = &mail.decoded();
        assert!(part.contains("Bea"), "{part}");
        assert!(part.contains(B_EMAIL), "{part}");
        assert!(part.contains("nightly sync"), "{part}");
        assert!(part.contains("/w/acme/settings/tokens"), "{part}");
        assert!(!part.contains(&w.b_token), "the token is never mailed");
    }
    assert!(
        !gw.app
            .smtp
            .messages()
            .iter()
            .any(|m| m.to.iter().any(|t| t.contains(B_EMAIL))),
        "B is not among the remaining owners"
    );
}

#[tokio::test]
async fn disabling_an_owner_revokes_their_api_tokens_at_once_audited_and_mailed() {
    let w = world().await;
    let r =
        w.gw.app
            .post_form(
                &w.gw.admin,
                &format!("/admin/users/{}/disable", w.b_id),
                &[],
            )
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_b_token_revoked(&w, "creator_disabled").await;
}

#[tokio::test]
async fn removing_an_owner_from_the_workspace_revokes_their_api_tokens() {
    let w = world().await;
    let r =
        w.gw.app
            .post_form(
                &w.gw.owner,
                &format!("/w/{}/settings/members/{}/remove", w.gw.slug, w.b_id),
                &[],
            )
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_b_token_revoked(&w, "creator_left_workspace").await;
}

#[tokio::test]
async fn demoting_an_owner_to_member_revokes_their_api_tokens() {
    let w = world().await;
    let r =
        w.gw.app
            .post_form(
                &w.gw.owner,
                &format!("/w/{}/settings/members/{}/role", w.gw.slug, w.b_id),
                &[("role", "member")],
            )
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_b_token_revoked(&w, "creator_no_longer_owner").await;
}

#[tokio::test]
async fn the_tokens_page_names_each_tokens_creator() {
    let w = world().await;
    let (status, html) =
        w.gw.app
            .get_html(&w.gw.owner, &format!("/w/{}/settings/tokens", w.gw.slug))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Created by"), "{html}");
    let row = html
        .split("<tr>")
        .find(|r| r.contains("nightly sync"))
        .expect("B's token row");
    assert!(row.contains(B_NAME), "{row}");
    assert!(row.contains(B_EMAIL), "{row}");
}

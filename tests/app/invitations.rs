//! Invitations: mailed links that work once, expire, can be revoked and are bound to the
//! invited email; owners manage members but never remove or demote the last owner.

use std::time::Duration;

use diesel::prelude::*;
use keyhold::db::schema::{invitations, memberships, users};
use reqwest::{Client, StatusCode};

use crate::helpers::*;

const USED: &str = "This invitation has expired, was revoked or was already used.";
const NEW_PW: &str = "a brand new password";

/// The owner of `slug` invites `email` as `role`; returns the mailed link.
async fn invite(app: &TestApp, owner: &Client, slug: &str, email: &str, role: &str) -> String {
    let r = app
        .post_form(
            owner,
            &format!("/w/{slug}/settings/members/invite"),
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "invite {email}");
    let to = email.to_lowercase();
    let mail = app
        .smtp
        .wait_for(move |m| m.to.contains(&to), Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no invitation mail to {email}"));
    assert_eq!(mail.subject, "You are invited to a workspace on Keyhold");
    path_of(&mail.link_with("/invite/").expect("an /invite/ link"))
}

/// A workspace `acme` with one owner, and that owner's signed-in browser.
async fn workspace_with_owner(app: &TestApp) -> (Client, String, String) {
    let owner_id = app.create_user("owner@example.test", false);
    let (ws_id, _) = app.create_workspace("acme", &[(&owner_id, "owner")]);
    let c = app.client();
    app.sign_in(&c, "owner@example.test").await;
    (c, owner_id, ws_id)
}

async fn accept_new(app: &TestApp, c: &Client, link: &str) -> reqwest::Response {
    app.post_form(
        c,
        link,
        &[
            ("name", "New Person"),
            ("password", NEW_PW),
            ("password_confirm", NEW_PW),
        ],
    )
    .await
}

fn role_of(app: &TestApp, ws_id: &str, email: &str) -> Option<String> {
    memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(ws_id))
        .filter(users::email.eq(email))
        .select(memberships::role)
        .first(&mut app.db())
        .optional()
        .expect("query")
}

fn user_exists(app: &TestApp, email: &str) -> bool {
    users::table
        .filter(users::email.eq(email))
        .count()
        .get_result::<i64>(&mut app.db())
        .expect("count")
        > 0
}

/// Asserts the link is refused with the plain sentence, on GET and on POST.
async fn assert_refused(app: &TestApp, link: &str) {
    let c = app.client();
    let (status, body) = app.get_html(&c, link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(USED), "{body}");
    let r = accept_new(app, &c, link).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("body").contains(USED));
}

#[tokio::test]
async fn an_invited_person_sets_a_password_and_lands_in_the_workspace_once() {
    let app = TestApp::spawn().await;
    let (owner, _, ws_id) = workspace_with_owner(&app).await;
    let link = invite(&app, &owner, "acme", "New@Example.test", "member").await;

    let c = app.client();
    let (status, body) = app.get_html(&c, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Join Workspace acme"), "{body}");
    assert!(body.contains("new@example.test"));
    let r = accept_new(&app, &c, &link).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/w/acme");
    let (status, body) = app.get_html(&c, "/w/acme").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Workspace acme"));
    assert_eq!(
        role_of(&app, &ws_id, "new@example.test").as_deref(),
        Some("member")
    );
    let (status, _) = app.get_html(&c, "/w/acme/settings/members").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a member is no owner");

    // The new account signs in with the password it chose.
    let r = app
        .sign_in_with(&app.client(), "new@example.test", NEW_PW)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the chosen password works"
    );

    // Second use: the plain sentence, not a 500, and no second account or membership.
    assert_refused(&app, &link).await;
    let c2 = app.client();
    app.sign_in_with(&c2, "new@example.test", NEW_PW).await;
    let r = app.post_form(&c2, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_invitation_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, _, ws_id) = workspace_with_owner(&app).await;
    let link = invite(&app, &owner, "acme", "late@example.test", "member").await;
    diesel::update(invitations::table)
        .set(invitations::expires_at.eq(keyhold::db::now() - 1))
        .execute(&mut app.db())
        .expect("expire");
    assert_refused(&app, &link).await;
    assert!(!user_exists(&app, "late@example.test"));
    assert_eq!(role_of(&app, &ws_id, "late@example.test"), None);
}

#[tokio::test]
async fn a_revoked_invitation_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, _, ws_id) = workspace_with_owner(&app).await;
    let link = invite(&app, &owner, "acme", "gone@example.test", "owner").await;
    let id: String = invitations::table
        .select(invitations::id)
        .first(&mut app.db())
        .expect("invitation");
    let (_, page) = app.get_html(&owner, "/w/acme/settings/members").await;
    assert!(page.contains("gone@example.test"), "listed as pending");
    let r = app
        .post_form(
            &owner,
            &format!("/w/acme/settings/invitations/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.get_html(&owner, "/w/acme/settings/members").await;
    assert!(page.contains("Invitation revoked."));
    assert!(!page.contains("gone@example.test"), "no longer pending");
    assert_refused(&app, &link).await;
    assert!(!user_exists(&app, "gone@example.test"));
    assert_eq!(role_of(&app, &ws_id, "gone@example.test"), None);
}

#[tokio::test]
async fn an_invitation_is_bound_to_the_invited_email() {
    let app = TestApp::spawn().await;
    let (owner, _, ws_id) = workspace_with_owner(&app).await;
    app.create_user("ann@example.test", false);
    let (carl, _) = app.user_client("carl@example.test", false).await;
    let link = invite(&app, &owner, "acme", "ann@example.test", "member").await;

    // Someone else, signed in, cannot take it.
    let (status, body) = app.get_html(&carl, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("You are signed in as carl@example.test"),
        "{body}"
    );
    assert!(!body.contains("Join workspace</button>"));
    let r = app.post_form(&carl, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("This invitation is for ann@example.test"),
        "{body}"
    );
    assert_eq!(role_of(&app, &ws_id, "carl@example.test"), None);

    // Anonymous, the existing account is not overwritten: sign in first.
    let c = app.client();
    let (_, body) = app.get_html(&c, &link).await;
    assert!(body.contains("Sign in to accept"), "{body}");
    let r = accept_new(&app, &c, &link).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("body").contains("Sign in first"));
    let r = app.sign_in_with(&c, "ann@example.test", NEW_PW).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "password unchanged");

    let r = app
        .post_form(
            &c,
            "/login",
            &[
                ("email", "ann@example.test"),
                ("password", PASSWORD),
                ("next", &link),
            ],
        )
        .await;
    assert_eq!(location(&r), link, "sign-in returns to the invitation");
    let r = app.post_form(&c, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/w/acme");
    assert_eq!(app.get_html(&c, "/w/acme").await.0, StatusCode::OK);
    assert_eq!(
        role_of(&app, &ws_id, "ann@example.test").as_deref(),
        Some("member")
    );
}

#[tokio::test]
async fn an_admin_creates_a_workspace_and_invites_its_first_owner() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let r = app
        .post_form(
            &admin,
            "/admin/workspaces",
            &[("name", "Globex Labs"), ("slug", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = location(&r);
    let (_, body) = app.get_html(&admin, &page).await;
    assert!(body.contains("No members yet"), "{body}");
    let r = app
        .post_form(
            &admin,
            &format!("{page}/invitations"),
            &[("email", "boss@example.test"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, body) = app.get_html(&admin, &page).await;
    assert!(
        body.contains("<th scope=\"row\">boss@example.test</th><td>owner</td>"),
        "pending: {body}"
    );

    let mail = app
        .smtp
        .wait_for(
            |m| m.to.contains(&"boss@example.test".into()),
            Duration::from_secs(15),
        )
        .await
        .expect("invitation mail");
    assert!(mail.text.contains("Globex Labs"));
    let link = path_of(&mail.link_with("/invite/").expect("link"));
    let c = app.client();
    let r = accept_new(&app, &c, &link).await;
    assert_eq!(
        location(&r),
        "/w/globex-labs/settings/keys",
        "a new owner starts on the owner's work"
    );
    let (status, body) = app.get_html(&c, "/w/globex-labs/settings/members").await;
    assert_eq!(status, StatusCode::OK, "an invited owner manages members");
    assert!(body.contains("boss@example.test"));
    let (_, body) = app.get_html(&admin, &page).await;
    assert!(
        body.contains("boss@example.test</a></th><td>New Person</td><td>Owner"),
        "{body}"
    );
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::spawn().await;
    let (owner, owner_id, ws_id) = workspace_with_owner(&app).await;
    let base = format!("/w/acme/settings/members/{owner_id}");

    let r = app
        .post_form(&owner, &format!("{base}/role"), &[("role", "member")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, body) = app.get_html(&owner, &location(&r)).await;
    assert!(
        body.contains("A workspace needs at least one owner."),
        "{body}"
    );
    assert_eq!(
        role_of(&app, &ws_id, "owner@example.test").as_deref(),
        Some("owner")
    );

    let r = app.post_form(&owner, &format!("{base}/remove"), &[]).await;
    let (_, body) = app.get_html(&owner, &location(&r)).await;
    assert!(body.contains("You cannot remove the last owner."), "{body}");
    assert_eq!(
        role_of(&app, &ws_id, "owner@example.test").as_deref(),
        Some("owner")
    );
    assert_eq!(app.audit_count("member.role_changed"), 0);
    assert_eq!(app.audit_count("member.removed"), 0);

    // With a second owner, the first may step down.
    let second = app.create_user("second@example.test", false);
    let mut c = app.db();
    keyhold::db::write_tx(&mut c, |c| {
        let ws = keyhold::services::workspaces::get(c, &crate::helpers::id(&ws_id))?;
        let user = keyhold::services::accounts::get_user(c, &crate::helpers::id(&second))?;
        keyhold::services::workspaces::add_member(
            c,
            &app.keyring(),
            &keyhold::services::audit::Actor::cli(),
            &ws,
            &user,
            keyhold::domain::roles::Role::Owner,
        )
    })
    .expect("second owner");
    let r = app
        .post_form(&owner, &format!("{base}/role"), &[("role", "member")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        role_of(&app, &ws_id, "owner@example.test").as_deref(),
        Some("member")
    );
}

#[tokio::test]
async fn removing_a_member_takes_their_access_away() {
    let app = TestApp::spawn().await;
    let (owner, _, ws_id) = workspace_with_owner(&app).await;
    let (member, member_id) = app.user_client("mem@example.test", false).await;
    keyhold::db::write_tx(&mut app.db(), |c| {
        let ws = keyhold::services::workspaces::get(c, &crate::helpers::id(&ws_id))?;
        let user = keyhold::services::accounts::get_user(c, &crate::helpers::id(&member_id))?;
        keyhold::services::workspaces::add_member(
            c,
            &app.keyring(),
            &keyhold::services::audit::Actor::cli(),
            &ws,
            &user,
            keyhold::domain::roles::Role::Member,
        )
    })
    .expect("member");
    assert_eq!(app.get_html(&member, "/w/acme").await.0, StatusCode::OK);

    let r = app
        .post_form(
            &owner,
            &format!("/w/acme/settings/members/{member_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(role_of(&app, &ws_id, "mem@example.test"), None);

    let (status, body) = app.get_html(&member, "/w/acme").await;
    assert_ne!(status, StatusCode::OK, "{body}");
    assert!(!body.contains("Workspace acme"));
    app.sign_in(&member, "mem@example.test").await;
    let (status, _) = app.get_html(&member, "/w/acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ------------------------------------------------ invitations outlive no one's standing

/// How the second owner, Bea, loses her standing in `acme`.
#[derive(Clone, Copy)]
enum Loses {
    Removed,
    Demoted,
    Disabled,
}

/// `acme` owned by the first owner and Bea, who also owns `beta`. Bea invites one address
/// into each, the first owner one into `acme`; then Bea loses her standing as `how` says,
/// through the pages. Bea's links stop working where she lost it (everywhere once
/// disabled), each revocation is audited with its reason, and the first owner's link works.
async fn invitations_of_someone_who(how: Loses) {
    let app = TestApp::spawn().await;
    let (owner, owner_id, acme) = workspace_with_owner(&app).await;
    let (bea, bea_id) = app.user_client("bea@example.test", false).await;
    let (admin, admin_id) = app.user_client("admin@example.test", true).await;
    keyhold::db::write_tx(&mut app.db(), |c| {
        let ws = keyhold::services::workspaces::get(c, &id(&acme))?;
        let user = keyhold::services::accounts::get_user(c, &id(&bea_id))?;
        keyhold::services::workspaces::add_member(
            c,
            &app.keyring(),
            &keyhold::services::audit::Actor::cli(),
            &ws,
            &user,
            keyhold::domain::roles::Role::Owner,
        )
    })
    .expect("Bea owns acme");
    let (beta, _) = app.create_workspace("beta", &[(&bea_id, "owner")]);
    let beas_acme = invite(&app, &bea, "acme", "friend@example.test", "owner").await;
    let beas_beta = invite(&app, &bea, "beta", "pal@example.test", "member").await;
    let owners = invite(&app, &owner, "acme", "colleague@example.test", "member").await;

    let (path, fields, reason): (String, Vec<(&str, &str)>, &str) = match how {
        Loses::Removed => (
            format!("/w/acme/settings/members/{bea_id}/remove"),
            vec![],
            "inviter_left_workspace",
        ),
        Loses::Demoted => (
            format!("/w/acme/settings/members/{bea_id}/role"),
            vec![("role", "member")],
            "inviter_no_longer_owner",
        ),
        Loses::Disabled => (
            format!("/admin/users/{bea_id}/disable"),
            vec![],
            "inviter_disabled",
        ),
    };
    let by = if matches!(how, Loses::Disabled) {
        &admin
    } else {
        &owner
    };
    let r = app.post_form(by, &path, &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");

    assert_refused(&app, &beas_acme).await;
    assert!(!user_exists(&app, "friend@example.test"));
    let (_, page) = app.get_html(&owner, "/w/acme/settings/members").await;
    assert!(!page.contains("friend@example.test"), "no longer pending");
    assert!(page.contains("colleague@example.test"), "still pending");
    let (status, body) = app.get_html(&app.client(), &owners).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first owner's link works: {body}"
    );
    let revoked: Vec<keyhold::db::models::AuditRow> = {
        use keyhold::db::schema::audit_events as ev;
        ev::table
            .filter(ev::action.eq("invitation.revoked"))
            .order(ev::id.asc())
            .select(keyhold::db::models::AuditRow::as_select())
            .load(&mut app.db())
            .expect("events")
    };
    let mut expected = vec![(acme.as_str(), "friend@example.test")];
    if matches!(how, Loses::Disabled) {
        expected.push((beta.as_str(), "pal@example.test"));
    } else {
        let (status, _) = app.get_html(&app.client(), &beas_beta).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "Bea still owns beta: her link there works"
        );
    }
    let seen: Vec<(&str, &str)> = revoked
        .iter()
        .map(|e| {
            (
                e.workspace_id.as_deref().unwrap_or(""),
                e.target.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(seen, expected, "{revoked:?}");
    let actor = if matches!(how, Loses::Disabled) {
        &admin_id
    } else {
        &owner_id
    };
    for e in &revoked {
        let details: serde_json::Value = serde_json::from_str(&e.details).expect("json");
        assert_eq!(details["reason"], reason, "{details}");
        assert_eq!(
            e.actor_id.as_ref(),
            Some(actor),
            "audited as the doing of who acted"
        );
    }
    if matches!(how, Loses::Disabled) {
        assert_refused(&app, &beas_beta).await;
    }
    let (status, log) = app.get_html(&owner, "/w/acme/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        log.contains("invitation") && log.contains("because its sender"),
        "the log says why: {log}"
    );
}

#[tokio::test]
async fn invitations_sent_by_a_removed_owner_stop_working_and_say_why_in_the_log() {
    invitations_of_someone_who(Loses::Removed).await;
}

#[tokio::test]
async fn invitations_sent_by_a_demoted_owner_stop_working_and_say_why_in_the_log() {
    invitations_of_someone_who(Loses::Demoted).await;
}

#[tokio::test]
async fn invitations_sent_by_a_disabled_person_stop_working_everywhere() {
    invitations_of_someone_who(Loses::Disabled).await;
}

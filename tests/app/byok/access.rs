//! Who may touch keys: members get 403, other workspaces 404, and no form field lets an
//! owner reach beyond their own workspace's keys.

use diesel::prelude::*;
use keyhold::db::schema::provider_settings;
use reqwest::StatusCode;

use super::*;

const KEY: &str = "sk-proj-accesskey00000000000000000008888";

fn add_member(b: &Byok, user_id: &str, role: keyhold::domain::roles::Role) {
    use keyhold::services::{accounts, audit::Actor, workspaces};
    let mut conn = b.app.db();
    keyhold::db::write_tx(&mut conn, |c| {
        let ws = workspaces::get(c, &crate::helpers::id(&b.ws_id))?;
        let user = accounts::get_user(c, &crate::helpers::id(user_id))?;
        workspaces::add_member(c, &b.app.keyring(), &Actor::cli(), &ws, &user, role)
    })
    .expect("add member");
}

/// Every key action of the owner's page, as (method is POST, path suffix, fields).
fn actions(key_id: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        (format!("{key_id}/test"), vec![]),
        (format!("{key_id}/disable"), vec![]),
        (format!("{key_id}/enable"), vec![]),
        (format!("{key_id}/move"), vec![("direction", "down")]),
        (
            format!("{key_id}/replace"),
            vec![
                ("label", "Hijacked"),
                ("api_key", "sk-proj-hijack00000000000009999"),
            ],
        ),
        (format!("{key_id}/remove"), vec![]),
    ]
}

#[tokio::test]
async fn byok_members_get_403_on_key_pages_and_see_only_whose_key_serves_them() {
    let b = Byok::start().await;
    follow(
        &b.app,
        &b.owner,
        b.add_key(&b.owner, "Secret Label", KEY).await,
    )
    .await;
    let before = b.key("Secret Label");
    let (member, member_id) = b.app.user_client("member@example.test", false).await;
    add_member(&b, &member_id, keyhold::domain::roles::Role::Member);

    let (status, _) = b.app.get_html(&member, &b.keys_path()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = b
        .add_key(&member, "Member key", "sk-proj-memberkey000000000000000")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for (suffix, fields) in actions(&before.id) {
        let path = format!("{}/{suffix}", b.keys_path());
        let r = b.app.post_form(&member, &path, &fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = b
        .app
        .get_html(&member, &format!("{}/{}/remove", b.keys_path(), before.id))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let after = b.key("Secret Label");
    assert_eq!(
        (after.status.as_str(), &after.sealed),
        ("active", &before.sealed)
    );
    assert_eq!(b.all_keys().len(), 1);

    let (status, home) = b.app.get_html(&member, &format!("/w/{}", b.slug)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("OpenAI") && home.contains("Workspace key"));
    for secret_ish in ["Secret Label", "…8888", "sk-proj-", KEY] {
        assert!(!home.contains(secret_ish), "member home shows {secret_ish}");
    }
}

#[tokio::test]
async fn byok_an_owner_of_another_workspace_gets_404_and_nothing_changes() {
    let b = Byok::start().await;
    follow(&b.app, &b.owner, b.add_key(&b.owner, "Acme key", KEY).await).await;
    let before = b.key("Acme key");
    let (stranger, stranger_id) = b.app.user_client("stranger@example.test", false).await;
    let (_, other_slug) = b.app.create_workspace("other", &[(&stranger_id, "owner")]);
    let audit_before = b.app.audit_count("workspace_key.added");

    let (status, _) = b.app.get_html(&stranger, &b.keys_path()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (suffix, fields) in actions(&before.id) {
        for base in [b.keys_path(), format!("/w/{other_slug}/settings/keys")] {
            let path = format!("{base}/{suffix}");
            let r = b.app.post_form(&stranger, &path, &fields).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
    let r = b
        .add_key(&stranger, "Planted", "sk-proj-plantedkey0000000000000")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let after = b.key("Acme key");
    assert_eq!(after.sealed, before.sealed);
    assert_eq!(
        (after.status.as_str(), after.priority),
        ("active", before.priority)
    );
    assert_eq!(b.all_keys().len(), 1);
    assert_eq!(b.app.audit_count("workspace_key.added"), audit_before);
}

#[tokio::test]
async fn byok_an_owner_cannot_mass_assign_byok_scope_or_another_workspace() {
    let b = Byok::start().await;
    let (_, stranger_id) = b.app.user_client("stranger@example.test", false).await;
    let (other_ws_id, _) = b.app.create_workspace("other", &[(&stranger_id, "owner")]);
    let extra = [
        ("byok_enabled", "on"),
        ("enabled", "on"),
        ("workspace_id", other_ws_id.as_str()),
        ("scope", "global"),
        ("status", "active"),
        ("priority", "-5"),
    ];

    let mut fields = vec![("provider", "openai"), ("label", "Mine"), ("api_key", KEY)];
    fields.extend_from_slice(&extra);
    follow(
        &b.app,
        &b.owner,
        b.app.post_form(&b.owner, &b.keys_path(), &fields).await,
    )
    .await;
    let mine = b.key("Mine");
    assert_eq!(mine.scope, Scope::Workspace);
    assert_eq!(mine.workspace_id.as_deref(), Some(b.ws_id.as_str()));
    assert_eq!(mine.priority, 0);

    let mut fields = vec![
        ("provider", "anthropic"),
        ("label", "Claude"),
        ("api_key", "sk-ant-api03-abcdefgh12345678"),
    ];
    fields.extend_from_slice(&extra);
    let r = b.app.post_form(&b.owner, &b.keys_path(), &fields).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let mut fields = vec![("label", "Mine"), ("api_key", "")];
    fields.extend_from_slice(&extra);
    b.key_action(&b.owner, &mine.id, "replace", &fields).await;

    let keys = b.all_keys();
    assert_eq!(keys.len(), 1, "no key was created anywhere else");
    assert_eq!(keys[0].scope, Scope::Workspace);
    assert_eq!(keys[0].workspace_id.as_deref(), Some(b.ws_id.as_str()));
    let anthropic: i64 = provider_settings::table
        .filter(provider_settings::provider.eq("anthropic"))
        .count()
        .get_result(&mut b.app.db())
        .expect("count");
    assert_eq!(anthropic, 0, "Anthropic settings untouched");
    assert_eq!(
        b.app.audit_count("provider.byok_enabled"),
        1,
        "only the admin's"
    );
}

#[tokio::test]
async fn byok_a_malformed_id_in_a_path_is_the_404_of_an_unknown_one_and_nothing_changes() {
    let b = Byok::start().await;
    follow(&b.app, &b.owner, b.add_key(&b.owner, "Acme key", KEY).await).await;
    let before = b.key("Acme key");
    let too_long = "x".repeat(65);

    // Ids parse at the edge: one that cannot be an id names nothing, as an unknown one.
    for bad in [
        "no-such-key",
        "a.b",
        "%C3%A9t%C3%A9",
        "a%7Cb",
        too_long.as_str(),
    ] {
        for (suffix, fields) in actions(bad) {
            let path = format!("{}/{suffix}", b.keys_path());
            let r = b.app.post_form(&b.owner, &path, &fields).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let (status, page) = b
            .app
            .get_html(&b.owner, &format!("{}/{bad}/remove", b.keys_path()))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert!(
            page.contains("Page not found"),
            "the site's 404 page for {bad}"
        );
        for path in [
            format!("/w/{}/settings/members/{bad}/remove", b.slug),
            format!("/w/{}/settings/members/{bad}/role", b.slug),
        ] {
            let r = b.app.post_form(&b.owner, &path, &[("role", "owner")]).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        // Revoking a token that is not there says so on the page, whatever the id looks like.
        let path = format!("/w/{}/settings/tokens/{bad}/revoke", b.slug);
        let r = b.app.post_form(&b.owner, &path, &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let (_, tokens) = b
            .app
            .get_html(&b.owner, &format!("/w/{}/settings/tokens", b.slug))
            .await;
        assert!(tokens.contains("That token no longer exists."), "{path}");
        let r = b
            .app
            .post_form(&b.admin, &format!("/admin/users/{bad}/disable"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "user {bad}");
        let (status, _) = b
            .app
            .get_html(&b.admin, &format!("/admin/workspaces/{bad}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "workspace {bad}");
    }

    let after = b.key("Acme key");
    assert_eq!(
        (after.status, &after.sealed, after.priority),
        (before.status, &before.sealed, before.priority)
    );
    assert_eq!(b.all_keys().len(), 1);
}

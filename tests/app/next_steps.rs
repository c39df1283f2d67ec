//! Where the next step is (issue 19, items 2 to 4): the admin's workspace page puts the
//! invitation in the Members card, empty charts collapse, the Overview keeps a
//! getting-started checklist until the first call, an owner starts on the owner's work,
//! the keys page lists each provider once with a Replace button on a key's row, the
//! navigation names "Provider keys" and "Access tokens", and pending invitations show their
//! expiry with Resend, Copy link (mail written to files only) and Revoke.

use std::time::Duration;

use reqwest::StatusCode;

use crate::byok::{Byok, follow};
use crate::helpers::{Options, TestApp, id_after, location, path_of};

#[tokio::test]
async fn the_admin_workspace_page_opens_with_members_and_the_invitation_form() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (ws_id, _) = app.create_workspace("acme", &[]);
    let (status, page) = app
        .get_html(&admin, &format!("/admin/workspaces/{ws_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let members = page.find("id=\"members-h\"").expect("the Members card");
    let invite = page.find("Send invitation").expect("the invitation form");
    let allowance = page.find("Platform allowance").expect("the allowance card");
    let usage = page.find("id=\"usage-h\"").expect("the usage card");
    assert!(
        members < invite && invite < allowance && invite < usage,
        "the invitation form sits in the Members card, above the rest"
    );
    assert!(
        page.contains("No calls yet."),
        "empty charts collapse: {page}"
    );
    assert!(!page.contains("<figure class=\"chart\">"), "no empty chart");
}

#[tokio::test]
async fn the_overview_checklist_follows_the_platform_until_the_first_call() {
    let b = Byok::start().await; // OpenAI on with BYOK, a workspace with its owner
    let (status, page) = b.app.get_html(&b.admin, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Getting started"), "{page}");
    assert!(page.contains("4 of 6 done."), "{page}");
    assert!(
        page.contains(&format!(
            "href=\"/w/{}/settings/tokens\">Create an access token",
            b.slug
        )),
        "an open step links to where it is done: {page}"
    );
    assert!(page.contains("No calls yet."), "{page}");

    let fresh = TestApp::spawn().await;
    let (admin, _) = fresh.user_client("admin@example.test", true).await;
    let (_, page) = fresh.get_html(&admin, "/admin").await;
    assert!(page.contains("0 of 6 done."), "{page}");
    assert!(
        page.contains("href=\"/admin/integrations\">Turn a provider on"),
        "{page}"
    );

    // A token and a call: the checklist is done and goes away.
    let r = b
        .app
        .post_form(
            &b.owner,
            &format!("/w/{}/settings/tokens", b.slug),
            &[("name", "ci")],
        )
        .await;
    let page = if r.status() == StatusCode::SEE_OTHER {
        follow(&b.app, &b.owner, r).await
    } else {
        r.text().await.expect("body")
    };
    let token = page
        .split("kh_")
        .nth(1)
        .and_then(|rest| rest.split(['<', '"', ' ']).next())
        .map(|t| format!("kh_{t}"))
        .expect("the new token is shown once");
    b.app.provider.set_behavior(
        "sk-proj-checklist0000000000000000000001",
        crate::support::mock_provider::Behavior::Ok,
    );
    let r = b
        .add_key(&b.owner, "Main", "sk-proj-checklist0000000000000000000001")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let answer = reqwest::Client::new()
        .post(b.app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hello"}],
        }))
        .send()
        .await
        .expect("call");
    assert_eq!(answer.status(), StatusCode::OK);
    let mut page = String::new();
    for _ in 0..50 {
        page = b.app.get_html(&b.admin, "/admin").await.1;
        if !page.contains("Getting started") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!page.contains("Getting started"), "done, so gone: {page}");
}

#[tokio::test]
async fn an_owner_starts_on_the_keys_page_until_the_workspace_has_a_token() {
    let b = Byok::start().await;
    let home = location(&b.app.get(&b.owner, "/").await);
    assert_eq!(home, format!("/w/{}/settings/keys", b.slug));
    let r = b
        .app
        .post_form(
            &b.owner,
            &format!("/w/{}/settings/tokens", b.slug),
            &[("name", "ci")],
        )
        .await;
    assert!(r.status().is_success() || r.status() == StatusCode::SEE_OTHER);
    let home = location(&b.app.get(&b.owner, "/").await);
    assert_eq!(home, format!("/w/{}", b.slug), "then the workspace itself");
}

#[tokio::test]
async fn the_keys_page_lists_each_provider_once_and_replaces_from_the_row() {
    let b = Byok::start().await;
    let r = b
        .app
        .post_form(
            &b.admin,
            "/admin/integrations/anthropic",
            &[("enabled", "on"), ("failure_policy", "fail")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "Anthropic on, BYOK off");
    let key = "sk-proj-replacerow00000000000000000001";
    let r = b.add_key(&b.owner, "Main", key).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = b.owner_page().await;
    assert!(
        page.contains("<title>Provider keys"),
        "{}",
        &page[..400.min(page.len())]
    );
    assert!(page.contains(">Provider keys</a>") && page.contains(">Access tokens</a>"));
    assert!(!page.contains(">API keys</a>") && !page.contains(">API tokens</a>"));
    // Each provider once: a row when it is on (or holds a key), else named in the one
    // sentence of turned-off providers under the table.
    let off = page
        .split("Turned off on this platform")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .and_then(|rest| rest.split_once("): ").map(|(_, names)| names))
        .unwrap_or_default();
    for p in keyhold::domain::providers::catalogue() {
        let row = format!("<th scope=\"row\">{}</th>", p.name);
        let rows = page.matches(&row).count();
        let named = off
            .split(", ")
            .any(|n| n.trim_end_matches('.').trim() == p.name);
        assert_eq!(
            rows + usize::from(named),
            1,
            "{} listed once ({rows} rows)",
            p.name
        );
    }
    assert!(
        page.contains("<th scope=\"row\">Anthropic</th>"),
        "on, BYOK off: a row"
    );
    assert!(
        page.contains("Managed by the platform"),
        "BYOK-off providers say so"
    );
    assert!(
        !page.contains("Replace or rename"),
        "no second form per key"
    );
    let id = b.key("Main").id;
    let mask = b.key("Main").mask;
    let replace = format!("{}/{id}/replace", b.keys_path());
    assert!(
        page.contains(&format!("href=\"{replace}\"")),
        "a Replace button on the row"
    );

    let (status, form) = b.app.get_html(&b.owner, &replace).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Replace “Main”"), "{form}");
    assert!(form.contains("value=\"Main\""), "{form}");
    assert!(!form.contains(key));

    // A rejected key keeps the page, with the error at the field and the label typed.
    let bad = "sk-proj-rejectedreplace000000000000002";
    b.app
        .provider
        .set_behavior(bad, crate::support::mock_provider::Behavior::Status(401));
    let r = b
        .app
        .post_form(
            &b.owner,
            &replace,
            &[("label", "Renamed"), ("api_key", bad)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let form = r.text().await.expect("body");
    assert!(form.contains("Invalid key. Validation failed."), "{form}");
    assert!(form.contains("value=\"Renamed\""), "{form}");
    assert!(!form.contains(bad));
    assert_eq!(b.key("Main").mask, mask, "nothing changed");
    assert_eq!(b.key("Main").label, "Main");

    let new_key = "sk-proj-replacement0000000000000000003";
    let r = b
        .app
        .post_form(
            &b.owner,
            &replace,
            &[("label", "Main"), ("api_key", new_key)],
        )
        .await;
    let page = follow(&b.app, &b.owner, r).await;
    assert!(page.contains("The key was replaced."), "{page}");
    assert_eq!(
        b.key("Main").mask,
        keyhold::domain::providers::catalogue()[0].mask_key(new_key)
    );
}

/// An app whose mail goes to files (no SMTP), an owner and a pending invitation.
async fn file_mail_app() -> (TestApp, reqwest::Client, String, String) {
    let app = TestApp::spawn_with(Options {
        no_smtp: true,
        ..Options::default()
    })
    .await;
    let (owner, owner_id) = app.user_client("owner@example.test", false).await;
    let (ws_id, slug) = app.create_workspace("acme", &[(&owner_id, "owner")]);
    let r = app
        .post_form(
            &owner,
            &format!("/w/{slug}/settings/members/invite"),
            &[("email", "new@example.test"), ("role", "member")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (app, owner, ws_id, slug)
}

#[tokio::test]
async fn with_mail_in_files_the_owner_copies_a_fresh_link_that_works_and_is_audited() {
    let (app, owner, _, slug) = file_mail_app().await;
    let (_, page) = app
        .get_html(&owner, &format!("/w/{slug}/settings/members"))
        .await;
    assert!(page.contains("Link works until"), "expiry shown: {page}");
    let base = format!("/w/{slug}/settings/invitations/");
    let inv = id_after(&page, &format!("action=\"{base}")).expect("an invitation row");
    assert!(
        page.contains(&format!("{base}{inv}/link")),
        "Copy link offered: {page}"
    );
    assert!(page.contains(&format!("{base}{inv}/resend")), "{page}");
    assert!(page.contains(&format!("{base}{inv}/revoke")), "{page}");

    let r = app
        .post_form(&owner, &format!("{base}{inv}/link"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown = r.text().await.expect("body");
    let link = shown
        .split("id=\"invite-link\" class=\"mono\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the link on the page")
        .to_owned();
    assert!(link.contains("/invite/"), "{link}");
    assert_eq!(app.audit_count("invitation.link_shown"), 1);

    let newcomer = app.client();
    let (status, accept) = app.get_html(&newcomer, &path_of(&link)).await;
    assert_eq!(status, StatusCode::OK, "the copied link works: {accept}");
    assert!(accept.contains("new@example.test"), "{accept}");
    // The page never shows it again.
    let (_, page) = app
        .get_html(&owner, &format!("/w/{slug}/settings/members"))
        .await;
    assert!(!page.contains(&link));
}

#[tokio::test]
async fn with_smtp_there_is_no_copy_link_and_resend_respects_the_mail_limit() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let (ws_id, _) = app.create_workspace("acme", &[]);
    let page_path = format!("/admin/workspaces/{ws_id}");
    let r = app
        .post_form(
            &admin,
            &format!("{page_path}/invitations"),
            &[("email", "boss@example.test"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let first = app
        .smtp
        .wait_for(
            |m| m.to.contains(&"boss@example.test".into()),
            Duration::from_secs(15),
        )
        .await
        .expect("the invitation mail");
    let first_link = path_of(&first.link_with("/invite/").expect("link"));

    let (_, page) = app.get_html(&admin, &page_path).await;
    let base = format!("{page_path}/invitations/");
    let inv = id_after(&page, &format!("action=\"{base}")).expect("an invitation row");
    assert!(
        !page.contains("/link\""),
        "no Copy link when mail is sent: {page}"
    );
    assert!(page.contains("Link works until"), "{page}");

    // A link-showing request is refused outright when mail goes through SMTP.
    let r = app
        .post_form(&admin, &format!("{base}{inv}/link"), &[])
        .await;
    let refused = follow(&app, &admin, r).await;
    assert!(refused.contains("use Resend"), "{refused}");
    assert_eq!(app.audit_count("invitation.link_shown"), 0);

    let r = app
        .post_form(&admin, &format!("{base}{inv}/resend"), &[])
        .await;
    let page = follow(&app, &admin, r).await;
    assert!(page.contains("was sent again"), "{page}");
    let mails = app.smtp.wait_for_count(2, Duration::from_secs(15)).await;
    let second = path_of(&mails[1].link_with("/invite/").expect("link"));
    assert_ne!(first_link, second, "a new link");
    let c = app.client();
    assert_ne!(
        app.get_html(&c, &first_link).await.0,
        StatusCode::OK,
        "the earlier link no longer works"
    );
    assert_eq!(app.get_html(&c, &second).await.0, StatusCode::OK);
    assert_eq!(app.audit_count("invitation.resent"), 1);

    // Five invitation mails an hour per address: the first plus four resends.
    for _ in 0..3 {
        let r = app
            .post_form(&admin, &format!("{base}{inv}/resend"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let r = app
        .post_form(&admin, &format!("{base}{inv}/resend"), &[])
        .await;
    let page = follow(&app, &admin, r).await;
    assert!(page.contains("the most Keyhold sends"), "{page}");
    assert_eq!(app.audit_count("invitation.resent"), 4);

    let r = app
        .post_form(&admin, &format!("{base}{inv}/revoke"), &[])
        .await;
    let page = follow(&app, &admin, r).await;
    assert!(page.contains("Invitation revoked."), "{page}");
    assert_eq!(app.audit_count("invitation.revoked"), 1);
    assert_ne!(app.get_html(&c, &second).await.0, StatusCode::OK, "revoked");
    let (_, page) = app.get_html(&admin, &page_path).await;
    assert!(!page.contains("boss@example.test"), "{page}");
}

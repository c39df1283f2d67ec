//! Chat histories on `/w/<slug>` are per person and per workspace
//! (src/web/handlers/chat.rs reads `history(workspace, user)`): two members of one workspace
//! each see only their own conversation, the owner sees only theirs, the earlier turns sent
//! upstream with a new prompt are the sender's own, "New conversation" clears only the
//! sender's, and nobody outside the workspace sees any of it.

use reqwest::{Client, StatusCode};

use crate::gateway::{Gw, MEMBER_EMAIL};
use crate::helpers::TestApp;

/// A prompt nobody else could have typed.
fn prompt(who: &str) -> String {
    format!("{who} asks {}", uuid::Uuid::new_v4().simple())
}

async fn chat(app: &TestApp, c: &Client, slug: &str, stream: bool, text: &str) {
    let path = if stream {
        format!("/w/{slug}/chat/stream")
    } else {
        format!("/w/{slug}/chat")
    };
    let r = app
        .post_form(
            c,
            &path,
            &[("model", "openai/gpt-4o-mini"), ("prompt", text)],
        )
        .await;
    let status = r.status();
    let body = r.text().await.expect("body");
    if stream {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.contains("\"done\":true"),
            "the stream finished: {body}"
        );
    } else {
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
}

async fn chat_page(app: &TestApp, c: &Client, slug: &str) -> String {
    let (status, page) = app.get_html(c, &format!("/w/{slug}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// The user turns of the last chat request the provider received.
fn last_upstream_user_turns(app: &TestApp) -> Vec<String> {
    let last = app
        .provider
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("a chat request upstream");
    last.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn each_member_sees_only_their_own_chat_history() {
    let gw = Gw::start().await;
    let app = &gw.app;
    let slug = gw.slug.clone();
    let second_id = app.create_user("second@example.test", false);
    let outsider_id = app.create_user("outsider@example.test", false);
    {
        use keyhold::services::{accounts, audit::Actor, workspaces};
        let keyring = app.keyring();
        keyhold::db::write_tx(&mut app.db(), |c| {
            let ws = workspaces::get(c, &crate::helpers::id(&gw.ws_id))?;
            let user = accounts::get_user(c, &crate::helpers::id(&second_id))?;
            workspaces::add_member(
                c,
                &keyring,
                &Actor::cli(),
                &ws,
                &user,
                keyhold::domain::roles::Role::Member,
            )
        })
        .expect("second member");
    }
    let member = app.client();
    app.sign_in(&member, MEMBER_EMAIL).await;
    let second = app.client();
    app.sign_in(&second, "second@example.test").await;
    let outsider = app.client();
    app.sign_in(&outsider, "outsider@example.test").await;
    let owner = &gw.owner;
    // The member also belongs to another workspace, where the outsider is the owner.
    let member_uid: String = {
        use diesel::prelude::*;
        use keyhold::db::schema::users;
        users::table
            .filter(users::email.eq(MEMBER_EMAIL))
            .select(users::id)
            .first(&mut app.db())
            .expect("member id")
    };
    let (_, globex) = app.create_workspace(
        "globex",
        &[(&outsider_id, "owner"), (&member_uid, "member")],
    );

    let (m1, m2) = (prompt("member"), prompt("member"));
    let (s1, s2) = (prompt("second"), prompt("second"));
    let o1 = prompt("owner");
    let g1 = prompt("member in globex");
    chat(app, &member, &slug, false, &m1).await;
    chat(app, &second, &slug, false, &s1).await;
    chat(app, owner, &slug, false, &o1).await;
    chat(app, &member, &globex, false, &g1).await;
    // Second turns (one streamed): what goes upstream is the sender's own conversation.
    chat(app, &member, &slug, true, &m2).await;
    assert_eq!(last_upstream_user_turns(app), vec![m1.clone(), m2.clone()]);
    chat(app, &second, &slug, false, &s2).await;
    assert_eq!(last_upstream_user_turns(app), vec![s1.clone(), s2.clone()]);

    let everything = [&m1, &m2, &s1, &s2, &o1, &g1];
    let shows = |page: &str, own: &[&String]| {
        for p in everything {
            let mine = own.contains(&p);
            assert_eq!(page.contains(p.as_str()), mine, "“{p}” shown: {}", !mine);
            let answer = format!("mock answer to: {p}");
            assert_eq!(page.contains(&answer), mine, "the answer to “{p}”");
        }
    };
    shows(&chat_page(app, &member, &slug).await, &[&m1, &m2]);
    shows(&chat_page(app, &second, &slug).await, &[&s1, &s2]);
    shows(&chat_page(app, owner, &slug).await, &[&o1]);
    shows(&chat_page(app, &member, &globex).await, &[&g1]);
    shows(&chat_page(app, &outsider, &globex).await, &[]);
    // Outside the workspace: no page at all (no existence leak), and nothing of it.
    for c in [&outsider, &gw.admin] {
        let (status, body) = app.get_html(c, &format!("/w/{slug}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        shows(&body, &[]);
    }

    // "New conversation" clears the sender's history only.
    let r = app
        .post_form(&member, &format!("/w/{slug}/chat/clear"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    shows(&chat_page(app, &member, &slug).await, &[]);
    shows(&chat_page(app, &second, &slug).await, &[&s1, &s2]);
    shows(&chat_page(app, owner, &slug).await, &[&o1]);
    shows(&chat_page(app, &member, &globex).await, &[&g1]);
}

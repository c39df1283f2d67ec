//! `keyhold rotate-master-key` and `keyhold check` on a database with sealed keys.

use diesel::prelude::*;
use keyhold::db::schema::provider_keys;
use keyhold::domain::vault::{Keyring, key_id_of};
use reqwest::StatusCode;

use super::*;
use crate::helpers::{MASTER_KEYS, Options};

const GLOBAL: &str = "sk-global-rotation-0000000000000dddd";
const FIRST: &str = "sk-proj-rotation-first00000000000eeee";
const SECOND: &str = "sk-proj-rotation-second0000000000ffff";

async fn with_three_keys() -> Byok {
    let b = Byok::start().await;
    b.save_openai(&[
        ("enabled", "on"),
        ("byok_enabled", "on"),
        ("api_key", GLOBAL),
    ])
    .await;
    follow(&b.app, &b.owner, b.add_key(&b.owner, "First", FIRST).await).await;
    follow(
        &b.app,
        &b.owner,
        b.add_key(&b.owner, "Second", SECOND).await,
    )
    .await;
    assert_eq!(b.all_keys().len(), 3);
    b
}

/// `v2:<fresh key>,v1:<the test key>`.
fn rotated_keyring() -> String {
    let (_, spec) = Keyring::generate();
    let fresh = spec.strip_prefix("v1:").expect("generated as v1");
    format!("v2:{fresh},{MASTER_KEYS}")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn byok_rotating_the_master_key_reseals_every_key_and_they_keep_working() {
    let b = with_three_keys().await;
    let keys = rotated_keyring();
    let env = [("KEYHOLD_MASTER_KEYS", keys.as_str())];

    let out = b.app.run_cli(&["rotate-master-key", "--batch", "2"], &env);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("Re-sealed 3 key(s) under v2"),
        "{}",
        stdout(&out)
    );

    for k in b.all_keys() {
        assert_eq!(k.master_key_id.as_deref(), Some("v2"), "{}", k.label);
        assert_eq!(key_id_of(k.sealed.as_deref().expect("sealed")), Some("v2"));
    }
    assert_eq!(b.app.audit_count("master_key.rotated"), 1);
    let check = b.app.run_cli(&["check"], &env);
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("Stored keys: ok (3 open)"),
        "{}",
        stdout(&check)
    );

    // Running it again finds nothing left to do (it resumes where a crash left off).
    let again = b.app.run_cli(&["rotate-master-key"], &env);
    assert!(again.status.success());
    assert!(stdout(&again).contains("Re-sealing 0 stored key(s)"));
    assert_eq!(b.app.audit_count("master_key.rotated"), 1);

    // The old keyring alone can no longer open them.
    let old_only = b.app.run_cli(&["check"], &[]);
    assert_eq!(old_only.status.code(), Some(1));

    // An instance with the new keyring serves the same keys.
    let second = TestApp::spawn_with(Options {
        env: vec![("KEYHOLD_MASTER_KEYS".into(), keys.clone())],
        database_url: Some(b.app.db_url.clone()),
        ..Options::default()
    })
    .await;
    let owner = second.client();
    second.sign_in(&owner, "owner@example.test").await;
    let path = format!("{}/{}/test", b.keys_path(), b.key("First").id);
    let r = second.post_form(&owner, &path, &[]).await;
    let page = follow(&second, &owner, r).await;
    assert!(page.contains("The provider accepted the key."), "{page}");
    assert_eq!(second.provider.keys_seen(), vec![FIRST.to_owned()]);
}

#[tokio::test]
async fn byok_a_ciphertext_copied_to_another_row_or_provider_does_not_open() {
    let b = with_three_keys().await;
    let (first, second) = (b.key("First"), b.key("Second"));
    let global = b
        .all_keys()
        .into_iter()
        .find(|k| k.scope == Scope::Global)
        .expect("global");
    let clean = b.app.run_cli(&["check"], &[]);
    assert!(clean.status.success(), "{}", stdout(&clean));

    let mut conn = b.app.db();
    diesel::update(provider_keys::table.find(&second.id))
        .set(provider_keys::sealed.eq(first.sealed.clone()))
        .execute(&mut conn)
        .expect("copy ciphertext");
    diesel::update(provider_keys::table.find(&global.id))
        .set(provider_keys::provider.eq("anthropic"))
        .execute(&mut conn)
        .expect("move to another provider");

    let out = b.app.run_cli(&["check"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("2 CANNOT be opened"), "{text}");
    assert!(
        text.contains(second.id.as_str()) && text.contains(global.id.as_str()),
        "{text}"
    );
    assert!(
        !text.contains(first.id.as_str()),
        "the original still opens"
    );
    for secret in [GLOBAL, FIRST, SECOND] {
        assert!(!text.contains(secret));
    }

    // Through the app: "key unavailable", and nothing is sent upstream.
    b.app.provider.clear();
    let r = b.key_action(&b.owner, &second.id, "test", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = follow(&b.app, &b.owner, r).await;
    assert!(page.contains("Key unavailable"), "{page}");
    assert!(b.app.provider.requests().is_empty());
}

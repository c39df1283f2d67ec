//! The keyed audit chain against someone who can write the database but does not hold the
//! master keys: editing an event and recomputing every SHA-256 the old way, reordering
//! events, cutting the tail and rewinding the head, passing keyed events off as the unkeyed
//! ones from before keying. And what must keep working: events from before the chain was
//! keyed, and master-key rotation (old keys kept, or retired).

use diesel::prelude::*;
use keyhold::db::models::AuditRow;
use keyhold::db::schema::{audit_chain, audit_events};
use keyhold::domain::audit::{ChainedFields, GENESIS, chain_hash};

use crate::helpers::*;
use crate::process::{MASTER_KEY_V2, create_user_keyed};

fn all_events(app: &TestApp) -> Vec<AuditRow> {
    audit_events::table
        .order(audit_events::id.asc())
        .select(AuditRow::as_select())
        .load(&mut app.db())
        .expect("load audit events")
}

fn exec(app: &TestApp, sql: &str) {
    diesel::sql_query(sql)
        .execute(&mut app.db())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// An app whose log holds exactly five events (user.created for five users).
async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    for i in 1..=5 {
        app.create_user(&format!("u{i}@example.test"), false);
    }
    assert_eq!(all_events(&app).len(), 5);
    app
}

/// `keyhold audit verify` with the app's environment plus `extra`: (passed, output).
fn verify_with(app: &TestApp, extra: &[(&str, &str)]) -> (bool, String) {
    let out = app.run_cli(&["audit", "verify"], extra);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn verify(app: &TestApp) -> (bool, String) {
    verify_with(app, &[])
}

/// What an attacker with write access does after changing rows: recomputes every event's
/// SHA-256 link from the first one, the way the chain was computed before it was keyed,
/// and points the head at the new last link. Leaves MAC columns as they are.
fn rechain_the_old_way(app: &TestApp) {
    let mut conn = app.db();
    let mut prev = GENESIS.to_owned();
    let mut last_id = 0;
    for row in all_events(app) {
        let hash = chain_hash(
            &prev,
            &ChainedFields {
                id: row.id,
                at: row.at,
                actor_id: row.actor_id.as_deref(),
                actor_email: row.actor_email.as_deref(),
                ip: row.ip.as_deref(),
                workspace_id: row.workspace_id.as_deref(),
                action: &row.action,
                target: row.target.as_deref(),
                details: &row.details,
            },
        );
        diesel::update(audit_events::table.find(row.id))
            .set((
                audit_events::prev_hash.eq(&prev),
                audit_events::hash.eq(&hash),
            ))
            .execute(&mut conn)
            .expect("rewrite link");
        prev = hash;
        last_id = row.id;
    }
    diesel::update(audit_chain::table.find(1))
        .set((
            audit_chain::last_id.eq(last_id),
            audit_chain::last_hash.eq(&prev),
        ))
        .execute(&mut conn)
        .expect("rewrite head");
}

#[tokio::test]
async fn audit_verify_fails_when_an_event_is_edited_and_every_sha256_recomputed() {
    let app = seeded().await;
    let (ok, text) = verify(&app);
    assert!(ok, "{text}");

    // Act: the attack the plain chain could not see.
    exec(
        &app,
        "UPDATE audit_events SET details = '{\"is_admin\":true}' WHERE id = 3",
    );
    rechain_the_old_way(&app);

    // Assert
    let (ok, text) = verify(&app);
    assert!(!ok, "a recomputed chain must not pass: {text}");
    assert!(text.contains("event 3"), "{text}");

    // Passing every event off as one from before keying does not help either: where the
    // keyed part begins is under the head's MAC.
    exec(
        &app,
        "UPDATE audit_events SET key_version = NULL, mac = NULL",
    );
    exec(&app, "UPDATE audit_chain SET legacy_until = last_id");
    let (ok, text) = verify(&app);
    assert!(!ok, "unkeyed look-alikes must not pass: {text}");
    exec(
        &app,
        "UPDATE audit_chain SET legacy_until = NULL, key_version = NULL, mac = NULL, sealed_at = NULL",
    );
    let (ok, text) = verify(&app);
    assert!(!ok, "an unsealed head must not pass: {text}");
    assert!(text.contains("not sealed"), "{text}");
}

#[tokio::test]
async fn audit_verify_fails_when_two_events_swap_places() {
    let app = seeded().await;

    // Act: events 2 and 3 trade ids, then the links are recomputed.
    exec(&app, "UPDATE audit_events SET id = -2 WHERE id = 2");
    exec(&app, "UPDATE audit_events SET id = 2 WHERE id = 3");
    exec(&app, "UPDATE audit_events SET id = 3 WHERE id = -2");
    rechain_the_old_way(&app);

    // Assert
    let (ok, text) = verify(&app);
    assert!(!ok, "reordered events must not pass: {text}");
    assert!(text.contains("event 2"), "{text}");
}

#[tokio::test]
async fn audit_verify_fails_when_the_tail_is_cut_and_the_head_rewound() {
    let app = seeded().await;

    // Act: the last two events go, and the head is pointed at the new last one.
    exec(&app, "DELETE FROM audit_events WHERE id > 3");
    let third = all_events(&app).pop().expect("event 3");
    diesel::update(audit_chain::table.find(1))
        .set((
            audit_chain::last_id.eq(third.id),
            audit_chain::last_hash.eq(&third.hash),
        ))
        .execute(&mut app.db())
        .expect("rewind head");

    // Assert
    let (ok, text) = verify(&app);
    assert!(!ok, "a cut tail must not pass: {text}");
    assert!(text.contains("head"), "{text}");

    // Nothing is appended to a head that does not verify (that would launder the cut).
    let before = all_events(&app).len();
    let c = app.client();
    let r = app.sign_in_with(&c, "u1@example.test", PASSWORD).await;
    assert_eq!(r.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(all_events(&app).len(), before);
}

/// Undoes the keyed-chain migration, leaving the database as it was before the upgrade.
fn downgrade_to_unkeyed(app: &TestApp) {
    for stmt in [
        "ALTER TABLE audit_chain DROP COLUMN mac",
        "ALTER TABLE audit_chain DROP COLUMN sealed_at",
        "ALTER TABLE audit_chain DROP COLUMN legacy_until",
        "ALTER TABLE audit_chain DROP COLUMN key_version",
        "ALTER TABLE audit_events DROP COLUMN mac",
        "ALTER TABLE audit_events DROP COLUMN key_version",
        "DELETE FROM __diesel_schema_migrations WHERE version LIKE '%000012'",
    ] {
        exec(app, stmt);
    }
}

#[tokio::test]
async fn events_from_before_keying_still_verify_and_no_unkeyed_event_may_follow_a_keyed_one() {
    // Arrange: three events written by the unkeyed Keyhold (same links, no MACs).
    let app = TestApp::spawn().await;
    for i in 1..=3 {
        app.create_user(&format!("old{i}@example.test"), false);
    }
    downgrade_to_unkeyed(&app);

    // Act: the upgrade (the migration seals the head over the old events), then new events.
    let out = app.run_cli(&["migrate"], &[]);
    assert!(out.status.success(), "{out:?}");
    let (ok, text) = verify(&app);
    assert!(ok, "{text}");
    assert!(text.contains("events 1–3 predate keying"), "{text}");
    for i in 4..=5 {
        app.create_user(&format!("new{i}@example.test"), false);
    }

    // Assert: old events unkeyed, new ones keyed, all verified.
    let rows = all_events(&app);
    assert!(rows[..3].iter().all(|r| r.mac.is_none()));
    assert!(
        rows[3..]
            .iter()
            .all(|r| r.mac.is_some() && r.key_version.as_deref() == Some("v1"))
    );
    let (ok, text) = verify(&app);
    assert!(ok, "{text}");
    assert!(text.contains("5 events"), "{text}");

    // An event appended in the old format after keyed ones fails, even with its link right.
    let last = rows.last().expect("event 5");
    let details = "{}";
    let forged = chain_hash(
        &last.hash,
        &ChainedFields {
            id: 6,
            at: last.at,
            actor_id: None,
            actor_email: Some("cli"),
            ip: None,
            workspace_id: None,
            action: "user.created",
            target: Some("ghost@example.test"),
            details,
        },
    );
    exec(
        &app,
        &format!(
            "INSERT INTO audit_events (id, at, actor_email, action, target, details, prev_hash, hash) \
             VALUES (6, {}, 'cli', 'user.created', 'ghost@example.test', '{details}', '{}', '{forged}')",
            last.at, last.hash
        ),
    );
    exec(
        &app,
        &format!("UPDATE audit_chain SET last_id = 6, last_hash = '{forged}'"),
    );
    let (ok, text) = verify(&app);
    assert!(!ok, "{text}");

    // So does a keyed event stripped of its MAC.
    exec(&app, "DELETE FROM audit_events WHERE id = 6");
    exec(
        &app,
        &format!(
            "UPDATE audit_chain SET last_id = 5, last_hash = '{}'",
            last.hash
        ),
    );
    exec(
        &app,
        "UPDATE audit_events SET key_version = NULL, mac = NULL WHERE id = 4",
    );
    let (ok, text) = verify(&app);
    assert!(!ok, "{text}");
    assert!(text.contains("event 4"), "{text}");
}

#[tokio::test]
async fn audit_verify_keeps_passing_across_a_master_key_rotation() {
    // Arrange: events under v1.
    let app = seeded().await;
    let rotated = format!("{MASTER_KEY_V2},{MASTER_KEYS}");
    let ring = [("KEYHOLD_MASTER_KEYS", rotated.as_str())];

    // Act: rotate to v2, then more events under v2.
    let out = app.run_cli(&["rotate-master-key"], &ring);
    assert!(out.status.success(), "{out:?}");
    let keyring = keyhold::domain::vault::Keyring::parse(&rotated).expect("ring");
    for i in 6..=7 {
        create_user_keyed(
            &mut app.db(),
            &keyring,
            &format!("u{i}@example.test"),
            false,
        );
    }

    // Assert: each event records its master-key version; both verify with both keys.
    let versions: Vec<Option<String>> = all_events(&app)
        .into_iter()
        .map(|r| r.key_version)
        .collect();
    assert_eq!(versions[..5], vec![Some("v1".to_owned()); 5][..]);
    assert_eq!(versions[5..], vec![Some("v2".to_owned()); 2][..]);
    let (ok, text) = verify_with(&app, &ring);
    assert!(ok, "{text}");
    assert!(text.contains("7 events"), "{text}");

    // With v1 retired the head (under v2) still pins every earlier link.
    let (ok, text) = verify_with(&app, &[("KEYHOLD_MASTER_KEYS", MASTER_KEY_V2)]);
    assert!(ok, "{text}");
    assert!(text.contains("retired master keys (v1)"), "{text}");
    // Without v2 nothing can be said, and it is not called tampering.
    let (ok, text) = verify(&app);
    assert!(!ok, "{text}");
    assert!(text.contains("cannot be verified"), "{text}");
    assert!(!text.contains("TAMPERED"), "{text}");

    // Retired or not, an edit is still caught.
    exec(
        &app,
        "UPDATE audit_events SET details = '{\"is_admin\":true}' WHERE id = 2",
    );
    rechain_the_old_way(&app);
    let (ok, text) = verify_with(&app, &[("KEYHOLD_MASTER_KEYS", MASTER_KEY_V2)]);
    assert!(!ok, "{text}");
}

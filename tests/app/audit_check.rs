//! The chain's state on the admin's audit page comes from a background check (every
//! `KEYHOLD_AUDIT_CHECK_SECS`; the harness sets 1 s): a tampered event shows as broken
//! within seconds, an untampered log as verified, and a view only reads what the last check
//! recorded: it never writes, and a forged record is called out.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyhold::db::Backend;
use keyhold::db::schema::{audit_checkpoint, audit_events};
use reqwest::StatusCode;

use crate::helpers::*;

/// How long a test waits for the background check (ten rounds of the harness's 1 s).
const WITHIN: Duration = Duration::from_secs(10);

/// The chain's state as the admin's page words it: its title, then its note.
fn chain_state(html: &str) -> String {
    let start = html.find("id=\"chain-state\"").expect("the chain's state");
    let rest = &html[start..];
    let inner = &rest[rest.find('>').expect("tag end") + 1..rest.find("</div>").expect("end")];
    strip_tags(&inner.replace("</p>", "</p> "))
}

async fn admin_page(app: &TestApp, admin: &reqwest::Client) -> String {
    let (status, body) = app.get_html(admin, "/admin/audit").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Reloads the admin's page until the chain's state starts with `prefix` (at most
/// [`WITHIN`]); returns the whole page.
async fn page_says(app: &TestApp, admin: &reqwest::Client, prefix: &str) -> String {
    let deadline = Instant::now() + WITHIN;
    loop {
        let body = admin_page(app, admin).await;
        let state = chain_state(&body);
        if state.starts_with(prefix) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "after {WITHIN:?} the page still says {state:?}, not {prefix:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn last_event(app: &TestApp) -> i64 {
    audit_events::table
        .select(diesel::dsl::max(audit_events::id))
        .get_result::<Option<i64>>(&mut app.db())
        .expect("max id")
        .expect("events")
}

/// The stored checkpoint row, every column.
type CheckpointRow = (
    i64,
    String,
    i64,
    i64,
    String,
    String,
    i64,
    String,
    i64,
    String,
);

fn checkpoint(app: &TestApp) -> CheckpointRow {
    audit_checkpoint::table
        .find(1)
        .select((
            audit_checkpoint::verified_id,
            audit_checkpoint::verified_hash,
            audit_checkpoint::verified_at,
            audit_checkpoint::swept_id,
            audit_checkpoint::key_version,
            audit_checkpoint::mac,
            audit_checkpoint::checked_at,
            audit_checkpoint::outcome,
            audit_checkpoint::outcome_id,
            audit_checkpoint::problem,
        ))
        .get_result(&mut app.db())
        .expect("the checkpoint row")
}

/// Waits until a check has been recorded after `after` (Unix seconds); returns its row.
async fn checked_after(app: &TestApp, after: i64) -> CheckpointRow {
    let deadline = Instant::now() + WITHIN;
    loop {
        let row = checkpoint(app);
        if row.6 > after && !row.7.is_empty() {
            return row;
        }
        assert!(Instant::now() < deadline, "no check recorded: {row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An app whose log holds some events, and its admin.
async fn seeded_with(env: &[(&str, &str)]) -> (TestApp, reqwest::Client) {
    let app = TestApp::spawn_with(Options {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    })
    .await;
    for i in 0..5 {
        app.create_user(&format!("user{i}@example.test"), false);
    }
    let a = app.create_user("a@example.test", false);
    app.create_workspace("alpha", &[(&a, "owner")]);
    let (admin, _) = app.user_client("admin@example.test", true).await;
    (app, admin)
}

#[tokio::test]
async fn a_tampered_event_shows_as_broken_within_seconds_and_an_untampered_log_as_verified() {
    let (app, admin) = seeded_with(&[]).await;
    let body = page_says(
        &app,
        &admin,
        &format!("Chain verified up to event {} (written ", last_event(&app)),
    )
    .await;
    let state = chain_state(&body);
    assert!(state.contains(", checked "), "{state}");
    assert!(
        state.contains(" ago.") || state.contains("just now."),
        "{state}"
    );
    assert!(!body.contains("callout-bad"), "{state}");

    // New events are verified by the next checks, from the stored checkpoint.
    app.create_user("later@example.test", false);
    page_says(
        &app,
        &admin,
        &format!("Chain verified up to event {} (", last_event(&app)),
    )
    .await;

    // An old event, already verified, edited directly in the database.
    diesel::update(audit_events::table.find(3))
        .set(audit_events::details.eq("{\"is_admin\":true}"))
        .execute(&mut app.db())
        .expect("tamper");
    let body = page_says(
        &app,
        &admin,
        "The chain is broken at event 3: event 3 was altered.",
    )
    .await;
    assert!(body.contains("callout callout-bad"));
    assert!(
        chain_state(&body).contains("keyhold audit verify"),
        "{}",
        chain_state(&body)
    );
    // It stays broken through the next checks: nothing moves the checkpoint past it.
    let row = checkpoint(&app);
    let later = checked_after(&app, row.6).await;
    assert_eq!((later.7.as_str(), later.8), ("broken", 3), "{later:?}");
    assert_eq!(later.0, row.0, "the checkpoint stays where it was");
    let body = admin_page(&app, &admin).await;
    assert!(chain_state(&body).starts_with("The chain is broken at event 3"));
    // Owners do not get the chain's state.
    let a = app.client();
    app.sign_in(&a, "a@example.test").await;
    let (status, body) = app.get_html(&a, "/w/alpha/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("chain-state"));
}

#[tokio::test]
async fn the_newest_event_edited_shows_as_broken() {
    let (app, admin) = seeded_with(&[]).await;
    let last = last_event(&app);
    diesel::update(audit_events::table.find(last))
        .set(audit_events::ip.eq("127.0.0.2"))
        .execute(&mut app.db())
        .expect("tamper");
    page_says(
        &app,
        &admin,
        &format!("The chain is broken at event {last}"),
    )
    .await;
}

#[tokio::test]
async fn a_view_of_the_audit_page_reads_the_checkpoint_and_never_writes_it() {
    // One check at start, then none for an hour: only a view could change the row.
    let (app, admin) = seeded_with(&[("KEYHOLD_AUDIT_CHECK_SECS", "3600")]).await;
    let before = checked_after(&app, 0).await;
    for _ in 0..3 {
        admin_page(&app, &admin).await;
    }
    assert_eq!(checkpoint(&app), before, "a GET must not write");
    // What the page shows is what that check recorded, not a walk of today's log: the
    // events written since are not verified by viewing.
    let state = chain_state(&admin_page(&app, &admin).await);
    assert!(
        !state.starts_with(&format!("Chain verified up to event {}", last_event(&app))),
        "{state}"
    );
}

#[tokio::test]
async fn a_forged_record_of_the_last_check_is_called_out() {
    let (app, admin) = seeded_with(&[("KEYHOLD_AUDIT_CHECK_SECS", "3600")]).await;
    let before = checked_after(&app, 0).await;
    // Someone who can write the database but lacks the master keys claims a later check.
    diesel::update(audit_checkpoint::table.find(1))
        .set((
            audit_checkpoint::verified_id.eq(before.0 + 1_000),
            audit_checkpoint::checked_at.eq(before.6 + 1),
        ))
        .execute(&mut app.db())
        .expect("forge");
    let body = admin_page(&app, &admin).await;
    assert!(
        chain_state(&body)
            .starts_with("The record of the last check of the chain was altered in the database."),
        "{}",
        chain_state(&body)
    );
    assert!(body.contains("callout callout-bad"));
}

#[tokio::test]
async fn on_postgresql_one_instance_checks_at_a_time_and_every_instance_shows_the_result() {
    let (app, admin) = seeded_with(&[]).await;
    if app.backend != Backend::Postgres {
        return;
    }
    let sibling = app.spawn_sibling().await;
    let (other_admin, _) = sibling.user_client("admin2@example.test", true).await;
    let last = last_event(&app);
    page_says(
        &sibling,
        &other_admin,
        &format!("Chain verified up to event {last} ("),
    )
    .await;

    // While the check's lock is held elsewhere, neither instance checks.
    use diesel::connection::SimpleConnection;
    let mut holder = app.db();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            keyhold::services::audit_checkpoint::CHECK_LOCK
        ))
        .expect("take the check's lock");
    let held_at = checkpoint(&app).6;
    app.create_user("later@example.test", false);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let row = checkpoint(&app);
    assert_eq!(row.0, last, "no check ran while the lock was held: {row:?}");
    assert_eq!(row.6, held_at, "{row:?}");
    holder.batch_execute("COMMIT").expect("release");

    let last = last_event(&app);
    page_says(
        &app,
        &admin,
        &format!("Chain verified up to event {last} ("),
    )
    .await;
    page_says(
        &sibling,
        &other_admin,
        &format!("Chain verified up to event {last} ("),
    )
    .await;
}

//! Faults: `kill -9` in the middle of `keyhold rotate-master-key`, and hanging providers
//! while people use the pages.

use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyhold::db::DbConn;
use keyhold::db::schema::{provider_keys, usage_events};
use keyhold::services::{api_tokens, audit::Actor};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{MASTER_KEYS, Options, TestApp};
use crate::process::{MASTER_KEY_V2, Site, output_text as text};
use crate::support::mock_provider::Behavior;

fn sealed_count(conn: &mut DbConn, under: Option<&str>) -> i64 {
    let q = provider_keys::table
        .filter(provider_keys::sealed.is_not_null())
        .into_boxed();
    let q = match under {
        Some(id) => q.filter(provider_keys::master_key_id.eq(id.to_owned())),
        None => q,
    };
    q.count().get_result(conn).expect("count keys")
}

/// SPEC §5: "a crash loses nothing (the next run picks up what still names an old key)".
#[test]
fn a_rotation_killed_midway_resumes_and_every_key_opens() {
    let started = Instant::now();
    let site = Site::new();
    let out = site.cli(
        &[
            "seed-demo",
            "--keys",
            "10000",
            "--workspaces",
            "50",
            "--audit",
            "0",
        ],
        &[],
    );
    assert!(out.status.success(), "seed-demo: {}", text(&out));
    let mut conn = site.conn();
    let total = sealed_count(&mut conn, None);
    assert!(total >= 10_000, "{total} keys seeded");
    assert_eq!(sealed_count(&mut conn, Some("v1")), total);
    let seeded = started.elapsed();

    // Rotate to v2, and kill -9 the command once some but not all keys are re-sealed.
    let both = format!("{MASTER_KEY_V2},{MASTER_KEYS}");
    let ring = [("KEYHOLD_MASTER_KEYS", both.as_str())];
    let mut child = site
        .command(&["rotate-master-key"], &ring)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the rotation");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if sealed_count(&mut conn, Some("v2")) > 0 {
            break;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("the rotation ended ({status}) before a batch could be seen");
        }
        assert!(Instant::now() < deadline, "no key re-sealed within 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill -9 the rotation");
    let status = child.wait().expect("reap");
    assert!(!status.success(), "killed, not finished: {status}");
    let v2_at_kill = sealed_count(&mut conn, Some("v2"));
    assert!(
        v2_at_kill > 0 && v2_at_kill < total,
        "killed midway: {v2_at_kill} of {total} re-sealed"
    );
    assert_eq!(
        sealed_count(&mut conn, Some("v1")) + v2_at_kill,
        total,
        "every key is under v1 or v2, none half-written"
    );
    // Mixed state: the old ring alone cannot open the re-sealed keys...
    let out = site.cli(&["check"], &[]);
    assert!(!out.status.success(), "check with v1 only: {}", text(&out));
    // ...both together open everything.
    let out = site.cli(&["check"], &ring);
    assert!(out.status.success(), "check mid-rotation: {}", text(&out));

    // The rerun finishes the job.
    let out = site.cli(&["rotate-master-key"], &ring);
    assert!(out.status.success(), "rerun: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Re-sealed {} key(s) under v2", total - v2_at_kill)),
        "the rerun re-seals exactly the rest: {stdout}"
    );
    assert_eq!(
        sealed_count(&mut conn, Some("v2")),
        total,
        "every key under v2"
    );

    // Every secret opens with v2 alone (v1 can be retired), and the audit chain holds.
    let v2_only = [("KEYHOLD_MASTER_KEYS", MASTER_KEY_V2)];
    let out = site.cli(&["check"], &v2_only);
    assert!(out.status.success(), "check with v2 only: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("Stored keys: ok ({total} open)")),
        "{}",
        text(&out)
    );
    let out = site.cli(&["audit", "verify"], &v2_only);
    assert!(out.status.success(), "audit verify: {}", text(&out));
    // A third run has nothing left to do.
    let out = site.cli(&["rotate-master-key"], &v2_only);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Re-sealed 0 key(s)"),
        "{}",
        text(&out)
    );
    eprintln!(
        "rotation kill test: seeded in {seeded:?}, {v2_at_kill} of {total} re-sealed at the kill, all in {:?}",
        started.elapsed()
    );
}

const HANG_KEY: &str = "sk-hanging-provider-key-0001";
const CALLS: usize = 20;

/// A hanging provider holds only its own calls: the pages stay fast while 20 API calls
/// wait for it, and each call ends with a clean `upstream_timeout` error at the first-byte
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hanging_upstreams_leave_the_pages_responsive() {
    let first_byte = Duration::from_secs(3);
    let app = TestApp::spawn_with(Options {
        gateway: Some(keyhold::gateway::Limits {
            first_byte,
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    let owner = app.create_user("owner@example.test", false);
    let (ws_id, _) = app.create_workspace("acme", &[(&owner, "owner")]);
    let r = app
        .post_form(
            &admin,
            "/admin/integrations/openai",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
                ("api_key", HANG_KEY),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, token) = api_tokens::create(
        &mut app.db(),
        &app.keyring(),
        &Actor::cli(),
        &crate::helpers::id(&ws_id),
        "CI",
    )
    .expect("token");
    app.provider.set_behavior(HANG_KEY, Behavior::Hang);

    let api = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let begun = Instant::now();
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let (api, url, token) = (api.clone(), app.url(""), token.clone());
        calls.push(tokio::spawn(async move {
            let stream = i % 4 == 1;
            let anthropic = i % 4 >= 2;
            let req = if anthropic {
                api.post(format!("{url}/v1/messages"))
                    .header("x-api-key", &token)
                    .header("anthropic-version", "2023-06-01")
                    .json(
                        &json!({"model": "gpt-4o-mini", "max_tokens": 16, "stream": stream,
                                  "messages": [{"role": "user", "content": "hi"}]}),
                    )
            } else {
                api.post(format!("{url}/v1/chat/completions"))
                    .bearer_auth(&token)
                    .json(&json!({"model": "gpt-4o-mini", "stream": stream,
                                  "messages": [{"role": "user", "content": "hi"}]}))
            };
            let t = Instant::now();
            let r = req.send().await.expect("an answer");
            let status = r.status();
            let body: Value = r.json().await.unwrap_or_default();
            (i, t.elapsed(), status, body)
        }));
    }

    // Meanwhile: a signed-in page and /healthz, again and again.
    let mut page_times = Vec::new();
    let mut health_times = Vec::new();
    while !calls.iter().all(|c| c.is_finished()) {
        let t = Instant::now();
        let r = app.get(&admin, "/admin/integrations").await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "the page answers during the hang"
        );
        let _ = r.bytes().await;
        page_times.push(t.elapsed());
        let t = Instant::now();
        let r = api.get(app.url("/healthz")).send().await.expect("healthz");
        assert_eq!(r.status(), StatusCode::OK);
        health_times.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            begun.elapsed() < first_byte * 4,
            "the calls did not end near the first-byte limit"
        );
    }
    let slowest_page = page_times.iter().max().copied().unwrap_or_default();
    let slowest_health = health_times.iter().max().copied().unwrap_or_default();
    eprintln!(
        "during {CALLS} hanging calls: {} page loads, slowest {slowest_page:?}; slowest /healthz {slowest_health:?}",
        page_times.len()
    );
    assert!(
        page_times.len() >= 10,
        "the page was loaded throughout the hang ({} times)",
        page_times.len()
    );
    assert!(
        slowest_page < Duration::from_secs(1),
        "a signed-in page took {slowest_page:?} while providers hung"
    );
    assert!(
        slowest_health < Duration::from_secs(1),
        "{slowest_health:?}"
    );

    for call in calls {
        let (i, took, status, body) = call.await.expect("call task");
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "call {i}: {body}");
        assert_eq!(
            body["error"]["code"], "upstream_timeout",
            "call {i}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "call {i}: {body}"
        );
        assert!(
            took >= first_byte - Duration::from_millis(100)
                && took < first_byte + Duration::from_secs(3),
            "call {i} ended after {took:?}"
        );
    }

    // Every call was accounted for, and the provider recovering is felt at once.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n: i64 = usage_events::table
            .filter(usage_events::error_code.eq("upstream_timeout"))
            .count()
            .get_result(&mut app.db())
            .expect("usage");
        if n == CALLS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {CALLS} timeouts recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.provider.set_behavior(HANG_KEY, Behavior::Ok);
    let t = Instant::now();
    let r = api
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// The clock steps back (NTP, a restored VM): new audit events still come after the ones
/// before them in time, so the date filter, which relies on ids following time, misses
/// nothing. (Moving `at` breaks the hash chain; this test does not verify it.)
#[tokio::test]
async fn audit_events_keep_time_order_when_the_clock_steps_back() {
    use keyhold::db::schema::audit_events;
    let app = TestApp::spawn().await;
    let (admin, _) = app.user_client("admin@example.test", true).await;
    // The events so far were written "an hour from now", before the clock went back.
    let ahead = keyhold::db::now() + 3600;
    diesel::update(audit_events::table)
        .set(audit_events::at.eq(ahead))
        .execute(&mut app.db())
        .expect("move the clock");
    let last_before: i64 = audit_events::table
        .select(diesel::dsl::max(audit_events::id))
        .first::<Option<i64>>(&mut app.db())
        .expect("max id")
        .expect("events");

    app.create_user("later@example.test", false);
    let new: Vec<(i64, i64)> = audit_events::table
        .filter(audit_events::id.gt(last_before))
        .select((audit_events::id, audit_events::at))
        .load(&mut app.db())
        .expect("new events");
    assert!(!new.is_empty());
    assert!(
        new.iter().all(|(_, at)| *at >= ahead),
        "a new event went back in time: {new:?} < {ahead}"
    );

    // Filtering on the day of the "future" events finds the new one too.
    let day = time::OffsetDateTime::from_unix_timestamp(ahead)
        .expect("time")
        .date()
        .to_string();
    let (status, body) = app
        .get_html(&admin, &format!("/admin/audit?from={day}&to={day}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("later@example.test"), "{body}");
}

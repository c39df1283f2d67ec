//! Usage events while the database cannot take them (issue 18): cached API calls keep
//! answering, their usage waits in memory up to `KEYHOLD_USAGE_QUEUE_MAX` events, events
//! past the bound are dropped and counted in `/metrics`, and the waiting ones are written
//! once the database takes writes again. The database is held by a test transaction that
//! locks the usage table (both backends).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use keyhold::db::Backend;
use keyhold::db::schema::usage_events;
use reqwest::StatusCode;

use crate::gateway::Gw;
use crate::helpers::Options;

fn count_rows(gw: &Gw) -> i64 {
    usage_events::table
        .count()
        .get_result(&mut gw.app.db())
        .expect("count usage rows")
}

/// The value of `name` in `/metrics`.
async fn metric(gw: &Gw, name: &str) -> i64 {
    let page = gw
        .http
        .get(gw.app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{page}"))
        .parse()
        .expect("a number")
}

/// Waits (up to 5 s) until `name` in `/metrics` is `want`; the last value seen.
async fn metric_becomes(gw: &Gw, name: &str, want: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = metric(gw, name).await;
        if v == want || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn usage_waits_for_a_locked_database_up_to_its_bound_and_the_rest_is_counted_as_dropped() {
    let gw = Gw::start_with(Options {
        env: vec![("KEYHOLD_USAGE_QUEUE_MAX".into(), "3".into())],
        ..Options::default()
    })
    .await;
    // A first call loads the token and the route into memory and is written.
    assert_eq!(
        gw.chat(&gw.token, "gpt-4o-mini").await.status(),
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_rows(&gw) < 1 {
        assert!(Instant::now() < deadline, "the first call's usage row");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&gw, "keyhold_usage_events_queue_limit").await, 3);

    // Another connection holds the usage table: the writer cannot write.
    let mut lock = gw.app.db();
    match gw.app.backend {
        Backend::Sqlite => lock.batch_execute("BEGIN IMMEDIATE"),
        Backend::Postgres => lock.batch_execute("BEGIN; LOCK TABLE usage_events IN EXCLUSIVE MODE"),
    }
    .expect("hold the usage table");

    // Five calls answer at once; three events wait, two are dropped.
    for i in 0..5 {
        let t0 = Instant::now();
        let r = gw.chat(&gw.token, "gpt-4o-mini").await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "call {i} while the table is held"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "call {i} waited {:?} for the usage writer",
            t0.elapsed()
        );
    }
    assert_eq!(
        metric_becomes(&gw, "keyhold_usage_events_queued", 3).await,
        3
    );
    assert_eq!(
        metric_becomes(&gw, "keyhold_usage_events_dropped_total", 2).await,
        2
    );
    assert_eq!(
        count_rows(&gw),
        1,
        "nothing written while the table is held"
    );

    // Released: the three waiting events are written, the dropped ones are not.
    lock.batch_execute("ROLLBACK")
        .expect("release the usage table");
    drop(lock);
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_rows(&gw) < 4 {
        assert!(
            Instant::now() < deadline,
            "waiting events written after the release: {} rows",
            count_rows(&gw)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric_becomes(&gw, "keyhold_usage_events_queued", 0).await,
        0
    );
    assert_eq!(metric(&gw, "keyhold_usage_events_dropped_total").await, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_rows(&gw), 4, "one row per kept event, none twice");
}

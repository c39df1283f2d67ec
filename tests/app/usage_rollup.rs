//! The daily usage rollup (`usage_daily`) the usage pages read: kept by the usage writer as
//! calls are made, and built by its migration from the events written before it existed.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use keyhold::db::schema::{usage_daily, usage_events, workspaces};
use keyhold::db::types::UsageSource;
use keyhold::db::{self, Backend, DbConn};
use keyhold::services::usage_report::{self, DayUsage, ProviderUsage};
use reqwest::StatusCode;

use crate::gateway::*;
use crate::process::FreshDb;
use crate::usage_pages::{provider_row, select, table};

/// (workspace, day, provider, source).
type Key = (String, i64, String, String);
/// (requests, errors, tokens, latency_ms).
type Sums = (i64, i64, i64, i64);

#[derive(Queryable)]
struct Event {
    workspace_id: String,
    at: i64,
    provider: String,
    source: String,
    status: i32,
    tokens: i64,
    latency_ms: i64,
}

/// The daily sums computed from the raw events, the way the reports did before the rollup.
fn sums_of_events(conn: &mut DbConn) -> BTreeMap<Key, Sums> {
    let events: Vec<Event> = usage_events::table
        .select((
            usage_events::workspace_id,
            usage_events::at,
            usage_events::provider,
            usage_events::source,
            usage_events::status,
            usage_events::prompt_tokens + usage_events::completion_tokens,
            usage_events::latency_ms,
        ))
        .load(conn)
        .expect("usage events");
    let mut sums: BTreeMap<Key, Sums> = BTreeMap::new();
    for e in events {
        let key = (e.workspace_id, e.at / 86_400, e.provider, e.source);
        let s = sums.entry(key).or_default();
        s.0 += 1;
        s.1 += i64::from(e.status >= 400);
        s.2 += e.tokens;
        s.3 += e.latency_ms;
    }
    sums
}

fn rollup(conn: &mut DbConn) -> BTreeMap<Key, Sums> {
    let rows: Vec<(Key, Sums)> = usage_daily::table
        .select((
            (
                usage_daily::workspace_id,
                usage_daily::day,
                usage_daily::provider,
                usage_daily::source,
            ),
            (
                usage_daily::requests,
                usage_daily::errors,
                usage_daily::tokens,
                usage_daily::latency_ms,
            ),
        ))
        .load(conn)
        .expect("usage_daily rows");
    rows.into_iter().collect()
}

#[tokio::test]
async fn api_calls_are_summed_into_the_daily_rollup_the_usage_pages_read() {
    // Arrange: two platform calls in separate writer batches (the second adds to the row
    // the first created), three on the workspace's own key, one refused.
    let gw = Gw::start().await;
    gw.chat_ok("openai/gpt-4o-mini").await;
    gw.usage(1).await;
    gw.chat_ok("openai/gpt-4o-mini").await;
    gw.usage(2).await;
    gw.add_key("openai", "Own", WS_OPENAI).await;
    for _ in 0..3 {
        gw.chat_ok("openai/gpt-4o-mini").await;
    }
    gw.turn_off("anthropic").await;
    assert_openai_error(
        gw.chat(&gw.token, "claude-3-5-haiku-latest").await,
        StatusCode::FORBIDDEN,
        "provider_disabled",
    )
    .await;
    assert_eq!(gw.usage(6).await.len(), 6);

    // Act
    let mut conn = gw.app.db();
    let rollup = rollup(&mut conn);
    let (_, usage) = gw.app.get_html(&gw.owner, "/w/acme/usage").await;
    let (_, admin) = gw.app.get_html(&gw.admin, "/admin").await;

    // Assert: the rollup is the sum of the events, row for row...
    assert_eq!(rollup, sums_of_events(&mut conn));
    let of = |provider: &str, source: &str| -> Sums {
        let found: Vec<Sums> = rollup
            .iter()
            .filter(|((ws, _, p, s), _)| *ws == gw.ws_id && p == provider && s == source)
            .map(|(_, sums)| *sums)
            .collect();
        assert_eq!(found.len(), 1, "one {provider}/{source} row: {rollup:?}");
        found[0]
    };
    let platform = of("openai", "platform");
    assert_eq!((platform.0, platform.1, platform.2), (2, 0, 14));
    let own = of("openai", "workspace");
    assert_eq!((own.0, own.1, own.2), (3, 0, 21));
    let errors: i64 = rollup.values().map(|s| s.1).sum();
    assert_eq!(errors, 1, "the refused call: {rollup:?}");
    // ...and the pages show it.
    let providers = table(&usage, "#ws-providers");
    let row = |name: &str, source: &str| provider_row(&providers, name, source);
    assert_eq!(row("OpenAI", "Platform key")[2..5], ["2", "0", "14"]);
    assert_eq!(row("OpenAI", "Workspace key")[2..5], ["3", "0", "21"]);
    assert_eq!(
        select(&usage, "#allowance"),
        ["Unlimited: 14 platform tokens used this month"]
    );
    assert_eq!(table(&admin, "#platform-days")[0][1..3], ["2", "3"]);
}

/// 2024-10-04 in days since the Unix epoch; its month began on day 19,997.
const DAY: i64 = 20_000;

#[allow(clippy::too_many_arguments)]
fn raw_event(
    conn: &mut DbConn,
    ws: &str,
    at: i64,
    provider: &str,
    source: &str,
    status: i32,
    tokens: (i64, i64),
    latency_ms: i64,
) {
    diesel::insert_into(usage_events::table)
        .values((
            usage_events::id.eq(uuid::Uuid::new_v4().to_string()),
            usage_events::at.eq(at),
            usage_events::workspace_id.eq(ws),
            usage_events::provider.eq(provider),
            usage_events::model.eq("test-model"),
            usage_events::source.eq(source),
            usage_events::status.eq(status),
            usage_events::latency_ms.eq(latency_ms),
            usage_events::prompt_tokens.eq(tokens.0),
            usage_events::completion_tokens.eq(tokens.1),
        ))
        .execute(conn)
        .expect("a raw usage event");
}

fn workspace(conn: &mut DbConn, id: &str) {
    diesel::insert_into(workspaces::table)
        .values((
            workspaces::id.eq(id),
            workspaces::slug.eq(id),
            workspaces::name.eq(id),
            workspaces::created_at.eq(0_i64),
        ))
        .execute(conn)
        .expect("a workspace");
}

/// Reverts the newest migration (the rollup's) with the migration files themselves.
fn revert_rollup_migration(conn: &mut DbConn, backend: Backend) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        });
    // Later migrations first, newest to oldest, down to the rollup's.
    for _ in 0..40 {
        let source = FileBasedMigrations::from_path(&dir).expect("the migration files");
        let reverted = match conn {
            DbConn::Sqlite(c) => c.revert_last_migration(source).map(|v| v.to_string()),
            DbConn::Postgres(c) => c.revert_last_migration(source).map(|v| v.to_string()),
        }
        .expect("the migrations revert");
        if reverted.ends_with("000006") {
            return reverted;
        }
    }
    panic!("the rollup migration was not found within forty reverts")
}

#[test]
fn the_migration_builds_the_rollup_from_the_events_written_before_it() {
    // Arrange: events written without the rollup (as before the migration), around day
    // and month boundaries, with an error, in two workspaces and outside the window.
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = FreshDb::new(dir.path());
    let backend = Backend::from_url(&fresh.url).expect("backend");
    let mut conn = fresh.conn();
    db::run_migrations(&mut conn).expect("migrations");
    workspace(&mut conn, "ws-a");
    workspace(&mut conn, "ws-b");
    let midnight = DAY * 86_400;
    let now = midnight + 12 * 3_600;
    let c = &mut conn;
    raw_event(c, "ws-a", now, "openai", "platform", 200, (60, 40), 100);
    raw_event(c, "ws-a", now, "openai", "platform", 200, (60, 40), 300);
    raw_event(c, "ws-a", now, "openai", "workspace", 429, (1, 1), 50);
    raw_event(
        c,
        "ws-a",
        midnight,
        "anthropic",
        "platform",
        200,
        (500, 500),
        900,
    );
    raw_event(
        c,
        "ws-a",
        midnight - 1,
        "openai",
        "platform",
        200,
        (10, 0),
        200,
    );
    // Day 19,996 is the last day of the previous month: in the window, not the allowance.
    raw_event(
        c,
        "ws-a",
        19_996 * 86_400,
        "openai",
        "platform",
        200,
        (7, 7),
        200,
    );
    raw_event(
        c,
        "ws-a",
        19_950 * 86_400,
        "openai",
        "platform",
        200,
        (1_000, 0),
        200,
    );
    raw_event(c, "ws-b", now, "openai", "workspace", 200, (5, 5), 200);
    let before =
        usage_report::report(&mut conn, Some(&crate::helpers::id("ws-a")), now).expect("report");
    assert!(
        before.providers.is_empty(),
        "reports read the rollup, not the events: {:?}",
        before.providers
    );

    // Act: the rollup migration again, down and up.
    let reverted = revert_rollup_migration(&mut conn, backend);
    db::run_migrations(&mut conn).expect("the rollup migration re-applies");

    // Assert
    assert!(reverted.ends_with("000006"), "{reverted}");
    assert_eq!(rollup(&mut conn), sums_of_events(&mut conn));
    let ws =
        usage_report::report(&mut conn, Some(&crate::helpers::id("ws-a")), now).expect("report");
    assert_eq!(ws.days.len(), 30);
    assert_eq!(
        ws.days[29],
        DayUsage {
            day: DAY,
            platform_requests: 3,
            platform_tokens: 1_200,
            workspace_requests: 1,
            workspace_tokens: 2,
        }
    );
    assert_eq!(
        (ws.days[28].platform_requests, ws.days[28].platform_tokens),
        (1, 10)
    );
    assert_eq!(
        (ws.days[25].platform_requests, ws.days[25].platform_tokens),
        (1, 14)
    );
    assert_eq!(
        ws.providers,
        [
            ProviderUsage {
                provider: "openai".into(),
                source: UsageSource::read("platform"),
                requests: 4,
                errors: 0,
                tokens: 224,
                avg_latency_ms: 200,
            },
            ProviderUsage {
                provider: "anthropic".into(),
                source: UsageSource::read("platform"),
                requests: 1,
                errors: 0,
                tokens: 1_000,
                avg_latency_ms: 900,
            },
            ProviderUsage {
                provider: "openai".into(),
                source: UsageSource::read("workspace"),
                requests: 1,
                errors: 1,
                tokens: 2,
                avg_latency_ms: 50,
            },
        ]
    );
    let platform = usage_report::report(&mut conn, None, now).expect("report");
    assert_eq!(
        (
            platform.days[29].workspace_requests,
            platform.days[29].workspace_tokens
        ),
        (2, 12)
    );
    let allowance = usage_report::allowance_use(&mut conn, &crate::helpers::id("ws-a"), now)
        .expect("allowance");
    assert_eq!(allowance.used, 1_210, "this month's platform tokens only");
}

//! Usage reports for the usage pages: the last 30 days by day, provider and key source, and
//! the month's platform allowance use. Read from the daily rollup `usage_daily` (kept by the
//! usage writer), so a report costs a few rows per day whatever the number of events.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::DbConn;
use crate::db::month_start;
use crate::db::schema::workspaces;
use crate::db::types::UsageSource;
use crate::domain::ids::WorkspaceId;
use crate::domain::resolution::Source;
use crate::error::Result;

/// How many days a report covers, today included.
pub const DAYS: i64 = 30;
const DAY_SECS: i64 = 86_400;

/// One day's requests and tokens by key source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayUsage {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub platform_requests: i64,
    pub platform_tokens: i64,
    pub workspace_requests: i64,
    pub workspace_tokens: i64,
}

/// Totals of one provider and key source over the report's window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderUsage {
    /// The provider id (`openai`, ...).
    pub provider: String,
    /// The platform's key, the workspace's, or none (no key could answer).
    pub source: UsageSource,
    pub requests: i64,
    /// Requests answered with status 400 or above.
    pub errors: i64,
    pub tokens: i64,
    /// Mean latency in milliseconds (0 without requests).
    pub avg_latency_ms: i64,
}

/// The month-to-date platform tokens of a workspace and its allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowanceUse {
    pub used: i64,
    /// `None` = unlimited.
    pub limit: Option<i64>,
}

/// A usage report: every day of the window (zeros included, oldest first) and the
/// per-provider totals (most requests first).
#[derive(Debug, Clone, Default)]
pub struct UsageReport {
    pub days: Vec<DayUsage>,
    pub providers: Vec<ProviderUsage>,
}

/// One row of the report's query (day × provider × source).
#[derive(QueryableByName)]
struct Bucket {
    #[diesel(sql_type = BigInt)]
    day: i64,
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Text)]
    source: UsageSource,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    errors: i64,
    #[diesel(sql_type = BigInt)]
    tokens: i64,
    #[diesel(sql_type = BigInt)]
    latency_ms: i64,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    tokens: i64,
}

/// The numbered placeholder `n` in this backend's syntax (`?1` on SQLite, `$1` on PostgreSQL).
fn param(conn: &DbConn, n: u8) -> String {
    match conn {
        DbConn::Sqlite(_) => format!("?{n}"),
        DbConn::Postgres(_) => format!("${n}"),
    }
}

// Summed across workspaces for the platform-wide report. SUM is cast because PostgreSQL
// sums a BIGINT into a NUMERIC.
const BUCKETS_SELECT: &str = "SELECT day, provider, source, \
     CAST(SUM(requests) AS BIGINT) AS requests, \
     CAST(SUM(errors) AS BIGINT) AS errors, \
     CAST(SUM(tokens) AS BIGINT) AS tokens, \
     CAST(SUM(latency_ms) AS BIGINT) AS latency_ms \
     FROM usage_daily WHERE ";
const BUCKETS_GROUP: &str = " GROUP BY day, provider, source";

fn load_buckets(
    conn: &mut DbConn,
    workspace_id: Option<&WorkspaceId>,
    first_day: i64,
) -> Result<Vec<Bucket>> {
    let rows = match workspace_id {
        Some(ws) => {
            let sql = format!(
                "{BUCKETS_SELECT}workspace_id = {} AND day >= {}{BUCKETS_GROUP}",
                param(conn, 1),
                param(conn, 2)
            );
            diesel::sql_query(sql)
                .bind::<Text, _>(ws)
                .bind::<BigInt, _>(first_day)
                .load(conn)?
        }
        None => {
            let sql = format!("{BUCKETS_SELECT}day >= {}{BUCKETS_GROUP}", param(conn, 1));
            diesel::sql_query(sql)
                .bind::<BigInt, _>(first_day)
                .load(conn)?
        }
    };
    Ok(rows)
}

/// The last [`DAYS`] days (UTC, today included) of one workspace, or of the whole platform
/// when `workspace_id` is `None`.
pub fn report(
    conn: &mut DbConn,
    workspace_id: Option<&WorkspaceId>,
    now: i64,
) -> Result<UsageReport> {
    let first_day = now.div_euclid(DAY_SECS) - (DAYS - 1);
    let buckets = load_buckets(conn, workspace_id, first_day)?;
    Ok(roll_up(first_day, &buckets))
}

fn roll_up(first_day: i64, buckets: &[Bucket]) -> UsageReport {
    let mut days: Vec<DayUsage> = (0..DAYS)
        .map(|i| DayUsage {
            day: first_day + i,
            ..DayUsage::default()
        })
        .collect();
    let mut providers: Vec<(ProviderUsage, i64)> = Vec::new();
    for b in buckets {
        let slot = usize::try_from(b.day - first_day)
            .ok()
            .and_then(|i| days.get_mut(i));
        if let Some(d) = slot {
            match b.source.0 {
                Some(Source::Platform) => {
                    d.platform_requests += b.requests;
                    d.platform_tokens += b.tokens;
                }
                Some(Source::Workspace) => {
                    d.workspace_requests += b.requests;
                    d.workspace_tokens += b.tokens;
                }
                None => {}
            }
        }
        let i = match providers
            .iter()
            .position(|(p, _)| p.provider == b.provider && p.source == b.source)
        {
            Some(i) => i,
            None => {
                providers.push((
                    ProviderUsage {
                        provider: b.provider.clone(),
                        source: b.source,
                        ..ProviderUsage::default()
                    },
                    0,
                ));
                providers.len() - 1
            }
        };
        let (p, latency_sum) = &mut providers[i];
        p.requests += b.requests;
        p.errors += b.errors;
        p.tokens += b.tokens;
        *latency_sum += b.latency_ms;
    }
    let mut providers: Vec<ProviderUsage> = providers
        .into_iter()
        .map(|(mut p, latency_sum)| {
            if p.requests > 0 {
                p.avg_latency_ms = latency_sum / p.requests;
            }
            p
        })
        .collect();
    providers.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.provider.cmp(&b.provider))
            .then_with(|| a.source.as_str().cmp(b.source.as_str()))
    });
    UsageReport { days, providers }
}

/// Platform-key tokens the workspace used since the start of the current UTC month, and
/// its monthly allowance.
pub fn allowance_use(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    now: i64,
) -> Result<AllowanceUse> {
    let limit: Option<i64> = workspaces::table
        .find(workspace_id)
        .select(workspaces::allowance_tokens)
        .get_result(conn)?;
    // A month starts at midnight UTC, so its days are whole rollup days.
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS tokens \
         FROM usage_daily WHERE workspace_id = {} AND day >= {} AND source = 'platform'",
        param(conn, 1),
        param(conn, 2)
    );
    let used: Total = diesel::sql_query(sql)
        .bind::<Text, _>(workspace_id)
        .bind::<BigInt, _>(month_start(now).div_euclid(DAY_SECS))
        .get_result(conn)?;
    Ok(AllowanceUse {
        used: used.tokens,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(day: i64, provider: &str, source: &str, requests: i64, tokens: i64) -> Bucket {
        Bucket {
            day,
            provider: provider.into(),
            source: UsageSource::read(source),
            requests,
            errors: 1,
            tokens,
            latency_ms: requests * 100,
        }
    }

    #[test]
    fn roll_up_fills_every_day_and_sums_providers_across_days() {
        let buckets = [
            bucket(100, "openai", "platform", 3, 30),
            bucket(100, "openai", "workspace", 2, 20),
            bucket(129, "openai", "platform", 1, 10),
            bucket(120, "anthropic", "none", 4, 0),
            // Outside the window: counted in the provider totals only if the query
            // returned it, never in a day.
            bucket(99, "openai", "platform", 7, 70),
        ];

        let r = roll_up(100, &buckets);

        assert_eq!(r.days.len(), 30);
        assert_eq!(r.days[0].platform_requests, 3);
        assert_eq!(r.days[0].workspace_tokens, 20);
        assert_eq!(r.days[29].platform_tokens, 10);
        assert_eq!(
            r.days[20],
            DayUsage {
                day: 120,
                ..DayUsage::default()
            }
        );
        let openai_platform = r
            .providers
            .iter()
            .find(|p| p.provider == "openai" && p.source == UsageSource(Some(Source::Platform)))
            .expect("an openai/platform row");
        assert_eq!(openai_platform.requests, 11);
        assert_eq!(openai_platform.errors, 3);
        assert_eq!(openai_platform.avg_latency_ms, 100);
        assert_eq!(r.providers[0].requests, 11, "most requests first");
    }
}

//! One batch of usage events into the database, in one transaction: the event rows, their
//! sums into the daily and per-model rollups, and the last use of tokens and keys.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::upsert::excluded;

use super::UsageEvent;
use crate::db::DbConn;
use crate::db::schema::{api_tokens, provider_keys, usage_daily, usage_events, usage_model_daily};
use crate::db::types::UsageSource;
use crate::domain::ids::{KeyId, TokenId, UserId, WorkspaceId, new_id};
use crate::error::Result;

/// One event's row. Absent values are bound as `NULL` rather than written as `DEFAULT` (the
/// nullable columns have no default, so the row is the same): with `DEFAULT`, diesel inserts
/// a SQLite batch one statement at a time and rebuilds the SQL of each; with `NULL` a batch
/// is one multi-row `INSERT` (see [`write_batch`]).
#[derive(Insertable)]
#[diesel(table_name = usage_events)]
#[diesel(treat_none_as_default_value = false)]
struct NewUsage {
    id: String,
    at: i64,
    workspace_id: WorkspaceId,
    token_id: Option<TokenId>,
    user_id: Option<UserId>,
    provider: String,
    model: String,
    source: UsageSource,
    key_id: Option<KeyId>,
    status: i32,
    error_code: Option<String>,
    latency_ms: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
}

/// A batch's contribution to one row of the daily rollup.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = usage_daily)]
struct DailyTotals {
    workspace_id: WorkspaceId,
    day: i64,
    provider: String,
    source: UsageSource,
    requests: i64,
    errors: i64,
    tokens: i64,
    latency_ms: i64,
}

/// Sums the rows into one per (workspace, UTC day, provider, source), in key order: two
/// writers (two instances on one PostgreSQL) then lock shared rollup rows in the same order
/// and cannot deadlock on them.
fn daily_totals(rows: &[NewUsage]) -> Vec<DailyTotals> {
    let mut groups: BTreeMap<(&str, i64, &str, &str), DailyTotals> = BTreeMap::new();
    for r in rows {
        // `at / 86400`, as the migration's backfill computes it.
        let day = r.at / 86_400;
        let t = groups
            .entry((r.workspace_id.as_str(), day, &r.provider, r.source.as_str()))
            .or_insert_with(|| DailyTotals {
                workspace_id: r.workspace_id.clone(),
                day,
                provider: r.provider.clone(),
                source: r.source,
                requests: 0,
                errors: 0,
                tokens: 0,
                latency_ms: 0,
            });
        t.requests += 1;
        t.errors += i64::from(r.status >= 400);
        t.tokens += r.prompt_tokens + r.completion_tokens;
        t.latency_ms += r.latency_ms;
    }
    groups.into_values().collect()
}

/// A batch's contribution to one row of the per-model rollup (what cost is priced from).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = usage_model_daily)]
struct ModelTotals {
    workspace_id: WorkspaceId,
    day: i64,
    provider: String,
    model: String,
    source: UsageSource,
    requests: i64,
    input_tokens: i64,
    output_tokens: i64,
}

/// Sums the rows into one per (workspace, UTC day, provider, model, source), in key order
/// (as [`daily_totals`], for the same reason).
fn model_totals(rows: &[NewUsage]) -> Vec<ModelTotals> {
    let mut groups: BTreeMap<(&str, i64, &str, &str, &str), ModelTotals> = BTreeMap::new();
    for r in rows {
        let day = r.at / 86_400;
        let t = groups
            .entry((
                r.workspace_id.as_str(),
                day,
                &r.provider,
                &r.model,
                r.source.as_str(),
            ))
            .or_insert_with(|| ModelTotals {
                workspace_id: r.workspace_id.clone(),
                day,
                provider: r.provider.clone(),
                model: r.model.clone(),
                source: r.source,
                requests: 0,
                input_tokens: 0,
                output_tokens: 0,
            });
        t.requests += 1;
        t.input_tokens += r.prompt_tokens;
        t.output_tokens += r.completion_tokens;
    }
    groups.into_values().collect()
}

/// Rows per INSERT statement: 14 bound values each, far below SQLite's and PostgreSQL's
/// limits on bound parameters.
const INSERT_ROWS: usize = 100;

/// `rows` cut into runs of `INSERT_ROWS`, then of 64, 32, … 1: a handful of distinct
/// statements whatever the batch size, so each is prepared once and then found in the
/// connection's statement cache (a new row count is a new statement to prepare).
fn statement_sized<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = match rows.len() {
            0 => return None,
            len if len >= INSERT_ROWS => INSERT_ROWS,
            len => 1 << len.ilog2(),
        };
        let (head, rest) = rows.split_at(n);
        rows = rest;
        Some(head)
    })
}

/// Inserts one run of [`statement_sized`] as a fixed-size array: diesel caches the prepared
/// statement of an array insert, while a slice's is prepared anew each time (a 100-row
/// INSERT is 1,400 parameters of SQL to parse: 40 % of the writer's time before).
macro_rules! insert_run {
    ($conn:expr, $rows:expr, $($n:literal)*) => {{
        let rows: &[NewUsage] = $rows;
        $(if let Ok(run) = <&[NewUsage; $n]>::try_from(rows) {
            diesel::insert_into(usage_events::table).values(run).execute($conn)?
        } else)* {
            diesel::insert_into(usage_events::table).values(rows).execute($conn)?
        }
    }};
    ($conn:expr, $rows:expr) => {
        insert_run!($conn, $rows, 100 64 32 16 8 4 2 1)
    };
}
const _: () = assert!(INSERT_ROWS == 100, "insert_run! lists the run lengths");

/// Writes `batch` in one transaction: the events, their sums into the daily rollup, and the
/// last use of the tokens and keys involved.
pub fn write_batch(conn: &mut DbConn, batch: &[UsageEvent]) -> Result<()> {
    let rows: Vec<NewUsage> = batch
        .iter()
        .map(|e| NewUsage {
            id: new_id(),
            at: e.at,
            workspace_id: e.workspace_id.clone(),
            token_id: e.token_id.clone(),
            user_id: e.user_id.clone(),
            provider: e.provider.to_owned(),
            model: e.model.clone(),
            source: e.source.into(),
            key_id: e.key_id.clone(),
            status: i32::from(e.status),
            error_code: e.error_code.map(|c| c.as_str().to_owned()),
            latency_ms: e.latency_ms,
            prompt_tokens: e.usage.input,
            completion_tokens: e.usage.output,
        })
        .collect();
    let daily = daily_totals(&rows);
    let by_model = model_totals(&rows);
    crate::db::write_tx(conn, |c| {
        // Multi-row INSERTs of up to INSERT_ROWS rows, in one transaction. Through the
        // backend's own connection: diesel's multi-backend connection has no batch insert.
        // (Per-row statements cost the gateway ~6 µs of CPU per request at 10k req/s.)
        for chunk in statement_sized(&rows) {
            match c {
                DbConn::Sqlite(s) => insert_run!(s, chunk),
                DbConn::Postgres(p) => insert_run!(p, chunk),
            };
        }
        // Added to the rollup row if it exists (SQLite ≥ 3.24 and PostgreSQL share the
        // syntax; `excluded` is the row this statement would have inserted).
        let add = || {
            (
                usage_daily::requests.eq(usage_daily::requests + excluded(usage_daily::requests)),
                usage_daily::errors.eq(usage_daily::errors + excluded(usage_daily::errors)),
                usage_daily::tokens.eq(usage_daily::tokens + excluded(usage_daily::tokens)),
                usage_daily::latency_ms
                    .eq(usage_daily::latency_ms + excluded(usage_daily::latency_ms)),
            )
        };
        let key = (
            usage_daily::workspace_id,
            usage_daily::day,
            usage_daily::provider,
            usage_daily::source,
        );
        match c {
            // Diesel has no multi-row upsert on SQLite; one row per statement is one
            // statement to prepare, and a batch holds a few groups, not one per event.
            DbConn::Sqlite(s) => {
                for row in &daily {
                    diesel::insert_into(usage_daily::table)
                        .values(row)
                        .on_conflict(key)
                        .do_update()
                        .set(add())
                        .execute(s)?;
                }
            }
            DbConn::Postgres(p) => {
                for chunk in statement_sized(&daily) {
                    diesel::insert_into(usage_daily::table)
                        .values(chunk)
                        .on_conflict(key)
                        .do_update()
                        .set(add())
                        .execute(p)?;
                }
            }
        }
        // The per-model rollup the cost pages price, grouped the same way.
        let add_model = || {
            (
                usage_model_daily::requests
                    .eq(usage_model_daily::requests + excluded(usage_model_daily::requests)),
                usage_model_daily::input_tokens.eq(usage_model_daily::input_tokens
                    + excluded(usage_model_daily::input_tokens)),
                usage_model_daily::output_tokens.eq(usage_model_daily::output_tokens
                    + excluded(usage_model_daily::output_tokens)),
            )
        };
        let model_key = (
            usage_model_daily::workspace_id,
            usage_model_daily::day,
            usage_model_daily::provider,
            usage_model_daily::model,
            usage_model_daily::source,
        );
        match c {
            DbConn::Sqlite(s) => {
                for row in &by_model {
                    diesel::insert_into(usage_model_daily::table)
                        .values(row)
                        .on_conflict(model_key)
                        .do_update()
                        .set(add_model())
                        .execute(s)?;
                }
            }
            DbConn::Postgres(p) => {
                for chunk in statement_sized(&by_model) {
                    diesel::insert_into(usage_model_daily::table)
                        .values(chunk)
                        .on_conflict(model_key)
                        .do_update()
                        .set(add_model())
                        .execute(p)?;
                }
            }
        }
        // Last use of tokens and keys, one update each per batch, in id order (as the
        // rollup rows): two instances writing batches on one PostgreSQL lock the same rows
        // in the same order, so they wait for each other instead of deadlocking.
        let mut tokens: BTreeMap<&str, i64> = BTreeMap::new();
        let mut keys: BTreeMap<&str, i64> = BTreeMap::new();
        for e in batch {
            if let Some(t) = &e.token_id {
                let at = tokens.entry(t).or_insert(e.at);
                *at = (*at).max(e.at);
            }
            if let Some(k) = &e.key_id
                && e.status < 400
            {
                let at = keys.entry(k).or_insert(e.at);
                *at = (*at).max(e.at);
            }
        }
        for (t, at) in tokens {
            diesel::update(api_tokens::table.find(t))
                .set(api_tokens::last_used_at.eq(at))
                .execute(c)?;
        }
        for (k, at) in keys {
            diesel::update(provider_keys::table.find(k))
                .set(provider_keys::last_used_at.eq(at))
                .execute(c)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::{DailyTotals, INSERT_ROWS, NewUsage, daily_totals, statement_sized};
    use crate::db::types::UsageSource;
    use crate::domain::ids::WorkspaceId;

    fn row(ws: &str, at: i64, provider: &str, source: &str, status: i32) -> NewUsage {
        NewUsage {
            id: String::new(),
            at,
            workspace_id: WorkspaceId::from_trusted(ws.into()),
            token_id: None,
            user_id: None,
            provider: provider.into(),
            model: "m".into(),
            source: UsageSource::read(source),
            key_id: None,
            status,
            error_code: None,
            latency_ms: 100,
            prompt_tokens: 2,
            completion_tokens: 5,
        }
    }

    #[test]
    fn a_batch_is_summed_per_workspace_utc_day_provider_and_source_in_key_order() {
        let day = 20_000;
        let midnight = day * 86_400;
        let rows = [
            row("b", midnight + 10, "openai", "platform", 200),
            row("a", midnight - 1, "openai", "platform", 200),
            row("a", midnight, "openai", "platform", 429),
            row("a", midnight + 86_399, "openai", "platform", 200),
            row("a", midnight + 5, "openai", "workspace", 200),
            row("a", midnight + 5, "anthropic", "platform", 500),
        ];

        let totals = daily_totals(&rows);

        let t = |ws: &str, day: i64, provider: &str, source: &str, requests, errors| DailyTotals {
            workspace_id: WorkspaceId::from_trusted(ws.into()),
            day,
            provider: provider.into(),
            source: UsageSource::read(source),
            requests,
            errors,
            tokens: requests * 7,
            latency_ms: requests * 100,
        };
        assert_eq!(
            totals,
            [
                t("a", day - 1, "openai", "platform", 1, 0),
                t("a", day, "anthropic", "platform", 1, 1),
                t("a", day, "openai", "platform", 2, 1),
                t("a", day, "openai", "workspace", 1, 0),
                t("b", day, "openai", "platform", 1, 0),
            ]
        );
    }

    #[test]
    fn batches_are_cut_into_a_few_statement_sizes_covering_every_row() {
        for n in [0, 1, 2, 3, 7, 99, 100, 101, 250, 1000] {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_sized(&rows).collect();
            assert_eq!(chunks.concat(), rows, "every row once, in order (n = {n})");
            for c in &chunks {
                assert!(
                    c.len() == INSERT_ROWS || c.len().is_power_of_two(),
                    "size {} (n = {n})",
                    c.len()
                );
            }
        }
    }
}

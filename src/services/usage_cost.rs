//! Cost in money: tokens by model over a range of days (from `usage_model_daily`), priced
//! with the price table, split by key source. What workspace keys answered is what BYOK
//! saved the platform.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::prices::PriceBook;
use crate::db::DbConn;
use crate::domain::ids::WorkspaceId;
use crate::domain::money::cost_micros;
use crate::domain::resolution::Source;
use crate::error::Result;

/// UTC days since the Unix epoch, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: i64,
    pub last: i64,
}

/// One model's use on one key source (and one workspace, for the CSV), priced.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CostRow {
    /// The workspace's slug (CSV rows only; empty when summed across workspaces).
    #[diesel(sql_type = Text)]
    pub workspace: String,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub model: String,
    /// The query reads only `platform` and `workspace` rows (a bare `Source` is strict).
    #[diesel(sql_type = Text)]
    pub source: Source,
    #[diesel(sql_type = BigInt)]
    pub requests: i64,
    #[diesel(sql_type = BigInt)]
    pub input_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub output_tokens: i64,
    /// Micro-dollars; `None` when the model has no price.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub cost: Option<i64>,
}

/// Totals of a range: priced cost per key source, and what could not be priced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostTotals {
    pub platform_micros: i64,
    pub workspace_micros: i64,
    /// Tokens on models without a price (not in the sums above).
    pub unpriced_tokens: i64,
    /// `provider/model` of each model without a price, sorted, once each.
    pub unpriced_models: Vec<String>,
}

/// Rows of one workspace, or of every workspace when `workspace_id` is `None`; summed
/// across workspaces unless `per_workspace` (the CSV). Most expensive first.
pub fn rows(
    conn: &mut DbConn,
    workspace_id: Option<&WorkspaceId>,
    range: DayRange,
    per_workspace: bool,
) -> Result<Vec<CostRow>> {
    let (p1, p2, p3) = match conn {
        DbConn::Sqlite(_) => ("?1", "?2", "?3"),
        DbConn::Postgres(_) => ("$1", "$2", "$3"),
    };
    let (ws_col, ws_join, ws_group) = if per_workspace {
        (
            "COALESCE(w.slug, u.workspace_id)",
            " LEFT JOIN workspaces w ON w.id = u.workspace_id",
            "COALESCE(w.slug, u.workspace_id), ",
        )
    } else {
        ("''", "", "")
    };
    let ws_filter = if workspace_id.is_some() {
        format!(" AND u.workspace_id = {p3}")
    } else {
        String::new()
    };
    // SUM is cast because PostgreSQL sums a BIGINT into a NUMERIC.
    let sql = format!(
        "SELECT {ws_col} AS workspace, u.provider, u.model, u.source, \
         CAST(SUM(u.requests) AS BIGINT) AS requests, \
         CAST(SUM(u.input_tokens) AS BIGINT) AS input_tokens, \
         CAST(SUM(u.output_tokens) AS BIGINT) AS output_tokens, \
         CAST(NULL AS BIGINT) AS cost \
         FROM usage_model_daily u{ws_join} \
         WHERE u.day >= {p1} AND u.day <= {p2} AND u.source IN ('platform', 'workspace'){ws_filter} \
         GROUP BY {ws_group}u.provider, u.model, u.source"
    );
    let q = diesel::sql_query(sql)
        .bind::<BigInt, _>(range.first)
        .bind::<BigInt, _>(range.last);
    let mut rows: Vec<CostRow> = match workspace_id {
        Some(ws) => q.bind::<Text, _>(ws).load(conn)?,
        None => q.load(conn)?,
    };
    let book = PriceBook::load(conn)?;
    price(&book, &mut rows);
    rows.sort_by(|a, b| {
        b.cost
            .unwrap_or(-1)
            .cmp(&a.cost.unwrap_or(-1))
            .then_with(|| a.workspace.cmp(&b.workspace))
            .then_with(|| a.provider.cmp(&b.provider))
            .then_with(|| a.model.cmp(&b.model))
            .then_with(|| a.source.as_str().cmp(b.source.as_str()))
    });
    Ok(rows)
}

/// Sets each row's cost from the book (`None` for a model without a price).
pub fn price(book: &PriceBook, rows: &mut [CostRow]) {
    for r in rows {
        r.cost = book.find(&r.provider, &r.model).map(|p| {
            cost_micros(r.input_tokens, p.input_micros)
                .saturating_add(cost_micros(r.output_tokens, p.output_micros))
        });
    }
}

/// The totals of priced rows.
pub fn totals(rows: &[CostRow]) -> CostTotals {
    let mut t = CostTotals::default();
    for r in rows {
        match r.cost {
            Some(c) if r.source == Source::Platform => t.platform_micros += c,
            Some(c) => t.workspace_micros += c,
            None => {
                t.unpriced_tokens += r.input_tokens + r.output_tokens;
                t.unpriced_models
                    .push(format!("{}/{}", r.provider, r.model));
            }
        }
    }
    t.unpriced_models.sort();
    t.unpriced_models.dedup();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::prices::Price;

    fn row(model: &str, source: Source, input: i64, output: i64) -> CostRow {
        CostRow {
            workspace: String::new(),
            provider: "openai".into(),
            model: model.into(),
            source,
            requests: 1,
            input_tokens: input,
            output_tokens: output,
            cost: None,
        }
    }

    #[test]
    fn rows_are_priced_and_split_by_key_source_and_unpriced_models_are_named() {
        let book = PriceBook::of(vec![Price {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            input_micros: 150_000,
            output_micros: 600_000,
            updated_at: 0,
        }]);
        let mut rows = vec![
            row("gpt-4o-mini", Source::Platform, 1_000_000, 1_000_000),
            row("gpt-4o-mini", Source::Workspace, 2_000_000, 0),
            row("mystery", Source::Workspace, 10, 5),
            row("mystery", Source::Platform, 1, 0),
        ];

        price(&book, &mut rows);
        let t = totals(&rows);

        assert_eq!(rows[0].cost, Some(750_000));
        assert_eq!(rows[2].cost, None, "no price is not $0");
        assert_eq!(t.platform_micros, 750_000);
        assert_eq!(t.workspace_micros, 300_000);
        assert_eq!(t.unpriced_tokens, 16);
        assert_eq!(t.unpriced_models, vec!["openai/mystery".to_owned()]);
    }
}

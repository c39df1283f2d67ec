//! Cost in money on the usage pages (`templates/_cost.html`): a date range (this month by
//! default), cost on the platform key and on workspace keys, by model, and the CSV export of
//! cost by workspace, provider and model.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::db::{month_start, now};
use crate::domain::ids::WorkspaceId;
use crate::domain::money::{usd_csv, usd_display};
use crate::domain::providers;
use crate::error::Result;
use crate::services::usage_cost::{self, CostRow, DayRange};
use crate::services::workspaces;
use crate::state::AppState;
use crate::web::charts::thousands;
use crate::web::csv::Csv;
use crate::web::extractors::{PlatformAdmin, WorkspaceOwner};
use crate::web::forms::path_id;

const DAY_SECS: i64 = 86_400;

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC days, both included).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CostQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A row of the cost table.
pub struct CostLine {
    pub provider: String,
    pub model: String,
    pub source: String,
    pub requests: String,
    pub input_tokens: String,
    pub output_tokens: String,
    /// `None`: the model has no price.
    pub cost: Option<String>,
}

/// What `_cost.html` shows.
pub struct CostView {
    /// The range's fields as shown (what was typed, when it was refused).
    pub from: String,
    pub to: String,
    /// Why the typed range was refused (this month is shown instead).
    pub error: Option<String>,
    /// "This month BYOK saved the platform $12.34."
    pub headline: String,
    pub platform: String,
    pub workspace: String,
    pub lines: Vec<CostLine>,
    /// "2 models have no price: … (1,234 tokens not counted)."
    pub unpriced: Option<String>,
    /// The CSV export of the shown range.
    pub csv: String,
    /// The price table's page, for admins.
    pub prices_href: Option<&'static str>,
}

fn date_of(day: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(day * DAY_SECS)
        .ok()
        .and_then(|d| d.date().format(fmt).ok())
        .unwrap_or_default()
}

fn day_of(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), fmt).ok()?;
    Some(
        d.midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(DAY_SECS),
    )
}

fn typed(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The range asked for, or this month with the reason when the request is not a range.
pub fn range_of(q: &CostQuery, now: i64) -> (DayRange, Option<String>) {
    let month = DayRange {
        first: month_start(now).div_euclid(DAY_SECS),
        last: now.div_euclid(DAY_SECS),
    };
    let (from, to) = (typed(&q.from), typed(&q.to));
    if from.is_none() && to.is_none() {
        return (month, None);
    }
    let first = from.map_or(Some(month.first), day_of);
    let last = to.map_or(Some(month.last), day_of);
    match (first, last) {
        (Some(first), Some(last)) if first <= last => (DayRange { first, last }, None),
        (Some(_), Some(_)) => (
            month,
            Some("The start date is after the end date; showing this month instead.".into()),
        ),
        _ => (
            month,
            Some("Enter dates as YYYY-MM-DD, like 2026-01-31; showing this month instead.".into()),
        ),
    }
}

/// The cost section of a usage page: one workspace, or all when `workspace_id` is `None`.
pub async fn view(
    state: &AppState,
    workspace_id: Option<WorkspaceId>,
    q: &CostQuery,
    csv_path: &str,
    is_admin: bool,
) -> Result<CostView> {
    let t = now();
    let (range, error) = range_of(q, t);
    let rows = state
        .db(move |c| usage_cost::rows(c, workspace_id.as_ref(), range, false))
        .await?;
    let totals = usage_cost::totals(&rows);
    let this_month = range_of(&CostQuery::default(), t).0 == range;
    let (from, to) = if error.is_some() {
        (
            q.from.clone().unwrap_or_default(),
            q.to.clone().unwrap_or_default(),
        )
    } else {
        (date_of(range.first), date_of(range.last))
    };
    let when = if this_month {
        "This month".to_owned()
    } else {
        format!("From {} to {}", date_of(range.first), date_of(range.last))
    };
    let unpriced = (!totals.unpriced_models.is_empty()).then(|| {
        let n = totals.unpriced_models.len();
        format!(
            "{} {} no price: {} ({} tokens not counted above).",
            n,
            if n == 1 { "model has" } else { "models have" },
            totals.unpriced_models.join(", "),
            thousands(totals.unpriced_tokens)
        )
    });
    let query =
        serde_urlencoded::to_string([("from", date_of(range.first)), ("to", date_of(range.last))])
            .unwrap_or_default();
    Ok(CostView {
        from,
        to,
        error,
        headline: format!(
            "{when} BYOK saved the platform {}.",
            usd_display(totals.workspace_micros)
        ),
        platform: usd_display(totals.platform_micros),
        workspace: usd_display(totals.workspace_micros),
        lines: rows.iter().map(line).collect(),
        unpriced,
        csv: format!("{csv_path}?{query}"),
        prices_href: is_admin.then_some("/admin/prices"),
    })
}

fn line(r: &CostRow) -> CostLine {
    CostLine {
        provider: providers::find(&r.provider)
            .map_or_else(|| r.provider.clone(), |p| p.name.into()),
        model: r.model.clone(),
        source: r.source.as_str().to_owned(),
        requests: thousands(r.requests),
        input_tokens: thousands(r.input_tokens),
        output_tokens: thousands(r.output_tokens),
        cost: r.cost.map(usd_display),
    }
}

/// The CSV of cost by workspace, provider, model and key source over the asked range.
async fn csv(
    state: &AppState,
    workspace_id: Option<WorkspaceId>,
    q: &CostQuery,
) -> Result<HttpResponse> {
    let (range, _) = range_of(q, now());
    let rows = state
        .db(move |c| usage_cost::rows(c, workspace_id.as_ref(), range, true))
        .await?;
    let mut out = Csv::with_capacity(128 + rows.len() * 96);
    out.record([
        "workspace",
        "provider",
        "model",
        "key_source",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    ]);
    for r in &rows {
        out.record([
            r.workspace.clone(),
            r.provider.clone(),
            r.model.clone(),
            r.source.as_str().to_owned(),
            r.requests.to_string(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.cost.map_or_else(|| "no price".to_owned(), usd_csv),
        ]);
    }
    let name = format!(
        "attachment; filename=\"keyhold-cost-{}-{}.csv\"",
        date_of(range.first),
        date_of(range.last)
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", name))
        .body(out.into_bytes()))
}

/// `GET /admin/cost.csv`: every workspace.
pub async fn admin_csv(
    _admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<CostQuery>,
) -> Result<HttpResponse> {
    csv(&state, None, &q).await
}

/// `GET /admin/workspaces/{id}/cost.csv`.
pub async fn admin_workspace_csv(
    _admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<CostQuery>,
) -> Result<HttpResponse> {
    let id: WorkspaceId = path_id(&id)?;
    let ws = state.db(move |c| workspaces::get(c, &id)).await?;
    csv(&state, Some(ws.id), &q).await
}

/// `GET /w/{slug}/usage/cost.csv`.
pub async fn owner_csv(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    q: web::Query<CostQuery>,
) -> Result<HttpResponse> {
    csv(&state, Some(o.0.workspace.workspace_id.clone()), &q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str) -> CostQuery {
        CostQuery {
            from: Some(from.into()),
            to: Some(to.into()),
        }
    }

    // 2026-03-15 12:00 UTC.
    const NOW: i64 = 1_773_576_000;

    #[test]
    fn the_default_range_is_this_month_up_to_today() {
        let (r, err) = range_of(&CostQuery::default(), NOW);
        assert_eq!(
            (date_of(r.first), date_of(r.last)),
            ("2026-03-01".into(), "2026-03-15".into())
        );
        assert!(err.is_none());
        assert_eq!(range_of(&q("", " "), NOW).0, r);
    }

    #[test]
    fn a_typed_range_is_used_and_a_bad_one_is_explained() {
        let (r, err) = range_of(&q("2026-01-01", "2026-01-31"), NOW);
        assert_eq!(
            (date_of(r.first), date_of(r.last)),
            ("2026-01-01".into(), "2026-01-31".into())
        );
        assert!(err.is_none());
        let (r, err) = range_of(&q("2026-02-01", "2026-01-01"), NOW);
        assert_eq!(date_of(r.first), "2026-03-01");
        assert!(err.expect("an error").contains("after the end date"));
        let (_, err) = range_of(&q("31/01/2026", ""), NOW);
        assert!(err.expect("an error").contains("YYYY-MM-DD"));
    }
}

//! `/w/<slug>/usage`: an owner's view of the workspace's calls over the last 30 days, by day,
//! provider and key source, and its platform allowance. The same view (charts + tables,
//! `templates/_usage.html`) serves the admin overview and the admin's workspace page.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::ok;
use crate::db::now;
use crate::domain::providers;
use crate::error::Result;
use crate::services::usage_report::{self, AllowanceUse, UsageReport};
use crate::state::AppState;
use crate::web::charts::{BarChart, Stack, thousands};
use crate::web::extractors::WorkspaceOwner;
use crate::web::handlers::cost::{self, CostQuery, CostView};
use crate::web::layout::Layout;

/// A day of the table.
pub struct DayRow {
    pub date: String,
    pub platform_requests: String,
    pub workspace_requests: String,
    pub platform_tokens: String,
    pub workspace_tokens: String,
}

/// A provider × key source row of the table.
pub struct ProviderRow {
    pub name: String,
    /// `platform`, `workspace` or `none`.
    pub source: String,
    pub requests: String,
    pub errors: String,
    pub tokens: String,
    pub avg_latency: String,
}

/// Charts and tables of a [`UsageReport`], formatted for `_usage.html`.
pub struct UsageView {
    /// Prefix of element ids on the page.
    pub id: String,
    pub charts: Vec<BarChart>,
    /// Days with at least one call, newest first.
    pub days: Vec<DayRow>,
    pub providers: Vec<ProviderRow>,
}

impl UsageView {
    /// Formats `report`; `id` keeps element ids unique on the page.
    pub fn of(id: &str, report: &UsageReport) -> UsageView {
        let long = time::macros::format_description!("[year]-[month]-[day]");
        let short = time::macros::format_description!("[month repr:short] [day padding:none]");
        let date = |day: i64| {
            time::OffsetDateTime::from_unix_timestamp(day * 86_400)
                .map(|d| d.date())
                .unwrap_or(time::Date::MIN)
        };
        let stacks = |tokens: bool| -> Vec<Stack> {
            report
                .days
                .iter()
                .map(|d| {
                    let day = date(d.day);
                    Stack {
                        label: day.format(long).unwrap_or_default(),
                        short: day.format(short).unwrap_or_default(),
                        platform: if tokens {
                            d.platform_tokens
                        } else {
                            d.platform_requests
                        },
                        workspace: if tokens {
                            d.workspace_tokens
                        } else {
                            d.workspace_requests
                        },
                    }
                })
                .collect()
        };
        let charts = vec![
            BarChart::stacked(
                &format!("{id}-requests"),
                "Requests per day by key source",
                "Requests",
                "requests",
                &stacks(false),
            ),
            BarChart::stacked(
                &format!("{id}-tokens"),
                "Tokens per day by key source",
                "Tokens",
                "tokens",
                &stacks(true),
            ),
        ];
        let days = report
            .days
            .iter()
            .rev()
            .filter(|d| d.platform_requests + d.workspace_requests > 0)
            .map(|d| DayRow {
                date: date(d.day).format(long).unwrap_or_default(),
                platform_requests: thousands(d.platform_requests),
                workspace_requests: thousands(d.workspace_requests),
                platform_tokens: thousands(d.platform_tokens),
                workspace_tokens: thousands(d.workspace_tokens),
            })
            .collect();
        let providers = report
            .providers
            .iter()
            .map(|p| ProviderRow {
                name: providers::find(&p.provider)
                    .map_or_else(|| p.provider.clone(), |c| c.name.to_owned()),
                source: p.source.as_str().to_owned(),
                requests: thousands(p.requests),
                errors: thousands(p.errors),
                tokens: thousands(p.tokens),
                avg_latency: format!("{} ms", thousands(p.avg_latency_ms)),
            })
            .collect();
        UsageView {
            id: id.to_owned(),
            charts,
            days,
            providers,
        }
    }
}

/// The month's platform allowance as a sentence.
pub fn allowance_text(a: AllowanceUse) -> String {
    match a.limit {
        Some(limit) => format!(
            "{} of {} platform tokens used this month",
            thousands(a.used),
            thousands(limit)
        ),
        None => format!(
            "Unlimited: {} platform tokens used this month",
            thousands(a.used)
        ),
    }
}

#[derive(Template)]
#[template(path = "workspace/usage.html")]
struct UsagePage {
    layout: Layout,
    slug: String,
    usage: UsageView,
    cost: CostView,
    allowance: String,
    /// The allowance is used up: platform-key calls are refused until next month.
    exhausted: bool,
}

/// `GET /w/{slug}/usage`.
pub async fn page(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    q: web::Query<CostQuery>,
) -> Result<HttpResponse> {
    let ws_id = o.0.workspace.workspace_id.clone();
    let csv = format!("/w/{}/usage/cost.csv", o.0.workspace.slug);
    let is_admin = o.0.user.is_admin;
    let cost = cost::view(&state, Some(ws_id.clone()), &q, &csv, is_admin).await?;
    let t = now();
    let (report, allowance) = state
        .db(move |c| {
            Ok((
                usage_report::report(c, Some(&ws_id), t)?,
                usage_report::allowance_use(c, &ws_id, t)?,
            ))
        })
        .await?;
    ok(&UsagePage {
        layout: o.0.layout("Usage", "ws-usage"),
        slug: o.0.workspace.slug.clone(),
        usage: UsageView::of("ws", &report),
        cost,
        allowance: allowance_text(allowance),
        exhausted: allowance.limit.is_some_and(|l| allowance.used >= l),
    })
}

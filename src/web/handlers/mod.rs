//! Request handlers by area; each parses input, calls one service and renders one page.

pub mod account;
pub mod admin;
pub mod admin_lists;
pub mod api;
pub mod audit_csv;
pub mod audit_log;
pub mod auth;
pub mod chat;
pub mod cost;
pub mod health;
pub mod integrations;
pub mod invitations;
pub mod keys;
pub mod previews;
pub mod prices;
pub mod tokens;
pub mod usage;
pub mod workspace;

use actix_web::HttpResponse;
use askama::Template;

use crate::error::Error;

/// Renders a page as an HTML response with `status`.
pub fn render(
    page: &impl Template,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, Error> {
    let body = page
        .render()
        .map_err(|e| Error::Internal(anyhow::anyhow!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Renders a page with 200 OK.
pub fn ok(page: &impl Template) -> Result<HttpResponse, Error> {
    render(page, actix_web::http::StatusCode::OK)
}

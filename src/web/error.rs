//! Maps [`Error`] to statuses, and the response frame every request passes through:
//! request id, one log line, security headers, and error pages in the site's layout.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use askama::Template;

use super::layout::Layout;
use crate::error::Error;
use crate::state::AppState;

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::SignInRequired => StatusCode::SEE_OTHER,
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, Error::SignInRequired) {
            res.insert_header((header::LOCATION, "/login"));
        }
        res.content_type("text/plain; charset=utf-8")
            .body(self.public_message())
    }
}

impl Error {
    /// The sentence a person sees: what happened and what to do. Never the cause.
    pub fn public_message(&self) -> String {
        match self {
            Error::NotFound => "We could not find that page. Check the address, or go back to the start.".into(),
            Error::Forbidden => "You do not have access to this page. Ask a workspace owner or a platform admin if you need it.".into(),
            Error::SignInRequired => "Please sign in to continue.".into(),
            Error::Invalid { message, .. } => message.clone(),
            Error::Conflict(m) | Error::Throttled(m) => m.clone(),
            Error::Unavailable(_) => "Keyhold cannot reach its database right now. Please try again in a moment.".into(),
            Error::Internal(_) => "Something went wrong on our side. Please try again; if it keeps happening, tell your admin the request id below.".into(),
        }
    }
}

/// The id of the current request, for logs and error pages.
#[derive(Clone)]
pub struct RequestId(pub String);

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: String,
    request_id: String,
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That did not work",
        403 => "Access denied",
        404 => "Page not found",
        405 => "Not allowed",
        409 => "That conflicts with the current state",
        413 => "Too large",
        429 => "Too many attempts",
        503 => "Temporarily unavailable",
        s if s >= 500 => "Something went wrong",
        _ => "That did not work",
    }
}

/// Which kind of answer the headers go on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served {
    /// A page, a form's answer or an error page: a document a browser may render.
    Page,
    /// A file under `/static/` (cached: no `no-store`).
    Static,
    /// A `/v1` answer: JSON or server-sent events, never rendered as a document.
    Api,
}

/// SPEC §11's headers, on every response. `/v1` answers carry the ones SPEC names (CSP,
/// nosniff, Referrer-Policy, HSTS, no-store) but not the two that only concern documents
/// (`X-Frame-Options`, superseded by CSP's `frame-ancestors`, and COOP): every header is
/// parsed by every API client on every call.
fn security_headers(res: &mut ServiceResponse<BoxBody>, https: bool, served: Served) {
    let h = res.headers_mut();
    let set =
        |h: &mut actix_web::http::header::HeaderMap, name: &'static str, value: &'static str| {
            h.insert(
                header::HeaderName::from_static(name),
                header::HeaderValue::from_static(value),
            );
        };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    if served != Served::Api {
        set(h, "x-frame-options", "DENY");
        set(h, "cross-origin-opener-policy", "same-origin");
    }
    if https {
        set(
            h,
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        );
    }
    if served != Served::Static {
        set(h, "cache-control", "no-store");
    }
}

/// The outermost middleware.
pub async fn frame(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    // 48 random bits as 12 hex digits: enough to find one request in the log.
    let request_id = format!("{:012x}", rand::random::<u64>() >> 16);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    // The path only: query strings can carry one-time tokens.
    let path = req.path().to_owned();

    // Inner layers answer errors as responses (see csrf::guard and the session store), so
    // that every response passes through here and gets its headers.
    let mut res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();

    if let Some(err) = res.response().error() {
        match err.as_error::<Error>() {
            Some(Error::Internal(cause)) => {
                tracing::error!(request_id = %request_id, error = %format!("{cause:#}"), "internal error");
            }
            Some(Error::Unavailable(cause)) => {
                tracing::error!(request_id = %request_id, error = %cause, "dependency unavailable");
            }
            _ if status.is_server_error() => {
                tracing::error!(request_id = %request_id, error = %err, "server error");
            }
            _ => {}
        }
    }

    let is_api = path.starts_with("/v1/");
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if status.as_u16() >= 400 && !is_api && !is_html {
        let message = match res.response().error().and_then(|e| e.as_error::<Error>()) {
            Some(e) => e.public_message(),
            None => match status.as_u16() {
                404 => Error::NotFound.public_message(),
                403 => Error::Forbidden.public_message(),
                405 => "This page does not accept that kind of request.".into(),
                413 => "What you sent is too large.".into(),
                s if s >= 500 => Error::Internal(anyhow::anyhow!("")).public_message(),
                _ => "The request could not be understood. Go back and try again.".into(),
            },
        };
        let page = ErrorPage {
            layout: Layout::bare(heading(status)),
            heading: heading(status),
            message,
            request_id: request_id.clone(),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "Something went wrong.".into());
        let new = HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body);
        res = res.into_response(new);
    }

    let https = state.as_ref().is_some_and(|s| s.config.is_https());
    let served = if is_api {
        Served::Api
    } else if path.starts_with("/static/") {
        Served::Static
    } else {
        Served::Page
    };
    security_headers(&mut res, https, served);
    let us = started.elapsed().as_micros() as u64;
    if let Some(state) = &state {
        state
            .metrics
            .request(crate::metrics::Kind::of(&path), res.status().as_u16(), us);
    }
    crate::logging::request(
        &request_id,
        method.as_str(),
        super::routes::logged_path(&path),
        status.as_u16(),
        us,
    );
    Ok(res)
}

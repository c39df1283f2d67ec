//! CSRF defence, on for every state-changing request outside the token-authenticated API:
//! a cross-site `Sec-Fetch-Site` or foreign `Origin` is refused, and the per-session token
//! must come back in the `csrf_token` form field or the `X-CSRF-Token` header.

use actix_session::{Session, SessionExt};
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

use crate::domain::tokens;
use crate::error::Error;

const SESSION_KEY: &str = "csrf";
/// Forms are small; anything larger is refused before it is buffered.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The session's token, created on first use.
pub fn token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(SESSION_KEY) {
        return t;
    }
    rotate(session)
}

/// A fresh token (at sign-in, so a token seen before cannot be replayed after).
pub fn rotate(session: &Session) -> String {
    let t = tokens::generate("");
    let _ = session.insert(SESSION_KEY, &t);
    t
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Paths that are not cookie-authenticated and so need no token.
fn exempt(path: &str) -> bool {
    path.starts_with("/v1/")
}

fn same_origin(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == "null" {
        return false;
    }
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let public = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|s| s.config.public_url.origin().ascii_serialization());
    origin_host.eq_ignore_ascii_case(host) || public.as_deref() == Some(origin)
}

fn token_in_form(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.into_owned())
}

/// The middleware.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_safe(req.method()) || exempt(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if !same_origin(&req) {
        tracing::warn!(path = %super::routes::logged_path(req.path()), "cross-site request refused");
        return Ok(req.error_response(csrf_error()));
    }
    if super::session_store::unavailable(&req.get_session()) {
        return Ok(req.error_response(Error::Unavailable(
            "the session store is unavailable".into(),
        )));
    }
    let expected = req.get_session().get::<String>(SESSION_KEY).ok().flatten();
    let sent = match req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => Some(h.to_owned()),
        None => {
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if is_form {
                let body = match read_body(&mut req).await {
                    Ok(b) => b,
                    Err(e) => return Ok(req.error_response(e)),
                };
                let t = token_in_form(&body);
                req.set_payload(Payload::from(body));
                t
            } else {
                None
            }
        }
    };
    match (expected, sent) {
        (Some(e), Some(s)) if tokens::constant_time_eq(&e, &s) => {
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        _ => {
            tracing::warn!(path = %super::routes::logged_path(req.path()), "missing or wrong CSRF token");
            Ok(req.error_response(csrf_error()))
        }
    }
}

async fn read_body(req: &mut ServiceRequest) -> Result<Bytes, actix_web::Error> {
    use futures_util::StreamExt;
    let mut payload = req.take_payload();
    let mut buf = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(actix_web::error::ErrorPayloadTooLarge("form too large"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn csrf_error() -> Error {
    Error::Invalid {
        field: "csrf_token",
        message: "This form has expired or did not come from Keyhold. Go back, reload the page and try again.".into(),
    }
}

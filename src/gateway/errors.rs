//! Gateway errors, rendered in the shape the client's SDK expects (OpenAI or Anthropic),
//! always with a plain message and a stable code.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

pub use crate::domain::error_code::ErrorCode;

/// Which API shape the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
}

/// A failed call: HTTP status, stable code, and a sentence saying what to do.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// Why no key could answer, when that is the failure: a page words it for its reader.
    pub cause: Option<crate::domain::resolution::ResolveError>,
}

impl GatewayError {
    /// Builds an error.
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::BadRequest, message)
    }

    /// 401 for a missing, unknown or revoked token.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            ErrorCode::InvalidApiKey,
            "Missing or invalid Keyhold API token. Create one under the workspace's API tokens page.",
        )
    }

    /// 500 for our own failures (details are in the log with the request id).
    pub fn internal() -> Self {
        Self::new(
            500,
            ErrorCode::InternalError,
            "Keyhold could not complete the request. Try again shortly.",
        )
    }

    /// Renders in the client's format.
    pub fn render(&self, format: Format) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match format {
            Format::OpenAi => json!({
                "error": { "message": self.message, "type": openai_type(self.status), "code": self.code.as_str(), "param": null }
            }),
            Format::Anthropic => json!({
                "type": "error",
                "error": { "type": anthropic_type(self.status), "message": self.message, "code": self.code.as_str() }
            }),
        };
        HttpResponse::build(status)
            .content_type("application/json")
            .body(body.to_string())
    }
}

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        402 | 429 => "insufficient_quota",
        400 | 404 | 413 => "invalid_request_error",
        _ => "api_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        400 | 413 => "invalid_request_error",
        401 => "authentication_error",
        402 | 403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

//! Anthropic's wire with its API key: `x-api-key` and `anthropic-version`.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{Outgoing, secret_header};
use crate::gateway::errors::GatewayError;

pub(super) fn headers(
    secret: &SecretString,
    version: &'static str,
) -> Result<HeaderMap, GatewayError> {
    let mut h = HeaderMap::with_capacity(3);
    h.insert(
        HeaderName::from_static("x-api-key"),
        secret_header(secret.expose_secret())?,
    );
    h.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(version),
    );
    Ok(h)
}

pub(super) fn request(
    client: &reqwest::Client,
    secret: &SecretString,
    version: &'static str,
    call: &Outgoing<'_>,
) -> Result<reqwest::RequestBuilder, GatewayError> {
    let endpoint = call
        .endpoint
        .ok_or_else(crate::gateway::errors::GatewayError::internal)?;
    Ok(client
        .post(endpoint.clone())
        .headers(headers(secret, version)?)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(call.body.clone()))
}

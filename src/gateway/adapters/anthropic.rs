//! Anthropic's wire with its API key: `x-api-key` and `anthropic-version`.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{Outgoing, json_post, secret_header};
use crate::gateway::errors::GatewayError;
use crate::upstream::Request;

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");

/// Adds the key and the API version to `h`.
fn authenticate(
    h: &mut HeaderMap,
    secret: &SecretString,
    version: &'static str,
) -> Result<(), GatewayError> {
    h.insert(X_API_KEY, secret_header(secret.expose_secret())?);
    h.insert(ANTHROPIC_VERSION, HeaderValue::from_static(version));
    Ok(())
}

pub(super) fn headers(
    secret: &SecretString,
    version: &'static str,
) -> Result<HeaderMap, GatewayError> {
    let mut h = HeaderMap::with_capacity(2);
    authenticate(&mut h, secret, version)?;
    Ok(h)
}

pub(super) fn request(
    secret: &SecretString,
    version: &'static str,
    call: &Outgoing<'_>,
) -> Result<Request, GatewayError> {
    let mut req = json_post(call)?;
    authenticate(req.headers_mut(), secret, version)?;
    Ok(req)
}

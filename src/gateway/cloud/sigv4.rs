//! SigV4 signing of Bedrock requests with AWS's own signer (`aws-sigv4`), so that the
//! canonical request, the payload hash and the session token are exactly what AWS checks.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// The SigV4 service name of Bedrock's runtime and control plane.
pub const SERVICE: &str = "bedrock";

/// Why a request could not be signed. The message never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The body is a stream: SigV4 needs its bytes to hash them.
    #[error("a streamed request body cannot be signed")]
    StreamingBody,
    /// The signer refused the request or its parameters (a bad region, say).
    #[error("the request cannot be signed: {0}")]
    Signer(String),
}

/// Signs `request` for Bedrock in `region` now: adds `x-amz-date`, `x-amz-content-sha256`
/// (the payload hash), `x-amz-security-token` when a session token is given, and
/// `authorization`, all marked sensitive so they are never logged.
pub fn sign_request(
    request: &mut reqwest::Request,
    access_key_id: &str,
    secret_access_key: &SecretString,
    session_token: Option<&SecretString>,
    region: &str,
) -> Result<(), SignError> {
    sign_request_at(
        request,
        access_key_id,
        secret_access_key,
        session_token,
        region,
        SystemTime::now(),
    )
}

/// [`sign_request`] at a given time (for tests and known vectors).
pub fn sign_request_at(
    request: &mut reqwest::Request,
    access_key_id: &str,
    secret_access_key: &SecretString,
    session_token: Option<&SecretString>,
    region: &str,
    time: SystemTime,
) -> Result<(), SignError> {
    let identity: Identity = Credentials::new(
        access_key_id,
        secret_access_key.expose_secret(),
        session_token.map(|t| t.expose_secret().to_owned()),
        None,
        "keyhold",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| SignError::Signer(e.to_string()))?
        .into();

    let body: &[u8] = match request.body() {
        None => &[],
        Some(body) => body.as_bytes().ok_or(SignError::StreamingBody)?,
    };
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError::Signer(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError::Signer(e.to_string()))?
        .into_parts();

    let (new_headers, new_query) = instructions.into_parts();
    debug_assert!(
        new_query.is_empty(),
        "header signing adds no query parameters"
    );
    for header in new_headers {
        let name = HeaderName::from_bytes(header.name().as_bytes())
            .map_err(|e| SignError::Signer(e.to_string()))?;
        let mut value =
            HeaderValue::from_str(header.value()).map_err(|e| SignError::Signer(e.to_string()))?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;

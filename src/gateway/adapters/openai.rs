//! OpenAI's wire with a bearer API key: OpenAI and every catalogue provider that speaks its
//! format (Gemini's OpenAI endpoint, Mistral, DeepSeek, xAI, Groq, OpenRouter).

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{Outgoing, secret_header};
use crate::gateway::errors::GatewayError;

pub(super) fn headers(secret: &SecretString) -> Result<HeaderMap, GatewayError> {
    let mut h = HeaderMap::with_capacity(2);
    h.insert(
        AUTHORIZATION,
        secret_header(&format!("Bearer {}", secret.expose_secret()))?,
    );
    Ok(h)
}

pub(super) fn request(
    client: &reqwest::Client,
    secret: &SecretString,
    call: &Outgoing<'_>,
) -> Result<reqwest::RequestBuilder, GatewayError> {
    let endpoint = call
        .endpoint
        .ok_or_else(crate::gateway::errors::GatewayError::internal)?;
    Ok(client
        .post(endpoint.clone())
        .headers(headers(secret)?)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(call.body.clone()))
}

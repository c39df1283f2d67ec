//! OpenAI's wire with a bearer API key: OpenAI and every catalogue provider that speaks its
//! format (Gemini's OpenAI endpoint, Mistral, DeepSeek, xAI, Groq, OpenRouter).

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{Outgoing, json_post, secret_header};
use crate::gateway::errors::GatewayError;
use crate::upstream::Request;

fn bearer(secret: &SecretString) -> Result<HeaderValue, GatewayError> {
    secret_header(&format!("Bearer {}", secret.expose_secret()))
}

pub(super) fn headers(secret: &SecretString) -> Result<HeaderMap, GatewayError> {
    let mut h = HeaderMap::with_capacity(1);
    h.insert(AUTHORIZATION, bearer(secret)?);
    Ok(h)
}

pub(super) fn request(secret: &SecretString, call: &Outgoing<'_>) -> Result<Request, GatewayError> {
    let mut req = json_post(call)?;
    req.headers_mut().insert(AUTHORIZATION, bearer(secret)?);
    Ok(req)
}

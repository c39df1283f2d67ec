//! OpenAI's wire with a bearer API key: OpenAI and every catalogue provider that speaks its
//! format (Gemini's OpenAI endpoint, Mistral, DeepSeek, xAI, Groq, OpenRouter).

use reqwest::header::{AUTHORIZATION, HeaderMap};
use secrecy::{ExposeSecret, SecretString};

use super::{Outgoing, json_post, secret_header};
use crate::gateway::errors::GatewayError;
use crate::upstream::Request;

pub(super) fn headers(secret: &SecretString) -> Result<HeaderMap, GatewayError> {
    let mut h = HeaderMap::with_capacity(2);
    h.insert(
        AUTHORIZATION,
        secret_header(&format!("Bearer {}", secret.expose_secret()))?,
    );
    Ok(h)
}

pub(super) fn request(secret: &SecretString, call: &Outgoing<'_>) -> Result<Request, GatewayError> {
    let mut req = json_post(call)?;
    req.headers_mut().insert(
        AUTHORIZATION,
        secret_header(&format!("Bearer {}", secret.expose_secret()))?,
    );
    Ok(req)
}

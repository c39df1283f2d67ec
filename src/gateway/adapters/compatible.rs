//! A workspace's OpenAI-compatible host: `{API host}/chat/completions`, a bearer key when
//! the host needs one, and only the models the host lists.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::ExposeSecret;

use super::{NotSent, Outgoing, secret_header};
use crate::domain::credentials::Compatible;

fn url(c: &Compatible, path: &str) -> reqwest::Url {
    crate::gateway::cloud::urls::join(&c.host, path).unwrap_or_else(|_| c.host.clone())
}

fn with_key(
    req: reqwest::RequestBuilder,
    c: &Compatible,
) -> Result<reqwest::RequestBuilder, NotSent> {
    Ok(match &c.api_key {
        Some(k) => req.header(
            AUTHORIZATION,
            secret_header(&format!("Bearer {}", k.expose_secret())).map_err(NotSent::Failed)?,
        ),
        None => req,
    })
}

/// Whether the host serves `model` (a host that listed no models is asked anyway).
pub(crate) fn serves(c: &Compatible, model: &str) -> bool {
    c.models.is_empty() || c.models.iter().any(|m| m == model)
}

pub(super) fn request(
    client: &reqwest::Client,
    c: &Compatible,
    call: &Outgoing<'_>,
) -> Result<reqwest::Request, NotSent> {
    if !serves(c, call.model) {
        return Err(NotSent::NotServed);
    }
    let req = client
        .post(url(c, "/chat/completions"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(call.body.clone());
    with_key(req, c)?.build().map_err(NotSent::from)
}

/// `GET {API host}/models`.
pub(super) fn test(client: &reqwest::Client, c: &Compatible) -> Result<reqwest::Request, NotSent> {
    with_key(client.get(url(c, "/models")), c)?
        .build()
        .map_err(NotSent::from)
}

//! Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`
//! with the `api-key` header; the body is OpenAI's (Azure ignores its `model`).

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use super::{NotSent, Outgoing, bad_url, secret_header};
use crate::domain::credentials::Azure;

/// The deployment that serves `model`: the line naming it (`model=deployment`) or a
/// deployment of that name; without a list, the model is taken as the deployment's name.
fn deployment<'a>(c: &'a Azure, model: &'a str) -> Option<&'a str> {
    if c.deployments.is_empty() {
        return Some(model);
    }
    c.deployments
        .iter()
        .find(|d| d.model == model)
        .or_else(|| c.deployments.iter().find(|d| d.deployment == model))
        .map(|d| d.deployment.as_str())
}

fn url(c: &Azure, path: &str) -> Result<reqwest::Url, NotSent> {
    let mut url = c.endpoint.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| bad_url(url::ParseError::EmptyHost))?;
        segments.pop_if_empty();
        for s in path.split('/') {
            segments.push(s);
        }
    }
    url.query_pairs_mut()
        .append_pair("api-version", &c.api_version);
    Ok(url)
}

fn api_key(c: &Azure) -> Result<(HeaderName, HeaderValue), NotSent> {
    let value = secret_header(c.api_key.expose_secret()).map_err(NotSent::Failed)?;
    Ok((HeaderName::from_static("api-key"), value))
}

pub(super) fn request(
    client: &reqwest::Client,
    c: &Azure,
    call: &Outgoing<'_>,
) -> Result<reqwest::Request, NotSent> {
    let deployment = deployment(c, call.model).ok_or(NotSent::NotServed)?;
    let url = url(
        c,
        &format!("openai/deployments/{deployment}/chat/completions"),
    )?;
    let (name, value) = api_key(c)?;
    client
        .post(url)
        .header(name, value)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(call.body.clone())
        .build()
        .map_err(NotSent::from)
}

/// A data-plane read: the resource's model list.
pub(super) fn test(client: &reqwest::Client, c: &Azure) -> Result<reqwest::Request, NotSent> {
    let (name, value) = api_key(c)?;
    client
        .get(url(c, "openai/models")?)
        .header(name, value)
        .build()
        .map_err(NotSent::from)
}

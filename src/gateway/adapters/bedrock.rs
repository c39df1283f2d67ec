//! AWS Bedrock: Converse (`/model/{modelId}/converse`, or `converse-stream`) in the key's
//! region, signed with SigV4 by AWS's own signer; the key test is ListFoundationModels on
//! the control plane. An operator's base URL replaces both hosts (a proxy, a local mock).

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::{NotSent, Outgoing, bad_url};
use crate::domain::credentials::Bedrock;
use crate::gateway::cloud::{sigv4, urls};
use crate::gateway::errors::{ErrorCode, GatewayError};

fn signed(mut req: reqwest::Request, c: &Bedrock) -> Result<reqwest::Request, NotSent> {
    sigv4::sign_request(
        &mut req,
        &c.access_key_id,
        &c.secret_access_key,
        c.session_token.as_ref(),
        &c.region,
    )
    .map_err(|_| {
        NotSent::Failed(GatewayError::new(
            500,
            ErrorCode::KeyUnavailable,
            "The stored AWS key cannot sign a request. An owner should replace it.",
        ))
    })?;
    Ok(req)
}

fn base(base: Option<&url::Url>, default: String) -> Result<url::Url, NotSent> {
    match base {
        Some(b) => Ok(b.clone()),
        None => url::Url::parse(&default).map_err(bad_url),
    }
}

pub(super) fn request(
    client: &reqwest::Client,
    c: &Bedrock,
    call: &Outgoing<'_>,
) -> Result<reqwest::Request, NotSent> {
    let base = base(call.base, urls::bedrock_runtime_base(&c.region))?;
    let url = urls::bedrock_converse_url(&base, call.model, call.stream).map_err(bad_url)?;
    let req = client
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(call.body.clone())
        .build()
        .map_err(NotSent::from)?;
    signed(req, c)
}

/// ListFoundationModels in the key's region, signed.
pub(super) fn test(
    client: &reqwest::Client,
    base_override: Option<&url::Url>,
    c: &Bedrock,
) -> Result<reqwest::Request, NotSent> {
    let base = base(base_override, urls::bedrock_control_base(&c.region))?;
    let url = urls::bedrock_foundation_models_url(&base).map_err(bad_url)?;
    let req = client.get(url).build().map_err(NotSent::from)?;
    signed(req, c)
}

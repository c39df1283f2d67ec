//! Google Vertex AI: a service account's access token (cached per key until shortly before
//! it expires, refreshed once however many calls wait), Gemini through Vertex's
//! OpenAI-compatible endpoint (models named `google/<model>`), Claude through
//! `:rawPredict` / `:streamRawPredict` in Anthropic's format with Vertex's
//! `anthropic_version`. An operator's base URL replaces `https://<location>-aiplatform…`.

use actix_web::web::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{NotSent, Outgoing, Upstream, bad_url, json_body, secret_header};
use crate::domain::credentials::Vertex;
use crate::domain::ids::KeyId;
use crate::domain::providers::Wire;
use crate::gateway::cloud::google::{self, TokenError};
use crate::gateway::cloud::urls;
use crate::gateway::errors::{ErrorCode, GatewayError};

/// The `anthropic_version` Google documents for Claude on Vertex.
pub(crate) const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

async fn token(up: &Upstream<'_>, key_id: &KeyId, c: &Vertex) -> Result<SecretString, NotSent> {
    let sa = &c.service_account;
    up.google
        .tokens
        .token(
            up.client,
            key_id,
            &sa.client_email,
            &sa.private_key,
            &up.google.token_url,
        )
        .await
        .map_err(|e| match e {
            TokenError::InvalidKey | TokenError::MalformedKey => NotSent::Rejected,
            TokenError::Unavailable(why) => {
                tracing::warn!(key_id = %key_id, error = %why, "Vertex: no access token");
                NotSent::Failed(GatewayError::new(
                    502,
                    ErrorCode::UpstreamUnavailable,
                    "Google's token service could not be reached. Try again shortly.",
                ))
            }
        })
}

fn base(base: Option<&url::Url>, c: &Vertex) -> Result<url::Url, NotSent> {
    match base {
        Some(b) => Ok(b.clone()),
        None => url::Url::parse(&urls::vertex_base(&c.location)).map_err(bad_url),
    }
}

fn bearer(token: &SecretString) -> Result<HeaderValue, NotSent> {
    secret_header(&format!("Bearer {}", token.expose_secret())).map_err(NotSent::Failed)
}

/// The request, and the access token it carries (the answer is scrubbed of it too).
pub(super) async fn request(
    up: &Upstream<'_>,
    key_id: &KeyId,
    c: &Vertex,
    call: &Outgoing<'_>,
) -> Result<(reqwest::Request, SecretString), NotSent> {
    let token = token(up, key_id, c).await?;
    let base = base(call.base, c)?;
    let project = &c.service_account.project_id;
    let mut body = json_body(call.body)?;
    let url = match call.wire {
        Wire::Anthropic => {
            if let Some(o) = body.as_object_mut() {
                o.remove("model");
                o.insert(
                    "anthropic_version".into(),
                    Value::String(VERTEX_ANTHROPIC_VERSION.into()),
                );
            }
            urls::vertex_claude_url(&base, project, &c.location, call.model, call.stream)
        }
        _ => {
            if !call.model.contains('/') {
                body["model"] = Value::String(format!("google/{}", call.model));
            }
            urls::vertex_openai_chat_url(&base, project, &c.location)
        }
    }
    .map_err(bad_url)?;
    let req = up
        .client
        .post(url)
        .header(AUTHORIZATION, bearer(&token)?)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Bytes::from(body.to_string()))
        .build()
        .map_err(NotSent::from)?;
    Ok((req, token))
}

/// The token exchange, then an authenticated read: the publisher's model list.
pub(super) async fn test(
    up: &Upstream<'_>,
    base_override: Option<&url::Url>,
    c: &Vertex,
) -> Result<reqwest::Request, NotSent> {
    // A test always asks Google afresh: the point is whether the key works now.
    let sa = &c.service_account;
    let (token, _) = google::fetch_token(
        up.client,
        &sa.client_email,
        &sa.private_key,
        &up.google.token_url,
    )
    .await
    .map_err(|e| match e {
        TokenError::InvalidKey | TokenError::MalformedKey => NotSent::Rejected,
        TokenError::Unavailable(why) => NotSent::Failed(GatewayError::new(
            502,
            ErrorCode::UpstreamUnavailable,
            format!("Google's token service could not be reached ({why})."),
        )),
    })?;
    let base = base(base_override, c)?;
    let url = models_url(&base, &sa.project_id, &c.location)?;
    up.client
        .get(url)
        .header(AUTHORIZATION, bearer(&token)?)
        .build()
        .map_err(NotSent::from)
}

/// `…/v1/projects/{project}/locations/{location}/publishers/google/models`: a read any
/// account with access to Vertex may make.
fn models_url(base: &url::Url, project: &str, location: &str) -> Result<url::Url, NotSent> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| bad_url(url::ParseError::EmptyHost))?
        .pop_if_empty()
        .extend(["v1", "projects", project, "locations", location])
        .extend(["publishers", "google", "models"]);
    Ok(url)
}

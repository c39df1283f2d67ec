//! Provider adapters: how one kind of credential reaches one kind of upstream. An adapter
//! builds the upstream request for a key (URL, authentication, body) and the cheap request
//! that tests a key; the answer is read by its wire format ([`super::translate`]). The call
//! service ([`super::dispatch`], [`super::respond`]) only asks the provider's adapter, so a
//! new kind of credential is a new module here plus catalogue entries.

mod anthropic;
mod azure;
mod bedrock;
mod compatible;
mod openai;
mod vertex;

use actix_web::web::Bytes;
use reqwest::header::HeaderValue;
use secrecy::SecretString;

use super::cloud::google::TokenCache;
use super::errors::{ErrorCode, GatewayError};
use crate::domain::credentials::Credential;
use crate::domain::ids::KeyId;
use crate::domain::providers::{AuthStyle, Provider, Wire};
use crate::outbound::{HostRefusal, OutboundClient, OutboundError};
use crate::upstream::{Direct, Reply, SendError, from_reqwest};

/// The adapter of a catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `Authorization: Bearer <key>`, OpenAI's wire.
    OpenAi,
    /// `x-api-key` + `anthropic-version`, Anthropic's wire.
    Anthropic { version: &'static str },
    /// Azure OpenAI: the key's endpoint and deployments, `api-key`, `api-version`.
    Azure,
    /// AWS Bedrock: Converse in the key's region, signed with SigV4.
    Bedrock,
    /// Google Vertex AI: a service account's access token; Gemini through the OpenAI
    /// endpoint, Claude through `:rawPredict`.
    Vertex,
    /// A workspace's OpenAI-compatible host.
    Compatible,
}

/// What reaches providers: the call path's client for the catalogue's hosts, reqwest's for
/// key tests and tokens, the guarded client for hosts users typed, and Vertex's access
/// tokens.
pub struct Upstream<'a> {
    pub direct: &'a Direct,
    pub client: &'a reqwest::Client,
    pub outbound: &'a OutboundClient,
    pub google: &'a GoogleAuth,
}

/// Vertex's access tokens, cached per key, and where they are obtained.
pub struct GoogleAuth {
    pub tokens: TokenCache,
    /// Google's token URL, or the operator's `KEYHOLD_GOOGLE_TOKEN_URL`.
    pub token_url: url::Url,
}

/// One call as the adapter sends it.
pub struct Outgoing<'a> {
    /// The chat endpoint of a provider with one base URL for every key.
    pub endpoint: Option<&'a http::Uri>,
    /// The operator's base URL override for a host per key or region (tests, proxies).
    pub base: Option<&'a reqwest::Url>,
    /// The model as the provider names it.
    pub model: &'a str,
    pub stream: bool,
    /// The body's wire format.
    pub wire: Wire,
    /// The body in that wire format.
    pub body: &'a Bytes,
}

/// Why a key's request was not answered by the provider.
pub enum NotSent {
    /// This key does not serve the model (a host that does not list it, an Azure
    /// resource without that deployment): the next key may.
    NotServed,
    /// The credential itself was refused before the call (Google would not issue a
    /// token for it): as a 401, the key is invalid.
    Rejected,
    /// The user-supplied host is not allowed.
    Refused(HostRefusal),
    /// The request could not be sent (connection, timeout).
    Http(SendError),
    /// Anything else, already in words.
    Failed(GatewayError),
}

impl From<OutboundError> for NotSent {
    fn from(e: OutboundError) -> NotSent {
        match e {
            OutboundError::Refused(why) => NotSent::Refused(why),
            OutboundError::Http(e) => NotSent::Http(e.into()),
        }
    }
}

impl From<reqwest::Error> for NotSent {
    fn from(e: reqwest::Error) -> NotSent {
        NotSent::Http(e.into())
    }
}

impl Adapter {
    /// The adapter that serves `provider`.
    pub fn of(provider: &Provider) -> Adapter {
        match provider.auth {
            AuthStyle::Bearer => Adapter::OpenAi,
            AuthStyle::AnthropicKey { version } => Adapter::Anthropic { version },
            AuthStyle::Azure => Adapter::Azure,
            AuthStyle::Bedrock => Adapter::Bedrock,
            AuthStyle::Vertex => Adapter::Vertex,
            AuthStyle::Compatible => Adapter::Compatible,
        }
    }

    /// Sends one key's request (the timeout is the caller's). The credential travels only
    /// in headers marked sensitive, so it is never printed. Beside the answer: the secret
    /// derived from the credential for this call (Vertex's access token), which the answer
    /// must be scrubbed of as much as the credential's own secrets.
    pub async fn send(
        self,
        up: &Upstream<'_>,
        key_id: &KeyId,
        cred: &Credential,
        call: &Outgoing<'_>,
    ) -> Result<(Reply, Option<SecretString>), NotSent> {
        if let (Adapter::Vertex, Credential::Vertex(c)) = (self, cred) {
            let (req, token) = vertex::request(up, key_id, c, call).await?;
            let req = from_reqwest(req).map_err(NotSent::Http)?;
            let reply = up.direct.send(req).await.map_err(NotSent::Http)?;
            return Ok((reply, Some(token)));
        }
        let resp = self.send_plain(up, cred, call).await?;
        Ok((resp, None))
    }

    /// A request whose only secrets are the credential's own.
    async fn send_plain(
        self,
        up: &Upstream<'_>,
        cred: &Credential,
        call: &Outgoing<'_>,
    ) -> Result<Reply, NotSent> {
        match (self, cred) {
            (Adapter::OpenAi, Credential::ApiKey(key)) => {
                let req = openai::request(key, call).map_err(NotSent::Failed)?;
                up.direct.send(req).await.map_err(NotSent::Http)
            }
            (Adapter::Anthropic { version }, Credential::ApiKey(key)) => {
                let req = anthropic::request(key, version, call).map_err(NotSent::Failed)?;
                up.direct.send(req).await.map_err(NotSent::Http)
            }
            (Adapter::Azure, Credential::Azure(c)) => {
                let req = azure::request(up.outbound.client(), c, call)?;
                Ok(up.outbound.execute(req).await?.into())
            }
            (Adapter::Compatible, Credential::Compatible(c)) => {
                let req = compatible::request(up.outbound.client(), c, call)?;
                Ok(up.outbound.execute(req).await?.into())
            }
            (Adapter::Bedrock, Credential::Bedrock(c)) => {
                let req =
                    from_reqwest(bedrock::request(up.client, c, call)?).map_err(NotSent::Http)?;
                up.direct.send(req).await.map_err(NotSent::Http)
            }
            _ => Err(NotSent::Failed(wrong_kind())),
        }
    }

    /// After a 401: whatever this adapter caches for the key is stale.
    pub fn forget(self, up: &Upstream<'_>, key_id: &KeyId) {
        if self == Adapter::Vertex {
            up.google.tokens.forget(key_id);
        }
    }

    /// The authentication headers of an API key's test, `None` when the key cannot be a
    /// header value (so it is not a key).
    pub fn test_headers(self, secret: &SecretString) -> Option<reqwest::header::HeaderMap> {
        match self {
            Adapter::Anthropic { version } => anthropic::headers(secret, version).ok(),
            _ => openai::headers(secret).ok(),
        }
    }

    /// The cheap authenticated read that tests a structured credential, and the client to
    /// send it with (`None`: the credential is an API key, tested by its headers).
    pub async fn test_request(
        self,
        up: &Upstream<'_>,
        base: Option<&url::Url>,
        cred: &Credential,
    ) -> Option<Result<(reqwest::Request, Via), NotSent>> {
        Some(match cred {
            Credential::ApiKey(_) => return None,
            Credential::Azure(c) => azure::test(up.outbound.client(), c).map(|r| (r, Via::Guarded)),
            Credential::Compatible(c) => {
                compatible::test(up.outbound.client(), c).map(|r| (r, Via::Guarded))
            }
            Credential::Bedrock(c) => bedrock::test(up.client, base, c).map(|r| (r, Via::Plain)),
            Credential::Vertex(c) => vertex::test(up, base, c).await.map(|r| (r, Via::Plain)),
        })
    }
}

/// Which client sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The catalogue's hosts (and the cloud providers' fixed hosts).
    Plain,
    /// A host a user typed: checked, resolved and pinned by the outbound guard.
    Guarded,
}

/// A stored credential that is not of its provider's kind (a moved or corrupted record).
fn wrong_kind() -> GatewayError {
    GatewayError::new(
        500,
        ErrorCode::KeyUnavailable,
        "A stored key is not of its provider's kind (key unavailable). An owner should replace it.",
    )
}

/// A header value holding a secret, marked sensitive.
fn secret_header(value: &str) -> Result<HeaderValue, GatewayError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        GatewayError::new(
            500,
            ErrorCode::KeyUnavailable,
            "The stored key cannot be used (it has characters a header cannot carry). An owner should replace it.",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A URL the adapter built that does not parse (a stored endpoint gone bad).
fn bad_url(_: url::ParseError) -> NotSent {
    NotSent::Failed(GatewayError::new(
        500,
        ErrorCode::KeyUnavailable,
        "The stored key's endpoint cannot be used. An owner should replace the key.",
    ))
}

/// A JSON POST of the call's body to the provider's chat endpoint, the headers that
/// authenticate it still to add.
fn json_post(call: &Outgoing<'_>) -> Result<crate::upstream::Request, GatewayError> {
    let endpoint = call.endpoint.ok_or_else(GatewayError::internal)?;
    let mut req = http::Request::new(http_body_util::Full::new(call.body.clone()));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = endpoint.clone();
    req.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(req)
}

/// The request body as JSON, for adapters that rewrite it.
fn json_body(body: &Bytes) -> Result<serde_json::Value, NotSent> {
    serde_json::from_slice(body).map_err(|_| NotSent::Failed(GatewayError::internal()))
}

#[cfg(test)]
mod tests;

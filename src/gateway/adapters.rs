//! Provider adapters: how one kind of credential reaches one kind of upstream. An adapter
//! builds the upstream request for a key (URL, authentication, body) and the cheap request
//! that tests a key; the answer is read by its wire format ([`super::translate`]). The call
//! service ([`super::dispatch`], [`super::respond`]) only asks the provider's adapter, so a
//! new kind of credential is a new module here plus catalogue entries.

mod anthropic;
mod openai;

use actix_web::web::Bytes;
use reqwest::header::HeaderValue;
use secrecy::SecretString;

use super::errors::{ErrorCode, GatewayError};
use crate::domain::providers::{AuthStyle, Provider};

/// The adapter of a catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `Authorization: Bearer <key>`, OpenAI's wire.
    OpenAi,
    /// `x-api-key` + `anthropic-version`, Anthropic's wire.
    Anthropic { version: &'static str },
}

/// One call as the adapter sends it: where the provider lives and what to send.
pub struct Outgoing<'a> {
    /// The provider's chat endpoint under its configured base URL.
    pub endpoint: &'a reqwest::Url,
    /// The body in the provider's wire format.
    pub body: &'a Bytes,
}

impl Adapter {
    /// The adapter that serves `provider`.
    pub fn of(provider: &Provider) -> Adapter {
        match provider.auth {
            AuthStyle::Bearer => Adapter::OpenAi,
            AuthStyle::AnthropicKey { version } => Adapter::Anthropic { version },
        }
    }

    /// The upstream request for one key. The key travels only in a header marked
    /// sensitive, so it is never printed.
    pub fn request(
        self,
        client: &reqwest::Client,
        secret: &SecretString,
        call: &Outgoing<'_>,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        match self {
            Adapter::OpenAi => openai::request(client, secret, call),
            Adapter::Anthropic { version } => anthropic::request(client, secret, version, call),
        }
    }

    /// The authentication headers for a key test, `None` when the key cannot be a header
    /// value (so it is not a key).
    pub fn test_headers(self, secret: &SecretString) -> Option<reqwest::header::HeaderMap> {
        match self {
            Adapter::OpenAi => openai::headers(secret).ok(),
            Adapter::Anthropic { version } => anthropic::headers(secret, version).ok(),
        }
    }
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

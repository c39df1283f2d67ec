//! The gateway: OpenAI- and Anthropic-compatible endpoints that answer with the key the
//! workspace resolves to. Token → workspace → route (resolved, sealed keys) is served from
//! memory and trusted only while the cache epoch is unchanged; keys are opened per request.

pub mod adapters;
pub mod cache;
pub mod chat;
pub mod cloud;
pub mod dispatch;
pub mod errors;
mod key_test;
pub mod redact;
pub mod respond;
pub mod translate;
pub mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::domain::ids::{TokenId, UserId, WorkspaceId};
use crate::domain::providers;

pub use errors::GatewayError;

/// Who is calling: an API token or a signed-in member on the chat page.
#[derive(Debug, Clone)]
pub enum Caller {
    Token { token_id: TokenId },
    User { user_id: UserId },
}

/// A call, once authenticated.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub workspace_id: WorkspaceId,
    pub caller: Caller,
}

/// Timeouts and limits for upstream calls.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Until the response headers arrive.
    pub first_byte: Duration,
    /// For a whole non-streaming answer.
    pub total: Duration,
    /// Largest non-streaming answer accepted.
    pub max_body: usize,
    /// Largest streamed answer passed through.
    pub max_stream: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            first_byte: Duration::from_secs(30),
            total: Duration::from_secs(300),
            max_body: 32 * 1024 * 1024,
            max_stream: 256 * 1024 * 1024,
        }
    }
}

/// Gateway state shared by every worker.
pub struct Gateway {
    pub cache: cache::Cache,
    pub usage: usage::Recorder,
    pub limits: Limits,
    /// Each provider's chat endpoint, parsed once at start (providers with one base URL).
    pub endpoints: HashMap<&'static str, http::Uri>,
    /// The call path's client (each worker sends on its own pool of it).
    pub direct: crate::upstream::Direct,
    /// The guarded client for hosts users typed (Azure endpoints, compatible hosts).
    pub outbound: crate::outbound::OutboundClient,
    /// Vertex's access tokens and Google's token URL.
    pub google: adapters::GoogleAuth,
    /// Each provider's base URL (the catalogue's or the operator's), for key tests.
    pub bases: HashMap<&'static str, url::Url>,
    /// reqwest's client for key tests and Vertex's tokens (calls go through `direct`).
    pub client: reqwest::Client,
}

impl Gateway {
    /// A gateway writing usage through `usage`, calling the providers at `config`'s URLs.
    pub fn new(
        usage: usage::Recorder,
        limits: Limits,
        config: &Config,
    ) -> anyhow::Result<Arc<Gateway>> {
        let mut endpoints = HashMap::new();
        for p in providers::catalogue() {
            if let Some(base) = config.provider_base_url(p.id) {
                let url = dispatch::endpoint_for(base, p.wire);
                let uri = url.as_str().parse().map_err(|e| {
                    let shown = crate::upstream::endpoint_text(&url);
                    anyhow::anyhow!("{}'s endpoint {shown} is not a request URI: {e}", p.name)
                })?;
                endpoints.insert(p.id, uri);
            }
        }
        Ok(Arc::new(Gateway {
            cache: cache::Cache::default(),
            usage,
            limits,
            endpoints,
            direct: crate::upstream::Direct::new()?,
            outbound: crate::outbound::OutboundClient::new(config.outbound_allow.clone())?,
            bases: config.provider_base_urls.clone(),
            client: crate::upstream::client()?,
            google: adapters::GoogleAuth {
                tokens: cloud::google::TokenCache::new(),
                token_url: config.google_token_url.clone(),
            },
        }))
    }
}

impl crate::services::cache::Listener for Gateway {
    fn allowance_changed(&self, workspace_id: &WorkspaceId) {
        self.usage.forget(workspace_id);
    }
}

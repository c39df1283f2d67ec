//! The gateway: OpenAI- and Anthropic-compatible endpoints that answer with the key the
//! workspace resolves to. Token → workspace → route (resolved, sealed keys) is served from
//! memory and trusted only while the cache epoch is unchanged; keys are opened per request.

pub mod cache;
pub mod chat;
pub mod cloud;
pub mod dispatch;
pub mod errors;
pub mod redact;
pub mod respond;
pub mod translate;
pub mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::domain::providers;

pub use errors::GatewayError;

/// Who is calling: an API token or a signed-in member on the chat page.
#[derive(Debug, Clone)]
pub enum Caller {
    Token { token_id: String },
    User { user_id: String },
}

/// A call, once authenticated.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub workspace_id: String,
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
    /// Each provider's chat endpoint, parsed once at start.
    pub endpoints: HashMap<&'static str, reqwest::Url>,
}

impl Gateway {
    /// A gateway writing usage through `usage`, calling the providers at `config`'s URLs.
    pub fn new(usage: usage::Recorder, limits: Limits, config: &Config) -> Arc<Gateway> {
        let endpoints = providers::catalogue()
            .iter()
            .filter_map(|p| {
                Some((
                    p.id,
                    dispatch::endpoint_for(config.provider_base_url(p.id)?, p.wire),
                ))
            })
            .collect();
        Arc::new(Gateway {
            cache: cache::Cache::default(),
            usage,
            limits,
            endpoints,
        })
    }
}

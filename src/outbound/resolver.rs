//! The connect-time half of the guard: a resolver that keeps only the addresses a
//! user-supplied host may lead to, and clients that connect to exactly those addresses
//! (reqwest dials what the resolver returns, so the checked address is the one used).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::is_public;
use super::allow::OutboundAllow;
use super::guard::{HostRefusal, check_url};

/// Which addresses a resolved name may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// For https: public addresses, and private ones the operator allows.
    PublicOrAllowed,
    /// For plain http: only what the operator allows (a listed name, or an allowed range).
    AllowedOnly,
}

/// Keeps the resolved addresses of `host` that `admit` lets through.
pub fn admit_addrs(
    host: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
    allow: &OutboundAllow,
    admit: Admit,
) -> Vec<SocketAddr> {
    let listed = allow.allows_name(host);
    addrs
        .into_iter()
        .filter(|a| {
            let ip = a.ip();
            listed || allow.allows_ip(ip) || (admit == Admit::PublicOrAllowed && is_public(ip))
        })
        .collect()
}

/// A `reqwest` resolver that resolves with the system resolver (through tokio) and drops
/// every address the guard refuses; a name left with none fails to connect.
#[derive(Debug, Clone)]
pub struct PinnedResolver {
    allow: Arc<OutboundAllow>,
    admit: Admit,
}

impl PinnedResolver {
    /// A resolver admitting what `admit` says under the operator's list.
    pub fn new(allow: Arc<OutboundAllow>, admit: Admit) -> PinnedResolver {
        PinnedResolver { allow, admit }
    }

    /// Resolves `host` and keeps the admitted addresses (port 0: reqwest sets the port).
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, HostRefusal> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| HostRefusal::NotFound)?
            .collect();
        if found.is_empty() {
            return Err(HostRefusal::NotFound);
        }
        let kept = admit_addrs(host, found, &self.allow, self.admit);
        if kept.is_empty() {
            return Err(HostRefusal::NotPublic);
        }
        Ok(kept)
    }
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let kept = this.lookup(&host).await?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client for user-supplied https hosts, built like `startup::upstream_client()`
/// (same timeouts, no redirects) with the pinned resolver and no proxy (a proxy would
/// resolve the host itself, past the guard). Address literals never reach a resolver:
/// run [`check_url`] before each request, or use [`OutboundClient`] which does.
pub fn guarded_client(allow: &OutboundAllow) -> anyhow::Result<reqwest::Client> {
    build(PinnedResolver::new(
        Arc::new(allow.clone()),
        Admit::PublicOrAllowed,
    ))
}

fn build(resolver: PinnedResolver) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .no_proxy()
        .dns_resolver(resolver)
        .build()
        .context("building the HTTP client for user-supplied hosts")
}

/// What stopped a call to a user-supplied host.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The guard refused the host (before sending, or when resolving).
    #[error("{0}")]
    Refused(HostRefusal),
    /// The call itself failed (timeout, connection, TLS, ...).
    #[error(transparent)]
    Http(reqwest::Error),
}

/// Calls user-supplied hosts: checks every request URL, then sends https through a client
/// that admits public (or allowed) addresses and http through one that admits only what
/// the operator allows.
#[derive(Debug, Clone)]
pub struct OutboundClient {
    allow: Arc<OutboundAllow>,
    https: reqwest::Client,
    http: reqwest::Client,
}

impl OutboundClient {
    /// Builds both clients over the operator's list.
    pub fn new(allow: OutboundAllow) -> anyhow::Result<OutboundClient> {
        let allow = Arc::new(allow);
        Ok(OutboundClient {
            https: build(PinnedResolver::new(allow.clone(), Admit::PublicOrAllowed))?,
            http: build(PinnedResolver::new(allow.clone(), Admit::AllowedOnly))?,
            allow,
        })
    }

    /// The client to build requests with (either one: they differ only in the resolver).
    pub fn client(&self) -> &reqwest::Client {
        &self.https
    }

    /// Checks the request's URL and sends it with the client for its scheme.
    pub async fn execute(&self, req: reqwest::Request) -> Result<reqwest::Response, OutboundError> {
        check_url(req.url(), &self.allow).map_err(OutboundError::Refused)?;
        let client = if req.url().scheme() == "https" {
            &self.https
        } else {
            &self.http
        };
        client.execute(req).await.map_err(|e| match refusal_in(&e) {
            Some(why) => OutboundError::Refused(why),
            None => OutboundError::Http(e),
        })
    }
}

/// The guard's refusal inside a reqwest error, when the resolver refused the host.
pub fn refusal_in(err: &reqwest::Error) -> Option<HostRefusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(why) = e.downcast_ref::<HostRefusal>() {
            return Some(*why);
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests;

//! The call path's client for the catalogue's hosts: hyper's pooled client over rustls —
//! the crates reqwest runs on — without reqwest's per-request layers. A call never follows
//! a redirect and is never retried by its client (failing over is the gateway's, SPEC §4),
//! and its URL is parsed once at start; through reqwest every call re-parsed its URL (twice
//! more in the redirect layer), copied its headers and cloned itself for the retry layer.
//! Hosts users type (Azure endpoints, compatible hosts) keep the outbound guard's clients.

use std::cell::OnceCell;
use std::future::Future;

use actix_web::web::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::reply::{Reply, SendError};
use super::{CONNECT_TIMEOUT, POOL_IDLE_TIMEOUT, READ_TIMEOUT};

/// A request as this client sends it.
pub type Request = http::Request<Full<Bytes>>;

type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The connector every worker's pool dials with: TLS with the platform's verifier, HTTP/2
/// where the host offers it, the same timeouts as the other clients.
#[derive(Clone)]
pub struct Direct {
    connector: HttpsConnector<HttpConnector>,
}

impl Direct {
    pub fn new() -> anyhow::Result<Direct> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| anyhow::anyhow!("the platform's TLS verifier: {e}"))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Direct { connector })
    }

    fn pool(&self) -> Pool {
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(self.connector.clone())
    }

    /// Sends `req` on the current thread's pool. Each server worker keeps its own, so a
    /// pooled connection is driven by the worker that uses it (with one pool for every
    /// worker, a request on one and its connection's task on another woke each other across
    /// threads twice per call). The first `Direct` a thread sends with sets its pool.
    pub fn send(&self, req: Request) -> impl Future<Output = Result<Reply, SendError>> + use<> {
        thread_local! {
            static POOL: OnceCell<Pool> = const { OnceCell::new() };
        }
        let pending = POOL.with(|p| p.get_or_init(|| self.pool()).request(req));
        async move {
            let response = pending.await.map_err(SendError::Direct)?;
            Ok(Reply::direct(response, READ_TIMEOUT))
        }
    }
}

/// A request built by reqwest's builder (the cloud adapters sign those) as this client
/// sends it (its URL parsed once more, its body copied once: calls to the cloud providers
/// only, whose per-call work is signing or a token anyway).
pub fn from_reqwest(mut req: reqwest::Request) -> Result<Request, SendError> {
    let uri: http::Uri = req
        .url()
        .as_str()
        .parse()
        .map_err(|_| SendError::Unsendable)?;
    let body = match req.body_mut().take() {
        None => Bytes::new(),
        Some(b) => Bytes::copy_from_slice(b.as_bytes().ok_or(SendError::Unsendable)?),
    };
    let mut out = http::Request::new(Full::new(body));
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = uri;
    *out.headers_mut() = std::mem::take(req.headers_mut());
    Ok(out)
}

//! A provider's answer as the call path reads it, whichever client brought it: its status,
//! its headers and its body as a stream of chunks, cut when no byte comes for the read
//! timeout. Errors say what happened without the URL (it may carry a user's host).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::Stream;
use http::{HeaderMap, StatusCode};
use http_body::Body as _;
use tokio::time::{Instant, Sleep};

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// The call path's client could not connect, or the connection broke before the head.
    Direct(hyper_util::client::legacy::Error),
    /// A reqwest client (key tests, the outbound guard's clients); the URL taken out.
    Reqwest(reqwest::Error),
    /// The request itself cannot be sent (a URL or body no client takes).
    Unsendable,
}

impl SendError {
    /// Whether the host did not answer in time (rather than could not be reached).
    pub fn is_timeout(&self) -> bool {
        match self {
            SendError::Reqwest(e) => e.is_timeout(),
            SendError::Direct(e) => causes(e).any(|s| {
                s.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            }),
            SendError::Unsendable => false,
        }
    }
}

impl From<reqwest::Error> for SendError {
    fn from(e: reqwest::Error) -> SendError {
        SendError::Reqwest(e.without_url())
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Direct(e) => {
                write!(f, "{e}")?;
                // hyper's outer error says "client error (Connect)"; the cause is below it.
                causes(e).try_for_each(|s| write!(f, ": {s}"))
            }
            SendError::Reqwest(e) => write!(f, "{e}"),
            SendError::Unsendable => f.write_str("the request cannot be sent"),
        }
    }
}

impl std::error::Error for SendError {}

/// What caused `e`, nearest first.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |s| s.source())
}

/// Why an answer's body stopped before its end.
#[derive(Debug)]
pub enum BodyError {
    /// No byte came for this long.
    Idle(Duration),
    /// The connection broke.
    Broken(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Idle(d) => write!(f, "no data for {} s", d.as_secs()),
            BodyError::Broken(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BodyError {}

enum Inner {
    Direct(hyper::body::Incoming),
    Reqwest(reqwest::Body),
}

/// A provider's answer: head received, body not yet read.
pub struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Inner,
    read_timeout: Duration,
}

impl Reply {
    pub(super) fn direct(
        r: http::Response<hyper::body::Incoming>,
        read_timeout: Duration,
    ) -> Reply {
        let (head, body) = r.into_parts();
        Reply {
            status: head.status,
            headers: head.headers,
            body: Inner::Direct(body),
            read_timeout,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's length when the provider said it.
    pub fn content_length(&self) -> Option<u64> {
        match &self.body {
            Inner::Direct(b) => b.size_hint().exact(),
            Inner::Reqwest(b) => b.size_hint().exact(),
        }
    }

    /// The body as it arrives.
    pub fn chunks(self) -> Chunks {
        Chunks {
            body: self.body,
            read_timeout: self.read_timeout,
            idle: None,
            waiting: false,
        }
    }
}

impl From<reqwest::Response> for Reply {
    /// reqwest's answer (its own read timeout already applies to its body).
    fn from(r: reqwest::Response) -> Reply {
        let (head, body) = http::Response::<reqwest::Body>::from(r).into_parts();
        Reply {
            status: head.status,
            headers: head.headers,
            body: Inner::Reqwest(body),
            read_timeout: super::READ_TIMEOUT,
        }
    }
}

/// An answer's body, chunk by chunk; an error once a read has waited the read timeout
/// without a byte. (The timer is made only when a read first has to wait.)
pub struct Chunks {
    body: Inner,
    read_timeout: Duration,
    idle: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl Stream for Chunks {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let frame = match &mut this.body {
                Inner::Direct(b) => Pin::new(b)
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(|e| BodyError::Broken(e.into())))),
                Inner::Reqwest(b) => Pin::new(b)
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(|e| BodyError::Broken(e.without_url().into())))),
            };
            match frame {
                Poll::Ready(Some(Ok(frame))) => {
                    this.waiting = false;
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                    // Trailers: nothing for the client; read on.
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    if !this.waiting {
                        let deadline = Instant::now() + this.read_timeout;
                        match &mut this.idle {
                            Some(idle) => idle.as_mut().reset(deadline),
                            None => this.idle = Some(Box::pin(tokio::time::sleep_until(deadline))),
                        }
                        this.waiting = true;
                    }
                    if let Some(idle) = &mut this.idle {
                        ready!(std::future::Future::poll(idle.as_mut(), cx));
                    }
                    return Poll::Ready(Some(Err(BodyError::Idle(this.read_timeout))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

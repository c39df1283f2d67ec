//! The clients that reach AI providers, and the cheap "is this key good?" test of an API
//! key. Members' calls go through [`Direct`] (the catalogue's hosts) and come back as a
//! [`Reply`]; reqwest's client tests keys and fetches Vertex's tokens. In a test the key
//! travels only in a header marked sensitive and the provider's body is never read, so
//! nothing it says (which may quote the key) can reach a page, a log or the audit.

mod direct;
mod reply;

pub use direct::{Direct, Request, from_reqwest};
pub use reply::{BodyError, Chunks, Reply, SendError};

use std::time::Duration;

use reqwest::header::HeaderMap;
use url::Url;

use crate::domain::providers::Provider;
use crate::domain::resolution::KeyStatus;

/// How long connecting to a provider may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a provider may go without sending a byte of its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The reqwest client for providers (key tests, tokens): short timeouts, no redirects,
/// pooled keep-alive.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))
}

/// How long a key test may take before the key is saved as untested.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(8);

/// Why a key could not be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untested {
    /// The provider did not answer in time.
    Timeout,
    /// The provider could not be reached (DNS, refused, TLS).
    Unreachable,
    /// The provider answered with a server error or something unexpected.
    ProviderError,
}

/// What the provider said about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    /// The provider accepted the key.
    Ok,
    /// The provider rejected the key (401/403).
    Invalid,
    /// The key is known but out of quota or rate-limited (429, 402).
    QuotaExceeded,
    /// No verdict; the key may still be good.
    Untested(Untested),
}

impl TestOutcome {
    /// The status a key gets from this outcome.
    pub fn status(self) -> KeyStatus {
        match self {
            TestOutcome::Ok => KeyStatus::Active,
            TestOutcome::Invalid => KeyStatus::Invalid,
            TestOutcome::QuotaExceeded => KeyStatus::QuotaWarning,
            TestOutcome::Untested(_) => KeyStatus::Untested,
        }
    }

    /// Stored form for `last_test_result`.
    pub fn code(self) -> &'static str {
        match self {
            TestOutcome::Ok => "ok",
            TestOutcome::Invalid => "invalid",
            TestOutcome::QuotaExceeded => "quota_exceeded",
            TestOutcome::Untested(Untested::Timeout) => "timeout",
            TestOutcome::Untested(Untested::Unreachable) => "unreachable",
            TestOutcome::Untested(Untested::ProviderError) => "provider_error",
        }
    }

    /// Parses the stored form.
    pub fn from_code(code: &str) -> Option<TestOutcome> {
        [
            TestOutcome::Ok,
            TestOutcome::Invalid,
            TestOutcome::QuotaExceeded,
            TestOutcome::Untested(Untested::Timeout),
            TestOutcome::Untested(Untested::Unreachable),
            TestOutcome::Untested(Untested::ProviderError),
        ]
        .into_iter()
        .find(|o| o.code() == code)
    }

    /// One sentence for the person who asked.
    pub fn message(self) -> &'static str {
        match self {
            TestOutcome::Ok => "The provider accepted the key.",
            TestOutcome::Invalid => "Invalid key. Validation failed.",
            TestOutcome::QuotaExceeded => "The provider reports the quota is exceeded.",
            TestOutcome::Untested(Untested::Timeout) => {
                "The provider did not answer in time, so the key could not be tested."
            }
            TestOutcome::Untested(Untested::Unreachable) => {
                "The provider could not be reached, so the key could not be tested."
            }
            TestOutcome::Untested(Untested::ProviderError) => {
                "The provider had a problem answering, so the key could not be tested."
            }
        }
    }

    /// A few words for a table cell.
    pub fn short(self) -> &'static str {
        match self {
            TestOutcome::Ok => "Passed",
            TestOutcome::Invalid => "Rejected",
            TestOutcome::QuotaExceeded => "Quota exceeded",
            TestOutcome::Untested(Untested::Timeout) => "Timed out",
            TestOutcome::Untested(Untested::Unreachable) => "Unreachable",
            TestOutcome::Untested(Untested::ProviderError) => "Provider error",
        }
    }

    /// Whether the person should be warned (saved, but not known to work).
    pub fn is_warning(self) -> bool {
        matches!(self, TestOutcome::QuotaExceeded | TestOutcome::Untested(_))
    }
}

/// A test's outcome and what happened, in words an operator can act on ("GET /models →
/// 404: does the base URL end in /v1?", "could not connect to api.openai.com"). The detail
/// is built from the request and the status only: never the key, never the provider's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTest {
    pub outcome: TestOutcome,
    pub detail: String,
}

impl KeyTest {
    /// The outcome's sentence, then what happened when it was not a plain success.
    pub fn message(&self) -> String {
        if self.outcome == TestOutcome::Ok {
            return self.outcome.message().to_owned();
        }
        let mut detail = self.detail.clone();
        if let Some(first) = detail.get(..1) {
            detail.replace_range(..1, &first.to_uppercase());
        }
        if !detail.ends_with('?') {
            detail.push('.');
        }
        format!("{} {detail}", self.outcome.message())
    }
}

/// A key test and, for an OpenAI-compatible host, the models its `GET /models` listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    pub test: KeyTest,
    pub models: Vec<String>,
}

/// Where a provider is reached, for pages and logs: scheme, host, port and path, without
/// any user name, password, query or fragment an operator may have put in the URL.
pub fn endpoint_text(base_url: &Url) -> String {
    let mut u = base_url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.as_str().trim_end_matches('/').to_owned()
}

fn host_text(base_url: &Url) -> String {
    let host = base_url.host_str().unwrap_or("the provider");
    match base_url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// What a status answer to the test request means, e.g. "GET /models → 404: does the base
/// URL end in /v1?".
pub fn status_detail(provider: &Provider, status: u16) -> String {
    let request = format!("GET {} → {status}", provider.test_path);
    let version = Url::parse(provider.default_base_url)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    match status {
        404 if !version.is_empty() => {
            format!("{request}: does the base URL end in {version}?")
        }
        401 | 403 => format!("{request}: the provider rejected the key"),
        402 | 429 => format!("{request}: out of quota or rate-limited"),
        500..=599 => format!("{request}: the provider's own error"),
        _ => request,
    }
}

/// What a request that got no answer means: "could not connect to <host>" or "<host> did
/// not answer within 8 s".
pub fn no_answer_detail(base_url: &Url, timed_out: bool) -> String {
    let host = host_text(base_url);
    if timed_out {
        format!("{host} did not answer within {} s", TEST_TIMEOUT.as_secs())
    } else {
        format!("could not connect to {host}")
    }
}

/// Maps an HTTP status of the test request to an outcome.
pub fn outcome_of_status(status: u16) -> TestOutcome {
    match status {
        200..=299 => TestOutcome::Ok,
        401 | 403 => TestOutcome::Invalid,
        402 | 429 => TestOutcome::QuotaExceeded,
        _ => TestOutcome::Untested(Untested::ProviderError),
    }
}

/// The URL of the provider's cheap test request under `base_url`.
pub fn test_url(provider: &Provider, base_url: &Url) -> String {
    format!(
        "{}{}",
        base_url.as_str().trim_end_matches('/'),
        provider.test_path
    )
}

/// Tests an API key with the provider's cheap request at `base_url` (the catalogue's URL
/// or the operator's override; never a user's), sent with `auth`: the key's headers, marked
/// sensitive by the provider's adapter (`None` when the key cannot be a header value, so it
/// is not a key). Anything but a success writes a WARN line naming the provider, the
/// endpoint and what happened (never the key).
pub async fn test_key(
    client: &reqwest::Client,
    provider: &Provider,
    base_url: &Url,
    auth: Option<HeaderMap>,
) -> KeyTest {
    let test = send_test(client, provider, base_url, auth).await;
    if test.outcome != TestOutcome::Ok {
        tracing::warn!(
            provider = provider.id,
            endpoint = %endpoint_text(base_url),
            result = test.outcome.code(),
            "key test failed: {}",
            test.detail
        );
    }
    test
}

async fn send_test(
    client: &reqwest::Client,
    provider: &Provider,
    base_url: &Url,
    auth: Option<HeaderMap>,
) -> KeyTest {
    let Some(headers) = auth else {
        return KeyTest {
            outcome: TestOutcome::Invalid,
            detail: "the key holds characters that cannot be sent in a header".into(),
        };
    };
    let sent = client
        .get(test_url(provider, base_url))
        .headers(headers)
        .timeout(TEST_TIMEOUT)
        .send()
        .await;
    match sent {
        // The body is dropped unread: the provider's words never travel further.
        Ok(response) => {
            let status = response.status().as_u16();
            KeyTest {
                outcome: outcome_of_status(status),
                detail: status_detail(provider, status),
            }
        }
        Err(e) if e.is_timeout() => KeyTest {
            outcome: TestOutcome::Untested(Untested::Timeout),
            detail: no_answer_detail(base_url, true),
        },
        Err(e) => {
            // reqwest errors carry the URL, never the headers.
            tracing::debug!(provider = provider.id, error = %e, "key test: provider unreachable");
            KeyTest {
                outcome: TestOutcome::Untested(Untested::Unreachable),
                detail: no_answer_detail(base_url, false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::providers::find;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(outcome_of_status(200), TestOutcome::Ok);
        assert_eq!(outcome_of_status(204), TestOutcome::Ok);
        assert_eq!(outcome_of_status(401), TestOutcome::Invalid);
        assert_eq!(outcome_of_status(403), TestOutcome::Invalid);
        assert_eq!(outcome_of_status(429), TestOutcome::QuotaExceeded);
        assert_eq!(outcome_of_status(402), TestOutcome::QuotaExceeded);
        assert_eq!(
            outcome_of_status(500),
            TestOutcome::Untested(Untested::ProviderError)
        );
        assert_eq!(
            outcome_of_status(404),
            TestOutcome::Untested(Untested::ProviderError)
        );
    }

    #[test]
    fn outcome_codes_round_trip() {
        for o in [
            TestOutcome::Ok,
            TestOutcome::Invalid,
            TestOutcome::QuotaExceeded,
            TestOutcome::Untested(Untested::Timeout),
            TestOutcome::Untested(Untested::Unreachable),
            TestOutcome::Untested(Untested::ProviderError),
        ] {
            assert_eq!(TestOutcome::from_code(o.code()), Some(o));
        }
    }

    #[test]
    fn details_name_the_request_and_suggest_the_version_path() {
        let openai = find("openai").expect("openai");
        assert_eq!(
            status_detail(openai, 404),
            "GET /models → 404: does the base URL end in /v1?"
        );
        let gemini = find("gemini").expect("gemini");
        assert_eq!(
            status_detail(gemini, 404),
            "GET /models → 404: does the base URL end in /v1beta/openai?"
        );
        assert_eq!(
            status_detail(openai, 401),
            "GET /models → 401: the provider rejected the key"
        );
        assert_eq!(status_detail(openai, 418), "GET /models → 418");
        let base = Url::parse("https://api.openai.com/v1").expect("url");
        assert_eq!(
            no_answer_detail(&base, false),
            "could not connect to api.openai.com"
        );
        let local = Url::parse("http://127.0.0.1:9/v1").expect("url");
        assert_eq!(
            no_answer_detail(&local, true),
            "127.0.0.1:9 did not answer within 8 s"
        );
    }

    #[test]
    fn endpoint_text_drops_credentials_and_query() {
        let u = Url::parse("https://user:secret@proxy.example/v1/?token=abc#x").expect("url");
        assert_eq!(endpoint_text(&u), "https://proxy.example/v1");
    }

    #[test]
    fn a_failed_test_says_what_happened_and_a_success_does_not() {
        let t = KeyTest {
            outcome: TestOutcome::Untested(Untested::ProviderError),
            detail: "GET /models → 404: does the base URL end in /v1?".into(),
        };
        assert_eq!(
            t.message(),
            "The provider had a problem answering, so the key could not be tested. \
             GET /models → 404: does the base URL end in /v1?"
        );
        let t = KeyTest {
            outcome: TestOutcome::Untested(Untested::Unreachable),
            detail: "could not connect to api.openai.com".into(),
        };
        assert!(
            t.message()
                .ends_with(". Could not connect to api.openai.com.")
        );
        let ok = KeyTest {
            outcome: TestOutcome::Ok,
            detail: "GET /models → 200".into(),
        };
        assert_eq!(ok.message(), "The provider accepted the key.");
    }

    #[test]
    fn test_url_joins_without_a_double_slash() {
        let openai = find("openai").expect("openai");
        let base = Url::parse("http://127.0.0.1:9/v1/").expect("url");
        assert_eq!(test_url(openai, &base), "http://127.0.0.1:9/v1/models");
    }
}

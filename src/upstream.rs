//! Calls to AI providers that are not a member's request: the cheap "is this key good?"
//! test. The key travels only in a header marked sensitive; the provider's body is never
//! read, so nothing it says (which may quote the key) can reach a page, a log or the audit.

use std::time::Duration;

use reqwest::header::HeaderMap;
use secrecy::SecretString;
use url::Url;

use crate::domain::providers::Provider;
use crate::domain::resolution::KeyStatus;

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

/// The authentication headers for `key`, marked sensitive so they are never printed.
/// `None` when the key cannot be a header value (control characters), i.e. is not a key.
pub fn auth_headers(provider: &Provider, key: &SecretString) -> Option<HeaderMap> {
    crate::gateway::adapters::Adapter::of(provider).test_headers(key)
}

/// Tests `key` with the provider's cheap request at `base_url` (the catalogue's URL or
/// the operator's override; never a user's).
pub async fn test_key(
    client: &reqwest::Client,
    provider: &Provider,
    base_url: &Url,
    key: &SecretString,
) -> TestOutcome {
    let Some(headers) = auth_headers(provider, key) else {
        return TestOutcome::Invalid;
    };
    let sent = client
        .get(test_url(provider, base_url))
        .headers(headers)
        .timeout(TEST_TIMEOUT)
        .send()
        .await;
    match sent {
        // The body is dropped unread: the provider's words never travel further.
        Ok(response) => outcome_of_status(response.status().as_u16()),
        Err(e) if e.is_timeout() => TestOutcome::Untested(Untested::Timeout),
        Err(e) => {
            // reqwest errors carry the URL, never the headers.
            tracing::info!(provider = provider.id, error = %e, "key test: provider unreachable");
            TestOutcome::Untested(Untested::Unreachable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::providers::find;
    use reqwest::header::AUTHORIZATION;

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
    fn auth_headers_are_sensitive_and_follow_the_provider_style() {
        let key = SecretString::from("sk-test-1234567890");
        let openai = find("openai").expect("openai");
        let h = auth_headers(openai, &key).expect("headers");
        let auth = h.get(AUTHORIZATION).expect("authorization");
        assert!(auth.is_sensitive());
        assert!(!format!("{h:?}").contains("sk-test"));

        let anthropic = find("anthropic").expect("anthropic");
        let h = auth_headers(anthropic, &key).expect("headers");
        assert!(h.get("x-api-key").expect("x-api-key").is_sensitive());
        assert_eq!(h.get("anthropic-version").expect("version"), "2023-06-01");
        assert!(h.get(AUTHORIZATION).is_none());
    }

    #[test]
    fn a_key_with_a_line_break_is_not_sent() {
        let openai = find("openai").expect("openai");
        assert!(auth_headers(openai, &SecretString::from("sk-a\r\nX: y")).is_none());
    }

    #[test]
    fn test_url_joins_without_a_double_slash() {
        let openai = find("openai").expect("openai");
        let base = Url::parse("http://127.0.0.1:9/v1/").expect("url");
        assert_eq!(test_url(openai, &base), "http://127.0.0.1:9/v1/models");
    }
}

//! The Vertex AI token source: a service account's RS256-signed JWT traded for an access
//! token (OAuth2 JWT-bearer grant, RFC 7523), cached per key until 5 minutes before it
//! expires. Concurrent callers of one key wait for a single refresh; a refresh that failed
//! is the key's answer for [`RETRY_AFTER_FAILURE`] before Google is asked again.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::ids::KeyId;

/// The scope Vertex AI calls need.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The grant type of RFC 7523.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long a signed assertion is valid (Google's maximum).
const ASSERTION_LIFETIME: u64 = 3_600;
/// A cached token is refreshed this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// How long a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a failed token request stays the answer for its key before Google is asked
/// again: long enough that a broken service account does not cost a token request per
/// call, short enough that a fixed one (or Google back up) is noticed at once.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Why no access token was obtained. Messages never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Google refused the key (`invalid_grant`, or `invalid_client` for a deleted key): an
    /// invalid key, like a 401 from an API-key provider.
    #[error("the service account key was refused")]
    InvalidKey,
    /// The private key is not a usable RSA PEM (caught at save; here for stored keys).
    #[error("the service account's private key cannot be used")]
    MalformedKey,
    /// The token endpoint could not be reached or answered something else.
    #[error("the token endpoint is unavailable: {0}")]
    Unavailable(String),
}

/// The claims of the assertion.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// The signed JWT for `client_email`, addressed to `token_url`, issued at `now` (Unix s).
pub fn assertion(
    client_email: &str,
    private_key_pem: &SecretString,
    token_url: &Url,
    now: u64,
) -> Result<String, TokenError> {
    let key = EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
        .map_err(|_| TokenError::MalformedKey)?;
    let claims = Claims {
        iss: client_email.to_owned(),
        scope: SCOPE.to_owned(),
        aud: token_url.as_str().to_owned(),
        iat: now,
        exp: now + ASSERTION_LIFETIME,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map_err(|_| TokenError::MalformedKey)
}

/// A token endpoint's answer, success or error.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
}

/// Trades a fresh assertion for an access token; returns it with its lifetime.
pub async fn fetch_token(
    http: &reqwest::Client,
    client_email: &str,
    private_key_pem: &SecretString,
    token_url: &Url,
) -> Result<(SecretString, Duration), TokenError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let assertion = SecretString::from(assertion(client_email, private_key_pem, token_url, now)?);
    let form = serde_urlencoded::to_string([
        ("grant_type", GRANT_TYPE),
        ("assertion", assertion.expose_secret()),
    ])
    .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    let response = http
        .post(token_url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form)
        .timeout(TOKEN_TIMEOUT)
        .send()
        .await
        .map_err(|e| TokenError::Unavailable(e.without_url().to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| TokenError::Unavailable(e.without_url().to_string()))?;
    let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
    match answer {
        Some(TokenAnswer {
            access_token: Some(token),
            expires_in,
            ..
        }) if status.is_success() && !token.is_empty() => Ok((
            SecretString::from(token),
            Duration::from_secs(expires_in.unwrap_or(3_600)),
        )),
        Some(TokenAnswer {
            error: Some(error), ..
        }) if matches!(error.as_str(), "invalid_grant" | "invalid_client") => {
            Err(TokenError::InvalidKey)
        }
        _ => Err(TokenError::Unavailable(format!(
            "token endpoint answered {status}"
        ))),
    }
}

/// When a token that lives `expires_in` from `now` should be replaced.
pub fn refresh_at(now: Instant, expires_in: Duration) -> Instant {
    now + expires_in.saturating_sub(REFRESH_MARGIN)
}

#[derive(Debug)]
struct Cached {
    token: SecretString,
    refresh_at: Instant,
    /// The credential the token was issued for ([`TokenCache::credential_of`]).
    of: u64,
}

/// A refresh that failed, given back as the answer until `until` (for the same credential).
#[derive(Debug, Clone)]
struct Failed {
    error: TokenError,
    until: Instant,
    of: u64,
}

/// One slot per key: the lock is held while refreshing, so callers wait for one refresh.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Access tokens by key id, shared by every worker, and the refreshes that failed lately:
/// a broken service account (or Google down) costs one token request per key every
/// [`RETRY_AFTER_FAILURE`], not one per call.
#[derive(Debug)]
pub struct TokenCache {
    slots: Mutex<HashMap<KeyId, Slot>>,
    failures: Mutex<HashMap<KeyId, Failed>>,
    retry_after: Duration,
    /// Tells one stored credential from another (a key edited in place keeps its id).
    seed: RandomState,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::with_retry_after(RETRY_AFTER_FAILURE)
    }
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that answers a failed refresh for `retry_after` before asking again.
    pub fn with_retry_after(retry_after: Duration) -> Self {
        TokenCache {
            slots: Mutex::default(),
            failures: Mutex::default(),
            retry_after,
            seed: RandomState::new(),
        }
    }

    fn slot(&self, key_id: &KeyId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key_id.clone()).or_default().clone()
    }

    /// Which credential a key holds now: a keyed hash of everything the token depends on,
    /// so an edited key (same id, another account or private key) is asked for afresh.
    fn credential_of(
        &self,
        client_email: &str,
        private_key_pem: &SecretString,
        token_url: &Url,
    ) -> u64 {
        self.seed.hash_one((
            client_email,
            private_key_pem.expose_secret(),
            token_url.as_str(),
        ))
    }

    /// The failure still standing for `key_id`'s credential `of`, if any.
    fn failed_lately(&self, key_id: &KeyId, of: u64, now: Instant) -> Option<TokenError> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let f = failures.get(key_id)?;
        if f.of == of && now < f.until {
            return Some(f.error.clone());
        }
        failures.remove(key_id);
        None
    }

    fn record_failure(&self, key_id: &KeyId, of: u64, error: &TokenError) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.insert(
            key_id.clone(),
            Failed {
                error: error.clone(),
                until: Instant::now() + self.retry_after,
                of,
            },
        );
    }

    /// The access token of key `key_id`: the cached one while fresh, else a new one (one
    /// refresh however many callers ask at once). A refresh that failed less than
    /// `retry_after` ago is answered with its error again, without asking Google.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        key_id: &KeyId,
        client_email: &str,
        private_key_pem: &SecretString,
        token_url: &Url,
    ) -> Result<SecretString, TokenError> {
        let of = self.credential_of(client_email, private_key_pem, token_url);
        if let Some(error) = self.failed_lately(key_id, of, Instant::now()) {
            return Err(error);
        }
        let slot = self.slot(key_id);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref()
            && c.of == of
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        // Callers that waited for a refresh that failed get its answer, not another try.
        if let Some(error) = self.failed_lately(key_id, of, Instant::now()) {
            return Err(error);
        }
        match fetch_token(http, client_email, private_key_pem, token_url).await {
            Ok((token, expires_in)) => {
                *cached = Some(Cached {
                    token: token.clone(),
                    refresh_at: refresh_at(Instant::now(), expires_in),
                    of,
                });
                Ok(token)
            }
            Err(error) => {
                *cached = None;
                self.record_failure(key_id, of, &error);
                Err(error)
            }
        }
    }

    /// Drops the token of `key_id` (Vertex refused it, or the key was refused). A failed
    /// refresh stays the answer until it is due again.
    pub fn forget(&self, key_id: &KeyId) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(key_id);
    }
}

#[cfg(test)]
#[path = "google_tests.rs"]
mod tests;

//! The Vertex AI token source: a service account's RS256-signed JWT traded for an access
//! token (OAuth2 JWT-bearer grant, RFC 7523), cached per key until 5 minutes before it
//! expires. Concurrent callers of one key wait for a single refresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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
}

/// One slot per key: the lock is held while refreshing, so callers wait for one refresh.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Access tokens by key id, shared by every worker.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, key_id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key_id.to_owned()).or_default().clone()
    }

    /// The access token of key `key_id`: the cached one while fresh, else a new one (one
    /// refresh however many callers ask at once).
    pub async fn token(
        &self,
        http: &reqwest::Client,
        key_id: &str,
        client_email: &str,
        private_key_pem: &SecretString,
        token_url: &Url,
    ) -> Result<SecretString, TokenError> {
        let slot = self.slot(key_id);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (token, expires_in) =
            fetch_token(http, client_email, private_key_pem, token_url).await?;
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: refresh_at(Instant::now(), expires_in),
        });
        Ok(token)
    }

    /// Drops the token of `key_id` (the key changed, or Vertex refused the token).
    pub fn forget(&self, key_id: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(key_id);
    }
}

#[cfg(test)]
#[path = "google_tests.rs"]
mod tests;

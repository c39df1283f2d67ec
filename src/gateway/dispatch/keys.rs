//! A route's keys: opened into credentials, their secrets kept for the scrubber, and a key
//! the provider refused told apart and marked.

use secrecy::SecretString;

use crate::domain::credentials::{Credential, CredentialKind};
use crate::domain::error_code::ErrorCode;
use crate::domain::providers::Provider;
use crate::gateway::CallContext;
use crate::gateway::adapters::Adapter;
use crate::gateway::cache::SealedKey;
use crate::gateway::errors::GatewayError;
use crate::gateway::redact::Secrets;
use crate::services::Ctx;
use crate::upstream::Reply;

/// Opens a route's key into its credential (an API key, or a structured credential's
/// sealed document read back).
pub(super) fn open(
    state: &Ctx,
    provider: &Provider,
    key: &SealedKey,
) -> Result<Credential, GatewayError> {
    let unavailable = |why: &str| {
        // Never fall back silently: the owner or admin must know.
        tracing::error!(key_id = %key.id, "key unavailable: {why}");
        GatewayError::new(
            500,
            ErrorCode::KeyUnavailable,
            "A stored key cannot be opened (key unavailable). A platform admin should run `keyhold check`.",
        )
    };
    let secret = state
        .config
        .keyring
        .open(&key.sealed, &key.aad)
        .map_err(|_| unavailable("cannot open the sealed key"))?;
    match provider.auth.credential_kind() {
        CredentialKind::ApiKey => Ok(Credential::ApiKey(secret)),
        kind => Credential::from_opened(kind, &secret)
            .map_err(|_| unavailable("the sealed credential is not of its provider's kind")),
    }
}

/// The secret parts of a credential and what the call derived from it, for the scrubber.
pub(super) fn secrets_of(cred: Credential, derived: Option<SecretString>) -> Secrets {
    match cred {
        Credential::ApiKey(k) => Secrets::new(std::iter::once(k).chain(derived)),
        other => Secrets::new(
            other
                .secret_parts()
                .into_iter()
                .map(|s| SecretString::from(s.to_owned()))
                .chain(derived),
        ),
    }
}

/// Whether an answer says the key itself was refused: a 401, or a provider's own
/// "invalid key" error under another status (AWS answers an unknown or badly signed
/// access key with 403 and `x-amzn-ErrorType: UnrecognizedClientException`).
pub(super) fn rejects_key(adapter: Adapter, resp: &Reply) -> bool {
    let status = resp.status().as_u16();
    status == 401
        || (adapter == Adapter::Bedrock
            && status == 403
            && resp
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| {
                    [
                        "UnrecognizedClientException",
                        "InvalidSignatureException",
                        "MissingAuthenticationTokenException",
                        "IncompleteSignatureException",
                    ]
                    .iter()
                    .any(|e| t.starts_with(e))
                }))
}

/// Marks a workspace key the provider rejected as invalid, audits it and tells the owners —
/// in the background, so the failover is not slowed.
pub fn key_rejected(state: &Ctx, ctx: &CallContext, provider: &'static Provider, key: &SealedKey) {
    let state = state.clone();
    let ws = ctx.workspace_id.clone();
    let key_id = key.id.clone();
    tokio::spawn(async move {
        if let Err(e) =
            crate::services::key_health::mark_rejected(&state, ws, provider, key_id).await
        {
            tracing::error!(error = %e, "could not mark a rejected key invalid");
        }
    });
}

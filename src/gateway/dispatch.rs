//! The hot path: authenticate, resolve, open the key, call the provider, fail over.
//! This file sends a call through the route's keys in order; `authenticate` finds the
//! caller, `keys` opens and judges keys, `failures` words the errors before any key
//! answers, `models` says what a workspace can name.

use std::time::Instant;

use actix_web::web::Bytes;

use super::adapters::{Adapter, NotSent, Outgoing, Upstream};
use super::cache::{Route, SealedKey};
use super::errors::GatewayError;
use super::redact::Secrets;
use super::{CallContext, Gateway};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::KeyId;
use crate::domain::providers::Wire;
use crate::domain::resolution::Source;
use crate::outbound::HostField;
use crate::services::Ctx;
use crate::upstream::Reply;

mod authenticate;
mod failures;
mod keys;
mod models;

pub use authenticate::{authenticate, bearer_token};
use failures::allowance_exhausted;
pub use failures::{resolve_error, unavailable};
pub use keys::key_rejected;
use keys::{open, rejects_key, secrets_of};
pub use models::{available_models, endpoint_for};

/// A successful upstream answer (headers received, body not yet read).
pub struct Answer {
    pub response: Reply,
    pub key_id: KeyId,
    pub source: Source,
    pub started: Instant,
    /// The secret parts of the key that was sent, kept (zeroized on drop) only to take
    /// them out of whatever the provider says back before any of it reaches the client
    /// ([`super::redact`]).
    pub secrets: Secrets,
}

/// A failed call with what to record about it.
pub struct Failure {
    pub error: GatewayError,
    pub key_id: Option<KeyId>,
    pub source: Option<Source>,
}

/// What the keys are asked: the model as the provider names it, streamed or not, and the
/// body in the wire format `wire`.
pub struct Ask<'a> {
    pub model: &'a str,
    pub stream: bool,
    pub wire: Wire,
    pub body: &'a Bytes,
}

/// Tries the route's keys in order (SPEC §4): a refused key (401, or the provider's own
/// "invalid key") marks a workspace key invalid and moves on; 403 and 404 (model access,
/// region, "model not found": they depend on the request, not the key) move on without
/// marking anything, and the last key's refusal is the answer; 429/5xx/timeouts move on; a
/// key that does not serve the model is skipped; anything else is the answer.
pub async fn send(
    state: &Ctx,
    gw: &Gateway,
    ctx: &CallContext,
    route: &Route,
    allowance: Option<i64>,
    ask: Ask<'_>,
) -> Result<Answer, Failure> {
    let provider = route.provider;
    let fail = |error| Failure {
        error,
        key_id: None,
        source: None,
    };
    let keys: &Vec<SealedKey> = match &route.outcome {
        Ok(keys) => keys,
        Err(e) => return Err(fail(resolve_error(*e, provider))),
    };
    let platform_blocked = match allowance {
        Some(limit) if keys.iter().any(|k| k.source == Source::Platform) => {
            let used = gw
                .usage
                .platform_used(state, &ctx.workspace_id)
                .await
                .map_err(|e| fail(unavailable(&e)))?;
            used >= limit
        }
        _ => false,
    };
    let endpoint = gw.endpoints.get(provider.id);
    if endpoint.is_none() && !provider.auth.host_per_key() {
        return Err(fail(GatewayError::internal()));
    }
    let adapter = Adapter::of(provider);
    let up = Upstream {
        direct: &gw.direct,
        client: &gw.client,
        outbound: &gw.outbound,
        google: &gw.google,
    };
    let call = Outgoing {
        endpoint,
        base: state.config.provider_base_url(provider.id),
        model: ask.model,
        stream: ask.stream,
        wire: ask.wire,
        body: ask.body,
    };
    // Why the last key tried failed; none tried means the platform key was held back.
    // (Built only when needed: the message is a `format!` every call would pay for.)
    let mut last: Option<Failure> = None;
    let mut served = false;
    let tried = |k: &&SealedKey| !(k.source == Source::Platform && platform_blocked);
    for (i, key) in keys.iter().enumerate() {
        if !tried(&key) {
            continue;
        }
        let here = |error| {
            Some(Failure {
                error,
                key_id: Some(key.id.clone()),
                source: Some(key.source),
            })
        };
        let cred = open(state, provider, key).map_err(|error| Failure {
            error,
            key_id: Some(key.id.clone()),
            source: Some(key.source),
        })?;
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            gw.limits.first_byte,
            adapter.send(&up, &key.id, &cred, &call),
        )
        .await;
        let rejected = |last: &mut Option<Failure>| {
            tracing::warn!(key_id = %key.id, provider = provider.id, "upstream rejected the key");
            adapter.forget(&up, &key.id);
            if key.source == Source::Workspace {
                key_rejected(state, ctx, provider, key);
            }
            *last = here(GatewayError::new(
                502,
                ErrorCode::UpstreamAuth,
                format!(
                    "{} rejected the key. An owner or admin must replace it.",
                    provider.name
                ),
            ));
        };
        match outcome {
            Ok(Ok((resp, derived))) => {
                served = true;
                let status = resp.status().as_u16();
                if rejects_key(adapter, &resp) {
                    rejected(&mut last);
                    continue;
                }
                match status {
                    403 | 404 if keys[i + 1..].iter().any(|k| tried(&k)) => {
                        tracing::warn!(key_id = %key.id, provider = provider.id, status, "upstream refused the request with this key; trying the next");
                        last = here(GatewayError::new(
                            502,
                            ErrorCode::UpstreamForbidden,
                            format!("{} refused the request ({status}).", provider.name),
                        ));
                    }
                    429 => {
                        last = here(GatewayError::new(
                            429,
                            ErrorCode::UpstreamRateLimited,
                            format!(
                                "{} is rate-limiting this key, or its quota is used up. Try again later.",
                                provider.name
                            ),
                        ));
                    }
                    500..=599 => {
                        last = here(GatewayError::new(
                            502,
                            ErrorCode::UpstreamError,
                            format!(
                                "{} answered with an error ({status}). Try again shortly.",
                                provider.name
                            ),
                        ));
                    }
                    _ => {
                        return Ok(Answer {
                            response: resp,
                            key_id: key.id.clone(),
                            source: key.source,
                            started,
                            secrets: secrets_of(cred, derived),
                        });
                    }
                }
            }
            Ok(Err(NotSent::NotServed)) => {}
            Ok(Err(NotSent::Rejected)) => {
                served = true;
                rejected(&mut last);
            }
            Ok(Err(NotSent::Refused(why))) => {
                served = true;
                tracing::warn!(key_id = %key.id, provider = provider.id, "outbound guard refused the key's host");
                last = here(GatewayError::new(
                    502,
                    ErrorCode::UpstreamUnavailable,
                    format!("{}: {}", provider.name, why.message(HostField::ApiHost)),
                ));
            }
            Ok(Err(NotSent::Failed(error))) => {
                served = true;
                last = here(error);
            }
            Ok(Err(NotSent::Http(e))) => {
                served = true;
                let timed_out = e.is_timeout();
                tracing::warn!(key_id = %key.id, provider = provider.id, error = %e, "upstream unreachable");
                let (code, msg) = if timed_out {
                    (ErrorCode::UpstreamTimeout, "did not answer in time")
                } else {
                    (ErrorCode::UpstreamUnavailable, "could not be reached")
                };
                last = here(GatewayError::new(
                    504,
                    code,
                    format!("{} {msg}. Try again shortly.", provider.name),
                ));
            }
            Err(_) => {
                served = true;
                tracing::warn!(key_id = %key.id, provider = provider.id, "upstream did not answer in time");
                last = here(GatewayError::new(
                    504,
                    ErrorCode::UpstreamTimeout,
                    format!(
                        "{} did not answer in time. Try again shortly.",
                        provider.name
                    ),
                ));
            }
        }
    }
    if !served && keys.iter().any(|k| tried(&k)) {
        return Err(fail(GatewayError::new(
            404,
            ErrorCode::ModelNotFound,
            format!(
                "No {} key of this workspace serves the model \"{}\". GET /v1/models lists what it can use.",
                provider.name, ask.model
            ),
        )));
    }
    Err(last.unwrap_or_else(|| fail(allowance_exhausted(provider.name))))
}

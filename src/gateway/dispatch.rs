//! The hot path: authenticate, resolve, open the key, call the provider, fail over.

use std::time::Instant;

use actix_web::HttpRequest;
use actix_web::web::Bytes;

use secrecy::SecretString;

use super::adapters::{Adapter, NotSent, Outgoing, Upstream};
use super::cache::{Route, SealedKey, current_epoch};
use super::errors::GatewayError;
use super::redact::Secrets;
use super::{CallContext, Caller, Gateway};
use crate::domain::credentials::{Credential, CredentialKind};
use crate::domain::error_code::ErrorCode;
use crate::domain::providers::{Provider, Wire};
use crate::domain::resolution::{ResolveError, Source};
use crate::domain::tokens;
use crate::outbound::HostField;
use crate::services::Ctx;

/// The token a request carries: `Authorization: Bearer kh_…` or `x-api-key: kh_…`.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let h = req.headers();
    if let Some(k) = h.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    h.get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Authenticates an API request: the token's workspace and the epoch the answer is built on.
pub async fn authenticate(
    state: &Ctx,
    gw: &Gateway,
    req: &HttpRequest,
) -> Result<(CallContext, Option<i64>, u64), GatewayError> {
    let token = bearer_token(req)
        .filter(|t| t.starts_with("kh_"))
        .ok_or_else(GatewayError::unauthorized)?;
    let epoch = current_epoch(state).await.map_err(|e| unavailable(&e))?;
    let entry = gw
        .cache
        .token(state, &tokens::hash(token), epoch)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(GatewayError::unauthorized)?;
    Ok((
        CallContext {
            workspace_id: entry.workspace_id.clone(),
            caller: Caller::Token {
                token_id: entry.token_id.clone(),
            },
        },
        entry.allowance,
        epoch,
    ))
}

/// A 503 for a database outage, logged with its cause.
pub fn unavailable(e: &crate::error::Error) -> GatewayError {
    tracing::error!(error = %e, "gateway: database unavailable");
    GatewayError::new(
        503,
        ErrorCode::Unavailable,
        "Keyhold cannot reach its database right now. Try again shortly.",
    )
}

/// The error a failed resolution becomes.
pub fn resolve_error(e: ResolveError, provider: &Provider) -> GatewayError {
    let name = provider.name;
    let mut error = match e {
        ResolveError::ProviderDisabled => GatewayError::new(
            403,
            ErrorCode::ProviderDisabled,
            format!("{name} is turned off on this Keyhold. Ask a platform admin to enable it."),
        ),
        ResolveError::NoKey { byok_enabled: true } => GatewayError::new(
            403,
            ErrorCode::NoKey,
            format!(
                "No {name} key is available for this workspace. A workspace owner can add one under Settings → API keys, or a platform admin can set a global key."
            ),
        ),
        ResolveError::NoKey {
            byok_enabled: false,
        } => GatewayError::new(
            403,
            ErrorCode::NoKey,
            format!("No {name} key is available. Ask a platform admin to set a global {name} key."),
        ),
        ResolveError::AllowanceExhausted => allowance_exhausted(name),
        ResolveError::WorkspaceKeysInvalid => GatewayError::new(
            403,
            ErrorCode::WorkspaceKeysInvalid,
            e.message(name, crate::domain::resolution::Viewer::Member),
        ),
    };
    error.cause = Some(e);
    error
}

fn allowance_exhausted(name: &str) -> GatewayError {
    GatewayError::new(
        402,
        ErrorCode::AllowanceExhausted,
        format!(
            "This workspace has used its monthly platform allowance for {name}. A workspace owner can add the workspace's own key, or a platform admin can raise the allowance."
        ),
    )
}

/// The provider client of the current thread. Each server worker keeps its own (the same
/// settings as `state.upstream`), so a pooled upstream connection is driven by the worker
/// that uses it: with one client shared by every worker, a request on one worker and the
/// connection task on another woke each other across threads twice per call.
fn upstream(state: &Ctx) -> reqwest::Client {
    thread_local! {
        static CLIENT: std::cell::OnceCell<reqwest::Client> = const { std::cell::OnceCell::new() };
    }
    CLIENT.with(|c| {
        c.get_or_init(|| {
            crate::upstream::client().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no client of this worker's own; sharing one");
                state.upstream.clone()
            })
        })
        .clone()
    })
}

/// A successful upstream answer (headers received, body not yet read).
pub struct Answer {
    pub response: reqwest::Response,
    pub key_id: String,
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
    pub key_id: Option<String>,
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

/// Opens a route's key into its credential (an API key, or a structured credential's
/// sealed document read back).
fn open(state: &Ctx, provider: &Provider, key: &SealedKey) -> Result<Credential, GatewayError> {
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
fn secrets_of(cred: Credential, derived: Option<SecretString>) -> Secrets {
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
fn rejects_key(adapter: Adapter, resp: &reqwest::Response) -> bool {
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
    let client = upstream(state);
    let up = Upstream {
        client: &client,
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
                tracing::warn!(key_id = %key.id, provider = provider.id, error = %e.without_url(), "upstream unreachable");
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

/// The chat endpoint under a provider's base URL.
pub fn endpoint_for(base: &url::Url, wire: Wire) -> reqwest::Url {
    let path = match wire {
        Wire::OpenAi => "/chat/completions",
        Wire::Anthropic => "/messages",
        Wire::Converse => "/converse",
    };
    super::cloud::urls::join(base, path).unwrap_or_else(|_| base.clone())
}

/// What a workspace can name now, per provider whose route resolves (`/v1/models`): the
/// catalogue's models, and for Azure and compatible hosts what the workspace's keys hold
/// (deployments, the hosts' models), read from the keys themselves.
pub async fn available_models(
    state: &Ctx,
    gw: &Gateway,
    workspace_id: &str,
    epoch: u64,
) -> crate::error::Result<Vec<(&'static Provider, Vec<String>)>> {
    let mut out = Vec::new();
    for p in super::cache::available_providers(state, &gw.cache, workspace_id, epoch).await? {
        if !p.models.is_empty() {
            out.push((p, p.models.iter().map(|m| (*m).to_owned()).collect()));
            continue;
        }
        let route = gw.cache.route(state, workspace_id, p, epoch).await?;
        let mut models: Vec<String> = Vec::new();
        for key in route
            .outcome
            .as_ref()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            match open(state, p, key) {
                Ok(Credential::Azure(c)) => {
                    models.extend(c.deployments.into_iter().map(|d| d.model));
                }
                Ok(Credential::Compatible(c)) => models.extend(c.models),
                _ => {}
            }
        }
        models.sort();
        models.dedup();
        out.push((p, models));
    }
    Ok(out)
}

/// Marks a workspace key the provider rejected as invalid, audits it and tells the owners —
/// in the background, so the failover is not slowed.
pub fn key_rejected(
    state: &Ctx,
    ctx: &CallContext,
    provider: &'static Provider,
    key: &super::cache::SealedKey,
) {
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

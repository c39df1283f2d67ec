//! The errors a call fails with before any key answers: the database is away, the route
//! does not resolve, the allowance is spent.

use crate::domain::error_code::ErrorCode;
use crate::domain::providers::Provider;
use crate::domain::resolution::ResolveError;
use crate::gateway::errors::GatewayError;

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

pub(super) fn allowance_exhausted(name: &str) -> GatewayError {
    GatewayError::new(
        402,
        ErrorCode::AllowanceExhausted,
        format!(
            "This workspace has used its monthly platform allowance for {name}. A workspace owner can add the workspace's own key, or a platform admin can raise the allowance."
        ),
    )
}

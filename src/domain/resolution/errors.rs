//! Why no key can answer, as a code and as a sentence worded for whoever reads it.

/// Who is reading an error message; decides which fix it suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Viewer {
    /// A platform admin.
    Admin,
    /// A workspace owner.
    Owner,
    /// A workspace member.
    Member,
}

/// Why no key can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The admin turned the provider off.
    #[error("provider_disabled")]
    ProviderDisabled,
    /// Neither a usable workspace key nor an active platform key exists.
    #[error("no_key")]
    NoKey {
        /// Whether owners could fix it by adding a key.
        byok_enabled: bool,
    },
    /// Only the platform key could answer, and the workspace's allowance is used up.
    #[error("allowance_exhausted")]
    AllowanceExhausted,
    /// BYOK is on, every workspace key the owner left on was rejected by the provider, and
    /// the policy says fail: the platform does not pay for rejected keys.
    #[error("workspace_keys_invalid")]
    WorkspaceKeysInvalid,
}

impl ResolveError {
    /// Machine-readable code for API error bodies.
    pub fn code(&self) -> crate::domain::error_code::ErrorCode {
        use crate::domain::error_code::ErrorCode;
        match self {
            ResolveError::ProviderDisabled => ErrorCode::ProviderDisabled,
            ResolveError::NoKey { .. } => ErrorCode::NoKey,
            ResolveError::AllowanceExhausted => ErrorCode::AllowanceExhausted,
            ResolveError::WorkspaceKeysInvalid => ErrorCode::WorkspaceKeysInvalid,
        }
    }

    /// A plain sentence saying what is wrong and how `viewer` can fix it.
    pub fn message(&self, provider_name: &str, viewer: Viewer) -> String {
        match (self, viewer) {
            (ResolveError::ProviderDisabled, Viewer::Admin) => {
                format!("{provider_name} is turned off. Turn it on under Settings → Integrations.")
            }
            (ResolveError::ProviderDisabled, _) => format!(
                "{provider_name} is turned off on this platform. Ask a platform admin to turn it on."
            ),
            (ResolveError::NoKey { byok_enabled: true }, Viewer::Admin) => format!(
                "No {provider_name} key is available. Set a global key under Settings → Integrations, or ask a workspace owner to add a key."
            ),
            (ResolveError::NoKey { byok_enabled: true }, Viewer::Owner) => format!(
                "No {provider_name} key is available. Add a key under Settings → Provider keys, or ask a platform admin to set a global key."
            ),
            (ResolveError::NoKey { byok_enabled: true }, Viewer::Member) => {
                format!("No {provider_name} key is available. Ask a workspace owner to add a key.")
            }
            (
                ResolveError::NoKey {
                    byok_enabled: false,
                },
                Viewer::Admin,
            ) => format!(
                "No {provider_name} key is available. Set a global key under Settings → Integrations."
            ),
            (
                ResolveError::NoKey {
                    byok_enabled: false,
                },
                _,
            ) => format!(
                "No {provider_name} key is available. Ask a platform admin to set a global {provider_name} key."
            ),
            (ResolveError::AllowanceExhausted, Viewer::Admin) => format!(
                "This workspace has used up its {provider_name} allowance on the platform key. Raise the allowance on the workspace's page."
            ),
            (ResolveError::AllowanceExhausted, Viewer::Owner) => format!(
                "This workspace has used up its {provider_name} allowance on the platform key. Add your own key under Settings → Provider keys if allowed, or ask a platform admin to raise the allowance."
            ),
            (ResolveError::AllowanceExhausted, Viewer::Member) => format!(
                "This workspace has used up its {provider_name} allowance on the platform key. Ask a workspace owner for help."
            ),
            (ResolveError::WorkspaceKeysInvalid, Viewer::Admin) => format!(
                "{provider_name} rejected every key of this workspace, and the failure policy does not let the platform key step in. An owner must replace the key, or you can change the policy under Settings → Integrations."
            ),
            (ResolveError::WorkspaceKeysInvalid, Viewer::Owner) => format!(
                "{provider_name} rejected this workspace's key. Replace it under Settings → Provider keys."
            ),
            (ResolveError::WorkspaceKeysInvalid, Viewer::Member) => format!(
                "{provider_name} rejected this workspace's key. Ask a workspace owner to replace it."
            ),
        }
    }
}

//! The one list of the codes a failed API call can carry: in the JSON error (`error.code`),
//! in usage events and metrics, and in README's table (a test holds the two together).

use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal, $status:literal;)*) => {
        /// A stable, machine-readable reason for a failed call.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in README's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients see it, e.g. `no_key`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }

            /// The HTTP status the code is usually answered with (an upstream's own 4xx
            /// keeps its status under `bad_request`).
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

codes! {
    /// The request is malformed or names an unknown model.
    BadRequest = "bad_request", 400;
    /// No, an unknown or a revoked Keyhold token.
    InvalidApiKey = "invalid_api_key", 401;
    /// The admin turned the provider off.
    ProviderDisabled = "provider_disabled", 403;
    /// No workspace key and no platform key can answer.
    NoKey = "no_key", 403;
    /// BYOK on, every workspace key rejected, and the policy is `fail`.
    WorkspaceKeysInvalid = "workspace_keys_invalid", 403;
    /// Only the platform key could answer and the monthly allowance is used up.
    AllowanceExhausted = "allowance_exhausted", 402;
    /// A stored key cannot be opened (master keys) or used.
    KeyUnavailable = "key_unavailable", 500;
    /// The provider rejected the key (401).
    UpstreamAuth = "upstream_auth", 502;
    /// The provider refused the request with the last key (403: model access, region).
    UpstreamForbidden = "upstream_forbidden", 403;
    /// The provider does not know the model (404), or no host of the workspace lists it.
    ModelNotFound = "model_not_found", 404;
    /// The provider is rate-limiting the key or its quota is used up.
    UpstreamRateLimited = "upstream_rate_limited", 429;
    /// The provider failed (5xx), broke off, or sent what Keyhold could not read.
    UpstreamError = "upstream_error", 502;
    /// The provider's answer exceeded Keyhold's size limit.
    UpstreamTooLarge = "upstream_too_large", 502;
    /// The provider did not answer in time.
    UpstreamTimeout = "upstream_timeout", 504;
    /// The provider could not be reached.
    UpstreamUnavailable = "upstream_unavailable", 504;
    /// Keyhold cannot reach its database.
    Unavailable = "unavailable", 503;
    /// Keyhold's own failure (details in the log under the request id).
    InternalError = "internal_error", 500;
    /// The client went away before a streamed answer ended (usage rows only).
    ClientClosed = "client_closed", 499;
}

impl ErrorCode {
    /// The code with this text, if any.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_unique_and_parse_back() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            assert!(
                ErrorCode::ALL[i + 1..]
                    .iter()
                    .all(|d| d.as_str() != c.as_str())
            );
        }
    }

    #[test]
    fn readme_lists_every_code() {
        let readme = include_str!("../../README.md");
        for c in ErrorCode::ALL {
            assert!(
                readme.contains(&format!("| `{}` |", c.as_str())),
                "README's error table lacks `{c}`"
            );
        }
    }
}

//! The credential kinds a key can be (SPEC §3): a plain API key, or a structured
//! credential (Azure OpenAI, AWS Bedrock, Google Vertex AI, an OpenAI-compatible host).
//! Parsing from the form lives in `form`, the sealed format in `sealed`; here are the types,
//! their masks and the list of secret parts the response scrubber looks for.

mod bedrock;
mod checks;
mod edit;
mod form;
mod sealed;
pub mod secret;
mod vertex;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use edit::parse_edit;
pub use form::{FieldError, FormInput, ParseContext, fields, parse_form};
pub use sealed::OpenError;

/// Google's OAuth2 token endpoint, the only `token_uri` a service account may name
/// (besides the operator's `KEYHOLD_GOOGLE_TOKEN_URL`).
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Azure's API version when the form leaves it empty.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// A workspace's or the platform's credential for one provider.
#[derive(Debug, Clone)]
pub enum Credential {
    ApiKey(SecretString),
    Azure(Azure),
    Bedrock(Bedrock),
    Vertex(Vertex),
    Compatible(Compatible),
}

/// An Azure OpenAI resource.
#[derive(Debug, Clone)]
pub struct Azure {
    pub endpoint: Url,
    pub api_key: SecretString,
    pub api_version: String,
    pub deployments: Vec<Deployment>,
}

/// One line of Azure's "Deployments": `model=deployment`, or a bare name (both the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub model: String,
    pub deployment: String,
}

/// An AWS IAM access key (SigV4) and the region it calls.
#[derive(Debug, Clone)]
pub struct Bedrock {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
    pub region: String,
}

/// A Google service account and the Vertex AI location it calls.
#[derive(Debug, Clone)]
pub struct Vertex {
    pub service_account: ServiceAccount,
    pub location: String,
}

/// The parts of a service-account JSON key Keyhold uses.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    /// PEM, checked to be an RSA private key that signs.
    pub private_key: SecretString,
    pub private_key_id: Option<String>,
    pub project_id: String,
    pub token_uri: String,
}

/// A workspace's own OpenAI-compatible host (vLLM, Ollama, a reseller).
#[derive(Debug, Clone)]
pub struct Compatible {
    /// Base URL including its version path (`…/v1`), without a trailing slash.
    pub host: Url,
    /// Local servers may take no key.
    pub api_key: Option<SecretString>,
    pub models: Vec<String>,
}

/// Which form a provider's credential takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    ApiKey,
    Azure,
    Bedrock,
    Vertex,
    Compatible,
}

impl CredentialKind {
    /// Every kind, in the order of SPEC §3.
    pub const ALL: [CredentialKind; 5] = [
        CredentialKind::ApiKey,
        CredentialKind::Azure,
        CredentialKind::Bedrock,
        CredentialKind::Vertex,
        CredentialKind::Compatible,
    ];

    /// Stable name, also the `kind` of a sealed structured credential.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Azure => "azure",
            CredentialKind::Bedrock => "bedrock",
            CredentialKind::Vertex => "vertex",
            CredentialKind::Compatible => "compatible",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<CredentialKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Credential {
    /// Which kind this credential is.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::ApiKey(_) => CredentialKind::ApiKey,
            Credential::Azure(_) => CredentialKind::Azure,
            Credential::Bedrock(_) => CredentialKind::Bedrock,
            Credential::Vertex(_) => CredentialKind::Vertex,
            Credential::Compatible(_) => CredentialKind::Compatible,
        }
    }

    /// What pages show instead of the credential (SPEC §3): only non-secret parts and at
    /// most the last four characters of a key. `key_prefixes` are the provider's known API
    /// key prefixes (used for plain API keys only).
    pub fn mask(&self, key_prefixes: &[&str]) -> String {
        let last4 = |s: &SecretString| crate::domain::vault::mask(s.expose_secret(), &[]);
        match self {
            Credential::ApiKey(key) => {
                crate::domain::vault::mask(key.expose_secret(), key_prefixes)
            }
            Credential::Azure(a) => format!(
                "{} · {}",
                a.endpoint.host_str().unwrap_or_default(),
                last4(&a.api_key)
            ),
            Credential::Bedrock(b) => {
                let id = &b.access_key_id;
                let prefix = id.get(..4).unwrap_or_default();
                let tail = id.get(id.len().saturating_sub(4)..).unwrap_or_default();
                format!("{} · {prefix}…{tail}", b.region)
            }
            Credential::Vertex(v) => {
                format!("{} · {}", v.service_account.client_email, v.location)
            }
            Credential::Compatible(c) => {
                let host = match (c.host.host_str(), c.host.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    (None, _) => String::new(),
                };
                match &c.api_key {
                    Some(k) => format!("{host} · {}", last4(k)),
                    None => format!("{host} · no key"),
                }
            }
        }
    }

    /// Every secret string of the credential, for the response scrubber. Identifiers that
    /// pages may show in part (access key id, endpoint, e-mail) are not secrets.
    pub fn secret_parts(&self) -> Vec<&str> {
        match self {
            Credential::ApiKey(key) => vec![key.expose_secret()],
            Credential::Azure(a) => vec![a.api_key.expose_secret()],
            Credential::Bedrock(b) => std::iter::once(&b.secret_access_key)
                .chain(b.session_token.as_ref())
                .map(|s| s.expose_secret())
                .collect(),
            Credential::Vertex(v) => vec![v.service_account.private_key.expose_secret()],
            Credential::Compatible(c) => c.api_key.iter().map(|k| k.expose_secret()).collect(),
        }
    }
}

#[cfg(test)]
mod tests;

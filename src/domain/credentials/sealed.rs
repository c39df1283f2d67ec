//! What is sealed for a key: a plain API key stays the plain string (so rows sealed before
//! structured credentials existed still open); a structured credential is one JSON
//! document, `{"kind":"azure",...}`, sealed whole.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    Azure, Bedrock, Compatible, Credential, CredentialKind, Deployment, ServiceAccount, Vertex,
};

/// A sealed credential that does not read as the kind its provider takes. Says nothing of
/// the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored credential is not a valid {expected} credential")]
pub struct OpenError {
    pub expected: CredentialKind,
}

#[derive(Serialize)]
struct DeploymentOut<'a> {
    model: &'a str,
    deployment: &'a str,
}

#[derive(Serialize)]
struct ServiceAccountOut<'a> {
    client_email: &'a str,
    private_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_id: Option<&'a str>,
    project_id: &'a str,
    token_uri: &'a str,
}

/// Borrowing mirror of the credential for writing (secrets are exposed only into the
/// returned document, which is itself a secret).
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Out<'a> {
    Azure {
        endpoint: &'a str,
        api_key: &'a str,
        api_version: &'a str,
        deployments: Vec<DeploymentOut<'a>>,
    },
    Bedrock {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_token: Option<&'a str>,
        region: &'a str,
    },
    Vertex {
        service_account: ServiceAccountOut<'a>,
        location: &'a str,
    },
    Compatible {
        host: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        api_key: Option<&'a str>,
        models: &'a [String],
    },
}

#[derive(Deserialize)]
struct DeploymentIn {
    model: String,
    deployment: String,
}

#[derive(Deserialize)]
struct ServiceAccountIn {
    client_email: String,
    private_key: SecretString,
    #[serde(default)]
    private_key_id: Option<String>,
    project_id: String,
    token_uri: String,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum In {
    Azure {
        endpoint: String,
        api_key: SecretString,
        api_version: String,
        deployments: Vec<DeploymentIn>,
    },
    Bedrock {
        access_key_id: String,
        secret_access_key: SecretString,
        #[serde(default)]
        session_token: Option<SecretString>,
        region: String,
    },
    Vertex {
        service_account: ServiceAccountIn,
        location: String,
    },
    Compatible {
        host: String,
        #[serde(default)]
        api_key: Option<SecretString>,
        models: Vec<String>,
    },
}

fn s(k: &SecretString) -> &str {
    k.expose_secret()
}

impl Credential {
    /// The plaintext to seal: the key itself for an API key, else one JSON document.
    pub fn to_sealed_json(&self) -> SecretString {
        let out = match self {
            Credential::ApiKey(key) => return key.clone(),
            Credential::Azure(a) => Out::Azure {
                endpoint: a.endpoint.as_str(),
                api_key: s(&a.api_key),
                api_version: &a.api_version,
                deployments: a
                    .deployments
                    .iter()
                    .map(|d| DeploymentOut {
                        model: &d.model,
                        deployment: &d.deployment,
                    })
                    .collect(),
            },
            Credential::Bedrock(b) => Out::Bedrock {
                access_key_id: &b.access_key_id,
                secret_access_key: s(&b.secret_access_key),
                session_token: b.session_token.as_ref().map(s),
                region: &b.region,
            },
            Credential::Vertex(v) => {
                let sa = &v.service_account;
                Out::Vertex {
                    service_account: ServiceAccountOut {
                        client_email: &sa.client_email,
                        private_key: s(&sa.private_key),
                        private_key_id: sa.private_key_id.as_deref(),
                        project_id: &sa.project_id,
                        token_uri: &sa.token_uri,
                    },
                    location: &v.location,
                }
            }
            Credential::Compatible(c) => Out::Compatible {
                host: c.host.as_str(),
                api_key: c.api_key.as_ref().map(s),
                models: &c.models,
            },
        };
        // Serialising borrowed strings into a String cannot fail.
        SecretString::from(serde_json::to_string(&out).unwrap_or_default())
    }

    /// Reads what `to_sealed_json` wrote, for a provider whose credentials are `kind`.
    pub fn from_opened(
        kind: CredentialKind,
        opened: &SecretString,
    ) -> Result<Credential, OpenError> {
        let bad = || OpenError { expected: kind };
        if kind == CredentialKind::ApiKey {
            return Ok(Credential::ApiKey(opened.clone()));
        }
        let doc: In = serde_json::from_str(opened.expose_secret()).map_err(|_| bad())?;
        let url = |u: String| Url::parse(&u).map_err(|_| bad());
        let cred = match doc {
            In::Azure {
                endpoint,
                api_key,
                api_version,
                deployments,
            } => Credential::Azure(Azure {
                endpoint: url(endpoint)?,
                api_key,
                api_version,
                deployments: deployments
                    .into_iter()
                    .map(|d| Deployment {
                        model: d.model,
                        deployment: d.deployment,
                    })
                    .collect(),
            }),
            In::Bedrock {
                access_key_id,
                secret_access_key,
                session_token,
                region,
            } => Credential::Bedrock(Bedrock {
                access_key_id,
                secret_access_key,
                session_token,
                region,
            }),
            In::Vertex {
                service_account: sa,
                location,
            } => Credential::Vertex(Vertex {
                service_account: ServiceAccount {
                    client_email: sa.client_email,
                    private_key: sa.private_key,
                    private_key_id: sa.private_key_id,
                    project_id: sa.project_id,
                    token_uri: sa.token_uri,
                },
                location,
            }),
            In::Compatible {
                host,
                api_key,
                models,
            } => Credential::Compatible(Compatible {
                host: url(host)?,
                api_key,
                models,
            }),
        };
        if cred.kind() == kind {
            Ok(cred)
        } else {
            Err(bad())
        }
    }
}

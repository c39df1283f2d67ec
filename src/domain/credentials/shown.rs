//! What a credential form may show: which fields each kind has, which of them are secret
//! (never prefilled, never shown back), and the non-secret values of a stored credential
//! or of a refused submission, so that only the secrets are typed again.

use secrecy::ExposeSecret;

use super::form::{Field, FormInput, fields};
use super::{Credential, CredentialKind};

/// The fields of a kind's form, in the order the form shows them (SPEC §3).
pub fn fields_of(kind: CredentialKind) -> &'static [Field] {
    use fields::*;
    match kind {
        CredentialKind::ApiKey => &[API_KEY],
        CredentialKind::Azure => &[ENDPOINT, API_KEY, API_VERSION, DEPLOYMENTS],
        CredentialKind::Bedrock => &[
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            REGION,
            SESSION_TOKEN,
            CREDENTIALS_JSON,
        ],
        CredentialKind::Vertex => &[SERVICE_ACCOUNT_JSON, LOCATION],
        CredentialKind::Compatible => &[API_HOST, API_KEY, MODELS],
    }
}

/// Whether a field holds a secret (or may: Bedrock's JSON, Vertex's key file).
pub fn is_secret(name: &str) -> bool {
    [
        fields::API_KEY,
        fields::SECRET_ACCESS_KEY,
        fields::SESSION_TOKEN,
        fields::CREDENTIALS_JSON,
        fields::SERVICE_ACCOUNT_JSON,
    ]
    .iter()
    .any(|f| f.0 == name)
}

/// The field a problem with the credential as a whole is reported against (a rejected
/// or duplicate credential): the one holding its secret.
pub fn key_field(kind: CredentialKind, form: &FormInput) -> &'static str {
    match kind {
        CredentialKind::ApiKey | CredentialKind::Azure | CredentialKind::Compatible => {
            fields::API_KEY.0
        }
        CredentialKind::Bedrock if form.filled(fields::CREDENTIALS_JSON).is_some() => {
            fields::CREDENTIALS_JSON.0
        }
        CredentialKind::Bedrock => fields::SECRET_ACCESS_KEY.0,
        CredentialKind::Vertex => fields::SERVICE_ACCOUNT_JSON.0,
    }
}

impl FormInput {
    /// Whether any of the kind's credential fields was filled.
    pub fn any_filled(&self, kind: CredentialKind) -> bool {
        fields_of(kind).iter().any(|f| self.filled(*f).is_some())
    }

    /// A submitted value to show back in the form: empty for a secret field, and for a
    /// plain field that holds a secret typed in this form (a key pasted in the wrong box).
    pub fn shown(&self, name: &str) -> String {
        if is_secret(name) {
            return String::new();
        }
        let value = self.raw(name);
        let holds_secret = self
            .names()
            .filter(|n| is_secret(n))
            .map(|n| self.raw(n).trim())
            .any(|s| s.len() >= 8 && value.contains(s));
        if holds_secret {
            String::new()
        } else {
            value.to_owned()
        }
    }

    /// A plain (non-secret) field of the submission: the provider, the label.
    pub fn text(&self, name: &str) -> &str {
        if is_secret(name) { "" } else { self.raw(name) }
    }
}

impl Credential {
    /// The stored values of the non-secret fields, to prefill an edit form.
    pub fn shown_values(&self) -> Vec<(&'static str, String)> {
        match self {
            Credential::ApiKey(_) => Vec::new(),
            Credential::Azure(a) => vec![
                (fields::ENDPOINT.0, a.endpoint.as_str().to_owned()),
                (fields::API_VERSION.0, a.api_version.clone()),
                (
                    fields::DEPLOYMENTS.0,
                    a.deployments
                        .iter()
                        .map(|d| {
                            if d.model == d.deployment {
                                d.deployment.clone()
                            } else {
                                format!("{}={}", d.model, d.deployment)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            ],
            Credential::Bedrock(b) => vec![
                (fields::ACCESS_KEY_ID.0, b.access_key_id.clone()),
                (fields::REGION.0, b.region.clone()),
            ],
            Credential::Vertex(v) => vec![(fields::LOCATION.0, v.location.clone())],
            Credential::Compatible(c) => vec![
                (fields::API_HOST.0, c.host.as_str().to_owned()),
                (fields::MODELS.0, c.models.join("\n")),
            ],
        }
    }

    /// Whether this credential is exactly `other` (same sealed document).
    pub fn same_as(&self, other: &Credential) -> bool {
        self.to_sealed_json().expose_secret() == other.to_sealed_json().expose_secret()
    }
}

/// Every credential field of every kind, once.
pub fn fields_of_all() -> Vec<Field> {
    let mut all: Vec<Field> = Vec::new();
    for kind in CredentialKind::ALL {
        for f in fields_of(kind) {
            if !all.contains(f) {
                all.push(*f);
            }
        }
    }
    all
}

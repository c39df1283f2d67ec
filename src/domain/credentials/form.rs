//! Reading a credential from its form (SPEC §3 labels) before any network call: every
//! field is checked, and every problem is reported against the field it belongs to. No
//! message repeats what was typed (a secret pasted in the wrong box stays unseen).

use std::collections::HashMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::checks;
use super::secret::{API_KEY, check_secret};
use super::{Azure, Compatible, Credential, CredentialKind, DEFAULT_AZURE_API_VERSION};
use crate::outbound::{HostField, OutboundAllow, check_url};

/// The form field names (`name=` attributes) and their visible labels.
pub mod fields {
    pub const API_KEY: (&str, &str) = ("api_key", "API key");
    pub const ENDPOINT: (&str, &str) = ("endpoint", "Endpoint");
    pub const API_VERSION: (&str, &str) = ("api_version", "API version");
    pub const DEPLOYMENTS: (&str, &str) = ("deployments", "Deployments");
    pub const ACCESS_KEY_ID: (&str, &str) = ("access_key_id", "Access key ID");
    pub const SECRET_ACCESS_KEY: (&str, &str) = ("secret_access_key", "Secret access key");
    pub const SESSION_TOKEN: (&str, &str) = ("session_token", "Session token");
    pub const REGION: (&str, &str) = ("region", "Region");
    pub const CREDENTIALS_JSON: (&str, &str) = ("credentials_json", "Credentials JSON");
    pub const SERVICE_ACCOUNT_JSON: (&str, &str) = ("service_account_json", "Service account JSON");
    pub const LOCATION: (&str, &str) = ("location", "Location");
    pub const API_HOST: (&str, &str) = ("api_host", "API host");
    pub const MODELS: (&str, &str) = ("models", "Models");
}

pub(super) type Field = (&'static str, &'static str);

/// Submitted form fields, name → value. Every value is held as a secret (the form mixes
/// secrets and plain fields), and `Debug` lists names only.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct FormInput {
    fields: HashMap<String, SecretString>,
}

impl FormInput {
    /// A form from name/value pairs (tests, and handlers that already hold the values).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> FormInput {
        FormInput {
            fields: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), SecretString::from(v)))
                .collect(),
        }
    }

    /// The raw value of a field, "" when absent.
    pub(super) fn raw(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map(|v| v.expose_secret())
            .unwrap_or("")
    }

    /// Sets a field (edits fill in stored values).
    pub(super) fn set(&mut self, name: &str, value: &str) {
        self.fields
            .insert(name.to_owned(), SecretString::from(value));
    }

    /// The trimmed value of a field, `None` when absent or blank.
    pub(super) fn filled(&self, field: Field) -> Option<&str> {
        Some(self.raw(field.0).trim()).filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for FormInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.fields.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("FormInput").field("fields", &names).finish()
    }
}

/// A problem with one field: its `name=`, its visible label, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub label: &'static str,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.label, self.message)
    }
}

/// What parsing needs to know of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// `KEYHOLD_OUTBOUND_ALLOW`.
    pub allow: &'a OutboundAllow,
    /// `KEYHOLD_GOOGLE_TOKEN_URL`, when the operator set one.
    pub google_token_url: Option<&'a Url>,
}

/// Collects field errors while a form is read.
#[derive(Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub(super) fn add(&mut self, field: Field, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.0,
            label: field.1,
            message: message.into(),
        });
    }

    /// The value of `check`, or `None` with its error recorded against `field`.
    pub(super) fn take<T>(&mut self, field: Field, check: Result<T, String>) -> Option<T> {
        check.map_err(|m| self.add(field, m)).ok()
    }

    fn finish(self, cred: Option<Credential>) -> Result<Credential, Vec<FieldError>> {
        match cred {
            Some(c) if self.0.is_empty() => Ok(c),
            _ => Err(self.0),
        }
    }
}

/// Reads a credential of `kind` from its form.
pub fn parse_form(
    kind: CredentialKind,
    form: &FormInput,
    ctx: &ParseContext<'_>,
) -> Result<Credential, Vec<FieldError>> {
    let mut errors = Errors::default();
    let cred = match kind {
        CredentialKind::ApiKey => errors
            .take(fields::API_KEY, check_secret(form.raw("api_key"), API_KEY))
            .map(Credential::ApiKey),
        CredentialKind::Azure => azure(form, ctx, &mut errors).map(Credential::Azure),
        CredentialKind::Bedrock => {
            super::bedrock::parse(form, &mut errors).map(Credential::Bedrock)
        }
        CredentialKind::Vertex => {
            super::vertex::parse(form, ctx, &mut errors).map(Credential::Vertex)
        }
        CredentialKind::Compatible => {
            compatible(form, ctx, &mut errors).map(Credential::Compatible)
        }
    };
    errors.finish(cred)
}

impl Credential {
    /// Reads a credential of `kind` from its form (see [`parse_form`]).
    pub fn parse(
        kind: CredentialKind,
        form: &FormInput,
        ctx: &ParseContext<'_>,
    ) -> Result<Credential, Vec<FieldError>> {
        parse_form(kind, form, ctx)
    }
}

/// A user-supplied base URL: parsed, guarded, without query, fragment or trailing slash.
fn host_url(
    raw: Option<&str>,
    field: HostField,
    example: &str,
    allow: &OutboundAllow,
) -> Result<Url, String> {
    let label = field.label();
    let raw = raw.ok_or_else(|| format!("Enter the {label}, such as {example}."))?;
    let mut url =
        Url::parse(raw).map_err(|_| format!("The {label} must be a URL such as {example}."))?;
    check_url(&url, allow).map_err(|why| why.message(field))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "The {label} must not hold a query (?…) or fragment (#…); enter the base URL \
             only, such as {example}."
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

fn azure(form: &FormInput, ctx: &ParseContext<'_>, errors: &mut Errors) -> Option<Azure> {
    let example = "https://my-resource.openai.azure.com";
    let endpoint = host_url(
        form.filled(fields::ENDPOINT),
        HostField::Endpoint,
        example,
        ctx.allow,
    )
    .and_then(|url| {
        let host = url.host_str().unwrap_or_default();
        if checks::is_azure_host(host) || crate::outbound::allowed(host, ctx.allow) {
            Ok(url)
        } else {
            Err(format!(
                "The Endpoint must be an Azure OpenAI resource address such as {example} \
                 (a host under openai.azure.com, cognitiveservices.azure.com or \
                 services.ai.azure.com)."
            ))
        }
    });
    let endpoint = errors.take(fields::ENDPOINT, endpoint);
    let api_key = errors.take(fields::API_KEY, check_secret(form.raw("api_key"), API_KEY));
    let api_version = form
        .filled(fields::API_VERSION)
        .unwrap_or(DEFAULT_AZURE_API_VERSION);
    let api_version = errors.take(
        fields::API_VERSION,
        if checks::is_azure_api_version(api_version) {
            Ok(api_version.to_owned())
        } else {
            Err(format!(
                "The API version is a date such as {DEFAULT_AZURE_API_VERSION} \
                 (or 2025-01-01-preview); leave it empty for {DEFAULT_AZURE_API_VERSION}."
            ))
        },
    );
    let deployments = errors.take(
        fields::DEPLOYMENTS,
        checks::parse_deployments(form.raw(fields::DEPLOYMENTS.0)),
    );
    Some(Azure {
        endpoint: endpoint?,
        api_key: api_key?,
        api_version: api_version?,
        deployments: deployments?,
    })
}

fn compatible(form: &FormInput, ctx: &ParseContext<'_>, errors: &mut Errors) -> Option<Compatible> {
    let host = errors.take(
        fields::API_HOST,
        host_url(
            form.filled(fields::API_HOST),
            HostField::ApiHost,
            "https://llm.example.com/v1",
            ctx.allow,
        ),
    );
    let api_key = match form.filled(fields::API_KEY) {
        None => Some(None),
        Some(k) => errors
            .take(fields::API_KEY, check_secret(k, API_KEY))
            .map(Some),
    };
    let models = errors.take(
        fields::MODELS,
        checks::parse_models(form.raw(fields::MODELS.0)),
    );
    Some(Compatible {
        host: host?,
        api_key: api_key?,
        models: models?,
    })
}

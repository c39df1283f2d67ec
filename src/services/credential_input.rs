//! A submitted credential form, for the owner's keys and the admin's global keys alike:
//! read by the credential parser (a field error names its field, before any network call),
//! checked against its label, tested with the provider, and — for an OpenAI-compatible host
//! whose "Models" was left empty — completed with the models the host listed.

use secrecy::SecretString;

use super::Ctx;
use super::key_records::{self as records};
use crate::config::Config;
use crate::domain::credentials::{
    Credential, FieldError, FormInput, ParseContext, fields, key_field, parse_edit, parse_form,
};
use crate::domain::providers::Provider;
use crate::error::{Error, Result};
use crate::upstream::{KeyTest, TestOutcome};

/// What parsing needs of the configuration: the outbound allow list, and the operator's
/// token URL only when one was set (a service account may name Google's or that one).
pub fn parse_context(config: &Config) -> ParseContext<'_> {
    ParseContext {
        allow: &config.outbound_allow,
        google_token_url: config.google_token_override(),
    }
}

/// The first field error as the form's inline error (the rest of the form is kept).
fn first(errors: Vec<FieldError>) -> Error {
    match errors.into_iter().next() {
        Some(e) => Error::invalid(e.field, e.message),
        None => Error::invalid("form", "Check the form and try again."),
    }
}

/// Reads a new credential for `provider` from its form.
pub fn read(config: &Config, provider: &Provider, form: &FormInput) -> Result<Credential> {
    let kind = provider.auth.credential_kind();
    parse_form(kind, form, &parse_context(config)).map_err(first)
}

/// Reads an edit of `stored`: empty secret fields keep the stored secrets.
pub fn read_edit(config: &Config, stored: &Credential, form: &FormInput) -> Result<Credential> {
    parse_edit(form, &parse_context(config), stored).map_err(first)
}

/// Checks a label against every secret part of the credential it names.
pub fn label(input: &str, cred: &Credential) -> Result<String> {
    let label = records::parse_label(input, None)?;
    let holds = cred
        .secret_parts()
        .into_iter()
        .any(|part| records::label_holds_key(&label, Some(&SecretString::from(part))));
    if holds {
        return Err(Error::invalid(
            "label",
            "The label must not contain the key. Put the key in its own field.",
        ));
    }
    Ok(label)
}

/// Whether a label must not be shown back: it holds a secret typed in this form.
pub fn label_holds_secret(label: &str, form: &FormInput) -> bool {
    crate::domain::credentials::fields_of_all()
        .iter()
        .filter(|f| crate::domain::credentials::is_secret(f.0))
        .filter_map(|f| form.filled(*f))
        .any(|s| records::label_holds_key(label, Some(&SecretString::from(s))))
}

/// Tests the credential with its provider. A rejected credential is an input error
/// against its secret's field; an OpenAI-compatible host with no "Models" gets the ones
/// its `GET /models` listed (none listed: the owner is asked to type them).
pub async fn test(
    state: &Ctx,
    provider: &'static Provider,
    mut cred: Credential,
    form: &FormInput,
) -> Result<(Credential, KeyTest)> {
    let report = state.key_tester.test(provider, &cred).await;
    let test = report.test;
    if test.outcome == TestOutcome::Invalid {
        return Err(Error::invalid(key_field(cred.kind(), form), test.message()));
    }
    if let Credential::Compatible(c) = &mut cred
        && c.models.is_empty()
    {
        if report.models.is_empty() {
            return Err(Error::invalid(
                fields::MODELS.0,
                "The host listed no models. Enter the models it serves, one per line.",
            ));
        }
        c.models = report.models;
    }
    Ok((cred, test))
}

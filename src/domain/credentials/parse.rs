//! Reading a credential of any kind from its form: each kind's reader (`form` for Azure and
//! compatible hosts, `bedrock`, `vertex`) behind one entry point.

use super::form::{self, Errors, FieldError, FormInput, ParseContext, fields};
use super::secret::{API_KEY, check_secret};
use super::{Credential, CredentialKind, bedrock, vertex};

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
        CredentialKind::Azure => form::azure(form, ctx, &mut errors).map(Credential::Azure),
        CredentialKind::Bedrock => bedrock::parse(form, &mut errors).map(Credential::Bedrock),
        CredentialKind::Vertex => vertex::parse(form, ctx, &mut errors).map(Credential::Vertex),
        CredentialKind::Compatible => {
            form::compatible(form, ctx, &mut errors).map(Credential::Compatible)
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

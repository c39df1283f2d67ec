//! The fields of a structured credential's form (Azure, Bedrock, Vertex, an
//! OpenAI-compatible host) as pages render them, with SPEC §3's labels: plain fields keep
//! what was typed (or what is stored, when editing), secret fields are never prefilled,
//! and a field error sits beside its field. Rendered by `_credential_fields.html`.

use crate::domain::credentials::{CredentialKind, fields, fields_of, is_secret};
use crate::web::forms::FormErrors;

/// One input of a credential form.
pub struct FieldView {
    /// The element id (unique on the page).
    pub id: String,
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `password` or `textarea`.
    pub control: &'static str,
    pub value: String,
    pub placeholder: &'static str,
    pub hint: String,
    pub optional: bool,
    pub error: Option<String>,
}

/// Whether the form is for a new credential or an edit of a stored one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    New,
    Edit,
}

/// The fields of `kind`'s form (none for a plain API key: pages keep their own input).
/// `value` gives the value a plain field shows; `errors` the error of this form.
pub fn views(
    kind: CredentialKind,
    id_prefix: &str,
    value: impl Fn(&str) -> String,
    errors: &FormErrors,
    mode: Mode,
) -> Vec<FieldView> {
    if kind == CredentialKind::ApiKey {
        return Vec::new();
    }
    let edit = mode == Mode::Edit;
    fields_of(kind)
        .iter()
        .map(|&(name, label)| {
            let (control, placeholder, hint, optional) = describe(kind, name, edit);
            FieldView {
                id: format!("{id_prefix}-{name}"),
                name,
                label,
                control,
                value: if is_secret(name) {
                    String::new()
                } else {
                    value(name)
                },
                placeholder,
                hint,
                optional,
                error: errors.get(name),
            }
        })
        .collect()
}

/// Whether an error belongs to a field the kind's form shows (else the page shows it
/// above the form).
pub fn shows_field(kind: CredentialKind, field: &str) -> bool {
    field == "label" || field == "form" || fields_of(kind).iter().any(|f| f.0 == field)
}

/// Moves an error on a field the form does not show to the top of the form.
pub fn place(errors: FormErrors, kind: CredentialKind) -> FormErrors {
    match errors.field {
        Some(f) if !shows_field(kind, f) => FormErrors {
            field: Some("form"),
            message: errors.message,
        },
        _ => errors,
    }
}

/// Control, placeholder, hint and optionality of one field.
fn describe(
    kind: CredentialKind,
    name: &str,
    edit: bool,
) -> (&'static str, &'static str, String, bool) {
    let keep = |what: &str| format!("Leave empty to keep the stored {what}.");
    match name {
        n if n == fields::ENDPOINT.0 => (
            "text",
            "https://my-resource.openai.azure.com",
            "Your Azure OpenAI resource's endpoint (https).".into(),
            false,
        ),
        n if n == fields::API_KEY.0 && kind == CredentialKind::Compatible => (
            "password",
            "",
            if edit {
                keep("key (enter it again if you change the API host)")
            } else {
                "Leave empty for a local server that takes no key.".into()
            },
            true,
        ),
        n if n == fields::API_KEY.0 => (
            "password",
            "",
            if edit {
                keep("key (enter it again if you change the Endpoint)")
            } else {
                "Key 1 or Key 2 of the resource (Keys and Endpoint).".into()
            },
            edit,
        ),
        n if n == fields::API_VERSION.0 => (
            "text",
            crate::domain::credentials::DEFAULT_AZURE_API_VERSION,
            format!(
                "Leave empty for {}.",
                crate::domain::credentials::DEFAULT_AZURE_API_VERSION
            ),
            true,
        ),
        n if n == fields::DEPLOYMENTS.0 => (
            "textarea",
            "gpt-4o=my-gpt4o",
            "One per line: model=deployment, or a bare deployment name.".into(),
            false,
        ),
        n if n == fields::ACCESS_KEY_ID.0 => (
            "text",
            "AKIA…",
            "An IAM access key allowed to call Bedrock in this region.".into(),
            false,
        ),
        n if n == fields::SECRET_ACCESS_KEY.0 => (
            "password",
            "",
            if edit {
                keep("secret (enter it again if you change the access key ID)")
            } else {
                "Shown once by AWS when the access key was created.".into()
            },
            edit,
        ),
        n if n == fields::REGION.0 => (
            "text",
            "us-east-1",
            "The AWS region whose Bedrock models to call.".into(),
            false,
        ),
        n if n == fields::SESSION_TOKEN.0 => (
            "password",
            "",
            "Only for temporary credentials.".into(),
            true,
        ),
        n if n == fields::CREDENTIALS_JSON.0 => (
            "textarea",
            "",
            "Instead of the fields above: {\"accessKeyId\", \"secretAccessKey\", \"region\"} \
             (optional \"sessionToken\"). Fill the fields or the JSON, not both."
                .into(),
            true,
        ),
        n if n == fields::SERVICE_ACCOUNT_JSON.0 => (
            "textarea",
            "",
            if edit {
                keep("key file")
            } else {
                "The service account's JSON key file, pasted whole.".into()
            },
            edit,
        ),
        n if n == fields::LOCATION.0 => (
            "text",
            "us-central1",
            "A Google Cloud region such as us-central1 or europe-west4, or global.".into(),
            false,
        ),
        n if n == fields::API_HOST.0 => (
            "text",
            "https://llm.example.com/v1",
            "The base URL including its version path (…/v1).".into(),
            false,
        ),
        n if n == fields::MODELS.0 => (
            "textarea",
            "",
            "One per line. Leave empty to read them from the host's GET /models when saved.".into(),
            true,
        ),
        _ => ("text", "", String::new(), true),
    }
}

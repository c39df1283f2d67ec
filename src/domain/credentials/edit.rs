//! Editing a stored credential: a secret field left empty keeps the stored secret (as for
//! API keys), except where the secret would go somewhere new — a changed Azure "Endpoint"
//! or "API host", or another access key ID — which needs the secret typed again (SPEC §11).

use secrecy::ExposeSecret;
use url::Url;

use super::Credential;
use super::form::{FieldError, FormInput, ParseContext, fields, parse_form};

/// Reads an edit form for `stored` (see the module comment for what empty fields keep).
pub fn parse_edit(
    form: &FormInput,
    ctx: &ParseContext<'_>,
    stored: &Credential,
) -> Result<Credential, Vec<FieldError>> {
    let kind = stored.kind();
    let mut form = form.clone();
    let mut again: Option<(&'static str, &'static str, &'static str)> = None;
    match stored {
        Credential::ApiKey(key) => {
            if form.filled(fields::API_KEY).is_none() {
                form.set(fields::API_KEY.0, key.expose_secret());
            }
        }
        Credential::Azure(a) => {
            if form.filled(fields::API_KEY).is_none() {
                if same_url(form.filled(fields::ENDPOINT), &a.endpoint) {
                    form.set(fields::API_KEY.0, a.api_key.expose_secret());
                } else if form.filled(fields::ENDPOINT).is_some() {
                    again = Some((fields::API_KEY.0, fields::API_KEY.1, "the Endpoint changed"));
                }
            }
        }
        Credential::Compatible(c) => {
            if form.filled(fields::API_KEY).is_none()
                && let Some(key) = &c.api_key
            {
                if same_url(form.filled(fields::API_HOST), &c.host) {
                    form.set(fields::API_KEY.0, key.expose_secret());
                } else if form.filled(fields::API_HOST).is_some() {
                    again = Some((fields::API_KEY.0, fields::API_KEY.1, "the API host changed"));
                }
            }
        }
        Credential::Bedrock(b) => {
            let fields_used = form.filled(fields::CREDENTIALS_JSON).is_none();
            let same_id = form.filled(fields::ACCESS_KEY_ID) == Some(b.access_key_id.as_str());
            if fields_used && form.filled(fields::SECRET_ACCESS_KEY).is_none() {
                if same_id {
                    form.set(
                        fields::SECRET_ACCESS_KEY.0,
                        b.secret_access_key.expose_secret(),
                    );
                    if form.filled(fields::SESSION_TOKEN).is_none()
                        && let Some(t) = &b.session_token
                    {
                        form.set(fields::SESSION_TOKEN.0, t.expose_secret());
                    }
                } else if form.filled(fields::ACCESS_KEY_ID).is_some() {
                    again = Some((
                        fields::SECRET_ACCESS_KEY.0,
                        fields::SECRET_ACCESS_KEY.1,
                        "the access key ID changed",
                    ));
                }
            }
        }
        Credential::Vertex(v) => {
            if form.filled(fields::SERVICE_ACCOUNT_JSON).is_none() {
                let sa = &v.service_account;
                let json = serde_json::json!({
                    "type": "service_account",
                    "client_email": sa.client_email,
                    "private_key": sa.private_key.expose_secret(),
                    "private_key_id": sa.private_key_id,
                    "project_id": sa.project_id,
                    "token_uri": sa.token_uri,
                });
                form.set(fields::SERVICE_ACCOUNT_JSON.0, &json.to_string());
            }
        }
    }
    let parsed = parse_form(kind, &form, ctx);
    match again {
        None => parsed,
        Some((field, label, why)) => {
            let mut errors = parsed.err().unwrap_or_default();
            errors.retain(|e| e.field != field);
            errors.push(FieldError {
                field,
                label,
                message: format!("Enter the {label} again: {why}."),
            });
            Err(errors)
        }
    }
}

/// Whether the typed URL is the stored one (after the same normalisation as saving).
fn same_url(typed: Option<&str>, stored: &Url) -> bool {
    typed.and_then(|t| Url::parse(t).ok()).is_some_and(|mut t| {
        let path = t.path().trim_end_matches('/').to_owned();
        t.set_path(&path);
        t == *stored
    })
}

impl Credential {
    /// Reads an edit form for this stored credential (see [`parse_edit`]).
    pub fn parse_edit(
        &self,
        form: &FormInput,
        ctx: &ParseContext<'_>,
    ) -> Result<Credential, Vec<FieldError>> {
        parse_edit(form, ctx, self)
    }
}

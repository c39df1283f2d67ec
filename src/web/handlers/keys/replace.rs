//! Replacing a key: its secret (or a structured credential's fields) and its label.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{KeyPath, back, flash_test, label_holds_key};
use crate::domain::credentials::{CredentialKind, FormInput};
use crate::domain::ids::KeyId;
use crate::error::{Error, Result};
use crate::services::key_records;
use crate::services::keys;
use crate::state::AppState;
use crate::web::credential_fields::{self as cf, FieldView, Mode};
use crate::web::extractors::WorkspaceOwner;
use crate::web::forms::FormErrors;
use crate::web::handlers::{ok, render};
use crate::web::layout::{Layout, flash_error, flash_success};

#[derive(Template)]
#[template(path = "workspace/key_replace.html")]
struct ReplacePage {
    layout: Layout,
    slug: String,
    id: KeyId,
    provider: &'static str,
    label: String,
    mask: String,
    label_value: String,
    errors: FormErrors,
    /// A structured credential's fields, its plain parts prefilled (empty for an API key).
    fields: Vec<FieldView>,
}

async fn replace_page(
    o: &WorkspaceOwner,
    state: &AppState,
    id: KeyId,
    errors: FormErrors,
    label_value: Option<String>,
    submitted: Option<&FormInput>,
) -> Result<ReplacePage> {
    let ws = o.0.workspace.workspace_id.clone();
    let row = state
        .db(move |c| key_records::workspace_key(c, &ws, &id))
        .await?;
    if row.removed_at.is_some() {
        return Err(Error::NotFound);
    }
    let catalogued = crate::domain::providers::find(&row.provider);
    let provider = catalogued.map_or("the provider", |p| p.name);
    let kind = catalogued.map_or(CredentialKind::ApiKey, |p| p.auth.credential_kind());
    // An error on a field this page has no input for is shown above the form.
    let errors = cf::place(errors, kind);
    // The stored credential's plain parts prefill its fields (never a secret part).
    let stored: Vec<(&'static str, String)> = match (catalogued, submitted) {
        (Some(p), None) if kind != CredentialKind::ApiKey => {
            key_records::open_secret(&state.config.keyring, &row)
                .ok()
                .and_then(|s| key_records::credential_of(p, &s).ok())
                .map(|c| c.shown_values())
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let fields = cf::views(
        kind,
        "edit",
        |name| match submitted {
            Some(f) => f.shown(name),
            None => stored
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        },
        &errors,
        Mode::Edit,
    );
    Ok(ReplacePage {
        layout: o.0.layout(format!("Replace “{}”", row.label), "ws-keys"),
        slug: o.0.workspace.slug.clone(),
        label_value: label_value.unwrap_or_else(|| row.label.clone()),
        id: row.id,
        provider,
        label: row.label,
        mask: row.mask,
        errors,
        fields,
    })
}

/// `GET /w/{slug}/settings/keys/{id}/replace`: the Replace button of a key's row.
pub async fn replace_form(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse> {
    let id = path.key_id()?;
    ok(&replace_page(&o, &state, id, FormErrors::default(), None, None).await?)
}

/// `POST /w/{slug}/settings/keys/{id}/replace`: a new credential and/or a new label;
/// empty secret fields keep the stored ones.
pub async fn replace(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    form: web::Form<FormInput>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let label = f.text("label").to_owned();
    let ws = o.0.workspace.workspace_id.clone();
    let id = path.key_id()?;
    let r = keys::replace(&state, o.0.user.actor(), ws, id.clone(), &label, &f).await;
    match r {
        Ok(Some(test)) => {
            let words = (
                "The key was replaced.",
                "The key was replaced, but untested.",
            );
            flash_test(&o, words, &id, &test);
        }
        Ok(None) => flash_success(
            &o.0.user.session,
            "The key was updated; the stored key was kept.",
        ),
        Err(Error::Conflict(message)) => flash_error(
            &o.0.user.session,
            format!("The key was not changed. {message}"),
        ),
        Err(e @ Error::Invalid { .. }) => {
            let errors = FormErrors::from_error(e)?;
            // A label that holds the key is refused, and not shown back in the form.
            let label = if label_holds_key(&label, &f) {
                String::new()
            } else {
                label
            };
            let page = replace_page(&o, &state, id, errors, Some(label), Some(&f)).await?;
            return render(&page, StatusCode::BAD_REQUEST);
        }
        Err(e) => return Err(e),
    }
    Ok(back(&o))
}

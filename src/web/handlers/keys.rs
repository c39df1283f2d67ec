//! `/w/<slug>/settings/keys`: a workspace owner's own provider keys (BYOK), and which key
//! answers each provider now. Owners only; the extractor answers members with 403 and
//! everyone else with 404. Pages show a key's mask, never the key. This file holds the
//! keys page and adding a key; `replace` and `actions` what is done to one key.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::integrations::{badge_status, last_test_text};
use super::workspace::format_time;
use super::{ok, render};
use crate::db::models::ProviderKeyRow;
use crate::domain::credentials::{CredentialKind, FormInput};
use crate::domain::ids::KeyId;
use crate::domain::resolution::KeyStatus;
use crate::error::Result;
use crate::services::key_records::{self, status_of};
use crate::services::keys::{self, ProviderExplanation};
use crate::state::AppState;
use crate::upstream::{KeyTest, TestOutcome};
use crate::web::credential_fields::{self as cf, FieldView, Mode};
use crate::web::extractors::WorkspaceOwner;
use crate::web::forms::{FormErrors, path_id, see_other};
use crate::web::layout::{Layout, flash_error, flash_success, flash_warning_retry};

mod actions;
mod replace;

pub use actions::{disable, enable, move_key, remove, remove_form, test};
pub use replace::{replace, replace_form};

struct KeyRow {
    id: KeyId,
    label: String,
    mask: String,
    status: &'static str,
    last_test: String,
    last_use: String,
    removed: String,
    is_disabled: bool,
    is_first: bool,
    is_last: bool,
}

impl KeyRow {
    fn of(k: &ProviderKeyRow) -> KeyRow {
        KeyRow {
            id: k.id.clone(),
            label: k.label.clone(),
            mask: k.mask.clone(),
            status: badge_status(status_of(k)),
            last_test: last_test_text(
                k.last_tested_at,
                k.last_test_result
                    .as_deref()
                    .and_then(TestOutcome::from_code),
            ),
            last_use: k.last_used_at.map_or_else(|| "Never".into(), format_time),
            removed: k.removed_at.map(format_time).unwrap_or_default(),
            is_disabled: status_of(k) == KeyStatus::Disabled,
            is_first: false,
            is_last: false,
        }
    }
}

struct Section {
    id: &'static str,
    name: &'static str,
    key_hint: &'static str,
    docs_url: &'static str,
    enabled: bool,
    byok_available: bool,
    source: &'static str,
    answering: String,
    reason: String,
    keys: Vec<KeyRow>,
    removed: Vec<KeyRow>,
    /// The add form's fields for a structured credential (empty for an API key).
    fields: Vec<FieldView>,
}

impl Section {
    fn of(
        e: &ProviderExplanation,
        all: &[ProviderKeyRow],
        errors: &FormErrors,
        submitted: Option<&FormInput>,
    ) -> Section {
        let p = e.provider();
        let fields = cf::views(
            p.auth.credential_kind(),
            &format!("new-{}", p.id),
            |name| submitted.map(|f| f.shown(name)).unwrap_or_default(),
            errors,
            Mode::New,
        );
        let (removed, live): (Vec<&ProviderKeyRow>, Vec<&ProviderKeyRow>) = all
            .iter()
            .filter(|k| k.provider == p.id)
            .partition(|k| k.removed_at.is_some());
        let n = live.len();
        let keys = live
            .into_iter()
            .enumerate()
            .map(|(i, k)| KeyRow {
                is_first: i == 0,
                is_last: i + 1 == n,
                ..KeyRow::of(k)
            })
            .collect();
        Section {
            id: p.id,
            name: p.name,
            key_hint: p.key_hint,
            docs_url: p.docs_url,
            enabled: e.settings.enabled,
            byok_available: e.settings.byok_available(),
            source: e.source_str(),
            answering: e.answering_label().unwrap_or_default().to_owned(),
            reason: e.owner_reason(),
            keys,
            removed: removed.into_iter().map(KeyRow::of).collect(),
            fields,
        }
    }
}

#[derive(Template)]
#[template(path = "workspace/keys.html")]
struct KeysPage {
    layout: Layout,
    slug: String,
    sections: Vec<Section>,
    errors: FormErrors,
    /// The provider whose add form `errors` and `label_value` belong to.
    form_provider: String,
    label_value: String,
}

impl KeysPage {
    fn err_for(&self, provider: &str, field: &str) -> Option<String> {
        (self.form_provider == provider)
            .then(|| self.errors.get(field))
            .flatten()
    }

    /// An error for a form this page does not show (a provider without BYOK, or unknown).
    fn orphan_error(&self) -> Option<String> {
        let shown = self
            .sections
            .iter()
            .any(|s| s.byok_available && s.id == self.form_provider);
        if shown {
            None
        } else {
            self.errors.message.clone()
        }
    }

    /// The providers turned off on the platform that hold none of this workspace's keys:
    /// named once, under the table, rather than a row each.
    fn turned_off(&self) -> Vec<&'static str> {
        self.sections
            .iter()
            .filter(|s| !s.enabled && s.keys.is_empty())
            .map(|s| s.name)
            .collect()
    }

    fn label_for(&self, provider: &str) -> &str {
        if self.form_provider == provider {
            &self.label_value
        } else {
            ""
        }
    }
}

async fn keys_page(
    o: &WorkspaceOwner,
    state: &AppState,
    errors: FormErrors,
    form_provider: String,
    label_value: String,
    submitted: Option<&FormInput>,
) -> Result<KeysPage> {
    let kind = crate::domain::providers::find(&form_provider)
        .map_or(CredentialKind::ApiKey, |p| p.auth.credential_kind());
    let errors = cf::place(errors, kind);
    let ws_id = o.0.workspace.workspace_id.clone();
    let read = state
        .pages
        .keys
        .get(state, ws_id.clone(), move |c| {
            let rows = keys::list(c, &ws_id)?;
            Ok((rows.clone(), keys::explain_with(c, &ws_id, &rows)?))
        })
        .await?;
    let (rows, explained) = &*read;
    Ok(KeysPage {
        layout: o.0.layout("Provider keys", "ws-keys"),
        slug: o.0.workspace.slug.clone(),
        sections: explained
            .iter()
            .map(|e| {
                let mine = e.provider().id == form_provider;
                let none = FormErrors::default();
                let errs = if mine { &errors } else { &none };
                Section::of(e, rows, errs, submitted.filter(|_| mine))
            })
            .collect(),
        errors,
        form_provider,
        label_value,
    })
}

/// `GET /w/{slug}/settings/keys`.
pub async fn page(o: WorkspaceOwner, state: web::Data<AppState>) -> Result<HttpResponse> {
    ok(&keys_page(
        &o,
        &state,
        FormErrors::default(),
        String::new(),
        String::new(),
        None,
    )
    .await?)
}

fn back(o: &WorkspaceOwner) -> HttpResponse {
    see_other(&format!("/w/{}/settings/keys", o.0.workspace.slug))
}

/// Says how a key test went: a success, a rejection, or a warning (saved, but not known to
/// work) that names what happened and offers to test the key again.
fn flash_test(o: &WorkspaceOwner, (done, unsure): (&str, &str), key_id: &str, test: &KeyTest) {
    let session = &o.0.user.session;
    match test.outcome {
        TestOutcome::Ok => flash_success(session, format!("{done} {}", test.message())),
        TestOutcome::Invalid => flash_error(session, format!("{done} {}", test.message())),
        TestOutcome::QuotaExceeded => flash_warning_retry(
            session,
            format!("{done} {}", test.message()),
            format!("/w/{}/settings/keys/{key_id}/test", o.0.workspace.slug),
        ),
        TestOutcome::Untested(_) => flash_warning_retry(
            session,
            format!("{unsure} {}", test.message()),
            format!("/w/{}/settings/keys/{key_id}/test", o.0.workspace.slug),
        ),
    }
}

/// `POST /w/{slug}/settings/keys`: "Save key". The form holds `provider`, `label` and the
/// provider's credential fields (SPEC §3); anything else posted is ignored.
pub async fn add(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    form: web::Form<FormInput>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let (provider, label) = (f.text("provider").to_owned(), f.text("label").to_owned());
    let ws = o.0.workspace.workspace_id.clone();
    match keys::add(&state, o.0.user.actor(), ws, &provider, &label, &f).await {
        Ok((id, test)) => {
            let words = ("The key was saved.", "The key was saved, but untested.");
            flash_test(&o, words, &id, &test);
            Ok(back(&o))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            // A label that holds the key is refused, and not shown back in the form.
            let label = if label_holds_key(&label, &f) {
                String::new()
            } else {
                label
            };
            let page = keys_page(&o, &state, errors, provider, label, Some(&f)).await?;
            render(&page, StatusCode::BAD_REQUEST)
        }
    }
}

/// Whether a typed label holds (or looks like) a secret typed in the same form.
fn label_holds_key(label: &str, f: &FormInput) -> bool {
    key_records::label_holds_key(label, None)
        || crate::services::credential_input::label_holds_secret(label, f)
}

#[derive(Deserialize)]
pub struct KeyPath {
    #[allow(dead_code)]
    slug: String,
    id: String,
}

impl KeyPath {
    /// The key's id; a malformed one is the 404 of an unknown one.
    fn key_id(&self) -> Result<KeyId> {
        path_id(&self.id)
    }
}

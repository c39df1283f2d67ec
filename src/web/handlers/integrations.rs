//! `/admin/integrations`: Settings → Integrations, one page per provider (enable, global
//! key, BYOK switch, failure policy). Turning BYOK off shows its impact first.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::workspace::format_time;
use super::{ok, render};
use crate::domain::credentials::{CredentialKind, FormInput};
use crate::domain::providers::{Provider, ProviderId};
use crate::domain::resolution::{FailurePolicy, KeyStatus};
use crate::error::{Error, Result};
use crate::services::integrations::{self, Change, GlobalKeyView, ProviderRow};
use crate::state::AppState;
use crate::upstream::TestOutcome;
use crate::web::credential_fields::{self as cf, FieldView, Mode};
use crate::web::extractors::PlatformAdmin;
use crate::web::forms::{FormErrors, see_other};
use crate::web::layout::{Layout, flash_error, flash_success, flash_warning_retry};

/// A "are you sure?" page whose form re-posts with `confirm=yes`; works without JS.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub heading: String,
    pub impact: String,
    pub details: Vec<String>,
    pub action: String,
    pub hidden: Vec<(&'static str, String)>,
    pub button: &'static str,
    pub back_href: String,
    pub back_label: String,
}

/// The key-status badge word of `_macros.html` for a stored status.
pub fn badge_status(s: KeyStatus) -> &'static str {
    match s {
        KeyStatus::Active => "active",
        KeyStatus::Untested => "untested",
        KeyStatus::QuotaWarning => "quota",
        KeyStatus::Invalid => "invalid",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Removed => "revoked",
    }
}

/// "2026-11-23 14:05:00 UTC · Passed", or "Never".
pub fn last_test_text(at: Option<i64>, result: Option<TestOutcome>) -> String {
    match (at, result) {
        (Some(t), Some(r)) => format!("{} · {}", format_time(t), r.short()),
        (Some(t), None) => format_time(t),
        _ => "Never".into(),
    }
}

/// The catalogue provider named in the path, or not found.
pub fn provider_from(path: &str) -> Result<&'static Provider> {
    ProviderId::parse(path)
        .map(ProviderId::provider)
        .ok_or(Error::NotFound)
}

struct GlobalKeyRow {
    mask: String,
    status: &'static str,
    last_test: String,
}

impl GlobalKeyRow {
    fn of(g: &GlobalKeyView) -> GlobalKeyRow {
        GlobalKeyRow {
            mask: g.mask.clone(),
            status: badge_status(g.status),
            last_test: last_test_text(g.last_tested_at, g.last_test_result),
        }
    }
}

struct IntegrationRow {
    id: &'static str,
    name: &'static str,
    enabled: bool,
    byok: bool,
    global: Option<GlobalKeyRow>,
    workspaces: i64,
}

#[derive(Template)]
#[template(path = "admin/integrations.html")]
struct IntegrationsPage {
    layout: Layout,
    rows: Vec<IntegrationRow>,
}

/// `GET /admin/integrations`.
pub async fn list(admin: PlatformAdmin, state: web::Data<AppState>) -> Result<HttpResponse> {
    let rows = state
        .pages
        .integrations
        .get(&state, (), integrations::list)
        .await?;
    ok(&IntegrationsPage {
        layout: admin.0.layout("Integrations", "admin-integrations"),
        rows: rows
            .iter()
            .map(|r| IntegrationRow {
                id: r.settings.provider.id,
                name: r.settings.provider.name,
                enabled: r.settings.enabled,
                byok: r.settings.byok_enabled,
                global: r.global_key.as_ref().map(GlobalKeyRow::of),
                workspaces: r.workspaces_with_keys,
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "admin/integration.html")]
struct ProviderPage {
    layout: Layout,
    id: &'static str,
    name: &'static str,
    key_hint: &'static str,
    docs_url: &'static str,
    enabled: bool,
    byok: bool,
    policy: &'static str,
    global: Option<GlobalKeyRow>,
    workspaces: i64,
    /// Where requests go, without credentials, and what set it.
    endpoint: String,
    endpoint_var: Option<String>,
    default_endpoint: &'static str,
    errors: FormErrors,
    /// The global credential's fields for a structured kind (empty for an API key).
    fields: Vec<FieldView>,
    /// OpenAI-compatible hosts take workspace keys only: no global key form.
    workspace_keys_only: bool,
}

fn provider_page(
    admin: &PlatformAdmin,
    state: &AppState,
    row: &ProviderRow,
    errors: FormErrors,
    submitted: Option<&FormInput>,
) -> ProviderPage {
    let p = row.settings.provider;
    let kind = p.auth.credential_kind();
    let errors = cf::place(errors, kind);
    let fields = cf::views(
        kind,
        "global",
        |name| submitted.map(|f| f.shown(name)).unwrap_or_default(),
        &errors,
        Mode::New,
    );
    ProviderPage {
        fields,
        workspace_keys_only: p.workspace_keys_only(),
        endpoint: state
            .config
            .provider_base_url(p.id)
            .map(crate::upstream::endpoint_text)
            .unwrap_or_default(),
        endpoint_var: state.config.provider_override_var(p.id),
        default_endpoint: p.default_base_url,
        layout: admin.0.layout(p.name, "admin-integrations"),
        id: p.id,
        name: p.name,
        key_hint: p.key_hint,
        docs_url: p.docs_url,
        enabled: row.settings.enabled,
        byok: row.settings.byok_enabled,
        policy: row.settings.failure_policy.as_str(),
        global: row.global_key.as_ref().map(GlobalKeyRow::of),
        workspaces: row.workspaces_with_keys,
        errors,
    }
}

/// `GET /admin/integrations/{provider}`.
pub async fn show(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let provider = provider_from(&path)?;
    let row = state.db(move |c| integrations::detail(c, provider)).await?;
    ok(&provider_page(
        &admin,
        &state,
        &row,
        FormErrors::default(),
        None,
    ))
}

/// The provider form. An unchecked switch sends nothing; the global key's fields (an API
/// key, or a structured credential's fields) are read by the credential parser, and
/// anything else posted is ignored.
#[derive(Deserialize)]
pub struct ProviderForm {
    enabled: Option<String>,
    byok_enabled: Option<String>,
    failure_policy: Option<String>,
    confirm: Option<String>,
    #[serde(flatten)]
    credential: FormInput,
}

/// `POST /admin/integrations/{provider}`: "Save changes".
pub async fn save(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<ProviderForm>,
) -> Result<HttpResponse> {
    let provider = provider_from(&path)?;
    let f = form.into_inner();
    let failure_policy = match f.failure_policy.as_deref() {
        None | Some("") => FailurePolicy::Fail,
        Some(s) => FailurePolicy::parse(s).ok_or_else(|| {
            Error::invalid(
                "failure_policy",
                "Choose what happens when a workspace key fails.",
            )
        })?,
    };
    let kind: CredentialKind = provider.auth.credential_kind();
    let submitted = f.credential;
    let change = Change {
        enabled: f.enabled.is_some(),
        byok_enabled: f.byok_enabled.is_some(),
        failure_policy,
        credential: submitted.any_filled(kind).then(|| submitted.clone()),
    };
    let current = state.db(move |c| integrations::detail(c, provider)).await?;

    if current.settings.byok_enabled && !change.byok_enabled && f.confirm.as_deref() != Some("yes")
    {
        let page = super::previews::byok_off(&admin, &state, provider, &change).await?;
        return ok(&page);
    }

    let entered_key = change.credential.is_some();
    let flags = (change.enabled, change.byok_enabled, change.failure_policy);
    match integrations::save(&state, admin.0.actor(), provider, change).await {
        Ok(saved) => {
            let session = &admin.0.session;
            match saved.key_test {
                Some(t) if t.outcome.is_warning() => flash_warning_retry(
                    session,
                    format!(
                        "Changes saved. The global key was saved, but untested. {}",
                        t.message()
                    ),
                    format!("/admin/integrations/{}/test", provider.id),
                ),
                _ => {
                    let mut msg = String::from("Changes saved.");
                    if entered_key {
                        msg.push_str(" The global key was tested and saved.");
                    }
                    if saved.owners_mailed > 0 {
                        msg.push_str(&format!(
                            " {} workspace owner{} notified by mail.",
                            saved.owners_mailed,
                            if saved.owners_mailed == 1 {
                                " was"
                            } else {
                                "s were"
                            }
                        ));
                    }
                    flash_success(session, msg);
                }
            }
            Ok(see_other(&format!("/admin/integrations/{}", provider.id)))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            // Nothing was saved: the form shows what was sent, so only the key is typed again.
            let (enabled, byok, policy) = flags;
            let page = ProviderPage {
                enabled,
                byok,
                policy: policy.as_str(),
                ..provider_page(&admin, &state, &current, errors, Some(&submitted))
            };
            render(&page, StatusCode::BAD_REQUEST)
        }
    }
}

/// `POST /admin/integrations/{provider}/test`: "Test key".
pub async fn test(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let provider = provider_from(&path)?;
    let session = &admin.0.session;
    match integrations::test_global_key(&state, admin.0.actor(), provider).await {
        Ok(None) => flash_error(session, "There is no global key to test. Enter one first."),
        Ok(Some(t)) if t.outcome == TestOutcome::Ok => flash_success(session, t.message()),
        Ok(Some(t)) if t.outcome == TestOutcome::Invalid => flash_error(
            session,
            format!(
                "{} The provider rejected the global key; enter a new one.",
                t.message()
            ),
        ),
        Ok(Some(t)) => flash_warning_retry(
            session,
            t.message(),
            format!("/admin/integrations/{}/test", provider.id),
        ),
        Err(Error::Conflict(m)) => flash_error(session, m),
        Err(e) => return Err(e),
    }
    Ok(see_other(&format!("/admin/integrations/{}", provider.id)))
}

/// `POST /admin/integrations/{provider}/remove-key`: "Remove global key".
pub async fn remove_key(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let provider = provider_from(&path)?;
    if integrations::remove_global_key(&state, admin.0.actor(), provider).await? {
        flash_success(&admin.0.session, "The global key was removed.");
    } else {
        flash_error(&admin.0.session, "There is no global key to remove.");
    }
    Ok(see_other(&format!("/admin/integrations/{}", provider.id)))
}

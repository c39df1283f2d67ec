//! `/admin`: the platform admin's pages (overview, users, workspaces, audit log).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{ok, render};
use crate::db::models::{User, Workspace};
use crate::db::now;
use crate::domain::ids::{UserId, WorkspaceId};
use crate::error::{Error, Result};
use crate::services::getting_started::{self, Checklist};
use crate::services::users;
use crate::services::workspaces::{self, MemberView};
use crate::services::{accounts, keys, settings, usage_report};
use crate::state::AppState;
use crate::web::extractors::PlatformAdmin;
use crate::web::forms::{FormErrors, path_id, see_other};
use crate::web::handlers::audit_csv::audit_csv_response;
use crate::web::handlers::audit_log::{AuditView, audit_view};
use crate::web::handlers::cost::{self, CostQuery, CostView};
use crate::web::handlers::invitations::{InvitationRow, rows};
use crate::web::handlers::usage::{UsageView, allowance_text};
use crate::web::handlers::workspace::{AuditQuery, parse_role};
use crate::web::layout::{Layout, flash_error, flash_success};

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    users: i64,
    workspaces: i64,
    signup_enabled: bool,
    usage: UsageView,
    cost: CostView,
    /// Shown until every step is done.
    checklist: Option<Checklist>,
}

/// `GET /admin`.
pub async fn overview(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<CostQuery>,
) -> Result<HttpResponse> {
    let cost = cost::view(&state, None, &q, "/admin/cost.csv", true).await?;
    let (users, workspaces, signup_enabled, report, checklist) = state
        .db(|c| {
            let (u, w) = users::counts(c)?;
            let report = usage_report::report(c, None, now())?;
            let checklist = getting_started::checklist(c)?;
            Ok((u, w, settings::signup_enabled(c)?, report, checklist))
        })
        .await?;
    ok(&OverviewPage {
        layout: admin.0.layout("Overview", "admin-overview"),
        users,
        workspaces,
        signup_enabled,
        usage: UsageView::of("platform", &report),
        cost,
        checklist: (!checklist.is_done()).then_some(checklist),
    })
}

#[derive(Deserialize)]
pub struct SettingsForm {
    signup_enabled: Option<String>,
}

/// `POST /admin/settings`.
pub async fn save_settings(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse> {
    let enabled = form.signup_enabled.is_some();
    accounts::set_signup(&state, admin.0.actor(), enabled).await?;
    flash_success(&admin.0.session, "Settings saved.");
    Ok(see_other("/admin"))
}

// ---------------------------------------------------------------- users

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    layout: Layout,
    user: User,
    workspaces: Vec<(Workspace, String)>,
    is_self: bool,
}

/// `GET /admin/users/{id}`.
pub async fn user(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id: UserId = path_id(&id)?;
    let (user, workspaces) = state
        .db(move |c| {
            let user = accounts::get_user(c, &id)?;
            let ws = users::workspaces_of(c, &id)?;
            Ok((user, ws))
        })
        .await?;
    let is_self = user.id == admin.0.id;
    ok(&UserPage {
        layout: admin.0.layout(user.email.clone(), "admin-users"),
        user,
        workspaces,
        is_self,
    })
}

fn conflict_to_flash(admin: &PlatformAdmin, r: Result<()>, done: &str) -> Result<()> {
    match r {
        Ok(()) => {
            flash_success(&admin.0.session, done);
            Ok(())
        }
        Err(Error::Conflict(m)) => {
            flash_error(&admin.0.session, m);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/users/{id}/disable`: the person is signed out at once.
pub async fn disable_user(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id: UserId = path_id(&id)?;
    let r = accounts::set_disabled(&state, admin.0.actor(), id.clone(), true).await;
    conflict_to_flash(
        &admin,
        r,
        "The account is disabled and its sessions have ended.",
    )?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

/// `POST /admin/users/{id}/enable`.
pub async fn enable_user(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id: UserId = path_id(&id)?;
    let r = accounts::set_disabled(&state, admin.0.actor(), id.clone(), false).await;
    conflict_to_flash(&admin, r, "The account is enabled again.")?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

#[derive(Deserialize)]
pub struct AdminForm {
    is_admin: Option<String>,
}

/// `POST /admin/users/{id}/admin`: grants or revokes platform admin.
pub async fn set_admin(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<AdminForm>,
) -> Result<HttpResponse> {
    let id: UserId = path_id(&id)?;
    let r = accounts::set_admin(&state, admin.0.actor(), id.clone(), form.is_admin.is_some()).await;
    conflict_to_flash(&admin, r, "Platform admin rights updated.")?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

// ---------------------------------------------------------------- workspaces

#[derive(Template)]
#[template(path = "admin/workspace.html")]
struct WorkspacePage {
    layout: Layout,
    ws: Workspace,
    members: Vec<MemberView>,
    invitations: Vec<InvitationRow>,
    inv_base: String,
    links_shown: bool,
    errors: FormErrors,
    invite_email: String,
    /// Per provider: who answers and why (no key values).
    answers: Vec<AnswerRow>,
    usage: UsageView,
    cost: CostView,
    allowance: String,
    /// The allowance field as shown (the stored value, or what was typed when invalid).
    allowance_value: String,
}

/// One provider's resolution on the admin's workspace page.
struct AnswerRow {
    name: &'static str,
    source: &'static str,
    reason: String,
}

async fn workspace_page(
    admin: &PlatformAdmin,
    state: &AppState,
    id: WorkspaceId,
    errors: FormErrors,
    invite_email: String,
) -> Result<WorkspacePage> {
    let (ws, members, invitations, explained, (report, allowance)) = state
        .db(move |c| {
            let ws = workspaces::get(c, &id)?;
            let members = workspaces::members(c, &ws.id)?;
            let invitations = workspaces::pending_invitations(c, &ws.id)?;
            let explained = keys::explain(c, &ws.id)?;
            let t = now();
            let usage = (
                usage_report::report(c, Some(&ws.id), t)?,
                usage_report::allowance_use(c, &ws.id, t)?,
            );
            Ok((ws, members, invitations, explained, usage))
        })
        .await?;
    let answers = explained
        .iter()
        .map(|e| AnswerRow {
            name: e.provider().name,
            source: e.source_str(),
            reason: e.admin_reason(),
        })
        .collect();
    let csv = format!("/admin/workspaces/{}/cost.csv", ws.id);
    let cost = cost::view(
        state,
        Some(ws.id.clone()),
        &CostQuery::default(),
        &csv,
        true,
    )
    .await?;
    Ok(WorkspacePage {
        layout: admin.0.layout(ws.name.clone(), "admin-workspaces"),
        inv_base: format!("/admin/workspaces/{}/invitations", ws.id),
        links_shown: crate::services::invitations::links_shown(state),
        ws,
        members,
        invitations: rows(&invitations),
        errors,
        invite_email,
        answers,
        usage: UsageView::of("ws", &report),
        cost,
        allowance: allowance_text(allowance),
        allowance_value: allowance.limit.map(|n| n.to_string()).unwrap_or_default(),
    })
}

/// `GET /admin/workspaces/{id}`.
pub async fn workspace(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<CostQuery>,
) -> Result<HttpResponse> {
    let mut page = workspace_page(
        &admin,
        &state,
        path_id(&id)?,
        FormErrors::default(),
        String::new(),
    )
    .await?;
    if q.from.is_some() || q.to.is_some() {
        let csv = format!("/admin/workspaces/{}/cost.csv", page.ws.id);
        page.cost = cost::view(&state, Some(page.ws.id.clone()), &q, &csv, true).await?;
    }
    ok(&page)
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
}

/// `POST /admin/workspaces/{id}/invitations`.
pub async fn invite(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse> {
    let id: WorkspaceId = path_id(&id)?;
    let f = form.into_inner();
    let i = id.clone();
    state.db(move |c| workspaces::get(c, &i)).await?;
    let (actor, name) = (admin.0.actor(), admin.0.name.clone());
    let invited = async {
        let role = parse_role(&f.role)?;
        workspaces::invite(&state, actor, name, id.clone(), f.email.clone(), role).await
    };
    match invited.await {
        Ok(()) => {
            flash_success(
                &admin.0.session,
                format!("Invitation sent to {}.", f.email.trim()),
            );
            Ok(see_other(&format!("/admin/workspaces/{id}")))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            render(
                &workspace_page(&admin, &state, id, errors, f.email).await?,
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct AllowanceForm {
    /// Absent or empty = unlimited.
    #[serde(default)]
    allowance_tokens: String,
}

/// `POST /admin/workspaces/{id}/allowance`: the monthly platform allowance in tokens.
pub async fn save_allowance(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<AllowanceForm>,
) -> Result<HttpResponse> {
    let id: WorkspaceId = path_id(&id)?;
    let input = form.into_inner().allowance_tokens;
    let i = id.clone();
    state.db(move |c| workspaces::get(c, &i)).await?;
    match workspaces::set_allowance(&state, admin.0.actor(), id.clone(), input.clone()).await {
        Ok(limit) => {
            let text = match limit {
                Some(n) => format!(
                    "Allowance saved: {} platform tokens a month.",
                    crate::web::charts::thousands(n)
                ),
                None => "Allowance saved: unlimited platform tokens.".to_owned(),
            };
            flash_success(&admin.0.session, text);
            Ok(see_other(&format!("/admin/workspaces/{id}")))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let mut page = workspace_page(&admin, &state, id, errors, String::new()).await?;
            page.allowance_value = input;
            render(&page, StatusCode::BAD_REQUEST)
        }
    }
}

// ---------------------------------------------------------------- audit

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    view: AuditView,
}

/// `GET /admin/audit`: every event, filterable, newest first.
pub async fn audit(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse> {
    let view = audit_view(&state, q.into_inner(), None, "/admin/audit").await?;
    ok(&AuditPage {
        layout: admin.0.layout("Audit log", "admin-audit"),
        view,
    })
}

/// `GET /admin/audit.csv`.
pub async fn audit_csv(
    _admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse> {
    audit_csv_response(&state, q.into_inner(), None).await
}

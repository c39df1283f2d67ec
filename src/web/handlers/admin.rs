//! `/admin`: the platform admin's pages (overview, users, workspaces, audit log).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::{ok, render};
use crate::db::models::{User, Workspace};
use crate::db::now;
use crate::db::schema::{memberships, users, workspaces as ws_table};
use crate::error::{Error, Result};
use crate::services::getting_started::{self, Checklist};
use crate::services::workspaces::{self, MemberView, WorkspaceRow};
use crate::services::{accounts, keys, settings, usage_report};
use crate::state::AppState;
use crate::web::extractors::PlatformAdmin;
use crate::web::forms::{FormErrors, see_other};
use crate::web::handlers::invitations::{InvitationRow, rows};
use crate::web::handlers::usage::{UsageView, allowance_text};
use crate::web::handlers::workspace::{AuditQuery, AuditView, audit_csv_response, audit_view};
use crate::web::layout::{Layout, flash_error, flash_success};

const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    users: i64,
    workspaces: i64,
    signup_enabled: bool,
    usage: UsageView,
    /// Shown until every step is done.
    checklist: Option<Checklist>,
}

/// `GET /admin`.
pub async fn overview(admin: PlatformAdmin, state: web::Data<AppState>) -> Result<HttpResponse> {
    let (users, workspaces, signup_enabled, report, checklist) = state
        .db(|c| {
            let u: i64 = users::table.count().get_result(c)?;
            let w: i64 = ws_table::table.count().get_result(c)?;
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
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<User>,
    q: String,
    next: Option<String>,
    errors: FormErrors,
    new_email: String,
    new_name: String,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

fn next_href(q: &str, after: Option<String>) -> Option<String> {
    after.map(|a| {
        let query =
            serde_urlencoded::to_string([("q", q), ("after", a.as_str())]).unwrap_or_default();
        format!("?{query}")
    })
}

async fn users_page(
    admin: &PlatformAdmin,
    state: &AppState,
    q: ListQuery,
    errors: FormErrors,
    new_email: String,
    new_name: String,
) -> Result<UsersPage> {
    let query = q.q.clone().unwrap_or_default();
    let (after, search) = (q.after.clone(), q.q.clone());
    let (users, next) = state
        .db(move |c| accounts::list_users(c, after.as_deref(), search.as_deref(), PAGE))
        .await?;
    Ok(UsersPage {
        layout: admin.0.layout("Users", "admin-users"),
        users,
        next: next_href(&query, next),
        q: query,
        errors,
        new_email,
        new_name,
    })
}

/// `GET /admin/users`.
pub async fn users(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    ok(&users_page(
        &admin,
        &state,
        q.into_inner(),
        FormErrors::default(),
        String::new(),
        String::new(),
    )
    .await?)
}

#[derive(Deserialize)]
pub struct NewUserForm {
    email: String,
    name: String,
    is_admin: Option<String>,
}

/// `POST /admin/users`: the person gets a mail to choose a password.
pub async fn create_user(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    match accounts::admin_create_user(
        &state,
        admin.0.actor(),
        f.email.clone(),
        f.name.clone(),
        f.is_admin.is_some(),
    )
    .await
    {
        Ok(user) => {
            flash_success(
                &admin.0.session,
                format!(
                    "{} was created and has been sent a link to choose a password.",
                    user.email
                ),
            );
            Ok(see_other(&format!("/admin/users/{}", user.id)))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let page = users_page(
                &admin,
                &state,
                ListQuery {
                    q: None,
                    after: None,
                },
                errors,
                f.email,
                f.name,
            )
            .await?;
            render(&page, StatusCode::BAD_REQUEST)
        }
    }
}

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
    let id = id.into_inner();
    let (user, workspaces) = state
        .db(move |c| {
            let user = accounts::get_user(c, &id)?;
            let ws: Vec<(Workspace, String)> = memberships::table
                .inner_join(ws_table::table)
                .filter(memberships::user_id.eq(&id))
                .order(ws_table::slug.asc())
                .select((Workspace::as_select(), memberships::role))
                .load(c)?;
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
    let id = id.into_inner();
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
    let id = id.into_inner();
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
    let id = id.into_inner();
    let r = accounts::set_admin(&state, admin.0.actor(), id.clone(), form.is_admin.is_some()).await;
    conflict_to_flash(&admin, r, "Platform admin rights updated.")?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

// ---------------------------------------------------------------- workspaces

#[derive(Template)]
#[template(path = "admin/workspaces.html")]
struct WorkspacesPage {
    layout: Layout,
    rows: Vec<WorkspaceRow>,
    q: String,
    next: Option<String>,
    errors: FormErrors,
    new_name: String,
    new_slug: String,
}

async fn workspaces_page(
    admin: &PlatformAdmin,
    state: &AppState,
    q: ListQuery,
    errors: FormErrors,
    new_name: String,
    new_slug: String,
) -> Result<WorkspacesPage> {
    let query = q.q.clone().unwrap_or_default();
    let (after, search) = (q.after.clone(), q.q.clone());
    let (rows, next) = state
        .db(move |c| workspaces::list(c, after.as_deref(), search.as_deref(), PAGE))
        .await?;
    Ok(WorkspacesPage {
        layout: admin.0.layout("Workspaces", "admin-workspaces"),
        rows,
        next: next_href(&query, next),
        q: query,
        errors,
        new_name,
        new_slug,
    })
}

/// `GET /admin/workspaces`.
pub async fn workspaces(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    ok(&workspaces_page(
        &admin,
        &state,
        q.into_inner(),
        FormErrors::default(),
        String::new(),
        String::new(),
    )
    .await?)
}

#[derive(Deserialize)]
pub struct NewWorkspaceForm {
    name: String,
    slug: String,
}

/// `POST /admin/workspaces`.
pub async fn create_workspace(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<NewWorkspaceForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    match workspaces::create(&state, admin.0.actor(), f.name.clone(), f.slug.clone()).await {
        Ok(ws) => {
            flash_success(
                &admin.0.session,
                format!(
                    "Workspace “{}” created. Invite its first owner below.",
                    ws.name
                ),
            );
            Ok(see_other(&format!("/admin/workspaces/{}", ws.id)))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let page = workspaces_page(
                &admin,
                &state,
                ListQuery {
                    q: None,
                    after: None,
                },
                errors,
                f.name,
                f.slug,
            )
            .await?;
            render(&page, StatusCode::BAD_REQUEST)
        }
    }
}

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
    id: String,
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
        allowance: allowance_text(allowance),
        allowance_value: allowance.limit.map(|n| n.to_string()).unwrap_or_default(),
    })
}

/// `GET /admin/workspaces/{id}`.
pub async fn workspace(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    ok(&workspace_page(
        &admin,
        &state,
        id.into_inner(),
        FormErrors::default(),
        String::new(),
    )
    .await?)
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
    let id = id.into_inner();
    let f = form.into_inner();
    let i = id.clone();
    state.db(move |c| workspaces::get(c, &i)).await?;
    match workspaces::invite(
        &state,
        admin.0.actor(),
        admin.0.name.clone(),
        id.clone(),
        f.email.clone(),
        f.role,
    )
    .await
    {
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
    let id = id.into_inner();
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

//! `/w/<slug>` settings: members and invitations, and the workspace's audit log.

use super::audit_log::{AuditView, audit_view};
use super::invitations::{InvitationRow, rows};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::audit_csv::audit_csv_response;
use super::{ok, render};
use crate::db::models::AuditRow;
use crate::domain::ids::UserId;
use crate::domain::roles::Role;
use crate::error::{Error, Result};
use crate::services::audit::Filter;
use crate::services::workspaces::{self, MemberView};
use crate::state::AppState;
use crate::web::extractors::WorkspaceOwner;
use crate::web::forms::{FormErrors, path_id, see_other};
use crate::web::layout::{Layout, flash_error, flash_success};

#[derive(Template)]
#[template(path = "workspace/members.html")]
struct MembersPage {
    layout: Layout,
    slug: String,
    me: UserId,
    members: Vec<MemberView>,
    /// How many owners: the only one is never offered removal.
    owners: usize,
    invitations: Vec<InvitationRow>,
    inv_base: String,
    links_shown: bool,
    errors: FormErrors,
    invite_email: String,
}

async fn members_page(
    o: &WorkspaceOwner,
    state: &AppState,
    errors: FormErrors,
    invite_email: String,
) -> Result<MembersPage> {
    let ws_id = o.0.workspace.workspace_id.clone();
    let (members, invitations) = state
        .db(move |c| {
            Ok((
                workspaces::members(c, &ws_id)?,
                workspaces::pending_invitations(c, &ws_id)?,
            ))
        })
        .await?;
    Ok(MembersPage {
        layout: o.0.layout("Members", "ws-members"),
        slug: o.0.workspace.slug.clone(),
        me: o.0.user.id.clone(),
        owners: members.iter().filter(|m| m.role == Role::Owner).count(),
        members,
        invitations: rows(&invitations),
        inv_base: format!("/w/{}/settings/invitations", o.0.workspace.slug),
        links_shown: crate::services::invitations::links_shown(state),
        errors,
        invite_email,
    })
}

/// `GET /w/{slug}/settings/members`.
pub async fn members(o: WorkspaceOwner, state: web::Data<AppState>) -> Result<HttpResponse> {
    ok(&members_page(&o, &state, FormErrors::default(), String::new()).await?)
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
}

/// `POST /w/{slug}/settings/members/invite`.
pub async fn invite(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let ws = &o.0.workspace;
    let (actor, name, ws_id) = (
        o.0.user.actor(),
        o.0.user.name.clone(),
        ws.workspace_id.clone(),
    );
    let invited = async {
        let role = parse_role(&f.role)?;
        workspaces::invite(&state, actor, name, ws_id, f.email.clone(), role).await
    };
    match invited.await {
        Ok(()) => {
            flash_success(
                &o.0.user.session,
                format!("Invitation sent to {}.", f.email.trim()),
            );
            Ok(see_other(&format!("/w/{}/settings/members", ws.slug)))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            render(
                &members_page(&o, &state, errors, f.email).await?,
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct MemberPath {
    slug: String,
    user_id: String,
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

/// A role chosen in a form (`owner` or `member`).
pub(super) fn parse_role(input: &str) -> Result<Role> {
    Role::parse(input).ok_or_else(|| Error::invalid("role", "Choose Owner or Member."))
}

fn after_change(o: &WorkspaceOwner, r: Result<()>, done: &str) -> Result<HttpResponse> {
    match r {
        Ok(()) => flash_success(&o.0.user.session, done),
        Err(Error::Conflict(m)) => flash_error(&o.0.user.session, m),
        Err(e) => return Err(e),
    }
    Ok(see_other(&format!(
        "/w/{}/settings/members",
        o.0.workspace.slug
    )))
}

/// `POST /w/{slug}/settings/members/{user_id}/role`.
pub async fn change_role(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    debug_assert_eq!(p.slug, o.0.workspace.slug);
    let user_id = path_id(&p.user_id)?;
    let role = parse_role(&form.role)?;
    let r = workspaces::change_role(
        &state,
        o.0.user.actor(),
        o.0.workspace.workspace_id.clone(),
        user_id,
        role,
    )
    .await;
    after_change(&o, r, "Role changed.")
}

/// `POST /w/{slug}/settings/members/{user_id}/remove`.
pub async fn remove_member(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
) -> Result<HttpResponse> {
    let user_id = path_id(&path.user_id)?;
    let r = workspaces::remove_member(
        &state,
        o.0.user.actor(),
        o.0.workspace.workspace_id.clone(),
        user_id,
    )
    .await;
    after_change(&o, r, "Member removed.")
}

#[derive(Deserialize)]
pub struct InvitationPath {
    #[allow(dead_code)]
    slug: String,
    id: String,
}

/// `POST /w/{slug}/settings/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<InvitationPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    let r = workspaces::revoke_invitation(
        &state,
        o.0.user.actor(),
        o.0.workspace.workspace_id.clone(),
        p.id,
    )
    .await;
    after_change(&o, r, "Invitation revoked.")
}

// ---------------------------------------------------------------- audit (shared with /admin/audit)

/// Filters from the query string.
#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub workspace: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<i64>,
    /// "Hide sign-ins" (a checkbox: present when ticked).
    pub hide_sign_ins: Option<String>,
}

/// One event as the audit table shows it.
pub struct AuditEntry {
    pub id: i64,
    pub time: String,
    pub actor: String,
    pub ip: String,
    pub workspace: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

fn parse_day(s: Option<&str>, field: &'static str) -> Result<Option<i64>> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, fmt)
        .map_err(|_| Error::invalid(field, "Use a date like 2026-11-23."))?;
    Ok(Some(d.midnight().assume_utc().unix_timestamp()))
}

pub(super) fn to_filter(q: &AuditQuery, workspace_id: Option<String>) -> Result<Filter> {
    let clean = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(Filter {
        workspace_id: workspace_id.or_else(|| clean(&q.workspace)),
        actor: clean(&q.actor),
        action: clean(&q.action),
        from: parse_day(q.from.as_deref(), "from")?,
        // "to" is inclusive of the whole day.
        to: parse_day(q.to.as_deref(), "to")?.map(|t| t + 86_400),
        before: q.before,
        platform_routing: false,
        hide_sign_ins: q.hide_sign_ins.as_deref().is_some_and(|v| !v.is_empty()),
    })
}

/// Formats unix seconds as `2026-11-23 14:05 UTC`.
pub fn format_time(t: i64) -> String {
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(fmt).ok())
        .unwrap_or_default()
}

pub(super) fn entry(r: AuditRow) -> AuditEntry {
    AuditEntry {
        id: r.id,
        time: format_time(r.at),
        actor: r.actor_email.unwrap_or_else(|| "system".into()),
        ip: r.ip.unwrap_or_default(),
        workspace: r.workspace_id.unwrap_or_default(),
        action: r.action,
        target: r.target.unwrap_or_default(),
        details: if r.details == "{}" {
            String::new()
        } else {
            r.details
        },
    }
}

pub(super) fn query_string(q: &AuditQuery, before: Option<i64>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("workspace", &q.workspace),
        ("from", &q.from),
        ("to", &q.to),
        ("hide_sign_ins", &q.hide_sign_ins),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v.to_owned()));
        }
    }
    if let Some(b) = before {
        pairs.push(("before", b.to_string()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "workspace/audit.html")]
struct AuditPage {
    layout: Layout,
    view: AuditView,
}

/// `GET /w/{slug}/audit`: this workspace's events.
pub async fn audit(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse> {
    let base = format!("/w/{}/audit", o.0.workspace.slug);
    let view = audit_view(
        &state,
        q.into_inner(),
        Some(o.0.workspace.workspace_id.to_string()),
        &base,
    )
    .await?;
    ok(&AuditPage {
        layout: o.0.layout("Audit log", "ws-audit"),
        view,
    })
}

/// `GET /w/{slug}/audit.csv`.
pub async fn audit_csv(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse> {
    audit_csv_response(
        &state,
        q.into_inner(),
        Some(o.0.workspace.workspace_id.to_string()),
    )
    .await
}

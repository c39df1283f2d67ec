//! A pending invitation's row actions, on an owner's Members page and on the admin's
//! workspace page: Resend (the mail limits apply), Copy link (only when mail goes to files:
//! the link is shown once, on the response page), Revoke. Each renews or ends the link and
//! is audited (see [`crate::services::invitations`]).

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::ok;
use super::workspace::format_time;
use crate::db::models::Invitation;
use crate::domain::ids::WorkspaceId;
use crate::error::{Error, Result};
use crate::services::audit::Actor;
use crate::services::invitations::{self, Renewal};
use crate::services::workspaces;
use crate::state::AppState;
use crate::web::extractors::{PlatformAdmin, WorkspaceOwner};
use crate::web::forms::{path_id, see_other};
use crate::web::layout::{Layout, flash_error, flash_success};

/// A pending invitation as the pages list it.
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires: String,
}

/// The rows for `invitations`.
pub fn rows(invitations: &[Invitation]) -> Vec<InvitationRow> {
    invitations
        .iter()
        .map(|i| InvitationRow {
            id: i.id.clone(),
            email: i.email.clone(),
            role: i.role.as_str().to_owned(),
            expires: format_time(i.expires_at),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "invitation_link.html")]
struct LinkPage {
    layout: Layout,
    email: String,
    link: String,
    expires: String,
    back_href: String,
}

/// Who acts, in which workspace, and where their page is.
struct Context<'a> {
    state: &'a AppState,
    actor: Actor,
    name: String,
    workspace_id: WorkspaceId,
    back: String,
    session: &'a actix_session::Session,
}

async fn resend(cx: Context<'_>, invitation_id: String) -> Result<HttpResponse> {
    let r = invitations::renew(
        cx.state,
        cx.actor,
        cx.name,
        cx.workspace_id,
        invitation_id,
        Renewal::Resend,
    )
    .await;
    match r {
        Ok(done) => flash_success(
            cx.session,
            format!(
                "The invitation to {} was sent again. The new link works until {}; earlier links no longer do.",
                done.email,
                format_time(done.expires_at)
            ),
        ),
        Err(Error::Conflict(m)) => flash_error(cx.session, m),
        Err(e) => return Err(e),
    }
    Ok(see_other(&cx.back))
}

async fn show_link(cx: Context<'_>, layout: Layout, invitation_id: String) -> Result<HttpResponse> {
    let r = invitations::renew(
        cx.state,
        cx.actor,
        cx.name,
        cx.workspace_id,
        invitation_id,
        Renewal::ShowLink,
    )
    .await;
    match r {
        Ok(done) => ok(&LinkPage {
            layout,
            email: done.email,
            link: done.link.unwrap_or_default(),
            expires: format_time(done.expires_at),
            back_href: cx.back,
        }),
        Err(Error::Conflict(m)) => {
            flash_error(cx.session, m);
            Ok(see_other(&cx.back))
        }
        Err(e) => Err(e),
    }
}

async fn revoke(cx: Context<'_>, invitation_id: String) -> Result<HttpResponse> {
    workspaces::revoke_invitation(cx.state, cx.actor, cx.workspace_id, invitation_id).await?;
    flash_success(cx.session, "Invitation revoked. Its link no longer works.");
    Ok(see_other(&cx.back))
}

#[derive(Deserialize)]
pub struct OwnerPath {
    #[allow(dead_code)]
    slug: String,
    id: String,
}

fn owner_cx<'a>(o: &'a WorkspaceOwner, state: &'a AppState) -> Context<'a> {
    Context {
        state,
        actor: o.0.user.actor(),
        name: o.0.user.name.clone(),
        workspace_id: o.0.workspace.workspace_id.clone(),
        back: format!("/w/{}/settings/members", o.0.workspace.slug),
        session: &o.0.user.session,
    }
}

/// `POST /w/{slug}/settings/invitations/{id}/resend`.
pub async fn owner_resend(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<OwnerPath>,
) -> Result<HttpResponse> {
    resend(owner_cx(&o, &state), path.into_inner().id).await
}

/// `POST /w/{slug}/settings/invitations/{id}/link`.
pub async fn owner_link(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<OwnerPath>,
) -> Result<HttpResponse> {
    let layout = o.0.layout("Invitation link", "ws-members");
    show_link(owner_cx(&o, &state), layout, path.into_inner().id).await
}

#[derive(Deserialize)]
pub struct AdminPath {
    id: String,
    invitation: String,
}

async fn admin_cx<'a>(
    admin: &'a PlatformAdmin,
    state: &'a AppState,
    workspace_id: &str,
) -> Result<Context<'a>> {
    let workspace_id: WorkspaceId = path_id(workspace_id)?;
    let id = workspace_id.clone();
    state.db(move |c| workspaces::get(c, &id)).await?;
    Ok(Context {
        state,
        actor: admin.0.actor(),
        name: admin.0.name.clone(),
        back: format!("/admin/workspaces/{workspace_id}"),
        workspace_id,
        session: &admin.0.session,
    })
}

/// `POST /admin/workspaces/{id}/invitations/{invitation}/resend`.
pub async fn admin_resend(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<AdminPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    resend(admin_cx(&admin, &state, &p.id).await?, p.invitation).await
}

/// `POST /admin/workspaces/{id}/invitations/{invitation}/link`.
pub async fn admin_link(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<AdminPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    let layout = admin.0.layout("Invitation link", "admin-workspaces");
    show_link(admin_cx(&admin, &state, &p.id).await?, layout, p.invitation).await
}

/// `POST /admin/workspaces/{id}/invitations/{invitation}/revoke`.
pub async fn admin_revoke(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<AdminPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    revoke(admin_cx(&admin, &state, &p.id).await?, p.invitation).await
}

//! Invitations: a link opened, and accepted by the signed-in user or a new account.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::start_session;
use crate::error::{Error, Result};
use crate::services::api_tokens;
use crate::services::workspaces::{self, Acceptance};
use crate::state::AppState;
use crate::web::extractors::{CurrentUser, SESSION_EPOCH, Visitor, anonymous_layout};
use crate::web::forms::{FormErrors, see_other};
use crate::web::handlers::{ok, render};
use crate::web::layout::{Layout, flash_success};

#[derive(Template)]
#[template(path = "auth/invite.html")]
struct InvitePage {
    layout: Layout,
    token: String,
    email: String,
    workspace: String,
    role: String,
    existing_user: bool,
    signed_in_as: Option<String>,
    name: String,
    errors: FormErrors,
}

/// `GET /invite/{token}`.
pub async fn invite_form(
    v: Visitor,
    token: web::Path<String>,
    user: Option<CurrentUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let token = token.into_inner();
    let t = token.clone();
    let view = state
        .db(move |c| workspaces::find_invitation(c, &t))
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "token",
                "This invitation has expired, was revoked or was already used. Ask for a new one.",
            )
        })?;
    let layout = match &user {
        Some(u) => u.layout("Join a workspace", ""),
        None => anonymous_layout(&v.session, "Join a workspace"),
    };
    ok(&InvitePage {
        layout,
        token,
        email: view.invitation.email,
        workspace: view.workspace.name,
        role: view.invitation.role.as_str().to_owned(),
        existing_user: view.existing_user,
        signed_in_as: user.map(|u| u.email),
        name: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct InviteForm {
    name: Option<String>,
    password: Option<String>,
    password_confirm: Option<String>,
}

/// `POST /invite/{token}`: joins as the signed-in user, or creates the invited account.
pub async fn invite_accept(
    v: Visitor,
    token: web::Path<String>,
    user: Option<CurrentUser>,
    state: web::Data<AppState>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse> {
    let token = token.into_inner();
    let f = form.into_inner();
    let how = match &user {
        Some(u) => Acceptance::SignedIn {
            user_id: u.id.clone(),
        },
        None => Acceptance::NewAccount {
            name: f.name.clone().unwrap_or_default(),
            password: f.password.unwrap_or_default(),
            password_confirm: f.password_confirm.unwrap_or_default(),
        },
    };
    match workspaces::accept_invitation(&state, token.clone(), how, v.ip.clone()).await {
        Ok((new_user, slug)) => {
            if user.is_none() {
                start_session(&v.session, &new_user)?;
            } else {
                // Memberships changed: refresh the epoch-bound session state.
                let _ = v.session.insert(SESSION_EPOCH, new_user.session_epoch);
            }
            flash_success(&v.session, "Welcome! You have joined the workspace.");
            let (id, s) = (new_user.id.clone(), slug.clone());
            let to = state
                .db(move |c| api_tokens::owner_start(c, &id, &s))
                .await?
                .unwrap_or_else(|| format!("/w/{slug}"));
            Ok(see_other(&to))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let t = token.clone();
            let Some(view) = state
                .db(move |c| workspaces::find_invitation(c, &t))
                .await?
            else {
                return Err(Error::invalid("token", errors.message.unwrap_or_default()));
            };
            let layout = match &user {
                Some(u) => u.layout("Join a workspace", ""),
                None => anonymous_layout(&v.session, "Join a workspace"),
            };
            render(
                &InvitePage {
                    layout,
                    token,
                    email: view.invitation.email,
                    workspace: view.workspace.name,
                    role: view.invitation.role.as_str().to_owned(),
                    existing_user: view.existing_user,
                    signed_in_as: user.map(|u| u.email),
                    name: f.name.unwrap_or_default(),
                    errors,
                },
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

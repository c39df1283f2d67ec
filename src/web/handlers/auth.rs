//! Signed-out pages: sign-in, first-run setup, sign-up, password reset, invitations.
//! This file sends a person where they belong and starts sessions; `sign_in`, `setup`
//! (and sign-up), `reset` and `invite` hold the pages.

use actix_web::{HttpResponse, web};

use super::render;
use crate::domain::roles::Role;
use crate::error::{Error, Result};
use crate::services::accounts;
use crate::services::api_tokens;
use crate::state::AppState;
use crate::web::csrf;
use crate::web::extractors::{CurrentUser, SESSION_EPOCH, SESSION_USER};
use crate::web::forms::see_other;

mod invite;
mod reset;
mod setup;
mod sign_in;

pub use invite::{invite_accept, invite_form};
pub use reset::{forgot, forgot_form, reset, reset_form};
pub use setup::{setup, setup_form, signup, signup_form};
pub use sign_in::{login, login_form, logout};

/// `?token=…` of the setup and reset links.
#[derive(serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /`: where a person belongs.
pub async fn home(user: Option<CurrentUser>, state: web::Data<AppState>) -> Result<HttpResponse> {
    let Some(user) = user else {
        let first_run = state.db(accounts::user_count).await? == 0;
        return Ok(see_other(if first_run { "/setup" } else { "/login" }));
    };
    Ok(see_other(&landing(&user, &state).await?))
}

/// Where a signed-in person starts: an admin on the Overview; an owner whose workspace has
/// no access token yet on its provider keys (the owner's first work: a key, then a token);
/// everyone else in their first workspace's chat.
pub(super) async fn landing(user: &CurrentUser, state: &AppState) -> Result<String> {
    if user.is_admin {
        return Ok("/admin".into());
    }
    if let Some(m) = user.memberships.iter().find(|m| m.role == Role::Owner) {
        let (id, slug) = (user.id.clone(), m.slug.clone());
        if let Some(to) = state
            .db(move |c| api_tokens::owner_start(c, &id, &slug))
            .await?
        {
            return Ok(to);
        }
    }
    Ok(match user.memberships.first() {
        Some(m) => format!("/w/{}", m.slug),
        None => "/account".into(),
    })
}

/// Only local paths are followed after sign-in (no open redirect). Browsers drop tabs and
/// newlines from URLs and read `\\` as `/`, so `/\t/evil.example` would leave the site.
pub(super) fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(|c| c.is_control() || c.is_whitespace())
    })
    .map(str::to_owned)
}

/// Signs the user in on this session: a new session id (no fixation), a new CSRF token.
pub(super) fn start_session(
    session: &actix_session::Session,
    user: &crate::db::models::User,
) -> Result<()> {
    session.renew();
    let err =
        |e: actix_session::SessionInsertError| Error::Internal(anyhow::anyhow!("session: {e}"));
    session.insert(SESSION_USER, &user.id).map_err(err)?;
    session
        .insert(SESSION_EPOCH, user.session_epoch)
        .map_err(err)?;
    csrf::rotate(session);
    Ok(())
}

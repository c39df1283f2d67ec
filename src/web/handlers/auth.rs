//! Signed-out pages: sign-in, first-run setup, sign-up, password reset, invitations.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::{ok, render};
use crate::domain::roles::Role;
use crate::error::{Error, Result};
use crate::services::accounts::{self, NewAccount};
use crate::services::sign_up::{self, SignUp};
use crate::services::workspaces::{self, Acceptance};
use crate::services::{api_tokens, sign_in};
use crate::state::AppState;
use crate::web::csrf;
use crate::web::extractors::{CurrentUser, SESSION_EPOCH, SESSION_USER, Visitor, anonymous_layout};
use crate::web::forms::{FormErrors, see_other};
use crate::web::layout::{Layout, flash_success};

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
async fn landing(user: &CurrentUser, state: &AppState) -> Result<String> {
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
fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(|c| c.is_control() || c.is_whitespace())
    })
    .map(str::to_owned)
}

/// Signs the user in on this session: a new session id (no fixation), a new CSRF token.
fn start_session(session: &actix_session::Session, user: &crate::db::models::User) -> Result<()> {
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

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    errors: FormErrors,
    signup: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_form(
    v: Visitor,
    q: web::Query<NextQuery>,
    user: Option<CurrentUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    if let Some(user) = user {
        let to = match safe_next(q.next.as_deref()) {
            Some(next) => next,
            None => landing(&user, &state).await?,
        };
        return Ok(see_other(&to));
    }
    let signup = state.db(crate::services::settings::signup_enabled).await?;
    ok(&LoginPage {
        layout: anonymous_layout(&v.session, "Sign in"),
        email: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
        errors: FormErrors::default(),
        signup,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`.
pub async fn login(
    v: Visitor,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse> {
    let form = form.into_inner();
    let pw = SecretString::from(form.password);
    match sign_in::sign_in(&state, &form.email, pw, v.ip.clone()).await {
        Ok(user) => {
            start_session(&v.session, &user)?;
            let to = safe_next(form.next.as_deref()).unwrap_or_else(|| "/".into());
            Ok(see_other(&to))
        }
        Err(e) => {
            let status = if matches!(e, Error::Throttled(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let errors = FormErrors::from_error(e)?;
            let signup = state.db(crate::services::settings::signup_enabled).await?;
            render(
                &LoginPage {
                    layout: anonymous_layout(&v.session, "Sign in"),
                    email: form.email,
                    next: safe_next(form.next.as_deref()).unwrap_or_default(),
                    errors: FormErrors {
                        field: Some("form"),
                        message: errors.message,
                    },
                    signup,
                },
                status,
            )
        }
    }
}

/// `POST /logout`: the session is purged on the server.
pub async fn logout(
    v: Visitor,
    user: Option<CurrentUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    if let Some(user) = user {
        accounts::signed_out(&state, user.actor()).await?;
    }
    v.session.purge();
    Ok(see_other("/login"))
}

// ---------------------------------------------------------------- first run

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    layout: Layout,
    token: String,
    name: String,
    email: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// What `/setup` says without a valid link: where the link comes from, or that Keyhold is
/// set up already.
#[derive(Template)]
#[template(path = "auth/setup_help.html")]
struct SetupHelpPage {
    layout: Layout,
    has_users: bool,
}

/// `GET /setup?token=…`: only while nobody exists and only with the printed token; without
/// it, a 404 that explains how to get the link.
pub async fn setup_form(
    v: Visitor,
    q: web::Query<TokenQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let token = q.into_inner().token.unwrap_or_default();
    let t = token.clone();
    if !state
        .db(move |c| accounts::setup_token_valid(c, &t))
        .await?
    {
        let has_users = state.db(accounts::user_count).await? > 0;
        let page = SetupHelpPage {
            layout: anonymous_layout(&v.session, "Set up Keyhold"),
            has_users,
        };
        return super::render(&page, actix_web::http::StatusCode::NOT_FOUND);
    }
    ok(&SetupPage {
        layout: anonymous_layout(&v.session, "Set up Keyhold"),
        token,
        name: String::new(),
        email: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    name: String,
    email: String,
    password: String,
    password_confirm: String,
}

/// `POST /setup`: creates the first platform admin and signs them in.
pub async fn setup(
    v: Visitor,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let account = NewAccount {
        name: f.name.clone(),
        email: f.email.clone(),
        password: f.password,
        password_confirm: f.password_confirm,
    };
    match accounts::complete_setup(&state, f.token.clone(), account, v.ip.clone()).await {
        Ok(user) => {
            start_session(&v.session, &user)?;
            flash_success(
                &v.session,
                "Welcome to Keyhold. You are the platform admin.",
            );
            Ok(see_other("/admin"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            render(
                &SetupPage {
                    layout: anonymous_layout(&v.session, "Set up Keyhold"),
                    token: f.token,
                    name: f.name,
                    email: f.email,
                    errors,
                },
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

// ---------------------------------------------------------------- sign-up

#[derive(Template)]
#[template(path = "auth/signup.html")]
struct SignupPage {
    layout: Layout,
    name: String,
    email: String,
    workspace_name: String,
    errors: FormErrors,
}

/// `GET /signup` (404 unless an admin allows public sign-up).
pub async fn signup_form(v: Visitor, state: web::Data<AppState>) -> Result<HttpResponse> {
    if !state.db(crate::services::settings::signup_enabled).await? {
        return Err(Error::NotFound);
    }
    ok(&SignupPage {
        layout: anonymous_layout(&v.session, "Create an account"),
        name: String::new(),
        email: String::new(),
        workspace_name: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct SignupForm {
    name: String,
    email: String,
    workspace_name: String,
    password: String,
    password_confirm: String,
}

/// `POST /signup`: a user and a workspace they own.
pub async fn signup(
    v: Visitor,
    state: web::Data<AppState>,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let account = NewAccount {
        name: f.name.clone(),
        email: f.email.clone(),
        password: f.password,
        password_confirm: f.password_confirm,
    };
    match sign_up::sign_up(&state, account, f.workspace_name.clone(), v.ip.clone()).await {
        Ok(SignUp::Created(user)) => {
            start_session(&v.session, &user)?;
            Ok(see_other("/"))
        }
        // The same answer as for a new address (a renewed session, the same redirect): the
        // owner of the address was mailed instead.
        Ok(SignUp::AlreadyRegistered) => {
            v.session.renew();
            csrf::rotate(&v.session);
            Ok(see_other("/"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            render(
                &SignupPage {
                    layout: anonymous_layout(&v.session, "Create an account"),
                    name: f.name,
                    email: f.email,
                    workspace_name: f.workspace_name,
                    errors,
                },
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

// ---------------------------------------------------------------- password reset

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    layout: Layout,
    sent: bool,
}

/// `GET /password/forgot`.
pub async fn forgot_form(v: Visitor) -> Result<HttpResponse> {
    ok(&ForgotPage {
        layout: anonymous_layout(&v.session, "Forgot password"),
        sent: false,
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /password/forgot`: the same answer whether or not the account exists.
pub async fn forgot(
    v: Visitor,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse> {
    accounts::request_reset(&state, form.into_inner().email, v.ip.clone()).await?;
    ok(&ForgotPage {
        layout: anonymous_layout(&v.session, "Forgot password"),
        sent: true,
    })
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    valid: bool,
    errors: FormErrors,
}

/// `GET /password/reset?token=…`.
pub async fn reset_form(
    v: Visitor,
    q: web::Query<TokenQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let token = q.into_inner().token.unwrap_or_default();
    let t = token.clone();
    let valid = state
        .db(move |c| accounts::reset_token_valid(c, &t))
        .await?;
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    render(
        &ResetPage {
            layout: anonymous_layout(&v.session, "Choose a new password"),
            token,
            valid,
            errors: FormErrors::default(),
        },
        status,
    )
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    password: String,
    password_confirm: String,
}

/// `POST /password/reset`: single use; every session of the account ends.
pub async fn reset(
    v: Visitor,
    state: web::Data<AppState>,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    match accounts::complete_reset(
        &state,
        f.token.clone(),
        f.password,
        f.password_confirm,
        v.ip.clone(),
    )
    .await
    {
        Ok(()) => {
            flash_success(
                &v.session,
                "Your password was changed. Sign in with the new one.",
            );
            Ok(see_other("/login"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let valid = errors.field != Some("token");
            render(
                &ResetPage {
                    layout: anonymous_layout(&v.session, "Choose a new password"),
                    token: f.token,
                    valid,
                    errors,
                },
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

// ---------------------------------------------------------------- invitations

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

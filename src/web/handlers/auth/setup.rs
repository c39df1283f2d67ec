//! New accounts: the first platform admin (first-run setup) and public sign-up.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{TokenQuery, start_session};
use crate::error::{Error, Result};
use crate::services::accounts::{self, NewAccount};
use crate::services::sign_up::{self, SignUp};
use crate::state::AppState;
use crate::web::csrf;
use crate::web::extractors::{Visitor, anonymous_layout};
use crate::web::forms::{FormErrors, see_other};
use crate::web::handlers::{ok, render};
use crate::web::layout::{Layout, flash_success};

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    layout: Layout,
    token: String,
    name: String,
    email: String,
    errors: FormErrors,
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

//! Signing in and out.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::{landing, safe_next, start_session};
use crate::error::{Error, Result};
use crate::services::accounts;
use crate::services::sign_in;
use crate::state::AppState;
use crate::web::extractors::{CurrentUser, Visitor, anonymous_layout};
use crate::web::forms::{FormErrors, see_other};
use crate::web::handlers::{ok, render};
use crate::web::layout::Layout;

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

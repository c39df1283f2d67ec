//! Forgotten passwords: the reset link asked for, and the new password set with it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::TokenQuery;
use crate::error::Result;
use crate::services::accounts;
use crate::state::AppState;
use crate::web::extractors::{Visitor, anonymous_layout};
use crate::web::forms::{FormErrors, see_other};
use crate::web::handlers::{ok, render};
use crate::web::layout::{Layout, flash_success};

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

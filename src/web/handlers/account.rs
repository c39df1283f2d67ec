//! `/account`: change password, sign out everywhere.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{ok, render};
use crate::error::{Error, Result};
use crate::services::accounts;
use crate::state::AppState;
use crate::web::extractors::{CurrentUser, SESSION_EPOCH};
use crate::web::forms::{FormErrors, see_other};
use crate::web::layout::{Layout, flash_success};

#[derive(Template)]
#[template(path = "account/account.html")]
struct AccountPage {
    layout: Layout,
    name: String,
    email: String,
    errors: FormErrors,
}

/// `GET /account`.
pub async fn page(user: CurrentUser) -> Result<HttpResponse> {
    ok(&AccountPage {
        layout: user.layout("Account", "account"),
        name: user.name.clone(),
        email: user.email.clone(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    password: String,
    password_confirm: String,
}

/// `POST /account/password`: other sessions end; this one stays.
pub async fn change_password(
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    match accounts::change_password(
        &state,
        user.actor(),
        user.id.clone(),
        f.current_password,
        f.password,
        f.password_confirm,
    )
    .await
    {
        Ok(epoch) => {
            user.session.renew();
            let _ = user.session.insert(SESSION_EPOCH, epoch);
            flash_success(
                &user.session,
                "Your password was changed. Other sessions were signed out.",
            );
            Ok(see_other("/account"))
        }
        Err(e) => {
            let status = if matches!(e, Error::Throttled(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            let errors = FormErrors::from_error(e)?;
            render(
                &AccountPage {
                    layout: user.layout("Account", "account"),
                    name: user.name.clone(),
                    email: user.email.clone(),
                    errors,
                },
                status,
            )
        }
    }
}

/// `POST /account/sign-out-everywhere`: every session of the account ends, this one too.
pub async fn sign_out_everywhere(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    accounts::sign_out_everywhere(&state, user.actor(), user.id.clone()).await?;
    user.session.purge();
    Ok(see_other("/login"))
}

//! Public sign-up (when an admin allows it). An address that already has an account gets
//! the same answer as a new one, and its owner a notice by mail, so sign-up cannot be used
//! to learn who has an account.

use askama::Template;

use super::Ctx;
use super::accounts::{NewAccount, check_new_password, find_by_email, hash_password, insert_user};
use super::audit::{self, Actor, Event};
use super::{mail, settings, workspaces};
use crate::db::models::User;
use crate::db::{DbConn, write_tx};
use crate::domain::ids::{Email, parse_name};
use crate::error::{Error, Result};

/// What a sign-up did. The visitor gets the same answer either way: telling them would say
/// which addresses have accounts.
pub enum SignUp {
    /// A new account (and its workspace); sign it in.
    Created(User),
    /// The address already has an account, whose owner was mailed a notice instead.
    AlreadyRegistered,
}

#[derive(Template)]
#[template(path = "email/signup_existing.txt", blocks = ["subject", "text"])]
struct SignupExistingMail {
    action_url: String,
    forgot_url: String,
}
crate::mail_content!(SignupExistingMail, "Sign in");

/// Public sign-up (when an admin allows it): a user and a workspace they own. For an address
/// that already has an account nothing is created; its owner gets a notice by mail.
pub async fn sign_up(
    state: &Ctx,
    form: NewAccount,
    workspace_name: String,
    ip: Option<String>,
) -> Result<SignUp> {
    let name = parse_name(&form.name).map_err(|m| Error::invalid("name", m))?;
    let email = Email::parse(&form.email).map_err(|m| Error::invalid("email", m))?;
    let ws_name = workspaces::parse_workspace_name(&workspace_name)?;
    let pw = check_new_password(&form.password, Some(&form.password_confirm))?;
    let hash = hash_password(pw).await?;
    let config = state.config.clone();
    let outcome = state
        .db(move |c| {
            write_tx(c, |c| {
                if !settings::signup_enabled(c)? {
                    return Err(Error::NotFound);
                }
                let actor = Actor {
                    user_id: None,
                    email: Some(email.as_str().to_owned()),
                    ip,
                };
                if let Some(existing) = find_by_email(c, email.as_str())? {
                    notify_existing(c, &config, &actor, &existing)?;
                    return Ok(SignUp::AlreadyRegistered);
                }
                let user = insert_user(c, &config.keyring, &actor, &email, &name, &hash, false)?;
                let actor = Actor {
                    user_id: Some(user.id.clone()),
                    ..actor
                };
                let ws = workspaces::insert_workspace(c, &config.keyring, &actor, &ws_name, None)?;
                workspaces::add_member(
                    c,
                    &config.keyring,
                    &actor,
                    &ws,
                    &user,
                    crate::domain::roles::Role::Owner,
                )?;
                Ok(SignUp::Created(user))
            })
        })
        .await?;
    if matches!(outcome, SignUp::AlreadyRegistered) {
        state.mail_wakeup.notify_one();
    }
    Ok(outcome)
}

/// Someone signed up with `user`'s address: audit it and tell the owner (a disabled account
/// gets no mail; it could not sign in anyway).
fn notify_existing(
    conn: &mut DbConn,
    config: &crate::config::Config,
    actor: &Actor,
    user: &User,
) -> Result<()> {
    audit::record(
        conn,
        &config.keyring,
        actor,
        Event::new("user.sign_up_existing_email").target(&user.email),
    )?;
    if user.disabled {
        return Ok(());
    }
    mail::enqueue(
        conn,
        &user.email,
        &SignupExistingMail {
            action_url: config.link("/login"),
            forgot_url: config.link("/password/forgot"),
        },
    )
}

//! People: first-run setup, passwords, resets and the admin's user management (sign-in is in
//! `sign_in`, sign-up in `sign_up`). Each change writes its audit event in the same
//! transaction.
//!
//! By room: accounts and first-run setup here, with sign-out and ending sessions; changing
//! and resetting a password in [`passwords`]; the admin's management of people in
//! [`admin`].

mod admin;
mod passwords;

pub use admin::{admin_create_user, cli_password_link, set_admin, set_disabled, set_signup};
pub use passwords::{change_password, complete_reset, request_reset, reset_token_valid};

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::settings;
use crate::db::models::User;
use crate::db::schema::users;
use crate::db::sessions::purge_user_sessions;
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{Email, UserId, parse_name};
use crate::domain::password;
use crate::domain::tokens;
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};

/// How long a password-reset link works.
pub const RESET_TTL_SECS: i64 = 3600;
/// How long the link in a new account's welcome mail works.
pub const WELCOME_TTL_SECS: i64 = 72 * 3600;
/// How long the first-run setup link works.
pub const SETUP_TTL_SECS: i64 = 24 * 3600;

pub use super::passwords::hash_password;

pub(crate) fn check_new_password(pw: &str, confirm: Option<&str>) -> Result<SecretString> {
    password::check_policy(pw).map_err(|m| Error::invalid("password", m))?;
    if confirm.is_some_and(|c| c != pw) {
        return Err(Error::invalid(
            "password_confirm",
            "The two passwords do not match.",
        ));
    }
    Ok(SecretString::from(pw.to_owned()))
}

/// Number of users (zero means first run).
pub fn user_count(conn: &mut DbConn) -> Result<i64> {
    Ok(users::table.count().get_result(conn)?)
}

/// A user by id.
pub fn get_user(conn: &mut DbConn, id: &UserId) -> Result<User> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .get_result(conn)?)
}

pub use super::users::find_by_email;

/// Inserts a user (inside the caller's transaction) and audits it.
pub fn insert_user(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    email: &Email,
    name: &str,
    password_hash: &str,
    is_admin: bool,
) -> Result<User> {
    if find_by_email(conn, email.as_str())?.is_some() {
        return Err(Error::invalid(
            "email",
            "An account with that email already exists.",
        ));
    }
    let t = now();
    let user = User {
        id: UserId::random(),
        email: email.as_str().to_owned(),
        name: name.to_owned(),
        password_hash: password_hash.to_owned(),
        is_admin,
        disabled: false,
        session_epoch: 1,
        created_at: t,
        updated_at: t,
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(conn)?;
    audit::record(
        conn,
        keyring,
        actor,
        Event::new("user.created")
            .target(&user.email)
            .details(json!({ "user_id": user.id, "is_admin": is_admin })),
    )?;
    Ok(user)
}

// ---------------------------------------------------------------- first run

/// Issues a fresh one-time setup token when no user exists yet; `None` otherwise.
pub fn issue_setup_token(conn: &mut DbConn) -> Result<Option<String>> {
    write_tx(conn, |c| {
        if user_count(c)? > 0 {
            return Ok(None);
        }
        let token = tokens::generate("");
        let value = format!("{}:{}", tokens::hash(&token), now() + SETUP_TTL_SECS);
        settings::set(c, settings::SETUP_TOKEN, &value)?;
        Ok(Some(token))
    })
}

/// Whether `token` is the current, unexpired setup token (and nobody exists yet).
pub fn setup_token_valid(conn: &mut DbConn, token: &str) -> Result<bool> {
    if user_count(conn)? > 0 {
        return Ok(false);
    }
    let Some(stored) = settings::get(conn, settings::SETUP_TOKEN)? else {
        return Ok(false);
    };
    let Some((hash, expires)) = stored.split_once(':') else {
        return Ok(false);
    };
    let expires: i64 = expires.parse().unwrap_or(0);
    Ok(expires > now() && tokens::constant_time_eq(hash, &tokens::hash(token)))
}

/// Input of the setup and sign-up forms.
pub struct NewAccount {
    pub name: String,
    pub email: String,
    pub password: String,
    pub password_confirm: String,
}

/// Creates the first platform admin with the setup token; the token then stops working.
pub async fn complete_setup(
    state: &Ctx,
    token: String,
    form: NewAccount,
    ip: Option<String>,
) -> Result<User> {
    let config = state.config.clone();
    let name = parse_name(&form.name).map_err(|m| Error::invalid("name", m))?;
    let email = Email::parse(&form.email).map_err(|m| Error::invalid("email", m))?;
    let pw = check_new_password(&form.password, Some(&form.password_confirm))?;
    let hash = hash_password(pw).await?;
    state
        .db(move |c| {
            write_tx(c, |c| {
                if !setup_token_valid(c, &token)? {
                    return Err(Error::NotFound);
                }
                settings::delete(c, settings::SETUP_TOKEN)?;
                let actor = Actor {
                    user_id: None,
                    email: Some(email.as_str().to_owned()),
                    ip,
                };
                let user = insert_user(c, &config.keyring, &actor, &email, &name, &hash, true)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("platform.setup_completed").target(&user.email),
                )?;
                Ok(user)
            })
        })
        .await
}

/// Creates a platform admin from the command line.
pub fn create_admin_cli(
    conn: &mut DbConn,
    keyring: &Keyring,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<User> {
    let email = Email::parse(email).map_err(|m| Error::invalid("email", m))?;
    let name = parse_name(name).map_err(|m| Error::invalid("name", m))?;
    write_tx(conn, |c| {
        let user = insert_user(
            c,
            keyring,
            &Actor::cli(),
            &email,
            &name,
            password_hash,
            true,
        )?;
        settings::delete(c, settings::SETUP_TOKEN)?;
        Ok(user)
    })
}

// ---------------------------------------------------------------- sessions

/// Records a sign-out.
pub async fn signed_out(state: &Ctx, actor: Actor) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                audit::record(c, &config.keyring, &actor, Event::new("user.signed_out"))?;
                Ok(())
            })
        })
        .await
}

/// Ends every session of the user at once, on every instance.
pub fn end_sessions(conn: &mut DbConn, user_id: &UserId) -> Result<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::session_epoch.eq(users::session_epoch + 1),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    purge_user_sessions(conn, user_id)?;
    Ok(())
}

/// "Sign out everywhere".
pub async fn sign_out_everywhere(state: &Ctx, actor: Actor, user_id: UserId) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                end_sessions(c, &user_id)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("user.signed_out_everywhere"),
                )?;
                Ok(())
            })
        })
        .await
}

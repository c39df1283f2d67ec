//! Changing a password, and resetting one through a mailed link (the welcome link of an
//! account an admin created is a reset link too). Hashing is `services::passwords`.

use askama::Template;
use diesel::prelude::*;
use secrecy::SecretString;

use super::{
    RESET_TTL_SECS, check_new_password, end_sessions, find_by_email, get_user, hash_password,
};
use crate::db::models::{PasswordReset, User};
use crate::db::schema::{password_resets, users};
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{Email, UserId};
use crate::domain::tokens;
use crate::error::{Error, Result};
use crate::services::Ctx;
use crate::services::audit::{self, Actor, Event};
use crate::services::mail_limit::{self, MailKind};
use crate::services::{mail, sign_in, throttle};

/// Spends every outstanding reset link of the user: after a new password, an older link
/// (perhaps from a mailbox someone else read) must not set yet another one.
fn spend_reset_links(conn: &mut DbConn, user_id: &UserId) -> Result<()> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now()))
    .execute(conn)?;
    Ok(())
}

/// Changes a password after checking the current one; other sessions end, the caller's
/// stays (its epoch is returned to store in the session).
pub async fn change_password(
    state: &Ctx,
    actor: Actor,
    user_id: UserId,
    current: String,
    new: String,
    confirm: String,
) -> Result<i64> {
    let config = state.config.clone();
    let new = check_new_password(&new, Some(&confirm))?;
    let uid = user_id.clone();
    let user = state.db(move |c| get_user(c, &uid)).await?;
    let stored = user.password_hash.clone();
    let current = SecretString::from(current);
    sign_in::check_current_password(state, &actor, &user.id, stored, current).await?;
    let hash = hash_password(new).await?;
    state
        .db(move |c| {
            write_tx(c, |c| {
                diesel::update(users::table.find(&user_id))
                    .set((users::password_hash.eq(&hash), users::updated_at.eq(now())))
                    .execute(c)?;
                end_sessions(c, &user_id)?;
                spend_reset_links(c, &user_id)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("user.password_changed"),
                )?;
                Ok(get_user(c, &user_id)?.session_epoch)
            })
        })
        .await
}

// ---------------------------------------------------------------- password reset

#[derive(Template)]
#[template(path = "email/password_reset.txt", blocks = ["subject", "text"])]
struct ResetMail {
    action_url: String,
    welcome: bool,
}
crate::mail_content!(ResetMail, "Choose a password");

pub(super) fn queue_reset(
    conn: &mut DbConn,
    state_link: &dyn Fn(&str) -> String,
    user: &User,
    ttl: i64,
    welcome: bool,
) -> Result<()> {
    let token = tokens::generate("");
    let t = now();
    diesel::insert_into(password_resets::table)
        .values(&PasswordReset {
            token_hash: tokens::hash(&token),
            user_id: user.id.clone(),
            created_at: t,
            expires_at: t + ttl,
            used_at: None,
        })
        .execute(conn)?;
    mail::enqueue(
        conn,
        &user.email,
        &ResetMail {
            action_url: state_link(&format!("/password/reset?token={token}")),
            welcome,
        },
    )
}

/// "Forgot password": mails a link when the account exists, is enabled and has not had
/// [`MailKind::PasswordReset`]'s limit of mails within the hour. The caller answers the
/// same in every case: the page tells no one whether an account exists or a mail left.
/// Nor does its timing: the look-up and whatever follows (a reset row, a mail, an audit
/// event for a known address; nothing for an unknown one) run after the answer, in a task
/// of their own, so every request returns after the same quick path.
pub async fn request_reset(state: &Ctx, email: String, ip: Option<String>) -> Result<()> {
    let Ok(email) = Email::parse(&email) else {
        return Ok(());
    };
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = queue_requested_reset(&state, email, ip).await {
            tracing::error!(error = %e, "a password reset request failed");
        }
    });
    Ok(())
}

/// The work of [`request_reset`], after its answer.
async fn queue_requested_reset(state: &Ctx, email: Email, ip: Option<String>) -> Result<()> {
    let config = state.config.clone();
    let queued = state
        .db(move |c| {
            write_tx(c, |c| {
                let Some(user) = find_by_email(c, email.as_str())? else {
                    return Ok(false);
                };
                if user.disabled {
                    return Ok(false);
                }
                if !mail_limit::try_count(c, MailKind::PasswordReset, &user.email)? {
                    tracing::info!(
                        "password reset not mailed: the address had its mails for the hour"
                    );
                    return Ok(false);
                }
                queue_reset(c, &|p| config.link(p), &user, RESET_TTL_SECS, false)?;
                let actor = Actor {
                    user_id: Some(user.id.clone()),
                    email: Some(user.email.clone()),
                    ip,
                };
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("user.password_reset_requested"),
                )?;
                Ok(true)
            })
        })
        .await?;
    if queued {
        state.mail_wakeup.notify_one();
    }
    Ok(())
}

fn live_reset(conn: &mut DbConn, token: &str) -> Result<Option<PasswordReset>> {
    let row: Option<PasswordReset> = password_resets::table
        .find(tokens::hash(token))
        .select(PasswordReset::as_select())
        .get_result(conn)
        .optional()?;
    Ok(row.filter(|r| r.used_at.is_none() && r.expires_at > now()))
}

/// Whether a reset link still works.
pub fn reset_token_valid(conn: &mut DbConn, token: &str) -> Result<bool> {
    Ok(live_reset(conn, token)?.is_some())
}

/// Sets a new password with a reset link (single use); every session of the user ends.
pub async fn complete_reset(
    state: &Ctx,
    token: String,
    new: String,
    confirm: String,
    ip: Option<String>,
) -> Result<()> {
    let config = state.config.clone();
    let pw = check_new_password(&new, Some(&confirm))?;
    let hash = hash_password(pw).await?;
    state
        .db(move |c| {
            write_tx(c, |c| {
                let reset = live_reset(c, &token)?.ok_or_else(|| {
                    Error::invalid(
                        "token",
                        "This link has expired or was already used. Ask for a new one.",
                    )
                })?;
                diesel::update(password_resets::table.find(&reset.token_hash))
                    .set(password_resets::used_at.eq(now()))
                    .execute(c)?;
                let user = get_user(c, &reset.user_id)?;
                diesel::update(users::table.find(&user.id))
                    .set((users::password_hash.eq(&hash), users::updated_at.eq(now())))
                    .execute(c)?;
                end_sessions(c, &user.id)?;
                spend_reset_links(c, &user.id)?;
                throttle::lift_account(c, &user.email)?;
                let actor = Actor {
                    user_id: Some(user.id.clone()),
                    email: Some(user.email.clone()),
                    ip,
                };
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("user.password_reset"),
                )?;
                Ok(())
            })
        })
        .await
}

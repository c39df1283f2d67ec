//! The admin's management of people: creating accounts, disabling them, granting platform
//! admin, public sign-up, and the CLI's password link.

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::passwords::queue_reset;
use super::{WELCOME_TTL_SECS, end_sessions, get_user, hash_password, insert_user};
use crate::db::models::{PasswordReset, User};
use crate::db::schema::{password_resets, users};
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{Email, UserId, parse_name};
use crate::domain::tokens;
use crate::error::{Error, Result};
use crate::services::Ctx;
use crate::services::audit::{self, Actor, Event};
use crate::services::{settings, token_revocation, workspaces};

/// An admin creates an account; the person gets a mail to choose a password.
pub async fn admin_create_user(
    state: &Ctx,
    actor: Actor,
    email: String,
    name: String,
    is_admin: bool,
) -> Result<User> {
    let email = Email::parse(&email).map_err(|m| Error::invalid("email", m))?;
    let name = parse_name(&name).map_err(|m| Error::invalid("name", m))?;
    // Nobody knows this password: the welcome link sets the real one.
    let placeholder = hash_password(SecretString::from(tokens::generate(""))).await?;
    let config = state.config.clone();
    let user = state
        .db(move |c| {
            write_tx(c, |c| {
                let user = insert_user(
                    c,
                    &config.keyring,
                    &actor,
                    &email,
                    &name,
                    &placeholder,
                    is_admin,
                )?;
                queue_reset(c, &|p| config.link(p), &user, WELCOME_TTL_SECS, true)?;
                Ok(user)
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(user)
}

/// Disables or re-enables an account. Disabling ends its sessions at once, and revokes the
/// API tokens it created and the invitations it sent.
pub async fn set_disabled(
    state: &Ctx,
    actor: Actor,
    user_id: UserId,
    disabled: bool,
) -> Result<()> {
    let config = state.config.clone();
    if actor.user_id.as_deref() == Some(user_id.as_str()) && disabled {
        return Err(Error::Conflict(
            "You cannot disable your own account.".into(),
        ));
    }
    state
        .db(move |c| {
            write_tx(c, |c| {
                let user = get_user(c, &user_id)?;
                if user.disabled == disabled {
                    return Ok(());
                }
                diesel::update(users::table.find(&user_id))
                    .set((users::disabled.eq(disabled), users::updated_at.eq(now())))
                    .execute(c)?;
                if disabled {
                    end_sessions(c, &user_id)?;
                }
                let action = if disabled {
                    "user.disabled"
                } else {
                    "user.enabled"
                };
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new(action).target(&user.email),
                )?;
                if disabled {
                    token_revocation::revoke_created_by(
                        c,
                        &config,
                        &actor,
                        &user,
                        None,
                        token_revocation::Reason::Disabled,
                    )?;
                    workspaces::revoke_sent_by(
                        c,
                        &config.keyring,
                        &actor,
                        &user.id,
                        None,
                        token_revocation::Reason::Disabled,
                    )?;
                }
                Ok(())
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Grants or revokes platform admin. The person's sessions end (roles changed).
pub async fn set_admin(state: &Ctx, actor: Actor, user_id: UserId, is_admin: bool) -> Result<()> {
    let config = state.config.clone();
    if actor.user_id.as_deref() == Some(user_id.as_str()) && !is_admin {
        return Err(Error::Conflict(
            "You cannot remove your own admin rights.".into(),
        ));
    }
    state
        .db(move |c| {
            write_tx(c, |c| {
                let user = get_user(c, &user_id)?;
                if user.is_admin == is_admin {
                    return Ok(());
                }
                diesel::update(users::table.find(&user_id))
                    .set((users::is_admin.eq(is_admin), users::updated_at.eq(now())))
                    .execute(c)?;
                end_sessions(c, &user_id)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("user.admin_changed")
                        .target(&user.email)
                        .details(json!({ "before": user.is_admin, "after": is_admin })),
                )?;
                Ok(())
            })
        })
        .await
}

/// Turns public sign-up on or off.
pub async fn set_signup(state: &Ctx, actor: Actor, enabled: bool) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let before = settings::signup_enabled(c)?;
                settings::set(
                    c,
                    settings::SIGNUP_ENABLED,
                    if enabled { "true" } else { "false" },
                )?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("settings.signup_changed")
                        .details(json!({ "before": before, "after": enabled })),
                )?;
                Ok(())
            })
        })
        .await
}

/// A one-time link for a CLI-created admin to choose their password; returns the token.
pub fn cli_password_link(conn: &mut DbConn, user: &User) -> Result<String> {
    let token = tokens::generate("");
    let t = now();
    diesel::insert_into(password_resets::table)
        .values(&PasswordReset {
            token_hash: tokens::hash(&token),
            user_id: user.id.clone(),
            created_at: t,
            expires_at: t + WELCOME_TTL_SECS,
            used_at: None,
        })
        .execute(conn)?;
    Ok(token)
}

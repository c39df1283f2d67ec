//! People: first-run setup, passwords, resets and the admin's user management (sign-in is in
//! `sign_in`, sign-up in `sign_up`). Each change writes its audit event in the same
//! transaction.

use askama::Template;
use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::mail_limit::{self, MailKind};
use super::{mail, settings, sign_in, throttle, token_revocation};
use crate::db::models::{PasswordReset, User};
use crate::db::schema::{password_resets, users};
use crate::db::sessions::purge_user_sessions;
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{Email, new_id, parse_name};
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

/// Runs password work (argon2 takes tens of milliseconds and 19 MiB by design) off the async
/// workers. The hashing itself runs on the hasher threads of [`password`] (half the cores);
/// this admits as many jobs as there are hashers, so a burst of sign-ins queues here, where
/// waiting costs nothing, instead of parking blocking-pool threads that the pages' database
/// work needs (SPEC §12: 20 concurrent sign-ins must not raise other pages' p99 above 50 ms).
pub(crate) async fn password_work<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| tokio::sync::Semaphore::new(password::hasher_threads()));
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password slots: {e}")))?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password task: {e}")))
}

/// Hashes a password off the async workers (see [`password_work`]).
pub async fn hash_password(pw: SecretString) -> Result<String> {
    password_work(move || password::hash(&pw))
        .await?
        .map_err(Error::Internal)
}

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
pub fn get_user(conn: &mut DbConn, id: &str) -> Result<User> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .get_result(conn)?)
}

/// A user by email.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

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
        id: new_id(),
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
pub fn end_sessions(conn: &mut DbConn, user_id: &str) -> Result<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::session_epoch.eq(users::session_epoch + 1),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    purge_user_sessions(conn, user_id)?;
    Ok(())
}

/// Spends every outstanding reset link of the user: after a new password, an older link
/// (perhaps from a mailbox someone else read) must not set yet another one.
fn spend_reset_links(conn: &mut DbConn, user_id: &str) -> Result<()> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now()))
    .execute(conn)?;
    Ok(())
}

/// "Sign out everywhere".
pub async fn sign_out_everywhere(state: &Ctx, actor: Actor, user_id: String) -> Result<()> {
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

/// Changes a password after checking the current one; other sessions end, the caller's
/// stays (its epoch is returned to store in the session).
pub async fn change_password(
    state: &Ctx,
    actor: Actor,
    user_id: String,
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

fn queue_reset(
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
pub async fn request_reset(state: &Ctx, email: String, ip: Option<String>) -> Result<()> {
    let Ok(email) = Email::parse(&email) else {
        return Ok(());
    };
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

// ---------------------------------------------------------------- admin: users

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

/// Disables or re-enables an account. Disabling ends its sessions at once.
pub async fn set_disabled(
    state: &Ctx,
    actor: Actor,
    user_id: String,
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
                }
                Ok(())
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Grants or revokes platform admin. The person's sessions end (roles changed).
pub async fn set_admin(state: &Ctx, actor: Actor, user_id: String, is_admin: bool) -> Result<()> {
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

diesel::define_sql_function! {
    /// SQL `lower()`: PostgreSQL's `LIKE` is case-sensitive, SQLite's is not; searches
    /// compare lower-cased text so both backends answer alike.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A page of users ordered by email, after `after` (keyset).
pub fn list_users(
    conn: &mut DbConn,
    after: Option<&str>,
    query: Option<&str>,
    limit: i64,
) -> Result<(Vec<User>, Option<String>)> {
    let mut q = users::table.into_boxed();
    if let Some(a) = after {
        q = q.filter(users::email.gt(a.to_owned()));
    }
    if let Some(s) = query.filter(|s| !s.trim().is_empty()) {
        let pattern = format!("%{}%", audit::escape_like(&s.trim().to_lowercase()));
        q = q.filter(
            users::email
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::name).like(pattern).escape('\\')),
        );
    }
    let mut rows: Vec<User> = q
        .order(users::email.asc())
        .limit(limit + 1)
        .select(User::as_select())
        .load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|u| u.email.clone())
    } else {
        None
    };
    Ok((rows, next))
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

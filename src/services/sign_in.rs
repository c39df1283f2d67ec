//! Passwords at the door: sign-in and the current-password check of `/account`. Both go
//! through [`throttle`] first, which counts the attempt before any argon2 work (so parallel
//! guesses meet the same limit) and refuses it without that work, and both audit what they
//! refuse.

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::passwords::{hash_password, password_work};
use super::throttle::{self, Gate, SignInKeys};
use super::users::find_by_email;
use crate::db::models::User;
use crate::db::schema::users;
use crate::db::write_tx;
use crate::domain::ids::{Email, UserId};
use crate::domain::password::{self, Verified};
use crate::error::{Error, Result};
use crate::metrics::Check;

/// The one answer for a wrong email or password, whichever it was.
pub const WRONG_CREDENTIALS: &str = "Wrong email or password.";

/// "in 3 minutes": a backoff's rest, rounded up to whole minutes.
fn in_minutes(secs: i64) -> String {
    match (secs.max(1) + 59) / 60 {
        1 => "in a minute".to_owned(),
        n => format!("in {n} minutes"),
    }
}

/// Checks credentials. Throttled per (account, address) pair with backoff; an account or
/// address with many failures from anywhere only slows. Unknown and known emails get the
/// same answer after the same work (a dummy hash is verified; a throttled attempt does no
/// password work for either).
pub async fn sign_in(
    state: &Ctx,
    email: &str,
    pw: SecretString,
    ip: Option<String>,
) -> Result<User> {
    let email_key = email.trim().to_lowercase();
    let keys = SignInKeys::new(&email_key, ip.as_deref());
    let policy = state.throttle.clone();
    let (user, gate) = {
        let (email_key, keys, policy) = (email_key.clone(), keys.clone(), policy.clone());
        state
            .db(move |c| {
                let gate = write_tx(c, |c| throttle::sign_in_attempt(c, &policy, &keys))?;
                Ok((find_by_email(c, &email_key)?, gate))
            })
            .await?
    };
    let actor = Actor {
        user_id: user.as_ref().map(|u| u.id.clone()),
        email: Email::parse(&email_key).ok().map(|e| e.as_str().to_owned()),
        ip,
    };
    match gate {
        Gate::Refused(secs) => {
            state.metrics.throttled(Check::SignIn);
            audit_alone(state, actor, Event::new("user.sign_in_throttled")).await?;
            return Err(Error::Throttled(format!(
                "Too many failed sign-in attempts from here. Try again {}, or reset your password.",
                in_minutes(secs)
            )));
        }
        Gate::Slow => {
            state.metrics.slowed();
            tokio::time::sleep(policy.slowdown).await;
        }
        Gate::Open => {}
    }
    state.metrics.password_checked();
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (verdict, pw) =
        password_work(move || (password::verify(&pw, stored.as_deref()), pw)).await?;
    let usable = user.as_ref().is_some_and(|u| !u.disabled);
    match (verdict, user) {
        (Verified::Yes | Verified::YesRehash, Some(user)) if usable => {
            let rehash = if verdict == Verified::YesRehash {
                Some(hash_password(pw).await?)
            } else {
                None
            };
            let id = user.id.clone();
            let config = state.config.clone();
            state
                .db(move |c| {
                    write_tx(c, |c| {
                        throttle::signed_in(c, &keys)?;
                        if let Some(h) = rehash {
                            diesel::update(users::table.find(&id))
                                .set(users::password_hash.eq(h))
                                .execute(c)?;
                        }
                        audit::record(c, &config.keyring, &actor, Event::new("user.signed_in"))?;
                        Ok(())
                    })
                })
                .await?;
            Ok(user)
        }
        (_, user) => {
            let reason = match (&user, verdict) {
                (None, _) => "unknown_email",
                (Some(u), Verified::Yes | Verified::YesRehash) if u.disabled => "disabled",
                _ => "wrong_password",
            };
            let config = state.config.clone();
            state
                .db(move |c| {
                    write_tx(c, |c| {
                        throttle::sign_in_failed(c, &policy, &keys)?;
                        audit::record(
                            c,
                            &config.keyring,
                            &actor,
                            Event::new("user.sign_in_failed").details(json!({ "reason": reason })),
                        )?;
                        Ok(())
                    })
                })
                .await?;
            Err(Error::invalid("email", WRONG_CREDENTIALS))
        }
    }
}

/// Checks a signed-in user's current password (before a change), backing off per user
/// like a sign-in pair: a stolen session cannot guess its way to the password.
pub async fn check_current_password(
    state: &Ctx,
    actor: &Actor,
    user_id: &UserId,
    stored_hash: String,
    current: SecretString,
) -> Result<()> {
    let key = throttle::current_password_key(user_id);
    let gate = {
        let (key, policy) = (key.clone(), state.throttle.clone());
        state
            .db(move |c| write_tx(c, |c| throttle::attempt(c, &policy, &key)))
            .await?
    };
    if let Gate::Refused(secs) = gate {
        state.metrics.throttled(Check::CurrentPassword);
        let event = Event::new("user.password_check_throttled");
        audit_alone(state, actor.clone(), event).await?;
        return Err(Error::Throttled(format!(
            "Too many wrong current passwords. Try again {}. If you forgot it, sign out and use \u{201c}Forgot password\u{201d}.",
            in_minutes(secs)
        )));
    }
    state.metrics.password_checked();
    let ok = password_work(move || password::verify(&current, Some(&stored_hash)) != Verified::No)
        .await?;
    let actor = actor.clone();
    let config = state.config.clone();
    state
        .db(move |c| {
            if ok {
                return throttle::clear(c, &key);
            }
            write_tx(c, |c| {
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("user.password_check_failed"),
                )?;
                Ok(())
            })
        })
        .await?;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "current_password",
            "The current password is not right.",
        ))
    }
}

/// Writes one audit event in its own transaction.
async fn audit_alone(state: &Ctx, actor: Actor, event: Event<'static>) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                audit::record(c, &config.keyring, &actor, event).map(drop)
            })
        })
        .await
}

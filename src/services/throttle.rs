//! Password-guessing limits that a stranger cannot turn against a person. Failures count
//! per (account, client address) pair, which backs off exponentially and is refused before
//! any password work; wide counters per account and per address only slow attempts down,
//! so nobody elsewhere can lock a person out. The current-password check of `/account`
//! backs off per user the same way. Kept in the database: every instance counts alike.
//! A pair (or a user's check) counts each attempt in the transaction that lets it through,
//! before its password is checked, and forgets it on success: guesses sent together are
//! held to the same limit as guesses sent one after another.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use diesel::prelude::*;

use crate::db::schema::throttle;
use crate::db::{DbConn, now};
use crate::domain::ids::UserId;
use crate::domain::tokens;
use crate::error::Result;

/// The time throttling reads: the system clock, which a test may move forward.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        now() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock `secs` forward, so a test sees a backoff end without waiting.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

/// The limits. The defaults are the product's; tests shrink them.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Failures a pair (account, address), or a user's current-password check, may make
    /// before it is refused for a while.
    pub free_failures: i32,
    /// The first refusal lasts this long; each further failure doubles it...
    pub backoff_base_secs: i64,
    /// ...up to this.
    pub backoff_max_secs: i64,
    /// A pair forgets its failures after this long without one.
    pub pair_memory_secs: i64,
    /// Failures on one account, from anywhere, after which its attempts are slowed.
    pub account_slow_after: i32,
    /// Failures from one address, on any account, after which its attempts are slowed.
    pub address_slow_after: i32,
    /// The wide counters forget after this long without a failure.
    pub wide_memory_secs: i64,
    /// How long a slowed attempt waits before its password is checked.
    pub slowdown: Duration,
    /// Where "now" comes from.
    pub clock: Clock,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            free_failures: 5,
            backoff_base_secs: 60,
            backoff_max_secs: 3600,
            pair_memory_secs: 24 * 3600,
            account_slow_after: 20,
            address_slow_after: 50,
            wide_memory_secs: 15 * 60,
            slowdown: Duration::from_secs(2),
            clock: Clock::default(),
        }
    }
}

impl Policy {
    /// How long to refuse after the `failures`-th failure, if at all.
    fn backoff(&self, failures: i32) -> Option<i64> {
        let over = failures - self.free_failures;
        (over >= 0).then(|| {
            self.backoff_base_secs
                .saturating_mul(1_i64 << over.min(30))
                .min(self.backoff_max_secs)
        })
    }
}

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check the password now.
    Open,
    /// Check it after [`Policy::slowdown`]: a wide limit is exceeded.
    Slow,
    /// Refuse without checking; the backoff ends in this many seconds.
    Refused(i64),
}

/// The counters one sign-in attempt touches. Keys are stored hashed: people sometimes
/// type a password into the email field.
#[derive(Debug, Clone)]
pub struct SignInKeys {
    pair: String,
    account: String,
    address: String,
    account_tag: String,
}

/// What the rows of one account (its pairs and its wide counter) are tagged with.
fn account_tag(email: &str) -> String {
    tokens::hash(&format!("account\n{}", email.trim().to_lowercase()))
}

impl SignInKeys {
    /// For `email` as typed and the client address `ip`. Unknown emails get counters
    /// like known ones, so the answers cannot tell them apart.
    pub fn new(email: &str, ip: Option<&str>) -> SignInKeys {
        let email = email.trim().to_lowercase();
        let ip = ip.unwrap_or("unknown");
        let account_tag = account_tag(&email);
        SignInKeys {
            pair: format!("pair:{}", tokens::hash(&format!("pair\n{email}\n{ip}"))),
            account: format!("account:{account_tag}"),
            address: format!("address:{}", tokens::hash(&format!("address\n{ip}"))),
            account_tag,
        }
    }
}

/// The counter of a user's current-password check on `/account`.
pub fn current_password_key(user_id: &UserId) -> String {
    format!("password:{user_id}")
}

/// Whether a sign-in attempt may check its password now, later, or not at all; one that
/// may is counted on its pair at once, before any password work, so that attempts arriving
/// together cannot all pass a gate that none of them has counted yet. Call inside a write
/// transaction; a success clears the pair again ([`signed_in`]).
pub fn sign_in_attempt(conn: &mut DbConn, policy: &Policy, keys: &SignInKeys) -> Result<Gate> {
    let t = policy.clock.now();
    let tag = Some(keys.account_tag.as_str());
    hold(conn, &keys.pair, tag, t)?;
    let gate = sign_in_gate(conn, policy, keys)?;
    if !matches!(gate, Gate::Refused(_)) {
        bump(conn, &keys.pair, tag, policy.pair_memory_secs, t)?;
        back_off(conn, policy, &keys.pair, t)?;
    }
    Ok(gate)
}

/// Whether a sign-in attempt may check its password now, later, or not at all.
fn sign_in_gate(conn: &mut DbConn, policy: &Policy, keys: &SignInKeys) -> Result<Gate> {
    let t = policy.clock.now();
    let rows: Vec<(String, i32, i64, i64)> = throttle::table
        .filter(throttle::key.eq_any([&keys.pair, &keys.account, &keys.address]))
        .select((
            throttle::key,
            throttle::failures,
            throttle::last_failure,
            throttle::blocked_until,
        ))
        .load(conn)?;
    let mut gate = Gate::Open;
    for (key, failures, last, blocked_until) in rows {
        if key == keys.pair && blocked_until > t {
            return Ok(Gate::Refused(blocked_until - t));
        }
        let limit = if key == keys.account {
            policy.account_slow_after
        } else if key == keys.address {
            policy.address_slow_after
        } else {
            continue;
        };
        if failures >= limit && last + policy.wide_memory_secs > t {
            gate = Gate::Slow;
        }
    }
    Ok(gate)
}

/// Whether the single counter `key` (a current-password check) is backing off; if not,
/// the attempt is counted at once, before its password is checked, as [`sign_in_attempt`]
/// does. Call inside a write transaction; a success [`clear`]s it.
pub fn attempt(conn: &mut DbConn, policy: &Policy, key: &str) -> Result<Gate> {
    let t = policy.clock.now();
    hold(conn, key, None, t)?;
    let blocked_until: Option<i64> = throttle::table
        .find(key)
        .select(throttle::blocked_until)
        .get_result(conn)
        .optional()?;
    if let Some(until) = blocked_until.filter(|until| *until > t) {
        return Ok(Gate::Refused(until - t));
    }
    bump(conn, key, None, policy.pair_memory_secs, t)?;
    back_off(conn, policy, key, t)?;
    Ok(Gate::Open)
}

/// Counts a failed sign-in on the wide counters (its pair counted the attempt already,
/// in [`sign_in_attempt`]). Call inside the transaction that audits the failure.
pub fn sign_in_failed(conn: &mut DbConn, policy: &Policy, keys: &SignInKeys) -> Result<()> {
    let t = policy.clock.now();
    let tag = Some(keys.account_tag.as_str());
    bump(conn, &keys.account, tag, policy.wide_memory_secs, t)?;
    bump(conn, &keys.address, None, policy.wide_memory_secs, t)?;
    Ok(())
}

/// A successful sign-in forgets its pair's failures (not the account's: an attack from
/// elsewhere may still be going on).
pub fn signed_in(conn: &mut DbConn, keys: &SignInKeys) -> Result<()> {
    clear(conn, &keys.pair)
}

/// Forgets the failures of `key`.
pub fn clear(conn: &mut DbConn, key: &str) -> Result<()> {
    diesel::delete(throttle::table.find(key)).execute(conn)?;
    Ok(())
}

/// A completed password reset: the account's wide counter and every pair of it are lifted,
/// since whatever was guessed against is no longer the password.
pub fn lift_account(conn: &mut DbConn, email: &str) -> Result<()> {
    diesel::delete(throttle::table.filter(throttle::account.eq(account_tag(email))))
        .execute(conn)?;
    Ok(())
}

/// Deletes counters nothing remembers any more.
pub fn prune(conn: &mut DbConn, policy: &Policy) -> Result<usize> {
    let t = policy.clock.now();
    let memory = policy.pair_memory_secs.max(policy.wide_memory_secs);
    Ok(diesel::delete(
        throttle::table
            .filter(throttle::last_failure.lt(t - memory))
            .filter(throttle::blocked_until.lt(t)),
    )
    .execute(conn)?)
}

/// Gives `key` a row if it has none and holds that row's lock until the transaction ends,
/// so the gate read next sees every attempt counted before it and the count that follows
/// cannot interleave with another's (PostgreSQL reads each statement afresh under read
/// committed; SQLite's write transaction holds the whole database anyway).
fn hold(conn: &mut DbConn, key: &str, account: Option<&str>, t: i64) -> Result<()> {
    insert_fresh(conn, key, account, t)?;
    diesel::update(throttle::table.find(key))
        .set(throttle::failures.eq(throttle::failures))
        .execute(conn)?;
    Ok(())
}

/// A row for `key` with nothing counted, unless it has one.
fn insert_fresh(conn: &mut DbConn, key: &str, account: Option<&str>, t: i64) -> Result<()> {
    let fresh = (
        throttle::key.eq(key),
        throttle::account.eq(account),
        throttle::failures.eq(0),
        throttle::last_failure.eq(t),
        throttle::blocked_until.eq(0_i64),
    );
    match conn {
        DbConn::Sqlite(c) => diesel::insert_into(throttle::table)
            .values(fresh)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Postgres(c) => diesel::insert_into(throttle::table)
            .values(fresh)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(())
}

/// One more failure on `key`. Three statements rather than a read and a write keep the
/// count exact when instances race: each update waits for the other's row lock, then
/// works on the row as it is now.
fn bump(conn: &mut DbConn, key: &str, account: Option<&str>, memory: i64, t: i64) -> Result<()> {
    insert_fresh(conn, key, account, t)?;
    // Failures long past are forgotten before this one counts.
    diesel::update(
        throttle::table
            .find(key)
            .filter(throttle::last_failure.lt(t - memory)),
    )
    .set((throttle::failures.eq(0), throttle::blocked_until.eq(0_i64)))
    .execute(conn)?;
    diesel::update(throttle::table.find(key))
        .set((
            throttle::failures.eq(throttle::failures + 1),
            throttle::last_failure.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Starts or lengthens the backoff of `key` once its free failures are used up.
fn back_off(conn: &mut DbConn, policy: &Policy, key: &str, t: i64) -> Result<()> {
    let failures: i32 = throttle::table
        .find(key)
        .select(throttle::failures)
        .get_result(conn)?;
    if let Some(secs) = policy.backoff(failures) {
        diesel::update(throttle::table.find(key))
            .set(throttle::blocked_until.eq(t + secs))
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Policy;

    #[test]
    fn backoff_starts_after_the_free_failures_doubles_and_caps() {
        let p = Policy::default();
        assert_eq!(p.backoff(4), None);
        assert_eq!(p.backoff(5), Some(60));
        assert_eq!(p.backoff(6), Some(120));
        assert_eq!(p.backoff(8), Some(480));
        assert_eq!(p.backoff(12), Some(3600));
        assert_eq!(p.backoff(i32::MAX), Some(3600));
    }
}

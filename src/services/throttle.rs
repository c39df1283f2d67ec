//! Sign-in throttling, per account and per client address, kept in the database so every
//! instance counts the same failures.

use diesel::prelude::*;

use crate::db::schema::throttle;
use crate::db::{DbConn, now};
use crate::error::Result;

/// How long failures are counted.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures allowed per account within the window.
pub const PER_ACCOUNT: i32 = 5;
/// Failures allowed per client address within the window.
pub const PER_ADDRESS: i32 = 30;

/// Whether `key` has used up `limit` failures in the current window.
pub fn is_blocked(conn: &mut DbConn, key: &str, limit: i32) -> Result<bool> {
    let row: Option<(i32, i64)> = throttle::table
        .find(key)
        .select((throttle::failures, throttle::window_start))
        .get_result(conn)
        .optional()?;
    Ok(matches!(row, Some((failures, start)) if start + WINDOW_SECS > now() && failures >= limit))
}

/// Counts one failure for `key`.
pub fn record_failure(conn: &mut DbConn, key: &str) -> Result<()> {
    let t = now();
    let row: Option<(i32, i64)> = throttle::table
        .find(key)
        .select((throttle::failures, throttle::window_start))
        .get_result(conn)
        .optional()?;
    match row {
        Some((failures, start)) if start + WINDOW_SECS > t => {
            diesel::update(throttle::table.find(key))
                .set(throttle::failures.eq(failures + 1))
                .execute(conn)?;
        }
        Some(_) => {
            diesel::update(throttle::table.find(key))
                .set((throttle::failures.eq(1), throttle::window_start.eq(t)))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(throttle::table)
                .values((
                    throttle::key.eq(key),
                    throttle::failures.eq(1),
                    throttle::window_start.eq(t),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Forgets the failures of `key` (after a successful sign-in).
pub fn reset(conn: &mut DbConn, key: &str) -> Result<()> {
    diesel::delete(throttle::table.find(key)).execute(conn)?;
    Ok(())
}

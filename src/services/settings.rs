//! Platform settings: a small key/value table (public sign-up, the first-run setup token).

use diesel::prelude::*;

use crate::db::schema::settings;
use crate::db::{DbConn, now};
use crate::error::Result;

/// Whether anyone may create an account and a workspace at `/signup`.
pub const SIGNUP_ENABLED: &str = "signup_enabled";
/// Hash and expiry of the first-run setup token (`<hash>:<expires_at>`).
pub const SETUP_TOKEN: &str = "setup_token";

/// Reads a setting.
pub fn get(conn: &mut DbConn, key: &str) -> Result<Option<String>> {
    Ok(settings::table
        .find(key)
        .select(settings::value)
        .get_result(conn)
        .optional()?)
}

/// Writes a setting (insert or replace).
pub fn set(conn: &mut DbConn, key: &str, value: &str) -> Result<()> {
    let updated = diesel::update(settings::table.find(key))
        .set((settings::value.eq(value), settings::updated_at.eq(now())))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(settings::table)
            .values((
                settings::key.eq(key),
                settings::value.eq(value),
                settings::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes a setting.
pub fn delete(conn: &mut DbConn, key: &str) -> Result<()> {
    diesel::delete(settings::table.find(key)).execute(conn)?;
    Ok(())
}

/// Whether public sign-up is on (off unless an admin turned it on).
pub fn signup_enabled(conn: &mut DbConn) -> Result<bool> {
    Ok(get(conn, SIGNUP_ENABLED)?.as_deref() == Some("true"))
}

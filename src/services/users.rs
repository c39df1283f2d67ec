//! Looking people up: the reads every account use case shares.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::models::User;
use crate::db::schema::users;
use crate::error::Result;

/// A user by email.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

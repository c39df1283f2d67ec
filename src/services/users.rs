//! Looking people up: the reads every account use case shares.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::models::{User, Workspace};
use crate::db::schema::{memberships, users, workspaces};
use crate::domain::ids::UserId;
use crate::error::Result;

/// A user by email.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// How many people and workspaces the platform has (the Overview).
pub fn counts(conn: &mut DbConn) -> Result<(i64, i64)> {
    let people: i64 = users::table.count().get_result(conn)?;
    let spaces: i64 = workspaces::table.count().get_result(conn)?;
    Ok((people, spaces))
}

/// A person's workspaces with their role in each, by slug (the admin's user page).
pub fn workspaces_of(conn: &mut DbConn, user_id: &UserId) -> Result<Vec<(Workspace, String)>> {
    Ok(memberships::table
        .inner_join(workspaces::table)
        .filter(memberships::user_id.eq(user_id))
        .order(workspaces::slug.asc())
        .select((Workspace::as_select(), memberships::role))
        .load(conn)?)
}

//! The `sessions` table's housekeeping that is not the session store's own: ending a
//! person's sessions (a use case's step) and deleting expired rows.

use diesel::prelude::*;

use super::now;
use super::schema::sessions;
use crate::domain::ids::UserId;

/// Ends every session of `user_id` (sign out everywhere, disable, role change). Call inside
/// the change's transaction; the user's epoch bump makes it immediate on every instance.
pub fn purge_user_sessions(conn: &mut super::DbConn, user_id: &UserId) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Deletes expired rows (run now and then by a background task).
pub fn purge_expired(conn: &mut super::DbConn, absolute_limit: i64) -> QueryResult<usize> {
    let t = now();
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(t)
                .or(sessions::created_at.le(t - absolute_limit)),
        ),
    )
    .execute(conn)
}

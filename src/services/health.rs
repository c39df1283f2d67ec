//! What the health and metrics endpoints read from the database.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::outbox;
use crate::error::Result;

/// Whether the database answers a trivial statement.
pub fn ready(conn: &mut DbConn) -> Result<()> {
    Ok(conn.batch_execute("SELECT 1")?)
}

/// Mails waiting in the outbox.
pub fn outbox_pending(conn: &mut DbConn) -> Result<i64> {
    Ok(outbox::table
        .filter(outbox::sent_at.is_null())
        .count()
        .get_result::<i64>(conn)?)
}

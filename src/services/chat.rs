//! The chat page's conversation: each member's history per workspace.

use diesel::prelude::*;

use crate::db::schema::chat_messages;
use crate::db::{DbConn, now};
use crate::domain::ids::{UserId, WorkspaceId, new_id};
use crate::error::Result;

/// One message of a conversation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_messages)]
pub struct Message {
    pub id: String,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub source: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
}

/// What to store.
pub struct NewMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    pub model: Option<&'a str>,
    pub source: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// The last `limit` messages, oldest first.
pub fn history(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
    limit: i64,
) -> Result<Vec<Message>> {
    let mut rows: Vec<Message> = chat_messages::table
        .filter(chat_messages::workspace_id.eq(workspace_id))
        .filter(chat_messages::user_id.eq(user_id))
        .order((chat_messages::created_at.desc(), chat_messages::id.desc()))
        .limit(limit)
        .select(Message::as_select())
        .load(conn)?;
    rows.reverse();
    Ok(rows)
}

/// Appends messages in order.
pub fn append(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
    messages: &[NewMessage<'_>],
) -> Result<()> {
    let t = now();
    for m in messages {
        diesel::insert_into(chat_messages::table)
            .values((
                chat_messages::id.eq(new_id()),
                chat_messages::workspace_id.eq(workspace_id),
                chat_messages::user_id.eq(user_id),
                chat_messages::role.eq(m.role),
                chat_messages::content.eq(m.content),
                chat_messages::model.eq(m.model),
                chat_messages::source.eq(m.source),
                chat_messages::error.eq(m.error),
                chat_messages::created_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Starts a new conversation.
pub fn clear(conn: &mut DbConn, workspace_id: &WorkspaceId, user_id: &UserId) -> Result<()> {
    diesel::delete(
        chat_messages::table
            .filter(chat_messages::workspace_id.eq(workspace_id))
            .filter(chat_messages::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(())
}

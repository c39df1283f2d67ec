//! The signed-in user as every page needs it — account, admin flag, workspaces and roles —
//! read in two queries (the web keeps copies of it: `web::principals`).

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{memberships, users, workspaces};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::Role;
use crate::error::Result;

/// One of the user's workspaces.
#[derive(Debug, Clone)]
pub struct MembershipInfo {
    pub workspace_id: WorkspaceId,
    pub slug: String,
    pub name: String,
    pub role: Role,
}

/// A user as pages see them (never the password hash).
#[derive(Debug)]
pub struct Principal {
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub session_epoch: i64,
    /// Ordered by workspace name.
    pub memberships: Vec<MembershipInfo>,
}

/// The user `id` with their workspaces, `None` if there is no such user.
pub fn load(conn: &mut DbConn, id: &UserId) -> Result<Option<Principal>> {
    let Some((email, name, is_admin, disabled, session_epoch)) = users::table
        .find(id)
        .select((
            users::email,
            users::name,
            users::is_admin,
            users::disabled,
            users::session_epoch,
        ))
        .first::<(String, String, bool, bool, i64)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows: Vec<(WorkspaceId, String, String, Role)> = memberships::table
        .inner_join(workspaces::table)
        .filter(memberships::user_id.eq(id))
        .order(workspaces::name.asc())
        .select((
            workspaces::id,
            workspaces::slug,
            workspaces::name,
            memberships::role,
        ))
        .load(conn)?;
    let memberships = rows
        .into_iter()
        .map(|(workspace_id, slug, name, role)| MembershipInfo {
            workspace_id,
            slug,
            name,
            role,
        })
        .collect();
    Ok(Some(Principal {
        email,
        name,
        is_admin,
        disabled,
        session_epoch,
        memberships,
    }))
}

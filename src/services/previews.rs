//! What a destructive change would do, named before it is confirmed: which workspaces
//! switch keys when BYOK goes off, which lose their key with the global key, what a member
//! loses when removed. Read-only; the changes themselves are in their own services.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{
    api_tokens, chat_messages, memberships, provider_keys, usage_daily, users, workspaces,
};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::providers::Provider;
use crate::domain::resolution::{KeyStatus, Source};
use crate::domain::roles::Role;
use crate::domain::vault::Scope;
use crate::error::{Error, Result};
use crate::services::usage_report::DAYS;

const DAY_SECS: i64 = 86_400;

/// A workspace named in a preview, with its calls to the provider in the last
/// [`DAYS`] days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceCalls {
    pub id: WorkspaceId,
    pub name: String,
    pub calls: i64,
}

/// Workspaces holding a usable (active, untested, quota-warning) key for `provider`.
fn with_usable_key(conn: &mut DbConn, provider: &Provider) -> Result<Vec<WorkspaceId>> {
    let usable: Vec<KeyStatus> = KeyStatus::ALL
        .into_iter()
        .filter(|s| s.is_usable())
        .collect();
    let ids: Vec<Option<WorkspaceId>> = provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Workspace))
        .filter(provider_keys::provider.eq(provider.id))
        .filter(provider_keys::removed_at.is_null())
        .filter(provider_keys::status.eq_any(usable))
        .select(provider_keys::workspace_id)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// Calls to `provider` per workspace over the last [`DAYS`] days, from the daily rollup;
/// only on the platform key when `platform_only`.
fn recent_calls(
    conn: &mut DbConn,
    provider: &Provider,
    platform_only: bool,
    now: i64,
) -> Result<Vec<(WorkspaceId, i64)>> {
    let first_day = now.div_euclid(DAY_SECS) - (DAYS - 1);
    let mut q = usage_daily::table
        .filter(usage_daily::provider.eq(provider.id))
        .filter(usage_daily::day.ge(first_day))
        .into_boxed();
    if platform_only {
        q = q.filter(usage_daily::source.eq(Source::Platform));
    }
    let rows: Vec<(WorkspaceId, i64)> = q
        .select((usage_daily::workspace_id, usage_daily::requests))
        .load(conn)?;
    let mut sums: Vec<(WorkspaceId, i64)> = Vec::new();
    for (ws, n) in rows {
        match sums.iter_mut().find(|(w, _)| *w == ws) {
            Some((_, total)) => *total += n,
            None => sums.push((ws, n)),
        }
    }
    Ok(sums)
}

/// Names `ids` with their calls, most calls first, then by name.
fn named(
    conn: &mut DbConn,
    ids: &[WorkspaceId],
    calls: &[(WorkspaceId, i64)],
) -> Result<Vec<WorkspaceCalls>> {
    let rows: Vec<(WorkspaceId, String)> = workspaces::table
        .filter(workspaces::id.eq_any(ids))
        .select((workspaces::id, workspaces::name))
        .load(conn)?;
    let mut out: Vec<WorkspaceCalls> = rows
        .into_iter()
        .map(|(id, name)| WorkspaceCalls {
            calls: calls.iter().find(|(w, _)| *w == id).map_or(0, |(_, n)| *n),
            id,
            name,
        })
        .collect();
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Turning BYOK off for `provider`: the workspaces whose own keys stop answering, with
/// their last 30 days of calls to it.
pub fn byok_off(conn: &mut DbConn, provider: &Provider, now: i64) -> Result<Vec<WorkspaceCalls>> {
    let ids = with_usable_key(conn, provider)?;
    let calls = recent_calls(conn, provider, false, now)?;
    named(conn, &ids, &calls)
}

/// Removing the global key of a provider.
#[derive(Debug, Clone)]
pub struct GlobalKeyLoss {
    /// Workspaces that have no usable key of their own for the provider (all of them
    /// when BYOK is off): the global key is theirs.
    pub without_own_key: i64,
    /// Those of them that called the provider on the platform key in the last 30 days.
    pub recent: Vec<WorkspaceCalls>,
}

/// Who loses their key when the global key of `provider` goes.
pub fn global_key_removal(
    conn: &mut DbConn,
    provider: &Provider,
    byok_enabled: bool,
    now: i64,
) -> Result<GlobalKeyLoss> {
    let own = if byok_enabled {
        with_usable_key(conn, provider)?
    } else {
        Vec::new()
    };
    let all: i64 = workspaces::table.count().get_result(conn)?;
    let calls: Vec<(WorkspaceId, i64)> = recent_calls(conn, provider, true, now)?
        .into_iter()
        .filter(|(ws, n)| *n > 0 && !own.contains(ws))
        .collect();
    let ids: Vec<WorkspaceId> = calls.iter().map(|(w, _)| w.clone()).collect();
    Ok(GlobalKeyLoss {
        without_own_key: all - own.len() as i64,
        recent: named(conn, &ids, &calls)?,
    })
}

/// What a member loses when removed from a workspace.
#[derive(Debug, Clone)]
pub struct MemberLoss {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The only owner: removal is refused, so none is offered.
    pub last_owner: bool,
    /// Names of their API tokens in this workspace that still work (revoked on removal).
    pub tokens: Vec<String>,
    /// Their chat messages in this workspace (kept, but out of their reach).
    pub chat_messages: i64,
}

/// The preview of removing `user_id` from `workspace_id`; `NotFound` if not a member.
pub fn member_removal(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
) -> Result<MemberLoss> {
    let (email, name, role): (String, String, Role) = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::user_id.eq(user_id))
        .select((users::email, users::name, memberships::role))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound)?;
    let owners: i64 = memberships::table
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::role.eq(Role::Owner))
        .count()
        .get_result(conn)?;
    let tokens: Vec<String> = api_tokens::table
        .filter(api_tokens::workspace_id.eq(workspace_id))
        .filter(api_tokens::created_by.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .order(api_tokens::name.asc())
        .select(api_tokens::name)
        .load(conn)?;
    let chat_messages: i64 = chat_messages::table
        .filter(chat_messages::workspace_id.eq(workspace_id))
        .filter(chat_messages::user_id.eq(user_id))
        .filter(chat_messages::role.eq("user"))
        .count()
        .get_result(conn)?;
    Ok(MemberLoss {
        email,
        name,
        last_owner: role == Role::Owner && owners <= 1,
        role,
        tokens,
        chat_messages,
    })
}

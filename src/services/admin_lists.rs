//! The admin's Workspaces and Users lists, one numbered page at a time, with what an
//! operator scans for: owners, keys and this month's platform tokens of a workspace; last
//! sign-in and workspaces of a user. Each page costs a fixed handful of queries (no N+1),
//! and rows are view structs: nothing secret (a password hash) leaves this module.

use diesel::prelude::*;

use super::audit::escape_like;
use crate::db::schema::{audit_events, memberships, provider_keys, usage_daily, users, workspaces};
use crate::db::{DbConn, month_start};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::resolution::{KeyStatus, Source};
use crate::domain::roles::Role;
use crate::domain::vault::Scope;
use crate::error::Result;

diesel::define_sql_function! {
    /// SQL `lower()`: PostgreSQL's `LIKE` is case-sensitive, SQLite's is not; searches
    /// compare lower-cased text so both backends answer alike.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Rows per page of the admin lists.
pub const PER_PAGE: i64 = 50;
const DAY_SECS: i64 = 86_400;

/// One page of a list and where it sits among all of them.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Rows matching the search, on every page.
    pub total: i64,
    /// 1-based, clamped to the pages that exist.
    pub page: i64,
    /// At least 1, even for an empty list.
    pub pages: i64,
}

/// Clamps a requested page to `1..=pages` and gives (page, pages, offset).
fn place(requested: i64, total: i64, per_page: i64) -> (i64, i64, i64) {
    let pages = ((total + per_page - 1) / per_page).max(1);
    let page = requested.clamp(1, pages);
    (page, pages, (page - 1) * per_page)
}

fn pattern(query: Option<&str>) -> Option<String> {
    query
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("%{}%", escape_like(&s.to_lowercase())))
}

/// A workspace as the admin's list shows it.
#[derive(Debug, Clone)]
pub struct WorkspaceSummary {
    pub id: WorkspaceId,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
    pub members: i64,
    /// Owners' names (or emails when a name is empty), alphabetical.
    pub owners: Vec<String>,
    /// Workspace keys that can answer (active, untested, quota warning).
    pub keys_usable: i64,
    /// Workspace keys the provider rejected.
    pub keys_invalid: i64,
    /// Platform-key tokens since the first of this month (UTC).
    pub platform_tokens: i64,
    /// The monthly platform allowance; `None` = unlimited.
    pub allowance: Option<i64>,
}

type WsRow = (WorkspaceId, String, String, i64, Option<i64>);

/// Page `page` of the workspaces matching `query` (name or URL name), by URL name.
pub fn workspaces_page(
    conn: &mut DbConn,
    query: Option<&str>,
    page: i64,
    now: i64,
) -> Result<Page<WorkspaceSummary>> {
    let pattern = pattern(query);
    let filtered = || {
        let mut q = workspaces::table.into_boxed();
        if let Some(p) = &pattern {
            q = q.filter(
                workspaces::slug
                    .like(p.clone())
                    .escape('\\')
                    .or(lower(workspaces::name).like(p.clone()).escape('\\')),
            );
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let (page, pages, offset) = place(page, total, PER_PAGE);
    let rows: Vec<WsRow> = filtered()
        .order(workspaces::slug.asc())
        .limit(PER_PAGE)
        .offset(offset)
        .select((
            workspaces::id,
            workspaces::name,
            workspaces::slug,
            workspaces::created_at,
            workspaces::allowance_tokens,
        ))
        .load(conn)?;
    let ids: Vec<WorkspaceId> = rows.iter().map(|r| r.0.clone()).collect();

    let people: Vec<(WorkspaceId, Role, String, String)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq_any(&ids))
        .order((users::name.asc(), users::email.asc()))
        .select((
            memberships::workspace_id,
            memberships::role,
            users::name,
            users::email,
        ))
        .load(conn)?;
    let keys: Vec<(Option<WorkspaceId>, KeyStatus)> = provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Workspace))
        .filter(provider_keys::workspace_id.eq_any(&ids))
        .filter(provider_keys::removed_at.is_null())
        .select((provider_keys::workspace_id, provider_keys::status))
        .load(conn)?;
    // Whole rollup days of this month; a few rows per workspace and provider, summed here
    // so that both backends answer alike.
    let tokens: Vec<(WorkspaceId, i64)> = usage_daily::table
        .filter(usage_daily::workspace_id.eq_any(&ids))
        .filter(usage_daily::source.eq(Source::Platform))
        .filter(usage_daily::day.ge(month_start(now).div_euclid(DAY_SECS)))
        .select((usage_daily::workspace_id, usage_daily::tokens))
        .load(conn)?;

    let rows = rows
        .into_iter()
        .map(|(id, name, slug, created_at, allowance)| {
            let mine = people.iter().filter(|p| p.0 == id);
            let owners = mine
                .clone()
                .filter(|p| p.1 == Role::Owner)
                .map(|p| if p.2.trim().is_empty() { &p.3 } else { &p.2 }.clone())
                .collect();
            let statuses = keys.iter().filter(|k| k.0.as_ref() == Some(&id));
            let count_where =
                |f: fn(KeyStatus) -> bool| statuses.clone().filter(|k| f(k.1)).count() as i64;
            WorkspaceSummary {
                members: mine.count() as i64,
                owners,
                keys_usable: count_where(KeyStatus::is_usable),
                keys_invalid: count_where(|s| s == KeyStatus::Invalid),
                platform_tokens: tokens.iter().filter(|t| t.0 == id).map(|t| t.1).sum(),
                id,
                name,
                slug,
                created_at,
                allowance,
            }
        })
        .collect();
    Ok(Page {
        rows,
        total,
        page,
        pages,
    })
}

/// A workspace a user belongs to, for the Users list.
#[derive(Debug, Clone)]
pub struct UserWorkspace {
    pub id: WorkspaceId,
    pub name: String,
    pub owner: bool,
}

/// A user as the admin's list shows it (no password hash, no session data).
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    /// The last successful sign-in, from the audit log; `None` = never.
    pub last_sign_in: Option<i64>,
    /// Alphabetical by name.
    pub workspaces: Vec<UserWorkspace>,
}

type UserRow = (UserId, String, String, bool, bool, i64);

/// Page `page` of the users matching `query` (email or name), by email.
pub fn users_page(conn: &mut DbConn, query: Option<&str>, page: i64) -> Result<Page<UserSummary>> {
    let pattern = pattern(query);
    let filtered = || {
        let mut q = users::table.into_boxed();
        if let Some(p) = &pattern {
            q = q.filter(
                users::email
                    .like(p.clone())
                    .escape('\\')
                    .or(lower(users::name).like(p.clone()).escape('\\')),
            );
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let (page, pages, offset) = place(page, total, PER_PAGE);
    let rows: Vec<UserRow> = filtered()
        .order(users::email.asc())
        .limit(PER_PAGE)
        .offset(offset)
        .select((
            users::id,
            users::email,
            users::name,
            users::is_admin,
            users::disabled,
            users::created_at,
        ))
        .load(conn)?;
    let ids: Vec<UserId> = rows.iter().map(|r| r.0.clone()).collect();
    let emails: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();

    let spaces: Vec<(UserId, WorkspaceId, String, Role)> = memberships::table
        .inner_join(workspaces::table)
        .filter(memberships::user_id.eq_any(&ids))
        .order(workspaces::name.asc())
        .select((
            memberships::user_id,
            workspaces::id,
            workspaces::name,
            memberships::role,
        ))
        .load(conn)?;
    // By email first (the audit log's actor index), then kept only where the event's actor
    // id is the user's: an address reused after a deletion is not the same person.
    let sign_ins: Vec<(Option<String>, Option<i64>)> = audit_events::table
        .filter(audit_events::actor_email.eq_any(&emails))
        .filter(audit_events::action.eq("user.signed_in"))
        .group_by(audit_events::actor_id)
        .select((audit_events::actor_id, diesel::dsl::max(audit_events::at)))
        .load(conn)?;

    let rows = rows
        .into_iter()
        .map(
            |(id, email, name, is_admin, disabled, created_at)| UserSummary {
                last_sign_in: sign_ins
                    .iter()
                    .find(|s| s.0.as_deref() == Some(id.as_str()))
                    .and_then(|s| s.1),
                workspaces: spaces
                    .iter()
                    .filter(|s| s.0 == id)
                    .map(|s| UserWorkspace {
                        id: s.1.clone(),
                        name: s.2.clone(),
                        owner: s.3 == Role::Owner,
                    })
                    .collect(),
                id,
                email,
                name,
                is_admin,
                disabled,
                created_at,
            },
        )
        .collect();
    Ok(Page {
        rows,
        total,
        page,
        pages,
    })
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn a_page_is_clamped_to_the_pages_that_exist() {
        assert_eq!(place(1, 0, 50), (1, 1, 0));
        assert_eq!(place(0, 120, 50), (1, 3, 0));
        assert_eq!(place(2, 120, 50), (2, 3, 50));
        assert_eq!(place(9, 120, 50), (3, 3, 100));
        assert_eq!(place(-4, 100, 50), (1, 2, 0));
        assert_eq!(place(2, 100, 50), (2, 2, 50));
    }
}

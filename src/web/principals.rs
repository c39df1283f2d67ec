//! The signed-in user as every page needs it — account, admin flag, workspaces and roles.
//!
//! On SQLite this process is the only writer, and every change to users, memberships or
//! workspace names moves the cache epoch in-process (database triggers of migration 000005,
//! seen by `write_tx`), so the user is kept in memory and a copy is trusted only while the
//! epoch has not moved: a role change, a removal, a disable or "sign out everywhere" applies
//! to the very next request. On PostgreSQL, where several instances share the database, it
//! is read on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use diesel::prelude::*;

use super::extractors::MembershipInfo;
use crate::db::schema::{memberships, users, workspaces};
use crate::db::{Backend, DbConn, epoch};
use crate::domain::roles::Role;
use crate::error::Result;
use crate::state::AppState;

/// Past this many users in memory the copies are dropped and reloaded as needed.
const MAX_CACHED: usize = 50_000;

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

/// Users by id, each with the cache epoch it was loaded at.
type Copies = RwLock<HashMap<String, (u64, Arc<Principal>)>>;

/// The signed-in users kept in memory (`None`: no caching).
pub struct Principals {
    cached: Option<Copies>,
}

impl Principals {
    /// Caches on SQLite only (see the module documentation).
    pub fn new(backend: Backend) -> Self {
        Principals {
            cached: (backend == Backend::Sqlite).then(RwLock::default),
        }
    }

    /// The user `user_id`, or `None` if there is no such user.
    pub async fn get(&self, state: &AppState, user_id: &str) -> Result<Option<Arc<Principal>>> {
        let Some(map) = &self.cached else {
            let id = user_id.to_owned();
            return Ok(state.db(move |c| load(c, &id)).await?.map(Arc::new));
        };
        // Read before loading: a change committed meanwhile moves it, so that copy is
        // stored under an epoch that is already out of date.
        let epoch = epoch::local();
        if let Some((at, p)) = map.read().unwrap_or_else(|e| e.into_inner()).get(user_id)
            && *at == epoch
        {
            return Ok(Some(p.clone()));
        }
        let id = user_id.to_owned();
        let loaded = state.db(move |c| load(c, &id)).await?.map(Arc::new);
        let mut map = map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        match &loaded {
            Some(p) => map.insert(user_id.to_owned(), (epoch, p.clone())),
            None => map.remove(user_id),
        };
        Ok(loaded)
    }
}

fn load(conn: &mut DbConn, id: &str) -> Result<Option<Principal>> {
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
    let rows: Vec<(String, String, String, String)> = memberships::table
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
        .filter_map(|(workspace_id, slug, name, role)| {
            Role::parse(&role).map(|role| MembershipInfo {
                workspace_id,
                slug,
                name,
                role,
            })
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

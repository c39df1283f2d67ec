//! The signed-in user as every page needs it — account, admin flag, workspaces and roles.
//!
//! Every change to users, memberships or workspace names moves the cache epoch (the one
//! rule: `services::cache`), so the user is kept in memory and a copy is trusted only while
//! the epoch has not moved: a role change, a removal, a disable or "sign out everywhere"
//! applies to this instance's very next request. On PostgreSQL the epoch of another
//! instance's change arrives by notification (milliseconds; `db::listen`), and while the
//! listener is down every request reads the shared epoch, as the gateway does.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::ids::UserId;
use crate::error::Result;
use crate::services::Ctx;
use crate::services::cache;
pub use crate::services::principals::Principal;
use crate::services::principals::load;

/// Past this many users in memory the copies are dropped and reloaded as needed.
const MAX_CACHED: usize = 50_000;

/// Users by id, each with the cache epoch it was loaded at.
type Copies = RwLock<HashMap<UserId, (u64, Arc<Principal>)>>;

/// The signed-in users kept in memory.
#[derive(Default)]
pub struct Principals {
    cached: Copies,
}

impl Principals {
    /// An empty cache (both backends; see the module documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// The user `user_id`, or `None` if there is no such user.
    pub async fn get(&self, state: &Ctx, user_id: &UserId) -> Result<Option<Arc<Principal>>> {
        let map = &self.cached;
        // Read before loading: a change committed meanwhile moves it, so that copy is
        // stored under an epoch that is already out of date.
        let epoch = cache::current_epoch(state).await?;
        if let Some((at, p)) = map.read().unwrap_or_else(|e| e.into_inner()).get(user_id)
            && *at == epoch
        {
            return Ok(Some(p.clone()));
        }
        let id = user_id.clone();
        let loaded = state.db(move |c| load(c, &id)).await?.map(Arc::new);
        let mut map = map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        match &loaded {
            Some(p) => map.insert(user_id.clone(), (epoch, p.clone())),
            None => map.remove(user_id),
        };
        Ok(loaded)
    }
}

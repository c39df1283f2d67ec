//! The session rows kept in memory (see the store's documentation): the copies, the count
//! of writes that keeps a racing read from storing a stale row, and the listener's view.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::db::listen::SessionCopies;
use crate::services::cache;

/// Past this many sessions in memory the copies are dropped and reloaded as needed.
const MAX_CACHED: usize = 100_000;

/// A session row as kept in memory.
#[derive(Clone)]
pub(super) struct Cached {
    pub(super) state: HashMap<String, String>,
    pub(super) created: i64,
    pub(super) expires: i64,
    /// The cache epoch when it was read or written.
    pub(super) epoch: u64,
}

/// The copies, and a count of the store's writes: a row read from the database is kept only
/// if no write happened while it was read (a sign-out racing a page load must win).
#[derive(Default)]
pub(super) struct Copies {
    rows: HashMap<String, Cached>,
    writes: u64,
}

pub(super) type Cache = Arc<RwLock<Copies>>;

/// The copies, as the epoch listener sees them.
pub(super) struct Listened(pub(super) Cache);

impl SessionCopies for Listened {
    fn forget(&self, id: &str) {
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        // A read in flight must not keep what it read before this change.
        cache.writes += 1;
        cache.rows.remove(id);
    }

    fn forget_all(&self) {
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        cache.writes += 1;
        cache.rows.clear();
    }
}

/// The copy of row `id`, if it was taken under the current epoch.
pub(super) fn copy_of(cache: &Cache, id: &str) -> Option<Cached> {
    let cache = cache.read().unwrap_or_else(|e| e.into_inner());
    cache
        .rows
        .get(id)
        .filter(|c| c.epoch == cache::local_epoch())
        .cloned()
}

/// How many writes the store has made (see [`Copies`]).
pub(super) fn writes_of(cache: &Cache) -> u64 {
    cache.read().unwrap_or_else(|e| e.into_inner()).writes
}

/// Keeps (or, with `None`, forgets) the copy of row `id`: as the store writes it
/// (`read_after` None), or as read from the database when there were `read_after` writes,
/// unless a write happened since.
pub(super) fn keep(cache: &Cache, id: &str, row: Option<Cached>, read_after: Option<u64>) {
    let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
    match read_after {
        Some(n) if n != cache.writes => return,
        Some(_) => {}
        None => cache.writes += 1,
    }
    match row {
        Some(row) => {
            if cache.rows.len() >= MAX_CACHED {
                cache.rows.clear();
            }
            cache.rows.insert(id.to_owned(), row);
        }
        None => {
            cache.rows.remove(id);
        }
    }
}

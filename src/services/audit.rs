//! The audit log: every change writes its event in the same transaction, chained by a
//! keyed hash (see `audit_chain`).

use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::audit_chain as chain;
pub use super::audit_chain::{Verdict, verify};
use crate::db::models::AuditRow;
use crate::db::schema::{audit_chain, audit_events, workspaces};
use crate::db::{DbConn, now};
use crate::domain::audit::{ChainKey, ChainedFields, Head, chain_hash};
use crate::domain::audit_words::{ROUTING_ACTIONS, SIGN_IN_ACTIONS};
use crate::domain::ids::UserId;
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};

/// Who did it, from where.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    /// The system itself (background work, CLI).
    pub fn system() -> Actor {
        Actor::default()
    }

    /// A command-line operator.
    pub fn cli() -> Actor {
        Actor {
            user_id: None,
            email: Some("cli".into()),
            ip: None,
        }
    }
}

/// One event to record.
pub struct Event<'a> {
    pub action: &'a str,
    pub workspace_id: Option<&'a str>,
    pub target: Option<&'a str>,
    pub details: Value,
}

impl<'a> Event<'a> {
    /// An event with no workspace and no target.
    pub fn new(action: &'a str) -> Self {
        Event {
            action,
            workspace_id: None,
            target: None,
            details: Value::Object(Default::default()),
        }
    }

    /// The workspace it happened in.
    pub fn workspace(mut self, id: &'a str) -> Self {
        self.workspace_id = Some(id);
        self
    }

    /// What it happened to (an email, a provider, a key label).
    pub fn target(mut self, target: &'a str) -> Self {
        self.target = Some(target);
        self
    }

    /// Details (never a secret).
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends `event` to the chain, keyed under the active master key. Call inside the
/// transaction of the change it describes. Refuses (an internal error) when the chain's
/// head does not verify: extending a cut or forged head would launder it.
pub fn record(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    event: Event<'_>,
) -> Result<i64> {
    // Touching the head first serialises writers on PostgreSQL (row lock) as SQLite's
    // immediate transaction already does.
    diesel::update(audit_chain::table.find(1))
        .set(audit_chain::last_id.eq(audit_chain::last_id))
        .execute(conn)?;
    let head = chain::head_for_append(conn, keyring)?;
    let key = ChainKey::active(keyring)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no active master key")))?;
    let id = head.last_id + 1;
    // Never before the previous event, even if the clock stepped back: events are in time
    // order by id, which lets `list` turn a date range into an id range.
    let previous_at: Option<i64> = audit_events::table
        .find(head.last_id)
        .select(audit_events::at)
        .get_result(conn)
        .optional()?;
    let at = now().max(previous_at.unwrap_or(i64::MIN));
    let details = event.details.to_string();
    let hash = chain_hash(
        &head.last_hash,
        &ChainedFields {
            id,
            at,
            actor_id: actor.user_id.as_deref(),
            actor_email: actor.email.as_deref(),
            ip: actor.ip.as_deref(),
            workspace_id: event.workspace_id,
            action: event.action,
            target: event.target,
            details: &details,
        },
    );
    let row = AuditRow {
        id,
        at,
        actor_id: actor.user_id.clone().map(String::from),
        actor_email: actor.email.clone(),
        ip: actor.ip.clone(),
        workspace_id: event.workspace_id.map(str::to_owned),
        action: event.action.to_owned(),
        target: event.target.map(str::to_owned),
        details,
        prev_hash: head.last_hash.clone(),
        mac: Some(key.event_mac(id, &hash)),
        hash: hash.clone(),
        key_version: Some(key.version().to_owned()),
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    chain::write_head(
        conn,
        &key,
        &Head {
            last_id: id,
            last_hash: hash,
            ..head
        },
    )?;
    Ok(id)
}

/// Filters for the audit views.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A workspace's id, or its slug (the admin's picker sends slugs; older links ids).
    pub workspace_id: Option<String>,
    /// With `workspace_id`: also the platform events that changed every workspace's
    /// routing (`audit_words::ROUTING_ACTIONS`), unless an actor is asked for (which would
    /// tell whether an email belongs to an admin).
    pub platform_routing: bool,
    /// Leaves out sign-in traffic (`audit_words::SIGN_IN_ACTIONS`).
    pub hide_sign_ins: bool,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Keyset cursor: only events with a smaller id.
    pub before: Option<i64>,
}

/// Escapes `\`, `%` and `_` for a `LIKE … ESCAPE '\'` pattern, so that a search for
/// `workspace_key.*` matches the underscore literally instead of dropping it.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The id of the workspace whose id is `id_or_slug` or, failing that, whose slug it is.
fn workspace_id_of(conn: &mut DbConn, id_or_slug: &str) -> Result<Option<String>> {
    let by_id: Option<String> = workspaces::table
        .find(id_or_slug)
        .select(workspaces::id)
        .first(conn)
        .optional()?;
    if by_id.is_some() {
        return Ok(by_id);
    }
    Ok(workspaces::table
        .filter(workspaces::slug.eq(id_or_slug))
        .select(workspaces::id)
        .first(conn)
        .optional()?)
}

/// One page of events, newest first, and the cursor for the next page.
pub fn list(conn: &mut DbConn, f: &Filter, limit: i64) -> Result<(Vec<AuditRow>, Option<i64>)> {
    let mut q = audit_events::table.into_boxed();
    if let Some(ws) = &f.workspace_id {
        let ws = workspace_id_of(conn, ws)?.unwrap_or_else(|| ws.clone());
        if f.platform_routing && f.actor.is_none() {
            q = q.filter(
                audit_events::workspace_id
                    .eq(ws)
                    .or(audit_events::workspace_id
                        .is_null()
                        .and(audit_events::action.eq_any(ROUTING_ACTIONS))),
            );
        } else {
            q = q.filter(audit_events::workspace_id.eq(ws));
        }
    }
    if f.hide_sign_ins {
        q = q.filter(audit_events::action.ne_all(SIGN_IN_ACTIONS));
    }
    if let Some(actor) = &f.actor {
        q = q.filter(audit_events::actor_email.eq(actor.to_lowercase()));
    }
    if let Some(action) = &f.action {
        if let Some(prefix) = action.strip_suffix('*') {
            q = q.filter(
                audit_events::action
                    .like(format!("{}%", escape_like(prefix)))
                    .escape('\\'),
            );
        } else {
            q = q.filter(audit_events::action.eq(action.clone()));
        }
    }
    // Ids follow time (see `record`), so a date range is also an id range: one lookup on
    // (at, id) for each end, then the primary key or the (action | actor | workspace, id)
    // index walks just that range, newest first, instead of sorting a whole week of events.
    if let Some(from) = f.from {
        let first: Option<i64> = audit_events::table
            .filter(audit_events::at.ge(from))
            .order((audit_events::at.asc(), audit_events::id.asc()))
            .select(audit_events::id)
            .first(conn)
            .optional()?;
        let Some(first) = first else {
            return Ok((Vec::new(), None));
        };
        q = q
            .filter(audit_events::at.ge(from))
            .filter(audit_events::id.ge(first));
    }
    if let Some(to) = f.to {
        let last: Option<i64> = audit_events::table
            .filter(audit_events::at.lt(to))
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .select(audit_events::id)
            .first(conn)
            .optional()?;
        let Some(last) = last else {
            return Ok((Vec::new(), None));
        };
        q = q
            .filter(audit_events::at.lt(to))
            .filter(audit_events::id.le(last));
    }
    if let Some(before) = f.before {
        q = q.filter(audit_events::id.lt(before));
    }
    let mut rows: Vec<AuditRow> = q
        .order(audit_events::id.desc())
        .limit(limit + 1)
        .select(AuditRow::as_select())
        .load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

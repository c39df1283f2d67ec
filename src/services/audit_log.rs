//! The audit log as its pages read it: one page of events, each worded as a sentence with
//! the names it needs (looked up once per page, not per event), and the workspaces the
//! admin can filter by.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::Value;

use super::audit::{Filter, list};
use crate::db::DbConn;
use crate::db::models::AuditRow;
use crate::db::schema::{users, workspaces};
use crate::domain::audit_words::{Event, Who, sentence};
use crate::error::Result;

/// Who reads the log: the platform admin (everything) or a workspace's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Admin,
    Owner,
}

/// One event as a page shows it. For an owner reading a platform event, the actor's
/// email and address are left out and so are key masks.
#[derive(Debug, Clone)]
pub struct Line {
    pub id: i64,
    pub at: i64,
    pub sentence: String,
    /// A platform event shown in a workspace's log.
    pub platform: bool,
    pub actor_email: Option<String>,
    pub ip: Option<String>,
    pub workspace: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// The details, pretty-printed (empty when there are none).
    pub details: String,
}

fn names<'a>(
    conn: &mut DbConn,
    ids: impl Iterator<Item = &'a str>,
    by_user: bool,
) -> Result<HashMap<String, (String, String)>> {
    let mut ids: Vec<&str> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, String)> = if by_user {
        users::table
            .filter(users::id.eq_any(&ids))
            .select((users::id, users::name, users::email))
            .load(conn)?
    } else {
        workspaces::table
            .filter(workspaces::id.eq_any(&ids))
            .select((workspaces::id, workspaces::name, workspaces::slug))
            .load(conn)?
    };
    Ok(rows.into_iter().map(|(id, a, b)| (id, (a, b))).collect())
}

fn who(row: &AuditRow, people: &HashMap<String, (String, String)>) -> Who {
    let known = row.actor_id.as_ref().and_then(|id| people.get(id));
    match (known, row.actor_email.as_deref()) {
        (Some((name, _)), _) if !name.trim().is_empty() => Who::Person(name.clone()),
        (Some((_, email)), _) => Who::Person(email.clone()),
        (None, Some("cli")) => Who::CommandLine,
        (None, Some(email)) if row.actor_id.is_some() => Who::Person(email.to_owned()),
        (None, Some(email)) => Who::Email(email.to_owned()),
        (None, None) => Who::System,
    }
}

/// What an owner may read of a platform event's details: the flags it changed.
fn public_details(details: &Value) -> Value {
    let mut kept = serde_json::Map::new();
    for field in ["before", "after"] {
        if let Some(v) = details.get(field) {
            kept.insert(field.to_owned(), v.clone());
        }
    }
    Value::Object(kept)
}

fn pretty(details: &Value) -> String {
    match details {
        Value::Object(m) if m.is_empty() => String::new(),
        v => serde_json::to_string_pretty(v).unwrap_or_default(),
    }
}

/// One page of events for `reader`, newest first, and the cursor for the next page.
pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    reader: Reader,
    limit: i64,
) -> Result<(Vec<Line>, Option<i64>)> {
    let (rows, next) = list(conn, filter, limit)?;
    let people = names(
        conn,
        rows.iter().filter_map(|r| r.actor_id.as_deref()),
        true,
    )?;
    let spaces = names(
        conn,
        rows.iter().filter_map(|r| r.workspace_id.as_deref()),
        false,
    )?;
    let lines = rows
        .into_iter()
        .map(|row| {
            let platform = reader == Reader::Owner && row.workspace_id.is_none();
            let stored: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
            let details = if platform {
                public_details(&stored)
            } else {
                stored
            };
            let who = if platform {
                Who::Administrator
            } else {
                who(&row, &people)
            };
            let workspace = row
                .workspace_id
                .as_ref()
                .and_then(|id| spaces.get(id))
                .map(|(name, _)| name.clone());
            let sentence = sentence(&Event {
                action: &row.action,
                who: &who,
                target: row.target.as_deref(),
                details: &details,
                workspace: workspace.as_deref(),
                actor_email: row.actor_email.as_deref(),
                without_masks: platform,
            });
            Line {
                id: row.id,
                at: row.at,
                sentence,
                platform,
                actor_email: if platform { None } else { row.actor_email },
                ip: if platform { None } else { row.ip },
                workspace,
                action: row.action,
                target: row.target,
                details: pretty(&details),
            }
        })
        .collect();
    Ok((lines, next))
}

/// The workspaces the admin's filter offers, by name: (id, slug, name), at most `limit`.
pub fn workspace_choices(conn: &mut DbConn, limit: i64) -> Result<Vec<(String, String, String)>> {
    Ok(workspaces::table
        .order((workspaces::name.asc(), workspaces::slug.asc()))
        .select((workspaces::id, workspaces::slug, workspaces::name))
        .limit(limit)
        .load(conn)?)
}

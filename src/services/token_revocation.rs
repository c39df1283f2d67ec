//! A workspace API token lives no longer than its creator's standing there: when a person
//! is disabled, leaves or is removed from a workspace, or stops being its owner (only
//! owners hold tokens, SPEC §2), the tokens they created there are revoked in the same
//! transaction as that change, each with its audit event, and the workspace's remaining
//! owners are mailed. Revoking moves the cache epoch (a trigger on `api_tokens`), so the
//! gateway refuses the token on the very next request, on every instance.

use std::collections::BTreeMap;

use askama::Template;
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::key_records;
use super::mail;
use crate::config::Config;
use crate::db::models::User;
use crate::db::schema::api_tokens;
use crate::db::{DbConn, now};
use crate::domain::ids::{TokenId, WorkspaceId};
use crate::error::Result;

/// Why the creator's tokens go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A platform admin disabled the account (all their workspaces).
    Disabled,
    /// They left or were removed from the workspace.
    Removed,
    /// They are no longer an owner of the workspace.
    Demoted,
}

impl Reason {
    /// The code the audit event records.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Disabled => "creator_disabled",
            Reason::Removed => "creator_left_workspace",
            Reason::Demoted => "creator_no_longer_owner",
        }
    }

    /// The end of the mail's sentence ("… because the person who created them …").
    fn clause(self) -> &'static str {
        match self {
            Reason::Disabled => "was disabled by a platform admin",
            Reason::Removed => "is no longer a member of the workspace",
            Reason::Demoted => "is no longer an owner of the workspace",
        }
    }
}

#[derive(Template)]
#[template(path = "email/tokens_revoked.txt", blocks = ["subject", "text"])]
struct TokensRevokedMail {
    /// The person, quoted: “Bob Example” (“bob@…”).
    person: String,
    reason: &'static str,
    /// The tokens' names, quoted and listed.
    tokens: String,
    count: usize,
    /// The workspace's name, quoted.
    workspace: String,
    action_url: String,
}
crate::mail_content!(TokensRevokedMail, "Open the access tokens");

/// Revokes every live token `creator` created (in `workspace_id`, or everywhere), audits
/// each, and queues a mail to each remaining enabled owner of each workspace concerned.
/// Call inside the transaction of the change, after it. Returns how many were revoked.
pub fn revoke_created_by(
    conn: &mut DbConn,
    config: &Config,
    actor: &Actor,
    creator: &User,
    workspace_id: Option<&WorkspaceId>,
    reason: Reason,
) -> Result<usize> {
    let mut q = api_tokens::table
        .filter(api_tokens::created_by.eq(&creator.id))
        .filter(api_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(ws) = workspace_id {
        q = q.filter(api_tokens::workspace_id.eq(ws.clone()));
    }
    let live: Vec<(TokenId, WorkspaceId, String, String)> = q
        .order((api_tokens::workspace_id.asc(), api_tokens::created_at.asc()))
        .select((
            api_tokens::id,
            api_tokens::workspace_id,
            api_tokens::name,
            api_tokens::prefix,
        ))
        .load(conn)?;
    if live.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&TokenId> = live.iter().map(|t| &t.0).collect();
    diesel::update(api_tokens::table.filter(api_tokens::id.eq_any(ids)))
        .set((
            api_tokens::revoked_at.eq(now()),
            api_tokens::revoked_by.eq(&actor.user_id),
        ))
        .execute(conn)?;
    let mut by_workspace: BTreeMap<&WorkspaceId, Vec<String>> = BTreeMap::new();
    for (id, ws, name, prefix) in &live {
        audit::record(
            conn,
            &config.keyring,
            actor,
            Event::new("api_token.revoked")
                .workspace(ws)
                .target(name)
                .details(json!({
                    "token_id": id,
                    "prefix": prefix,
                    "reason": reason.code(),
                    "created_by": creator.email,
                })),
        )?;
        by_workspace.entry(ws).or_default().push(name.clone());
    }
    let ws_ids: Vec<WorkspaceId> = by_workspace.keys().map(|w| (*w).clone()).collect();
    for owner in key_records::owners(conn, Some(&ws_ids))? {
        if owner.user_id == creator.id {
            continue;
        }
        let Some(tokens) = by_workspace.get(&owner.workspace_id).cloned() else {
            continue;
        };
        mail::enqueue(
            conn,
            &owner.email,
            &TokensRevokedMail {
                person: format!(
                    "{} ({})",
                    super::mail_text::quoted(&creator.name),
                    super::mail_text::quoted(&creator.email)
                ),
                reason: reason.clause(),
                count: tokens.len(),
                tokens: super::mail_text::quoted_list(&tokens),
                workspace: super::mail_text::quoted(&owner.workspace_name),
                action_url: config.link(&format!("/w/{}/settings/tokens", owner.workspace_slug)),
            },
        )?;
    }
    Ok(live.len())
}

//! Workspace API tokens (`kh_…`): created by owners, shown once, stored as a SHA-256 hash,
//! revocable. Revocation bumps the cache epoch, so the very next API call is refused.

use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use crate::db::schema::{api_tokens, users};
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{TokenId, UserId, WorkspaceId};
use crate::domain::tokens;
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};

/// A token as the tokens page lists it (never the token itself).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: TokenId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn parse_name(input: &str) -> Result<String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::invalid(
            "name",
            "Give the token a name, e.g. the app that uses it.",
        ));
    }
    if s.chars().count() > 80 || s.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "Use at most 80 characters and no line breaks.",
        ));
    }
    Ok(s.to_owned())
}

/// Creates a token and returns it in clear, the only time it exists outside the caller.
pub fn create(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    workspace_id: &WorkspaceId,
    name: &str,
) -> Result<(TokenRow, String)> {
    let name = parse_name(name)?;
    let token = tokens::generate("kh_");
    let row = TokenRow {
        id: TokenId::random(),
        workspace_id: workspace_id.to_owned(),
        name,
        prefix: format!("{}…", &token[..9]),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    write_tx(conn, |c| {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(&row.id),
                api_tokens::workspace_id.eq(&row.workspace_id),
                api_tokens::name.eq(&row.name),
                api_tokens::token_hash.eq(tokens::hash(&token)),
                api_tokens::prefix.eq(&row.prefix),
                api_tokens::created_by.eq(&actor.user_id),
                api_tokens::created_at.eq(row.created_at),
            ))
            .execute(c)?;
        audit::record(
            c,
            keyring,
            actor,
            Event::new("api_token.created")
                .workspace(workspace_id)
                .target(&row.name)
                .details(json!({ "token_id": row.id, "prefix": row.prefix })),
        )?;
        Ok::<_, Error>(())
    })?;
    Ok((row, token))
}

/// Revokes a token of the workspace; the next request with it is refused everywhere.
pub fn revoke(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    workspace_id: &WorkspaceId,
    token_id: &TokenId,
) -> Result<()> {
    write_tx(conn, |c| {
        let row: TokenRow = api_tokens::table
            .find(token_id)
            .filter(api_tokens::workspace_id.eq(workspace_id))
            .select(TokenRow::as_select())
            .get_result(c)?;
        if row.revoked_at.is_some() {
            return Ok(());
        }
        diesel::update(api_tokens::table.find(token_id))
            .set((
                api_tokens::revoked_at.eq(now()),
                api_tokens::revoked_by.eq(&actor.user_id),
            ))
            .execute(c)?;
        audit::record(
            c,
            keyring,
            actor,
            Event::new("api_token.revoked")
                .workspace(workspace_id)
                .target(&row.name)
                .details(json!({ "token_id": row.id, "prefix": row.prefix })),
        )?;
        Ok(())
    })
}

/// Who created a token, as the tokens page names them.
#[derive(Debug, Clone)]
pub struct Creator {
    pub name: String,
    pub email: String,
}

/// The workspace's tokens, newest first, each with its creator (`None`: made from the
/// command line, or by an account that no longer exists).
pub fn list(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
) -> Result<Vec<(TokenRow, Option<Creator>)>> {
    let rows: Vec<(TokenRow, Option<(String, String)>)> = api_tokens::table
        .left_join(users::table.on(api_tokens::created_by.eq(users::id.nullable())))
        .filter(api_tokens::workspace_id.eq(workspace_id))
        .order(api_tokens::created_at.desc())
        .select((
            TokenRow::as_select(),
            (users::name, users::email).nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(t, c)| (t, c.map(|(name, email)| Creator { name, email })))
        .collect())
}

/// Whether the workspace ever had an access token (revoked ones count: its owner has been
/// through the set-up already).
pub fn any_ever(conn: &mut DbConn, workspace_id: &WorkspaceId) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        api_tokens::table.filter(api_tokens::workspace_id.eq(workspace_id)),
    ))
    .get_result(conn)?)
}

/// Where an owner of `slug` starts: the workspace's provider keys while it has never had
/// an access token (the owner's set-up work), else `None`.
pub fn owner_start(conn: &mut DbConn, user_id: &UserId, slug: &str) -> Result<Option<String>> {
    let Some(ws) = super::workspaces::find_by_slug(conn, slug)? else {
        return Ok(None);
    };
    let owner = super::workspaces::membership(conn, &ws.id, user_id)?
        .is_some_and(|m| m.role == crate::domain::roles::Role::Owner);
    Ok((owner && !any_ever(conn, &ws.id)?).then(|| format!("/w/{slug}/settings/keys")))
}

/// The live token with this hash: (token id, workspace id).
pub fn find_live(conn: &mut DbConn, token_hash: &str) -> Result<Option<(TokenId, WorkspaceId)>> {
    Ok(api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .select((api_tokens::id, api_tokens::workspace_id))
        .first(conn)
        .optional()?)
}

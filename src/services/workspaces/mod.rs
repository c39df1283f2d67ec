//! Workspaces, their members and invitations. Never the last owner removed or demoted.
//!
//! By room: the workspace itself (creation, lookup, allowance) here, its people in
//! [`members`], its invitations in [`invitations`] (their follow-ups, sending again and
//! showing the link, in `services::invitations`).

mod invitations;
mod members;

pub(crate) use invitations::revoke_sent_by;
pub use invitations::{
    Acceptance, INVITATION_TTL_SECS, InvitationView, accept_invitation, find_invitation, invite,
    pending_invitations, revoke_invitation,
};
pub(in crate::services) use invitations::{InvitationMail, too_many_invitations};
pub(crate) use members::membership;
pub use members::{MemberView, add_member, change_role, members, remove_member};

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use crate::db::models::Workspace;
use crate::db::schema::workspaces;
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{WorkspaceId, WorkspaceSlug};
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};

/// Checks a workspace name.
pub fn parse_workspace_name(input: &str) -> Result<String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::invalid("workspace_name", "Enter a workspace name."));
    }
    if s.chars().any(char::is_control) || s.chars().count() > 80 {
        return Err(Error::invalid(
            "workspace_name",
            "Use at most 80 characters and no line breaks.",
        ));
    }
    Ok(s.to_owned())
}

/// Inserts a workspace with `slug` (or one derived from the name, made unique).
pub fn insert_workspace(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    name: &str,
    slug: Option<WorkspaceSlug>,
) -> Result<Workspace> {
    let slug = match slug {
        Some(s) => {
            if find_by_slug(conn, s.as_str())?.is_some() {
                return Err(Error::invalid(
                    "slug",
                    "That URL name is taken. Choose another.",
                ));
            }
            s.as_str().to_owned()
        }
        None => {
            let base = WorkspaceSlug::from_name(name).as_str().to_owned();
            let mut candidate = base.clone();
            let mut n = 2;
            while find_by_slug(conn, &candidate)?.is_some() {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            candidate
        }
    };
    let ws = Workspace {
        id: WorkspaceId::random(),
        slug,
        name: name.to_owned(),
        allowance_tokens: None,
        created_at: now(),
    };
    diesel::insert_into(workspaces::table)
        .values(&ws)
        .execute(conn)?;
    audit::record(
        conn,
        keyring,
        actor,
        Event::new("workspace.created")
            .workspace(&ws.id)
            .target(&ws.slug)
            .details(json!({ "name": ws.name })),
    )?;
    Ok(ws)
}

/// A workspace by slug.
pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> Result<Option<Workspace>> {
    Ok(workspaces::table
        .filter(workspaces::slug.eq(slug))
        .select(Workspace::as_select())
        .first(conn)
        .optional()?)
}

/// A workspace by id.
pub fn get(conn: &mut DbConn, id: &WorkspaceId) -> Result<Workspace> {
    Ok(crate::native!(conn, |c| workspaces::table
        .find(id)
        .select(Workspace::as_select())
        .get_result(c))?)
}

/// An admin creates a workspace.
pub async fn create(state: &Ctx, actor: Actor, name: String, slug: String) -> Result<Workspace> {
    let name = parse_workspace_name(&name)?;
    let slug = if slug.trim().is_empty() {
        None
    } else {
        Some(WorkspaceSlug::parse(&slug).map_err(|m| Error::invalid("slug", m))?)
    };
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                insert_workspace(c, &config.keyring, &actor, &name, slug)
            })
        })
        .await
}

/// Reads the "Monthly platform allowance (tokens)" field: empty = unlimited, else a whole
/// number of tokens, 0 or more (separators like `100,000` or `100 000` are fine).
pub fn parse_allowance(input: &str) -> Result<Option<i64>> {
    let digits: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' ' | '\u{a0}' | '\u{202f}'))
        .collect();
    if digits.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        Error::invalid(
            "allowance_tokens",
            "Enter a whole number of tokens, 0 or more, or leave the field empty for no limit.",
        )
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    match digits.parse::<i64>() {
        Ok(n) if n <= 1_000_000_000_000_000 => Ok(Some(n)),
        _ => Err(Error::invalid(
            "allowance_tokens",
            "That is more than Keyhold can count. Leave the field empty for no limit.",
        )),
    }
}

/// An admin sets a workspace's monthly platform allowance (`input` as typed; empty =
/// unlimited). Audited with before and after in the same transaction, which also moves the
/// cache epoch (the `epoch_workspaces_upd` trigger); then the gateway forgets its counters
/// so the next call sees the new limit. Returns the new allowance.
pub async fn set_allowance(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    input: String,
) -> Result<Option<i64>> {
    let config = state.config.clone();
    let after = parse_allowance(&input)?;
    let id = workspace_id.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let ws = get(c, &id)?;
                if ws.allowance_tokens == after {
                    return Ok(());
                }
                diesel::update(workspaces::table.find(&ws.id))
                    .set(workspaces::allowance_tokens.eq(after))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("workspace.allowance_changed")
                        .workspace(&ws.id)
                        .target(&ws.slug)
                        .details(json!({ "before": ws.allowance_tokens, "after": after })),
                )?;
                Ok(())
            })
        })
        .await?;
    state.listener.allowance_changed(&workspace_id);
    Ok(after)
}

//! A workspace's people: adding, listing, changing roles and removing; never the last
//! owner removed or demoted.

use diesel::prelude::*;
use serde_json::json;

use crate::db::models::{Membership, User, Workspace};
use crate::db::schema::{memberships, users};
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::Role;
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};
use crate::services::Ctx;
use crate::services::accounts;
use crate::services::audit::{self, Actor, Event};
use crate::services::token_revocation;

/// Adds `user` to `ws` with `role` and audits it.
pub fn add_member(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    ws: &Workspace,
    user: &User,
    role: Role,
) -> Result<()> {
    diesel::insert_into(memberships::table)
        .values(&Membership {
            workspace_id: ws.id.clone(),
            user_id: user.id.clone(),
            role,
            created_at: now(),
        })
        .execute(conn)?;
    audit::record(
        conn,
        keyring,
        actor,
        Event::new("member.added")
            .workspace(&ws.id)
            .target(&user.email)
            .details(json!({ "role": role.as_str() })),
    )?;
    Ok(())
}

/// A member row for the members page.
pub struct MemberView {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
}

/// Everyone in the workspace, owners first.
pub fn members(conn: &mut DbConn, workspace_id: &WorkspaceId) -> Result<Vec<MemberView>> {
    let rows: Vec<(UserId, String, String, Role, bool)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(workspace_id))
        .order((memberships::role.desc(), users::email.asc()))
        .select((
            users::id,
            users::email,
            users::name,
            memberships::role,
            users::disabled,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, email, name, role, disabled)| MemberView {
            user_id,
            email,
            name,
            role,
            disabled,
        })
        .collect())
}

fn owner_count(conn: &mut DbConn, workspace_id: &WorkspaceId) -> Result<i64> {
    Ok(memberships::table
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::role.eq(Role::Owner))
        .count()
        .get_result(conn)?)
}

pub(crate) fn membership(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
) -> Result<Option<Membership>> {
    Ok(memberships::table
        .find((workspace_id, user_id))
        .select(Membership::as_select())
        .get_result(conn)
        .optional()?)
}

/// Changes a member's role; refuses to demote the last owner. The person's sessions end.
pub async fn change_role(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    user_id: UserId,
    role: Role,
) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let m = membership(c, &workspace_id, &user_id)?.ok_or(Error::NotFound)?;
                let before = m.role;
                if before == role {
                    return Ok(());
                }
                if before == Role::Owner && owner_count(c, &workspace_id)? <= 1 {
                    return Err(Error::Conflict(
                        "A workspace needs at least one owner. Make someone else an owner first."
                            .into(),
                    ));
                }
                diesel::update(memberships::table.find((&workspace_id, &user_id)))
                    .set(memberships::role.eq(role))
                    .execute(c)?;
                accounts::end_sessions(c, &user_id)?;
                let user = accounts::get_user(c, &user_id)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("member.role_changed")
                        .workspace(&workspace_id)
                        .target(&user.email)
                        .details(json!({ "before": before.as_str(), "after": role.as_str() })),
                )?;
                // Only owners hold API tokens and invite (SPEC §2): a former owner's go
                // with the role.
                if before == Role::Owner {
                    token_revocation::revoke_created_by(
                        c,
                        &config,
                        &actor,
                        &user,
                        Some(&workspace_id),
                        token_revocation::Reason::Demoted,
                    )?;
                    super::revoke_sent_by(
                        c,
                        &config.keyring,
                        &actor,
                        &user.id,
                        Some(&workspace_id),
                        token_revocation::Reason::Demoted,
                    )?;
                }
                Ok(())
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Removes a member; never the last owner.
pub async fn remove_member(
    state: &Ctx,
    actor: Actor,
    workspace_id: WorkspaceId,
    user_id: UserId,
) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let m = membership(c, &workspace_id, &user_id)?.ok_or(Error::NotFound)?;
                if m.role == Role::Owner && owner_count(c, &workspace_id)? <= 1 {
                    return Err(Error::Conflict(
                        "You cannot remove the last owner. Make someone else an owner first."
                            .into(),
                    ));
                }
                diesel::delete(memberships::table.find((&workspace_id, &user_id))).execute(c)?;
                accounts::end_sessions(c, &user_id)?;
                let user = accounts::get_user(c, &user_id)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("member.removed")
                        .workspace(&workspace_id)
                        .target(&user.email)
                        .details(json!({ "role": m.role.as_str() })),
                )?;
                token_revocation::revoke_created_by(
                    c,
                    &config,
                    &actor,
                    &user,
                    Some(&workspace_id),
                    token_revocation::Reason::Removed,
                )?;
                super::revoke_sent_by(
                    c,
                    &config.keyring,
                    &actor,
                    &user.id,
                    Some(&workspace_id),
                    token_revocation::Reason::Removed,
                )?;
                Ok(())
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

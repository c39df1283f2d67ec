//! Workspaces, their members and invitations. Never the last owner removed or demoted.

use askama::Template;
use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::mail_limit::{self, MailKind};
use super::mail_text::quoted;
use super::token_revocation;
use super::{accounts, mail};
use crate::db::models::{Invitation, Membership, User, Workspace};
use crate::db::schema::{invitations, memberships, users, workspaces};
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{Email, WorkspaceSlug, new_id, parse_name};
use crate::domain::password;
use crate::domain::roles::Role;
use crate::domain::tokens;
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};

/// How long an invitation link works.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

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
        id: new_id(),
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
pub fn get(conn: &mut DbConn, id: &str) -> Result<Workspace> {
    Ok(crate::native!(conn, |c| workspaces::table
        .find(id)
        .select(Workspace::as_select())
        .get_result(c))?)
}

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
            role: role.as_str().to_owned(),
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

/// A member row for the members page.
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
}

/// Everyone in the workspace, owners first.
pub fn members(conn: &mut DbConn, workspace_id: &str) -> Result<Vec<MemberView>> {
    let rows: Vec<(String, String, String, String, bool)> = memberships::table
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
        .filter_map(|(user_id, email, name, role, disabled)| {
            Role::parse(&role).map(|role| MemberView {
                user_id,
                email,
                name,
                role,
                disabled,
            })
        })
        .collect())
}

/// Invitations not yet accepted, revoked or expired.
pub fn pending_invitations(conn: &mut DbConn, workspace_id: &str) -> Result<Vec<Invitation>> {
    Ok(invitations::table
        .filter(invitations::workspace_id.eq(workspace_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now()))
        .order(invitations::created_at.desc())
        .select(Invitation::as_select())
        .load(conn)?)
}

fn owner_count(conn: &mut DbConn, workspace_id: &str) -> Result<i64> {
    Ok(memberships::table
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)?)
}

pub(crate) fn membership(
    conn: &mut DbConn,
    workspace_id: &str,
    user_id: &str,
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
    workspace_id: String,
    user_id: String,
    role: String,
) -> Result<()> {
    let config = state.config.clone();
    let role =
        Role::parse(&role).ok_or_else(|| Error::invalid("role", "Choose Owner or Member."))?;
    state
        .db(move |c| {
            write_tx(c, |c| {
                let m = membership(c, &workspace_id, &user_id)?.ok_or(Error::NotFound)?;
                let before = Role::parse(&m.role).ok_or(Error::NotFound)?;
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
                    .set(memberships::role.eq(role.as_str()))
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
                // Only owners hold API tokens (SPEC §2): a former owner's go with the role.
                if before == Role::Owner {
                    token_revocation::revoke_created_by(
                        c,
                        &config,
                        &actor,
                        &user,
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
    workspace_id: String,
    user_id: String,
) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let m = membership(c, &workspace_id, &user_id)?.ok_or(Error::NotFound)?;
                if m.role == Role::Owner.as_str() && owner_count(c, &workspace_id)? <= 1 {
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
                        .details(json!({ "role": m.role })),
                )?;
                token_revocation::revoke_created_by(
                    c,
                    &config,
                    &actor,
                    &user,
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

#[derive(Template)]
#[template(path = "email/invitation.txt", blocks = ["subject", "text"])]
pub(super) struct InvitationMail {
    /// The inviter's display name, quoted (see [`super::mail_text`]).
    pub(super) inviter: String,
    /// The workspace's name, quoted.
    pub(super) workspace: String,
    pub(super) role: &'static str,
    pub(super) action_url: String,
    pub(super) days: i64,
}
crate::mail_content!(InvitationMail, "Accept the invitation");

/// The refusal once an address had its invitations for the hour.
pub(super) fn too_many_invitations() -> String {
    format!(
        "This address was sent {} invitations within the last hour, the most Keyhold sends. \
         Wait an hour, then invite it again.",
        MailKind::Invitation.limit()
    )
}

/// Invites `email` to the workspace as `role` and mails the link, unless the address had
/// its [`MailKind::Invitation`] mails for the hour (from any workspace).
pub async fn invite(
    state: &Ctx,
    actor: Actor,
    inviter_name: String,
    workspace_id: String,
    email: String,
    role: String,
) -> Result<()> {
    let email = Email::parse(&email).map_err(|m| Error::invalid("email", m))?;
    let role =
        Role::parse(&role).ok_or_else(|| Error::invalid("role", "Choose Owner or Member."))?;
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let ws = get(c, &workspace_id)?;
                if let Some(user) = accounts::find_by_email(c, email.as_str())?
                    && membership(c, &ws.id, &user.id)?.is_some()
                {
                    return Err(Error::invalid(
                        "email",
                        "That person is already a member of this workspace.",
                    ));
                }
                if !mail_limit::try_count(c, MailKind::Invitation, email.as_str())? {
                    return Err(Error::invalid("email", too_many_invitations()));
                }
                let token = tokens::generate("");
                let t = now();
                let inv = Invitation {
                    id: new_id(),
                    workspace_id: ws.id.clone(),
                    email: email.as_str().to_owned(),
                    role: role.as_str().to_owned(),
                    token_hash: tokens::hash(&token),
                    invited_by: actor.user_id.clone(),
                    created_at: t,
                    expires_at: t + INVITATION_TTL_SECS,
                    accepted_at: None,
                    revoked_at: None,
                };
                diesel::insert_into(invitations::table)
                    .values(&inv)
                    .execute(c)?;
                mail::enqueue(
                    c,
                    email.as_str(),
                    &InvitationMail {
                        inviter: quoted(&inviter_name),
                        workspace: quoted(&ws.name),
                        role: role.label(),
                        action_url: config.link(&format!("/invite/{token}")),
                        days: INVITATION_TTL_SECS / 86400,
                    },
                )?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("invitation.created")
                        .workspace(&ws.id)
                        .target(email.as_str())
                        .details(json!({ "role": role.as_str(), "invitation_id": inv.id })),
                )?;
                Ok(())
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Revokes a pending invitation.
pub async fn revoke_invitation(
    state: &Ctx,
    actor: Actor,
    workspace_id: String,
    invitation_id: String,
) -> Result<()> {
    let config = state.config.clone();
    state
        .db(move |c| {
            write_tx(c, |c| {
                let inv: Invitation = invitations::table
                    .find(&invitation_id)
                    .filter(invitations::workspace_id.eq(&workspace_id))
                    .select(Invitation::as_select())
                    .get_result(c)?;
                if inv.accepted_at.is_some() || inv.revoked_at.is_some() {
                    return Ok(());
                }
                diesel::update(invitations::table.find(&inv.id))
                    .set(invitations::revoked_at.eq(now()))
                    .execute(c)?;
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new("invitation.revoked")
                        .workspace(&workspace_id)
                        .target(&inv.email),
                )?;
                Ok(())
            })
        })
        .await
}

/// A live invitation and what the accept page needs to know.
pub struct InvitationView {
    pub invitation: Invitation,
    pub workspace: Workspace,
    /// An account with the invited email already exists.
    pub existing_user: bool,
}

/// Looks up a live invitation by its token.
pub fn find_invitation(conn: &mut DbConn, token: &str) -> Result<Option<InvitationView>> {
    let inv: Option<Invitation> = invitations::table
        .filter(invitations::token_hash.eq(tokens::hash(token)))
        .select(Invitation::as_select())
        .first(conn)
        .optional()?;
    let Some(inv) =
        inv.filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now())
    else {
        return Ok(None);
    };
    let workspace = get(conn, &inv.workspace_id)?;
    let existing_user = accounts::find_by_email(conn, &inv.email)?.is_some();
    Ok(Some(InvitationView {
        invitation: inv,
        workspace,
        existing_user,
    }))
}

/// How an invitation is accepted.
pub enum Acceptance {
    /// A new account is created with the invited email.
    NewAccount {
        name: String,
        password: String,
        password_confirm: String,
    },
    /// The signed-in user, whose email must be the invited one.
    SignedIn { user_id: String },
}

/// Accepts an invitation (single use, unexpired, bound to the invited email). Returns the
/// user and the workspace slug.
pub async fn accept_invitation(
    state: &Ctx,
    token: String,
    how: Acceptance,
    ip: Option<String>,
) -> Result<(User, String)> {
    let config = state.config.clone();
    let new_account = match &how {
        Acceptance::NewAccount {
            name,
            password,
            password_confirm,
        } => {
            let name = parse_name(name).map_err(|m| Error::invalid("name", m))?;
            password::check_policy(password).map_err(|m| Error::invalid("password", m))?;
            if password != password_confirm {
                return Err(Error::invalid(
                    "password_confirm",
                    "The two passwords do not match.",
                ));
            }
            let hash =
                accounts::hash_password(secrecy::SecretString::from(password.clone())).await?;
            Some((name, hash))
        }
        Acceptance::SignedIn { .. } => None,
    };
    state
        .db(move |c| {
            write_tx(c, |c| {
                let view = find_invitation(c, &token)?.ok_or_else(|| {
                    Error::invalid("token", "This invitation has expired, was revoked or was already used.")
                })?;
                let inv = view.invitation;
                let email = Email::parse(&inv.email).map_err(|m| Error::invalid("email", m))?;
                let user = match (how, new_account) {
                    (Acceptance::SignedIn { user_id }, _) => {
                        let user = accounts::get_user(c, &user_id)?;
                        if user.email != inv.email {
                            return Err(Error::Conflict(format!(
                                "This invitation is for {}. Sign out, then open the link again.",
                                inv.email
                            )));
                        }
                        user
                    }
                    (Acceptance::NewAccount { .. }, Some((name, hash))) => {
                        if accounts::find_by_email(c, &inv.email)?.is_some() {
                            return Err(Error::Conflict(
                                "An account with this email exists. Sign in first, then open the link again.".into(),
                            ));
                        }
                        let actor = Actor {
                            user_id: None,
                            email: Some(inv.email.clone()),
                            ip: ip.clone(),
                        };
                        accounts::insert_user(c, &config.keyring, &actor, &email, &name, &hash, false)?
                    }
                    (Acceptance::NewAccount { .. }, None) => {
                        return Err(Error::Internal(anyhow::anyhow!("new account without a hash")));
                    }
                };
                let role = Role::parse(&inv.role).ok_or(Error::NotFound)?;
                let actor = Actor {
                    user_id: Some(user.id.clone()),
                    email: Some(user.email.clone()),
                    ip,
                };
                diesel::update(invitations::table.find(&inv.id))
                    .set(invitations::accepted_at.eq(now()))
                    .execute(c)?;
                if membership(c, &view.workspace.id, &user.id)?.is_none() {
                    add_member(c, &config.keyring, &actor, &view.workspace, &user, role)?;
                }
                audit::record(
                    c, &config.keyring,
                    &actor,
                    Event::new("invitation.accepted")
                        .workspace(&view.workspace.id)
                        .target(&user.email)
                        .details(json!({ "role": role.as_str() })),
                )?;
                Ok((user, view.workspace.slug))
            })
        })
        .await
}

/// A row of the admin's workspace list.
pub struct WorkspaceRow {
    pub workspace: Workspace,
    pub members: i64,
}

/// A page of workspaces by slug after `after` (keyset), with member counts in one query.
pub fn list(
    conn: &mut DbConn,
    after: Option<&str>,
    query: Option<&str>,
    limit: i64,
) -> Result<(Vec<WorkspaceRow>, Option<String>)> {
    let mut q = workspaces::table.into_boxed();
    if let Some(a) = after {
        q = q.filter(workspaces::slug.gt(a.to_owned()));
    }
    if let Some(s) = query.filter(|s| !s.trim().is_empty()) {
        let pattern = format!("%{}%", audit::escape_like(&s.trim().to_lowercase()));
        q = q.filter(
            workspaces::slug
                .like(pattern.clone())
                .escape('\\')
                .or(accounts::lower(workspaces::name).like(pattern).escape('\\')),
        );
    }
    let mut rows: Vec<Workspace> = q
        .order(workspaces::slug.asc())
        .limit(limit + 1)
        .select(Workspace::as_select())
        .load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|w| w.slug.clone())
    } else {
        None
    };
    let ids: Vec<String> = rows.iter().map(|w| w.id.clone()).collect();
    let counts: Vec<(String, i64)> = memberships::table
        .filter(memberships::workspace_id.eq_any(&ids))
        .group_by(memberships::workspace_id)
        .select((memberships::workspace_id, diesel::dsl::count_star()))
        .load(conn)?;
    let count_of = |id: &str| counts.iter().find(|(w, _)| w == id).map_or(0, |(_, n)| *n);
    Ok((
        rows.into_iter()
            .map(|w| WorkspaceRow {
                members: count_of(&w.id),
                workspace: w,
            })
            .collect(),
        next,
    ))
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
    workspace_id: String,
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

//! A workspace's invitations: sent, listed, revoked (by an owner, or with the standing of
//! the person who sent them), found by their link and accepted.

use askama::Template;
use diesel::prelude::*;
use serde_json::json;

use super::{add_member, get, membership};
use crate::db::models::{Invitation, User, Workspace};
use crate::db::schema::invitations;
use crate::db::{DbConn, now, write_tx};
use crate::domain::ids::{Email, UserId, WorkspaceId, new_id, parse_name};
use crate::domain::password;
use crate::domain::roles::Role;
use crate::domain::tokens;
use crate::domain::vault::Keyring;
use crate::error::{Error, Result};
use crate::services::Ctx;
use crate::services::audit::{self, Actor, Event};
use crate::services::mail_limit::{self, MailKind};
use crate::services::mail_text::quoted;
use crate::services::token_revocation::Reason;
use crate::services::{accounts, mail};

/// How long an invitation link works.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// Invitations not yet accepted, revoked or expired.
pub fn pending_invitations(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
) -> Result<Vec<Invitation>> {
    Ok(invitations::table
        .filter(invitations::workspace_id.eq(workspace_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now()))
        .order(invitations::created_at.desc())
        .select(Invitation::as_select())
        .load(conn)?)
}

#[derive(Template)]
#[template(path = "email/invitation.txt", blocks = ["subject", "text"])]
pub(in crate::services) struct InvitationMail {
    /// The inviter's display name, quoted (see [`super::mail_text`]).
    pub(in crate::services) inviter: String,
    /// The workspace's name, quoted.
    pub(in crate::services) workspace: String,
    pub(in crate::services) role: &'static str,
    pub(in crate::services) action_url: String,
    pub(in crate::services) days: i64,
}
crate::mail_content!(InvitationMail, "Accept the invitation");

/// The refusal once an address had its invitations for the hour.
pub(in crate::services) fn too_many_invitations() -> String {
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
    workspace_id: WorkspaceId,
    email: String,
    role: Role,
) -> Result<()> {
    let email = Email::parse(&email).map_err(|m| Error::invalid("email", m))?;
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
                    role,
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
    workspace_id: WorkspaceId,
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
                audit::record(c, &config.keyring, &actor, revoked(&inv))?;
                Ok(())
            })
        })
        .await
}

/// The audit event of a revoked invitation.
fn revoked(inv: &Invitation) -> Event<'_> {
    Event::new("invitation.revoked")
        .workspace(&inv.workspace_id)
        .target(&inv.email)
}

/// Revokes the pending invitations `inviter_id` sent (in `workspace_id`, or everywhere)
/// once they may no longer send them: removed, no longer an owner, or disabled. Each is
/// audited as an owner's revocation is, with the reason. Call inside the transaction of
/// the change. Returns how many were revoked.
pub(crate) fn revoke_sent_by(
    conn: &mut DbConn,
    keyring: &Keyring,
    actor: &Actor,
    inviter_id: &UserId,
    workspace_id: Option<&WorkspaceId>,
    reason: Reason,
) -> Result<usize> {
    let mut q = invitations::table
        .filter(invitations::invited_by.eq(inviter_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now()))
        .into_boxed();
    if let Some(ws) = workspace_id {
        q = q.filter(invitations::workspace_id.eq(ws.clone()));
    }
    let pending: Vec<Invitation> = q
        .order(invitations::created_at.asc())
        .select(Invitation::as_select())
        .load(conn)?;
    let code = match reason {
        Reason::Disabled => "inviter_disabled",
        Reason::Removed => "inviter_left_workspace",
        Reason::Demoted => "inviter_no_longer_owner",
    };
    for inv in &pending {
        diesel::update(invitations::table.find(&inv.id))
            .set(invitations::revoked_at.eq(now()))
            .execute(conn)?;
        let event = revoked(inv).details(json!({ "reason": code }));
        audit::record(conn, keyring, actor, event)?;
    }
    Ok(pending.len())
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
    SignedIn { user_id: UserId },
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
                let role = inv.role;
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

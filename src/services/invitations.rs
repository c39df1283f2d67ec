//! A pending invitation's follow-ups: sent again, or its link shown to the admin or owner
//! on the page (for deployments that write mail to files). Both renew the link and its
//! expiry, so only the newest link works; both are audited. Revoking is in
//! [`super::workspaces::revoke_invitation`].

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use super::mail;
use super::mail_limit::{self, MailKind};
use super::mail_text::quoted;
use super::workspaces::{self, INVITATION_TTL_SECS, InvitationMail, too_many_invitations};
use crate::db::models::Invitation;
use crate::db::schema::invitations;
use crate::db::{now, write_tx};
use crate::domain::ids::WorkspaceId;
use crate::domain::tokens;
use crate::error::{Error, Result};

/// What to do with the renewed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Mail it again (counts against the address's hourly invitation mails).
    Resend,
    /// Give it to the person on the page, once; no mail.
    ShowLink,
}

/// A renewed invitation: who it is for, and the link when it is to be shown.
#[derive(Debug)]
pub struct Renewed {
    pub email: String,
    pub expires_at: i64,
    /// The new link (only for [`Renewal::ShowLink`]).
    pub link: Option<String>,
}

/// Whether invitation links may be shown on pages: only when mail goes to files, where the
/// person running Keyhold can read every link anyway.
pub fn links_shown(state: &Ctx) -> bool {
    state.config.smtp_url.is_none()
}

/// Renews a pending invitation of `workspace_id` with a new link valid for the full
/// period, then mails it or returns it. An accepted, revoked or expired invitation is a
/// conflict (invite the address again instead).
pub async fn renew(
    state: &Ctx,
    actor: Actor,
    inviter_name: String,
    workspace_id: WorkspaceId,
    invitation_id: String,
    how: Renewal,
) -> Result<Renewed> {
    if how == Renewal::ShowLink && !links_shown(state) {
        return Err(Error::Conflict(
            "Keyhold sends mail through SMTP here, so links are sent, not shown: use Resend."
                .into(),
        ));
    }
    let config = state.config.clone();
    let renewed = state
        .db(move |c| {
            write_tx(c, |c| {
                let inv: Invitation = invitations::table
                    .find(&invitation_id)
                    .filter(invitations::workspace_id.eq(&workspace_id))
                    .select(Invitation::as_select())
                    .get_result(c)?;
                if inv.accepted_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= now()
                {
                    return Err(Error::Conflict(
                        "This invitation is no longer pending. Invite the address again.".into(),
                    ));
                }
                if how == Renewal::Resend
                    && !mail_limit::try_count(c, MailKind::Invitation, &inv.email)?
                {
                    return Err(Error::Conflict(too_many_invitations()));
                }
                let ws = workspaces::get(c, &workspace_id)?;
                let token = tokens::generate("");
                let t = now();
                let expires_at = t + INVITATION_TTL_SECS;
                diesel::update(invitations::table.find(&inv.id))
                    .set((
                        invitations::token_hash.eq(tokens::hash(&token)),
                        invitations::expires_at.eq(expires_at),
                    ))
                    .execute(c)?;
                let link = config.link(&format!("/invite/{token}"));
                let action = match how {
                    Renewal::Resend => {
                        let role = inv.role;
                        mail::enqueue(
                            c,
                            &inv.email,
                            &InvitationMail {
                                inviter: quoted(&inviter_name),
                                workspace: quoted(&ws.name),
                                role: role.label(),
                                action_url: link.clone(),
                                days: INVITATION_TTL_SECS / 86400,
                            },
                        )?;
                        "invitation.resent"
                    }
                    Renewal::ShowLink => "invitation.link_shown",
                };
                audit::record(
                    c,
                    &config.keyring,
                    &actor,
                    Event::new(action)
                        .workspace(&ws.id)
                        .target(&inv.email)
                        .details(json!({
                            "role": inv.role.as_str(),
                            "invitation_id": inv.id,
                            "expires_at": expires_at,
                        })),
                )?;
                Ok(Renewed {
                    email: inv.email,
                    expires_at,
                    link: (how == Renewal::ShowLink).then_some(link),
                })
            })
        })
        .await?;
    if how == Renewal::Resend {
        state.mail_wakeup.notify_one();
    }
    Ok(renewed)
}

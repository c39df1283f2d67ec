//! The audit pages' shared part (`/admin/audit` and `/w/{slug}/audit`): the filters, one
//! sentence per event with its details on demand, the pager, and on the admin's page the
//! state of the chain.

use super::workspace::{AuditQuery, format_time, query_string, to_filter};
use crate::error::Result;
use crate::services::audit_checkpoint::{self, ChainState};
use crate::services::audit_log::{self, Line, Reader};
use crate::state::AppState;

/// Events per page.
const PAGE: i64 = 50;

/// Up to this many workspaces the admin picks one from a list; beyond, types its slug.
const CHOICES: i64 = 1_000;

/// One event as the audit table shows it.
pub(crate) struct EventView {
    pub id: i64,
    pub time: String,
    pub sentence: String,
    /// A platform event in a workspace's log.
    pub platform: bool,
    /// The actor's email (empty for the system and for platform events in a workspace).
    pub who: String,
    pub ip: String,
    pub workspace: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

impl From<Line> for EventView {
    fn from(l: Line) -> Self {
        EventView {
            id: l.id,
            time: format_time(l.at),
            sentence: l.sentence,
            platform: l.platform,
            who: l.actor_email.unwrap_or_default(),
            ip: l.ip.unwrap_or_default(),
            workspace: l.workspace.unwrap_or_default(),
            action: l.action,
            target: l.target.unwrap_or_default(),
            details: l.details,
        }
    }
}

/// A workspace in the admin's filter.
pub(crate) struct WorkspaceOption {
    pub value: String,
    pub name: String,
    pub selected: bool,
}

/// The chain's state, worded.
pub(crate) struct ChainView {
    pub ok: bool,
    pub text: String,
    pub note: String,
}

impl From<ChainState> for ChainView {
    fn from(s: ChainState) -> Self {
        match s {
            ChainState::Verified { up_to: 0, .. } => ChainView {
                ok: true,
                text: "The log is empty.".into(),
                note: String::new(),
            },
            ChainState::Verified {
                up_to,
                up_to_at,
                checked_at,
                pending,
                swept_to,
            } => {
                let written = up_to_at
                    .map(|t| format!(" (written {})", format_time(t)))
                    .unwrap_or_default();
                let mut note = if pending > 0 {
                    format!("{pending} newer events are checked on the next views. ")
                } else {
                    String::new()
                };
                note.push_str(&match swept_to {
                    0 => "Older events are re-checked on every view, a few hundred at a time."
                        .to_owned(),
                    n => format!("The re-check of older events has reached event {n}."),
                });
                ChainView {
                    ok: true,
                    text: format!(
                        "Chain verified up to event {up_to}{written} at {}.",
                        format_time(checked_at)
                    ),
                    note,
                }
            }
            ChainState::Broken { at_id, problem } => ChainView {
                ok: false,
                text: format!("The chain is broken at event {at_id}: {problem}."),
                note: "Run \u{201c}keyhold audit verify\u{201d} on the server for the full report."
                    .into(),
            },
            ChainState::Unverifiable { problem } => ChainView {
                ok: false,
                text: format!("The chain cannot be verified: {problem}."),
                note: String::new(),
            },
        }
    }
}

/// The audit table with its filters, the next-page link and (admin) the chain's state.
pub(crate) struct AuditView {
    pub entries: Vec<EventView>,
    pub actor: String,
    pub action: String,
    /// The admin's workspace filter as a list; `None` on a workspace's own log.
    pub workspaces: Option<Vec<WorkspaceOption>>,
    /// More workspaces than the list holds: the admin types a slug instead.
    pub workspace_typed: bool,
    pub workspace: String,
    pub from: String,
    pub to: String,
    pub hide_sign_ins: bool,
    /// Whether the owner's log also lists platform events.
    pub with_platform: bool,
    pub chain: Option<ChainView>,
    pub next: Option<String>,
    pub csv: String,
}

/// Loads one page of the audit log for the admin (`workspace_id` None) or one workspace's
/// owners (with the platform events that changed their routing).
pub(crate) async fn audit_view(
    state: &AppState,
    q: AuditQuery,
    workspace_id: Option<String>,
    base: &str,
) -> Result<AuditView> {
    let reader = match workspace_id {
        Some(_) => Reader::Owner,
        None => Reader::Admin,
    };
    let mut filter = to_filter(&q, workspace_id)?;
    filter.platform_routing = reader == Reader::Owner;
    let with_platform = filter.platform_routing && filter.actor.is_none();
    let keyring = state.config.keyring.clone();
    let (lines, next, choices, chain) = state
        .db(move |c| {
            let (lines, next) = audit_log::page(c, &filter, reader, PAGE)?;
            if reader == Reader::Owner {
                return Ok((lines, next, None, None));
            }
            let choices = audit_log::workspace_choices(c, CHOICES + 1)?;
            let chain = audit_checkpoint::state(c, &keyring)?;
            Ok((lines, next, Some(choices), Some(chain)))
        })
        .await?;
    let picked = q.workspace.clone().unwrap_or_default();
    let workspace_typed = choices.as_ref().is_some_and(|c| c.len() as i64 > CHOICES);
    let workspaces = choices.map(|c| {
        c.into_iter()
            .take(CHOICES as usize)
            .map(|(id, slug, name)| WorkspaceOption {
                selected: !picked.is_empty() && (picked == slug || picked == id),
                value: slug,
                name,
            })
            .collect()
    });
    Ok(AuditView {
        entries: lines.into_iter().map(EventView::from).collect(),
        actor: q.actor.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        workspaces,
        workspace_typed,
        workspace: picked,
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        hide_sign_ins: q.hide_sign_ins.as_deref().is_some_and(|v| !v.is_empty()),
        with_platform,
        chain: chain.map(ChainView::from),
        next: next.map(|n| format!("{base}?{}", query_string(&q, Some(n)))),
        csv: format!("{base}.csv?{}", query_string(&q, None)),
    })
}

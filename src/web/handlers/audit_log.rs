//! The audit pages' shared part (`/admin/audit` and `/w/{slug}/audit`): the filters, one
//! sentence per event with its details on demand, the pager, and on the admin's page the
//! state of the chain.

use super::workspace::{AuditQuery, format_time, query_string, to_filter};
use crate::db::now;
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

/// How long ago `t` was, as of `now`: "just now", "3 s ago", "5 min ago", "2 h ago", or
/// the date past two days.
fn ago(t: i64, now: i64) -> String {
    match now - t {
        ..=0 => "just now".into(),
        s @ ..120 => format!("{s} s ago"),
        s @ ..7_200 => format!("{} min ago", s / 60),
        s @ ..172_800 => format!("{} h ago", s / 3_600),
        _ => format!("on {}", format_time(t)),
    }
}

/// The chain's state, worded as of `now` for checks every `every` seconds.
fn chain_view(s: ChainState, now: i64, every: u64) -> ChainView {
    let verify = "Run \u{201c}keyhold audit verify\u{201d} on the server for the full report.";
    match s {
        ChainState::NotChecked => ChainView {
            ok: true,
            text: "The chain has not been checked yet.".into(),
            note: format!("It is checked in the background every {every} s: reload in a moment."),
        },
        ChainState::RecordAltered => ChainView {
            ok: false,
            text: "The record of the last check of the chain was altered in the database.".into(),
            note: format!(
                "The next check (within {every} s) starts over from the first event. {verify}"
            ),
        },
        ChainState::Verified {
            up_to,
            up_to_at,
            checked_at,
            pending,
            swept_to,
        } => {
            // No check for ten rounds (and at least a minute): say so, not just how long.
            let stale = now - checked_at > (10 * every as i64).max(60);
            let mut note = if stale {
                "No check has finished since: see the server\u{2019}s log. ".to_owned()
            } else {
                String::new()
            };
            if up_to == 0 {
                return ChainView {
                    ok: true,
                    text: format!("The log is empty (checked {}).", ago(checked_at, now)),
                    note: note.trim_end().to_owned(),
                };
            }
            let written = up_to_at
                .map(|t| format!(" (written {})", format_time(t)))
                .unwrap_or_default();
            if pending > 0 {
                note.push_str(&format!(
                    "{pending} newer events wait for the next checks. "
                ));
            }
            note.push_str(&match swept_to {
                0 => format!(
                    "Older events are re-checked in the background, a few hundred every {every} s."
                ),
                n => format!("The re-check of older events has reached event {n}."),
            });
            ChainView {
                ok: true,
                text: format!(
                    "Chain verified up to event {up_to}{written}, checked {}.",
                    ago(checked_at, now)
                ),
                note,
            }
        }
        ChainState::Broken {
            at_id,
            problem,
            checked_at,
        } => ChainView {
            ok: false,
            text: format!("The chain is broken at event {at_id}: {problem}."),
            note: format!("Found by the check {}. {verify}", ago(checked_at, now)),
        },
        ChainState::Unverifiable {
            problem,
            checked_at,
        } => ChainView {
            ok: false,
            text: format!("The chain cannot be verified: {problem}."),
            note: format!("Checked {}.", ago(checked_at, now)),
        },
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
    let config = state.config.clone();
    let (lines, next, choices, chain) = state
        .db(move |c| {
            let (lines, next) = audit_log::page(c, &filter, reader, PAGE)?;
            if reader == Reader::Owner {
                return Ok((lines, next, None, None));
            }
            let choices = audit_log::workspace_choices(c, CHOICES + 1)?;
            // Only what the background check recorded: a view never walks nor writes.
            let chain = audit_checkpoint::read(c, &config.keyring)?;
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
        chain: chain.map(|s| chain_view(s, now(), state.config.audit_check_interval.as_secs())),
        next: next.map(|n| format!("{base}?{}", query_string(&q, Some(n)))),
        csv: format!("{base}.csv?{}", query_string(&q, None)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_reads_in_the_largest_unit_that_fits() {
        let now = 1_000_000;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now + 2, now), "just now", "a clock a little ahead");
        assert_eq!(ago(now - 3, now), "3 s ago");
        assert_eq!(ago(now - 300, now), "5 min ago");
        assert_eq!(ago(now - 7_200, now), "2 h ago");
        assert!(ago(now - 200_000, now).starts_with("on "));
    }

    #[test]
    fn a_verified_chain_says_how_fresh_the_check_is_and_an_old_one_says_it_is_old() {
        let verified = |checked_at| ChainState::Verified {
            up_to: 12,
            up_to_at: None,
            checked_at,
            pending: 3,
            swept_to: 0,
        };
        let v = chain_view(verified(97), 100, 5);
        assert!(v.ok);
        assert_eq!(v.text, "Chain verified up to event 12, checked 3 s ago.");
        assert!(v.note.starts_with("3 newer events wait"), "{}", v.note);
        let v = chain_view(verified(0), 100, 5);
        assert!(
            v.note.starts_with("No check has finished since"),
            "{}",
            v.note
        );
        let v = chain_view(
            ChainState::Broken {
                at_id: 3,
                problem: "event 3 was altered".into(),
                checked_at: 99,
            },
            100,
            5,
        );
        assert!(!v.ok);
        assert_eq!(
            v.text,
            "The chain is broken at event 3: event 3 was altered."
        );
        assert!(
            v.note.starts_with("Found by the check 1 s ago."),
            "{}",
            v.note
        );
    }
}

//! The Overview's getting-started checklist: what a new platform still lacks before its
//! first call (a provider on; a global key or BYOK; a workspace; its owner; a token; a
//! call), each step with the page where it is done. Six small queries, none per row.

use diesel::prelude::*;

use super::key_records as records;
use crate::db::DbConn;
use crate::db::schema::{api_tokens, memberships, usage_daily, usage_events, workspaces};
use crate::domain::roles::Role;
use crate::error::Result;

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub label: &'static str,
    /// Where the step is done.
    pub href: String,
    /// Who does it there, or how, in a few words.
    pub hint: &'static str,
    pub done: bool,
}

/// The steps in order; the checklist is shown until every step is done.
#[derive(Debug, Clone)]
pub struct Checklist {
    pub steps: Vec<Step>,
}

impl Checklist {
    /// Every step is done.
    pub fn is_done(&self) -> bool {
        self.steps.iter().all(|s| s.done)
    }

    /// How many steps are done.
    pub fn done_count(&self) -> usize {
        self.steps.iter().filter(|s| s.done).count()
    }
}

/// What the checklist is worked out from (kept apart from the queries so it is testable).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The first enabled provider's id.
    pub provider_on: Option<&'static str>,
    /// An enabled provider has a usable global key or BYOK on.
    pub key_route: bool,
    /// The oldest workspace (id, slug).
    pub workspace: Option<(String, String)>,
    pub has_owner: bool,
    pub has_token: bool,
    pub has_call: bool,
}

/// The steps for `f`.
pub fn steps(f: &Facts) -> Checklist {
    let integrations = match f.provider_on {
        Some(id) => format!("/admin/integrations/{id}"),
        None => "/admin/integrations".to_owned(),
    };
    let (ws_admin, ws_tokens, ws_chat) = match &f.workspace {
        Some((id, slug)) => (
            format!("/admin/workspaces/{id}"),
            format!("/w/{slug}/settings/tokens"),
            format!("/w/{slug}"),
        ),
        None => (
            "/admin/workspaces".to_owned(),
            "/admin/workspaces".to_owned(),
            "/admin/workspaces".to_owned(),
        ),
    };
    Checklist {
        steps: vec![
            Step {
                label: "Turn a provider on",
                href: "/admin/integrations".to_owned(),
                hint: "Integrations: open a provider, switch Enabled on.",
                done: f.provider_on.is_some(),
            },
            Step {
                label: "Give it a global key, or turn BYOK on",
                href: integrations,
                hint: "A global key answers every workspace; BYOK lets owners bring their own.",
                done: f.key_route,
            },
            Step {
                label: "Create a workspace",
                href: "/admin/workspaces".to_owned(),
                hint: "Workspaces: a name and a short address.",
                done: f.workspace.is_some(),
            },
            Step {
                label: "Invite its owner",
                href: ws_admin,
                hint: "The workspace's page: Members, Invite someone, role Owner.",
                done: f.has_owner,
            },
            Step {
                label: "Create an access token",
                href: ws_tokens,
                hint: "The owner does it on Access tokens; apps call the API with it.",
                done: f.has_token,
            },
            Step {
                label: "Make a first call",
                href: ws_chat,
                hint: "With the token (see the README's curl), or the workspace's chat.",
                done: f.has_call,
            },
        ],
    }
}

/// Reads the facts and returns the checklist.
pub fn checklist(conn: &mut DbConn) -> Result<Checklist> {
    let settings = records::all_settings(conn)?;
    let globals = records::global_keys(conn)?;
    let provider_on = settings.iter().find(|s| s.enabled).map(|s| s.provider.id);
    let key_route = settings.iter().filter(|s| s.enabled).any(|s| {
        s.byok_enabled
            || globals
                .iter()
                .any(|g| g.provider == s.provider.id && records::status_of(g).is_usable())
    });
    let workspace: Option<(String, String)> = workspaces::table
        .order(workspaces::created_at.asc())
        .select((workspaces::id, workspaces::slug))
        .first(conn)
        .optional()?;
    let has_owner = diesel::select(diesel::dsl::exists(
        memberships::table.filter(memberships::role.eq(Role::Owner)),
    ))
    .get_result(conn)?;
    let has_token = diesel::select(diesel::dsl::exists(
        api_tokens::table.select(api_tokens::id),
    ))
    .get_result(conn)?;
    let has_call = diesel::select(diesel::dsl::exists(
        usage_daily::table.select(usage_daily::day),
    ))
    .get_result::<bool>(conn)?
        || diesel::select(diesel::dsl::exists(
            usage_events::table.select(usage_events::id),
        ))
        .get_result::<bool>(conn)?;
    Ok(steps(&Facts {
        provider_on,
        key_route,
        workspace,
        has_owner,
        has_token,
        has_call,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_platform_has_every_step_open_with_pages_to_go_to() {
        let c = steps(&Facts::default());
        assert!(!c.is_done());
        assert_eq!(c.done_count(), 0);
        assert_eq!(c.steps.len(), 6);
        assert!(c.steps.iter().all(|s| s.href.starts_with('/')));
    }

    #[test]
    fn steps_link_to_the_provider_and_the_workspace_once_there_are_some() {
        let c = steps(&Facts {
            provider_on: Some("openai"),
            key_route: true,
            workspace: Some(("w1".into(), "acme".into())),
            has_owner: true,
            has_token: true,
            has_call: true,
        });
        assert!(c.is_done());
        assert_eq!(c.steps[1].href, "/admin/integrations/openai");
        assert_eq!(c.steps[3].href, "/admin/workspaces/w1");
        assert_eq!(c.steps[4].href, "/w/acme/settings/tokens");
        assert_eq!(c.steps[5].href, "/w/acme");
    }
}

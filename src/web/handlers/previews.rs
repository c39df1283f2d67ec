//! Confirmation pages that name names: the workspaces that switch keys when BYOK goes off,
//! those that lose their key with the global key, and what a member loses when removed.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::integrations::{ConfirmPage, provider_from};
use super::ok;
use crate::db::now;
use crate::domain::ids::UserId;
use crate::domain::providers::Provider;
use crate::domain::roles::Role;
use crate::error::Result;
use crate::services::integrations::{self, Change};
use crate::services::previews::{self, WorkspaceCalls};
use crate::state::AppState;
use crate::web::charts::thousands;
use crate::web::extractors::{PlatformAdmin, WorkspaceOwner};
use crate::web::forms::path_id;

/// How many names a confirmation lists before "…and N more".
const SHOWN: usize = 20;

/// One named item of a confirmation.
pub struct Named {
    pub name: String,
    pub href: Option<String>,
    pub note: String,
}

/// [`ConfirmPage`] with a list of who the change reaches.
#[derive(Template)]
#[template(path = "confirm_named.html")]
pub struct NamedConfirmPage {
    pub layout: crate::web::layout::Layout,
    pub heading: String,
    pub impact: String,
    pub details: Vec<String>,
    pub action: String,
    pub hidden: Vec<(&'static str, String)>,
    pub button: &'static str,
    pub back_href: String,
    pub back_label: String,
    pub named_title: String,
    pub named: Vec<Named>,
    pub more: usize,
}

impl NamedConfirmPage {
    fn new(page: ConfirmPage, named_title: String, mut named: Vec<Named>) -> NamedConfirmPage {
        let more = named.len().saturating_sub(SHOWN);
        named.truncate(SHOWN);
        NamedConfirmPage {
            layout: page.layout,
            heading: page.heading,
            impact: page.impact,
            details: page.details,
            action: page.action,
            hidden: page.hidden,
            button: page.button,
            back_href: page.back_href,
            back_label: page.back_label,
            named_title,
            named,
            more,
        }
    }
}

fn calls_text(n: i64) -> String {
    match n {
        0 => "no calls in the last 30 days".into(),
        1 => "1 call in the last 30 days".into(),
        n => format!("{} calls in the last 30 days", thousands(n)),
    }
}

fn workspace_items(list: Vec<WorkspaceCalls>) -> Vec<Named> {
    list.into_iter()
        .map(|w| Named {
            href: Some(format!("/admin/workspaces/{}", w.id)),
            note: calls_text(w.calls),
            name: w.name,
        })
        .collect()
}

fn workspaces_text(n: usize) -> String {
    if n == 1 {
        "1 workspace".into()
    } else {
        format!("{} workspaces", thousands(n as i64))
    }
}

/// The page asking before BYOK goes off for `provider`, naming the workspaces whose own
/// keys stop answering.
pub async fn byok_off(
    admin: &PlatformAdmin,
    state: &AppState,
    provider: &'static Provider,
    change: &Change,
) -> Result<NamedConfirmPage> {
    let affected = state
        .db(move |c| previews::byok_off(c, provider, now()))
        .await?;
    let name = provider.name;
    let impact = match affected.len() {
        0 => format!("No workspace uses its own {name} key right now."),
        1 => format!("1 workspace uses its own {name} key; it will switch to the platform key."),
        n => format!(
            "{n} workspaces use their own {name} key; they will switch to the platform key."
        ),
    };
    let mut details = vec![format!(
        "Their {name} keys are kept, not deleted, and answer again if you turn BYOK back on. Their owners are told by mail."
    )];
    if change.credential.is_some() {
        details.push(
            "The new global key you typed was not carried over to this page. Enter it again after confirming.".into(),
        );
    }
    let mut hidden = vec![("failure_policy", change.failure_policy.as_str().to_owned())];
    if change.enabled {
        hidden.push(("enabled", "on".into()));
    }
    let title = format!("Turn BYOK off for {name}?");
    let page = ConfirmPage {
        layout: admin.0.layout(title.clone(), "admin-integrations"),
        heading: title,
        impact,
        details,
        action: format!("/admin/integrations/{}", provider.id),
        hidden,
        button: "Turn BYOK off",
        back_href: format!("/admin/integrations/{}", provider.id),
        back_label: name.to_owned(),
    };
    Ok(NamedConfirmPage::new(
        page,
        format!("The workspaces that switch, with their {name} calls:"),
        workspace_items(affected),
    ))
}

/// `GET /admin/integrations/{provider}/remove-key`: asks before removing the global key,
/// naming the workspaces that lose their key.
pub async fn remove_global_key_form(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let provider = provider_from(&path)?;
    let loss = state
        .db(move |c| {
            let byok = integrations::detail(c, provider)?.settings.byok_enabled;
            previews::global_key_removal(c, provider, byok, now())
        })
        .await?;
    let name = provider.name;
    let impact = match loss.without_own_key {
        0 => {
            format!("Every workspace has a {name} key of its own; none depends on the global key.")
        }
        n => format!(
            "{} without their own {name} key will get “no key” errors until you enter a new global key.",
            workspaces_text(n as usize)
        ),
    };
    let title = format!("Remove the global {name} key?");
    let page = ConfirmPage {
        layout: admin.0.layout(title.clone(), "admin-integrations"),
        heading: title,
        impact,
        details: vec!["The stored key is wiped; its label and mask stay in the records.".into()],
        action: format!("/admin/integrations/{}/remove-key", provider.id),
        hidden: Vec::new(),
        button: "Remove global key",
        back_href: format!("/admin/integrations/{}", provider.id),
        back_label: name.to_owned(),
    };
    let named_title = format!(
        "{} called {name} on it in the last 30 days and lose their key:",
        if loss.recent.len() == 1 {
            "This workspace".to_owned()
        } else {
            format!("These {}", workspaces_text(loss.recent.len()))
        }
    );
    ok(&NamedConfirmPage::new(
        page,
        named_title,
        workspace_items(loss.recent),
    ))
}

#[derive(Deserialize)]
pub struct MemberPath {
    #[allow(dead_code)]
    slug: String,
    user_id: String,
}

/// `GET /w/{slug}/settings/members/{user_id}/remove`: what the member loses, before
/// removal. The last owner cannot be removed, so the page says so and offers no button.
pub async fn remove_member_form(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
) -> Result<HttpResponse> {
    let ws = o.0.workspace.workspace_id.clone();
    let user_id: UserId = path_id(&path.user_id)?;
    let u = user_id.clone();
    let loss = state
        .db(move |c| previews::member_removal(c, &ws, &u))
        .await?;
    let slug = &o.0.workspace.slug;
    let back_href = format!("/w/{slug}/settings/members");
    let who = if loss.name.trim().is_empty() {
        loss.email.clone()
    } else {
        format!("{} ({})", loss.name, loss.email)
    };
    if loss.last_owner {
        return ok(&LastOwnerPage {
            layout: o.0.layout("The last owner", "ws-members"),
            who,
            back_href,
        });
    }
    let ws_name = &o.0.workspace.name;
    let mut details = vec![format!(
        "They are signed out at once and can no longer open {ws_name}'s chat{}.",
        if loss.chat_messages > 0 {
            format!(
                " or their {} in it (the messages are kept)",
                if loss.chat_messages == 1 {
                    "1 message".to_owned()
                } else {
                    format!("{} messages", thousands(loss.chat_messages))
                }
            )
        } else {
            String::new()
        }
    )];
    if loss.role == Role::Owner {
        details.push(
            "As an owner they also lose the provider keys, access tokens, members and usage of this workspace."
                .into(),
        );
    }
    let page = ConfirmPage {
        layout: o.0.layout("Remove this member?", "ws-members"),
        heading: format!("Remove {who} from {ws_name}?"),
        impact: format!("{who} loses access to {ws_name}."),
        details,
        action: format!("/w/{slug}/settings/members/{user_id}/remove"),
        hidden: Vec::new(),
        button: "Remove member",
        back_href,
        back_label: "Members".into(),
    };
    let tokens = loss
        .tokens
        .into_iter()
        .map(|t| Named {
            name: t,
            href: None,
            note: String::new(),
        })
        .collect();
    ok(&NamedConfirmPage::new(
        page,
        "The access tokens they created are revoked, so programs using them stop working:".into(),
        tokens,
    ))
}

#[derive(Template)]
#[template(path = "workspace/last_owner.html")]
struct LastOwnerPage {
    layout: crate::web::layout::Layout,
    who: String,
    back_href: String,
}

//! The mails about keys and BYOK, queued in the transaction of their cause. They name a
//! key by its label only: no secret, no mask. Labels, workspace names and addresses are
//! text people chose: quoted in bodies, never in a Subject (see [`super::mail_text`]).

use std::collections::BTreeMap;

use askama::Template;

use super::key_records::OwnerContact;
use super::mail;
use super::mail_text::{quoted, quoted_list};
use crate::config::Config;
use crate::db::DbConn;
use crate::error::Result;

#[derive(Template)]
#[template(path = "email/byok_disabled.txt", blocks = ["subject", "text"])]
struct ByokDisabledMail {
    provider: String,
    /// The workspaces, quoted and listed.
    workspaces: String,
    workspaces_count: usize,
    action_url: String,
}
crate::mail_content!(ByokDisabledMail, "Open your provider keys");

#[derive(Template)]
#[template(path = "email/byok_enabled.txt", blocks = ["subject", "text"])]
struct ByokEnabledMail {
    provider: String,
    /// The workspaces, quoted and listed.
    workspaces: String,
    workspaces_count: usize,
    action_url: String,
}
crate::mail_content!(ByokEnabledMail, "Add a key");

#[derive(Template)]
#[template(path = "email/key_changed.txt", blocks = ["subject", "text"])]
struct KeyChangedMail {
    /// Who did it, with their address quoted: "The owner “ann@…”".
    actor: String,
    change: &'static str,
    provider: String,
    label: String,
    workspace: String,
    action_url: String,
}
crate::mail_content!(KeyChangedMail, "Review the provider keys");

#[derive(Template)]
#[template(path = "email/key_rejected.txt", blocks = ["subject", "text"])]
struct KeyRejectedMail {
    provider: String,
    label: String,
    workspace: String,
    action_url: String,
}
crate::mail_content!(KeyRejectedMail, "Replace the key");

fn keys_link(config: &Config, slug: &str) -> String {
    config.link(&format!("/w/{slug}/settings/keys"))
}

/// One mail per person, listing each of their workspaces (the contacts come sorted by
/// email from [`super::key_records::owners`]).
fn per_person(contacts: &[OwnerContact]) -> BTreeMap<&str, Vec<&OwnerContact>> {
    let mut by_email: BTreeMap<&str, Vec<&OwnerContact>> = BTreeMap::new();
    for c in contacts {
        by_email.entry(c.email.as_str()).or_default().push(c);
    }
    by_email
}

/// Sends one mail per person (listing each of their workspaces) built by `make` from the
/// person's first contact row and their workspace names; returns how many were queued.
fn mail_each_person(
    conn: &mut DbConn,
    contacts: &[OwnerContact],
    make: impl Fn(&OwnerContact, Vec<String>) -> Box<dyn mail::MailContent>,
) -> Result<usize> {
    let people = per_person(contacts);
    for (email, list) in &people {
        let first = list[0];
        let workspaces = list.iter().map(|c| c.workspace_name.clone()).collect();
        mail::enqueue(conn, email, make(first, workspaces).as_ref())?;
    }
    Ok(people.len())
}

/// BYOK went off: tell the owners of the workspaces that were using their own key.
pub fn byok_disabled(
    conn: &mut DbConn,
    config: &Config,
    provider: &str,
    contacts: &[OwnerContact],
) -> Result<usize> {
    mail_each_person(conn, contacts, |first, workspaces| {
        Box::new(ByokDisabledMail {
            provider: provider.to_owned(),
            workspaces_count: workspaces.len(),
            workspaces: quoted_list(&workspaces),
            action_url: keys_link(config, &first.workspace_slug),
        })
    })
}

/// BYOK came on: tell every owner they may add a key.
pub fn byok_enabled(
    conn: &mut DbConn,
    config: &Config,
    provider: &str,
    contacts: &[OwnerContact],
) -> Result<usize> {
    mail_each_person(conn, contacts, |first, workspaces| {
        Box::new(ByokEnabledMail {
            provider: provider.to_owned(),
            workspaces_count: workspaces.len(),
            workspaces: quoted_list(&workspaces),
            action_url: keys_link(config, &first.workspace_slug),
        })
    })
}

/// What happened to a workspace key, for [`key_changed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Replaced,
    Removed,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Replaced => "replaced",
            Change::Removed => "removed",
        }
    }
}

/// A key was added, replaced or removed: tell the workspace's other owners.
#[allow(clippy::too_many_arguments)]
pub fn key_changed(
    conn: &mut DbConn,
    config: &Config,
    owners: &[OwnerContact],
    actor_id: Option<&str>,
    actor_email: Option<&str>,
    change: Change,
    provider: &str,
    label: &str,
) -> Result<()> {
    let actor = match actor_email {
        Some(email) => format!("The owner {}", quoted(email)),
        None => "An owner".to_owned(),
    };
    for o in owners
        .iter()
        .filter(|o| Some(o.user_id.as_str()) != actor_id)
    {
        mail::enqueue(
            conn,
            &o.email,
            &KeyChangedMail {
                actor: actor.clone(),
                change: change.verb(),
                provider: provider.to_owned(),
                label: quoted(label),
                workspace: quoted(&o.workspace_name),
                action_url: keys_link(config, &o.workspace_slug),
            },
        )?;
    }
    Ok(())
}

/// The provider rejected a workspace key, which is now marked invalid: tell the owners.
pub fn key_rejected(
    conn: &mut DbConn,
    config: &Config,
    owners: &[OwnerContact],
    provider: &str,
    label: &str,
) -> Result<()> {
    for o in owners {
        mail::enqueue(
            conn,
            &o.email,
            &KeyRejectedMail {
                provider: provider.to_owned(),
                label: quoted(label),
                workspace: quoted(&o.workspace_name),
                action_url: keys_link(config, &o.workspace_slug),
            },
        )?;
    }
    Ok(())
}

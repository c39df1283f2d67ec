//! Behaviour the security review ("Hardening") found untested: the key "Test" button on every
//! kind of provider answer, the mail outbox drained by two instances at once, a platform key
//! the provider rejects in the middle of a call, and chat histories kept apart.

mod chat_history;
mod key_test;
mod outbox;
mod platform_key;

use diesel::prelude::*;
use keyhold::db::schema::audit_events;
use serde_json::Value;

use crate::helpers::TestApp;

/// The details of the newest audit event with `action`.
pub fn last_audit(app: &TestApp, action: &str) -> Value {
    let details: String = audit_events::table
        .filter(audit_events::action.eq(action))
        .order(audit_events::id.desc())
        .select(audit_events::details)
        .first(&mut app.db())
        .unwrap_or_else(|e| panic!("no {action} event: {e}"));
    serde_json::from_str(&details).expect("details are JSON")
}

/// The `<tr>` of a table whose row header is `label`.
pub fn row<'a>(page: &'a str, label: &str) -> &'a str {
    let at = page
        .find(&format!("<th scope=\"row\">{label}</th>"))
        .unwrap_or_else(|| panic!("no row for {label}"));
    let start = page[..at].rfind("<tr").unwrap_or(at);
    let end = page[at..].find("</tr>").map_or(page.len(), |e| at + e);
    &page[start..end]
}

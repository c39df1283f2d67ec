//! One key's actions: test it again, disable or enable it, remove it, move it in the order.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{KeyPath, back, flash_test};
use crate::domain::ids::KeyId;
use crate::error::{Error, Result};
use crate::services::keys;
use crate::state::AppState;
use crate::web::extractors::WorkspaceOwner;
use crate::web::handlers::integrations::ConfirmPage;
use crate::web::handlers::ok;
use crate::web::layout::{flash_error, flash_success};

/// `POST /w/{slug}/settings/keys/{id}/test`.
pub async fn test(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse> {
    let ws = o.0.workspace.workspace_id.clone();
    let id = path.key_id()?;
    match keys::test(&state, o.0.user.actor(), ws, id.clone()).await {
        Ok(test) => flash_test(&o, ("Test done.", "Test done."), &id, &test),
        Err(Error::Conflict(m)) => flash_error(&o.0.user.session, m),
        Err(e) => return Err(e),
    }
    Ok(back(&o))
}

async fn set_enabled(
    o: WorkspaceOwner,
    state: &AppState,
    id: KeyId,
    on: bool,
) -> Result<HttpResponse> {
    let ws = o.0.workspace.workspace_id.clone();
    match keys::set_enabled(state, o.0.user.actor(), ws, id, on).await {
        Ok(()) if on => flash_success(&o.0.user.session, "The key is enabled."),
        Ok(()) => flash_success(
            &o.0.user.session,
            "The key is disabled. It is kept but no longer answers.",
        ),
        Err(Error::Conflict(m)) => flash_error(&o.0.user.session, m),
        Err(e) => return Err(e),
    }
    Ok(back(&o))
}

/// `POST /w/{slug}/settings/keys/{id}/disable`.
pub async fn disable(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse> {
    set_enabled(o, &state, path.key_id()?, false).await
}

/// `POST /w/{slug}/settings/keys/{id}/enable`.
pub async fn enable(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse> {
    set_enabled(o, &state, path.key_id()?, true).await
}

/// `GET /w/{slug}/settings/keys/{id}/remove`: asks first (works without JS).
pub async fn remove_form(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse> {
    let ws = o.0.workspace.workspace_id.clone();
    let id = path.key_id()?;
    let row = state
        .db(move |c| crate::services::key_records::workspace_key(c, &ws, &id))
        .await?;
    let slug = &o.0.workspace.slug;
    ok(&ConfirmPage {
        layout: o.0.layout("Remove this key?", "ws-keys"),
        heading: format!("Remove the key “{}”?", row.label),
        impact: "The stored key is wiped and can never be used again.".into(),
        details: vec![
            "Its label, mask and history stay in the list of removed keys and in the audit log."
                .into(),
            "The other owners of this workspace are told by mail.".into(),
        ],
        action: format!("/w/{slug}/settings/keys/{}/remove", row.id),
        hidden: Vec::new(),
        button: "Remove key",
        back_href: format!("/w/{slug}/settings/keys"),
        back_label: "Provider keys".into(),
    })
}

/// `POST /w/{slug}/settings/keys/{id}/remove`.
pub async fn remove(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse> {
    let ws = o.0.workspace.workspace_id.clone();
    keys::remove(&state, o.0.user.actor(), ws, path.key_id()?).await?;
    flash_success(
        &o.0.user.session,
        "The key was removed and its stored secret wiped.",
    );
    Ok(back(&o))
}

#[derive(Deserialize)]
pub struct MoveForm {
    direction: String,
}

/// `POST /w/{slug}/settings/keys/{id}/move`: `direction` is `up` or `down`.
pub async fn move_key(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse> {
    let up = match form.direction.as_str() {
        "up" => true,
        "down" => false,
        _ => return Err(Error::invalid("direction", "Choose up or down.")),
    };
    let ws = o.0.workspace.workspace_id.clone();
    match keys::move_key(&state, o.0.user.actor(), ws, path.key_id()?, up).await {
        Ok(()) => flash_success(&o.0.user.session, "The order of the keys was changed."),
        Err(Error::Conflict(m)) => flash_error(&o.0.user.session, m),
        Err(e) => return Err(e),
    }
    Ok(back(&o))
}

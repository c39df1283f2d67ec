//! `/w/<slug>/settings/tokens`: an owner's workspace API tokens. A new token is shown once,
//! on the page that answers the create form (not after a redirect, so it never sits in the
//! session or the history); the frame marks every signed-in page `no-store`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::render;
use super::workspace::format_time;
use crate::domain::ids::TokenId;
use crate::error::{Error, Result};
use crate::services::api_tokens::{self, Creator, TokenRow};
use crate::state::AppState;
use crate::web::extractors::WorkspaceOwner;
use crate::web::forms::{FormErrors, path_id, see_other};
use crate::web::layout::{Layout, flash_error, flash_success};

/// A token as the table shows it.
struct TokenView {
    id: TokenId,
    name: String,
    prefix: String,
    created: String,
    last_use: String,
    revoked: bool,
    /// "Name (email)" of whoever created it, or a dash.
    creator: String,
}

impl TokenView {
    fn of((t, creator): (TokenRow, Option<Creator>)) -> TokenView {
        TokenView {
            creator: creator
                .map_or_else(|| "—".to_owned(), |c| format!("{} ({})", c.name, c.email)),
            created: format_time(t.created_at),
            last_use: t.last_used_at.map_or_else(|| "Never".into(), format_time),
            revoked: t.revoked_at.is_some(),
            id: t.id,
            name: t.name,
            prefix: t.prefix,
        }
    }
}

#[derive(Template)]
#[template(path = "workspace/tokens.html")]
struct TokensPage {
    layout: Layout,
    slug: String,
    tokens: Vec<TokenView>,
    /// The list could not be read (the database went away after a token was created: the
    /// new token is shown all the same, since it exists and will not be shown again).
    list_unavailable: bool,
    /// The token just created, in clear: shown this once.
    new_token: Option<String>,
    new_token_name: String,
    /// Where programs send their calls (`…/v1`).
    api_base: String,
    errors: FormErrors,
    name_value: String,
}

async fn tokens_page(
    o: &WorkspaceOwner,
    state: &AppState,
    created: Option<(String, String)>,
    errors: FormErrors,
    name_value: String,
) -> Result<TokensPage> {
    let ws_id = o.0.workspace.workspace_id.clone();
    let listed = state.db(move |c| api_tokens::list(c, &ws_id)).await;
    let (tokens, list_unavailable) = match listed {
        Ok(tokens) => (tokens, false),
        Err(Error::Unavailable(e)) if created.is_some() => {
            tracing::warn!(error = %e, "token list unavailable after a token was created");
            (Vec::new(), true)
        }
        Err(e) => return Err(e),
    };
    let (new_token_name, new_token) = match created {
        Some((name, token)) => (name, Some(token)),
        None => (String::new(), None),
    };
    Ok(TokensPage {
        layout: o.0.layout("Access tokens", "ws-tokens"),
        slug: o.0.workspace.slug.clone(),
        tokens: tokens.into_iter().map(TokenView::of).collect(),
        list_unavailable,
        new_token,
        new_token_name,
        api_base: state.config.link("/v1"),
        errors,
        name_value,
    })
}

/// `GET /w/{slug}/settings/tokens`.
pub async fn page(o: WorkspaceOwner, state: web::Data<AppState>) -> Result<HttpResponse> {
    let page = tokens_page(&o, &state, None, FormErrors::default(), String::new()).await?;
    render(&page, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
}

/// `POST /w/{slug}/settings/tokens`: creates a token and shows it once.
pub async fn create(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse> {
    let name = form.into_inner().name;
    let (actor, ws_id, n) = (
        o.0.user.actor(),
        o.0.workspace.workspace_id.clone(),
        name.clone(),
    );
    let config = state.config.clone();
    let created = state
        .db(move |c| api_tokens::create(c, &config.keyring, &actor, &ws_id, &n))
        .await;
    match created {
        Ok((row, token)) => {
            let page = tokens_page(
                &o,
                &state,
                Some((row.name, token)),
                FormErrors::default(),
                String::new(),
            )
            .await?;
            render(&page, StatusCode::OK)
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let page = tokens_page(&o, &state, None, errors, name).await?;
            render(&page, StatusCode::BAD_REQUEST)
        }
    }
}

#[derive(Deserialize)]
pub struct TokenPath {
    #[allow(dead_code)]
    slug: String,
    id: String,
}

/// `POST /w/{slug}/settings/tokens/{id}/revoke`: the next call with the token is refused.
pub async fn revoke(
    o: WorkspaceOwner,
    state: web::Data<AppState>,
    path: web::Path<TokenPath>,
) -> Result<HttpResponse> {
    let (actor, ws_id) = (o.0.user.actor(), o.0.workspace.workspace_id.clone());
    let config = state.config.clone();
    // A malformed id names no token: the same answer as a stale one.
    let r = match path_id::<TokenId>(&path.id) {
        Ok(id) => {
            state
                .db(move |c| api_tokens::revoke(c, &config.keyring, &actor, &ws_id, &id))
                .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => flash_success(
            &o.0.user.session,
            "Token revoked. Programs using it are refused from now on.",
        ),
        // Another tab removed it, or the id is stale: say so rather than show an error page.
        Err(Error::NotFound) => flash_error(&o.0.user.session, "That token no longer exists."),
        Err(e) => return Err(e),
    }
    Ok(see_other(&format!(
        "/w/{}/settings/tokens",
        o.0.workspace.slug
    )))
}

//! `/w/<slug>`: the workspace's Chat. Works as a plain form post; with JavaScript the answer
//! streams in from `/w/<slug>/chat/stream`. Every answer says whose key gave it.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::{ok, render};
use crate::domain::providers;
use crate::domain::resolution::Viewer;
use crate::error::Result;
use crate::gateway::chat::{self, Piece, Turn};
use crate::services::chat::{self as history, Message, NewMessage};
use crate::services::explain;
use crate::state::AppState;
use crate::web::extractors::WorkspaceMember;
use crate::web::forms::see_other;
use crate::web::layout::Layout;

/// How many earlier messages go upstream with a new prompt.
const CONTEXT_TURNS: i64 = 20;
/// The longest prompt accepted.
const MAX_PROMPT_CHARS: usize = 32_000;

/// A provider's models in the picker.
pub struct ModelGroup {
    pub provider: &'static str,
    pub models: Vec<String>,
}

/// Whether a provider answers this workspace, for the status list.
pub struct Availability {
    pub provider: &'static str,
    pub served_by: &'static str,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "workspace/chat.html")]
struct ChatPage {
    layout: Layout,
    slug: String,
    messages: Vec<Message>,
    groups: Vec<ModelGroup>,
    selected: String,
    prompt: String,
    error: Option<String>,
    providers: Vec<Availability>,
}

/// The sentence under an answer.
pub fn answered_with(source: &str) -> &'static str {
    if source == "workspace" {
        "Answered with your workspace key"
    } else {
        "Answered with the platform key"
    }
}

fn viewer(m: &WorkspaceMember) -> Viewer {
    if m.is_owner() {
        Viewer::Owner
    } else {
        Viewer::Member
    }
}

async fn page(
    m: &WorkspaceMember,
    state: &AppState,
    prompt: String,
    selected: Option<String>,
    error: Option<String>,
) -> Result<ChatPage> {
    let ws = m.workspace.workspace_id.clone();
    let uid = m.user.id.clone();
    let (explained, messages) = state
        .db(move |c| {
            Ok((
                explain::explain(c, &ws)?,
                history::history(c, &ws, &uid, 100)?,
            ))
        })
        .await?;
    let v = viewer(m);
    let groups: Vec<ModelGroup> = explained
        .iter()
        .filter(|e| e.source().is_some())
        .map(|e| ModelGroup {
            provider: e.provider().name,
            models: e
                .provider()
                .models
                .iter()
                .map(|model| format!("{}/{model}", e.provider().id))
                .collect(),
        })
        .collect();
    let providers = explained
        .iter()
        .filter(|e| e.settings.enabled)
        .map(|e| Availability {
            provider: e.provider().name,
            served_by: e.source_label(),
            reason: if e.source().is_some() {
                String::new()
            } else {
                e.reason(v)
            },
        })
        .collect();
    let last_model = messages.iter().rev().find_map(|msg| msg.model.clone());
    let all: Vec<&String> = groups.iter().flat_map(|g| g.models.iter()).collect();
    let selected = selected
        .or(last_model)
        .filter(|s| all.contains(&s))
        .or_else(|| all.first().map(|s| (*s).clone()))
        .unwrap_or_default();
    Ok(ChatPage {
        layout: m.layout("Chat", "ws-chat"),
        slug: m.workspace.slug.clone(),
        messages,
        groups,
        selected,
        prompt,
        error,
        providers,
    })
}

/// `GET /w/{slug}`.
pub async fn show(m: WorkspaceMember, state: web::Data<AppState>) -> Result<HttpResponse> {
    ok(&page(&m, &state, String::new(), None, None).await?)
}

#[derive(Deserialize)]
pub struct ChatForm {
    model: String,
    prompt: String,
}

fn check(form: &ChatForm) -> std::result::Result<(), String> {
    if form.prompt.trim().is_empty() {
        return Err("Write a prompt first.".into());
    }
    if form.prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(format!(
            "Keep the prompt under {MAX_PROMPT_CHARS} characters."
        ));
    }
    if providers::for_model(&form.model).is_none() {
        return Err("Choose a model from the list.".into());
    }
    Ok(())
}

async fn turns(m: &WorkspaceMember, state: &AppState, prompt: &str) -> Result<Vec<Turn>> {
    let ws = m.workspace.workspace_id.clone();
    let uid = m.user.id.clone();
    let earlier = state
        .db(move |c| history::history(c, &ws, &uid, CONTEXT_TURNS))
        .await?;
    let mut turns: Vec<Turn> = earlier
        .into_iter()
        .filter(|msg| msg.error.is_none())
        .map(|msg| Turn {
            role: msg.role,
            content: msg.content,
        })
        .collect();
    turns.push(Turn {
        role: "user".into(),
        content: prompt.to_owned(),
    });
    Ok(turns)
}

async fn save(
    m: &WorkspaceMember,
    state: &AppState,
    model: String,
    prompt: String,
    answer: std::result::Result<(String, String), String>,
) -> Result<()> {
    let ws = m.workspace.workspace_id.clone();
    let uid = m.user.id.clone();
    state
        .db(move |c| {
            let assistant = match &answer {
                Ok((text, source)) => NewMessage {
                    role: "assistant",
                    content: text,
                    model: Some(&model),
                    source: Some(source),
                    error: None,
                },
                Err(message) => NewMessage {
                    role: "assistant",
                    content: "",
                    model: Some(&model),
                    source: None,
                    error: Some(message),
                },
            };
            let user = NewMessage {
                role: "user",
                content: &prompt,
                model: Some(&model),
                source: None,
                error: None,
            };
            history::append(c, &ws, &uid, &[user, assistant])
        })
        .await
}

/// `POST /w/{slug}/chat`: asks, stores both sides, and shows the conversation again.
pub async fn send(
    m: WorkspaceMember,
    state: web::Data<AppState>,
    form: web::Form<ChatForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    if let Err(e) = check(&f) {
        return render(
            &page(&m, &state, f.prompt, Some(f.model), Some(e)).await?,
            StatusCode::BAD_REQUEST,
        );
    }
    let turns = turns(&m, &state, &f.prompt).await?;
    let answer = chat::complete(
        &state,
        &state.gateway,
        &m.workspace.workspace_id,
        &m.user.id,
        &f.model,
        &turns,
        viewer(&m),
    )
    .await
    .map(|r| (r.text, r.source))
    .map_err(|e| e.message);
    save(&m, &state, f.model, f.prompt, answer).await?;
    Ok(see_other(&format!("/w/{}#latest", m.workspace.slug)))
}

/// `POST /w/{slug}/chat/stream`: the same, streamed as server-sent events of
/// `{"text": …}`, then `{"done": true, "meta": "Answered with …"}` or `{"error": …}`.
pub async fn stream(
    m: WorkspaceMember,
    state: web::Data<AppState>,
    form: web::Form<ChatForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let sse = |v: serde_json::Value| Bytes::from(format!("data: {v}\n\n"));
    if let Err(e) = check(&f) {
        return Ok(HttpResponse::BadRequest()
            .content_type("text/event-stream")
            .body(sse(json!({ "error": e }))));
    }
    let turns = turns(&m, &state, &f.prompt).await?;
    let pieces = match chat::stream(
        &state,
        &state.gateway,
        &m.workspace.workspace_id,
        &m.user.id,
        &f.model,
        &turns,
        viewer(&m),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            save(&m, &state, f.model, f.prompt, Err(e.message.clone())).await?;
            return Ok(HttpResponse::Ok()
                .content_type("text/event-stream")
                .body(sse(json!({ "error": e.message }))));
        }
    };
    let state = state.into_inner();
    let out = futures_util::stream::unfold(
        Some((pieces, String::new(), m, f, state)),
        move |st| async move {
            let (mut pieces, mut text, m, f, state) = st?;
            match pieces.next().await {
                Some(Piece::Text(t)) => {
                    text.push_str(&t);
                    Some((
                        Ok::<Bytes, actix_web::Error>(sse(json!({ "text": t }))),
                        Some((pieces, text, m, f, state)),
                    ))
                }
                Some(Piece::Done { source }) => {
                    let meta = format!("{} · {}", answered_with(&source), f.model);
                    let saved = save(
                        &m,
                        &state,
                        f.model.clone(),
                        f.prompt.clone(),
                        Ok((text, source)),
                    )
                    .await;
                    if let Err(e) = saved {
                        tracing::error!(error = %e, "chat answer not saved");
                    }
                    Some((Ok(sse(json!({ "done": true, "meta": meta }))), None))
                }
                Some(Piece::Failed(e)) => {
                    let _ = save(
                        &m,
                        &state,
                        f.model.clone(),
                        f.prompt.clone(),
                        Err(e.message.clone()),
                    )
                    .await;
                    Some((Ok(sse(json!({ "error": e.message }))), None))
                }
                None => None,
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .streaming(out))
}

/// `POST /w/{slug}/chat/clear`: a new conversation.
pub async fn clear(m: WorkspaceMember, state: web::Data<AppState>) -> Result<HttpResponse> {
    let ws = m.workspace.workspace_id.clone();
    let uid = m.user.id.clone();
    state.db(move |c| history::clear(c, &ws, &uid)).await?;
    Ok(see_other(&format!("/w/{}", m.workspace.slug)))
}

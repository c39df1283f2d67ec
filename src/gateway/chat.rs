//! The chat page's use of the gateway: the same path as the API (resolution, failover,
//! usage, allowance), with the member as the caller and answers reduced to text.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::web::Bytes;
use futures_util::Stream;
use serde_json::{Value, json};

use super::cache::current_epoch;
use super::errors::Format;
use super::translate::SseParser;
use super::{CallContext, Caller, respond};
use crate::domain::providers;
use crate::domain::resolution::{ResolveError, Viewer};
use crate::state::AppState;

/// A turn of the conversation sent upstream.
pub struct Turn {
    pub role: String,
    pub content: String,
}

/// The answer and which key gave it.
pub struct Reply {
    pub text: String,
    /// `workspace` or `platform`.
    pub source: String,
}

/// A failure, already in words for this viewer.
pub struct ChatError {
    pub code: String,
    pub message: String,
}

fn request(model: &str, turns: &[Turn], stream: bool) -> Bytes {
    let messages: Vec<Value> = turns
        .iter()
        .map(|t| json!({ "role": t.role, "content": t.content }))
        .collect();
    Bytes::from(json!({ "model": model, "messages": messages, "stream": stream }).to_string())
}

/// Rewrites the resolution errors for the person reading them (owner: add a key; member:
/// ask an owner); other errors keep the gateway's sentence.
fn for_viewer(code: &str, message: String, model: &str, viewer: Viewer) -> ChatError {
    let name = providers::for_model(model).map_or("this provider", |(p, _)| p.name);
    let resolved = match code {
        "no_key" => Some(ResolveError::NoKey { byok_enabled: true }),
        "provider_disabled" => Some(ResolveError::ProviderDisabled),
        "allowance_exhausted" => Some(ResolveError::AllowanceExhausted),
        "workspace_keys_invalid" => Some(ResolveError::WorkspaceKeysInvalid),
        _ => None,
    };
    ChatError {
        code: code.to_owned(),
        message: resolved.map_or(message, |e| e.message(name, viewer)),
    }
}

fn error_of(v: &Value, model: &str, viewer: Viewer) -> ChatError {
    let code = v
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("The provider could not answer.")
        .to_owned();
    for_viewer(code, message, model, viewer)
}

async fn call(
    state: &AppState,
    workspace_id: &str,
    user_id: &str,
    body: Bytes,
) -> Result<actix_web::HttpResponse, ChatError> {
    let gw = &state.gateway;
    let unavailable = |_| ChatError {
        code: "unavailable".into(),
        message: "Keyhold cannot reach its database right now. Try again shortly.".into(),
    };
    let epoch = current_epoch(state).await.map_err(unavailable)?;
    let allowance = gw
        .cache
        .allowance(state, workspace_id)
        .await
        .map_err(unavailable)?;
    let prepared = respond::prepare(Format::OpenAi, &body).map_err(|e| ChatError {
        code: e.code.into(),
        message: e.message,
    })?;
    let ctx = CallContext {
        workspace_id: workspace_id.to_owned(),
        caller: Caller::User {
            user_id: user_id.to_owned(),
        },
    };
    Ok(respond::run(state, gw, ctx, allowance, epoch, prepared, Format::OpenAi).await)
}

fn source_of(resp: &actix_web::HttpResponse) -> String {
    resp.headers()
        .get("x-keyhold-key-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("platform")
        .to_owned()
}

/// Asks `model` for the next answer of the conversation.
pub async fn complete(
    state: &AppState,
    workspace_id: &str,
    user_id: &str,
    model: &str,
    turns: &[Turn],
    viewer: Viewer,
) -> Result<Reply, ChatError> {
    let resp = call(state, workspace_id, user_id, request(model, turns, false)).await?;
    let ok = resp.status().is_success();
    let source = source_of(&resp);
    let body = actix_web::body::to_bytes(resp.into_body())
        .await
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !ok {
        return Err(error_of(&v, model, viewer));
    }
    let text = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(Reply { text, source })
}

/// A streamed answer: text pieces as they come, then the outcome.
pub enum Piece {
    Text(String),
    Done { source: String },
    Failed(ChatError),
}

/// Streams the next answer as [`Piece`]s.
pub async fn stream(
    state: &AppState,
    workspace_id: &str,
    user_id: &str,
    model: &str,
    turns: &[Turn],
    viewer: Viewer,
) -> Result<Pin<Box<dyn Stream<Item = Piece>>>, ChatError> {
    let resp = call(state, workspace_id, user_id, request(model, turns, true)).await?;
    if !resp.status().is_success() {
        let body = actix_web::body::to_bytes(resp.into_body())
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return Err(error_of(&v, model, viewer));
    }
    let st = StreamState {
        source: source_of(&resp),
        body: Some(resp.into_body()),
        parser: SseParser::new(),
        queue: VecDeque::new(),
        done: false,
        model: Arc::from(model),
        viewer,
    };
    let out = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(p) = st.queue.pop_front() {
                return Some((p, st));
            }
            if st.done {
                return None;
            }
            let body = st.body.as_mut()?;
            match futures_util::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)).await {
                Some(Ok(chunk)) => st.take(&chunk),
                _ => {
                    st.body = None;
                    if !st.done {
                        st.queue.push_back(Piece::Failed(ChatError {
                            code: "upstream_error".into(),
                            message: "The answer broke off before it was complete. Try again."
                                .into(),
                        }));
                        st.done = true;
                    }
                }
            }
        }
    });
    Ok(Box::pin(out))
}

struct StreamState {
    source: String,
    body: Option<actix_web::body::BoxBody>,
    parser: SseParser,
    queue: VecDeque<Piece>,
    done: bool,
    model: Arc<str>,
    viewer: Viewer,
}

impl StreamState {
    /// Turns OpenAI-format chunks into pieces.
    fn take(&mut self, chunk: &[u8]) {
        for ev in self.parser.feed(chunk) {
            if self.done {
                return;
            }
            if ev.data.trim() == "[DONE]" {
                self.queue.push_back(Piece::Done {
                    source: self.source.clone(),
                });
                self.done = true;
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                continue;
            };
            if v.get("error").is_some() {
                self.queue
                    .push_back(Piece::Failed(error_of(&v, &self.model, self.viewer)));
                self.done = true;
            } else if let Some(t) = v
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                && !t.is_empty()
            {
                self.queue.push_back(Piece::Text(t.to_owned()));
            }
        }
    }
}

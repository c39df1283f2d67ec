//! The chat page's use of the gateway: the same path as the API (resolution, failover,
//! usage, allowance), with the member as the caller and answers reduced to text.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use super::cache::current_epoch;
use super::errors::{Format, GatewayError};
use super::respond::Answered;
use super::translate::SseParser;
use super::{CallContext, Caller, Gateway, respond};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::providers;
use crate::domain::resolution::Viewer;
use crate::services::Ctx;

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

/// A failed call in words for `viewer`: why no key could answer says what this reader can
/// do about it (owner: add or replace a key, if BYOK allows; member: ask an owner); other
/// failures keep the gateway's sentence.
fn for_viewer(e: GatewayError, model: &str, viewer: Viewer) -> ChatError {
    let name = providers::for_model(model).map_or("this provider", |(p, _)| p.name);
    ChatError {
        code: e.code.as_str().into(),
        message: e.cause.map_or(e.message, |c| c.message(name, viewer)),
    }
}

/// An `error` event inside a stream, in words.
fn error_of(v: &Value) -> ChatError {
    ChatError {
        code: v
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_owned(),
        message: v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("The provider could not answer.")
            .to_owned(),
    }
}

async fn call(
    state: &Ctx,
    gw: &Arc<Gateway>,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
    model: &str,
    body: Bytes,
    viewer: Viewer,
) -> Result<Answered, ChatError> {
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
    let prepared =
        respond::prepare(Format::OpenAi, &body).map_err(|e| for_viewer(e, model, viewer))?;
    let ctx = CallContext {
        workspace_id: workspace_id.to_owned(),
        caller: Caller::User {
            user_id: user_id.to_owned(),
        },
    };
    respond::call(state, gw, ctx, allowance, epoch, prepared, Format::OpenAi)
        .await
        .map_err(|e| for_viewer(e, model, viewer))
}

/// The text of a whole OpenAI-format answer.
fn text_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Asks `model` for the next answer of the conversation.
pub async fn complete(
    state: &Ctx,
    gw: &Arc<Gateway>,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
    model: &str,
    turns: &[Turn],
    viewer: Viewer,
) -> Result<Reply, ChatError> {
    let body = request(model, turns, false);
    match call(state, gw, workspace_id, user_id, model, body, viewer).await? {
        Answered::Whole { body, source, .. } => Ok(Reply {
            text: text_of(&body),
            source: source.as_str().to_owned(),
        }),
        Answered::Streamed { .. } => Err(ChatError {
            code: "upstream_error".into(),
            message: "The provider streamed an answer that was asked for whole. Try again.".into(),
        }),
    }
}

/// A streamed answer: text pieces as they come, then the outcome.
pub enum Piece {
    Text(String),
    Done { source: String },
    Failed(ChatError),
}

/// Streams the next answer as [`Piece`]s.
pub async fn stream(
    state: &Ctx,
    gw: &Arc<Gateway>,
    workspace_id: &WorkspaceId,
    user_id: &UserId,
    model: &str,
    turns: &[Turn],
    viewer: Viewer,
) -> Result<Pin<Box<dyn Stream<Item = Piece>>>, ChatError> {
    let body = request(model, turns, true);
    let (source, events) = match call(state, gw, workspace_id, user_id, model, body, viewer).await?
    {
        Answered::Streamed { source, events } => (source, events),
        Answered::Whole { body, source, .. } => {
            // A provider that answered whole: one piece, then done.
            let source = source.as_str().to_owned();
            let pieces = vec![Piece::Text(text_of(&body)), Piece::Done { source }];
            return Ok(Box::pin(futures_util::stream::iter(pieces)));
        }
    };
    let st = StreamState {
        source: source.as_str().to_owned(),
        body: Some(events),
        parser: SseParser::new(),
        queue: VecDeque::new(),
        done: false,
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
            match body.next().await {
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
    body: Option<respond::Events>,
    parser: SseParser,
    queue: VecDeque<Piece>,
    done: bool,
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
                self.queue.push_back(Piece::Failed(error_of(&v)));
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

//! A fake AWS Bedrock on loopback that verifies every request's SigV4 signature the way AWS
//! does: recomputed from the request as received and the known secret (`sigv4_verify`, an
//! implementation independent of the `aws-sigv4` signer), never trusted from the header.
//!
//! Routes, under [`BedrockMock::base_url`] (one host for runtime and control plane):
//! - `POST /model/{modelId}/converse`: a Converse JSON answer;
//! - `POST /model/{modelId}/converse-stream`: ConverseStream as real event-stream frames
//!   (`application/vnd.amazon.eventstream`, encoded with `aws-smithy-eventstream`);
//! - `GET /foundation-models`: ListFoundationModels.
//!
//! A bad signature or an unknown key gets AWS's `403` (`x-amzn-ErrorType` and
//! `{"message"}`). The answer is `"mock answer to: <last user text>"`, token counts are
//! word counts. A user text containing `THROTTLE` makes the stream end in a
//! `throttlingException` frame after its first delta.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::{Value, json};

use super::loopback_http::{self, Request, Response, Server};
use super::sigv4_verify::{self, Known, WireRequest};

/// The model ListFoundationModels lists.
pub const MODELS: &[&str] = &[
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "amazon.nova-micro-v1:0",
];

/// One request the mock received and accepted or refused.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The model id from the path, percent-decoded.
    pub model_id: Option<String>,
    /// The access key id of the credential scope.
    pub access_key_id: Option<String>,
    /// `None` when the signature verified, else AWS's error type.
    pub refused: Option<&'static str>,
    pub body: Value,
}

#[derive(Clone)]
struct Credential {
    secret: String,
    session_token: Option<String>,
}

struct State {
    region: String,
    credentials: Mutex<HashMap<String, Credential>>,
    requests: Mutex<Vec<Recorded>>,
}

/// A handle to a running Bedrock mock.
#[derive(Clone)]
pub struct BedrockMock {
    server: Arc<Server>,
    state: Arc<State>,
}

impl BedrockMock {
    /// Serves region `region` on `127.0.0.1:0`, knowing no keys yet.
    pub async fn start(region: &str) -> BedrockMock {
        let state = Arc::new(State {
            region: region.to_owned(),
            credentials: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
        });
        let handler_state = state.clone();
        let server = loopback_http::serve(Arc::new(move |req| handle(&handler_state, req))).await;
        BedrockMock {
            server: Arc::new(server),
            state,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// Accepts requests signed with this key (and session token, when given).
    pub fn add_key(&self, access_key_id: &str, secret: &str, session_token: Option<&str>) {
        self.state.credentials.lock().expect("lock").insert(
            access_key_id.to_owned(),
            Credential {
                secret: secret.to_owned(),
                session_token: session_token.map(str::to_owned),
            },
        );
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    Response::json(status, &json!({ "message": message })).with_header("x-amzn-ErrorType", kind)
}

/// The access key id of `Authorization`'s credential scope.
fn key_id_of(req: &Request) -> Option<String> {
    let auth = req.header("authorization")?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

fn handle(state: &State, req: Request) -> Response {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let model_id = match segments[..] {
        ["model", id, _] => Some(loopback_http::percent_decode(id)),
        _ => None,
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let access_key_id = key_id_of(&req);
    let known = access_key_id
        .as_deref()
        .and_then(|id| state.credentials.lock().expect("lock").get(id).cloned());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let verdict = match &known {
        None if req.header("authorization").is_none() => Err(sigv4_verify::Refusal {
            kind: "MissingAuthenticationTokenException",
            message: "Missing Authentication Token".into(),
        }),
        None => Err(sigv4_verify::Refusal {
            kind: "UnrecognizedClientException",
            message: "The security token included in the request is invalid.".into(),
        }),
        Some(credential) => sigv4_verify::verify(
            &WireRequest {
                method: &req.method,
                path: &req.path,
                query: &req.query,
                headers: &req.headers,
                body: &req.body,
            },
            &Known {
                access_key_id: access_key_id.as_deref().unwrap_or_default(),
                secret_access_key: &credential.secret,
                session_token: credential.session_token.as_deref(),
                region: &state.region,
                service: "bedrock",
            },
            now,
        ),
    };
    state.requests.lock().expect("lock").push(Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        model_id: model_id.clone(),
        access_key_id,
        refused: verdict.as_ref().err().map(|r| r.kind),
        body: body.clone(),
    });
    if let Err(refusal) = verdict {
        return error(403, refusal.kind, &refusal.message);
    }

    match (req.method.as_str(), &segments[..]) {
        ("GET", ["foundation-models"]) => Response::json(
            200,
            &json!({"modelSummaries": MODELS.iter().map(|id| json!({
                "modelId": id,
                "modelArn": format!("arn:aws:bedrock:{}::foundation-model/{id}", state.region),
                "inputModalities": ["TEXT"],
                "outputModalities": ["TEXT"],
                "responseStreamingSupported": true,
            })).collect::<Vec<_>>()}),
        ),
        ("POST", ["model", _, action @ ("converse" | "converse-stream")]) => {
            if !body["messages"].is_array() {
                return error(400, "ValidationException", "messages: required");
            }
            if !MODELS.contains(&model_id.as_deref().unwrap_or_default()) {
                return error(404, "ResourceNotFoundException", "Model not found");
            }
            let (text, input, output) = loopback_http::answer(&body["messages"]);
            if *action == "converse" {
                converse(&text, input, output)
            } else {
                converse_stream(&text, input, output)
            }
        }
        _ => error(404, "UnknownOperationException", "Unknown operation"),
    }
}

fn usage(input: u64, output: u64) -> Value {
    json!({"inputTokens": input, "outputTokens": output, "totalTokens": input + output})
}

fn converse(text: &str, input: u64, output: u64) -> Response {
    Response::json(
        200,
        &json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": usage(input, output),
            "metrics": {"latencyMs": 1},
        }),
    )
}

/// One event-stream frame, encoded by AWS's own framing crate.
fn frame(headers: &[(&str, &str)], payload: &Value) -> Vec<u8> {
    let mut message = Message::new(payload.to_string().into_bytes());
    for (name, value) in headers {
        message = message.add_header(Header::new(
            (*name).to_owned(),
            HeaderValue::String((*value).to_owned().into()),
        ));
    }
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).expect("encodable frame");
    out
}

fn event(event_type: &str, payload: Value) -> Vec<u8> {
    frame(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        &payload,
    )
}

fn converse_stream(text: &str, input: u64, output: u64) -> Response {
    let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
    for piece in text.split_inclusive(' ') {
        frames.push(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": piece}, "p": "abcdef"}),
        ));
        if text.contains("THROTTLE") {
            frames.push(frame(
                &[
                    (":message-type", "exception"),
                    (":exception-type", "throttlingException"),
                    (":content-type", "application/json"),
                ],
                &json!({"message": "Too many requests, please wait before trying again."}),
            ));
            return Response::chunked("application/vnd.amazon.eventstream", frames);
        }
    }
    frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
    frames.push(event("messageStop", json!({"stopReason": "end_turn"})));
    frames.push(event(
        "metadata",
        json!({"usage": usage(input, output), "metrics": {"latencyMs": 1}}),
    ));
    // Split the frames across chunk boundaries, as a real network might.
    let bytes: Vec<u8> = frames.concat();
    let chunks = bytes.chunks(37).map(<[u8]>::to_vec).collect();
    Response::chunked("application/vnd.amazon.eventstream", chunks)
}

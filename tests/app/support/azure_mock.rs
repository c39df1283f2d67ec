//! A fake Azure OpenAI resource on loopback: it checks the `api-key` header, the
//! deployment in the path and the `api-version` query parameter, as Azure does.
//!
//! Routes, under [`AzureMock::endpoint`]:
//! - `POST /openai/deployments/{deployment}/chat/completions?api-version=...`: an OpenAI
//!   chat completion, or its SSE stream with `"stream": true`;
//! - `GET /openai/models?api-version=...`: a data-plane read (what key validation uses).
//!
//! A wrong or missing key gets Azure's `401`; an unknown deployment `404
//! DeploymentNotFound`; a missing or unsupported API version `404 Resource not found`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::loopback_http::{self, Request, Response, Server};

/// The API versions the mock serves (Keyhold's default is the first).
pub const API_VERSIONS: &[&str] = &["2024-10-21", "2025-01-01-preview"];

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub deployment: Option<String>,
    pub api_version: Option<String>,
    pub api_key: Option<String>,
    pub body: Value,
}

struct State {
    api_key: String,
    deployments: Vec<String>,
    requests: Mutex<Vec<Recorded>>,
}

/// A handle to a running Azure mock.
#[derive(Clone)]
pub struct AzureMock {
    server: Arc<Server>,
    state: Arc<State>,
}

impl AzureMock {
    /// Serves a resource with this key and these deployments on `127.0.0.1:0`.
    pub async fn start(api_key: &str, deployments: &[&str]) -> AzureMock {
        let state = Arc::new(State {
            api_key: api_key.to_owned(),
            deployments: deployments.iter().map(|d| (*d).to_owned()).collect(),
            requests: Mutex::new(Vec::new()),
        });
        let handler_state = state.clone();
        let server = loopback_http::serve(Arc::new(move |req| handle(&handler_state, req))).await;
        AzureMock {
            server: Arc::new(server),
            state,
        }
    }

    /// `http://127.0.0.1:<port>`: the resource endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }
}

fn azure_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn handle(state: &State, req: Request) -> Response {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let deployment = match segments[..] {
        ["openai", "deployments", d, "chat", "completions"] => {
            Some(loopback_http::percent_decode(d))
        }
        _ => None,
    };
    let api_version = req
        .query_param("api-version")
        .map(loopback_http::percent_decode);
    let api_key = req.header("api-key").map(str::to_owned);
    state.requests.lock().expect("lock").push(Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        deployment: deployment.clone(),
        api_version: api_version.clone(),
        api_key: api_key.clone(),
        body: body.clone(),
    });

    if api_key.as_deref() != Some(state.api_key.as_str()) {
        return azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        );
    }
    if !api_version
        .as_deref()
        .is_some_and(|v| API_VERSIONS.contains(&v))
    {
        return azure_error(404, "404", "Resource not found");
    }
    match (req.method.as_str(), &segments[..], deployment) {
        ("GET", ["openai", "models"], _) => Response::json(
            200,
            &json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}),
        ),
        ("POST", _, Some(deployment)) => {
            if !state.deployments.contains(&deployment) {
                return azure_error(
                    404,
                    "DeploymentNotFound",
                    "The API deployment for this resource does not exist.",
                );
            }
            chat(&deployment, &body)
        }
        _ => azure_error(404, "404", "Resource not found"),
    }
}

fn chat(deployment: &str, body: &Value) -> Response {
    let (text, input, output) = loopback_http::answer(&body["messages"]);
    let usage = json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output});
    if body["stream"] != true {
        return Response::json(
            200,
            &json!({
                "id": "chatcmpl-azure-mock",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": deployment,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }
    let chunk = |choices: Value, usage: Value| {
        let c = json!({"id": "chatcmpl-azure-mock", "object": "chat.completion.chunk",
            "created": 1_700_000_000, "model": deployment, "choices": choices, "usage": usage});
        format!("data: {c}\n\n").into_bytes()
    };
    let mut events = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        Value::Null,
    )];
    for piece in text.split_inclusive(' ') {
        events.push(chunk(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
            Value::Null,
        ));
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        Value::Null,
    ));
    if body["stream_options"]["include_usage"] == true {
        events.push(chunk(json!([]), usage));
    }
    events.push(b"data: [DONE]\n\n".to_vec());
    Response::chunked("text/event-stream", events)
}

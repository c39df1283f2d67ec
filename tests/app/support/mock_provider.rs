//! A fake AI provider on loopback, answering both the OpenAI and the Anthropic
//! API shapes, recording the key each request carried, with scripted failures.
//!
//! Routes, under [`MockProvider::base_url`] (`http://127.0.0.1:<port>/v1`):
//! - `GET /v1/models`: the OpenAI model list, or Anthropic's when the request
//!   carries `x-api-key` or `anthropic-version`;
//! - `POST /v1/chat/completions`: an OpenAI chat completion, or with
//!   `"stream": true` its SSE stream (`data: {chunk}` ... `data: [DONE]`);
//! - `POST /v1/messages`: an Anthropic message, or with `"stream": true` its
//!   SSE event sequence (`event: message_start` ... `event: message_stop`).
//!
//! The answer is always `"mock answer to: <text of the last user message>"`,
//! and token counts are whitespace-separated word counts, so everything is
//! deterministic. Requests without a key get `401`; a `/v1/messages` request
//! without `anthropic-version`, or without `max_tokens`, gets `400` like the
//! real API.
//!
//! It is a small HTTP/1.1 server written directly on tokio (keep-alive,
//! `Content-Length` or chunked request bodies, chunked SSE responses) rather
//! than on actix-web: that gives byte-level control for [`Behavior::CutStream`],
//! and it runs entirely on the test's runtime, so it stops with it instead of
//! leaving actix's accept and worker threads behind.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Models listed by `GET /v1/models` for OpenAI-shaped requests.
pub const OPENAI_MODELS: &[&str] = &["gpt-4o-mini", "gpt-4o"];
/// Models listed by `GET /v1/models` for Anthropic-shaped requests.
pub const ANTHROPIC_MODELS: &[&str] = &["claude-3-5-haiku-latest", "claude-sonnet-4-20250514"];

/// The `created` timestamp in OpenAI responses (fixed, for determinism).
const CREATED: u64 = 1_700_000_000;
/// The largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How the mock answers a request, chosen per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// A normal answer.
    Ok,
    /// This status with the provider's error JSON: 401 invalid key; 429 rate
    /// limit (OpenAI code `insufficient_quota` when the key contains "quota",
    /// else `rate_limit_exceeded`); 500 server error; others a generic error.
    Status(u16),
    /// Never answers; the connection is closed once the client gives up.
    Hang,
    /// Waits this long before sending anything, then answers normally.
    SlowFirstByte(Duration),
    /// Streaming answers send the first two content chunks, then drop the
    /// connection without finishing the stream. Other answers send their
    /// headers with the full `Content-Length` but only half the body, then close.
    CutStream,
    /// This status and this body, verbatim (`application/json`), whatever was asked: a
    /// provider that misbehaves on purpose.
    Answer { status: u16, body: String },
    /// A `200` event stream of exactly these events (each framed by the test).
    Events(Vec<String>),
    /// Streaming answers send their first two content chunks, then repeat the last one every
    /// 50 ms, never sending usage or the end, until the client goes away.
    StallStream,
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query string and the provider's base path, as under `/v1`, e.g.
    /// `/v1/chat/completions`.
    pub path: String,
    /// The provider's base path the request came under, e.g. `/v1beta/openai` (Gemini's).
    pub base: &'static str,
    /// The key from `x-api-key`, or else from `Authorization: Bearer`.
    pub key: Option<String>,
    /// `"x-api-key"`, `"bearer"` or `"none"`.
    pub auth_style: &'static str,
    /// The `anthropic-version` header.
    pub anthropic_version: Option<String>,
    /// The JSON body; `Null` when empty, a JSON string when not valid JSON.
    pub body: Value,
}

/// State shared between the handles and the server tasks.
struct Shared {
    behaviors: Mutex<HashMap<String, Behavior>>,
    default_behavior: Mutex<Behavior>,
    requests: Mutex<Vec<Recorded>>,
    /// Numbers the ids of answers (`chatcmpl-mock-1`, `msg_mock2`, ...).
    next_id: AtomicU64,
    /// Whether the API is also served at the root (Perplexity's base has no path).
    root_served: std::sync::atomic::AtomicBool,
}

/// Aborts the accept loop once the last [`MockProvider`] handle is dropped.
struct AcceptLoop(AbortHandle);

impl Drop for AcceptLoop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handle to a running mock provider. Clones share the same server.
#[derive(Clone)]
pub struct MockProvider {
    port: u16,
    shared: Arc<Shared>,
    _accept_loop: Arc<AcceptLoop>,
}

impl MockProvider {
    /// Binds `127.0.0.1:0` and serves on a task of the current tokio runtime.
    pub async fn start() -> MockProvider {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the mock provider on loopback");
        let port = listener.local_addr().expect("mock provider address").port();
        let shared = Arc::new(Shared {
            behaviors: Mutex::new(HashMap::new()),
            default_behavior: Mutex::new(Behavior::Ok),
            requests: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            root_served: std::sync::atomic::AtomicBool::new(true),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        MockProvider {
            port,
            shared,
            _accept_loop: Arc::new(AcceptLoop(task.abort_handle())),
        }
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The port the mock listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops serving the API at the root path, so only versioned bases answer (a provider
    /// configured without its version path then gets a 404, as upstream).
    pub fn serve_root(&self, on: bool) {
        self.shared.root_served.store(on, Ordering::SeqCst);
    }

    /// How requests carrying `key` are answered from now on.
    pub fn set_behavior(&self, key: &str, behavior: Behavior) {
        self.shared
            .behaviors
            .lock()
            .expect("mock lock")
            .insert(key.to_string(), behavior);
    }

    /// How requests whose key has no behavior of its own are answered
    /// (initially [`Behavior::Ok`]).
    pub fn set_default_behavior(&self, behavior: Behavior) {
        *self.shared.default_behavior.lock().expect("mock lock") = behavior;
    }

    /// Forgets the per-key behaviors and sets the default back to [`Behavior::Ok`].
    pub fn reset_behaviors(&self) {
        self.shared.behaviors.lock().expect("mock lock").clear();
        self.set_default_behavior(Behavior::Ok);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("mock lock").clone()
    }

    /// The key of every request that carried one, in order (with repeats).
    pub fn keys_seen(&self) -> Vec<String> {
        self.requests().into_iter().filter_map(|r| r.key).collect()
    }

    /// Forgets the recorded requests (behaviors are kept).
    pub fn clear(&self) {
        self.shared.requests.lock().expect("mock lock").clear();
    }
}

impl Shared {
    /// The behavior set for `key`, or else the default one.
    fn behavior_for(&self, key: &str) -> Behavior {
        let behaviors = self.behaviors.lock().expect("mock lock");
        match behaviors.get(key) {
            Some(behavior) => behavior.clone(),
            None => self.default_behavior.lock().expect("mock lock").clone(),
        }
    }
}

/// Accepts connections forever, serving each on its own task.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            // A client that goes away mid-request is not an error worth reporting.
            let _ = serve(socket, shared).await;
        });
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 plumbing
// ---------------------------------------------------------------------------

/// A parsed HTTP request.
struct Request {
    method: String,
    path: String,
    /// Header names are lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves the requests of one connection (keep-alive) until it closes.
async fn serve(socket: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let (reader, mut writer) = socket.into_split();
    let mut reader = BufReader::new(reader);
    while let Some(request) = read_request(&mut reader, &mut writer).await? {
        let keep_alive = !request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (delay, reply) = respond(&shared, &request);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match reply {
            Reply::Json { status, body } => {
                let body = body.to_string();
                let mut head = head(status, "application/json", keep_alive);
                head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(body.as_bytes()).await?;
            }
            Reply::Truncated { status, body } => {
                let body = body.to_string();
                let mut head = head(status, "application/json", false);
                head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(&body.as_bytes()[..body.len() / 2]).await?;
                writer.flush().await?;
                return Ok(()); // dropping the socket closes it mid-body
            }
            Reply::Stream { sse, cut, stall } => {
                let mut head = head(200, "text/event-stream", keep_alive);
                head.push_str("cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n");
                writer.write_all(head.as_bytes()).await?;
                let count = if cut || stall {
                    sse.cut_after
                } else {
                    sse.events.len()
                };
                for event in sse.events.iter().take(count) {
                    write_chunk(&mut writer, event.as_bytes()).await?;
                }
                if cut {
                    return Ok(()); // no last chunk: the client sees a broken stream
                }
                if stall {
                    // The last content event again and again, never the end, until the
                    // client gives up and the write fails.
                    let again = sse.events[..count].last().cloned().unwrap_or_default();
                    loop {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if write_chunk(&mut writer, again.as_bytes()).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                writer.write_all(b"0\r\n\r\n").await?;
            }
            Reply::Raw { status, body } => {
                let mut head = head(status, "application/json", keep_alive);
                head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(body.as_bytes()).await?;
            }
            Reply::Hang => {
                // Answer nothing; wait for the client to give up and close.
                let mut sink = [0u8; 1024];
                while reader.read(&mut sink).await? > 0 {}
                return Ok(());
            }
        }
        writer.flush().await?;
        if !keep_alive {
            return writer.shutdown().await;
        }
    }
    Ok(())
}

/// Reads one request; `None` when the connection closes between requests.
async fn read_request<R>(reader: &mut R, writer: &mut OwnedWriteHalf) -> io::Result<Option<Request>>
where
    R: AsyncBufRead + Unpin,
{
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());

    // The request line; empty lines before it are tolerated (RFC 9112 §2.2).
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or_else(|| bad("no method"))?.to_string();
    let target = parts.next().ok_or_else(|| bad("no target"))?;
    let path = target.split('?').next().unwrap_or_default().to_string();

    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(bad("connection closed in headers"));
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').ok_or_else(|| bad("bad header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };

    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }

    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        // Chunks: "<hex size>[;ext]\r\n<data>\r\n", ending with a 0-size
        // chunk and optional trailer lines.
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if request.body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..]).await?;
            line.clear();
            reader.read_line(&mut line).await?; // the CRLF after the data
        }
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(|_| bad("bad content-length"))?;
        if length > MAX_BODY {
            return Err(bad("body too large"));
        }
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body).await?;
    }
    Ok(Some(request))
}

/// The status line and the headers common to every response, without the
/// blank line that ends the head.
fn head(status: u16, content_type: &str, keep_alive: bool) -> String {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\nconnection: {connection}\r\n"
    )
}

/// Writes one chunk of a chunked body and flushes it, so that each SSE event
/// reaches the client on its own.
async fn write_chunk(writer: &mut OwnedWriteHalf, data: &[u8]) -> io::Result<()> {
    writer
        .write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    writer.write_all(data).await?;
    writer.write_all(b"\r\n").await?;
    writer.flush().await
}

// ---------------------------------------------------------------------------
// The provider logic
// ---------------------------------------------------------------------------

/// What to send back.
enum Reply {
    Json {
        status: u16,
        body: Value,
    },
    /// `Content-Length` for the whole body, then only half of it, then close.
    Truncated {
        status: u16,
        body: Value,
    },
    /// `cut`: send only `sse.cut_after` events, then drop the connection; `stall`: send
    /// only those, then wait for the client to leave.
    Stream {
        sse: Sse,
        cut: bool,
        stall: bool,
    },
    /// A body sent verbatim.
    Raw {
        status: u16,
        body: String,
    },
    Hang,
}

/// A server-sent event stream, each event already framed (`...\n\n`).
struct Sse {
    events: Vec<String>,
    /// How many events [`Behavior::CutStream`] lets through.
    cut_after: usize,
}

/// Which provider's API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OpenAi,
    Anthropic,
}

/// The API base paths the mock serves, one per catalogue provider's real default (longest
/// first): a provider configured with the wrong path gets a 404, as it would upstream.
pub const BASE_PATHS: &[&str] = &[
    "/compatible-mode/v1",
    "/v1beta/openai",
    "/inference/v1",
    "/api/paas/v4",
    "/openai/v1",
    "/v3/openai",
    "/api/v1",
    "/v1",
    "",
];

/// `path` under one of [`BASE_PATHS`], as the mock's own `/v1/...` route, with the base
/// (the root only when `root` is served).
fn under_base(path: &str, root: bool) -> Option<(&'static str, String)> {
    BASE_PATHS
        .iter()
        .filter(|b| root || !b.is_empty())
        .find_map(|base| {
            let rest = path.strip_prefix(base)?;
            matches!(rest, "/models" | "/chat/completions" | "/messages")
                .then(|| (*base, format!("/v1{rest}")))
        })
}

/// Records the request and decides the answer, and how long to wait before it.
fn respond(shared: &Shared, request: &Request) -> (Option<Duration>, Reply) {
    let root = shared.root_served.load(Ordering::SeqCst);
    let Some((base, route_path)) = under_base(&request.path, root) else {
        shared.requests.lock().expect("mock lock").push(Recorded {
            method: request.method.clone(),
            path: request.path.clone(),
            base: "",
            key: None,
            auth_style: "none",
            anthropic_version: None,
            body: Value::Null,
        });
        return (
            None,
            error_reply(Shape::OpenAi, 404, "No such path on this mock.", None),
        );
    };
    let routed = Request {
        method: request.method.clone(),
        path: route_path,
        headers: request.headers.clone(),
        body: request.body.clone(),
    };
    let request = &routed;
    let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let x_api_key = request.header("x-api-key").and_then(non_empty);
    let bearer = request
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .and_then(non_empty);
    let (key, auth_style) = match (x_api_key, bearer) {
        (Some(key), _) => (Some(key), "x-api-key"),
        (None, Some(key)) => (Some(key), "bearer"),
        (None, None) => (None, "none"),
    };
    let anthropic_version = request.header("anthropic-version").map(str::to_string);
    let body = if request.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&request.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into()))
    };

    shared.requests.lock().expect("mock lock").push(Recorded {
        method: request.method.clone(),
        path: request.path.clone(),
        base,
        key: key.clone(),
        auth_style,
        anthropic_version: anthropic_version.clone(),
        body: body.clone(),
    });

    let shape = match request.path.as_str() {
        "/v1/messages" => Shape::Anthropic,
        "/v1/chat/completions" => Shape::OpenAi,
        _ if auth_style == "x-api-key" || anthropic_version.is_some() => Shape::Anthropic,
        _ => Shape::OpenAi,
    };

    let Some(key) = key else {
        let message = match shape {
            Shape::OpenAi => "You didn't provide an API key.",
            Shape::Anthropic => "x-api-key header is required",
        };
        return (None, error_reply(shape, 401, message, None));
    };

    let mut delay = None;
    let mut cut = false;
    let mut stall = false;
    match shared.behavior_for(&key) {
        Behavior::Ok => {}
        Behavior::Status(status) => return (None, status_reply(shape, status, &key)),
        Behavior::Hang => return (None, Reply::Hang),
        Behavior::SlowFirstByte(wait) => delay = Some(wait),
        Behavior::CutStream => cut = true,
        Behavior::StallStream => stall = true,
        Behavior::Answer { status, body } => return (None, Reply::Raw { status, body }),
        Behavior::Events(events) => {
            let cut_after = events.len();
            let sse = Sse { events, cut_after };
            return (
                None,
                Reply::Stream {
                    sse,
                    cut: false,
                    stall: false,
                },
            );
        }
    }

    let reply = match route(shared, request, shape, anthropic_version.is_some(), &body) {
        Reply::Json { status, body } if cut => Reply::Truncated { status, body },
        Reply::Stream { sse, .. } => Reply::Stream { sse, cut, stall },
        other => other,
    };
    (delay, reply)
}

/// The normal answer to a well-authenticated request.
fn route(
    shared: &Shared,
    request: &Request,
    shape: Shape,
    has_version: bool,
    body: &Value,
) -> Reply {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let bad_json = !request.body.is_empty() && body.is_string();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/v1/models") => Reply::Json {
            status: 200,
            body: models(shape),
        },
        ("POST", "/v1/chat/completions") => {
            if bad_json || !body.is_object() {
                let message = "We could not parse the JSON body of your request.";
                return error_reply(shape, 400, message, None);
            }
            if body["model"].as_str().is_none() || !body["messages"].is_array() {
                let message = "'model' and 'messages' are required properties";
                return error_reply(shape, 400, message, None);
            }
            openai_chat(body, id)
        }
        ("POST", "/v1/messages") => {
            if !has_version {
                return error_reply(shape, 400, "anthropic-version: header is required", None);
            }
            if bad_json || !body.is_object() {
                return error_reply(shape, 400, "The request body is not valid JSON.", None);
            }
            for field in ["model", "max_tokens", "messages"] {
                if body.get(field).is_none() {
                    let message = format!("{field}: Field required");
                    return error_reply(shape, 400, &message, None);
                }
            }
            anthropic_message(body, id)
        }
        (method, path) => {
            let message = format!("Unknown request URL: {method} {path}");
            error_reply(shape, 404, &message, Some("unknown_url"))
        }
    }
}

/// The model list in the shape's format.
fn models(shape: Shape) -> Value {
    match shape {
        Shape::OpenAi => json!({
            "object": "list",
            "data": OPENAI_MODELS
                .iter()
                .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mock"}))
                .collect::<Vec<_>>(),
        }),
        Shape::Anthropic => json!({
            "data": [
                {
                    "type": "model",
                    "id": ANTHROPIC_MODELS[0],
                    "display_name": "Claude Haiku 3.5",
                    "created_at": "2024-10-22T00:00:00Z",
                },
                {
                    "type": "model",
                    "id": ANTHROPIC_MODELS[1],
                    "display_name": "Claude Sonnet 4",
                    "created_at": "2025-05-14T00:00:00Z",
                },
            ],
            "has_more": false,
            "first_id": ANTHROPIC_MODELS[0],
            "last_id": ANTHROPIC_MODELS[ANTHROPIC_MODELS.len() - 1],
        }),
    }
}

/// The answer for `Behavior::Status(status)`.
fn status_reply(shape: Shape, status: u16, key: &str) -> Reply {
    match (shape, status) {
        (Shape::OpenAi, 401) => error_reply(
            shape,
            401,
            "Incorrect API key provided",
            Some("invalid_api_key"),
        ),
        (Shape::OpenAi, 429) if key.contains("quota") => Reply::Json {
            status,
            body: json!({"error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota",
                "param": null,
                "code": "insufficient_quota",
            }}),
        },
        (Shape::OpenAi, 429) => Reply::Json {
            status,
            body: json!({"error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "param": null,
                "code": "rate_limit_exceeded",
            }}),
        },
        (Shape::OpenAi, 500) => error_reply(
            shape,
            500,
            "The server had an error while processing your request.",
            None,
        ),
        (Shape::Anthropic, 401) => error_reply(shape, 401, "invalid x-api-key", None),
        (Shape::Anthropic, 429) => error_reply(
            shape,
            429,
            "Number of requests has exceeded your rate limit",
            None,
        ),
        (Shape::Anthropic, 500) => error_reply(shape, 500, "Internal server error", None),
        _ => error_reply(shape, status, &format!("mock error {status}"), None),
    }
}

/// An error in the shape's format. OpenAI: `{"error":{message,type,param,code}}`
/// (the type is `server_error` from 500 on, else `invalid_request_error`);
/// Anthropic: `{"type":"error","error":{type,message}}` with the type its API
/// documents for the status.
fn error_reply(shape: Shape, status: u16, message: &str, code: Option<&str>) -> Reply {
    let body = match shape {
        Shape::OpenAi => {
            let kind = if status >= 500 {
                "server_error"
            } else {
                "invalid_request_error"
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Shape::Anthropic => {
            let kind = match status {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                500.. => "api_error",
                _ => "invalid_request_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    };
    Reply::Json { status, body }
}

/// The text of a message's `content`: a string, or the `text` of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `"mock answer to: <last user message>"`, and the prompt's token count
/// (words of every message, and of Anthropic's `system`).
fn answer(body: &Value) -> (String, u64) {
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default();
    let mut prompt = content_text(&body["system"]);
    for message in messages {
        prompt.push(' ');
        prompt.push_str(&content_text(&message["content"]));
    }
    (format!("mock answer to: {last_user}"), tokens(&prompt))
}

/// The mock's token count: the number of words, at least 1.
fn tokens(text: &str) -> u64 {
    text.split_whitespace().count().max(1) as u64
}

/// The answer split into streamed pieces (one word each, spaces kept), so
/// that the pieces concatenated give back the answer. Always at least 3.
fn pieces(answer: &str) -> Vec<&str> {
    answer.split_inclusive(' ').collect()
}

/// `POST /v1/chat/completions`.
fn openai_chat(body: &Value, id: u64) -> Reply {
    let model = body["model"].as_str().unwrap_or_default();
    let id = format!("chatcmpl-mock-{id}");
    let (content, prompt_tokens) = answer(body);
    let completion_tokens = tokens(&content);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });

    if body["stream"] != true {
        return Reply::Json {
            status: 200,
            body: json!({
                "id": id,
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": usage,
            }),
        };
    }

    let chunk = |delta: Value, finish_reason: Value| {
        let chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        format!("data: {chunk}\n\n")
    };
    // Like OpenAI: a first chunk with the role, one per piece of content,
    // one with the finish reason, the usage if asked for, then [DONE].
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in pieces(&content) {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if body["stream_options"]["include_usage"] == true {
        let chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [],
            "usage": usage,
        });
        events.push(format!("data: {chunk}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_string());
    Reply::Stream {
        sse: Sse {
            events,
            // The role chunk and two content chunks.
            cut_after: 3,
        },
        cut: false,
        stall: false,
    }
}

/// `POST /v1/messages`.
fn anthropic_message(body: &Value, id: u64) -> Reply {
    let model = body["model"].as_str().unwrap_or_default();
    let id = format!("msg_mock{id}");
    let (text, input_tokens) = answer(body);
    let output_tokens = tokens(&text);

    if body["stream"] != true {
        return Reply::Json {
            status: 200,
            body: json!({
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            }),
        };
    }

    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    // Anthropic's sequence. message_start reports 0 output tokens; the
    // message_delta carries the (cumulative) final count.
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": 0},
            }}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    for piece in pieces(&text) {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": output_tokens}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    Reply::Stream {
        sse: Sse {
            events,
            // message_start, content_block_start, ping and two deltas.
            cut_after: 5,
        },
        cut: false,
        stall: false,
    }
}

//! The leak canary, end to end (SPEC §5, §11): canary keys `sk-CANARY-<uuid>` — a global key
//! for every catalogue provider, workspace keys for OpenAI and Anthropic, and keys that are
//! typed but never stored (rejected, pasted into the label, lost to an internal error) — go
//! through every journey, API call and failure path of a real `keyhold serve` child process.
//! Then every response (status, headers, body), every mail the SMTP sink received, the whole
//! log output, every CLI output and every database row (all columns but the sealed one) are
//! searched for each canary, raw and encoded (base64, hex, percent-encoding). None may appear.
//!
//! Each canary must also have reached the mock provider: a key that never left Keyhold would
//! prove nothing.
//!
//! The other secrets of the journey are searched the same way, each allowed only where it
//! belongs: the API token (`kh_…`) in the one answer that shows it once; an invitation or
//! reset token in the one mail that carries it, the answers on its link and the form that
//! link leads to; a session cookie in `Set-Cookie` headers only; the passwords people choose
//! or mistype nowhere at all. What is stored is searched too: every row, the raw SQLite file
//! (and WAL), and on PostgreSQL a `pg_dump` of the test database.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use diesel::prelude::*;
use keyhold::db::schema::{outbox, provider_keys};
use keyhold::domain::providers;
use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{MASTER_KEYS, PASSWORD, csrf_in, id_after, path_of};
use crate::process::{MASTER_KEY_V2, Site, create_user, create_workspace, dump_tables};
use crate::support::mock_provider::{Behavior, MockProvider};
use crate::support::smtp_sink::SmtpSink;

/// A fresh canary key.
fn canary() -> String {
    format!("sk-CANARY-{}", uuid::Uuid::new_v4())
}

/// The provider pointed at the [`EchoProvider`] instead of the mock.
const ECHOING: &str = "deepseek";

// ------------------------------------------------------------------ capturing everything

/// One HTTP exchange as captured: what was asked, and everything that came back.
struct Captured {
    /// Where the transcript keeps it (see [`Entry::label`]).
    label: String,
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Captured {
    fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// One response of the transcript.
#[derive(Clone)]
struct Entry {
    /// `response <n>: <method> <path>`: unique, and the name a leak report gives.
    label: String,
    /// Its `Set-Cookie` headers, one a line (the one place a session id may travel).
    cookies: String,
    /// Status, every other header, and the body.
    text: String,
}

/// Sends requests and keeps a transcript of every response (status, every header, body).
#[derive(Clone)]
struct Tape {
    base: String,
    transcript: Arc<Mutex<Vec<Entry>>>,
}

impl Tape {
    fn new(base: &str) -> Tape {
        Tape {
            base: base.to_owned(),
            transcript: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    /// Keeps one response; returns its label.
    fn note(&self, what: &str, cookies: String, text: String) -> String {
        let mut t = self.transcript.lock().expect("tape");
        let label = format!("response {}: {what}", t.len());
        t.push(Entry {
            label: label.clone(),
            cookies,
            text,
        });
        label
    }

    /// Sends `rb`, records the answer under `what`; `None` if no answer came (timeout).
    async fn try_send(&self, what: &str, rb: RequestBuilder) -> Option<Captured> {
        match rb.send().await {
            Ok(r) => {
                let status = r.status();
                let headers = r.headers().clone();
                let body = match r.bytes().await {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => format!("<body broke off: {e}>"),
                };
                let (mut text, mut cookies) = (format!("{status}\n"), String::new());
                for (k, v) in &headers {
                    let line = format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes()));
                    if k == reqwest::header::SET_COOKIE {
                        cookies.push_str(&line);
                    } else {
                        text.push_str(&line);
                    }
                }
                text.push('\n');
                text.push_str(&body);
                let label = self.note(what, cookies, text);
                Some(Captured {
                    label,
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => {
                self.note(what, String::new(), format!("<no answer: {e}>"));
                None
            }
        }
    }

    async fn send(&self, what: &str, rb: RequestBuilder) -> Captured {
        self.try_send(what, rb)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"))
    }

    async fn get(&self, c: &Client, path: &str) -> Captured {
        self.send(&format!("GET {path}"), c.get(self.url(path)))
            .await
    }

    /// GET that must answer 200.
    async fn page(&self, c: &Client, path: &str) -> Captured {
        let r = self.get(c, path).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
        r
    }

    /// The session's CSRF token (from a signed-in page, else the sign-in page).
    async fn csrf(&self, c: &Client) -> String {
        for page in ["/account", "/login"] {
            let r = self.get(c, page).await;
            if r.status == StatusCode::OK
                && let Some(t) = csrf_in(&r.body)
            {
                return t;
            }
        }
        panic!("no CSRF token for this client");
    }

    /// POSTs a form (CSRF token added) and, on a redirect, GETs the target too (so the flash
    /// message it shows is captured).
    async fn post(&self, c: &Client, path: &str, fields: &[(&str, &str)]) -> Captured {
        let token = self.csrf(c).await;
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        let r = self
            .send(&format!("POST {path}"), c.post(self.url(path)).form(&all))
            .await;
        let to = r.location();
        if r.status == StatusCode::SEE_OTHER && to.starts_with('/') {
            let target = to.split('#').next().unwrap_or_default().to_owned();
            self.get(c, &target).await;
        }
        r
    }

    async fn sign_in(&self, email: &str) -> Client {
        self.sign_in_with(email, PASSWORD).await
    }

    async fn sign_in_with(&self, email: &str, password: &str) -> Client {
        let c = self.browser();
        let r = self
            .post(&c, "/login", &[("email", email), ("password", password)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "sign-in of {email}");
        c
    }

    /// An API call with a workspace token: OpenAI style (Bearer) or Anthropic style
    /// (`x-api-key` and `anthropic-version`).
    async fn api(
        &self,
        token: &str,
        anthropic: bool,
        method: &str,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Option<Captured> {
        let c = Client::builder().timeout(timeout).build().expect("client");
        let mut rb = match method {
            "GET" => c.get(self.url(path)),
            _ => c.post(self.url(path)),
        };
        rb = if anthropic {
            rb.header("x-api-key", token)
                .header("anthropic-version", "2023-06-01")
        } else {
            rb.bearer_auth(token)
        };
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let what = format!(
            "{method} {path} ({})",
            if anthropic { "x-api-key" } else { "bearer" }
        );
        self.try_send(&what, rb).await
    }

    fn entries(&self) -> Vec<Entry> {
        self.transcript.lock().expect("tape").clone()
    }
}

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "Say hi"}]})
}

fn messages_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": "Say hi"}]})
}

// ------------------------------------------------------------------ an echoing provider

/// A provider that repeats the key it was sent, in a response header and in its body (on
/// the key test), in the message of a 400 error (on chat) and in an error event inside a 200
/// stream (on streamed chat): the worst a provider could do.
/// Keyhold must not carry the provider's words about the key any further.
struct EchoProvider {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl EchoProvider {
    fn start() -> EchoProvider {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind echo provider");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = seen2.clone();
                std::thread::spawn(move || {
                    let _ = echo_one(stream, &seen);
                });
            }
        });
        EchoProvider { port, seen }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

fn echo_one(stream: std::net::TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let (mut key, mut length) = (String::new(), 0usize);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => key = value.trim_start_matches("Bearer ").to_owned(),
            "x-api-key" => key = value.to_owned(),
            "content-length" => length = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    seen.lock().expect("echo").push(key.clone());
    let streamed = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("stream").and_then(Value::as_bool))
        .unwrap_or(false);
    if streamed && method == "POST" {
        // A 200 stream that starts well, then carries an error event repeating the key,
        // sent in two writes that cut the key in half.
        let event = format!(
            "data: {}\n\ndata: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                   "model": "deepseek-chat",
                   "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
            json!({"error": {"message": format!("Key {key} was revoked (key {key})"),
                             "type": "invalid_request_error", "param": null, "code": null}})
        );
        let cut = event
            .find(&key)
            .map_or(event.len() / 2, |at| at + key.len() / 2);
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{}",
            &event[..cut]
        )?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(50));
        out.write_all(&event.as_bytes()[cut..])?;
        return out.flush();
    }
    let (status, body) = if method == "GET" && path.ends_with("/models") {
        (
            "200 OK",
            json!({"object": "list", "data": [{"id": "deepseek-chat", "object": "model"}],
                   "note": format!("hello {key}")}),
        )
    } else {
        (
            "400 Bad Request",
            json!({"error": {"message": format!("Model not available for API key {key} (key {key})"),
                             "type": "invalid_request_error", "param": null, "code": null}}),
        )
    };
    let body = body.to_string();
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-echo-key: {key}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

// ------------------------------------------------------------------ finding a canary

/// The forms a secret could take in text: itself, its random part, and its base64 (three
/// alignments, standard and URL-safe alphabets), hex and percent-encoded forms.
fn disguises(secret: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("raw", secret.to_owned())];
    if let Some((_, random)) = secret.split_once("CANARY-") {
        out.push(("random part", random.to_owned()));
        out.push(("random part without dashes", random.replace('-', "")));
    }
    if let Some(random) = secret.strip_prefix("kh_") {
        out.push(("without its prefix", random.to_owned()));
    }
    for (name, engine) in [
        ("base64", &base64::engine::general_purpose::STANDARD),
        ("base64url", &base64::engine::general_purpose::URL_SAFE),
    ] {
        for shift in 0..3 {
            // Encoded after `shift` other bytes, the secret's own characters are the ones
            // between the first and the last 4-character group.
            let text = format!("{}{secret}", "x".repeat(shift));
            let enc = engine.encode(text.as_bytes());
            let stable = &enc[if shift == 0 { 0 } else { 4 }..enc.len() - 4];
            out.push((name, stable.to_owned()));
        }
    }
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    out.push(("hex", hex));
    let pct: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    out.push(("percent-encoded", pct));
    out
}

/// A planted secret, and the only places (corpus sources) where it may legitimately appear.
struct Secret {
    what: String,
    value: String,
    may_appear_in: Vec<String>,
}

impl Secret {
    /// A secret that may appear nowhere.
    fn nowhere(what: impl Into<String>, value: impl Into<String>) -> Secret {
        Secret {
            what: what.into(),
            value: value.into(),
            may_appear_in: Vec::new(),
        }
    }

    fn allowed_in(mut self, sources: impl IntoIterator<Item = String>) -> Secret {
        self.may_appear_in.extend(sources);
        self
    }
}

/// Every place (source, disguise, context) where one of `secrets` appears in `corpus`,
/// outside the places where that secret may appear.
fn find_leaks(secrets: &[Secret], corpus: &[(String, String)]) -> Vec<String> {
    let needles: Vec<Vec<(&str, String)>> = secrets
        .iter()
        .map(|s| {
            disguises(&s.value)
                .into_iter()
                .map(|(form, n)| {
                    // Case matters for base64; the rest is searched case-insensitively.
                    if form.starts_with("base64") {
                        (form, n)
                    } else {
                        (form, n.to_lowercase())
                    }
                })
                .collect()
        })
        .collect();
    let mut found = Vec::new();
    for (source, text) in corpus {
        let lower = text.to_lowercase();
        for (secret, needles) in secrets.iter().zip(&needles) {
            if secret.may_appear_in.contains(source) {
                continue;
            }
            for (form, needle) in needles {
                let hay = if form.starts_with("base64") {
                    text.as_str()
                } else {
                    lower.as_str()
                };
                if let Some(i) = memchr::memmem::find(hay.as_bytes(), needle.as_bytes()) {
                    let from = hay.floor_char_boundary(i.saturating_sub(120));
                    let to = hay.ceil_char_boundary((i + needle.len() + 120).min(hay.len()));
                    found.push(format!(
                        "{} ({form}) in {source}: …{}…",
                        secret.what,
                        &hay[from..to]
                    ));
                }
            }
        }
    }
    found
}

/// The sources of `corpus` that hold `value` as it is.
fn sightings(value: &str, corpus: &[(String, String)]) -> Vec<String> {
    corpus
        .iter()
        .filter(|(_, text)| memchr::memmem::find(text.as_bytes(), value.as_bytes()).is_some())
        .map(|(source, _)| source.clone())
        .collect()
}

// ------------------------------------------------------------------ the journey

struct Keys {
    /// Global key of every catalogue provider.
    global: BTreeMap<&'static str, String>,
    ws_openai_primary: String,
    ws_openai_backup: String,
    ws_openai_backup_new: String,
    ws_openai_flaky: String,
    ws_anthropic: String,
    /// Typed, never stored.
    rejected_global: String,
    rejected_ws: String,
    label_pasted: String,
    lost_to_error: String,
    lost_to_error_global: String,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            global: providers::catalogue()
                .iter()
                .filter(|p| !p.auth.host_per_key())
                .map(|p| (p.id, canary()))
                .collect(),
            ws_openai_primary: canary(),
            ws_openai_backup: canary(),
            ws_openai_backup_new: canary(),
            ws_openai_flaky: canary(),
            ws_anthropic: canary(),
            rejected_global: canary(),
            rejected_ws: canary(),
            label_pasted: canary(),
            lost_to_error: canary(),
            lost_to_error_global: canary(),
        }
    }

    fn all(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .global
            .iter()
            .map(|(p, k)| (format!("global {p} key"), k.clone()))
            .collect();
        for (what, k) in [
            ("workspace OpenAI Primary", &self.ws_openai_primary),
            ("workspace OpenAI Backup (replaced)", &self.ws_openai_backup),
            ("workspace OpenAI Backup (new)", &self.ws_openai_backup_new),
            ("workspace OpenAI Flaky (removed)", &self.ws_openai_flaky),
            ("workspace Anthropic Primary", &self.ws_anthropic),
            ("rejected global key", &self.rejected_global),
            ("rejected workspace key", &self.rejected_ws),
            ("key pasted into the label", &self.label_pasted),
            ("key lost to an internal error", &self.lost_to_error),
            (
                "global key lost to an internal error",
                &self.lost_to_error_global,
            ),
        ] {
            v.push((what.to_owned(), k.clone()));
        }
        v
    }
}

/// A fresh canary password (only characters a form sends as they are).
fn password_canary() -> String {
    format!("pw-CANARY-{}", uuid::Uuid::new_v4())
}

/// The passwords people choose or mistype in the journey. They may appear nowhere: not in
/// any response, log line, mail, audit row or the database (which keeps argon2 hashes).
struct Passwords {
    invited: String,
    invited_typo: String,
    reset: String,
    reset_typo: String,
    wrong_current: String,
    changed: String,
}

impl Passwords {
    fn new() -> Passwords {
        Passwords {
            invited: password_canary(),
            invited_typo: password_canary(),
            reset: password_canary(),
            reset_typo: password_canary(),
            wrong_current: password_canary(),
            changed: password_canary(),
        }
    }

    fn all(&self) -> Vec<Secret> {
        [
            ("the seeded users' password", PASSWORD),
            ("the invited person's password", &self.invited),
            (
                "the invited person's mistyped confirmation",
                &self.invited_typo,
            ),
            ("the password chosen on the reset page", &self.reset),
            ("the mistyped reset confirmation", &self.reset_typo),
            ("a wrong current password", &self.wrong_current),
            ("the password changed on /account", &self.changed),
        ]
        .into_iter()
        .map(|(what, value)| Secret::nowhere(what, value))
        .collect()
    }
}

/// A one-time link (invitation, password reset) as mailed. Its token may appear in the one
/// mail that carries it, in the answers to requests on the link itself, and in `pages` (the
/// answers to the form it leads to, which carries the token back); nowhere else.
struct OneTimeLink {
    what: &'static str,
    token: String,
    to: String,
    pages: Vec<String>,
}

impl OneTimeLink {
    /// `path` is `/invite/<token>` or `/password/reset?token=<token>`.
    fn new(what: &'static str, path: &str, to: &str) -> OneTimeLink {
        let token = path
            .rsplit(['/', '='])
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(token.len() >= 40, "{what}: a 256-bit token in {path}");
        OneTimeLink {
            what,
            token,
            to: to.to_owned(),
            pages: Vec::new(),
        }
    }
}

/// Renames a table (to make every request that needs it fail, then to bring it back).
fn rename_table(site: &Site, from: &str, to: &str) {
    diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
        .execute(&mut site.conn())
        .unwrap_or_else(|e| panic!("rename {from} to {to}: {e}"));
}

fn cli_text(args: &[&str], out: &std::process::Output) -> String {
    format!(
        "$ keyhold {}\nexit: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn canary_keys_never_leak_anywhere() {
    // The detector itself: every disguise of a planted secret is found.
    let probe = canary();
    for (form, needle) in disguises(&probe) {
        let hits = find_leaks(
            &[Secret::nowhere("probe", &probe)],
            &[("sample".into(), format!("abc {needle} def"))],
        );
        assert!(!hits.is_empty(), "the {form} form was not found");
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("Basic:{probe}"));
    assert!(!find_leaks(&[Secret::nowhere("p", &probe)], &[("s".into(), b64)]).is_empty());
    // ... and a place where a secret may appear is the only one passed over.
    let corpus = [
        ("page".to_owned(), format!("<code>{probe}</code>")),
        ("log".to_owned(), format!("token={probe}")),
    ];
    let hits = find_leaks(
        &[Secret::nowhere("p", &probe).allowed_in(["page".to_owned()])],
        &corpus,
    );
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h.contains(" in log: ")),
        "{hits:?}"
    );

    let keys = Keys::new();
    let smtp = SmtpSink::start().await;
    let mock = MockProvider::start().await;
    let echo = EchoProvider::start();
    let mut site = Site::new();
    site.set_all_providers(&mock.base_url());
    site.set(&keyhold::config::provider_var(ECHOING), echo.base_url());
    site.set("KEYHOLD_SMTP_URL", smtp.url());
    site.set("RUST_LOG", "debug");
    // The running server also knows v2, so rotating to it later needs no restart.
    site.set(
        "KEYHOLD_MASTER_KEYS",
        format!("{MASTER_KEYS},{MASTER_KEY_V2}"),
    );
    let mut cli_outputs = Vec::new();
    let mut run = |site: &Site, args: &[&str], extra: &[(&str, &str)]| {
        let out = site.cli(args, extra);
        cli_outputs.push(cli_text(args, &out));
        out
    };

    let out = run(&site, &["migrate"], &[]);
    assert!(out.status.success(), "{}", cli_text(&["migrate"], &out));
    let (admin_email, owner_email, co_owner_email, member_email) = (
        "admin@example.test",
        "owner@example.test",
        "co-owner@example.test",
        "member@example.test",
    );
    let forgetful_email = "forgetful@example.test";
    let (ws_id, slug) = {
        let mut conn = site.conn();
        create_user(&mut conn, admin_email, true);
        let owner = create_user(&mut conn, owner_email, false);
        let co_owner = create_user(&mut conn, co_owner_email, false);
        let member = create_user(&mut conn, member_email, false);
        let forgetful = create_user(&mut conn, forgetful_email, false);
        create_workspace(
            &mut conn,
            "acme",
            &[
                (&owner, "owner"),
                (&co_owner, "owner"),
                (&member, "member"),
                (&forgetful, "member"),
            ],
        )
    };
    // Secrets other than provider keys, with where each may appear (filled in as they are
    // made), one-time links, and the passwords people type.
    let mut planted: Vec<Secret> = Vec::new();
    let mut links: Vec<OneTimeLink> = Vec::new();
    let pw = Passwords::new();
    // The log in both formats gets the whole journey: text on SQLite, one JSON object a line
    // on PostgreSQL (the suite runs on both), so a secret escaping through either is found.
    let log_format = if site.db.is_postgres() {
        "json"
    } else {
        "text"
    };
    let mut server = site.serve(&[("KEYHOLD_LOG_FORMAT", log_format)]).await;
    let tape = Tape::new(&site.address);
    let keys_page = format!("/w/{slug}/settings/keys");

    // ---- the admin: every provider enabled with a global key, BYOK on.
    let admin = tape.sign_in(admin_email).await;
    tape.page(&admin, "/admin").await;
    tape.page(&admin, "/admin/integrations").await;
    // (Structured credentials — Azure, Bedrock, Vertex, compatible hosts — have their own
    // canary test with their forms.)
    for p in providers::catalogue()
        .iter()
        .filter(|p| !p.auth.host_per_key())
    {
        let path = format!("/admin/integrations/{}", p.id);
        tape.page(&admin, &path).await;
        let r = tape
            .post(
                &admin,
                &path,
                &[
                    ("enabled", "on"),
                    ("byok_enabled", "on"),
                    ("failure_policy", "fail"),
                    ("api_key", &keys.global[p.id]),
                ],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "saving {}: {}",
            p.id,
            r.body
        );
        let r = tape.post(&admin, &format!("{path}/test"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "testing {}", p.id);
    }
    // A global key the provider rejects is not saved; the page says so without the key.
    mock.set_behavior(&keys.rejected_global, Behavior::Status(401));
    let r = tape
        .post(
            &admin,
            "/admin/integrations/openai",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
                ("api_key", &keys.rejected_global),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    tape.page(&admin, "/admin/integrations").await;

    // ---- the owner: workspace keys, every key action.
    let owner = tape.sign_in(owner_email).await;
    tape.page(&owner, &keys_page).await;
    let add = |provider: &'static str, label: &'static str, key: String| {
        let (tape, owner, keys_page) = (&tape, &owner, &keys_page);
        async move {
            tape.post(
                owner,
                keys_page,
                &[("provider", provider), ("label", label), ("api_key", &key)],
            )
            .await
        }
    };
    for (provider, label, key) in [
        ("openai", "Primary", keys.ws_openai_primary.clone()),
        ("openai", "Backup", keys.ws_openai_backup.clone()),
        ("anthropic", "Primary", keys.ws_anthropic.clone()),
    ] {
        let r = add(provider, label, key).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "adding {provider} {label}");
    }
    // Saved as untested when the provider fails on the test.
    mock.set_behavior(&keys.ws_openai_flaky, Behavior::Status(500));
    let r = add("openai", "Flaky", keys.ws_openai_flaky.clone()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "adding Flaky");
    mock.set_behavior(&keys.ws_openai_flaky, Behavior::Ok);
    // Refused by the provider: not saved.
    mock.set_behavior(&keys.rejected_ws, Behavior::Status(401));
    let r = add("openai", "Rejected", keys.rejected_ws.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // The key pasted into the label as well: refused, and not shown back.
    let r = tape
        .post(
            &owner,
            &keys_page,
            &[
                ("provider", "openai"),
                ("label", &keys.label_pasted),
                ("api_key", &keys.label_pasted),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    let key_id = |label: &str, provider: &str| -> String {
        provider_keys::table
            .filter(provider_keys::workspace_id.eq(&ws_id))
            .filter(provider_keys::provider.eq(provider))
            .filter(provider_keys::label.eq(label))
            .filter(provider_keys::removed_at.is_null())
            .select(provider_keys::id)
            .first(&mut site.conn())
            .unwrap_or_else(|e| panic!("key {label}: {e}"))
    };
    let primary = key_id("Primary", "openai");
    let backup = key_id("Backup", "openai");
    let flaky = key_id("Flaky", "openai");
    let k = |id: &str, action: &str| format!("{keys_page}/{id}/{action}");
    tape.post(&owner, &k(&primary, "test"), &[]).await;
    tape.post(&owner, &k(&flaky, "test"), &[]).await;
    let r = tape
        .post(
            &owner,
            &k(&backup, "replace"),
            &[("label", "Backup"), ("api_key", &keys.ws_openai_backup_new)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    tape.post(
        &owner,
        &k(&backup, "replace"),
        &[("label", "Backup 2"), ("api_key", "")],
    )
    .await;
    tape.post(&owner, &k(&flaky, "disable"), &[]).await;
    tape.post(&owner, &k(&flaky, "enable"), &[]).await;
    tape.post(&owner, &k(&flaky, "move"), &[("direction", "up")])
        .await;
    tape.page(&owner, &k(&flaky, "remove")).await;
    tape.post(&owner, &k(&flaky, "remove"), &[]).await;
    tape.page(&owner, &keys_page).await;

    // An API token, created and shown once on the tokens page.
    tape.page(&owner, &format!("/w/{slug}/settings/tokens"))
        .await;
    let r = tape
        .post(
            &owner,
            &format!("/w/{slug}/settings/tokens"),
            &[("name", "CI")],
        )
        .await;
    let token = r
        .body
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the new token is shown")
        .to_owned();
    assert!(token.starts_with("kh_") && token.len() > 40, "{token}");
    // Shown once, by the answer to its creation; used in requests (not recorded) only.
    planted.push(Secret::nowhere("the API token", &token).allowed_in([r.label.clone()]));

    // ---- an invitation: mailed, accepted by a new person, who then chats with the keys.
    let invited = "invited@example.test";
    tape.page(&owner, &format!("/w/{slug}/settings/members"))
        .await;
    let r = tape
        .post(
            &owner,
            &format!("/w/{slug}/settings/members/invite"),
            &[("email", invited), ("role", "member")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "inviting: {}", r.body);
    let mail = smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == invited),
            Duration::from_secs(15),
        )
        .await
        .expect("the invitation mail");
    let link = path_of(&mail.link_with("/invite/").expect("an /invite/ link"));
    links.push(OneTimeLink::new(
        "the accepted invitation's token",
        &link,
        invited,
    ));
    let newcomer = tape.browser();
    tape.page(&newcomer, &link).await;
    // A typo in the confirmation first: the form comes back without either password.
    let r = tape
        .post(
            &newcomer,
            &link,
            &[
                ("name", "Invited Person"),
                ("password", &pw.invited),
                ("password_confirm", &pw.invited_typo),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a typo: {}", r.body);
    let r = tape
        .post(
            &newcomer,
            &link,
            &[
                ("name", "Invited Person"),
                ("password", &pw.invited),
                ("password_confirm", &pw.invited),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("/w/{slug}"), "accepting: {}", r.body);
    // A second invitation, revoked before anyone uses it: its token stays in its mail.
    let revoked = "revoked@example.test";
    let r = tape
        .post(
            &owner,
            &format!("/w/{slug}/settings/members/invite"),
            &[("email", revoked), ("role", "member")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "inviting: {}", r.body);
    let mail = smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == revoked),
            Duration::from_secs(15),
        )
        .await
        .expect("the second invitation mail");
    let revoked_link = path_of(&mail.link_with("/invite/").expect("an /invite/ link"));
    links.push(OneTimeLink::new(
        "the revoked invitation's token",
        &revoked_link,
        revoked,
    ));
    let members = tape
        .page(&owner, &format!("/w/{slug}/settings/members"))
        .await;
    let invitation =
        id_after(&members.body, "/settings/invitations/").expect("the pending invitation");
    let r = tape
        .post(
            &owner,
            &format!("/w/{slug}/settings/invitations/{invitation}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "revoking: {}", r.body);

    // ---- a forgotten password: reset by mail, then changed on the account page.
    let forgetful = tape.browser();
    tape.page(&forgetful, "/password/forgot").await;
    let r = tape
        .post(
            &forgetful,
            "/password/forgot",
            &[("email", forgetful_email)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "asking for a reset: {}", r.body);
    let mail = smtp
        .wait_for(
            |m| {
                m.to.iter().any(|t| t == forgetful_email)
                    && m.link_with("/password/reset?token=").is_some()
            },
            Duration::from_secs(15),
        )
        .await
        .expect("the reset mail");
    let reset_link = path_of(
        &mail
            .link_with("/password/reset?token=")
            .expect("a reset link"),
    );
    let mut reset = OneTimeLink::new("the password reset token", &reset_link, forgetful_email);
    tape.page(&forgetful, &reset_link).await;
    let r = tape
        .post(
            &forgetful,
            "/password/reset",
            &[
                ("token", &reset.token),
                ("password", &pw.reset),
                ("password_confirm", &pw.reset_typo),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a typo: {}", r.body);
    // The form comes back to the person who followed the link, with the token in it.
    reset.pages.push(r.label.clone());
    let r = tape
        .post(
            &forgetful,
            "/password/reset",
            &[
                ("token", &reset.token),
                ("password", &pw.reset),
                ("password_confirm", &pw.reset),
            ],
        )
        .await;
    assert_eq!(r.location(), "/login", "resetting: {}", r.body);
    reset.pages.push(r.label.clone());
    links.push(reset);
    let forgetful = tape.sign_in_with(forgetful_email, &pw.reset).await;
    let r = tape
        .post(
            &forgetful,
            "/account/password",
            &[
                ("current_password", &pw.wrong_current),
                ("password", &pw.changed),
                ("password_confirm", &pw.changed),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a wrong current password"
    );
    let r = tape
        .post(
            &forgetful,
            "/account/password",
            &[
                ("current_password", &pw.reset),
                ("password", &pw.changed),
                ("password_confirm", &pw.changed),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "changing: {}", r.body);
    let forgetful = tape.sign_in_with(forgetful_email, &pw.changed).await;
    tape.page(&forgetful, &format!("/w/{slug}")).await;
    let r = tape
        .post(
            &newcomer,
            &format!("/w/{slug}/chat"),
            &[
                ("model", "gpt-4o-mini"),
                ("prompt", "Hello from a newcomer"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the newcomer chats");

    // ---- the member chats on the page (form post and stream).
    let member = tape.sign_in(member_email).await;
    tape.page(&member, &format!("/w/{slug}")).await;
    for model in [
        "gpt-4o-mini",
        "claude-3-5-haiku-latest",
        "gemini-2.5-flash",
        "deepseek-chat",
    ] {
        let r = tape
            .post(
                &member,
                &format!("/w/{slug}/chat"),
                &[("model", model), ("prompt", "Hello there")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "chat with {model}");
    }
    tape.post(
        &member,
        &format!("/w/{slug}/chat/stream"),
        &[("model", "gpt-4o-mini"), ("prompt", "Stream it")],
    )
    .await;
    let r = tape.get(&member, &keys_page).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "members do not see keys");

    // ---- the API, every endpoint and every provider.
    let t = Duration::from_secs(60);
    let ok = |r: Option<Captured>, what: &str| {
        let r = r.unwrap_or_else(|| panic!("{what}: no answer"));
        assert!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
    };
    ok(
        tape.api(&token, false, "GET", "/v1/models", None, t).await,
        "models",
    );
    ok(
        tape.api(&token, true, "GET", "/v1/models", None, t).await,
        "models",
    );
    for stream in [false, true] {
        for p in providers::catalogue()
            .iter()
            .filter(|p| !p.auth.host_per_key())
        {
            let model = format!("{}/{}", p.id, p.models[0]);
            let r = tape
                .api(
                    &token,
                    false,
                    "POST",
                    "/v1/chat/completions",
                    Some(chat_body(&model, stream)),
                    t,
                )
                .await;
            if p.id != ECHOING {
                ok(r, &model);
            } else if stream {
                // The error event inside the 200 stream reached the client, without the key.
                let r = r.expect("a streamed answer from the echoing provider");
                assert!(
                    r.body.contains("was revoked (key [redacted])"),
                    "{}",
                    r.body
                );
            }
        }
        for model in ["claude-3-5-haiku-latest", "gpt-4o-mini"] {
            let r = tape
                .api(
                    &token,
                    true,
                    "POST",
                    "/v1/messages",
                    Some(messages_body(model, stream)),
                    t,
                )
                .await;
            ok(r, model);
        }
        let r = tape
            .api(
                &token,
                true,
                "POST",
                "/v1/messages",
                Some(messages_body("deepseek-chat", stream)),
                t,
            )
            .await;
        assert!(r.is_some());
    }

    // ---- upstream failures, on workspace and global keys.
    let openai_ws = [&keys.ws_openai_primary, &keys.ws_openai_backup_new];
    let calls = |stream: bool| {
        let (tape, token) = (&tape, &token);
        async move {
            for model in ["gpt-4o-mini", "claude-3-5-haiku-latest"] {
                tape.api(
                    token,
                    false,
                    "POST",
                    "/v1/chat/completions",
                    Some(chat_body(model, stream)),
                    Duration::from_secs(60),
                )
                .await;
                tape.api(
                    token,
                    true,
                    "POST",
                    "/v1/messages",
                    Some(messages_body(model, stream)),
                    Duration::from_secs(60),
                )
                .await;
            }
        }
    };
    // A hanging provider, given up on by the client after a short wait.
    for k in openai_ws {
        mock.set_behavior(k, Behavior::Hang);
    }
    for stream in [false, true] {
        let r = tape
            .api(
                &token,
                false,
                "POST",
                "/v1/chat/completions",
                Some(chat_body("gpt-4o-mini", stream)),
                Duration::from_secs(2),
            )
            .await;
        assert!(r.is_none(), "a hanging provider does not answer within 2 s");
    }
    for behavior in [
        Behavior::Status(429),
        Behavior::Status(500),
        Behavior::CutStream,
        Behavior::SlowFirstByte(Duration::from_millis(300)),
    ] {
        for k in openai_ws.iter().chain([&&keys.ws_anthropic]) {
            mock.set_behavior(k, behavior.clone());
        }
        for k in keys.global.values() {
            mock.set_behavior(k, behavior.clone());
        }
        calls(false).await;
        calls(true).await;
        tape.post(
            &member,
            &format!("/w/{slug}/chat"),
            &[("model", "gpt-4o-mini"), ("prompt", "Despite the failure")],
        )
        .await;
    }
    mock.reset_behaviors();
    // The provider rejects a workspace key: marked invalid, owners mailed, next key answers.
    mock.set_behavior(&keys.ws_openai_primary, Behavior::Status(401));
    mock.set_behavior(&keys.ws_anthropic, Behavior::Status(401));
    calls(false).await;
    tape.post(
        &member,
        &format!("/w/{slug}/chat"),
        &[
            ("model", "claude-3-5-haiku-latest"),
            ("prompt", "After the rejection"),
        ],
    )
    .await;
    // ... and a rejected global key.
    mock.set_behavior(&keys.global["gemini"], Behavior::Status(401));
    tape.api(
        &token,
        false,
        "POST",
        "/v1/chat/completions",
        Some(chat_body("gemini-2.5-flash", false)),
        t,
    )
    .await;
    mock.reset_behaviors();
    // The owner tests the rejected key again once the provider takes it: active again.
    tape.post(&owner, &k(&primary, "test"), &[]).await;

    // ---- BYOK off (with its impact page) and on again: owners are mailed.
    let r = tape
        .post(
            &admin,
            "/admin/integrations/openai",
            &[("enabled", "on"), ("failure_policy", "fail")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "the impact page first");
    tape.post(
        &admin,
        "/admin/integrations/openai",
        &[
            ("enabled", "on"),
            ("failure_policy", "fail"),
            ("confirm", "yes"),
        ],
    )
    .await;
    tape.post(
        &member,
        &format!("/w/{slug}/chat"),
        &[
            ("model", "gpt-4o-mini"),
            ("prompt", "With the platform key"),
        ],
    )
    .await;
    tape.post(
        &admin,
        "/admin/integrations/openai",
        &[
            ("enabled", "on"),
            ("byok_enabled", "on"),
            ("failure_policy", "fallback"),
        ],
    )
    .await;
    tape.page(&admin, "/admin/integrations/openai/remove-key")
        .await;

    // ---- audit, usage and the other pages, as admin and as owner.
    for path in [
        "/admin".to_owned(),
        "/admin/users".to_owned(),
        "/admin/workspaces".to_owned(),
        format!("/admin/workspaces/{ws_id}"),
        "/admin/audit".to_owned(),
        "/admin/audit?action=workspace_key.*".to_owned(),
        "/admin/audit?action=provider.*".to_owned(),
        "/admin/audit.csv".to_owned(),
        "/admin/integrations".to_owned(),
        "/account".to_owned(),
    ] {
        tape.page(&admin, &path).await;
    }
    for path in [
        format!("/w/{slug}"),
        format!("/w/{slug}/audit"),
        format!("/w/{slug}/audit.csv"),
        format!("/w/{slug}/usage"),
        format!("/w/{slug}/settings/members"),
        format!("/w/{slug}/settings/tokens"),
        keys_page.clone(),
    ] {
        tape.page(&owner, &path).await;
    }
    let co_owner = tape.sign_in(co_owner_email).await;
    tape.page(&co_owner, &keys_page).await;

    // ---- a forced internal error: the audit table is gone while keys are saved.
    rename_table(&site, "audit_events", "audit_events_away");
    let r = tape
        .post(
            &owner,
            &keys_page,
            &[
                ("provider", "anthropic"),
                ("label", "Doomed"),
                ("api_key", &keys.lost_to_error),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    let r = tape
        .post(
            &admin,
            "/admin/integrations/anthropic",
            &[
                ("enabled", "on"),
                ("byok_enabled", "on"),
                ("failure_policy", "fail"),
                ("api_key", &keys.lost_to_error_global),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    let r = tape.get(&admin, "/admin/audit").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    rename_table(&site, "audit_events_away", "audit_events");
    let doomed: i64 = provider_keys::table
        .filter(provider_keys::label.eq("Doomed"))
        .count()
        .get_result(&mut site.conn())
        .expect("count");
    assert_eq!(doomed, 0, "a change whose audit row failed is not applied");
    tape.page(&admin, "/admin/audit").await;

    // ---- master-key rotation from the CLI while serving, and `keyhold check`.
    let rotated = format!("{MASTER_KEY_V2},{MASTER_KEYS}");
    let ring = [("KEYHOLD_MASTER_KEYS", rotated.as_str())];
    let out = run(&site, &["rotate-master-key", "--batch", "3"], &ring);
    assert!(out.status.success(), "{}", cli_text(&["rotate"], &out));
    for args in [&["check"][..], &["audit", "verify"]] {
        let out = run(&site, args, &ring);
        assert!(out.status.success(), "{}", cli_text(args, &out));
    }
    // The server (which knows v2) answers with the re-sealed keys.
    let earlier = mock.keys_seen().len();
    ok(
        tape.api(
            &token,
            false,
            "POST",
            "/v1/chat/completions",
            Some(chat_body("gpt-4o-mini", false)),
            t,
        )
        .await,
        "after rotation",
    );
    let seen = mock.keys_seen()[earlier..].to_vec();
    assert!(
        seen.contains(&keys.ws_openai_primary),
        "the re-sealed workspace key answered: {seen:?} (Primary {}, Backup {})",
        keys.ws_openai_primary,
        keys.ws_openai_backup_new
    );

    // ---- every mail out of the outbox.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unsent: i64 = outbox::table
            .filter(outbox::sent_at.is_null())
            .count()
            .get_result(&mut site.conn())
            .expect("outbox");
        if unsent == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{unsent} mails still unsent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = smtp.messages();
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("rejected")),
        "a key-rejected mail: {subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.to_lowercase().contains("byok")),
        "BYOK mails: {subjects:?}"
    );

    // ---- a graceful stop.
    let status = server.terminate(Duration::from_secs(40)).await;
    assert!(status.success(), "SIGTERM ends with exit 0, got {status}");

    // ---- every canary reached a provider (else this test would prove nothing)...
    let mut used: Vec<String> = mock.keys_seen();
    used.extend(echo.seen.lock().expect("echo").iter().cloned());
    for (what, key) in keys.all() {
        if what.contains("pasted") {
            continue; // refused before any test
        }
        assert!(used.contains(&key), "{what} never reached the provider");
    }

    // The API token is Keyhold's own: it never travels to a provider.
    assert!(
        !used.contains(&token),
        "the API token reached a provider as its key"
    );
    assert!(
        mock.requests()
            .iter()
            .all(|r| !r.body.to_string().contains(&token)),
        "the API token reached a provider in a body"
    );

    // ---- ...and appears nowhere else.
    let logs = server.logs();
    assert!(
        logs.contains("DEBUG"),
        "the log runs at debug level: {}",
        &logs[..logs.len().min(2000)]
    );
    if log_format == "json" {
        let stdout = std::fs::read_to_string(&server.stdout).expect("stdout");
        for line in stdout.lines() {
            assert!(
                serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
                "not one JSON object: {line:?}"
            );
        }
        assert!(stdout.contains(r#""message":"request""#), "request lines");
    }
    let entries = tape.entries();
    let mut corpus: Vec<(String, String)> = Vec::new();
    for e in &entries {
        corpus.push((e.label.clone(), e.text.clone()));
        if !e.cookies.is_empty() {
            corpus.push((format!("{} {SET_COOKIE}", e.label), e.cookies.clone()));
        }
    }
    let mut stored: Vec<(String, String)> = vec![(
        "database (every row of every table, audit included; the sealed column aside)".into(),
        dump_tables(&mut site.conn(), &["provider_keys.sealed"]),
    )];
    if site.db.is_postgres() {
        match pg_dump(&site.db.url) {
            Some(dump) => stored.push(("pg_dump of the test database".into(), dump)),
            None => eprintln!(
                "SKIPPED: pg_dump not found (looked under /usr/lib/postgresql/*/bin and in \
                 /usr/bin): the PostgreSQL dump was not searched"
            ),
        }
    }
    for entry in walk(site.data_dir.path()) {
        if let Ok(bytes) = std::fs::read(&entry) {
            stored.push((
                format!("file {}", entry.display()),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    // What the database keeps of the token (its hash) is where the search looks: the
    // table dump, the PostgreSQL dump, and on SQLite the raw database file (or its WAL).
    let token_hash = keyhold::domain::tokens::hash(&token);
    let holding = sightings(&token_hash, &stored);
    assert!(
        holding.iter().any(|s| s.starts_with("database")),
        "{holding:?}"
    );
    if site.db.is_postgres() {
        assert!(
            holding.iter().any(|s| s.starts_with("pg_dump")) || pg_dump_binary().is_none(),
            "the dump holds the token's hash: {holding:?}"
        );
    } else {
        assert!(
            holding.iter().any(|s| s.contains("keyhold.db")),
            "the raw SQLite file (or its WAL) holds the token's hash: {holding:?}"
        );
    }
    corpus.extend(stored);
    corpus.extend([
        ("server log, without colours".into(), strip_ansi(&logs)),
        ("server log".into(), logs),
        ("CLI output".into(), cli_outputs.join("\n")),
    ]);
    let mail_label = |i: usize, m: &crate::support::smtp_sink::Mail| {
        format!("mail {i} “{}” to {:?}", m.subject, m.to)
    };
    for (i, m) in mails.iter().enumerate() {
        corpus.push((
            mail_label(i, m),
            format!("{}\n{}\n{}\n{}", m.raw, m.text, m.html, m.decoded()),
        ));
    }

    // Session ids: every session cookie the server set may travel in its Set-Cookie header
    // only (the browser sends it back in requests, which are not recorded).
    let cookie_sources: Vec<String> = corpus
        .iter()
        .map(|(source, _)| source.clone())
        .filter(|source| source.ends_with(SET_COOKIE))
        .collect();
    let sessions = session_cookies(&entries);
    assert!(
        sessions.len() >= 10,
        "every sign-in gets its own session: {}",
        sessions.len()
    );
    // The store keeps a hash of the key: finding it proves the key was read right.
    assert!(
        sessions
            .iter()
            .any(|(_, id)| !sightings(&keyhold::domain::tokens::hash(id), &corpus).is_empty()),
        "a live session's row is keyed by the hash of a key read from a cookie"
    );
    for (i, (cookie, id)) in sessions.iter().enumerate() {
        planted.push(
            Secret::nowhere(format!("session cookie {i}"), cookie)
                .allowed_in(cookie_sources.clone()),
        );
        planted.push(
            Secret::nowhere(format!("session id {i} (the cookie's key)"), id)
                .allowed_in(cookie_sources.clone()),
        );
    }
    // One-time links: the one mail that carries each, and the pages on the link.
    for l in &links {
        let carrying: Vec<(usize, &crate::support::smtp_sink::Mail)> = mails
            .iter()
            .enumerate()
            .filter(|(_, m)| m.text.contains(&l.token) || m.html.contains(&l.token))
            .collect();
        assert_eq!(carrying.len(), 1, "{} is in exactly one mail", l.what);
        let (i, mail) = carrying[0];
        assert_eq!(
            mail.to,
            vec![l.to.clone()],
            "{} is mailed to {}",
            l.what,
            l.to
        );
        let on_the_link: Vec<String> = entries
            .iter()
            .filter(|e| e.label.contains(&l.token))
            .map(|e| e.label.clone())
            .collect();
        let secret = Secret::nowhere(l.what, &l.token)
            .allowed_in([mail_label(i, mail)])
            .allowed_in(on_the_link)
            .allowed_in(l.pages.iter().cloned());
        planted.push(secret);
    }
    // The one response that shows the API token, and the pages of the used links, do show
    // them (so a search that finds nothing elsewhere is a search that works).
    let seen = sightings(&token, &corpus);
    assert!(
        seen.iter()
            .any(|s| s.contains("POST /w/acme/settings/tokens")),
        "{seen:?}"
    );
    for l in links.iter().filter(|l| !l.what.contains("revoked")) {
        let seen = sightings(&l.token, &corpus);
        assert!(
            seen.iter()
                .any(|s| s.contains(": GET /") && s.contains(&l.token)),
            "{} shows on the page of its link: {seen:?}",
            l.what
        );
    }

    // CANARY_DUMP=<dir> keeps everything that was searched, for a look by hand.
    if let Ok(dir) = std::env::var("CANARY_DUMP") {
        std::fs::create_dir_all(&dir).expect("dump dir");
        for (i, (source, text)) in corpus.iter().enumerate() {
            let name: String = source
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(60)
                .collect();
            std::fs::write(format!("{dir}/{i:04}-{name}.txt"), text).expect("dump");
        }
    }
    let mut secrets: Vec<Secret> = keys
        .all()
        .into_iter()
        .map(|(what, key)| Secret::nowhere(what, key))
        .collect();
    secrets.extend(pw.all());
    secrets.extend(planted);
    let leaks = find_leaks(&secrets, &corpus);
    assert!(
        leaks.is_empty(),
        "{} canary leak(s):\n{}",
        leaks.len(),
        leaks.join("\n\n")
    );
    // The captures are not empty.
    let responses: usize = entries.iter().map(|e| e.text.len()).sum();
    assert!(responses > 100_000, "responses captured");
    assert!(mails.len() >= 5, "mails captured: {subjects:?}");
}

/// The suffix of a corpus source holding a response's `Set-Cookie` headers.
const SET_COOKIE: &str = "Set-Cookie";

/// Every distinct session cookie value the server set (as sent, percent-encoded), with the
/// session key inside it: the signed value is a 44-character base64 tag, then the key.
fn session_cookies(entries: &[Entry]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in entries {
        for line in e.cookies.lines() {
            let Some(rest) = line
                .strip_prefix("set-cookie: ")
                .and_then(|l| l.strip_prefix("keyhold_session="))
            else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default().to_owned();
            if value.is_empty() || out.iter().any(|(v, _)| *v == value) {
                continue;
            }
            let decoded = percent_decode(&value);
            let key = match decoded.get(44..) {
                Some(key) if decoded.as_bytes()[43] == b'=' && key.len() >= 32 => key.to_owned(),
                _ => panic!("a session cookie of an unknown shape: {value}"),
            };
            out.push((value, key));
        }
    }
    out
}

/// `%XX` sequences turned back into bytes (and nothing else: `+` stays `+`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `pg_dump` binary: the newest under `/usr/lib/postgresql/<version>/bin`, else
/// `/usr/bin/pg_dump`.
fn pg_dump_binary() -> Option<std::path::PathBuf> {
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin/pg_dump")))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .or_else(|| Some(std::path::PathBuf::from("/usr/bin/pg_dump")).filter(|p| p.is_file()))
}

/// A plain-text `pg_dump` (schema and every row) of the database at `url`; `None` without
/// a `pg_dump` binary.
fn pg_dump(url: &str) -> Option<String> {
    let bin = pg_dump_binary()?;
    let out = std::process::Command::new(&bin)
        .args(["--no-owner", "--no-privileges", "--dbname", url])
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "{} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dump.contains("COPY public.audit_events") && dump.contains("acme"),
        "the dump holds the data: {}",
        &dump[..dump.len().min(2000)]
    );
    Some(dump)
}

/// Every file under `dir` but the logs (searched already). The SQLite database file is
/// searched raw too: a canary in a deleted row or a free page would show there (the sealed
/// column is ciphertext, which cannot match).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !name.ends_with(".log") {
                out.push(p);
            }
        }
    }
    out
}

/// `text` without ANSI colour sequences (the log colours field names and values apart).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

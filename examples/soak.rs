//! The load client of `bench/soak.sh`: CONNS tasks for DURATION seconds over a mix of
//! signed-in pages, API calls (OpenAI and Anthropic shapes, plain and streamed) and
//! sign-ins, against a Keyhold seeded with `keyhold seed-demo`. Prints per kind: count,
//! errors, p50/p99/max; Keyhold's RSS idle and peak (VmRSS every 0.25 s) and CPU per
//! request; a verdict line. Exits 1 when any request failed.
//!
//! Each page/API task keeps one keep-alive connection and sends its sessions' cookies by
//! hand (so CONNS tasks are CONNS connections); a sign-in is a fresh client, as a new
//! browser: `GET /login` → `csrf_token` → `POST /login` → the owner's keys page.
//!
//! ```sh
//! cargo run --release --example soak -- --base http://127.0.0.1:18094 --pid <keyhold pid> \
//!     --admin <email> --password <pw> --stamp <seed-demo stamp> --workspaces 20 --token kh_…
//! ```
//! Options: `--duration 60` s, `--conns 64` (of which `--signin-tasks 4` sign in again and
//! again, `--signin-pause-ms 500` between two), `--timeout 10` s per request,
//! `--model gpt-4o-mini` (plain answers), `--stream-model deepseek-chat` (a provider whose
//! base URL serves SSE), `--tokens 8` (workspaces that get an API token at setup).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{COOKIE, HeaderValue};
use reqwest::{Client, RequestBuilder};
use serde_json::json;
use tokio::sync::watch;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    AdminIntegrations,
    AdminOverview,
    AdminAudit,
    OwnerKeys,
    OwnerUsage,
    OwnerAudit,
    Chat,
    ChatStream,
    Messages,
    MessagesStream,
    LoginPage,
    SignIn,
    PageAfterSignIn,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::AdminIntegrations => "GET /admin/integrations (admin)",
            Kind::AdminOverview => "GET /admin (admin)",
            Kind::AdminAudit => "GET /admin/audit (admin)",
            Kind::OwnerKeys => "GET /w/<slug>/settings/keys (owner)",
            Kind::OwnerUsage => "GET /w/<slug>/usage (owner)",
            Kind::OwnerAudit => "GET /w/<slug>/audit (owner)",
            Kind::Chat => "POST /v1/chat/completions",
            Kind::ChatStream => "POST /v1/chat/completions stream",
            Kind::Messages => "POST /v1/messages",
            Kind::MessagesStream => "POST /v1/messages stream",
            Kind::LoginPage => "GET /login (new browser)",
            Kind::SignIn => "POST /login (argon2id)",
            Kind::PageAfterSignIn => "GET keys page after sign-in",
        }
    }

    fn is_api(self) -> bool {
        matches!(
            self,
            Kind::Chat | Kind::ChatStream | Kind::Messages | Kind::MessagesStream
        )
    }
}

/// The page/API mix, in percent.
const MIX: &[(Kind, u32)] = &[
    (Kind::AdminIntegrations, 8),
    (Kind::AdminOverview, 4),
    (Kind::AdminAudit, 4),
    (Kind::OwnerKeys, 8),
    (Kind::OwnerUsage, 6),
    (Kind::OwnerAudit, 4),
    (Kind::Chat, 30),
    (Kind::ChatStream, 12),
    (Kind::Messages, 12),
    (Kind::MessagesStream, 12),
];

struct Args {
    base: String,
    pid: Option<u32>,
    duration: Duration,
    conns: usize,
    signin_tasks: usize,
    signin_pause: Duration,
    timeout: Duration,
    admin: String,
    password: String,
    stamp: String,
    workspaces: usize,
    token: String,
    tokens: usize,
    model: String,
    stream_model: String,
}

fn parse_args() -> AnyResult<Args> {
    let mut m: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {k}"))?;
        let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        m.insert(key.to_owned(), v);
    }
    let get = |k: &str, d: &str| m.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let need = |k: &str| {
        m.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    };
    let num = |k: &str, d: &str| -> AnyResult<u64> {
        get(k, d).parse().map_err(|e| format!("--{k}: {e}").into())
    };
    Ok(Args {
        base: get("base", "http://127.0.0.1:18094"),
        pid: m.get("pid").map(|p| p.parse()).transpose()?,
        duration: Duration::from_secs(num("duration", "60")?),
        conns: num("conns", "64")? as usize,
        signin_tasks: num("signin-tasks", "4")? as usize,
        signin_pause: Duration::from_millis(num("signin-pause-ms", "500")?),
        timeout: Duration::from_secs(num("timeout", "10")?),
        admin: need("admin")?,
        password: need("password")?,
        stamp: need("stamp")?,
        workspaces: num("workspaces", "20")? as usize,
        token: need("token")?,
        tokens: num("tokens", "8")? as usize,
        model: get("model", "gpt-4o-mini"),
        stream_model: get("stream-model", "deepseek-chat"),
    })
}

fn owner_email(i: usize, stamp: &str) -> String {
    format!("owner{i}+{stamp}@demo.keyhold.test")
}

fn slug(i: usize, stamp: &str) -> String {
    format!("demo-{stamp}-{i:05}")
}

fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let rest = &html[html.find(marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The longest `kh_…` token in a page (the one shown once after creating it).
fn token_in(html: &str) -> Option<String> {
    html.match_indices("kh_")
        .map(|(i, _)| {
            html[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .max_by_key(String::len)
        .filter(|t| t.len() > 20)
}

/// A new "browser" (its own cookie jar, no redirects followed).
fn browser(timeout: Duration) -> AnyResult<(Client, Arc<Jar>)> {
    let jar = Arc::new(Jar::default());
    let c = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()?;
    Ok((c, jar))
}

/// The outcome of one measured step: latency, and an error description if it failed.
type Step = (Kind, Duration, Option<String>);

/// `GET /login`, `POST /login`; the session cookie and the CSRF token (from `/account`)
/// on success. Every step is returned for the statistics.
async fn sign_in(
    base: &str,
    email: &str,
    password: &str,
    timeout: Duration,
    steps: &mut Vec<Step>,
) -> Option<(Client, Arc<Jar>)> {
    let (c, jar) = browser(timeout).ok()?;
    let t = Instant::now();
    let page = match c.get(format!("{base}/login")).send().await {
        Ok(r) if r.status() == 200 => r.text().await.ok(),
        Ok(r) => {
            steps.push((
                Kind::LoginPage,
                t.elapsed(),
                Some(format!("{}", r.status())),
            ));
            return None;
        }
        Err(e) => {
            steps.push((Kind::LoginPage, t.elapsed(), Some(describe(&e))));
            return None;
        }
    };
    let Some(csrf) = page.as_deref().and_then(csrf_in) else {
        steps.push((Kind::LoginPage, t.elapsed(), Some("no csrf_token".into())));
        return None;
    };
    steps.push((Kind::LoginPage, t.elapsed(), None));
    let t = Instant::now();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await;
    let err = match &r {
        Ok(r) if r.status() == 303 => {
            let to = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            (to.starts_with("/login")).then(|| format!("303 back to {to}"))
        }
        Ok(r) => Some(format!("{}", r.status())),
        Err(e) => Some(describe(e)),
    };
    let ok = err.is_none();
    steps.push((Kind::SignIn, t.elapsed(), err));
    ok.then_some((c, jar))
}

/// The session's CSRF token, from the account page.
async fn account_csrf(c: &Client, base: &str) -> AnyResult<String> {
    let page = c
        .get(format!("{base}/account"))
        .send()
        .await?
        .text()
        .await?;
    Ok(csrf_in(&page).ok_or("no csrf_token on /account")?)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect error".into()
    } else if e.is_body() || e.is_decode() {
        "body error".into()
    } else {
        "request error".into()
    }
}

/// Everything a page/API task needs.
struct Ctx {
    base: String,
    admin_cookie: HeaderValue,
    owner_cookie: HeaderValue,
    slug: String,
    token: String,
    model: String,
    stream_model: String,
}

impl Ctx {
    fn request(&self, c: &Client, kind: Kind) -> RequestBuilder {
        let b = &self.base;
        let page = |path: String, cookie: &HeaderValue| c.get(path).header(COOKIE, cookie.clone());
        let chat = |model: &str, stream: bool| {
            c.post(format!("{b}/v1/chat/completions"))
                .bearer_auth(&self.token)
                .json(&json!({"model": model, "stream": stream, "max_tokens": 16,
                    "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                 {"role": "user", "content": "Say hello in one short sentence."}]}))
        };
        let messages = |model: &str, stream: bool| {
            c.post(format!("{b}/v1/messages"))
                .header("x-api-key", &self.token)
                .header("anthropic-version", "2023-06-01")
                .json(&json!({"model": model, "stream": stream, "max_tokens": 16,
                    "system": "You are a helpful assistant.",
                    "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}))
        };
        match kind {
            Kind::AdminIntegrations => page(format!("{b}/admin/integrations"), &self.admin_cookie),
            Kind::AdminOverview => page(format!("{b}/admin"), &self.admin_cookie),
            Kind::AdminAudit => page(format!("{b}/admin/audit"), &self.admin_cookie),
            Kind::OwnerKeys | Kind::PageAfterSignIn => page(
                format!("{b}/w/{}/settings/keys", self.slug),
                &self.owner_cookie,
            ),
            Kind::OwnerUsage => page(format!("{b}/w/{}/usage", self.slug), &self.owner_cookie),
            Kind::OwnerAudit => page(format!("{b}/w/{}/audit", self.slug), &self.owner_cookie),
            Kind::Chat => chat(&self.model, false),
            Kind::ChatStream => chat(&self.stream_model, true),
            Kind::Messages => messages(&self.model, false),
            Kind::MessagesStream => messages(&self.stream_model, true),
            Kind::LoginPage | Kind::SignIn => c.get(format!("{b}/login")),
        }
    }
}

/// What a complete, correct answer of `kind` contains.
fn body_ok(kind: Kind, body: &[u8]) -> bool {
    let s = String::from_utf8_lossy(body);
    match kind {
        Kind::Chat => s.contains("\"choices\""),
        Kind::ChatStream => s.contains("data: [DONE]"),
        Kind::Messages => s.contains("\"content\""),
        Kind::MessagesStream => s.contains("message_stop"),
        _ => s.contains("</html>"),
    }
}

/// Sends one request and reads the whole answer.
async fn measure(c: &Client, ctx: &Ctx, kind: Kind) -> Step {
    let t = Instant::now();
    let err = match ctx.request(c, kind).send().await {
        Ok(r) => {
            let status = r.status();
            match r.bytes().await {
                Ok(body) if status == 200 && body_ok(kind, &body) => None,
                Ok(_) if status == 200 => Some("200 with an incomplete body".to_owned()),
                Ok(_) => Some(status.to_string()),
                Err(e) => Some(format!("{status} then {}", describe(&e))),
            }
        }
        Err(e) => Some(describe(&e)),
    };
    (kind, t.elapsed(), err)
}

/// A small deterministic generator for the mix (no dependency needed).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick(&mut self) -> Kind {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut r = (self.next() % u64::from(total)) as u32;
        for (k, w) in MIX {
            if r < *w {
                return *k;
            }
            r -= w;
        }
        Kind::Chat
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime of the whole process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    }
}

async fn run() -> AnyResult<bool> {
    let a = parse_args()?;
    let base = a.base.trim_end_matches('/').to_owned();
    let url = url::Url::parse(&base)?;
    let idle_rss = a.pid.and_then(rss_kib);

    // Setup (not measured): the admin turns on the streaming provider, owners of the first
    // workspaces create API tokens, and every task signs its admin and owner sessions in.
    let mut scratch = Vec::new();
    let (admin_c, admin_jar) = sign_in(&base, &a.admin, &a.password, a.timeout, &mut scratch)
        .await
        .ok_or_else(|| format!("admin sign-in failed: {scratch:?}"))?;
    let admin_csrf = account_csrf(&admin_c, &base).await?;
    let stream_provider = a.stream_model.split('-').next().unwrap_or("deepseek");
    let r = admin_c
        .post(format!("{base}/admin/integrations/{stream_provider}"))
        .form(&[
            ("enabled", "on"),
            ("byok_enabled", "on"),
            ("failure_policy", "fail"),
            ("api_key", "sk-soak-streaming-mock-key-0001"),
            ("csrf_token", &admin_csrf),
        ])
        .send()
        .await?;
    if r.status() != 303 {
        return Err(format!("enabling {stream_provider}: {}", r.status()).into());
    }
    let mut tokens = vec![a.token.clone()];
    for i in 1..a.tokens.min(a.workspaces) {
        let (c, _) = sign_in(
            &base,
            &owner_email(i, &a.stamp),
            &a.password,
            a.timeout,
            &mut scratch,
        )
        .await
        .ok_or_else(|| format!("owner{i} sign-in failed: {scratch:?}"))?;
        let csrf_token = account_csrf(&c, &base).await?;
        let page = c
            .post(format!("{base}/w/{}/settings/tokens", slug(i, &a.stamp)))
            .form(&[("name", "soak"), ("csrf_token", csrf_token.as_str())])
            .send()
            .await?
            .text()
            .await?;
        tokens
            .push(token_in(&page).ok_or_else(|| format!("no new token on workspace {i}'s page"))?);
    }
    let page_tasks = a.conns.saturating_sub(a.signin_tasks);
    let mut ctxs = Vec::with_capacity(page_tasks);
    let admin_cookie = admin_jar.cookies(&url).ok_or("no admin session cookie")?;
    for t in 0..page_tasks {
        let w = t % a.workspaces.max(1);
        let (_, jar) = sign_in(
            &base,
            &owner_email(w, &a.stamp),
            &a.password,
            a.timeout,
            &mut scratch,
        )
        .await
        .ok_or_else(|| format!("owner{w} sign-in failed: {scratch:?}"))?;
        ctxs.push(Ctx {
            base: base.clone(),
            // Tasks share the admin's session (one admin, many tabs) and each has an owner's.
            admin_cookie: admin_cookie.clone(),
            owner_cookie: jar.cookies(&url).ok_or("no owner session cookie")?,
            slug: slug(w, &a.stamp),
            token: tokens[t % tokens.len()].clone(),
            model: a.model.clone(),
            stream_model: a.stream_model.clone(),
        });
    }
    // Every kind answers before the clock starts.
    let probe = Client::builder().timeout(a.timeout).build()?;
    if let Some(ctx) = ctxs.first() {
        for (k, _) in MIX {
            let (_, _, err) = measure(&probe, ctx, *k).await;
            if let Some(e) = err {
                return Err(format!("{} does not work before the soak: {e}", k.name()).into());
            }
        }
    }
    let setup_rss = a.pid.and_then(rss_kib);
    let cpu0 = a.pid.and_then(cpu_ticks);

    // The soak.
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let sampler = a.pid.map(|pid| {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            let mut samples = 0usize;
            loop {
                if let Some(k) = rss_kib(pid) {
                    peak = peak.max(k);
                    samples += 1;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop.changed() => break,
                }
            }
            (peak, samples)
        })
    });
    let mut tasks = Vec::new();
    for (t, ctx) in ctxs.into_iter().enumerate() {
        let stop = stop_rx.clone();
        let timeout = a.timeout;
        tasks.push(tokio::spawn(async move {
            let c = Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut rng =
                XorShift(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1).wrapping_mul(0x2545_F491));
            let mut steps = Vec::new();
            while !*stop.borrow() {
                steps.push(measure(&c, &ctx, rng.pick()).await);
            }
            steps
        }));
    }
    for t in 0..a.signin_tasks {
        let mut stop = stop_rx.clone();
        let (base, password, stamp) = (base.clone(), a.password.clone(), a.stamp.clone());
        let (timeout, pause, workspaces) = (a.timeout, a.signin_pause, a.workspaces.max(1));
        tasks.push(tokio::spawn(async move {
            let mut steps = Vec::new();
            let mut n = t;
            while !*stop.borrow() {
                let w = n % workspaces;
                if let Some((c, _)) = sign_in(
                    &base,
                    &owner_email(w, &stamp),
                    &password,
                    timeout,
                    &mut steps,
                )
                .await
                {
                    let t0 = Instant::now();
                    let err = match c
                        .get(format!("{base}/w/{}/settings/keys", slug(w, &stamp)))
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => r.bytes().await.err().map(|e| describe(&e)),
                        Ok(r) => Some(r.status().to_string()),
                        Err(e) => Some(describe(&e)),
                    };
                    steps.push((Kind::PageAfterSignIn, t0.elapsed(), err));
                }
                n += 4;
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
            steps
        }));
    }
    tokio::time::sleep(a.duration).await;
    stop_tx.send(true)?;
    let mut all: Vec<Step> = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed();
    let (peak_rss, samples) = match sampler {
        Some(s) => s.await?,
        None => (0, 0),
    };
    let cpu1 = a.pid.and_then(cpu_ticks);

    // Report.
    let mut by: HashMap<Kind, (Vec<Duration>, Vec<String>)> = HashMap::new();
    for (k, d, e) in &all {
        let entry = by.entry(*k).or_default();
        entry.0.push(*d);
        if let Some(e) = e {
            entry.1.push(e.clone());
        }
    }
    let mut kinds: Vec<Kind> = by.keys().copied().collect();
    kinds.sort();
    println!(
        "\nmixed soak: {} connections ({} page/API, {} sign-in), {:.1} s, {} requests, {:.0} req/s",
        a.conns,
        page_tasks,
        a.signin_tasks,
        elapsed.as_secs_f64(),
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{:<38} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9}",
        "kind", "count", "req/s", "errors", "p50 ms", "p99 ms", "max ms"
    );
    let mut errors_total = 0;
    let mut group: HashMap<&str, Vec<Duration>> = HashMap::new();
    for k in &kinds {
        let (mut lat, errs) = by.remove(k).unwrap_or_default();
        lat.sort();
        errors_total += errs.len();
        let g = if k.is_api() {
            "all API calls"
        } else if *k == Kind::SignIn || *k == Kind::LoginPage {
            "sign-in steps"
        } else {
            "all signed-in pages"
        };
        group.entry(g).or_default().extend(lat.iter().copied());
        println!(
            "{:<38} {:>8} {:>8.0} {:>7} {:>9.2} {:>9.2} {:>9.1}",
            k.name(),
            lat.len(),
            lat.len() as f64 / elapsed.as_secs_f64(),
            errs.len(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default())
        );
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for e in &errs {
            *counts.entry(e.as_str()).or_default() += 1;
        }
        for (e, n) in counts {
            println!("    error: {e} x{n}");
        }
    }
    let mut pages_p99 = Duration::ZERO;
    for g in ["all signed-in pages", "all API calls", "sign-in steps"] {
        if let Some(mut lat) = group.remove(g) {
            lat.sort();
            if g == "all signed-in pages" {
                pages_p99 = percentile(&lat, 0.99);
            }
            println!(
                "{:<38} {:>8} {:>8.0} {:>7} {:>9.2} {:>9.2} {:>9.1}",
                g,
                lat.len(),
                lat.len() as f64 / elapsed.as_secs_f64(),
                "",
                ms(percentile(&lat, 0.5)),
                ms(percentile(&lat, 0.99)),
                ms(lat.last().copied().unwrap_or_default())
            );
        }
    }
    let mib = |k: u64| k as f64 / 1024.0;
    let idle = idle_rss.unwrap_or(0);
    if a.pid.is_some() {
        println!(
            "keyhold RSS: idle {:.1} MiB (before any request), {:.1} MiB after setup, peak {:.1} MiB under load ({samples} samples every 0.25 s)",
            mib(idle),
            mib(setup_rss.unwrap_or(0)),
            mib(peak_rss)
        );
        if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
            let hz = 100.0; // USER_HZ on Linux
            let secs = (c1 - c0) as f64 / hz;
            println!(
                "keyhold CPU: {:.1} s over {:.1} s ({:.0} % of one core), {:.0} µs per request",
                secs,
                elapsed.as_secs_f64(),
                100.0 * secs / elapsed.as_secs_f64(),
                secs * 1e6 / all.len().max(1) as f64
            );
        }
    }
    let rss_idle_ok = idle == 0 || mib(idle) <= 30.0;
    let rss_peak_ok = a.pid.is_none() || mib(peak_rss) <= 80.0;
    let verdict = |ok: bool| if ok { "met" } else { "NOT MET" };
    println!(
        "VERDICT: errors {errors_total} (budget 0: {}); RSS idle {:.1} MiB (<= 30: {}), peak {:.1} MiB (<= 80: {}); signed-in pages p99 {:.1} ms with {} sign-in loops running (compare a run with --signin-tasks 0)",
        verdict(errors_total == 0),
        mib(idle),
        verdict(rss_idle_ok),
        mib(peak_rss),
        verdict(rss_peak_ok),
        ms(pages_p99),
        a.signin_tasks,
    );
    Ok(errors_total == 0)
}

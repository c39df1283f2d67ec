//! Faults on PostgreSQL: the database server stops under load, stays down a few seconds and
//! comes back (issue 5). Keyhold answers 503 (never a 500, never a hang) to what needs the
//! database while it is down, recovers by itself — the people signed in before are still
//! signed in after, a browser that followed redirects during the outage included — and no
//! change is half-applied. API calls on cached routes keep answering throughout, and every
//! one of them is in the usage table afterwards (issue 18: usage waits in memory).
//!
//! This stops and starts the machine's shared PostgreSQL cluster, so it is `#[ignore]`d and
//! `.ci/run` runs it alone, after the PostgreSQL suite:
//! `TEST_DATABASE_URL=postgres://… cargo test --test app faults_pg -- --ignored`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyhold::db::DbConn;
use keyhold::db::schema::{api_tokens, audit_events, provider_keys, usage_events};
use keyhold::services::{api_tokens as tokens_service, audit::Actor};
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, csrf_in};
use crate::process::{Site, create_user, create_workspace, output_text as text};
use crate::support::mock_provider::MockProvider;

/// How long the cluster stays down: more than twice the pool's 5 s checkout timeout, so
/// that requests begun after the stop are answered while it is still down.
const HOLD: Duration = Duration::from_secs(12);
/// Every request of the test gives up after this: a request that needs it counts as a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(12);
/// The same for the browser, whose page may take a redirect or two.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(30);
/// From the cluster being started again to Keyhold answering 200 on its own.
const RECOVERY: Duration = Duration::from_secs(15);
/// Load before the stop and after the recovery.
const STEADY: Duration = Duration::from_secs(2);
/// Pause between two requests of one load task.
const PACE: Duration = Duration::from_millis(25);

const ADMIN: &str = "admin@example.test";
const OWNER: &str = "owner@example.test";
const SLUG: &str = "acme";

/// The machine's cluster `main`, as `pg_ctlcluster` knows it; started again on drop if a
/// failed assertion left it stopped.
struct Cluster {
    version: String,
    stopped: bool,
}

impl Cluster {
    /// The PostgreSQL version with a `main` cluster under /etc/postgresql (as `.ci/run`
    /// finds it); the newest when there are several.
    fn find() -> Option<Cluster> {
        let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("main").is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        versions.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
        Some(Cluster {
            version: versions.pop()?,
            stopped: false,
        })
    }

    async fn ctl(&self, action: &str) {
        let out = tokio::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, "main", action])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("run pg_ctlcluster");
        assert!(
            out.status.success(),
            "pg_ctlcluster {} main {action}: {}\n{}{}",
            self.version,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn stop(&mut self) {
        self.stopped = true;
        self.ctl("stop").await;
    }

    async fn start(&mut self) {
        self.ctl("start").await;
        self.stopped = false;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stopped {
            let _ = std::process::Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &self.version, "main", "start"])
                .status();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `GET /admin/integrations` as the signed-in admin.
    AdminPage,
    /// `GET /w/acme/settings/keys` as the signed-in owner.
    OwnerPage,
    /// The same in a "browser" that follows redirects: a success only when it ends on
    /// that page (not on the sign-in form).
    BrowserPage,
    /// `POST /v1/chat/completions` with the workspace token.
    Api,
    /// The same with `"stream": true`.
    ApiStream,
    /// The owner creates an API token (`api_token.created`).
    NewToken,
    /// The owner adds a workspace key (`workspace_key.added`).
    NewKey,
    /// `GET /readyz`.
    Ready,
}

/// Every kind, each checked in every phase.
const ALL: [Kind; 8] = [
    Kind::AdminPage,
    Kind::OwnerPage,
    Kind::BrowserPage,
    Kind::Api,
    Kind::ApiStream,
    Kind::NewToken,
    Kind::NewKey,
    Kind::Ready,
];

impl Kind {
    fn is_change(self) -> bool {
        matches!(self, Kind::NewToken | Kind::NewKey)
    }
}

/// One request and how it ended; times are from the start of the load.
#[derive(Debug, Clone)]
struct Outcome {
    kind: Kind,
    /// The token name or key label a change asked for.
    label: Option<String>,
    begun: Duration,
    ended: Duration,
    /// The status, or what went wrong on the client's side (timeout, connection).
    status: Result<u16, String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        let expected = match self.kind {
            Kind::NewKey => 303,
            _ => 200,
        };
        self.status == Ok(expected)
    }
}

type Log = Arc<Mutex<Vec<Outcome>>>;

/// A cookie-keeping client signed in as `email` through the real form, and its CSRF token.
async fn signed_in(site: &Site, email: &str, follow: bool) -> (Client, String) {
    let c = Client::builder()
        .cookie_store(true)
        .redirect(if follow {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        })
        .timeout(if follow {
            BROWSER_TIMEOUT
        } else {
            CLIENT_TIMEOUT
        })
        .build()
        .expect("client");
    let page = c
        .get(site.url("/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("body");
    let csrf = csrf_in(&page).expect("csrf_token on /login");
    let r = c
        .post(site.url("/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .expect("POST /login");
    let signed_in = if follow {
        r.status() == StatusCode::OK && !r.url().path().starts_with("/login")
    } else {
        r.status() == StatusCode::SEE_OTHER
    };
    assert!(
        signed_in,
        "sign-in of {email}: {} at {}",
        r.status(),
        r.url()
    );
    let page = c
        .get(site.url("/account"))
        .send()
        .await
        .expect("GET /account")
        .text()
        .await
        .expect("body");
    let csrf = csrf_in(&page).expect("csrf_token on /account");
    (c, csrf)
}

/// Everything one request of `kind` needs.
#[derive(Clone)]
struct Load {
    base: String,
    admin: Client,
    owner: Client,
    owner_csrf: String,
    browser: Client,
    api: Client,
    token: String,
}

impl Load {
    /// Sends one request of `kind` (`n` makes change labels unique) and reads the whole body.
    async fn once(&self, kind: Kind, n: usize) -> (Option<String>, Result<u16, String>) {
        let url = |p: &str| format!("{}{p}", self.base);
        let chat = |stream: bool| {
            self.api
                .post(url("/v1/chat/completions"))
                .bearer_auth(&self.token)
                .json(&json!({"model": "gpt-4o-mini", "stream": stream,
                              "messages": [{"role": "user", "content": "hello there"}]}))
        };
        let (label, req) = match kind {
            Kind::AdminPage => (None, self.admin.get(url("/admin/integrations"))),
            Kind::OwnerPage => (
                None,
                self.owner.get(url(&format!("/w/{SLUG}/settings/keys"))),
            ),
            Kind::BrowserPage => (
                None,
                self.browser.get(url(&format!("/w/{SLUG}/settings/keys"))),
            ),
            Kind::Api => (None, chat(false)),
            Kind::ApiStream => (None, chat(true)),
            Kind::NewToken => {
                let name = format!("outage-token-{n:04}");
                let req = self
                    .owner
                    .post(url(&format!("/w/{SLUG}/settings/tokens")))
                    .form(&[("name", name.as_str()), ("csrf_token", &self.owner_csrf)]);
                (Some(name), req)
            }
            Kind::NewKey => {
                let label = format!("outage-key-{n:04}");
                let secret = format!("sk-outage-{n:04}-abcdefghijklmnopqrstuvwxyz");
                let req = self
                    .owner
                    .post(url(&format!("/w/{SLUG}/settings/keys")))
                    .form(&[
                        ("provider", "openai"),
                        ("label", label.as_str()),
                        ("api_key", secret.as_str()),
                        ("csrf_token", &self.owner_csrf),
                    ]);
                (Some(label), req)
            }
            Kind::Ready => (None, self.api.get(url("/readyz"))),
        };
        let status = match req.send().await {
            Ok(r) if kind == Kind::BrowserPage && !r.url().path().ends_with("/settings/keys") => {
                Err(format!("{} at {}", r.status().as_u16(), r.url().path()))
            }
            Ok(r) => {
                let s = r.status().as_u16();
                // The whole body: a stream cut short is an error too.
                match r.bytes().await {
                    Ok(_) => Ok(s),
                    Err(e) => Err(format!("{s}, then the body failed: {e}")),
                }
            }
            Err(e) if e.is_timeout() => Err("no answer within the client's timeout".into()),
            Err(e) => Err(format!("request failed: {e}")),
        };
        (label, status)
    }
}

/// One load task: `kind` again and again until `stop`.
fn spawn_task(
    load: Load,
    kind: Kind,
    t0: Instant,
    log: Log,
    stop: Arc<AtomicBool>,
    first_n: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = first_n;
        while !stop.load(Ordering::Relaxed) {
            let begun = t0.elapsed();
            let (label, status) = load.once(kind, n).await;
            log.lock().expect("log").push(Outcome {
                kind,
                label,
                begun,
                ended: t0.elapsed(),
                status,
            });
            n += 1;
            tokio::time::sleep(PACE).await;
        }
    })
}

fn token_rows(conn: &mut DbConn, name: &str) -> i64 {
    api_tokens::table
        .filter(api_tokens::name.eq(name))
        .count()
        .get_result(conn)
        .expect("count tokens")
}

fn key_rows(conn: &mut DbConn, label: &str) -> i64 {
    provider_keys::table
        .filter(provider_keys::label.eq(label))
        .count()
        .get_result(conn)
        .expect("count keys")
}

fn audit_rows(conn: &mut DbConn, action: &str, target: &str) -> i64 {
    audit_events::table
        .filter(audit_events::action.eq(action))
        .filter(audit_events::target.eq(target))
        .count()
        .get_result(conn)
        .expect("count audit events")
}

/// Issue 5: "PostgreSQL restarted during load → requests fail with 503 while it is down, and
/// Keyhold recovers by itself; no change is half-applied (every change has its audit row)."
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "stops and starts the machine's shared PostgreSQL cluster; run alone with \
            TEST_DATABASE_URL=postgres://… cargo test --test app faults_pg -- --ignored"]
async fn postgres_stopped_under_load_answers_503_then_recovers_with_nothing_half_applied() {
    let on_postgres = std::env::var("TEST_DATABASE_URL")
        .is_ok_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    if !on_postgres {
        eprintln!(
            "SKIPPED postgres_stopped_under_load…: TEST_DATABASE_URL is not a postgres:// URL \
             (this test stops and starts the PostgreSQL cluster)"
        );
        return;
    }
    let Some(mut cluster) = Cluster::find() else {
        panic!("TEST_DATABASE_URL is PostgreSQL but no cluster `main` under /etc/postgresql");
    };

    // Arrange: a site on a fresh database with an admin, an owner of `acme`, the mock
    // provider behind OpenAI (global key set by the admin) and a workspace token.
    let mut site = Site::new();
    let provider = MockProvider::start().await;
    site.set_all_providers(&provider.base_url());
    let out = site.cli(&["migrate"], &[]);
    assert!(out.status.success(), "migrate: {}", text(&out));
    let ws_id = {
        let mut conn = site.conn();
        create_user(&mut conn, ADMIN, true);
        let owner_id = create_user(&mut conn, OWNER, false);
        create_workspace(&mut conn, SLUG, &[(&owner_id, "owner")]).0
    };
    let (_, token) = tokens_service::create(
        &mut site.conn(),
        &crate::process::test_keyring(),
        &Actor::cli(),
        &crate::helpers::id(&ws_id),
        "Load",
    )
    .expect("token");
    let mut served = site.serve(&[]).await;
    let (admin, admin_csrf) = signed_in(&site, ADMIN, false).await;
    let r = admin
        .post(site.url("/admin/integrations/openai"))
        .form(&[
            ("enabled", "on"),
            ("byok_enabled", "on"),
            ("failure_policy", "fail"),
            ("api_key", "sk-global-mock-key-0001"),
            ("csrf_token", &admin_csrf),
        ])
        .send()
        .await
        .expect("save the integration");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "openai enabled");
    let (owner, owner_csrf) = signed_in(&site, OWNER, false).await;
    let (browser, _) = signed_in(&site, OWNER, true).await;
    let load = Load {
        base: site.address.clone(),
        admin,
        owner,
        owner_csrf,
        browser,
        api: Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client"),
        token,
    };
    // Every kind works before the fault.
    for (i, kind) in ALL.into_iter().enumerate() {
        let (_, status) = load.once(kind, 9000 + i).await;
        let expected = if kind == Kind::NewKey { 303 } else { 200 };
        assert_eq!(status, Ok(expected), "{kind:?} before the fault");
    }

    // Act: steady load from several tasks; stop the cluster, hold it down, start it.
    let t0 = Instant::now();
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, kind) in [
        Kind::AdminPage,
        Kind::AdminPage,
        Kind::OwnerPage,
        Kind::BrowserPage,
        Kind::Api,
        Kind::Api,
        Kind::ApiStream,
        Kind::NewToken,
        Kind::NewKey,
        Kind::Ready,
    ]
    .into_iter()
    .enumerate()
    {
        tasks.push(spawn_task(
            load.clone(),
            kind,
            t0,
            log.clone(),
            stop.clone(),
            i * 1000,
        ));
    }
    tokio::time::sleep(STEADY).await;
    let stop_issued = t0.elapsed();
    cluster.stop().await;
    let down = t0.elapsed();
    tokio::time::sleep(HOLD).await;
    let start_issued = t0.elapsed();
    cluster.start().await;
    let up = t0.elapsed();
    // Keyhold, not restarted, answers /readyz with 200 again.
    let ready_client = Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let recovered = loop {
        if let Ok(r) = ready_client.get(site.url("/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < up + RECOVERY,
            "/readyz not 200 within {RECOVERY:?} of the cluster starting again:\n{}",
            served.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(STEADY).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }
    let outcomes = log.lock().expect("log").clone();

    // Report what happened, per kind and phase.
    let phase = |o: &Outcome| {
        if o.ended < stop_issued {
            "before"
        } else if o.begun >= down && o.ended <= start_issued {
            "down"
        } else if o.begun >= recovered {
            "after"
        } else {
            "around"
        }
    };
    let mut table: BTreeMap<(Kind, &str, String), usize> = BTreeMap::new();
    for o in &outcomes {
        let s = match &o.status {
            Ok(s) => s.to_string(),
            Err(e) => e.clone(),
        };
        *table.entry((o.kind, phase(o), s)).or_default() += 1;
    }
    eprintln!(
        "cluster {} stopped at {stop_issued:.1?}..{down:.1?}, started at {start_issued:.1?}..{up:.1?}, \
         /readyz 200 again at {recovered:.1?} ({:.1?} after the start); {} requests:",
        cluster.version,
        recovered - up,
        outcomes.len()
    );
    for ((kind, phase, status), n) in &table {
        eprintln!("  {kind:?} {phase:>6}: {status} x{n}");
    }
    let slowest = outcomes
        .iter()
        .map(|o| o.ended - o.begun)
        .max()
        .unwrap_or_default();
    eprintln!("  slowest answer {slowest:.2?}");

    // Assert. Every broken promise is collected, so that one run shows all of them.
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    // Distinct answers with their counts.
    let statuses = |os: &[&Outcome]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for o in os {
            *m.entry(format!("{:?}", o.status)).or_default() += 1;
        }
        m
    };

    // (5) The process stayed up.
    check(
        served.try_status().is_none(),
        "keyhold serve exited during the outage".into(),
    );

    // (1) No 500, no hang, no dropped connection, nothing but a success or a 503 — at any
    // time (every request has the client timeout).
    let bad: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.ok() && o.status != Ok(503))
        .collect();
    let mut grouped: BTreeMap<(Kind, &str, String), usize> = BTreeMap::new();
    for o in &bad {
        *grouped
            .entry((o.kind, phase(o), format!("{:?}", o.status)))
            .or_default() += 1;
    }
    check(
        bad.is_empty(),
        format!(
            "{} answers were neither a success nor a 503 (kind, phase, answer: count): {grouped:?}",
            bad.len()
        ),
    );

    // (1, 2) While it was down, everything that needs the database answered 503, /readyz
    // included; API calls answered 200 on a cached route (issue 18), or 503 when a change
    // just before the outage left the cached entry unconfirmed (this test keeps creating
    // tokens, and each moves the one cache epoch): Keyhold never answers on a token or route
    // it cannot confirm. How many answered 200 is printed below.
    for kind in ALL {
        let seen: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.kind == kind && phase(o) == "down")
            .collect();
        check(
            !seen.is_empty(),
            format!("no {kind:?} request was answered while the cluster was down"),
        );
        let cached = matches!(kind, Kind::Api | Kind::ApiStream);
        check(
            seen.iter()
                .all(|o| (cached && o.ok()) || o.status == Ok(503)),
            format!("{kind:?} while down: {:?}", statuses(&seen)),
        );
    }

    // (3) After the recovery every kind answers again, with the sessions signed in before.
    for kind in ALL {
        let after: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.kind == kind && phase(o) == "after")
            .collect();
        check(
            !after.is_empty(),
            format!("no {kind:?} request after the recovery"),
        );
        check(
            after.iter().all(|o| o.ok()),
            format!("{kind:?} after the recovery: {:?}", statuses(&after)),
        );
    }

    // (4) Nothing half-applied: each change asked for exists with its audit row, or neither
    // does. A change answered with success exists; one answered with an error does not.
    let mut conn = site.conn();
    let mut changes = 0;
    for o in outcomes.iter().filter(|o| o.kind.is_change()) {
        let label = o.label.as_deref().expect("a change has a label");
        let (rows, audits) = match o.kind {
            Kind::NewToken => (
                token_rows(&mut conn, label),
                audit_rows(&mut conn, "api_token.created", label),
            ),
            _ => (
                key_rows(&mut conn, label),
                audit_rows(&mut conn, "workspace_key.added", label),
            ),
        };
        changes += 1;
        check(
            (rows, audits) == (0, 0) || (rows, audits) == (1, 1),
            format!("{label}: {rows} row(s) and {audits} audit event(s)"),
        );
        check(
            !o.ok() || rows == 1,
            format!("{label} was answered {:?} but is missing", o.status),
        );
        check(
            o.ok() || rows == 0,
            format!("{label} was answered {:?} but was applied", o.status),
        );
    }
    eprintln!("  {changes} changes checked against their rows and audit events");

    // Usage of the calls answered 200 is all written (two calls before the load, too),
    // those answered while the database was down included; none dropped.
    let api_ok = 2 + outcomes
        .iter()
        .filter(|o| matches!(o.kind, Kind::Api | Kind::ApiStream) && o.ok())
        .count() as i64;
    let api_down = outcomes
        .iter()
        .filter(|o| matches!(o.kind, Kind::Api | Kind::ApiStream) && phase(o) == "down")
        .count();
    let deadline = Instant::now() + Duration::from_secs(15);
    let usage = loop {
        let n: i64 = usage_events::table
            .count()
            .get_result(&mut conn)
            .expect("usage rows");
        if n >= api_ok || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("  API calls answered 200: {api_ok} ({api_down} while down); usage rows: {usage}");
    check(
        usage >= api_ok,
        format!("{api_ok} API calls answered 200 but only {usage} usage events were recorded"),
    );
    // The cache-change listener reconnects by itself (within its 5 s longest pause).
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let page = load
            .api
            .get(site.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics");
        if page.lines().any(|l| l == "keyhold_epoch_listener_up 1") || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for line in [
        "keyhold_usage_events_queued 0",
        "keyhold_usage_events_dropped_total 0",
        "keyhold_usage_events_queue_limit 100000",
        "keyhold_epoch_listener_up 1",
    ] {
        check(
            metrics.lines().any(|l| l == line),
            format!("/metrics lacks `{line}`"),
        );
    }
    let out = site.cli(&["audit", "verify"], &[]);
    check(
        out.status.success(),
        format!("audit verify: {}", text(&out)),
    );
    drop(conn);
    check(
        served.try_status().is_none(),
        "keyhold serve exited after the outage".into(),
    );
    check(
        t0.elapsed() < Duration::from_secs(60),
        format!("the test ran {:?}", t0.elapsed()),
    );

    assert!(
        failures.is_empty(),
        "PostgreSQL outage: {} broken promise(s):\n- {}\n\nkeyhold's log:\n{}",
        failures.len(),
        failures.join("\n- "),
        served.logs()
    );
}

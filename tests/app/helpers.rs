#![allow(dead_code)]
//! The test harness: each test gets its own Keyhold on a free port with a fresh database
//! (a temp SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set),
//! a real SMTP sink and a mock AI provider on loopback, and cookie-keeping clients.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use keyhold::config::Config;
use keyhold::db::{self, Backend, DbConn};
use keyhold::startup::{Application, Tuning};
use reqwest::{Client, Response, StatusCode};

use crate::support::mock_provider::MockProvider;
use crate::support::smtp_sink::SmtpSink;

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";
/// A fixed master keyring (v1) for tests.
pub const MASTER_KEYS: &str = "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// One running Keyhold and everything around it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub smtp: SmtpSink,
    pub provider: MockProvider,
    pub db_url: String,
    pub backend: Backend,
    pub env: HashMap<String, String>,
    pub data_dir: tempfile::TempDir,
    pg_cleanup: Option<(String, String)>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh database URL for one test: a SQLite file in `dir`, or a new PostgreSQL database.
pub fn fresh_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let name = format!("kh_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = db::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
            use diesel::RunQueryDsl;
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            (url.to_string(), Some((admin_url, name)))
        }
        None => (
            format!("sqlite://{}", dir.join("keyhold.db").display()),
            None,
        ),
    }
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct Options {
    /// Extra or overriding environment variables.
    pub env: Vec<(String, String)>,
    /// Use this database instead of a fresh one (a second instance on the same data).
    pub database_url: Option<String>,
    /// Disable the SMTP sink (mail goes to files).
    pub no_smtp: bool,
    /// Gateway timeouts and limits instead of the defaults.
    pub gateway: Option<keyhold::gateway::Limits>,
    /// Password-guessing limits (and their clock) instead of the defaults.
    pub throttle: Option<keyhold::services::throttle::Policy>,
    /// First pause before the cache-change listener reconnects (PostgreSQL).
    pub listen_retry: Option<Duration>,
}

impl TestApp {
    /// A fresh app with default settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    /// A fresh app with options.
    pub async fn spawn_with(opts: Options) -> TestApp {
        init_logs();
        let data_dir = tempfile::tempdir().expect("tempdir");
        let (db_url, pg_cleanup) = match opts.database_url {
            Some(u) => (u, None),
            None => fresh_database(data_dir.path()),
        };
        let smtp = SmtpSink::start().await;
        let provider = MockProvider::start().await;
        let port = free_port();
        let mut env: HashMap<String, String> = HashMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_owned(), v);
        };
        set("KEYHOLD_DATA_DIR", data_dir.path().display().to_string());
        set("KEYHOLD_DATABASE_URL", db_url.clone());
        set("KEYHOLD_MASTER_KEYS", MASTER_KEYS.into());
        set(
            "KEYHOLD_SESSION_SECRET",
            "test-session-secret-that-is-long-enough-for-hmac".into(),
        );
        set("KEYHOLD_BIND", format!("127.0.0.1:{port}"));
        set("KEYHOLD_PUBLIC_URL", format!("http://127.0.0.1:{port}"));
        set("KEYHOLD_MAIL_FROM", "Keyhold <keyhold@example.test>".into());
        set("KEYHOLD_WORKERS", "2".into());
        // The admin's audit page shows what the background check found: check every second.
        set("KEYHOLD_AUDIT_CHECK_SECS", "1".into());
        if !opts.no_smtp {
            set("KEYHOLD_SMTP_URL", smtp.url());
        }
        // Each provider under its real default path on the mock (Gemini's `/v1beta/openai`,
        // Groq's `/openai/v1`, ...), so a wrong path in the catalogue fails a test.
        // (Hosts per key or region — Azure, Bedrock, Vertex, compatible hosts — have no
        // one base URL; the tests that use them point them at their own mocks.)
        for p in keyhold::domain::providers::catalogue()
            .iter()
            .filter(|p| !p.auth.host_per_key())
        {
            let path = url::Url::parse(p.default_base_url).expect("catalogue URL");
            let path = path.path().trim_end_matches('/');
            set(
                &keyhold::config::provider_var(p.id),
                format!("http://127.0.0.1:{}{path}", provider.port()),
            );
        }
        for (k, v) in opts.env {
            env.insert(k, v);
        }
        let lookup = env.clone();
        let config = Config::from_lookup(move |k| lookup.get(k).cloned())
            .expect("test configuration is valid");
        let backend = Backend::from_url(&db_url).expect("backend");
        let tuning = Tuning {
            mail_retry_base_secs: 1,
            gateway: opts.gateway.unwrap_or_default(),
            throttle: opts.throttle.unwrap_or_default(),
            listen_retry: opts
                .listen_retry
                .unwrap_or_else(|| Tuning::default().listen_retry),
            ..Tuning::default()
        };
        let app = Application::build_with(config, tuning)
            .await
            .expect("app builds");
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            smtp,
            provider,
            db_url,
            backend,
            env,
            data_dir,
            pg_cleanup,
        }
    }

    /// A second instance on the same database (and the same secrets).
    pub async fn spawn_sibling(&self) -> TestApp {
        self.spawn_sibling_with(Options::default()).await
    }

    /// A second instance on the same database with `opts` (its environment and database
    /// are this one's).
    pub async fn spawn_sibling_with(&self, opts: Options) -> TestApp {
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("KEYHOLD_MASTER")
                    || k.starts_with("KEYHOLD_SESSION")
                    || k.starts_with("KEYHOLD_PROVIDER")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self::spawn_with(Options {
            env,
            database_url: Some(self.db_url.clone()),
            no_smtp: false,
            ..opts
        })
        .await
    }

    /// A fresh "browser": its own cookie jar, redirects not followed.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// `address + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The app's master keyring (test code that writes audit events keys them with it).
    pub fn keyring(&self) -> keyhold::domain::vault::Keyring {
        keyhold::domain::vault::Keyring::parse(&self.env["KEYHOLD_MASTER_KEYS"])
            .expect("the app's keyring")
    }

    /// A direct database connection (for arrange and assert steps).
    pub fn db(&self) -> DbConn {
        db::establish(&self.db_url).expect("connect to the test database")
    }

    pub async fn get(&self, c: &Client, path: &str) -> Response {
        c.get(self.url(path)).send().await.expect("GET")
    }

    /// GET and return status and body.
    pub async fn get_html(&self, c: &Client, path: &str) -> (StatusCode, String) {
        let r = self.get(c, path).await;
        let s = r.status();
        (s, r.text().await.expect("body"))
    }

    /// The CSRF token of `c`'s session (from the account page, or the sign-in page when
    /// signed out).
    pub async fn csrf(&self, c: &Client) -> String {
        for page in ["/account", "/login"] {
            let (status, body) = self.get_html(c, page).await;
            if status == StatusCode::OK
                && let Some(t) = csrf_in(&body)
            {
                return t;
            }
        }
        panic!("no CSRF token found for this client");
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post_form(&self, c: &Client, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(c).await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        c.post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a user directly in the database (password [`PASSWORD`]).
    pub fn create_user(&self, email: &str, is_admin: bool) -> String {
        crate::process::create_user_keyed(&mut self.db(), &self.keyring(), email, is_admin)
    }

    /// Creates a workspace with the given members, directly; returns (id, slug).
    pub fn create_workspace(&self, slug: &str, members: &[(&str, &str)]) -> (String, String) {
        crate::process::create_workspace_keyed(&mut self.db(), &self.keyring(), slug, members)
    }

    /// Signs `c` in and asserts it worked.
    pub async fn sign_in(&self, c: &Client, email: &str) {
        let r = self.sign_in_with(c, email, PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {email} should redirect"
        );
    }

    /// Posts the sign-in form.
    pub async fn sign_in_with(&self, c: &Client, email: &str, password: &str) -> Response {
        self.post_form(c, "/login", &[("email", email), ("password", password)])
            .await
    }

    /// A new signed-in client for a new user.
    pub async fn user_client(&self, email: &str, is_admin: bool) -> (Client, String) {
        let id = self.create_user(email, is_admin);
        let c = self.client();
        self.sign_in(&c, email).await;
        (c, id)
    }

    /// Count of rows in the audit log with `action`.
    pub fn audit_count(&self, action: &str) -> i64 {
        use diesel::prelude::*;
        use keyhold::db::schema::audit_events;
        audit_events::table
            .filter(audit_events::action.eq(action))
            .count()
            .get_result(&mut self.db())
            .expect("count audit")
    }

    /// Runs the `keyhold` binary with this app's environment plus `extra`.
    pub fn run_cli(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyhold"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().expect("run keyhold")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_cleanup.take() {
            // Best effort: the server task may still hold connections, hence FORCE.
            if let Ok(mut admin) = db::establish(&admin_url) {
                use diesel::RunQueryDsl;
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// The value of the first `csrf_token` hidden input in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf_token\" value=\"")?;
    let rest = &html[i + "name=\"csrf_token\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The `Location` header of a redirect.
pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The path (and query) of an absolute link from a mail.
pub fn path_of(link: &str) -> String {
    let u = url::Url::parse(link).expect("absolute link");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

/// Captures the app's logs once per test process (shown on failure by the test runner);
/// `TEST_LOG=1` prints them.
fn init_logs() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            std::env::var("TEST_LOG_FILTER").unwrap_or_else(|_| "info".into()),
        );
        if std::env::var("TEST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
        } else {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}

// ---------------------------------------------------------------- walking the route table

/// A seeded platform for walking every route: an admin who belongs to no workspace, a
/// workspace with an owner, a member and a "victim" member (the target of user and member
/// routes), a pending invitation, and a second workspace with its own owner.
pub struct World {
    pub admin_email: String,
    pub owner_email: String,
    pub member_email: String,
    pub other_owner_email: String,
    pub admin: String,
    pub owner: String,
    pub member: String,
    pub other_owner: String,
    pub victim: String,
    pub ws_id: String,
    pub slug: String,
    pub other_slug: String,
    pub invitation_id: String,
    /// A workspace key, once a test has added one (else key routes get a dummy id).
    pub key_id: Option<String>,
    /// A workspace API token, once a test has created one.
    pub token_id: Option<String>,
}

impl TestApp {
    /// Seeds a [`World`] directly in the database.
    pub fn seed_world(&self) -> World {
        use diesel::prelude::*;
        use keyhold::db::schema::invitations;
        let admin = self.create_user("admin@example.test", true);
        let owner = self.create_user("owner@example.test", false);
        let member = self.create_user("member@example.test", false);
        let other_owner = self.create_user("other@example.test", false);
        let victim = self.create_user("victim@example.test", false);
        let (ws_id, slug) = self.create_workspace(
            "acme",
            &[(&owner, "owner"), (&member, "member"), (&victim, "member")],
        );
        let (_, other_slug) = self.create_workspace("globex", &[(&other_owner, "owner")]);
        let invitation_id = uuid::Uuid::new_v4().to_string();
        let t = keyhold::db::now();
        diesel::insert_into(invitations::table)
            .values((
                invitations::id.eq(&invitation_id),
                invitations::workspace_id.eq(&ws_id),
                invitations::email.eq("invitee@example.test"),
                invitations::role.eq("member"),
                invitations::token_hash.eq(keyhold::domain::tokens::hash("seeded-invitation")),
                invitations::invited_by.eq(Some(&owner)),
                invitations::created_at.eq(t),
                invitations::expires_at.eq(t + 86400),
            ))
            .execute(&mut self.db())
            .expect("insert invitation");
        World {
            admin_email: "admin@example.test".into(),
            owner_email: "owner@example.test".into(),
            member_email: "member@example.test".into(),
            other_owner_email: "other@example.test".into(),
            admin,
            owner,
            member,
            other_owner,
            victim,
            ws_id,
            slug,
            other_slug,
            invitation_id,
            key_id: None,
            token_id: None,
        }
    }
}

impl World {
    /// A route pattern with its `{params}` replaced by this world's ids (unknown parameters
    /// get a dummy value).
    pub fn fill(&self, pattern: &str) -> String {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').expect("closing brace") + open;
            let name = &rest[open + 1..close];
            let value = match (name, &rest[..open]) {
                ("slug", _) => self.slug.clone(),
                ("user_id", _) => self.victim.clone(),
                ("id", before) if before.ends_with("/admin/users/") => self.victim.clone(),
                ("id", before) if before.ends_with("/admin/workspaces/") => self.ws_id.clone(),
                ("id", before) if before.ends_with("/invitations/") => self.invitation_id.clone(),
                ("invitation", _) => self.invitation_id.clone(),
                ("id", before) if before.ends_with("/settings/keys/") => {
                    self.key_id.clone().unwrap_or_else(|| "dummy".into())
                }
                ("id", before) if before.ends_with("/settings/tokens/") => {
                    self.token_id.clone().unwrap_or_else(|| "dummy".into())
                }
                ("version", _) => keyhold::web::assets::version().to_owned(),
                ("name", _) => "app.css".to_owned(),
                ("provider", _) => keyhold::domain::providers::catalogue()[0].id.to_owned(),
                _ => "dummy".to_owned(),
            };
            out.push_str(&value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// What a request could have changed: the row count of every table, and the
/// security-relevant columns of users, memberships, invitations and settings.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub counts: Vec<(String, i64)>,
    pub users: Vec<(String, bool, bool, i64, String)>,
    pub memberships: Vec<(String, String, String)>,
    pub invitations: Vec<(String, Option<i64>, Option<i64>)>,
    pub settings: Vec<(String, String)>,
}

#[derive(diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct RowCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Takes a [`Snapshot`] over `conn`.
pub fn snapshot(conn: &mut DbConn) -> Snapshot {
    use diesel::prelude::*;
    use keyhold::db::schema::{invitations, memberships, settings, users};
    let list = match conn {
        DbConn::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY name"
        }
        DbConn::Postgres(_) => {
            "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename NOT LIKE '__diesel%' ORDER BY tablename"
        }
    };
    let tables: Vec<TableName> = diesel::sql_query(list).load(conn).expect("list tables");
    let counts = tables
        .into_iter()
        .map(|t| {
            let n: RowCount = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {}", t.name))
                .get_result(conn)
                .expect("count rows");
            (t.name, n.n)
        })
        .collect();
    Snapshot {
        counts,
        users: users::table
            .order(users::id)
            .select((
                users::id,
                users::is_admin,
                users::disabled,
                users::session_epoch,
                users::password_hash,
            ))
            .load(conn)
            .expect("users"),
        memberships: memberships::table
            .order((memberships::workspace_id, memberships::user_id))
            .select((
                memberships::workspace_id,
                memberships::user_id,
                memberships::role,
            ))
            .load(conn)
            .expect("memberships"),
        invitations: invitations::table
            .order(invitations::id)
            .select((
                invitations::id,
                invitations::accepted_at,
                invitations::revoked_at,
            ))
            .load(conn)
            .expect("invitations"),
        settings: settings::table
            .order(settings::key)
            .select((settings::key, settings::value))
            .load(conn)
            .expect("settings"),
    }
}

/// The security headers SPEC §11 puts on every response; panics naming `what` otherwise.
pub fn assert_security_headers(r: &Response, what: &str) {
    let h = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        h("content-security-policy"),
        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        "CSP on {what}"
    );
    assert_eq!(h("x-content-type-options"), "nosniff", "nosniff on {what}");
    assert!(
        !h("referrer-policy").is_empty(),
        "Referrer-Policy on {what}"
    );
}

/// Fields that satisfy every form of the app at once (handlers ignore fields they do not
/// know); `n` makes the email and slug unique.
pub fn any_form(n: usize) -> Vec<(String, String)> {
    let provider = keyhold::domain::providers::catalogue()[0].id;
    [
        ("email", format!("new{n}@example.test")),
        ("name", "New Person".to_owned()),
        ("slug", format!("new-space-{n}")),
        ("workspace_name", "New Space".to_owned()),
        ("role", "member".to_owned()),
        ("token", "dummy".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("password_confirm", PASSWORD.to_owned()),
        ("current_password", "not the password".to_owned()),
        ("provider", provider.to_owned()),
        ("label", "Test".to_owned()),
        ("direction", "down".to_owned()),
        ("model", "test-model".to_owned()),
        // Empty, so no chat request reaches a provider.
        ("prompt", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl TestApp {
    /// Signs `c` in again if a request (sign-out, sign out everywhere) ended its session.
    pub async fn ensure_signed_in(&self, c: &Client, email: &str) {
        if self.get(c, "/account").await.status() != StatusCode::OK {
            self.sign_in(c, email).await;
        }
    }
}

/// The first `{id}` of links shaped `{prefix}{id}/…` in `html`.
pub fn id_after(html: &str, prefix: &str) -> Option<String> {
    html.split(prefix)
        .skip(1)
        .filter_map(|rest| rest.split('/').next())
        .find(|id| !id.is_empty() && !id.contains(['"', '<', ' ']))
        .map(str::to_owned)
}

impl TestApp {
    /// The value of the `/metrics` sample `series` (name and labels exactly); 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let page = self
            .get(&self.client(), "/metrics")
            .await
            .text()
            .await
            .expect("metrics body");
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

/// A test's id text as the typed id (`WorkspaceId`, `UserId`, ...) the services take.
pub fn id<T: std::str::FromStr>(text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not an id"))
}

/// The text of an HTML fragment, its tags left out, trimmed.
pub fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in s.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

#![allow(dead_code)]
//! Keyhold as a child process: the real `keyhold` binary with its whole output captured to
//! files, for tests that need what an in-process app cannot give: every log line it prints
//! (the leak canary), signals (a graceful SIGTERM, `kill -9` during a CLI command).
//!
//! A [`Site`] is the configuration and data of one installation (a temp data dir, a fresh
//! SQLite or PostgreSQL database, the environment); [`Site::serve`] starts `keyhold serve`
//! on it and [`Site::command`] runs any other subcommand with the same environment.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use keyhold::db::{self, DbConn};

use crate::helpers::{MASTER_KEYS, PASSWORD};

/// A second master key (for rotations): `v2`, 32 bytes.
pub const MASTER_KEY_V2: &str = "v2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The keyring test code writes audit events with when it arranges a database directly:
/// v1 active, v2 known (so a head already moved to v2 by a rotation still verifies).
pub fn test_keyring() -> keyhold::domain::vault::Keyring {
    keyhold::domain::vault::Keyring::parse(&format!("{MASTER_KEYS},{MASTER_KEY_V2}"))
        .expect("test keyring")
}

/// A database made for one test; a PostgreSQL one is dropped again at the end.
pub struct FreshDb {
    pub url: String,
    pg: Option<(String, String)>,
}

impl FreshDb {
    /// A SQLite file in `dir`, or a new database on `TEST_DATABASE_URL`'s server.
    pub fn new(dir: &Path) -> FreshDb {
        let (url, pg) = crate::helpers::fresh_database(dir);
        FreshDb { url, pg }
    }

    /// A direct connection.
    pub fn conn(&self) -> DbConn {
        db::establish(&self.url).expect("connect to the test database")
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take()
            && let Ok(mut admin) = db::establish(&admin_url)
        {
            use diesel::RunQueryDsl;
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One installation: data dir, database and environment (as the harness sets them up).
pub struct Site {
    pub db: FreshDb,
    pub data_dir: tempfile::TempDir,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub env: BTreeMap<String, String>,
    /// The umask every command starts with (through `sh -c 'umask …'`), when set.
    pub umask: Option<&'static str>,
}

impl Site {
    /// A fresh site: temp data dir, fresh database, the test master key (v1), a session
    /// secret, a free port. No SMTP and no provider URLs yet (see [`Site::set`]).
    pub fn new() -> Site {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let db = FreshDb::new(data_dir.path());
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("KEYHOLD_DATA_DIR", data_dir.path().display().to_string()),
            ("KEYHOLD_DATABASE_URL", db.url.clone()),
            ("KEYHOLD_MASTER_KEYS", MASTER_KEYS.to_owned()),
            (
                "KEYHOLD_SESSION_SECRET",
                "test-session-secret-that-is-long-enough-for-hmac".to_owned(),
            ),
            ("KEYHOLD_BIND", format!("127.0.0.1:{port}")),
            ("KEYHOLD_PUBLIC_URL", address.clone()),
            (
                "KEYHOLD_MAIL_FROM",
                "Keyhold <keyhold@example.test>".to_owned(),
            ),
            ("KEYHOLD_WORKERS", "2".to_owned()),
        ] {
            env.insert(k.to_owned(), v);
        }
        Site {
            db,
            data_dir,
            port,
            address,
            env,
            umask: None,
        }
    }

    /// Sets (or replaces) one environment variable of every later command.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.to_owned(), value.into());
    }

    /// Points every catalogue provider at `base_url`.
    pub fn set_all_providers(&mut self, base_url: &str) {
        for p in keyhold::domain::providers::catalogue() {
            self.set(&keyhold::config::provider_var(p.id), base_url);
        }
    }

    /// `keyhold <args>` with this site's environment (and nothing else but `PATH`) plus
    /// `extra`.
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let binary = env!("CARGO_BIN_EXE_keyhold");
        let mut cmd = match self.umask {
            Some(umask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
                    .arg(binary);
                sh
            }
            None => Command::new(binary),
        };
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `keyhold <args>` to the end.
    pub fn cli(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.command(args, extra)
            .stdin(Stdio::null())
            .output()
            .expect("run keyhold")
    }

    /// A direct database connection.
    pub fn conn(&self) -> DbConn {
        self.db.conn()
    }

    /// `address + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Starts `keyhold serve` with stdout and stderr written to files in the data dir, and
    /// waits until `/healthz` answers.
    pub async fn serve(&self, extra: &[(&str, &str)]) -> Served {
        let logs = self.data_dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        let stdout = logs.join("serve.stdout.log");
        let stderr = logs.join("serve.stderr.log");
        let child = self
            .command(&["serve"], extra)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start keyhold serve");
        let mut served = Served {
            child: Some(child),
            stdout,
            stderr,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return served;
            }
            if let Some(status) = served.try_status() {
                panic!(
                    "keyhold serve exited with {status} before answering:\n{}",
                    served.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "keyhold serve did not answer /healthz within 30 s:\n{}",
                served.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running `keyhold serve`; killed (SIGKILL) when dropped unless stopped before.
pub struct Served {
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// The exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Everything it printed so far, stdout then stderr.
    pub fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read(p).unwrap_or_default();
        format!(
            "{}{}",
            String::from_utf8_lossy(&read(&self.stdout)),
            String::from_utf8_lossy(&read(&self.stderr))
        )
    }

    /// SIGTERM, then waits (at most `within`) for it to exit; returns its status.
    pub async fn terminate(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        signal(child.id(), "TERM");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "keyhold serve did not exit within {within:?} of SIGTERM:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `SIG<name>` to `pid` with kill(1) (the crate forbids unsafe code, so no libc).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Creates a user directly in the database (password [`PASSWORD`]); returns its id.
pub fn create_user(conn: &mut DbConn, email: &str, is_admin: bool) -> String {
    create_user_keyed(conn, &test_keyring(), email, is_admin)
}

/// [`create_user`] with the audit event keyed under `keyring`.
pub fn create_user_keyed(
    conn: &mut DbConn,
    keyring: &keyhold::domain::vault::Keyring,
    email: &str,
    is_admin: bool,
) -> String {
    let hash = keyhold::domain::password::hash(&secrecy::SecretString::from(PASSWORD.to_owned()))
        .expect("hash");
    let email = keyhold::domain::ids::Email::parse(email).expect("email");
    db::write_tx(conn, |c| {
        keyhold::services::accounts::insert_user(
            c,
            keyring,
            &keyhold::services::audit::Actor::cli(),
            &email,
            "Test User",
            &hash,
            is_admin,
        )
    })
    .expect("insert user")
    .id
    .into()
}

/// Creates a workspace with `members` (user id, role) directly; returns (id, slug).
pub fn create_workspace(
    conn: &mut DbConn,
    slug: &str,
    members: &[(&str, &str)],
) -> (String, String) {
    create_workspace_keyed(conn, &test_keyring(), slug, members)
}

/// [`create_workspace`] with the audit events keyed under `keyring`.
pub fn create_workspace_keyed(
    conn: &mut DbConn,
    keyring: &keyhold::domain::vault::Keyring,
    slug: &str,
    members: &[(&str, &str)],
) -> (String, String) {
    use keyhold::domain::roles::Role;
    use keyhold::services::{accounts, workspaces};
    db::write_tx(conn, |c| {
        let actor = keyhold::services::audit::Actor::cli();
        let slug = keyhold::domain::ids::WorkspaceSlug::parse(slug).expect("slug");
        let ws = workspaces::insert_workspace(
            c,
            keyring,
            &actor,
            &format!("Workspace {}", slug.as_str()),
            Some(slug),
        )?;
        for (user_id, role) in members {
            let user = accounts::get_user(c, &crate::helpers::id(user_id))?;
            workspaces::add_member(
                c,
                keyring,
                &actor,
                &ws,
                &user,
                Role::parse(role).expect("role"),
            )?;
        }
        Ok::<_, keyhold::error::Error>((ws.id.into(), ws.slug))
    })
    .expect("create workspace")
}

/// Every row of every table as text, one line per row (`table: col=value; …`), skipping
/// the columns in `skip` (`table.column`).
pub fn dump_tables(conn: &mut DbConn, skip: &[&str]) -> String {
    use diesel::RunQueryDsl;
    use diesel::sql_types::{Nullable, Text};

    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Cell {
        #[diesel(sql_type = Nullable<Text>)]
        v: Option<String>,
    }

    let postgres = matches!(conn, DbConn::Postgres(_));
    let tables: Vec<Name> = diesel::sql_query(if postgres {
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    })
    .load(conn)
    .expect("list tables");
    let mut out = String::new();
    for t in tables {
        let columns: Vec<Name> = diesel::sql_query(if postgres {
            format!(
                "SELECT column_name::text AS name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{}' ORDER BY ordinal_position",
                t.name
            )
        } else {
            format!("SELECT name FROM pragma_table_info('{}')", t.name)
        })
        .load(conn)
        .expect("list columns");
        let columns: Vec<String> = columns
            .into_iter()
            .map(|c| c.name)
            .filter(|c| !skip.contains(&format!("{}.{c}", t.name).as_str()))
            .collect();
        if columns.is_empty() {
            continue;
        }
        let row = columns
            .iter()
            .map(|c| format!("'{c}=' || COALESCE(CAST(\"{c}\" AS TEXT), 'NULL')"))
            .collect::<Vec<_>>()
            .join(" || '; ' || ");
        let rows: Vec<Cell> = diesel::sql_query(format!("SELECT {row} AS v FROM \"{}\"", t.name))
            .load(conn)
            .unwrap_or_else(|e| panic!("dump {}: {e}", t.name));
        for r in rows {
            out.push_str(&t.name);
            out.push_str(": ");
            out.push_str(&r.v.unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// A finished command's exit status, stdout and stderr, for assertion messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "exit {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

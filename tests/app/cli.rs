//! The `keyhold` command: bad configuration is one line and exit code 2; `serve` works with
//! no configuration at all; `migrate`, `create-admin`, `gen-master-key` and `--help` work;
//! the two migration trees match.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::*;

/// The binary with a clean environment (PATH only), run in `dir`.
fn keyhold(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhold"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_variable_never_its_value() {
    let zero_key = "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let cases = [
        ("KEYHOLD_DATABASE_URL", "mysql://x"),
        ("KEYHOLD_MASTER_KEYS", "v1:short"),
        ("KEYHOLD_MASTER_KEYS", zero_key),
        ("KEYHOLD_BIND", "nonsense"),
        ("KEYHOLD_METRICS_TOKEN", "tooshort-secret"),
    ];
    for (var, value) in cases {
        for command in ["serve", "check", "migrate"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let out = keyhold(dir.path())
                .arg(command)
                .env(var, value)
                .output()
                .expect("run keyhold");
            let (stdout, stderr) = text(&out);
            let all = format!("{stdout}{stderr}");
            assert_eq!(out.status.code(), Some(2), "{command} {var}={value}: {all}");
            assert_eq!(all.trim().lines().count(), 1, "one line: {all}");
            assert!(all.contains(var), "names {var}: {all}");
            let secret_part = value.split(':').next_back().expect("value");
            assert!(!all.contains(value), "prints the value: {all}");
            assert!(!all.contains(secret_part), "prints the value: {all}");
            assert!(!all.contains("panicked"), "{all}");
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends every output line of the child (stdout and stderr) to one channel.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
    let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
    for stream in [out, err] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

#[tokio::test]
async fn serve_with_zero_configuration_creates_its_data_and_prints_a_working_setup_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = keyhold(dir.path())
        .env("KEYHOLD_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyhold serve");
    let rx = lines_of(&mut child);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let setup = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("no setup link printed: {log:#?}")
            });
        log.push(line.clone());
        if let Some(i) = line.find("http://")
            && line.contains("/setup?token=")
        {
            break line[i..].trim().to_owned();
        }
    };
    let all = log.join("\n");
    assert!(all.contains("WARN"), "{all}");
    assert!(all.contains("KEYHOLD_MASTER_KEYS was not set"), "{all}");
    assert!(all.contains("GENERATED"), "a loud warning: {all}");
    assert!(setup.starts_with(&format!("http://127.0.0.1:{port}/setup?token=")));

    let data = dir.path().join("data");
    assert!(data.join("keyhold.db").is_file());
    assert!(data.join("mail").is_dir(), "mail goes to ./data/mail");
    for secret in ["master.keys", "session.key"] {
        let meta = std::fs::metadata(data.join(secret)).expect(secret);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{secret}");
    }

    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = c.get(&setup).send().await.expect("GET setup");
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.expect("body");
    let csrf = csrf_in(&body).expect("a CSRF token");
    let token = setup.split("token=").nth(1).expect("token");
    let r = c
        .post(format!("http://127.0.0.1:{port}/setup"))
        .form(&[
            ("token", token),
            ("name", "Root"),
            ("email", "root@example.test"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .expect("POST setup");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin");
    let admin = c
        .get(format!("http://127.0.0.1:{port}/admin"))
        .send()
        .await
        .expect("GET /admin");
    assert_eq!(admin.status(), StatusCode::OK);
    let again = c.get(&setup).send().await.expect("GET setup again");
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "the link works once");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("keyhold did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

/// Runs the binary with the app's environment and `input` on stdin.
fn run_with_stdin(app: &TestApp, args: &[&str], input: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = keyhold(dir.path());
    cmd.args(args)
        .envs(&app.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[tokio::test]
async fn migrate_and_create_admin_work_from_the_shell() {
    let app = TestApp::spawn().await;
    let out = app.run_cli(&["migrate"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("Database is up to date."));

    let out = app.run_cli(
        &[
            "create-admin",
            "--email",
            "Root@Example.test",
            "--name",
            "Root",
        ],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let link = stdout
        .split_whitespace()
        .find(|w| w.contains("/password/reset?token="))
        .unwrap_or_else(|| panic!("a one-time link: {stdout}"));
    assert!(link.starts_with(&app.address), "{link}");
    let c = app.client();
    assert_eq!(app.get_html(&c, &path_of(link)).await.0, StatusCode::OK);
    let token = link.split("token=").nth(1).expect("token");
    let new_pw = "root password chosen";
    let r = app
        .post_form(
            &c,
            "/password/reset",
            &[
                ("token", token),
                ("password", new_pw),
                ("password_confirm", new_pw),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.sign_in_with(&c, "root@example.test", new_pw).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_html(&c, "/admin").await.0, StatusCode::OK);
    assert_eq!(
        app.get_html(&c, &path_of(link)).await.0,
        StatusCode::NOT_FOUND
    );

    let pw = "typed on standard input";
    let out = run_with_stdin(
        &app,
        &[
            "create-admin",
            "--email",
            "ops@example.test",
            "--password-stdin",
        ],
        &format!("{pw}\n"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("token="), "no link with --password-stdin");
    assert!(!stdout.contains(pw) && !stderr.contains(pw));
    let c = app.client();
    app.sign_in_with(&c, "ops@example.test", pw).await;
    assert_eq!(app.get_html(&c, "/admin").await.0, StatusCode::OK);

    let out = run_with_stdin(
        &app,
        &[
            "create-admin",
            "--email",
            "weak@example.test",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let out = app.run_cli(&["create-admin", "--email", "ops@example.test"], &[]);
    assert_eq!(out.status.code(), Some(2), "a duplicate is refused");
    assert!(text(&out).1.contains("already exists"), "{:?}", text(&out));
}

#[test]
fn gen_master_key_prints_a_line_that_keyhold_master_keys_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gen_key = |args: &[&str]| {
        let out = keyhold(dir.path())
            .arg("gen-master-key")
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success(), "{:?}", text(&out));
        let stdout = text(&out).0;
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        stdout.trim().to_owned()
    };
    let v1 = gen_key(&[]);
    let v2 = gen_key(&["--id", "v2"]);
    assert!(v1.starts_with("v1:") && v2.starts_with("v2:"));
    assert_ne!(v1[3..], v2[3..], "every key is fresh");

    for spec in [v1.clone(), format!("{v2},{v1}")] {
        let data = dir.path().display().to_string();
        let config = keyhold::config::Config::from_lookup(|k| match k {
            "KEYHOLD_MASTER_KEYS" => Some(spec.clone()),
            "KEYHOLD_DATA_DIR" => Some(data.clone()),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{spec} refused: {e}"));
        assert_eq!(config.keyring.active_id(), &spec[..2]);
    }
    // And the binary itself starts with it.
    let out = keyhold(dir.path())
        .arg("check")
        .env("KEYHOLD_MASTER_KEYS", &v1)
        .output()
        .expect("run");
    assert!(out.status.success(), "{:?}", text(&out));
}

/// Runs `<prefix> --help` and recurses into the subcommands it lists.
fn check_help(dir: &std::path::Path, prefix: &[String], seen: &mut Vec<String>) {
    let out = keyhold(dir)
        .args(prefix)
        .arg("--help")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{prefix:?} --help: {stderr}");
    assert!(stdout.contains("Usage:"), "{prefix:?}: {stdout}");
    seen.push(prefix.join(" "));
    let Some(list) = stdout.split("Commands:\n").nth(1) else {
        return;
    };
    for line in list.lines().take_while(|l| !l.trim().is_empty()) {
        let name = line.split_whitespace().next().expect("name");
        if name != "help" {
            let mut next = prefix.to_vec();
            next.push(name.to_owned());
            check_help(dir, &next, seen);
        }
    }
}

#[test]
fn help_works_for_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = Vec::new();
    check_help(dir.path(), &[], &mut seen);
    for expected in [
        "serve",
        "migrate",
        "create-admin",
        "gen-master-key",
        "audit verify",
        "check",
    ] {
        assert!(seen.iter().any(|s| s == expected), "{expected}: {seen:?}");
    }
}

#[test]
fn the_sqlite_and_postgres_migration_trees_match() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let tree = |backend: &str| {
        let mut out: Vec<(String, Vec<String>)> = std::fs::read_dir(root.join(backend))
            .expect("migrations dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_dir())
            .map(|p| {
                let mut files: Vec<String> = std::fs::read_dir(&p)
                    .expect("migration dir")
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect();
                files.sort();
                (
                    p.file_name().expect("name").to_string_lossy().into_owned(),
                    files,
                )
            })
            .collect();
        out.sort();
        out
    };
    let sqlite = tree("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, tree("postgres"));
    for (name, files) in &sqlite {
        assert_eq!(files, &["down.sql", "up.sql"], "{name}");
    }
}

//! Files Keyhold writes (database, WAL, mail, keys) are readable by its own user only
//! (SPEC §11), whatever the umask it is started with, and a data folder left too open by
//! an older version is narrowed at start, with one warning.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

use crate::helpers::{PASSWORD, csrf_in};
use crate::process::{Served, Site};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every folder and file under `dir`, `dir` included.
fn everything(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_owned()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() {
            let entries = std::fs::read_dir(&all[i]).expect("read dir");
            all.extend(entries.map(|e| e.expect("entry").path()));
        }
        i += 1;
    }
    all
}

/// Asserts folders are 0700 and files 0600, and that `expected` are among them.
fn assert_private(data: &Path, expected: &[&str], served: &Served) {
    let all = everything(data);
    for name in expected {
        assert!(
            all.contains(&data.join(name)),
            "{name} was written: {all:?}"
        );
    }
    for path in &all {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(
            mode(path),
            want,
            "{} is {:o}; the server's log:\n{}",
            path.display(),
            mode(path),
            served.logs()
        );
    }
}

fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Creates the first admin with the setup link the server printed.
async fn set_up_admin(site: &Site, served: &Served) {
    let logs = served.logs();
    let start = logs.find("/setup?token=").expect("a setup link") + "/setup?token=".len();
    let token: String = logs[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let c = client();
    let page = c
        .get(site.url(&format!("/setup?token={token}")))
        .send()
        .await
        .expect("GET setup");
    let csrf = csrf_in(&page.text().await.expect("body")).expect("a CSRF token");
    let r = c
        .post(site.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("name", "Root"),
            ("email", "root@example.test"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .expect("POST setup");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the admin is created");
}

/// Asks for a reset link, which (with no SMTP) is written as an `.eml` file.
async fn mail_a_reset_link(site: &Site, data: &Path) {
    let emls = || {
        std::fs::read_dir(data.join("mail"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = emls();
    let c = client();
    let page = c
        .get(site.url("/password/forgot"))
        .send()
        .await
        .expect("GET forgot");
    let csrf = csrf_in(&page.text().await.expect("body")).expect("a CSRF token");
    let r = c
        .post(site.url("/password/forgot"))
        .form(&[("email", "root@example.test"), ("csrf_token", &csrf)])
        .send()
        .await
        .expect("POST forgot");
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if emls() > before {
            return;
        }
        assert!(Instant::now() < deadline, "no .eml written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_umask_022_every_file_keyhold_writes_is_its_own_users_only() {
    let mut site = Site::new();
    site.umask = Some("022");
    // No configuration at all: SQLite, keys and mail under the data folder.
    let data = site.data_dir.path().join("data");
    site.set("KEYHOLD_DATA_DIR", data.display().to_string());
    for var in [
        "KEYHOLD_DATABASE_URL",
        "KEYHOLD_MASTER_KEYS",
        "KEYHOLD_SESSION_SECRET",
    ] {
        site.env.remove(var);
    }
    let written = [
        "keyhold.db",
        "keyhold.db-wal",
        "keyhold.db-shm",
        "master.keys",
        "session.key",
        "mail",
    ];

    let mut served = site.serve(&[]).await;
    set_up_admin(&site, &served).await;
    mail_a_reset_link(&site, &data).await;
    // While it runs: the database, its WAL and shared memory, the keys, the mail.
    assert_private(&data, &written, &served);
    served.terminate(Duration::from_secs(10)).await;
    assert!(
        !served.logs().contains("readable by other users"),
        "nothing to narrow on a fresh start"
    );

    // An older version under umask 022 left everything open to everyone...
    for path in everything(&data) {
        let open = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).expect("chmod");
    }
    // ...the next start narrows it all, and says so once.
    let mut served = site.serve(&[]).await;
    mail_a_reset_link(&site, &data).await;
    assert_private(&data, &written, &served);
    // The log is written out in batches; all of it is out once the server stopped.
    served.terminate(Duration::from_secs(10)).await;
    let logs = served.logs();
    assert_eq!(
        logs.matches("was readable by other users").count(),
        1,
        "one warning:\n{logs}"
    );
}

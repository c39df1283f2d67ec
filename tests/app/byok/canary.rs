//! A canary key typed into every key form must never come back out: not in a response
//! body or header, a mail, an audit row, or any database column but `sealed`, whatever
//! the provider answered.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use keyhold::db::{Backend, DbConn};
use reqwest::{Client, Response};

use super::*;
use crate::support::mock_provider::Behavior;

/// Everything the app sent back in this test.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn record(&mut self, r: Response) -> (reqwest::StatusCode, String) {
        let status = r.status();
        for (name, value) in r.headers() {
            self.0.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = r.text().await.expect("body");
        self.0.push(body.clone());
        (status, body)
    }

    async fn get(&mut self, app: &TestApp, c: &Client, path: &str) {
        let r = app.get(c, path).await;
        self.record(r).await;
    }

    async fn post(&mut self, app: &TestApp, c: &Client, path: &str, fields: &[(&str, &str)]) {
        let r = app.post_form(c, path, fields).await;
        let to = location(&r);
        self.record(r).await;
        if !to.is_empty() {
            self.get(app, c, &to).await;
        }
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    j: Option<String>,
}

/// Every value of every table as text, except `provider_keys.sealed`.
pub fn dump_database(conn: &mut DbConn, backend: Backend) -> String {
    let (tables_sql, columns_sql) = match backend {
        Backend::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "SELECT name FROM pragma_table_info('{t}')",
        ),
        Backend::Postgres => (
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = 'public'",
            "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{t}'",
        ),
    };
    let tables: Vec<Name> = diesel::sql_query(tables_sql).load(conn).expect("tables");
    let mut out = String::new();
    for t in tables {
        let columns: Vec<Name> = diesel::sql_query(columns_sql.replace("{t}", &t.name))
            .load(conn)
            .expect("columns");
        let parts: Vec<String> = columns
            .iter()
            .filter(|c| !(t.name == "provider_keys" && c.name == "sealed"))
            .map(|c| format!("COALESCE(CAST(\"{}\" AS TEXT), '')", c.name))
            .collect();
        if parts.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT {} AS j FROM \"{}\"",
            parts.join(" || '|' || "),
            t.name
        );
        let rows: Vec<Row> = diesel::sql_query(sql).load(conn).expect("rows");
        for r in rows {
            out.push_str(&t.name);
            out.push_str(": ");
            out.push_str(r.j.as_deref().unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn byok_a_canary_key_never_leaves_the_sealed_column() {
    let b = Byok::start().await;
    let app = &b.app;
    let canaries: Vec<String> = (0..7).map(|_| canary()).collect();
    let [
        global_ok,
        global_401,
        global_500,
        ws_ok,
        ws_401,
        ws_500,
        ws_replaced,
    ] = <[String; 7]>::try_from(canaries.clone()).expect("seven");
    for k in [&global_401, &ws_401] {
        app.provider.set_behavior(k, Behavior::Status(401));
    }
    for k in [&global_500, &ws_500] {
        app.provider.set_behavior(k, Behavior::Status(500));
    }
    let mut seen = Seen::default();
    let settings = "/admin/integrations/openai";
    let on = [
        ("enabled", "on"),
        ("byok_enabled", "on"),
        ("failure_policy", "fail"),
    ];
    let with_key = |k: &str| {
        let mut f: Vec<(&str, String)> = on.iter().map(|(a, v)| (*a, v.to_string())).collect();
        f.push(("api_key", k.to_owned()));
        f
    };

    // The admin's forms: accepted, rejected, then untested after a 500.
    for k in [&global_ok, &global_401, &global_500] {
        let f = with_key(k);
        let f: Vec<(&str, &str)> = f.iter().map(|(a, v)| (*a, v.as_str())).collect();
        seen.post(app, &b.admin, settings, &f).await;
    }
    seen.post(app, &b.admin, "/admin/integrations/openai/test", &[])
        .await;

    // The owner's forms: accepted, rejected, untested after a 500, then a replacement.
    for (label, k) in [("Ok", &ws_ok), ("Rejected", &ws_401), ("Flaky", &ws_500)] {
        let fields = [
            ("provider", "openai"),
            ("label", label),
            ("api_key", k.as_str()),
        ];
        seen.post(app, &b.owner, &b.keys_path(), &fields).await;
    }
    let ok_id = b.key("Ok").id;
    seen.post(
        app,
        &b.owner,
        &format!("{}/{ok_id}/test", b.keys_path()),
        &[],
    )
    .await;
    let replace = [("label", "Ok"), ("api_key", ws_replaced.as_str())];
    seen.post(
        app,
        &b.owner,
        &format!("{}/{ok_id}/replace", b.keys_path()),
        &replace,
    )
    .await;
    seen.post(
        app,
        &b.owner,
        &format!("{}/{}/remove", b.keys_path(), b.key("Flaky").id),
        &[],
    )
    .await;

    for (c, path) in [
        (&b.admin, "/admin/integrations".to_owned()),
        (&b.admin, settings.to_owned()),
        (&b.admin, format!("/admin/workspaces/{}", b.ws_id)),
        (&b.admin, "/admin/audit".to_owned()),
        (&b.admin, "/admin/audit.csv".to_owned()),
        (&b.owner, b.keys_path()),
        (&b.owner, format!("/w/{}", b.slug)),
        (&b.owner, format!("/w/{}/audit", b.slug)),
        (&b.owner, format!("/w/{}/audit.csv", b.slug)),
    ] {
        seen.get(app, c, &path).await;
    }
    app.smtp
        .wait_for(
            |m| m.subject.contains("A key was removed"),
            Duration::from_secs(1),
        )
        .await;

    // The canaries did reach the provider (so this test can fail) ...
    let sent = app.provider.keys_seen();
    for k in [
        &global_ok,
        &global_401,
        &global_500,
        &ws_ok,
        &ws_401,
        &ws_500,
        &ws_replaced,
    ] {
        assert!(sent.contains(k), "the provider saw every canary");
    }
    // ... and came back nowhere.
    let mut conn = app.db();
    let database = dump_database(&mut conn, app.backend);
    assert!(
        database.contains("provider_keys: "),
        "the dump covers the keys table"
    );
    let mails: Vec<String> = app.smtp.messages().iter().map(|m| m.decoded()).collect();
    assert!(!mails.is_empty(), "mail was sent and is checked");
    for k in &canaries {
        let needle = k.as_str();
        let tail = &needle["sk-CANARY-".len()..];
        for (what, text) in [
            ("a response", seen.0.join("\n")),
            ("a mail", mails.join("\n")),
            ("the database", database.clone()),
        ] {
            assert!(!text.contains(tail), "a canary key appears in {what}");
        }
    }
    if app.backend == Backend::Sqlite {
        let mut raw = Vec::new();
        for suffix in ["", "-wal"] {
            let path = app.data_dir.path().join(format!("keyhold.db{suffix}"));
            raw.extend(std::fs::read(path).unwrap_or_default());
        }
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.len() > 10_000, "read the database file");
        for k in &canaries {
            assert!(
                !raw.contains(&k["sk-CANARY-".len()..]),
                "a canary key is in the database file"
            );
        }
    }
}

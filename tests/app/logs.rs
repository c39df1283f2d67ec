//! `KEYHOLD_LOG_FORMAT`: a real `keyhold serve` writes its log on stdout as text (the
//! default) or, with `json`, as one JSON object a line — every line, the per-request one
//! included — and a request's line carries the same fields in both.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::process::Site;

/// What one served request left behind: the server's stdout, the path asked for and the
/// request id the error page showed.
struct Run {
    stdout: String,
    path: String,
    request_id: String,
}

/// Serves with `env`, asks for a page that does not exist (its error page shows the request
/// id), stops the server (which writes out the whole log) and returns what it printed.
async fn serve_one_request(env: &[(&str, &str)]) -> Run {
    let site = Site::new();
    let mut served = site.serve(env).await;
    let path = format!("/no-such-page-{}", uuid::Uuid::new_v4().simple());
    let r = reqwest::get(site.url(&path)).await.expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = r.text().await.expect("body");
    let start = body
        .find("Request id: <span class=\"mono\">")
        .expect("a request id")
        + "Request id: <span class=\"mono\">".len();
    let request_id: String = body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(request_id.len(), 12, "{body}");
    let status = served.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}: {}", served.logs());
    let stdout =
        String::from_utf8_lossy(&std::fs::read(&served.stdout).expect("stdout")).into_owned();
    Run {
        stdout,
        path,
        request_id,
    }
}

/// `2026-12-07T06:52:31.123456Z`: RFC 3339 in UTC, to the microsecond.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b[10] == b'T'
        && b[19] == b'.'
        && b[26] == b'Z'
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// The fields of a text log line `<time>  <LEVEL> <target>: <message> k=v k=v…` whose
/// message is one word (the request line).
fn text_fields(line: &str) -> BTreeMap<String, String> {
    let (timestamp, rest) = line.split_once(' ').expect("a time");
    let rest = rest.trim_start();
    let (level, rest) = rest.split_once(' ').expect("a level");
    let (target, rest) = rest.split_once(": ").expect("a target");
    let mut words = rest.split(' ');
    let message = words.next().expect("a message");
    let mut fields = BTreeMap::from([
        ("timestamp".to_owned(), timestamp.to_owned()),
        ("level".to_owned(), level.to_owned()),
        ("target".to_owned(), target.to_owned()),
        ("message".to_owned(), message.to_owned()),
    ]);
    for word in words {
        let (k, v) = word.split_once('=').expect("key=value");
        fields.insert(k.to_owned(), v.to_owned());
    }
    fields
}

/// The fields of a JSON log line, every value as text.
fn json_fields(line: &Value) -> BTreeMap<String, String> {
    line.as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The request line's fields, checked for what they must say.
fn check_request_fields(fields: &BTreeMap<String, String>, run: &Run) {
    assert!(is_timestamp(&fields["timestamp"]), "{fields:?}");
    assert_eq!(fields["level"], "INFO", "{fields:?}");
    assert_eq!(fields["target"], "keyhold::web::error", "{fields:?}");
    assert_eq!(fields["message"], "request", "{fields:?}");
    assert_eq!(fields["request_id"], run.request_id, "{fields:?}");
    assert_eq!(fields["method"], "GET", "{fields:?}");
    assert_eq!(fields["path"], run.path, "{fields:?}");
    assert_eq!(fields["status"], "404", "{fields:?}");
    assert!(fields["us"].parse::<u64>().is_ok(), "{fields:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_and_the_request_line_has_the_text_lines_fields() {
    let json = serve_one_request(&[("KEYHOLD_LOG_FORMAT", "json")]).await;
    let mut lines = Vec::new();
    for line in json.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}\n{}", json.stdout));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v[key].is_string(), "{key} missing: {line}");
        }
        assert!(
            is_timestamp(v["timestamp"].as_str().unwrap_or_default()),
            "{line}"
        );
        lines.push(v);
    }
    // Start-up lines, the setup link (no user yet) and the request all came out as JSON.
    let said = |needle: &str| {
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains(needle)))
    };
    assert!(said("Keyhold is listening on"), "{}", json.stdout);
    assert!(said("/setup?token="), "{}", json.stdout);
    let requests: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["path"] == json.path.as_str())
        .collect();
    assert_eq!(requests.len(), 1, "{}", json.stdout);
    let from_json = json_fields(requests[0]);
    check_request_fields(&from_json, &json);
    assert!(requests[0]["status"].is_u64() && requests[0]["us"].is_u64());

    // The same request in text (the default): one line, the same fields.
    let text = serve_one_request(&[]).await;
    let found: Vec<&str> = text
        .stdout
        .lines()
        .filter(|l| l.contains(&format!(" path={} ", text.path)))
        .collect();
    assert_eq!(found.len(), 1, "{}", text.stdout);
    assert!(
        found[0].starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        found[0]
    );
    let from_text = text_fields(found[0]);
    check_request_fields(&from_text, &text);
    assert_eq!(
        from_text.keys().collect::<Vec<_>>(),
        from_json.keys().collect::<Vec<_>>(),
        "the same fields in both formats"
    );
    // Text is not JSON, and its start-up lines carry the same time, level and target.
    let listening = text
        .stdout
        .lines()
        .find(|l| l.contains("Keyhold is listening on"))
        .expect("a start-up line");
    assert!(serde_json::from_str::<Value>(listening).is_err());
    let (timestamp, rest) = listening.split_once(' ').expect("a time");
    assert!(is_timestamp(timestamp), "{listening}");
    // The target is the binary's module that wrote it (`keyhold::serve`).
    assert!(
        rest.trim_start().starts_with("INFO keyhold") && rest.contains(": Keyhold is listening"),
        "{listening}"
    );
}

#[tokio::test]
async fn a_log_format_other_than_text_or_json_is_refused_by_name() {
    let site = Site::new();
    let out = site.cli(&["serve"], &[("KEYHOLD_LOG_FORMAT", "xml")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("KEYHOLD_LOG_FORMAT: must be text or json"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("xml"),
        "the value is not repeated: {stderr}"
    );
    let out = site.cli(&["--log-format", "yaml", "serve"], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--log-format: must be text or json"),
        "{stderr}"
    );
}

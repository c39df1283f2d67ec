use actix_web::web::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::SecretString;

use super::{Adapter, Outgoing, anthropic, openai};
use crate::domain::providers::{Wire, find};

const KEY: &str = "sk-test-1234567890";

fn adapter(id: &str) -> Adapter {
    Adapter::of(find(id).expect("a catalogue provider"))
}

#[test]
fn test_headers_are_sensitive_and_follow_the_provider_style() {
    let key = SecretString::from(KEY);
    let h = adapter("openai").test_headers(&key).expect("headers");
    let auth = h.get(AUTHORIZATION).expect("authorization");
    assert!(auth.is_sensitive());
    assert!(!format!("{h:?}").contains("sk-test"));

    let h = adapter("anthropic").test_headers(&key).expect("headers");
    assert!(h.get("x-api-key").expect("x-api-key").is_sensitive());
    assert_eq!(h.get("anthropic-version").expect("version"), "2023-06-01");
    assert!(h.get(AUTHORIZATION).is_none());
    assert!(!format!("{h:?}").contains("sk-test"));
}

#[test]
fn a_key_with_a_line_break_is_not_sent() {
    let key = SecretString::from("sk-a\r\nX: y");
    assert!(adapter("openai").test_headers(&key).is_none());
    assert!(adapter("anthropic").test_headers(&key).is_none());
}

#[test]
fn a_call_is_a_json_post_to_the_endpoint_with_the_key_marked_sensitive() {
    let endpoint: http::Uri = "http://127.0.0.1:9/v1/chat/completions"
        .parse()
        .expect("uri");
    let body = Bytes::from_static(br#"{"model":"gpt-4o-mini","messages":[]}"#);
    let call = Outgoing {
        endpoint: Some(&endpoint),
        base: None,
        model: "gpt-4o-mini",
        stream: false,
        wire: Wire::OpenAi,
        body: &body,
    };
    let key = SecretString::from(KEY);

    let req = openai::request(&key, &call).expect("request");
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri(), &endpoint);
    assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
    let auth = &req.headers()[AUTHORIZATION];
    assert!(auth.is_sensitive());
    assert_eq!(auth, &format!("Bearer {KEY}"));
    assert!(!format!("{req:?}").contains("sk-test"));

    let req = anthropic::request(&key, "2023-06-01", &call).expect("request");
    assert!(req.headers()["x-api-key"].is_sensitive());
    assert_eq!(req.headers()["anthropic-version"], "2023-06-01");
    assert!(req.headers().get(AUTHORIZATION).is_none());
    assert!(!format!("{req:?}").contains("sk-test"));
}

#[test]
fn a_call_without_an_endpoint_is_refused_before_it_is_built() {
    let body = Bytes::new();
    let call = Outgoing {
        endpoint: None,
        base: None,
        model: "gpt-4o-mini",
        stream: false,
        wire: Wire::OpenAi,
        body: &body,
    };
    let err = openai::request(&SecretString::from(KEY), &call).expect_err("no endpoint");
    assert_eq!(err.status, 500);
}

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;

use super::*;

#[path = "../../../tests/app/support/sigv4_verify.rs"]
#[allow(dead_code)]
mod verify;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the date of AWS's published test suite.
const WHEN: u64 = 1_440_938_160;

fn when() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(WHEN)
}

fn converse_request(body: &str) -> reqwest::Request {
    reqwest::Client::new()
        .post("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .build()
        .expect("a request")
}

/// The request as a server would receive it: with the `host` header the HTTP client adds.
fn on_the_wire(req: &reqwest::Request) -> Vec<(String, String)> {
    let url = req.url();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers = vec![("host".to_owned(), host)];
    for (name, value) in req.headers() {
        headers.push((
            name.as_str().to_owned(),
            value.to_str().expect("ascii").to_owned(),
        ));
    }
    headers
}

fn check(
    req: &reqwest::Request,
    secret: &str,
    token: Option<&str>,
    now: u64,
) -> Result<(), verify::Refusal> {
    let headers = on_the_wire(req);
    let body = req.body().and_then(|b| b.as_bytes()).unwrap_or_default();
    let wire = verify::WireRequest {
        method: req.method().as_str(),
        path: req.url().path(),
        query: req.url().query().unwrap_or(""),
        headers: &headers,
        body,
    };
    let known = verify::Known {
        access_key_id: KEY_ID,
        secret_access_key: secret,
        session_token: token,
        region: "us-east-1",
        service: "bedrock",
    };
    verify::verify(&wire, &known, now as i64)
}

#[test]
fn a_signed_request_verifies_with_an_independent_implementation() {
    let mut req = converse_request(r#"{"messages":[]}"#);
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        "us-east-1",
        when(),
    )
    .expect("signed");

    assert_eq!(check(&req, SECRET, None, WHEN), Ok(()));
    assert_eq!(req.headers()["x-amz-date"], "20150830T123600Z");
    let auth = req.headers()["authorization"].to_str().expect("ascii");
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders="));
    assert!(req.headers().get("x-amz-security-token").is_none());
}

#[test]
fn the_headers_it_adds_are_sensitive() {
    let mut req = converse_request("{}");
    let token = SecretString::from("session-token-value");
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        Some(&token),
        "us-east-1",
        when(),
    )
    .expect("signed");
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
    ] {
        assert!(req.headers()[name].is_sensitive(), "{name} is sensitive");
    }
    assert!(!req.headers()["content-type"].is_sensitive());
}

#[test]
fn a_session_token_is_sent_and_signed() {
    let mut req = converse_request("{}");
    let token = SecretString::from("session-token-value");
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        Some(&token),
        "us-east-1",
        when(),
    )
    .expect("signed");

    assert_eq!(req.headers()["x-amz-security-token"], "session-token-value");
    assert_eq!(
        check(&req, SECRET, Some("session-token-value"), WHEN),
        Ok(())
    );
    assert!(check(&req, SECRET, Some("another-token"), WHEN).is_err());
}

#[test]
fn the_payload_hash_covers_the_body() {
    let mut req = converse_request(r#"{"a":1}"#);
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        "us-east-1",
        when(),
    )
    .expect("signed");
    // sha256 of {"a":1}
    let expected = verify::hex(&<sha2::Sha256 as sha2::Digest>::digest(br#"{"a":1}"#));
    assert_eq!(req.headers()["x-amz-content-sha256"], expected.as_str());

    *req.body_mut() = Some(reqwest::Body::from(r#"{"a":2}"#));
    let refusal = check(&req, SECRET, None, WHEN).expect_err("a changed body fails");
    assert_eq!(refusal.kind, "InvalidSignatureException");
}

#[test]
fn a_wrong_secret_or_a_stale_date_fails_verification() {
    let mut req = converse_request("{}");
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from("not-the-secret"),
        None,
        "us-east-1",
        when(),
    )
    .expect("signed");
    assert_eq!(
        check(&req, SECRET, None, WHEN).map_err(|r| r.kind),
        Err("InvalidSignatureException")
    );

    let mut req = converse_request("{}");
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        "us-east-1",
        when(),
    )
    .expect("signed");
    assert!(check(&req, SECRET, None, WHEN + 3_600).is_err());
}

#[test]
fn a_get_with_a_query_verifies() {
    let mut req = reqwest::Client::new()
        .get("http://127.0.0.1:8080/foundation-models?byOutputModality=TEXT&byProvider=Anthropic")
        .build()
        .expect("a request");
    sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        "us-east-1",
        when(),
    )
    .expect("signed");
    assert_eq!(check(&req, SECRET, None, WHEN), Ok(()));
}

#[test]
fn a_streamed_body_is_refused() {
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(b"{}".to_vec())]);
    let mut req = reqwest::Client::new()
        .post("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse")
        .body(reqwest::Body::wrap_stream(stream))
        .build()
        .expect("a request");
    let err = sign_request_at(
        &mut req,
        KEY_ID,
        &SecretString::from(SECRET),
        None,
        "us-east-1",
        when(),
    );
    assert!(matches!(err, Err(SignError::StreamingBody)));
    assert!(req.headers().get("authorization").is_none());
}

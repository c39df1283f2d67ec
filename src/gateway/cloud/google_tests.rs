use jsonwebtoken::{DecodingKey, Validation};

use super::*;

const KEY: &str = include_str!("../../../tests/app/support/test_only_rsa_key.pem");
const PUBLIC: &str = include_str!("../../../tests/app/support/test_only_rsa_key.pub.pem");
const EMAIL: &str = "keyhold-test@example-project.iam.gserviceaccount.com";

fn token_url() -> Url {
    Url::parse("https://oauth2.googleapis.com/token").expect("a URL")
}

#[test]
fn the_assertion_is_an_rs256_jwt_with_the_grant_claims() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let jwt = assertion(EMAIL, &SecretString::from(KEY), &token_url(), now).expect("signed");

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://oauth2.googleapis.com/token"]);
    validation.set_issuer(&[EMAIL]);
    let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).expect("public key");
    let claims = jsonwebtoken::decode::<Claims>(&jwt, &key, &validation)
        .expect("verifies")
        .claims;
    assert_eq!(claims.scope, SCOPE);
    assert_eq!(claims.iat, now);
    assert_eq!(claims.exp, now + 3_600);
    let header = jsonwebtoken::decode_header(&jwt).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
}

#[test]
fn the_audience_is_the_url_actually_called() {
    let other = Url::parse("http://127.0.0.1:9/token").expect("a URL");
    let jwt = assertion(EMAIL, &SecretString::from(KEY), &other, 0).expect("signed");
    let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(&jwt)
        .expect("decodes")
        .claims;
    assert_eq!(claims.aud, "http://127.0.0.1:9/token");
}

#[test]
fn a_pem_that_does_not_parse_is_a_malformed_key() {
    let pem =
        SecretString::from("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
    assert_eq!(
        assertion(EMAIL, &pem, &token_url(), 0),
        Err(TokenError::MalformedKey)
    );
}

#[test]
fn tokens_are_refreshed_five_minutes_before_they_expire() {
    let now = Instant::now();
    assert_eq!(
        refresh_at(now, Duration::from_secs(3_599)),
        now + Duration::from_secs(3_299)
    );
    assert_eq!(
        refresh_at(now, Duration::from_secs(120)),
        now,
        "a short-lived token is not reused"
    );
}

/// A token endpoint on loopback that counts its requests and answers each with `answer`
/// (one connection per request).
async fn token_endpoint(answer: &'static str) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = Url::parse(&format!(
        "http://{}/token",
        listener.local_addr().expect("addr")
    ))
    .expect("a URL");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the whole request (headers, then content-length bytes) before answering.
            while let Ok(n) = conn.read(&mut buf).await {
                got.extend_from_slice(&buf[..n]);
                let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                    if n == 0 {
                        break;
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if n == 0 || got.len() >= end + 4 + length {
                    break;
                }
            }
            let _ = conn.write_all(answer.as_bytes()).await;
            let _ = conn.shutdown().await;
        }
    });
    (url, count)
}

const UNAVAILABLE: &str =
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn a_failed_refresh_is_the_answer_until_it_is_due_again() {
    use std::sync::atomic::Ordering;
    let (url, asked) = token_endpoint(UNAVAILABLE).await;
    let http = reqwest::Client::new();
    let cache = TokenCache::with_retry_after(Duration::from_millis(300));
    let key = SecretString::from(KEY);
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(cache.token(&http, &k("k1"), EMAIL, &key, &url).await);
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "one request for five calls"
    );
    let first = answers[0].clone().expect_err("503 is a failure");
    assert!(matches!(first, TokenError::Unavailable(_)), "{first:?}");
    assert!(answers.iter().all(|a| a.as_ref().err() == Some(&first)));

    // Forgetting the token (a refused key) does not forget the failure.
    cache.forget(&k("k1"));
    let _ = cache.token(&http, &k("k1"), EMAIL, &key, &url).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    // Another key, or this key holding another account, is asked for at once.
    let _ = cache.token(&http, &k("k2"), EMAIL, &key, &url).await;
    let _ = cache
        .token(
            &http,
            &k("k1"),
            "other@example-project.iam.gserviceaccount.com",
            &key,
            &url,
        )
        .await;
    assert_eq!(asked.load(Ordering::SeqCst), 3);

    tokio::time::sleep(Duration::from_millis(350)).await;
    let _ = cache.token(&http, &k("k2"), EMAIL, &key, &url).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        4,
        "due again after the window"
    );
}

#[tokio::test]
async fn callers_waiting_on_a_failing_refresh_share_its_answer() {
    use std::sync::atomic::Ordering;
    let (url, asked) = token_endpoint(UNAVAILABLE).await;
    let http = reqwest::Client::new();
    let cache = Arc::new(TokenCache::new());
    let key = SecretString::from(KEY);
    let calls = (0..8).map(|_| {
        let (cache, http, key, url) = (cache.clone(), http.clone(), key.clone(), url.clone());
        tokio::spawn(async move { cache.token(&http, &k("k1"), EMAIL, &key, &url).await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert!(call.await.expect("joined").is_err());
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

/// A key id of a test.
fn k(id: &str) -> crate::domain::ids::KeyId {
    id.parse().expect("a key id")
}

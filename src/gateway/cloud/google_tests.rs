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

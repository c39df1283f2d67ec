//! An independent SigV4 verifier (HMAC-SHA256 by hand, no `aws-sigv4`): it recomputes the
//! signature from the request as received and the known secret, as AWS does, instead of
//! trusting anything the client claims. Shared by the Bedrock mock and the signer's unit
//! tests (`src/gateway/cloud/sigv4_tests.rs` includes this file).
//!
//! Only std, `hmac` and `sha2`, so that it compiles in both places.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A request as it arrived on the wire.
pub struct WireRequest<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string, without `?` (empty when none).
    pub query: &'a str,
    /// Header names lower-cased, values as received, in order, repeats kept.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// What the server knows about the caller.
pub struct Known<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
}

/// How a request fails verification, with AWS's error type for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `UnrecognizedClientException`, `InvalidSignatureException`, ...
    pub kind: &'static str,
    pub message: String,
}

fn refuse(kind: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        message: message.into(),
    }
}

fn header<'a>(req: &'a WireRequest<'_>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of everything but the unreserved characters, as SigV4 wants.
fn uri_encode(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(4..6)?, n(6..8)?);
    Some(days * 86_400 + n(9..11)? * 3_600 + n(11..13)? * 60 + n(13..15)?)
}

/// The canonical URI: each segment of the path as sent, encoded once more (AWS services
/// other than S3 double-encode).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() || path == "/" {
        return "/".to_owned();
    }
    path.split('/')
        .map(|segment| uri_encode(segment.as_bytes()))
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks the `Authorization` header of `req` against `known` at `now` (Unix seconds).
pub fn verify(req: &WireRequest<'_>, known: &Known<'_>, now: i64) -> Result<(), Refusal> {
    let auth = header(req, "authorization").ok_or_else(|| {
        refuse(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    })?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| refuse("IncompleteSignatureException", "unknown algorithm"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap_or(("", ""));
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(refuse(
            "IncompleteSignatureException",
            "incomplete Authorization header",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope[..] else {
        return Err(refuse(
            "IncompleteSignatureException",
            "malformed Credential",
        ));
    };
    if key_id != known.access_key_id {
        return Err(refuse(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if region != known.region || service != known.service || terminator != "aws4_request" {
        return Err(refuse(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to a valid region and service, not '{region}/{service}'."
            ),
        ));
    }

    let amz_date = header(req, "x-amz-date")
        .ok_or_else(|| refuse("IncompleteSignatureException", "missing x-amz-date"))?;
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| refuse("IncompleteSignatureException", "malformed x-amz-date"))?;
    if !amz_date.starts_with(date) {
        return Err(refuse(
            "InvalidSignatureException",
            "date does not match the scope",
        ));
    }
    if (now - signed_at).abs() > 300 {
        return Err(refuse("InvalidSignatureException", "Signature expired"));
    }

    let names: Vec<&str> = signed_headers.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !names.contains(&required) {
            return Err(refuse(
                "InvalidSignatureException",
                format!("{required} is not signed"),
            ));
        }
    }
    match (known.session_token, header(req, "x-amz-security-token")) {
        (None, None) => {}
        (Some(expected), Some(got))
            if expected == got && names.contains(&"x-amz-security-token") => {}
        _ => {
            return Err(refuse(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }
    }
    let payload_hash = hex(&Sha256::digest(req.body));
    if let Some(claimed) = header(req, "x-amz-content-sha256")
        && claimed != payload_hash
    {
        return Err(refuse(
            "InvalidSignatureException",
            "x-amz-content-sha256 does not match the body",
        ));
    }

    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(refuse(
                "InvalidSignatureException",
                format!("signed header {name} is missing"),
            ));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = [date, region, service, "aws4_request"].iter().fold(
        format!("AWS4{}", known.secret_access_key).into_bytes(),
        |key, part| hmac(&key, part.as_bytes()),
    );
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if expected != signature {
        return Err(refuse(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod own_tests {
    use super::*;

    #[test]
    fn civil_dates_count_days_from_the_epoch() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    }
}

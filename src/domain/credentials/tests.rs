use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::*;
use crate::outbound::OutboundAllow;

const PKCS8: &str = include_str!("testdata/test_only_rsa_pkcs8.pem");
const PKCS1: &str = include_str!("testdata/test_only_rsa_pkcs1.pem");
const EC_KEY: &str = include_str!("testdata/test_only_ec_p256.pem");

const AZURE_KEY: &str = "az0123456789abcdef0123456789abcd";
const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AWS_TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==";
const COMPAT_KEY: &str = "sk-local-0123456789abcdWXYZ";

fn form(pairs: &[(&str, &str)]) -> FormInput {
    FormInput::from_pairs(pairs.iter().copied())
}

fn parse_with(
    kind: CredentialKind,
    pairs: &[(&str, &str)],
    allow: &str,
    google: Option<&str>,
) -> Result<Credential, Vec<FieldError>> {
    let allow = OutboundAllow::parse(allow).expect("allow");
    let google = google.map(|u| Url::parse(u).expect("url"));
    let ctx = ParseContext {
        allow: &allow,
        google_token_url: google.as_ref(),
    };
    parse_form(kind, &form(pairs), &ctx)
}

fn parse(kind: CredentialKind, pairs: &[(&str, &str)]) -> Result<Credential, Vec<FieldError>> {
    parse_with(kind, pairs, "", None)
}

/// The errors of a refused form as (field, message).
fn refused(kind: CredentialKind, pairs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    match parse(kind, pairs) {
        Ok(c) => panic!("{pairs:?} must be refused, got {c:?}"),
        Err(errs) => errs.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

/// Asserts exactly one error, on `field`, whose message holds `needle`.
fn assert_one(errs: &[(&'static str, String)], field: &str, needle: &str) {
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, field, "{errs:?}");
    assert!(
        errs[0].1.contains(needle),
        "{:?} lacks {needle:?}",
        errs[0].1
    );
}

fn service_account_json(key: &str, token_uri: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "keyhold-test",
        "private_key_id": "0123abcd",
        "private_key": key,
        "client_email": "caller@keyhold-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

fn azure_ok() -> Vec<(&'static str, &'static str)> {
    vec![
        ("endpoint", "https://my-res.openai.azure.com/"),
        ("api_key", AZURE_KEY),
        ("api_version", ""),
        ("deployments", "gpt-4o=prod-4o\ngpt-4o-mini"),
    ]
}

fn bedrock_ok() -> Vec<(&'static str, &'static str)> {
    vec![
        ("access_key_id", AWS_ID),
        ("secret_access_key", AWS_SECRET),
        ("region", "eu-central-2"),
    ]
}

fn with(
    mut base: Vec<(&'static str, &'static str)>,
    k: &'static str,
    v: &'static str,
) -> Vec<(&'static str, &'static str)> {
    base.retain(|(name, _)| *name != k);
    base.push((k, v));
    base
}

// ---- Azure ----

#[test]
fn azure_form_is_read_with_default_api_version_and_deployments() {
    let Credential::Azure(a) = parse(CredentialKind::Azure, &azure_ok()).expect("valid") else {
        panic!("not azure");
    };
    assert_eq!(a.endpoint.as_str(), "https://my-res.openai.azure.com/");
    assert_eq!(a.api_key.expose_secret(), AZURE_KEY);
    assert_eq!(a.api_version, "2024-10-21");
    assert_eq!(a.deployments.len(), 2);
    assert_eq!(a.deployments[1].model, "gpt-4o-mini");
    assert_eq!(a.deployments[1].deployment, "gpt-4o-mini");
    let preview = with(azure_ok(), "api_version", "2025-01-01-preview");
    let Ok(Credential::Azure(a)) = parse(CredentialKind::Azure, &preview) else {
        panic!("preview version refused");
    };
    assert_eq!(a.api_version, "2025-01-01-preview");
}

#[test]
fn an_empty_azure_form_names_each_missing_field() {
    let errs = refused(CredentialKind::Azure, &[]);
    let names: Vec<&str> = errs.iter().map(|e| e.0).collect();
    assert_eq!(names, ["endpoint", "api_key", "deployments"]);
    assert!(errs[0].1.contains("Enter the Endpoint"));
    assert_eq!(errs[1].1, "Enter the API key.");
}

#[test]
fn azure_endpoints_that_are_not_https_azure_hosts_are_refused() {
    for (endpoint, needle) in [
        ("http://my-res.openai.azure.com", "must start with https://"),
        ("https://api.openai.com/v1", "Azure OpenAI resource address"),
        (
            "https://my-res.openai.azure.com.evil.example",
            "Azure OpenAI resource address",
        ),
        (
            "https://user:pw@my-res.openai.azure.com",
            "user name or password",
        ),
        ("https://169.254.169.254", "loopback, private"),
        ("https://[::ffff:127.0.0.1]", "loopback, private"),
        ("https://2130706433", "loopback, private"),
        ("https://my-res.openai.azure.com/?api-version=1", "query"),
        ("my-res.openai.azure.com", "must be a URL"),
        ("ftp://my-res.openai.azure.com", "https://"),
    ] {
        let errs = refused(
            CredentialKind::Azure,
            &with(azure_ok(), "endpoint", endpoint),
        );
        assert_one(&errs, "endpoint", needle);
        assert!(errs[0].1.contains("Endpoint"), "{errs:?}");
    }
}

#[test]
fn an_allowed_azure_endpoint_may_be_a_local_mock() {
    let pairs = with(azure_ok(), "endpoint", "http://127.0.0.1:4567");
    let cred = parse_with(CredentialKind::Azure, &pairs, "127.0.0.1/32", None).expect("allowed");
    assert_eq!(cred.mask(&[]), "127.0.0.1 · …abcd");
    let errs =
        parse_with(CredentialKind::Azure, &pairs, "127.0.0.2/32", None).expect_err("not allowed");
    assert_eq!(errs[0].field, "endpoint");
}

#[test]
fn bad_azure_versions_keys_and_deployments_name_their_field() {
    assert_one(
        &refused(
            CredentialKind::Azure,
            &with(azure_ok(), "api_version", "latest"),
        ),
        "api_version",
        "2024-10-21",
    );
    assert_one(
        &refused(
            CredentialKind::Azure,
            &with(azure_ok(), "api_key", "az key with spaces"),
        ),
        "api_key",
        "one word",
    );
    assert_one(
        &refused(
            CredentialKind::Azure,
            &with(azure_ok(), "deployments", "gpt-4o=\n"),
        ),
        "deployments",
        "Line 1",
    );
}

// ---- Bedrock ----

#[test]
fn bedrock_fields_are_read() {
    let Credential::Bedrock(b) = parse(CredentialKind::Bedrock, &bedrock_ok()).expect("valid")
    else {
        panic!("not bedrock");
    };
    assert_eq!(b.access_key_id, AWS_ID);
    assert_eq!(b.secret_access_key.expose_secret(), AWS_SECRET);
    assert!(b.session_token.is_none());
    assert_eq!(b.region, "eu-central-2");
}

#[test]
fn bedrock_credentials_json_is_read() {
    let json = serde_json::json!({
        "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "secretAccessKey": AWS_SECRET,
        "sessionToken": AWS_TOKEN,
        "region": "us-gov-west-1",
    })
    .to_string();
    let Credential::Bedrock(b) =
        parse(CredentialKind::Bedrock, &[("credentials_json", &json)]).expect("valid")
    else {
        panic!("not bedrock");
    };
    assert_eq!(b.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    assert_eq!(
        b.session_token.as_ref().map(|t| t.expose_secret()),
        Some(AWS_TOKEN)
    );
    assert_eq!(b.region, "us-gov-west-1");
}

#[test]
fn bedrock_fields_and_json_together_are_refused() {
    let json =
        r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"x","region":"us-east-1"}"#;
    let errs = refused(
        CredentialKind::Bedrock,
        &[("credentials_json", json), ("region", "us-east-1")],
    );
    assert_one(&errs, "credentials_json", "not both");
}

#[test]
fn bad_bedrock_fields_name_their_field() {
    for (field, value, needle) in [
        ("access_key_id", "AKIA123", "20 capital letters"),
        ("access_key_id", "", "Enter the access key ID"),
        ("secret_access_key", "", "Enter the secret access key."),
        (
            "secret_access_key",
            "tooshort",
            "does not look like a secret access key",
        ),
        (
            "secret_access_key",
            "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY",
            "40 letters",
        ),
        ("region", "us-east-x", "AWS region code"),
        ("region", "", "Enter the AWS region"),
        ("session_token", "a token with spaces in it", "one word"),
    ] {
        let errs = refused(CredentialKind::Bedrock, &with(bedrock_ok(), field, value));
        assert_one(&errs, field, needle);
    }
}

#[test]
fn temporary_bedrock_keys_need_their_session_token() {
    let errs = refused(
        CredentialKind::Bedrock,
        &with(bedrock_ok(), "access_key_id", "ASIAIOSFODNN7EXAMPLE"),
    );
    assert_one(&errs, "session_token", "ASIA");
    let ok = with(
        with(bedrock_ok(), "access_key_id", "ASIAIOSFODNN7EXAMPLE"),
        "session_token",
        AWS_TOKEN,
    );
    assert!(parse(CredentialKind::Bedrock, &ok).is_ok());
}

#[test]
fn bad_bedrock_json_says_what_is_wrong() {
    for (json, needle) in [
        ("{not json", "not a JSON object"),
        ("[1,2]", "not a JSON object"),
        (r#"{"accessKeyId":5}"#, "line 1"),
        (
            r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","region":"us-east-1"}"#,
            "\"secretAccessKey\": missing",
        ),
        (
            r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","region":"mars-1"}"#,
            "\"region\": The region is an AWS region code",
        ),
        (
            r#"{"secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","region":"us-east-1"}"#,
            "\"accessKeyId\": Enter the access key ID",
        ),
    ] {
        let errs = refused(CredentialKind::Bedrock, &[("credentials_json", json)]);
        assert_eq!(errs[0].0, "credentials_json", "{json}");
        assert!(errs[0].1.contains(needle), "{json}: {:?}", errs[0].1);
    }
}

// ---- Vertex ----

#[test]
fn vertex_service_account_is_read_with_pkcs8_and_pkcs1_keys() {
    for pem in [PKCS8, PKCS1] {
        let json = service_account_json(pem, GOOGLE_TOKEN_URI);
        let Credential::Vertex(v) = parse(
            CredentialKind::Vertex,
            &[
                ("service_account_json", &json),
                ("location", "europe-west4"),
            ],
        )
        .expect("valid") else {
            panic!("not vertex");
        };
        let sa = &v.service_account;
        assert_eq!(
            sa.client_email,
            "caller@keyhold-test.iam.gserviceaccount.com"
        );
        assert_eq!(sa.project_id, "keyhold-test");
        assert_eq!(sa.private_key_id.as_deref(), Some("0123abcd"));
        assert_eq!(sa.token_uri, GOOGLE_TOKEN_URI);
        assert_eq!(sa.private_key.expose_secret(), pem);
        assert_eq!(v.location, "europe-west4");
    }
}

#[test]
fn a_service_account_may_name_the_configured_token_url_only() {
    let json = service_account_json(PKCS8, "http://127.0.0.1:9999/token");
    let pairs = [
        ("service_account_json", json.as_str()),
        ("location", "global"),
    ];
    let errs = parse(CredentialKind::Vertex, &pairs).expect_err("foreign token_uri");
    assert_eq!(errs[0].field, "service_account_json");
    assert!(errs[0].message.contains("token_uri"), "{errs:?}");
    assert!(
        parse_with(
            CredentialKind::Vertex,
            &pairs,
            "",
            Some("http://127.0.0.1:9999/token")
        )
        .is_ok()
    );
    assert!(
        parse_with(
            CredentialKind::Vertex,
            &pairs,
            "",
            Some("http://127.0.0.1:9998/token")
        )
        .is_err()
    );
}

#[test]
fn bad_service_accounts_name_the_field_and_the_problem() {
    let other_type = serde_json::json!({"type": "authorized_user", "client_id": "x"}).to_string();
    let ec = service_account_json(EC_KEY, GOOGLE_TOKEN_URI);
    let garbage = service_account_json(
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        GOOGLE_TOKEN_URI,
    );
    let not_pem = service_account_json("hello", GOOGLE_TOKEN_URI);
    let evil_uri = service_account_json(PKCS8, "https://evil.example/token");
    let mut no_key: serde_json::Value =
        serde_json::from_str(&service_account_json(PKCS8, GOOGLE_TOKEN_URI)).expect("json");
    no_key
        .as_object_mut()
        .expect("object")
        .remove("private_key");
    let no_key = no_key.to_string();
    for (json, needle) in [
        ("", "Paste the service account's JSON key file"),
        ("{\"type\": ", "not valid JSON (line 1"),
        (other_type.as_str(), "not a service-account key"),
        (ec.as_str(), "not an RSA private key"),
        (garbage.as_str(), "not an RSA private key"),
        (not_pem.as_str(), "not an RSA private key"),
        (evil_uri.as_str(), "\"token_uri\" is not Google's"),
        (no_key.as_str(), "lacks \"private_key\""),
    ] {
        let errs = refused(
            CredentialKind::Vertex,
            &[("service_account_json", json), ("location", "us-central1")],
        );
        assert_one(&errs, "service_account_json", needle);
    }
}

#[test]
fn vertex_locations_are_checked() {
    let json = service_account_json(PKCS8, GOOGLE_TOKEN_URI);
    for (location, needle) in [
        ("", "Enter the location"),
        ("us-east-1", "Google Cloud region"),
    ] {
        let errs = refused(
            CredentialKind::Vertex,
            &[("service_account_json", &json), ("location", location)],
        );
        assert_one(&errs, "location", needle);
    }
}

// ---- OpenAI-compatible ----

#[test]
fn compatible_host_is_read_with_or_without_key() {
    let Credential::Compatible(c) = parse(
        CredentialKind::Compatible,
        &[
            ("api_host", "https://llm.example.com/v1/"),
            ("models", "llama3\nqwen2.5"),
        ],
    )
    .expect("valid") else {
        panic!("not compatible");
    };
    assert_eq!(c.host.as_str(), "https://llm.example.com/v1");
    assert!(c.api_key.is_none());
    assert_eq!(c.models, ["llama3", "qwen2.5"]);
    let Ok(Credential::Compatible(c)) = parse(
        CredentialKind::Compatible,
        &[
            ("api_host", "https://llm.example.com/v1"),
            ("api_key", COMPAT_KEY),
        ],
    ) else {
        panic!("with key refused");
    };
    assert_eq!(
        c.api_key.as_ref().map(|k| k.expose_secret()),
        Some(COMPAT_KEY)
    );
    assert!(
        c.models.is_empty(),
        "models are read from the host when left empty"
    );
}

#[test]
fn compatible_hosts_go_through_the_outbound_guard() {
    for (host, needle) in [
        ("", "Enter the API host"),
        ("http://llm.example.com/v1", "must start with https://"),
        ("https://127.0.0.1:8000/v1", "loopback, private"),
        ("https://10.0.0.8/v1", "loopback, private"),
        ("https://0x7f.1/v1", "loopback, private"),
        ("https://[fd00::1]/v1", "loopback, private"),
        (
            "https://k:secret@llm.example.com/v1",
            "user name or password",
        ),
    ] {
        let errs = refused(CredentialKind::Compatible, &[("api_host", host)]);
        assert_one(&errs, "api_host", needle);
        assert!(errs[0].1.contains("API host"), "{errs:?}");
    }
    let local = [("api_host", "http://127.0.0.1:8000/v1")];
    let cred =
        parse_with(CredentialKind::Compatible, &local, "127.0.0.1/32", None).expect("allowed");
    assert_eq!(cred.mask(&[]), "127.0.0.1:8000 · no key");
}

#[test]
fn plain_api_keys_keep_their_checks() {
    let Ok(Credential::ApiKey(k)) =
        parse(CredentialKind::ApiKey, &[("api_key", " sk-abcdefgh1234 ")])
    else {
        panic!("refused");
    };
    assert_eq!(k.expose_secret(), "sk-abcdefgh1234");
    assert_one(
        &refused(CredentialKind::ApiKey, &[("api_key", "")]),
        "api_key",
        "Enter the API key.",
    );
}

// ---- sealing, masks, secret parts ----

fn samples() -> Vec<Credential> {
    let vertex_json = service_account_json(PKCS8, GOOGLE_TOKEN_URI);
    let bedrock_tmp = [
        ("access_key_id", "ASIAIOSFODNN7EXAMPLE"),
        ("secret_access_key", AWS_SECRET),
        ("session_token", AWS_TOKEN),
        ("region", "us-east-1"),
    ];
    vec![
        parse(
            CredentialKind::ApiKey,
            &[("api_key", "sk-proj-abcdefghijklmnop7f3a")],
        )
        .expect("key"),
        parse(CredentialKind::Azure, &azure_ok()).expect("azure"),
        parse(CredentialKind::Bedrock, &bedrock_ok()).expect("bedrock"),
        parse(CredentialKind::Bedrock, &bedrock_tmp).expect("bedrock temporary"),
        parse(
            CredentialKind::Vertex,
            &[
                ("service_account_json", &vertex_json),
                ("location", "us-central1"),
            ],
        )
        .expect("vertex"),
        parse(
            CredentialKind::Compatible,
            &[
                ("api_host", "https://llm.example.com/v1"),
                ("api_key", COMPAT_KEY),
                ("models", "m1"),
            ],
        )
        .expect("compatible"),
        parse(
            CredentialKind::Compatible,
            &[("api_host", "https://llm.example.com:8443/v1")],
        )
        .expect("compatible without key"),
    ]
}

#[test]
fn every_credential_survives_sealing() {
    for cred in samples() {
        let sealed = cred.to_sealed_json();
        let back = Credential::from_opened(cred.kind(), &sealed).expect("opens");
        assert_eq!(back.kind(), cred.kind());
        assert_eq!(back.mask(&["sk-proj-"]), cred.mask(&["sk-proj-"]));
        assert_eq!(back.secret_parts(), cred.secret_parts());
        assert_eq!(
            back.to_sealed_json().expose_secret(),
            sealed.expose_secret()
        );
    }
}

#[test]
fn structured_credentials_seal_as_one_tagged_json_document() {
    let azure = &samples()[1];
    let doc: serde_json::Value =
        serde_json::from_str(azure.to_sealed_json().expose_secret()).expect("json");
    assert_eq!(doc["kind"], "azure");
    assert_eq!(doc["api_version"], "2024-10-21");
    assert_eq!(doc["deployments"][0]["deployment"], "prod-4o");
}

#[test]
fn plain_api_keys_stay_plain_strings_and_old_rows_open() {
    let old = SecretString::from("sk-abcdefgh1234");
    let cred = Credential::from_opened(CredentialKind::ApiKey, &old).expect("opens");
    assert_eq!(cred.to_sealed_json().expose_secret(), "sk-abcdefgh1234");
}

#[test]
fn a_sealed_document_of_another_kind_or_shape_does_not_open() {
    let azure = samples()[1].to_sealed_json();
    let err = Credential::from_opened(CredentialKind::Bedrock, &azure).expect_err("wrong kind");
    assert_eq!(err.expected, CredentialKind::Bedrock);
    assert!(!err.to_string().contains(AZURE_KEY));
    for bad in [
        "sk-abcdefgh1234",
        "{}",
        r#"{"kind":"azure"}"#,
        r#"{"kind":"nope"}"#,
    ] {
        assert!(
            Credential::from_opened(CredentialKind::Azure, &SecretString::from(bad)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn masks_show_only_non_secret_parts() {
    let masks: Vec<String> = samples().iter().map(|c| c.mask(&["sk-proj-"])).collect();
    assert_eq!(
        masks,
        [
            "sk-proj-…7f3a",
            "my-res.openai.azure.com · …abcd",
            "eu-central-2 · AKIA…MPLE",
            "us-east-1 · ASIA…MPLE",
            "caller@keyhold-test.iam.gserviceaccount.com · us-central1",
            "llm.example.com · …WXYZ",
            "llm.example.com:8443 · no key",
        ]
    );
}

#[test]
fn secret_parts_list_every_secret_and_no_identifier() {
    let parts: Vec<Vec<String>> = samples()
        .iter()
        .map(|c| c.secret_parts().into_iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(parts[1], [AZURE_KEY]);
    assert_eq!(parts[2], [AWS_SECRET]);
    assert_eq!(parts[3], [AWS_SECRET, AWS_TOKEN]);
    assert_eq!(parts[4], [PKCS8]);
    assert_eq!(parts[5], [COMPAT_KEY]);
    assert!(parts[6].is_empty());
}

/// Canary: no rendering of a credential, its form or its errors shows a secret part.
#[test]
fn no_debug_mask_or_error_shows_a_secret_part() {
    let pem_body: String = PKCS8.lines().nth(1).expect("a body line").to_owned();
    for cred in samples() {
        let shown = [
            format!("{cred:?}"),
            format!("{cred:#?}"),
            cred.mask(&["sk-proj-"]),
            cred.kind().to_string(),
        ];
        for part in cred.secret_parts() {
            for text in &shown {
                assert!(!text.contains(part), "{text} shows a secret");
                let tail = &part[part.len() - 12..];
                assert!(!text.contains(tail), "{text} shows part of a secret");
            }
        }
        for text in &shown {
            assert!(!text.contains(&pem_body), "{text} shows the private key");
        }
    }
    // A form's Debug lists field names only.
    let f = form(&[("api_key", AZURE_KEY), ("secret_access_key", AWS_SECRET)]);
    let shown = format!("{f:?}");
    assert!(
        !shown.contains(AZURE_KEY) && !shown.contains(AWS_SECRET),
        "{shown}"
    );
    // Secrets typed into the wrong box are never repeated by the error.
    let misplaced = [
        ("access_key_id", AWS_SECRET),
        ("secret_access_key", AWS_SECRET),
        ("region", AWS_SECRET),
        ("session_token", "wJalrXUtnFEMI K7MDENG bPxRfiCYEXAMPLEKEY"),
    ];
    let errs = parse(CredentialKind::Bedrock, &misplaced).expect_err("refused");
    let vertex_bad = service_account_json(&format!("{PKCS8}x"), "https://evil.example/t");
    let vertex_errs = parse(
        CredentialKind::Vertex,
        &[
            ("service_account_json", &vertex_bad),
            ("location", AZURE_KEY),
        ],
    )
    .expect_err("refused");
    for e in errs.iter().chain(&vertex_errs) {
        let text = e.to_string();
        for secret in [
            AWS_SECRET,
            "bPxRfiCYEXAMPLEKEY",
            AZURE_KEY,
            pem_body.as_str(),
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

// ---- edits ----

fn edit(
    stored: &Credential,
    pairs: &[(&str, &str)],
    allow: &str,
) -> Result<Credential, Vec<FieldError>> {
    let allow = OutboundAllow::parse(allow).expect("allow");
    let ctx = ParseContext {
        allow: &allow,
        google_token_url: None,
    };
    stored.parse_edit(&form(pairs), &ctx)
}

#[test]
fn an_edit_with_empty_secrets_keeps_the_stored_ones() {
    let s = samples();
    let azure = edit(
        &s[1],
        &[
            ("endpoint", "https://my-res.openai.azure.com"),
            ("api_key", ""),
            ("deployments", "gpt-4.1"),
        ],
        "",
    )
    .expect("kept key");
    assert_eq!(azure.secret_parts(), [AZURE_KEY]);
    let bedrock = edit(
        &s[3],
        &[
            ("access_key_id", "ASIAIOSFODNN7EXAMPLE"),
            ("region", "eu-west-1"),
        ],
        "",
    )
    .expect("kept secret and token");
    assert_eq!(bedrock.secret_parts(), [AWS_SECRET, AWS_TOKEN]);
    assert_eq!(bedrock.mask(&[]), "eu-west-1 · ASIA…MPLE");
    let vertex = edit(&s[4], &[("location", "global")], "").expect("kept service account");
    assert_eq!(vertex.secret_parts(), [PKCS8]);
    assert_eq!(
        vertex.mask(&[]),
        "caller@keyhold-test.iam.gserviceaccount.com · global"
    );
    let compat = edit(
        &s[5],
        &[
            ("api_host", "https://llm.example.com/v1/"),
            ("models", "m2"),
        ],
        "",
    )
    .expect("kept key");
    assert_eq!(compat.secret_parts(), [COMPAT_KEY]);
    let key = edit(&s[0], &[("api_key", "")], "").expect("kept key");
    assert_eq!(key.secret_parts(), ["sk-proj-abcdefghijklmnop7f3a"]);
}

#[test]
fn a_changed_host_or_key_id_needs_the_secret_again() {
    let s = samples();
    for (stored, pairs, field) in [
        (
            &s[1],
            vec![
                ("endpoint", "https://other-res.openai.azure.com"),
                ("deployments", "gpt-4o"),
            ],
            "api_key",
        ),
        (
            &s[5],
            vec![("api_host", "https://elsewhere.example.com/v1")],
            "api_key",
        ),
        (
            &s[2],
            vec![
                ("access_key_id", "AKIAI44QH8DHBEXAMPLE"),
                ("region", "us-east-1"),
            ],
            "secret_access_key",
        ),
    ] {
        let errs = edit(stored, &pairs, "").expect_err("needs the secret");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, field);
        assert!(errs[0].message.contains("again"), "{errs:?}");
    }
    // Typing the secret with the new host is accepted.
    let moved = edit(
        &s[5],
        &[
            ("api_host", "https://elsewhere.example.com/v1"),
            ("api_key", "sk-new-0123456789"),
        ],
        "",
    )
    .expect("new host and key");
    assert_eq!(moved.mask(&[]), "elsewhere.example.com · …6789");
}

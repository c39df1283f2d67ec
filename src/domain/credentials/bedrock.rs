//! The AWS Bedrock form: "Access key ID", "Secret access key", "Region" and an optional
//! "Session token", or MegaBrain's "Credentials JSON" — one or the other, not both.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Bedrock;
use super::checks::{is_access_key_id, is_aws_region, is_aws_secret_shape};
use super::form::{Errors, FormInput, fields};
use super::secret::{SecretRules, check_secret};

const SECRET_ACCESS_KEY: SecretRules = SecretRules {
    noun: "secret access key",
    a_noun: "A secret access key",
    min_len: 40,
    max_len: 40,
};

const SESSION_TOKEN: SecretRules = SecretRules {
    noun: "session token",
    a_noun: "A session token",
    min_len: 16,
    max_len: 8192,
};

/// MegaBrain's "Credentials JSON".
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AwsJson {
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    session_token: Option<SecretString>,
    region: Option<String>,
}

/// Reads the Bedrock form: the three fields (and optional session token), or the JSON.
pub(super) fn parse(form: &FormInput, errors: &mut Errors) -> Option<Bedrock> {
    let json = form.filled(fields::CREDENTIALS_JSON);
    let any_field = [
        fields::ACCESS_KEY_ID,
        fields::SECRET_ACCESS_KEY,
        fields::SESSION_TOKEN,
        fields::REGION,
    ]
    .into_iter()
    .any(|f| form.filled(f).is_some());
    match json {
        Some(_) if any_field => {
            errors.add(
                fields::CREDENTIALS_JSON,
                "Fill either Access key ID, Secret access key and Region, or Credentials \
                 JSON, not both.",
            );
            None
        }
        Some(json) => bedrock_json(json, errors),
        None => bedrock_fields(form, errors),
    }
}

fn bedrock_fields(form: &FormInput, errors: &mut Errors) -> Option<Bedrock> {
    let id = errors.take(
        fields::ACCESS_KEY_ID,
        access_key_id(form.filled(fields::ACCESS_KEY_ID)),
    );
    let secret = errors.take(
        fields::SECRET_ACCESS_KEY,
        secret_access_key(form.raw(fields::SECRET_ACCESS_KEY.0)),
    );
    let token = errors.take(
        fields::SESSION_TOKEN,
        session_token(form.filled(fields::SESSION_TOKEN), id.as_deref()),
    );
    let region = errors.take(fields::REGION, region(form.filled(fields::REGION)));
    Some(Bedrock {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token?,
        region: region?,
    })
}

fn bedrock_json(json: &str, errors: &mut Errors) -> Option<Bedrock> {
    let doc: AwsJson = match serde_json::from_str(json) {
        Ok(doc) => doc,
        Err(e) => {
            errors.add(
                fields::CREDENTIALS_JSON,
                format!(
                    "Credentials JSON is not a JSON object of strings \
                     {{\"accessKeyId\", \"secretAccessKey\", \"region\"}} (optional \
                     \"sessionToken\"); the problem is at line {}, column {}.",
                    e.line(),
                    e.column()
                ),
            );
            return None;
        }
    };
    // Each value gets the same check as its field; the message says which JSON key is wrong.
    let id = in_json(
        errors,
        "accessKeyId",
        access_key_id(doc.access_key_id.as_deref()),
    );
    let secret = in_json(
        errors,
        "secretAccessKey",
        match &doc.secret_access_key {
            Some(s) => secret_access_key(s.expose_secret()),
            None => Err("missing.".into()),
        },
    );
    let token = in_json(
        errors,
        "sessionToken",
        session_token(
            doc.session_token.as_ref().map(|t| t.expose_secret().trim()),
            id.as_deref(),
        ),
    );
    let region = in_json(errors, "region", region(doc.region.as_deref()));
    Some(Bedrock {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token?,
        region: region?,
    })
}

/// A Credentials JSON value's check, its message naming the JSON key.
fn in_json<T>(errors: &mut Errors, key: &str, check: Result<T, String>) -> Option<T> {
    errors.take(
        fields::CREDENTIALS_JSON,
        check.map_err(|m| format!("In Credentials JSON, \"{key}\": {m}")),
    )
}

fn access_key_id(v: Option<&str>) -> Result<String, String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty());
    let v = v.ok_or("Enter the access key ID (it starts with AKIA).")?;
    if is_access_key_id(v) {
        Ok(v.to_owned())
    } else {
        Err(
            "An access key ID is 20 capital letters and digits starting with AKIA \
             (or ASIA for temporary credentials)."
                .into(),
        )
    }
}

fn secret_access_key(v: &str) -> Result<SecretString, String> {
    let secret = check_secret(v, SECRET_ACCESS_KEY)?;
    if is_aws_secret_shape(secret.expose_secret()) {
        Ok(secret)
    } else {
        Err("A secret access key is 40 letters, digits, + and / only. Paste it again.".into())
    }
}

fn session_token(v: Option<&str>, id: Option<&str>) -> Result<Option<SecretString>, String> {
    let temporary = id.is_some_and(|id| id.starts_with("ASIA"));
    match v.filter(|t| !t.is_empty()) {
        Some(t) => check_secret(t, SESSION_TOKEN).map(Some),
        None if temporary => Err("Temporary credentials (an access key ID starting with \
                                  ASIA) need their session token."
            .into()),
        None => Ok(None),
    }
}

fn region(v: Option<&str>) -> Result<String, String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty());
    let v = v.ok_or("Enter the AWS region, such as us-east-1.")?;
    if is_aws_region(v) {
        Ok(v.to_owned())
    } else {
        Err(
            "The region is an AWS region code such as us-east-1, eu-central-2 or \
             us-gov-west-1."
                .into(),
        )
    }
}

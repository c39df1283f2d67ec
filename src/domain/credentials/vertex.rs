//! The Google Vertex AI form: "Service account JSON" (a key file of type
//! `service_account` whose private key signs, naming Google's token server) and "Location".

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::form::{Errors, FormInput, ParseContext, fields};
use super::{GOOGLE_TOKEN_URI, ServiceAccount, Vertex, checks};

/// The service-account JSON key file as Google hands it out (other fields are ignored).
#[derive(Deserialize)]
struct ServiceAccountJson {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<SecretString>,
    private_key_id: Option<String>,
    project_id: Option<String>,
    token_uri: Option<String>,
}

/// Reads the Vertex form: the service-account JSON key file and the location.
pub(super) fn parse(
    form: &FormInput,
    ctx: &ParseContext<'_>,
    errors: &mut Errors,
) -> Option<Vertex> {
    let sa = errors.take(
        fields::SERVICE_ACCOUNT_JSON,
        service_account(form.filled(fields::SERVICE_ACCOUNT_JSON), ctx),
    );
    let location = form.filled(fields::LOCATION);
    let location = errors.take(
        fields::LOCATION,
        match location {
            None => Err("Enter the location, such as us-central1, europe-west4 or global.".into()),
            Some(l) if checks::is_google_location(l) => Ok(l.to_owned()),
            Some(_) => Err(
                "The location is a Google Cloud region such as us-central1 or \
                            europe-west4, or global."
                    .into(),
            ),
        },
    );
    Some(Vertex {
        service_account: sa?,
        location: location?,
    })
}

fn service_account(json: Option<&str>, ctx: &ParseContext<'_>) -> Result<ServiceAccount, String> {
    let json = json.ok_or(
        "Paste the service account's JSON key file (IAM → Service accounts → Keys → Add key).",
    )?;
    let doc: ServiceAccountJson = serde_json::from_str(json).map_err(|e| {
        format!(
            "The Service account JSON is not valid JSON (line {}, column {}). Paste the \
             whole file as downloaded.",
            e.line(),
            e.column()
        )
    })?;
    if doc.kind.as_deref() != Some("service_account") {
        return Err(
            "This JSON is not a service-account key (its \"type\" must be \
                    \"service_account\"). Create a key for a service account and paste it."
                .into(),
        );
    }
    let missing = |key: &str| format!("The Service account JSON lacks \"{key}\".");
    let client_email = doc
        .client_email
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| missing("client_email"))?;
    let email_ok = client_email.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !domain.contains('@')
    }) && client_email.chars().all(|c| c.is_ascii_graphic());
    if !email_ok {
        return Err("The Service account JSON's \"client_email\" is not an e-mail address.".into());
    }
    let project_id = doc
        .project_id
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| missing("project_id"))?;
    if !project_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
    {
        return Err("The Service account JSON's \"project_id\" is not a project id.".into());
    }
    let token_uri = doc
        .token_uri
        .map(|t| t.trim().to_owned())
        .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
    let configured = ctx
        .google_token_url
        .is_some_and(|u| Url::parse(&token_uri).is_ok_and(|t| t == *u));
    if token_uri != GOOGLE_TOKEN_URI && !configured {
        return Err(format!(
            "The Service account JSON's \"token_uri\" is not Google's ({GOOGLE_TOKEN_URI}); \
             Keyhold calls no other token server."
        ));
    }
    let private_key = doc.private_key.ok_or_else(|| missing("private_key"))?;
    if !rsa_key_signs(&private_key) {
        return Err(
            "The Service account JSON's \"private_key\" is not an RSA private key \
                    in PEM form. Download a new key for the service account."
                .into(),
        );
    }
    let private_key_id = doc
        .private_key_id
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    Ok(ServiceAccount {
        client_email,
        private_key,
        private_key_id,
        project_id,
        token_uri,
    })
}

/// Whether the PEM is an RSA private key that actually signs an RS256 JWT (parsing the
/// PEM alone does not parse the RSA key inside it).
fn rsa_key_signs(pem: &SecretString) -> bool {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let Ok(key) = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes()) else {
        return false;
    };
    encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key).is_ok()
}

//! Where Bedrock and Vertex AI calls go: the default hosts per region or location, and
//! the request paths, with model ids encoded the way the providers' own SDKs encode them.

use reqwest::Url;

/// Everything but RFC 3986's unreserved characters, as the AWS SDKs encode a path label
/// (so `anthropic.claude-3-5-haiku-20241022-v1:0` keeps its `:` as `%3A`, and an ARN's `/`
/// stays inside one segment).
const LABEL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A Vertex model name: a path label that keeps its `@` (`claude-3-5-haiku@20241022`).
const MODEL_LABEL: &percent_encoding::AsciiSet = &LABEL.remove(b'@');

/// `https://bedrock-runtime.<region>.amazonaws.com`: Converse and ConverseStream.
pub fn bedrock_runtime_base(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// `https://bedrock.<region>.amazonaws.com`: the control plane (ListFoundationModels).
pub fn bedrock_control_base(region: &str) -> String {
    format!("https://bedrock.{region}.amazonaws.com")
}

/// Joins `path` (already encoded, starting with `/`) to `base`, keeping any base path.
pub(crate) fn join(base: &Url, path: &str) -> Result<Url, url::ParseError> {
    let base = base.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}{path}"))
}

/// `<base>/model/<modelId>/converse` or `.../converse-stream`.
pub fn bedrock_converse_url(
    base: &Url,
    model_id: &str,
    stream: bool,
) -> Result<Url, url::ParseError> {
    let action = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    let model = percent_encoding::utf8_percent_encode(model_id, LABEL);
    join(base, &format!("/model/{model}/{action}"))
}

/// `<base>/foundation-models`: a cheap signed read for key checks.
pub fn bedrock_foundation_models_url(base: &Url) -> Result<Url, url::ParseError> {
    join(base, "/foundation-models")
}

/// `https://<location>-aiplatform.googleapis.com`, or `https://aiplatform.googleapis.com`
/// for the `global` location.
pub fn vertex_base(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// Vertex's OpenAI-compatible chat endpoint (models named `google/<model>`).
pub fn vertex_openai_chat_url(
    base: &Url,
    project: &str,
    location: &str,
) -> Result<Url, url::ParseError> {
    let project = percent_encoding::utf8_percent_encode(project, LABEL);
    let location = percent_encoding::utf8_percent_encode(location, LABEL);
    join(
        base,
        &format!("/v1/projects/{project}/locations/{location}/endpoints/openapi/chat/completions"),
    )
}

/// Claude on Vertex: `.../publishers/anthropic/models/<model>:rawPredict` (or
/// `:streamRawPredict`); the model keeps its `@` (`claude-3-5-haiku@20241022`).
pub fn vertex_claude_url(
    base: &Url,
    project: &str,
    location: &str,
    model: &str,
    stream: bool,
) -> Result<Url, url::ParseError> {
    let verb = if stream {
        "streamRawPredict"
    } else {
        "rawPredict"
    };
    let project = percent_encoding::utf8_percent_encode(project, LABEL);
    let location = percent_encoding::utf8_percent_encode(location, LABEL);
    let model = percent_encoding::utf8_percent_encode(model, MODEL_LABEL);
    join(
        base,
        &format!(
            "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:{verb}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    #[test]
    fn bedrock_model_ids_are_one_encoded_segment() {
        let base = url(&bedrock_runtime_base("eu-west-3"));
        let converse =
            bedrock_converse_url(&base, "anthropic.claude-3-5-haiku-20241022-v1:0", false);
        assert_eq!(
            converse.expect("a URL").as_str(),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude";
        let stream = bedrock_converse_url(&url("http://127.0.0.1:9/"), arn, true).expect("a URL");
        assert_eq!(
            stream.path(),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude/converse-stream"
        );
    }

    #[test]
    fn the_control_plane_lists_foundation_models() {
        let base = url(&bedrock_control_base("us-east-1"));
        assert_eq!(
            bedrock_foundation_models_url(&base)
                .expect("a URL")
                .as_str(),
            "https://bedrock.us-east-1.amazonaws.com/foundation-models"
        );
    }

    #[test]
    fn vertex_hosts_follow_the_location() {
        assert_eq!(vertex_base("global"), "https://aiplatform.googleapis.com");
        assert_eq!(
            vertex_base("europe-west4"),
            "https://europe-west4-aiplatform.googleapis.com"
        );
    }

    #[test]
    fn vertex_paths_name_project_location_and_model() {
        let base = url(&vertex_base("us-east5"));
        assert_eq!(
            vertex_openai_chat_url(&base, "my-project", "us-east5")
                .expect("a URL")
                .as_str(),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5/endpoints/openapi/chat/completions"
        );
        assert_eq!(
            vertex_claude_url(
                &base,
                "my-project",
                "us-east5",
                "claude-3-5-haiku@20241022",
                true
            )
            .expect("a URL")
            .path(),
            "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022:streamRawPredict"
        );
        let sneaky = vertex_claude_url(&base, "p", "l", "../../x?y", false).expect("a URL");
        assert_eq!(
            sneaky.path(),
            "/v1/projects/p/locations/l/publishers/anthropic/models/..%2F..%2Fx%3Fy:rawPredict"
        );
    }
}

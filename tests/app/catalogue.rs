//! Every catalogue provider through the front door: its key tested and its calls sent under
//! its own real default path (Gemini's `/v1beta/openai`, Groq's `/openai/v1`, Perplexity's
//! none...), with the model rewritten as the provider names it, through both front doors.

use keyhold::domain::providers::{Wire, catalogue};
use reqwest::StatusCode;
use serde_json::Value;

use crate::gateway::*;

#[tokio::test]
async fn every_provider_is_called_at_its_own_path_with_its_own_model_name() {
    let gw = Gw::start().await;
    for p in catalogue()
        .iter()
        .filter(|p| p.wire == Wire::OpenAi && !p.auth.host_per_key())
    {
        let key = format!(
            "{}catalogue-test-key-{}",
            p.key_prefixes.first().unwrap_or(&""),
            p.id
        );
        let r = gw
            .admin_save(
                p.id,
                &[
                    ("enabled", "on"),
                    ("byok_enabled", "on"),
                    ("failure_policy", "fail"),
                    ("api_key", &key),
                ],
            )
            .await;
        let status = r.status();
        let page = r.text().await.unwrap_or_default();
        let flash = page
            .split("class=\"field-error")
            .nth(1)
            .map_or(String::new(), |e| e.chars().take(300).collect());
        assert_eq!(status, StatusCode::SEE_OTHER, "saving {}: {flash}", p.id);
        let want_base = url::Url::parse(p.default_base_url).expect("URL");
        let want_base = want_base.path().trim_end_matches('/');
        let tested = gw.app.provider.requests();
        let test = tested.last().expect("the key was tested on save");
        assert_eq!(
            (test.method.as_str(), test.base, test.path.as_str()),
            ("GET", want_base, "/v1/models"),
            "{}: the key test goes to the provider's own path",
            p.id
        );

        let model = p.models[0];
        let mut names = vec![format!("{}/{model}", p.id)];
        if !p.model_prefixes.is_empty() {
            names.push(model.to_owned());
        }
        for name in names {
            gw.app.provider.clear();
            let r = gw.chat(&gw.token, &name).await;
            let status = r.status();
            let body: Value = r.json().await.expect("JSON");
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
            let sent = gw.app.provider.requests();
            let sent = sent.last().expect("called upstream");
            assert_eq!(
                (sent.base, sent.path.as_str()),
                (want_base, "/v1/chat/completions"),
                "{name}"
            );
            assert_eq!(sent.body["model"], model, "{name}: the provider's own name");
            assert_eq!(sent.key.as_deref(), Some(key.as_str()), "{name}");
        }

        // The Anthropic front door reaches the same path, translated.
        gw.app.provider.clear();
        let r = gw
            .messages(
                Auth::XApiKey,
                &messages_request(&format!("{}/{model}", p.id), false),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.expect("JSON");
        assert_eq!(status, StatusCode::OK, "{}: {body}", p.id);
        assert_eq!(body["type"], "message", "{}", p.id);
        let sent = gw.app.provider.requests();
        let sent = sent.last().expect("called upstream");
        assert_eq!(
            (sent.base, sent.body["model"].as_str()),
            (want_base, Some(model))
        );
    }
}

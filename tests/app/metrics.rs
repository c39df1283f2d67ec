//! `GET /metrics`: Prometheus text that counts pages and API calls by outcome, names no
//! tenant, and wants a token when the operator set one.

use reqwest::StatusCode;

use crate::gateway::*;
use crate::helpers::*;

/// The value of the sample line `series` (name and labels exactly), if present.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(app: &TestApp, auth: Option<&str>) -> (StatusCode, String) {
    let mut r = app.client().get(app.url("/metrics"));
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let r = r.send().await.expect("GET /metrics");
    (r.status(), r.text().await.expect("body"))
}

#[tokio::test]
async fn metrics_count_api_calls_by_provider_source_and_outcome_and_name_no_tenant() {
    let gw = Gw::start().await;
    let (key, _) = gw.chat_ok("openai/gpt-4o-mini").await;
    assert!(!key.is_empty());
    let r = gw.chat(&gw.token, "no-such-model").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    gw.turn_off("anthropic").await;
    let r = gw
        .chat(&gw.token, "anthropic/claude-3-5-haiku-latest")
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    // The usage writer has written what the calls recorded.
    gw.usage(2).await;

    let (status, page) = scrape(&gw.app, None).await;
    assert_eq!(status, StatusCode::OK);
    let calls = |labels: &str| sample(&page, &format!("keyhold_gateway_calls_total{{{labels}}}"));
    assert_eq!(
        calls(r#"provider="openai",source="platform",outcome="ok""#),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        calls(r#"provider="anthropic",source="none",outcome="provider_disabled""#),
        Some(1.0),
        "{page}"
    );
    let tokens = sample(
        &page,
        r#"keyhold_gateway_completion_tokens_total{provider="openai",source="platform",outcome="ok"}"#,
    );
    assert!(tokens.is_some_and(|t| t > 0.0), "{page}");
    for (kind, class, least) in [
        ("api", "2xx", 1.0),
        ("api", "4xx", 2.0),
        ("page", "2xx", 1.0),
    ] {
        let series = format!("keyhold_http_requests_total{{kind=\"{kind}\",class=\"{class}\"}}");
        let n = sample(&page, &series);
        assert!(n.is_some_and(|n| n >= least), "{series}: {n:?}\n{page}");
    }
    assert_eq!(sample(&page, "keyhold_db_up"), Some(1.0));
    assert!(
        sample(&page, "keyhold_mail_outbox_pending").is_some(),
        "{page}"
    );
    assert!(sample(&page, "keyhold_db_connections_max").is_some_and(|n| n >= 1.0));
    // Aggregates only: nothing that tells tenants, people or keys apart.
    for secret in [
        gw.ws_id.as_str(),
        gw.slug.as_str(),
        gw.token.as_str(),
        gw.token_id.as_str(),
        key.as_str(),
        "admin@example.test",
    ] {
        assert!(!page.contains(secret), "/metrics names {secret:?}");
    }
    assert!(page.ends_with('\n'));
}

#[tokio::test]
async fn with_a_metrics_token_set_only_its_bearer_may_scrape() {
    let token = "metrics-token-0123456789";
    let app = TestApp::spawn_with(Options {
        env: vec![("KEYHOLD_METRICS_TOKEN".into(), token.into())],
        ..Options::default()
    })
    .await;
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(token)] {
        let (status, body) = scrape(&app, auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(!body.contains("keyhold_"), "{body}");
    }
    let (status, body) = scrape(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("keyhold_build_info"), "{body}");
    // Health checks stay open.
    assert_eq!(
        app.get(&app.client(), "/healthz").await.status(),
        StatusCode::OK
    );
}

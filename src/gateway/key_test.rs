//! Key tests of every credential kind, as the services ask for them
//! ([`crate::services::context::KeyTester`]): an API key with the provider's cheap `GET`,
//! a structured credential with its adapter's authenticated read (Azure: the resource's
//! models; Bedrock: ListFoundationModels, signed; Vertex: the token exchange, then a model
//! list; an OpenAI-compatible host: `GET /models`, whose ids fill "Models").

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;

use super::Gateway;
use super::adapters::{Adapter, NotSent, Upstream, Via};
use crate::domain::credentials::Credential;
use crate::domain::providers::Provider;
use crate::outbound::HostField;
use crate::services::context::KeyTester;
use crate::upstream::{
    self, KeyReport, KeyTest, TEST_TIMEOUT, TestOutcome, Untested, outcome_of_status,
};

/// The most of a compatible host's model list that is read.
const MAX_MODEL_LIST: usize = 1024 * 1024;

impl KeyTester for Gateway {
    fn test<'a>(
        &'a self,
        provider: &'static Provider,
        cred: &'a Credential,
    ) -> Pin<Box<dyn Future<Output = KeyReport> + Send + 'a>> {
        Box::pin(test(self, provider, cred))
    }
}

fn report(outcome: TestOutcome, detail: impl Into<String>) -> KeyReport {
    KeyReport {
        test: KeyTest {
            outcome,
            detail: detail.into(),
        },
        models: Vec::new(),
    }
}

async fn test(gw: &Gateway, provider: &'static Provider, cred: &Credential) -> KeyReport {
    let base = gw.bases.get(provider.id);
    if let Credential::ApiKey(key) = cred {
        let Some(base) = base else {
            return report(
                TestOutcome::Untested(Untested::ProviderError),
                "no base URL is configured for this provider",
            );
        };
        return KeyReport {
            test: upstream::test_key(
                &gw.client,
                provider,
                base,
                Adapter::of(provider).test_headers(key),
            )
            .await,
            models: Vec::new(),
        };
    }
    let adapter = Adapter::of(provider);
    let up = Upstream {
        direct: &gw.direct,
        client: &gw.client,
        outbound: &gw.outbound,
        google: &gw.google,
    };
    let request = match adapter.test_request(&up, base, cred).await {
        None => return report(TestOutcome::Invalid, "this is not a credential of its kind"),
        Some(Ok(r)) => r,
        Some(Err(e)) => return not_sent(provider, e),
    };
    let (req, via) = request;
    let what = format!("{} {}", req.method(), req.url().path());
    let sent = match via {
        Via::Plain => tokio::time::timeout(TEST_TIMEOUT, gw.client.execute(req))
            .await
            .map(|r| r.map_err(NotSent::from)),
        Via::Guarded => tokio::time::timeout(TEST_TIMEOUT, gw.outbound.execute(req))
            .await
            .map(|r| r.map_err(NotSent::from)),
    };
    let response = match sent {
        Err(_) => {
            return report(
                TestOutcome::Untested(Untested::Timeout),
                format!("{what}: no answer in time"),
            );
        }
        Ok(Err(e)) => return not_sent(provider, e),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let outcome = outcome_of_status(status);
    let mut out = report(outcome, format!("{what} → {status}"));
    if outcome == TestOutcome::Ok && matches!(cred, Credential::Compatible(_)) {
        out.models = model_ids(response).await;
    }
    if outcome != TestOutcome::Ok {
        tracing::warn!(
            provider = provider.id,
            result = outcome.code(),
            "key test failed: {}",
            out.test.detail
        );
    }
    out
}

fn not_sent(provider: &Provider, e: NotSent) -> KeyReport {
    let r = match e {
        NotSent::Rejected => report(
            TestOutcome::Invalid,
            "the token service refused the service account's key",
        ),
        NotSent::Refused(why) => report(TestOutcome::Invalid, why.message(HostField::ApiHost)),
        NotSent::Http(e) if e.is_timeout() => report(
            TestOutcome::Untested(Untested::Timeout),
            "no answer in time",
        ),
        NotSent::Http(e) => report(
            TestOutcome::Untested(Untested::Unreachable),
            format!("could not connect ({e})"),
        ),
        NotSent::Failed(e) => report(TestOutcome::Untested(Untested::ProviderError), e.message),
        NotSent::NotServed => report(TestOutcome::Untested(Untested::ProviderError), "not tested"),
    };
    tracing::warn!(
        provider = provider.id,
        result = r.test.outcome.code(),
        "key test failed: {}",
        r.test.detail
    );
    r
}

/// The `data[].id` of an OpenAI-style model list (bounded; anything else gives none).
async fn model_ids(response: reqwest::Response) -> Vec<String> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        if body.len() + chunk.len() > MAX_MODEL_LIST {
            return Vec::new();
        }
        body.extend_from_slice(&chunk);
    }
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Model>,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        id: String,
    }
    serde_json::from_slice::<List>(&body)
        .map(|l| {
            l.data
                .into_iter()
                .map(|m| m.id)
                .filter(|id| !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control))
                .take(500)
                .collect()
        })
        .unwrap_or_default()
}

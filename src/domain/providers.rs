//! The provider catalogue as data: who Keyhold can call, how to authenticate, how to
//! test a key, what keys look like and which model names each provider serves.

use std::fmt;

/// How a provider expects its API key on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// Anthropic's `x-api-key: <key>` plus `anthropic-version: <version>`.
    AnthropicKey {
        /// Value of the `anthropic-version` header.
        version: &'static str,
    },
    /// Azure OpenAI: resource endpoint, `api-key`, API version and deployments.
    Azure,
    /// AWS Bedrock: an IAM access key signing each request (SigV4) in its region.
    Bedrock,
    /// Google Vertex AI: a service account exchanging a signed JWT for an access token.
    Vertex,
    /// A workspace's own OpenAI-compatible host (vLLM, Ollama, a reseller).
    Compatible,
}

impl AuthStyle {
    /// The credential kind an owner or admin enters for this style.
    pub fn credential_kind(self) -> crate::domain::credentials::CredentialKind {
        use crate::domain::credentials::CredentialKind;
        match self {
            AuthStyle::Bearer | AuthStyle::AnthropicKey { .. } => CredentialKind::ApiKey,
            AuthStyle::Azure => CredentialKind::Azure,
            AuthStyle::Bedrock => CredentialKind::Bedrock,
            AuthStyle::Vertex => CredentialKind::Vertex,
            AuthStyle::Compatible => CredentialKind::Compatible,
        }
    }

    /// Whether the host comes from each key (Azure's endpoint, a compatible host) or its
    /// region/location, rather than from one base URL for every key.
    pub fn host_per_key(self) -> bool {
        !matches!(self, AuthStyle::Bearer | AuthStyle::AnthropicKey { .. })
    }
}

/// Which request/response format the upstream API speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI's chat-completions format (also spoken by the OpenAI-compatible providers).
    OpenAi,
    /// Anthropic's messages format.
    Anthropic,
    /// AWS Bedrock's Converse API (streams in AWS event-stream frames).
    Converse,
}

/// One entry of the catalogue.
#[derive(Debug, PartialEq, Eq)]
pub struct Provider {
    /// Stable id used in URLs, settings, model names and associated data, e.g. `openai`.
    pub id: &'static str,
    /// Display name, e.g. `OpenAI`.
    pub name: &'static str,
    /// API base URL without a trailing slash; operators may override it with
    /// `KEYHOLD_PROVIDER_<ID>_BASE_URL` (see [`Provider::base_url_env_var`]).
    pub default_base_url: &'static str,
    /// How the key is sent.
    pub auth: AuthStyle,
    /// Which request/response format the upstream speaks.
    pub wire: Wire,
    /// Cheap `GET` used to test a key, relative to the base URL, e.g. `/models`.
    pub test_path: &'static str,
    /// Known key prefixes, longest first; used for masks.
    pub key_prefixes: &'static [&'static str],
    /// What a key looks like, shown as help text next to the key field.
    pub key_hint: &'static str,
    /// Bare model-name prefixes this provider serves, e.g. `gpt-`; empty when the
    /// provider is only reachable with an explicit `<id>/<model>` name.
    pub model_prefixes: &'static [&'static str],
    /// A short default model list, as the upstream names them (no `<id>/` prefix).
    pub models: &'static [&'static str],
    /// Where to get a key.
    pub docs_url: &'static str,
}

impl Provider {
    /// The environment variable that overrides this provider's base URL,
    /// e.g. `KEYHOLD_PROVIDER_OPENAI_BASE_URL`.
    pub fn base_url_env_var(&self) -> String {
        format!(
            "KEYHOLD_PROVIDER_{}_BASE_URL",
            self.id.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// The wire `model` (as sent upstream) is spoken in: one per provider, except Vertex,
    /// which serves Claude in Anthropic's format and the rest through its OpenAI endpoint.
    pub fn wire_for(&self, model: &str) -> Wire {
        if self.auth == AuthStyle::Vertex && model.starts_with("claude") {
            Wire::Anthropic
        } else {
            self.wire
        }
    }

    /// Whether workspaces may only use their own keys (no global key exists for it).
    pub fn workspace_keys_only(&self) -> bool {
        self.auth == AuthStyle::Compatible
    }

    /// Display mask for one of this provider's keys, e.g. `sk-proj-…7f3a`.
    pub fn mask_key(&self, secret: &str) -> String {
        use crate::domain::credentials::{Credential, CredentialKind};
        match self.auth.credential_kind() {
            CredentialKind::ApiKey => crate::domain::vault::mask(secret, self.key_prefixes),
            // A structured credential's sealed document: its non-secret parts.
            kind => Credential::from_opened(kind, &secrecy::SecretString::from(secret))
                .map_or_else(|_| "…".to_owned(), |c| c.mask(self.key_prefixes)),
        }
    }
}

const ANTHROPIC_VERSION: &str = "2023-06-01";

static CATALOGUE: [Provider; 19] = [
    Provider {
        id: "openai",
        name: "OpenAI",
        default_base_url: "https://api.openai.com/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["sk-svcacct-", "sk-admin-", "sk-proj-", "sk-"],
        key_hint: "Starts with sk- (project keys start with sk-proj-)",
        model_prefixes: &["chatgpt-", "gpt-", "o1", "o3", "o4"],
        models: &[
            "gpt-4o-mini",
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-4.1",
            "o4-mini",
        ],
        docs_url: "https://platform.openai.com/api-keys",
    },
    Provider {
        id: "anthropic",
        name: "Anthropic",
        default_base_url: "https://api.anthropic.com/v1",
        auth: AuthStyle::AnthropicKey {
            version: ANTHROPIC_VERSION,
        },
        wire: Wire::Anthropic,
        test_path: "/models",
        key_prefixes: &["sk-ant-api03-", "sk-ant-"],
        key_hint: "Starts with sk-ant-",
        model_prefixes: &["claude-"],
        models: &[
            "claude-3-5-haiku-latest",
            "claude-sonnet-4-0",
            "claude-opus-4-0",
        ],
        docs_url: "https://console.anthropic.com/settings/keys",
    },
    Provider {
        id: "gemini",
        name: "Google Gemini",
        default_base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["AIza"],
        key_hint: "Starts with AIza",
        model_prefixes: &["gemini-"],
        models: &["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"],
        docs_url: "https://aistudio.google.com/app/apikey",
    },
    Provider {
        id: "mistral",
        name: "Mistral",
        default_base_url: "https://api.mistral.ai/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &[],
        key_hint: "A 32-character key without a prefix",
        model_prefixes: &[
            "open-mistral",
            "codestral-",
            "ministral-",
            "mistral-",
            "pixtral-",
        ],
        models: &[
            "mistral-small-latest",
            "mistral-large-latest",
            "codestral-latest",
        ],
        docs_url: "https://console.mistral.ai/api-keys",
    },
    Provider {
        id: "deepseek",
        name: "DeepSeek",
        default_base_url: "https://api.deepseek.com/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["sk-"],
        key_hint: "Starts with sk-",
        model_prefixes: &["deepseek-"],
        models: &["deepseek-chat", "deepseek-reasoner"],
        docs_url: "https://platform.deepseek.com/api_keys",
    },
    Provider {
        id: "xai",
        name: "xAI",
        default_base_url: "https://api.x.ai/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["xai-"],
        key_hint: "Starts with xai-",
        model_prefixes: &["grok-"],
        models: &["grok-3-mini", "grok-3", "grok-4"],
        docs_url: "https://console.x.ai",
    },
    Provider {
        id: "groq",
        name: "Groq",
        default_base_url: "https://api.groq.com/openai/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["gsk_"],
        key_hint: "Starts with gsk_",
        model_prefixes: &["llama-"],
        models: &["llama-3.3-70b-versatile", "llama-3.1-8b-instant"],
        docs_url: "https://console.groq.com/keys",
    },
    Provider {
        id: "openrouter",
        name: "OpenRouter",
        default_base_url: "https://openrouter.ai/api/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["sk-or-v1-"],
        key_hint: "Starts with sk-or-v1-",
        model_prefixes: &[],
        models: &[
            "openai/gpt-4o-mini",
            "anthropic/claude-3.5-haiku",
            "meta-llama/llama-3.3-70b-instruct",
        ],
        docs_url: "https://openrouter.ai/settings/keys",
    },
    Provider {
        id: "qwen",
        name: "Qwen",
        default_base_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["sk-"],
        key_hint: "A DashScope key, starts with sk-",
        model_prefixes: &["qwen-", "qwq-"],
        models: &["qwen-plus", "qwen-max", "qwen-turbo"],
        docs_url: "https://bailian.console.alibabacloud.com/?apiKey=1",
    },
    Provider {
        id: "minimax",
        name: "MiniMax",
        default_base_url: "https://api.minimax.io/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &[],
        key_hint: "A MiniMax API key (a long token)",
        model_prefixes: &["MiniMax-"],
        models: &["MiniMax-M1", "MiniMax-Text-01"],
        docs_url: "https://www.minimax.io/platform/user-center/basic-information/interface-key",
    },
    Provider {
        id: "zai",
        name: "Z.ai",
        default_base_url: "https://api.z.ai/api/paas/v4",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &[],
        key_hint: "A Z.ai API key (id.secret)",
        model_prefixes: &["glm-"],
        models: &["glm-4.5", "glm-4.5-air", "glm-4.5-flash"],
        docs_url: "https://z.ai/manage-apikey/apikey-list",
    },
    Provider {
        id: "moonshot",
        name: "Moonshot AI",
        default_base_url: "https://api.moonshot.ai/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["sk-"],
        key_hint: "Starts with sk-",
        model_prefixes: &["kimi-", "moonshot-"],
        models: &["kimi-k2-0711-preview", "moonshot-v1-8k", "moonshot-v1-32k"],
        docs_url: "https://platform.moonshot.ai/console/api-keys",
    },
    Provider {
        id: "perplexity",
        name: "Perplexity",
        default_base_url: "https://api.perplexity.ai",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["pplx-"],
        key_hint: "Starts with pplx-",
        model_prefixes: &["sonar"],
        models: &["sonar", "sonar-pro", "sonar-reasoning"],
        docs_url: "https://www.perplexity.ai/settings/api",
    },
    Provider {
        id: "fireworks",
        name: "Fireworks AI",
        default_base_url: "https://api.fireworks.ai/inference/v1",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["fw_"],
        key_hint: "Starts with fw_",
        model_prefixes: &[],
        models: &[
            "accounts/fireworks/models/llama-v3p1-8b-instruct",
            "accounts/fireworks/models/deepseek-v3",
        ],
        docs_url: "https://app.fireworks.ai/settings/users/api-keys",
    },
    Provider {
        id: "novita",
        name: "Novita AI",
        default_base_url: "https://api.novita.ai/v3/openai",
        auth: AuthStyle::Bearer,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &["sk_"],
        key_hint: "Starts with sk_",
        model_prefixes: &[],
        models: &[
            "meta-llama/llama-3.1-8b-instruct",
            "deepseek/deepseek-v3-0324",
        ],
        docs_url: "https://novita.ai/settings/key-management",
    },
    Provider {
        id: "azure",
        name: "Azure OpenAI",
        default_base_url: "https://<resource>.openai.azure.com",
        auth: AuthStyle::Azure,
        wire: Wire::OpenAi,
        test_path: "/openai/models",
        key_prefixes: &[],
        key_hint: "From the Azure portal: the resource's Keys and Endpoint page",
        model_prefixes: &[],
        models: &[],
        docs_url: "https://portal.azure.com/#view/Microsoft_Azure_ProjectOxford/CognitiveServicesHub/~/OpenAI",
    },
    Provider {
        id: "bedrock",
        name: "AWS Bedrock",
        default_base_url: "https://bedrock-runtime.<region>.amazonaws.com",
        auth: AuthStyle::Bedrock,
        wire: Wire::Converse,
        test_path: "/foundation-models",
        key_prefixes: &[],
        key_hint: "An IAM access key allowed to call bedrock:InvokeModel and bedrock:ListFoundationModels",
        model_prefixes: &[],
        models: &[
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "amazon.nova-lite-v1:0",
            "meta.llama3-1-8b-instruct-v1:0",
        ],
        docs_url: "https://console.aws.amazon.com/iam/home#/security_credentials",
    },
    Provider {
        id: "vertex",
        name: "Google Vertex AI",
        default_base_url: "https://<location>-aiplatform.googleapis.com",
        auth: AuthStyle::Vertex,
        wire: Wire::OpenAi,
        test_path: "/publishers/google/models",
        key_prefixes: &[],
        key_hint: "A service account's JSON key with the Vertex AI User role",
        model_prefixes: &[],
        models: &[
            "gemini-2.0-flash-001",
            "gemini-2.5-flash",
            "claude-3-5-haiku@20241022",
        ],
        docs_url: "https://console.cloud.google.com/iam-admin/serviceaccounts",
    },
    Provider {
        id: "openai_compatible",
        name: "OpenAI-compatible",
        default_base_url: "https://<the workspace's API host>/v1",
        auth: AuthStyle::Compatible,
        wire: Wire::OpenAi,
        test_path: "/models",
        key_prefixes: &[],
        key_hint: "The host's key, if it needs one (local servers often do not)",
        model_prefixes: &[],
        models: &[],
        docs_url: "https://platform.openai.com/docs/api-reference/chat",
    },
];

/// The model-name prefix of a workspace's OpenAI-compatible hosts: `custom/<model>`.
pub const CUSTOM: &str = "custom";

/// Every provider Keyhold knows, in display order.
pub fn catalogue() -> &'static [Provider] {
    &CATALOGUE
}

/// The provider with this id, if any.
pub fn find(id: &str) -> Option<&'static Provider> {
    CATALOGUE.iter().find(|p| p.id == id)
}

/// Which provider serves `model`, and the model name to send upstream.
///
/// `<id>/<model>` picks the provider by id and strips it (`openai/gpt-4o-mini`,
/// `openrouter/meta-llama/llama-3-8b`); otherwise the longest matching bare prefix
/// decides (`gpt-4o-mini` → OpenAI, `claude-3-5-haiku-latest` → Anthropic).
/// Unknown names give `None`.
pub fn for_model(model: &str) -> Option<(&'static Provider, &str)> {
    if let Some((id, rest)) = model.split_once('/')
        && let Some(provider) = find(if id == CUSTOM {
            "openai_compatible"
        } else {
            id
        })
    {
        return (!rest.is_empty()).then_some((provider, rest));
    }
    CATALOGUE
        .iter()
        .flat_map(|p| p.model_prefixes.iter().map(move |prefix| (p, *prefix)))
        .filter(|(_, prefix)| {
            // `o3` is itself a model; `gpt-` alone is not.
            model.starts_with(prefix) && (model.len() > prefix.len() || !prefix.ends_with('-'))
        })
        .max_by_key(|(_, prefix)| prefix.len())
        .map(|(p, _)| (p, model))
}

/// A provider id known to be in the catalogue ("parse, don't validate").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(&'static str);

impl ProviderId {
    /// The id if `s` names a catalogue provider exactly.
    pub fn parse(s: &str) -> Option<ProviderId> {
        find(s).map(|p| ProviderId(p.id))
    }

    /// The id as text, e.g. `openai`.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The catalogue entry.
    pub fn provider(self) -> &'static Provider {
        // Only `parse` builds a ProviderId, so the lookup always succeeds; the fallback
        // keeps this total without a panic path.
        find(self.0).unwrap_or(&CATALOGUE[0])
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for ProviderId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ProviderId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        ProviderId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown provider `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn id_of(model: &str) -> Option<(&'static str, &str)> {
        for_model(model).map(|(p, m)| (p.id, m))
    }

    #[test]
    fn catalogue_lists_every_api_key_provider_in_order() {
        let ids: Vec<_> = catalogue().iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            [
                "openai",
                "anthropic",
                "gemini",
                "mistral",
                "deepseek",
                "xai",
                "groq",
                "openrouter",
                "qwen",
                "minimax",
                "zai",
                "moonshot",
                "perplexity",
                "fireworks",
                "novita",
                "azure",
                "bedrock",
                "vertex",
                "openai_compatible",
            ]
        );
        let expected = [
            ("openai", "OpenAI", "https://api.openai.com/v1"),
            ("anthropic", "Anthropic", "https://api.anthropic.com/v1"),
            (
                "gemini",
                "Google Gemini",
                "https://generativelanguage.googleapis.com/v1beta/openai",
            ),
            ("mistral", "Mistral", "https://api.mistral.ai/v1"),
            ("deepseek", "DeepSeek", "https://api.deepseek.com/v1"),
            ("xai", "xAI", "https://api.x.ai/v1"),
            ("groq", "Groq", "https://api.groq.com/openai/v1"),
            ("openrouter", "OpenRouter", "https://openrouter.ai/api/v1"),
            (
                "qwen",
                "Qwen",
                "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            ),
            ("minimax", "MiniMax", "https://api.minimax.io/v1"),
            ("zai", "Z.ai", "https://api.z.ai/api/paas/v4"),
            ("moonshot", "Moonshot AI", "https://api.moonshot.ai/v1"),
            ("perplexity", "Perplexity", "https://api.perplexity.ai"),
            (
                "fireworks",
                "Fireworks AI",
                "https://api.fireworks.ai/inference/v1",
            ),
            ("novita", "Novita AI", "https://api.novita.ai/v3/openai"),
        ];
        for (id, name, url) in expected {
            let p = find(id).expect("listed");
            assert_eq!((p.name, p.default_base_url), (name, url));
        }
    }

    #[test]
    fn only_anthropic_uses_the_anthropic_wire_and_auth() {
        for p in catalogue().iter().filter(|p| !p.auth.host_per_key()) {
            if p.id == "anthropic" {
                assert_eq!(p.wire, Wire::Anthropic);
                assert_eq!(
                    p.auth,
                    AuthStyle::AnthropicKey {
                        version: "2023-06-01"
                    }
                );
            } else {
                assert_eq!(p.wire, Wire::OpenAi, "{}", p.id);
                assert_eq!(p.auth, AuthStyle::Bearer, "{}", p.id);
            }
        }
    }

    #[test]
    fn every_entry_is_well_formed() {
        for p in catalogue() {
            assert!(p.default_base_url.starts_with("https://"), "{}", p.id);
            assert!(!p.default_base_url.ends_with('/'), "{}", p.id);
            assert!(p.test_path.starts_with('/'), "{}", p.id);
            assert!(p.docs_url.starts_with("https://"), "{}", p.id);
            // Azure's deployments and a compatible host's models come with each key.
            assert_eq!(
                p.models.is_empty(),
                p.id == "azure" || p.id == "openai_compatible"
            );
            assert!(!p.key_hint.is_empty(), "{}", p.id);
            // A host per key or region is shown as a template, and only then.
            assert_eq!(
                p.default_base_url.contains('<'),
                p.auth.host_per_key(),
                "{}",
                p.id
            );
            assert!(
                p.id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                p.id
            );
            // Longest first, so the first matching prefix is the most specific one.
            for pair in p.key_prefixes.windows(2) {
                assert!(pair[0].len() >= pair[1].len(), "{}: {pair:?}", p.id);
            }
        }
    }

    #[test]
    fn every_id_is_unique_and_parses() {
        let mut seen = HashSet::new();
        for p in catalogue() {
            assert!(seen.insert(p.id), "duplicate id {}", p.id);
            let id = ProviderId::parse(p.id).expect("parses");
            assert_eq!(id.as_str(), p.id);
            assert_eq!(id.provider(), p);
            assert_eq!(id.to_string(), p.id);
            assert!(std::ptr::eq(find(p.id).expect("found"), p));
        }
    }

    #[test]
    fn unknown_ids_do_not_parse() {
        for s in [
            "", "OpenAI", "openai ", " openai", "custom", "open", "openai/",
        ] {
            assert_eq!(ProviderId::parse(s), None, "{s:?}");
            assert!(find(s).is_none());
        }
    }

    #[test]
    fn provider_id_serializes_as_its_text() {
        let id = ProviderId::parse("groq").expect("parses");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"groq\"");
        let back: ProviderId = serde_json::from_str("\"groq\"").expect("json");
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ProviderId>("\"nope\"").is_err());
    }

    #[test]
    fn every_model_prefix_maps_back_to_its_provider() {
        for p in catalogue() {
            for prefix in p.model_prefixes {
                let model = format!("{prefix}test-model");
                assert_eq!(id_of(&model), Some((p.id, model.as_str())), "{model}");
            }
        }
    }

    #[test]
    fn no_two_providers_share_or_shadow_a_bare_prefix() {
        let all: Vec<(&str, &str)> = catalogue()
            .iter()
            .flat_map(|p| p.model_prefixes.iter().map(move |m| (p.id, *m)))
            .collect();
        for (i, (a_id, a)) in all.iter().enumerate() {
            for (b_id, b) in all.iter().skip(i + 1) {
                if a_id != b_id {
                    assert!(
                        !a.starts_with(b) && !b.starts_with(a),
                        "{a_id}:{a} vs {b_id}:{b}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_bare_prefix_looks_like_a_provider_id() {
        for p in catalogue() {
            for prefix in p.model_prefixes {
                assert!(!prefix.contains('/'), "{prefix}");
            }
        }
        assert!(
            find("openrouter")
                .expect("listed")
                .model_prefixes
                .is_empty()
        );
    }

    #[test]
    fn every_default_model_resolves_to_its_provider() {
        for p in catalogue() {
            for m in p.models {
                let qualified = format!("{}/{m}", p.id);
                assert_eq!(id_of(&qualified), Some((p.id, *m)), "{qualified}");
                if !p.model_prefixes.is_empty() {
                    assert_eq!(id_of(m), Some((p.id, *m)), "bare {m}");
                }
            }
        }
    }

    #[test]
    fn for_model_cases() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("openai/gpt-4o-mini", Some(("openai", "gpt-4o-mini"))),
            ("gpt-4o-mini", Some(("openai", "gpt-4o-mini"))),
            ("o1-mini", Some(("openai", "o1-mini"))),
            ("o3", Some(("openai", "o3"))),
            ("o4-mini", Some(("openai", "o4-mini"))),
            ("chatgpt-4o-latest", Some(("openai", "chatgpt-4o-latest"))),
            (
                "claude-3-5-haiku-latest",
                Some(("anthropic", "claude-3-5-haiku-latest")),
            ),
            (
                "anthropic/claude-sonnet-4-0",
                Some(("anthropic", "claude-sonnet-4-0")),
            ),
            ("gemini-2.5-flash", Some(("gemini", "gemini-2.5-flash"))),
            ("open-mistral-nemo", Some(("mistral", "open-mistral-nemo"))),
            ("codestral-latest", Some(("mistral", "codestral-latest"))),
            ("deepseek-chat", Some(("deepseek", "deepseek-chat"))),
            ("grok-3", Some(("xai", "grok-3"))),
            (
                "llama-3.3-70b-versatile",
                Some(("groq", "llama-3.3-70b-versatile")),
            ),
            (
                "openrouter/meta-llama/llama-3-8b",
                Some(("openrouter", "meta-llama/llama-3-8b")),
            ),
            (
                "openrouter/openai/gpt-4o-mini",
                Some(("openrouter", "openai/gpt-4o-mini")),
            ),
            // A provider id overrides the bare prefix.
            ("groq/gemini-x", Some(("groq", "gemini-x"))),
            ("meta-llama/llama-3-8b", None),
            ("unknown-model", None),
            ("", None),
            ("openai/", None),
            ("gpt-", None),
            ("claude", None),
            ("GPT-4o", None),
            ("azure/gpt-4o", Some(("azure", "gpt-4o"))),
            (
                "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
                Some(("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0")),
            ),
            (
                "vertex/claude-3-5-haiku@20241022",
                Some(("vertex", "claude-3-5-haiku@20241022")),
            ),
            ("custom/llama3", Some(("openai_compatible", "llama3"))),
            ("custom/", None),
            ("/gpt-4o", None),
        ];
        for (model, expected) in cases {
            assert_eq!(id_of(model), *expected, "{model:?}");
        }
    }

    #[test]
    fn every_key_prefix_masks_as_its_provider() {
        for p in catalogue() {
            for prefix in p.key_prefixes {
                let key = format!("{prefix}abcdefghijklmnopqrstuvwxyz0123");
                let masked = p.mask_key(&key);
                assert_eq!(masked, format!("{prefix}…0123"), "{}", p.id);
            }
        }
    }

    #[test]
    fn base_url_env_var_names_the_provider() {
        let openai = find("openai").expect("listed");
        assert_eq!(
            openai.base_url_env_var(),
            "KEYHOLD_PROVIDER_OPENAI_BASE_URL"
        );
        let xai = find("xai").expect("listed");
        assert_eq!(xai.base_url_env_var(), "KEYHOLD_PROVIDER_XAI_BASE_URL");
    }
}

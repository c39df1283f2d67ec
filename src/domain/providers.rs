//! The provider catalogue as data: who Keyhold can call, how to authenticate, how to
//! test a key, what keys look like and which model names each provider serves. This file
//! holds the types and the look-ups; the entries themselves are in `catalogue`.

use std::fmt;

mod catalogue;

use catalogue::CATALOGUE;

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

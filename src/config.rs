//! Settings from the environment, checked once at start. Bad configuration is one clear
//! line naming the variable (the CLI turns it into exit code 2), never a panic.

use std::collections::HashMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use url::Url;

use crate::domain::providers;
use crate::domain::vault::Keyring;
use crate::logging::LogFormat;
use crate::outbound::OutboundAllow;
use ipnet::IpNet;

mod cidr;
mod secrets;

use cidr::parse_net;
use secrets::ensure_dir;

/// A configuration problem, always naming the variable at fault and never its value.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        reason: reason.into(),
    }
}

/// Everything Keyhold reads from its environment.
pub struct Config {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub keyring: Keyring,
    pub session_secret: SecretBox<Vec<u8>>,
    pub bind: String,
    pub public_url: Url,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// Per-provider base URL, the catalogue default unless an operator overrides it.
    pub provider_base_urls: HashMap<&'static str, Url>,
    /// The providers whose base URL comes from `KEYHOLD_PROVIDER_<ID>_BASE_URL`.
    pub provider_overrides: Vec<&'static str>,
    pub trusted_proxies: Vec<IpNet>,
    /// Hosts and ranges user-supplied hosts may reach although private (and over http).
    pub outbound_allow: OutboundAllow,
    /// Google's OAuth2 token URL for Vertex service accounts (`KEYHOLD_GOOGLE_TOKEN_URL`
    /// overrides it: a proxy, a local mock).
    pub google_token_url: Url,
    pub workers: Option<usize>,
    /// Database connections per instance (`KEYHOLD_DB_POOL_SIZE`); `None`: the backend's
    /// default (see `startup`).
    pub db_pool_size: Option<u32>,
    /// Usage events held in memory while the database cannot take them
    /// (`KEYHOLD_USAGE_QUEUE_MAX`); past it new events are dropped and counted.
    pub usage_queue_max: usize,
    /// How often this instance checks the audit chain for the admin's page
    /// (`KEYHOLD_AUDIT_CHECK_SECS`).
    pub audit_check_interval: std::time::Duration,
    /// When set, `GET /metrics` wants `Authorization: Bearer <this>`.
    pub metrics_token: Option<SecretString>,
    /// How log lines are written (`KEYHOLD_LOG_FORMAT`): text, or one JSON object a line.
    pub log_format: LogFormat,
    /// Keys and secrets were generated into `data_dir` (zero-configuration mode).
    pub generated: Vec<&'static str>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("keyring", &self.keyring)
            .field("session_secret", &"[REDACTED]")
            .field("bind", &self.bind)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Drops any password from a URL before it is shown.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("[REDACTED]"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads settings through `get`, so tests can pass a map.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(get("KEYHOLD_DATA_DIR").unwrap_or_else(|| "./data".into()));

        let database_url = match get("KEYHOLD_DATABASE_URL") {
            Some(url) => {
                if crate::db::Backend::from_url(&url).is_none() {
                    return Err(bad(
                        "KEYHOLD_DATABASE_URL",
                        "must start with sqlite:// or postgres://",
                    ));
                }
                url
            }
            None => {
                ensure_dir(&data_dir)?;
                format!("sqlite://{}", data_dir.join("keyhold.db").display())
            }
        };
        let shared_db = database_url.starts_with("postgres");

        let (keyring, new_keys) =
            secrets::master_keys(get("KEYHOLD_MASTER_KEYS"), &data_dir, shared_db)?;
        let (session_secret, new_secret) =
            secrets::session_secret(get("KEYHOLD_SESSION_SECRET"), &data_dir, shared_db)?;
        let generated = [
            ("KEYHOLD_MASTER_KEYS", new_keys),
            ("KEYHOLD_SESSION_SECRET", new_secret),
        ]
        .into_iter()
        .filter_map(|(var, new)| new.then_some(var))
        .collect();

        let bind = get("KEYHOLD_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "KEYHOLD_BIND",
                "must be an address and port such as 127.0.0.1:8080",
            ));
        }
        let public_url = match get("KEYHOLD_PUBLIC_URL") {
            Some(u) => parse_http_url(&u).map_err(|r| bad("KEYHOLD_PUBLIC_URL", r))?,
            None => {
                parse_http_url(&format!("http://{bind}")).map_err(|r| bad("KEYHOLD_BIND", r))?
            }
        };

        let smtp_url = get("KEYHOLD_SMTP_URL");
        if let Some(u) = &smtp_url {
            let ok = Url::parse(u)
                .is_ok_and(|p| matches!(p.scheme(), "smtp" | "smtps") && p.host().is_some());
            if !ok {
                return Err(bad(
                    "KEYHOLD_SMTP_URL",
                    "must look like smtp://host:port or smtps://user:pass@host",
                ));
            }
        }
        let mail_from =
            get("KEYHOLD_MAIL_FROM").unwrap_or_else(|| "Keyhold <keyhold@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad(
                "KEYHOLD_MAIL_FROM",
                "must be an address such as Keyhold <noreply@example.com>",
            ));
        }

        let mut provider_base_urls = HashMap::new();
        let mut provider_overrides = Vec::new();
        for p in providers::catalogue() {
            let var = provider_var(p.id);
            let url = match get(&var) {
                Some(u) => {
                    provider_overrides.push(p.id);
                    parse_http_url(&u).map_err(|r| bad(leak_var(&var), r))?
                }
                // A host per key or region (Azure, Bedrock, Vertex, a compatible host) has
                // no one base URL: the adapter builds it from each key.
                None if p.auth.host_per_key() => continue,
                None => {
                    parse_http_url(p.default_base_url).map_err(|r| bad("provider catalogue", r))?
                }
            };
            provider_base_urls.insert(p.id, url);
        }

        let trusted_proxies = match get("KEYHOLD_TRUSTED_PROXIES") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_net)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    bad(
                        "KEYHOLD_TRUSTED_PROXIES",
                        "must be a comma-separated list of IP addresses or CIDR ranges",
                    )
                })?,
            None => Vec::new(),
        };

        let google_token_url = match get("KEYHOLD_GOOGLE_TOKEN_URL") {
            Some(u) => parse_http_url(&u).map_err(|r| bad("KEYHOLD_GOOGLE_TOKEN_URL", r))?,
            None => parse_http_url(crate::domain::credentials::GOOGLE_TOKEN_URI)
                .map_err(|r| bad("KEYHOLD_GOOGLE_TOKEN_URL", r))?,
        };
        let outbound_allow =
            OutboundAllow::parse(&get("KEYHOLD_OUTBOUND_ALLOW").unwrap_or_default())
                .map_err(|e| bad("KEYHOLD_OUTBOUND_ALLOW", e.to_string()))?;

        let workers = match get("KEYHOLD_WORKERS") {
            Some(w) => Some(
                w.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| bad("KEYHOLD_WORKERS", "must be a number from 1 to 256"))?,
            ),
            None => None,
        };

        let number = |var: &'static str, max: u32| match get(var) {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| bad(var, format!("must be a number from 1 to {max}"))),
            None => Ok(None),
        };
        let db_pool_size = number("KEYHOLD_DB_POOL_SIZE", 1000)?;
        let usage_queue_max =
            number("KEYHOLD_USAGE_QUEUE_MAX", 10_000_000)?.unwrap_or(100_000) as usize;
        let audit_check_interval = std::time::Duration::from_secs(
            number("KEYHOLD_AUDIT_CHECK_SECS", 3600)?
                .unwrap_or(5)
                .into(),
        );

        let metrics_token = match get("KEYHOLD_METRICS_TOKEN").map(SecretString::from) {
            Some(t) if t.expose_secret().len() >= 16 && !t.expose_secret().contains(' ') => Some(t),
            Some(_) => {
                return Err(bad(
                    "KEYHOLD_METRICS_TOKEN",
                    "must be at least 16 characters without spaces (or unset, to serve /metrics to anyone)",
                ));
            }
            None => None,
        };

        let log_format = match get("KEYHOLD_LOG_FORMAT") {
            Some(v) => LogFormat::parse(&v)
                .ok_or_else(|| bad("KEYHOLD_LOG_FORMAT", "must be text or json"))?,
            None => LogFormat::Text,
        };

        Ok(Config {
            database_url,
            data_dir,
            keyring,
            session_secret,
            bind,
            public_url,
            smtp_url,
            mail_from,
            provider_base_urls,
            provider_overrides,
            trusted_proxies,
            outbound_allow,
            google_token_url,
            workers,
            db_pool_size,
            usage_queue_max,
            audit_check_interval,
            metrics_token,
            log_format,
            generated,
        })
    }

    /// Cookies are `Secure` (and `__Host-` named) and HSTS is sent when served over https.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// An absolute link for mail, always built from `KEYHOLD_PUBLIC_URL`, never from `Host`.
    pub fn link(&self, path_and_query: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path_and_query}")
    }

    /// Where mail goes when no SMTP server is configured.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }

    /// The variable the named provider's base URL comes from, or `None` for the
    /// catalogue's default.
    pub fn provider_override_var(&self, provider: &str) -> Option<String> {
        self.provider_overrides
            .contains(&provider)
            .then(|| provider_var(provider))
    }

    /// The token URL an operator set with `KEYHOLD_GOOGLE_TOKEN_URL`, if it is not
    /// Google's own: the only other `token_uri` a service account may name (SPEC §3).
    pub fn google_token_override(&self) -> Option<&Url> {
        (self.google_token_url.as_str() != crate::domain::credentials::GOOGLE_TOKEN_URI)
            .then_some(&self.google_token_url)
    }

    /// The base URL the named provider is reached at.
    pub fn provider_base_url(&self, provider: &str) -> Option<&Url> {
        self.provider_base_urls.get(provider)
    }
}

/// `KEYHOLD_PROVIDER_<ID>_BASE_URL` for a provider id.
pub fn provider_var(id: &str) -> String {
    format!("KEYHOLD_PROVIDER_{}_BASE_URL", id.to_ascii_uppercase())
}

fn leak_var(var: &str) -> &'static str {
    // Only called on the error path, once, to name the variable in the message.
    Box::leak(var.to_owned().into_boxed_str())
}

fn parse_http_url(s: &str) -> Result<Url, String> {
    match Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err("must be an http:// or https:// URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::net::IpAddr;

    /// The environment `pairs`; unless they name one, a fresh data folder of the test's own
    /// (never the checkout's `./data`, which tests running at once would race to create).
    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("KEYHOLD_DATA_DIR".into()).or_insert_with(|| {
            let dir = std::env::temp_dir().join(format!("keyhold-config-{}", uuid::Uuid::new_v4()));
            dir.to_string_lossy().into_owned()
        });
        move |k| map.get(k).cloned()
    }

    #[test]
    fn cidr_ranges_match_what_they_should() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let net = parse_net("10.0.0.0/8").expect("valid");
        assert!(net.contains(&ip("10.1.2.3")));
        assert!(!net.contains(&ip("11.0.0.1")));
        // Host bits set: the range is still the /8 around it.
        assert!(
            parse_net("10.9.9.9/8")
                .expect("valid")
                .contains(&ip("10.1.2.3"))
        );
        assert!(parse_net("::1").expect("valid").contains(&ip("::1")));
        assert!(!parse_net("::1").expect("valid").contains(&ip("::2")));
        assert!(!parse_net("127.0.0.1").expect("valid").contains(&ip("::1")));
        assert!(
            parse_net("0.0.0.0/0")
                .expect("valid")
                .contains(&ip("127.0.0.1"))
        );
        assert!(parse_net("10.0.0.0/33").is_none());
        assert!(parse_net("nonsense").is_none());
        let c = Config::from_lookup(lookup(&[(
            "KEYHOLD_TRUSTED_PROXIES",
            "127.0.0.1, 10.0.0.0/8",
        )]))
        .expect("config");
        assert_eq!(c.trusted_proxies.len(), 2);
        let err = Config::from_lookup(lookup(&[("KEYHOLD_TRUSTED_PROXIES", "10.0.0.0/99")]))
            .expect_err("must refuse");
        assert_eq!(err.var, "KEYHOLD_TRUSTED_PROXIES");
    }

    #[test]
    fn log_format_is_text_unless_json_is_asked_for() {
        let c = Config::from_lookup(lookup(&[])).expect("defaults");
        assert_eq!(c.log_format, LogFormat::Text);
        for (v, format) in [
            ("json", LogFormat::Json),
            ("JSON", LogFormat::Json),
            ("text", LogFormat::Text),
        ] {
            let c = Config::from_lookup(lookup(&[("KEYHOLD_LOG_FORMAT", v)])).expect("set");
            assert_eq!(c.log_format, format, "{v}");
        }
        let err =
            Config::from_lookup(lookup(&[("KEYHOLD_LOG_FORMAT", "xml")])).expect_err("must refuse");
        assert_eq!(err.var, "KEYHOLD_LOG_FORMAT");
        assert!(!err.reason.contains("xml"), "{}", err.reason);
    }

    #[test]
    fn postgres_without_master_keys_names_the_variable() {
        let err = Config::from_lookup(lookup(&[(
            "KEYHOLD_DATABASE_URL",
            "postgres://x@localhost/db",
        )]))
        .expect_err("must refuse");
        assert_eq!(err.var, "KEYHOLD_MASTER_KEYS");
    }

    #[test]
    fn pool_size_usage_queue_bound_and_audit_check_interval_are_checked_numbers() {
        let c = Config::from_lookup(lookup(&[])).expect("defaults");
        assert_eq!((c.db_pool_size, c.usage_queue_max), (None, 100_000));
        assert_eq!(c.audit_check_interval.as_secs(), 5);
        let c = Config::from_lookup(lookup(&[
            ("KEYHOLD_DB_POOL_SIZE", "6"),
            ("KEYHOLD_USAGE_QUEUE_MAX", "500"),
            ("KEYHOLD_AUDIT_CHECK_SECS", "1"),
        ]))
        .expect("set");
        assert_eq!((c.db_pool_size, c.usage_queue_max), (Some(6), 500));
        assert_eq!(c.audit_check_interval.as_secs(), 1);
        for (var, v) in [
            ("KEYHOLD_DB_POOL_SIZE", "0"),
            ("KEYHOLD_DB_POOL_SIZE", "many"),
            ("KEYHOLD_USAGE_QUEUE_MAX", "-1"),
            ("KEYHOLD_AUDIT_CHECK_SECS", "0"),
            ("KEYHOLD_AUDIT_CHECK_SECS", "3601"),
        ] {
            let err = Config::from_lookup(lookup(&[(var, v)])).expect_err("must refuse");
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn outbound_allow_list_is_parsed_and_a_bad_entry_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf8");
        let cfg = Config::from_lookup(lookup(&[
            ("KEYHOLD_DATA_DIR", d),
            ("KEYHOLD_OUTBOUND_ALLOW", "vllm.lan, 127.0.0.1/32"),
        ]))
        .expect("config");
        assert!(cfg.outbound_allow.allows_name("vllm.lan"));
        assert!(
            cfg.outbound_allow
                .allows_ip("127.0.0.1".parse().expect("ip"))
        );
        let err = Config::from_lookup(lookup(&[
            ("KEYHOLD_DATA_DIR", d),
            ("KEYHOLD_OUTBOUND_ALLOW", "vllm.lan:8000"),
        ]))
        .expect_err("must refuse");
        assert_eq!(err.var, "KEYHOLD_OUTBOUND_ALLOW");
        assert!(err.reason.contains("vllm.lan:8000"), "{}", err.reason);
    }

    #[test]
    fn bad_database_url_names_the_variable() {
        let err = Config::from_lookup(lookup(&[("KEYHOLD_DATABASE_URL", "mysql://x")]))
            .expect_err("must refuse");
        assert_eq!(err.var, "KEYHOLD_DATABASE_URL");
    }

    #[test]
    fn zero_config_generates_keys_with_private_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().join("data");
        let cfg = Config::from_lookup(lookup(&[("KEYHOLD_DATA_DIR", d.to_str().expect("utf8"))]))
            .expect("config");
        assert_eq!(
            cfg.generated,
            vec!["KEYHOLD_MASTER_KEYS", "KEYHOLD_SESSION_SECRET"]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.join("master.keys"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start reuses what the first generated.
        let again = Config::from_lookup(lookup(&[("KEYHOLD_DATA_DIR", d.to_str().expect("utf8"))]))
            .expect("config");
        assert!(again.generated.is_empty());
        assert_eq!(again.keyring.active_id(), cfg.keyring.active_id());
    }
}

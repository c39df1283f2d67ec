//! Counters behind `GET /metrics`, exposed in the Prometheus text format (0.0.4) by
//! `prometheus-client`. The request frame and the usage recorder count into the crate's
//! counters (atomics); a scrape builds a registry of them plus what it reads from the pool
//! and the outbox, and the crate writes the page (names, `HELP`/`TYPE` lines, label escaping,
//! number formats). Aggregates only: no workspace, user, token or key ever appears in a
//! label, so the page carries nothing a tenant could be told apart by.
//!
//! The per-request counters are made once at start, one per kind × status class, in a fixed
//! table: a request costs two `fetch_add`s, never a `Family` lookup (which takes its lock);
//! a gateway call's series are looked up once per thread and kept (`Metrics::with_series`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

mod series;

use series::{Fixed, Seconds};

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// What kind of request the frame served, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/v1/…`: the AI API.
    Api,
    /// `/static/…`.
    Static,
    /// `/healthz`, `/readyz`, `/metrics`.
    Probe,
    /// Everything else: pages and forms.
    Page,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Api, Kind::Static, Kind::Probe, Kind::Page];

    /// The kind of a request for `path`.
    pub fn of(path: &str) -> Kind {
        if path.starts_with("/v1/") {
            Kind::Api
        } else if path.starts_with("/static/") {
            Kind::Static
        } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
            Kind::Probe
        } else {
            Kind::Page
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Static => "static",
            Kind::Probe => "probe",
            Kind::Page => "page",
        }
    }
}

/// `1xx`…`5xx`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One gateway series: provider × key source × outcome (`ok` or the error code).
type CallKey = (&'static str, &'static str, &'static str);

/// A label set: (name, value) pairs, in the order they are written.
type Labels<const N: usize> = [(&'static str, &'static str); N];

/// The handles of one gateway series (see [`Metrics::with_series`]).
struct CallSeries {
    calls: Counter,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    time: Seconds<1_000>,
}

/// The process's counters (one per process, shared by every worker).
pub struct Metrics {
    /// This instance's number among the process's `Metrics` (see `with_series`).
    serial: u64,
    started: Instant,
    started_unix: u64,
    /// Requests by kind and status class (`kind × 5 + class`).
    http: Fixed<2, Counter>,
    /// Time spent answering, by kind (microseconds).
    http_time: Fixed<1, Seconds<1_000_000>>,
    calls: Family<Labels<3>, Counter>,
    prompt_tokens: Family<Labels<3>, Counter>,
    completion_tokens: Family<Labels<3>, Counter>,
    call_time: Family<Labels<3>, Seconds<1_000>>,
    usage_queued: Gauge,
    usage_dropped: Counter,
    usage_limit: Gauge,
    password_checks: Counter,
    throttled: Fixed<1, Counter>,
    slowed: Counter,
}

/// Which password check a throttle refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `POST /login`.
    SignIn,
    /// The current password on `/account`.
    CurrentPassword,
}

impl Check {
    const ALL: [Check; 2] = [Check::SignIn, Check::CurrentPassword];

    fn label(self) -> &'static str {
        match self {
            Check::SignIn => "sign_in",
            Check::CurrentPassword => "current_password",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let http = Fixed::new(Kind::ALL.into_iter().flat_map(|kind| {
            CLASSES.map(|class| {
                (
                    [("kind", kind.label()), ("class", class)],
                    Counter::default(),
                )
            })
        }));
        let http_time =
            Fixed::new(Kind::ALL.map(|kind| ([("kind", kind.label())], Seconds::default())));
        let throttled =
            Fixed::new(Check::ALL.map(|check| ([("check", check.label())], Counter::default())));
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Metrics {
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            http,
            http_time,
            calls: Family::default(),
            prompt_tokens: Family::default(),
            completion_tokens: Family::default(),
            call_time: Family::default(),
            usage_queued: Gauge::default(),
            usage_dropped: Counter::default(),
            usage_limit: Gauge::default(),
            password_checks: Counter::default(),
            throttled,
            slowed: Counter::default(),
        }
    }
}

/// What a scrape reads from outside the counters.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Pooled database connections: (idle, in use, most allowed).
    pub pool: (u32, u32, u32),
    /// Mails waiting in the outbox, or `None` when the database did not answer.
    pub outbox_pending: Option<i64>,
    /// The cache-change listener (PostgreSQL): up, and reconnections after a loss.
    pub listener: Option<(bool, u64)>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, kind: Kind, status: u16, micros: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http.0[kind as usize * CLASSES.len() + class].1.inc();
        self.http_time.0[kind as usize].1.add(micros);
    }

    /// Counts one gateway call, as its usage event says.
    pub fn call(&self, key: CallKey, prompt: i64, completion: i64, latency_ms: i64) {
        let positive = |n: i64| u64::try_from(n).unwrap_or(0);
        self.with_series(key, |s| {
            s.calls.inc();
            s.prompt_tokens.inc_by(positive(prompt));
            s.completion_tokens.inc_by(positive(completion));
            s.time.add(positive(latency_ms));
        });
    }

    /// Runs `f` on the handles of one gateway series. Each thread keeps the handles it has
    /// used (a handle shares its counter with the family): a call then costs four
    /// `fetch_add`s instead of four `Family` lookups, each of which hashes the labels under
    /// the family's lock, shared by every worker. Keyed by this `Metrics`' serial number, so
    /// two applications in one process (the tests) never count into each other.
    fn with_series(&self, key: CallKey, f: impl FnOnce(&CallSeries)) {
        thread_local! {
            static SERIES: std::cell::RefCell<Vec<(u64, CallKey, CallSeries)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        SERIES.with_borrow_mut(|known| {
            if let Some((_, _, s)) = known
                .iter()
                .find(|(serial, k, _)| *serial == self.serial && *k == key)
            {
                return f(s);
            }
            let labels = [("provider", key.0), ("source", key.1), ("outcome", key.2)];
            let series = CallSeries {
                calls: self.calls.get_or_create(&labels).clone(),
                prompt_tokens: self.prompt_tokens.get_or_create(&labels).clone(),
                completion_tokens: self.completion_tokens.get_or_create(&labels).clone(),
                time: self.call_time.get_or_create(&labels).clone(),
            };
            f(&series);
            // Bounded: providers × sources × outcomes is a few hundred at most.
            if known.len() < 1024 {
                known.push((self.serial, key, series));
            }
        });
    }

    /// Usage events queued (`n` > 0) or written (`n` < 0).
    pub fn usage_queued(&self, n: i64) {
        self.usage_queued.inc_by(n);
    }

    /// Usage events recorded and not yet written.
    pub fn usage_waiting(&self) -> i64 {
        self.usage_queued.get()
    }

    /// Counts one usage event dropped because too many were waiting.
    pub fn usage_dropped(&self) {
        self.usage_dropped.inc();
    }

    /// The most usage events that may wait (`KEYHOLD_USAGE_QUEUE_MAX`).
    pub fn usage_limit(&self, n: usize) {
        self.usage_limit.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts one password verified with argon2.
    pub fn password_checked(&self) {
        self.password_checks.inc();
    }

    /// Counts one attempt refused by a throttle (before any password work).
    pub fn throttled(&self, check: Check) {
        self.throttled.0[check as usize].1.inc();
    }

    /// Counts one sign-in attempt slowed by a wide limit.
    pub fn slowed(&self) {
        self.slowed.inc();
    }

    /// The page in the Prometheus text format. Counter names are registered without their
    /// `_total` and help texts without their final full stop: the encoder adds both.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut r = Registry::default();
        r.register(
            "keyhold_build",
            "Version of this Keyhold",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "process_start_time_seconds",
            "Start of this process, Unix seconds",
            ConstGauge::new(self.started_unix),
        );
        r.register(
            "keyhold_uptime_seconds",
            "Seconds since this process started",
            ConstGauge::new(self.started.elapsed().as_secs_f64()),
        );
        r.register(
            "keyhold_http_requests",
            "Requests answered, by kind (api, page, static, probe) and status class",
            self.http.clone(),
        );
        r.register(
            "keyhold_http_request_seconds",
            "Time spent answering requests, by kind",
            self.http_time.clone(),
        );
        r.register(
            "keyhold_gateway_calls",
            "AI API calls, by provider, key source (workspace, platform, none) and outcome (ok or the error code)",
            self.calls.clone(),
        );
        r.register(
            "keyhold_gateway_prompt_tokens",
            "Prompt tokens the providers reported, by provider, key source and outcome",
            self.prompt_tokens.clone(),
        );
        r.register(
            "keyhold_gateway_completion_tokens",
            "Completion tokens the providers reported, by provider, key source and outcome",
            self.completion_tokens.clone(),
        );
        r.register(
            "keyhold_gateway_call_seconds",
            "Time the calls took, by provider, key source and outcome",
            self.call_time.clone(),
        );
        r.register(
            "keyhold_usage_events_queued",
            "Usage events recorded but not yet written to the database",
            ConstGauge::new(self.usage_queued.get().max(0)),
        );
        r.register(
            "keyhold_usage_events_queue_limit",
            "Most usage events kept waiting while the database cannot take them (KEYHOLD_USAGE_QUEUE_MAX)",
            self.usage_limit.clone(),
        );
        r.register(
            "keyhold_usage_events_dropped",
            "Usage events dropped, not recorded, because the queue was full",
            self.usage_dropped.clone(),
        );
        r.register(
            "keyhold_password_checks",
            "Passwords verified with argon2 (sign-in and the current-password check)",
            self.password_checks.clone(),
        );
        r.register(
            "keyhold_password_throttled",
            "Password attempts refused by throttling before any password work, by check",
            self.throttled.clone(),
        );
        r.register(
            "keyhold_sign_in_slowed",
            "Sign-in attempts slowed because an account or address saw many failures",
            self.slowed.clone(),
        );
        let (idle, busy, max) = gauges.pool;
        r.register(
            "keyhold_db_connections",
            "Pooled database connections, by state",
            Fixed::new([
                ([("state", "idle")], ConstGauge::new(idle)),
                ([("state", "in_use")], ConstGauge::new(busy)),
            ]),
        );
        r.register(
            "keyhold_db_connections_max",
            "Most connections the pool opens",
            ConstGauge::new(max),
        );
        r.register(
            "keyhold_db_up",
            "1 when the database answered this scrape",
            ConstGauge::new(u32::from(gauges.outbox_pending.is_some())),
        );
        if let Some((up, reconnects)) = gauges.listener {
            r.register(
                "keyhold_epoch_listener_up",
                "1 while the cache-change listener is connected (PostgreSQL); 0: the gateway reads the cache epoch per request",
                ConstGauge::new(u32::from(up)),
            );
            r.register(
                "keyhold_epoch_listener_reconnects",
                "Times the cache-change listener connected again after losing its connection",
                ConstCounter::new(reconnects),
            );
        }
        if let Some(pending) = gauges.outbox_pending {
            r.register(
                "keyhold_mail_outbox_pending",
                "Mails waiting in the outbox (not yet accepted by the SMTP server)",
                ConstGauge::new(pending),
            );
        }
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &r);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Gauges, Kind, Metrics};

    #[test]
    fn requests_are_counted_by_kind_and_class_and_calls_by_series() {
        let m = Metrics::default();
        m.request(Kind::of("/v1/chat/completions"), 200, 1500);
        m.request(Kind::of("/v1/models"), 401, 500);
        m.request(Kind::of("/w/acme/settings/keys"), 200, 2000);
        m.request(Kind::of("/static/1/app.css"), 304, 10);
        m.request(Kind::of("/readyz"), 503, 10);
        m.call(("openai", "workspace", "ok"), 9, 12, 250);
        m.call(("openai", "workspace", "ok"), 1, 2, 750);
        m.call(("anthropic", "none", "no_key"), 0, 0, 1);
        m.usage_queued(3);
        m.usage_queued(-1);
        m.usage_limit(100);
        m.usage_dropped();
        m.password_checked();
        m.throttled(super::Check::CurrentPassword);
        m.slowed();
        let page = m.render(&Gauges {
            pool: (3, 1, 8),
            outbox_pending: Some(2),
            listener: Some((true, 1)),
        });
        for (series, value) in [
            (
                r#"keyhold_http_requests_total{kind="api",class="2xx"}"#,
                1.0,
            ),
            (
                r#"keyhold_http_requests_total{kind="api",class="4xx"}"#,
                1.0,
            ),
            (
                r#"keyhold_http_requests_total{kind="api",class="5xx"}"#,
                0.0,
            ),
            (
                r#"keyhold_http_requests_total{kind="page",class="2xx"}"#,
                1.0,
            ),
            (
                r#"keyhold_http_requests_total{kind="static",class="3xx"}"#,
                1.0,
            ),
            (
                r#"keyhold_http_requests_total{kind="probe",class="5xx"}"#,
                1.0,
            ),
            (r#"keyhold_http_request_seconds_total{kind="api"}"#, 0.002),
            (
                r#"keyhold_http_request_seconds_total{kind="static"}"#,
                0.00001,
            ),
            ("keyhold_epoch_listener_up", 1.0),
            ("keyhold_usage_events_queue_limit", 100.0),
            ("keyhold_usage_events_dropped_total", 1.0),
            ("keyhold_epoch_listener_reconnects_total", 1.0),
            (
                r#"keyhold_gateway_calls_total{provider="openai",source="workspace",outcome="ok"}"#,
                2.0,
            ),
            (
                r#"keyhold_gateway_prompt_tokens_total{provider="openai",source="workspace",outcome="ok"}"#,
                10.0,
            ),
            (
                r#"keyhold_gateway_completion_tokens_total{provider="openai",source="workspace",outcome="ok"}"#,
                14.0,
            ),
            (
                r#"keyhold_gateway_call_seconds_total{provider="openai",source="workspace",outcome="ok"}"#,
                1.0,
            ),
            (
                r#"keyhold_gateway_call_seconds_total{provider="anthropic",source="none",outcome="no_key"}"#,
                0.001,
            ),
            (
                r#"keyhold_gateway_calls_total{provider="anthropic",source="none",outcome="no_key"}"#,
                1.0,
            ),
            ("keyhold_usage_events_queued", 2.0),
            ("keyhold_password_checks_total", 1.0),
            (r#"keyhold_password_throttled_total{check="sign_in"}"#, 0.0),
            (
                r#"keyhold_password_throttled_total{check="current_password"}"#,
                1.0,
            ),
            ("keyhold_sign_in_slowed_total", 1.0),
            (r#"keyhold_db_connections{state="idle"}"#, 3.0),
            (r#"keyhold_db_connections{state="in_use"}"#, 1.0),
            ("keyhold_db_connections_max", 8.0),
            ("keyhold_db_up", 1.0),
            ("keyhold_mail_outbox_pending", 2.0),
            (r#"keyhold_build_info{version=""#, 1.0),
        ] {
            let found = page.lines().find_map(|l| {
                let rest = l.strip_prefix(series)?;
                // The build info's label value runs on to `"}`.
                let rest = rest.split_once("} ").map_or(rest, |(_, v)| v);
                rest.trim_start().parse::<f64>().ok()
            });
            assert_eq!(found, Some(value), "{series} in\n{page}");
        }
        for (help, family, kind) in [
            (
                "Requests answered, by kind (api, page, static, probe) and status class.",
                "keyhold_http_requests_total",
                "counter",
            ),
            ("Version of this Keyhold.", "keyhold_build_info", "gauge"),
            (
                "Seconds since this process started.",
                "keyhold_uptime_seconds",
                "gauge",
            ),
            (
                "Time the calls took, by provider, key source and outcome.",
                "keyhold_gateway_call_seconds_total",
                "counter",
            ),
            (
                "Pooled database connections, by state.",
                "keyhold_db_connections",
                "gauge",
            ),
        ] {
            let declared = format!("# HELP {family} {help}\n# TYPE {family} {kind}\n");
            assert!(page.contains(&declared), "{declared} in\n{page}");
        }
        // Every sample line belongs to a family declared before it.
        let mut declared = Vec::new();
        for l in page.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or_default().to_owned());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap_or_default();
                assert!(declared.iter().any(|d| d == name), "{l}");
            }
        }
    }

    #[test]
    fn fixed_series_come_out_in_order_and_the_queue_never_reads_below_zero() {
        let m = Metrics::default();
        m.usage_queued(-3);
        let page = m.render(&Gauges::default());
        let series: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("keyhold_http_requests_total{"))
            .map(|l| l.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(series.len(), 20, "{page}");
        assert_eq!(
            series[0],
            r#"keyhold_http_requests_total{kind="api",class="1xx"}"#
        );
        assert_eq!(
            series[6],
            r#"keyhold_http_requests_total{kind="static",class="2xx"}"#
        );
        assert_eq!(
            series[19],
            r#"keyhold_http_requests_total{kind="page",class="5xx"}"#
        );
        assert!(page.contains("keyhold_usage_events_queued 0\n"), "{page}");
        assert!(
            page.contains("keyhold_db_connections{state=\"idle\"} 0\nkeyhold_db_connections{state=\"in_use\"} 0\n"),
            "{page}"
        );
        // Prometheus text 0.0.4: no OpenMetrics `# EOF` trailer.
        assert!(page.ends_with('\n') && !page.contains("# EOF"), "{page}");
    }

    #[test]
    fn a_database_that_does_not_answer_reads_as_down() {
        let page = Metrics::default().render(&Gauges::default());
        assert!(page.contains("keyhold_db_up 0"));
        assert!(!page.contains("keyhold_mail_outbox_pending"));
    }
}

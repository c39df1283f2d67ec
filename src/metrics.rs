//! Counters behind `GET /metrics` (Prometheus text format 0.0.4). The request frame and the
//! usage recorder count into atomics and one small map; a scrape reads them and asks the
//! pool and the outbox for their state. Aggregates only: no workspace, user, token or key
//! ever appears in a label, so the page carries nothing a tenant could be told apart by.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

/// Requests of one kind: a count per status class, and their time.
#[derive(Default)]
struct Http {
    by_class: [AtomicU64; 5],
    micros: AtomicU64,
}

/// One gateway series: provider × key source × outcome (`ok` or the error code).
type CallKey = (&'static str, &'static str, &'static str);

#[derive(Default, Clone, Copy)]
struct Calls {
    calls: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    latency_ms: u64,
}

/// The process's counters (one per process, shared by every worker).
pub struct Metrics {
    started: Instant,
    started_unix: u64,
    http: [Http; 4],
    calls: Mutex<BTreeMap<CallKey, Calls>>,
    usage_queued: AtomicI64,
    usage_dropped: AtomicU64,
    usage_limit: AtomicU64,
    password_checks: AtomicU64,
    throttled: [AtomicU64; 2],
    slowed: AtomicU64,
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
        Metrics {
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            http: Default::default(),
            calls: Mutex::default(),
            usage_queued: AtomicI64::new(0),
            usage_dropped: AtomicU64::new(0),
            usage_limit: AtomicU64::new(0),
            password_checks: AtomicU64::new(0),
            throttled: Default::default(),
            slowed: AtomicU64::new(0),
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
        let http = &self.http[kind as usize];
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        http.by_class[class].fetch_add(1, Ordering::Relaxed);
        http.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one gateway call, as its usage event says.
    pub fn call(&self, key: CallKey, prompt: i64, completion: i64, latency_ms: i64) {
        let positive = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let c = calls.entry(key).or_default();
        c.calls += 1;
        c.prompt_tokens += positive(prompt);
        c.completion_tokens += positive(completion);
        c.latency_ms += positive(latency_ms);
    }

    /// Usage events queued (`n` > 0) or written (`n` < 0).
    pub fn usage_queued(&self, n: i64) {
        self.usage_queued.fetch_add(n, Ordering::Relaxed);
    }

    /// Usage events recorded and not yet written.
    pub fn usage_waiting(&self) -> i64 {
        self.usage_queued.load(Ordering::Relaxed)
    }

    /// Counts one usage event dropped because too many were waiting.
    pub fn usage_dropped(&self) {
        self.usage_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The most usage events that may wait (`KEYHOLD_USAGE_QUEUE_MAX`).
    pub fn usage_limit(&self, n: usize) {
        self.usage_limit.store(n as u64, Ordering::Relaxed);
    }

    /// Counts one password verified with argon2.
    pub fn password_checked(&self) {
        self.password_checks.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one attempt refused by a throttle (before any password work).
    pub fn throttled(&self, check: Check) {
        self.throttled[check as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one sign-in attempt slowed by a wide limit.
    pub fn slowed(&self) {
        self.slowed.fetch_add(1, Ordering::Relaxed);
    }

    /// The page in Prometheus text format.
    pub fn render(&self, gauges: &Gauges) -> String {
        fn family(out: &mut String, name: &str, kind: &str, help: &str) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "keyhold_build_info",
            "gauge",
            "Version of this Keyhold.",
        );
        let _ = writeln!(
            out,
            "keyhold_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        family(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start of this process, Unix seconds.",
        );
        let _ = writeln!(out, "process_start_time_seconds {}", self.started_unix);
        family(
            &mut out,
            "keyhold_uptime_seconds",
            "gauge",
            "Seconds since this process started.",
        );
        let _ = writeln!(
            out,
            "keyhold_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );

        family(
            &mut out,
            "keyhold_http_requests_total",
            "counter",
            "Requests answered, by kind (api, page, static, probe) and status class.",
        );
        for kind in Kind::ALL {
            for (i, class) in CLASSES.iter().enumerate() {
                let n = self.http[kind as usize].by_class[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "keyhold_http_requests_total{{kind=\"{}\",class=\"{class}\"}} {n}",
                    kind.label()
                );
            }
        }
        family(
            &mut out,
            "keyhold_http_request_seconds_total",
            "counter",
            "Time spent answering requests, by kind.",
        );
        for kind in Kind::ALL {
            let micros = self.http[kind as usize].micros.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keyhold_http_request_seconds_total{{kind=\"{}\"}} {:.6}",
                kind.label(),
                micros as f64 / 1e6
            );
        }

        let calls = self
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        let series = [
            (
                "keyhold_gateway_calls_total",
                "AI API calls, by provider, key source (workspace, platform, none) and outcome (ok or the error code).",
                (|c: &Calls| c.calls as f64) as fn(&Calls) -> f64,
            ),
            (
                "keyhold_gateway_prompt_tokens_total",
                "Prompt tokens the providers reported, by provider, key source and outcome.",
                |c| c.prompt_tokens as f64,
            ),
            (
                "keyhold_gateway_completion_tokens_total",
                "Completion tokens the providers reported, by provider, key source and outcome.",
                |c| c.completion_tokens as f64,
            ),
            (
                "keyhold_gateway_call_seconds_total",
                "Time the calls took, by provider, key source and outcome.",
                |c| c.latency_ms as f64 / 1e3,
            ),
        ];
        for (name, help, value) in series {
            family(&mut out, name, "counter", help);
            for ((provider, source, outcome), c) in &calls {
                let _ = writeln!(
                    out,
                    "{name}{{provider=\"{provider}\",source=\"{source}\",outcome=\"{outcome}\"}} {}",
                    value(c)
                );
            }
        }

        family(
            &mut out,
            "keyhold_usage_events_queued",
            "gauge",
            "Usage events recorded but not yet written to the database.",
        );
        let _ = writeln!(
            out,
            "keyhold_usage_events_queued {}",
            self.usage_queued.load(Ordering::Relaxed).max(0)
        );
        family(
            &mut out,
            "keyhold_usage_events_queue_limit",
            "gauge",
            "Most usage events kept waiting while the database cannot take them (KEYHOLD_USAGE_QUEUE_MAX).",
        );
        let _ = writeln!(
            out,
            "keyhold_usage_events_queue_limit {}",
            self.usage_limit.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "keyhold_usage_events_dropped_total",
            "counter",
            "Usage events dropped, not recorded, because the queue was full.",
        );
        let _ = writeln!(
            out,
            "keyhold_usage_events_dropped_total {}",
            self.usage_dropped.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "keyhold_password_checks_total",
            "counter",
            "Passwords verified with argon2 (sign-in and the current-password check).",
        );
        let _ = writeln!(
            out,
            "keyhold_password_checks_total {}",
            self.password_checks.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "keyhold_password_throttled_total",
            "counter",
            "Password attempts refused by throttling before any password work, by check.",
        );
        for check in Check::ALL {
            let _ = writeln!(
                out,
                "keyhold_password_throttled_total{{check=\"{}\"}} {}",
                check.label(),
                self.throttled[check as usize].load(Ordering::Relaxed)
            );
        }
        family(
            &mut out,
            "keyhold_sign_in_slowed_total",
            "counter",
            "Sign-in attempts slowed because an account or address saw many failures.",
        );
        let _ = writeln!(
            out,
            "keyhold_sign_in_slowed_total {}",
            self.slowed.load(Ordering::Relaxed)
        );
        let (idle, busy, max) = gauges.pool;
        family(
            &mut out,
            "keyhold_db_connections",
            "gauge",
            "Pooled database connections, by state.",
        );
        let _ = writeln!(out, "keyhold_db_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(out, "keyhold_db_connections{{state=\"in_use\"}} {busy}");
        family(
            &mut out,
            "keyhold_db_connections_max",
            "gauge",
            "Most connections the pool opens.",
        );
        let _ = writeln!(out, "keyhold_db_connections_max {max}");
        family(
            &mut out,
            "keyhold_db_up",
            "gauge",
            "1 when the database answered this scrape.",
        );
        let _ = writeln!(
            out,
            "keyhold_db_up {}",
            u8::from(gauges.outbox_pending.is_some())
        );
        if let Some((up, reconnects)) = gauges.listener {
            family(
                &mut out,
                "keyhold_epoch_listener_up",
                "gauge",
                "1 while the cache-change listener is connected (PostgreSQL); 0: the gateway reads the cache epoch per request.",
            );
            let _ = writeln!(out, "keyhold_epoch_listener_up {}", u8::from(up));
            family(
                &mut out,
                "keyhold_epoch_listener_reconnects_total",
                "counter",
                "Times the cache-change listener connected again after losing its connection.",
            );
            let _ = writeln!(out, "keyhold_epoch_listener_reconnects_total {reconnects}");
        }
        if let Some(pending) = gauges.outbox_pending {
            family(
                &mut out,
                "keyhold_mail_outbox_pending",
                "gauge",
                "Mails waiting in the outbox (not yet accepted by the SMTP server).",
            );
            let _ = writeln!(out, "keyhold_mail_outbox_pending {pending}");
        }
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
        for line in [
            "keyhold_http_requests_total{kind=\"api\",class=\"2xx\"} 1",
            "keyhold_http_requests_total{kind=\"api\",class=\"4xx\"} 1",
            "keyhold_http_requests_total{kind=\"page\",class=\"2xx\"} 1",
            "keyhold_http_requests_total{kind=\"static\",class=\"3xx\"} 1",
            "keyhold_http_requests_total{kind=\"probe\",class=\"5xx\"} 1",
            "keyhold_http_request_seconds_total{kind=\"api\"} 0.002000",
            "keyhold_epoch_listener_up 1",
            "keyhold_usage_events_queue_limit 100",
            "keyhold_usage_events_dropped_total 1",
            "keyhold_epoch_listener_reconnects_total 1",
            "keyhold_gateway_calls_total{provider=\"openai\",source=\"workspace\",outcome=\"ok\"} 2",
            "keyhold_gateway_prompt_tokens_total{provider=\"openai\",source=\"workspace\",outcome=\"ok\"} 10",
            "keyhold_gateway_completion_tokens_total{provider=\"openai\",source=\"workspace\",outcome=\"ok\"} 14",
            "keyhold_gateway_call_seconds_total{provider=\"openai\",source=\"workspace\",outcome=\"ok\"} 1",
            "keyhold_gateway_calls_total{provider=\"anthropic\",source=\"none\",outcome=\"no_key\"} 1",
            "keyhold_usage_events_queued 2",
            "keyhold_password_checks_total 1",
            "keyhold_password_throttled_total{check=\"sign_in\"} 0",
            "keyhold_password_throttled_total{check=\"current_password\"} 1",
            "keyhold_sign_in_slowed_total 1",
            "keyhold_db_connections{state=\"in_use\"} 1",
            "keyhold_db_connections_max 8",
            "keyhold_db_up 1",
            "keyhold_mail_outbox_pending 2",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "{line} missing from\n{page}"
            );
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
    fn a_database_that_does_not_answer_reads_as_down() {
        let page = Metrics::default().render(&Gauges::default());
        assert!(page.contains("keyhold_db_up 0"));
        assert!(!page.contains("keyhold_mail_outbox_pending"));
    }
}

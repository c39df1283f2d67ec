//! SPEC §12 "Resolution (token auth + resolve + open the key): ≤ 20 µs p50 warm".
//!
//! The gateway's per-request work before the upstream call, without the network, through
//! the crate's own code: the real `gateway::cache::Cache` of a real `AppState` over a
//! seeded SQLite database (`keyhold seed-demo`'s data: OpenAI enabled, BYOK on, a global
//! key and workspace keys), exactly as `gateway::dispatch::authenticate` and
//! `dispatch::send` use it:
//!
//!   `Bearer kh_…` → `current_epoch` → `tokens::hash` → `Cache::token` (warm: an
//!   in-memory hit) → `providers::for_model` → `Cache::route` (warm hit: the resolved,
//!   still-sealed keys) → `Keyring::open` (AES-256-GCM) → the `Authorization` header.
//!
//! Warm means both cache entries are loaded and the epoch has not moved, which is every
//! request but the first after a change; the futures then finish without waiting, so each
//! is polled once (`now_or_never`) — which also proves the path never touches the
//! database. The parts are measured on their own too, plus the pure `resolution::resolve`
//! (what a cache miss computes) and a cold route load through SQLite for contrast.
//!
//! Run: `cargo bench --bench resolution -- --warm-up-time 1 --measurement-time 3`
//! (medians: target/criterion/resolution/<name>/new/estimates.json, `median.point_estimate`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use keyhold::config::Config;
use keyhold::db;
use keyhold::domain::ids::KeyId;
use keyhold::domain::providers::{self, AuthStyle, Provider};
use keyhold::domain::resolution::{
    self, Allowance, FailurePolicy, GlobalKey, KeyStatus, ProviderSettings, WorkspaceKeyRef,
};
use keyhold::domain::tokens;
use keyhold::domain::vault::Keyring;
use keyhold::gateway::cache::{self, Route, TokenEntry};
use keyhold::gateway::{Gateway, Limits, usage};
use keyhold::state::AppState;

/// A seeded database, its state, and the token of its first workspace.
struct Fixture {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    state: AppState,
    token: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let data_dir = dir.path().display().to_string();
    let config = Config::from_lookup(|k| {
        Some(match k {
            "KEYHOLD_DATABASE_URL" => db_url.clone(),
            "KEYHOLD_DATA_DIR" => data_dir.clone(),
            "KEYHOLD_MASTER_KEYS" => "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            "KEYHOLD_SESSION_SECRET" => "resolution-bench-session-secret-0123456789".into(),
            "KEYHOLD_BIND" => "127.0.0.1:0".into(),
            // Never called: the bench stops before the upstream request.
            "KEYHOLD_PROVIDER_OPENAI_BASE_URL" => "http://127.0.0.1:9/v1".into(),
            _ => return None,
        })
    })
    .expect("bench configuration");
    let pool = db::build_pool(&config.database_url, 2).expect("pool");
    let token = {
        let mut conn = pool.get().expect("connection");
        db::run_migrations(&mut conn).expect("migrations");
        let opts = keyhold::services::seed::SeedOptions {
            workspaces: 3,
            keys: 3,
            audit: 0,
            secret: "sk-bench-not-a-real-key-0000000000000000".into(),
        };
        keyhold::services::seed::seed_demo(&mut conn, &config.keyring, &opts)
            .expect("seed")
            .token
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = Arc::new(keyhold::metrics::Metrics::default());
    let (recorder, _rx) = usage::Recorder::new(metrics.clone(), 100_000);
    let gateway = Gateway::new(recorder, Limits::default(), &config).expect("gateway");
    let state = AppState {
        ctx: keyhold::services::Ctx {
            config: Arc::new(config),
            pool,
            mail_wakeup: Arc::new(tokio::sync::Notify::new()),
            metrics,
            throttle: Default::default(),
            listener: gateway.clone(),
            key_tester: gateway.clone(),
            epoch: Default::default(),
            pages: Default::default(),
        },
        gateway,
        principals: Arc::new(keyhold::web::principals::Principals::new()),
    };
    Fixture {
        _dir: dir,
        rt,
        state,
        token,
    }
}

/// The header the OpenAI and Anthropic adapters send, built the same way.
fn auth_header(provider: &Provider, secret: &str) -> (HeaderName, HeaderValue) {
    let (name, value) = match provider.auth {
        AuthStyle::AnthropicKey { .. } => (HeaderName::from_static("x-api-key"), secret.to_owned()),
        _ => (AUTHORIZATION, format!("Bearer {secret}")),
    };
    let mut value = HeaderValue::from_str(&value).expect("header value");
    value.set_sensitive(true);
    (name, value)
}

/// The warm path of one request, as `authenticate` + `send` run it; the header is returned
/// so nothing is optimised away.
fn warm_request(state: &AppState, authorization: &str) -> (HeaderName, HeaderValue) {
    let gw = &state.gateway;
    let token = authorization
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| t.starts_with("kh_"))
        .expect("token");
    let epoch = cache::current_epoch(state)
        .now_or_never()
        .expect("the SQLite epoch is in memory")
        .expect("epoch");
    let entry: Arc<TokenEntry> = gw
        .cache
        .token(state, &tokens::hash(token), epoch)
        .now_or_never()
        .expect("warm: no database")
        .expect("token lookup")
        .expect("live token");
    // What `authenticate` hands on.
    let workspace_id = entry.workspace_id.clone();
    let token_id = entry.token_id.clone();
    black_box(&token_id);
    let (provider, _model) = providers::for_model("gpt-4o-mini").expect("model");
    let route: Arc<Route> = gw
        .cache
        .route(state, &workspace_id, provider, epoch)
        .now_or_never()
        .expect("warm: no database")
        .expect("route lookup");
    let keys = route.outcome.as_ref().expect("resolved");
    let key = keys.first().expect("a key");
    let keyring: &Keyring = &state.config.keyring;
    let secret = keyring.open(&key.sealed, &key.aad).expect("key opens");
    auth_header(provider, secret.expose_secret())
}

fn bench(c: &mut Criterion) {
    let fx = fixture();
    let state = &fx.state;
    let authorization = format!("Bearer {}", fx.token);
    let openai = providers::find("openai").expect("openai");

    // Load both cache entries (the only time the database is read).
    let epoch = fx.rt.block_on(cache::current_epoch(state)).expect("epoch");
    let hash = tokens::hash(&fx.token);
    let entry = fx
        .rt
        .block_on(state.gateway.cache.token(state, &hash, epoch))
        .expect("token")
        .expect("live token");
    let route = fx
        .rt
        .block_on(
            state
                .gateway
                .cache
                .route(state, &entry.workspace_id, openai, epoch),
        )
        .expect("route");
    let key = route
        .outcome
        .as_ref()
        .expect("resolved")
        .first()
        .expect("a key")
        .clone();
    let (_, header) = warm_request(state, &authorization);
    assert!(
        header.is_sensitive() && !header.is_empty(),
        "the warm path builds the header"
    );

    let mut g = c.benchmark_group("resolution");
    g.bench_function("warm_request_total", |b| {
        b.iter(|| warm_request(state, black_box(&authorization)))
    });
    g.bench_function("part_token_hash", |b| {
        b.iter(|| tokens::hash(black_box(&fx.token)))
    });
    g.bench_function("part_cache_hits_token_and_route", |b| {
        b.iter(|| {
            let e = state
                .gateway
                .cache
                .token(state, black_box(&hash), epoch)
                .now_or_never()
                .expect("warm")
                .expect("lookup")
                .expect("live");
            state
                .gateway
                .cache
                .route(state, &e.workspace_id, openai, epoch)
                .now_or_never()
                .expect("warm")
                .expect("lookup")
        })
    });
    g.bench_function("part_keyring_open_aes256gcm", |b| {
        b.iter(|| {
            state
                .config
                .keyring
                .open(black_box(&key.sealed), black_box(&key.aad))
                .expect("opens")
        })
    });
    let secret: SecretString = state
        .config
        .keyring
        .open(&key.sealed, &key.aad)
        .expect("opens");
    g.bench_function("part_auth_header", |b| {
        b.iter(|| auth_header(openai, black_box(secret.expose_secret())))
    });

    // The pure resolution a cache miss computes (BYOK on, three workspace keys, an
    // active global key, fallback allowed).
    let settings = ProviderSettings {
        enabled: true,
        byok_enabled: true,
        failure_policy: FailurePolicy::FallbackToGlobal,
        global_key: Some(GlobalKey {
            id: KeyId::from_trusted("01JBENCHGLOBAL".into()),
            active: true,
        }),
    };
    let ws_keys: Vec<WorkspaceKeyRef> = (0..3)
        .map(|i| WorkspaceKeyRef {
            id: KeyId::from_trusted(format!("01JBENCHKEY{i}")),
            label: format!("Key {i}"),
            priority: i,
            status: KeyStatus::Active,
        })
        .collect();
    g.bench_function("part_resolve_pure", |b| {
        b.iter(|| {
            resolution::resolve(
                black_box(openai.name),
                black_box(&settings),
                black_box(&ws_keys),
                &Allowance::UNLIMITED,
            )
        })
    });

    // A cache miss for contrast: the route reloaded from SQLite on the blocking pool
    // (what the first request after a key or setting change pays).
    let mut next_epoch = epoch;
    g.bench_function("cold_route_reload_sqlite", |b| {
        b.iter(|| {
            next_epoch += 1_000_000;
            fx.rt
                .block_on(
                    state
                        .gateway
                        .cache
                        .route(state, &entry.workspace_id, openai, next_epoch),
                )
                .expect("route")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

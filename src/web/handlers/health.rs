//! Liveness, readiness and metrics for load balancers, orchestrators and Prometheus.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use crate::domain::tokens::constant_time_eq;
use crate::metrics::Gauges;
use crate::services::health;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `GET /readyz`: the database answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ok = state.db(health::ready).await;
    match ok {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable"),
    }
}

/// `GET /metrics`: Prometheus text. Open unless `KEYHOLD_METRICS_TOKEN` is set; then only
/// with `Authorization: Bearer <token>`.
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(token) = &state.config.metrics_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(given.trim(), token.expose_secret()) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain")
                .body("Send the metrics token as Authorization: Bearer <KEYHOLD_METRICS_TOKEN>.");
        }
    }
    let pool = state.pool.state();
    let outbox_pending = state
        .db(health::outbox_pending)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "metrics: the database did not answer"))
        .ok();
    let gauges = Gauges {
        pool: (
            pool.idle_connections,
            pool.connections - pool.idle_connections,
            state.pool.max_size(),
        ),
        outbox_pending,
        listener: (crate::db::Backend::from_url(&state.config.database_url)
            == Some(crate::db::Backend::Postgres))
        .then(|| state.epoch.status()),
    };
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.metrics.render(&gauges))
}

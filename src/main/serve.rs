//! `keyhold serve` (the default): start-up notices, the runtime, the server.

use std::process::ExitCode;

use keyhold::services::accounts;
use keyhold::startup::Application;

use super::load_config;

/// Runs the web server until it is stopped.
pub(crate) fn serve() -> Result<(), ExitCode> {
    let config = load_config()?;
    let log = keyhold::logging::init();
    for var in &config.generated {
        tracing::warn!(
            "{var} was not set: a new secret was GENERATED into {} (mode 0600). Back it up; \
             for production set {var} explicitly.",
            config.data_dir.display()
        );
    }
    if config.metrics_token.is_none() {
        tracing::info!(
            "GET /metrics is open to anyone who reaches Keyhold; set KEYHOLD_METRICS_TOKEN to \
             require a bearer token"
        );
    }
    for id in &config.provider_overrides {
        if let (Some(url), Some(var)) = (
            config.provider_base_url(id),
            config.provider_override_var(id),
        ) {
            tracing::info!(
                "{var} is set: {id} is reached at {} instead of the catalogue's default",
                keyhold::upstream::endpoint_text(url)
            );
        }
    }
    if config.smtp_url.is_none() {
        tracing::warn!(
            "KEYHOLD_SMTP_URL is not set: mail is written as .eml files to {}",
            config.mail_dir().display()
        );
    }
    // This runtime accepts nothing itself (the server's workers have their own): it runs
    // start-up and the background workers (usage writer, outbox), whose database work needs
    // a few blocking threads, not tokio's default of 512.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .map_err(|_| ExitCode::FAILURE)?;
    runtime.block_on(async move {
        let app = Application::build(config).await.map_err(|e| {
            eprintln!("keyhold: cannot start: {e:#}");
            ExitCode::from(2)
        })?;
        let state = app.state().clone();
        let setup = state
            .db(accounts::issue_setup_token)
            .await
            .map_err(|e| {
                eprintln!("keyhold: {e}");
                ExitCode::FAILURE
            })?;
        let base = state.config.public_url.as_str().trim_end_matches('/').to_owned();
        tracing::info!("Keyhold is listening on {} (public URL {base})", state.config.bind);
        if let Some(token) = setup {
            log.flush();
            println!(
                "\n  No users yet. Open this one-time link to create the first platform admin:\n\n    {}\n",
                state.config.link(&format!("/setup?token={token}"))
            );
        }
        app.run_until_stopped().await.map_err(|e| {
            eprintln!("keyhold: server error: {e}");
            ExitCode::FAILURE
        })
    })
}

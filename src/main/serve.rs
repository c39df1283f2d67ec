//! `keyhold serve` (the default): start-up notices, the runtime, the server.

use std::process::ExitCode;

use keyhold::services::accounts;
use keyhold::startup::Application;

use keyhold::logging::LogFormat;

use super::load_config;

/// Runs the web server until it is stopped.
pub(crate) fn serve(log_format: Option<String>) -> Result<(), ExitCode> {
    let mut config = load_config()?;
    // `--log-format` (or the same variable, which the configuration has already checked).
    if let Some(given) = log_format {
        config.log_format = LogFormat::parse(&given).ok_or_else(|| {
            eprintln!("keyhold: configuration error: --log-format: must be text or json");
            ExitCode::from(2)
        })?;
    }
    let log = keyhold::logging::init(config.log_format);
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
            let link = state.config.link(&format!("/setup?token={token}"));
            if state.config.log_format == LogFormat::Json {
                // Every line on stdout stays one JSON object.
                tracing::info!(
                    "No users yet. Open this one-time link to create the first platform admin: {link}"
                );
            } else {
                log.flush();
                println!(
                    "\n  No users yet. Open this one-time link to create the first platform admin:\n\n    {link}\n"
                );
            }
        }
        app.run_until_stopped().await.map_err(|e| {
            eprintln!("keyhold: server error: {e}");
            ExitCode::FAILURE
        })
    })
}

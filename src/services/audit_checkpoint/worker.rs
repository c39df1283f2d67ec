//! The background worker that checks the chain: once at start, then every
//! `KEYHOLD_AUDIT_CHECK_SECS`, sooner while new events are waiting.

use std::time::Duration;

use tokio::sync::watch;

use super::check;
use crate::domain::audit::Finding;
use crate::services::Ctx;

/// The pause between checks while more new events wait than one check takes on.
const CATCH_UP: Duration = Duration::from_millis(250);

/// Checks the chain until shutdown. A change in what the checks find is logged once.
pub async fn run_worker(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let interval = ctx.config.audit_check_interval;
    let mut last: Option<Finding> = None;
    loop {
        let config = ctx.config.clone();
        let pause = match ctx.db(move |c| check(c, &config.keyring)).await {
            Ok(Some(found)) => {
                let finding = found.checkpoint.finding;
                if last.as_ref() != Some(&finding) {
                    match &finding {
                        Finding::Held if last.is_some() => {
                            tracing::info!("audit chain: the check holds again");
                        }
                        Finding::Held => {}
                        Finding::Broken { at_id, problem } => tracing::warn!(
                            at_id,
                            problem = %problem,
                            "audit chain: broken; run `keyhold audit verify` for the full report"
                        ),
                        Finding::Unverifiable { problem } => {
                            tracing::warn!(problem = %problem, "audit chain: cannot be verified");
                        }
                    }
                }
                let behind = finding == Finding::Held && found.pending > 0;
                last = Some(finding);
                if behind {
                    CATCH_UP.min(interval)
                } else {
                    interval
                }
            }
            // Another instance is checking right now.
            Ok(None) => interval,
            Err(e) => {
                tracing::warn!(error = %e, "audit chain: the check failed; retrying");
                interval
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}

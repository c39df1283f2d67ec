//! Password work (argon2) off the async workers, in a bounded number of slots.

use secrecy::SecretString;

use crate::domain::password;
use crate::error::{Error, Result};

/// Runs password work (argon2 takes tens of milliseconds and 19 MiB by design) off the async
/// workers. The hashing itself runs on the hasher threads of [`password`] (half the cores);
/// this admits as many jobs as there are hashers, so a burst of sign-ins queues here, where
/// waiting costs nothing, instead of parking blocking-pool threads that the pages' database
/// work needs (SPEC §12: 20 concurrent sign-ins must not raise other pages' p99 above 50 ms).
pub(crate) async fn password_work<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| tokio::sync::Semaphore::new(password::hasher_threads()));
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password slots: {e}")))?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password task: {e}")))
}

/// Hashes a password off the async workers (see [`password_work`]).
pub async fn hash_password(pw: SecretString) -> Result<String> {
    password_work(move || password::hash(&pw))
        .await?
        .map_err(Error::Internal)
}

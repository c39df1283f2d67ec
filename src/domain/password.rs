//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1). Callers run these on the
//! blocking pool: they take tens of milliseconds by design. The work itself runs on a few
//! dedicated threads (see [`on_hasher`]).

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use std::cell::RefCell;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, LazyLock, Mutex};

use secrecy::{ExposeSecret, SecretString};

/// The hash checked for unknown emails, so that the answer takes as long as for a real one.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_here(&SecretString::from("keyhold dummy password for timing")).unwrap_or_default()
});

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 10;

/// Checks a new password against the policy and says what is wrong in words.
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_LENGTH {
        return Err("Use at least 10 characters.");
    }
    if password.len() > 1024 {
        return Err("Use at most 1024 characters.");
    }
    Ok(())
}

type Job = Box<dyn FnOnce() + Send>;

/// The hasher threads: half the cores (at least one), each with its own argon2 work area.
///
/// The argon2 crate allocates the 19 MiB work area for every hash and frees it again. On
/// glibc, freeing an mmap-ed block that large raises the allocator's mmap threshold to its
/// size, so every later work area comes from the heap and stays resident after it is freed:
/// RSS grew by 19.5 MiB with every sign-in, even one after another (15 MiB idle, 94 MiB
/// after five), to ~590 MiB in the mixed soak (`bench/soak.sh`). Here each hasher thread
/// allocates its work area once and reuses it (see [`argon2_into`]): argon2 holds at most
/// threads x 19 MiB, and sign-ins leave the other half of the CPU to the pages.
static HASHERS: LazyLock<Option<SyncSender<Job>>> = LazyLock::new(|| {
    let n = hasher_threads();
    let (tx, rx) = mpsc::sync_channel::<Job>(1024);
    let rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(rx));
    let mut started = 0;
    for i in 0..n {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job, not while hashing.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if spawned.is_ok() {
            started += 1;
        }
    }
    (started > 0).then_some(tx)
});

/// How many hasher threads there are: half the cores, at least one.
pub fn hasher_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Runs `f` on a hasher thread and waits for its result (on the calling thread when none
/// could be started); `None` if `f` panicked.
fn on_hasher<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (reply_tx, reply_rx) = mpsc::sync_channel::<T>(1);
    let job: Job = Box::new(move || {
        let _ = reply_tx.send(f());
    });
    let left = match HASHERS.as_ref() {
        Some(hashers) => hashers.send(job).err().map(|mpsc::SendError(job)| job),
        None => Some(job),
    };
    if let Some(job) = left {
        job();
    }
    reply_rx.recv().ok()
}

/// Hashes a password with the current parameters.
pub fn hash(password: &SecretString) -> Result<String, anyhow::Error> {
    let password = password.clone();
    on_hasher(move || hash_here(&password))
        .unwrap_or_else(|| Err(anyhow::anyhow!("hashing failed on the hasher thread")))
}

thread_local! {
    /// This hasher thread's argon2 work area, allocated on first use and kept.
    static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's reused work area.
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    WORK_AREA.with_borrow_mut(|area| {
        let n = params.block_count();
        if area.len() < n {
            area.resize(n, Block::default());
        }
        Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut area[..n],
        )
    })
}

fn hash_here(password: &SecretString) -> Result<String, anyhow::Error> {
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("hashing failed: {e}");
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        password.expose_secret().as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `phc` (with the algorithm, version and parameters it
/// names); the final comparison is constant-time.
fn matches(password: &[u8], phc: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(phc) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2_into(
        algorithm,
        version,
        &params,
        password,
        salt.as_ref(),
        &mut out,
    )
    .is_ok()
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with older parameters: store a fresh hash.
    YesRehash,
}

/// Verifies `password` against `stored`; `None` checks a dummy hash and always fails, so
/// unknown accounts cost the same time.
pub fn verify(password: &SecretString, stored: Option<&str>) -> Verified {
    let password = password.clone();
    let stored = stored.map(str::to_owned);
    on_hasher(move || verify_here(&password, stored.as_deref())).unwrap_or(Verified::No)
}

fn verify_here(password: &SecretString, stored: Option<&str>) -> Verified {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        // Keep the timing of a real check even for a corrupt stored hash.
        let _ = PasswordHash::new(DUMMY_HASH.as_str())
            .map(|d| matches(password.expose_secret().as_bytes(), &d));
        return Verified::No;
    };
    let ok = matches(password.expose_secret().as_bytes(), &parsed);
    match (ok && real, needs_rehash(&parsed)) {
        (false, _) => Verified::No,
        (true, true) => Verified::YesRehash,
        (true, false) => Verified::Yes,
    }
}

fn needs_rehash(parsed: &PasswordHash) -> bool {
    let current = argon2::Params::default();
    let alg_ok = parsed.algorithm.as_str() == "argon2id";
    let p = |name: &str| parsed.params.get_decimal(name);
    !(alg_ok
        && p("m") == Some(current.m_cost())
        && p("t") == Some(current.t_cost())
        && p("p") == Some(current.p_cost()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> SecretString {
        SecretString::from(x.to_owned())
    }

    #[test]
    fn hash_then_verify() {
        let h = hash(&s("correct horse battery")).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(verify(&s("correct horse battery"), Some(&h)), Verified::Yes);
        assert_eq!(verify(&s("wrong horse battery"), Some(&h)), Verified::No);
    }

    #[test]
    fn unknown_accounts_never_verify() {
        assert_eq!(verify(&s("anything at all"), None), Verified::No);
        assert_eq!(verify(&s("anything at all"), Some("garbage")), Verified::No);
    }

    #[test]
    fn old_parameters_ask_for_a_rehash() {
        use argon2::PasswordHasher;
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 1, 1, None).expect("params"),
        )
        .hash_password(b"correct horse battery")
        .expect("hash")
        .to_string();
        assert_eq!(
            verify(&s("correct horse battery"), Some(&weak)),
            Verified::YesRehash
        );
    }

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery")
            .expect("hash")
            .to_string();
        assert_eq!(
            verify(&s("correct horse battery"), Some(&theirs)),
            Verified::Yes
        );
        assert_eq!(
            verify(&s("correct horse batterx"), Some(&theirs)),
            Verified::No
        );
        let ours = hash(&s("correct horse battery")).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn many_threads_hash_and_verify_at_once() {
        let h = hash(&s("correct horse battery")).expect("hash");
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let h = h.clone();
                std::thread::spawn(move || {
                    let pw = if i % 2 == 0 {
                        "correct horse battery"
                    } else {
                        "wrong one here"
                    };
                    (i, verify(&s(pw), Some(&h)))
                })
            })
            .collect();
        for t in threads {
            let (i, v) = t.join().expect("thread");
            let want = if i % 2 == 0 {
                Verified::Yes
            } else {
                Verified::No
            };
            assert_eq!(v, want, "thread {i}");
        }
    }

    #[test]
    fn policy_explains_itself() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough pass").is_ok());
    }
}

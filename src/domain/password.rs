//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1). Callers run these on the
//! blocking pool: they take tens of milliseconds by design.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

/// The hash checked for unknown emails, so that the answer takes as long as for a real one.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"keyhold dummy password for timing")
        .map(|h| h.to_string())
        .unwrap_or_default()
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

/// Hashes a password with the current parameters.
pub fn hash(password: &SecretString) -> Result<String, anyhow::Error> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
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
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        // Keep the timing of a real check even for a corrupt stored hash.
        let _ = PasswordHash::new(DUMMY_HASH.as_str())
            .map(|d| Argon2::default().verify_password(password.expose_secret().as_bytes(), &d));
        return Verified::No;
    };
    let ok = Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
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
    fn policy_explains_itself() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough pass").is_ok());
    }
}

//! The two secrets every instance needs (master keys, session secret): from the environment,
//! or on a single SQLite instance generated once into private files under the data directory.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};

use super::{ConfigError, bad};
use crate::domain::vault::Keyring;

/// `KEYHOLD_MASTER_KEYS` (`spec`), or the generated file; `true` when it was generated now.
pub(super) fn master_keys(
    spec: Option<String>,
    data_dir: &Path,
    shared_db: bool,
) -> Result<(Keyring, bool), ConfigError> {
    match spec {
        Some(spec) => Keyring::parse(&spec)
            .map(|k| (k, false))
            .map_err(|e| bad("KEYHOLD_MASTER_KEYS", e.to_string())),
        None if shared_db => Err(bad(
            "KEYHOLD_MASTER_KEYS",
            "is required with PostgreSQL (every instance must share the same keys); \
             create one with `keyhold gen-master-key`",
        )),
        None => {
            let path = data_dir.join("master.keys");
            let (spec, fresh) = read_or_create(&path, || Keyring::generate().1)?;
            let keyring = Keyring::parse(spec.expose_secret().trim()).map_err(|e| {
                bad(
                    "KEYHOLD_MASTER_KEYS",
                    format!("{} (in {})", e, path.display()),
                )
            })?;
            Ok((keyring, fresh))
        }
    }
}

/// `KEYHOLD_SESSION_SECRET` (`value`), or the generated file; `true` when it was generated now.
pub(super) fn session_secret(
    value: Option<String>,
    data_dir: &Path,
    shared_db: bool,
) -> Result<(SecretBox<Vec<u8>>, bool), ConfigError> {
    match value {
        Some(s) if s.len() >= 32 => Ok((SecretBox::new(Box::new(s.into_bytes())), false)),
        Some(_) => Err(bad(
            "KEYHOLD_SESSION_SECRET",
            "must be at least 32 characters",
        )),
        None if shared_db => Err(bad(
            "KEYHOLD_SESSION_SECRET",
            "is required with PostgreSQL (every instance must share it)",
        )),
        None => {
            let path = data_dir.join("session.key");
            let (secret, fresh) = read_or_create(&path, || {
                let mut bytes = [0u8; 48];
                rand::rng().fill_bytes(&mut bytes);
                B64.encode(bytes)
            })?;
            let secret = secret.expose_secret().trim().as_bytes().to_vec();
            Ok((SecretBox::new(Box::new(secret)), fresh))
        }
    }
}

pub(super) fn ensure_dir(dir: &Path) -> Result<(), ConfigError> {
    crate::private_files::create_dir(dir).map_err(|e| {
        bad(
            "KEYHOLD_DATA_DIR",
            format!("cannot create {}: {e}", dir.display()),
        )
    })
}

/// Reads a secret file, or creates it with mode 0600 from `make` when it does not exist.
fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> String,
) -> Result<(SecretBox<String>, bool), ConfigError> {
    if let Ok(existing) = fs::read_to_string(path) {
        return Ok((SecretBox::new(Box::new(existing)), false));
    }
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    let value = make();
    let mut file = crate::private_files::file_options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            bad(
                "KEYHOLD_DATA_DIR",
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    file.write_all(value.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .map_err(|e| {
            bad(
                "KEYHOLD_DATA_DIR",
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    Ok((SecretBox::new(Box::new(value)), true))
}

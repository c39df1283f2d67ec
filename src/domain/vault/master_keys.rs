//! The master keys as configured: `KEYHOLD_MASTER_KEYS` parsed (errors name an entry,
//! never its key) and a fresh one generated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use zeroize::Zeroizing;

use super::{KEY_LEN, Keyring, MAX_ID_LEN, MasterKey};

/// Why a master-key specification (`KEYHOLD_MASTER_KEYS`) could not be parsed.
/// No variant carries key material: entries are named by position (1-based) or by an
/// id that already passed validation. Texts are reasons meant to follow the source's
/// name, e.g. `KEYHOLD_MASTER_KEYS: entry 2 is malformed: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// The specification holds no entry at all.
    #[error("no master key given: expected `v1:<base64 of 32 random bytes>`")]
    Empty,
    /// An entry is not of the form `<id>:<base64 key>`.
    #[error("entry {position} is malformed: expected `<id>:<base64 key>`")]
    MalformedEntry {
        /// 1-based position of the entry.
        position: usize,
    },
    /// An entry's id is empty, too long or uses characters outside `[A-Za-z0-9_-]`.
    #[error(
        "entry {position} has an invalid id: use 1 to 16 characters from A-Z, a-z, 0-9, `_` and `-`"
    )]
    BadId {
        /// 1-based position of the entry.
        position: usize,
    },
    /// The key is not valid standard base64.
    #[error("key `{id}` is not valid standard base64")]
    BadBase64 {
        /// Id of the offending key.
        id: String,
    },
    /// The key does not decode to exactly 32 bytes.
    #[error("key `{id}` decodes to {len} bytes; it must be exactly 32 bytes")]
    WrongLength {
        /// Id of the offending key.
        id: String,
        /// Decoded length in bytes.
        len: usize,
    },
    /// The key is all zero bytes, which is never a real random key.
    #[error("key `{id}` is all zero bytes; generate a random key")]
    AllZero {
        /// Id of the offending key.
        id: String,
    },
    /// Two entries share an id.
    #[error("key id `{id}` appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
}

/// Whether `id` is 1..=16 characters of `[A-Za-z0-9_-]`.
pub(super) fn valid_key_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Parses `KEYHOLD_MASTER_KEYS`: `v2:<base64 32 bytes>,v1:<base64 32 bytes>`.
    /// The first entry is the active key; the others only open older ciphertexts.
    ///
    /// # Errors
    /// A [`KeyringError`] naming the faulty entry by position or id, never by its key.
    pub fn parse(spec: &str) -> Result<Keyring, KeyringError> {
        if spec.trim().is_empty() {
            return Err(KeyringError::Empty);
        }
        let mut keys: Vec<MasterKey> = Vec::new();
        for (index, entry) in spec.split(',').enumerate() {
            let position = index + 1;
            let Some((id, encoded)) = entry.trim().split_once(':') else {
                return Err(KeyringError::MalformedEntry { position });
            };
            let (id, encoded) = (id.trim(), encoded.trim());
            if !valid_key_id(id) {
                return Err(KeyringError::BadId { position });
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateId { id: id.to_owned() });
            }
            if encoded.is_empty() {
                return Err(KeyringError::MalformedEntry { position });
            }
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| KeyringError::BadBase64 { id: id.to_owned() })?,
            );
            if decoded.len() != KEY_LEN {
                return Err(KeyringError::WrongLength {
                    id: id.to_owned(),
                    len: decoded.len(),
                });
            }
            if decoded.iter().all(|&b| b == 0) {
                return Err(KeyringError::AllZero { id: id.to_owned() });
            }
            let mut bytes = Box::new([0u8; KEY_LEN]);
            bytes.copy_from_slice(&decoded);
            keys.push(MasterKey {
                id: id.to_owned(),
                bytes,
            });
        }
        Ok(Keyring { keys })
    }

    /// Generates a keyring with one fresh random key `v1` and returns it with the
    /// `KEYHOLD_MASTER_KEYS` value to persist. The returned string is key material.
    pub fn generate() -> (Keyring, String) {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        let mut rng = rand::rng();
        // An all-zero draw is astronomically unlikely, but `parse` would reject it.
        while bytes.iter().all(|&b| b == 0) {
            rng.fill_bytes(&mut bytes[..]);
        }
        let spec = format!("v1:{}", STANDARD.encode(&bytes[..]));
        let ring = Keyring {
            keys: vec![MasterKey {
                id: "v1".to_owned(),
                bytes,
            }],
        };
        (ring, spec)
    }
}

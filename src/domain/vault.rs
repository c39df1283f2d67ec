//! The vault: seals provider secrets with AES-256-GCM under versioned master keys,
//! binds each ciphertext to its record, fingerprints and masks keys for display. This file
//! seals and opens; `master_keys` reads the configured keys, `shown` fingerprints and masks.

use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use aes_gcm::{Aes256Gcm, Key};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

pub use secrecy::{ExposeSecret, SecretString};

mod master_keys;
mod shown;

pub use master_keys::KeyringError;
use master_keys::valid_key_id;

use crate::domain::ids::{KeyId, WorkspaceId};
pub use shown::mask;

/// Version byte that opens every sealed blob.
const FORMAT_VERSION: u8 = 1;
/// AES-256 key length in bytes.
const KEY_LEN: usize = 32;
/// AES-GCM nonce length in bytes (96 bits).
const NONCE_LEN: usize = 12;
/// AES-GCM authentication tag length in bytes.
const TAG_LEN: usize = 16;
/// Longest accepted master-key id.
const MAX_ID_LEN: usize = 16;

/// Why a secret could not be sealed or opened. Never carries plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The blob is not in the vault's format (truncated, unknown version, bad header).
    #[error("sealed secret is malformed")]
    Malformed,
    /// The blob was sealed with a master key that is not in the keyring.
    #[error("sealed secret needs master key `{0}`, which is not configured")]
    UnknownKeyId(String),
    /// Authentication failed: wrong associated data, tampered blob or wrong key.
    #[error("key unavailable")]
    Unavailable,
    /// Sealing failed (the system random generator or the cipher refused).
    #[error("could not seal secret")]
    SealFailed,
}

/// Which kind of record a sealed secret belongs to; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A platform (global) key.
    Global,
    /// A workspace's own key.
    Workspace,
}

impl Scope {
    /// The scope as it appears in associated data: `global` or `workspace`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Workspace => "workspace",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Associated data binding a ciphertext to its record:
/// `keyhold/v1|<scope>|<workspace id or "global">|<provider>|<key id>`.
///
/// Components are opaque ids (typed ids, which never contain `|`, and catalogue ids).
pub fn aad(
    scope: Scope,
    workspace_id: Option<&WorkspaceId>,
    provider: &str,
    key_id: &KeyId,
) -> String {
    format!(
        "keyhold/v1|{}|{}|{}|{}",
        scope.as_str(),
        workspace_id.map_or("global", WorkspaceId::as_str),
        provider,
        key_id
    )
}

/// One master key; the bytes live on the heap so moves leave no copies, and are wiped on drop.
#[derive(Clone)]
struct MasterKey {
    id: String,
    bytes: Box<[u8; KEY_LEN]>,
}

impl MasterKey {
    fn cipher(&self) -> Aes256Gcm {
        let key: &Key<Aes256Gcm> = (&*self.bytes).into();
        Aes256Gcm::new(key)
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The configured AES-256 master keys, newest (active) first. Never empty.
///
/// `Debug` prints the ids only; key bytes are zeroized on drop.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.ids().collect();
        f.debug_struct("Keyring")
            .field("ids", &ids)
            .field("keys", &format_args!("[REDACTED]"))
            .finish()
    }
}

impl Keyring {
    /// The id of the active key, which seals every new secret.
    pub fn active_id(&self) -> &str {
        self.active().map_or("", |k| k.id.as_str())
    }

    /// All key ids, active first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Whether `blob` should be re-sealed because the active key did not seal it.
    /// Malformed blobs count as needing attention too.
    pub fn needs_reseal(&self, blob: &[u8]) -> bool {
        key_id_of(blob) != Some(self.active_id())
    }

    fn active(&self) -> Option<&MasterKey> {
        self.keys.first()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Seals `plaintext` under the active key with a fresh random 96-bit nonce,
    /// authenticating `aad` (see [`aad`]).
    ///
    /// Layout: `[version = 1][key id len u8][key id][12-byte nonce][ciphertext + 16-byte tag]`.
    ///
    /// # Errors
    /// [`VaultError::SealFailed`] if the system random generator or the cipher fails.
    pub fn seal(&self, plaintext: &SecretString, aad: &str) -> Result<Vec<u8>, VaultError> {
        let key = self.active().ok_or(VaultError::SealFailed)?;
        let id_len = u8::try_from(key.id.len()).map_err(|_| VaultError::SealFailed)?;
        let nonce = Nonce::<Aes256Gcm>::try_generate().map_err(|_| VaultError::SealFailed)?;
        let sealed = key
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::SealFailed)?;
        let mut blob = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + sealed.len());
        blob.push(FORMAT_VERSION);
        blob.push(id_len);
        blob.extend_from_slice(key.id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Opens a blob made by [`Keyring::seal`] with the same `aad`. Never panics.
    ///
    /// # Errors
    /// [`VaultError::Malformed`] for a blob not in the vault's format,
    /// [`VaultError::UnknownKeyId`] when its master key is not configured,
    /// [`VaultError::Unavailable`] when authentication fails (wrong aad, tampering, wrong key).
    pub fn open(&self, blob: &[u8], aad: &str) -> Result<SecretString, VaultError> {
        let parts = Parts::parse(blob).ok_or(VaultError::Malformed)?;
        let key = self
            .key(parts.key_id)
            .ok_or_else(|| VaultError::UnknownKeyId(parts.key_id.to_owned()))?;
        let nonce: &Nonce<Aes256Gcm> = parts.nonce.into();
        let plain = Zeroizing::new(
            key.cipher()
                .decrypt(
                    nonce,
                    Payload {
                        msg: parts.sealed,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Unavailable)?,
        );
        // `From<&str>` copies into an exact-size allocation; `plain` is wiped on drop.
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Malformed)?;
        Ok(SecretString::from(text))
    }

    /// A 32-byte key for one purpose (`context`, e.g. `keyhold/audit-chain/v1`) derived from
    /// the master key `id`: HMAC-SHA256(master, context). `None` when `id` is not configured.
    /// Distinct contexts give independent keys; none equals the sealing key itself.
    pub fn derive_subkey(&self, id: &str, context: &str) -> Option<Zeroizing<[u8; 32]>> {
        let master = self.key(id)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&master.bytes[..]).ok()?;
        mac.update(context.as_bytes());
        let mut tag = mac.finalize().into_bytes();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&tag);
        tag.zeroize();
        Some(out)
    }
}

/// A blob split into its fields, borrowed.
struct Parts<'a> {
    key_id: &'a str,
    nonce: &'a [u8; NONCE_LEN],
    sealed: &'a [u8],
}

impl<'a> Parts<'a> {
    fn parse(blob: &'a [u8]) -> Option<Parts<'a>> {
        let (&version, rest) = blob.split_first()?;
        if version != FORMAT_VERSION {
            return None;
        }
        let (&id_len, rest) = rest.split_first()?;
        let id_bytes = rest.get(..usize::from(id_len))?;
        let key_id = std::str::from_utf8(id_bytes).ok()?;
        if !valid_key_id(key_id) {
            return None;
        }
        let rest = rest.get(usize::from(id_len)..)?;
        let nonce: &[u8; NONCE_LEN] = rest.get(..NONCE_LEN)?.try_into().ok()?;
        let sealed = rest.get(NONCE_LEN..)?;
        if sealed.len() < TAG_LEN {
            return None;
        }
        Some(Parts {
            key_id,
            nonce,
            sealed,
        })
    }
}

/// The id of the master key that sealed `blob`, or `None` if the blob is malformed.
/// Used by master-key rotation to find what still needs re-sealing.
pub fn key_id_of(blob: &[u8]) -> Option<&str> {
    Parts::parse(blob).map(|p| p.key_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sha2::Digest;
    use std::collections::HashSet;

    /// [`super::aad`] of ids written as text.
    fn aad(scope: Scope, workspace_id: Option<&str>, provider: &str, key_id: &str) -> String {
        let ws: Option<WorkspaceId> = workspace_id.map(|w| w.parse().expect("a workspace id"));
        let key: KeyId = key_id.parse().expect("a key id");
        super::aad(scope, ws.as_ref(), provider, &key)
    }

    const CANARY: &str = "sk-proj-CANARY-do-not-leak-0123456789abcdef";

    fn b64(bytes: [u8; 32]) -> String {
        STANDARD.encode(bytes)
    }

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).expect("valid test keyring")
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn workspace_aad() -> String {
        aad(Scope::Workspace, Some("ws-1"), "openai", "key-1")
    }

    #[test]
    fn aad_has_the_documented_layout() {
        assert_eq!(
            aad(Scope::Workspace, Some("ws-9"), "openai", "k-1"),
            "keyhold/v1|workspace|ws-9|openai|k-1"
        );
        assert_eq!(
            aad(Scope::Global, None, "anthropic", "g-1"),
            "keyhold/v1|global|global|anthropic|g-1"
        );
        assert_eq!(Scope::Global.to_string(), "global");
        assert_eq!(Scope::Workspace.to_string(), "workspace");
    }

    #[test]
    fn sealed_secret_opens_with_the_same_aad() {
        let (ring, _) = Keyring::generate();
        let blob = ring.seal(&secret(CANARY), &workspace_aad()).expect("seal");
        let opened = ring.open(&blob, &workspace_aad()).expect("open");
        assert_eq!(opened.expose_secret(), CANARY);
    }

    #[test]
    fn empty_and_unicode_secrets_round_trip() {
        let (ring, _) = Keyring::generate();
        for s in ["", "é", "clé-🔑-секрет"] {
            let blob = ring.seal(&secret(s), "a").expect("seal");
            assert_eq!(ring.open(&blob, "a").expect("open").expose_secret(), s);
        }
    }

    #[test]
    fn blob_has_version_key_id_nonce_and_tag() {
        let r = ring(&format!("v7:{}", b64([3; 32])));
        let blob = r.seal(&secret("abc"), "x").expect("seal");
        assert_eq!(blob[0], 1);
        assert_eq!(blob[1], 2);
        assert_eq!(&blob[2..4], b"v7");
        assert_eq!(blob.len(), 4 + NONCE_LEN + 3 + TAG_LEN);
        assert!(!blob.windows(3).any(|w| w == b"abc"), "plaintext visible");
    }

    #[test]
    fn ten_thousand_seals_use_ten_thousand_distinct_nonces() {
        let (ring, _) = Keyring::generate();
        let s = secret("same plaintext every time");
        let mut nonces = HashSet::new();
        let header = 2 + ring.active_id().len();
        for _ in 0..10_000 {
            let blob = ring.seal(&s, "aad").expect("seal");
            nonces.insert(blob[header..header + NONCE_LEN].to_vec());
        }
        assert_eq!(nonces.len(), 10_000);
    }

    #[test]
    fn flipping_any_bit_fails_without_panicking() {
        let (ring, _) = Keyring::generate();
        let a = workspace_aad();
        let blob = ring.seal(&secret(CANARY), &a).expect("seal");
        let header = 2 + ring.active_id().len();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                let err = ring.open(&bad, &a).expect_err("tampered blob opened");
                if i < header {
                    // A flipped header byte may also name a key id that does not exist.
                    assert!(
                        matches!(err, VaultError::Malformed | VaultError::UnknownKeyId(_)),
                        "byte {i} bit {bit}: {err:?}"
                    );
                } else {
                    assert_eq!(err, VaultError::Unavailable, "byte {i} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn truncated_extended_and_garbage_blobs_are_rejected() {
        let (ring, _) = Keyring::generate();
        let blob = ring.seal(&secret(CANARY), "a").expect("seal");
        for len in 0..blob.len() {
            assert!(
                ring.open(&blob[..len], "a").is_err(),
                "prefix of {len} bytes"
            );
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(ring.open(&longer, "a").err(), Some(VaultError::Unavailable));
        assert_eq!(ring.open(&[], "a").err(), Some(VaultError::Malformed));
        assert_eq!(ring.open(&[2; 64], "a").err(), Some(VaultError::Malformed));
        // Header with an invalid id (empty, or non-id characters).
        let mut empty_id = vec![1, 0];
        empty_id.extend_from_slice(&[0; 40]);
        assert_eq!(ring.open(&empty_id, "a").err(), Some(VaultError::Malformed));
        let mut odd_id = vec![1, 2, b'v', b'|'];
        odd_id.extend_from_slice(&[0; 40]);
        assert_eq!(ring.open(&odd_id, "a").err(), Some(VaultError::Malformed));
        // Pseudo-random garbage of every small length.
        let mut x: u32 = 0x1234_5678;
        for len in 0..200 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x.to_le_bytes()[0]
                })
                .collect();
            assert!(ring.open(&junk, "a").is_err());
            let _ = key_id_of(&junk);
        }
    }

    #[test]
    fn blob_moved_to_another_record_does_not_open() {
        let (ring, _) = Keyring::generate();
        let original = aad(Scope::Workspace, Some("ws-1"), "openai", "key-1");
        let blob = ring.seal(&secret(CANARY), &original).expect("seal");
        let elsewhere = [
            aad(Scope::Workspace, Some("ws-1"), "openai", "key-2"),
            aad(Scope::Workspace, Some("ws-1"), "anthropic", "key-1"),
            aad(Scope::Workspace, Some("ws-2"), "openai", "key-1"),
            aad(Scope::Global, None, "openai", "key-1"),
            aad(Scope::Global, Some("ws-1"), "openai", "key-1"),
            String::new(),
        ];
        for other in &elsewhere {
            assert_eq!(
                ring.open(&blob, other).err(),
                Some(VaultError::Unavailable),
                "{other}"
            );
        }
        assert!(ring.open(&blob, &original).is_ok());
    }

    #[test]
    fn blob_from_another_keyring_with_the_same_id_is_unavailable() {
        let (a, _) = Keyring::generate();
        let (b, _) = Keyring::generate();
        let blob = a.seal(&secret(CANARY), "x").expect("seal");
        assert_eq!(b.open(&blob, "x").err(), Some(VaultError::Unavailable));
    }

    #[test]
    fn rotation_keeps_old_blobs_open_and_reseals_under_the_new_key() {
        let v1 = b64([1; 32]);
        let v2 = b64([2; 32]);
        let old_ring = ring(&format!("v1:{v1}"));
        let a = workspace_aad();
        let old_blob = old_ring.seal(&secret(CANARY), &a).expect("seal");

        let new_ring = ring(&format!("v2:{v2},v1:{v1}"));
        assert_eq!(new_ring.active_id(), "v2");
        assert_eq!(key_id_of(&old_blob), Some("v1"));
        assert!(new_ring.needs_reseal(&old_blob));
        let opened = new_ring.open(&old_blob, &a).expect("old blob opens");
        assert_eq!(opened.expose_secret(), CANARY);

        let resealed = new_ring.seal(&opened, &a).expect("reseal");
        assert_eq!(key_id_of(&resealed), Some("v2"));
        assert!(!new_ring.needs_reseal(&resealed));
        assert_eq!(
            new_ring.open(&resealed, &a).expect("open").expose_secret(),
            CANARY
        );
        // The old ring cannot read blobs of a key it does not have.
        assert_eq!(
            old_ring.open(&resealed, &a).err(),
            Some(VaultError::UnknownKeyId("v2".to_owned()))
        );
        // After v1 is retired, old blobs report which key they need.
        let v2_only = ring(&format!("v2:{v2}"));
        assert_eq!(
            v2_only.open(&old_blob, &a).err(),
            Some(VaultError::UnknownKeyId("v1".to_owned()))
        );
    }

    #[test]
    fn key_id_of_rejects_malformed_blobs() {
        assert_eq!(key_id_of(&[]), None);
        assert_eq!(key_id_of(&[1, 2, b'v', b'1']), None);
        assert_eq!(key_id_of(&[9, 2, b'v', b'1']), None);
        let mut ok = vec![1, 2, b'v', b'1'];
        ok.extend_from_slice(&[0; NONCE_LEN + TAG_LEN]);
        assert_eq!(key_id_of(&ok), Some("v1"));
    }

    #[test]
    fn parse_accepts_whitespace_and_keeps_order() {
        let spec = format!("  v2 : {} ,\n v1:{}  ", b64([2; 32]), b64([1; 32]));
        let r = ring(&spec);
        assert_eq!(r.active_id(), "v2");
        assert_eq!(r.ids().collect::<Vec<_>>(), ["v2", "v1"]);
    }

    #[test]
    fn parse_accepts_every_allowed_id_character() {
        let id = "Az09_-zZ9aaaaaaa";
        assert_eq!(id.len(), 16);
        let r = ring(&format!("{id}:{}", b64([5; 32])));
        assert_eq!(r.active_id(), id);
    }

    #[test]
    fn parse_reports_every_error() {
        let good = b64([7; 32]);
        let cases: Vec<(String, KeyringError)> = vec![
            (String::new(), KeyringError::Empty),
            ("  \n ".into(), KeyringError::Empty),
            (good.clone(), KeyringError::MalformedEntry { position: 1 }),
            (
                format!("v1:{good},"),
                KeyringError::MalformedEntry { position: 2 },
            ),
            ("v1:".into(), KeyringError::MalformedEntry { position: 1 }),
            (format!(":{good}"), KeyringError::BadId { position: 1 }),
            (
                format!("v1:{good},v 2:{good}"),
                KeyringError::BadId { position: 2 },
            ),
            (format!("v.1:{good}"), KeyringError::BadId { position: 1 }),
            (
                format!("abcdefghijklmnopq:{good}"),
                KeyringError::BadId { position: 1 },
            ),
            (format!("vé:{good}"), KeyringError::BadId { position: 1 }),
            (
                "v1:not base64!!".into(),
                KeyringError::BadBase64 { id: "v1".into() },
            ),
            (
                format!("v1:{}", good.replace('=', "")),
                KeyringError::BadBase64 { id: "v1".into() },
            ),
            (
                format!("v1:{}", STANDARD.encode([1u8; 16])),
                KeyringError::WrongLength {
                    id: "v1".into(),
                    len: 16,
                },
            ),
            (
                format!("v1:{}", STANDARD.encode([1u8; 33])),
                KeyringError::WrongLength {
                    id: "v1".into(),
                    len: 33,
                },
            ),
            (
                format!("v1:{}", b64([0; 32])),
                KeyringError::AllZero { id: "v1".into() },
            ),
            (
                format!("v1:{good},v2:{},v1:{good}", b64([8; 32])),
                KeyringError::DuplicateId { id: "v1".into() },
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(Keyring::parse(&spec).err(), Some(expected), "spec {spec:?}");
        }
    }

    #[test]
    fn parse_errors_read_as_reasons() {
        let err = Keyring::parse("v1:AAE=,oops").expect_err("too short");
        assert_eq!(
            err.to_string(),
            "key `v1` decodes to 2 bytes; it must be exactly 32 bytes"
        );
        let err = Keyring::parse(&format!("v1:{}, oops", b64([1; 32]))).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "entry 2 is malformed: expected `<id>:<base64 key>`"
        );
    }

    #[test]
    fn parse_errors_never_show_key_material() {
        // A key-shaped value in each broken position; its text must not surface.
        let material = b64([0x5a; 32]);
        let specs = [
            material.clone(),
            format!("{material}:{material}"),
            format!("v1:{material}x"),
            format!("v1:{}", &material[..20]),
            format!("v1:{material},v1:{material}"),
            format!("v1:{material},{material}"),
        ];
        for spec in specs {
            let err = Keyring::parse(&spec).expect_err("should fail");
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains(&material[..12]), "{shown}");
            }
        }
    }

    #[test]
    fn generated_keyring_round_trips_through_its_spec() {
        let (generated, spec) = Keyring::generate();
        assert_eq!(generated.active_id(), "v1");
        let parsed = ring(&spec);
        let blob = generated.seal(&secret(CANARY), "a").expect("seal");
        assert_eq!(
            parsed.open(&blob, "a").expect("open").expose_secret(),
            CANARY
        );
        let (_, other) = Keyring::generate();
        assert_ne!(spec, other);
    }

    #[test]
    fn debug_prints_ids_only() {
        let material = b64([0x42; 32]);
        let r = ring(&format!("v2:{material},v1:{}", b64([1; 32])));
        let shown = format!("{r:?}");
        assert_eq!(shown, r#"Keyring { ids: ["v2", "v1"], keys: [REDACTED] }"#);
        assert!(!format!("{r:#?}").contains(&material[..8]));
    }

    #[test]
    fn canary_never_appears_in_errors_or_debug() {
        let (ring, _) = Keyring::generate();
        let s = secret(CANARY);
        let blob = ring.seal(&s, "right").expect("seal");
        let mut errors = vec![
            ring.open(&blob, "wrong").expect_err("wrong aad"),
            ring.open(&blob[..10], "right").expect_err("truncated"),
            VaultError::UnknownKeyId("v9".into()),
            VaultError::SealFailed,
        ];
        let mut flipped = blob.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        errors.push(ring.open(&flipped, "right").expect_err("flipped"));
        for e in &errors {
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains("CANARY"), "{shown}");
            }
        }
        assert_eq!(VaultError::Unavailable.to_string(), "key unavailable");
        assert!(!format!("{s:?}").contains("CANARY"));
        assert!(!format!("{ring:?}").contains("CANARY"));
        let opened = ring.open(&blob, "right").expect("open");
        assert!(!format!("{opened:?}").contains("CANARY"));
    }

    #[test]
    fn fingerprint_is_stable_per_secret_and_keyed_by_the_active_key() {
        let r1 = ring(&format!("v1:{}", b64([1; 32])));
        let r1_again = ring(&format!("v1:{}", b64([1; 32])));
        let r2 = ring(&format!("v2:{},v1:{}", b64([2; 32]), b64([1; 32])));
        let a = r1.fingerprint(&secret(CANARY));
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(a, r1.fingerprint(&secret(CANARY)));
        assert_eq!(a, r1_again.fingerprint(&secret(CANARY)));
        assert_ne!(a, r1.fingerprint(&secret("sk-proj-other")));
        assert_ne!(a, r2.fingerprint(&secret(CANARY)));
        assert!(!a.contains("CANARY"));
    }

    #[test]
    fn fingerprint_matches_hmac_of_derived_key() {
        let r = ring(&format!("v1:{}", b64([9; 32])));
        let derived = Sha256::new()
            .chain_update(shown::FINGERPRINT_CONTEXT)
            .chain_update([9u8; 32])
            .finalize();
        let mut mac = Hmac::<Sha256>::new_from_slice(&derived).expect("any length");
        mac.update(b"abc");
        let expected: String = mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r.fingerprint(&secret("abc")), expected);
    }

    #[test]
    fn mask_uses_longest_known_prefix_and_last_four() {
        let openai = ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"];
        assert_eq!(
            mask("sk-proj-abcdefghijklmnop7f3a", &openai),
            "sk-proj-…7f3a"
        );
        // Order of the prefix list does not matter.
        assert_eq!(
            mask("sk-proj-abcdefghijklmnop7f3a", &["sk-", "sk-proj-"]),
            "sk-proj-…7f3a"
        );
        assert_eq!(mask("sk-abcdefghijklmnop1234", &openai), "sk-…1234");
        assert_eq!(mask("AIzaSyAbcdefghijklmn9876", &openai), "…9876");
        assert_eq!(mask("AIzaSyAbcdefghijklmn9876", &[]), "…9876");
        assert_eq!(mask("abcdefghijkl", &[]), "…ijkl");
    }

    #[test]
    fn mask_never_reveals_much_of_a_short_key() {
        assert_eq!(mask("", &[]), "…");
        assert_eq!(mask("a", &[]), "…");
        assert_eq!(mask("abcde", &[]), "…e");
        assert_eq!(mask("abcdef", &[]), "…ef");
        assert_eq!(mask("sk-abcdefgh", &["sk-"]), "…gh");
        for len in 0..40 {
            let s: String = "x".repeat(len);
            let shown = mask(&s, &[]).chars().filter(|&c| c == 'x').count();
            assert!(shown * 3 <= len.max(1) || len >= 12, "len {len}");
            assert!(shown <= 4);
        }
    }

    #[test]
    fn mask_drops_the_prefix_when_too_little_would_stay_hidden() {
        // 8-char prefix + 4 shown leaves only 2 hidden: show the tail only.
        assert_eq!(mask("sk-proj-ab1234", &["sk-proj-"]), "…1234");
        // 8 hidden characters: prefix allowed.
        assert_eq!(mask("sk-proj-abcdefgh1234", &["sk-proj-"]), "sk-proj-…1234");
    }

    #[test]
    fn mask_is_char_boundary_safe() {
        assert_eq!(mask("ключ-секретный-äöü€", &[]), "…äöü€");
        // 12 characters: a 1-character prefix would leave only 7 hidden.
        assert_eq!(mask(&"🔑".repeat(12), &["🔑"]), "…🔑🔑🔑🔑");
        assert_eq!(mask(&"🔑".repeat(13), &["🔑"]), "🔑…🔑🔑🔑🔑");
        assert_eq!(mask("ééééé", &[]), "…é");
        assert_eq!(mask("sk-ééééééééééééé", &["sk-"]), "sk-…éééé");
    }
}

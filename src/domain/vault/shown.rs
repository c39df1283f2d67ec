//! A secret shown without being shown: its fingerprint (the same key entered twice) and
//! its mask (`sk-proj-…7f3a`).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{ExposeSecret, Keyring, SecretString};

/// Domain separation for the fingerprint key, so it never equals the sealing key.
pub(super) const FINGERPRINT_CONTEXT: &[u8] = b"keyhold/fingerprint/v1|";

impl Keyring {
    /// Fingerprint of a secret: hex of the first 16 bytes of HMAC-SHA256 keyed with a key
    /// derived from the ACTIVE master key. Spots the same key entered twice without
    /// decrypting; fingerprints change when the active master key changes.
    pub fn fingerprint(&self, secret: &SecretString) -> String {
        // HMAC zero-pads keys shorter than its 64-byte block, so this equals keying with
        // the 32-byte derived key itself.
        let mut mac_key = Zeroizing::new([0u8; 64]);
        if let Some(master) = self.active() {
            let mut derive = Sha256::new();
            derive.update(FINGERPRINT_CONTEXT);
            derive.update(&master.bytes[..]);
            let mut derived = derive.finalize();
            mac_key[..derived.len()].copy_from_slice(&derived);
            derived.zeroize();
        }
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(
            hmac::digest::generic_array::GenericArray::from_slice(&mac_key[..]),
        );
        mac.update(secret.expose_secret().as_bytes());
        let tag = mac.finalize().into_bytes();
        tag.iter()
            .take(16)
            .fold(String::with_capacity(32), |mut s, b| {
                s.push(hex_digit(b >> 4));
                s.push(hex_digit(b & 0x0f));
                s
            })
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// Display mask for a stored key: the longest matching known prefix, `…`, and the last
/// four characters (`sk-proj-…7f3a`); `…` and the last four when no prefix matches.
///
/// Short secrets (under 12 characters) show only `…` and at most the last two characters,
/// never more than a third of the secret. The prefix is dropped when fewer than eight
/// characters would stay hidden. Works on characters, so any UTF-8 input is safe.
pub fn mask(secret: &str, known_prefixes: &[&str]) -> String {
    const SHORT: usize = 12;
    const MIN_HIDDEN: usize = 8;
    let total = secret.chars().count();
    if total < SHORT {
        let shown = (total / 3).min(2);
        return format!("…{}", last_chars(secret, shown));
    }
    let prefix = known_prefixes
        .iter()
        .copied()
        .filter(|p| !p.is_empty() && secret.starts_with(p))
        .max_by_key(|p| p.chars().count())
        .filter(|p| total >= p.chars().count() + 4 + MIN_HIDDEN)
        .unwrap_or("");
    format!("{prefix}…{}", last_chars(secret, 4))
}

/// The last `n` characters of `s` (all of it if shorter).
fn last_chars(s: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    match s.char_indices().rev().nth(n - 1) {
        Some((start, _)) => &s[start..],
        None => s,
    }
}

//! Keys for MFA secrets at rest, derived from the install's secret key with HKDF-SHA256 (one
//! key per purpose, so a leak of one use teaches nothing about the others):
//!
//! - TOTP keys are sealed with ChaCha20-Poly1305 under a fresh random nonce per row; the owner's
//!   user id is the associated data, so a sealed key copied onto another user's row fails to
//!   open instead of granting that user the device.
//! - Static tokens are stored as HMAC-SHA256 under their own key (see `static_tokens`).
//! - Emailed one-time codes likewise, under a third key, bound to their device (see `email`).
//!
//! Changing the install's secret key makes existing TOTP devices unusable (they fail to open
//! and are treated as not matching), exactly like authentik's signed data.

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    ChaCha20Poly1305, Key, Nonce,
};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use thiserror::Error;

/// Marks the sealing scheme, so a future change of algorithm can tell old rows apart.
const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
const HKDF_SALT: &[u8] = b"keyflow mfa";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    /// Wrong key, wrong associated data, or the ciphertext was changed.
    #[error("sealed value failed authentication")]
    Unauthentic,
    #[error("encryption failed")]
    Encrypt,
}

/// The derived MFA keys. `Debug` never prints them.
#[derive(Clone)]
pub struct MfaKeys {
    seal: [u8; 32],
    token_mac: [u8; 32],
    email_code_mac: [u8; 32],
}

impl std::fmt::Debug for MfaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKeys(<redacted>)")
    }
}

impl Default for MfaKeys {
    /// Random keys: for tests and in-memory set-ups only (nothing sealed survives a restart).
    fn default() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::derive(&hex::encode(secret))
    }
}

fn expand(hkdf: &Hkdf<Sha256>, info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so expansion cannot fail.
    if hkdf.expand(info, &mut out).is_err() {
        out = [0u8; 32];
    }
    out
}

impl MfaKeys {
    pub fn derive(install_secret: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), install_secret.as_bytes());
        Self {
            seal: expand(&hkdf, b"totp device secret v1"),
            token_mac: expand(&hkdf, b"static token v1"),
            email_code_mac: expand(&hkdf, b"email code v1"),
        }
    }

    /// Encrypts `plaintext`, bound to `associated` (which must be given again to open it).
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<String, CryptoError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.seal));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str, associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let encoded = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(CryptoError::Malformed)?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| CryptoError::Malformed)?;
        if raw.len() < NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.seal));
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map_err(|_| CryptoError::Unauthentic)
    }

    /// The stored form of a static token: hex HMAC-SHA256 under the token key.
    pub fn token_hash(&self, token: &str) -> String {
        hmac_hex(&self.token_mac, token.as_bytes())
    }

    /// The stored form of a sent code (email, SMS): hex HMAC-SHA256 of
    /// `<kind>:<device id>:<code>` under the code key. Kind and device id are part of the
    /// input, so a hash copied onto another device's row does not match there.
    pub fn code_hash(&self, kind: &str, device_id: i32, code: &str) -> String {
        hmac_hex(
            &self.email_code_mac,
            format!("{kind}:{device_id}:{code}").as_bytes(),
        )
    }
}

fn hmac_hex(key: &[u8; 32], input: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(input);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip() {
        let keys = MfaKeys::derive("install secret");
        let sealed = keys.seal(b"twenty bytes secret!", b"user:7").unwrap();
        assert!(!sealed.contains("twenty"));
        assert_eq!(
            keys.open(&sealed, b"user:7").unwrap(),
            b"twenty bytes secret!"
        );
    }

    #[test]
    fn each_seal_uses_a_new_nonce() {
        let keys = MfaKeys::derive("install secret");
        assert_ne!(
            keys.seal(b"x", b"a").unwrap(),
            keys.seal(b"x", b"a").unwrap()
        );
    }

    #[test]
    fn tampering_is_detected() {
        let keys = MfaKeys::derive("install secret");
        let sealed = keys.seal(b"secret", b"user:7").unwrap();
        let mut raw = STANDARD.decode(&sealed[SEALED_PREFIX.len()..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{SEALED_PREFIX}{}", STANDARD.encode(raw));
        assert_eq!(
            keys.open(&tampered, b"user:7"),
            Err(CryptoError::Unauthentic)
        );
        // Moved to another user's row.
        assert_eq!(keys.open(&sealed, b"user:8"), Err(CryptoError::Unauthentic));
        // Another install (different secret key).
        let other = MfaKeys::derive("another secret");
        assert_eq!(
            other.open(&sealed, b"user:7"),
            Err(CryptoError::Unauthentic)
        );
        assert_eq!(keys.open("garbage", b"user:7"), Err(CryptoError::Malformed));
        assert_eq!(keys.open("v1:AAAA", b"user:7"), Err(CryptoError::Malformed));
    }

    #[test]
    fn token_hashes_are_keyed() {
        let keys = MfaKeys::derive("install secret");
        let hash = keys.token_hash("abcDEF123456");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, keys.token_hash("abcDEF123456"));
        assert_ne!(hash, keys.token_hash("abcDEF123457"));
        assert_ne!(hash, MfaKeys::derive("other").token_hash("abcDEF123456"));
        assert!(!format!("{keys:?}").contains(&hex::encode(keys.seal)));
    }

    #[test]
    fn code_hashes_are_keyed_and_bound_to_the_device() {
        let keys = MfaKeys::derive("install secret");
        let hash = keys.code_hash("email", 7, "123456");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, keys.code_hash("email", 7, "123456"));
        assert_ne!(hash, keys.code_hash("email", 8, "123456"));
        assert_ne!(hash, keys.code_hash("sms", 7, "123456"));
        assert_ne!(hash, keys.code_hash("email", 7, "123457"));
        // Not the static-token hash of the same text either (separate keys).
        assert_ne!(hash, keys.token_hash("email:7:123456"));
        assert_ne!(
            hash,
            MfaKeys::derive("other").code_hash("email", 7, "123456")
        );
    }
}

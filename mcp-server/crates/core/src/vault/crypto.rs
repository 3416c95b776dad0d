//! Envelope encryption, the only place that touches AES-GCM.
//!
//! - The master key (32 bytes, from the operator) seals each organization's data key.
//! - An organization's data key seals its provider keys.
//! - Every seal uses AES-256-GCM with a fresh random 96-bit nonce and associated data naming
//!   exactly where the blob belongs (organization, scope, environment, provider, key id,
//!   data-key version), so a blob copied to any other row, project, provider or organization
//!   fails to open — and that failure is an error, never a fallback to another key.
//!
//! Blob layout (versioned so the format can evolve):
//! `[format 0x01][nonce: 12][ciphertext + 16-byte tag]`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A crypto failure. It carries no key material and no plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed blob is malformed ({0})")]
    Malformed(&'static str),
    #[error("sealed blob does not open with this key and context (tampered, moved or wrong key)")]
    Open,
    #[error("decrypted secret is not valid UTF-8")]
    Utf8,
}

impl From<CryptoError> for converra_base::Error {
    fn from(e: CryptoError) -> Self {
        converra_base::Error::Internal(converra_base::InternalError::Crypto(Box::new(e)))
    }
}

/// A 256-bit AES key that never prints and is zeroed on drop.
pub struct Key(SecretBox<[u8; 32]>);

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }

    /// The raw bytes: for sealing a data key under a master key and for writing a new key
    /// file. Nothing else should need them.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.0.expose_secret())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

/// Seals `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    blob.push(FORMAT_V1);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    blob
}

/// Opens a blob made by [`seal`] with the same key and associated data.
pub fn open(key: &Key, aad: &[u8], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (&format, rest) = blob.split_first().ok_or(CryptoError::Malformed("empty"))?;
    if format != FORMAT_V1 {
        return Err(CryptoError::Malformed("unknown format version"));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("truncated"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    key.cipher().decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad }).map_err(|_| CryptoError::Open)
}

/// The context a provider-key ciphertext is bound to.
pub struct SecretContext<'a> {
    pub org_id: &'a str,
    /// `organization` or the project id.
    pub scope: &'a str,
    pub environment: &'a str,
    pub provider: &'a str,
    pub key_id: &'a str,
    pub data_key_version: u32,
}

impl SecretContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let v = self.data_key_version.to_string();
        ["converra/provider-key/v1", self.org_id, self.scope, self.environment, self.provider, self.key_id, &v]
            .join("\0")
            .into_bytes()
    }
}

pub fn seal_secret(data_key: &Key, ctx: &SecretContext<'_>, secret: &SecretString) -> Vec<u8> {
    seal(data_key, &ctx.aad(), secret.expose_secret().as_bytes())
}

pub fn open_secret(data_key: &Key, ctx: &SecretContext<'_>, blob: &[u8]) -> Result<SecretString, CryptoError> {
    let bytes = open(data_key, &ctx.aad(), blob)?;
    String::from_utf8(bytes).map(SecretString::from).map_err(|_| CryptoError::Utf8)
}

fn data_key_aad(org_id: &str, version: u32) -> Vec<u8> {
    ["converra/data-key/v1", org_id, &version.to_string()].join("\0").into_bytes()
}

pub fn wrap_data_key(master: &Key, org_id: &str, version: u32, data_key: &Key) -> Vec<u8> {
    seal(master, &data_key_aad(org_id, version), data_key.expose_bytes())
}

pub fn unwrap_data_key(master: &Key, org_id: &str, version: u32, wrapped: &[u8]) -> Result<Key, CryptoError> {
    let bytes = open(master, &data_key_aad(org_id, version), wrapped)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Malformed("data key is not 32 bytes"))?;
    Ok(Key::from_bytes(bytes))
}

/// A value sealed under a master key at setup, so a start with the wrong master key is refused
/// before it can write anything.
pub fn master_check(master: &Key, version: u32) -> Vec<u8> {
    seal(master, format!("converra/master-check/v{version}").as_bytes(), b"converra")
}

pub fn verify_master(master: &Key, version: u32, check: &[u8]) -> bool {
    open(master, format!("converra/master-check/v{version}").as_bytes(), check).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(org: &'a str, key_id: &'a str, provider: &'a str) -> SecretContext<'a> {
        SecretContext { org_id: org, scope: "organization", environment: "live", provider, key_id, data_key_version: 1 }
    }

    #[test]
    fn round_trip_and_binding() {
        let key = Key::random();
        let secret = SecretString::from("sk-proj-abcdef0123456789".to_owned());
        let blob = seal_secret(&key, &ctx("org_a", "pk_1", "openai"), &secret);
        let back = open_secret(&key, &ctx("org_a", "pk_1", "openai"), &blob).unwrap();
        assert_eq!(back.expose_secret(), secret.expose_secret());
        // Moved to another row, provider, organization, or opened with another key: refused.
        assert_eq!(open_secret(&key, &ctx("org_a", "pk_2", "openai"), &blob).unwrap_err(), CryptoError::Open);
        assert_eq!(open_secret(&key, &ctx("org_a", "pk_1", "deepseek"), &blob).unwrap_err(), CryptoError::Open);
        assert_eq!(open_secret(&key, &ctx("org_b", "pk_1", "openai"), &blob).unwrap_err(), CryptoError::Open);
        assert_eq!(open_secret(&Key::random(), &ctx("org_a", "pk_1", "openai"), &blob).unwrap_err(), CryptoError::Open);
    }

    #[test]
    fn flipped_bits_and_truncation_fail_closed() {
        let key = Key::random();
        let blob = seal(&key, b"ctx", b"secret");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(open(&key, b"ctx", &bad).is_err(), "bit flip at {i} accepted");
        }
        for len in 0..blob.len() {
            assert!(open(&key, b"ctx", &blob[..len]).is_err(), "truncation to {len} accepted");
        }
    }

    #[test]
    fn wrapped_data_keys_are_bound_to_org_and_version() {
        let master = Key::random();
        let dk = Key::random();
        let wrapped = wrap_data_key(&master, "org_a", 1, &dk);
        assert_eq!(unwrap_data_key(&master, "org_a", 1, &wrapped).unwrap().expose_bytes(), dk.expose_bytes());
        assert!(unwrap_data_key(&master, "org_b", 1, &wrapped).is_err());
        assert!(unwrap_data_key(&master, "org_a", 2, &wrapped).is_err());
        assert!(unwrap_data_key(&Key::random(), "org_a", 1, &wrapped).is_err());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = Key::from_bytes([0xAB; 32]);
        assert_eq!(format!("{key:?}"), "Key([REDACTED])");
    }

    #[test]
    fn nonces_do_not_repeat() {
        let key = Key::random();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let blob = seal(&key, b"", b"x");
            assert!(seen.insert(blob[1..13].to_vec()), "nonce repeated");
        }
    }

    // Property tests standing in for a fuzzer: the blob decoder never panics and fails closed.
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        #[test]
        fn blob_decoder_never_panics(blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let key = Key::from_bytes([7; 32]);
            proptest::prop_assert!(open(&key, b"aad", &blob).is_err());
        }

        #[test]
        fn a_real_blob_fails_closed_on_any_mutation(
            msg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            at in proptest::prelude::any::<usize>(),
            flip in 1u8..=255,
        ) {
            let key = Key::random();
            let blob = seal(&key, b"ctx", &msg);
            proptest::prop_assert_eq!(open(&key, b"ctx", &blob).unwrap(), msg);
            let mut bad = blob.clone();
            let at = at % bad.len();
            bad[at] ^= flip;
            proptest::prop_assert!(open(&key, b"ctx", &bad).is_err());
            proptest::prop_assert!(open(&key, b"ctx", &blob[..at]).is_err());
        }
    }
}

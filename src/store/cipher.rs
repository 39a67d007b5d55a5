//! Sealing secrets at rest: XChaCha20-Poly1305 with a key id for rotation.
//!
//! A sealed blob is `version (1 byte, = 1) ‖ key_id (1) ‖ nonce (24, random) ‖ ciphertext ‖ tag
//! (16)`. [`Cipher::seal`] always uses the current key; [`Cipher::open`] picks the key by the
//! blob's `key_id` among the current and the previous keys, so records sealed before a rotation
//! still open while their old key is listed in `storage.previous_keys`.
//!
//! The associated data (AAD) is not stored: the caller passes the same bytes to `seal` and
//! `open`, and uses them to bind a blob to its owner (e.g. `link-token/v1:<discord user id>`),
//! so a blob moved to another record fails to open.
//!
//! Invariants: key bytes live only in [`secrecy::SecretBox`]es (zeroized on drop) and are never
//! printed (`Debug` shows key ids only); opened plaintext is returned in a
//! [`Zeroizing`] buffer; every failure to open is the same opaque [`StoreError::Unseal`].
//!
//! Note: the AEAD and ChaCha state built for each call holds a transient copy of the key on the
//! stack; it is zeroized only if `chacha20poly1305`'s `zeroize` feature is enabled.

use std::sync::Arc;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};

use super::{StoreError, StoreResult};
use crate::config::{EncryptionKey, StorageConfig};

/// The only blob format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the XChaCha20 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of `version ‖ key_id ‖ nonce`.
pub const HEADER_LEN: usize = 2 + NONCE_LEN;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// The shortest valid blob (an empty plaintext).
pub const MIN_BLOB_LEN: usize = HEADER_LEN + TAG_LEN;

/// One usable key (shared with the configuration, not copied).
#[derive(Clone)]
struct KeySlot {
    id: u8,
    bytes: Arc<SecretBox<[u8; 32]>>,
}

impl KeySlot {
    fn aead(&self) -> XChaCha20Poly1305 {
        let key: &Key = self.bytes.expose_secret().into();
        XChaCha20Poly1305::new(key)
    }
}

/// Seals and opens records with the configured keys.
#[derive(Clone)]
pub struct Cipher {
    /// `keys[0]` is the current key; the rest are previous keys, in the configured order.
    keys: Vec<KeySlot>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let previous: Vec<u8> = self.keys.iter().skip(1).map(|k| k.id).collect();
        f.debug_struct("Cipher")
            .field("current_key_id", &self.current_key_id())
            .field("previous_key_ids", &previous)
            .field("keys", &"[REDACTED]")
            .finish()
    }
}

impl Cipher {
    /// A cipher that seals with `current` and also opens records sealed with any of `previous`.
    pub fn new(current: &EncryptionKey, previous: &[EncryptionKey]) -> Self {
        let slot = |k: &EncryptionKey| KeySlot {
            id: k.id,
            bytes: Arc::clone(&k.bytes),
        };
        let mut keys = Vec::with_capacity(1 + previous.len());
        keys.push(slot(current));
        keys.extend(previous.iter().map(slot));
        Self { keys }
    }

    /// The cipher for `storage.encryption_key` and `storage.previous_keys`.
    pub fn from_config(config: &StorageConfig) -> Self {
        Self::new(&config.encryption_key, &config.previous_keys)
    }

    /// A cipher with a fixed, publicly known key (id 1). For tests only: anything sealed with it
    /// is readable by anyone who has this source.
    pub fn for_testing() -> Self {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            // Arbitrary but fixed.
            *b = (i as u8).wrapping_mul(7).wrapping_add(0x2a);
        }
        Self {
            keys: vec![KeySlot {
                id: 1,
                bytes: Arc::new(SecretBox::new(Box::new(bytes))),
            }],
        }
    }

    /// The id of the key new blobs are sealed with.
    pub fn current_key_id(&self) -> u8 {
        self.keys.first().map(|k| k.id).unwrap_or_default()
    }

    /// The key id a blob claims to be sealed with, if it is long enough to have one.
    pub fn key_id_of(blob: &[u8]) -> Option<u8> {
        blob.get(1).copied()
    }

    /// Seals `plaintext` with the current key, bound to `aad`. Two calls with the same input
    /// give different blobs (fresh random nonce).
    ///
    /// Fails only if the system random number generator fails or the plaintext exceeds
    /// XChaCha20-Poly1305's limit (256 GiB).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> StoreResult<Vec<u8>> {
        let Some(key) = self.keys.first() else {
            return Err(StoreError::Io("no encryption key configured".into()));
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.try_fill_bytes(&mut nonce).map_err(|e| {
            StoreError::Io(format!("the system random number generator failed: {e}"))
        })?;
        let mut blob = Vec::with_capacity(MIN_BLOB_LEN + plaintext.len());
        blob.push(FORMAT_VERSION);
        blob.push(key.id);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(plaintext);
        let tag = key
            .aead()
            .encrypt_inout_detached(&XNonce::from(nonce), aad, (&mut blob[HEADER_LEN..]).into())
            .map_err(|_| StoreError::Corrupt("record too large to seal".into()))?;
        blob.extend_from_slice(&tag);
        Ok(blob)
    }

    /// Opens a blob sealed by [`Cipher::seal`] with the same `aad`. Any problem (too short,
    /// unknown format version or key id, wrong key, wrong AAD, any altered byte) is
    /// [`StoreError::Unseal`].
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> StoreResult<Zeroizing<Vec<u8>>> {
        if blob.len() < MIN_BLOB_LEN {
            tracing::debug!(len = blob.len(), "sealed blob too short");
            return Err(StoreError::Unseal);
        }
        let (header, rest) = blob.split_at(HEADER_LEN);
        if header[0] != FORMAT_VERSION {
            tracing::debug!(
                version = header[0],
                "sealed blob has an unknown format version"
            );
            return Err(StoreError::Unseal);
        }
        let key_id = header[1];
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&header[2..]);
        let nonce = XNonce::from(nonce);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut tag_arr = [0u8; TAG_LEN];
        tag_arr.copy_from_slice(tag);
        let tag = chacha20poly1305::Tag::from(tag_arr);

        let mut tried = false;
        for key in self.keys.iter().filter(|k| k.id == key_id) {
            tried = true;
            let mut buf = Zeroizing::new(ciphertext.to_vec());
            if key
                .aead()
                .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
                .is_ok()
            {
                return Ok(buf);
            }
        }
        if tried {
            tracing::debug!(key_id, "sealed blob failed authentication");
        } else {
            tracing::debug!(key_id, "sealed blob names a key id that is not configured");
        }
        Err(StoreError::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: u8, fill: u8) -> EncryptionKey {
        EncryptionKey {
            id,
            bytes: Arc::new(SecretBox::new(Box::new([fill; 32]))),
        }
    }

    fn is_unseal<T>(r: StoreResult<T>) -> bool {
        matches!(r, Err(StoreError::Unseal))
    }

    #[test]
    fn round_trip() {
        let c = Cipher::for_testing();
        let blob = c.seal(b"aad", b"hello token").unwrap();
        assert_eq!(blob.len(), MIN_BLOB_LEN + b"hello token".len());
        assert_eq!(blob[0], FORMAT_VERSION);
        assert_eq!(blob[1], 1);
        assert!(!blob.windows(11).any(|w| w == b"hello token"));
        assert_eq!(c.open(b"aad", &blob).unwrap().as_slice(), b"hello token");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let c = Cipher::for_testing();
        let blob = c.seal(b"a", b"").unwrap();
        assert_eq!(blob.len(), MIN_BLOB_LEN);
        assert!(c.open(b"a", &blob).unwrap().is_empty());
    }

    #[test]
    fn same_plaintext_gives_different_blobs() {
        let c = Cipher::for_testing();
        let a = c.seal(b"aad", b"same").unwrap();
        let b = c.seal(b"aad", b"same").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[2..HEADER_LEN], b[2..HEADER_LEN], "nonces must differ");
        assert_eq!(c.open(b"aad", &a).unwrap().as_slice(), b"same");
        assert_eq!(c.open(b"aad", &b).unwrap().as_slice(), b"same");
    }

    #[test]
    fn wrong_key_fails() {
        let a = Cipher::new(&key(1, 0x11), &[]);
        let b = Cipher::new(&key(1, 0x22), &[]);
        let blob = a.seal(b"aad", b"secret").unwrap();
        assert!(is_unseal(b.open(b"aad", &blob)));
        assert!(a.open(b"aad", &blob).is_ok());
    }

    #[test]
    fn truncated_input_fails() {
        let c = Cipher::for_testing();
        let blob = c.seal(b"aad", b"secret").unwrap();
        for len in 0..blob.len() {
            assert!(
                is_unseal(c.open(b"aad", &blob[..len])),
                "prefix of {len} bytes opened"
            );
        }
        assert!(is_unseal(c.open(b"aad", &blob[..HEADER_LEN - 1])));
        assert!(is_unseal(c.open(b"aad", &[])));
    }

    #[test]
    fn every_flipped_byte_fails() {
        let c = Cipher::for_testing();
        let blob = c.seal(b"aad", b"tok").unwrap();
        for i in 0..blob.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = blob.clone();
                bad[i] ^= bit;
                assert!(
                    is_unseal(c.open(b"aad", &bad)),
                    "flip {bit:#x} at byte {i} went unnoticed"
                );
            }
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(is_unseal(c.open(b"aad", &longer)));
    }

    #[test]
    fn aad_swap_fails() {
        let c = Cipher::for_testing();
        let blob = c.seal(b"link-token/v1:1", b"token of user 1").unwrap();
        assert!(is_unseal(c.open(b"link-token/v1:2", &blob)));
        assert!(is_unseal(c.open(b"", &blob)));
        assert!(c.open(b"link-token/v1:1", &blob).is_ok());
    }

    #[test]
    fn unknown_key_id_fails() {
        let c = Cipher::new(&key(1, 0x11), &[]);
        let mut blob = c.seal(b"aad", b"secret").unwrap();
        blob[1] = 9;
        assert!(is_unseal(c.open(b"aad", &blob)));
        // A blob from a cipher whose key id is unknown here.
        let other = Cipher::new(&key(5, 0x11), &[]);
        let blob = other.seal(b"aad", b"secret").unwrap();
        assert_eq!(Cipher::key_id_of(&blob), Some(5));
        assert!(is_unseal(c.open(b"aad", &blob)));
    }

    #[test]
    fn unknown_version_fails() {
        let c = Cipher::for_testing();
        let mut blob = c.seal(b"aad", b"secret").unwrap();
        blob[0] = 2;
        assert!(is_unseal(c.open(b"aad", &blob)));
    }

    #[test]
    fn rotation_opens_blobs_sealed_with_a_listed_previous_key() {
        let old = Cipher::new(&key(1, 0x11), &[]);
        let old_blob = old.seal(b"aad", b"sealed before rotation").unwrap();

        let rotated = Cipher::new(&key(2, 0x22), &[key(1, 0x11)]);
        assert_eq!(
            rotated.open(b"aad", &old_blob).unwrap().as_slice(),
            b"sealed before rotation"
        );
        // New blobs use the current key ...
        let new_blob = rotated.seal(b"aad", b"new").unwrap();
        assert_eq!(Cipher::key_id_of(&new_blob), Some(2));
        // ... which the old cipher cannot open.
        assert!(is_unseal(old.open(b"aad", &new_blob)));

        // Without the previous key listed, the old blob no longer opens.
        let forgot = Cipher::new(&key(2, 0x22), &[]);
        assert!(is_unseal(forgot.open(b"aad", &old_blob)));
        // Listing a different key under the old id does not help.
        let wrong_old = Cipher::new(&key(2, 0x22), &[key(1, 0x33)]);
        assert!(is_unseal(wrong_old.open(b"aad", &old_blob)));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let c = Cipher::new(&key(3, 0xAB), &[key(1, 0xCD)]);
        let s = format!("{c:?}");
        assert!(s.contains("current_key_id: 3"), "{s}");
        assert!(s.contains("previous_key_ids: [1]"), "{s}");
        for needle in ["171", "0xab", "ab, ab", "205", "AB", "cd"] {
            assert!(!s.contains(needle), "{s} contains {needle}");
        }
        let t = format!("{:?}", Cipher::for_testing());
        assert!(t.contains("[REDACTED]"));
        assert!(!t.contains("42"), "{t}"); // first key byte of the testing key is 0x2a = 42
    }

    proptest! {
        #[test]
        fn proptest_round_trip(
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let c = Cipher::for_testing();
            let blob = c.seal(&aad, &plaintext).unwrap();
            prop_assert_eq!(blob.len(), MIN_BLOB_LEN + plaintext.len());
            let opened = c.open(&aad, &blob).unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
            let mut other_aad = aad.clone();
            other_aad.push(0);
            prop_assert!(is_unseal(c.open(&other_aad, &blob)));
        }
    }
}

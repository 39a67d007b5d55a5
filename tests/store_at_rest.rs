//! Secrets at rest: tokens, PKCE verifiers and draft text never reach the sled files in clear
//! (nor base64-encoded); a sealed record moved under another owner fails to open; a wrong key
//! is refused at open; key rotation keeps old records readable while the old key is listed.

use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use soe_bot::config::{EncryptionKey, StorageConfig};
use soe_bot::soe::{ServiceToken, UserToken};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{
    Draft, DraftContent, DraftState, Link, LinkStatus, PendingAuth, PendingConfirm, SledStore,
    Store, StoreError,
};

const TOKEN: &str = "soe_TEST_TOKEN_4f2a";
const CONFIRM_TOKEN: &str = "soe_CONFIRM_TOKEN_8d3e";
const SERVICE_TOKEN: &str = "soe_SERVICE_TOKEN_c0ffee";
const DRAFT_BODY: &str = "draft body CANARY 77";
/// Stored in clear on purpose: the positive control proving the scan sees record contents.
const CLEAR_NAME: &str = "CLEAR_NAME_CONTROL_5e1d";

fn verifier() -> String {
    let v = format!("verifier_CANARY_9b1c{}", "x".repeat(43 - 20));
    assert_eq!(v.len(), 43);
    v
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap()
}

fn hash(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn link(user: u64, token: &str) -> Link {
    Link {
        discord_user: user,
        soe_user_id: 42,
        soe_user_name: CLEAR_NAME.into(),
        soe_user_url: None,
        token: UserToken::new(SecretString::from(token)),
        scopes: vec!["write_access".into()],
        expires_at: None,
        linked_at: t0(),
        last_used_at: None,
        status: LinkStatus::Active,
    }
}

fn draft(user: u64, id: &str) -> Draft {
    Draft {
        id: id.into(),
        discord_user: user,
        guild_id: None,
        channel_id: None,
        team: None,
        content: DraftContent::Answer {
            question_id: 5,
            body: DRAFT_BODY.into(),
        },
        state: DraftState::Saved { last_error: None },
        post_after_link: false,
        source_message: None,
        created_at: t0(),
        expires_at: t0() + Duration::hours(24),
    }
}

fn key(id: u8) -> EncryptionKey {
    EncryptionKey::from_base64(id, &EncryptionKey::generate_base64()).unwrap()
}

fn config(path: &Path, current: &EncryptionKey, previous: &[EncryptionKey]) -> StorageConfig {
    StorageConfig {
        path: path.to_path_buf(),
        encryption_key: current.clone(),
        previous_keys: previous.to_vec(),
        cache_capacity_mb: 4,
    }
}

/// The base64 text of `secret` wherever it could sit inside a longer encoded value: for each
/// of the three byte alignments, the characters that depend only on the secret's own bytes
/// (this covers the plain encoding too), in the standard and the URL-safe alphabet.
fn base64_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut forms = Vec::new();
    for shift in 0..3usize {
        let mut shifted = vec![0u8; shift];
        shifted.extend_from_slice(secret);
        let enc = STANDARD_NO_PAD.encode(&shifted);
        let start = (shift * 8).div_ceil(6);
        let core = &enc[start..enc.len() - 3];
        assert!(
            core.len() >= 16,
            "secret too short for a meaningful base64 check"
        );
        forms.push(core.as_bytes().to_vec());
        forms.push(core.replace('+', "-").replace('/', "_").into_bytes());
    }
    forms
}

/// A store dropped a moment ago may hold sled's file lock while its background threads finish
/// (seconds on a loaded machine): reopening waits for it, up to 20 s.
fn reopen(db: &Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match SledStore::open_at(db, Cipher::for_testing(), 1 << 20) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
}

/// `sled::open` with the same wait, for reading and tampering with raw records.
fn raw_open(db: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match sled::open(db) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
}

#[test]
fn base64_forms_find_an_embedded_encoding() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    for prefix in ["", "a", "ab", "abc"] {
        let value = format!("{prefix}{TOKEN}!!");
        for encoded in [STANDARD.encode(&value), URL_SAFE_NO_PAD.encode(&value)] {
            assert!(
                base64_forms(TOKEN.as_bytes())
                    .iter()
                    .any(|f| contains(encoded.as_bytes(), f)),
                "missed {encoded}"
            );
        }
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn secrets_never_reach_the_files_in_clear_or_base64() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let store = SledStore::open_at(&db, Cipher::for_testing(), 1 << 20).unwrap();
        store.put_link(&link(1, TOKEN)).await.unwrap();
        store
            .put_pending_auth(
                hash("state"),
                &PendingAuth {
                    discord_user: 1,
                    discord_username: "alice".into(),
                    guild_id: None,
                    browser_hash: [7u8; 32],
                    verifier: SecretString::from(verifier()),
                    scopes: vec![],
                    created_at: t0(),
                    expires_at: t0() + Duration::minutes(10),
                },
            )
            .await
            .unwrap();
        store.put_draft(&draft(1, "d1")).await.unwrap();
        store
            .put_pending_confirm(
                hash("form"),
                &PendingConfirm {
                    link: link(2, CONFIRM_TOKEN),
                    discord_username: "bob".into(),
                    guild_id: None,
                    browser_hash: [7u8; 32],
                    verified: None,
                    expires_at: t0() + Duration::minutes(10),
                },
            )
            .await
            .unwrap();
        store
            .put_service_token(&ServiceToken::new(SecretString::from(SERVICE_TOKEN)))
            .await
            .unwrap();
        // The records are there and open with the key.
        assert!(store.get_link(1).await.unwrap().is_some());
        assert_eq!(
            store.get_draft(1, "d1").await.unwrap().unwrap(),
            draft(1, "d1")
        );
        assert!(store
            .peek_pending_confirm(hash("form"))
            .await
            .unwrap()
            .is_some());
        store.flush().await.unwrap();
    }

    let files = files_under(&db);
    assert!(!files.is_empty());
    let mut all = Vec::new();
    for f in &files {
        all.extend(std::fs::read(f).unwrap());
    }
    // Positive control: the scan does see record contents (a field stored in clear).
    assert!(
        contains(&all, CLEAR_NAME.as_bytes()),
        "the scan cannot see record contents"
    );

    let verifier = verifier();
    for secret in [
        TOKEN,
        CONFIRM_TOKEN,
        SERVICE_TOKEN,
        DRAFT_BODY,
        verifier.as_str(),
    ] {
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{secret:?} in clear in {}",
                f.display()
            );
            for form in base64_forms(secret.as_bytes()) {
                assert!(
                    !contains(&bytes, &form),
                    "{secret:?} as base64 {:?} in {}",
                    String::from_utf8_lossy(&form),
                    f.display()
                );
            }
        }
    }
    // Also distinctive fragments (a partial leak, e.g. a truncated token).
    for fragment in ["TEST_TOKEN_4f2a", "CANARY_9b1c", "CANARY 77", "c0ffee"] {
        assert!(
            !contains(&all, fragment.as_bytes()),
            "fragment {fragment:?} on disk"
        );
    }
}

#[tokio::test]
async fn a_sealed_record_moved_to_another_owner_fails_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let store = SledStore::open_at(&db, Cipher::for_testing(), 1 << 20).unwrap();
        store.put_link(&link(1, TOKEN)).await.unwrap();
        store.put_draft(&draft(1, "d1")).await.unwrap();
        store
            .put_pending_auth(
                hash("state-a"),
                &PendingAuth {
                    discord_user: 1,
                    discord_username: "alice".into(),
                    guild_id: None,
                    browser_hash: [7u8; 32],
                    verifier: SecretString::from(verifier()),
                    scopes: vec![],
                    created_at: t0(),
                    expires_at: t0() + Duration::minutes(10),
                },
            )
            .await
            .unwrap();
    }
    {
        // An attacker with write access to the files copies raw values under other keys.
        let raw = raw_open(&db);
        let links = raw.open_tree("links/v1").unwrap();
        let value = links.get(1u64.to_be_bytes()).unwrap().unwrap();
        links.insert(2u64.to_be_bytes(), value).unwrap();

        let drafts = raw.open_tree("drafts/v1").unwrap();
        let mut from = 1u64.to_be_bytes().to_vec();
        from.extend_from_slice(b"d1");
        let value = drafts.get(&from).unwrap().unwrap();
        let mut to = 2u64.to_be_bytes().to_vec();
        to.extend_from_slice(b"d1");
        drafts.insert(to, value.clone()).unwrap();
        let mut renamed = 1u64.to_be_bytes().to_vec();
        renamed.extend_from_slice(b"d2");
        drafts.insert(renamed, value).unwrap();

        let auth = raw.open_tree("auth/v1").unwrap();
        let value = auth.get(hash("state-a")).unwrap().unwrap();
        auth.insert(hash("state-b"), value).unwrap();
        raw.flush().unwrap();
    }
    let store = reopen(&db);
    assert!(
        matches!(store.get_link(2).await, Err(StoreError::Unseal)),
        "link moved to member 2 opened"
    );
    assert!(
        matches!(store.get_draft(2, "d1").await, Err(StoreError::Unseal)),
        "draft moved to member 2 opened"
    );
    assert!(
        matches!(store.get_draft(1, "d2").await, Err(StoreError::Unseal)),
        "draft renamed opened"
    );
    assert!(
        matches!(
            store.take_pending_auth(hash("state-b")).await,
            Err(StoreError::Unseal)
        ),
        "verifier moved to another state opened"
    );
    // The originals still open, and the unreadable draft does not hide the good one.
    assert_eq!(store.get_link(1).await.unwrap().unwrap().soe_user_id, 42);
    assert_eq!(
        store.get_draft(1, "d1").await.unwrap().unwrap(),
        draft(1, "d1")
    );
    assert_eq!(store.drafts_of(1).await.unwrap(), vec![draft(1, "d1")]);
    assert_eq!(
        store
            .take_pending_auth(hash("state-a"))
            .await
            .unwrap()
            .unwrap()
            .verifier
            .expose_secret(),
        verifier()
    );
}

#[tokio::test]
async fn tampered_link_record_fails_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    drop({
        let store = SledStore::open_at(&db, Cipher::for_testing(), 1 << 20).unwrap();
        store.put_link(&link(1, TOKEN)).await.unwrap();
        store
    });
    {
        let raw = raw_open(&db);
        let links = raw.open_tree("links/v1").unwrap();
        let value = links.get(1u64.to_be_bytes()).unwrap().unwrap();
        let mut rec: serde_json::Value = serde_json::from_slice(&value).unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let mut blob = engine.decode(rec["token"].as_str().unwrap()).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        rec["token"] = engine.encode(blob).into();
        links
            .insert(1u64.to_be_bytes(), serde_json::to_vec(&rec).unwrap())
            .unwrap();
        links
            .insert(3u64.to_be_bytes(), b"not json".to_vec())
            .unwrap();
        raw.flush().unwrap();
    }
    let store = reopen(&db);
    assert!(matches!(store.get_link(1).await, Err(StoreError::Unseal)));
    assert!(matches!(
        store.get_link(3).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_different_key_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let k1 = key(1);
    {
        let store = SledStore::open(&config(&db, &k1, &[])).unwrap();
        store.put_link(&link(1, TOKEN)).await.unwrap();
    }
    let other = key(1);
    let err = SledStore::open(&config(&db, &other, &[])).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cannot open the records in"), "{msg}");
    assert!(msg.contains(&db.display().to_string()), "{msg}");

    // Also with a different key id, and with the test cipher.
    assert!(matches!(
        SledStore::open(&config(&db, &key(2), &[])),
        Err(StoreError::WrongKey { .. })
    ));
    assert!(matches!(
        SledStore::open_at(&db, Cipher::for_testing(), 1 << 20),
        Err(StoreError::WrongKey { .. })
    ));
    // The refusals released the lock and changed nothing: the right key still works.
    let store = SledStore::open(&config(&db, &k1, &[])).unwrap();
    assert_eq!(store.get_link(1).await.unwrap().unwrap().soe_user_id, 42);
}

#[tokio::test]
async fn rotation_keeps_old_records_readable_while_the_old_key_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let k1 = key(1);
    let k2 = key(2);
    {
        let store = SledStore::open(&config(&db, &k1, &[])).unwrap();
        store.put_link(&link(1, TOKEN)).await.unwrap();
    }
    {
        // Rotated: key 2 is current, key 1 listed as previous.
        let store = SledStore::open(&config(&db, &k2, std::slice::from_ref(&k1))).unwrap();
        assert_eq!(
            store.get_link(1).await.unwrap().unwrap().soe_user_id,
            42,
            "old record opens"
        );
        store.put_link(&link(2, "soe_NEW_TOKEN")).await.unwrap(); // sealed with key 2
    }
    {
        // The old key is dropped: the canary was re-sealed with key 2, so the store opens;
        // records still sealed with key 1 need a new link, the new ones open.
        let store = SledStore::open(&config(&db, &k2, &[])).unwrap();
        assert!(matches!(store.get_link(1).await, Err(StoreError::Unseal)));
        assert!(store.get_link(2).await.unwrap().is_some());
    }
    // Going back to key 1 alone is now a wrong key.
    assert!(matches!(
        SledStore::open(&config(&db, &k1, &[])),
        Err(StoreError::WrongKey { .. })
    ));
}

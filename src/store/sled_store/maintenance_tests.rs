//! Tests of backup, restore and key rotation on a real sled store (temporary directories).
//!
//! - backup → restore into a fresh path gives the same links, drafts and settings, compared
//!   record by record as stored (so still sealed: the same ciphertext), and through the store;
//! - restore refuses a newer schema, a store that holds records, and keys that cannot open it;
//! - after `rotate-key` every record opens with the new key alone; an interrupted rotation
//!   picks up where it stopped.

use crate::config::EncryptionKey;
use crate::soe::{ServiceToken, UserToken};
use crate::store::cipher::Cipher;
use crate::store::{
    Draft, DraftContent, DraftState, GuildSettings, Link, LinkStatus, SavedSearch, SledStore,
    Store, StoreError, SCHEMA_VERSION,
};
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};

const OLD_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const MEMBERS: [u64; 3] = [1001, 1002, 1003];
const GUILD: u64 = 555;

fn key(id: u8, b64: &str) -> EncryptionKey {
    EncryptionKey::from_base64(id, b64).unwrap()
}

fn old_only() -> Cipher {
    Cipher::new(&key(1, OLD_KEY), &[])
}

fn rotating() -> Cipher {
    Cipher::new(&key(2, NEW_KEY), &[key(1, OLD_KEY)])
}

fn new_only() -> Cipher {
    Cipher::new(&key(2, NEW_KEY), &[])
}

fn open(path: &std::path::Path, cipher: Cipher) -> SledStore {
    SledStore::open_at(path, cipher, 1 << 20).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

fn token_of(member: u64) -> String {
    format!("member-token-CANARY-{member}")
}

fn draft_body(member: u64, n: u32) -> String {
    format!("Draft CANARY text {n} of member {member}: how do I flush sled before exit?")
}

async fn populate(store: &SledStore) {
    for m in MEMBERS {
        store
            .put_link(&Link {
                discord_user: m,
                soe_user_id: m as i64 + 10,
                soe_user_name: format!("user {m}"),
                soe_user_url: Some(format!("https://soe.example/users/{}", m + 10)),
                token: UserToken::new(SecretString::from(token_of(m))),
                scopes: vec!["write_access".into()],
                expires_at: None,
                linked_at: t0(),
                last_used_at: Some(t0()),
                status: LinkStatus::Active,
            })
            .await
            .unwrap();
        for n in 0..2 {
            store
                .put_draft(&Draft {
                    id: format!("d{m}x{n}"),
                    discord_user: m,
                    guild_id: Some(GUILD),
                    channel_id: Some(7),
                    team: None,
                    content: DraftContent::Answer {
                        question_id: 42,
                        body: draft_body(m, n),
                    },
                    state: DraftState::Saved { last_error: None },
                    post_after_link: false,
                    source_message: None,
                    created_at: t0(),
                    expires_at: t0() + chrono::Duration::hours(24),
                })
                .await
                .unwrap();
        }
    }
    store
        .put_guild_settings(
            GUILD,
            &GuildSettings {
                disabled_channels: vec![8, 9],
                enabled_channels: vec![7],
                ..GuildSettings::default()
            },
        )
        .await
        .unwrap();
    for m in MEMBERS {
        store
            .put_search(&SavedSearch {
                handle: format!("h{m}"),
                discord_user: m,
                query: format!("how do I CANARY-{m}"),
                tag: Some("rust".into()),
                sort: crate::soe::SearchSort::Newest,
                created_at: t0(),
                expires_at: t0() + chrono::Duration::hours(24),
            })
            .await
            .unwrap();
    }
    store
        .put_service_token(&ServiceToken::new(SecretString::from(
            "service-token-CANARY",
        )))
        .await
        .unwrap();
    store.flush().await.unwrap();
}

/// Everything a member or admin would see, read through the store (opens every sealed value).
async fn visible(store: &SledStore) -> Vec<String> {
    let mut out = Vec::new();
    for m in MEMBERS {
        let l = store.get_link(m).await.unwrap().expect("link");
        out.push(format!(
            "{} {} {} {:?} {:?} {:?} {:?}",
            l.discord_user,
            l.soe_user_id,
            l.token.secret().expose_secret(),
            l.scopes,
            l.expires_at,
            l.last_used_at,
            l.status
        ));
        for d in store.drafts_of(m).await.unwrap() {
            out.push(format!("{d:?}"));
        }
        let search = store
            .get_search(m, &format!("h{m}"), t0())
            .await
            .unwrap()
            .expect("saved search");
        out.push(format!("{search:?}"));
    }
    out.push(format!("{:?}", store.guild_settings(GUILD).await.unwrap()));
    out.push(
        store
            .service_token()
            .await
            .unwrap()
            .expect("service token")
            .secret()
            .expose_secret()
            .to_string(),
    );
    out
}

#[tokio::test]
async fn backup_then_restore_into_a_fresh_path_gives_the_same_records_still_sealed() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let original = open(a.path(), old_only());
    populate(&original).await;
    let backup = original.backup(t0()).unwrap();
    assert_eq!(backup.schema_version, SCHEMA_VERSION);
    assert_eq!(backup.key_ids, [1]);
    let file = serde_json::to_string(&backup).unwrap();
    assert!(
        !file.contains("CANARY"),
        "nothing unsealed in the backup file"
    );
    assert!(file.contains("\"schema_version\":1"), "the file states it");

    let parsed: crate::store::Backup = serde_json::from_str(&file).unwrap();
    let restored_count = {
        let fresh = open(b.path(), old_only());
        fresh.restore(&parsed).unwrap()
    };
    assert_eq!(restored_count, backup.entries());
    let restored = open(b.path(), old_only());

    // Record by record, as stored: the same bytes, so the same sealed blobs.
    let again = restored.backup(t0()).unwrap();
    assert_eq!(again.trees, backup.trees);
    assert!(backup.trees["links/v1"].len() == MEMBERS.len());
    assert!(backup.trees["drafts/v1"].len() == MEMBERS.len() * 2);
    assert!(backup.trees["guilds/v1"].len() == 1);
    assert!(backup.trees["searches/v1"].len() == MEMBERS.len());
    // And through the store: every sealed value opens to the same plaintext.
    assert_eq!(visible(&restored).await, visible(&original).await);
}

#[tokio::test]
async fn restore_refuses_a_newer_schema_a_used_store_and_keys_that_cannot_open_it() {
    let a = tempfile::tempdir().unwrap();
    let original = open(a.path(), old_only());
    populate(&original).await;
    let backup = original.backup(t0()).unwrap();

    let mut newer = backup.clone();
    newer.schema_version = SCHEMA_VERSION + 1;
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open(fresh_dir.path(), old_only());
    assert!(matches!(
        fresh.restore(&newer),
        Err(StoreError::SchemaTooNew { found, .. }) if found == SCHEMA_VERSION + 1
    ));

    let used_dir = tempfile::tempdir().unwrap();
    let used = open(used_dir.path(), old_only());
    used.put_guild_settings(1, &GuildSettings::default())
        .await
        .unwrap();
    let err = used.restore(&backup).unwrap_err().to_string();
    assert!(err.contains("empty storage.path"), "{err}");

    let other_dir = tempfile::tempdir().unwrap();
    let other_key = open(other_dir.path(), new_only());
    assert!(matches!(
        other_key.restore(&backup),
        Err(StoreError::WrongKey { .. })
    ));
    // Nothing was written by the refused restores.
    assert!(other_key.get_link(MEMBERS[0]).await.unwrap().is_none());
    assert!(fresh.get_link(MEMBERS[0]).await.unwrap().is_none());
}

#[tokio::test]
async fn after_rotation_every_record_opens_with_the_new_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = open(dir.path(), old_only());
        populate(&store).await;
        visible(&store).await
    };
    let report = {
        let store = open(dir.path(), rotating());
        store.rotate_key(2, |_| {}).unwrap()
    };
    assert_eq!(report.remaining, 0);
    // 3 links, 6 drafts, 3 saved searches, the service token.
    assert_eq!(report.resealed_total(), 13, "{report:?}");
    assert_eq!(report.resealed["links"], 3);
    assert_eq!(report.resealed["drafts"], 6);
    assert_eq!(report.resealed["saved searches"], 3);
    assert_eq!(report.resealed["service token"], 1);
    assert_eq!(report.already_current, 0);

    let store = open(dir.path(), new_only());
    assert_eq!(
        visible(&store).await,
        before,
        "everything opens without the old key"
    );
    assert_eq!(store.backup(t0()).unwrap().key_ids, [2]);
}

#[tokio::test]
async fn an_interrupted_rotation_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = open(dir.path(), old_only());
        populate(&store).await;
        visible(&store).await
    };
    {
        // Interrupted after four records (the process stops; each record was re-sealed alone).
        let store = open(dir.path(), rotating());
        let first = store.rotate_key_batch(Some(4)).unwrap();
        assert_eq!(first.resealed_total(), 4);
        assert_eq!(first.remaining, 9);
    }
    // Meanwhile, the old key is still needed.
    {
        // Links went first; the service token (last) is still under the old key.
        let store = open(dir.path(), new_only());
        assert!(store.get_link(MEMBERS[2]).await.unwrap().is_some());
        assert!(matches!(
            store.service_token().await,
            Err(StoreError::Unseal)
        ));
    }
    let resumed = {
        let store = open(dir.path(), rotating());
        assert_eq!(
            visible(&store).await,
            before,
            "readable mid-rotation with both keys"
        );
        store.rotate_key(500, |_| {}).unwrap()
    };
    assert_eq!(resumed.resealed_total(), 9, "only the rest: {resumed:?}");
    assert_eq!(resumed.already_current, 4);
    assert_eq!(resumed.remaining, 0);
    let store = open(dir.path(), new_only());
    assert_eq!(visible(&store).await, before);
}

#[test]
fn the_backup_covers_every_tree_the_store_opens() {
    let a = tempfile::tempdir().unwrap();
    let store = open(a.path(), old_only());
    let mut held: Vec<String> = store
        .db
        .tree_names()
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .filter(|n| n != "__sled__default")
        .collect();
    held.sort();
    let mut listed: Vec<String> = store
        .all_trees()
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect();
    listed.sort();
    assert_eq!(
        listed, held,
        "a tree missing from all_trees is left out of backups"
    );
    let backup = store.backup(t0()).unwrap();
    let named: Vec<&String> = backup.trees.keys().collect();
    assert_eq!(named.len(), held.len(), "{named:?}");
}

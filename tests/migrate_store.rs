//! `soe-bot migrate-store` as operators run it (the real binary): sled → PostgreSQL and back.
//! Records arrive still sealed (the same bytes, opening with the same keys), the counts are
//! checked per tree (every tree, personal alerts' and thread saves' included), a non-empty
//! target is refused, and the outboxes (channel cards' and DMs') keep handing out ids past
//! every id copied in. Needs PostgreSQL (`SOE_BOT_TEST_POSTGRES_URL`), so `#[ignore]`d in a bare
//! `cargo test`; `.ci/run` runs it with a server.

#![cfg(unix)]

#[path = "support/stores.rs"]
mod stores;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use soe_bot::commands::thread_save::ThreadSave;
use soe_bot::notify::model::{Card, OutboxEntry, TargetState};
use soe_bot::notify::personal::{Alert, AskedQuestion, MemberAlerts, PersonalEntry, TagExperts};
use soe_bot::notify::rule::{parse_spec, ActivityKind, Rule, SubscribeOptions};
use soe_bot::soe::UserToken;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::copy::{count_records, RawRecords};
use soe_bot::store::{
    Draft, DraftContent, DraftState, Link, LinkStatus, NotifyStore, PersonalStore, PgStore, Store,
    ThreadSaveStore,
};
use stores::{open_sled, Schema};

/// The test key (what `Cipher::for_testing` seals with: byte i is i·7 + 0x2a), as the
/// config file gives it.
fn key_b64() -> String {
    use base64::Engine;
    let bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(0x2a))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a time")
}

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("bot.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[soe]
site_url = "http://127.0.0.1:9"
client_id = "1"
service_token = "unused"

[discord]
mode = "http"
token = "unused"
application_id = 1
public_key = "{pk}"
allowed_guilds = [1]

[web]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:9"

[storage]
path = "{store}"
encryption_key = "{key}"

[link]
verify_discord_identity = false
"#,
            pk = "0".repeat(64),
            store = dir.join("unused-store").display(),
            key = key_b64(),
        ),
    )
    .expect("write bot.toml");
    path
}

fn migrate(config: &Path, from: &str, to: &str) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["migrate-store", "--config"])
        .arg(config)
        .args(["--from", from, "--to", to])
        .output()
        .expect("run soe-bot migrate-store");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn link(user: u64) -> Link {
    Link {
        discord_user: user,
        soe_user_id: 1000 + user as i64,
        soe_user_name: format!("SOE user {user}"),
        soe_user_url: None,
        token: UserToken::new(SecretString::from(format!("token-{user}"))),
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
        guild_id: Some(1),
        channel_id: Some(2),
        team: None,
        proposal: None,
        thread_parent: None,
        content: DraftContent::Answer {
            question_id: 7,
            body: format!("secret body {id}"),
        },
        state: DraftState::Saved { last_error: None },
        post_after_link: false,
        source_message: None,
        created_at: t0(),
        expires_at: t0() + Duration::days(365 * 20),
    }
}

fn entry(q: i64) -> OutboxEntry {
    OutboxEntry {
        id: 0,
        target: "main".into(),
        guild: 1,
        channel: 10,
        rules: vec![1],
        card: Card {
            kind: ActivityKind::NewQuestion,
            question_id: q,
            answer_id: None,
            title: "t".into(),
            url: "u".into(),
            author: "a".into(),
            tags: vec![],
            score: 0,
            answer_count: 0,
            accepted: false,
            at: t0(),
        },
        queued_at: t0(),
        attempts: 0,
        next_attempt_at: t0(),
        last_error: None,
        folded: false,
    }
}

/// A DM for `user`, about question `q`.
fn dm(user: u64, q: i64) -> PersonalEntry {
    PersonalEntry::new(
        user,
        1000 + user as i64,
        Alert::Expert {
            card: entry(q).card,
        },
        t0(),
    )
}

/// Personal alerts and a thread save, in every one of their trees; returns the DM ids (queued
/// after the cards, so the last id of the store is a DM's).
async fn seed_personal(store: &dyn Store) -> Vec<u64> {
    for u in 1..=2 {
        store
            .put_member_alerts(&MemberAlerts {
                user: u,
                soe_user_id: 1000 + u as i64,
                experts: true,
                updated_at: t0(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store
        .record_asked(&AskedQuestion {
            target: "main".into(),
            question_id: 7,
            user: 1,
            soe_user_id: 1001,
            at: t0(),
        })
        .await
        .unwrap();
    store
        .put_tag_experts(
            "main",
            5,
            &TagExperts {
                users: vec![1001],
                read_at: t0(),
            },
        )
        .await
        .unwrap();
    store
        .put_save(&ThreadSave {
            id: "save1".into(),
            guild: Some(1),
            thread: 500,
            parent: Some(10),
            invoker: 1,
            invoker_name: "member1".into(),
            thread_name: "A thread".into(),
            question_message: 501,
            question_author: (2, "member2".into()),
            title: String::new(),
            tags: Vec::new(),
            question: None,
            answer: None,
            accepted: false,
            accepting: None,
            card_posted: false,
            finished: false,
            created_at: t0(),
        })
        .await
        .unwrap();
    let (_, dms) = store
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![dm(1, 1), dm(2, 1)],
        )
        .await
        .unwrap();
    dms.iter().map(|e| e.id).collect()
}

/// A new DM queued in `store` gets an id past every id copied in (cards' and DMs'), and
/// overwrites none of the copied DMs.
async fn new_dm_ids_come_after(store: &dyn Store, copied: &[u64]) {
    let before = store.personal_outbox().await.unwrap().len();
    let (_, next) = store
        .commit_poll_personal("main", &TargetState::default(), Vec::new(), vec![dm(3, 9)])
        .await
        .unwrap();
    let last = *copied.iter().max().unwrap();
    assert!(next[0].id > last, "DM id {} after {copied:?}", next[0].id);
    assert_eq!(store.personal_outbox().await.unwrap().len(), before + 1);
}

/// The personal-alert and thread-save trees, which must be among the trees copied.
const PERSONAL_TREES: [&str; 5] = [
    "personal_members/v1",
    "personal_asked/v1",
    "personal_experts/v1",
    "personal_outbox/v1",
    "thread_saves/v1",
];

/// Fills `store` with a bit of everything; returns the outbox ids it queued.
async fn seed(store: &dyn Store) -> Vec<u64> {
    for u in 1..=5 {
        store.put_link(&link(u)).await.unwrap();
        store.put_draft(&draft(u, "d")).await.unwrap();
    }
    store
        .add_rule(&Rule {
            guild: 1,
            id: 0,
            channel: 10,
            spec: parse_spec(&SubscribeOptions {
                tags: Some("rust"),
                ..Default::default()
            })
            .unwrap(),
            team: None,
            created_by: 9,
            created_at: t0(),
            last_post_at: None,
            last_error: None,
        })
        .await
        .unwrap();
    store
        .commit_poll(
            "main",
            &TargetState::default(),
            vec![entry(1), entry(2), entry(3)],
        )
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect()
}

/// Every tree of both stores holds the same (key, value) pairs.
async fn same_records(a: &dyn RawRecords, b: &dyn RawRecords) {
    for tree in soe_bot::store::copy::tree_names() {
        let (x, y) = (
            a.raw_tree(tree).await.unwrap(),
            b.raw_tree(tree).await.unwrap(),
        );
        if *tree == "meta" {
            assert_eq!(x, y, "meta: the source's stamps and canary travel");
        } else {
            assert_eq!(x, y, "{tree}: the same bytes");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn sled_to_postgres_and_back_keeps_every_sealed_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sled_dir = dir.path().join("source");
    let (queued, dms) = {
        let store = open_sled(&sled_dir, Cipher::for_testing()).unwrap();
        let ids = seed(&store).await;
        let dms = seed_personal(&store).await;
        store.flush().await.unwrap();
        (ids, dms)
    };
    // Every tree holds something, so comparing them below means something.
    {
        let store = open_sled(&sled_dir, Cipher::for_testing()).unwrap();
        let counts = count_records(&store).await.unwrap();
        for tree in PERSONAL_TREES {
            assert!(
                soe_bot::store::copy::tree_names().contains(&tree),
                "{tree} is copied"
            );
            assert!(counts[tree] > 0, "{tree} seeded: {counts:?}");
        }
    }
    let schema = Schema::new().await;

    // sled → PostgreSQL.
    let (ok, out) = migrate(
        &cfg,
        &format!("sled:{}", sled_dir.display()),
        &format!("postgres:{}", schema.url()),
    );
    assert!(ok, "{out}");
    assert!(out.contains("links/v1: 5"), "{out}");
    for line in [
        "personal_members/v1: 2",
        "personal_asked/v1: 1",
        "personal_experts/v1: 1",
        "personal_outbox/v1: 2",
        "thread_saves/v1: 1",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(
        !out.contains("postgres://postgres@"),
        "the URL is not printed: {out}"
    );
    let pg = Arc::new(
        PgStore::open_with(schema.options(), 4, Cipher::for_testing())
            .await
            .unwrap(),
    );
    let source = Arc::new(open_sled(&sled_dir, Cipher::for_testing()).unwrap());
    same_records(source.as_ref(), pg.as_ref()).await;
    let link = pg.get_link(3).await.unwrap().expect("opens on PostgreSQL");
    assert_eq!(link.soe_user_name, "SOE user 3");
    assert_eq!(pg.get_draft(4, "d").await.unwrap(), Some(draft(4, "d")));
    // New outbox entries come after the copied ones.
    let next = pg
        .commit_poll("main", &TargetState::default(), vec![entry(4)])
        .await
        .unwrap();
    assert!(
        next[0].id > *queued.iter().max().unwrap(),
        "{} after {queued:?}",
        next[0].id
    );
    assert_eq!(pg.all_member_alerts().await.unwrap().len(), 2);
    assert_eq!(pg.get_save("save1").await.unwrap().unwrap().invoker, 1);
    let copied: Vec<u64> = queued.iter().chain(&dms).copied().collect();
    new_dm_ids_come_after(pg.as_ref(), &copied).await;
    drop(source);

    // A second run into the now filled target is refused, and changes nothing.
    let before = count_records(pg.as_ref()).await.unwrap();
    let (ok, out) = migrate(
        &cfg,
        &format!("sled:{}", sled_dir.display()),
        &format!("postgres:{}", schema.url()),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("not empty"), "{out}");
    assert_eq!(count_records(pg.as_ref()).await.unwrap(), before);

    // PostgreSQL → a new sled store.
    let back_dir = dir.path().join("back");
    let (ok, out) = migrate(
        &cfg,
        &format!("postgres:{}", schema.url()),
        &format!("sled:{}", back_dir.display()),
    );
    assert!(ok, "{out}");
    let back = open_sled(&back_dir, Cipher::for_testing()).unwrap();
    same_records(pg.as_ref(), &back).await;
    assert!(back.get_link(5).await.unwrap().is_some());
    let ids: Vec<u64> = back.outbox().await.unwrap().iter().map(|e| e.id).collect();
    let back_dms: Vec<u64> = back
        .personal_outbox()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        back_dms.len(),
        3,
        "the DMs copied, and the one queued on PostgreSQL"
    );
    let copied_back: Vec<u64> = ids.iter().chain(&back_dms).copied().collect();
    new_dm_ids_come_after(&back, &copied_back).await;
    let queued_back = back
        .commit_poll("main", &TargetState::default(), vec![entry(5)])
        .await
        .unwrap();
    assert!(
        queued_back[0].id > *ids.iter().max().unwrap(),
        "sled's ids continue after the copied ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_locations_and_a_missing_source_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (ok, out) = migrate(&cfg, "mysql://x", "sled:/tmp/x");
    assert!(!ok);
    assert!(out.contains("sled:PATH"), "{out}");
    let (ok, out) = migrate(
        &cfg,
        &format!("sled:{}", dir.path().join("none").display()),
        &format!("sled:{}", dir.path().join("t").display()),
    );
    assert!(!ok);
    assert!(out.contains("does not exist"), "{out}");
    // A password in a URL never comes back in an error.
    let (ok, out) = migrate(
        &cfg,
        "postgres://u:pw-canary@127.0.0.1:9/db",
        &format!("sled:{}", dir.path().join("t2").display()),
    );
    assert!(!ok);
    assert!(!out.contains("pw-canary"), "{out}");
}

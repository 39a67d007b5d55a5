//! Semantics of every `Store` method on `SledStore`: single-use takes, replacement of a member's
//! pending authorization, exactly-one-winner races, the persistent rate limiter, the sweep,
//! unlinking, the schema check, and a rough `put_link` latency figure.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use soe_bot::config::{EncryptionKey, StorageConfig};
use soe_bot::soe::{ServiceToken, UserToken};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{
    Allowance, Draft, DraftContent, DraftState, GuildSettings, Link, LinkStatus, LinkTicket,
    PendingAuth, PendingConfirm, SavedSearch, SledStore, Store, StoreError, WriteClaim,
    SEARCHES_PER_MEMBER,
};

const THREADS: usize = 8;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap()
}

/// Opens the store in `dir`. A store dropped a moment ago may still hold the file lock while
/// sled's background I/O threads finish (seconds on a loaded machine), so a reopen waits for
/// it, for up to 20 s.
fn open(dir: &Path) -> SledStore {
    open_with(|| SledStore::open_at(dir, Cipher::for_testing(), 4 << 20))
}

/// Runs `opener` until the store is not locked any more (up to 20 s).
fn open_with(opener: impl Fn() -> Result<SledStore, StoreError>) -> SledStore {
    let deadline = Instant::now() + StdDuration::from_secs(20);
    loop {
        match opener() {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(StdDuration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
}

/// `sled::open` with the same wait as [`open`], for reading raw records.
fn raw_open(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + StdDuration::from_secs(20);
    loop {
        match sled::open(dir) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(StdDuration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
}

fn hash(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn link(user: u64, token: &str) -> Link {
    Link {
        discord_user: user,
        soe_user_id: 1000 + user as i64,
        soe_user_name: format!("SOE user {user}"),
        soe_user_url: Some(format!("https://soe.example/users/{user}")),
        token: UserToken::new(SecretString::from(token)),
        scopes: vec!["write_access".into()],
        expires_at: Some(t0() + Duration::hours(24)),
        linked_at: t0(),
        last_used_at: None,
        status: LinkStatus::Active,
    }
}

fn auth(user: u64, verifier: &str, expires_at: DateTime<Utc>) -> PendingAuth {
    PendingAuth {
        discord_user: user,
        discord_username: format!("member{user}"),
        guild_id: None,
        browser_hash: [7u8; 32],
        verifier: SecretString::from(verifier),
        scopes: vec!["write_access".into(), "no_expiry".into()],
        created_at: t0(),
        expires_at,
    }
}

fn draft(user: u64, id: &str, created_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Draft {
    Draft {
        id: id.into(),
        discord_user: user,
        guild_id: Some(77),
        channel_id: Some(88),
        team: None,
        content: DraftContent::Ask {
            title: format!("Question {id}"),
            body: format!("Body of {id}"),
            tags: vec!["rust".into()],
        },
        state: DraftState::Saved { last_error: None },
        post_after_link: true,
        source_message: None,
        created_at,
        expires_at,
    }
}

/// Reads the token sealed in `user`'s raw link record, with the store closed. `UserToken`
/// deliberately has no public accessor, so tests check the plaintext this way.
fn sealed_token_on_disk(dir: &Path, user: u64) -> Option<String> {
    use base64::Engine;
    let db = raw_open(dir);
    let raw = db
        .open_tree("links/v1")
        .unwrap()
        .get(user.to_be_bytes())
        .unwrap()?;
    let rec: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(rec["v"], 1);
    let blob = base64::engine::general_purpose::STANDARD
        .decode(rec["token"].as_str().unwrap())
        .unwrap();
    let plain = Cipher::for_testing()
        .open(format!("link-token/v1:{user}").as_bytes(), &blob)
        .unwrap();
    Some(String::from_utf8(plain.to_vec()).unwrap())
}

#[tokio::test]
async fn link_round_trip_replace_expire_touch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.get_link(1).await.unwrap().is_none());

    store.put_link(&link(1, "tok-one")).await.unwrap();
    let got = store.get_link(1).await.unwrap().unwrap();
    assert_eq!(got.discord_user, 1);
    assert_eq!(got.soe_user_id, 1001);
    assert_eq!(got.soe_user_name, "SOE user 1");
    assert_eq!(
        got.soe_user_url.as_deref(),
        Some("https://soe.example/users/1")
    );
    assert_eq!(got.scopes, vec!["write_access".to_string()]);
    assert_eq!(got.expires_at, Some(t0() + Duration::hours(24)));
    assert_eq!(got.linked_at, t0());
    assert_eq!(got.last_used_at, None);
    assert_eq!(got.status, LinkStatus::Active);

    // touch_link and mark_link_expired change only their field.
    store
        .touch_link(1, t0() + Duration::minutes(5))
        .await
        .unwrap();
    store.mark_link_expired(1).await.unwrap();
    let got = store.get_link(1).await.unwrap().unwrap();
    assert_eq!(got.last_used_at, Some(t0() + Duration::minutes(5)));
    assert_eq!(got.status, LinkStatus::Expired);
    assert_eq!(got.soe_user_name, "SOE user 1");
    // On a member with no link they are no-ops and create nothing.
    store.touch_link(2, t0()).await.unwrap();
    store.mark_link_expired(2).await.unwrap();
    assert!(store.get_link(2).await.unwrap().is_none());

    // Write back exactly what get_link returned: the token must survive the round trip.
    store.put_link(&got).await.unwrap();
    drop(store);
    assert_eq!(
        sealed_token_on_disk(dir.path(), 1).as_deref(),
        Some("tok-one")
    );

    // Replacing the link replaces the token and resets the status.
    let store = open(dir.path());
    store.put_link(&link(1, "tok-two")).await.unwrap();
    assert_eq!(
        store.get_link(1).await.unwrap().unwrap().status,
        LinkStatus::Active
    );
    drop(store);
    assert_eq!(
        sealed_token_on_disk(dir.path(), 1).as_deref(),
        Some("tok-two")
    );
}

#[tokio::test]
async fn tickets_are_single_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ticket = LinkTicket {
        discord_user: 5,
        discord_username: "eve".into(),
        guild_id: None,
        created_at: t0(),
        expires_at: t0() + Duration::minutes(15),
    };
    store.put_ticket(hash("t1"), &ticket).await.unwrap();
    assert!(store.take_ticket(hash("other")).await.unwrap().is_none());
    assert_eq!(store.take_ticket(hash("t1")).await.unwrap(), Some(ticket));
    assert_eq!(store.take_ticket(hash("t1")).await.unwrap(), None);
}

#[tokio::test]
async fn tickets_race_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let ticket = LinkTicket {
        discord_user: 5,
        discord_username: "eve".into(),
        guild_id: None,
        created_at: t0(),
        expires_at: t0() + Duration::minutes(15),
    };
    store.put_ticket(hash("race"), &ticket).await.unwrap();
    let winners = race(&store, |s, _| async move {
        s.take_ticket(hash("race")).await.unwrap().is_some()
    });
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn pending_auth_is_single_use_and_one_per_member() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let later = t0() + Duration::minutes(10);

    store
        .put_pending_auth(hash("s1"), &auth(7, "verifier-one", later))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("x1"), &auth(8, "verifier-x", later))
        .await
        .unwrap();
    // A second authorization of member 7 replaces the first.
    store
        .put_pending_auth(hash("s2"), &auth(7, "verifier-two", later))
        .await
        .unwrap();
    assert!(
        store.take_pending_auth(hash("s1")).await.unwrap().is_none(),
        "old state must be gone"
    );

    let got = store.take_pending_auth(hash("s2")).await.unwrap().unwrap();
    assert_eq!(got.discord_user, 7);
    assert_eq!(got.discord_username, "member7");
    assert_eq!(got.verifier.expose_secret(), "verifier-two");
    assert_eq!(
        got.scopes,
        vec!["write_access".to_string(), "no_expiry".to_string()]
    );
    assert_eq!(got.created_at, t0());
    assert_eq!(got.expires_at, later);
    assert!(
        store.take_pending_auth(hash("s2")).await.unwrap().is_none(),
        "single use"
    );

    // Member 8's authorization was not touched by member 7's.
    assert_eq!(
        store
            .take_pending_auth(hash("x1"))
            .await
            .unwrap()
            .unwrap()
            .verifier
            .expose_secret(),
        "verifier-x"
    );

    // After a take, the member can start again, and replacement still works.
    store
        .put_pending_auth(hash("s3"), &auth(7, "verifier-three", later))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("s4"), &auth(7, "verifier-four", later))
        .await
        .unwrap();
    assert!(store.take_pending_auth(hash("s3")).await.unwrap().is_none());
    assert!(store.take_pending_auth(hash("s4")).await.unwrap().is_some());

    // Re-putting the same state hash keeps it (it does not remove itself).
    store
        .put_pending_auth(hash("s5"), &auth(7, "v5", later))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("s5"), &auth(7, "v5b", later))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_pending_auth(hash("s5"))
            .await
            .unwrap()
            .unwrap()
            .verifier
            .expose_secret(),
        "v5b"
    );
}

#[tokio::test]
async fn pending_auth_race_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    store
        .put_pending_auth(hash("race"), &auth(3, "v", t0() + Duration::minutes(10)))
        .await
        .unwrap();
    let winners = race(&store, |s, _| async move {
        s.take_pending_auth(hash("race")).await.unwrap().is_some()
    });
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn confirmation_peek_then_confirm_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let pending = PendingConfirm {
        link: link(9, "tok-nine"),
        discord_username: "nina".into(),
        guild_id: None,
        browser_hash: [7u8; 32],
        verified: None,
        expires_at: t0() + Duration::minutes(10),
    };
    store
        .put_pending_confirm(hash("form"), &pending)
        .await
        .unwrap();
    for _ in 0..2 {
        let peeked = store
            .peek_pending_confirm(hash("form"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(peeked.discord_username, "nina");
        assert_eq!(peeked.expires_at, t0() + Duration::minutes(10));
        assert_eq!(peeked.link.soe_user_name, "SOE user 9");
    }
    assert!(
        store.get_link(9).await.unwrap().is_none(),
        "nothing linked before confirmation"
    );

    let confirmed = store.confirm_link(hash("form")).await.unwrap().unwrap();
    assert_eq!(confirmed.discord_user, 9);
    assert_eq!(confirmed.soe_user_id, 1009);
    assert_eq!(confirmed.status, LinkStatus::Active);
    assert!(
        store.confirm_link(hash("form")).await.unwrap().is_none(),
        "single use"
    );
    assert!(store
        .peek_pending_confirm(hash("form"))
        .await
        .unwrap()
        .is_none());
    assert!(store.confirm_link(hash("never")).await.unwrap().is_none());

    // Discarding (Cancel) removes a confirmation without linking.
    let other = PendingConfirm {
        link: link(10, "tok-ten"),
        discord_username: "ten".into(),
        guild_id: None,
        browser_hash: [7u8; 32],
        verified: None,
        expires_at: t0() + Duration::minutes(10),
    };
    store
        .put_pending_confirm(hash("form10"), &other)
        .await
        .unwrap();
    assert!(store.discard_pending_confirm(hash("form10")).await.unwrap());
    assert!(!store.discard_pending_confirm(hash("form10")).await.unwrap());
    assert!(store.confirm_link(hash("form10")).await.unwrap().is_none());
    assert!(store.get_link(10).await.unwrap().is_none());

    let stored = store.get_link(9).await.unwrap().unwrap();
    assert_eq!(stored.soe_user_name, "SOE user 9");
    drop(store);
    assert_eq!(
        sealed_token_on_disk(dir.path(), 9).as_deref(),
        Some("tok-nine")
    );
}

/// Runs `f` on `THREADS` threads released together; returns how many returned true. Each
/// thread blocks on its future with the test runtime's handle (the threads are not runtime
/// workers), so the store calls really run at once.
fn race<F, Fut>(store: &Arc<SledStore>, f: F) -> usize
where
    F: Fn(Arc<SledStore>, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool>,
{
    let barrier = Arc::new(Barrier::new(THREADS));
    let f = Arc::new(f);
    let runtime = tokio::runtime::Handle::current();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (store, barrier, f) = (Arc::clone(store), Arc::clone(&barrier), Arc::clone(&f));
            let runtime = runtime.clone();
            std::thread::spawn(move || {
                barrier.wait();
                runtime.block_on(f(store, i))
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count()
}

#[tokio::test]
async fn concurrent_confirm_link_has_exactly_one_winner() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()));
        let pending = PendingConfirm {
            link: link(11, "tok"),
            discord_username: "n".into(),
            guild_id: None,
            browser_hash: [7u8; 32],
            verified: None,
            expires_at: t0() + Duration::minutes(10),
        };
        store
            .put_pending_confirm(hash("f"), &pending)
            .await
            .unwrap();
        let winners = race(&store, |s, _| async move {
            s.confirm_link(hash("f")).await.unwrap().is_some()
        });
        assert_eq!(winners, 1, "round {round}");
        assert!(store.get_link(11).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn drafts_crud_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let exp = t0() + Duration::hours(24);
    let b = draft(4, "b-newer", t0() + Duration::minutes(2), exp);
    let a = draft(4, "a-older", t0() + Duration::minutes(1), exp);
    let c = draft(4, "c-newest", t0() + Duration::minutes(3), exp);
    let other = draft(5, "a-older", t0(), exp);
    for d in [&b, &a, &c, &other] {
        store.put_draft(d).await.unwrap();
    }
    assert_eq!(
        store.get_draft(4, "a-older").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_draft(5, "a-older").await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(
        store.get_draft(6, "a-older").await.unwrap(),
        None,
        "not another member's draft"
    );
    assert_eq!(store.get_draft(4, "missing").await.unwrap(), None);
    assert_eq!(
        store.drafts_of(4).await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(store.drafts_of(5).await.unwrap(), vec![other.clone()]);
    assert!(store.drafts_of(6).await.unwrap().is_empty());

    // Replace.
    let mut b2 = b.clone();
    b2.state = DraftState::Saved {
        last_error: Some("SOE said 500".into()),
    };
    store.put_draft(&b2).await.unwrap();
    assert_eq!(
        store.get_draft(4, "b-newer").await.unwrap(),
        Some(b2.clone())
    );

    store.delete_draft(4, "a-older").await.unwrap();
    assert_eq!(store.drafts_of(4).await.unwrap(), vec![b2, c]);
    assert_eq!(
        store.get_draft(5, "a-older").await.unwrap(),
        Some(other),
        "same id, other member: kept"
    );
}

#[tokio::test]
async fn begin_posting_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let d = draft(4, "d1", t0(), t0() + Duration::hours(1));
    store.put_draft(&d).await.unwrap();
    let now = t0() + Duration::minutes(1);
    let won = store.begin_posting(4, "d1", now).await.unwrap().unwrap();
    assert_eq!(won.state, DraftState::Posting { since: now });
    assert_eq!(won.content, d.content);
    assert_eq!(
        store.get_draft(4, "d1").await.unwrap().unwrap().state,
        DraftState::Posting { since: now }
    );
    assert!(
        store.begin_posting(4, "d1", now).await.unwrap().is_none(),
        "already posting"
    );
    assert!(
        store.begin_posting(4, "nope", now).await.unwrap().is_none(),
        "missing draft"
    );
    assert!(
        store.begin_posting(5, "d1", now).await.unwrap().is_none(),
        "another member's id"
    );

    // A posted draft cannot be posted again; a saved one (after a failure) can.
    let mut posted = d.clone();
    posted.state = DraftState::Posted {
        url: "https://soe.example/q/1".into(),
        posted_as: "Jane".into(),
    };
    store.put_draft(&posted).await.unwrap();
    assert!(store.begin_posting(4, "d1", now).await.unwrap().is_none());
    let mut failed = d.clone();
    failed.state = DraftState::Saved {
        last_error: Some("timeout".into()),
    };
    store.put_draft(&failed).await.unwrap();
    assert!(store.begin_posting(4, "d1", now).await.unwrap().is_some());
}

#[tokio::test]
async fn concurrent_begin_posting_has_exactly_one_winner() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()));
        store
            .put_draft(&draft(4, "d", t0(), t0() + Duration::hours(1)))
            .await
            .unwrap();
        let winners = race(&store, |s, _| async move {
            s.begin_posting(4, "d", t0()).await.unwrap().is_some()
        });
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn claim_write_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.claim_write("vote:1:42", t0()).await.unwrap(),
        WriteClaim::Claimed
    );
    assert_eq!(
        store.claim_write("vote:1:42", t0()).await.unwrap(),
        WriteClaim::InProgress
    );
    assert_eq!(
        store.claim_write("vote:2:42", t0()).await.unwrap(),
        WriteClaim::Claimed,
        "keys are independent"
    );

    // A failed write releases the claim.
    store.finish_write("vote:1:42", None, t0()).await.unwrap();
    assert_eq!(
        store.claim_write("vote:1:42", t0()).await.unwrap(),
        WriteClaim::Claimed
    );

    store
        .finish_write("vote:1:42", Some("Upvoted."), t0())
        .await
        .unwrap();
    let done = WriteClaim::Done {
        outcome: "Upvoted.".into(),
    };
    assert_eq!(store.claim_write("vote:1:42", t0()).await.unwrap(), done);
    drop(store);
    // Outcomes are durable.
    let store = open(dir.path());
    assert_eq!(store.claim_write("vote:1:42", t0()).await.unwrap(), done);
    assert_eq!(
        store.claim_write("vote:2:42", t0()).await.unwrap(),
        WriteClaim::InProgress
    );
}

#[tokio::test]
async fn concurrent_claim_write_has_exactly_one_winner() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path()));
        let results = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let r2 = Arc::clone(&results);
        let winners = race(&store, move |s, _| {
            let r2 = Arc::clone(&r2);
            async move {
                let c = s.claim_write("accept:9", t0()).await.unwrap();
                r2.lock().push(c.clone());
                c == WriteClaim::Claimed
            }
        });
        assert_eq!(winners, 1, "round {round}");
        let results = results.lock();
        assert_eq!(
            results
                .iter()
                .filter(|c| **c == WriteClaim::InProgress)
                .count(),
            THREADS - 1
        );
    }
}

#[tokio::test]
async fn rate_limiter_burst_refill_and_independence() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let refill = 600; // one ask back every 10 minutes
    for i in 0..3 {
        assert_eq!(
            store.take_rate("ask:1", 3, refill, t0()).await.unwrap(),
            Allowance::Allowed,
            "take {i}"
        );
    }
    assert_eq!(
        store.take_rate("ask:1", 3, refill, t0()).await.unwrap(),
        Allowance::RetryAfter(600)
    );
    assert_eq!(
        store
            .take_rate("ask:1", 3, refill, t0() + Duration::seconds(200))
            .await
            .unwrap(),
        Allowance::RetryAfter(400)
    );
    // Rounded up, never 0.
    assert_eq!(
        store
            .take_rate("ask:1", 3, refill, t0() + Duration::milliseconds(599_500))
            .await
            .unwrap(),
        Allowance::RetryAfter(1)
    );
    // Other keys have their own buckets.
    assert_eq!(
        store.take_rate("ask:2", 3, refill, t0()).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        store.take_rate("search:1", 3, refill, t0()).await.unwrap(),
        Allowance::Allowed
    );

    // One refill period later, exactly one more.
    let t1 = t0() + Duration::seconds(600);
    assert_eq!(
        store.take_rate("ask:1", 3, refill, t1).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        store.take_rate("ask:1", 3, refill, t1).await.unwrap(),
        Allowance::RetryAfter(600)
    );

    // A long pause refills up to the burst, not beyond.
    let t2 = t1 + Duration::days(2);
    for _ in 0..3 {
        assert_eq!(
            store.take_rate("ask:1", 3, refill, t2).await.unwrap(),
            Allowance::Allowed
        );
    }
    assert!(matches!(
        store.take_rate("ask:1", 3, refill, t2).await.unwrap(),
        Allowance::RetryAfter(_)
    ));

    // A clock that goes backwards grants nothing.
    assert!(matches!(
        store
            .take_rate("ask:1", 3, refill, t2 - Duration::hours(1))
            .await
            .unwrap(),
        Allowance::RetryAfter(_)
    ));
}

#[tokio::test]
async fn rate_limiter_concurrent_takes_never_exceed_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let allowed = race(&store, |s, _| async move {
        s.take_rate("k", 3, 600, t0()).await.unwrap() == Allowance::Allowed
    });
    assert_eq!(allowed, 3);
}

#[tokio::test]
async fn rate_limit_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for _ in 0..3 {
            assert_eq!(
                store.take_rate("ask:1", 3, 600, t0()).await.unwrap(),
                Allowance::Allowed
            );
        }
        assert_eq!(
            store.take_rate("ask:1", 3, 600, t0()).await.unwrap(),
            Allowance::RetryAfter(600)
        );
    }
    let store = open(dir.path());
    let later = t0() + Duration::seconds(60);
    assert_eq!(
        store.take_rate("ask:1", 3, 600, later).await.unwrap(),
        Allowance::RetryAfter(540)
    );
    assert_eq!(
        store
            .take_rate("ask:1", 3, 600, t0() + Duration::seconds(600))
            .await
            .unwrap(),
        Allowance::Allowed
    );
}

#[tokio::test]
async fn sweep_removes_only_expired_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = t0() + Duration::hours(1);
    let past = now - Duration::seconds(1);
    let future = now + Duration::minutes(5);

    let ticket = |exp| LinkTicket {
        discord_user: 1,
        discord_username: "a".into(),
        guild_id: None,
        created_at: t0(),
        expires_at: exp,
    };
    store
        .put_ticket(hash("t-old"), &ticket(past))
        .await
        .unwrap();
    store
        .put_ticket(hash("t-new"), &ticket(future))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("a-old"), &auth(1, "v1", past))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("a-new"), &auth(2, "v2", future))
        .await
        .unwrap();
    let confirm = |exp| PendingConfirm {
        link: link(3, "t"),
        discord_username: "c".into(),
        guild_id: None,
        browser_hash: [7u8; 32],
        verified: None,
        expires_at: exp,
    };
    store
        .put_pending_confirm(hash("c-old"), &confirm(past))
        .await
        .unwrap();
    store
        .put_pending_confirm(hash("c-new"), &confirm(future))
        .await
        .unwrap();
    store
        .put_draft(&draft(4, "d-old", t0(), past))
        .await
        .unwrap();
    store
        .put_draft(&draft(4, "d-new", t0(), future))
        .await
        .unwrap();
    store.put_link(&link(5, "never swept")).await.unwrap();

    assert_eq!(store.sweep_expired(now).await.unwrap(), 4);
    assert_eq!(
        store.sweep_expired(now).await.unwrap(),
        0,
        "nothing left to sweep"
    );

    assert!(store.take_ticket(hash("t-old")).await.unwrap().is_none());
    assert!(store
        .peek_pending_confirm(hash("c-old"))
        .await
        .unwrap()
        .is_none());
    assert!(store.get_draft(4, "d-old").await.unwrap().is_none());
    assert!(store
        .take_pending_auth(hash("a-old"))
        .await
        .unwrap()
        .is_none());
    assert!(store.take_ticket(hash("t-new")).await.unwrap().is_some());
    assert!(store
        .peek_pending_confirm(hash("c-new"))
        .await
        .unwrap()
        .is_some());
    assert!(store.get_draft(4, "d-new").await.unwrap().is_some());
    assert!(store.get_link(5).await.unwrap().is_some());

    // The swept authorization's index entry went with it: member 1 starts afresh, and a later
    // replacement still finds (and removes) the right previous state.
    store
        .put_pending_auth(hash("a-1b"), &auth(1, "v1b", future))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("a-1c"), &auth(1, "v1c", future))
        .await
        .unwrap();
    assert!(store
        .take_pending_auth(hash("a-1b"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .take_pending_auth(hash("a-1c"))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .take_pending_auth(hash("a-new"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn delete_link_forgets_link_drafts_and_pending_auth() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let exp = t0() + Duration::hours(1);
    store.put_link(&link(1, "t1")).await.unwrap();
    store.put_link(&link(2, "t2")).await.unwrap();
    store.put_draft(&draft(1, "x", t0(), exp)).await.unwrap();
    store.put_draft(&draft(1, "y", t0(), exp)).await.unwrap();
    store.put_draft(&draft(2, "x", t0(), exp)).await.unwrap();
    store
        .put_pending_auth(hash("s1"), &auth(1, "v", exp))
        .await
        .unwrap();
    store
        .put_pending_auth(hash("s2"), &auth(2, "v", exp))
        .await
        .unwrap();

    assert!(store.delete_link(1).await.unwrap());
    assert!(store.get_link(1).await.unwrap().is_none());
    assert!(store.drafts_of(1).await.unwrap().is_empty());
    assert!(store.get_draft(1, "x").await.unwrap().is_none());
    assert!(store.take_pending_auth(hash("s1")).await.unwrap().is_none());
    assert!(!store.delete_link(1).await.unwrap(), "no link any more");

    // Member 2 is untouched.
    assert!(store.get_link(2).await.unwrap().is_some());
    assert_eq!(store.drafts_of(2).await.unwrap().len(), 1);
    assert!(store.take_pending_auth(hash("s2")).await.unwrap().is_some());

    // Deleting drafts works without a link, too; the deletion is durable.
    store.put_draft(&draft(3, "z", t0(), exp)).await.unwrap();
    assert!(!store.delete_link(3).await.unwrap());
    drop(store);
    let store = open(dir.path());
    assert!(store.drafts_of(3).await.unwrap().is_empty());
    assert!(store.get_link(1).await.unwrap().is_none());
}

#[tokio::test]
async fn guild_settings_and_service_token() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        assert_eq!(
            store.guild_settings(10).await.unwrap(),
            GuildSettings::default()
        );
        let s = GuildSettings {
            disabled_channels: vec![1, 2, 3],
            enabled_channels: vec![4],
            channel_teams: [(5, soe_bot::soe::TeamSlug::parse("platform").unwrap())].into(),
            channel_tags: [(6, vec!["rust".to_string(), "sled".to_string()])].into(),
            audit_channel: Some(9),
        };
        store.put_guild_settings(10, &s).await.unwrap();
        assert_eq!(store.guild_settings(10).await.unwrap(), s);
        assert_eq!(
            store.guild_settings(11).await.unwrap(),
            GuildSettings::default()
        );

        assert!(store.service_token().await.unwrap().is_none());
        store
            .put_service_token(&ServiceToken::new(SecretString::from("svc-token-123")))
            .await
            .unwrap();
        assert!(store.service_token().await.unwrap().is_some());
        store.flush().await.unwrap();
    }
    {
        let store = open(dir.path());
        let s = store.guild_settings(10).await.unwrap();
        assert_eq!(
            (s.disabled_channels.clone(), s.enabled_channels.clone()),
            (vec![1, 2, 3], vec![4])
        );
        assert_eq!(s.channel_teams[&5].as_str(), "platform");
        assert_eq!(s.channel_tags[&6], ["rust", "sled"]);
        assert_eq!(s.audit_channel, Some(9));
        assert_eq!(s.configured_channels(), [1, 2, 3, 4, 5, 6, 9]);
        assert!(store.service_token().await.unwrap().is_some());
    }
    // The service token is sealed with its own AAD and opens to what was stored.
    use base64::Engine;
    let db = raw_open(dir.path());
    let raw = db
        .open_tree("meta")
        .unwrap()
        .get("service_token")
        .unwrap()
        .unwrap();
    let rec: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(rec["token"].as_str().unwrap())
        .unwrap();
    let c = Cipher::for_testing();
    assert_eq!(
        c.open(b"service-token/v1", &blob).unwrap().as_slice(),
        b"svc-token-123"
    );
    assert!(matches!(
        c.open(b"link-token/v1:0", &blob),
        Err(StoreError::Unseal)
    ));
}

#[test]
fn schema_version_too_new_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = raw_open(dir.path());
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(
            meta.get("schema_version").unwrap().unwrap().as_ref(),
            &1u32.to_be_bytes()
        );
        meta.insert("schema_version", &2u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let deadline = Instant::now() + StdDuration::from_secs(20);
    let err = loop {
        match SledStore::open_at(dir.path(), Cipher::for_testing(), 1 << 20) {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(StdDuration::from_millis(50))
            }
            Err(e) => break e,
            Ok(_) => panic!("a newer schema must be refused"),
        }
    };
    match &err {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (2, 1));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("schema version 2, newer than this soe-bot (1)"),
        "{err}"
    );
}

#[tokio::test]
async fn open_from_config_and_second_open_in_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        path: dir.path().join("nested/db"),
        encryption_key: EncryptionKey::from_base64(4, &EncryptionKey::generate_base64()).unwrap(),
        previous_keys: vec![],
        cache_capacity_mb: 8,
    };
    let store = SledStore::open(&config).unwrap();
    store.put_link(&link(1, "t")).await.unwrap();
    match SledStore::open(&config) {
        Err(StoreError::Locked { path }) => assert_eq!(path, config.path.display().to_string()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(store);
    let store = open_with(|| SledStore::open(&config));
    assert!(store.get_link(1).await.unwrap().is_some());
}

/// A rough figure for the report: `put_link` includes a synchronous flush (fsync).
#[tokio::test]
async fn put_link_with_flush_latency() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let n = 100u64;
    let mut samples: Vec<StdDuration> = Vec::new();
    for i in 0..n {
        let l = link(i, &format!("token-{i}"));
        let start = Instant::now();
        store.put_link(&l).await.unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "put_link (seal + insert + flush) over {n} calls: p50 {:?}, p95 {:?}, max {:?}",
        p(0.5),
        p(0.95),
        samples[samples.len() - 1]
    );
    for i in 0..n {
        assert_eq!(
            store.get_link(i).await.unwrap().unwrap().soe_user_id,
            1000 + i as i64
        );
    }
}

#[tokio::test]
async fn an_abandoned_write_claim_can_be_taken_over_after_it_goes_stale() {
    use soe_bot::store::{WriteClaim, CLAIM_STALE_SECS};
    let dir = tempfile::tempdir().unwrap();
    let store = soe_bot::store::SledStore::open_at(
        dir.path().join("db"),
        soe_bot::store::cipher::Cipher::for_testing(),
        1 << 20,
    )
    .unwrap();
    let t0 = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    assert_eq!(
        store.claim_write("k", t0).await.unwrap(),
        WriteClaim::Claimed
    );
    assert_eq!(
        store
            .claim_write("k", t0 + chrono::Duration::seconds(CLAIM_STALE_SECS))
            .await
            .unwrap(),
        WriteClaim::InProgress
    );
    assert_eq!(
        store
            .claim_write("k", t0 + chrono::Duration::seconds(CLAIM_STALE_SECS + 1))
            .await
            .unwrap(),
        WriteClaim::Claimed
    );
    let finished = t0 + chrono::Duration::seconds(CLAIM_STALE_SECS + 1);
    store
        .finish_write("k", Some("done"), finished)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_write("k", finished + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        WriteClaim::Done {
            outcome: "done".into()
        },
        "a finished write does not go stale like an abandoned one"
    );
}

#[tokio::test]
async fn a_finished_write_claim_expires_after_about_a_minute() {
    use soe_bot::store::WRITE_CLAIM_TTL_SECS;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.claim_write("vq:1:3:Up", t0()).await.unwrap(),
        WriteClaim::Claimed
    );
    store
        .finish_write("vq:1:3:Up", Some("Upvoted."), t0())
        .await
        .unwrap();
    let done = WriteClaim::Done {
        outcome: "Upvoted.".into(),
    };
    let within = t0() + Duration::seconds(WRITE_CLAIM_TTL_SECS);
    assert_eq!(store.claim_write("vq:1:3:Up", within).await.unwrap(), done);
    let after = within + Duration::seconds(1);
    assert_eq!(
        store.claim_write("vq:1:3:Up", after).await.unwrap(),
        WriteClaim::Claimed,
        "an expired outcome no longer blocks the same button"
    );
    // The new claim runs its own course.
    assert_eq!(
        store.claim_write("vq:1:3:Up", after).await.unwrap(),
        WriteClaim::InProgress
    );
}

#[tokio::test]
async fn sweep_drops_expired_write_claims_and_idle_rate_buckets() {
    use soe_bot::store::{CLAIM_STALE_SECS, WRITE_CLAIM_TTL_SECS};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // One search (refills in 6 s) and one ask (refills in 10 minutes).
    assert_eq!(
        store.take_rate("search:1", 10, 6, t0()).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        store.take_rate("ask:1", 3, 600, t0()).await.unwrap(),
        Allowance::Allowed
    );
    // A finished write and one still in progress.
    assert_eq!(
        store.claim_write("done", t0()).await.unwrap(),
        WriteClaim::Claimed
    );
    store.finish_write("done", Some("ok"), t0()).await.unwrap();
    assert_eq!(
        store.claim_write("running", t0()).await.unwrap(),
        WriteClaim::Claimed
    );

    assert_eq!(
        store
            .sweep_expired(t0() + Duration::seconds(1))
            .await
            .unwrap(),
        0,
        "nothing is idle or expired yet"
    );
    let t1 = t0() + Duration::seconds(WRITE_CLAIM_TTL_SECS + 1);
    assert_eq!(
        store.sweep_expired(t1).await.unwrap(),
        2,
        "the full search bucket and the expired outcome"
    );
    assert_eq!(
        store.claim_write("running", t1).await.unwrap(),
        WriteClaim::InProgress,
        "a write in progress is kept"
    );
    // The ask bucket is full again after 10 minutes; the abandoned claim is swept a day after
    // it went stale (well after anyone could take it over).
    let t2 = t0() + Duration::seconds(600);
    assert_eq!(store.sweep_expired(t2).await.unwrap(), 1);
    let t3 = t0() + Duration::seconds(CLAIM_STALE_SECS) + Duration::days(1) + Duration::seconds(1);
    assert_eq!(store.sweep_expired(t3).await.unwrap(), 1);
    assert_eq!(store.sweep_expired(t3).await.unwrap(), 0);
    // A dropped bucket behaves exactly like a full one.
    for _ in 0..3 {
        assert_eq!(
            store.take_rate("ask:1", 3, 600, t3).await.unwrap(),
            Allowance::Allowed
        );
    }
    assert!(matches!(
        store.take_rate("ask:1", 3, 600, t3).await.unwrap(),
        Allowance::RetryAfter(_)
    ));
}

#[tokio::test]
async fn a_bucket_that_is_still_refilling_is_not_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for _ in 0..3 {
        assert_eq!(
            store.take_rate("ask:1", 3, 600, t0()).await.unwrap(),
            Allowance::Allowed
        );
    }
    // Two of three tokens back: still limiting, so it stays.
    assert_eq!(
        store
            .sweep_expired(t0() + Duration::seconds(1200))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .take_rate("ask:1", 3, 600, t0() + Duration::seconds(1200))
            .await
            .unwrap(),
        Allowance::Allowed
    );
}

#[tokio::test]
async fn take_rates_is_all_or_nothing() {
    use soe_bot::store::RateBucket;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fn b(key: &str, refill_secs: u64) -> RateBucket<'_> {
        RateBucket {
            key,
            burst: 1,
            refill_secs,
        }
    }
    assert_eq!(
        store
            .take_rates(&[b("m:1", 30), b("c:10", 10)], t0())
            .await
            .unwrap(),
        Allowance::Allowed
    );
    // Member 2 in channel 10: the channel refuses, so member 2's bucket is not touched.
    assert_eq!(
        store
            .take_rates(&[b("m:2", 30), b("c:10", 10)], t0() + Duration::seconds(1))
            .await
            .unwrap(),
        Allowance::RetryAfter(9)
    );
    assert_eq!(
        store
            .take_rates(&[b("m:2", 30), b("c:11", 10)], t0() + Duration::seconds(1))
            .await
            .unwrap(),
        Allowance::Allowed
    );
    // Both refuse: the longer wait.
    assert_eq!(
        store
            .take_rates(&[b("m:1", 30), b("c:10", 10)], t0() + Duration::seconds(2))
            .await
            .unwrap(),
        Allowance::RetryAfter(28)
    );
    // A bucket without a limit takes part in nothing.
    assert_eq!(
        store
            .take_rates(&[b("m:3", 0), b("c:12", 10)], t0())
            .await
            .unwrap(),
        Allowance::Allowed
    );
    // Concurrent takers of one channel: exactly one wins.
    let store = Arc::new(store);
    let won = race(&store, |s, i| async move {
        let key = format!("m:race{i}");
        let buckets = [
            RateBucket {
                key: &key,
                burst: 1,
                refill_secs: 30,
            },
            RateBucket {
                key: "c:race",
                burst: 1,
                refill_secs: 10,
            },
        ];
        s.take_rates(&buckets, t0()).await.unwrap() == Allowance::Allowed
    });
    assert_eq!(won, 1);
}

#[tokio::test]
async fn new_drafts_are_capped_per_member() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let later = t0() + Duration::hours(1);
    for i in 0..3 {
        assert!(store
            .put_new_draft(&draft(4, &format!("d{i}"), t0(), later), 3, t0())
            .await
            .unwrap());
    }
    assert!(!store
        .put_new_draft(&draft(4, "d3", t0(), later), 3, t0())
        .await
        .unwrap());
    assert!(
        store.get_draft(4, "d3").await.unwrap().is_none(),
        "not stored"
    );
    // Replacing one that exists is always allowed; other members have their own count.
    assert!(store
        .put_new_draft(&draft(4, "d0", t0(), later), 3, t0())
        .await
        .unwrap());
    assert!(store
        .put_new_draft(&draft(5, "d0", t0(), later), 3, t0())
        .await
        .unwrap());
    // Posted drafts are history and expired ones are gone for the count.
    let mut posted = draft(4, "d1", t0(), later);
    posted.state = DraftState::Posted {
        url: "https://soe.example/q/1".into(),
        posted_as: "x".into(),
    };
    store.put_draft(&posted).await.unwrap();
    assert!(store
        .put_new_draft(&draft(4, "d4", t0(), later), 3, t0())
        .await
        .unwrap());
    assert!(!store
        .put_new_draft(&draft(4, "d5", t0(), later), 3, t0())
        .await
        .unwrap());
    assert!(store
        .put_new_draft(&draft(4, "d5", t0(), later), 3, later)
        .await
        .unwrap());
}

#[tokio::test]
async fn concurrent_new_drafts_never_pass_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let later = t0() + Duration::hours(1);
    let stored = race(&store, move |s, i| async move {
        s.put_new_draft(&draft(4, &format!("r{i}"), t0(), later), 3, t0())
            .await
            .unwrap()
    });
    assert_eq!(stored, 3);
    assert_eq!(store.drafts_of(4).await.unwrap().len(), 3);
}

fn saved_search(user: u64, handle: &str, at: DateTime<Utc>) -> SavedSearch {
    SavedSearch {
        handle: handle.into(),
        discord_user: user,
        query: "confidential project kestrel rollout".into(),
        tag: Some("kestrel".into()),
        sort: soe_bot::soe::SearchSort::Score,
        created_at: at,
        expires_at: at + Duration::hours(24),
    }
}

#[tokio::test]
async fn saved_searches_are_per_member_sealed_capped_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let mine = saved_search(1, "h1", t0());
        store.put_search(&mine).await.unwrap();
        assert_eq!(store.get_search(1, "h1", t0()).await.unwrap(), Some(mine));
        assert_eq!(
            store.get_search(2, "h1", t0()).await.unwrap(),
            None,
            "another member's handle"
        );
        assert_eq!(
            store
                .get_search(1, "h1", t0() + Duration::hours(24))
                .await
                .unwrap(),
            None,
            "expired"
        );
        // Past the cap the oldest go, the newest stay.
        for i in 0..SEARCHES_PER_MEMBER {
            let at = t0() + Duration::seconds(i as i64 + 1);
            store
                .put_search(&saved_search(1, &format!("n{i}"), at))
                .await
                .unwrap();
        }
        assert_eq!(
            store.get_search(1, "h1", t0()).await.unwrap(),
            None,
            "oldest dropped"
        );
        assert!(store.get_search(1, "n0", t0()).await.unwrap().is_some());
        let last = format!("n{}", SEARCHES_PER_MEMBER - 1);
        assert!(store.get_search(1, &last, t0()).await.unwrap().is_some());
        store
            .put_search(&saved_search(2, "other", t0()))
            .await
            .unwrap();
        assert_eq!(
            store
                .sweep_expired(t0() + Duration::hours(25))
                .await
                .unwrap(),
            SEARCHES_PER_MEMBER + 1
        );
        assert_eq!(store.get_search(1, "n0", t0()).await.unwrap(), None);
        store
            .put_search(&saved_search(3, "kept", t0()))
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    // At rest the query and the tag are sealed.
    let raw = raw_open(dir.path());
    let tree = raw.open_tree("searches/v1").unwrap();
    assert_eq!(tree.len(), 1);
    for entry in tree.iter() {
        let (_, v) = entry.unwrap();
        let text = String::from_utf8_lossy(&v);
        assert!(!text.contains("kestrel"), "{text}");
    }
}

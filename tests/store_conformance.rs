//! One conformance suite for every [`Store`] / [`NotifyStore`] backend: each test below runs
//! on sled (a normal test) and on PostgreSQL (`#[ignore]`d unless a server is named by
//! `SOE_BOT_TEST_POSTGRES_URL`; `.ci/run` starts one and includes them), each time on a fresh
//! store (a temporary directory, or a schema of its own).
//!
//! Covered: every method's semantics (of [`Store`], [`NotifyStore`], `PersonalStore` and
//! `ThreadSaveStore`), single-use takes, compare-and-swap claims, concurrent
//! winners (16 tasks released together; on PostgreSQL half of them on a second replica), TTL
//! sweeps, rate buckets, sealing (a wrong key is refused at open, a sealed value copied under
//! another member does not open), and the stored bytes: a record written by one backend is
//! the same bytes, and opens, on the other.

#[path = "support/stores.rs"]
mod stores;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use soe_bot::commands::author_consent::Consent;
use soe_bot::commands::thread_save::{Posted, SavedPart, ThreadSave};
use soe_bot::config::EncryptionKey;
use soe_bot::notify::model::{Card, ChannelNotify, Delivered, OutboxEntry, TargetState};
use soe_bot::notify::personal::{
    Alert, AnswerAlerts, AskedQuestion, MemberAlerts, PersonalEntry, PersonalHealth, TagExperts,
};
use soe_bot::notify::rule::{parse_spec, ActivityKind, Rule, RuleError, SubscribeOptions};
use soe_bot::soe::{ServiceToken, UserToken};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{
    Allowance, Draft, DraftContent, DraftState, GuildSettings, Link, LinkStatus, LinkTicket,
    PendingAuth, PendingConfirm, RateBucket, SavedSearch, Store, StoreError, WriteClaim,
    CLAIM_STALE_SECS, SEARCHES_PER_MEMBER, WRITE_CLAIM_TTL_SECS,
};
use stores::{Fixture, Kind};

/// Tasks released together in the race tests.
const RACERS: usize = 16;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Sled).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
                async fn $name() {
                    super::$name(super::Kind::Postgres).await
                }
            )*
        }
    };
}

conformance!(
    links_round_trip_expire_refuse_touch_and_count,
    tickets_are_single_use_with_one_winner,
    pending_auth_is_single_use_and_one_per_member,
    identity_checks_are_single_use,
    confirmation_peek_confirm_once_and_discard,
    concurrent_confirmations_have_one_winner,
    drafts_crud_order_and_posting_once,
    concurrent_begin_posting_has_one_winner,
    new_drafts_are_capped_even_when_racing,
    delete_link_forgets_everything_of_the_member,
    saved_searches_are_per_member_capped_and_expire,
    write_claims_lifecycle_stale_takeover_and_expiry,
    concurrent_claims_have_one_winner,
    rate_buckets_burst_refill_and_independence,
    concurrent_rate_takes_never_exceed_the_burst,
    take_rates_is_all_or_nothing_even_when_racing,
    sweep_removes_exactly_what_expired,
    guild_settings_service_token_and_counts,
    a_wrong_key_is_refused_at_open,
    a_sealed_value_moved_under_another_member_does_not_open,
    rules_are_numbered_per_guild_and_never_reused,
    a_poll_queues_cards_that_leave_only_when_sent,
    outbox_ids_increase_across_concurrent_polls,
    member_alerts_round_trip_overwrite_and_list_in_member_order,
    asked_questions_scan_by_target_and_sweep_by_time,
    tag_experts_are_per_target_and_tag,
    a_poll_queues_dms_that_leave_only_when_sent,
    dm_ids_are_distinct_across_concurrent_polls,
    forget_member_and_delete_link_forget_only_that_members_alerts,
    personal_health_counts_members_questions_and_failing_dms,
    thread_saves_round_trip_overwrite_list_and_sweep,
    personal_records_and_saves_survive_a_reopen,
    unreadable_personal_records_and_saves_are_skipped_and_swept,
    a_copy_hands_out_ids_past_every_copied_card_and_dm,
);

// ---------------------------------------------------------------- fixtures

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a time")
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

fn ticket(user: u64, expires_at: DateTime<Utc>) -> LinkTicket {
    LinkTicket {
        discord_user: user,
        discord_username: format!("member{user}"),
        guild_id: Some(5),
        created_at: t0(),
        expires_at,
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

fn confirm(user: u64, expires_at: DateTime<Utc>) -> PendingConfirm {
    PendingConfirm {
        link: link(user, &format!("tok-{user}")),
        discord_username: format!("member{user}"),
        guild_id: None,
        browser_hash: [7u8; 32],
        verified: None,
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
        proposal: None,
        thread_parent: None,
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

fn rule(guild: u64, channel: u64) -> Rule {
    Rule {
        guild,
        id: 0,
        channel,
        spec: parse_spec(&SubscribeOptions {
            tags: Some("rust"),
            ..Default::default()
        })
        .expect("a spec"),
        team: None,
        created_by: 9,
        created_at: t0(),
        last_post_at: None,
        last_error: None,
    }
}

fn entry(channel: u64, q: i64) -> OutboxEntry {
    OutboxEntry {
        id: 0,
        target: "main".into(),
        guild: 1,
        channel,
        rules: vec![1],
        card: Card {
            kind: ActivityKind::NewQuestion,
            question_id: q,
            answer_id: None,
            title: "t".into(),
            url: "u".into(),
            author: "a".into(),
            tags: vec!["rust".into()],
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

fn alerts(user: u64) -> MemberAlerts {
    MemberAlerts {
        user,
        soe_user_id: 1000 + user as i64,
        answers: AnswerAlerts::Asked,
        questions: false,
        tags: vec!["rust".into()],
        watched: Vec::new(),
        watched_read_at: None,
        experts: false,
        updated_at: t0(),
    }
}

fn asked(target: &str, question_id: i64, user: u64, at: DateTime<Utc>) -> AskedQuestion {
    AskedQuestion {
        target: target.into(),
        question_id,
        user,
        soe_user_id: 1000 + user as i64,
        at,
    }
}

fn experts(users: &[i64], read_at: DateTime<Utc>) -> TagExperts {
    TagExperts {
        users: users.to_vec(),
        read_at,
    }
}

/// A DM about question `q` for `user`, queued at `at`.
fn dm(user: u64, q: i64, at: DateTime<Utc>) -> PersonalEntry {
    PersonalEntry::new(
        user,
        1000 + user as i64,
        Alert::Expert {
            card: entry(0, q).card,
        },
        at,
    )
}

fn save(id: &str, invoker: u64, created_at: DateTime<Utc>) -> ThreadSave {
    ThreadSave {
        id: id.into(),
        guild: Some(1),
        thread: 500,
        parent: Some(50),
        invoker,
        invoker_name: format!("member{invoker}"),
        thread_name: "How do I rotate the key?".into(),
        question_message: 501,
        question_author: (7, "author7".into()),
        title: String::new(),
        tags: Vec::new(),
        question: None,
        answer: None,
        accepted: false,
        accepting: None,
        card_posted: false,
        finished: false,
        created_at,
    }
}

/// The ids of `entries`, in order.
fn dm_ids(entries: &[PersonalEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

/// Runs `f(store, i)` on [`RACERS`] tasks released together (on PostgreSQL, the odd ones on a
/// second replica); returns how many returned true.
async fn race<F, Fut>(fx: &Fixture, f: F) -> usize
where
    F: Fn(Arc<dyn Store>, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let second = fx.second_replica().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let f = Arc::new(f);
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = match (&second, i % 2) {
            (Some(s), 1) => s.clone(),
            _ => fx.store.clone(),
        };
        let (barrier, f) = (barrier.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            f(store, i).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.expect("a racer"));
    }
    won
}

/// The token sealed in `user`'s stored link record, opened with the test key.
async fn sealed_token(fx: &Fixture, user: u64) -> Option<String> {
    use base64::Engine;
    let raw = fx
        .raw
        .raw_get("links/v1", &user.to_be_bytes())
        .await
        .expect("raw read")?;
    let rec: serde_json::Value = serde_json::from_slice(&raw).expect("JSON");
    assert_eq!(rec["v"], 1);
    let blob = base64::engine::general_purpose::STANDARD
        .decode(rec["token"].as_str().expect("a token field"))
        .expect("base64");
    let plain = Cipher::for_testing()
        .open(format!("link-token/v1:{user}").as_bytes(), &blob)
        .expect("opens with the member's AAD");
    Some(String::from_utf8(plain.to_vec()).expect("UTF-8"))
}

// ---------------------------------------------------------------- links and linking

async fn links_round_trip_expire_refuse_touch_and_count(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert!(s.get_link(1).await.unwrap().is_none());
    s.put_link(&link(1, "tok-one")).await.unwrap();
    s.put_link(&link(2, "tok-two")).await.unwrap();
    let got = s.get_link(1).await.unwrap().expect("stored");
    assert_eq!((got.discord_user, got.soe_user_id), (1, 1001));
    assert_eq!(got.status, LinkStatus::Active);
    assert_eq!(sealed_token(&fx, 1).await.as_deref(), Some("tok-one"));
    // The plaintext token never reaches the store.
    let raw = fx
        .raw
        .raw_get("links/v1", &1u64.to_be_bytes())
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("tok-one"));

    // Replacing re-seals.
    s.put_link(&link(1, "tok-new")).await.unwrap();
    assert_eq!(sealed_token(&fx, 1).await.as_deref(), Some("tok-new"));

    s.mark_link_write_refused(1).await.unwrap();
    assert_eq!(
        s.get_link(1).await.unwrap().unwrap().status,
        LinkStatus::WriteRefused
    );
    let at = t0() + Duration::minutes(5);
    s.touch_link(1, at).await.unwrap();
    let l = s.get_link(1).await.unwrap().unwrap();
    assert_eq!((l.status, l.last_used_at), (LinkStatus::Active, Some(at)));
    s.mark_link_expired(1).await.unwrap();
    s.mark_link_write_refused(1).await.unwrap();
    assert_eq!(
        s.get_link(1).await.unwrap().unwrap().status,
        LinkStatus::Expired,
        "an expired link stays expired"
    );
    // Missing members: nothing happens.
    s.mark_link_expired(99).await.unwrap();
    s.touch_link(99, at).await.unwrap();
    assert!(s.get_link(99).await.unwrap().is_none());

    let counts = s.link_counts().await.unwrap();
    assert_eq!(
        (counts.active, counts.expired, counts.write_refused),
        (1, 1, 0)
    );
}

async fn tickets_are_single_use_with_one_winner(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let exp = t0() + Duration::minutes(15);
    s.put_ticket(hash("t1"), &ticket(3, exp)).await.unwrap();
    assert_eq!(
        s.take_ticket(hash("t1")).await.unwrap(),
        Some(ticket(3, exp))
    );
    assert_eq!(s.take_ticket(hash("t1")).await.unwrap(), None);
    assert_eq!(s.take_ticket(hash("never")).await.unwrap(), None);

    s.put_ticket(hash("race"), &ticket(3, exp)).await.unwrap();
    let won = race(&fx, |s, _| async move {
        s.take_ticket(hash("race")).await.unwrap().is_some()
    })
    .await;
    assert_eq!(won, 1);
}

async fn pending_auth_is_single_use_and_one_per_member(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let exp = t0() + Duration::minutes(10);
    s.put_pending_auth(hash("s1"), &auth(5, "v1", exp))
        .await
        .unwrap();
    // A second authorization of the same member replaces the first.
    s.put_pending_auth(hash("s2"), &auth(5, "v2", exp))
        .await
        .unwrap();
    s.put_pending_auth(hash("s3"), &auth(6, "v3", exp))
        .await
        .unwrap();
    assert!(s.take_pending_auth(hash("s1")).await.unwrap().is_none());
    let got = s
        .take_pending_auth(hash("s2"))
        .await
        .unwrap()
        .expect("the newer one");
    assert_eq!(got.discord_user, 5);
    assert_eq!(secrecy::ExposeSecret::expose_secret(&got.verifier), "v2");
    assert_eq!(got.browser_hash, [7u8; 32]);
    assert!(s.take_pending_auth(hash("s2")).await.unwrap().is_none());
    // The verifier is sealed for its state: moved under another state, it does not open.
    let raw = fx
        .raw
        .raw_get("auth/v1", &hash("s3"))
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("v3\""));
    fx.raw
        .raw_put("auth/v1", &hash("moved"), &raw)
        .await
        .unwrap();
    assert!(matches!(
        s.take_pending_auth(hash("moved")).await,
        Err(StoreError::Unseal)
    ));
    let won = race(&fx, |s, _| async move {
        s.take_pending_auth(hash("s3")).await.unwrap().is_some()
    })
    .await;
    assert_eq!(won, 1);
}

async fn identity_checks_are_single_use(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    s.put_pending_identity(hash("d1"), &confirm(8, t0() + Duration::minutes(10)))
        .await
        .unwrap();
    let got = s
        .take_pending_identity(hash("d1"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (got.link.discord_user, got.discord_username.as_str()),
        (8, "member8")
    );
    assert!(s.take_pending_identity(hash("d1")).await.unwrap().is_none());
}

async fn confirmation_peek_confirm_once_and_discard(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    s.put_pending_confirm(hash("form"), &confirm(9, t0() + Duration::minutes(10)))
        .await
        .unwrap();
    for _ in 0..2 {
        let peeked = s.peek_pending_confirm(hash("form")).await.unwrap().unwrap();
        assert_eq!(peeked.link.soe_user_name, "SOE user 9");
    }
    assert!(
        s.get_link(9).await.unwrap().is_none(),
        "nothing linked before confirmation"
    );
    let confirmed = s
        .confirm_link(hash("form"))
        .await
        .unwrap()
        .expect("confirmed");
    assert_eq!((confirmed.discord_user, confirmed.soe_user_id), (9, 1009));
    assert!(
        s.confirm_link(hash("form")).await.unwrap().is_none(),
        "single use"
    );
    assert!(s
        .peek_pending_confirm(hash("form"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(sealed_token(&fx, 9).await.as_deref(), Some("tok-9"));

    s.put_pending_confirm(hash("f10"), &confirm(10, t0()))
        .await
        .unwrap();
    assert!(s.discard_pending_confirm(hash("f10")).await.unwrap());
    assert!(!s.discard_pending_confirm(hash("f10")).await.unwrap());
    assert!(s.confirm_link(hash("f10")).await.unwrap().is_none());
    assert!(s.get_link(10).await.unwrap().is_none());
}

async fn concurrent_confirmations_have_one_winner(kind: Kind) {
    let fx = Fixture::new(kind).await;
    for round in 0..3 {
        let form = format!("f{round}");
        fx.store
            .put_pending_confirm(hash(&form), &confirm(11, t0() + Duration::minutes(10)))
            .await
            .unwrap();
        let won = race(&fx, move |s, _| {
            let form = form.clone();
            async move { s.confirm_link(hash(&form)).await.unwrap().is_some() }
        })
        .await;
        assert_eq!(won, 1, "round {round}");
    }
    assert!(fx.store.get_link(11).await.unwrap().is_some());
}

// ---------------------------------------------------------------- drafts and searches

async fn drafts_crud_order_and_posting_once(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let exp = t0() + Duration::hours(24);
    s.put_draft(&draft(4, "b", t0() + Duration::minutes(2), exp))
        .await
        .unwrap();
    s.put_draft(&draft(4, "a", t0() + Duration::minutes(1), exp))
        .await
        .unwrap();
    s.put_draft(&draft(40, "other", t0(), exp)).await.unwrap();
    let ids: Vec<String> = s
        .drafts_of(4)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["a", "b"], "oldest first, only the member's");
    assert_eq!(
        s.get_draft(4, "a").await.unwrap(),
        Some(draft(4, "a", t0() + Duration::minutes(1), exp))
    );
    assert!(
        s.get_draft(5, "a").await.unwrap().is_none(),
        "another member's id finds nothing"
    );
    // The text is sealed.
    let raw = fx
        .raw
        .raw_get("drafts/v1", &[&4u64.to_be_bytes()[..], b"a"].concat())
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("Body of a"));

    let now = t0() + Duration::minutes(3);
    let won = s
        .begin_posting(4, "a", now)
        .await
        .unwrap()
        .expect("first wins");
    assert_eq!(won.state, DraftState::Posting { since: now });
    assert!(
        s.begin_posting(4, "a", now).await.unwrap().is_none(),
        "already posting"
    );
    assert!(s.begin_posting(4, "missing", now).await.unwrap().is_none());
    let posting: Vec<String> = s
        .posting_drafts()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(posting, ["a"]);
    s.delete_draft(4, "a").await.unwrap();
    assert!(s.get_draft(4, "a").await.unwrap().is_none());
    assert!(s.posting_drafts().await.unwrap().is_empty());
}

async fn concurrent_begin_posting_has_one_winner(kind: Kind) {
    let fx = Fixture::new(kind).await;
    fx.store
        .put_draft(&draft(4, "d", t0(), t0() + Duration::hours(1)))
        .await
        .unwrap();
    let won = race(&fx, |s, _| async move {
        s.begin_posting(4, "d", t0()).await.unwrap().is_some()
    })
    .await;
    assert_eq!(won, 1);
}

async fn new_drafts_are_capped_even_when_racing(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let later = t0() + Duration::hours(1);
    for i in 0..3 {
        assert!(s
            .put_new_draft(&draft(4, &format!("d{i}"), t0(), later), 3, t0())
            .await
            .unwrap());
    }
    assert!(!s
        .put_new_draft(&draft(4, "d3", t0(), later), 3, t0())
        .await
        .unwrap());
    assert!(s.get_draft(4, "d3").await.unwrap().is_none(), "not stored");
    assert!(
        s.put_new_draft(&draft(4, "d0", t0(), later), 3, t0())
            .await
            .unwrap(),
        "a replacement"
    );
    assert!(
        s.put_new_draft(&draft(5, "d0", t0(), later), 3, t0())
            .await
            .unwrap(),
        "another member"
    );
    let mut posted = draft(4, "d1", t0(), later);
    posted.state = DraftState::Posted {
        url: "https://soe.example/q/1".into(),
        posted_as: "x".into(),
    };
    s.put_draft(&posted).await.unwrap();
    assert!(
        s.put_new_draft(&draft(4, "d4", t0(), later), 3, t0())
            .await
            .unwrap(),
        "posted ones do not count"
    );
    assert!(
        s.put_new_draft(&draft(4, "d5", t0(), later), 3, later)
            .await
            .unwrap(),
        "expired ones do not count"
    );

    let won = race(&fx, move |s, i| async move {
        s.put_new_draft(&draft(6, &format!("r{i}"), t0(), later), 3, t0())
            .await
            .unwrap()
    })
    .await;
    assert_eq!(won, 3);
    assert_eq!(fx.store.drafts_of(6).await.unwrap().len(), 3);
}

async fn delete_link_forgets_everything_of_the_member(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let exp = t0() + Duration::hours(1);
    s.put_link(&link(1, "t1")).await.unwrap();
    s.put_link(&link(2, "t2")).await.unwrap();
    s.put_draft(&draft(1, "d", t0(), exp)).await.unwrap();
    s.put_draft(&draft(2, "d", t0(), exp)).await.unwrap();
    s.put_pending_auth(hash("a1"), &auth(1, "v", exp))
        .await
        .unwrap();
    s.put_ticket(hash("t1"), &ticket(1, exp)).await.unwrap();
    s.put_ticket(hash("t2"), &ticket(2, exp)).await.unwrap();
    s.put_pending_confirm(hash("c1"), &confirm(1, exp))
        .await
        .unwrap();
    s.put_pending_identity(hash("i1"), &confirm(1, exp))
        .await
        .unwrap();
    assert!(s.delete_link(1).await.unwrap());
    assert!(!s.delete_link(1).await.unwrap());
    assert!(s.get_link(1).await.unwrap().is_none());
    assert!(s.drafts_of(1).await.unwrap().is_empty());
    assert!(s.take_pending_auth(hash("a1")).await.unwrap().is_none());
    assert!(s.take_ticket(hash("t1")).await.unwrap().is_none());
    assert!(s.peek_pending_confirm(hash("c1")).await.unwrap().is_none());
    assert!(s.take_pending_identity(hash("i1")).await.unwrap().is_none());
    // The other member keeps everything.
    assert!(s.get_link(2).await.unwrap().is_some());
    assert_eq!(s.drafts_of(2).await.unwrap().len(), 1);
    assert!(s.take_ticket(hash("t2")).await.unwrap().is_some());
}

async fn saved_searches_are_per_member_capped_and_expire(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let mine = saved_search(1, "h1", t0());
    s.put_search(&mine).await.unwrap();
    assert_eq!(s.get_search(1, "h1", t0()).await.unwrap(), Some(mine));
    assert_eq!(
        s.get_search(2, "h1", t0()).await.unwrap(),
        None,
        "another member's handle"
    );
    assert_eq!(
        s.get_search(1, "h1", t0() + Duration::hours(24))
            .await
            .unwrap(),
        None,
        "expired"
    );
    let raw = fx
        .raw
        .raw_get("searches/v1", &[&1u64.to_be_bytes()[..], b"h1"].concat())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("kestrel"),
        "the query is sealed"
    );
    for i in 0..SEARCHES_PER_MEMBER + 2 {
        s.put_search(&saved_search(
            3,
            &format!("k{i:03}"),
            t0() + Duration::seconds(i as i64),
        ))
        .await
        .unwrap();
    }
    assert_eq!(
        s.get_search(3, "k000", t0()).await.unwrap(),
        None,
        "the oldest went"
    );
    assert_eq!(s.get_search(3, "k001", t0()).await.unwrap(), None);
    assert!(s.get_search(3, "k002", t0()).await.unwrap().is_some());
    let kept = fx
        .raw
        .raw_tree("searches/v1")
        .await
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with(&3u64.to_be_bytes()))
        .count();
    assert_eq!(kept, SEARCHES_PER_MEMBER);
}

// ---------------------------------------------------------------- claims and rates

async fn write_claims_lifecycle_stale_takeover_and_expiry(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(
        s.claim_write("vote:1", t0()).await.unwrap(),
        WriteClaim::Claimed
    );
    assert_eq!(
        s.claim_write("vote:1", t0()).await.unwrap(),
        WriteClaim::InProgress
    );
    assert_eq!(
        s.unfinished_writes().await.unwrap(),
        vec![("vote:1".to_string(), Some(t0()))]
    );
    s.finish_write("vote:1", Some("Upvoted."), t0())
        .await
        .unwrap();
    assert_eq!(
        s.claim_write("vote:1", t0()).await.unwrap(),
        WriteClaim::Done {
            outcome: "Upvoted.".into()
        }
    );
    assert!(s.unfinished_writes().await.unwrap().is_empty());
    // An outcome stands for about a minute, then the write may be made again.
    let later = t0() + Duration::seconds(WRITE_CLAIM_TTL_SECS + 1);
    assert_eq!(
        s.claim_write("vote:1", later).await.unwrap(),
        WriteClaim::Claimed
    );
    // A failed write is released.
    s.finish_write("vote:1", None, later).await.unwrap();
    assert_eq!(
        s.claim_write("vote:1", later).await.unwrap(),
        WriteClaim::Claimed
    );
    // A claim abandoned past the stale bound is taken over.
    let stale = later + Duration::seconds(CLAIM_STALE_SECS + 1);
    assert_eq!(
        s.claim_write("vote:1", stale).await.unwrap(),
        WriteClaim::Claimed
    );
    // forget_outcome drops an outcome, never a claim in progress.
    s.forget_outcome("vote:1").await.unwrap();
    assert_eq!(
        s.claim_write("vote:1", stale).await.unwrap(),
        WriteClaim::InProgress
    );
    s.finish_write("vote:1", Some("done"), stale).await.unwrap();
    s.forget_outcome("vote:1").await.unwrap();
    assert_eq!(
        s.claim_write("vote:1", stale).await.unwrap(),
        WriteClaim::Claimed
    );
    s.forget_outcome("never").await.unwrap();
}

async fn concurrent_claims_have_one_winner(kind: Kind) {
    let fx = Fixture::new(kind).await;
    for round in 0..3 {
        let key = format!("accept:{round}");
        let won = race(&fx, move |s, _| {
            let key = key.clone();
            async move { s.claim_write(&key, t0()).await.unwrap() == WriteClaim::Claimed }
        })
        .await;
        assert_eq!(won, 1, "round {round}");
    }
}

async fn rate_buckets_burst_refill_and_independence(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let refill = 600;
    for i in 0..3 {
        assert_eq!(
            s.take_rate("ask:1", 3, refill, t0()).await.unwrap(),
            Allowance::Allowed,
            "take {i}"
        );
    }
    assert_eq!(
        s.take_rate("ask:1", 3, refill, t0()).await.unwrap(),
        Allowance::RetryAfter(600)
    );
    assert_eq!(
        s.take_rate("ask:1", 3, refill, t0() + Duration::seconds(200))
            .await
            .unwrap(),
        Allowance::RetryAfter(400)
    );
    assert_eq!(
        s.take_rate("ask:1", 3, refill, t0() + Duration::milliseconds(599_500))
            .await
            .unwrap(),
        Allowance::RetryAfter(1)
    );
    assert_eq!(
        s.take_rate("ask:2", 3, refill, t0()).await.unwrap(),
        Allowance::Allowed
    );
    let t1 = t0() + Duration::seconds(600);
    assert_eq!(
        s.take_rate("ask:1", 3, refill, t1).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        s.take_rate("ask:1", 3, refill, t1).await.unwrap(),
        Allowance::RetryAfter(600)
    );
    let t2 = t1 + Duration::days(2);
    for _ in 0..3 {
        assert_eq!(
            s.take_rate("ask:1", 3, refill, t2).await.unwrap(),
            Allowance::Allowed
        );
    }
    assert!(matches!(
        s.take_rate("ask:1", 3, refill, t2).await.unwrap(),
        Allowance::RetryAfter(_)
    ));
    assert!(
        matches!(
            s.take_rate("ask:1", 3, refill, t2 - Duration::hours(1))
                .await
                .unwrap(),
            Allowance::RetryAfter(_)
        ),
        "a clock that goes backwards grants nothing"
    );
    assert_eq!(
        s.take_rate("free", 1, 0, t0()).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        s.take_rate("free", 1, 0, t0()).await.unwrap(),
        Allowance::Allowed,
        "0 s: no limit"
    );
}

async fn concurrent_rate_takes_never_exceed_the_burst(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let won = race(&fx, |s, _| async move {
        s.take_rate("k", 3, 600, t0()).await.unwrap() == Allowance::Allowed
    })
    .await;
    assert_eq!(won, 3);
}

async fn take_rates_is_all_or_nothing_even_when_racing(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    fn b(key: &str, refill_secs: u64) -> RateBucket<'_> {
        RateBucket {
            key,
            burst: 1,
            refill_secs,
        }
    }
    assert_eq!(
        s.take_rates(&[b("m:1", 30), b("c:10", 10)], t0())
            .await
            .unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        s.take_rates(&[b("m:2", 30), b("c:10", 10)], t0() + Duration::seconds(1))
            .await
            .unwrap(),
        Allowance::RetryAfter(9)
    );
    assert_eq!(
        s.take_rates(&[b("m:2", 30), b("c:11", 10)], t0() + Duration::seconds(1))
            .await
            .unwrap(),
        Allowance::Allowed,
        "the refusal took nothing from m:2"
    );
    assert_eq!(
        s.take_rates(&[b("m:1", 30), b("c:10", 10)], t0() + Duration::seconds(2))
            .await
            .unwrap(),
        Allowance::RetryAfter(28)
    );
    assert_eq!(
        s.take_rates(&[b("m:3", 0), b("c:12", 10)], t0())
            .await
            .unwrap(),
        Allowance::Allowed
    );
    let won = race(&fx, |s, i| async move {
        let key = format!("m:race{i}");
        let buckets = [b(&key, 30), b("c:race", 10)];
        s.take_rates(&buckets, t0()).await.unwrap() == Allowance::Allowed
    })
    .await;
    assert_eq!(won, 1);
}

async fn sweep_removes_exactly_what_expired(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let now = t0() + Duration::hours(1);
    let (past, future) = (now - Duration::seconds(1), now + Duration::minutes(5));
    s.put_ticket(hash("old"), &ticket(1, past)).await.unwrap();
    s.put_ticket(hash("new"), &ticket(1, future)).await.unwrap();
    s.put_pending_auth(hash("a-old"), &auth(1, "v", past))
        .await
        .unwrap();
    s.put_pending_auth(hash("a-new"), &auth(2, "v", future))
        .await
        .unwrap();
    s.put_pending_confirm(hash("c-old"), &confirm(1, past))
        .await
        .unwrap();
    s.put_pending_identity(hash("i-old"), &confirm(1, past))
        .await
        .unwrap();
    s.put_pending_confirm(hash("c-new"), &confirm(1, future))
        .await
        .unwrap();
    s.put_draft(&draft(1, "old", t0(), past)).await.unwrap();
    s.put_draft(&draft(1, "new", t0(), future)).await.unwrap();
    s.put_search(&saved_search(1, "old", now - Duration::hours(25)))
        .await
        .unwrap();
    s.put_search(&saved_search(1, "new", now)).await.unwrap();
    // ticket, auth, confirm, identity, draft, search
    assert_eq!(s.sweep_expired(now).await.unwrap(), 6);
    assert_eq!(s.sweep_expired(now).await.unwrap(), 0);
    assert!(s.take_ticket(hash("new")).await.unwrap().is_some());
    assert!(s.take_pending_auth(hash("a-new")).await.unwrap().is_some());
    assert!(s
        .peek_pending_confirm(hash("c-new"))
        .await
        .unwrap()
        .is_some());
    assert!(s.get_draft(1, "new").await.unwrap().is_some());
    assert!(s.get_draft(1, "old").await.unwrap().is_none());
    // The expired authorization's index went with it: a new one for the member works.
    s.put_pending_auth(hash("a-again"), &auth(1, "v", future))
        .await
        .unwrap();
    assert!(s
        .take_pending_auth(hash("a-again"))
        .await
        .unwrap()
        .is_some());

    // Claims, outcomes and buckets.
    assert_eq!(
        s.take_rate("search:1", 10, 6, t0()).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        s.take_rate("ask:1", 3, 600, t0()).await.unwrap(),
        Allowance::Allowed
    );
    assert_eq!(
        s.claim_write("done", t0()).await.unwrap(),
        WriteClaim::Claimed
    );
    s.finish_write("done", Some("ok"), t0()).await.unwrap();
    assert_eq!(
        s.claim_write("running", t0()).await.unwrap(),
        WriteClaim::Claimed
    );
    assert_eq!(
        s.sweep_expired(t0() + Duration::seconds(1)).await.unwrap(),
        0
    );
    let t1 = t0() + Duration::seconds(WRITE_CLAIM_TTL_SECS + 1);
    assert_eq!(
        s.sweep_expired(t1).await.unwrap(),
        2,
        "the full search bucket and the outcome"
    );
    assert_eq!(
        s.claim_write("running", t1).await.unwrap(),
        WriteClaim::InProgress
    );
    assert_eq!(
        s.sweep_expired(t0() + Duration::seconds(600))
            .await
            .unwrap(),
        1,
        "the ask bucket"
    );
    let t3 = t0() + Duration::seconds(CLAIM_STALE_SECS) + Duration::days(1) + Duration::seconds(1);
    assert_eq!(
        s.sweep_expired(t3).await.unwrap(),
        3,
        "the abandoned claim, and the draft and confirmation kept above (expired by now)"
    );
    assert_eq!(s.sweep_expired(t3).await.unwrap(), 0);
}

// ---------------------------------------------------------------- settings, token, sealing

async fn guild_settings_service_token_and_counts(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(s.guild_settings(7).await.unwrap(), GuildSettings::default());
    let mut g = GuildSettings {
        disabled_channels: vec![1, 2],
        audit_channel: Some(9),
        ..Default::default()
    };
    g.channel_tags.insert(3, vec!["rust".into()]);
    s.put_guild_settings(7, &g).await.unwrap();
    assert_eq!(s.guild_settings(7).await.unwrap(), g);
    assert_eq!(s.guild_settings(8).await.unwrap(), GuildSettings::default());

    assert!(s.service_token().await.unwrap().is_none());
    s.put_service_token(&ServiceToken::new(SecretString::from("svc-canary")))
        .await
        .unwrap();
    assert!(s.service_token().await.unwrap().is_some());
    // Sealed for the service token's place: it opens with its AAD, and shows no plaintext.
    let raw = fx
        .raw
        .raw_get("meta", b"service_token")
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("svc-canary"));
    let rec: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let blob = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(rec["token"].as_str().unwrap())
            .unwrap()
    };
    let plain = Cipher::for_testing()
        .open(b"service-token/v1", &blob)
        .unwrap();
    assert_eq!(plain.as_slice(), b"svc-canary");

    s.put_link(&link(1, "a")).await.unwrap();
    s.put_link(&link(2, "b")).await.unwrap();
    s.put_draft(&draft(1, "d", t0(), t0() + Duration::hours(1)))
        .await
        .unwrap();
    let c = s.counts().await.unwrap();
    assert_eq!((c.linked_members, c.drafts_waiting), (2, 1));
    s.flush().await.unwrap();
}

async fn a_wrong_key_is_refused_at_open(kind: Kind) {
    let fx = Fixture::new(kind).await;
    fx.store.put_link(&link(1, "t")).await.unwrap();
    let wrong = Cipher::new(
        &EncryptionKey::from_base64(1, &EncryptionKey::generate_base64()).unwrap(),
        &[],
    );
    let place = match fx.reopen(wrong).await {
        Err((StoreError::WrongKey { .. }, place)) => place,
        Err((other, _)) => panic!("expected WrongKey, got {other:?}"),
        Ok(_) => panic!("a wrong key opened the store"),
    };
    // The right key still opens it, and the record is there.
    let fx = Fixture::open(place, Cipher::for_testing())
        .await
        .map_err(|(e, _)| e)
        .expect("the right key opens");
    assert!(fx.store.get_link(1).await.unwrap().is_some());
}

async fn a_sealed_value_moved_under_another_member_does_not_open(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    s.put_link(&link(1, "one")).await.unwrap();
    let raw = fx
        .raw
        .raw_get("links/v1", &1u64.to_be_bytes())
        .await
        .unwrap()
        .unwrap();
    fx.raw
        .raw_put("links/v1", &2u64.to_be_bytes(), &raw)
        .await
        .unwrap();
    assert!(matches!(s.get_link(2).await, Err(StoreError::Unseal)));
    s.put_draft(&draft(1, "d", t0(), t0() + Duration::hours(1)))
        .await
        .unwrap();
    let key = [&1u64.to_be_bytes()[..], b"d"].concat();
    let raw = fx.raw.raw_get("drafts/v1", &key).await.unwrap().unwrap();
    fx.raw
        .raw_put("drafts/v1", &[&2u64.to_be_bytes()[..], b"d"].concat(), &raw)
        .await
        .unwrap();
    assert!(s.get_draft(2, "d").await.is_err());
    assert!(
        s.drafts_of(2).await.unwrap().is_empty(),
        "an unreadable draft is skipped"
    );
}

// ---------------------------------------------------------------- notifications

async fn rules_are_numbered_per_guild_and_never_reused(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(s.add_rule(&rule(1, 10)).await.unwrap().id, 1);
    assert_eq!(s.add_rule(&rule(1, 10)).await.unwrap().id, 2);
    assert_eq!(s.add_rule(&rule(2, 20)).await.unwrap().id, 1);
    assert!(s.delete_rule(1, 2).await.unwrap());
    assert!(!s.delete_rule(1, 2).await.unwrap());
    assert_eq!(s.add_rule(&rule(1, 10)).await.unwrap().id, 3);
    let ids: Vec<u32> = s.rules_of(1).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(s.all_rules().await.unwrap().len(), 3);
    let err = RuleError {
        message: "gone".into(),
        at: t0(),
    };
    s.record_rule_outcome(1, &[1, 2], Err(err.clone()))
        .await
        .unwrap();
    assert_eq!(
        s.get_rule(1, 1).await.unwrap().unwrap().last_error,
        Some(err)
    );
    assert_eq!(s.notify_health().await.unwrap().rule_errors.len(), 1);
    s.record_rule_outcome(1, &[1], Ok(t0())).await.unwrap();
    let r = s.get_rule(1, 1).await.unwrap().unwrap();
    assert_eq!((r.last_error, r.last_post_at), (None, Some(t0())));
    assert!(s.get_rule(1, 2).await.unwrap().is_none());

    // Rules added at once by many replicas still get distinct numbers.
    let won = race(
        &fx,
        |s, _| async move { s.add_rule(&rule(5, 50)).await.is_ok() },
    )
    .await;
    assert_eq!(won, RACERS);
    let mut ids: Vec<u32> = fx
        .store
        .rules_of(5)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=RACERS as u32).collect::<Vec<_>>());
}

async fn a_poll_queues_cards_that_leave_only_when_sent(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert!(s.target_state("main").await.unwrap().is_none());
    let state = TargetState {
        cursor: Some(t0()),
        ..Default::default()
    };
    let queued = s
        .commit_poll("main", &state, vec![entry(10, 1), entry(10, 2)])
        .await
        .unwrap();
    assert!(queued[0].id < queued[1].id);
    assert_eq!(
        s.target_state("main").await.unwrap().unwrap().cursor,
        Some(t0())
    );
    assert_eq!(s.target_states().await.unwrap().len(), 1);
    let out = s.outbox().await.unwrap();
    assert_eq!(
        out.iter().map(|e| e.id).collect::<Vec<_>>(),
        queued.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(s.outbox_depth().await.unwrap(), 2);
    let mut retried = out[1].clone();
    retried.attempts = 3;
    s.update_outbox(&retried).await.unwrap();
    assert_eq!(s.outbox().await.unwrap()[1].attempts, 3);
    let sent = Delivered {
        channel: 10,
        question_id: 1,
        message_id: 77,
        card: out[0].card.clone(),
        sent_at: t0(),
    };
    s.complete_outbox(&[out[0].id], Some(&sent)).await.unwrap();
    assert_eq!(s.outbox_depth().await.unwrap(), 1);
    assert_eq!(s.delivered(10, 1).await.unwrap(), Some(sent));
    // An entry gone meanwhile is not brought back by an update.
    s.complete_outbox(&[out[1].id], None).await.unwrap();
    s.update_outbox(&retried).await.unwrap();
    assert_eq!(s.outbox_depth().await.unwrap(), 0);
    assert_eq!(s.sweep_delivered(t0()).await.unwrap(), 0);
    assert_eq!(
        s.sweep_delivered(t0() + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.delivered(10, 1).await.unwrap(), None);

    s.put_target_state("team:x", &TargetState::default())
        .await
        .unwrap();
    assert_eq!(s.target_states().await.unwrap().len(), 2);
    assert_eq!(
        s.channel_notify(10).await.unwrap(),
        ChannelNotify::default()
    );
    let cn = ChannelNotify {
        threads: true,
        cap_per_hour: 3,
    };
    s.put_channel_notify(10, &cn).await.unwrap();
    assert_eq!(s.channel_notify(10).await.unwrap(), cn);
}

async fn outbox_ids_increase_across_concurrent_polls(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let won = race(&fx, |s, i| async move {
        s.commit_poll(
            &format!("t{i}"),
            &TargetState::default(),
            vec![entry(1, i as i64), entry(2, i as i64)],
        )
        .await
        .is_ok()
    })
    .await;
    assert_eq!(won, RACERS);
    let ids: Vec<u64> = fx
        .store
        .outbox()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), RACERS * 2);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "distinct, in queue order: {ids:?}"
    );
}

// ---------------------------------------------------------------- personal alerts

async fn member_alerts_round_trip_overwrite_and_list_in_member_order(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(s.member_alerts(1).await.unwrap(), None);
    assert!(s.all_member_alerts().await.unwrap().is_empty());
    // Stored out of order; 256 after 2 only if keys are big-endian.
    for user in [256, 2, 1] {
        s.put_member_alerts(&alerts(user)).await.unwrap();
    }
    assert_eq!(s.member_alerts(2).await.unwrap(), Some(alerts(2)));
    assert_eq!(s.member_alerts(3).await.unwrap(), None);
    assert_eq!(
        s.all_member_alerts().await.unwrap(),
        vec![alerts(1), alerts(2), alerts(256)],
        "every member, by user id"
    );
    // A replacement replaces every field, and only that member's record.
    let changed = MemberAlerts {
        answers: AnswerAlerts::All,
        questions: true,
        tags: vec!["go".into(), "sql".into()],
        watched: vec!["rust".into()],
        watched_read_at: Some(t0() + Duration::minutes(5)),
        experts: true,
        updated_at: t0() + Duration::hours(1),
        ..alerts(1)
    };
    s.put_member_alerts(&changed).await.unwrap();
    assert_eq!(s.member_alerts(1).await.unwrap(), Some(changed.clone()));
    let off = MemberAlerts {
        answers: AnswerAlerts::Off,
        tags: Vec::new(),
        ..alerts(2)
    };
    s.put_member_alerts(&off).await.unwrap();
    assert_eq!(
        s.all_member_alerts().await.unwrap(),
        vec![changed, off, alerts(256)]
    );
}

async fn asked_questions_scan_by_target_and_sweep_by_time(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let m = |n: i64| t0() + Duration::minutes(n);
    assert!(s.asked_questions("").await.unwrap().is_empty());
    let main_10 = asked("main", 10, 1, m(0));
    let main_11 = asked("main", 11, 2, m(1));
    let main_256 = asked("main", 256, 1, m(2));
    let team_10 = asked("team:x", 10, 1, m(3));
    // "main2" starts with "main": a prefix scan of "main" must not find it.
    let main2_5 = asked("main2", 5, 3, m(4));
    for q in [&team_10, &main_256, &main2_5, &main_11, &main_10] {
        s.record_asked(q).await.unwrap();
    }
    assert_eq!(
        s.asked_questions("main").await.unwrap(),
        vec![main_10.clone(), main_11.clone(), main_256.clone()],
        "the target's questions, by question id"
    );
    assert_eq!(
        s.asked_questions("team:x").await.unwrap(),
        vec![team_10.clone()]
    );
    assert_eq!(
        s.asked_questions("main2").await.unwrap(),
        vec![main2_5.clone()]
    );
    assert!(s.asked_questions("team").await.unwrap().is_empty());
    assert!(s.asked_questions("nowhere").await.unwrap().is_empty());
    assert_eq!(
        s.asked_questions("").await.unwrap(),
        vec![
            main_10.clone(),
            main_11.clone(),
            main_256.clone(),
            main2_5.clone(),
            team_10.clone()
        ],
        "every target"
    );
    // The same question recorded again replaces the record (one per target and question).
    let main_10_again = asked("main", 10, 4, m(5));
    s.record_asked(&main_10_again).await.unwrap();
    assert_eq!(
        s.asked_questions("main").await.unwrap(),
        vec![main_10_again.clone(), main_11, main_256]
    );
    assert_eq!(
        s.asked_questions("team:x").await.unwrap(),
        vec![team_10.clone()],
        "the same question id on another target is another record"
    );

    // Sweeps remove what was asked strictly before the bound.
    assert_eq!(
        s.sweep_asked(m(1)).await.unwrap(),
        0,
        "m(1) is not before m(1)"
    );
    assert_eq!(s.sweep_asked(m(3)).await.unwrap(), 2);
    assert_eq!(s.sweep_asked(m(3)).await.unwrap(), 0);
    assert_eq!(
        s.asked_questions("").await.unwrap(),
        vec![main_10_again, main2_5, team_10]
    );
    assert_eq!(s.sweep_asked(m(60)).await.unwrap(), 3);
    assert!(s.asked_questions("").await.unwrap().is_empty());
}

async fn tag_experts_are_per_target_and_tag(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(s.tag_experts("main", 5).await.unwrap(), None);
    let main_5 = experts(&[1, 2], t0());
    let team_5 = experts(&[3], t0());
    let main_6 = experts(&[], t0());
    s.put_tag_experts("main", 5, &main_5).await.unwrap();
    s.put_tag_experts("team:x", 5, &team_5).await.unwrap();
    s.put_tag_experts("main", 6, &main_6).await.unwrap();
    assert_eq!(s.tag_experts("main", 5).await.unwrap(), Some(main_5));
    assert_eq!(
        s.tag_experts("team:x", 5).await.unwrap(),
        Some(team_5.clone())
    );
    assert_eq!(
        s.tag_experts("main", 6).await.unwrap(),
        Some(main_6),
        "a tag with no experts is remembered as such"
    );
    assert_eq!(s.tag_experts("main2", 5).await.unwrap(), None);
    assert_eq!(s.tag_experts("team:x", 6).await.unwrap(), None);
    // Read again later: replaced.
    let reread = experts(&[2, 4], t0() + Duration::hours(6));
    s.put_tag_experts("main", 5, &reread).await.unwrap();
    assert_eq!(s.tag_experts("main", 5).await.unwrap(), Some(reread));
    assert_eq!(s.tag_experts("team:x", 5).await.unwrap(), Some(team_5));
}

async fn a_poll_queues_dms_that_leave_only_when_sent(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert!(s.personal_outbox().await.unwrap().is_empty());
    let state = TargetState {
        cursor: Some(t0()),
        ..Default::default()
    };
    let wanted = vec![dm(1, 1, t0()), dm(2, 1, t0()), dm(1, 2, t0())];
    let (cards, dms) = s
        .commit_poll_personal("main", &state, vec![entry(10, 1)], wanted.clone())
        .await
        .unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(dms.len(), 3);
    let all_ids: Vec<u64> = cards.iter().map(|e| e.id).chain(dm_ids(&dms)).collect();
    assert!(
        all_ids.windows(2).all(|w| w[0] < w[1]),
        "ids assigned in order: {all_ids:?}"
    );
    for (got, want) in dms.iter().zip(&wanted) {
        assert_eq!(
            *got,
            PersonalEntry {
                id: got.id,
                ..want.clone()
            },
            "only the id is assigned"
        );
    }
    // State, cards and DMs landed together.
    assert_eq!(
        s.target_state("main").await.unwrap().unwrap().cursor,
        Some(t0())
    );
    assert_eq!(
        s.outbox()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![cards[0].id]
    );
    assert_eq!(s.personal_outbox().await.unwrap(), dms, "oldest first");

    // A failed attempt is recorded in place.
    let retried = PersonalEntry {
        attempts: 2,
        next_attempt_at: t0() + Duration::minutes(1),
        last_error: Some("Discord said 500".into()),
        ..dms[1].clone()
    };
    s.update_personal(&retried).await.unwrap();
    assert_eq!(
        s.personal_outbox().await.unwrap(),
        vec![dms[0].clone(), retried.clone(), dms[2].clone()]
    );
    // Sent: it leaves; the others stay.
    s.complete_personal(dms[0].id).await.unwrap();
    assert_eq!(
        s.personal_outbox().await.unwrap(),
        vec![retried.clone(), dms[2].clone()]
    );
    // Completing again, or an id never queued, does nothing; an update does not bring a
    // completed entry back.
    s.complete_personal(dms[0].id).await.unwrap();
    s.complete_personal(u64::MAX).await.unwrap();
    let ghost = PersonalEntry {
        attempts: 9,
        ..dms[0].clone()
    };
    s.update_personal(&ghost).await.unwrap();
    assert_eq!(
        s.personal_outbox().await.unwrap(),
        vec![retried.clone(), dms[2].clone()]
    );
    // Completing a DM leaves the channel cards alone.
    assert_eq!(s.outbox_depth().await.unwrap(), 1);

    // A poll with nothing to send still writes its state.
    let quiet = TargetState {
        cursor: Some(t0() + Duration::minutes(2)),
        ..Default::default()
    };
    let (none, no_dms) = s
        .commit_poll_personal("team:x", &quiet, Vec::new(), Vec::new())
        .await
        .unwrap();
    assert!(none.is_empty() && no_dms.is_empty());
    assert_eq!(
        s.target_state("team:x").await.unwrap().unwrap().cursor,
        quiet.cursor
    );
    assert_eq!(s.personal_outbox().await.unwrap().len(), 2);
    // A later poll's DMs come after the waiting ones, and never reuse a sent one's id.
    let (_, later) = s
        .commit_poll_personal("main", &state, Vec::new(), vec![dm(3, 9, t0())])
        .await
        .unwrap();
    assert!(
        later[0].id > dms[2].id,
        "{} after {}",
        later[0].id,
        dms[2].id
    );
    assert_eq!(
        s.personal_outbox().await.unwrap(),
        vec![retried, dms[2].clone(), later[0].clone()]
    );
}

async fn dm_ids_are_distinct_across_concurrent_polls(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let won = race(&fx, |s, i| async move {
        let q = i as i64;
        let (cards, dms) = s
            .commit_poll_personal(
                &format!("t{i}"),
                &TargetState::default(),
                vec![entry(1, q)],
                vec![dm(1, q, t0()), dm(2, q, t0())],
            )
            .await
            .unwrap();
        cards.len() == 1 && dms.len() == 2 && dms[0].id < dms[1].id
    })
    .await;
    assert_eq!(won, RACERS);
    let stored = fx.store.personal_outbox().await.unwrap();
    let ids = dm_ids(&stored);
    assert_eq!(ids.len(), RACERS * 2, "no DM overwrote another: {ids:?}");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in queue order: {ids:?}"
    );
    // Each poll's two DMs are both there.
    for i in 0..RACERS as i64 {
        let users: Vec<u64> = stored
            .iter()
            .filter(|e| matches!(&e.alert, Alert::Expert { card } if card.question_id == i))
            .map(|e| e.user)
            .collect();
        assert_eq!(users, vec![1, 2], "poll {i}");
    }
    assert_eq!(fx.store.outbox_depth().await.unwrap(), RACERS);
}

async fn forget_member_and_delete_link_forget_only_that_members_alerts(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    for user in [1, 2, 3] {
        s.put_member_alerts(&alerts(user)).await.unwrap();
        s.record_asked(&asked("main", 10 * user as i64, user, t0()))
            .await
            .unwrap();
    }
    s.record_asked(&asked("team:x", 7, 1, t0())).await.unwrap();
    let (_, dms) = s
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![
                dm(1, 1, t0()),
                dm(2, 1, t0()),
                dm(1, 2, t0()),
                dm(3, 1, t0()),
            ],
        )
        .await
        .unwrap();
    let expert_record = experts(&[1001], t0());
    s.put_tag_experts("main", 5, &expert_record).await.unwrap();
    let saved = save("s1", 1, t0());
    s.put_save(&saved).await.unwrap();

    s.forget_member(1).await.unwrap();
    assert_eq!(s.member_alerts(1).await.unwrap(), None);
    assert_eq!(
        s.all_member_alerts().await.unwrap(),
        vec![alerts(2), alerts(3)]
    );
    assert_eq!(
        s.asked_questions("").await.unwrap(),
        vec![asked("main", 20, 2, t0()), asked("main", 30, 3, t0())],
        "the member's questions on every target went, nobody else's"
    );
    assert_eq!(
        s.personal_outbox().await.unwrap(),
        vec![dms[1].clone(), dms[3].clone()]
    );
    // Not the member's: a tag's experts and the member's thread saves stay.
    assert_eq!(
        s.tag_experts("main", 5).await.unwrap(),
        Some(expert_record.clone())
    );
    assert_eq!(s.get_save("s1").await.unwrap(), Some(saved.clone()));
    // Forgetting again, or a member never seen, is fine.
    s.forget_member(1).await.unwrap();
    s.forget_member(99).await.unwrap();
    assert_eq!(s.all_member_alerts().await.unwrap().len(), 2);

    // Deleting a link forgets the member's alerts too (the same records as forget_member).
    s.put_link(&link(2, "t2")).await.unwrap();
    s.put_link(&link(3, "t3")).await.unwrap();
    assert!(s.delete_link(2).await.unwrap());
    assert_eq!(s.member_alerts(2).await.unwrap(), None);
    assert_eq!(s.all_member_alerts().await.unwrap(), vec![alerts(3)]);
    assert_eq!(
        s.asked_questions("").await.unwrap(),
        vec![asked("main", 30, 3, t0())]
    );
    assert_eq!(s.personal_outbox().await.unwrap(), vec![dms[3].clone()]);
    assert!(s.get_link(3).await.unwrap().is_some());
    assert_eq!(s.tag_experts("main", 5).await.unwrap(), Some(expert_record));
    assert_eq!(s.get_save("s1").await.unwrap(), Some(saved));
    // Even without a link, deleting it forgets the member's alerts.
    s.put_member_alerts(&alerts(4)).await.unwrap();
    assert!(!s.delete_link(4).await.unwrap());
    assert_eq!(s.member_alerts(4).await.unwrap(), None);
    assert_eq!(s.all_member_alerts().await.unwrap(), vec![alerts(3)]);
}

async fn personal_health_counts_members_questions_and_failing_dms(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(
        s.personal_health().await.unwrap(),
        PersonalHealth::default()
    );
    // 1: answers to all its questions and experts; 2: new questions; 3: the defaults.
    s.put_member_alerts(&MemberAlerts {
        answers: AnswerAlerts::All,
        experts: true,
        ..alerts(1)
    })
    .await
    .unwrap();
    s.put_member_alerts(&MemberAlerts {
        questions: true,
        ..alerts(2)
    })
    .await
    .unwrap();
    s.put_member_alerts(&alerts(3)).await.unwrap();
    s.record_asked(&asked("main", 1, 1, t0())).await.unwrap();
    s.record_asked(&asked("team:x", 1, 2, t0())).await.unwrap();
    let (_, dms) = s
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![
                dm(1, 1, t0()),
                dm(2, 1, t0() + Duration::minutes(2)),
                dm(3, 1, t0() + Duration::minutes(1)),
            ],
        )
        .await
        .unwrap();
    for (i, error) in [(1, "newer failure"), (2, "older failure")] {
        s.update_personal(&PersonalEntry {
            attempts: 1,
            last_error: Some(error.into()),
            ..dms[i].clone()
        })
        .await
        .unwrap();
    }
    assert_eq!(
        s.personal_health().await.unwrap(),
        PersonalHealth {
            alert_members: 2,
            expert_members: 1,
            asked_questions: 2,
            outbox_depth: 3,
            failing: 2,
            last_error: Some("newer failure".into()),
        }
    );
    s.complete_personal(dms[1].id).await.unwrap();
    let h = s.personal_health().await.unwrap();
    assert_eq!(
        (h.outbox_depth, h.failing, h.last_error.as_deref()),
        (2, 1, Some("older failure"))
    );
}

// ---------------------------------------------------------------- thread saves

async fn thread_saves_round_trip_overwrite_list_and_sweep(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    assert_eq!(s.get_save("a").await.unwrap(), None);
    assert!(s.all_saves().await.unwrap().is_empty());
    let a = save("a", 1, t0());
    let ab = save("ab", 2, t0() + Duration::minutes(30));
    let b = save("b", 1, t0() + Duration::hours(1));
    for x in [&b, &a, &ab] {
        s.put_save(x).await.unwrap();
    }
    assert_eq!(s.get_save("a").await.unwrap(), Some(a.clone()));
    assert_eq!(s.get_save("A").await.unwrap(), None, "ids are exact");
    assert_eq!(s.get_save("").await.unwrap(), None);
    assert_eq!(
        s.all_saves().await.unwrap(),
        vec![a.clone(), ab.clone(), b.clone()],
        "every save, by id"
    );
    // Progress replaces the record, every field of it.
    let part = |message: u64, consent: Consent, posted: Option<Posted>| SavedPart {
        message,
        consent,
        draft: format!("draft-{message}"),
        posted,
        posting: None,
    };
    let progressed = ThreadSave {
        title: "How do I rotate the key?".into(),
        tags: vec!["security".into(), "keys".into()],
        question: Some(part(
            501,
            Consent::given(7, "author7", false, t0()),
            Some(Posted {
                id: 42,
                url: "https://soe.example/q/42".into(),
                posted_as: "author7".into(),
                by_invoker: false,
            }),
        )),
        answer: Some(part(502, Consent::ask(8, "author8", t0()), None)),
        accepted: true,
        accepting: Some(t0()),
        card_posted: true,
        finished: true,
        ..a.clone()
    };
    s.put_save(&progressed).await.unwrap();
    assert_eq!(s.get_save("a").await.unwrap(), Some(progressed.clone()));
    assert_eq!(
        s.all_saves().await.unwrap(),
        vec![progressed, ab, b.clone()]
    );

    // Sweeps remove saves started strictly before the bound.
    assert_eq!(s.sweep_saves(t0()).await.unwrap(), 0, "t0 is not before t0");
    assert_eq!(s.sweep_saves(t0() + Duration::hours(1)).await.unwrap(), 2);
    assert_eq!(s.sweep_saves(t0() + Duration::hours(1)).await.unwrap(), 0);
    assert_eq!(s.get_save("a").await.unwrap(), None);
    assert_eq!(s.all_saves().await.unwrap(), vec![b]);
    assert_eq!(s.sweep_saves(t0() + Duration::days(2)).await.unwrap(), 1);
    assert!(s.all_saves().await.unwrap().is_empty());
}

async fn personal_records_and_saves_survive_a_reopen(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let member = MemberAlerts {
        experts: true,
        ..alerts(1)
    };
    s.put_member_alerts(&member).await.unwrap();
    let question = asked("main", 10, 1, t0());
    s.record_asked(&question).await.unwrap();
    let tag = experts(&[1001, 1002], t0());
    s.put_tag_experts("main", 5, &tag).await.unwrap();
    let (_, dms) = s
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![dm(1, 1, t0()), dm(1, 2, t0())],
        )
        .await
        .unwrap();
    let retried = PersonalEntry {
        attempts: 1,
        last_error: Some("timeout".into()),
        ..dms[0].clone()
    };
    s.update_personal(&retried).await.unwrap();
    let saved = save("s1", 1, t0());
    s.put_save(&saved).await.unwrap();

    let fx = fx
        .reopen(Cipher::for_testing())
        .await
        .map_err(|(e, _)| e)
        .expect("reopens");
    let s = &fx.store;
    assert_eq!(s.all_member_alerts().await.unwrap(), vec![member]);
    assert_eq!(s.asked_questions("main").await.unwrap(), vec![question]);
    assert_eq!(s.tag_experts("main", 5).await.unwrap(), Some(tag));
    assert_eq!(
        s.personal_outbox().await.unwrap(),
        vec![retried, dms[1].clone()]
    );
    assert_eq!(s.all_saves().await.unwrap(), vec![saved]);
    // DM ids keep increasing across the reopen (a nonce is never reused).
    let (_, after) = s
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![dm(2, 3, t0())],
        )
        .await
        .unwrap();
    assert!(
        after[0].id > dms[1].id,
        "{} after {}",
        after[0].id,
        dms[1].id
    );
    assert_eq!(s.personal_outbox().await.unwrap().len(), 3);
}

async fn unreadable_personal_records_and_saves_are_skipped_and_swept(kind: Kind) {
    let fx = Fixture::new(kind).await;
    let s = &fx.store;
    let junk = b"{not json";
    s.put_member_alerts(&alerts(1)).await.unwrap();
    fx.raw
        .raw_put("personal_members/v1", &5u64.to_be_bytes(), junk)
        .await
        .unwrap();
    assert_eq!(s.all_member_alerts().await.unwrap(), vec![alerts(1)]);
    assert!(
        s.member_alerts(5).await.is_err(),
        "asked for by id: an error"
    );

    let question = asked("main", 10, 1, t0());
    s.record_asked(&question).await.unwrap();
    let junk_key = [&b"main\0"[..], &11i64.to_be_bytes()[..]].concat();
    fx.raw
        .raw_put("personal_asked/v1", &junk_key, junk)
        .await
        .unwrap();
    assert_eq!(
        s.asked_questions("main").await.unwrap(),
        vec![question.clone()]
    );
    assert_eq!(
        s.sweep_asked(t0()).await.unwrap(),
        1,
        "the unreadable one goes, the readable one is not old enough"
    );
    assert_eq!(
        fx.raw
            .raw_get("personal_asked/v1", &junk_key)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.asked_questions("").await.unwrap(), vec![question]);

    let (_, dms) = s
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![dm(1, 1, t0())],
        )
        .await
        .unwrap();
    fx.raw
        .raw_put("personal_outbox/v1", &u64::MAX.to_be_bytes(), junk)
        .await
        .unwrap();
    assert_eq!(s.personal_outbox().await.unwrap(), dms);

    let saved = save("s1", 1, t0());
    s.put_save(&saved).await.unwrap();
    fx.raw
        .raw_put("thread_saves/v1", b"junk", junk)
        .await
        .unwrap();
    assert_eq!(s.all_saves().await.unwrap(), vec![saved.clone()]);
    assert!(
        s.get_save("junk").await.is_err(),
        "asked for by id: an error"
    );
    assert_eq!(s.sweep_saves(t0()).await.unwrap(), 1);
    assert_eq!(
        fx.raw.raw_get("thread_saves/v1", b"junk").await.unwrap(),
        None
    );
    assert_eq!(s.all_saves().await.unwrap(), vec![saved]);
}

/// `migrate-store`'s copy into a store of this backend, used at once (no reopen): new cards
/// and DMs get ids past every copied id, cards' and DMs' alike, so no copied DM is
/// overwritten and no nonce is reused.
async fn a_copy_hands_out_ids_past_every_copied_card_and_dm(kind: Kind) {
    let source = Fixture::new(Kind::Sled).await;
    let cards = source
        .store
        .commit_poll("main", &TargetState::default(), vec![entry(10, 1)])
        .await
        .unwrap();
    // DMs queued after the cards: the source's newest id is a DM's.
    let (_, dms) = source
        .store
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![dm(1, 1, t0()), dm(2, 1, t0()), dm(3, 1, t0())],
        )
        .await
        .unwrap();
    let newest = dms.iter().map(|e| e.id).max().unwrap();
    assert!(newest > cards[0].id);

    let target = Fixture::new(kind).await;
    let report = soe_bot::store::copy::copy_store(source.raw.as_ref(), target.raw.as_ref())
        .await
        .unwrap();
    assert_eq!(report.copied["personal_outbox/v1"], 3);
    let t = &target.store;
    assert_eq!(t.personal_outbox().await.unwrap(), dms);
    let (more_cards, more_dms) = t
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            vec![entry(10, 2)],
            vec![dm(4, 2, t0())],
        )
        .await
        .unwrap();
    assert!(
        more_cards[0].id > newest && more_dms[0].id > newest,
        "card {} and DM {} after {newest}",
        more_cards[0].id,
        more_dms[0].id
    );
    let mut want = dms;
    want.push(more_dms[0].clone());
    assert_eq!(
        t.personal_outbox().await.unwrap(),
        want,
        "no copied DM overwritten"
    );
    assert_eq!(t.outbox_depth().await.unwrap(), 2);
}

// ---------------------------------------------------------------- across backends

/// The same state written through each backend is the same bytes (records without a sealed
/// part are byte for byte equal; sealed ones differ only by their random nonce), and a value
/// written by one backend opens through the other, in both directions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn the_same_record_is_the_same_bytes_on_both_backends() {
    let sled = Fixture::new(Kind::Sled).await;
    let pg = Fixture::new(Kind::Postgres).await;
    let exp = t0() + Duration::hours(1);
    let mut g = GuildSettings::default();
    g.enabled_channels.push(4);
    for fx in [&sled, &pg] {
        fx.store.put_guild_settings(7, &g).await.unwrap();
        fx.store
            .put_ticket(hash("t"), &ticket(3, exp))
            .await
            .unwrap();
        assert_eq!(
            fx.store.claim_write("vote:1", t0()).await.unwrap(),
            WriteClaim::Claimed
        );
        fx.store.take_rate("ask:1", 3, 600, t0()).await.unwrap();
        fx.store.add_rule(&rule(1, 10)).await.unwrap();
        fx.store.put_member_alerts(&alerts(1)).await.unwrap();
        fx.store
            .record_asked(&asked("main", 10, 1, t0()))
            .await
            .unwrap();
        fx.store
            .put_tag_experts("main", 5, &experts(&[1001], t0()))
            .await
            .unwrap();
        fx.store.put_save(&save("s1", 1, t0())).await.unwrap();
    }
    for (tree, key) in [
        ("guilds/v1", 7u64.to_be_bytes().to_vec()),
        ("tickets/v1", hash("t").to_vec()),
        ("writes/v1", b"vote:1".to_vec()),
        ("rates/v1", b"ask:1".to_vec()),
        (
            "notify_rules/v1",
            [&1u64.to_be_bytes()[..], &1u32.to_be_bytes()[..]].concat(),
        ),
        (
            "notify_meta/v1",
            [&b"rule_seq"[..], &1u64.to_be_bytes()[..]].concat(),
        ),
        ("personal_members/v1", 1u64.to_be_bytes().to_vec()),
        (
            "personal_asked/v1",
            [&b"main\0"[..], &10i64.to_be_bytes()[..]].concat(),
        ),
        (
            "personal_experts/v1",
            [&b"main\0"[..], &5i64.to_be_bytes()[..]].concat(),
        ),
        ("thread_saves/v1", b"s1".to_vec()),
    ] {
        let a = sled.raw.raw_get(tree, &key).await.unwrap();
        let b = pg.raw.raw_get(tree, &key).await.unwrap();
        assert!(a.is_some(), "{tree} stored");
        assert_eq!(a, b, "{tree}: the same bytes on both backends");
    }
    // DMs (ids differ between backends, the records do not) cross and read back the same.
    let (_, dms) = sled
        .store
        .commit_poll_personal(
            "main",
            &TargetState::default(),
            Vec::new(),
            vec![dm(1, 1, t0()), dm(2, 1, t0())],
        )
        .await
        .unwrap();
    for (k, v) in sled.raw.raw_tree("personal_outbox/v1").await.unwrap() {
        pg.raw.raw_put("personal_outbox/v1", &k, &v).await.unwrap();
    }
    assert_eq!(pg.store.personal_outbox().await.unwrap(), dms);
    // Sealed values cross both ways and open.
    sled.store.put_link(&link(1, "from-sled")).await.unwrap();
    pg.store.put_link(&link(2, "from-pg")).await.unwrap();
    sled.store
        .put_draft(&draft(1, "d", t0(), exp))
        .await
        .unwrap();
    let dkey = [&1u64.to_be_bytes()[..], b"d"].concat();
    for (from, to, user) in [(&sled, &pg, 1u64), (&pg, &sled, 2u64)] {
        let raw = from
            .raw
            .raw_get("links/v1", &user.to_be_bytes())
            .await
            .unwrap()
            .unwrap();
        to.raw
            .raw_put("links/v1", &user.to_be_bytes(), &raw)
            .await
            .unwrap();
        assert_eq!(
            to.raw
                .raw_get("links/v1", &user.to_be_bytes())
                .await
                .unwrap(),
            Some(raw)
        );
        assert!(
            to.store.get_link(user).await.unwrap().is_some(),
            "opens on the other side"
        );
    }
    assert_eq!(sealed_token(&pg, 1).await.as_deref(), Some("from-sled"));
    assert_eq!(sealed_token(&sled, 2).await.as_deref(), Some("from-pg"));
    let raw = sled.raw.raw_get("drafts/v1", &dkey).await.unwrap().unwrap();
    pg.raw.raw_put("drafts/v1", &dkey, &raw).await.unwrap();
    assert_eq!(
        pg.store.get_draft(1, "d").await.unwrap(),
        Some(draft(1, "d", t0(), exp))
    );
    // And the sweep on PostgreSQL finds a copied record by its expiry.
    assert!(pg.store.sweep_expired(exp).await.unwrap() >= 1);
    assert!(pg.store.get_draft(1, "d").await.unwrap().is_none());
}

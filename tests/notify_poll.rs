//! Notifications end to end against the fake site, with injected time and an in-memory card
//! sink: SOE requests per poll do not depend on the number of rules; every new item is carded
//! exactly once (overlapping polls, edits in place); 429 and 500 back off and lose nothing; a
//! deleted channel records the rule's error, which `subscriptions` shows; the hourly cap folds
//! the excess into one digest; `unanswered-after` cards a question only once old enough; and
//! the admin commands (permission, DMs, channels of another server, preview).

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use parking_lot::Mutex;
use soe_bot::commands::subscriptions::ChannelDirectory;
use soe_bot::commands::{Action, Member, OptionValue, Reply};
use soe_bot::fake_soe::{Fault, FaultKind, JANE, SAM};
use soe_bot::notify::rule::{parse_spec, Rule, SubscribeOptions};
use soe_bot::notify::{CardSink, Deliverer, PollSettings, Poller, SendError, Target};
use soe_bot::store::NotifyStore;
use support::test_app::TestApp;

const GUILD: u64 = 1;
const CHANNEL: u64 = 10;
const OTHER_GUILD_CHANNEL: u64 = 99;
const MANAGE_GUILD: u64 = 1 << 5;

/// What the sink was asked to do.
#[derive(Debug, Clone)]
enum Sent {
    Post { channel: u64, id: u64, reply: Reply },
    Edit { channel: u64, id: u64, reply: Reply },
    Thread,
}

/// An in-memory Discord: nonces deduplicate like `enforce_nonce`; channels can be broken.
#[derive(Default)]
struct Sink {
    log: Mutex<Vec<Sent>>,
    nonces: Mutex<HashMap<String, u64>>,
    broken: Mutex<HashMap<u64, SendError>>,
    next: Mutex<u64>,
}

impl Sink {
    fn posts(&self) -> Vec<(u64, u64, Reply)> {
        self.log
            .lock()
            .iter()
            .filter_map(|s| match s {
                Sent::Post { channel, id, reply } => Some((*channel, *id, reply.clone())),
                _ => None,
            })
            .collect()
    }
    fn edits(&self) -> Vec<(u64, u64, Reply)> {
        self.log
            .lock()
            .iter()
            .filter_map(|s| match s {
                Sent::Edit { channel, id, reply } => Some((*channel, *id, reply.clone())),
                _ => None,
            })
            .collect()
    }
    fn threads(&self) -> usize {
        self.log
            .lock()
            .iter()
            .filter(|s| matches!(s, Sent::Thread))
            .count()
    }
    fn titles(&self) -> Vec<String> {
        self.posts()
            .iter()
            .map(|(_, _, r)| {
                r.embeds
                    .first()
                    .map(|e| e.title.clone())
                    .unwrap_or_else(|| r.content.clone())
            })
            .collect()
    }
}

#[async_trait]
impl CardSink for Sink {
    async fn send(&self, channel: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        if let Some(e) = self.broken.lock().get(&channel) {
            return Err(e.clone());
        }
        if let Some(id) = self.nonces.lock().get(nonce) {
            return Ok(*id);
        }
        let id = {
            let mut n = self.next.lock();
            *n += 1;
            *n
        };
        self.nonces.lock().insert(nonce.to_string(), id);
        self.log.lock().push(Sent::Post {
            channel,
            id,
            reply: message.clone(),
        });
        Ok(id)
    }
    async fn edit(&self, channel: u64, id: u64, message: &Reply) -> Result<(), SendError> {
        self.log.lock().push(Sent::Edit {
            channel,
            id,
            reply: message.clone(),
        });
        Ok(())
    }
    async fn start_thread(&self, _channel: u64, id: u64, _name: &str) -> Result<(), SendError> {
        let _ = id;
        self.log.lock().push(Sent::Thread);
        Ok(())
    }
    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, SendError> {
        Ok(Some(if channel == OTHER_GUILD_CHANNEL {
            2
        } else {
            GUILD
        }))
    }
}

#[async_trait]
impl ChannelDirectory for Sink {
    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, String> {
        CardSink::channel_guild(self, channel)
            .await
            .map_err(|e| e.to_string())
    }
}

struct Bot {
    t: TestApp,
    sink: Arc<Sink>,
    poller: Arc<Poller>,
    deliverer: Arc<Deliverer>,
}

impl Bot {
    async fn start() -> Bot {
        let t = TestApp::start().await;
        let sink = Arc::new(Sink::default());
        let (poller, deliverer) = t.app.notifications(sink.clone(), PollSettings::default());
        t.app.commands.use_channel_directory(sink.clone());
        Bot {
            t,
            sink,
            poller,
            deliverer,
        }
    }

    async fn rule(&self, channel: u64, tags: &str, events: &str, after: &str) -> Rule {
        let r = Rule {
            guild: GUILD,
            id: 0,
            channel,
            spec: parse_spec(&SubscribeOptions {
                tags: Some(tags),
                events: Some(events),
                unanswered_after: Some(after),
                ..Default::default()
            })
            .unwrap(),
            team: None,
            created_by: 7,
            created_at: self.t.clock_now(),
            last_post_at: None,
            last_error: None,
        };
        self.t.store.add_rule(&r).await.unwrap()
    }

    async fn poll(&self) -> soe_bot::notify::PollReport {
        self.poller.poll(&Target::main()).await.unwrap()
    }

    async fn deliver(&self) -> soe_bot::notify::DeliveryReport {
        self.deliverer.deliver_due().await.unwrap()
    }

    fn advance(&self, secs: i64) {
        self.t.clock.advance(Duration::seconds(secs));
    }

    fn api_calls(&self) -> usize {
        self.t.fake.requests().iter().filter(|r| r.is_api()).count()
    }

    fn admin(&self) -> Member {
        let mut m = TestApp::member(500, "admin");
        m.permissions = Some(MANAGE_GUILD);
        m
    }

    async fn admin_cmd(
        &self,
        member: &Member,
        verb: &str,
        options: &[(&str, OptionValue)],
    ) -> Reply {
        let inv = self.t.invocation(
            member,
            Action::Command {
                name: "so-admin".into(),
                path: vec![verb.into()],
                options: options
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            },
        );
        self.t.run(&inv).await
    }
}

fn s(v: &str) -> OptionValue {
    OptionValue::Str(v.into())
}

#[tokio::test]
async fn requests_per_poll_do_not_depend_on_the_number_of_rules() {
    let mut counts = Vec::new();
    for n in [1usize, 10, 1_000] {
        let b = Bot::start().await;
        for i in 0..n {
            let tags = ["rust", "tokio", "serde", "go"][i % 4];
            b.rule(
                CHANNEL + (i as u64 % 7),
                tags,
                "questions,answers,accepted",
                "",
            )
            .await;
        }
        b.poll().await; // first poll: sets the cursor, reads nothing
        b.advance(60);
        let q1 = b.t.fake.add_question(
            JANE,
            "How do I pin a future?",
            "Body long enough to be a question.",
            &["rust", "tokio"],
        );
        let q2 = b.t.fake.add_question(
            SAM,
            "Which serde attribute renames?",
            "Body long enough to be a question.",
            &["serde"],
        );
        b.advance(5);
        b.t.fake
            .add_answer(q1, SAM, "Use Box::pin, it is the usual way to pin.");
        b.t.fake.clear_requests();
        let report = b.poll().await;
        let calls = b.api_calls();
        assert!(report.polled);
        counts.push(calls);
        let delivered = b.deliver().await;
        // Every channel whose rules match gets each item once.
        let posts = b.sink.posts();
        assert!(
            delivered.sent > 0 && delivered.sent == posts.len(),
            "{n} rules: {delivered:?}"
        );
        let mut keys: Vec<(u64, String)> = posts
            .iter()
            .map(|(c, _, r)| {
                (
                    *c,
                    format!("{:?}", r.embeds.first().map(|e| (&e.title, &e.description))),
                )
            })
            .collect();
        let before = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(
            keys.len(),
            before,
            "no item twice in a channel with {n} rules"
        );
        let _ = q2;
    }
    // One page of activity, one answer list for the answered question.
    assert_eq!(
        counts,
        vec![2, 2, 2],
        "SOE calls per poll for 1, 10 and 1,000 rules"
    );
}

#[tokio::test]
async fn every_new_item_is_carded_once_and_news_edits_the_card() {
    let b = Bot::start().await;
    b.rule(CHANNEL, "rust", "questions,answers,accepted", "")
        .await;
    b.poll().await;
    b.advance(30);
    let q = b.t.fake.add_question(
        JANE,
        "Lifetimes in async closures",
        "Body long enough to be a question.",
        &["rust"],
    );
    let _other = b.t.fake.add_question(
        JANE,
        "A Go question entirely",
        "Body long enough to be a question.",
        &["go"],
    );
    b.advance(30);
    assert_eq!(b.poll().await.queued, 1);
    // A second poll over the same window (the cursor overlaps by design) queues nothing new.
    b.advance(10);
    assert_eq!(b.poll().await.queued, 0);
    assert_eq!(b.deliver().await.sent, 1);
    assert_eq!(b.deliver().await.sent, 0, "sent once");
    assert_eq!(
        b.sink.titles(),
        vec!["Lifetimes in async closures".to_string()]
    );
    assert_eq!(b.sink.threads(), 0, "threads are off by default");
    let card = &b.sink.posts()[0].2;
    assert!(card.content.is_empty() && !card.ephemeral);
    assert!(card.embeds[0]
        .description
        .contains("New question by **Jane"));

    // An answer and its acceptance edit the card in place instead of posting again.
    b.advance(60);
    let a =
        b.t.fake
            .add_answer(q, SAM, "Use a boxed future and the lifetime will be fine.");
    b.advance(60);
    b.poll().await;
    let r = b.deliver().await;
    assert_eq!((r.sent, r.edited), (0, 1), "{r:?}");
    b.advance(60);
    b.t.fake.accept_answer(q, a).unwrap();
    b.advance(60);
    b.poll().await;
    let r = b.deliver().await;
    assert_eq!((r.sent, r.edited), (0, 1), "{r:?}");
    let edits = b.sink.edits();
    assert_eq!(edits.len(), 2);
    assert!(
        edits.iter().all(|(_, id, _)| *id == b.sink.posts()[0].1),
        "the first card is edited"
    );
    assert!(edits[1].2.embeds[0].description.contains("✓ accepted"));
    // Nothing more comes from further polls.
    b.advance(60);
    b.poll().await;
    assert_eq!(b.deliver().await, Default::default());
    assert_eq!(b.t.store.outbox_depth().await.unwrap(), 0);
    let rule = &b.t.store.rules_of(GUILD).await.unwrap()[0];
    assert!(rule.last_post_at.is_some() && rule.last_error.is_none());
}

#[tokio::test]
async fn rate_limits_and_server_errors_back_off_and_lose_nothing() {
    let b = Bot::start().await;
    b.rule(CHANNEL, "rust", "questions", "").await;
    b.poll().await;
    b.advance(30);
    b.t.fake.add_question(
        JANE,
        "First question after start",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.t.fake.push_fault(
        Fault::on(
            "GET",
            "/questions",
            FaultKind::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    b.advance(30);
    assert!(
        b.poller.poll(&Target::main()).await.is_err(),
        "429 fails the poll"
    );
    let state = b.t.store.target_state("main").await.unwrap().unwrap();
    let wait = (state.next_poll_at.unwrap() - b.t.clock_now()).num_seconds();
    assert!(wait >= 120, "backs off twice the interval: {wait}");
    assert!(state.last_error.is_some());
    // Backing off: no request at all. (The client also pauses the token for the second the
    // site asked for, in real time.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    b.t.fake.clear_requests();
    b.advance(60);
    assert!(!b.poll().await.polled);
    assert_eq!(b.api_calls(), 0);

    // 500s (beyond the client's own retries) also back off, and double the wait.
    b.advance(60);
    b.t.fake
        .push_fault(Fault::on("GET", "/questions", FaultKind::Status(500)));
    assert!(b.poller.poll(&Target::main()).await.is_err());
    let state = b.t.store.target_state("main").await.unwrap().unwrap();
    assert_eq!(state.failures, 2);
    b.t.fake.clear_faults();
    b.t.fake.add_question(
        JANE,
        "Second question during the outage",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(240);
    let r = b.poll().await;
    assert_eq!(r.queued, 2, "both questions, nothing lost: {r:?}");
    let state = b.t.store.target_state("main").await.unwrap().unwrap();
    assert_eq!((state.failures, state.last_error), (0, None));
    assert_eq!(b.deliver().await.sent, 2);
}

#[tokio::test]
async fn a_deleted_channel_records_the_rule_error_and_is_retried_slowly() {
    let b = Bot::start().await;
    let rule = b.rule(CHANNEL, "rust", "questions", "").await;
    b.poll().await;
    b.advance(30);
    b.t.fake.add_question(
        JANE,
        "Question for a channel that is gone",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(30);
    b.poll().await;
    b.sink.broken.lock().insert(
        CHANNEL,
        SendError::Gone("Discord answered 404 (code 10003): Unknown Channel".into()),
    );
    let r = b.deliver().await;
    assert_eq!((r.sent, r.failed), (0, 1));
    let stored = b.t.store.get_rule(GUILD, rule.id).await.unwrap().unwrap();
    assert!(stored.last_error.unwrap().message.contains("is gone"));
    // `subscriptions` shows it.
    let reply = b.admin_cmd(&b.admin(), "subscriptions", &[]).await;
    assert!(
        reply.content.contains("⚠") && reply.content.contains("is gone"),
        "{}",
        reply.content
    );
    assert!(reply.ephemeral);
    // Not retried at full rate.
    b.advance(60);
    assert_eq!(b.deliver().await.failed, 0, "waits before trying again");
    // The channel is back: the card arrives and the error clears.
    b.sink.broken.lock().clear();
    b.advance(15 * 60);
    assert_eq!(b.deliver().await.sent, 1);
    let stored = b.t.store.get_rule(GUILD, rule.id).await.unwrap().unwrap();
    assert!(stored.last_error.is_none());
}

#[tokio::test]
async fn over_the_hourly_cap_the_rest_fold_into_one_digest() {
    let b = Bot::start().await;
    b.rule(CHANNEL, "rust", "questions", "").await;
    let mut cfg = b.t.store.channel_notify(CHANNEL).await.unwrap();
    cfg.cap_per_hour = 2;
    cfg.threads = true;
    b.t.store.put_channel_notify(CHANNEL, &cfg).await.unwrap();
    b.poll().await;
    b.advance(30);
    for i in 0..5 {
        b.t.fake.add_question(
            JANE,
            &format!("Rust question number {i} here"),
            "Body long enough to be a question.",
            &["rust"],
        );
    }
    b.advance(30);
    assert_eq!(b.poll().await.queued, 5);
    let r = b.deliver().await;
    assert_eq!((r.sent, r.digests), (2, 0));
    assert_eq!(
        b.sink.threads(),
        2,
        "a thread per question card when the channel asks"
    );
    b.advance(11 * 60);
    let r = b.deliver().await;
    assert_eq!((r.sent, r.digests), (0, 1));
    let posts = b.sink.posts();
    let digest = &posts.last().unwrap().2;
    assert!(
        digest.content.contains("3 more from the site"),
        "{}",
        digest.content
    );
    assert_eq!(b.t.store.outbox_depth().await.unwrap(), 0);
}

#[tokio::test]
async fn unanswered_after_cards_a_question_only_once_it_is_old_enough() {
    let b = Bot::start().await;
    b.rule(CHANNEL, "rust", "questions", "30m").await;
    b.poll().await;
    b.advance(30);
    b.t.fake.add_question(
        JANE,
        "Nobody answers this one",
        "Body long enough to be a question.",
        &["rust"],
    );
    let answered = b.t.fake.add_question(
        JANE,
        "Somebody answers this one",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(30);
    assert_eq!(b.poll().await.queued, 0, "too young");
    b.advance(60);
    b.t.fake
        .add_answer(answered, SAM, "Here is an answer that is long enough.");
    b.advance(29 * 60);
    b.t.fake.clear_requests();
    let r = b.poll().await;
    assert_eq!(r.queued, 1, "{r:?}");
    assert_eq!(b.deliver().await.sent, 1);
    assert_eq!(b.sink.titles(), vec!["Nobody answers this one".to_string()]);
    assert!(b.sink.posts()[0].2.embeds[0]
        .description
        .starts_with("Unanswered for 30m"));
    b.advance(60);
    assert_eq!(b.poll().await.queued, 0, "once");
}

#[tokio::test]
async fn admin_commands_check_permission_guild_and_channel() {
    let b = Bot::start().await;
    let admin = b.admin();
    // No permission.
    let member = TestApp::member(501, "member");
    let r = b
        .admin_cmd(&member, "subscribe", &[("tags", s("rust"))])
        .await;
    assert!(r.content.contains("Manage Server"), "{}", r.content);
    // A DM.
    let mut inv = b.t.invocation(
        &admin,
        Action::Command {
            name: "so-admin".into(),
            path: vec!["subscriptions".into()],
            options: vec![],
        },
    );
    inv.guild_id = None;
    let r = b.t.run(&inv).await;
    assert!(
        r.content.contains("only inside a server") || r.content.contains("direct messages"),
        "{}",
        r.content
    );
    // A channel of another server.
    let r = b
        .admin_cmd(
            &admin,
            "subscribe",
            &[
                ("tags", s("rust")),
                ("channel", OptionValue::Channel(OTHER_GUILD_CHANNEL)),
            ],
        )
        .await;
    assert!(
        r.content.contains("not a channel of this server"),
        "{}",
        r.content
    );
    assert!(b.t.store.rules_of(GUILD).await.unwrap().is_empty());
    // Bad options say what to do.
    let r = b
        .admin_cmd(
            &admin,
            "subscribe",
            &[("tags", s("rust")), ("events", s("comments"))],
        )
        .await;
    assert!(r.content.contains("not an event"), "{}", r.content);
    // A good one, in another channel of this server.
    let r = b
        .admin_cmd(
            &admin,
            "subscribe",
            &[
                ("tags", s("rust, tokio")),
                ("channel", OptionValue::Channel(11)),
                ("match", s("all")),
                ("exclude", s("wasm")),
                ("events", s("questions,answers")),
                ("threads", OptionValue::Bool(true)),
            ],
        )
        .await;
    assert!(
        r.content.contains("Rule **#1**") && r.content.contains("<#11>"),
        "{}",
        r.content
    );
    assert!(b.t.store.channel_notify(11).await.unwrap().threads);
    let same = b
        .admin_cmd(
            &admin,
            "subscribe",
            &[
                ("tags", s("tokio rust")),
                ("channel", OptionValue::Channel(11)),
                ("match", s("all")),
                ("exclude", s("wasm")),
                ("events", s("answers,questions")),
            ],
        )
        .await;
    assert!(
        same.content.contains("already does exactly this"),
        "{}",
        same.content
    );
    let list = b.admin_cmd(&admin, "subscriptions", &[]).await;
    assert!(
        list.content
            .contains("**#1** <#11>: all of `rust`, `tokio`, not `wasm`"),
        "{}",
        list.content
    );
    assert!(list.content.contains("no card yet"));
    // Preview reads the last 7 days through the service token.
    b.advance(60);
    b.t.fake.add_question(
        JANE,
        "Tokio and Rust together at last",
        "Body long enough to be a question.",
        &["rust", "tokio"],
    );
    b.t.fake.clear_requests();
    let p = b
        .admin_cmd(&admin, "preview", &[("rule", OptionValue::Int(1))])
        .await;
    assert!(
        p.content.contains("would have posted **1** card"),
        "{}",
        p.content
    );
    assert!(p.content.contains("Tokio and Rust together at last"));
    let reqs = b.t.fake.requests();
    assert!(reqs
        .iter()
        .all(|r| r.token.as_deref() == Some(b.t.fake.service_token().as_str())));
    assert!(reqs
        .iter()
        .any(|r| r.route == "/questions" && r.param("from").is_some()));
    // Unsubscribe.
    let r = b
        .admin_cmd(&admin, "unsubscribe", &[("rule", OptionValue::Int(1))])
        .await;
    assert!(r.content.contains("Rule #1 removed"));
    let r = b
        .admin_cmd(&admin, "unsubscribe", &[("rule", OptionValue::Int(1))])
        .await;
    assert!(r.content.contains("no rule #1"));
    let r = b
        .admin_cmd(&admin, "preview", &[("rule", OptionValue::Int(1))])
        .await;
    assert!(r.content.contains("no rule #1"));
}

#[tokio::test]
async fn removing_a_rule_drops_its_queued_cards() {
    let b = Bot::start().await;
    let rule = b.rule(CHANNEL, "rust", "questions", "").await;
    b.poll().await;
    b.advance(30);
    b.t.fake.add_question(
        JANE,
        "Queued then unsubscribed",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(30);
    assert_eq!(b.poll().await.queued, 1);
    assert!(b.t.store.delete_rule(GUILD, rule.id).await.unwrap());
    let r = b.deliver().await;
    assert_eq!((r.sent, r.dropped), (0, 1));
    assert_eq!(b.t.store.outbox_depth().await.unwrap(), 0);
}

/// The loops as `run` starts them (a short interval here): the time from a post on the site
/// to its card is one poll interval at most, plus the work, which is printed.
#[tokio::test]
async fn the_running_loops_card_a_new_post_within_one_interval() {
    let t = TestApp::start().await;
    let sink = Arc::new(Sink::default());
    let interval = std::time::Duration::from_millis(300);
    let rule = Rule {
        guild: GUILD,
        id: 0,
        channel: CHANNEL,
        spec: parse_spec(&SubscribeOptions {
            tags: Some("rust"),
            ..Default::default()
        })
        .unwrap(),
        team: None,
        created_by: 7,
        created_at: t.clock_now(),
        last_post_at: None,
        last_error: None,
    };
    t.store.add_rule(&rule).await.unwrap();
    let tasks = t.app.spawn_notifications(
        sink.clone(),
        PollSettings {
            interval,
            ..Default::default()
        },
    );
    // Let the first poll run, then post.
    tokio::time::sleep(interval * 2).await;
    t.clock.advance(Duration::seconds(1));
    let posted = std::time::Instant::now();
    t.fake.add_question(
        JANE,
        "A question the loops must pick up",
        "Body long enough to be a question.",
        &["rust"],
    );
    let deadline = posted + std::time::Duration::from_secs(10);
    while sink.posts().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no card within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let lag = posted.elapsed();
    println!("lag from post to card: {lag:?} with a {interval:?} poll interval");
    assert!(
        lag < interval + std::time::Duration::from_secs(2),
        "{lag:?}"
    );
    assert_eq!(
        sink.titles(),
        vec!["A question the loops must pick up".to_string()]
    );
    for task in tasks {
        task.abort();
    }
}

/// More activity in one interval than one poll reads (here one page of 50): nothing is lost,
/// the next poll reads on from the next page.
#[tokio::test]
async fn a_burst_larger_than_the_page_budget_is_read_over_two_polls() {
    let b = Bot::start().await;
    let (poller, deliverer) = b.t.app.notifications(
        b.sink.clone(),
        PollSettings {
            max_pages: 1,
            ..Default::default()
        },
    );
    b.rule(CHANNEL, "rust", "questions", "").await;
    poller.poll(&Target::main()).await.unwrap();
    b.advance(30);
    for i in 0..60 {
        b.t.fake.add_question(
            JANE,
            &format!("Burst question number {i:02} here"),
            "Body long enough to be a question.",
            &["rust"],
        );
    }
    b.advance(30);
    let first = poller.poll(&Target::main()).await.unwrap();
    b.advance(60);
    let second = poller.poll(&Target::main()).await.unwrap();
    b.advance(60);
    let third = poller.poll(&Target::main()).await.unwrap();
    assert_eq!((first.queued, second.queued, third.queued), (50, 10, 0));
    let mut cap = b.t.store.channel_notify(CHANNEL).await.unwrap();
    cap.cap_per_hour = 200;
    b.t.store.put_channel_notify(CHANNEL, &cap).await.unwrap();
    assert_eq!(deliverer.deliver_due().await.unwrap().sent, 60);
    let mut titles = b.sink.titles();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 60, "each once");
}

/// Many channels matching many events (more than the memory of seen events could hold per
/// channel): the next poll over the same window queues nothing again.
#[tokio::test]
async fn many_channels_and_events_are_queued_once() {
    let b = Bot::start().await;
    for c in 0..600u64 {
        b.rule(1_000 + c, "rust", "questions", "").await;
    }
    b.poll().await;
    b.advance(30);
    for i in 0..12 {
        b.t.fake.add_question(
            JANE,
            &format!("Widely followed question {i:02}"),
            "Body long enough to be a question.",
            &["rust"],
        );
    }
    b.advance(30);
    assert_eq!(b.poll().await.queued, 7_200);
    b.advance(30);
    assert_eq!(
        b.poll().await.queued,
        0,
        "the overlapping window queues nothing twice"
    );
}

#[tokio::test]
async fn a_rule_with_articles_gets_one_card_per_new_article_exactly_once() {
    let b = Bot::start().await;
    b.rule(CHANNEL, "rust", "articles", "").await;
    b.poll().await;
    b.advance(30);
    let first = b.t.fake.add_article(
        None,
        JANE,
        "Our Rust style guide",
        "How we write Rust here.",
        &["rust", "style"],
    );
    let _go =
        b.t.fake
            .add_article(None, SAM, "Go at the company", "Not about Rust.", &["go"]);
    let _question = b.t.fake.add_question(
        JANE,
        "A rust question the rule does not want",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(30);
    assert_eq!(b.poll().await.queued, 1, "only the matching article");
    // The same window read again (overlap) and a later poll queue nothing new.
    b.advance(10);
    assert_eq!(b.poll().await.queued, 0);
    assert_eq!(b.deliver().await.sent, 1);
    b.advance(60);
    let second = b.t.fake.add_article(
        None,
        SAM,
        "Error handling with thiserror",
        "Derive your errors.",
        &["rust"],
    );
    b.advance(30);
    assert_eq!(b.poll().await.queued, 1);
    b.advance(60);
    assert_eq!(b.poll().await.queued, 0);
    assert_eq!(b.deliver().await.sent, 1);
    assert_eq!(b.deliver().await, Default::default(), "sent once");
    assert_eq!(
        b.sink.titles(),
        vec![
            "Our Rust style guide".to_string(),
            "Error handling with thiserror".to_string()
        ]
    );
    let posts = b.sink.posts();
    let card = &posts[0].2;
    assert!(card.content.is_empty() && !card.ephemeral);
    let embed = &card.embeds[0];
    assert!(
        embed.description.contains("New article by **Jane"),
        "{embed:?}"
    );
    assert!(!embed.description.contains("answer"), "{embed:?}");
    assert!(
        embed
            .url
            .as_deref()
            .is_some_and(|u| u.contains(&format!("articles/{first}"))),
        "{embed:?}"
    );
    assert!(
        format!("{embed:?}").contains("style"),
        "tags shown: {embed:?}"
    );
    assert!(posts[1].2.embeds[0]
        .url
        .as_deref()
        .is_some_and(|u| u.contains(&format!("articles/{second}"))));
    assert_eq!(b.sink.threads(), 0);
}

#[tokio::test]
async fn articles_cost_one_request_per_poll_whatever_the_number_of_rules() {
    let mut counts = Vec::new();
    for n in [1usize, 1_000] {
        let b = Bot::start().await;
        for i in 0..n {
            let tags = ["rust", "tokio", "serde", "go"][i % 4];
            b.rule(CHANNEL + (i as u64 % 7), tags, "questions,articles", "")
                .await;
        }
        b.poll().await;
        b.advance(60);
        b.t.fake.add_article(
            None,
            JANE,
            "Tokio in production",
            "Notes.",
            &["rust", "tokio"],
        );
        b.t.fake.add_question(
            SAM,
            "Which serde attribute renames?",
            "Body long enough to be a question.",
            &["serde"],
        );
        b.advance(5);
        b.t.fake.clear_requests();
        let report = b.poll().await;
        assert!(report.polled);
        let routes: Vec<String> =
            b.t.fake
                .requests()
                .iter()
                .filter(|r| r.is_api())
                .map(|r| r.route.clone())
                .collect();
        assert_eq!(
            routes.iter().filter(|r| r.as_str() == "/articles").count(),
            1,
            "{n} rules: {routes:?}"
        );
        counts.push(routes.len());
        let delivered = b.deliver().await;
        assert!(delivered.sent > 0, "{n} rules: {delivered:?}");
    }
    // One page of questions, one page of articles.
    assert_eq!(
        counts,
        vec![2, 2],
        "SOE calls per poll for 1 and 1,000 rules"
    );
}

#[tokio::test]
async fn no_article_request_when_no_rule_wants_articles() {
    let b = Bot::start().await;
    b.rule(CHANNEL, "rust", "questions,answers", "").await;
    b.poll().await;
    b.advance(60);
    b.t.fake
        .add_article(None, JANE, "Rust article", "Notes.", &["rust"]);
    b.t.fake.clear_requests();
    b.poll().await;
    assert!(
        b.t.fake.requests().iter().all(|r| r.route != "/articles"),
        "articles are read only when a rule wants them"
    );
    assert_eq!(b.deliver().await.sent, 0);
}

#[tokio::test]
async fn subscribe_accepts_articles_and_preview_counts_them() {
    let b = Bot::start().await;
    let admin = b.admin();
    let r = b
        .admin_cmd(
            &admin,
            "subscribe",
            &[
                ("tags", s("rust")),
                ("channel", OptionValue::Channel(CHANNEL)),
                ("events", s("articles")),
            ],
        )
        .await;
    assert!(r.content.contains("Rule **#1**"), "{}", r.content);
    b.advance(60);
    b.t.fake.add_article(
        None,
        JANE,
        "Rust article for the preview",
        "Notes.",
        &["rust"],
    );
    b.t.fake.add_question(
        JANE,
        "A rust question, not an article",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.t.fake.clear_requests();
    let p = b
        .admin_cmd(&admin, "preview", &[("rule", OptionValue::Int(1))])
        .await;
    // The seeded article is older than the 7 days; the question is not an article.
    assert!(
        p.content.contains("would have posted **1** card")
            && p.content.contains("Rust article for the preview")
            && !p.content.contains("A rust question, not an article"),
        "{}",
        p.content
    );
    assert!(b.t.fake.requests().iter().any(|r| r.route == "/articles"));
}

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
use soe_bot::commands::access::{DirectoryError, MemberDirectory};
use soe_bot::commands::subscriptions::ChannelDirectory;
use soe_bot::commands::{Action, Member, OptionValue, Reply};
use soe_bot::commands::{Origin, ReplyKind};
use soe_bot::fake_soe::{Fault, FaultKind, JANE, SAM};
use soe_bot::notify::personal::MemberAlerts;
use soe_bot::notify::rule::{parse_spec, Rule, SubscribeOptions};
use soe_bot::notify::{CardSink, Deliverer, PollSettings, Poller, SendError, Target};
use soe_bot::store::{NotifyStore, PersonalStore};
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
    Dm { user: u64, reply: Reply },
}

/// An in-memory Discord: nonces deduplicate like `enforce_nonce`; channels can be broken.
#[derive(Default)]
struct Sink {
    log: Mutex<Vec<Sent>>,
    nonces: Mutex<HashMap<String, u64>>,
    broken: Mutex<HashMap<u64, SendError>>,
    /// Members whose DMs fail.
    closed_dms: Mutex<HashMap<u64, SendError>>,
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
    async fn send_dm(&self, user: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        if let Some(e) = self.closed_dms.lock().get(&user) {
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
        self.log.lock().push(Sent::Dm {
            user,
            reply: message.clone(),
        });
        Ok(id)
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
        Self::start_with(TestApp::builder()).await
    }

    async fn start_with(builder: support::test_app::TestAppBuilder) -> Bot {
        let t = builder.start().await;
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

    fn dms(&self) -> Vec<(u64, Reply)> {
        self.sink
            .log
            .lock()
            .iter()
            .filter_map(|s| match s {
                Sent::Dm { user, reply } => Some((*user, reply.clone())),
                _ => None,
            })
            .collect()
    }

    /// `/so <group> <verb> opt:value…` (`/so alerts on tags:rust`).
    async fn so2(&self, m: &Member, group: &str, verb: &str, options: &[(&str, &str)]) -> Reply {
        let inv = self.t.invocation(
            m,
            Action::Command {
                name: "so".into(),
                path: vec![group.into(), verb.into()],
                options: options.iter().map(|(k, v)| (k.to_string(), s(v))).collect(),
            },
        );
        self.t.run(&inv).await
    }

    /// Asks a question through the bot as `m` (modal, then "Post anyway" if offered); returns
    /// its id on the site.
    async fn ask(&self, m: &Member, title: &str, tags: &str) -> i64 {
        let r = self.t.slash(m, "ask", &[]).await;
        let ReplyKind::Modal(modal) = &r.kind else {
            panic!("ask opens a modal: {r:?}");
        };
        let r = self
            .t
            .submit(
                m,
                &modal.id,
                &[
                    ("title", title),
                    ("body", "A body long enough to be a question on the site."),
                    ("tags", tags),
                ],
            )
            .await;
        let r = if TestApp::try_button(&r, "Post anyway") {
            self.t.press(m, &TestApp::button(&r, "Post anyway")).await
        } else {
            r
        };
        assert!(r.content.contains("Posted as"), "{r:?}");
        self.t
            .fake
            .questions()
            .iter()
            .filter(|q| q.title == title)
            .map(|q| q.id)
            .max()
            .expect("the question is on the site")
    }

    /// A press on a button of a DM the bot sent (no guild, private context).
    async fn press_in_dm(&self, m: &Member, custom_id: &str) -> Reply {
        let mut inv = self.t.invocation(
            m,
            Action::Button {
                custom_id: custom_id.into(),
            },
        );
        inv.guild_id = None;
        inv.channel_id = Some(777);
        inv.origin = Origin::Private;
        self.t.run(&inv).await
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

/// Who is a member of the allowed guild (the Discord adapter asks Discord's REST API).
#[derive(Default)]
struct Members(Mutex<Vec<u64>>);

#[async_trait]
impl MemberDirectory for Members {
    async fn is_member(&self, _guild: u64, user: u64) -> Result<bool, DirectoryError> {
        Ok(self.0.lock().contains(&user))
    }
}

fn all_text(r: &Reply) -> String {
    let mut s = r.content.clone();
    for e in &r.embeds {
        s.push_str(&e.title);
        s.push_str(&e.description);
    }
    s
}

#[tokio::test]
async fn an_answer_to_a_question_asked_through_the_bot_reaches_the_asker_once_and_accept_works() {
    let b = Bot::start().await;
    let alice = TestApp::member(111, "alice");
    b.t.link(&alice).await; // as JANE
    b.poll().await; // first poll: sets the cursor
    b.advance(60);
    let q = b
        .ask(&alice, "How do I cancel a spawned tokio task?", "rust")
        .await;
    b.advance(30);
    let a = b.t.fake.add_answer(
        q,
        SAM,
        "Keep the JoinHandle and call abort() on it.\nOr use a CancellationToken.",
    );
    b.advance(5);
    let report = b.poll().await;
    assert_eq!(report.personal_queued, 1, "{report:?}");
    let d = b.deliver().await;
    assert_eq!(d.dms_sent, 1, "{d:?}");
    let dms = b.dms();
    assert_eq!(dms.len(), 1);
    let (to, dm) = &dms[0];
    assert_eq!(*to, alice.id);
    let text = all_text(dm);
    assert!(
        text.contains("How do I cancel a spawned tokio task?"),
        "{text}"
    );
    assert!(
        text.contains("Keep the JoinHandle and call abort"),
        "the answer's first lines: {text}"
    );
    assert!(text.contains("Sam"), "who answered: {text}");
    assert!(TestApp::try_button(dm, "View"));
    let accept = TestApp::button(dm, "Accept");

    // Later polls and rounds do not repeat it.
    b.advance(60);
    b.poll().await;
    b.deliver().await;
    b.advance(60);
    b.poll().await;
    b.deliver().await;
    assert_eq!(b.dms().len(), 1, "one DM per answer");

    // Accept from the DM (DMs are off for commands; a press on the bot's own DM is served to
    // members) accepts as the asker, once, through her own link.
    let members = Arc::new(Members::default());
    members.0.lock().push(alice.id);
    b.t.app.commands.access().use_directory(members.clone());
    b.t.fake.clear_requests();
    let stranger = TestApp::member(666, "stranger");
    let r = b.press_in_dm(&stranger, &accept).await;
    assert!(r.content.contains("only for members"), "{r:?}");
    let r = b.press_in_dm(&alice, &accept).await;
    assert!(r.content.contains("You accepted"), "{r:?}");
    let again = b.press_in_dm(&alice, &accept).await;
    assert!(!again.content.contains("refused"), "{again:?}");
    let writes: Vec<_> =
        b.t.fake
            .requests()
            .into_iter()
            .filter(|r| r.is_api_write())
            .collect();
    assert_eq!(writes.len(), 1, "accepted exactly once: {writes:?}");
    assert_eq!(writes[0].user_id, Some(JANE), "as the asker's own token");
    assert_eq!(b.t.fake.question(q).unwrap().accepted_answer_id, Some(a));
}

#[tokio::test]
async fn alerts_off_silences_answers_to_questions_asked_through_the_bot() {
    let b = Bot::start().await;
    let alice = TestApp::member(111, "alice");
    b.t.link(&alice).await;
    b.poll().await;
    b.advance(60);
    let q = b
        .ask(&alice, "Why does my borrow outlive the loop?", "rust")
        .await;
    let r = b.so2(&alice, "alerts", "off", &[]).await;
    assert!(r.content.contains("Alerts off"), "{r:?}");
    b.advance(30);
    b.t.fake
        .add_answer(q, SAM, "Move the value into the loop body instead.");
    b.advance(5);
    b.poll().await;
    b.deliver().await;
    assert!(b.dms().is_empty(), "{:?}", b.dms());
}

#[tokio::test]
async fn alerts_on_covers_site_questions_and_batches_new_questions_then_stop_on_unlink() {
    let b = Bot::start().await;
    let alice = TestApp::member(111, "alice");
    b.t.link(&alice).await; // as JANE
    b.t.fake.watch_tag(JANE, "rust");
    b.t.fake.clear_requests();
    let r = b.so2(&alice, "alerts", "on", &[]).await;
    assert!(r.content.contains("Alerts on"), "{r:?}");
    assert!(r.content.contains("`rust`"), "her watched tags: {r:?}");
    let watched: Vec<_> =
        b.t.fake
            .requests()
            .into_iter()
            .filter(|r| r.route == "/users/{userId}/watched-tags")
            .collect();
    assert_eq!(watched.len(), 1);
    assert_eq!(
        watched[0].path,
        format!("/api/v3/users/{JANE}/watched-tags")
    );
    assert_eq!(
        watched[0].user_id,
        Some(soe_bot::fake_soe::SERVICE),
        "read with the service token"
    );

    b.poll().await;
    b.advance(60);
    // Her own question on the site (not through the bot) and two new ones in her tag.
    let mine = b.t.fake.add_question(
        JANE,
        "Asked on the site itself",
        "Body long enough to be a question.",
        &["go"],
    );
    b.t.fake.add_question(
        SAM,
        "Lifetimes in async closures",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.t.fake.add_question(
        SAM,
        "Pinning a stream",
        "Body long enough to be a question.",
        &["rust", "tokio"],
    );
    b.t.fake.add_question(
        SAM,
        "Not in her tags",
        "Body long enough to be a question.",
        &["python"],
    );
    b.advance(10);
    b.t.fake
        .add_answer(mine, SAM, "Here is how it works on the site.");
    b.advance(5);
    b.poll().await;
    b.deliver().await;
    let dms = b.dms();
    assert_eq!(dms.len(), 2, "one answer DM and one batch: {dms:?}");
    let texts: Vec<String> = dms.iter().map(|(_, r)| all_text(r)).collect();
    let batch = texts
        .iter()
        .find(|t| t.contains("new questions"))
        .expect("a batch");
    assert!(
        batch.contains("Lifetimes in async closures") && batch.contains("Pinning a stream"),
        "{batch}"
    );
    assert!(!batch.contains("Not in her tags"), "{batch}");
    assert!(texts.iter().any(|t| t.contains("Asked on the site itself") && t.contains("answered your question")), "{texts:?}");

    // Unlinked: nothing more, not even what was already queued.
    b.advance(60);
    b.t.fake.add_question(
        SAM,
        "Another rust question",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    b.poll().await;
    let r = b.t.slash(&alice, "unlink", &[]).await;
    assert!(r.content.contains("Unlinked"), "{r:?}");
    let d = b.deliver().await;
    assert_eq!(d.dms_sent, 0, "{d:?}");
    b.advance(60);
    b.t.fake
        .add_answer(mine, SAM, "A second answer after unlinking.");
    b.t.fake.add_question(
        SAM,
        "Yet another rust question",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    let report = b.poll().await;
    assert_eq!(report.personal_queued, 0, "{report:?}");
    b.deliver().await;
    assert_eq!(b.dms().len(), 2);
    assert!(
        b.t.store.member_alerts(alice.id).await.unwrap().is_none(),
        "forgotten on unlink"
    );
}

#[tokio::test]
async fn alerts_stop_when_the_member_leaves_the_allowed_guilds() {
    let b = Bot::start().await;
    let alice = TestApp::member(111, "alice");
    b.t.link(&alice).await;
    let members = Arc::new(Members::default());
    b.t.app.commands.access().use_directory(members.clone());
    b.so2(&alice, "alerts", "on", &[("tags", "rust")]).await;
    b.poll().await;
    b.advance(60);
    b.t.fake.add_question(
        SAM,
        "A rust question for nobody",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    assert_eq!(b.poll().await.personal_queued, 1);
    // Alice is in no allowed guild any more.
    let d = b.deliver().await;
    assert_eq!((d.dms_sent, d.dms_dropped), (0, 1), "{d:?}");
    assert!(b.dms().is_empty());
    assert!(
        b.t.store.member_alerts(alice.id).await.unwrap().is_none(),
        "her alerts stop"
    );
}

#[tokio::test]
async fn personal_alerts_cost_no_soe_call_per_member() {
    let mut counts = Vec::new();
    for n in [1u64, 300] {
        let b = Bot::start().await;
        let now = b.t.clock_now();
        for i in 0..n {
            b.t.store
                .put_member_alerts(&MemberAlerts {
                    user: 10_000 + i,
                    soe_user_id: 100 + i as i64,
                    answers: soe_bot::notify::personal::AnswerAlerts::All,
                    questions: true,
                    watched: vec!["rust".into()],
                    watched_read_at: Some(now),
                    experts: true,
                    updated_at: now,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        b.poll().await;
        b.advance(60);
        let q = b.t.fake.add_question(
            SAM,
            "How do I pin a future?",
            "Body long enough to be a question.",
            &["rust"],
        );
        b.advance(5);
        b.t.fake
            .add_answer(q, JANE, "Use Box::pin, it is the usual way to pin.");
        b.t.fake.clear_requests();
        let report = b.poll().await;
        assert_eq!(
            report.personal_queued as u64, n,
            "one batch per member: {report:?}"
        );
        counts.push(b.api_calls());
    }
    assert_eq!(
        counts[0], counts[1],
        "SOE calls per poll for 1 and 300 members"
    );
}

#[tokio::test]
async fn an_unanswered_question_reaches_exactly_the_opted_in_linked_experts_once_within_the_cap() {
    use soe_bot::fake_soe::{Approval, ALEX, CONNOR, PRIYA};
    let limits = soe_bot::config::LimitsConfig {
        expert_dms_per_day: 1,
        ..Default::default()
    };
    let b = Bot::start_with(TestApp::builder().limits(limits)).await;
    // Experts for `rust`: Jane by name, Priya and Alex through a group, Sam by name.
    let group = b.t.fake.add_user_group("Rustaceans", &[PRIYA, ALEX]);
    b.t.fake.add_experts("rust", &[JANE, SAM], &[group]);
    let mut members = Vec::new();
    for (id, name, soe, opt_in) in [
        (111, "alice", JANE, true),
        (222, "priya", PRIYA, true),
        (333, "alex", ALEX, false),
        (444, "connor", CONNOR, true), // opted in, but no expert
    ] {
        let m = TestApp::member(id, name);
        b.t.fake
            .set_approval(Approval::AutoApprove { user_id: soe });
        b.t.link(&m).await;
        if opt_in {
            let r = b.so2(&m, "experts", "on", &[]).await;
            assert!(r.content.contains("Expert alerts on"), "{r:?}");
        }
        members.push(m);
    }
    // Sam is an expert but not linked. A rule makes `rust` a subscribed tag with a delay.
    b.rule(CHANNEL, "rust", "questions", "1h").await;
    b.poll().await;
    b.advance(60);
    let q = b.t.fake.add_question(
        CONNOR,
        "Why does this future never wake?",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    b.poll().await;
    b.deliver().await;
    assert!(b.dms().is_empty(), "not before unanswered-after");
    b.advance(3600);
    b.t.fake.clear_requests();
    let report = b.poll().await;
    assert_eq!(report.expert_reads, 1, "one tag's experts read: {report:?}");
    let sme: Vec<_> =
        b.t.fake
            .requests()
            .into_iter()
            .filter(|r| r.route == "/tags/{tagId}/subject-matter-experts")
            .collect();
    assert_eq!(sme.len(), 1);
    assert_eq!(sme[0].user_id, Some(soe_bot::fake_soe::SERVICE));
    let d = b.deliver().await;
    assert_eq!(d.dms_sent, 2, "{d:?}");
    let mut to: Vec<u64> = b.dms().iter().map(|(u, _)| *u).collect();
    to.sort();
    assert_eq!(to, vec![111, 222], "exactly the opted-in linked experts");
    for (_, dm) in b.dms() {
        assert!(all_text(&dm).contains("Why does this future never wake?"));
        assert!(TestApp::try_button(&dm, "Answer"));
    }
    // The channel got its card, pinging nobody.
    let channel_posts = b.sink.posts();
    assert_eq!(channel_posts.len(), 1);
    assert!(
        !all_text(&channel_posts[0].2).contains("<@"),
        "no expert is pinged in a channel"
    );
    // Answer from the DM opens the answer form.
    let dm = &b.dms()[0].1;
    let members_dir = Arc::new(Members::default());
    members_dir.0.lock().extend([111, 222]);
    b.t.app.commands.access().use_directory(members_dir);
    let r = b
        .press_in_dm(&members[0], &TestApp::button(dm, "Answer"))
        .await;
    assert!(matches!(r.kind, ReplyKind::Modal(_)), "{r:?}");
    let _ = q;

    // Later polls do not route it again.
    for _ in 0..3 {
        b.advance(600);
        b.poll().await;
        b.deliver().await;
    }
    assert_eq!(b.dms().len(), 2, "once per expert");

    // A second question the same day: over the cap of one a day, nobody is DMed again.
    b.t.fake.add_question(
        CONNOR,
        "Another unanswered rust question",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    b.poll().await;
    b.advance(3600);
    b.poll().await;
    let d = b.deliver().await;
    assert_eq!((d.dms_sent, d.dms_dropped), (0, 2), "{d:?}");
    assert_eq!(b.dms().len(), 2);
}

#[tokio::test]
async fn expert_routing_does_nothing_when_the_site_has_no_experts_feature() {
    let b = Bot::start().await;
    let alice = TestApp::member(111, "alice");
    b.t.link(&alice).await;
    b.so2(&alice, "experts", "on", &[]).await;
    b.rule(CHANNEL, "rust", "questions", "1h").await;
    b.poll().await;
    b.advance(60);
    b.t.fake.add_question(
        SAM,
        "Unanswered on a site without experts",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    b.poll().await;
    b.advance(3600);
    let first = b.poll().await;
    assert_eq!(first.expert_reads, 1, "{first:?}");
    b.advance(60);
    let second = b.poll().await;
    assert_eq!(second.expert_reads, 0, "the 422 is remembered: {second:?}");
    b.deliver().await;
    assert!(b.dms().is_empty());
}

#[tokio::test]
async fn doctor_shows_alerts_and_a_failing_dm_then_it_is_sent_once() {
    let b = Bot::start().await;
    let alice = TestApp::member(111, "alice");
    b.t.link(&alice).await;
    b.so2(&alice, "alerts", "on", &[("tags", "rust")]).await;
    b.so2(&alice, "experts", "on", &[]).await;
    b.poll().await;
    b.advance(60);
    b.t.fake.add_question(
        SAM,
        "A rust question for alice",
        "Body long enough to be a question.",
        &["rust"],
    );
    b.advance(5);
    b.poll().await;
    b.sink.closed_dms.lock().insert(
        alice.id,
        SendError::Transient("Discord answered 502".into()),
    );
    let d = b.deliver().await;
    assert_eq!(d.dms_failed, 1, "{d:?}");
    let report = soe_bot::commands::doctor::check(&b.t.app.commands, &[GUILD], None)
        .await
        .render_plain();
    assert!(
        report.contains("Personal alerts: 1 member with alerts on, 1 with expert routing on"),
        "{report}"
    );
    assert!(
        report.contains("Alert DMs: 1 waiting, 1 failing (last error: Discord answered 502)"),
        "{report}"
    );
    // Discord is back: after the backoff the DM goes, once, with the same nonce.
    b.sink.closed_dms.lock().clear();
    b.advance(30);
    let d = b.deliver().await;
    assert_eq!(d.dms_sent, 1, "{d:?}");
    b.advance(30);
    b.deliver().await;
    assert_eq!(b.dms().len(), 1);
    let report = soe_bot::commands::doctor::check(&b.t.app.commands, &[GUILD], None)
        .await
        .render_plain();
    assert!(report.contains("Alert DMs: 0 waiting."), "{report}");
}

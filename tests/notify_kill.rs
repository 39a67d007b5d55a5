//! Crash safety of the notification outbox, with real processes: a child process (this test
//! binary, re-run as `child_process`) polls the fake site and sends cards to the fake Discord
//! through the real Discord adapter ([`soe_bot::discord::cards::DiscordCards`]); the parent
//! kills it with SIGKILL at the worst moments and starts it again on the same store:
//! - after the poll committed its cards and before the first send;
//! - after Discord created a message and before the outbox recorded it as sent.
//!
//! Counted from the fake Discord's messages: every new question is carded exactly once.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use soe_bot::clock::{SharedClock, SystemClock};
use soe_bot::commands::Reply;
use soe_bot::fake_soe::{FakeSoe, FakeSoeConfig, JANE};
use soe_bot::notify::rule::{parse_spec, Rule, SubscribeOptions};
use soe_bot::notify::{CardSink, Deliverer, PollSettings, Poller, SendError, Target, TargetState};
use soe_bot::soe::{HttpSoe, ServiceToken, SoeClientConfig, SoeRead};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{NotifyStore, SledStore};

const CHANNEL: u64 = 1_000_000_000_000_000_010;
const GUILD: u64 = 1_000_000_000_000_000_001;

fn open(dir: &Path) -> SledStore {
    SledStore::open_at(dir, Cipher::for_testing(), 1 << 20).expect("store")
}

/// Where the child stops: before its first send, or after its first send.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hang {
    BeforeSend,
    AfterSend,
    Never,
}

/// The real Discord sink, with a place to stop (the parent SIGKILLs the process there).
struct Hanging {
    inner: soe_bot::discord::cards::DiscordCards,
    hang: Hang,
    marker: PathBuf,
}

impl Hanging {
    async fn stop_here(&self) -> ! {
        std::fs::write(&self.marker, b"here").expect("marker");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

#[async_trait]
impl CardSink for Hanging {
    async fn send(&self, channel: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        if self.hang == Hang::BeforeSend {
            self.stop_here().await;
        }
        let id = self.inner.send(channel, message, nonce).await?;
        if self.hang == Hang::AfterSend {
            self.stop_here().await;
        }
        Ok(id)
    }
    async fn edit(&self, channel: u64, id: u64, message: &Reply) -> Result<(), SendError> {
        self.inner.edit(channel, id, message).await
    }
    async fn start_thread(&self, channel: u64, id: u64, name: &str) -> Result<(), SendError> {
        self.inner.start_thread(channel, id, name).await
    }
    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, SendError> {
        self.inner.channel_guild(channel).await
    }
}

/// Selects the child role (where to hang); unset in the parent.
const CHILD_ENV: &str = "KILLTEST_HANG";
const TEST_NAME: &str =
    "killed_between_fetch_and_post_and_between_post_and_record_every_item_is_carded_once";

/// The child (this test binary re-run by the parent with [`CHILD_ENV`] set): one poll, then
/// deliver until the outbox is empty, or hang where told.
async fn run_child(role: &str) {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set by the parent"));
    let dir = PathBuf::from(var("KILLTEST_DIR"));
    let hang = match role {
        "before" => Hang::BeforeSend,
        "after" => Hang::AfterSend,
        _ => Hang::Never,
    };
    let store: Arc<SledStore> = Arc::new(open(&dir));
    let clock: SharedClock = Arc::new(SystemClock);
    let site = url::Url::parse(&var("KILLTEST_SOE")).expect("site url");
    let soe = HttpSoe::new(SoeClientConfig::new(site)).expect("client");
    let service = ServiceToken::new(SecretString::from(var("KILLTEST_TOKEN")));
    let reader: Arc<dyn SoeRead> = Arc::new(soe.reader(&service, None));
    let discord = url::Url::parse(&var("KILLTEST_DISCORD")).expect("discord url");
    let http = soe_bot::discord::rest::build_http(
        "test-bot-token",
        fake_discord::fixtures::APP_ID,
        &discord,
    )
    .expect("http");
    let sink = Arc::new(Hanging {
        inner: soe_bot::discord::cards::DiscordCards::new(Arc::new(http)),
        hang,
        marker: PathBuf::from(var("KILLTEST_MARKER")),
    });
    let poller = Poller::new(
        store.clone(),
        clock.clone(),
        Arc::new(move |_: &Target| reader.clone()),
        PollSettings::default(),
    );
    let deliverer = Deliverer::new(store.clone(), clock, sink);
    poller.poll(&Target::main()).await.expect("poll");
    for _ in 0..20 {
        deliverer.deliver_due().await.expect("deliver");
        if store.outbox_depth().await.expect("depth") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.outbox_depth().await.expect("depth"),
        0,
        "everything delivered"
    );
}

struct Parent {
    fake: FakeSoe,
    discord: fake_discord::FakeDiscord,
    dir: tempfile::TempDir,
}

impl Parent {
    async fn start() -> Parent {
        let clock: SharedClock = Arc::new(SystemClock);
        let fake = FakeSoe::start(FakeSoeConfig::new(clock))
            .await
            .expect("fake site");
        let discord = fake_discord::FakeDiscord::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        {
            // A rule, and a cursor just before the questions the test posts.
            let store = open(&dir.path().join("db"));
            let now = chrono::Utc::now() - chrono::Duration::seconds(5);
            store
                .add_rule(&Rule {
                    guild: GUILD,
                    id: 0,
                    channel: CHANNEL,
                    spec: parse_spec(&SubscribeOptions {
                        tags: Some("rust"),
                        ..Default::default()
                    })
                    .expect("spec"),
                    team: None,
                    created_by: 1,
                    created_at: now,
                    last_post_at: None,
                    last_error: None,
                })
                .await
                .expect("rule");
            store
                .put_target_state(
                    "main",
                    &TargetState {
                        cursor: Some(now),
                        ..Default::default()
                    },
                )
                .await
                .expect("state");
        }
        Parent { fake, discord, dir }
    }

    /// Runs the child with `hang`; when it hangs, waits for it to get there and SIGKILLs it.
    async fn run_child(&self, hang: &str) {
        let marker = self.dir.path().join(format!("marker-{hang}"));
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env("KILLTEST_DIR", self.dir.path().join("db"))
            .env(CHILD_ENV, hang)
            .env("KILLTEST_SOE", self.fake.site_url().as_str())
            .env("KILLTEST_TOKEN", self.fake.service_token())
            .env("KILLTEST_DISCORD", self.discord.base().as_str())
            .env("KILLTEST_MARKER", &marker)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the child");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if hang != "never" && marker.exists() {
                child.kill().expect("SIGKILL"); // SIGKILL on Unix
                child.wait().expect("reap");
                return;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(
                    hang == "never" && status.success(),
                    "child ({hang}) ended: {status}"
                );
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "child ({hang}) took too long"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn titles(&self) -> Vec<String> {
        self.discord
            .channel_messages(CHANNEL)
            .into_iter()
            .map(|(_, body)| {
                body["embeds"][0]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
}

fn post_questions(fake: &FakeSoe, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let title = format!("Rust question {i} posted before the crash");
            fake.add_question(
                JANE,
                &title,
                "Body long enough to be a question here.",
                &["rust"],
            );
            title
        })
        .collect()
}

fn open_db(p: &Parent) -> SledStore {
    open(&p.dir.path().join("db"))
}

#[tokio::test]
async fn killed_between_fetch_and_post_and_between_post_and_record_every_item_is_carded_once() {
    if let Ok(role) = std::env::var(CHILD_ENV) {
        run_child(&role).await;
        return;
    }
    let p = Parent::start().await;
    let mut expected = post_questions(&p.fake, 3);

    // 1. Killed after the poll queued the cards, before any send.
    p.run_child("before").await;
    assert!(p.titles().is_empty(), "nothing sent yet");
    {
        let store = open_db(&p);
        assert_eq!(
            store.outbox_depth().await.expect("depth"),
            3,
            "the cards survived the kill"
        );
    }
    // 2. Killed after Discord created the first message, before the outbox recorded it.
    p.run_child("after").await;
    assert_eq!(p.titles().len(), 1, "one message created before the kill");
    {
        let store = open_db(&p);
        assert_eq!(
            store.outbox_depth().await.expect("depth"),
            3,
            "not recorded as sent"
        );
    }
    // 3. A clean run: the first card is sent again with the same nonce (Discord returns the
    //    first message), the others once each.
    p.run_child("never").await;
    let mut titles = p.titles();
    titles.sort();
    expected.sort();
    assert_eq!(titles, expected, "every item carded exactly once");
    let sends = p.discord.on("POST", fake_discord::MESSAGES_ROUTE);
    assert_eq!(sends.len(), 4, "one resend, deduplicated by its nonce");
    for r in &sends {
        let b = r.body.as_ref().expect("a body");
        assert_eq!(b["enforce_nonce"], true);
        assert!(b["nonce"].as_str().is_some_and(|n| n.starts_with("soe")));
        let parse = &b["allowed_mentions"]["parse"];
        assert!(
            parse.as_array().is_some_and(|a| a.is_empty()),
            "no pings: {b}"
        );
    }
    // A later run finds nothing new.
    p.run_child("never").await;
    assert_eq!(p.titles().len(), 3);
    p.discord.check_contract();
}

/// The Discord adapter's calls for cards, against the fake Discord and its contract: a card,
/// its edit, a thread, the channel look-up, and a deleted channel sorted as gone.
#[tokio::test]
async fn discord_cards_calls_follow_the_contract() {
    use soe_bot::commands::subscriptions::ChannelDirectory;
    let discord = fake_discord::FakeDiscord::start().await;
    discord.add_channel(GUILD, CHANNEL);
    let http = soe_bot::discord::rest::build_http(
        "test-bot-token",
        fake_discord::fixtures::APP_ID,
        &discord.base(),
    )
    .expect("http");
    let cards = soe_bot::discord::cards::DiscordCards::new(Arc::new(http));
    let card = soe_bot::notify::Card {
        kind: soe_bot::notify::rule::ActivityKind::NewQuestion,
        question_id: 3,
        answer_id: None,
        title: "@everyone look at <@123> **this**".into(),
        url: "https://so.example/q/3".into(),
        author: "Jane".into(),
        tags: vec!["rust".into()],
        score: 1,
        answer_count: 0,
        accepted: false,
        at: chrono::Utc::now(),
    };
    let reply = soe_bot::notify::render::card(&card);
    let id = cards.send(CHANNEL, &reply, "soe42").await.expect("send");
    assert_eq!(
        cards.send(CHANNEL, &reply, "soe42").await.expect("resend"),
        id,
        "same nonce, same message"
    );
    let edited = soe_bot::notify::render::card(&soe_bot::notify::render::updated(&card, &card));
    cards.edit(CHANNEL, id, &edited).await.expect("edit");
    cards
        .start_thread(CHANNEL, id, "this")
        .await
        .expect("thread");
    assert_eq!(
        ChannelDirectory::channel_guild(&cards, CHANNEL).await,
        Ok(Some(GUILD))
    );
    assert_eq!(
        ChannelDirectory::channel_guild(&cards, 77).await,
        Ok(None),
        "unknown channel"
    );
    discord.delete_channel(CHANNEL);
    assert!(matches!(
        cards.send(CHANNEL, &reply, "soe43").await,
        Err(SendError::Gone(_))
    ));
    let edit = &discord.on("PATCH", fake_discord::MESSAGE_ROUTE)[0];
    let body = edit.body.as_ref().expect("edit body");
    assert!(
        body.get("nonce").is_none() && body["allowed_mentions"]["parse"] == serde_json::json!([])
    );
    assert_eq!(discord.channel_messages(CHANNEL).len(), 1);
    assert!(discord.check_contract() >= 7);
}

//! Several replicas of the real binary (`soe-bot run`, HTTP interactions mode) on one
//! PostgreSQL database, with the loopback fakes of the site and of Discord, and signed
//! interactions sent round-robin:
//! - the same modal submitted to two replicas at once posts one question;
//! - three replicas under a search load keep the service token inside SOE's limits in total
//!   (counted at the fake site);
//! - SIGKILL of the leader: another replica takes the leader lock and polls within
//!   `storage.leader_check_secs` (the failover time is measured and printed), and every new
//!   question is carded exactly once.
//!
//! Needs PostgreSQL (`SOE_BOT_TEST_POSTGRES_URL`): `#[ignore]`d in a bare `cargo test`, run by
//! `.ci/run`. Each test has its own schema. Real time and real signals.

#![cfg(unix)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
#[path = "support/stores.rs"]
mod stores;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fake_discord::fixtures::{self, Who};
use fake_discord::FakeDiscord;
use secrecy::SecretString;
use serde_json::Value;
use soe_bot::clock::{SharedClock, SystemClock};
use soe_bot::config::EncryptionKey;
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, JANE};
use soe_bot::notify::rule::{parse_spec, Rule, SubscribeOptions};
use soe_bot::notify::TargetState;
use soe_bot::soe::UserToken;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{Link, LinkStatus, NotifyStore, PgStore, Store};
use stores::Schema;

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const MEMBER: u64 = 4242;
/// Seconds between leader-lock checks in these tests.
const LEADER_CHECK_SECS: u64 = 1;
/// Seconds between polls in these tests.
const POLL_SECS: u64 = 2;

fn cipher() -> Cipher {
    Cipher::new(&EncryptionKey::from_base64(1, KEY_B64).expect("key"), &[])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One replica: a child process, its web and metrics addresses, its log file.
struct Bot {
    child: Child,
    web: String,
    metrics: String,
    log: std::path::PathBuf,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bot {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

/// The site (Read-write application, real time), Discord, and a schema with a linked member.
struct World {
    site: FakeSoe,
    discord: FakeDiscord,
    schema: Schema,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let clock: SharedClock = Arc::new(SystemClock);
        let mut config = FakeSoeConfig::new(clock);
        config.application = AppStatus::ReadWrite;
        let site = FakeSoe::start(config).await.expect("fake site");
        let discord = FakeDiscord::start().await;
        discord.add_channel(fixtures::GUILD, fixtures::CHANNEL);
        let schema = Schema::new().await;
        let store = PgStore::open_with(schema.options(), 2, cipher())
            .await
            .expect("open the schema");
        // Three linked members (the ask rate is per member: three asks each at most).
        for member in MEMBER..MEMBER + 3 {
            store
                .put_link(&Link {
                    discord_user: member,
                    soe_user_id: JANE,
                    soe_user_name: "Jane Doe".into(),
                    soe_user_url: None,
                    token: UserToken::new(SecretString::from(
                        site.mint_token(JANE, &["write_access"]),
                    )),
                    scopes: vec!["write_access".into()],
                    expires_at: None,
                    linked_at: Utc::now(),
                    last_used_at: None,
                    status: LinkStatus::Active,
                })
                .await
                .expect("seed a link");
        }
        store.close().await;
        World {
            site,
            discord,
            schema,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Starts replica `name`.
    fn start(&self, name: &str) -> Bot {
        let (port, metrics_port) = (free_port(), free_port());
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = format!(
            r#"
[soe]
site_url = "{site}"
client_id = "{client_id}"
service_token = "{service}"
request_timeout_secs = 30

[discord]
mode = "http"
token = "test-bot-token"
application_id = {app}
public_key = "{public_key}"
api_base = "{discord}"
allowed_guilds = [{guild}]

[web]
listen = "127.0.0.1:{port}"
metrics_listen = "127.0.0.1:{metrics_port}"
public_url = "http://127.0.0.1:{port}"

[storage]
backend = "postgres"
url = "{url}"
pool_size = 4
leader_check_secs = {LEADER_CHECK_SECS}
encryption_key = "{KEY_B64}"

[notify]
poll_interval_secs = {POLL_SECS}

[log]
filter = "info"

[link]
verify_discord_identity = false
"#,
            site = self.site.site_url(),
            client_id = self.site.client_id(),
            service = self.site.service_token(),
            app = fixtures::APP_ID,
            public_key = fixtures::public_key_hex(),
            discord = self.discord.base(),
            guild = fixtures::GUILD,
            url = self.schema.url(),
        );
        let path = dir.join("bot.toml");
        std::fs::write(&path, config).expect("bot.toml");
        let log = dir.join("bot.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
        for (k, _) in std::env::vars() {
            if k.starts_with("SOE_BOT_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let out = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .args(["run", "--config"])
            .arg(&path)
            .stdout(Stdio::from(out.try_clone().expect("clone")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn soe-bot run");
        Bot {
            child,
            web: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            log,
        }
    }

    /// The service-token calls the site has answered so far.
    fn service_calls(&self) -> usize {
        let token = self.site.service_token();
        self.site
            .requests()
            .iter()
            .filter(|r| r.token.as_deref() == Some(token.as_str()))
            .count()
    }

    /// The service-token reads of the question list (what a poll makes) so far.
    fn polls(&self) -> usize {
        let token = self.site.service_token();
        self.site
            .requests()
            .iter()
            .filter(|r| {
                r.token.as_deref() == Some(token.as_str())
                    && r.method == "GET"
                    && r.route == "/questions"
            })
            .count()
    }
}

async fn wait_ready(client: &reqwest::Client, bot: &mut Bot) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", bot.web)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Ok(Some(status)) = bot.child.try_wait() {
            panic!("a replica exited early ({status}):\n{}", bot.output());
        }
        assert!(
            Instant::now() < deadline,
            "not ready within 60 s:\n{}",
            bot.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the replica says it leads (its `soe_bot_leader` gauge).
async fn leads(client: &reqwest::Client, bot: &Bot) -> bool {
    match client.get(&bot.metrics).send().await {
        Ok(r) => r
            .text()
            .await
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == "soe_bot_leader 1"),
        Err(_) => false,
    }
}

/// POSTs `interaction` to the replica at `web`, signed with the test key at the real time.
async fn send(client: &reqwest::Client, web: &str, interaction: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(interaction).expect("JSON");
    let ts = Utc::now().timestamp().to_string();
    let sig = fixtures::sign(&fixtures::key(), &ts, &body);
    match client
        .post(format!("{web}/interactions"))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", sig)
        .header("x-signature-timestamp", ts)
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn the_same_modal_submitted_to_two_replicas_at_once_posts_one_question() {
    let world = World::new().await;
    let client = reqwest::Client::new();
    let mut a = world.start("a");
    let mut b = world.start("b");
    wait_ready(&client, &mut a).await;
    wait_ready(&client, &mut b).await;

    // Titles share no distinctive word, so no round finds an earlier one as "similar" (which
    // would ask before posting).
    let titles = [
        "Why does quuxfrobnicator reject zygomorphic widgets on startup",
        "How can blorptastic gizmos survive a flimflam cascade overnight",
        "What makes snorkelwise ledgers drift under heavy pumpernickel traffic",
    ];
    for (round, title) in titles.iter().enumerate() {
        let title = title.to_string();
        // A member per round: the second submission of a round is refused or answered
        // "already posting", and may take one of the member's asks.
        let who = Who::member(MEMBER + round as u64, "jane");
        let (status, modal) = send(
            &client,
            &a.web,
            &fixtures::envelope(fixtures::snowflake(), 2, fixtures::so("ask", vec![]), &who),
        )
        .await;
        assert_eq!(status, 200, "{modal}");
        let modal_id = modal["data"]["custom_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a modal: {modal}"))
            .to_string();
        let fields = [
            ("title", title.as_str()),
            (
                "body",
                "Starting the service logs a rejection for every widget; I expected it to load them all. What setting controls this?",
            ),
            ("tags", "rust"),
        ];
        // Two submissions of the one modal (a double click, a retry), one to each replica,
        // at the same moment.
        let first = fixtures::envelope(
            fixtures::snowflake(),
            5,
            fixtures::modal(&modal_id, &fields),
            &who,
        );
        let second = fixtures::envelope(
            fixtures::snowflake(),
            5,
            fixtures::modal(&modal_id, &fields),
            &who,
        );
        let ((s1, r1), (s2, r2)) = tokio::join!(
            send(&client, &a.web, &first),
            send(&client, &b.web, &second)
        );
        assert_eq!((s1, s2), (200, 200), "{r1} {r2}");

        let deadline = Instant::now() + Duration::from_secs(30);
        let posted = loop {
            let n = world
                .site
                .questions()
                .iter()
                .filter(|q| q.title == title)
                .count();
            if n > 0 || Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Whatever the slower one was doing has finished by now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let posted_after = world
            .site
            .questions()
            .iter()
            .filter(|q| q.title == title)
            .count();
        assert_eq!(
            (posted, posted_after),
            (1, 1),
            "round {round}: exactly one question\n--- a:\n{}\n--- b:\n{}",
            a.output(),
            b.output()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn three_replicas_under_a_search_load_share_one_service_budget() {
    const LOAD_SECS: u64 = 75;
    const MEMBERS: u64 = 50;
    let world = World::new().await;
    let client = reqwest::Client::new();
    let mut bots: Vec<Bot> = ["a", "b", "c"].iter().map(|n| world.start(n)).collect();
    for bot in &mut bots {
        wait_ready(&client, bot).await;
    }
    let before = world.service_calls();
    let start = Instant::now();
    // ~10 searches a second, each a new query (no cache), from 50 members (each well inside
    // their own rate), round-robin over the replicas.
    let mut sent = 0u64;
    let mut samples: Vec<(f64, usize)> = vec![(0.0, 0)];
    let mut tasks = tokio::task::JoinSet::new();
    while start.elapsed() < Duration::from_secs(LOAD_SECS) {
        let bot = &bots[(sent % 3) as usize];
        let who = Who::member(10_000 + sent % MEMBERS, "member");
        let interaction = fixtures::envelope(
            fixtures::snowflake(),
            2,
            fixtures::so(
                "search",
                vec![fixtures::opt("query", &format!("load query {sent}"))],
            ),
            &who,
        );
        let (client, web) = (client.clone(), bot.web.clone());
        tasks.spawn(async move { send(&client, &web, &interaction).await.0 });
        sent += 1;
        if sent.is_multiple_of(10) {
            samples.push((
                start.elapsed().as_secs_f64(),
                world.service_calls() - before,
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let total = world.service_calls() - before;
    samples.push((elapsed, total));

    // The calls in every 60 s window from 15 s on (the initial burst spent by then).
    let at = |t: f64| {
        samples
            .iter()
            .rev()
            .find(|(s, _)| *s <= t)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let steady_minute = total - at(15.0);
    let first_two_secs = at(2.0);
    println!(
        "budget: {sent} searches sent to 3 replicas in {elapsed:.0} s; service-token calls: {total} in all, {first_two_secs} in the first 2 s, {steady_minute} in the last {:.0} s",
        elapsed - 15.0
    );
    assert!(
        first_two_secs <= 50,
        "{first_two_secs} calls in the first 2 s"
    );
    // A full bucket (100) plus 100 a minute at most, all replicas together.
    let allowed = 100.0 + 100.0 * elapsed / 60.0;
    assert!(
        (total as f64) <= allowed + 1.0,
        "{total} calls in {elapsed:.0} s (at most {allowed:.0})"
    );
    assert!(
        (steady_minute as f64) <= 100.0 * (elapsed - 15.0) / 60.0 + 10.0,
        "{steady_minute} calls in the last {:.0} s: more than 100 a minute",
        elapsed - 15.0
    );
    // And the load was enough to need the budget: without it three replicas would each
    // have spent 100 a minute.
    assert!(sent > 300, "{sent}");
    assert!(total > 100, "the budget was used: {total}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn sigkill_of_the_leader_hands_polling_over_and_every_card_is_sent_once() {
    let world = World::new().await;
    {
        // A subscription, and a cursor just before the questions this test posts.
        let store = PgStore::open_with(world.schema.options(), 2, cipher())
            .await
            .expect("open");
        let now = Utc::now() - chrono::Duration::seconds(5);
        store
            .add_rule(&Rule {
                guild: fixtures::GUILD,
                id: 0,
                channel: fixtures::CHANNEL,
                spec: parse_spec(&SubscribeOptions {
                    tags: Some("rust"),
                    ..Default::default()
                })
                .expect("spec"),
                team: None,
                created_by: MEMBER,
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
            .expect("cursor");
        store.close().await;
    }
    let client = reqwest::Client::new();
    let mut bots: Vec<Bot> = ["a", "b", "c"].iter().map(|n| world.start(n)).collect();
    for bot in &mut bots {
        wait_ready(&client, bot).await;
    }

    // Exactly one leader.
    let leader = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut leading = vec![];
            for (i, bot) in bots.iter().enumerate() {
                if leads(&client, bot).await {
                    leading.push(i);
                }
            }
            if leading.len() == 1 {
                break leading[0];
            }
            assert!(Instant::now() < deadline, "leaders: {leading:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };

    let titles = |discord: &FakeDiscord| -> Vec<String> {
        discord
            .channel_messages(fixtures::CHANNEL)
            .into_iter()
            .map(|(_, body)| {
                body["embeds"][0]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let post = |n: usize| {
        let title = format!("Rust question {n} about replicas");
        world.site.add_question(
            JANE,
            &title,
            "Body long enough to be a question here.",
            &["rust"],
        );
        title
    };
    let wait_card = |title: String| {
        let discord = &world.discord;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !titles(discord).iter().any(|t| t.contains(&title)) {
                assert!(
                    Instant::now() < deadline,
                    "no card for {title}: {:?}",
                    titles(discord)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let first = post(1);
    wait_card(first.clone()).await;

    // Kill the leader, and measure how soon another replica leads and polls.
    let polls_before = world.polls();
    bots[leader].sigkill();
    let killed = Instant::now();
    let second = post(2);
    let mut new_leader_after = None;
    let mut polled_after = None;
    let deadline = killed + Duration::from_secs(30);
    while polled_after.is_none() || new_leader_after.is_none() {
        if new_leader_after.is_none() {
            for (i, bot) in bots.iter().enumerate() {
                if i != leader && leads(&client, bot).await {
                    new_leader_after = Some(killed.elapsed());
                }
            }
        }
        if polled_after.is_none() && world.polls() > polls_before {
            polled_after = Some(killed.elapsed());
        }
        assert!(
            Instant::now() < deadline,
            "no replica took over within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (new_leader_after, polled_after) = (
        new_leader_after.expect("measured"),
        polled_after.expect("measured"),
    );
    println!(
        "failover: leader SIGKILLed; another replica led after {:.2} s and polled after {:.2} s (leader_check_secs = {LEADER_CHECK_SECS}, poll_interval_secs = {POLL_SECS})",
        new_leader_after.as_secs_f64(),
        polled_after.as_secs_f64()
    );
    // Within the configured time: the lock is freed when the killed process's connection
    // closes, a standby asks again within one check, and polls as soon as it leads.
    assert!(
        new_leader_after <= Duration::from_secs(LEADER_CHECK_SECS * 3 + 1),
        "took {new_leader_after:?} to lead"
    );
    assert!(
        polled_after <= Duration::from_secs(LEADER_CHECK_SECS * 3 + 1 + POLL_SECS),
        "took {polled_after:?} to poll"
    );
    wait_card(second.clone()).await;
    let third = post(3);
    wait_card(third.clone()).await;
    // A little longer for anything doubled to show up.
    tokio::time::sleep(Duration::from_secs(POLL_SECS * 2)).await;
    let seen = titles(&world.discord);
    for title in [&first, &second, &third] {
        assert_eq!(
            seen.iter().filter(|t| t.contains(title.as_str())).count(),
            1,
            "{title} carded once: {seen:?}"
        );
    }
}

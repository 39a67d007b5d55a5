//! The default transport end to end: the real binary (`soe-bot run`, gateway mode) against a
//! fake Discord gateway (tests/support/fake_gateway.rs) and the fake Discord REST API, with the
//! fake SOE site.
//!
//! - it identifies with the intents it needs (GUILDS only), heartbeats, leaves a guild it is
//!   not allowed in when that guild's GUILD_CREATE arrives, and answers a command and a button
//!   that arrive as INTERACTION_CREATE, through the REST callback;
//! - a session closed by the server (4000) is resumed, not identified again, and an
//!   interaction dispatched while the bot was away is answered after the RESUME;
//! - an invalid session (op 9, not resumable) makes it identify again and keep answering;
//! - SIGTERM closes the session with a close frame (1000) and exits 0.
//!
//! Real time and a real process: what Discord and an orchestrator do to it.

#![cfg(unix)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
#[path = "support/fake_gateway.rs"]
mod fake_gateway;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fake_discord::fixtures::{self, Who};
use fake_discord::{FakeDiscord, CALLBACK_ROUTE, LEAVE_GUILD_ROUTE};
use fake_gateway::FakeGateway;
use serde_json::{json, Value};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::fake_soe::{FakeSoe, FakeSoeConfig, Q_UNANSWERED};

const BOT_TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GcNRy7.gateway-e2e-token-canary-0077";
const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A guild the bot is not allowed in: it must leave when it sees it.
const STRANGER_GUILD: u64 = 1_000_000_000_000_000_404;
/// How long any one step may take.
const STEP: Duration = Duration::from_secs(30);

struct Harness {
    site: FakeSoe,
    discord: FakeDiscord,
    gateway: FakeGateway,
    child: Child,
    dir: tempfile::TempDir,
}

impl Harness {
    /// The fakes, and the bot started against them.
    async fn start() -> Harness {
        let clock: SharedClock = Arc::new(FixedClock::at(Utc::now()));
        let site = FakeSoe::start(FakeSoeConfig::new(clock)).await.unwrap();
        let discord = FakeDiscord::start().await;
        let gateway = FakeGateway::start(
            &[fixtures::GUILD, STRANGER_GUILD],
            Duration::from_millis(400),
        )
        .await;
        discord.set_gateway_url(gateway.url());
        let dir = tempfile::tempdir().unwrap();
        let child = spawn_bot(&site, &discord, dir.path());
        let h = Harness {
            site,
            discord,
            gateway,
            child,
            dir,
        };
        let identified = h
            .gateway
            .wait_until(STEP, |s| !s.identifies.is_empty())
            .await;
        assert!(identified, "the bot never identified:\n{}", h.output());
        h
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bot.log")).unwrap_or_default()
    }

    /// Dispatches an INTERACTION_CREATE and waits for its callback; returns every REST
    /// exchange about it (the callback and any edits of `@original`), as text.
    async fn interact(&self, id: u64, kind: u8, data: Value) -> String {
        let who = Who::member(1_000_000_000_000_000_101, "jane");
        let mut envelope = fixtures::envelope(id, kind, data, &who);
        if kind == 3 {
            // A component interaction carries the message the component is on.
            envelope = fixtures::with_message(envelope);
        }
        self.gateway.dispatch("INTERACTION_CREATE", envelope);
        self.answered(id).await
    }

    /// Waits for interaction `id`'s callback, then for its answer to settle (a deferred
    /// callback is followed by an edit of `@original`); returns those exchanges as text.
    async fn answered(&self, id: u64) -> String {
        let token = fixtures::token(id);
        let callback = self
            .discord
            .wait_for(STEP, |r| {
                r.method == "POST" && r.route == CALLBACK_ROUTE && r.path.contains(&token)
            })
            .await;
        assert!(
            callback.is_some(),
            "interaction {id} was never answered (gateway dispatched {:?}):\n{}",
            self.gateway.seen(|s| s.dispatched.clone()),
            self.output()
        );
        let deferred = callback
            .as_ref()
            .and_then(|r| r.body.as_ref())
            .and_then(|b| b["type"].as_u64())
            .is_some_and(|t| t == 5 || t == 6);
        if deferred {
            let edit = self
                .discord
                .wait_for(STEP, |r| r.method == "PATCH" && r.path.contains(&token))
                .await;
            assert!(
                edit.is_some(),
                "deferred {id} never edited:\n{}",
                self.output()
            );
        }
        self.discord
            .requests()
            .into_iter()
            .filter(|r| r.path.contains(&token))
            .map(|r| r.body.map(|b| b.to_string()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The number of the last dispatch sent in the session.
    fn last_seq(&self) -> u64 {
        self.gateway
            .seen(|s| s.dispatched.last().map_or(0, |(seq, _)| *seq))
    }

    /// SIGTERM; the exit code and the close code of the last connection.
    async fn stop(mut self) -> (Option<i32>, Option<u16>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running 60 s after SIGTERM:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let code = self.child.wait().unwrap().code();
        // The close frame reaches the fake just before the socket closes.
        self.gateway
            .wait_until(Duration::from_secs(2), |s| {
                s.ended.last().is_some_and(Option::is_some)
            })
            .await;
        let ended = self.gateway.seen(|s| s.ended.last().copied().flatten());
        (code, ended, self.output())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_bot(site: &FakeSoe, discord: &FakeDiscord, dir: &std::path::Path) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"
[soe]
site_url = "{site}"
client_id = "{client_id}"
service_token = "{service}"

[discord]
mode = "gateway"
token = "{BOT_TOKEN}"
application_id = {app}
api_base = "{api}"
allowed_guilds = [{guild}]

[web]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[storage]
path = "{storage}"
encryption_key = "{KEY_B64}"

[log]
filter = "info"

[link]
verify_discord_identity = false
"#,
        site = site.site_url(),
        client_id = site.client_id(),
        service = site.service_token(),
        app = fixtures::APP_ID,
        api = discord.base(),
        guild = fixtures::GUILD,
        storage = dir.join("store").display(),
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    // Files, not pipes: a pipe nobody reads fills up and then blocks the bot's logging.
    let log = std::fs::File::create(dir.join("bot.log")).unwrap();
    cmd.args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

fn search(query: &str) -> Value {
    fixtures::so("search", vec![fixtures::opt("query", query)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_buttons_are_answered_through_the_gateway() {
    let h = Harness::start().await;

    let identify = h.gateway.seen(|s| s.identifies[0].clone());
    assert_eq!(identify["intents"], json!(1), "GUILDS only: {identify}");
    assert_eq!(identify["shard"], json!([0, 1]), "{identify}");
    assert_eq!(
        identify["token"],
        json!(format!("<token: {} chars>", BOT_TOKEN.len())),
        "the bot token: {identify}"
    );

    // The guild it is not allowed in is left as soon as it is seen; its own is kept.
    let left = h
        .discord
        .wait_for(STEP, |r| {
            r.method == "DELETE" && r.route == LEAVE_GUILD_ROUTE
        })
        .await
        .unwrap_or_else(|| panic!("never left the stranger guild:\n{}", h.output()));
    assert!(
        left.path.ends_with(&STRANGER_GUILD.to_string()),
        "{}",
        left.path
    );
    assert_eq!(
        h.discord.on("DELETE", LEAVE_GUILD_ROUTE).len(),
        1,
        "only the stranger guild is left"
    );

    // A slash command and a button, both through INTERACTION_CREATE.
    let answer = h.interact(fixtures::snowflake(), 2, search("async")).await;
    assert!(
        answer.to_lowercase().contains("async"),
        "search results: {answer}"
    );
    let button = fixtures::button(&format!("so:q:{Q_UNANSWERED}"));
    let shown = h.interact(fixtures::snowflake(), 3, button).await;
    assert!(
        h.site.question(Q_UNANSWERED).is_some()
            && shown.contains(&format!("/questions/{Q_UNANSWERED}")),
        "the question's card, with its link: {shown}"
    );

    // Heartbeats go out at the interval HELLO asked for, and are acknowledged.
    assert!(
        h.gateway.wait_until(STEP, |s| s.heartbeats >= 2).await,
        "heartbeats: {}",
        h.gateway.seen(|s| s.heartbeats)
    );
    assert!(
        h.discord.check_contract() > 0,
        "every exchange within the contract"
    );
    assert!(
        !h.output().contains(BOT_TOKEN),
        "the token is never printed"
    );

    let (code, ended, output) = h.stop().await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(
        ended,
        Some(1000),
        "the session closed with a close frame:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interaction_sent_while_the_bot_is_away_is_answered_after_it_resumes() {
    let h = Harness::start().await;
    // A first command proves the session works, and moves the sequence on.
    h.interact(fixtures::snowflake(), 2, search("async")).await;
    let seq_before = h.last_seq();

    assert!(h.gateway.close_session(4000), "a live session to close");
    let missed = fixtures::snowflake();
    let who = Who::member(1_000_000_000_000_000_101, "jane");
    h.gateway.dispatch(
        "INTERACTION_CREATE",
        fixtures::envelope(missed, 2, search("async"), &who),
    );

    assert!(
        h.gateway.wait_until(STEP, |s| !s.resumes.is_empty()).await,
        "never resumed:\n{}",
        h.output()
    );
    let resume = h.gateway.seen(|s| s.resumes[0].clone());
    assert_eq!(resume["session_id"], json!("session-1"), "{resume}");
    assert_eq!(resume["seq"], json!(seq_before), "{resume}");
    let answer = h.answered(missed).await;
    assert!(answer.to_lowercase().contains("async"), "{answer}");
    assert_eq!(
        h.gateway.seen(|s| s.identifies.len()),
        1,
        "resumed, not identified again"
    );
    let (code, _, output) = h.stop().await;
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_session_makes_the_bot_identify_again_and_keep_answering() {
    let h = Harness::start().await;
    // READY and the guilds first, so the op 9 lands in an established session.
    assert!(
        h.gateway
            .wait_until(STEP, |s| s.dispatched.len() >= 3)
            .await
    );
    assert!(h.gateway.invalidate_session(false), "a live session");
    assert!(
        h.gateway
            .wait_until(STEP, |s| s.identifies.len() >= 2)
            .await,
        "never identified again:\n{}",
        h.output()
    );
    assert!(h.gateway.wait_live(STEP).await, "a new live session");
    let answer = h.interact(fixtures::snowflake(), 2, search("async")).await;
    assert!(answer.to_lowercase().contains("async"), "{answer}");
    let (code, ended, output) = h.stop().await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(ended, Some(1000), "{output}");
}

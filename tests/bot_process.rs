//! The real binary as operators run it (`soe-bot run` as a child process, HTTP interactions
//! mode):
//! - SIGTERM while a write is in flight: the bot stops taking work, lets the post finish (the
//!   fake site holds it for [`SOE_DELAY`]), delivers the reply, flushes the store and exits 0
//!   within a bound;
//! - `soe-bot backup` and `soe-bot rotate-key` while it runs (through its control socket), and
//!   `soe-bot restore` of that backup once it has stopped;
//! - `soe-bot doctor` while it runs reads the bot's rules, outbox, links and settings from a
//!   snapshot sent over the control socket, and says the store could not be read (exit 1)
//!   when the socket is gone.
//!
//! The site and Discord are the loopback fakes, run by this test; the child is configured by
//! a `bot.toml` in a temporary directory and its store is seeded with a linked member before it
//! starts. Real time and real signals: this is what an orchestrator's stop looks like.

#![cfg(unix)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fake_discord::fixtures::{self, Who};
use fake_discord::{FakeDiscord, ORIGINAL_ROUTE};
use secrecy::SecretString;
use serde_json::{json, Value};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::config::EncryptionKey;
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, Fault, FaultKind, JANE, Q_UNANSWERED};
use soe_bot::soe::UserToken;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{DraftState, Link, LinkStatus, SledStore, Store};

/// How long the site takes to answer the post: longer than the gap before the signal, well
/// inside the bot's shutdown grace.
const SOE_DELAY: Duration = Duration::from_secs(3);
/// The bound on the whole shutdown (the grace for work in flight is 20 s).
const EXIT_BOUND: Duration = Duration::from_secs(30);
const ANSWERS_ROUTE: &str = "/questions/{questionId}/answers";
const MEMBER: u64 = 4242;
/// A fixed storage key (base64 of 32 bytes, id 1), for this test only.
const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The key a rotation moves to (id 2).
const NEW_KEY_B64: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
/// `[storage]` keys: the one key.
const ONE_KEY: &str = "encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"";
/// `[storage]` keys mid-rotation: the new key current, the old one listed.
const ROTATING: &str = "encryption_key = \"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\"\nencryption_key_id = 2\nprevious_keys = [{ id = 1, key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }]";
const BODY: &str = "Use a CancellationToken from tokio-util and select! on it in every task loop; then await the JoinHandles.";

struct Bot {
    child: Child,
    /// Its `bot.toml`.
    config: std::path::PathBuf,
    web: String,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cipher() -> Cipher {
    Cipher::new(&EncryptionKey::from_base64(1, KEY_B64).unwrap(), &[])
}

/// The keys of [`ROTATING`].
fn rotating_cipher() -> Cipher {
    Cipher::new(
        &EncryptionKey::from_base64(2, NEW_KEY_B64).unwrap(),
        &[EncryptionKey::from_base64(1, KEY_B64).unwrap()],
    )
}

/// The new key alone: opens only what was re-sealed.
fn new_key_only() -> Cipher {
    Cipher::new(&EncryptionKey::from_base64(2, NEW_KEY_B64).unwrap(), &[])
}

async fn seed_store(path: &std::path::Path, member_token: String) {
    let store = SledStore::open_at(path, cipher(), 1 << 20).unwrap();
    store
        .put_link(&Link {
            discord_user: MEMBER,
            soe_user_id: JANE,
            soe_user_name: "Jane Doe".into(),
            soe_user_url: None,
            token: UserToken::new(SecretString::from(member_token)),
            scopes: vec!["write_access".into()],
            expires_at: None,
            linked_at: Utc::now(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .await
        .unwrap();
    store.flush().await.unwrap();
}

/// Starts `soe-bot run` on a free port with the `[storage]` key lines `keys`; `/metrics` on
/// `metrics_port` when given.
fn start_bot(
    dir: &std::path::Path,
    site: &FakeSoe,
    discord: &FakeDiscord,
    keys: &str,
    metrics_port: Option<u16>,
) -> Bot {
    let port = free_port();
    let metrics_listen = metrics_port
        .map(|p| format!("metrics_listen = \"127.0.0.1:{p}\""))
        .unwrap_or_default();
    let storage = dir.join("store");
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
public_url = "http://127.0.0.1:{port}"
{metrics_listen}

[storage]
path = "{storage}"
{keys}

[log]
filter = "info"

[link]
verify_discord_identity = false
"#,
        site = site.site_url(),
        client_id = site.client_id(),
        service = site.service_token(),
        app = fixtures::APP_ID,
        public_key = fixtures::public_key_hex(),
        discord = discord.base(),
        guild = fixtures::GUILD,
        storage = storage.display(),
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, config).unwrap();
    Bot {
        child: spawn_run(&path),
        config: path,
        web: format!("http://127.0.0.1:{port}"),
    }
}

/// Where the bot's output goes: a file beside its `bot.toml` (a pipe nobody reads until the end
/// fills up and then blocks the bot's logging).
fn log_path(config: &std::path::Path) -> std::path::PathBuf {
    config.with_file_name("bot.log")
}

/// Everything the bot printed so far.
fn output(bot: &Bot) -> String {
    std::fs::read_to_string(log_path(&bot.config)).unwrap_or_default()
}

fn spawn_run(config: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let log = std::fs::File::create(log_path(config)).unwrap();
    cmd.args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, bot: &mut Bot) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", bot.web)).send().await {
            let ok = r.status().is_success();
            let body = r.text().await.unwrap_or_default();
            if ok {
                return body;
            }
        }
        if let Ok(Some(status)) = bot.child.try_wait() {
            let err = output(bot);
            if err.contains("in use by another process") {
                // The store this test seeded is released a moment after its handle is dropped
                // (sled's flusher thread): start again.
                tokio::time::sleep(Duration::from_millis(200)).await;
                bot.child = spawn_run(&bot.config);
                continue;
            }
            panic!("the bot exited early ({status}):\n{err}");
        }
        assert!(Instant::now() < deadline, "not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// POSTs `interaction` signed with the test key at the real time.
async fn send(client: &reqwest::Client, bot: &Bot, interaction: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(interaction).unwrap();
    let ts = Utc::now().timestamp().to_string();
    let sig = fixtures::sign(&fixtures::key(), &ts, &body);
    let r = client
        .post(format!("{}/interactions", bot.web))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", sig)
        .header("x-signature-timestamp", ts)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The fake site, its API application switched to Read-write (the README's setup step).
async fn site() -> FakeSoe {
    let clock: SharedClock = Arc::new(FixedClock::at(Utc::now()));
    let mut config = FakeSoeConfig::new(clock);
    config.application = AppStatus::ReadWrite;
    FakeSoe::start(config).await.unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_post_lets_it_finish_flushes_and_exits_0() {
    let site = site().await;
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    seed_store(
        &dir.path().join("store"),
        site.mint_token(JANE, &["write_access"]),
    )
    .await;
    site.push_fault(Fault::on(
        "POST",
        ANSWERS_ROUTE,
        FaultKind::Delay(SOE_DELAY),
    ));
    let mut bot = start_bot(dir.path(), &site, &discord, ONE_KEY, None);
    let client = reqwest::Client::new();
    let ready = wait_ready(&client, &mut bot).await;
    assert!(ready.starts_with("ready"), "{ready}");

    // `/so answer` opens the modal; submitting it posts the answer as the member.
    let who = Who::member(MEMBER, "jane");
    let (status, modal) = send(
        &client,
        &bot,
        &fixtures::envelope(
            fixtures::snowflake(),
            2,
            fixtures::so(
                "answer",
                vec![fixtures::opt("question", &Q_UNANSWERED.to_string())],
            ),
            &who,
        ),
    )
    .await;
    assert_eq!(status, 200, "{modal}");
    let modal_id = modal["data"]["custom_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a modal: {modal}"))
        .to_string();
    let submit = fixtures::envelope(
        fixtures::snowflake(),
        5,
        fixtures::modal(&modal_id, &[("body", BODY)]),
        &who,
    );
    let (status, defer) = send(&client, &bot, &submit).await;
    assert_eq!(status, 200, "{defer}");
    assert_eq!(defer["type"], json!(5), "deferred: {defer}");

    // The post is now held by the site. Stop the bot.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        site.answers(Q_UNANSWERED)
            .iter()
            .all(|a| a.body_markdown != BODY),
        "still in flight when the signal is sent"
    );
    let signalled = Instant::now();
    sigterm(&bot.child);
    let code = loop {
        if let Some(status) = bot.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < EXIT_BOUND,
            "still running {EXIT_BOUND:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stdout = output(&bot);
    assert_eq!(code.code(), Some(0), "exit status; log:\n{stdout}");
    assert!(
        signalled.elapsed() >= SOE_DELAY - Duration::from_millis(1000),
        "waited for the post"
    );

    // The write completed, and the member was told.
    assert!(
        site.answers(Q_UNANSWERED)
            .iter()
            .any(|a| a.body_markdown == BODY && a.owner_id == JANE),
        "the answer was posted as the member: {:?}\nlog:\n{stdout}",
        site.answers(Q_UNANSWERED)
    );
    let edits = discord.on("PATCH", ORIGINAL_ROUTE);
    assert!(
        edits.iter().any(|e| e.status == 200
            && e.body
                .as_ref()
                .is_some_and(|b| b.to_string().contains("Posted"))),
        "the reply was delivered: {edits:?}"
    );
    assert!(stdout.contains("store flushed"), "log:\n{stdout}");

    // The store on disk says so too: the draft is posted, no write is left claimed.
    let store = SledStore::open_at(dir.path().join("store"), cipher(), 1 << 20).unwrap();
    assert!(store.unfinished_writes().await.unwrap().is_empty());
    let drafts = store.drafts_of(MEMBER).await.unwrap();
    assert!(
        drafts
            .iter()
            .all(|d| matches!(d.state, DraftState::Posted { .. })),
        "{drafts:?}"
    );
}

fn cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .arg("--config")
        .arg(dir.join("bot.toml"))
        .output()
        .unwrap()
}

/// [`cli`], after the store this test just dropped is released: sled lets go of its lock a
/// moment after the handle is dropped (its flusher thread), and meanwhile the command would
/// take the store for a running bot's.
fn cli_once_released(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut out = cli(dir, args);
    for _ in 0..50 {
        if !String::from_utf8_lossy(&out.stderr).contains("in use") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = cli(dir, args);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_rotate_key_reach_a_running_bot_and_the_backup_restores() {
    // The store was sealed with key 1; the bot now runs with key 2 and key 1 listed.
    let site = site().await;
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let member_token = site.mint_token(JANE, &["write_access"]);
    seed_store(&dir.path().join("store"), member_token.clone()).await;
    let metrics_port = free_port();
    let mut bot = start_bot(dir.path(), &site, &discord, ROTATING, Some(metrics_port));
    let client = reqwest::Client::new();
    wait_ready(&client, &mut bot).await;

    // With web.metrics_listen, /metrics is there and not on the public address.
    let public = client
        .get(format!("{}/metrics", bot.web))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    // The store is counted by a background task just after startup: give it a moment.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = client
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("soe_bot_linked_members") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("soe_bot_linked_members 1"),
        "the seeded link is counted:\n{metrics}"
    );

    let file = dir.path().join("backup.json");
    let out = cli(dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"schema_version\":1"), "states its schema");
    assert!(!text.contains(&member_token), "the token stays sealed");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
    let again = cli(dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(!again.status.success(), "never overwrites");

    let rotate = cli(dir.path(), &["rotate-key"]);
    let said = String::from_utf8_lossy(&rotate.stdout);
    assert!(rotate.status.success(), "{rotate:?}");
    assert!(
        said.contains("re-sealed 1 record(s) under key id 2 (links: 1)"),
        "{said}"
    );
    assert!(
        said.contains("Every record now opens with key id 2"),
        "{said}"
    );
    let again = cli(dir.path(), &["rotate-key"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("re-sealed 0 record(s)"),
        "a second run has nothing left: {again:?}"
    );

    sigterm(&bot.child);
    let status = bot.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!dir.path().join("store").join("control.sock").exists());
    {
        // The old key is no longer needed.
        let store = SledStore::open_at(dir.path().join("store"), new_key_only(), 1 << 20)
            .expect("opens with the new key alone");
        assert_eq!(
            store.get_link(MEMBER).await.unwrap().unwrap().soe_user_id,
            JANE
        );
    }
    // With the bot stopped, backup opens the store itself.
    let stopped = dir.path().join("stopped.json");
    let out = cli_once_released(dir.path(), &["backup", stopped.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("key id(s) [2]"),
        "{out:?}"
    );

    // Restore into a fresh path, with the bot stopped.
    let config = std::fs::read_to_string(dir.path().join("bot.toml")).unwrap();
    let restored_dir = dir.path().join("restored");
    std::fs::create_dir(&restored_dir).unwrap();
    std::fs::write(
        restored_dir.join("bot.toml"),
        config.replace(
            &dir.path().join("store").display().to_string(),
            &restored_dir.join("store").display().to_string(),
        ),
    )
    .unwrap();
    let out = cli(&restored_dir, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    // The backup was taken before the rotation: its link opens with the old key, still listed.
    let store = SledStore::open_at(restored_dir.join("store"), rotating_cipher(), 1 << 20).unwrap();
    // Its token opens under the configured key (unsealing fails otherwise).
    let link = store
        .get_link(MEMBER)
        .await
        .unwrap()
        .expect("the link came back");
    assert_eq!(link.soe_user_id, JANE);
    drop(store);
    let twice = cli_once_released(&restored_dir, &["restore", file.to_str().unwrap()]);
    assert!(!twice.status.success(), "only into an empty store");
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("empty storage.path"),
        "{twice:?}"
    );
}

/// Seeds what `doctor` shows from the store: a subscription rule in [`fixtures::CHANNEL`], the
/// guild's audit channel (where the command line posts its test card), and one card waiting in
/// the outbox (held by a backoff, so the running bot leaves it there).
async fn seed_notifications(path: &std::path::Path) {
    use soe_bot::notify::model::{Card, OutboxEntry, TargetState};
    use soe_bot::notify::rule::{parse_spec, ActivityKind, Rule, SubscribeOptions};
    use soe_bot::store::{GuildSettings, NotifyStore};
    let store = SledStore::open_at(path, cipher(), 1 << 20).unwrap();
    let now = Utc::now();
    let rule = store
        .add_rule(&Rule {
            guild: fixtures::GUILD,
            id: 0,
            channel: fixtures::CHANNEL,
            spec: parse_spec(&SubscribeOptions {
                tags: Some("rust"),
                ..Default::default()
            })
            .unwrap(),
            team: None,
            created_by: MEMBER,
            created_at: now,
            last_post_at: None,
            last_error: None,
        })
        .await
        .unwrap();
    let settings = GuildSettings {
        audit_channel: Some(fixtures::CHANNEL),
        ..Default::default()
    };
    store
        .put_guild_settings(fixtures::GUILD, &settings)
        .await
        .unwrap();
    let state = TargetState {
        cursor: Some(now),
        last_poll_at: Some(now),
        last_success_at: Some(now),
        ..Default::default()
    };
    let entry = OutboxEntry {
        id: 0,
        target: "main".into(),
        guild: fixtures::GUILD,
        channel: fixtures::CHANNEL,
        rules: vec![rule.id],
        card: Card {
            kind: ActivityKind::NewQuestion,
            question_id: 77,
            answer_id: None,
            title: "Held card".into(),
            url: "https://example.invalid/q/77".into(),
            author: "Sam".into(),
            tags: vec!["rust".into()],
            score: 0,
            answer_count: 0,
            accepted: false,
            at: now,
        },
        queued_at: now,
        attempts: 1,
        next_attempt_at: now + chrono::Duration::days(1),
        last_error: None,
        folded: false,
    };
    store
        .commit_poll("main", &state, vec![entry])
        .await
        .unwrap();
    store.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_on_the_command_line_reads_the_running_bots_rules_and_outbox() {
    let site = site().await;
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let member_token = site.mint_token(JANE, &["write_access"]);
    seed_store(&dir.path().join("store"), member_token).await;
    seed_notifications(&dir.path().join("store")).await;
    let mut bot = start_bot(dir.path(), &site, &discord, ONE_KEY, None);
    let client = reqwest::Client::new();
    wait_ready(&client, &mut bot).await;

    // The bot holds the store: doctor reads a snapshot it sends over its control socket.
    let out = cli(dir.path(), &["doctor"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Outbox: 1 card waiting"), "{text}");
    assert!(!text.contains("no subscription rules"), "{text}");
    assert!(
        text.contains("Notifications from the main site: last poll"),
        "{text}"
    );
    assert!(
        text.contains("1 link active"),
        "the links are read too: {text}"
    );
    assert!(
        text.contains(&format!("Test card posted in #{}", fixtures::CHANNEL)),
        "the guild's audit channel is read: {text}"
    );
    assert!(
        text.contains(&format!("#{}: the bot may view, send", fixtures::CHANNEL)),
        "the rule's channel is checked: {text}"
    );
    assert!(!text.contains("not read"), "{text}");
    assert!(!text.contains(&site.service_token()), "no secret: {text}");

    // Without the control socket, the report says the store could not be read instead of
    // showing an empty one, and the command fails.
    std::fs::remove_file(dir.path().join("store").join("control.sock")).unwrap();
    let out = cli(dir.path(), &["doctor"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("storage could not be read"), "{text}");
    assert!(
        text.contains("is reachable"),
        "the site is still checked: {text}"
    );
    assert!(!text.contains("no subscription rules"), "{text}");
    assert!(!text.contains("Outbox: 0"), "{text}");
    assert!(!text.contains("Test card posted"), "{text}");
    discord.check_contract();
}

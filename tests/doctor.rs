//! `doctor`: `/so-admin doctor` through the signed endpoint and the fake Discord, and
//! `soe-bot doctor --config` (the real binary): a healthy setup says so and posts a test card;
//! a permission missing in a channel (from a channel overwrite), a service token the site
//! rejects, and an API application that refuses writes are each named with what to do, and the
//! command line exits 1.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_discord::fixtures::{self, Who, CHANNEL, GUILD};
use fake_discord::harness::{wire, Wired};
use fake_discord::{FakeDiscord, ORIGINAL_ROUTE};
use soe_bot::clock::SharedClock;
use soe_bot::commands::{Action, Invocation};
use soe_bot::fake_soe::AppStatus;
use soe_bot::notify::rule::{parse_spec, Rule, SubscribeOptions};
use support::test_app::TestApp;

const EMBED_LINKS: u64 = 1 << 14;
const BOT_ROLE: u64 = 1_000_000_000_000_000_300;

async fn bot() -> (TestApp, Wired) {
    let t = TestApp::builder().start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    (t, w)
}

/// Runs `/so-admin doctor` as `who`; returns the reply's text.
async fn doctor(w: &Wired, who: &Who) -> String {
    let id = fixtures::snowflake();
    let (status, body) = w
        .send(&fixtures::envelope(
            id,
            2,
            fixtures::so_admin(&["doctor"], vec![]),
            who,
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap()["data"]["flags"], 64, "the report is private");
    let token = fixtures::token(id);
    let edit = w
        .discord
        .wait_for(Duration::from_secs(20), |r| {
            r.route == ORIGINAL_ROUTE && r.path.contains(&token)
        })
        .await
        .expect("the report");
    edit.body.unwrap()["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn test_cards(w: &Wired) -> usize {
    w.discord
        .channel_messages(CHANNEL)
        .iter()
        .filter(|(_, m)| m["embeds"][0]["title"] == "soe-bot test card")
        .count()
}

#[tokio::test]
async fn a_healthy_setup_says_all_good_and_posts_a_test_card() {
    let (_t, w) = bot().await;
    let report = doctor(&w, &Who::admin(2, "boss")).await;
    assert!(
        report.starts_with("**soe-bot doctor**: all good"),
        "{report}"
    );
    assert_eq!(test_cards(&w), 1);
    let card = &w.discord.channel_messages(CHANNEL)[0].1;
    assert_eq!(card["allowed_mentions"]["parse"], serde_json::json!([]));
    insta::assert_snapshot!("doctor_healthy", report);
    w.discord.check_contract();
}

#[tokio::test]
async fn doctor_is_for_admins_in_servers_only() {
    let t = TestApp::builder().allow_dms().start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_member(GUILD, 2);
    let text = doctor(&w, &Who::member(1, "jane")).await;
    assert!(text.contains("Manage Server"), "{text}");
    let text = doctor(&w, &Who::admin(2, "boss").in_dm()).await;
    assert!(text.contains("only inside a server"), "{text}");
    assert_eq!(test_cards(&w), 0, "no card without permission");
    assert!(w.discord.on("GET", fake_discord::ROLES_ROUTE).is_empty());
}

#[tokio::test]
async fn a_permission_denied_by_a_channel_overwrite_is_named() {
    let (t, w) = bot().await;
    // Only the bot's role may embed links server-wide; the channel's overwrite for that role
    // takes it away there.
    w.discord.give_bot_role(GUILD, BOT_ROLE);
    w.discord
        .set_role_permissions(GUILD, fake_discord::EVERYONE_PERMS & !EMBED_LINKS);
    w.discord.set_role_permissions(BOT_ROLE, EMBED_LINKS);
    w.discord
        .overwrite(CHANNEL, BOT_ROLE, false, 0, EMBED_LINKS);
    // A configured channel is checked too, even when the command runs elsewhere.
    let other = 1_000_000_000_000_000_099;
    w.discord.add_channel(GUILD, other);
    let mut s = soe_bot::store::GuildSettings::default();
    s.enabled_channels.push(other);
    soe_bot::store::Store::put_guild_settings(t.store.as_ref(), GUILD, &s)
        .await
        .unwrap();
    let report = doctor(&w, &Who::admin(2, "boss")).await;
    assert!(report.contains("1 problem"), "{report}");
    assert!(
        report.contains(&format!("❌ <#{CHANNEL}>: the bot lacks Embed Links")),
        "{report}"
    );
    assert!(
        report.contains(&format!("✅ <#{other}>: the bot may view, send")),
        "{report}"
    );
    insta::assert_snapshot!("doctor_missing_permission", report);
    w.discord.check_contract();
}

#[tokio::test]
async fn a_channel_with_only_a_subscription_rule_is_checked() {
    let (t, w) = bot().await;
    // The rule's channel is named nowhere in the guild's settings; the bot may not embed
    // links there, so its cards cannot post.
    w.discord.give_bot_role(GUILD, BOT_ROLE);
    w.discord
        .set_role_permissions(GUILD, fake_discord::EVERYONE_PERMS & !EMBED_LINKS);
    w.discord.set_role_permissions(BOT_ROLE, EMBED_LINKS);
    let cards = 1_000_000_000_000_000_098;
    w.discord.add_channel(GUILD, cards);
    w.discord.overwrite(cards, BOT_ROLE, false, 0, EMBED_LINKS);
    let rule = Rule {
        guild: GUILD,
        id: 0,
        channel: cards,
        spec: parse_spec(&SubscribeOptions {
            tags: Some("rust"),
            ..Default::default()
        })
        .unwrap(),
        team: None,
        created_by: 2,
        created_at: t.clock_now(),
        last_post_at: None,
        last_error: None,
    };
    soe_bot::store::NotifyStore::add_rule(t.store.as_ref(), &rule)
        .await
        .unwrap();
    let report = doctor(&w, &Who::admin(2, "boss")).await;
    assert!(report.contains("1 problem"), "{report}");
    assert!(
        report.contains(&format!("❌ <#{cards}>: the bot lacks Embed Links")),
        "{report}"
    );
    assert_eq!(
        report.matches(&format!("<#{cards}>:")).count(),
        1,
        "checked once:\n{report}"
    );
    w.discord.check_contract();
}

#[tokio::test]
async fn a_rejected_service_token_is_named() {
    let (t, w) = bot().await;
    t.fake.revoke_token(&t.fake.service_token());
    let report = doctor(&w, &Who::admin(2, "boss")).await;
    assert!(report.contains("1 problem"), "{report}");
    assert!(
        report.contains("rejected the service token (401)")
            && report.contains("soe-bot service-token"),
        "{report}"
    );
    assert!(
        !report.contains(&t.fake.service_token()),
        "no secret in the report"
    );
}

#[tokio::test]
async fn a_read_only_application_is_named() {
    let t = TestApp::start().await;
    let server = t.stub_server();
    let jane = TestApp::member(111, "jane");
    t.link(&jane).await;
    t.fake.set_application(AppStatus::ReadOnly);
    let vote = soe_bot::commands::ids::Id::VoteQuestion {
        question: soe_bot::fake_soe::Q_UNANSWERED,
        vote: soe_bot::soe::Vote::Up,
        on: soe_bot::commands::ids::Surface::Card,
    };
    let refused = t.press(&jane, &vote.encode()).await;
    assert!(refused.content.contains("read-only"), "{refused:?}");
    let mut boss = TestApp::member(222, "boss");
    boss.permissions = Some(soe_bot::commands::admin::MANAGE_GUILD);
    let inv: Invocation = t.invocation(
        &boss,
        Action::Command {
            name: "so-admin".into(),
            path: vec!["doctor".into()],
            options: vec![],
        },
    );
    let report = t.run(&inv).await.content;
    assert!(report.contains("1 problem"), "{report}");
    assert!(
        report.contains("refused writes outright for 1 linked member")
            && report.contains("Read-write"),
        "{report}"
    );
    assert_eq!(server.posted_in(10).len(), 1, "the test card");
}

// ------------------------------------------------------------------ the command line

/// A fresh storage key from `soe-bot keygen`.
fn keygen() -> String {
    let key = std::process::Command::new(env!("CARGO_BIN_EXE_soe-bot"))
        .arg("keygen")
        .output()
        .unwrap();
    String::from_utf8(key.stdout).unwrap().trim().to_string()
}

/// A bot.toml for the fake site and the fake Discord, with `service_token`.
fn config(
    dir: &std::path::Path,
    t: &TestApp,
    discord: &FakeDiscord,
    key: &str,
    service_token: &str,
    db: &str,
) -> std::path::PathBuf {
    let text = format!(
        r#"[soe]
site_url = "{site}"
client_id = "{client}"
service_token = "{service_token}"

[discord]
application_id = {app}
api_base = "{discord}"
allowed_guilds = [{GUILD}]
token = "test-bot-token"
client_secret = "test-client-secret"

[web]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:8080"

[storage]
path = "{db}"
encryption_key = "{key}"
"#,
        site = t.fake.site_url(),
        client = t.fake.client_id(),
        app = fixtures::APP_ID,
        discord = discord.base(),
        db = dir.join(db).display(),
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn cli_doctor(config: &std::path::Path) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["doctor", "--config"])
        .arg(config)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_prints_the_same_report_and_exits_1_when_something_is_wrong() {
    let t = TestApp::start().await;
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = keygen();
    let good = config(
        dir.path(),
        &t,
        &discord,
        &key,
        &t.fake.service_token(),
        "db",
    );
    let (code, out) = cli_doctor(&good).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("soe-bot doctor: all good"), "{out}");
    assert!(
        out.contains("No test card posted: no guild has an audit channel"),
        "{out}"
    );

    let broken = config(dir.path(), &t, &discord, &key, "not-a-token", "db");
    let (code, out) = cli_doctor(&broken).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("rejected the service token (401)"), "{out}");
    assert!(
        !out.contains("not-a-token"),
        "no secret in the output: {out}"
    );

    // Something holds the storage and no control socket answers (a running bot serves a
    // snapshot on it: tests/bot_process.rs): the site is still checked, and the report says
    // the store could not be read instead of showing an empty one (a failure: the state of
    // the rules, the outbox and the channels is unknown).
    let held = dir.path().join("held");
    let _running = soe_bot::store::SledStore::open_at(
        &held,
        soe_bot::store::cipher::Cipher::for_testing(),
        1 << 20,
    )
    .unwrap();
    let busy = config(
        dir.path(),
        &t,
        &discord,
        &key,
        &t.fake.service_token(),
        "held",
    );
    let (code, out) = cli_doctor(&busy).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("The bot's storage could not be read") && out.contains("is reachable"),
        "{out}"
    );
    assert!(out.contains("control socket"), "{out}");
    for zero in [
        "no subscription rules",
        "Outbox: 0",
        "0 links active",
        "Alert DMs: 0",
    ] {
        assert!(!out.contains(zero), "no state from an empty store: {out}");
    }
    discord.check_contract();
}

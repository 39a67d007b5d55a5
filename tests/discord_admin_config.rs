//! `/so-admin channel team|tags` and `audit-channel` through the signed endpoint and the fake
//! Discord: each is refused without permission, in a DM, and for a channel of another guild
//! (checked with Discord, `GET /channels/{id}`); each change is stored and produces exactly one
//! audit entry in the audit channel, with no mentions allowed; a channel bound to a private
//! team reads from the team's API base.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_discord::fixtures::{self, Who, CHANNEL, GUILD};
use fake_discord::harness::{wire, Wired};
use fake_discord::ORIGINAL_ROUTE;
use serde_json::{json, Value};
use soe_bot::clock::SharedClock;
use soe_bot::fake_soe::TEAM;
use soe_bot::store::Store;
use support::test_app::TestApp;

/// Another channel of the fixtures' guild.
const OTHER_CHANNEL: u64 = 1_000_000_000_000_000_099;
/// The audit channel, in the fixtures' guild.
const AUDIT: u64 = 1_000_000_000_000_000_098;
/// A guild the bot is also in, and one of its channels.
const FOREIGN_GUILD: u64 = 1_000_000_000_000_000_500;
const FOREIGN_CHANNEL: u64 = 1_000_000_000_000_000_501;

async fn bot() -> (TestApp, Wired) {
    let t = TestApp::builder().start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_channel(GUILD, OTHER_CHANNEL);
    w.discord.add_channel(GUILD, AUDIT);
    w.discord.add_channel(FOREIGN_GUILD, FOREIGN_CHANNEL);
    (t, w)
}

/// Runs `/so-admin <path> options…` as `who`; returns the final reply's text.
async fn admin(w: &Wired, who: &Who, path: &[&str], options: Vec<Value>) -> String {
    let id = fixtures::snowflake();
    let (status, body) = w
        .send(&fixtures::envelope(
            id,
            2,
            fixtures::so_admin(path, options),
            who,
        ))
        .await;
    assert_eq!(status, 200);
    let body = body.unwrap();
    assert_eq!(body["type"], 5, "admin commands defer privately: {body}");
    assert_eq!(body["data"]["flags"], 64);
    let token = fixtures::token(id);
    let edit = w
        .discord
        .wait_for(Duration::from_secs(10), |r| {
            r.route == ORIGINAL_ROUTE && r.path.contains(&token)
        })
        .await
        .expect("the reply");
    edit.body.unwrap()["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn str_opt(name: &str, value: &str) -> Value {
    json!({"name": name, "type": 3, "value": value})
}

/// Every new subcommand, with the options that would change something.
fn changes() -> Vec<(Vec<&'static str>, Vec<Value>)> {
    vec![
        (vec!["channel", "team"], vec![str_opt("slug", TEAM)]),
        (vec!["channel", "tags"], vec![str_opt("tags", "rust async")]),
        (vec!["audit-channel"], vec![]),
    ]
}

async fn unchanged(t: &TestApp) -> bool {
    t.store.guild_settings(GUILD).await.unwrap() == Default::default()
}

#[tokio::test]
async fn every_new_subcommand_refuses_a_member_without_manage_server() {
    let (t, w) = bot().await;
    for (path, options) in changes() {
        let text = admin(&w, &Who::member(1, "jane"), &path, options).await;
        assert!(text.contains("Manage Server"), "{path:?}: {text}");
    }
    assert!(unchanged(&t).await, "nothing stored");
    assert!(w.discord.on("GET", fake_discord::CHANNEL_ROUTE).is_empty());
    w.discord.check_contract();
}

#[tokio::test]
async fn every_new_subcommand_refuses_dms() {
    let t = TestApp::builder().allow_dms().start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_member(GUILD, 2);
    for (path, mut options) in changes() {
        options.push(fixtures::channel_opt(CHANNEL));
        let text = admin(&w, &Who::admin(2, "boss").in_dm(), &path, options).await;
        assert!(text.contains("only inside a server"), "{path:?}: {text}");
    }
    assert!(unchanged(&t).await);
}

#[tokio::test]
async fn every_new_subcommand_refuses_a_channel_of_another_guild() {
    let (t, w) = bot().await;
    for channel in [FOREIGN_CHANNEL, 1_000_000_000_000_000_777] {
        for (path, mut options) in changes() {
            options.insert(0, fixtures::channel_opt(channel));
            let text = admin(&w, &Who::admin(2, "boss"), &path, options).await;
            assert!(
                text.contains("not in this server") && text.contains("nothing was changed"),
                "{path:?} {channel}: {text}"
            );
        }
    }
    assert!(unchanged(&t).await, "nothing stored");
    assert_eq!(
        w.discord.on("GET", fake_discord::CHANNEL_ROUTE).len(),
        6,
        "each was checked with Discord"
    );
    w.discord.check_contract();
}

#[tokio::test]
async fn when_discord_cannot_say_where_a_channel_is_nothing_changes() {
    let (t, w) = bot().await;
    w.discord.fail("GET", fake_discord::CHANNEL_ROUTE, 500, 10);
    let text = admin(
        &w,
        &Who::admin(2, "boss"),
        &["channel", "tags"],
        vec![
            fixtures::channel_opt(OTHER_CHANNEL),
            str_opt("tags", "rust"),
        ],
    )
    .await;
    assert!(text.contains("could not tell"), "{text}");
    assert!(unchanged(&t).await);
}

/// The audit channel's messages, as text.
fn audit_entries(w: &Wired) -> Vec<String> {
    w.discord
        .channel_messages(AUDIT)
        .iter()
        .map(|(_, m)| {
            for list in ["parse", "users", "roles"] {
                assert_eq!(
                    m["allowed_mentions"][list],
                    json!([]),
                    "an audit entry mentions no one: {m}"
                );
            }
            m["content"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

async fn wait_entries(w: &Wired, n: usize) -> Vec<String> {
    for _ in 0..500 {
        if w.discord.channel_messages(AUDIT).len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nothing more arrives late.
    tokio::time::sleep(Duration::from_millis(100)).await;
    audit_entries(w)
}

#[tokio::test]
async fn each_configuration_change_is_one_audit_entry_in_the_audit_channel() {
    let (t, w) = bot().await;
    let boss = Who::admin(2, "boss_1");
    let steps: Vec<(Vec<&str>, Vec<Value>, &str)> = vec![
        (
            vec!["audit-channel"],
            vec![fixtures::channel_opt(AUDIT)],
            "reported in",
        ),
        (vec!["channel", "disable"], vec![], "turned off"),
        (
            vec!["channel", "enable"],
            vec![fixtures::channel_opt(OTHER_CHANNEL)],
            "now answers",
        ),
        (
            vec!["channel", "team"],
            vec![fixtures::channel_opt(OTHER_CHANNEL), str_opt("slug", TEAM)],
            "private team `platform`",
        ),
        (
            vec!["channel", "tags"],
            vec![
                fixtures::channel_opt(OTHER_CHANNEL),
                str_opt("tags", "Rust, async"),
            ],
            "`rust`, `async`",
        ),
        (
            vec!["channel", "tags"],
            vec![fixtures::channel_opt(OTHER_CHANNEL)],
            "no default tags any more",
        ),
        (
            vec!["channel", "team"],
            vec![fixtures::channel_opt(OTHER_CHANNEL)],
            "no longer bound",
        ),
    ];
    for (i, (path, options, expect)) in steps.iter().enumerate() {
        let text = admin(&w, &boss, path, options.clone()).await;
        assert!(text.contains(expect), "{path:?}: {text}");
        let entries = wait_entries(&w, i + 1).await;
        assert_eq!(entries.len(), i + 1, "one entry per change: {entries:#?}");
    }
    // Unchanged settings are not changes: no entry.
    let text = admin(
        &w,
        &boss,
        &["channel", "team"],
        vec![fixtures::channel_opt(OTHER_CHANNEL)],
    )
    .await;
    assert!(text.contains("nothing changed"), "{text}");
    let entries = wait_entries(&w, steps.len() + 1).await;
    assert_eq!(entries.len(), steps.len());
    insta::assert_snapshot!("audit_entries", entries.join("\n"));
    // Turning it off is reported in the channel being turned off, then nothing more.
    let text = admin(
        &w,
        &boss,
        &["audit-channel"],
        vec![json!({"name": "off", "type": 5, "value": true})],
    )
    .await;
    assert!(text.contains("audit channel is off"), "{text}");
    assert_eq!(
        wait_entries(&w, steps.len() + 1).await.len(),
        steps.len() + 1
    );
    admin(&w, &boss, &["channel", "disable"], vec![]).await;
    assert_eq!(
        wait_entries(&w, steps.len() + 2).await.len(),
        steps.len() + 1,
        "no audit channel: the log only"
    );
    let s = t.store.guild_settings(GUILD).await.unwrap();
    assert_eq!(s.audit_channel, None);
    w.discord.check_contract();
}

#[tokio::test]
async fn a_team_that_the_service_token_cannot_read_is_not_bound() {
    let (t, w) = bot().await;
    let text = admin(
        &w,
        &Who::admin(2, "boss"),
        &["channel", "team"],
        vec![str_opt("slug", "secret-team")],
    )
    .await;
    assert!(text.contains("`secret-team`"), "{text}");
    assert!(
        text.contains("not bound") || text.contains("no private team"),
        "{text}"
    );
    assert!(unchanged(&t).await);
    let bad = admin(
        &w,
        &Who::admin(2, "boss"),
        &["channel", "team"],
        vec![str_opt("slug", "Not A Slug!")],
    )
    .await;
    assert!(bad.contains("is not a team slug"), "{bad}");
    let tags = admin(
        &w,
        &Who::admin(2, "boss"),
        &["channel", "tags"],
        vec![str_opt("tags", "ok b@d")],
    )
    .await;
    assert!(
        tags.contains("`b@d`") && tags.contains("not valid"),
        "{tags}"
    );
    assert!(unchanged(&t).await);
}

#[tokio::test]
async fn a_channel_bound_to_a_team_searches_the_team() {
    let (t, w) = bot().await;
    let text = admin(
        &w,
        &Who::admin(2, "boss"),
        &["channel", "team"],
        vec![str_opt("slug", TEAM)],
    )
    .await;
    assert!(text.contains("now works in the private team"), "{text}");
    assert_eq!(
        t.store.guild_settings(GUILD).await.unwrap().channel_teams[&CHANNEL].as_str(),
        TEAM
    );
    t.fake.clear_requests();
    let id = fixtures::snowflake();
    w.send(&fixtures::envelope(
        id,
        2,
        fixtures::so("search", vec![fixtures::opt("query", "deploy")]),
        &Who::member(1, "jane"),
    ))
    .await;
    let token = fixtures::token(id);
    w.discord
        .wait_for(Duration::from_secs(10), |r| {
            r.route == ORIGINAL_ROUTE && r.path.contains(&token)
        })
        .await
        .expect("the results");
    let paths: Vec<String> = t.fake.requests().into_iter().map(|r| r.path).collect();
    assert!(
        !paths.is_empty()
            && paths
                .iter()
                .all(|p| p.starts_with(&format!("/api/v3/teams/{TEAM}/"))),
        "{paths:?}"
    );
}

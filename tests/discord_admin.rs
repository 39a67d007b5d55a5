//! Admin commands and channel gating through the signed endpoint: the server-side re-check
//! uses `member.permissions` and the role ids from the interaction (`discord.admin_roles` holds
//! ids; a role's name grants nothing and is never looked up); DMs are refused; a disabled
//! channel points members to where the bot is on.

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
use serde_json::Value;
use soe_bot::clock::SharedClock;
use soe_bot::store::Store;
use support::test_app::TestApp;

/// The role whose id `discord.admin_roles` holds.
const ADMIN_ROLE: u64 = 5_000_000_000_000_000_001;
const OTHER_ROLE: u64 = 5_000_000_000_000_000_002;
/// A role someone named exactly like the admin role.
const IMPOSTOR_ROLE: u64 = 5_000_000_000_000_000_003;
const OTHER_CHANNEL: u64 = 1_000_000_000_000_000_099;

async fn bot() -> (TestApp, Wired) {
    bot_with(TestApp::builder().admin_roles(vec![ADMIN_ROLE])).await
}

async fn bot_with(builder: support::test_app::TestAppBuilder) -> (TestApp, Wired) {
    let t = builder.start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_role(GUILD, ADMIN_ROLE, "SOE Admins");
    w.discord.add_role(GUILD, OTHER_ROLE, "Moderators");
    w.discord.add_channel(GUILD, OTHER_CHANNEL);
    (t, w)
}

/// Runs `/so-admin channel <verb> [channel]` as `who`; returns the text of the final reply.
async fn admin(w: &Wired, who: &Who, verb: &str, channel: Option<u64>) -> String {
    let id = fixtures::snowflake();
    let (status, body) = w
        .send(&fixtures::envelope(
            id,
            2,
            fixtures::so_admin_channel(verb, channel),
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

async fn disabled(t: &TestApp) -> Vec<u64> {
    t.store
        .guild_settings(GUILD)
        .await
        .unwrap()
        .disabled_channels
}

#[tokio::test]
async fn a_member_without_manage_server_is_refused() {
    let (t, w) = bot().await;
    let who = Who::member(1, "jane").roles(&[OTHER_ROLE]);
    let text = admin(&w, &who, "disable", None).await;
    assert!(text.contains("Manage Server"), "{text}");
    assert!(disabled(&t).await.is_empty(), "nothing changed");
    w.discord.check_contract();
}

#[tokio::test]
async fn manage_server_from_the_interaction_is_enough() {
    let (t, w) = bot().await;
    let text = admin(&w, &Who::admin(2, "boss"), "disable", None).await;
    assert!(text.contains("turned off"), "{text}");
    assert_eq!(disabled(&t).await, vec![CHANNEL]);
}

/// Every request the bot made to Discord, other than answering interactions and checking
/// that a named channel is in the guild.
fn lookups(w: &Wired) -> Vec<String> {
    w.discord
        .requests()
        .into_iter()
        .filter(|r| !r.path.contains("/webhooks/") && !r.path.contains("/interactions/"))
        .map(|r| r.key())
        .filter(|k| k != &format!("GET {}", fake_discord::CHANNEL_ROUTE))
        .collect()
}

#[tokio::test]
async fn a_configured_admin_role_is_recognised_by_id_from_the_interaction_alone() {
    let (t, w) = bot().await;
    let who = Who::member(3, "ops").roles(&[OTHER_ROLE, ADMIN_ROLE]);
    let text = admin(&w, &who, "disable", Some(OTHER_CHANNEL)).await;
    assert!(text.contains("turned off"), "{text}");
    assert_eq!(disabled(&t).await, vec![OTHER_CHANNEL]);
    assert_eq!(lookups(&w), Vec::<String>::new(), "no role look-up");
    w.discord.check_contract();
}

#[tokio::test]
async fn a_role_named_like_the_admin_role_but_with_another_id_grants_nothing() {
    let (t, w) = bot().await;
    // Anyone with Manage Roles can create a role with the same name; only the id counts.
    w.discord.add_role(GUILD, IMPOSTOR_ROLE, "SOE Admins");
    let who = Who::member(4, "mallory").roles(&[IMPOSTOR_ROLE]);
    let text = admin(&w, &who, "disable", None).await;
    assert!(text.contains("Manage Server"), "{text}");
    assert!(disabled(&t).await.is_empty(), "nothing changed");
    assert_eq!(lookups(&w), Vec::<String>::new(), "names are never read");
}

#[tokio::test]
async fn admin_commands_are_refused_in_dms() {
    // DMs on, and the sender is a member of the allowed guild: past the guild gate, the admin
    // command itself refuses (no member, no permission to trust).
    let (t, w) = bot_with(TestApp::builder().admin_roles(vec![ADMIN_ROLE]).allow_dms()).await;
    w.discord.add_member(GUILD, 2);
    let text = admin(&w, &Who::admin(2, "boss").in_dm(), "disable", Some(CHANNEL)).await;
    assert!(text.contains("only inside a server"), "{text}");
    assert!(disabled(&t).await.is_empty());
}

#[tokio::test]
async fn a_disabled_channel_refuses_member_commands_and_says_where_the_bot_is_on() {
    let (_t, w) = bot().await;
    let boss = Who::admin(2, "boss");
    assert!(admin(&w, &boss, "enable", Some(OTHER_CHANNEL))
        .await
        .contains("now answers"));
    assert!(admin(&w, &boss, "disable", None)
        .await
        .contains("turned off"));
    let (status, body) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            fixtures::so("help", vec![]),
            &Who::member(1, "jane"),
        ))
        .await;
    assert_eq!(status, 200);
    let body: Value = body.unwrap();
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64, "the pointer is private");
    let text = body["data"]["content"].as_str().unwrap();
    assert!(text.contains("turned off in this channel"), "{text}");
    assert!(text.contains(&format!("<#{OTHER_CHANNEL}>")), "{text}");
    // Admin commands still work there (to turn it back on).
    assert!(admin(&w, &boss, "enable", None)
        .await
        .contains("now answers"));
}

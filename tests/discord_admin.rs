//! Admin commands and channel gating through the signed endpoint: the server-side re-check
//! uses `member.permissions` from the interaction and role names (looked up through REST in
//! HTTP mode); DMs are refused; a disabled channel points members to where the bot is on.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_discord::fixtures::{self, Who, CHANNEL, GUILD};
use fake_discord::harness::{wire, Wired};
use fake_discord::{ORIGINAL_ROUTE, ROLES_ROUTE};
use serde_json::Value;
use soe_bot::clock::SharedClock;
use soe_bot::store::Store;
use support::test_app::TestApp;

/// A role that `discord.admin_roles` (["SOE Admins"] in the test app) names.
const ADMIN_ROLE: u64 = 5_000_000_000_000_000_001;
const OTHER_ROLE: u64 = 5_000_000_000_000_000_002;
const OTHER_CHANNEL: u64 = 1_000_000_000_000_000_099;

async fn bot() -> (TestApp, Wired) {
    let t = TestApp::start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_role(GUILD, ADMIN_ROLE, "SOE Admins");
    w.discord.add_role(GUILD, OTHER_ROLE, "Moderators");
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

fn disabled(t: &TestApp) -> Vec<u64> {
    t.store.guild_settings(GUILD).unwrap().disabled_channels
}

#[tokio::test]
async fn a_member_without_manage_server_is_refused() {
    let (t, w) = bot().await;
    let who = Who::member(1, "jane").roles(&[OTHER_ROLE]);
    let text = admin(&w, &who, "disable", None).await;
    assert!(text.contains("Manage Server"), "{text}");
    assert!(disabled(&t).is_empty(), "nothing changed");
    w.discord.check_contract();
}

#[tokio::test]
async fn manage_server_from_the_interaction_is_enough() {
    let (t, w) = bot().await;
    let text = admin(&w, &Who::admin(2, "boss"), "disable", None).await;
    assert!(text.contains("turned off"), "{text}");
    assert_eq!(disabled(&t), vec![CHANNEL]);
    assert!(
        w.discord.on("GET", ROLES_ROUTE).is_empty(),
        "no role lookup needed with the permission"
    );
}

#[tokio::test]
async fn a_configured_admin_role_is_recognised_by_name() {
    let (t, w) = bot().await;
    let who = Who::member(3, "ops").roles(&[OTHER_ROLE, ADMIN_ROLE]);
    let text = admin(&w, &who, "disable", Some(OTHER_CHANNEL)).await;
    assert!(text.contains("turned off"), "{text}");
    assert_eq!(disabled(&t), vec![OTHER_CHANNEL]);
    let lookups = w.discord.on("GET", ROLES_ROUTE);
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].path, format!("/api/v10/guilds/{GUILD}/roles"));
    w.discord.check_contract();
}

#[tokio::test]
async fn admin_commands_are_refused_in_dms() {
    let (t, w) = bot().await;
    let text = admin(&w, &Who::admin(2, "boss").in_dm(), "disable", Some(CHANNEL)).await;
    assert!(text.contains("only inside a server"), "{text}");
    assert!(disabled(&t).is_empty());
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

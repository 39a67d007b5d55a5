//! The guild gate through the signed endpoint and the gateway flow: the bot serves only
//! `discord.allowed_guilds`. An interaction from any other server, a DM (unless
//! `discord.allow_dms`), or a member's own install of the app gets a short private refusal,
//! answered directly (no defer) and without a single request to the SOE site (the fake site's
//! request log proves it). With DMs on, membership of an allowed guild is asked of the fake
//! Discord (`GET /guilds/{id}/members/{user}`) and remembered by the injected clock. In
//! gateway mode the bot leaves a guild that is not allowed (`DELETE /users/@me/guilds/{id}`).

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_discord::fixtures::{self, Who};
use fake_discord::harness::{wire, Wired};
use fake_discord::{check_interaction_response, CALLBACK_ROUTE, LEAVE_GUILD_ROUTE, MEMBER_ROUTE};
use serde_json::Value;
use soe_bot::clock::SharedClock;
use soe_bot::commands::ids::Id;
use soe_bot::discord::members::{leave_if_not_allowed, Left};
use soe_bot::discord::respond::respond_via_rest;
use soe_bot::fake_soe::Q_ASYNC;
use support::test_app::TestApp;

/// A guild that is not in `discord.allowed_guilds`.
const STRANGER_GUILD: u64 = 1_000_000_000_000_000_666;

async fn bot() -> (TestApp, Wired) {
    let t = TestApp::start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    (t, w)
}

/// Sends `data` (interaction `kind`) as `who`; asserts a direct (type 4) private refusal and
/// returns its text.
async fn refused(w: &Wired, kind: u8, data: Value, who: &Who) -> String {
    let (status, body) = w
        .send(&fixtures::envelope(fixtures::snowflake(), kind, data, who))
        .await;
    assert_eq!(status, 200, "{body:?}");
    let body = body.expect("a JSON answer");
    if let Err(e) = check_interaction_response(&body) {
        panic!("not a valid interaction response: {e:#?}\n{body:#}");
    }
    assert_eq!(body["type"], 4, "answered at once, never deferred: {body}");
    assert_eq!(body["data"]["flags"], 64, "the refusal is private: {body}");
    body["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Gives background work (a deferred use case) time to reach SOE if it wrongly ran.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn every_kind_of_interaction_from_another_guild_is_refused_without_any_soe_call() {
    let (t, w) = bot().await;
    t.fake.clear_requests();
    let stranger = Who::member(41, "eve").in_guild(STRANGER_GUILD);

    let search = refused(
        &w,
        2,
        fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
        &stranger,
    )
    .await;
    assert!(search.contains("only"), "{search}");
    assert!(search.len() < 200, "a short refusal: {search}");
    let question = refused(
        &w,
        2,
        fixtures::so("question", vec![fixtures::opt("id", &Q_ASYNC.to_string())]),
        &stranger,
    )
    .await;
    assert_eq!(question, search);
    let open = Id::OpenQuestion { question: Q_ASYNC }.encode();
    let (status, body) = w
        .send(&fixtures::with_message(fixtures::envelope(
            fixtures::snowflake(),
            3,
            fixtures::button(&open),
            &stranger,
        )))
        .await;
    assert_eq!(status, 200);
    let body = body.unwrap();
    assert_eq!(
        (body["type"].clone(), body["data"]["flags"].clone()),
        (4.into(), 64.into()),
        "a new private message, never an update of the message the button is on: {body}"
    );
    let ask = refused(&w, 2, fixtures::so("ask", vec![]), &stranger).await;
    assert_eq!(ask, search, "no ask form either");

    // Autocomplete cannot carry a message: it gets no choices.
    let (status, body) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            4,
            fixtures::autocomplete("search", "tag", "ru"),
            &stranger,
        ))
        .await;
    assert_eq!(status, 200);
    let body = body.unwrap();
    assert_eq!(body["type"], 8);
    assert_eq!(body["data"]["choices"], serde_json::json!([]), "{body}");

    settle().await;
    assert!(
        t.fake.requests().is_empty(),
        "no SOE call for another guild: {:#?}",
        t.fake.requests()
    );
    assert!(
        w.discord.requests().is_empty(),
        "answered in the HTTP response, nothing sent later"
    );

    // Control: the same search from the allowed guild reaches SOE.
    let (status, body) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
            &Who::member(41, "eve"),
        ))
        .await;
    assert_eq!((status, body.unwrap()["type"].clone()), (200, 5.into()));
    w.discord
        .wait_for(Duration::from_secs(10), |r| r.method == "PATCH")
        .await
        .expect("the search result");
    assert!(!t.fake.requests().is_empty(), "the allowed guild is served");
}

#[tokio::test]
async fn dms_are_refused_when_allow_dms_is_off() {
    let (t, w) = bot().await;
    t.fake.clear_requests();
    let dm = Who::member(42, "jane").in_dm();
    let help = refused(&w, 2, fixtures::so("help", vec![]), &dm).await;
    assert!(help.contains("direct messages"), "{help}");
    refused(
        &w,
        2,
        fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
        &dm,
    )
    .await;
    settle().await;
    assert!(t.fake.requests().is_empty(), "{:#?}", t.fake.requests());
    assert!(
        w.discord.requests().is_empty(),
        "no membership look-up when DMs are off"
    );
}

#[tokio::test]
async fn a_user_install_is_refused_like_a_dm_even_inside_an_allowed_guild() {
    let (t, w) = bot().await;
    t.fake.clear_requests();
    // The member's own install, used in a server that never installed the bot.
    let elsewhere = Who::member(43, "jane")
        .in_guild(STRANGER_GUILD)
        .user_installed();
    refused(
        &w,
        2,
        fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
        &elsewhere,
    )
    .await;
    // The same, in an allowed server: still not the bot's own install there.
    let here = Who::member(43, "jane").user_installed();
    let text = refused(
        &w,
        2,
        fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
        &here,
    )
    .await;
    assert!(text.contains("direct messages"), "{text}");
    settle().await;
    assert!(t.fake.requests().is_empty(), "{:#?}", t.fake.requests());
}

#[tokio::test]
async fn the_gateway_path_refuses_another_guild_in_its_first_response() {
    let (t, w) = bot().await;
    t.fake.clear_requests();
    let v = fixtures::envelope(
        fixtures::snowflake(),
        2,
        fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
        &Who::member(41, "eve").in_guild(STRANGER_GUILD),
    );
    let interaction: serenity::all::Interaction = serde_json::from_value(v).unwrap();
    respond_via_rest(&w.flow(), &interaction).await;
    settle().await;
    let calls = w.discord.requests();
    assert_eq!(
        calls.len(),
        1,
        "one callback, no defer and edit: {calls:#?}"
    );
    assert_eq!(calls[0].route, CALLBACK_ROUTE);
    let body = calls[0].body.clone().unwrap();
    assert_eq!(
        (body["type"].clone(), body["data"]["flags"].clone()),
        (4.into(), 64.into())
    );
    assert!(t.fake.requests().is_empty(), "{:#?}", t.fake.requests());
    w.discord.check_contract();
}

/// A bot serving DMs, wired to a fake Discord where user `member` is in the fixture guild.
async fn dm_bot(builder: support::test_app::TestAppBuilder, member: u64) -> (TestApp, Wired) {
    let t = builder.allow_dms().start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_member(fixtures::GUILD, member);
    (t, w)
}

/// The membership look-ups made so far, as `guild/user`.
fn lookups(w: &Wired) -> Vec<String> {
    w.discord
        .on("GET", MEMBER_ROUTE)
        .into_iter()
        .map(|r| {
            r.path
                .trim_start_matches("/api/v10/guilds/")
                .replace("/members/", "/")
        })
        .collect()
}

#[tokio::test]
async fn with_allow_dms_only_members_of_an_allowed_guild_are_served_and_answers_are_remembered() {
    let (t, w) = dm_bot(TestApp::builder(), 42).await;
    t.fake.clear_requests();
    let help = || fixtures::so("help", vec![]);

    // A member of the fixture guild (not of guild 1, the other allowed guild).
    let member = Who::member(42, "jane").in_dm();
    let (status, body) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            help(),
            &member,
        ))
        .await;
    assert_eq!(status, 200);
    assert!(body.unwrap().to_string().contains("/so search"), "served");
    assert_eq!(
        lookups(&w),
        ["1/42".to_string(), format!("{}/42", fixtures::GUILD)],
        "each allowed guild asked until one said yes"
    );
    let (_, body) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            help(),
            &member,
        ))
        .await;
    assert!(body.unwrap().to_string().contains("/so search"));
    assert_eq!(lookups(&w).len(), 2, "the yes is remembered");

    // A stranger: every allowed guild says 404.
    let stranger = Who::member(99, "eve").in_dm();
    let (_, body) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            help(),
            &stranger,
        ))
        .await;
    let body = body.unwrap();
    assert_eq!(body["data"]["flags"], 64);
    assert!(
        body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("only for members"),
        "{body}"
    );
    assert_eq!(lookups(&w).len(), 4);
    // Remembered: a search is now refused at once, without a look-up or a defer.
    let search = refused(
        &w,
        2,
        fixtures::so("search", vec![fixtures::opt("query", "tokio")]),
        &stranger,
    )
    .await;
    assert!(search.contains("only for members"), "{search}");
    assert_eq!(lookups(&w).len(), 4, "the no is remembered");
    // ... for minutes, by the injected clock.
    t.clock.advance(chrono::Duration::minutes(
        soe_bot::commands::access::NON_MEMBER_TTL_MINUTES,
    ));
    t.clock.advance(chrono::Duration::seconds(1));
    let (_, _) = w
        .send(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            help(),
            &stranger,
        ))
        .await;
    assert_eq!(lookups(&w).len(), 6, "asked again once the no expired");

    settle().await;
    assert!(
        t.fake.requests().is_empty(),
        "help needs no SOE, and the stranger got nothing from SOE: {:#?}",
        t.fake.requests()
    );
    assert!(
        w.discord.on("GET", MEMBER_ROUTE).iter().all(|r| r.bot_auth),
        "looked up with the bot token"
    );
    w.discord.check_contract();
}

#[tokio::test]
async fn a_membership_that_discord_cannot_confirm_is_refused_once_and_not_remembered() {
    let (t, w) = dm_bot(TestApp::builder().allowed_guilds(vec![fixtures::GUILD]), 42).await;
    t.fake.clear_requests();
    let member = Who::member(42, "jane").in_dm();
    let search = || fixtures::so("search", vec![fixtures::opt("query", "tokio")]);
    // Discord fails every attempt of the first look-up (the REST layer retries twice).
    w.discord.fail("GET", MEMBER_ROUTE, 500, 3);
    let id = fixtures::snowflake();
    let (status, body) = w.send(&fixtures::envelope(id, 2, search(), &member)).await;
    assert_eq!(
        (status, body.unwrap()["type"].clone()),
        (200, 5.into()),
        "deferred: it needed a look-up"
    );
    let edit = w
        .discord
        .wait_for(Duration::from_secs(15), |r| {
            r.method == "PATCH" && r.path.contains(&fixtures::token(id))
        })
        .await
        .expect("the refusal");
    let text = edit.body.unwrap()["content"].as_str().unwrap().to_string();
    assert!(text.contains("could not check"), "{text}");
    assert!(t.fake.requests().is_empty(), "no SOE call while unverified");

    // Discord answers again: asked afresh (nothing was remembered), and served.
    let id = fixtures::snowflake();
    w.send(&fixtures::envelope(id, 2, search(), &member)).await;
    let edit = w
        .discord
        .wait_for(Duration::from_secs(15), |r| {
            r.method == "PATCH" && r.path.contains(&fixtures::token(id))
        })
        .await
        .expect("the results");
    assert!(!edit.body.unwrap().to_string().contains("could not check"));
    assert_eq!(lookups(&w).len(), 4, "3 failed attempts, then 1 answered");
    assert!(
        !t.fake.requests().is_empty(),
        "the member's search reached SOE"
    );
    // No contract check here: Discord's document declares no 5xx, and the fault is one.
}

#[tokio::test]
async fn the_bot_leaves_a_guild_that_is_not_allowed_and_stays_in_an_allowed_one() {
    let (t, w) = bot().await;
    let policy = t.app.commands.access().policy().clone();
    assert_eq!(
        leave_if_not_allowed(&w.http, &policy, fixtures::GUILD).await,
        Left::Stayed
    );
    assert!(
        w.discord.requests().is_empty(),
        "nothing sent for an allowed guild"
    );
    assert_eq!(
        leave_if_not_allowed(&w.http, &policy, STRANGER_GUILD).await,
        Left::Left
    );
    let left = w.discord.on("DELETE", LEAVE_GUILD_ROUTE);
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].path,
        format!("/api/v10/users/@me/guilds/{STRANGER_GUILD}")
    );
    assert!(left[0].bot_auth);
    // Discord refuses: reported, nothing panics; the guild stays refused by the gate.
    w.discord.fail("DELETE", LEAVE_GUILD_ROUTE, 403, 1);
    assert_eq!(
        leave_if_not_allowed(&w.http, &policy, STRANGER_GUILD).await,
        Left::Failed
    );
    w.discord.check_contract();
}

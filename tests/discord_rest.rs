//! The REST side against the fake Discord: registration, the gateway flow (callback, then
//! edit), DM notices, `discord.api_base` routing, 429s and outages.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_discord::fixtures::{self, Who, APP_ID};
use fake_discord::harness::{wire, Wired};
use fake_discord::{
    FakeDiscord, CALLBACK_ROUTE, CHANNEL_ROUTE, DM_ROUTE, GLOBAL_COMMANDS_ROUTE,
    GUILD_COMMANDS_ROUTE, MESSAGES_ROUTE, ORIGINAL_ROUTE,
};
use secrecy::SecretString;
use serde_json::{json, Value};
use serenity::all::Interaction;
use soe_bot::app::Notifier;
use soe_bot::clock::SharedClock;
use soe_bot::commands::{Notice, Reply};
use soe_bot::config::{DiscordConfig, DiscordMode};
use soe_bot::discord::respond::respond_via_rest;
use soe_bot::discord::{register, DiscordNotifier};
use soe_bot::store::{DraftContent, Store};
use support::test_app::TestApp;
use url::Url;

fn config(api_base: Url, guild_ids: Vec<u64>) -> DiscordConfig {
    DiscordConfig {
        mode: DiscordMode::Gateway,
        token: SecretString::from("test-bot-token"),
        application_id: APP_ID,
        public_key: None,
        api_base,
        allowed_guilds: if guild_ids.is_empty() {
            vec![fixtures::GUILD]
        } else {
            guild_ids.clone()
        },
        guild_ids,
        allow_dms: false,
        admin_roles: vec![],
        client_secret: None,
    }
}

async fn bot() -> (TestApp, Wired) {
    let t = TestApp::start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    (t, w)
}

fn interaction(v: &Value) -> Interaction {
    serde_json::from_value(v.clone()).expect("fixture parses")
}

#[tokio::test]
async fn commands_are_registered_globally_or_per_guild() {
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    let done = register(
        &http,
        &config(discord.base(), vec![]),
        "Acme Stack Overflow",
    )
    .await
    .expect("registered");
    assert_eq!((done.guilds.len(), done.commands), (0, 5));
    let global = discord.on("PUT", GLOBAL_COMMANDS_ROUTE);
    assert_eq!(global.len(), 1);
    assert_eq!(
        global[0].path,
        format!("/api/v10/applications/{APP_ID}/commands")
    );
    assert!(global[0].bot_auth, "Authorization: Bot <token>");
    let names: Vec<String> = global[0]
        .body
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "so",
            "so-admin",
            "Ask on Acme Stack Overflow",
            "Post as answer",
            "Save thread"
        ]
    );

    let guilds = vec![fixtures::GUILD, fixtures::GUILD + 1];
    let done = register(
        &http,
        &config(discord.base(), guilds.clone()),
        "Acme Stack Overflow",
    )
    .await
    .expect("registered");
    assert_eq!(done.guilds, guilds);
    let per_guild = discord.on("PUT", GUILD_COMMANDS_ROUTE);
    assert_eq!(per_guild.len(), 2);
    for (r, g) in per_guild.iter().zip(&guilds) {
        assert_eq!(
            r.path,
            format!("/api/v10/applications/{APP_ID}/guilds/{g}/commands")
        );
    }
    assert_eq!(
        discord.on("PUT", GLOBAL_COMMANDS_ROUTE).len(),
        1,
        "no global overwrite when guilds are configured"
    );
    assert!(
        register(
            &http,
            &config(discord.base(), vec![0]),
            "Acme Stack Overflow"
        )
        .await
        .is_err(),
        "guild id 0 is refused"
    );
    assert_eq!(discord.check_contract(), 3);
}

#[tokio::test]
async fn a_failing_registration_is_retried_with_backoff_until_it_works() {
    use soe_bot::discord::registration::{register_with_retry, Backoff};
    use soe_bot::lifecycle::{CommandsStatus, DiscordStatus, Health};
    let discord = FakeDiscord::start().await;
    // 400 is not retried inside one call, so each failure is one attempt here.
    discord.fail("PUT", GLOBAL_COMMANDS_ROUTE, 400, 2);
    let cfg = config(discord.base(), vec![]);
    let http = soe_bot::discord::http_client(&cfg).unwrap();
    let health = Arc::new(Health::new(DiscordStatus::Connected));
    let backoff = Backoff {
        first: std::time::Duration::from_millis(50),
        max: std::time::Duration::from_millis(80),
    };
    let task = tokio::spawn(register_with_retry(
        http,
        cfg,
        "Acme Stack Overflow".into(),
        health.clone(),
        backoff,
    ));
    tokio::time::timeout(std::time::Duration::from_secs(20), task)
        .await
        .expect("registered in time")
        .unwrap();
    assert_eq!(health.commands(), CommandsStatus::Registered);
    let puts = discord.on("PUT", GLOBAL_COMMANDS_ROUTE);
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [400, 400, 200]
    );
    assert!(
        puts[2].at.duration_since(puts[1].at) >= std::time::Duration::from_millis(80),
        "waited longer the second time"
    );
    assert!(health.not_ready().is_empty(), "never unready because of it");
}

#[test]
fn api_base_selects_the_proxy_and_keeps_the_ratelimiter_for_discord_itself() {
    let discord = soe_bot::discord::rest::build_http(
        "t",
        APP_ID,
        &Url::parse("https://discord.com/").unwrap(),
    )
    .unwrap();
    assert!(discord.proxy.is_none());
    assert!(
        discord.ratelimiter.is_some(),
        "serenity's ratelimiter on for the real API"
    );
    let proxied = soe_bot::discord::rest::build_http(
        "t",
        APP_ID,
        &Url::parse("http://127.0.0.1:9/").unwrap(),
    )
    .unwrap();
    assert_eq!(proxied.proxy.as_deref(), Some("http://127.0.0.1:9"));
    assert!(
        proxied.ratelimiter.is_none(),
        "serenity's ratelimiter ignores the proxy (it builds requests with proxy None), so it must be off"
    );
    assert!(soe_bot::discord::rest::build_http(
        "t",
        0,
        &Url::parse("https://discord.com").unwrap()
    )
    .is_err());
}

#[tokio::test]
async fn the_gateway_flow_answers_through_the_callback_then_edits() {
    let (_t, w) = bot().await;
    let who = Who::member(1, "jane");
    // Immediate: one callback with the whole reply.
    let id = fixtures::snowflake();
    respond_via_rest(
        &w.flow(),
        &interaction(&fixtures::envelope(
            id,
            2,
            fixtures::so("help", vec![]),
            &who,
        )),
    )
    .await;
    let cb = w.discord.on("POST", CALLBACK_ROUTE);
    assert_eq!(cb.len(), 1);
    assert_eq!(
        cb[0].path,
        format!(
            "/api/v10/interactions/{id}/{}/callback",
            fixtures::token(id)
        )
    );
    assert_eq!(cb[0].body.as_ref().unwrap()["type"], 4);
    // Deferred: the callback is the defer; the reply edits @original afterwards.
    let id = fixtures::snowflake();
    respond_via_rest(
        &w.flow(),
        &interaction(&fixtures::envelope(id, 2, fixtures::so("me", vec![]), &who)),
    )
    .await;
    let log = w.discord.requests();
    let defer = log
        .iter()
        .find(|r| r.route == CALLBACK_ROUTE && r.path.contains(&id.to_string()))
        .expect("defer");
    let edit = log
        .iter()
        .find(|r| r.route == ORIGINAL_ROUTE && r.path.contains(&fixtures::token(id)))
        .expect("edit");
    let defer_body = defer.body.as_ref().unwrap();
    assert_eq!(
        (
            defer_body["type"].clone(),
            defer_body["data"]["flags"].clone()
        ),
        (json!(5), json!(64)),
        "a private defer"
    );
    assert!(defer.seq < edit.seq, "defer first, edit after");
    assert_eq!(edit.method, "PATCH");
    assert!(
        edit.body.as_ref().unwrap()["content"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("link"),
        "{:?}",
        edit.body
    );
    assert_eq!(w.discord.check_contract(), 3);
}

#[tokio::test]
async fn notices_are_sent_as_dms_without_mentions() {
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    let notifier = DiscordNotifier::new(http);
    notifier
        .notify(Notice {
            original: None,
            user: 4242,
            reply: Reply::private("Posted as **Jane** @everyone: https://soe.example/q/12"),
        })
        .await;
    let log = discord.requests();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[0].route, DM_ROUTE);
    assert_eq!(log[0].body.as_ref().unwrap()["recipient_id"], "4242");
    let channel = log[0].response.as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(log[1].route, MESSAGES_ROUTE);
    assert_eq!(
        log[1].path,
        format!("/api/v10/channels/{channel}/messages"),
        "sent into the DM channel Discord returned"
    );
    let msg = log[1].body.as_ref().unwrap();
    assert!(msg["content"]
        .as_str()
        .unwrap()
        .contains("Posted as **Jane**"));
    assert_eq!(msg["allowed_mentions"]["parse"], json!([]));
    assert_eq!(discord.check_contract(), 2);
}

#[tokio::test]
async fn a_dm_that_cannot_be_delivered_is_reported_not_panicked() {
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    discord.fail("POST", DM_ROUTE, 403, 1);
    let notifier = DiscordNotifier::new(http);
    let err = notifier
        .send(&Notice {
            original: None,
            user: 5,
            reply: Reply::private("hi"),
        })
        .await
        .unwrap_err();
    assert!(err.contains("403"), "{err}");
    assert!(!err.contains("test-bot-token"));
    assert_eq!(discord.on("POST", MESSAGES_ROUTE).len(), 0);
    assert_eq!(
        discord.check_contract(),
        1,
        "the 403 answer is a contract ErrorResponse (4XX)"
    );
    // The trait method logs and returns.
    notifier
        .notify(Notice {
            original: None,
            user: 0,
            reply: Reply::private("hi"),
        })
        .await;
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let (_t, w) = bot().await;
    w.discord.fail("PATCH", ORIGINAL_ROUTE, 429, 1);
    let id = fixtures::snowflake();
    respond_via_rest(
        &w.flow(),
        &interaction(&fixtures::envelope(
            id,
            2,
            fixtures::so("me", vec![]),
            &Who::member(1, "jane"),
        )),
    )
    .await;
    let edits = w.discord.on("PATCH", ORIGINAL_ROUTE);
    assert_eq!(
        edits.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    assert!(
        edits[1].at.duration_since(edits[0].at) >= Duration::from_millis(900),
        "waited before retrying"
    );
    assert_eq!(edits[0].body, edits[1].body, "the same edit again");
    w.discord.check_contract();
}

#[tokio::test]
async fn a_discord_outage_is_logged_and_keeps_the_members_draft() {
    let (t, w) = bot().await;
    let who = Who::member(777, "jane");
    // Discord is down for the defer and for every edit attempt.
    w.discord.fail("POST", CALLBACK_ROUTE, 503, 10);
    w.discord.fail("PATCH", ORIGINAL_ROUTE, 503, 10);
    let open_inv = soe_bot::commands::Invocation {
        id: "open".into(),
        member: soe_bot::commands::Member::new(777, "jane"),
        guild_id: Some(fixtures::GUILD),
        channel_id: Some(fixtures::CHANNEL),
        in_thread: false,
        thread_parent: None,
        locale: None,
        origin: soe_bot::commands::Origin::GuildInstall,
        action: soe_bot::commands::Action::Command {
            name: "so".into(),
            path: vec!["ask".into()],
            options: vec![],
        },
        reply_token: None,
    };
    let soe_bot::commands::ReplyKind::Modal(modal) = t.app.commands.handle(&open_inv).await.kind
    else {
        panic!("the ask modal")
    };
    let fields = [
        ("title", "How do I cancel a tokio task cleanly?"),
        (
            "body",
            "I spawn tasks with tokio::spawn and need to stop them on shutdown without leaking.",
        ),
        ("tags", "rust tokio"),
    ];
    let id = fixtures::snowflake();
    respond_via_rest(
        &w.flow(),
        &interaction(&fixtures::envelope(
            id,
            5,
            fixtures::modal(&modal.id, &fields),
            &who,
        )),
    )
    .await;
    let edits = w.discord.on("PATCH", ORIGINAL_ROUTE);
    assert_eq!(edits.len(), 3, "an idempotent edit is tried three times");
    assert!(edits.iter().all(|r| r.status == 503));
    let drafts = t.store.drafts_of(777).await.unwrap();
    assert_eq!(drafts.len(), 1, "the member's text survives the outage");
    assert!(
        matches!(&drafts[0].content, DraftContent::Ask { title, .. } if title.contains("cancel a tokio task")),
        "{:?}",
        drafts[0].content
    );
}

#[tokio::test]
async fn the_gateway_client_uses_the_api_base_and_stops_on_shutdown() {
    let (t, w) = bot().await;
    let (_tx, linked) = tokio::sync::mpsc::unbounded_channel();
    let health = Arc::new(soe_bot::lifecycle::Health::new(
        soe_bot::lifecycle::DiscordStatus::Connecting,
    ));
    let cfg = config(w.discord.base(), vec![]);
    let started = std::time::Instant::now();
    let run = soe_bot::discord::run_gateway(
        t.app.clone(),
        &cfg,
        linked,
        health.clone(),
        tokio::time::sleep(Duration::from_millis(500)),
    );
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("stops after shutdown");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "ran until the shutdown signal"
    );
    assert_eq!(
        health.not_ready(),
        ["discord: the gateway client stopped"],
        "not ready once stopped"
    );
    let gateway = w.discord.on("GET", fake_discord::GATEWAY_ROUTE);
    assert_eq!(
        gateway.len(),
        1,
        "the gateway client asked the configured base, not discord.com"
    );
    assert!(gateway[0].bot_auth);
    assert!(
        w.discord.on("PUT", GLOBAL_COMMANDS_ROUTE).is_empty(),
        "no registration without Ready"
    );
    w.discord.check_contract();
}

#[tokio::test]
async fn a_notice_for_the_link_prompt_edits_it_in_place() {
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    let notifier = DiscordNotifier::new(http);
    let token = "prompt-interaction-token";
    notifier
        .send(&Notice {
            user: 4242,
            reply: Reply::private(
                "Linked as **Jane Doe** on Acme Q&A · your draft was posted: https://soe.example/questions/12",
            ),
            original: Some(soe_bot::commands::ReplyToken::new(
                token,
                chrono::Utc::now(),
            )),
        })
        .await
        .unwrap();
    let log = discord.requests();
    assert_eq!(log.len(), 1, "an edit and no DM: {log:#?}");
    assert_eq!(
        (log[0].method.as_str(), log[0].route.as_str()),
        ("PATCH", ORIGINAL_ROUTE)
    );
    assert_eq!(
        log[0].path,
        format!("/api/v10/webhooks/{APP_ID}/{token}/messages/@original")
    );
    let body = log[0].body.as_ref().unwrap();
    assert_eq!(
        body["content"],
        "Linked as **Jane Doe** on Acme Q&A · your draft was posted: https://soe.example/questions/12"
    );
    assert_eq!(body["components"], json!([]), "the link button is gone");
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(discord.check_contract(), 1);
}

#[tokio::test]
async fn a_link_prompt_that_cannot_be_edited_falls_back_to_a_dm() {
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    // Discord forgets the token after 15 minutes: the edit answers 404 (Unknown Webhook).
    discord.fail("PATCH", ORIGINAL_ROUTE, 404, 1);
    let notifier = DiscordNotifier::new(http);
    notifier
        .send(&Notice {
            user: 4242,
            reply: Reply::private("Linked as **Jane Doe** on Acme Q&A"),
            original: Some(soe_bot::commands::ReplyToken::new(
                "stale-interaction-token",
                chrono::Utc::now(),
            )),
        })
        .await
        .unwrap();
    assert_eq!(discord.on("PATCH", ORIGINAL_ROUTE).len(), 1);
    assert_eq!(discord.on("POST", DM_ROUTE).len(), 1);
    let sent = discord.on("POST", MESSAGES_ROUTE);
    assert_eq!(sent.len(), 1, "the DM carries the same words");
    assert_eq!(
        sent[0].body.as_ref().unwrap()["content"],
        "Linked as **Jane Doe** on Acme Q&A"
    );
}

#[tokio::test]
async fn the_link_prompt_interaction_is_remembered_for_the_edit_in_place() {
    let (t, w) = bot().await;
    let who = Who::member(4321, "jane");
    let id = fixtures::snowflake();
    // `/so link` while unlinked: the answer is the link button itself, at once.
    respond_via_rest(
        &w.flow(),
        &interaction(&fixtures::envelope(
            id,
            2,
            fixtures::so("link", vec![]),
            &who,
        )),
    )
    .await;
    let callback = w.discord.on("POST", CALLBACK_ROUTE);
    assert_eq!(callback.len(), 1, "{callback:#?}");
    let sent = callback[0].body.as_ref().unwrap().to_string();
    assert!(sent.contains("/link/start?ticket="), "{sent}");
    // Linking completes within the token's life: the notice names that interaction.
    t.clock.advance(chrono::Duration::minutes(5));
    let linked = soe_bot::link::Linked {
        discord_user: 4321,
        soe_user_name: "Jane Doe".into(),
    };
    let notices = w.app.commands.on_linked(&linked).await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(
        notices[0].original.as_ref().map(|o| o.expose().to_string()),
        Some(fixtures::token(id))
    );
    assert!(notices[0]
        .reply
        .content
        .starts_with("Linked as **Jane Doe**"));
    // The same notice through the notifier edits that interaction's original message.
    DiscordNotifier::new(w.http.clone())
        .send(&notices[0])
        .await
        .unwrap();
    let edit = w.discord.on("PATCH", ORIGINAL_ROUTE);
    assert_eq!(edit.len(), 1, "{edit:#?}");
    assert!(edit[0]
        .path
        .ends_with(&format!("/{}/messages/@original", fixtures::token(id))));
    assert!(w.discord.on("POST", DM_ROUTE).is_empty());
}

#[tokio::test]
async fn save_thread_reads_a_thread_with_names_for_mentions_code_as_written_and_its_starter() {
    use soe_bot::commands::server::ServerView;
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    let server = soe_bot::discord::server::RestServer::new(http);
    // A forum post: its starter message is in the thread, under the thread's id.
    discord.add_thread(fixtures::GUILD, 500, 9_000, "How do I stop a task?");
    discord.add_message(
        9_000,
        9_000,
        (201, "ann"),
        "I spawn it with tokio::spawn:\n```rust\nlet h = tokio::spawn(work());\n```",
        &[],
    );
    discord.add_message(
        9_000,
        9_001,
        (202, "bob"),
        "<@201> call abort on it <:ferris:123>\n```rust\nh.abort();\n```",
        &[(201, "ann")],
    );
    let t = server.thread(9_000).await.unwrap();
    assert_eq!(t.name, "How do I stop a task?");
    assert_eq!(t.parent, Some(500));
    let starter = t.starter.expect("the starter");
    assert_eq!((starter.id, starter.author_id), (9_000, 201));
    assert!(
        starter.content.contains("```rust\nlet h"),
        "{}",
        starter.content
    );
    assert_eq!(t.replies.len(), 1);
    assert_eq!(
        t.replies[0].content, "@ann call abort on it :ferris:\n```rust\nh.abort();\n```",
        "mentions as names, code blocks keep their language"
    );
    // A thread started from a message: the starter lives in the parent channel. Without the
    // Message Content intent, a reply arrives with empty content.
    discord.add_thread(fixtures::GUILD, 500, 9_100, "Another question");
    discord.add_message(
        500,
        9_100,
        (201, "ann"),
        "The starter, in the channel.",
        &[],
    );
    discord.add_message(9_100, 9_101, (202, "bob"), "", &[]);
    let t = server.thread(9_100).await.unwrap();
    assert_eq!(
        t.starter.map(|s| s.content).as_deref(),
        Some("The starter, in the channel.")
    );
    assert_eq!(t.replies.len(), 1);
    assert!(t.replies[0].content.is_empty() && !t.replies[0].has_media);
    assert_eq!(
        discord.check_contract(),
        5,
        "two channel reads, two message lists, and the starter read in the parent (the forum post's starter came with its list)"
    );
}

#[tokio::test]
async fn forum_channels_are_told_from_text_channels_once_each() {
    use soe_bot::commands::server::ServerView;
    let discord = FakeDiscord::start().await;
    let http = soe_bot::discord::http_client(&config(discord.base(), vec![])).unwrap();
    let server = soe_bot::discord::server::RestServer::new(http);
    discord.add_forum(fixtures::GUILD, 600);
    discord.add_channel(fixtures::GUILD, 601);
    assert!(server.is_forum(600).await.unwrap(), "a forum");
    assert!(!server.is_forum(601).await.unwrap(), "a text channel");
    // A channel's type never changes between forum and text: asked once per channel.
    assert!(server.is_forum(600).await.unwrap());
    assert!(!server.is_forum(601).await.unwrap());
    assert_eq!(discord.on("GET", CHANNEL_ROUTE).len(), 2);
    assert!(
        server.is_forum(0).await.is_ok_and(|f| !f),
        "id 0 is nothing"
    );
    assert_eq!(
        discord.check_contract(),
        2,
        "both answers match Discord's contract"
    );
}

//! HTTP interactions mode end to end: signed fixtures of every interaction type POSTed to
//! `/interactions` of a bot running against the fake SOE site, with serenity's REST client
//! pointed at the fake Discord. Refusals (401) for anything unsigned, mis-signed or stale.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_discord::fixtures::{self, Who, CHANNEL};
use fake_discord::harness::{wire, Wired};
use fake_discord::{check_interaction_response, ORIGINAL_ROUTE};
use serde_json::{json, Value};
use soe_bot::clock::SharedClock;
use soe_bot::commands::ids::Id;
use soe_bot::fake_soe::Q_ASYNC;
use soe_bot::store::Store;
use support::test_app::TestApp;

async fn bot() -> (TestApp, Wired) {
    let t = TestApp::start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    (t, w)
}

/// Sends a signed interaction, asserts 200 and a contract-valid body, returns the body.
async fn ok(w: &Wired, interaction: &Value) -> Value {
    let (status, body) = w.send(interaction).await;
    assert_eq!(status, 200, "{body:?}");
    let body = body.expect("a JSON answer");
    if let Err(e) = check_interaction_response(&body) {
        panic!("answer is not a valid interaction response: {e:#?}\n{body:#}");
    }
    body
}

/// The `PATCH @original` for interaction `id`, waiting up to 10 s.
async fn edit_of(w: &Wired, id: u64) -> Value {
    let token = fixtures::token(id);
    let r = w
        .discord
        .wait_for(Duration::from_secs(10), |r| {
            r.method == "PATCH" && r.route == ORIGINAL_ROUTE && r.path.contains(&token)
        })
        .await
        .expect("the deferred reply was delivered by editing @original");
    assert_eq!(r.status, 200);
    assert!(r.bot_auth, "REST calls carry the bot token");
    assert!(
        r.path
            .starts_with(&format!("/api/v10/webhooks/{}/", fixtures::APP_ID)),
        "{}",
        r.path
    );
    r.body.expect("an edit body")
}

fn text_of(v: &Value) -> String {
    v.to_string()
}

#[tokio::test]
async fn a_signed_ping_is_answered_pong_and_an_unsigned_one_is_refused() {
    let (_t, w) = bot().await;
    let (status, body) = w.send(&fixtures::ping()).await;
    assert_eq!((status, body), (200, Some(json!({"type": 1}))));
    let unsigned = serde_json::to_vec(&fixtures::ping()).unwrap();
    assert_eq!(w.post_raw(unsigned, &[]).await.0, 401);
    assert!(w.discord.requests().is_empty());
}

#[tokio::test]
async fn anything_not_signed_by_discord_now_is_refused_before_parsing() {
    let (t, w) = bot().await;
    let who = Who::admin(77, "mallory");
    // A request that would change the server's settings if it were accepted.
    let v = fixtures::envelope(
        fixtures::snowflake(),
        2,
        fixtures::so_admin_channel("disable", None),
        &who,
    );
    let body = serde_json::to_vec(&v).unwrap();
    let good = w.signed(&body, 0);
    let sig = good[0].1.clone();
    let ts = good[1].1.clone();

    let mut flipped = body.clone();
    let i = flipped.len() / 2;
    flipped[i] ^= 0x01;
    let other_key = fixtures::sign(&fixtures::other_key(), &ts, &body);
    let stale_ts = (t.clock_now().timestamp() - 600).to_string();
    let future_ts = (t.clock_now().timestamp() + 600).to_string();
    let cases: Vec<Case> = vec![
        ("one body byte flipped", flipped, good.clone()),
        (
            "signed by another key",
            body.clone(),
            vec![
                ("x-signature-ed25519", other_key),
                ("x-signature-timestamp", ts.clone()),
            ],
        ),
        (
            "signature header missing",
            body.clone(),
            vec![("x-signature-timestamp", ts.clone())],
        ),
        (
            "timestamp header missing",
            body.clone(),
            vec![("x-signature-ed25519", sig.clone())],
        ),
        (
            "non-hex signature",
            body.clone(),
            vec![
                ("x-signature-ed25519", "zz".repeat(64)),
                ("x-signature-timestamp", ts.clone()),
            ],
        ),
        (
            "short signature",
            body.clone(),
            vec![
                ("x-signature-ed25519", sig[..64].to_string()),
                ("x-signature-timestamp", ts.clone()),
            ],
        ),
        (
            "timestamp changed after signing",
            body.clone(),
            vec![
                ("x-signature-ed25519", sig.clone()),
                (
                    "x-signature-timestamp",
                    (t.clock_now().timestamp() + 1).to_string(),
                ),
            ],
        ),
        (
            "validly signed 10 minutes ago",
            body.clone(),
            vec![
                (
                    "x-signature-ed25519",
                    fixtures::sign(&fixtures::key(), &stale_ts, &body),
                ),
                ("x-signature-timestamp", stale_ts),
            ],
        ),
        (
            "validly signed 10 minutes ahead",
            body.clone(),
            vec![
                (
                    "x-signature-ed25519",
                    fixtures::sign(&fixtures::key(), &future_ts, &body),
                ),
                ("x-signature-timestamp", future_ts),
            ],
        ),
    ];
    for (name, body, headers) in cases {
        let (status, _) = w.post_raw(body, &headers).await;
        assert_eq!(status, 401, "{name}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        w.discord.requests().is_empty(),
        "nothing refused reached the use cases or Discord"
    );
    assert!(t
        .store
        .guild_settings(fixtures::GUILD)
        .await
        .unwrap()
        .disabled_channels
        .is_empty());

    // The same request, correctly signed, is handled (control for the refusals above).
    let (status, body) = w.post_raw(body_of(&v), &w.signed(&body_of(&v), 0)).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body.unwrap()["type"], 5);
}

/// A refusal case: name, body, headers.
type Case = (&'static str, Vec<u8>, Vec<(&'static str, String)>);

fn body_of(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[tokio::test]
async fn an_immediate_slash_command_is_answered_in_the_http_response() {
    let (_t, w) = bot().await;
    let body = ok(
        &w,
        &fixtures::envelope(
            fixtures::snowflake(),
            2,
            fixtures::so("help", vec![]),
            &Who::member(1, "jane"),
        ),
    )
    .await;
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64);
    assert!(text_of(&body).contains("/so search"), "{body:#}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        w.discord.requests().is_empty(),
        "an immediate reply needs no REST call"
    );
}

#[tokio::test]
async fn a_deferred_slash_command_is_deferred_then_edited_through_rest() {
    let (_t, w) = bot().await;
    let id = fixtures::snowflake();
    let body = ok(
        &w,
        &fixtures::envelope(
            id,
            2,
            fixtures::so("question", vec![fixtures::opt("id", &Q_ASYNC.to_string())]),
            &Who::member(1, "jane"),
        ),
    )
    .await;
    assert_eq!(body["type"], 5);
    assert_eq!(body["data"]["flags"], 64, "private defer");
    let edit = edit_of(&w, id).await;
    assert!(
        text_of(&edit).contains("tokio"),
        "the question card: {edit:#}"
    );
    assert_eq!(edit["allowed_mentions"]["parse"], json!([]));
    assert!(w.discord.check_contract() >= 1);
}

#[tokio::test]
async fn autocomplete_answers_tag_choices() {
    let (t, w) = bot().await;
    t.app.commands.refresh_tags().await.expect("tags");
    let body = ok(
        &w,
        &fixtures::envelope(
            fixtures::snowflake(),
            4,
            fixtures::autocomplete("search", "tag", "tok"),
            &Who::member(1, "jane"),
        ),
    )
    .await;
    assert_eq!(body["type"], 8);
    let values: Vec<&str> = body["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert!(values.contains(&"tokio"), "{body:#}");
    assert!(values.iter().all(|v| v.contains("tok")), "{values:?}");
}

#[tokio::test]
async fn buttons_update_their_message_or_open_a_modal() {
    let (t, w) = bot().await;
    for i in 0..6 {
        t.fake.add_question(
            soe_bot::fake_soe::JANE,
            &format!("Paging probe question number {i} about sprockets"),
            "A body long enough to be a question body.",
            &["sprockets"],
        );
    }
    let who = Who::member(1, "jane");
    // A search (deferred, then edited) whose Next button carries the saved search's handle.
    let search = fixtures::snowflake();
    ok(
        &w,
        &fixtures::envelope(
            search,
            2,
            fixtures::so("search", vec![fixtures::opt("query", "sprockets")]),
            &who,
        ),
    )
    .await;
    let results = edit_of(&w, search).await;
    // Row 1 is the results menu; row 2 holds Prev, Next and Share.
    assert_eq!(
        results["components"][0]["components"][0]["type"], 3,
        "{results:#}"
    );
    let next = results["components"][1]["components"][1]["custom_id"]
        .as_str()
        .expect("a Next button")
        .to_string();
    assert!(next.starts_with("so:sr:1:"), "{results:#}");
    // Next page of a search: a deferred update (type 6), then the message is edited.
    let id = fixtures::snowflake();
    let body = ok(
        &w,
        &fixtures::with_message(fixtures::envelope(id, 3, fixtures::button(&next), &who)),
    )
    .await;
    assert_eq!(body["type"], 6);
    let edit = edit_of(&w, id).await;
    assert!(text_of(&edit).contains("Page 2"), "{edit:#}");
    // A result chosen from the menu: a deferred update, then the question in its place.
    let menu = results["components"][0]["components"][0].clone();
    let value = menu["options"][0]["value"].as_str().unwrap().to_string();
    let id = fixtures::snowflake();
    let body = ok(
        &w,
        &fixtures::with_message(fixtures::envelope(
            id,
            3,
            json!({"custom_id": menu["custom_id"], "component_type": 3, "values": [value]}),
            &who,
        )),
    )
    .await;
    assert_eq!(body["type"], 6);
    let edit = edit_of(&w, id).await;
    assert!(text_of(&edit).contains("Back to the results"), "{edit:#}");
    assert!(
        w.discord.check_contract() >= 3,
        "menus validate against the contract"
    );
    // Answer: a modal, immediately.
    let answer = Id::OpenAnswer { question: Q_ASYNC }.encode();
    let body = ok(
        &w,
        &fixtures::with_message(fixtures::envelope(
            fixtures::snowflake(),
            3,
            fixtures::button(&answer),
            &who,
        )),
    )
    .await;
    assert_eq!(body["type"], 9);
    w.discord.check_contract();
}

#[tokio::test]
async fn a_modal_submit_from_an_unlinked_member_keeps_the_draft_and_offers_linking() {
    let (t, w) = bot().await;
    let who = Who::member(4242, "jane");
    // The ask command opens the modal (immediate) with a fresh draft id.
    let open = ok(
        &w,
        &fixtures::envelope(fixtures::snowflake(), 2, fixtures::so("ask", vec![]), &who),
    )
    .await;
    assert_eq!(open["type"], 9);
    let modal_id = open["data"]["custom_id"].as_str().unwrap().to_string();
    let id = fixtures::snowflake();
    let fields = [
        ("title", "How do I cancel a tokio task cleanly?"),
        (
            "body",
            "I spawn tasks with tokio::spawn and need to stop them on shutdown without leaking.",
        ),
        ("tags", "rust tokio"),
    ];
    let body = ok(
        &w,
        &fixtures::envelope(id, 5, fixtures::modal(&modal_id, &fields), &who),
    )
    .await;
    assert_eq!(body["type"], 5);
    assert_eq!(body["data"]["flags"], 64);
    let edit = edit_of(&w, id).await;
    assert!(text_of(&edit).to_lowercase().contains("link"), "{edit:#}");
    let drafts = t.store.drafts_of(4242).await.unwrap();
    assert_eq!(drafts.len(), 1, "the text is kept");
    w.discord.check_contract();
}

#[tokio::test]
async fn message_commands_open_a_form_for_the_author_and_a_picker_for_someone_elses_message() {
    let (_t, w) = bot().await;
    let who = Who::member(9, "sam");
    let mine = fixtures::message_command("Ask on Stack Overflow", 9, "sam", "Why does my tokio runtime panic on drop?\nIt says cannot drop a runtime in a context where blocking is not allowed.");
    let body = ok(
        &w,
        &fixtures::envelope(fixtures::snowflake(), 2, mine, &who),
    )
    .await;
    assert_eq!(body["type"], 9);
    assert!(
        text_of(&body).contains("Why does my tokio runtime panic on drop?"),
        "{body:#}"
    );
    // Someone else's message opens no form: the question is picked (privately) before its
    // author is asked.
    let theirs = fixtures::message_command("Post as answer", 10, "alex", "some text");
    let body = ok(
        &w,
        &fixtures::envelope(fixtures::snowflake(), 2, theirs, &who),
    )
    .await;
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64);
    assert!(
        text_of(&body).contains("Which question does this answer?"),
        "{body:#}"
    );
    w.discord.check_contract();
}

#[tokio::test]
async fn commands_work_in_dms_when_allowed_for_members_of_an_allowed_guild() {
    let t = TestApp::builder().allow_dms().start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    w.discord.add_member(fixtures::GUILD, 1);
    let body = ok(
        &w,
        &fixtures::envelope(
            fixtures::snowflake(),
            2,
            fixtures::so("help", vec![]),
            &Who::member(1, "jane").in_dm(),
        ),
    )
    .await;
    assert_eq!(body["type"], 4);
    assert!(text_of(&body).contains("/so search"));
}

#[tokio::test]
async fn the_endpoint_is_served_by_the_bots_web_router() {
    let (t, w) = bot().await;
    let web = soe_bot::web::router(soe_bot::web::WebState {
        link: t.app.link.clone(),
        ready: soe_bot::web::ready_check(soe_bot::web::ReadyReport::ready),
        extra: Some(w.router.clone()),
        hsts: false,
    });
    let body = serde_json::to_vec(&fixtures::ping()).unwrap();
    let mut req =
        axum::http::Request::post("/interactions").header("content-type", "application/json");
    for (k, v) in w.signed(&body, 0) {
        req = req.header(k, v);
    }
    let res =
        tower::ServiceExt::oneshot(web.clone(), req.body(axum::body::Body::from(body)).unwrap())
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes).unwrap(),
        json!({"type": 1})
    );
    let unsigned = axum::http::Request::post("/interactions")
        .body(axum::body::Body::from("{\"type\":1}"))
        .unwrap();
    assert_eq!(
        tower::ServiceExt::oneshot(web, unsigned)
            .await
            .unwrap()
            .status(),
        401
    );
}

/// Issue 10, part 7 through the adapter: "Ask on …" on someone else's message is deferred
/// publicly, then the consent prompt goes out as a channel message replying to that message
/// (a `message_reference`, nobody pinged), and every exchange follows the Discord contract.
#[tokio::test]
async fn asking_on_someone_elses_message_posts_the_consent_prompt_under_it() {
    let (_t, w) = bot().await;
    let who = Who::member(9, "sam");
    let theirs = fixtures::message_command(
        "Ask on Stack Overflow",
        10,
        "alex",
        "Why does my tokio runtime panic on drop?\nIt says cannot drop a runtime here.",
    );
    let target = theirs["target_id"].as_str().unwrap().to_string();
    let id = fixtures::snowflake();
    let body = ok(&w, &fixtures::envelope(id, 2, theirs, &who)).await;
    assert_eq!(body["type"], 5, "deferred: {body:#}");
    assert!(body["data"]["flags"].is_null(), "public: {body:#}");
    let posted = w
        .discord
        .wait_for(Duration::from_secs(10), |r| {
            r.method == "POST" && r.path.ends_with(&format!("/channels/{CHANNEL}/messages"))
        })
        .await
        .expect("the prompt was posted in the channel");
    let prompt = posted.body.expect("a message body");
    assert_eq!(
        prompt["message_reference"]["message_id"], target,
        "{prompt:#}"
    );
    assert_eq!(prompt["allowed_mentions"]["parse"], json!([]), "{prompt:#}");
    assert!(
        text_of(&prompt).contains("<@10>, <@9> would like to post your message"),
        "{prompt:#}"
    );
    assert!(text_of(&prompt).contains("so:cy:9:"), "{prompt:#}");
    w.discord
        .wait_for(Duration::from_secs(10), |r| {
            r.method == "DELETE" && r.route == ORIGINAL_ROUTE
        })
        .await
        .expect("the public thinking… is removed");
    w.discord.check_contract();
}

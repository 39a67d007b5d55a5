//! The 3-second deadline with a slow SOE site: `GET /questions/{questionId}` takes 5 s, and
//! `/so question` is still acknowledged at once (the defer never waits on SOE); the final edit
//! reaches Discord only after the SOE request completed.
//!
//! Real time, real sockets (the fakes and serenity use real I/O, which `tokio::time::pause`
//! does not mix with). The delay is the full 5 s on purpose: longer than Discord's 3 s, so an
//! adapter that waited on SOE before answering would fail the deadline assertion, not only the
//! ordering one. Ordering is shown two ways: the fake SOE logs a request only once it has
//! answered, so "not yet in its log when the defer arrived" means "not completed"; and the
//! fake Discord timestamps every request on arrival.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_discord::fixtures::{self, Who};
use fake_discord::harness::{wire, Wired};
use fake_discord::{CALLBACK_ROUTE, ORIGINAL_ROUTE};
use soe_bot::clock::SharedClock;
use soe_bot::discord::respond::respond_via_rest;
use soe_bot::fake_soe::{Fault, FaultKind, Q_ASYNC};
use support::test_app::TestApp;

const SOE_DELAY: Duration = Duration::from_secs(5);
const DEADLINE: Duration = Duration::from_secs(3);
const QUESTION_ROUTE: &str = "/questions/{questionId}";

async fn slow_bot() -> (TestApp, Wired) {
    let t = TestApp::builder()
        .client(|c| c.request_timeout = Duration::from_secs(30))
        .start()
        .await;
    t.fake.push_fault(Fault::on(
        "GET",
        QUESTION_ROUTE,
        FaultKind::Delay(SOE_DELAY),
    ));
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    (t, w)
}

fn question_served(t: &TestApp) -> bool {
    t.fake
        .requests()
        .iter()
        .any(|r| r.route == QUESTION_ROUTE && r.status == 200)
}

fn question_command(id: u64) -> serde_json::Value {
    fixtures::envelope(
        id,
        2,
        fixtures::so("question", vec![fixtures::opt("id", &Q_ASYNC.to_string())]),
        &Who::member(1, "jane"),
    )
}

#[tokio::test]
async fn http_mode_defers_at_once_and_edits_after_the_slow_soe_call() {
    let (t, w) = slow_bot().await;
    let id = fixtures::snowflake();
    let start = Instant::now();
    let (status, body) = w.send(&question_command(id)).await;
    let deferred_at = Instant::now();
    assert_eq!(status, 200);
    assert_eq!(body.unwrap()["type"], 5, "a defer");
    assert!(
        deferred_at - start < DEADLINE,
        "acknowledged within Discord's 3 s: {:?}",
        deferred_at - start
    );
    assert!(!question_served(&t), "the defer did not wait for SOE");

    let edit = w
        .discord
        .wait_for(Duration::from_secs(20), |r| {
            r.route == ORIGINAL_ROUTE && r.path.contains(&fixtures::token(id))
        })
        .await
        .expect("the final edit");
    assert!(question_served(&t), "the edit came after SOE answered");
    assert!(edit.at > deferred_at);
    assert!(
        edit.at - start >= SOE_DELAY,
        "the edit waited for SOE: {:?}",
        edit.at - start
    );
    assert!(
        edit.body.unwrap().to_string().contains("tokio"),
        "the edit carries the question"
    );
    w.discord.check_contract();
}

#[tokio::test]
async fn gateway_mode_sends_the_defer_callback_before_the_slow_soe_call_completes() {
    let (t, w) = slow_bot().await;
    let id = fixtures::snowflake();
    let interaction = serde_json::from_value(question_command(id)).unwrap();
    let flow = w.flow();
    let start = Instant::now();
    let task = tokio::spawn(async move { respond_via_rest(&flow, &interaction).await });

    let defer = w
        .discord
        .wait_for(DEADLINE, |r| r.route == CALLBACK_ROUTE)
        .await
        .expect("the defer callback within 3 s");
    assert!(
        !question_served(&t),
        "the defer was sent while SOE was still answering"
    );
    assert_eq!(defer.body.as_ref().unwrap()["type"], 5);
    assert!(defer.at - start < DEADLINE);

    task.await.expect("the flow finished");
    let log = w.discord.requests();
    let edit = log
        .iter()
        .find(|r| r.route == ORIGINAL_ROUTE)
        .expect("the final edit");
    assert!(defer.seq < edit.seq);
    assert!(edit.at - start >= SOE_DELAY, "{:?}", edit.at - start);
    assert!(question_served(&t));
    w.discord.check_contract();
}

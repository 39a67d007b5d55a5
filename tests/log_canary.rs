//! Log canary: every path of the linking flow, a write, and the failure paths run with TRACE
//! logging captured; no token, authorization code, PKCE verifier, state, ticket or form token
//! may appear in the output.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use soe_bot::commands::ids::Id;
use soe_bot::fake_soe::{Approval, Fault, FaultKind, Q_ASYNC};
use soe_bot::soe::Vote;
use support::test_app::{form_token, TestApp};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn query_value(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.to_string())
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::start().await;
    let mut secrets: Vec<String> = Vec::new();
    let alice = TestApp::member(111, "alice");

    // 1. The whole flow, then a write and a 401.
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    secrets.extend(query_value(start.as_str(), "ticket"));
    let run = app.browse_link(&start, true).await;
    assert_eq!(run.last().0, 200);
    app.next_notice().await;
    app.press(
        &alice,
        &Id::VoteQuestion {
            question: Q_ASYNC,
            vote: Vote::Up,
        }
        .encode(),
    )
    .await;
    app.slash(&alice, "me", &[]).await;

    // 2. Replay, expiry, missing state, bad ticket, reused ticket.
    let start2 = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    secrets.extend(query_value(start2.as_str(), "ticket"));
    let r = app.http.get(start2.clone()).send().await.unwrap();
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let callback = app.redirect(&authorize).await;
    let page = app
        .http
        .get(&callback)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    secrets.extend(form_token(&page));
    app.http.get(&callback).send().await.unwrap(); // replay
    app.http.get(start2).send().await.unwrap(); // reused ticket
    app.http
        .get(app.web.join("oauth/callback?code=zzz").unwrap())
        .send()
        .await
        .unwrap();
    let start3 = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    secrets.extend(query_value(start3.as_str(), "ticket"));
    let authorize3 = app.redirect(start3).await;
    app.clock.advance(Duration::seconds(601));
    let cb3 = app.redirect(&authorize3).await;
    app.http.get(&cb3).send().await.unwrap(); // expired state

    // 3. A failing exchange (the site answers 500), a denial, and a revoked token.
    app.fake
        .push_fault(Fault::on("POST", "/oauth/access_token/json", FaultKind::Status(500)).times(1));
    let start4 = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    secrets.extend(query_value(start4.as_str(), "ticket"));
    app.browse_link(&start4, true).await;
    app.fake.set_approval(Approval::Deny);
    let start5 = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    secrets.extend(query_value(start5.as_str(), "ticket"));
    app.browse_link(&start5, true).await;
    let token = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.route == "/users/me")
        .and_then(|r| r.token)
        .unwrap();
    app.fake.revoke_token(&token);
    app.press(
        &alice,
        &Id::VoteQuestion {
            question: Q_ASYNC,
            vote: Vote::Down,
        }
        .encode(),
    )
    .await;

    // Every secret the site saw or handed out.
    for r in app.fake.requests() {
        secrets.extend(r.token.clone());
        for (k, v) in &r.query {
            if ["state", "code", "code_verifier", "code_challenge"].contains(&k.as_str()) {
                secrets.push(v.clone());
            }
        }
        if let Some(body) = &r.body {
            for k in ["code", "code_verifier"] {
                secrets.extend(body.get(k).and_then(|v| v.as_str()).map(String::from));
            }
        }
        if let Some(resp) = &r.response {
            secrets.extend(
                resp.get("access_token")
                    .and_then(|v| v.as_str())
                    .map(String::from),
            );
        }
    }
    for url in [&authorize, &callback, &authorize3, &cb3] {
        for k in ["state", "code"] {
            secrets.extend(query_value(url, k));
        }
    }
    secrets.push(app.fake.service_token());
    secrets.sort();
    secrets.dedup();
    secrets.retain(|s| s.len() >= 8);
    let verifiers = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/access_token/json")
        .filter(|r| {
            r.body
                .as_ref()
                .and_then(|b| b.get("code_verifier"))
                .is_some()
                || r.query.iter().any(|(k, _)| k == "code_verifier")
        })
        .count();
    assert!(verifiers >= 2, "the canary must include verifiers");
    assert!(secrets.len() >= 12, "collected {} secrets", secrets.len());

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 50,
        "TRACE logs were captured ({} lines)",
        logs.lines().count()
    );
    assert!(logs.contains("link stored"), "the flow logged its steps");
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "secret {}… found in the logs",
            &s[..4]
        );
    }
}

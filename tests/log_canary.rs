//! Log canary: every path of the linking flow, a write, the failure paths, and the Discord
//! adapter through serenity's HTTP client (a deferred reply and its edit, a follow-up, a DM, the
//! signed `/interactions` endpoint) run in a child process with the production subscriber
//! installed globally, so every thread's output (tokio workers, blocking pool, `log` records of
//! dependencies) is captured from the child's stdout and stderr. No token, authorization code,
//! PKCE verifier, state, ticket, form token, interaction token or bot token may appear in that
//! output, neither raw nor percent-encoded nor base64-encoded. Runs at `debug` (from
//! `log.filter`) and at `trace` (from `RUST_LOG`), and proves the scan can fail by planting
//! secrets on purpose.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use chrono::Duration;
use fake_discord::fixtures::{self, Who};
use fake_discord::{FakeDiscord, CALLBACK_ROUTE, DM_ROUTE, FOLLOWUP_ROUTE, ORIGINAL_ROUTE};
use serenity::all::Interaction;
use soe_bot::app::Notifier;
use soe_bot::clock::SharedClock;
use soe_bot::commands::ids::Id;
use soe_bot::commands::{Notice, Reply};
use soe_bot::config::LogFormat;
use soe_bot::discord::respond::{respond_via_rest, Flow};
use soe_bot::fake_soe::{Approval, Fault, FaultKind, Q_ASYNC};
use soe_bot::soe::Vote;
use support::browser::{Browser, Page};
use support::test_app::{form_token, TestApp};
use tower::ServiceExt;

/// What the child does: `flow` (every path) or `plant` (logs secrets on purpose).
const CHILD_ENV: &str = "SOE_BOT_TEST_LOG_CANARY_CHILD";
/// Where the child writes the secrets it used (JSON array); never to its stdout.
const SECRETS_FILE_ENV: &str = "SOE_BOT_TEST_LOG_CANARY_SECRETS";
/// The `log.filter` the child installs.
const FILTER_ENV: &str = "SOE_BOT_TEST_LOG_CANARY_FILTER";
/// `text` or `json`.
const FORMAT_ENV: &str = "SOE_BOT_TEST_LOG_CANARY_FORMAT";
/// The marker the child prints when it finished.
const DONE: &str = "CANARY-CHILD-DONE";
/// The Discord bot token the child's serenity client uses (shaped like a real one).
const BOT_TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GcNRy7.b0t-t0ken-canary-5f3a9d1e77c4";

fn query_value(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.to_string())
}

/// Child entry point: only does something when a parent test re-executes this binary.
#[test]
fn child_runs_with_the_production_subscriber() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let filter = std::env::var(FILTER_ENV).unwrap_or_else(|_| "info".into());
    let format = match std::env::var(FORMAT_ENV).as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    // As `main` does.
    let rust_log = std::env::var("RUST_LOG").ok();
    soe_bot::run::init_tracing(format, &filter, rust_log.as_deref());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .build()
        .expect("runtime");
    let secrets = rt.block_on(async move {
        match mode.as_str() {
            "plant" => plant().await,
            _ => exercise_everything().await,
        }
    });
    let path = std::env::var(SECRETS_FILE_ENV).expect("secrets file");
    std::fs::write(path, serde_json::to_vec(&secrets).expect("json")).expect("write secrets");
    println!("{DONE}");
}

/// Logs three secrets on purpose, from three kinds of thread, each in one encoded form.
async fn plant() -> Vec<String> {
    let raw = "planted-raw-secret-7c1e2b9a44".to_string();
    let percent = "planted percent/secret+9f0d=".to_string();
    let b64 = "planted-base64-secret-31d7aa08".to_string();
    let r = raw.clone();
    std::thread::spawn(move || tracing::info!(target: "soe_bot::canary", "oops {r}"))
        .join()
        .expect("thread");
    let p = percent.clone();
    tokio::spawn(async move {
        let enc = url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>();
        tracing::warn!(target: "soe_bot::canary", url = %format!("https://x.example/cb?code={enc}"), "oops");
    })
    .await
    .expect("task");
    let b = b64.clone();
    tokio::task::spawn_blocking(move || {
        // Embedded at an offset that is not a multiple of 3 inside a longer blob.
        let blob = base64::engine::general_purpose::STANDARD.encode(format!("{{\"t\":\"{b}\"}}"));
        tracing::debug!(target: "soe_bot::canary", blob, "oops");
    })
    .await
    .expect("blocking");
    vec![raw, percent, b64]
}

/// Every path: linking (success, replay, expiry, bad input, failures), a write, a revoked
/// token, and the Discord adapter through serenity's REST client. Returns every secret used.
async fn exercise_everything() -> Vec<String> {
    let app = TestApp::start().await;
    let mut secrets: Vec<String> = Vec::new();
    let alice = TestApp::member(111, "alice");

    // 1. The whole flow, then a write and a 401.
    let start = app.link_start(&alice).await;
    secrets.extend(query_value(start.as_str(), "ticket"));
    let browser = app.browser_of(&alice).await;
    let pages = browser.follow(&start).await;
    secrets.extend(hop_secrets(&pages));
    let confirm = form_token(&pages.last().unwrap().body).expect("confirmation page");
    secrets.push(confirm.clone());
    assert_eq!(
        app.confirm_in(&browser, &confirm, "confirm").await.status,
        200
    );
    app.next_notice().await;
    app.press(
        &alice,
        &Id::VoteQuestion {
            question: Q_ASYNC,
            vote: Vote::Up,
            on: soe_bot::commands::ids::Surface::Note,
        }
        .encode(),
    )
    .await;
    app.slash(&alice, "me", &[]).await;

    // 2. Replay, expiry, missing state, bad ticket, reused ticket.
    let start2 = app.link_start(&alice).await;
    secrets.extend(query_value(start2.as_str(), "ticket"));
    let b2 = app.browser_of(&alice).await;
    let first = b2.get(start2.clone()).await;
    secrets.extend(hop_secrets(std::slice::from_ref(&first)));
    let authorize = first.location.clone().expect("to the site");
    let callback = b2.redirect(&authorize).await;
    let pages = b2.follow(&url::Url::parse(&callback).unwrap()).await;
    secrets.extend(hop_secrets(&pages));
    secrets.extend(form_token(&pages.last().unwrap().body));
    b2.get(&callback).await; // replay
    b2.get(start2).await; // reused ticket
    Browser::new().get(&authorize).await; // a forwarded authorize URL, in another browser
    app.http
        .get(app.web.join("oauth/callback?code=zzz").unwrap())
        .send()
        .await
        .unwrap();
    let start3 = app.link_start(&alice).await;
    secrets.extend(query_value(start3.as_str(), "ticket"));
    let authorize3 = app.redirect(start3).await;
    app.clock.advance(Duration::seconds(601));
    let cb3 = app.redirect(&authorize3).await;
    app.http.get(&cb3).send().await.unwrap(); // expired state

    // 3. A failing exchange (the site answers 500), a denial, and a revoked token.
    app.fake
        .push_fault(Fault::on("POST", "/oauth/access_token/json", FaultKind::Status(500)).times(1));
    let start4 = app.link_start(&alice).await;
    secrets.extend(query_value(start4.as_str(), "ticket"));
    app.browse_link(&start4, true).await;
    app.fake.set_approval(Approval::Deny);
    let start5 = app.link_start(&alice).await;
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
            on: soe_bot::commands::ids::Surface::Note,
        }
        .encode(),
    )
    .await;

    // Discord OAuth2 (the identity step): the application's secret, the codes and tokens the
    // fake Discord handed out.
    secrets.push(app.discord.client_secret().to_string());
    assert!(
        !app.discord.issued_tokens().is_empty(),
        "the canary must include Discord access tokens"
    );
    secrets.extend(app.discord.issued_tokens());
    secrets.extend(app.discord.issued_codes());

    // 4. Discord, through serenity's HTTP client against the fake REST API.
    secrets.push(BOT_TOKEN.to_string());
    secrets.extend(exercise_discord(&app).await);

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
    secrets.sort();
    secrets.dedup();
    secrets.retain(|s| s.len() >= 8);
    secrets
}

/// The secrets a browser saw while hopping: cookie values set, and `state` / `code` in every
/// redirect.
fn hop_secrets(pages: &[Page]) -> Vec<String> {
    let mut out = Vec::new();
    for p in pages {
        for c in &p.set_cookies {
            if let Some((_, v)) = c.split(';').next().and_then(|nv| nv.split_once('=')) {
                out.push(v.to_string());
            }
        }
        if let Some(loc) = &p.location {
            for k in ["state", "code", "ticket"] {
                out.extend(query_value(loc, k));
            }
        }
    }
    out
}

/// The Discord adapter's REST paths, each carrying an interaction token in its URL: the signed
/// endpoint's deferred reply and edit, the gateway path's callback and edit, a follow-up, and a
/// DM. Returns the interaction tokens used.
async fn exercise_discord(app: &TestApp) -> Vec<String> {
    let discord = FakeDiscord::start().await;
    let http = Arc::new(
        soe_bot::discord::rest::build_http(BOT_TOKEN, fixtures::APP_ID, &discord.base())
            .expect("http"),
    );
    let clock: SharedClock = Arc::new(app.clock.clone());
    let endpoint = soe_bot::discord::interactions_router(
        app.app.clone(),
        &fixtures::public_key_hex(),
        http.clone(),
        clock.clone(),
    )
    .expect("router");
    let flow = Flow {
        app: app.app.clone(),
        http: http.clone(),
    };
    let who = Who::member(111, "alice");
    let mut tokens = Vec::new();

    // The signed endpoint: a deferred command, finished by editing @original.
    let id = fixtures::snowflake();
    tokens.push(fixtures::token(id));
    let body = serde_json::to_vec(&fixtures::envelope(
        id,
        2,
        fixtures::so("question", vec![fixtures::opt("id", &Q_ASYNC.to_string())]),
        &who,
    ))
    .expect("json");
    let ts = clock.now().timestamp().to_string();
    let req = axum::http::Request::post("/interactions")
        .header("content-type", "application/json")
        .header(
            "x-signature-ed25519",
            fixtures::sign(&fixtures::key(), &ts, &body),
        )
        .header("x-signature-timestamp", ts)
        .body(axum::body::Body::from(body))
        .expect("request");
    let res = endpoint.oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), 200);
    let token = fixtures::token(id);
    discord
        .wait_for(std::time::Duration::from_secs(10), |r| {
            r.route == ORIGINAL_ROUTE && r.path.contains(&token)
        })
        .await
        .expect("the deferred reply was edited through REST");

    // The gateway path: the callback (defer), then the edit.
    let id = fixtures::snowflake();
    tokens.push(fixtures::token(id));
    respond_via_rest(
        &flow,
        &interaction(&fixtures::envelope(id, 2, fixtures::so("me", vec![]), &who)),
    )
    .await;

    // A public defer whose answer is private: the placeholder is deleted, a follow-up sent.
    let id = fixtures::snowflake();
    tokens.push(fixtures::token(id));
    respond_via_rest(
        &flow,
        &interaction(&fixtures::with_message(fixtures::envelope(
            id,
            3,
            fixtures::button(&Id::ShareQuestion { question: 987_654 }.encode()),
            &who,
        ))),
    )
    .await;

    // A DM.
    soe_bot::discord::DiscordNotifier::new(http.clone())
        .notify(Notice {
            user: 111,
            reply: Reply::private("Your question was posted."),
        })
        .await;

    for (method, route) in [
        ("POST", CALLBACK_ROUTE),
        ("PATCH", ORIGINAL_ROUTE),
        ("POST", FOLLOWUP_ROUTE),
        ("POST", DM_ROUTE),
    ] {
        assert!(
            !discord.on(method, route).is_empty(),
            "the canary did not reach {method} {route}: {:#?}",
            discord
                .requests()
                .iter()
                .map(|r| r.key())
                .collect::<Vec<_>>()
        );
    }
    tokens
}

fn interaction(v: &serde_json::Value) -> Interaction {
    serde_json::from_value(v.clone()).expect("a valid interaction")
}

/// Runs the child in `mode`; returns everything it printed (stdout and stderr) and the
/// secrets it used.
fn run_child(
    mode: &str,
    filter: &str,
    format: &str,
    rust_log: Option<&str>,
) -> (String, Vec<String>) {
    let exe = std::env::current_exe().expect("test binary");
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets_file = dir.path().join("secrets.json");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child_runs_with_the_production_subscriber",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, mode)
    .env(SECRETS_FILE_ENV, &secrets_file)
    .env(FILTER_ENV, filter)
    .env(FORMAT_ENV, format)
    .env_remove("RUST_LOG")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(r) = rust_log {
        cmd.env("RUST_LOG", r);
    }
    let out = cmd.output().expect("run the child");
    let mut logs = String::from_utf8_lossy(&out.stdout).into_owned();
    logs.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && logs.contains(DONE),
        "the {mode} child failed ({}); its last output:\n{}",
        out.status,
        logs.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let secrets: Vec<String> =
        serde_json::from_slice(&std::fs::read(&secrets_file).expect("secrets file"))
            .expect("secrets json");
    (logs, secrets)
}

/// The base64 fragments that appear whenever `secret` is base64-encoded inside any larger
/// byte string: for each of the three alignments, the characters that depend only on the
/// secret's bytes (standard and URL-safe alphabets).
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for shift in 0..3usize {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(secret);
        let first_group = shift.div_ceil(3);
        let last_group = bytes.len() / 3; // groups fully made of secret bytes end here
        if last_group <= first_group {
            continue;
        }
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            let enc = engine.encode(&bytes);
            let fragment = &enc[first_group * 4..last_group * 4];
            if fragment.len() >= 12 {
                forms.push(fragment.to_string());
            }
        }
    }
    forms
}

/// Every form of `secret` the scan looks for, with the form's name.
fn forms(secret: &str) -> Vec<(&'static str, String)> {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let mut out = vec![("raw", secret.to_string())];
    let percent = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    for p in [percent, form] {
        if p != secret {
            out.push(("percent-encoded", p));
        }
    }
    out.extend(
        base64_forms(secret.as_bytes())
            .into_iter()
            .map(|b| ("base64", b)),
    );
    out
}

/// Each secret found in `logs`, with the form it was found in (percent-encoding matched
/// case-insensitively).
fn leaks(logs: &str, secrets: &[String]) -> Vec<(String, &'static str)> {
    let lower = logs.to_lowercase();
    let mut found = Vec::new();
    for s in secrets {
        for (name, f) in forms(s) {
            let hit = if name == "percent-encoded" {
                lower.contains(&f.to_lowercase())
            } else {
                logs.contains(&f)
            };
            if hit {
                found.push((s.clone(), name));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn assert_no_leaks(logs: &str, secrets: &[String], level: &str) {
    assert!(
        secrets.len() >= 20,
        "collected only {} secrets",
        secrets.len()
    );
    for t in [BOT_TOKEN, "tok-"] {
        assert!(
            secrets.iter().any(|s| s.starts_with(t)),
            "{t}… is among the canaries"
        );
    }
    let lines = logs.lines().count();
    assert!(lines > 100, "{level}: only {lines} lines were captured");
    assert!(logs.contains("link stored"), "the flow logged its steps");
    let found = leaks(logs, secrets);
    assert!(
        found.is_empty(),
        "{level}: {} secret(s) reached the logs: {}",
        found.len(),
        found
            .iter()
            .map(|(s, form)| format!("{}… ({form})", s.chars().take(6).collect::<String>()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{level}: {} secrets × {} forms checked against {lines} log lines: none found",
        secrets.len(),
        secrets.iter().map(|s| forms(s).len()).sum::<usize>() / secrets.len().max(1)
    );
}

#[test]
fn no_secret_reaches_the_logs_at_debug() {
    let (logs, secrets) = run_child("flow", "debug", "text", None);
    assert_no_leaks(&logs, &secrets, "debug");
    // The vote is audited in the log (there is no audit channel), and the scan covered it.
    assert!(
        logs.lines()
            .any(|l| l.contains("soe_bot::audit") && l.contains("upvoted question")),
        "the audit entry is logged"
    );
}

#[test]
fn no_secret_reaches_the_logs_at_trace_set_by_rust_log() {
    let (logs, secrets) = run_child("flow", "info", "json", Some("trace"));
    assert_no_leaks(&logs, &secrets, "trace");
}

#[test]
fn the_scan_finds_planted_secrets_in_each_form() {
    let (logs, secrets) = run_child("plant", "debug", "text", None);
    let found = leaks(&logs, &secrets);
    let [raw, percent, b64] = [0, 1, 2].map(|i| secrets[i].clone());
    let mut expected = vec![(raw, "raw"), (percent, "percent-encoded"), (b64, "base64")];
    expected.sort();
    assert_eq!(
        found, expected,
        "each planted secret is found, in the one form it was logged in"
    );
}

#[test]
fn json_logs_at_debug_hold_no_secret_and_name_the_work_each_line_belongs_to() {
    let (logs, secrets) = run_child("flow", "debug", "json", None);
    assert_no_leaks(&logs, &secrets, "debug (json)");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.len() > 20, "JSON lines: {}", lines.len());
    let in_span = |line: &serde_json::Value, name: &str, field: &str| {
        line["spans"].as_array().is_some_and(|spans| {
            spans
                .iter()
                .any(|s| s["name"] == name && !s[field].is_null())
        })
    };
    // Lines logged while handling an interaction carry its id (never its token).
    assert!(
        lines.iter().any(|l| in_span(l, "interaction", "id")),
        "no line carries the interaction span"
    );
    // SOE calls log inside a span naming the endpoint template and the status.
    let soe: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| in_span(l, "soe", "endpoint"))
        .collect();
    assert!(!soe.is_empty(), "no line inside an SOE call span");
    assert!(
        soe.iter().any(|l| in_span(l, "soe", "status")),
        "SOE call lines carry the status"
    );
    for l in &soe {
        let endpoint = l["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "soe"))
            .and_then(|s| s["endpoint"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            endpoint
                .split('/')
                .all(|seg| !seg.bytes().any(|b| b.is_ascii_digit())),
            "ids are templated: {endpoint}"
        );
    }
    // Web requests carry a request id.
    assert!(
        lines.iter().any(|l| in_span(l, "http", "id")),
        "no line carries the http request span"
    );
}

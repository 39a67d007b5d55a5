//! A gateway close that ends the bot for good, on the real binary (`soe-bot run` in gateway
//! mode): Discord's gateway answers the IDENTIFY with close 4004 (a rejected token), 4013 or
//! 4014 (refused intents), and the process exits non-zero with one line that says what is wrong
//! and what to do, not "Discord call failed", and without the token.
//!
//! And SIGTERM in gateway mode: the session gets a close frame (1000) before the process exits
//! 0, rather than a dropped connection (1006).
//!
//! The gateway here is a websocket on loopback that says Hello, reads the Identify and closes
//! with the code under test (or answers READY); `GET /api/v10/gateway` on a small REST fake
//! points the bot at it. The site is the fake SOE.

#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::fake_soe::{FakeSoe, FakeSoeConfig};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const BOT_TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GcNRy7.rejected-token-canary-0042";
const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A gateway that closes every session with `code` right after the Identify. Returns its
/// `ws://` URL and whether an Identify was received.
async fn closing_gateway(code: u16) -> (String, Arc<std::sync::atomic::AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let identified = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = identified.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let hello = r#"{"op":10,"d":{"heartbeat_interval":45000},"s":null,"t":null}"#;
                if ws.send(Message::Text(hello.into())).await.is_err() {
                    return;
                }
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg {
                        if t.contains("\"op\":2") {
                            seen.store(true, std::sync::atomic::Ordering::SeqCst);
                            let _ = ws
                                .close(Some(CloseFrame {
                                    code: CloseCode::from(code),
                                    reason: "closed by the test".into(),
                                }))
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, identified)
}

/// Discord's REST API as far as a gateway client needs it: where the gateway is.
async fn rest_pointing_at(gateway: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/api/v10/gateway",
            axum::routing::get(move || {
                let url = gateway.clone();
                async move { axum::Json(serde_json::json!({ "url": url })) }
            }),
        )
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({"message": "404: Not Found", "code": 0})),
            )
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// `soe-bot run` in gateway mode against the REST fake at `api`, in `dir`. Returns the child
/// and its web server's base URL.
fn spawn_gateway_bot(site: &FakeSoe, api: &str, dir: &std::path::Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"
[soe]
site_url = "{site}"
client_id = "{client_id}"
service_token = "{service}"

[discord]
mode = "gateway"
token = "{BOT_TOKEN}"
application_id = 1100000000000000001
api_base = "{api}"
allowed_guilds = [1000000000000000001]

[web]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[storage]
path = "{storage}"
encryption_key = "{KEY_B64}"

[link]
verify_discord_identity = false
"#,
        site = site.site_url(),
        client_id = site.client_id(),
        service = site.service_token(),
        storage = dir.join("store").display(),
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    // Files, not pipes: a pipe nobody reads fills up and then blocks the bot's logging.
    let log = std::fs::File::create(dir.join("bot.log")).unwrap();
    let child = cmd
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

async fn fake_site() -> FakeSoe {
    let clock: SharedClock = Arc::new(FixedClock::at(Utc::now()));
    FakeSoe::start(FakeSoeConfig::new(clock)).await.unwrap()
}

/// Waits (up to 60 s) for `child` to exit; its status code and everything it printed (in
/// `dir`/bot.log). A child still running then is killed and the test fails with its output.
async fn output_of(mut child: Child, dir: &std::path::Path) -> (Option<i32>, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut timed_out = false;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(dir.join("bot.log")).unwrap_or_default();
    assert!(!timed_out, "still running after 60 s:\n{text}");
    (status.code(), text)
}

async fn run_against(code: u16) -> (Option<i32>, String, bool) {
    let site = fake_site().await;
    let (gateway, identified) = closing_gateway(code).await;
    let api = rest_pointing_at(gateway).await;
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = spawn_gateway_bot(&site, &api, dir.path());
    let (code, text) = output_of(child, dir.path()).await;
    (
        code,
        text,
        identified.load(std::sync::atomic::Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_ends_the_bot_with_what_to_do() {
    let (code, output, identified) = run_against(4004).await;
    assert!(identified, "the bot identified:\n{output}");
    assert_eq!(code, Some(1), "{output}");
    let line = output
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line:\n{output}"));
    assert!(line.contains("4004"), "{line}");
    assert!(line.contains("rejected the bot token"), "{line}");
    assert!(line.contains("Reset Token"), "says what to do: {line}");
    assert!(!output.contains("Discord call failed"), "{output}");
    assert!(!output.contains(BOT_TOKEN), "the token is never printed");
    assert!(
        output.contains("store flushed"),
        "stopped cleanly:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_intents_end_the_bot_with_what_to_do() {
    for (close, says) in [
        (4013, "intents this bot asked for"),
        (4014, "Privileged Gateway Intents"),
    ] {
        let (code, output, _) = run_against(close).await;
        assert_eq!(code, Some(1), "{close}: {output}");
        let line = output
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("an error line:\n{output}"));
        assert!(line.contains(&close.to_string()), "{line}");
        assert!(line.contains(says), "{line}");
    }
}

/// What the fake gateway saw of the bot's sessions.
#[derive(Debug, Default)]
struct Sessions {
    /// Per connection: how it ended: `Some(code)` for a close frame from the bot, `None` when
    /// the connection dropped without one (what the server would log as 1006).
    ended: Vec<Option<u16>>,
    /// Connections opened.
    opened: usize,
}

/// A gateway that answers the IDENTIFY with READY and records how each session ends.
async fn ready_gateway() -> (String, Arc<parking_lot::Mutex<Sessions>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let sessions = Arc::new(parking_lot::Mutex::new(Sessions::default()));
    let log = sessions.clone();
    let resume_url = url.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = log.clone();
            let resume_url = resume_url.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let n = {
                    let mut s = log.lock();
                    s.opened += 1;
                    s.ended.push(None);
                    s.opened
                };
                let hello = r#"{"op":10,"d":{"heartbeat_interval":45000},"s":null,"t":null}"#;
                if ws.send(Message::Text(hello.into())).await.is_err() {
                    return;
                }
                loop {
                    let msg = ws.next().await;
                    let Some(Ok(msg)) = msg else {
                        return; // dropped without a close frame
                    };
                    match msg {
                        Message::Text(t) if t.contains("\"op\":2") => {
                            let ready = serde_json::json!({
                                "op": 0, "s": 1, "t": "READY",
                                "d": {
                                    "v": 10,
                                    "user": {"id": "1100000000000000001", "username": "soe-bot",
                                             "discriminator": "0", "avatar": null, "bot": true,
                                             "global_name": null},
                                    "guilds": [],
                                    "session_id": "session-1",
                                    "resume_gateway_url": resume_url,
                                    "shard": [0, 1],
                                    "application": {"id": "1100000000000000001", "flags": 0}
                                }
                            });
                            let _ = ws.send(Message::Text(ready.to_string())).await;
                        }
                        Message::Close(frame) => {
                            log.lock().ended[n - 1] = Some(frame.map_or(1005, |f| f.code.into()));
                            return;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (url, sessions)
}

/// `/readyz` of the bot at `web`: status and body (0 when it does not answer).
async fn readyz(client: &reqwest::Client, web: &str) -> (u16, String) {
    match client.get(format!("{web}/readyz")).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_the_gateway_session_with_a_close_frame_and_exits_0() {
    let site = fake_site().await;
    let (gateway, sessions) = ready_gateway().await;
    let api = rest_pointing_at(gateway).await;
    let dir = tempfile::tempdir().unwrap();
    let (child, web) = spawn_gateway_bot(&site, &api, dir.path());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    // Ready once READY arrived (the registration failing against this fake is only a note).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut last = (0, String::new());
    while last.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = readyz(&client, &web).await;
    }
    assert!(
        last.1.contains("- commands: registration failed"),
        "{last:?}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let (code, output) = output_of(child, dir.path()).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // The close frame reaches the fake just before the socket closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ended = sessions.lock().ended.clone();
    assert_eq!(
        ended,
        [Some(1000)],
        "the session was closed with a close frame, not dropped (1006):\n{output}"
    );
    assert!(output.contains("store flushed"), "{output}");
}

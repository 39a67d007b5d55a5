//! A gateway close that ends the bot for good, on the real binary (`soe-bot run` in gateway
//! mode): Discord's gateway answers the IDENTIFY with close 4004 (a rejected token), 4013 or
//! 4014 (refused intents), and the process exits non-zero with one line that says what is wrong
//! and what to do, not "Discord call failed", and without the token.
//!
//! The gateway here is a websocket on loopback that says Hello, reads the Identify and closes
//! with the code under test; `GET /api/v10/gateway` on a small REST fake points the bot at it.
//! The site is the fake SOE.

#![cfg(unix)]

use std::process::{Command, Stdio};
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

async fn run_against(code: u16) -> (Option<i32>, String, bool) {
    let clock: SharedClock = Arc::new(FixedClock::at(Utc::now()));
    let site = FakeSoe::start(FakeSoeConfig::new(clock)).await.unwrap();
    let (gateway, identified) = closing_gateway(code).await;
    let api = rest_pointing_at(gateway).await;
    let dir = tempfile::tempdir().unwrap();
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
        storage = dir.path().join("store").display(),
    );
    let path = dir.path().join("bot.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the bot stops on its own")
    .unwrap()
    .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (
        out.status.code(),
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

//! A fake Discord gateway on `127.0.0.1:0`: the websocket a gateway-mode bot holds, as
//! Discord's documentation describes it (API v10, JSON text frames).
//!
//! Per connection: HELLO (op 10) with a short heartbeat interval; IDENTIFY (op 2) starts a
//! session and is answered with READY (its `resume_gateway_url` is this fake) and one
//! GUILD_CREATE per guild the test declared; RESUME (op 6) with the current session id and a
//! sequence it knows replays the dispatches the bot missed, then RESUMED; a heartbeat (op 1) is
//! acknowledged (op 11). Dispatches ([`FakeGateway::dispatch`]) carry consecutive sequence
//! numbers within a session; a dispatch made while no session is live is held and delivered on
//! the next RESUME (what Discord does for a resumable session) or dropped by a new IDENTIFY
//! (a new session starts empty, as on Discord).
//!
//! The test drives the faults: [`FakeGateway::close_session`] closes the live connection with a
//! code (4000 "unknown error" is resumable), [`FakeGateway::invalidate_session`] sends op 9 with
//! `d = false`, after which only a new IDENTIFY is accepted. Everything the bot sent is
//! recorded: IDENTIFY and RESUME payloads (the token is replaced by its length, without a
//! `Bot ` prefix, before it is kept), heartbeats, and how each connection ended.
//!
//! Include it with `#[path = "support/fake_gateway.rs"] mod fake_gateway;`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// The bot's user in READY.
pub const BOT_USER: u64 = 1_100_000_000_000_000_777;

/// What the test can make the live session do.
enum Command {
    /// Send a dispatch (op 0) with this event name and data.
    Dispatch(String, Value),
    /// Close the connection with this code.
    Close(u16),
    /// Send op 9 (invalid session) with `d = resumable`.
    Invalidate(bool),
}

/// What the fake saw, and its session.
#[derive(Debug, Default)]
pub struct Seen {
    /// Connections opened.
    pub connections: usize,
    /// IDENTIFY payloads (`d`), token replaced by `"<token: N chars>"`.
    pub identifies: Vec<Value>,
    /// RESUME payloads (`d`), token replaced likewise.
    pub resumes: Vec<Value>,
    /// Heartbeats received (each acknowledged).
    pub heartbeats: usize,
    /// Per connection: the close code the bot sent, `None` while open or when it dropped
    /// without a close frame.
    pub ended: Vec<Option<u16>>,
    /// The events dispatched to the bot, in order, with their sequence numbers.
    pub dispatched: Vec<(u64, String)>,
}

#[derive(Default)]
struct State {
    seen: Seen,
    /// The current session (what a RESUME must name), `None` before the first IDENTIFY or after
    /// an op 9 with `d = false`.
    session_id: Option<String>,
    /// Sessions started so far (for fresh ids).
    sessions: u64,
    /// The last sequence number sent in the current session.
    seq: u64,
    /// Dispatches waiting for a live session.
    pending: VecDeque<(String, Value)>,
    /// The live connection's commands, when one is identified or resumed.
    live: Option<mpsc::UnboundedSender<Command>>,
    /// Guilds announced with GUILD_CREATE after READY.
    guilds: Vec<u64>,
}

/// The running fake gateway.
pub struct FakeGateway {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGateway {
    /// Binds `127.0.0.1:0`; every IDENTIFY is followed by a GUILD_CREATE for each of `guilds`.
    /// `heartbeat` is the interval HELLO asks for.
    pub async fn start(guilds: &[u64], heartbeat: Duration) -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake gateway");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            guilds: guilds.to_vec(),
            ..State::default()
        }));
        let shared = state.clone();
        let resume_url = url.clone();
        let interval = u64::try_from(heartbeat.as_millis()).unwrap_or(45_000);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(connection(
                    tcp,
                    shared.clone(),
                    resume_url.clone(),
                    interval,
                ));
            }
        });
        FakeGateway { url, state, task }
    }

    /// The `ws://` URL (what `GET /gateway` should answer).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Dispatches `event` with `data` to the live session, or holds it for the next RESUME.
    pub fn dispatch(&self, event: &str, data: Value) {
        let mut s = self.state.lock();
        match &s.live {
            Some(tx) => {
                let _ = tx.send(Command::Dispatch(event.into(), data));
            }
            None => s.pending.push_back((event.into(), data)),
        }
    }

    /// Closes the live connection with `code`; dispatches from now on wait for a RESUME.
    /// False when no session was live.
    pub fn close_session(&self, code: u16) -> bool {
        let live = self.state.lock().live.take();
        live.is_some_and(|tx| tx.send(Command::Close(code)).is_ok())
    }

    /// Sends op 9 on the live connection. With `resumable = false` the session is gone: only
    /// a new IDENTIFY starts one. False when no session was live.
    pub fn invalidate_session(&self, resumable: bool) -> bool {
        let live = {
            let mut s = self.state.lock();
            if !resumable {
                s.session_id = None;
            }
            s.live.take()
        };
        live.is_some_and(|tx| tx.send(Command::Invalidate(resumable)).is_ok())
    }

    /// Whether a session is live (identified or resumed, not closed).
    pub fn is_live(&self) -> bool {
        self.state.lock().live.is_some()
    }

    /// Waits (polling every 20 ms, up to `limit`) until a session is live.
    pub async fn wait_live(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.is_live() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Reads what the fake saw.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.state.lock().seen)
    }

    /// Waits (polling every 20 ms, up to `limit`) until `pred` holds of what the fake saw.
    pub async fn wait_until(&self, limit: Duration, pred: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if pred(&self.state.lock().seen) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `d` with its token replaced by its length (tests assert on the rest). serenity sends the
/// token with the `Bot ` prefix of the REST header, which Discord accepts; the length is that
/// of the token without it.
fn redacted(mut d: Value) -> Value {
    if let Some(token) = d.get("token").and_then(Value::as_str) {
        let n = token.strip_prefix("Bot ").unwrap_or(token).len();
        d["token"] = json!(format!("<token: {n} chars>"));
    }
    d
}

/// A dispatch frame with the next sequence number, recorded.
fn dispatch_frame(state: &Mutex<State>, event: &str, data: Value) -> Message {
    let mut s = state.lock();
    s.seq += 1;
    let seq = s.seq;
    s.seen.dispatched.push((seq, event.to_string()));
    Message::Text(json!({"op": 0, "s": seq, "t": event, "d": data}).to_string())
}

async fn connection(
    tcp: tokio::net::TcpStream,
    state: Arc<Mutex<State>>,
    resume_url: String,
    heartbeat_ms: u64,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let index = {
        let mut s = state.lock();
        s.seen.connections += 1;
        s.seen.ended.push(None);
        s.seen.connections - 1
    };
    let hello = json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": heartbeat_ms}});
    if ws.send(Message::Text(hello.to_string())).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
    loop {
        tokio::select! {
            command = rx.recv() => {
                let Some(command) = command else { continue };
                let frame = match command {
                    Command::Dispatch(event, data) => dispatch_frame(&state, &event, data),
                    Command::Close(code) => {
                        let _ = ws
                            .close(Some(CloseFrame {
                                code: CloseCode::from(code),
                                reason: "closed by the test".into(),
                            }))
                            .await;
                        // Read until the bot answers the close (or drops).
                        while let Some(Ok(_)) = ws.next().await {}
                        return;
                    }
                    Command::Invalidate(resumable) => Message::Text(
                        json!({"op": 9, "s": null, "t": null, "d": resumable}).to_string(),
                    ),
                };
                if ws.send(frame).await.is_err() {
                    return;
                }
            }
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else {
                    // Dropped without a close frame: `ended` stays None.
                    drop_live(&state, &tx);
                    return;
                };
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Close(frame) => {
                        state.lock().seen.ended[index] =
                            Some(frame.map_or(1005, |f| u16::from(f.code)));
                        drop_live(&state, &tx);
                        return;
                    }
                    _ => continue,
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                let d = payload.get("d").cloned().unwrap_or(Value::Null);
                let frames = match payload.get("op").and_then(Value::as_u64) {
                    Some(1) => {
                        state.lock().seen.heartbeats += 1;
                        vec![Message::Text(json!({"op": 11, "s": null, "t": null, "d": null}).to_string())]
                    }
                    Some(2) => identify(&state, d, &resume_url, &tx),
                    Some(6) => resume(&state, d, &tx),
                    _ => Vec::new(),
                };
                for frame in frames {
                    if ws.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Forgets `tx` as the live session if it still is.
fn drop_live(state: &Mutex<State>, tx: &mpsc::UnboundedSender<Command>) {
    let mut s = state.lock();
    if s.live.as_ref().is_some_and(|live| live.same_channel(tx)) {
        s.live = None;
    }
}

/// A new session: READY, a GUILD_CREATE per guild; held dispatches are dropped.
fn identify(
    state: &Mutex<State>,
    d: Value,
    resume_url: &str,
    tx: &mpsc::UnboundedSender<Command>,
) -> Vec<Message> {
    let (session_id, guilds) = {
        let mut s = state.lock();
        s.seen.identifies.push(redacted(d));
        s.sessions += 1;
        let id = format!("session-{}", s.sessions);
        s.session_id = Some(id.clone());
        s.seq = 0;
        s.pending.clear();
        s.live = Some(tx.clone());
        (id, s.guilds.clone())
    };
    let ready = json!({
        "v": 10,
        "user": {"id": BOT_USER.to_string(), "username": "soe-bot", "discriminator": "0",
                 "avatar": null, "bot": true, "global_name": null},
        "guilds": guilds.iter().map(|g| json!({"id": g.to_string(), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "shard": [0, 1],
        "application": {"id": "1100000000000000001", "flags": 0}
    });
    let mut frames = vec![dispatch_frame(state, "READY", ready)];
    for g in guilds {
        frames.push(dispatch_frame(state, "GUILD_CREATE", guild(g)));
    }
    frames
}

/// Resumes the current session: missed dispatches, then RESUMED. An unknown session gets op 9
/// (`d = false`).
fn resume(state: &Mutex<State>, d: Value, tx: &mpsc::UnboundedSender<Command>) -> Vec<Message> {
    let pending = {
        let mut s = state.lock();
        let named = d
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        s.seen.resumes.push(redacted(d));
        if named.is_none() || named != s.session_id {
            return vec![Message::Text(
                json!({"op": 9, "s": null, "t": null, "d": false}).to_string(),
            )];
        }
        s.live = Some(tx.clone());
        std::mem::take(&mut s.pending)
    };
    let mut frames: Vec<Message> = pending
        .into_iter()
        .map(|(event, data)| dispatch_frame(state, &event, data))
        .collect();
    frames.push(dispatch_frame(state, "RESUMED", json!({})));
    frames
}

/// A GUILD_CREATE guild object with the fields serenity requires.
pub fn guild(id: u64) -> Value {
    json!({
        "id": id.to_string(), "name": format!("guild {id}"), "icon": null, "icon_hash": null,
        "splash": null, "discovery_splash": null, "owner_id": "1000000000000000099",
        "afk_channel_id": null, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0, "roles": [],
        "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
        "vanity_url_code": null, "description": null, "banner": null, "premium_tier": 0,
        "preferred_locale": "en-US", "public_updates_channel_id": null, "nsfw_level": 0,
        "stickers": [], "premium_progress_bar_enabled": false,
        "joined_at": "2025-01-01T00:00:00.000000+00:00", "large": false, "member_count": 1,
        "voice_states": [], "members": [], "channels": [], "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": []
    })
}

//! A fake Discord REST API on `127.0.0.1:0` for the adapter's tests, and the Discord contract.
//!
//! serenity's `Http` reaches it through `discord.api_base` (`HttpBuilder::proxy`). It serves
//! the routes the bot uses under `/api/v10` (command bulk overwrite, global and per guild;
//! interaction callbacks; `@original` edits and deletes; follow-ups; DM channel creation;
//! channel messages; guild member look-ups; leaving a guild), answering plausible JSON (a
//! message object for edits and messages, a DM channel, the command list, a guild member or
//! Discord's 404 for a non-member), and records every exchange: method, path, route
//! template, query, JSON body, status, answer, and when it arrived. Faults (a status, e.g. 429
//! or 500) can be injected per route. [`FakeDiscord::check_contract`] validates every recorded
//! exchange, request and answer, against `tests/contract/discord-api-v10.contract.json`.
//!
//! Include it with the contract checker:
//! `#[path = "support/contract.rs"] mod contract;` and
//! `#[path = "support/fake_discord.rs"] mod fake_discord;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::contract::{Contract, Exchange};

/// Where the Discord contract lives, relative to the crate root.
pub const DISCORD_CONTRACT: &str = "tests/contract/discord-api-v10.contract.json";
/// The API prefix serenity uses.
pub const API: &str = "/api/v10";
/// The interaction callback route (the body the HTTP endpoint answers with is the same model).
pub const CALLBACK_ROUTE: &str = "/interactions/{interaction_id}/{interaction_token}/callback";
/// Edit / delete of the original interaction response.
pub const ORIGINAL_ROUTE: &str = "/webhooks/{webhook_id}/{webhook_token}/messages/@original";
/// Follow-up messages.
pub const FOLLOWUP_ROUTE: &str = "/webhooks/{webhook_id}/{webhook_token}";
/// Global command overwrite.
pub const GLOBAL_COMMANDS_ROUTE: &str = "/applications/{application_id}/commands";
/// Guild command overwrite.
pub const GUILD_COMMANDS_ROUTE: &str = "/applications/{application_id}/guilds/{guild_id}/commands";
/// DM channel creation.
pub const DM_ROUTE: &str = "/users/@me/channels";
/// Channel messages.
pub const MESSAGES_ROUTE: &str = "/channels/{channel_id}/messages";
/// Edit a channel message (a notification card, in place).
pub const MESSAGE_ROUTE: &str = "/channels/{channel_id}/messages/{message_id}";
/// Start a thread on a message (a question card).
pub const THREADS_ROUTE: &str = "/channels/{channel_id}/messages/{message_id}/threads";
/// One guild member (the DM gate's membership check).
pub const MEMBER_ROUTE: &str = "/guilds/{guild_id}/members/{user_id}";
/// Leaving a guild (`DELETE`).
pub const LEAVE_GUILD_ROUTE: &str = "/users/@me/guilds/{guild_id}";
/// One channel: which guild it belongs to (admin and subscription channel options), its
/// overwrites (doctor).
pub const CHANNEL_ROUTE: &str = "/channels/{channel_id}";
/// A guild's roles (doctor).
pub const ROLES_ROUTE: &str = "/guilds/{guild_id}/roles";
/// The bot's own user (doctor).
pub const ME_ROUTE: &str = "/users/@me";
/// The bot's user id in the fake.
pub const BOT_USER: u64 = 1_100_000_000_000_000_777;
/// What `@everyone` may do in a guild the fake knows, unless a test says otherwise: view,
/// send, embed links, read history, create public threads, send in threads.
pub const EVERYONE_PERMS: u64 =
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 35) | (1 << 38);
/// The gateway URL (asked by serenity's client builder).
pub const GATEWAY_ROUTE: &str = "/gateway";
/// What the fake answers for the gateway URL: a loopback port where nothing listens, so a
/// gateway client fails to connect without leaving the machine.
pub const GATEWAY_URL: &str = "ws://127.0.0.1:9";

const ROUTES: [(&str, &str); 18] = [
    ("GET", CHANNEL_ROUTE),
    ("GET", MESSAGES_ROUTE),
    ("GET", MESSAGE_ROUTE),
    ("GET", ROLES_ROUTE),
    ("GET", ME_ROUTE),
    ("PATCH", MESSAGE_ROUTE),
    ("POST", THREADS_ROUTE),
    ("PUT", GLOBAL_COMMANDS_ROUTE),
    ("PUT", GUILD_COMMANDS_ROUTE),
    ("POST", CALLBACK_ROUTE),
    ("PATCH", ORIGINAL_ROUTE),
    ("DELETE", ORIGINAL_ROUTE),
    ("POST", FOLLOWUP_ROUTE),
    ("POST", DM_ROUTE),
    ("POST", MESSAGES_ROUTE),
    ("GET", MEMBER_ROUTE),
    ("DELETE", LEAVE_GUILD_ROUTE),
    ("GET", GATEWAY_ROUTE),
];

/// The Discord contract with the official `"4XX"` range expanded to every 4xx code not
/// declared on its own (the generic loader only takes numeric statuses). Loaded once.
pub fn discord_contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DISCORD_CONTRACT);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        expand_ranges(&mut doc);
        Contract::from_value(DISCORD_CONTRACT, &doc)
            .unwrap_or_else(|e| panic!("{DISCORD_CONTRACT}: {e}"))
    })
}

/// Replaces each `"NXX"` response by `N00`…`N99` where not declared.
pub fn expand_ranges(doc: &mut Value) {
    let Some(ops) = doc.get_mut("operations").and_then(Value::as_object_mut) else {
        return;
    };
    for op in ops.values_mut() {
        let Some(resps) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let ranges: Vec<String> = resps
            .keys()
            .filter(|k| k.ends_with("XX"))
            .cloned()
            .collect();
        for key in ranges {
            let Some(r) = resps.remove(&key) else {
                continue;
            };
            let Some(first) = key.chars().next().and_then(|c| c.to_digit(10)) else {
                continue;
            };
            for code in first * 100..first * 100 + 100 {
                resps.entry(code.to_string()).or_insert_with(|| r.clone());
            }
        }
    }
}

/// Validates a body the bot answered Discord's `POST /interactions` with, as the interaction
/// callback's request body (the same model).
pub fn check_interaction_response(body: &Value) -> Result<(), Vec<String>> {
    let path = format!("{API}/interactions/1/token/callback");
    discord_contract().check_exchange(&Exchange {
        method: "POST",
        route: CALLBACK_ROUTE,
        path: &path,
        query: &[],
        body: Some(body),
        status: 204,
        content_type: None,
        response: None,
        malformed: false,
    })
}

/// One exchange the fake served.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Order of arrival (0-based).
    pub seq: usize,
    /// When it arrived.
    pub at: Instant,
    /// `GET`, `POST`, …
    pub method: String,
    /// The concrete path, e.g. `/api/v10/webhooks/1/tok/messages/@original`.
    pub path: String,
    /// The route template relative to `/api/v10`, or `"?"` when unknown.
    pub route: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// The JSON request body.
    pub body: Option<Value>,
    /// The answer's status.
    pub status: u16,
    /// The answer's JSON body.
    pub response: Option<Value>,
    /// The `Authorization` header was `Bot …`.
    pub bot_auth: bool,
}

impl Recorded {
    /// `METHOD route`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    route: String,
    status: u16,
    times: u32,
}

/// A channel permission overwrite: (role or member id, type 0 role / 1 member, allow, deny).
type Overwrite = (u64, u8, u64, u64);

struct Shared {
    log: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<Fault>>,
    roles: Mutex<Vec<(u64, u64, String)>>,
    members: Mutex<Vec<(u64, u64)>>,
    /// Channels: id → (guild, its overwrites).
    channels: Mutex<std::collections::HashMap<u64, (u64, Vec<Overwrite>)>>,
    /// Role permissions by role id (`@everyone` is the guild id; default [`EVERYONE_PERMS`]).
    role_perms: Mutex<std::collections::HashMap<u64, u64>>,
    /// The bot's roles per guild.
    bot_roles: Mutex<Vec<(u64, u64)>>,
    /// Messages created with `enforce_nonce`, by (channel, nonce): a repeat returns the first
    /// message instead of creating another, as Discord does.
    nonces: Mutex<std::collections::HashMap<(String, String), Value>>,
    /// DM channels by recipient: opening a DM with the same member again returns the same
    /// channel, as Discord does (so a resent DM's nonce is deduplicated).
    dm_channels: Mutex<std::collections::HashMap<String, u64>>,
    /// Channels deleted: every request about them answers 404 Unknown Channel.
    deleted_channels: Mutex<Vec<u64>>,
    /// What `GET /gateway` answers ([`GATEWAY_URL`] until a test points it at a fake gateway).
    gateway_url: Mutex<String>,
    /// Threads: id → (guild, parent channel, name).
    threads: Mutex<std::collections::HashMap<u64, (u64, u64, String)>>,
    /// Messages people wrote, per channel, oldest first (`GET …/messages` reads them).
    posted: Mutex<std::collections::HashMap<u64, Vec<Value>>>,
    /// The channels of [`Shared::channels`] that are forums (type 15; the others are text).
    forums: Mutex<Vec<u64>>,
    next_id: AtomicU64,
}

/// The running fake. Dropping it stops the server.
pub struct FakeDiscord {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDiscord {
    /// Binds `127.0.0.1:0` and serves.
    pub async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind fake Discord");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            roles: Mutex::new(Vec::new()),
            members: Mutex::new(Vec::new()),
            channels: Mutex::new(
                [(fixtures::CHANNEL, (fixtures::GUILD, Vec::new()))]
                    .into_iter()
                    .collect(),
            ),
            role_perms: Mutex::new(std::collections::HashMap::new()),
            bot_roles: Mutex::new(Vec::new()),
            nonces: Mutex::new(std::collections::HashMap::new()),
            dm_channels: Mutex::new(std::collections::HashMap::new()),
            deleted_channels: Mutex::new(Vec::new()),
            gateway_url: Mutex::new(GATEWAY_URL.to_string()),
            threads: Mutex::new(std::collections::HashMap::new()),
            posted: Mutex::new(std::collections::HashMap::new()),
            forums: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1_300_000_000_000_000_000),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT` (what `discord.api_base` is set to).
    pub fn base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).expect("base URL")
    }

    /// Points `GET /gateway` at `url` (a fake gateway's `ws://` address).
    pub fn set_gateway_url(&self, url: &str) {
        *self.shared.gateway_url.lock().expect("gateway url") = url.to_string();
    }

    /// Everything served so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().expect("log").clone()
    }

    /// The exchanges on `METHOD route`.
    pub fn on(&self, method: &str, route: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.route == route)
            .collect()
    }

    /// Answers the next `times` requests on `METHOD route` with `status` (429 with Discord's
    /// rate-limit body and headers; others with an error body).
    pub fn fail(&self, method: &str, route: &str, status: u16, times: u32) {
        self.shared.faults.lock().expect("faults").push(Fault {
            method: method.into(),
            route: route.into(),
            status,
            times,
        });
    }

    /// Forgets every armed fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("faults").clear();
    }

    /// Declares a role of `guild` (the bot no longer reads roles: admin roles are ids; tests
    /// declare them to show that a name grants nothing).
    pub fn add_role(&self, guild: u64, role: u64, name: &str) {
        self.shared
            .roles
            .lock()
            .expect("roles")
            .push((guild, role, name.into()));
    }

    /// Deletes `channel`: every later request about it answers 404 Unknown Channel.
    pub fn delete_channel(&self, channel: u64) {
        self.shared
            .channels
            .lock()
            .expect("channels")
            .remove(&channel);
        self.shared
            .deleted_channels
            .lock()
            .expect("channels")
            .push(channel);
    }

    /// Makes `user` a member of `guild` for `GET /guilds/{guild}/members/{user}`.
    pub fn add_member(&self, guild: u64, user: u64) {
        self.shared
            .members
            .lock()
            .expect("members")
            .push((guild, user));
    }

    /// Declares a text channel of `guild` for `GET /channels/{channel}` ([`fixtures::CHANNEL`]
    /// of [`fixtures::GUILD`] exists from the start).
    /// Adds a thread `thread` named `name` in `parent` of `guild`.
    pub fn add_thread(&self, guild: u64, parent: u64, thread: u64, name: &str) {
        self.shared
            .threads
            .lock()
            .expect("threads")
            .insert(thread, (guild, parent, name.to_string()));
    }

    /// A member's message `id` in `channel`, with `content` as Discord sends it (raw
    /// `<@id>` mentions, resolved in `mentions`); the newest last.
    pub fn add_message(
        &self,
        channel: u64,
        id: u64,
        author: (u64, &str),
        content: &str,
        mentions: &[(u64, &str)],
    ) {
        let mut m = message(
            id,
            &channel.to_string(),
            Some(&json!({ "content": content })),
        );
        let mut who = user(&author.0.to_string(), author.1);
        who["bot"] = json!(false);
        m["author"] = who;
        m["mentions"] = Value::Array(
            mentions
                .iter()
                .map(|(u, n)| {
                    let mut v = user(&u.to_string(), n);
                    v["bot"] = json!(false);
                    v
                })
                .collect(),
        );
        self.shared
            .posted
            .lock()
            .expect("posted")
            .entry(channel)
            .or_default()
            .push(m);
    }

    /// Declares a forum channel of `guild` (its threads are forum posts).
    pub fn add_forum(&self, guild: u64, channel: u64) {
        self.add_channel(guild, channel);
        self.shared.forums.lock().expect("forums").push(channel);
    }

    pub fn add_channel(&self, guild: u64, channel: u64) {
        self.shared
            .channels
            .lock()
            .expect("channels")
            .insert(channel, (guild, Vec::new()));
    }

    /// Adds a permission overwrite to `channel` for a role (the guild id for `@everyone`)
    /// or, with `member`, a user.
    pub fn overwrite(&self, channel: u64, id: u64, member: bool, allow: u64, deny: u64) {
        if let Some((_, o)) = self
            .shared
            .channels
            .lock()
            .expect("channels")
            .get_mut(&channel)
        {
            o.push((id, u8::from(member), allow, deny));
        }
    }

    /// Sets a role's permissions (the guild id for `@everyone`).
    pub fn set_role_permissions(&self, role: u64, perms: u64) {
        self.shared
            .role_perms
            .lock()
            .expect("roles")
            .insert(role, perms);
    }

    /// Gives the bot `role` in `guild`.
    pub fn give_bot_role(&self, guild: u64, role: u64) {
        self.shared
            .bot_roles
            .lock()
            .expect("roles")
            .push((guild, role));
    }

    /// The distinct messages created in `channel` (a send deduplicated by its nonce counts
    /// once), in order: Discord's message id with the request body that created it.
    pub fn channel_messages(&self, channel: u64) -> Vec<(String, Value)> {
        let route = format!("/channels/{channel}/messages");
        let mut out: Vec<(String, Value)> = Vec::new();
        for r in self.requests() {
            if r.method == "POST" && r.path.ends_with(&route) && r.status == 200 {
                let id = r
                    .response
                    .as_ref()
                    .and_then(|m| m.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if !out.iter().any(|(o, _)| *o == id) {
                    out.push((id, r.body.clone().unwrap_or(Value::Null)));
                }
            }
        }
        out
    }

    /// Waits until some exchange matches `pred` (polling every 10 ms), up to `limit`.
    pub async fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Option<Recorded> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| pred(r)) {
                return Some(r);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Validates every recorded exchange (request and answer) against the Discord contract;
    /// panics listing every violation. Returns how many were checked.
    pub fn check_contract(&self) -> usize {
        let log = self.requests();
        let contract = discord_contract();
        let mut errors = Vec::new();
        for r in &log {
            let ex = Exchange {
                method: &r.method,
                route: &r.route,
                path: &r.path,
                query: &r.query,
                body: r.body.as_ref(),
                status: r.status,
                content_type: r.response.as_ref().map(|_| "application/json"),
                response: r.response.as_ref(),
                malformed: false,
            };
            if let Err(e) = contract.check_exchange(&ex) {
                errors.extend(
                    e.into_iter()
                        .map(|e| format!("#{} {} {}: {e}", r.seq, r.method, r.path)),
                );
            }
        }
        assert!(
            errors.is_empty(),
            "contract violations:\n{}",
            errors.join("\n")
        );
        log.len()
    }
}

fn route_of(method: &Method, path: &str) -> Option<&'static str> {
    let rel = path.strip_prefix(API)?;
    let segs: Vec<&str> = rel.split('/').skip(1).collect();
    ROUTES.iter().find_map(|(m, route)| {
        if *m != method.as_str() {
            return None;
        }
        let tsegs: Vec<&str> = route.split('/').skip(1).collect();
        let ok = tsegs.len() == segs.len()
            && tsegs
                .iter()
                .zip(&segs)
                .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
        ok.then_some(*route)
    })
}

fn user(id: &str, name: &str) -> Value {
    json!({
        "id": id, "username": name, "avatar": null, "discriminator": "0", "public_flags": 0,
        "flags": 0, "bot": true, "global_name": null, "primary_guild": null
    })
}

fn message(id: u64, channel: &str, body: Option<&Value>) -> Value {
    let content = body
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let flags = body
        .and_then(|b| b.get("flags"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "id": id.to_string(), "channel_id": channel, "type": 0, "content": content,
        "author": user("1100000000000000001", "soe-bot"), "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "components": [],
        "timestamp": "2026-11-29T12:00:00.000000+00:00", "edited_timestamp": null,
        "flags": flags, "pinned": false, "mention_everyone": false, "tts": false
    })
}

fn commands_answer(
    app: &str,
    guild: Option<&str>,
    body: Option<&Value>,
    next: &AtomicU64,
) -> Value {
    let items = body.and_then(Value::as_array).cloned().unwrap_or_default();
    Value::Array(
        items
            .iter()
            .map(|c| {
                let mut out = json!({
                    "id": next.fetch_add(1, Ordering::SeqCst).to_string(),
                    "application_id": app,
                    "version": "1300000000000000099",
                    "type": c.get("type").cloned().unwrap_or(json!(1)),
                    "name": c.get("name").cloned().unwrap_or(json!("")),
                    "description": c.get("description").and_then(Value::as_str).unwrap_or(""),
                    "default_member_permissions": c
                        .get("default_member_permissions")
                        .filter(|p| !p.is_null())
                        .map(|p| json!(p.as_u64().map(|n| n.to_string()).or_else(|| p.as_str().map(String::from))))
                        .unwrap_or(Value::Null),
                    "options": c.get("options").cloned().unwrap_or(json!([])),
                    "contexts": c.get("contexts").cloned().unwrap_or(Value::Null),
                    "integration_types": c.get("integration_types").cloned().unwrap_or(json!([0])),
                    "nsfw": false,
                });
                if let Some(dm) = c.get("dm_permission").and_then(Value::as_bool) {
                    out["dm_permission"] = json!(dm);
                }
                if let Some(g) = guild {
                    out["guild_id"] = json!(g);
                }
                out
            })
            .collect(),
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_string();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let bot_auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bot "));
    let route = route_of(&method, &path);
    let seq = {
        let mut log = shared.log.lock().expect("log");
        let seq = log.len();
        log.push(Recorded {
            seq,
            at,
            method: method.to_string(),
            path: path.clone(),
            route: route.unwrap_or("?").to_string(),
            query: query.clone(),
            body: json_body.clone(),
            status: 0,
            response: None,
            bot_auth,
        });
        seq
    };
    let fault = route.and_then(|route| {
        let mut faults = shared.faults.lock().expect("faults");
        let i = faults
            .iter()
            .position(|f| f.method == method.as_str() && f.route == route && f.times > 0)?;
        faults[i].times -= 1;
        Some(faults[i].status)
    });
    let segs: Vec<&str> = path.split('/').collect();
    let seg = |i: usize| segs.get(i).copied().unwrap_or_default().to_string();
    let deleted = segs
        .get(4)
        .and_then(|c| c.parse::<u64>().ok())
        .is_some_and(|c| {
            path.starts_with(&format!("{API}/channels/"))
                && shared
                    .deleted_channels
                    .lock()
                    .expect("channels")
                    .contains(&c)
        });
    let fault = if deleted && fault.is_none() {
        Some(404)
    } else {
        fault
    };
    let (status, answer): (u16, Option<Value>) = match (fault, route) {
        (Some(404), _) if deleted => (
            404,
            Some(json!({"message": "Unknown Channel", "code": 10003})),
        ),
        (Some(429), _) => (
            429,
            Some(
                json!({"message": "You are being rate limited.", "retry_after": 0.05, "global": false, "code": 0}),
            ),
        ),
        // Discord's own 404 bodies: an interaction token it no longer knows (the 3 s window or
        // the 15 min token are over), a webhook (the interaction token's messages), a channel.
        (Some(404), Some(CALLBACK_ROUTE)) => (
            404,
            Some(json!({"message": "Unknown interaction", "code": 10062})),
        ),
        (Some(404), Some(ORIGINAL_ROUTE | FOLLOWUP_ROUTE)) => (
            404,
            Some(json!({"message": "Unknown Webhook", "code": 10015})),
        ),
        (Some(404), Some(MESSAGES_ROUTE | MESSAGE_ROUTE)) => (
            404,
            Some(json!({"message": "Unknown Channel", "code": 10003})),
        ),
        (Some(s), _) => (
            s,
            Some(json!({"message": format!("fake failure {s}"), "code": 0})),
        ),
        (None, None) => (404, Some(json!({"message": "404: Not Found", "code": 0}))),
        (None, Some(route)) => {
            let next = || shared.next_id.fetch_add(1, Ordering::SeqCst);
            match route {
                GLOBAL_COMMANDS_ROUTE => (
                    200,
                    Some(commands_answer(
                        &seg(4),
                        None,
                        json_body.as_ref(),
                        &shared.next_id,
                    )),
                ),
                GUILD_COMMANDS_ROUTE => (
                    200,
                    Some(commands_answer(
                        &seg(4),
                        Some(&seg(6)),
                        json_body.as_ref(),
                        &shared.next_id,
                    )),
                ),
                CALLBACK_ROUTE => (204, None),
                ORIGINAL_ROUTE if method == Method::DELETE => (204, None),
                ORIGINAL_ROUTE | FOLLOWUP_ROUTE => (
                    200,
                    Some(message(next(), "1200000000000000001", json_body.as_ref())),
                ),
                DM_ROUTE => {
                    let recipient = json_body
                        .as_ref()
                        .and_then(|b| b.get("recipient_id"))
                        .and_then(|v| {
                            v.as_str()
                                .map(String::from)
                                .or_else(|| v.as_u64().map(|n| n.to_string()))
                        })
                        .unwrap_or_default();
                    let channel = *shared
                        .dm_channels
                        .lock()
                        .expect("dm channels")
                        .entry(recipient.clone())
                        .or_insert_with(next);
                    (
                        200,
                        Some(json!({
                            "id": channel.to_string(), "type": 1, "last_message_id": null, "flags": 0,
                            "recipients": [user(&recipient, "member")]
                        })),
                    )
                }
                MESSAGES_ROUTE if method == Method::GET => {
                    let limit: usize = query
                        .iter()
                        .find(|(k, _)| k == "limit")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(50);
                    let mut list = shared
                        .posted
                        .lock()
                        .expect("posted")
                        .get(&seg(4).parse().unwrap_or(0))
                        .cloned()
                        .unwrap_or_default();
                    // Newest first, as Discord lists them.
                    list.reverse();
                    list.truncate(limit);
                    (200, Some(Value::Array(list)))
                }
                MESSAGES_ROUTE => {
                    let nonce = json_body
                        .as_ref()
                        .filter(|b| b.get("enforce_nonce").and_then(Value::as_bool) == Some(true))
                        .and_then(|b| b.get("nonce"))
                        .map(|n| {
                            n.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| n.to_string())
                        });
                    match nonce {
                        Some(nonce) => {
                            let mut seen = shared.nonces.lock().expect("nonces");
                            let m = seen
                                .entry((seg(4), nonce))
                                .or_insert_with(|| message(next(), &seg(4), json_body.as_ref()))
                                .clone();
                            (200, Some(m))
                        }
                        None => (200, Some(message(next(), &seg(4), json_body.as_ref()))),
                    }
                }
                MESSAGE_ROUTE if method == Method::GET => {
                    let id = seg(6);
                    let found = shared
                        .posted
                        .lock()
                        .expect("posted")
                        .get(&seg(4).parse().unwrap_or(0))
                        .and_then(|l| l.iter().find(|m| m["id"] == json!(id)).cloned());
                    match found {
                        Some(m) => (200, Some(m)),
                        None => (
                            404,
                            Some(json!({"message": "Unknown Message", "code": 10008})),
                        ),
                    }
                }
                MESSAGE_ROUTE => (
                    200,
                    Some(message(
                        seg(6).parse().unwrap_or(0),
                        &seg(4),
                        json_body.as_ref(),
                    )),
                ),
                THREADS_ROUTE => {
                    let name = json_body
                        .as_ref()
                        .and_then(|b| b.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("thread")
                        .to_string();
                    let guild = shared
                        .channels
                        .lock()
                        .expect("channels")
                        .get(&seg(4).parse().unwrap_or(0))
                        .map(|(g, _)| g.to_string())
                        .unwrap_or_else(|| "1000000000000000001".into());
                    (
                        201,
                        Some(json!({
                            "id": seg(6), "type": 11, "flags": 0, "guild_id": guild, "name": name,
                            "parent_id": seg(4), "owner_id": "1100000000000000001",
                            "last_message_id": null, "rate_limit_per_user": 0,
                            "thread_metadata": {"archived": false, "archive_timestamp": "2026-11-29T12:00:00.000000+00:00",
                                "auto_archive_duration": 1440, "locked": false},
                            "message_count": 0, "member_count": 1, "total_message_sent": 0
                        })),
                    )
                }
                CHANNEL_ROUTE
                    if shared
                        .threads
                        .lock()
                        .expect("threads")
                        .contains_key(&seg(4).parse().unwrap_or(0)) =>
                {
                    let id = seg(4);
                    let (guild, parent, name) = shared
                        .threads
                        .lock()
                        .expect("threads")
                        .get(&id.parse().unwrap_or(0))
                        .cloned()
                        .unwrap_or_default();
                    (
                        200,
                        Some(json!({
                            "id": id, "type": 11, "flags": 0, "guild_id": guild.to_string(),
                            "name": name, "parent_id": parent.to_string(),
                            "owner_id": "1100000000000000002", "last_message_id": null,
                            "rate_limit_per_user": 0,
                            "thread_metadata": {"archived": false, "archive_timestamp": "2026-11-29T12:00:00.000000+00:00",
                                "auto_archive_duration": 1440, "locked": false},
                            "message_count": 2, "member_count": 2, "total_message_sent": 2
                        })),
                    )
                }
                CHANNEL_ROUTE => {
                    let id: u64 = seg(4).parse().unwrap_or(0);
                    let kind = if shared.forums.lock().expect("forums").contains(&id) {
                        15
                    } else {
                        0
                    };
                    match shared.channels.lock().expect("channels").get(&id) {
                        Some((guild, overwrites)) => (
                            200,
                            Some(json!({
                                "id": id.to_string(), "type": kind, "flags": 0,
                                "guild_id": guild.to_string(), "name": format!("channel-{id}"),
                                "position": 0,
                                "permission_overwrites": overwrites.iter().map(|(o, kind, allow, deny)| json!({
                                    "id": o.to_string(), "type": kind,
                                    "allow": allow.to_string(), "deny": deny.to_string()
                                })).collect::<Vec<_>>()
                            })),
                        ),
                        None => (
                            404,
                            Some(json!({"message": "Unknown Channel", "code": 10003})),
                        ),
                    }
                }
                ROLES_ROUTE => {
                    let guild: u64 = seg(4).parse().unwrap_or(0);
                    let perms = shared.role_perms.lock().expect("roles").clone();
                    let perm = |id: u64, default: u64| {
                        perms.get(&id).copied().unwrap_or(default).to_string()
                    };
                    let role = |id: u64, name: &str, p: String, position: u32| {
                        json!({
                            "id": id.to_string(), "name": name, "permissions": p,
                            "position": position, "color": 0,
                            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
                            "hoist": false, "managed": false, "mentionable": false,
                            "icon": null, "unicode_emoji": null, "flags": 0
                        })
                    };
                    let mut list = vec![role(guild, "@everyone", perm(guild, EVERYONE_PERMS), 0)];
                    let mut position = 1;
                    for (g, id, name) in shared.roles.lock().expect("roles").iter() {
                        if *g == guild {
                            list.push(role(*id, name, perm(*id, 0), position));
                            position += 1;
                        }
                    }
                    for (g, id) in shared.bot_roles.lock().expect("roles").iter() {
                        if *g == guild
                            && !list
                                .iter()
                                .any(|r| r["id"].as_str() == Some(id.to_string().as_str()))
                        {
                            list.push(role(*id, "soe-bot", perm(*id, 0), position));
                            position += 1;
                        }
                    }
                    (200, Some(Value::Array(list)))
                }
                ME_ROUTE => (
                    200,
                    Some(json!({
                        "id": BOT_USER.to_string(), "username": "soe-bot", "avatar": null,
                        "discriminator": "0", "public_flags": 0, "flags": 0,
                        "global_name": null, "mfa_enabled": false, "locale": "en-US", "bot": true
                    })),
                ),
                MEMBER_ROUTE if seg(6) == BOT_USER.to_string() => {
                    let guild: u64 = seg(4).parse().unwrap_or(0);
                    let roles: Vec<String> = shared
                        .bot_roles
                        .lock()
                        .expect("roles")
                        .iter()
                        .filter(|(g, _)| *g == guild)
                        .map(|(_, r)| r.to_string())
                        .collect();
                    (
                        200,
                        Some(json!({
                            "user": user(&BOT_USER.to_string(), "soe-bot"),
                            "nick": null, "avatar": null, "banner": null, "roles": roles,
                            "joined_at": "2025-01-01T00:00:00.000000+00:00",
                            "premium_since": null, "deaf": false, "mute": false, "flags": 0,
                            "pending": false, "communication_disabled_until": null
                        })),
                    )
                }
                MEMBER_ROUTE => {
                    let guild: u64 = seg(4).parse().unwrap_or(0);
                    let uid: u64 = seg(6).parse().unwrap_or(0);
                    let member = shared
                        .members
                        .lock()
                        .expect("members")
                        .contains(&(guild, uid));
                    if member {
                        (
                            200,
                            Some(json!({
                                "user": user(&uid.to_string(), "member"),
                                "nick": null, "avatar": null, "banner": null, "roles": [],
                                "joined_at": "2025-01-01T00:00:00.000000+00:00",
                                "premium_since": null, "deaf": false, "mute": false, "flags": 0,
                                "pending": false, "communication_disabled_until": null
                            })),
                        )
                    } else {
                        (
                            404,
                            Some(json!({"message": "Unknown Member", "code": 10007})),
                        )
                    }
                }
                LEAVE_GUILD_ROUTE => (204, None),
                GATEWAY_ROUTE => {
                    let url = shared.gateway_url.lock().expect("gateway url").clone();
                    (200, Some(json!({ "url": url })))
                }
                _ => (404, Some(json!({"message": "404: Not Found", "code": 0}))),
            }
        }
    };
    {
        let mut log = shared.log.lock().expect("log");
        if let Some(r) = log.get_mut(seq) {
            r.status = status;
            r.response = answer.clone();
        }
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = match answer {
        Some(v) => (code, axum::Json(v)).into_response(),
        None => code.into_response(),
    };
    if status == 429 {
        let h = res.headers_mut();
        h.insert("retry-after", HeaderValue::from_static("0.05"));
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset-after", HeaderValue::from_static("0.05"));
        h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    }
    res
}

/// Signed interaction fixtures: Discord's JSON for each interaction type, and the signature
/// headers made with a fixed test key.
pub mod fixtures {
    use std::sync::atomic::{AtomicU64, Ordering};

    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::{json, Value};

    /// The application id the tests use.
    pub const APP_ID: u64 = 1_100_000_000_000_000_001;
    /// The guild the tests use.
    pub const GUILD: u64 = 1_000_000_000_000_000_001;
    /// The channel the tests use.
    pub const CHANNEL: u64 = 1_000_000_000_000_000_010;
    /// Discord's MANAGE_GUILD bit.
    pub const MANAGE_GUILD: u64 = 1 << 5;
    /// The permissions of an ordinary member (view, send, read history, use commands).
    pub const MEMBER_PERMS: u64 = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31);

    static NEXT: AtomicU64 = AtomicU64::new(1_250_000_000_000_000_000);

    /// A fresh snowflake.
    pub fn snowflake() -> u64 {
        NEXT.fetch_add(1, Ordering::SeqCst)
    }

    /// The test signing key (a fixed seed).
    pub fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    /// Another key, for "signed by someone else".
    pub fn other_key() -> SigningKey {
        SigningKey::from_bytes(&[9u8; 32])
    }

    /// The public key in hex, as configured in `discord.public_key`.
    pub fn public_key_hex() -> String {
        hex::encode(key().verifying_key().to_bytes())
    }

    /// The hex signature of `timestamp ‖ body` with `key`.
    pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut msg = timestamp.as_bytes().to_vec();
        msg.extend_from_slice(body);
        hex::encode(key.sign(&msg).to_bytes())
    }

    /// Who acts.
    #[derive(Debug, Clone)]
    pub struct Who {
        /// User id.
        pub id: u64,
        /// Username.
        pub name: String,
        /// Guild nickname.
        pub nick: Option<String>,
        /// `member.permissions`; `None` makes it a DM (no member, no guild).
        pub permissions: Option<u64>,
        /// Role ids.
        pub roles: Vec<u64>,
        /// The guild the interaction comes from (when not a DM); [`GUILD`] unless changed.
        pub guild: u64,
        /// Authorised by the user's own install of the app rather than the guild's.
        pub user_install: bool,
    }

    impl Who {
        /// An ordinary member of [`GUILD`].
        pub fn member(id: u64, name: &str) -> Who {
            Who {
                id,
                name: name.into(),
                nick: None,
                permissions: Some(MEMBER_PERMS),
                roles: vec![],
                guild: GUILD,
                user_install: false,
            }
        }
        /// A member with Manage Server.
        pub fn admin(id: u64, name: &str) -> Who {
            Who {
                permissions: Some(MEMBER_PERMS | MANAGE_GUILD),
                ..Who::member(id, name)
            }
        }
        /// The same user in a DM with the bot.
        pub fn in_dm(mut self) -> Who {
            self.permissions = None;
            self
        }
        /// With roles.
        pub fn roles(mut self, roles: &[u64]) -> Who {
            self.roles = roles.to_vec();
            self
        }
        /// With a nickname.
        pub fn nick(mut self, nick: &str) -> Who {
            self.nick = Some(nick.into());
            self
        }
        /// Acting in another guild.
        pub fn in_guild(mut self, guild: u64) -> Who {
            self.guild = guild;
            self
        }
        /// Through the user's own install of the app (`authorizing_integration_owners` holds
        /// only the user), e.g. in a server that never installed the bot.
        pub fn user_installed(mut self) -> Who {
            self.user_install = true;
            self
        }
    }

    /// A user object.
    pub fn user(id: u64, name: &str) -> Value {
        json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": null,
               "avatar": null, "public_flags": 0})
    }

    /// The interaction envelope: `kind` 1 ping, 2 command, 3 component, 4 autocomplete,
    /// 5 modal submit. `id` is the interaction id; the token is `tok-<id>`.
    pub fn envelope(id: u64, kind: u8, data: Value, who: &Who) -> Value {
        let mut v = json!({
            "id": id.to_string(),
            "application_id": APP_ID.to_string(),
            "type": kind,
            "data": data,
            "channel_id": CHANNEL.to_string(),
            "channel": {"id": CHANNEL.to_string(), "type": 0},
            "token": token(id),
            "version": 1,
            "locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "attachment_size_limit": 10485760,
        });
        match who.permissions {
            Some(perms) => {
                v["guild_id"] = json!(who.guild.to_string());
                v["guild_locale"] = json!("en-US");
                v["context"] = json!(0);
                v["authorizing_integration_owners"] = if who.user_install {
                    json!({"1": who.id.to_string()})
                } else {
                    json!({"0": who.guild.to_string()})
                };
                v["member"] = json!({
                    "user": user(who.id, &who.name),
                    "nick": who.nick,
                    "avatar": null,
                    "roles": who.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    "joined_at": "2025-01-01T00:00:00.000000+00:00",
                    "premium_since": null,
                    "deaf": false,
                    "mute": false,
                    "flags": 0,
                    "pending": false,
                    "permissions": perms.to_string(),
                    "communication_disabled_until": null,
                });
            }
            None => {
                v["channel"] = json!({"id": CHANNEL.to_string(), "type": 1});
                v["context"] = json!(1);
                // A DM with the bot through its guild install: Discord sends "0" for the guild.
                v["authorizing_integration_owners"] = if who.user_install {
                    json!({"1": who.id.to_string()})
                } else {
                    json!({"0": "0"})
                };
                v["user"] = user(who.id, &who.name);
            }
        }
        v
    }

    /// The token of interaction `id`.
    pub fn token(id: u64) -> String {
        format!("tok-{id}-aW50ZXJhY3Rpb24")
    }

    /// A PING.
    pub fn ping() -> Value {
        json!({"id": snowflake().to_string(), "application_id": APP_ID.to_string(), "type": 1,
               "token": "tok-ping", "version": 1})
    }

    /// A string option.
    pub fn opt(name: &str, value: &str) -> Value {
        json!({"name": name, "type": 3, "value": value})
    }

    /// `/so <sub> …options`.
    pub fn so(sub: &str, options: Vec<Value>) -> Value {
        json!({"id": "1300000000000000001", "name": "so", "type": 1,
               "options": [{"name": sub, "type": 1, "options": options}]})
    }

    /// `/so-admin <path…>` with `options` on the last subcommand (a group for a two-part path).
    pub fn so_admin(path: &[&str], options: Vec<Value>) -> Value {
        let leaf = json!({"name": path[path.len() - 1], "type": 1, "options": options});
        let top = if path.len() == 2 {
            json!({"name": path[0], "type": 2, "options": [leaf]})
        } else {
            leaf
        };
        json!({"id": "1300000000000000002", "name": "so-admin", "type": 1, "options": [top]})
    }

    /// A channel option.
    pub fn channel_opt(channel: u64) -> Value {
        json!({"name": "channel", "type": 7, "value": channel.to_string()})
    }

    /// `/so-admin channel <verb> [channel]`.
    pub fn so_admin_channel(verb: &str, channel: Option<u64>) -> Value {
        let options: Vec<Value> = channel
            .map(|c| vec![json!({"name": "channel", "type": 7, "value": c.to_string()})])
            .unwrap_or_default();
        json!({"id": "1300000000000000002", "name": "so-admin", "type": 1,
               "options": [{"name": "channel", "type": 2,
                            "options": [{"name": verb, "type": 1, "options": options}]}]})
    }

    /// Autocomplete of `/so <sub>` with `focused` being typed as `typed`.
    pub fn autocomplete(sub: &str, focused: &str, typed: &str) -> Value {
        json!({"id": "1300000000000000001", "name": "so", "type": 1,
               "options": [{"name": sub, "type": 1, "options": [
                   {"name": focused, "type": 3, "value": typed, "focused": true}]}]})
    }

    /// A message object in [`CHANNEL`].
    pub fn message(id: u64, author: u64, author_name: &str, content: &str) -> Value {
        json!({
            "id": id.to_string(), "channel_id": CHANNEL.to_string(), "type": 0,
            "author": user(author, author_name), "content": content,
            "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "flags": 0, "components": []
        })
    }

    /// A message command on a message by `author`.
    pub fn message_command(name: &str, author: u64, author_name: &str, content: &str) -> Value {
        let mid = snowflake();
        json!({"id": "1300000000000000003", "name": name, "type": 3, "target_id": mid.to_string(),
               "resolved": {"messages": {mid.to_string(): message(mid, author, author_name, content)}}})
    }

    /// A button press's data (the envelope also needs [`with_message`]).
    pub fn button(custom_id: &str) -> Value {
        json!({"custom_id": custom_id, "component_type": 2})
    }

    /// Adds the message a component was on.
    pub fn with_message(mut v: Value) -> Value {
        v["message"] = message(snowflake(), APP_ID, "soe-bot", "");
        v
    }

    /// A modal submit's data.
    pub fn modal(custom_id: &str, fields: &[(&str, &str)]) -> Value {
        json!({"custom_id": custom_id, "components": fields.iter().map(|(id, value)| json!({
            "type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]
        })).collect::<Vec<_>>()})
    }
}

/// The adapter wired to a fake Discord: serenity's REST client through the fake, and the
/// signed `/interactions` endpoint around an `App`.
pub mod harness {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use serde_json::Value;
    use serenity::http::Http;
    use soe_bot::app::App;
    use soe_bot::clock::SharedClock;
    use soe_bot::discord::respond::Flow;
    use tower::ServiceExt;

    use super::fixtures;
    use super::FakeDiscord;

    /// A fake Discord, a REST client pointed at it, and the endpoint for `app`.
    pub struct Wired {
        /// The fake REST API.
        pub discord: FakeDiscord,
        /// serenity's client, through `discord.api_base` = the fake.
        pub http: Arc<Http>,
        /// `POST /interactions`.
        pub router: axum::Router,
        /// The endpoint's clock (signing uses it too).
        pub clock: SharedClock,
        /// The app.
        pub app: Arc<App>,
    }

    /// Starts a fake Discord and wires `app` to it.
    pub async fn wire(app: Arc<App>, clock: SharedClock) -> Wired {
        let discord = FakeDiscord::start().await;
        let http = Arc::new(
            soe_bot::discord::rest::build_http("test-bot-token", fixtures::APP_ID, &discord.base())
                .expect("http"),
        );
        let router = soe_bot::discord::interactions_router(
            app.clone(),
            &fixtures::public_key_hex(),
            http.clone(),
            clock.clone(),
        )
        .expect("router");
        Wired {
            discord,
            http,
            router,
            clock,
            app,
        }
    }

    impl Wired {
        /// The gateway flow through the fake.
        pub fn flow(&self) -> Flow {
            Flow {
                app: self.app.clone(),
                http: self.http.clone(),
            }
        }

        /// The signature headers for `body` at the clock's now (+ `skew_secs`).
        pub fn signed(&self, body: &[u8], skew_secs: i64) -> Vec<(&'static str, String)> {
            let ts = (self.clock.now().timestamp() + skew_secs).to_string();
            vec![
                (
                    "x-signature-ed25519",
                    fixtures::sign(&fixtures::key(), &ts, body),
                ),
                ("x-signature-timestamp", ts),
            ]
        }

        /// POSTs raw `body` with `headers`; returns the status and the JSON answer.
        pub async fn post_raw(
            &self,
            body: Vec<u8>,
            headers: &[(&str, String)],
        ) -> (u16, Option<Value>) {
            let mut req = Request::post("/interactions").header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            let res = self
                .router
                .clone()
                .oneshot(req.body(Body::from(body)).expect("request"))
                .await
                .expect("infallible");
            let status = res.status().as_u16();
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, serde_json::from_slice(&bytes).ok())
        }

        /// POSTs `interaction`, correctly signed; returns the status and the JSON answer.
        pub async fn send(&self, interaction: &Value) -> (u16, Option<Value>) {
            let body = serde_json::to_vec(interaction).expect("json");
            let headers = self.signed(&body, 0);
            self.post_raw(body, &headers).await
        }
    }
}

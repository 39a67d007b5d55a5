//! The interaction flow shared by the gateway and the HTTP endpoint.
//!
//! [`Flow::start`] turns an interaction into its first response: for [`Ack::Immediate`] the use
//! case runs (bounded by [`IMMEDIATE_BUDGET`], well inside Discord's 3 s) and its reply is the
//! response; for the deferring acks the response is the defer, computed without any SOE call,
//! and the use case runs later in [`Pending::finish`] (bounded by [`HANDLE_TIMEOUT`], inside
//! the interaction token's 15 minutes), whose reply is delivered through the REST API (edit
//! of `@original`, or follow-ups). The gateway sends the first response through the REST
//! callback; the HTTP endpoint returns it as the HTTP body.
//!
//! Invariants: the use case of a deferred interaction runs even if sending the defer failed
//! (it stores the member's draft before anything else), and a failed Discord call is logged
//! (never with the interaction, whose token is a secret) and never panics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use serenity::all::{CreateInteractionResponse, GuildId, Interaction};
use serenity::http::Http;

use super::convert::{self, Finish};
use super::rest::{self, Idempotent};
use crate::app::App;
use crate::commands::{Ack, Invocation, Reply};

/// Longest an immediate reply may take before a fallback is sent instead.
pub const IMMEDIATE_BUDGET: Duration = Duration::from_millis(2500);
/// Longest a deferred use case may run: the interaction token lives 15 minutes, and the edit
/// needs a margin.
pub const HANDLE_TIMEOUT: Duration = Duration::from_secs(14 * 60);

const TOO_SLOW: &str =
    "That took too long, so nothing more will happen here. Try again in a moment.";
const UNSUPPORTED: &str = "This bot does not handle that kind of interaction. Try `/so help`.";

/// Role names of a guild, for `discord.admin_roles` (the gateway reads its cache; the HTTP
/// endpoint asks the REST API).
#[async_trait]
pub trait RoleNames: Send + Sync {
    /// The names of `roles` in `guild` that are known.
    async fn names(&self, guild: u64, roles: &[u64]) -> Vec<String>;
}

/// Role names from `GET /guilds/{id}/roles`, cached per guild for five minutes.
pub struct RestRoles {
    http: Arc<Http>,
    cache: Mutex<HashMap<u64, CachedRoles>>,
}

/// When a guild's roles were read, and their names by id.
type CachedRoles = (Instant, HashMap<u64, String>);

impl RestRoles {
    /// Looks roles up through `http`.
    pub fn new(http: Arc<Http>) -> Self {
        Self {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

const ROLE_CACHE_TTL: Duration = Duration::from_secs(300);

#[async_trait]
impl RoleNames for RestRoles {
    async fn names(&self, guild: u64, roles: &[u64]) -> Vec<String> {
        let cached = self
            .cache
            .lock()
            .get(&guild)
            .filter(|(at, _)| at.elapsed() < ROLE_CACHE_TTL)
            .map(|(_, m)| m.clone());
        let map = match cached {
            Some(m) => m,
            None => {
                let Some(id) = std::num::NonZeroU64::new(guild).map(GuildId::from) else {
                    return vec![];
                };
                match rest::call(Idempotent::Yes, "get guild roles", || {
                    self.http.get_guild_roles(id)
                })
                .await
                {
                    Ok(list) => {
                        let m: HashMap<u64, String> =
                            list.into_iter().map(|r| (r.id.get(), r.name)).collect();
                        self.cache.lock().insert(guild, (Instant::now(), m.clone()));
                        m
                    }
                    Err(e) => {
                        tracing::warn!(guild, error = %rest::describe(&e), "could not read the guild's roles; admin roles by name are not recognised for this call");
                        return vec![];
                    }
                }
            }
        };
        roles.iter().filter_map(|r| map.get(r).cloned()).collect()
    }
}

/// What happens first.
pub enum Start {
    /// The whole answer, now.
    Reply(CreateInteractionResponse),
    /// A defer now; the rest in [`Pending::finish`].
    Deferred(CreateInteractionResponse, Box<Pending>),
}

/// A deferred interaction's remaining work.
pub struct Pending {
    flow: Flow,
    token: String,
    inv: Invocation,
    ack: Ack,
    /// True in HTTP mode: the defer travels in our HTTP response, which Discord may not have
    /// processed when the edit arrives, so a 404 on the first edits is retried.
    racing_defer: bool,
}

/// The dependencies of the flow.
#[derive(Clone)]
pub struct Flow {
    /// The use cases.
    pub app: Arc<App>,
    /// Discord's REST API.
    pub http: Arc<Http>,
    /// Role-name lookup.
    pub roles: Arc<dyn RoleNames>,
}

fn token_of(i: &Interaction) -> Option<&str> {
    match i {
        Interaction::Command(c) | Interaction::Autocomplete(c) => Some(&c.token),
        Interaction::Component(c) => Some(&c.token),
        Interaction::Modal(m) => Some(&m.token),
        _ => None,
    }
}

impl Flow {
    /// The first response to `interaction` (never a PONG: pings are answered by the endpoint).
    /// `racing_defer`: see [`Pending`].
    pub async fn start(&self, interaction: &Interaction, racing_defer: bool) -> Start {
        let (Some(inv), Some(token)) =
            (convert::invocation_from(interaction), token_of(interaction))
        else {
            let reply = match interaction {
                Interaction::Autocomplete(_) => Reply::choices(vec![]),
                _ => Reply::private(UNSUPPORTED),
            };
            return Start::Reply(convert::interaction_response(&reply, false));
        };
        let ack = self.app.commands.ack(&inv);
        match convert::defer_response(ack) {
            None => Start::Reply(self.immediate(inv).await),
            Some(defer) => Start::Deferred(
                defer,
                Box::new(Pending {
                    flow: self.clone(),
                    token: token.to_string(),
                    inv,
                    ack,
                    racing_defer,
                }),
            ),
        }
    }

    async fn with_role_names(&self, mut inv: Invocation) -> Invocation {
        if convert::needs_role_names(&inv, &self.app.commands.admin_roles) {
            if let Some(guild) = inv.guild_id {
                let names = self.roles.names(guild, &inv.member.role_ids).await;
                inv.member.role_names = names;
            }
        }
        inv
    }

    async fn immediate(&self, inv: Invocation) -> CreateInteractionResponse {
        let component = convert::from_component(&inv);
        let autocomplete = matches!(inv.action, crate::commands::Action::Autocomplete { .. });
        let work = async {
            let inv = self.with_role_names(inv).await;
            self.app.commands.handle(&inv).await
        };
        let reply = match tokio::time::timeout(IMMEDIATE_BUDGET, work).await {
            Ok(reply) => reply,
            Err(_) if autocomplete => Reply::choices(vec![]),
            Err(_) => {
                tracing::warn!("an immediate reply missed its budget; sent a fallback");
                Reply::private(TOO_SLOW)
            }
        };
        convert::interaction_response(&reply, component)
    }
}

impl Pending {
    /// The ack that was sent.
    pub fn ack(&self) -> Ack {
        self.ack
    }

    /// Runs the use case (bounded by [`HANDLE_TIMEOUT`]) and delivers its reply through the
    /// REST API. Failures are logged; nothing here panics.
    pub async fn finish(self) {
        let flow = &self.flow;
        let work = async {
            let inv = flow.with_role_names(self.inv.clone()).await;
            flow.app.commands.handle(&inv).await
        };
        let reply = match tokio::time::timeout(HANDLE_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(interaction = %self.inv.id, "a deferred reply missed its time limit");
                Reply::private(TOO_SLOW)
            }
        };
        self.deliver(&reply).await;
    }

    async fn deliver(&self, reply: &Reply) {
        let http = &self.flow.http;
        let token = self.token.as_str();
        let outcome = match convert::finish_plan(self.ack, reply) {
            Finish::Edit(edit) => rest::call_with(
                Idempotent::Yes,
                "edit original response",
                self.racing_defer,
                || http.edit_original_interaction_response(token, &edit, vec![]),
            )
            .await
            .map(|_| ()),
            Finish::Followup(f) => rest::call(Idempotent::No, "send follow-up", || {
                http.create_followup_message(token, &f, vec![])
            })
            .await
            .map(|_| ()),
            Finish::ReplaceWithPrivate(f) => {
                if let Err(e) = rest::call_with(
                    Idempotent::Yes,
                    "delete original response",
                    self.racing_defer,
                    || http.delete_original_interaction_response(token),
                )
                .await
                {
                    tracing::warn!(interaction = %self.inv.id, error = %rest::describe(&e), "could not remove the public placeholder");
                }
                rest::call(Idempotent::No, "send follow-up", || {
                    http.create_followup_message(token, &f, vec![])
                })
                .await
                .map(|_| ())
            }
        };
        if let Err(e) = outcome {
            // The use case has run (and stored any draft); only the member's view is stale.
            tracing::warn!(interaction = %self.inv.id, user = self.inv.member.id, error = %rest::describe(&e), "could not deliver a reply to Discord");
        }
    }
}

/// The gateway path: sends the first response through the REST callback, then finishes a
/// deferred interaction. Runs in the event's own task.
pub async fn respond_via_rest(flow: &Flow, interaction: &Interaction) {
    let (id, token) = match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => (c.id, c.token.as_str()),
        Interaction::Component(c) => (c.id, c.token.as_str()),
        Interaction::Modal(m) => (m.id, m.token.as_str()),
        _ => return,
    };
    let http = &flow.http;
    match flow.start(interaction, false).await {
        Start::Reply(response) => {
            if let Err(e) = rest::call(Idempotent::No, "interaction response", || {
                http.create_interaction_response(id, token, &response, vec![])
            })
            .await
            {
                tracing::warn!(interaction = %id, error = %rest::describe(&e), "could not answer an interaction");
            }
        }
        Start::Deferred(defer, pending) => {
            if let Err(e) = rest::call(Idempotent::No, "interaction defer", || {
                http.create_interaction_response(id, token, &defer, vec![])
            })
            .await
            {
                tracing::warn!(interaction = %id, error = %rest::describe(&e), "could not defer an interaction; running it anyway so nothing the member typed is lost");
            }
            pending.finish().await;
        }
    }
}

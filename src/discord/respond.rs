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

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use serenity::all::{CreateInteractionResponse, Interaction};
use serenity::http::Http;

use super::convert::{self, Finish};
use super::rest::{self, Idempotent};
use crate::app::App;
use crate::commands::{Ack, Action, Invocation, Reply, ReplyKind};

/// Longest an immediate reply may take before a fallback is sent instead.
pub const IMMEDIATE_BUDGET: Duration = Duration::from_millis(2500);
/// Longest a deferred use case may run: the interaction token lives 15 minutes, and the edit
/// needs a margin.
pub const HANDLE_TIMEOUT: Duration = Duration::from_secs(14 * 60);

const TOO_SLOW: &str =
    "That took too long, so nothing more will happen here. Try again in a moment.";
const UNSUPPORTED: &str = "This bot does not handle that kind of interaction. Try `/so help`.";

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
        let (Some(mut inv), Some(token)) =
            (convert::invocation_from(interaction), token_of(interaction))
        else {
            let reply = match interaction {
                Interaction::Autocomplete(_) => Reply::choices(vec![]),
                _ => Reply::private(UNSUPPORTED),
            };
            return Start::Reply(convert::interaction_response(&reply, false));
        };
        inv.reply_token = Some(crate::commands::ReplyToken::new(
            token,
            self.app.clock.now(),
        ));
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

    async fn immediate(&self, inv: Invocation) -> CreateInteractionResponse {
        let component = convert::from_component(&inv);
        let autocomplete = matches!(inv.action, crate::commands::Action::Autocomplete { .. });
        let work = self.app.commands.handle(&inv);
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
        let work = flow.app.commands.handle(&self.inv);
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
        let outcome = match convert::finish_plan(self.ack, reply, self.inv.channel_id) {
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
            Finish::ReplyInChannel { message, fallback } => {
                let channel = serenity::all::ChannelId::new(self.inv.channel_id.unwrap_or(1));
                match rest::call(Idempotent::No, "send channel reply", || {
                    http.send_message(channel, vec![], &*message)
                })
                .await
                {
                    Ok(_) => rest::call_with(
                        Idempotent::Yes,
                        "delete original response",
                        self.racing_defer,
                        || http.delete_original_interaction_response(token),
                    )
                    .await
                    .map(|_| ()),
                    Err(e) => {
                        tracing::info!(interaction = %self.inv.id, error = %rest::describe(&e), "could not post a reply in the channel; showing it in place");
                        rest::call_with(
                            Idempotent::Yes,
                            "edit original response",
                            self.racing_defer,
                            || http.edit_original_interaction_response(token, &*fallback, vec![]),
                        )
                        .await
                        .map(|_| ())
                    }
                }
            }
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
            if let Some(notice) = self.outcome_as_dm(reply) {
                if let Err(e) = super::DiscordNotifier::new(http.clone())
                    .send(&notice)
                    .await
                {
                    tracing::warn!(interaction = %self.inv.id, user = self.inv.member.id, error = %e, "could not send the reply as a DM either");
                }
            }
        }
    }

    /// The reply to a submitted form (a post: the member typed it and must learn whether it
    /// was made, or that the draft is kept) as a DM, for when Discord would not take it where
    /// it was asked (a lasting 5xx, or the interaction token gone). Buttons are left out: they
    /// act on the message the member never got, and the text says what to do. Other replies
    /// (reads, votes) are not worth a DM: the member can ask again.
    fn outcome_as_dm(&self, reply: &Reply) -> Option<crate::commands::Notice> {
        if !matches!(self.inv.action, Action::Modal { .. }) || reply.kind != ReplyKind::Message {
            return None;
        }
        let lang = crate::commands::i18n::Lang::of(self.inv.locale.as_deref());
        let mut dm = reply.clone();
        dm.rows.clear();
        dm.reply_to = None;
        dm.content = crate::commands::reply::truncate(
            &format!(
                "{}\n{}",
                crate::tr!(lang, "reply-sent-as-dm"),
                reply.content
            ),
            crate::commands::reply::limits::CONTENT,
        );
        Some(crate::commands::Notice {
            original: None,
            user: self.inv.member.id,
            reply: dm,
        })
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
    let arrived = std::time::Instant::now();
    let span = interaction_span(id.get());
    let acked = || crate::telemetry::record_ack("gateway", arrived);
    match flow
        .start(interaction, false)
        .instrument(span.clone())
        .await
    {
        Start::Reply(response) => {
            let sent = rest::call(Idempotent::No, "interaction response", || {
                http.create_interaction_response(id, token, &response, vec![])
            })
            .instrument(span.clone())
            .await;
            acked();
            if let Err(e) = sent {
                span.in_scope(|| tracing::warn!(interaction = %id, error = %rest::describe(&e), "could not answer an interaction"));
            }
        }
        Start::Deferred(defer, pending) => {
            let sent = rest::call(Idempotent::No, "interaction defer", || {
                http.create_interaction_response(id, token, &defer, vec![])
            })
            .instrument(span.clone())
            .await;
            acked();
            if let Err(e) = sent {
                span.in_scope(|| tracing::warn!(interaction = %id, error = %rest::describe(&e), "could not defer an interaction; running it anyway so nothing the member typed is lost"));
            }
            pending.finish().instrument(span).await;
        }
    }
}

/// The span every log line of one interaction's work is in: its id (never its token).
pub fn interaction_span(id: u64) -> tracing::Span {
    tracing::info_span!("interaction", id)
}

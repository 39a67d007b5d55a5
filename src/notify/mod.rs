//! Subscriptions and notifications: site activity into Discord channels.
//!
//! SOE has no webhooks, so one poll loop per SOE target (the main site, each bound private
//! team) reads recent activity with the service token, through the global budget, and matches
//! it against every rule locally. Pieces:
//! - [`rule`]: the rule model, the parsing of `/so-admin subscribe` options, and matching (a
//!   pure function);
//! - [`model`]: what is kept between polls: cursors, the outbox, sent cards, channel settings;
//! - [`poll`]: one poll of one target (reads, local matching, queueing with the cursor);
//! - [`deliver`]: sending the outbox through a [`CardSink`] (caps, digests, edits in place,
//!   threads, errors recorded on rules, backoff);
//! - [`personal`]: personal alerts (answers to your question, new questions in your tags,
//!   expert routing): who hears about what, matched locally, sent as DMs;
//! - [`render`]: what a card, a digest and a personal DM look like;
//! - [`run`]: the background loops (one poll loop per target, one delivery loop).
//!
//! Invariants: SOE calls per interval do not depend on the number of rules; a card is queued
//! in the same store transaction as the cursor that found it, and leaves the outbox only in
//! the transaction that records it as sent, so a restart neither loses nor repeats a card.

pub mod deliver;
pub mod model;
pub mod personal;
pub mod poll;
pub mod render;
pub mod rule;
pub mod run;

pub use deliver::{CardSink, Deliverer, DeliveryReport, PersonalSettings, Recipients, SendError};
pub use model::{Card, ChannelNotify, NotifyHealth, OutboxEntry, Target, TargetState};
pub use poll::{PollReport, PollSettings, Poller, ReaderFor};
pub use rule::{Rule, RuleSpec};

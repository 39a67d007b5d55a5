//! Subscriptions and notifications: site activity into Discord channels.
//!
//! SOE has no webhooks, so one poll loop per SOE target (the main site, each bound private
//! team) reads recent activity with the service token, through the global budget, and matches
//! it against every rule locally. Pieces:
//! - [`rule`]: the rule model, the parsing of `/so-admin subscribe` options, and matching (a
//!   pure function);
//! - [`model`]: what is kept between polls: cursors, the outbox, sent cards, channel settings.
//!
//! Invariants: SOE calls per interval do not depend on the number of rules; a card is queued
//! in the same store transaction as the cursor that found it, and leaves the outbox only in
//! the transaction that records it as sent, so a restart neither loses nor repeats a card.

pub mod model;
pub mod rule;

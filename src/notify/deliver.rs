//! Sending the outbox: each queued card to its channel, once.
//!
//! [`CardSink`] is the transport (the Discord adapter, or the console in `demo`); this module
//! decides what to send. Invariants:
//! - an entry leaves the outbox only with the record of what was sent
//!   ([`crate::store::NotifyStore::complete_outbox`]); every send carries the entry's nonce,
//!   so a resend after a crash between Discord's answer and that record is deduplicated by
//!   Discord (`enforce_nonce`);
//! - a card about an answer or an acceptance to a question whose card this channel showed in
//!   the last [`EDIT_WINDOW_SECS`] edits that card instead of posting again;
//! - a channel gets at most its cap of cards an hour ([`ChannelNotify::cap_per_hour`]); the
//!   excess is held and sent as one digest message;
//! - a channel that is gone or forbids the bot records the error on the rules that feed it
//!   (shown by `subscriptions` and `doctor`) and is retried slowly ([`SLOW_RETRY_SECS`]);
//!   429 and 5xx back off; entries of a channel are sent in order, so one failure holds the
//!   channel's later entries rather than reordering them;
//! - cards never mention anyone (the sink sends with no allowed mentions).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::model::{Card, ChannelNotify, Delivered, OutboxEntry, EDIT_WINDOW_SECS};
use super::render;
use super::rule::{ActivityKind, RuleError};
use crate::clock::SharedClock;
use crate::commands::Reply;
use crate::store::{Allowance, Store, StoreError};

/// A channel that is gone or forbidden is tried again after this long (then twice that, up
/// to [`SLOW_RETRY_MAX_SECS`]).
pub const SLOW_RETRY_SECS: i64 = 15 * 60;
/// Longest wait between tries of a broken channel.
pub const SLOW_RETRY_MAX_SECS: i64 = 6 * 3600;
/// Folded cards wait at most this long for their digest.
pub const DIGEST_AFTER_SECS: i64 = 10 * 60;
/// Cards listed in one digest message (the rest are counted).
pub const DIGEST_LINES: usize = 15;

/// Why a send failed, by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The channel (or message) does not exist any more (404).
    #[error("the channel is gone ({0})")]
    Gone(String),
    /// The bot may not post there (403: missing View Channel, Send Messages or Embed Links).
    #[error("the bot lacks permission in the channel ({0})")]
    Forbidden(String),
    /// Discord asked to slow down.
    #[error("rate limited by Discord for {0:?}")]
    RateLimited(std::time::Duration),
    /// Anything else (5xx, network): try again soon.
    #[error("{0}")]
    Transient(String),
}

/// Where cards go: a message in a channel, edits of it, a thread on it.
#[async_trait]
pub trait CardSink: Send + Sync {
    /// Posts `message` in `channel` with `nonce` (deduplicated by the transport where it can);
    /// returns the message id.
    async fn send(&self, channel: u64, message: &Reply, nonce: &str) -> Result<u64, SendError>;
    /// Replaces the content of an earlier message.
    async fn edit(&self, channel: u64, message_id: u64, message: &Reply) -> Result<(), SendError>;
    /// Starts a thread on a message.
    async fn start_thread(
        &self,
        channel: u64,
        message_id: u64,
        name: &str,
    ) -> Result<(), SendError>;
    /// The guild a channel belongs to (`None`: no such channel, or not a guild channel).
    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, SendError>;
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Cards posted.
    pub sent: usize,
    /// Cards edited in place.
    pub edited: usize,
    /// Digest messages posted.
    pub digests: usize,
    /// Entries dropped because every rule that queued them was removed.
    pub dropped: usize,
    /// Failed attempts.
    pub failed: usize,
}

/// Sends the outbox through a [`CardSink`].
pub struct Deliverer {
    store: Arc<dyn Store>,
    clock: SharedClock,
    sink: Arc<dyn CardSink>,
    /// One delivery round at a time (two rounds would send the same entries twice).
    round: tokio::sync::Mutex<()>,
}

impl Deliverer {
    /// A deliverer for `store`'s outbox.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, sink: Arc<dyn CardSink>) -> Self {
        Self {
            store,
            clock,
            sink,
            round: tokio::sync::Mutex::new(()),
        }
    }

    /// The store (for the delivery loop's sweep).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Sends every entry that is due, channel by channel, in queue order.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let _one_round = self.round.lock().await;
        let now = self.clock.now();
        let mut report = DeliveryReport::default();
        let mut by_channel: BTreeMap<u64, Vec<OutboxEntry>> = BTreeMap::new();
        for e in self.store.outbox().await? {
            by_channel.entry(e.channel).or_default().push(e);
        }
        for (channel, entries) in by_channel {
            self.deliver_channel(channel, entries, now, &mut report)
                .await?;
        }
        Ok(report)
    }

    async fn deliver_channel(
        &self,
        channel: u64,
        entries: Vec<OutboxEntry>,
        now: DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let settings = self.store.channel_notify(channel).await?;
        let mut folded: Vec<OutboxEntry> = Vec::new();
        for mut e in entries {
            if !self.any_rule_left(&e).await? {
                self.store.complete_outbox(&[e.id], None).await?;
                report.dropped += 1;
                continue;
            }
            if e.folded {
                folded.push(e);
                continue;
            }
            if e.next_attempt_at > now {
                // Held by a backoff: later entries wait too, so the channel keeps its order.
                return Ok(());
            }
            let outcome = match self.edit_target(&e, now).await? {
                Some(prev) => self.edit(&e, prev, now).await.map(|()| {
                    report.edited += 1;
                }),
                None => {
                    if !self.within_cap(channel, &settings, now).await? {
                        e.folded = true;
                        self.store.update_outbox(&e).await?;
                        folded.push(e);
                        continue;
                    }
                    self.post(&e, &settings, now).await.map(|()| {
                        report.sent += 1;
                    })
                }
            };
            if let Err(err) = outcome {
                report.failed += 1;
                self.failed(e, &err, now).await?;
                return Ok(());
            }
        }
        if let Some(first) = folded.iter().map(|e| e.queued_at).min() {
            let due =
                now - first >= Duration::seconds(DIGEST_AFTER_SECS) || folded.len() >= DIGEST_LINES;
            if due {
                match self.digest(channel, &folded).await {
                    Ok(()) => report.digests += 1,
                    Err(err) => {
                        report.failed += 1;
                        if let Some(e) = folded.into_iter().next() {
                            self.failed(e, &err, now).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn any_rule_left(&self, e: &OutboxEntry) -> Result<bool, StoreError> {
        for id in &e.rules {
            if self.store.get_rule(e.guild, *id).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The earlier card to edit, for an answer or acceptance to a question this channel saw
    /// lately.
    async fn edit_target(
        &self,
        e: &OutboxEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivered>, StoreError> {
        if !matches!(
            e.card.kind,
            ActivityKind::NewAnswer | ActivityKind::Accepted
        ) {
            return Ok(None);
        }
        Ok(self
            .store
            .delivered(e.channel, e.card.question_id)
            .await?
            .filter(|d| now - d.sent_at <= Duration::seconds(EDIT_WINDOW_SECS)))
    }

    /// One token of the channel's hourly cap (a token bucket in the store, so it survives
    /// restarts).
    async fn within_cap(
        &self,
        channel: u64,
        settings: &ChannelNotify,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let cap = settings.cap_per_hour.max(1);
        let key = format!("notify-cap:{channel}");
        let refill = (3600 / u64::from(cap)).max(1);
        Ok(matches!(
            self.store.take_rate(&key, cap, refill, now).await?,
            Allowance::Allowed
        ))
    }

    async fn post(
        &self,
        e: &OutboxEntry,
        settings: &ChannelNotify,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let message = render::card(&e.card);
        let id = self.sink.send(e.channel, &message, &e.nonce()).await?;
        let question_card = matches!(
            e.card.kind,
            ActivityKind::NewQuestion | ActivityKind::Unanswered { .. }
        );
        if settings.threads && question_card {
            if let Err(err) = self
                .sink
                .start_thread(e.channel, id, &render::thread_name(&e.card))
                .await
            {
                tracing::warn!(channel = e.channel, error = %err, "could not start a thread on a card");
            }
        }
        let sent = Delivered {
            channel: e.channel,
            question_id: e.card.question_id,
            message_id: id,
            card: e.card.clone(),
            sent_at: now,
        };
        self.settle(e, Some(&sent), now).await
    }

    async fn edit(
        &self,
        e: &OutboxEntry,
        prev: Delivered,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let card = render::updated(&prev.card, &e.card);
        match self
            .sink
            .edit(e.channel, prev.message_id, &render::card(&card))
            .await
        {
            Ok(()) => {}
            // The earlier message was deleted: post the news as a card of its own.
            Err(SendError::Gone(_)) => {
                let id = self
                    .sink
                    .send(e.channel, &render::card(&e.card), &e.nonce())
                    .await?;
                let sent = Delivered {
                    message_id: id,
                    card: e.card.clone(),
                    sent_at: now,
                    ..prev
                };
                return self.settle(e, Some(&sent), now).await;
            }
            Err(err) => return Err(err),
        }
        let sent = Delivered { card, ..prev };
        self.settle(e, Some(&sent), now).await
    }

    /// Records a success: the entry leaves the outbox with its sent record; its rules get
    /// their last post.
    async fn settle(
        &self,
        e: &OutboxEntry,
        sent: Option<&Delivered>,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let store_err = |err: StoreError| SendError::Transient(format!("store: {err}"));
        self.store
            .complete_outbox(&[e.id], sent)
            .await
            .map_err(store_err)?;
        if let Err(err) = self
            .store
            .record_rule_outcome(e.guild, &e.rules, Ok(now))
            .await
        {
            tracing::warn!(error = %err, "could not record a rule's last post");
        }
        Ok(())
    }

    async fn digest(&self, channel: u64, folded: &[OutboxEntry]) -> Result<(), SendError> {
        let cards: Vec<&Card> = folded.iter().map(|e| &e.card).collect();
        let nonce = format!("soed{}", folded.first().map(|e| e.id).unwrap_or_default());
        self.sink
            .send(channel, &render::digest(&cards), &nonce)
            .await?;
        let ids: Vec<u64> = folded.iter().map(|e| e.id).collect();
        self.store
            .complete_outbox(&ids, None)
            .await
            .map_err(|err| SendError::Transient(format!("store: {err}")))?;
        let now = self.clock.now();
        for e in folded {
            if let Err(err) = self
                .store
                .record_rule_outcome(e.guild, &e.rules, Ok(now))
                .await
            {
                tracing::warn!(error = %err, "could not record a rule's last post");
            }
        }
        Ok(())
    }

    /// Records a failure on the entry (backoff) and, for a broken channel, on its rules.
    async fn failed(
        &self,
        mut e: OutboxEntry,
        err: &SendError,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        e.attempts = e.attempts.saturating_add(1);
        e.last_error = Some(err.to_string());
        let wait = match err {
            SendError::Gone(_) | SendError::Forbidden(_) => {
                let slow = SLOW_RETRY_SECS
                    .saturating_mul(1 << e.attempts.saturating_sub(1).min(5))
                    .min(SLOW_RETRY_MAX_SECS);
                let message = match err {
                    SendError::Gone(_) => format!(
                        "<#{}> is gone or the bot cannot see it; remove this rule or restore the channel",
                        e.channel
                    ),
                    _ => format!(
                        "the bot lacks View Channel, Send Messages or Embed Links in <#{}>",
                        e.channel
                    ),
                };
                self.store
                    .record_rule_outcome(e.guild, &e.rules, Err(RuleError { message, at: now }))
                    .await?;
                slow
            }
            SendError::RateLimited(d) => i64::try_from(d.as_secs()).unwrap_or(60).max(1),
            SendError::Transient(_) => (5i64 << e.attempts.min(7)).min(600),
        };
        tracing::warn!(channel = e.channel, attempts = e.attempts, wait_secs = wait, error = %err, "card not delivered; will retry");
        e.next_attempt_at = now + Duration::seconds(wait);
        self.store.update_outbox(&e).await
    }
}

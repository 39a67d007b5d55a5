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
    /// Sends `message` to `user` as a direct message with `nonce`; returns the message id.
    /// `Forbidden` when the member does not accept DMs from the bot.
    async fn send_dm(&self, user: u64, message: &Reply, nonce: &str) -> Result<u64, SendError>;
}

/// Who may still get personal alerts: members of an allowed guild (the Discord adapter asks
/// its REST API through [`crate::commands::AccessGate`]).
#[async_trait]
pub trait Recipients: Send + Sync {
    /// `Ok(false)` once `user` is in none of the allowed guilds; `Err` when it cannot be told
    /// now (the DM waits).
    async fn still_member(&self, user: u64) -> Result<bool, String>;
}

/// Personal-alert delivery settings.
#[derive(Debug, Clone)]
pub struct PersonalSettings {
    /// Expert-routing DMs per expert per day at most (`notify.expert_daily_cap`).
    pub expert_daily_cap: u32,
}

impl Default for PersonalSettings {
    fn default() -> Self {
        Self {
            expert_daily_cap: DEFAULT_EXPERT_DAILY_CAP,
        }
    }
}

/// Default [`PersonalSettings::expert_daily_cap`].
pub const DEFAULT_EXPERT_DAILY_CAP: u32 = 3;

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
    /// Personal DMs sent.
    pub dms_sent: usize,
    /// Personal DMs dropped: the member unlinked (or relinked to another SOE user), left the
    /// allowed guilds, or an expert was over the daily cap.
    pub dms_dropped: usize,
    /// Failed personal DM attempts.
    pub dms_failed: usize,
}

/// Sends the outbox through a [`CardSink`].
pub struct Deliverer {
    store: Arc<dyn Store>,
    clock: SharedClock,
    sink: Arc<dyn CardSink>,
    /// Who may still get personal alerts (`None`: everyone linked; the console has no
    /// Discord to ask).
    recipients: Option<Arc<dyn Recipients>>,
    /// Personal-alert settings.
    personal: PersonalSettings,
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
            recipients: None,
            personal: PersonalSettings::default(),
            round: tokio::sync::Mutex::new(()),
        }
    }

    /// Checks membership with `recipients` before each personal DM, and uses `settings`.
    pub fn with_personal(
        mut self,
        recipients: Option<Arc<dyn Recipients>>,
        settings: PersonalSettings,
    ) -> Self {
        self.recipients = recipients;
        self.personal = settings;
        self
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
        self.deliver_personal(now, &mut report).await?;
        metrics::gauge!(crate::telemetry::NOTIFY_OUTBOX)
            .set(self.store.outbox_depth().await? as f64);
        Ok(report)
    }

    /// Sends the personal DMs that are due, oldest first. Each is first checked: the member
    /// must still be linked to the SOE user it was found for, and still be a member of an
    /// allowed guild; an expert DM must fit the expert's daily cap. One that fails any check
    /// is dropped (and counted); one whose membership cannot be told now waits.
    async fn deliver_personal(
        &self,
        now: DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let entries = self.store.personal_outbox().await?;
        // A member whose DM failed waits; their later DMs wait too (kept in order).
        let mut held: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
        for mut e in entries {
            if held.contains(&e.user) {
                continue;
            }
            if e.next_attempt_at > now {
                held.insert(e.user);
                continue;
            }
            let kind = e.alert.kind();
            let counted = |outcome: &'static str| {
                metrics::counter!(crate::telemetry::PERSONAL_ALERTS, "kind" => kind, "outcome" => outcome)
                    .increment(1);
            };
            let linked = matches!(
                self.store.get_link(e.user).await,
                Ok(Some(link)) if link.soe_user_id == e.soe_user_id
            );
            if !linked {
                self.store.complete_personal(e.id).await?;
                report.dms_dropped += 1;
                counted("unlinked");
                continue;
            }
            if let Some(r) = &self.recipients {
                match r.still_member(e.user).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Gone from the organisation's servers: alerts stop.
                        if let Err(err) = self.store.forget_member(e.user).await {
                            tracing::warn!(error = %err, "could not forget a departed member's alerts");
                        }
                        self.store.complete_personal(e.id).await?;
                        report.dms_dropped += 1;
                        counted("left");
                        continue;
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "membership unknown; the DM waits");
                        held.insert(e.user);
                        continue;
                    }
                }
            }
            if matches!(e.alert, super::personal::Alert::Expert { .. }) && e.attempts == 0 {
                let cap = self.personal.expert_daily_cap.max(1);
                let key = format!("expert-cap:{}", e.user);
                let refill = (86_400 / u64::from(cap)).max(1);
                if !matches!(
                    self.store.take_rate(&key, cap, refill, now).await?,
                    Allowance::Allowed
                ) {
                    self.store.complete_personal(e.id).await?;
                    report.dms_dropped += 1;
                    counted("over_cap");
                    continue;
                }
            }
            let message = render::personal(&e.alert);
            match self.sink.send_dm(e.user, &message, &e.nonce()).await {
                Ok(_) => {
                    self.store.complete_personal(e.id).await?;
                    report.dms_sent += 1;
                    counted("sent");
                }
                Err(err) => {
                    report.dms_failed += 1;
                    counted("failed");
                    e.attempts = e.attempts.saturating_add(1);
                    e.last_error = Some(err.to_string());
                    let wait = match &err {
                        // DMs closed: try again slowly, give up after a few tries.
                        SendError::Forbidden(_) | SendError::Gone(_) => {
                            if e.attempts >= 3 {
                                tracing::info!(
                                    user = e.user,
                                    "a member does not accept DMs from the bot; alert dropped"
                                );
                                self.store.complete_personal(e.id).await?;
                                continue;
                            }
                            SLOW_RETRY_SECS
                        }
                        SendError::RateLimited(d) => {
                            i64::try_from(d.as_secs()).unwrap_or(60).max(1)
                        }
                        SendError::Transient(_) => (5i64 << e.attempts.min(7)).min(600),
                    };
                    tracing::warn!(user = e.user, attempts = e.attempts, wait_secs = wait, error = %err, "personal alert not delivered; will retry");
                    e.next_attempt_at = now + Duration::seconds(wait);
                    self.store.update_personal(&e).await?;
                    held.insert(e.user);
                }
            }
        }
        metrics::gauge!(crate::telemetry::PERSONAL_WAITING)
            .set(self.store.personal_outbox().await?.len() as f64);
        Ok(())
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

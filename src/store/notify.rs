//! [`NotifyStore`]: the durable half of notifications: subscription rules, each SOE target's
//! poll state, the outbox of cards to send, the cards sent (for edits in place), and
//! per-channel delivery settings.
//!
//! Invariants:
//! - a poll's state and the cards it queued are written in one transaction
//!   ([`NotifyStore::commit_poll`]) and flushed before it returns, so after a crash either the
//!   poll happened (its cards are queued) or it did not (the next poll finds the same
//!   activity again);
//! - an outbox entry leaves the outbox only in the transaction that records it as sent
//!   ([`NotifyStore::complete_outbox`]), also flushed: a crash between Discord's answer and
//!   that write resends the entry with the same nonce, which Discord deduplicates;
//! - rule ids are per guild, allocated from a counter in the same transaction that stores the
//!   rule, and never reused.
//!
//! None of these records hold a secret (rules, site titles and links that the channel shows
//! anyway, message ids), so they are stored in clear, in the 0700 storage directory.

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::notify::model::{ChannelNotify, Delivered, NotifyHealth, OutboxEntry, TargetState};
use crate::notify::rule::{Rule, RuleError};

/// Notifications' durable state (implemented by [`super::SledStore`]).
#[async_trait::async_trait]
pub trait NotifyStore: Send + Sync {
    // ---- rules
    /// Stores `rule` under the guild's next rule number (its `id` field is ignored) and
    /// returns it with that number. Flushed.
    async fn add_rule(&self, rule: &Rule) -> StoreResult<Rule>;
    /// The guild's rules, by number.
    async fn rules_of(&self, guild: u64) -> StoreResult<Vec<Rule>>;
    /// Every rule of every guild (the poller's working set).
    async fn all_rules(&self) -> StoreResult<Vec<Rule>>;
    /// One rule.
    async fn get_rule(&self, guild: u64, id: u32) -> StoreResult<Option<Rule>>;
    /// Removes a rule. True if it existed. Flushed.
    async fn delete_rule(&self, guild: u64, id: u32) -> StoreResult<bool>;
    /// Records a delivery for the rules `ids` of `guild`: `Ok(at)` sets their last post and
    /// clears their last error, `Err` sets their last error. Rules deleted meanwhile are
    /// skipped.
    async fn record_rule_outcome(
        &self,
        guild: u64,
        ids: &[u32],
        outcome: Result<DateTime<Utc>, RuleError>,
    ) -> StoreResult<()>;

    // ---- poll state and outbox
    /// A target's state (`None` before its first poll).
    async fn target_state(&self, target: &str) -> StoreResult<Option<TargetState>>;
    /// Every target's state, by key.
    async fn target_states(&self) -> StoreResult<Vec<(String, TargetState)>>;
    /// Replaces a target's state alone (a poll that queued nothing, or failed). Flushed.
    async fn put_target_state(&self, target: &str, state: &TargetState) -> StoreResult<()>;
    /// Writes a target's state and queues `entries` (their ids are assigned here) in one
    /// transaction, then flushes. Returns the entries with their ids.
    async fn commit_poll(
        &self,
        target: &str,
        state: &TargetState,
        entries: Vec<OutboxEntry>,
    ) -> StoreResult<Vec<OutboxEntry>>;
    /// Every queued entry, oldest first.
    async fn outbox(&self) -> StoreResult<Vec<OutboxEntry>>;
    /// How many entries are queued.
    async fn outbox_depth(&self) -> StoreResult<usize>;
    /// Replaces a queued entry (attempts, backoff, folding); does nothing if it is gone.
    async fn update_outbox(&self, entry: &OutboxEntry) -> StoreResult<()>;
    /// Removes the entries `ids` and, in the same transaction, records `sent` (the card sent
    /// for them, if one was). Flushed.
    async fn complete_outbox(&self, ids: &[u64], sent: Option<&Delivered>) -> StoreResult<()>;

    // ---- sent cards
    /// The card sent for `question` in `channel`, if remembered.
    async fn delivered(&self, channel: u64, question: i64) -> StoreResult<Option<Delivered>>;
    /// Forgets sent cards older than `before`. Returns how many.
    async fn sweep_delivered(&self, before: DateTime<Utc>) -> StoreResult<usize>;

    // ---- channel settings
    /// A channel's delivery settings (defaults when none stored).
    async fn channel_notify(&self, channel: u64) -> StoreResult<ChannelNotify>;
    /// Replaces a channel's delivery settings. Flushed.
    async fn put_channel_notify(&self, channel: u64, settings: &ChannelNotify) -> StoreResult<()>;

    /// Everything `doctor` shows about notifications: each target's last poll, lag and error,
    /// the outbox depth and age, and each rule's last error.
    async fn notify_health(&self) -> StoreResult<NotifyHealth> {
        let outbox = self.outbox().await?;
        let rule_errors = self
            .all_rules()
            .await?
            .into_iter()
            .filter_map(|r| r.last_error.map(|e| (r.guild, r.id, r.channel, e)))
            .collect();
        Ok(NotifyHealth {
            targets: self.target_states().await?,
            outbox_depth: outbox.len(),
            oldest_queued_at: outbox.iter().map(|e| e.queued_at).min(),
            rule_errors,
        })
    }
}

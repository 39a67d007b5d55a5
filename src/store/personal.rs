//! [`PersonalStore`]: the durable half of personal alerts ([`crate::notify::personal`]): what
//! each member asked to hear about, the questions asked through the bot, each tag's
//! subject-matter experts as last read, and the outbox of DMs.
//!
//! Invariants:
//! - a poll's state, its channel cards and its DMs are written in one transaction
//!   ([`PersonalStore::commit_poll_personal`]) and flushed before it returns;
//! - a DM leaves the outbox only through [`PersonalStore::complete_personal`] (flushed), after
//!   Discord accepted it (or after it was dropped on purpose: unlinked, left, over the cap);
//! - [`PersonalStore::forget_member`] removes everything kept about a member's alerts (the
//!   store calls it when the link is deleted).
//!
//! None of these records hold a secret (ids, tag names, titles and links), so they are
//! stored in clear, in the 0700 storage directory.

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::notify::model::{OutboxEntry, TargetState};
use crate::notify::personal::{
    AskedQuestion, MemberAlerts, PersonalEntry, PersonalHealth, TagExperts,
};

/// Personal alerts' durable state (implemented by [`super::SledStore`]).
#[async_trait::async_trait]
pub trait PersonalStore: Send + Sync {
    /// A member's alert settings (`None`: never set; the defaults apply).
    async fn member_alerts(&self, user: u64) -> StoreResult<Option<MemberAlerts>>;
    /// Replaces a member's alert settings. Flushed.
    async fn put_member_alerts(&self, alerts: &MemberAlerts) -> StoreResult<()>;
    /// Every member's alert settings (the poller's audience).
    async fn all_member_alerts(&self) -> StoreResult<Vec<MemberAlerts>>;
    /// Forgets a member's alert settings, the questions they asked through the bot and their
    /// waiting DMs. Flushed.
    async fn forget_member(&self, user: u64) -> StoreResult<()>;

    /// Remembers a question asked through the bot (its answers are DMed to the asker).
    /// Flushed.
    async fn record_asked(&self, asked: &AskedQuestion) -> StoreResult<()>;
    /// The questions asked through the bot on a target (`""`: on every target).
    async fn asked_questions(&self, target: &str) -> StoreResult<Vec<AskedQuestion>>;
    /// Forgets questions asked before `before`. Returns how many.
    async fn sweep_asked(&self, before: DateTime<Utc>) -> StoreResult<usize>;

    /// A tag's experts as last read on a target.
    async fn tag_experts(&self, target: &str, tag: i64) -> StoreResult<Option<TagExperts>>;
    /// Records a tag's experts as read now.
    async fn put_tag_experts(
        &self,
        target: &str,
        tag: i64,
        experts: &TagExperts,
    ) -> StoreResult<()>;

    /// [`crate::store::NotifyStore::commit_poll`] with the poll's DMs: the target's state, its
    /// cards and its DMs in one transaction (ids assigned here), flushed.
    async fn commit_poll_personal(
        &self,
        target: &str,
        state: &TargetState,
        entries: Vec<OutboxEntry>,
        personal: Vec<PersonalEntry>,
    ) -> StoreResult<(Vec<OutboxEntry>, Vec<PersonalEntry>)>;
    /// Every waiting DM, oldest first.
    async fn personal_outbox(&self) -> StoreResult<Vec<PersonalEntry>>;
    /// Replaces a waiting DM (attempts, backoff); does nothing if it is gone.
    async fn update_personal(&self, entry: &PersonalEntry) -> StoreResult<()>;
    /// Removes a waiting DM (sent, or dropped on purpose). Flushed.
    async fn complete_personal(&self, id: u64) -> StoreResult<()>;

    /// What `doctor` shows about personal alerts.
    async fn personal_health(&self) -> StoreResult<PersonalHealth> {
        let members = self.all_member_alerts().await?;
        let outbox = self.personal_outbox().await?;
        let failing: Vec<&PersonalEntry> =
            outbox.iter().filter(|e| e.last_error.is_some()).collect();
        Ok(PersonalHealth {
            alert_members: members
                .iter()
                .filter(|m| m.questions || m.answers == crate::notify::personal::AnswerAlerts::All)
                .count(),
            expert_members: members.iter().filter(|m| m.experts).count(),
            asked_questions: self.asked_questions("").await?.len(),
            outbox_depth: outbox.len(),
            failing: failing.len(),
            last_error: failing
                .iter()
                .max_by_key(|e| e.queued_at)
                .and_then(|e| e.last_error.clone()),
        })
    }
}

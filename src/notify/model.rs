//! The records the poller keeps between polls: each SOE target's cursor and memory
//! ([`TargetState`]), the cards waiting to be sent ([`OutboxEntry`]), what was already sent
//! ([`Delivered`]), and per-channel delivery settings ([`ChannelNotify`]).
//!
//! Invariants: a target's state and the outbox entries found by the same poll are written in
//! one store transaction ([`crate::store::NotifyStore::commit_poll`]), so a crash leaves either
//! both or neither; an event key enters `seen` in that same transaction, so the same site event
//! is never queued twice for a channel (an event is matched against every rule once, when
//! first found); every collection here is bounded (the constants below).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rule::{ActivityKind, RuleError};
use crate::soe::TeamSlug;

/// Event keys remembered per target to drop repeats across overlapping poll windows.
pub const MAX_SEEN: usize = 20_000;
/// Questions watched per target for `unanswered-after` and acceptances.
pub const MAX_WATCHED: usize = 2_000;
/// How long a sent question card may still be edited in place when it is answered or
/// accepted, instead of posting a new card.
pub const EDIT_WINDOW_SECS: i64 = 24 * 3600;

/// Which SOE API base a poll loop reads: the main site or a private team.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target(pub Option<TeamSlug>);

impl Target {
    /// The main site.
    pub fn main() -> Self {
        Target(None)
    }

    /// The store key: `main` or `team:<slug>`.
    pub fn key(&self) -> String {
        match &self.0 {
            None => "main".into(),
            Some(t) => format!("team:{}", t.as_str()),
        }
    }

    /// Parses [`Target::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        if key == "main" {
            return Some(Target(None));
        }
        key.strip_prefix("team:")
            .and_then(TeamSlug::parse)
            .map(|t| Target(Some(t)))
    }

    /// For people: `the main site` or `team <slug>`.
    pub fn describe(&self) -> String {
        match &self.0 {
            None => "the main site".into(),
            Some(t) => format!("team {}", t.as_str()),
        }
    }
}

/// A question the poller keeps an eye on after it was posted: for `unanswered-after` (it may
/// need a card later without another request) and for telling a new acceptance from an old
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Its card, as last seen (title, tags, counts).
    pub card: Card,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Answers when last seen.
    pub answer_count: i64,
    /// The accepted answer when last looked (None: none, or never looked).
    pub accepted_answer: Option<i64>,
    /// Who asked it (SOE user id), for answer alerts and expert routing.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// Its tags' ids, for expert routing (`GET /tags/{id}/subject-matter-experts`).
    #[serde(default)]
    pub tag_ids: Vec<i64>,
}

/// A target's poll state. Written only with [`crate::store::NotifyStore::commit_poll`] (with
/// the entries that poll queued) or [`crate::store::NotifyStore::put_target_state`] (after a
/// poll that queued nothing or failed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetState {
    /// Activity at or before this time has been looked at (the newest `lastActivityDate` of
    /// the last complete poll). `None` before the first poll, which starts from "now": a new
    /// bot does not post the site's history.
    pub cursor: Option<DateTime<Utc>>,
    /// When the last poll ran (successful or not).
    pub last_poll_at: Option<DateTime<Utc>>,
    /// When a poll last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last poll failure, cleared by a success.
    pub last_error: Option<RuleError>,
    /// Seconds between the newest activity of the last successful poll and its queueing (how
    /// far behind the site the poller runs).
    pub lag_secs: Option<i64>,
    /// Event keys already matched (`q:<id>`, `a:<id>`, `acc:<q>:<a>`; `u:<id>@<channel>` per
    /// channel) with when, to drop repeats; pruned by age and oldest first past [`MAX_SEEN`].
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// Questions watched, by id; pruned oldest first past [`MAX_WATCHED`] and after the
    /// longest `unanswered-after`.
    pub watched: BTreeMap<i64, Watched>,
    /// Questions whose answers could not be read in the last poll (budget), read next time.
    pub pending_answers: Vec<i64>,
    /// When a poll's pages ran out before reaching the cursor (more activity in one interval
    /// than [`crate::notify::PollSettings::max_pages`] pages): the page the next poll resumes
    /// reading from, and the cursor to set once the backlog is read.
    pub resume: Option<(u32, DateTime<Utc>)>,
    /// Consecutive failed polls (drives the backoff).
    pub failures: u32,
    /// No poll before this (backoff after 429 / 5xx).
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// What a card shows about one piece of activity (transport-free; adapters render it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// What happened.
    pub kind: ActivityKind,
    /// The question (for an article card, the article: post ids are unique across kinds).
    pub question_id: i64,
    /// The answer, for answer and acceptance cards.
    pub answer_id: Option<i64>,
    /// The question's title (plain text, decoded).
    pub title: String,
    /// Link to the question (or the answer).
    pub url: String,
    /// Who wrote the question (or the answer).
    pub author: String,
    /// The question's tags.
    pub tags: Vec<String>,
    /// The question's score.
    pub score: i64,
    /// The question's answers.
    pub answer_count: i64,
    /// The question has an accepted answer (set when a card is updated in place).
    #[serde(default)]
    pub accepted: bool,
    /// When it happened.
    pub at: DateTime<Utc>,
}

impl Card {
    /// The event's key: the same site event always has the same key (dedup, nonces).
    pub fn event_key(&self) -> String {
        match self.kind {
            ActivityKind::NewQuestion => format!("q:{}", self.question_id),
            ActivityKind::Unanswered { .. } => format!("u:{}", self.question_id),
            ActivityKind::NewAnswer => format!("a:{}", self.answer_id.unwrap_or_default()),
            ActivityKind::NewArticle => format!("art:{}", self.question_id),
            ActivityKind::Accepted => format!(
                "acc:{}:{}",
                self.question_id,
                self.answer_id.unwrap_or_default()
            ),
        }
    }
}

/// A card waiting to be sent to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The store's id for it (monotonic; also the base of the Discord nonce).
    pub id: u64,
    /// The target whose poll found it.
    pub target: String,
    /// The guild of the channel.
    pub guild: u64,
    /// Where it goes.
    pub channel: u64,
    /// The rules (of `guild`) that matched, for their last post / last error.
    pub rules: Vec<u32>,
    /// What to show.
    pub card: Card,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this (backoff after a failure).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, for logs and `doctor`.
    pub last_error: Option<String>,
    /// Held for the channel's hourly digest (the channel was over its cap).
    pub folded: bool,
}

impl OutboxEntry {
    /// The nonce Discord deduplicates on (at most 25 characters): the same entry always
    /// sends the same nonce, so a resend after a crash returns the first message.
    pub fn nonce(&self) -> String {
        format!("soe{}", self.id)
    }
}

/// A card that was sent, remembered for editing in place and for `subscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// The channel.
    pub channel: u64,
    /// The question the card is about.
    pub question_id: i64,
    /// The Discord message id.
    pub message_id: u64,
    /// The card as last shown (edits start from it).
    pub card: Card,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
}

/// Per-channel delivery settings (set with `/so-admin subscribe … threads:` and `cap:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelNotify {
    /// Start a thread on each question card (off by default).
    pub threads: bool,
    /// Cards per hour before the excess folds into one digest message.
    pub cap_per_hour: u32,
}

/// Default [`ChannelNotify::cap_per_hour`].
pub const DEFAULT_CAP_PER_HOUR: u32 = 20;

impl Default for ChannelNotify {
    fn default() -> Self {
        Self {
            threads: false,
            cap_per_hour: DEFAULT_CAP_PER_HOUR,
        }
    }
}

/// What `doctor` shows about notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyHealth {
    /// Each target's key with its state (last poll, lag, last error).
    pub targets: Vec<(String, TargetState)>,
    /// Cards waiting to be sent.
    pub outbox_depth: usize,
    /// The oldest waiting card's queue time.
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Rules with a last error: (guild, rule id, channel, error).
    pub rule_errors: Vec<(u64, u32, u64, RuleError)>,
}

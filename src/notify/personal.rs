//! Personal alerts: DMs to one member about the site, found by the same poll as the channel
//! cards and sent through their own outbox.
//!
//! Three kinds ([`Alert`]):
//! - **answers to your question**: a new answer to a question the member asked, through the
//!   bot ([`AskedQuestion`], on by default) or on the site under their linked SOE user id
//!   (with `/so alerts on`); the DM has the answer's first lines, Accept and View;
//! - **new questions** in the member's watched tags on the site (or the tags they named),
//!   batched into one DM per poll (`/so alerts on`, off by default);
//! - **expert routing**: a question still unanswered after a subscription rule's
//!   `unanswered-after`, to linked members who are subject-matter experts for one of its tags
//!   and opted in (`/so experts on`), at most [`ExpertSettings::daily_cap`] a day each.
//!
//! Invariants:
//! - matching is local ([`Audience`]): the member records are read from the store once per
//!   poll, so the SOE calls of a poll do not depend on the number of members (watched tags are
//!   read when a member turns alerts on and refreshed one member per poll at most; experts
//!   one tag per poll at most, see [`crate::notify::poll`]);
//! - an alert is queued in the same store transaction as the poll that found it, under an
//!   event key remembered in the target's `seen`, so it is queued once; it leaves the outbox
//!   only in the transaction that records it sent, and each send carries its nonce
//!   ([`PersonalEntry::nonce`]), so a restart neither loses nor repeats a DM;
//! - members map to SOE users through their links only: a record keeps the SOE user id its
//!   link had, and delivery drops an alert whose member is no longer linked to that user or
//!   is no longer a member of an allowed guild; unlinking deletes the member's records.
//!
//! None of these records hold a secret (Discord and SOE user ids, tag names, site titles
//! and links), so they are stored in clear.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Card;

/// How long a question asked through the bot is remembered for its answers.
pub const ASKED_DAYS: i64 = 30;
/// New-question cards listed in one batched DM (the rest are counted).
pub const BATCH_LINES: usize = 10;
/// How old a member's watched-tag list may get before the poller reads it again.
pub const WATCHED_REFRESH_SECS: i64 = 24 * 3600;
/// How long a tag's subject-matter experts are trusted before they are read again.
pub const EXPERTS_REFRESH_SECS: i64 = 6 * 3600;
/// Characters of an answer shown in its DM.
pub const EXCERPT_CHARS: usize = 300;

/// Which answers a member hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AnswerAlerts {
    /// Answers to questions asked through the bot (the default).
    #[default]
    Asked,
    /// Answers to every question the linked SOE user asked, on the site or through the bot.
    All,
    /// None.
    Off,
}

/// What one member asked to hear about. Stored per Discord user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberAlerts {
    /// The Discord member.
    pub user: u64,
    /// The SOE user their link named when they set this (delivery checks the link still
    /// names it).
    pub soe_user_id: i64,
    /// Answers to their questions.
    pub answers: AnswerAlerts,
    /// New questions in [`MemberAlerts::tags`] (or their watched tags), batched.
    pub questions: bool,
    /// The tags they named (lower case); empty means their watched tags on the site.
    pub tags: Vec<String>,
    /// Their watched tags on the site, as last read.
    pub watched: Vec<String>,
    /// When the watched tags were last read (`None`: never).
    pub watched_read_at: Option<DateTime<Utc>>,
    /// Expert routing: DMs about unanswered questions in tags they are an expert for.
    pub experts: bool,
    /// When they last changed this.
    pub updated_at: DateTime<Utc>,
}

impl Default for MemberAlerts {
    fn default() -> Self {
        Self {
            user: 0,
            soe_user_id: 0,
            answers: AnswerAlerts::Asked,
            questions: false,
            tags: Vec::new(),
            watched: Vec::new(),
            watched_read_at: None,
            experts: false,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }
}

impl MemberAlerts {
    /// The tags whose new questions they hear about (none when new-question alerts are off).
    pub fn question_tags(&self) -> BTreeSet<String> {
        if !self.questions {
            return BTreeSet::new();
        }
        let tags = if self.tags.is_empty() {
            &self.watched
        } else {
            &self.tags
        };
        tags.iter().map(|t| t.to_ascii_lowercase()).collect()
    }

    /// Whether the poller should read their watched tags (new-question alerts on, no tags
    /// named, and the list older than [`WATCHED_REFRESH_SECS`]).
    pub fn watched_due(&self, now: DateTime<Utc>) -> bool {
        self.questions
            && self.tags.is_empty()
            && self
                .watched_read_at
                .is_none_or(|t| (now - t).num_seconds() >= WATCHED_REFRESH_SECS)
    }
}

/// A question a member asked through the bot: its answers are DMed to them unless they
/// turned answer alerts off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedQuestion {
    /// The target the question lives on (`main`, `team:<slug>`).
    pub target: String,
    /// The question.
    pub question_id: i64,
    /// Who asked it.
    pub user: u64,
    /// As which SOE user.
    pub soe_user_id: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// A tag's subject-matter experts as last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagExperts {
    /// The experts' SOE user ids (named users and members of named groups).
    pub users: Vec<i64>,
    /// When they were read.
    pub read_at: DateTime<Utc>,
}

/// What a personal alert says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alert {
    /// A new answer to the member's question.
    Answer {
        /// The answer's card (question title, answer link, answer author).
        card: Card,
        /// The answer's first lines (plain Markdown, already cut).
        excerpt: String,
    },
    /// New questions in the member's tags since the last batch.
    NewQuestions {
        /// Their cards, oldest first.
        cards: Vec<Card>,
    },
    /// An unanswered question in a tag the member is an expert for.
    Expert {
        /// The question's card.
        card: Card,
    },
}

impl Alert {
    /// The kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Alert::Answer { .. } => "answer",
            Alert::NewQuestions { .. } => "questions",
            Alert::Expert { .. } => "expert",
        }
    }
}

/// A DM waiting to be sent to one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalEntry {
    /// The store's id (monotonic; the base of the nonce).
    pub id: u64,
    /// The member.
    pub user: u64,
    /// The SOE user it is meant for (delivery checks the member's link still names it).
    pub soe_user_id: i64,
    /// What to say.
    pub alert: Alert,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this (backoff after a failure).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, for logs and `doctor`.
    pub last_error: Option<String>,
}

impl PersonalEntry {
    /// A new entry (its id is assigned when stored).
    pub fn new(user: u64, soe_user_id: i64, alert: Alert, now: DateTime<Utc>) -> Self {
        Self {
            id: 0,
            user,
            soe_user_id,
            alert,
            queued_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
        }
    }

    /// The nonce Discord deduplicates on: the same entry always sends the same one.
    pub fn nonce(&self) -> String {
        format!("soep{}", self.id)
    }
}

/// What `doctor` and `/metrics` show about personal alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalHealth {
    /// Members with answer alerts for all their questions, or new-question alerts.
    pub alert_members: usize,
    /// Members who opted in to expert routing.
    pub expert_members: usize,
    /// Questions asked through the bot still watched for answers.
    pub asked_questions: usize,
    /// DMs waiting to be sent.
    pub outbox_depth: usize,
    /// Waiting DMs whose last attempt failed, with the newest failure.
    pub failing: usize,
    /// The newest failure.
    pub last_error: Option<String>,
}

/// Who hears about what, built from the store once per poll (no SOE call).
#[derive(Debug, Clone, Default)]
pub struct Audience {
    /// Question id → (member, SOE user) for questions asked through the bot whose asker
    /// still wants answer alerts.
    pub asked: HashMap<i64, (u64, i64)>,
    /// SOE user id → member, for members who want answers to all their questions.
    pub owners: HashMap<i64, u64>,
    /// Members with new-question alerts: (member, SOE user, tags).
    pub watchers: Vec<(u64, i64, BTreeSet<String>)>,
    /// SOE user id → member, for members who opted in to expert routing.
    pub experts: HashMap<i64, u64>,
    /// Each tag's experts (SOE user ids) as known for this poll (from the store, or read by
    /// it), by tag id.
    pub tag_experts: BTreeMap<i64, Vec<i64>>,
}

impl Audience {
    /// Builds the audience of one target from the member records and the questions asked
    /// through the bot on it.
    pub fn build(members: &[MemberAlerts], asked: &[AskedQuestion]) -> Self {
        let by_user: HashMap<u64, &MemberAlerts> = members.iter().map(|m| (m.user, m)).collect();
        let mut a = Audience::default();
        for q in asked {
            let wants = by_user
                .get(&q.user)
                .is_none_or(|m| m.answers != AnswerAlerts::Off);
            if wants {
                a.asked.insert(q.question_id, (q.user, q.soe_user_id));
            }
        }
        for m in members {
            if m.answers == AnswerAlerts::All {
                a.owners.insert(m.soe_user_id, m.user);
            }
            let tags = m.question_tags();
            if !tags.is_empty() {
                a.watchers.push((m.user, m.soe_user_id, tags));
            }
            if m.experts {
                a.experts.insert(m.soe_user_id, m.user);
            }
        }
        a
    }

    /// Nobody listens.
    pub fn is_empty(&self) -> bool {
        self.asked.is_empty()
            && self.owners.is_empty()
            && self.watchers.is_empty()
            && self.experts.is_empty()
    }

    /// Whether the answers of a question (asked by `owner`) are wanted by someone.
    pub fn wants_answers_of(&self, question: i64, owner: Option<i64>) -> bool {
        self.asked.contains_key(&question) || owner.is_some_and(|o| self.owners.contains_key(&o))
    }

    /// Who to tell about an answer to `question` (asked by `owner`), unless they wrote it.
    pub fn asker_of(
        &self,
        question: i64,
        owner: Option<i64>,
        answerer: Option<i64>,
    ) -> Option<(u64, i64)> {
        let who = self
            .asked
            .get(&question)
            .copied()
            .or_else(|| owner.and_then(|o| self.owners.get(&o).map(|u| (*u, o))))?;
        (answerer != Some(who.1)).then_some(who)
    }

    /// Members whose tags a new question (with `tags`, asked by `owner`) matches, except its
    /// asker.
    pub fn watchers_of(&self, tags: &[String], owner: Option<i64>) -> Vec<(u64, i64)> {
        self.watchers
            .iter()
            .filter(|(_, soe, want)| {
                owner != Some(*soe) && tags.iter().any(|t| want.contains(&t.to_ascii_lowercase()))
            })
            .map(|(u, soe, _)| (*u, *soe))
            .collect()
    }

    /// The experts (SOE user ids) of a question's tags; `None` while some tag's experts were
    /// never read (the question waits for the next poll).
    pub fn experts_of(&self, tag_ids: &[i64]) -> Option<BTreeSet<i64>> {
        let mut all = BTreeSet::new();
        for tag in tag_ids {
            all.extend(self.tag_experts.get(tag)?.iter().copied());
        }
        Some(all)
    }

    /// Opted-in members among a question's experts (by SOE user id), except its asker.
    pub fn experts_among(&self, experts: &BTreeSet<i64>, owner: Option<i64>) -> Vec<(u64, i64)> {
        experts
            .iter()
            .filter(|soe| owner != Some(**soe))
            .filter_map(|soe| self.experts.get(soe).map(|u| (*u, *soe)))
            .collect()
    }
}

/// Groups new-question matches into one batch per member: member → (SOE user, cards).
pub type Batches = BTreeMap<u64, (i64, Vec<Card>)>;

/// The first lines of an answer for its DM: at most [`EXCERPT_CHARS`] characters, cut at a
/// line or word boundary, with an ellipsis when cut.
pub fn excerpt(markdown: &str) -> String {
    let text = markdown.trim();
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    let at = cut
        .rfind('\n')
        .filter(|i| *i > EXCERPT_CHARS / 2)
        .or_else(|| cut.rfind(' ').filter(|i| *i > EXCERPT_CHARS / 2))
        .unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user: u64, soe: i64) -> MemberAlerts {
        MemberAlerts {
            user,
            soe_user_id: soe,
            ..Default::default()
        }
    }

    #[test]
    fn the_audience_follows_each_members_choice() {
        let asked = vec![
            AskedQuestion {
                target: "main".into(),
                question_id: 10,
                user: 1,
                soe_user_id: 100,
                at: DateTime::<Utc>::UNIX_EPOCH,
            },
            AskedQuestion {
                target: "main".into(),
                question_id: 11,
                user: 2,
                soe_user_id: 200,
                at: DateTime::<Utc>::UNIX_EPOCH,
            },
        ];
        let mut off = member(2, 200);
        off.answers = AnswerAlerts::Off;
        let mut all = member(3, 300);
        all.answers = AnswerAlerts::All;
        all.questions = true;
        all.watched = vec!["Rust".into()];
        let mut named = member(4, 400);
        named.questions = true;
        named.tags = vec!["go".into()];
        named.watched = vec!["rust".into()];
        named.experts = true;
        let a = Audience::build(&[off, all, named], &asked);
        // Asked through the bot with no record: on by default; turned off: nothing.
        assert_eq!(a.asker_of(10, Some(100), Some(300)), Some((1, 100)));
        assert_eq!(a.asker_of(11, Some(200), Some(300)), None);
        // All of one's questions, but not one's own answer.
        assert_eq!(a.asker_of(99, Some(300), Some(100)), Some((3, 300)));
        assert_eq!(a.asker_of(99, Some(300), Some(300)), None);
        assert!(a.wants_answers_of(99, Some(300)));
        assert!(!a.wants_answers_of(99, Some(500)));
        // Watched tags unless tags were named; never one's own question.
        let rust = vec!["rust".to_string()];
        assert_eq!(a.watchers_of(&rust, Some(100)), vec![(3, 300)]);
        assert_eq!(a.watchers_of(&rust, Some(300)), vec![]);
        assert_eq!(a.watchers_of(&["go".to_string()], None), vec![(4, 400)]);
        let experts: BTreeSet<i64> = [300, 400, 500].into();
        assert_eq!(a.experts_among(&experts, None), vec![(4, 400)]);
        assert_eq!(a.experts_among(&experts, Some(400)), vec![]);
    }

    #[test]
    fn an_excerpt_is_cut_at_a_boundary() {
        assert_eq!(excerpt("  short  "), "short");
        let long = "word ".repeat(100);
        let e = excerpt(&long);
        assert!(e.ends_with('…'));
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert!(!e.contains("wor…"), "cut between words: {e}");
    }
}

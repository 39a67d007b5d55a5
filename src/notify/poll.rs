//! One poll of one SOE target: read what changed since the cursor, match it against every rule
//! locally, and queue the cards with the new cursor in one store transaction.
//!
//! Requests per poll do not depend on the number of rules:
//! - `GET /questions?sort=activity&order=desc&pageSize=50`, page after page until the page
//!   reaches activity older than the cursor (at most [`PollSettings::max_pages`]; a larger
//!   burst is read on from the next page by the next poll, the cursor held until then): new
//!   questions and questions with new answers or acceptances (the site bumps a question's
//!   `lastActivityDate` for both);
//! - when some rule wants answers or acceptances, `GET /questions/{id}/answers?sort=creation`
//!   for each question with new activity and answers (at most
//!   [`PollSettings::max_answer_reads`] a poll; the rest are read next poll, not lost);
//! - when some rule wants articles, one `GET /articles?sort=creation&order=desc&pageSize=100`
//!   (the newest 100 articles; those created since the cursor are carded, read first so a
//!   failure leaves the memory untouched);
//! - nothing for `unanswered-after`: questions seen being posted are watched locally
//!   ([`TargetState::watched`]) and carded once old enough while their answer count is 0.
//!
//! Every read goes through the reader given to [`Poller::new`] (the service token behind the
//! global budget). A failed poll (429, 5xx, budget spent) leaves the cursor where it was and
//! backs off ([`backoff`]); the next poll reads the same window again, and `seen` drops what
//! was already queued, so nothing is lost or repeated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::model::{Card, OutboxEntry, Target, TargetState, Watched, MAX_SEEN, MAX_WATCHED};
use super::personal::{self, Alert, Audience, Batches, PersonalEntry};
use super::rule::{Activity, ActivityKind, EventKind, Rule, RuleError, MAX_UNANSWERED_SECS};
use crate::clock::SharedClock;
use crate::soe::{
    self, Answer, AnswerSort, Article, ArticleSort, Order, PageSize, Question, QuestionQuery,
    QuestionSort, SoeRead,
};
use crate::store::{Store, StoreError};

/// Activity this close before the cursor is read again (site clocks and list caches can
/// publish an item with a timestamp slightly in the past); `seen` drops repeats.
pub const OVERLAP_SECS: i64 = 120;
/// How long an event key is remembered in `seen`.
const SEEN_DAYS: i64 = 8;

/// Gives the poller a reader for a target (the service token behind the global budget).
pub type ReaderFor = Arc<dyn Fn(&Target) -> Arc<dyn SoeRead> + Send + Sync>;

/// Poll tuning.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Time between polls of a target.
    pub interval: std::time::Duration,
    /// Pages of 50 active questions read per poll at most.
    pub max_pages: u32,
    /// Answer lists read per poll at most.
    pub max_answer_reads: usize,
    /// Subject-matter-expert lists (one per tag) read per poll at most, for expert routing.
    pub max_expert_reads: usize,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            interval: std::time::Duration::from_secs(60),
            max_pages: 3,
            max_answer_reads: 10,
            max_expert_reads: 2,
        }
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The site (or the budget) refused or failed; the poll backs off.
    #[error("reading the site failed: {0}")]
    Soe(#[from] soe::Error),
    /// The store failed; nothing was changed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// False when the poll was skipped (backoff not over, first poll, no rules).
    pub polled: bool,
    /// Cards queued.
    pub queued: usize,
    /// Active questions read.
    pub questions: usize,
    /// Answer lists read.
    pub answer_reads: usize,
    /// Article pages read (0 or 1).
    pub article_reads: usize,
    /// Personal DMs queued.
    pub personal_queued: usize,
    /// Watched-tag lists read (0 or 1).
    pub watched_reads: usize,
    /// Subject-matter-expert lists read.
    pub expert_reads: usize,
}

/// The seconds to wait after `failures` consecutive failures: the interval doubled each time,
/// at most 15 minutes, and never less than what the site asked for.
pub fn backoff(
    interval: std::time::Duration,
    failures: u32,
    asked: Option<std::time::Duration>,
) -> i64 {
    let base = interval.as_secs().max(1);
    let doubled = base.saturating_mul(1u64 << failures.min(10));
    let secs = doubled
        .min(15 * 60)
        .max(asked.map(|d| d.as_secs()).unwrap_or(0));
    i64::try_from(secs).unwrap_or(15 * 60)
}

/// Polls targets: reads, matches, queues.
pub struct Poller {
    store: Arc<dyn Store>,
    clock: SharedClock,
    reader_for: ReaderFor,
    settings: PollSettings,
    /// One poll at a time (a loop and an on-demand poll must not both queue the same window).
    polling: tokio::sync::Mutex<()>,
}

/// One event found by a poll, before matching.
struct Found {
    card: Card,
    /// The question's creation time (for `Unanswered`, the matching time).
    at: DateTime<Utc>,
    /// Who asked the question (SOE user id), when known.
    owner: Option<i64>,
    /// Who wrote the answer, for answer events.
    answerer: Option<i64>,
    /// The answer's first lines, for answer events.
    excerpt: Option<String>,
    /// The question's tag ids, for unanswered events (expert routing).
    tag_ids: Vec<i64>,
}

impl Found {
    fn new(card: Card, at: DateTime<Utc>, owner: Option<i64>) -> Self {
        Self {
            card,
            at,
            owner,
            answerer: None,
            excerpt: None,
            tag_ids: Vec::new(),
        }
    }
}

impl Poller {
    /// A poller over `store`, reading through `reader_for`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        reader_for: ReaderFor,
        settings: PollSettings,
    ) -> Self {
        Self {
            store,
            clock,
            reader_for,
            settings,
            polling: tokio::sync::Mutex::new(()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &PollSettings {
        &self.settings
    }

    /// The targets that have rules, the main site always first.
    pub async fn targets(&self) -> Result<Vec<Target>, StoreError> {
        let mut t: BTreeSet<String> = BTreeSet::new();
        for r in self.store.all_rules().await? {
            t.insert(Target(r.team).key());
        }
        let mut out = vec![Target::main()];
        out.extend(
            t.into_iter()
                .filter(|k| k != "main")
                .filter_map(|k| Target::from_key(&k)),
        );
        Ok(out)
    }

    /// Polls `target` once (unless it is backing off). See the module doc.
    pub async fn poll(&self, target: &Target) -> Result<PollReport, PollError> {
        let _one_at_a_time = self.polling.lock().await;
        let key = target.key();
        let now = self.clock.now();
        let mut state = self.store.target_state(&key).await?.unwrap_or_default();
        if state.next_poll_at.is_some_and(|t| now < t) {
            return Ok(PollReport::default());
        }
        let rules: Vec<Rule> = self
            .store
            .all_rules()
            .await?
            .into_iter()
            .filter(|r| r.team == target.0)
            .collect();
        let mut audience = Audience::build(
            &self.store.all_member_alerts().await?,
            &self.store.asked_questions(&key).await?,
        );
        let first = rules
            .iter()
            .map(|r| r.created_at)
            .min()
            .filter(|t| *t <= now);
        let Some(cursor) = state.cursor.or(first) else {
            // First poll with no rule: start from now; the site's history is never posted
            // (and with rules, from the oldest rule: they ignore anything older anyway).
            state.cursor = Some(now);
            state.last_poll_at = Some(now);
            state.last_success_at = Some(now);
            self.store.put_target_state(&key, &state).await?;
            return Ok(PollReport::default());
        };
        if rules.is_empty() && audience.is_empty() {
            // Nobody listens: spend nothing, and keep the cursor current so a new rule
            // starts from now (rules ignore older activity anyway).
            state.cursor = Some(now.max(cursor));
            state.last_poll_at = Some(now);
            state.pending_answers.clear();
            self.store.put_target_state(&key, &state).await?;
            return Ok(PollReport::default());
        }
        let reader = (self.reader_for)(target);
        let watched_reads = if target.0.is_none() {
            self.refresh_watched(&*reader, now).await?
        } else {
            0
        };
        match self
            .read(&*reader, &rules, &audience, &mut state, cursor, now)
            .await
        {
            Ok((found, report)) => {
                let (expert_reads, experts) = self
                    .read_experts(&*reader, &key, &rules, &audience, &found, now)
                    .await?;
                audience.tag_experts = experts;
                let (entries, personal) =
                    self.queue(&key, &rules, &audience, &mut state, found, now);
                let queued = entries.len();
                let personal_queued = personal.len();
                for p in &personal {
                    metrics::counter!(crate::telemetry::PERSONAL_ALERTS, "kind" => p.alert.kind(), "outcome" => "queued")
                        .increment(1);
                }
                state.last_poll_at = Some(now);
                state.last_success_at = Some(now);
                state.last_error = None;
                state.failures = 0;
                state.next_poll_at = None;
                prune(&mut state, now);
                if personal.is_empty() {
                    self.store.commit_poll(&key, &state, entries).await?;
                } else {
                    self.store
                        .commit_poll_personal(&key, &state, entries, personal)
                        .await?;
                }
                crate::telemetry::record_notify_target(&key, &state);
                Ok(PollReport {
                    queued,
                    personal_queued,
                    watched_reads,
                    expert_reads,
                    ..report
                })
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                let asked = match &e {
                    soe::Error::RateLimited { retry_after } => Some(*retry_after),
                    _ => None,
                };
                let wait = backoff(self.settings.interval, state.failures, asked);
                state.next_poll_at = Some(now + Duration::seconds(wait));
                state.last_poll_at = Some(now);
                state.last_error = Some(RuleError {
                    message: format!("reading {} failed: {e}", target.describe()),
                    at: now,
                });
                tracing::warn!(target = %key, error = %e, wait_secs = wait, "poll failed; backing off");
                self.store.put_target_state(&key, &state).await?;
                Err(PollError::Soe(e))
            }
        }
    }

    /// The reads of one poll; updates `state`'s memory (watched questions, cursor, pending
    /// answer reads) and returns the events found.
    async fn read(
        &self,
        reader: &dyn SoeRead,
        rules: &[Rule],
        audience: &Audience,
        state: &mut TargetState,
        cursor: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Found>, PollReport), soe::Error> {
        let since = cursor - Duration::seconds(OVERLAP_SECS);
        let wants_answers = rules.iter().any(|r| {
            r.spec.events.contains(&EventKind::Answers)
                || r.spec.events.contains(&EventKind::Accepted)
        });
        let mut report = PollReport {
            polled: true,
            ..Default::default()
        };
        // Articles first: a failure here leaves `state` untouched (the poll backs off and
        // reads the same window again).
        let mut found = Vec::new();
        let mut newest = cursor;
        if rules
            .iter()
            .any(|r| r.spec.events.contains(&EventKind::Articles))
        {
            let page = reader
                .list_articles(1, PageSize::Hundred, ArticleSort::Creation, Order::Desc)
                .await?;
            report.article_reads = 1;
            let full = page.items.len() >= PageSize::Hundred.get() as usize;
            let mut reached_old = false;
            for a in page.items.iter().filter(|a| !a.is_deleted) {
                let Some(created) = a.creation_date else {
                    continue;
                };
                if created < since {
                    reached_old = true;
                    continue;
                }
                newest = newest.max(created.min(now));
                found.push(Found::new(
                    article_card(a),
                    created,
                    a.owner.as_ref().and_then(|o| o.id),
                ));
            }
            if full && !reached_old {
                tracing::warn!(
                    "more than 100 new articles in one interval; only the newest 100 are carded"
                );
            }
        }
        let mut active: Vec<Question> = Vec::new();
        // True when the pages ran out before reaching activity older than the cursor.
        let mut cut_short = false;
        let resume = state.resume.take();
        let first_page = resume.map(|(p, _)| p).unwrap_or(1);
        let last_page = first_page.saturating_add(self.settings.max_pages.max(1) - 1);
        for page in first_page..=last_page {
            let p = reader
                .list_questions(&QuestionQuery {
                    page,
                    page_size: PageSize::Fifty,
                    sort: Some(QuestionSort::Activity),
                    order: Some(Order::Desc),
                    ..Default::default()
                })
                .await?;
            let n = p.items.len();
            let mut reached_old = false;
            for q in p.items {
                let at = q.last_activity_date.or(q.creation_date);
                if at.is_some_and(|t| t >= since) {
                    active.push(q);
                } else {
                    reached_old = true;
                }
            }
            if reached_old || n < 50 || i64::from(page) >= p.total_pages {
                break;
            }
            cut_short = page == last_page;
        }
        report.questions = active.len();

        let mut to_read: Vec<i64> = std::mem::take(&mut state.pending_answers);
        let mut by_id: BTreeMap<i64, Question> = BTreeMap::new();
        for q in active {
            if let Some(t) = q.last_activity_date {
                newest = newest.max(t.min(now));
            }
            let card = question_card(&q, ActivityKind::NewQuestion);
            let created = q.creation_date.unwrap_or(now);
            let owner = q.owner.as_ref().and_then(|o| o.id);
            if created >= since {
                found.push(Found::new(card.clone(), created, owner));
                state.watched.entry(q.id).or_insert(Watched {
                    card: card.clone(),
                    created_at: created,
                    answer_count: q.answer_count,
                    accepted_answer: None,
                    owner_id: owner,
                    tag_ids: q.tags.iter().map(|t| t.id).filter(|id| *id > 0).collect(),
                });
            }
            if let Some(w) = state.watched.get_mut(&q.id) {
                w.answer_count = q.answer_count;
                w.card = Card {
                    at: w.card.at,
                    ..card
                };
            }
            let wanted = wants_answers || audience.wants_answers_of(q.id, owner);
            if wanted && q.answer_count > 0 && !to_read.contains(&q.id) {
                to_read.push(q.id);
            }
            by_id.insert(q.id, q);
        }

        let mut read = 0;
        let mut left = Vec::new();
        for qid in to_read {
            if read >= self.settings.max_answer_reads {
                left.push(qid);
                continue;
            }
            let answers = match reader
                .list_answers(qid, 1, PageSize::Thirty, AnswerSort::Creation)
                .await
            {
                Ok(p) => p.items,
                Err(soe::Error::NotFound { .. }) => continue,
                Err(e @ soe::Error::RateLimited { .. }) if read > 0 => {
                    // Keep what this poll found; read the rest next time.
                    tracing::debug!(error = %e, "answer reads deferred to the next poll");
                    left.push(qid);
                    continue;
                }
                Err(e) => {
                    state.pending_answers = left;
                    return Err(e);
                }
            };
            read += 1;
            let question = match by_id.get(&qid) {
                Some(q) => q.clone(),
                None => match state.watched.get(&qid) {
                    Some(w) => question_from_card(&w.card, w.owner_id),
                    None => continue,
                },
            };
            found.extend(answer_events(&question, &answers, since, state));
        }
        state.pending_answers = left;
        report.answer_reads = read;

        // Unanswered-after, from memory: no request.
        if rules.iter().any(|r| r.spec.unanswered_after_secs.is_some()) {
            for w in state.watched.values() {
                if w.answer_count == 0 {
                    let age = (now - w.created_at).num_seconds().max(0);
                    let mut card = w.card.clone();
                    card.kind = ActivityKind::Unanswered {
                        age_secs: u64::try_from(age).unwrap_or(0),
                    };
                    card.at = now;
                    let mut f = Found::new(card, w.created_at, w.owner_id);
                    f.tag_ids = w.tag_ids.clone();
                    found.push(f);
                }
            }
        }
        // The cursor the whole window's reads lead to: this poll's newest activity, or, while
        // resuming a backlog, the newest of the poll that started it.
        let target = resume.map(|(_, c)| c.max(newest)).unwrap_or(newest);
        if cut_short {
            // More activity than the page budget: the cursor stays, and the next poll reads
            // on from the next page (items pushed down by new activity are read twice and
            // dropped by `seen`; new activity is read by the poll after).
            tracing::warn!(
                pages = self.settings.max_pages,
                "more site activity in one interval than one poll reads; notifications lag"
            );
            state.resume = Some((last_page + 1, target));
            state.cursor = Some(cursor);
        } else {
            state.cursor = Some(target);
        }
        Ok((found, report))
    }

    /// Matches every found event against every rule, and builds one outbox entry per event
    /// and channel not queued before; then against the members' personal alerts
    /// ([`Poller::personal`]).
    fn queue(
        &self,
        target_key: &str,
        rules: &[Rule],
        audience: &Audience,
        state: &mut TargetState,
        found: Vec<Found>,
        now: DateTime<Utc>,
    ) -> (Vec<OutboxEntry>, Vec<PersonalEntry>) {
        let mut entries = Vec::new();
        let mut lag: Option<i64> = None;
        let personal = if audience.is_empty() {
            Vec::new()
        } else {
            self.personal(rules, audience, state, &found, now)
        };
        for f in found {
            // Posts, answers and acceptances are matched once, when first found, against
            // every rule at once (a rule made later ignores them anyway): one key per event.
            // An unanswered question crosses each rule's threshold at its own time: one key
            // per event and channel.
            let per_channel = matches!(f.card.kind, ActivityKind::Unanswered { .. });
            let event_key = f.card.event_key();
            if !per_channel && state.seen.contains_key(&event_key) {
                continue;
            }
            let activity = Activity {
                kind: f.card.kind,
                tags: &f.card.tags,
                at: f.at,
            };
            // Channel → (guild, rule ids), in rule order.
            let mut channels: BTreeMap<u64, (u64, Vec<u32>)> = BTreeMap::new();
            for r in rules.iter().filter(|r| r.matches(&activity)) {
                let e = channels.entry(r.channel).or_insert((r.guild, Vec::new()));
                e.1.push(r.id);
            }
            if !per_channel && !channels.is_empty() {
                state.seen.insert(event_key.clone(), now);
            }
            for (channel, (guild, ids)) in channels {
                if per_channel {
                    let seen_key = format!("{event_key}@{channel}");
                    if state.seen.contains_key(&seen_key) {
                        continue;
                    }
                    state.seen.insert(seen_key, now);
                }
                if !matches!(f.card.kind, ActivityKind::Unanswered { .. }) {
                    let l = (now - f.card.at).num_seconds().max(0);
                    lag = Some(lag.map_or(l, |x: i64| x.max(l)));
                }
                entries.push(OutboxEntry {
                    id: 0,
                    target: target_key.to_string(),
                    guild,
                    channel,
                    rules: ids,
                    card: f.card.clone(),
                    queued_at: now,
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    folded: false,
                });
            }
        }
        if lag.is_some() {
            state.lag_secs = lag;
        }
        (entries, personal)
    }

    /// The personal DMs of the events found: answers to the members' questions, and one batch
    /// of new questions per member. Each event is matched once per member (`p:` keys in
    /// `seen`), when first found.
    fn personal(
        &self,
        rules: &[Rule],
        audience: &Audience,
        state: &mut TargetState,
        found: &[Found],
        now: DateTime<Utc>,
    ) -> Vec<PersonalEntry> {
        let mut out = Vec::new();
        let mut batches: Batches = Batches::new();
        for f in found {
            match f.card.kind {
                ActivityKind::NewAnswer => {
                    let Some((user, soe)) =
                        audience.asker_of(f.card.question_id, f.owner, f.answerer)
                    else {
                        continue;
                    };
                    let key = format!("p:{}@{user}", f.card.event_key());
                    if state.seen.contains_key(&key) {
                        continue;
                    }
                    state.seen.insert(key, now);
                    out.push(PersonalEntry::new(
                        user,
                        soe,
                        Alert::Answer {
                            card: f.card.clone(),
                            excerpt: f.excerpt.clone().unwrap_or_default(),
                        },
                        now,
                    ));
                }
                ActivityKind::NewQuestion => {
                    for (user, soe) in audience.watchers_of(&f.card.tags, f.owner) {
                        let key = format!("p:{}@{user}", f.card.event_key());
                        if state.seen.contains_key(&key) {
                            continue;
                        }
                        state.seen.insert(key, now);
                        batches
                            .entry(user)
                            .or_insert((soe, Vec::new()))
                            .1
                            .push(f.card.clone());
                    }
                }
                ActivityKind::Unanswered { .. } if !audience.experts.is_empty() => {
                    if !routes_to_experts(rules, f) {
                        continue;
                    }
                    let Some(experts) = audience.experts_of(&f.tag_ids) else {
                        // Some tag's experts are not read yet: routed once they are.
                        continue;
                    };
                    for (user, soe) in audience.experts_among(&experts, f.owner) {
                        // `u:` keys live as long as the question is watched.
                        let key = format!("u:{}@expert:{user}", f.card.question_id);
                        if state.seen.contains_key(&key) {
                            continue;
                        }
                        state.seen.insert(key, now);
                        out.push(PersonalEntry::new(
                            user,
                            soe,
                            Alert::Expert {
                                card: f.card.clone(),
                            },
                            now,
                        ));
                    }
                }
                _ => {}
            }
        }
        for (user, (soe, mut cards)) in batches {
            cards.sort_by_key(|c| (c.at, c.question_id));
            out.push(PersonalEntry::new(
                user,
                soe,
                Alert::NewQuestions { cards },
                now,
            ));
        }
        out
    }

    /// Reads the subject-matter experts of the tags of unanswered questions that are due for
    /// routing, when some member opted in: at most [`PollSettings::max_expert_reads`] tags per
    /// poll, each kept for [`personal::EXPERTS_REFRESH_SECS`], so the calls do not depend on
    /// the number of members (a question whose tags are not read yet waits for the next
    /// poll). A site with the feature off (422) or a tag gone (404) counts as no experts.
    async fn read_experts(
        &self,
        reader: &dyn SoeRead,
        target_key: &str,
        rules: &[Rule],
        audience: &Audience,
        found: &[Found],
        now: DateTime<Utc>,
    ) -> Result<(usize, KnownExperts), StoreError> {
        let mut known = KnownExperts::new();
        if audience.experts.is_empty() {
            return Ok((0, known));
        }
        let mut due: BTreeSet<i64> = BTreeSet::new();
        for f in found.iter().filter(|f| routes_to_experts(rules, f)) {
            for tag in &f.tag_ids {
                if known.contains_key(tag) || due.contains(tag) {
                    continue;
                }
                match self.store.tag_experts(target_key, *tag).await? {
                    Some(e) => {
                        if (now - e.read_at).num_seconds() >= personal::EXPERTS_REFRESH_SECS {
                            due.insert(*tag);
                        }
                        known.insert(*tag, e.users);
                    }
                    None => {
                        due.insert(*tag);
                    }
                }
            }
        }
        let mut reads = 0;
        for tag in due.into_iter().take(self.settings.max_expert_reads) {
            reads += 1;
            let users = match reader.tag_experts(tag).await {
                Ok(e) => e.user_ids(),
                Err(soe::Error::Validation { .. } | soe::Error::NotFound { .. }) => Vec::new(),
                Err(e) => {
                    tracing::warn!(tag, error = %e, "could not read a tag's subject-matter experts; trying again next poll");
                    break;
                }
            };
            self.store
                .put_tag_experts(
                    target_key,
                    tag,
                    &personal::TagExperts {
                        users: users.clone(),
                        read_at: now,
                    },
                )
                .await?;
            known.insert(tag, users);
        }
        Ok((reads, known))
    }

    /// Reads the watched tags of at most one member per poll (the one whose list is oldest,
    /// among those due), so a poll's SOE calls stay the same whatever the number of members.
    /// A failure is logged and leaves the list as it was (read again next poll), except a
    /// user the site no longer has, whose list becomes empty.
    async fn refresh_watched(
        &self,
        reader: &dyn SoeRead,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let due = self
            .store
            .all_member_alerts()
            .await?
            .into_iter()
            .filter(|m| m.watched_due(now))
            .min_by_key(|m| m.watched_read_at);
        let Some(mut member) = due else {
            return Ok(0);
        };
        match reader.watched_tags(member.soe_user_id).await {
            Ok(tags) => {
                member.watched = tags.0.iter().map(|t| t.name.to_ascii_lowercase()).collect();
                member.watched_read_at = Some(now);
            }
            Err(soe::Error::NotFound { .. }) => {
                member.watched.clear();
                member.watched_read_at = Some(now);
            }
            Err(e) => {
                tracing::warn!(user = member.user, error = %e, "could not read a member's watched tags; trying again next poll");
                return Ok(1);
            }
        }
        self.store.put_member_alerts(&member).await?;
        Ok(1)
    }
}

/// Each tag's experts (SOE user ids) as the store or this poll knows them, by tag id.
type KnownExperts = BTreeMap<i64, Vec<i64>>;

/// Whether an unanswered question is due for expert routing: some subscription rule (a
/// subscribed tag with `unanswered-after`) matches it now.
fn routes_to_experts(rules: &[Rule], f: &Found) -> bool {
    matches!(f.card.kind, ActivityKind::Unanswered { .. })
        && rules.iter().any(|r| {
            r.matches(&Activity {
                kind: f.card.kind,
                tags: &f.card.tags,
                at: f.at,
            })
        })
}

/// New answers (created since `since`) and new acceptances among `answers` of `question`;
/// updates the watched question's accepted answer.
fn answer_events(
    question: &Question,
    answers: &[Answer],
    since: DateTime<Utc>,
    state: &mut TargetState,
) -> Vec<Found> {
    let mut out = Vec::new();
    let base = question_card(question, ActivityKind::NewAnswer);
    let owner = question.owner.as_ref().and_then(|o| o.id);
    for a in answers.iter().filter(|a| !a.is_deleted) {
        let created = a.creation_date.unwrap_or(since);
        let card = Card {
            kind: ActivityKind::NewAnswer,
            answer_id: Some(a.id),
            url: a
                .share_link
                .clone()
                .or_else(|| a.web_url.clone())
                .unwrap_or_else(|| base.url.clone()),
            author: a.owner.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            at: created,
            ..base.clone()
        };
        if created >= since {
            let text = a
                .body_markdown
                .clone()
                .unwrap_or_else(|| soe::text::html_to_discord(&a.body));
            out.push(Found {
                card: card.clone(),
                at: created,
                owner,
                answerer: a.owner.as_ref().and_then(|o| o.id),
                excerpt: Some(personal::excerpt(&text)),
                tag_ids: Vec::new(),
            });
        }
        if a.is_accepted {
            let known = state.watched.get(&question.id).map(|w| w.accepted_answer);
            let is_new = match known {
                // Watched since it was posted: any change of accepted answer is news.
                Some(prev) => prev != Some(a.id),
                // Not watched (older than our memory): only when the answer itself is new.
                None => created >= since,
            };
            if is_new {
                let at = question.last_activity_date.unwrap_or(created);
                out.push(Found::new(
                    Card {
                        kind: ActivityKind::Accepted,
                        at,
                        ..card
                    },
                    at,
                    owner,
                ));
            }
            if let Some(w) = state.watched.get_mut(&question.id) {
                w.accepted_answer = Some(a.id);
            }
        }
    }
    out
}

/// The card of an article (its id in `question_id`; no answers, never edited in place).
pub fn article_card(a: &Article) -> Card {
    Card {
        kind: ActivityKind::NewArticle,
        question_id: a.id,
        answer_id: None,
        title: a.title.clone(),
        url: a
            .share_url
            .clone()
            .or_else(|| a.web_url.clone())
            .unwrap_or_default(),
        author: a.owner.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
        tags: a.tags.iter().map(|t| t.name.to_ascii_lowercase()).collect(),
        score: a.score,
        answer_count: 0,
        accepted: false,
        at: a.creation_date.unwrap_or_default(),
    }
}

/// The card of a question.
pub fn question_card(q: &Question, kind: ActivityKind) -> Card {
    Card {
        kind,
        question_id: q.id,
        answer_id: None,
        title: q.title.clone(),
        url: q
            .share_url
            .clone()
            .or_else(|| q.web_url.clone())
            .unwrap_or_default(),
        author: q.owner.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
        tags: q.tags.iter().map(|t| t.name.to_ascii_lowercase()).collect(),
        score: q.score,
        answer_count: q.answer_count,
        accepted: false,
        at: q.creation_date.unwrap_or_default(),
    }
}

fn question_from_card(c: &Card, owner_id: Option<i64>) -> Question {
    Question {
        id: c.question_id,
        title: c.title.clone(),
        share_url: Some(c.url.clone()),
        tags: c
            .tags
            .iter()
            .map(|t| soe::Tag {
                name: t.clone(),
                ..Default::default()
            })
            .collect(),
        score: c.score,
        answer_count: c.answer_count,
        owner: Some(soe::UserSummary {
            id: owner_id,
            name: c.author.clone(),
            ..Default::default()
        }),
        creation_date: Some(c.at),
        ..Default::default()
    }
}

/// Drops old memory: `seen` past a day ([`SEEN_DAYS`] for unanswered keys) or [`MAX_SEEN`], watched questions past the
/// longest `unanswered-after` (plus a day) or [`MAX_WATCHED`].
fn prune(state: &mut TargetState, now: DateTime<Utc>) {
    // Unanswered keys live as long as their question is watched; the others only need to
    // outlast the overlap between polls and a backlog being read on.
    let seen_cutoff = now - Duration::days(SEEN_DAYS);
    let event_cutoff = now - Duration::days(1);
    state.seen.retain(|k, at| {
        if k.starts_with("u:") {
            *at >= seen_cutoff
        } else {
            *at >= event_cutoff
        }
    });
    if state.seen.len() > MAX_SEEN {
        let mut by_age: Vec<(DateTime<Utc>, String)> =
            state.seen.iter().map(|(k, t)| (*t, k.clone())).collect();
        by_age.sort();
        for (_, k) in by_age.into_iter().take(state.seen.len() - MAX_SEEN) {
            state.seen.remove(&k);
        }
    }
    let horizon = i64::try_from(MAX_UNANSWERED_SECS).unwrap_or(0) + 86_400;
    let watch_cutoff = now - Duration::seconds(horizon);
    state.watched.retain(|_, w| w.created_at >= watch_cutoff);
    while state.watched.len() > MAX_WATCHED {
        let oldest = state
            .watched
            .iter()
            .min_by_key(|(_, w)| w.created_at)
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                state.watched.remove(&id);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_honours_the_site() {
        let i = std::time::Duration::from_secs(60);
        assert_eq!(backoff(i, 1, None), 120);
        assert_eq!(backoff(i, 2, None), 240);
        assert_eq!(backoff(i, 9, None), 900, "at most 15 minutes");
        assert_eq!(
            backoff(i, 1, Some(std::time::Duration::from_secs(600))),
            600
        );
        assert_eq!(
            backoff(i, 30, Some(std::time::Duration::from_secs(3600))),
            3600
        );
    }
}

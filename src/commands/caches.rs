//! In-memory helpers in front of the service token: the global request budget with each
//! member's share of it, the search and question caches, and the tag list for autocomplete.
//!
//! Invariants:
//! - the budget keeps service-token traffic inside SOE's per-token limits (50 requests per 2 s
//!   burst, 100 per minute sustained) whatever the number of members;
//! - the service token is a commons: every call made for a member also takes from that
//!   member's share (`limits.member_share_per_minute`, 20 of the 100 by default), in the same
//!   step as the global take, so a refused member spends nothing of the commons and a busy
//!   commons spends nothing of the member's share. One member clicking as fast as they can
//!   gets their share and then "you are going too fast", while others keep theirs;
//! - only calls that reach SOE are charged. Cached searches and question views cost no
//!   request and nothing from the member's share. They do not count toward any other rate
//!   either, with one exception kept from before: the `/so search` command itself has a
//!   per-member command rate (`limits.searches_burst`), cached or not, because a typed search
//!   is where scripted query floods would come from. Buttons on a cached page (Next, Prev,
//!   Open of a question just seen) cost nothing at all, so browsing results is never refused;
//!   the moment such a click does need SOE it is charged like any other call;
//! - the shares live in memory next to the global buckets, which reset on restart too;
//!   buckets that are full again are dropped, so the map holds only members who called SOE in
//!   the last minute (bounded by the global budget itself);
//! - tag autocomplete never calls SOE (the tag list is refreshed in the background, through
//!   the global budget only: it is nobody's share); question autocomplete may make one search,
//!   cached and charged to the member's share like any other (see `complete`).
//!
//! Time comes from the injected clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};

use crate::clock::SharedClock;
use crate::soe::{
    self, Answer, AnswerSort, Comment, Id, Page, PageSize, Question, QuestionQuery, SearchItem,
    SearchSort, SoeRead, Tag, TagSort, User,
};

use super::reply::{Choice, Reply};

/// A refilling bucket of request tokens.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    updated: DateTime<Utc>,
}

impl Bucket {
    fn new(capacity: f64, per_second: f64, now: DateTime<Utc>) -> Self {
        Self {
            capacity,
            tokens: capacity,
            per_second,
            updated: now,
        }
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        let elapsed = (now - self.updated).num_milliseconds().max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
    }

    /// `n` tokens, or the whole bucket when it is smaller (a request bigger than the bucket
    /// must still be possible once it is full).
    fn need(&self, n: u32) -> f64 {
        f64::from(n).min(self.capacity)
    }

    /// Seconds until `n` tokens are available (0 when they are).
    fn wait(&self, n: u32) -> f64 {
        let need = self.need(n);
        if self.tokens + 1e-9 >= need {
            0.0
        } else {
            (need - self.tokens) / self.per_second
        }
    }

    fn take(&mut self, n: u32) {
        self.tokens = (self.tokens - self.need(n)).max(0.0);
    }

    fn is_full(&self) -> bool {
        self.tokens + 1e-9 >= self.capacity
    }
}

/// Why the budget refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The member used their share of the service token; wait this long.
    Member(std::time::Duration),
    /// The bot as a whole is at SOE's limit; wait this long.
    Service(std::time::Duration),
}

impl Refusal {
    /// What the member is told. No SOE call was made.
    pub fn reply(&self) -> Reply {
        match self {
            Refusal::Member(wait) => {
                Reply::private(crate::t!("error-too-fast", secs = whole_secs(*wait)))
            }
            Refusal::Service(wait) => {
                Reply::private(soe::Error::RateLimited { retry_after: *wait }.user_message())
            }
        }
    }
}

/// Seconds rounded up, at least 1.
fn whole_secs(d: std::time::Duration) -> u64 {
    let ms = d.as_millis();
    u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX).max(1)
}

/// Entries in the share map that trigger dropping the full (idle) buckets.
const SHARES_PRUNE_AT: usize = 256;

/// The stored state of the two windows (burst, sustained): tokens and when they were
/// counted, `None` for a window never used (full).
pub type WindowsState = [Option<(f64, DateTime<Utc>)>; 2];

/// SOE's limits for one token: `burst` calls per `burst_secs`, `sustained` per
/// `sustained_secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimits {
    /// Calls in the burst window (50).
    pub burst: u32,
    /// The burst window in seconds (2).
    pub burst_secs: f64,
    /// Calls in the sustained window (100).
    pub sustained: u32,
    /// The sustained window in seconds (60).
    pub sustained_secs: f64,
}

impl BudgetLimits {
    /// SOE's defaults per token: 50 per 2 s, 100 per minute.
    pub const SOE: BudgetLimits = BudgetLimits {
        burst: 50,
        burst_secs: 2.0,
        sustained: 100,
        sustained_secs: 60.0,
    };

    /// (capacity, tokens back per second) of the burst and the sustained window.
    ///
    /// The site counts the burst in windows of `burst_secs` (fixed ones, starting with a
    /// call). A bucket holding `burst` and refilled over `burst_secs` would let up to twice
    /// `burst` through in one such window (a full bucket, then its refill); the load bench
    /// saw the site refuse calls that way. So the burst bucket holds half of `burst` and
    /// refills half of it per window: no interval of `burst_secs` can take more than `burst`.
    pub fn windows(&self) -> [(f64, f64); 2] {
        let half = f64::from(self.burst) / 2.0;
        [
            (half, half / self.burst_secs),
            (
                f64::from(self.sustained),
                f64::from(self.sustained) / self.sustained_secs,
            ),
        ]
    }

    /// Takes `calls` from both windows, whose stored state is `state` (tokens and when they
    /// were counted; `None`: never used, full), as of `now`: the new state of both, or how
    /// long until both have them (nothing changes then). The arithmetic every
    /// [`GlobalBuckets`] shares, so a shared budget behaves exactly like the in-memory one.
    pub fn take(
        &self,
        state: WindowsState,
        calls: u32,
        now: DateTime<Utc>,
    ) -> Result<[(f64, DateTime<Utc>); 2], std::time::Duration> {
        let mut buckets = [0, 1].map(|i| {
            let (capacity, per_second) = self.windows()[i];
            let mut b = Bucket::new(capacity, per_second, now);
            if let Some((tokens, updated)) = state[i] {
                // A stored count from another process's clock: never more than the capacity,
                // and a clock that went backwards grants nothing.
                b.tokens = if tokens.is_finite() {
                    tokens.clamp(0.0, capacity)
                } else {
                    0.0
                };
                b.updated = updated.min(now);
                b.refill(now);
            }
            b
        });
        let wait = buckets[0].wait(calls).max(buckets[1].wait(calls));
        if wait > 0.0 {
            return Err(std::time::Duration::from_secs_f64(wait.max(0.001)));
        }
        for b in &mut buckets {
            b.take(calls);
        }
        Ok(buckets.map(|b| (b.tokens, now)))
    }
}

/// Where the two global buckets live: in this process ([`MemoryBuckets`]), or shared by every
/// replica (the PostgreSQL one in `store::pg_store::budget`). Both take through
/// [`BudgetLimits::take`].
#[async_trait]
pub trait GlobalBuckets: Send + Sync {
    /// Takes `calls` from both windows as of `now`, all or nothing: the tokens left in each
    /// window afterwards, or how long to wait. A shared store that cannot be reached refuses
    /// (fail closed: the token's limits are never at risk).
    async fn take(&self, calls: u32, now: DateTime<Utc>) -> Result<[f64; 2], std::time::Duration>;
    /// The tokens in each window now, refilled (nothing taken).
    async fn left(&self, now: DateTime<Utc>) -> Result<[f64; 2], String>;
    /// The limits it enforces.
    fn limits(&self) -> BudgetLimits;
}

/// The global buckets in this process's memory (one replica; they reset on restart).
#[derive(Debug)]
pub struct MemoryBuckets {
    limits: BudgetLimits,
    state: Mutex<WindowsState>,
}

impl MemoryBuckets {
    /// Full buckets with `limits`.
    pub fn new(limits: BudgetLimits) -> Self {
        Self {
            limits,
            state: Mutex::new([None, None]),
        }
    }
}

#[async_trait]
impl GlobalBuckets for MemoryBuckets {
    async fn take(&self, calls: u32, now: DateTime<Utc>) -> Result<[f64; 2], std::time::Duration> {
        let mut state = self.state.lock();
        let after = self.limits.take(*state, calls, now)?;
        *state = after.map(Some);
        Ok(after.map(|(tokens, _)| tokens))
    }

    async fn left(&self, now: DateTime<Utc>) -> Result<[f64; 2], String> {
        let state = *self.state.lock();
        Ok([0, 1].map(|i| {
            let (capacity, per_second) = self.limits.windows()[i];
            let mut b = Bucket::new(capacity, per_second, now);
            if let Some((tokens, updated)) = state[i] {
                b.tokens = tokens;
                b.updated = updated.min(now);
                b.refill(now);
            }
            b.tokens
        }))
    }

    fn limits(&self) -> BudgetLimits {
        self.limits
    }
}

/// The global limiter in front of the service token, with every member's share of it.
pub struct ServiceBudget {
    clock: SharedClock,
    /// SOE's two windows, in memory or shared by replicas (set once at startup).
    global: RwLock<Arc<dyn GlobalBuckets>>,
    /// Each member's share of the sustained limit, by Discord user id. Kept in this process:
    /// with several replicas a member's share is per replica, while the global windows (what
    /// SOE enforces) stay shared.
    members: Mutex<HashMap<u64, Bucket>>,
    /// Calls one member may cause per minute (also their burst).
    member_share_per_minute: u32,
}

impl std::fmt::Debug for ServiceBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBudget")
            .field("limits", &self.global().limits())
            .field("member_share_per_minute", &self.member_share_per_minute)
            .finish_non_exhaustive()
    }
}

impl ServiceBudget {
    /// 50 per 2 s burst and 100 per minute sustained: SOE's defaults per token.
    pub fn soe_default(clock: SharedClock) -> Self {
        Self::with_global(clock, Arc::new(MemoryBuckets::new(BudgetLimits::SOE)))
    }

    /// `burst` per `burst_secs`, and `sustained` per `sustained_secs`, in memory; each
    /// member's share is the default 20 a minute until [`ServiceBudget::with_member_share`].
    pub fn new(
        clock: SharedClock,
        burst: u32,
        burst_secs: f64,
        sustained: u32,
        sustained_secs: f64,
    ) -> Self {
        Self::with_global(
            clock,
            Arc::new(MemoryBuckets::new(BudgetLimits {
                burst,
                burst_secs,
                sustained,
                sustained_secs,
            })),
        )
    }

    /// The budget over `global` (e.g. shared by replicas through the database).
    pub fn with_global(clock: SharedClock, global: Arc<dyn GlobalBuckets>) -> Self {
        Self {
            global: RwLock::new(global),
            members: Mutex::new(HashMap::new()),
            member_share_per_minute: crate::config::LimitsConfig::default().member_share_per_minute,
            clock,
        }
    }

    /// Keeps the global windows in `global` from now on.
    pub fn use_global(&self, global: Arc<dyn GlobalBuckets>) {
        *self.global.write() = global;
    }

    fn global(&self) -> Arc<dyn GlobalBuckets> {
        self.global.read().clone()
    }

    /// Each member may cause at most `per_minute` calls a minute (at least 1).
    pub fn with_member_share(mut self, per_minute: u32) -> Self {
        self.member_share_per_minute = per_minute.max(1);
        self
    }

    /// Takes `calls` requests from the global buckets and, for a member, from their share:
    /// all of them or none. The member's share is taken first and given back if the global
    /// buckets refuse.
    pub async fn try_take(&self, member: Option<u64>, calls: u32) -> Result<(), Refusal> {
        let now = self.clock.now();
        let share = f64::from(self.member_share_per_minute);
        let mut given = 0.0;
        if let Some(m) = member {
            let mut members = self.members.lock();
            let mine = members
                .entry(m)
                .or_insert_with(|| Bucket::new(share, share / 60.0, now));
            mine.refill(now);
            let wait = mine.wait(calls);
            if wait > 0.0 {
                metrics::counter!(crate::telemetry::BUDGET_REFUSALS, "who" => "member")
                    .increment(1);
                return Err(Refusal::Member(std::time::Duration::from_secs_f64(wait)));
            }
            given = mine.need(calls);
            mine.take(calls);
            if members.len() > SHARES_PRUNE_AT {
                members.retain(|_, bucket| {
                    bucket.refill(now);
                    !bucket.is_full()
                });
            }
        }
        let global = self.global();
        match global.take(calls, now).await {
            Ok(left) => {
                let windows = global.limits().windows();
                for (i, window) in ["burst", "minute"].into_iter().enumerate() {
                    metrics::gauge!(crate::telemetry::BUDGET_USED, "window" => window)
                        .set(1.0 - left[i] / windows[i].0);
                }
                Ok(())
            }
            Err(wait) => {
                if let Some(m) = member {
                    if let Some(mine) = self.members.lock().get_mut(&m) {
                        mine.tokens = (mine.tokens + given).min(mine.capacity);
                    }
                }
                metrics::counter!(crate::telemetry::BUDGET_REFUSALS, "who" => "service")
                    .increment(1);
                Err(Refusal::Service(wait))
            }
        }
    }

    /// What is left of the global budget now: (calls in the burst bucket, of its capacity;
    /// calls in the sustained bucket, of its capacity), whole calls rounded down. `Err` when
    /// a shared budget cannot be read.
    pub async fn headroom(&self) -> Result<((u32, u32), (u32, u32)), String> {
        let global = self.global();
        let left = global.left(self.clock.now()).await?;
        let windows = global.limits().windows();
        let whole = |x: f64| x.max(0.0).floor() as u32;
        Ok((
            (whole(left[0]), whole(windows[0].0)),
            (whole(left[1]), whole(windows[1].0)),
        ))
    }

    /// Members whose share is being tracked (those who called SOE lately).
    pub fn tracked_members(&self) -> usize {
        self.members.lock().len()
    }
}

/// A [`SoeRead`] that spends from a [`ServiceBudget`] before every call (for the member it
/// reads for, if any) and fails fast with `RateLimited` when the budget is spent. A use case
/// that makes several calls together reserves them first ([`BudgetedRead::reserve`]), so it
/// gets all of them or a clear refusal before any call.
pub struct BudgetedRead {
    inner: Arc<dyn SoeRead>,
    budget: Arc<ServiceBudget>,
    /// The member charged, `None` for the bot's own background work.
    member: Option<u64>,
    /// Calls already paid for by [`BudgetedRead::reserve`].
    prepaid: AtomicU32,
}

impl BudgetedRead {
    /// Wraps `inner`, charging `member`'s share (if any) and the global budget.
    pub fn new(inner: Arc<dyn SoeRead>, budget: Arc<ServiceBudget>, member: Option<u64>) -> Self {
        Self {
            inner,
            budget,
            member,
            prepaid: AtomicU32::new(0),
        }
    }

    /// Pays for the next `calls` calls now, all or none.
    pub async fn reserve(&self, calls: u32) -> Result<(), Refusal> {
        self.budget.try_take(self.member, calls).await?;
        self.prepaid.fetch_add(calls, Ordering::SeqCst);
        Ok(())
    }

    async fn spend(&self) -> soe::Result<()> {
        let prepaid = self
            .prepaid
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if prepaid.is_ok() {
            return Ok(());
        }
        self.budget
            .try_take(self.member, 1)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Member(retry_after) | Refusal::Service(retry_after) => {
                    soe::Error::RateLimited { retry_after }
                }
            })
    }
}

#[async_trait]
impl SoeRead for BudgetedRead {
    async fn list_questions(&self, q: &QuestionQuery) -> soe::Result<Page<Question>> {
        self.spend().await?;
        self.inner.list_questions(q).await
    }
    async fn get_question(&self, id: Id) -> soe::Result<Question> {
        self.spend().await?;
        self.inner.get_question(id).await
    }
    async fn list_articles(
        &self,
        page: u32,
        size: PageSize,
        sort: soe::ArticleSort,
        order: soe::Order,
    ) -> soe::Result<Page<soe::Article>> {
        self.spend().await?;
        self.inner.list_articles(page, size, sort, order).await
    }
    async fn list_answers(
        &self,
        q: Id,
        page: u32,
        size: PageSize,
        sort: AnswerSort,
    ) -> soe::Result<Page<Answer>> {
        self.spend().await?;
        self.inner.list_answers(q, page, size, sort).await
    }
    async fn get_answer(&self, q: Id, a: Id) -> soe::Result<Answer> {
        self.spend().await?;
        self.inner.get_answer(q, a).await
    }
    async fn search(
        &self,
        query: &str,
        page: u32,
        size: PageSize,
        sort: SearchSort,
    ) -> soe::Result<Page<SearchItem>> {
        self.spend().await?;
        self.inner.search(query, page, size, sort).await
    }
    async fn list_tags(
        &self,
        partial: Option<&str>,
        page: u32,
        size: PageSize,
        sort: TagSort,
    ) -> soe::Result<Page<Tag>> {
        self.spend().await?;
        self.inner.list_tags(partial, page, size, sort).await
    }
    async fn get_tag(&self, id: Id) -> soe::Result<Tag> {
        self.spend().await?;
        self.inner.get_tag(id).await
    }
    async fn me(&self) -> soe::Result<User> {
        self.spend().await?;
        self.inner.me().await
    }
    async fn get_user(&self, id: Id) -> soe::Result<User> {
        self.spend().await?;
        self.inner.get_user(id).await
    }
    async fn question_comments(&self, q: Id) -> soe::Result<Vec<Comment>> {
        self.spend().await?;
        self.inner.question_comments(q).await
    }
    async fn answer_comments(&self, q: Id, a: Id) -> soe::Result<Vec<Comment>> {
        self.spend().await?;
        self.inner.answer_comments(q, a).await
    }
    async fn tag_experts(&self, tag: Id) -> soe::Result<soe::SubjectMatterExperts> {
        self.spend().await?;
        self.inner.tag_experts(tag).await
    }
    async fn watched_tags(&self, user: Id) -> soe::Result<soe::WatchedTags> {
        self.spend().await?;
        self.inner.watched_tags(user).await
    }
}

/// A cached value and when it was fetched.
type Cached<V> = (DateTime<Utc>, Arc<V>);

/// Recent results of service-token reads, by key, each kept for the TTL.
#[derive(Debug)]
pub struct TtlCache<V> {
    /// The `cache` label of its hit and miss counts ([`crate::telemetry::CACHE_LOOKUPS`]).
    name: &'static str,
    clock: SharedClock,
    ttl: Duration,
    /// Key → when fetched, and the value.
    entries: Mutex<HashMap<String, Cached<V>>>,
}

/// Entries kept at most per cache; expired ones go first, then the oldest.
const CACHE_MAX: usize = 1024;

impl<V> TtlCache<V> {
    /// Values live `ttl_secs`; `name` labels its hit and miss counts.
    pub fn new(name: &'static str, clock: SharedClock, ttl_secs: u32) -> Self {
        Self {
            name,
            clock,
            ttl: Duration::seconds(ttl_secs.into()),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh entry (counted as a hit or a miss).
    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        let now = self.clock.now();
        let found = {
            let map = self.entries.lock();
            map.get(key)
                .filter(|(at, _)| now - *at < self.ttl)
                .map(|(_, v)| v.clone())
        };
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!(crate::telemetry::CACHE_LOOKUPS, "cache" => self.name, "result" => result)
            .increment(1);
        found
    }

    /// Stores an entry.
    pub fn put(&self, key: String, value: Arc<V>) {
        let now = self.clock.now();
        let mut map = self.entries.lock();
        if map.len() >= CACHE_MAX && !map.contains_key(&key) {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| now - *at < ttl);
            if map.len() >= CACHE_MAX {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(key, (now, value));
    }

    /// Drops an entry (its data changed).
    pub fn forget(&self, key: &str) {
        self.entries.lock().remove(key);
    }

    /// Entries held (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Recent search results, keyed by (team, normalised query, sort, API page).
pub type SearchCache = TtlCache<Page<SearchItem>>;

impl SearchCache {
    /// The cache key.
    pub fn key(team: Option<&str>, query: &str, sort: SearchSort, api_page: u32) -> String {
        let q = query
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        format!(
            "{}|{}|{}|{}",
            team.unwrap_or(""),
            sort.as_str(),
            api_page,
            q
        )
    }
}

/// What a question view shows: the question and its first page of answers by score.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionView {
    /// The question.
    pub question: Question,
    /// Its answers, as the site sorted them.
    pub answers: Vec<Answer>,
}

/// Recent question views, keyed by (team, question id).
pub type QuestionCache = TtlCache<QuestionView>;

impl QuestionCache {
    /// The cache key.
    pub fn key(team: Option<&str>, question: Id) -> String {
        format!("{}|{question}", team.unwrap_or(""))
    }
}

/// One tag as autocomplete shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEntry {
    /// Tag name.
    pub name: String,
    /// Posts using it.
    pub post_count: i64,
}

/// The site's tags, most used first, refreshed in the background.
#[derive(Debug, Default)]
pub struct TagCache {
    tags: RwLock<Arc<Vec<TagEntry>>>,
    /// The last refresh stopped at [`TAG_PAGES`] before the site's last page: a tag missing
    /// from the list may still exist (used rarely), so [`TagCache::knows_every_tag`] is false.
    partial: std::sync::atomic::AtomicBool,
}

/// Pages of 100 tags fetched per refresh at most (the 5,000 most used tags).
const TAG_PAGES: u32 = 50;

impl TagCache {
    /// Replaces the list with every tag of the site.
    pub fn set(&self, tags: Vec<TagEntry>) {
        self.set_from(tags, false);
    }

    /// Replaces the list; `partial` when it is only the most used of the site's tags.
    fn set_from(&self, mut tags: Vec<TagEntry>, partial: bool) {
        tags.sort_by(|a, b| {
            b.post_count
                .cmp(&a.post_count)
                .then_with(|| a.name.cmp(&b.name))
        });
        *self.tags.write() = Arc::new(tags);
        self.partial
            .store(partial, std::sync::atomic::Ordering::Relaxed);
    }

    /// Number of tags known.
    pub fn len(&self) -> usize {
        self.tags.read().len()
    }

    /// True before the first refresh.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `name` is a known tag.
    pub fn contains(&self, name: &str) -> bool {
        self.tags.read().iter().any(|t| t.name == name)
    }

    /// True when the list is loaded and holds every tag of the site, so a name missing from
    /// it is not a tag there (false before the first refresh, and when the site has more tags
    /// than a refresh reads).
    pub fn knows_every_tag(&self) -> bool {
        !self.is_empty() && !self.partial.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fetches the list from SOE (most used first).
    pub async fn refresh(&self, soe: &dyn SoeRead) -> soe::Result<usize> {
        let mut all = Vec::new();
        let mut partial = true;
        for page in 1..=TAG_PAGES {
            let p = soe
                .list_tags(None, page, PageSize::Hundred, TagSort::PostCount)
                .await?;
            let n = p.items.len();
            all.extend(p.items.into_iter().map(|t| TagEntry {
                name: t.name,
                post_count: t.post_count,
            }));
            if n < 100 || i64::from(page) >= p.total_pages {
                partial = false;
                break;
            }
        }
        let n = all.len();
        self.set_from(all, partial);
        Ok(n)
    }

    /// Up to 25 choices for what the member typed: prefix matches first, then substring
    /// matches, each most used first. For a comma-separated list only the last item is
    /// completed and the earlier ones are kept in the value.
    pub fn complete(&self, typed: &str) -> Vec<Choice> {
        let (head, last) = match typed.rfind([',', ' ']) {
            Some(i) => (
                typed[..=i].trim_end_matches([',', ' ']).to_string(),
                typed[i + 1..].trim(),
            ),
            None => (String::new(), typed.trim()),
        };
        let last = last.to_lowercase();
        let tags = self.tags.read().clone();
        let prefix = tags.iter().filter(|t| t.name.starts_with(&last));
        let inner = tags
            .iter()
            .filter(|t| !t.name.starts_with(&last) && t.name.contains(&last));
        prefix
            .chain(inner)
            .take(super::reply::limits::CHOICES)
            .map(|t| {
                let value = if head.is_empty() {
                    t.name.clone()
                } else {
                    format!("{head}, {}", t.name)
                };
                Choice {
                    name: super::reply::truncate(&format!("{value} ({})", t.post_count), 100),
                    value: super::reply::truncate(&value, 100),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[tokio::test]
    async fn no_window_of_the_burst_length_takes_more_than_the_burst() {
        // Taking as fast as the budget allows for 10 s, in 10 ms steps: the site counts 50
        // calls per 2 s window, so no 2 s may hold more, even a full bucket followed by its
        // refill (the old bucket of 50 refilled in 2 s let 100 through in one window).
        let clock = FixedClock::epoch();
        let b = ServiceBudget::soe_default(Arc::new(clock.clone()));
        let mut taken: Vec<u32> = Vec::new();
        for step in 0..1000u32 {
            while b.try_take(None, 1).await.is_ok() {
                taken.push(step);
            }
            clock.advance(Duration::milliseconds(10));
        }
        for (i, &start) in taken.iter().enumerate() {
            let in_window = taken[i..].iter().take_while(|&&t| t < start + 200).count();
            assert!(
                in_window <= 50,
                "{in_window} calls in the 2 s from step {start}"
            );
        }
        let first_2s = taken.iter().filter(|&&t| t < 200).count();
        assert!(
            first_2s >= 45,
            "not stingy either: {first_2s} in the first 2 s"
        );
        // The minute bucket (100, refilled over 60 s) is the limit after that.
        assert!(
            taken.len() <= 100 + 17,
            "sustained rate must hold: {} in 10 s",
            taken.len()
        );
        let Err(Refusal::Service(wait)) = b.try_take(None, 1).await else {
            panic!("the budget is spent")
        };
        assert!(wait <= std::time::Duration::from_secs(1), "{wait:?}");
    }

    #[tokio::test]
    async fn a_member_gets_their_share_and_a_refusal_takes_nothing() {
        let clock = FixedClock::epoch();
        let b = ServiceBudget::soe_default(Arc::new(clock.clone())).with_member_share(20);
        for _ in 0..10 {
            assert!(b.try_take(Some(1), 2).await.is_ok());
        }
        let Err(Refusal::Member(wait)) = b.try_take(Some(1), 2).await else {
            panic!("the share is spent")
        };
        assert_eq!(
            whole_secs(wait),
            6,
            "two calls refill in 6 s at 20 a minute"
        );
        assert_eq!(
            Refusal::Member(wait)
                .reply()
                .content
                .matches("try again in 6 s")
                .count(),
            1
        );
        // The refusal took nothing from the commons: 5 calls left of the 25 the burst bucket
        // holds at once.
        for _ in 0..5 {
            assert!(b.try_take(Some(2 + rand_member()), 1).await.is_ok());
        }
        assert!(matches!(
            b.try_take(Some(99), 1).await,
            Err(Refusal::Service(_))
        ));
        // A busy commons took nothing from the member's share either.
        let c = FixedClock::epoch();
        let b2 = ServiceBudget::new(Arc::new(c.clone()), 1, 2.0, 100, 60.0).with_member_share(4);
        assert!(b2.try_take(Some(7), 1).await.is_ok());
        assert!(matches!(
            b2.try_take(Some(7), 1).await,
            Err(Refusal::Service(_))
        ));
        c.advance(Duration::seconds(2));
        for _ in 0..3 {
            assert!(b2.try_take(Some(7), 1).await.is_ok());
            c.advance(Duration::seconds(2));
        }
    }

    /// Distinct member ids for the commons check.
    fn rand_member() -> u64 {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(1000);
        NEXT.fetch_add(1, Ordering::SeqCst)
    }

    #[tokio::test]
    async fn idle_shares_are_dropped() {
        let clock = FixedClock::epoch();
        let b = ServiceBudget::new(Arc::new(clock.clone()), 10_000, 1.0, 10_000, 1.0);
        for m in 0..=(SHARES_PRUNE_AT as u64) {
            assert!(b.try_take(Some(m), 1).await.is_ok());
        }
        assert_eq!(b.tracked_members(), SHARES_PRUNE_AT + 1);
        // One share refills in 3 s at 20 a minute; then the next take prunes the idle ones.
        clock.advance(Duration::seconds(4));
        assert!(b.try_take(Some(5_000), 1).await.is_ok());
        assert_eq!(b.tracked_members(), 1, "only the member still refilling");
    }

    /// A site where nothing exists (every read is a 404).
    struct Missing;

    fn missing<T>() -> soe::Result<T> {
        Err(soe::Error::NotFound {
            detail: "not found".into(),
        })
    }

    #[async_trait]
    impl SoeRead for Missing {
        async fn list_questions(&self, _: &QuestionQuery) -> soe::Result<Page<Question>> {
            missing()
        }
        async fn get_question(&self, _: Id) -> soe::Result<Question> {
            missing()
        }
        async fn list_articles(
            &self,
            _: u32,
            _: PageSize,
            _: soe::ArticleSort,
            _: soe::Order,
        ) -> soe::Result<Page<soe::Article>> {
            missing()
        }
        async fn list_answers(
            &self,
            _: Id,
            _: u32,
            _: PageSize,
            _: AnswerSort,
        ) -> soe::Result<Page<Answer>> {
            missing()
        }
        async fn get_answer(&self, _: Id, _: Id) -> soe::Result<Answer> {
            missing()
        }
        async fn search(
            &self,
            _: &str,
            _: u32,
            _: PageSize,
            _: SearchSort,
        ) -> soe::Result<Page<SearchItem>> {
            missing()
        }
        async fn list_tags(
            &self,
            _: Option<&str>,
            _: u32,
            _: PageSize,
            _: TagSort,
        ) -> soe::Result<Page<Tag>> {
            missing()
        }
        async fn get_tag(&self, _: Id) -> soe::Result<Tag> {
            missing()
        }
        async fn me(&self) -> soe::Result<User> {
            missing()
        }
        async fn get_user(&self, _: Id) -> soe::Result<User> {
            missing()
        }
        async fn question_comments(&self, _: Id) -> soe::Result<Vec<Comment>> {
            missing()
        }
        async fn answer_comments(&self, _: Id, _: Id) -> soe::Result<Vec<Comment>> {
            missing()
        }
        async fn tag_experts(&self, _: Id) -> soe::Result<soe::SubjectMatterExperts> {
            missing()
        }
        async fn watched_tags(&self, _: Id) -> soe::Result<soe::WatchedTags> {
            missing()
        }
    }

    #[tokio::test]
    async fn a_reservation_pays_for_the_next_calls() {
        let clock = FixedClock::epoch();
        let budget = Arc::new(
            ServiceBudget::new(Arc::new(clock.clone()), 50, 2.0, 100, 60.0).with_member_share(3),
        );
        let inner: Arc<dyn SoeRead> = Arc::new(Missing);
        let r = BudgetedRead::new(inner, budget.clone(), Some(1));
        assert!(r.reserve(2).await.is_ok());
        // The member has 1 call left; the two reserved calls go through anyway.
        assert!(!matches!(r.me().await, Err(soe::Error::RateLimited { .. })));
        assert!(!matches!(r.me().await, Err(soe::Error::RateLimited { .. })));
        assert!(!matches!(r.me().await, Err(soe::Error::RateLimited { .. })));
        assert!(matches!(r.me().await, Err(soe::Error::RateLimited { .. })));
        assert!(matches!(r.reserve(1).await, Err(Refusal::Member(_))));
    }

    #[test]
    fn search_cache_expires() {
        let clock = FixedClock::epoch();
        let c = SearchCache::new("search", Arc::new(clock.clone()), 60);
        let k = SearchCache::key(None, "  Async   Rust ", SearchSort::Relevance, 1);
        assert_eq!(
            k,
            SearchCache::key(None, "async rust", SearchSort::Relevance, 1)
        );
        c.put(k.clone(), Arc::new(Page::default()));
        assert!(c.get(&k).is_some());
        clock.advance(Duration::seconds(61));
        assert!(c.get(&k).is_none());
    }

    #[test]
    fn caches_are_bounded_and_forget() {
        let clock = FixedClock::epoch();
        let c = QuestionCache::new("question", Arc::new(clock.clone()), 60);
        for q in 0..(CACHE_MAX as i64 + 10) {
            clock.advance(Duration::milliseconds(1));
            c.put(
                QuestionCache::key(None, q),
                Arc::new(QuestionView {
                    question: Question::default(),
                    answers: vec![],
                }),
            );
        }
        assert_eq!(c.len(), CACHE_MAX);
        let newest = QuestionCache::key(None, CACHE_MAX as i64 + 9);
        assert!(c.get(&newest).is_some());
        assert!(
            c.get(&QuestionCache::key(None, 0)).is_none(),
            "oldest went first"
        );
        c.forget(&newest);
        assert!(c.get(&newest).is_none());
        assert_ne!(
            QuestionCache::key(Some("platform"), 5),
            QuestionCache::key(None, 5),
            "teams are apart"
        );
    }

    #[test]
    fn only_a_complete_tag_list_can_tell_a_tag_is_missing() {
        let t = TagCache::default();
        assert!(!t.knows_every_tag(), "not loaded");
        let rust = || TagEntry {
            name: "rust".into(),
            post_count: 1,
        };
        t.set_from(vec![rust()], true);
        assert!(!t.knows_every_tag(), "the most used tags only");
        t.set(vec![rust()]);
        assert!(t.knows_every_tag());
        assert!(t.contains("rust") && !t.contains("rsut"));
    }

    #[test]
    fn tag_completion_prefers_prefix_and_keeps_earlier_tags() {
        let t = TagCache::default();
        t.set(vec![
            TagEntry {
                name: "rust".into(),
                post_count: 10,
            },
            TagEntry {
                name: "trust".into(),
                post_count: 50,
            },
            TagEntry {
                name: "rust-async".into(),
                post_count: 20,
            },
            TagEntry {
                name: "python".into(),
                post_count: 99,
            },
        ]);
        let c = t.complete("ru");
        let names: Vec<_> = c.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(names, ["rust-async", "rust", "trust"]);
        let c = t.complete("python, ru");
        assert_eq!(c[0].value, "python, rust-async");
    }
}

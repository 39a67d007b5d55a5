//! In-memory helpers in front of the service token: the global request budget, the search
//! cache, and the tag list for autocomplete.
//!
//! Invariants: the budget keeps service-token traffic inside SOE's per-token limits (50
//! requests per 2 s burst, 100 per minute sustained) whatever the number of members; cached
//! searches cost no request; autocomplete never calls SOE (the tag list is refreshed in the
//! background). Time comes from the injected clock.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};

use crate::clock::SharedClock;
use crate::soe::{
    self, Answer, AnswerSort, Comment, Id, Page, PageSize, Question, QuestionQuery, SearchItem,
    SearchSort, SoeRead, Tag, TagSort, User,
};

use super::reply::Choice;

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

    /// Seconds until one token is available (0 when one is).
    fn wait(&self) -> f64 {
        if self.tokens >= 1.0 {
            0.0
        } else {
            (1.0 - self.tokens) / self.per_second
        }
    }
}

/// The global limiter in front of the service token.
#[derive(Debug)]
pub struct ServiceBudget {
    clock: SharedClock,
    /// (burst, sustained).
    buckets: Mutex<(Bucket, Bucket)>,
}

impl ServiceBudget {
    /// 50 per 2 s burst and 100 per minute sustained: SOE's defaults per token.
    pub fn soe_default(clock: SharedClock) -> Self {
        Self::new(clock, 50, 2.0, 100, 60.0)
    }

    /// `burst` per `burst_secs`, and `sustained` per `sustained_secs`.
    pub fn new(
        clock: SharedClock,
        burst: u32,
        burst_secs: f64,
        sustained: u32,
        sustained_secs: f64,
    ) -> Self {
        let now = clock.now();
        Self {
            buckets: Mutex::new((
                Bucket::new(burst as f64, burst as f64 / burst_secs, now),
                Bucket::new(sustained as f64, sustained as f64 / sustained_secs, now),
            )),
            clock,
        }
    }

    /// Takes one request from both buckets, or says how long to wait.
    pub fn try_take(&self) -> Result<(), std::time::Duration> {
        let now = self.clock.now();
        let mut b = self.buckets.lock();
        b.0.refill(now);
        b.1.refill(now);
        let wait = b.0.wait().max(b.1.wait());
        if wait > 0.0 {
            return Err(std::time::Duration::from_secs_f64(wait.max(0.001)));
        }
        b.0.tokens -= 1.0;
        b.1.tokens -= 1.0;
        Ok(())
    }
}

/// A [`SoeRead`] that spends from a [`ServiceBudget`] before every call and fails fast with
/// `RateLimited` when the budget is spent.
pub struct BudgetedRead {
    inner: Arc<dyn SoeRead>,
    budget: Arc<ServiceBudget>,
}

impl BudgetedRead {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SoeRead>, budget: Arc<ServiceBudget>) -> Self {
        Self { inner, budget }
    }

    fn spend(&self) -> soe::Result<()> {
        self.budget
            .try_take()
            .map_err(|retry_after| soe::Error::RateLimited { retry_after })
    }
}

#[async_trait]
impl SoeRead for BudgetedRead {
    async fn list_questions(&self, q: &QuestionQuery) -> soe::Result<Page<Question>> {
        self.spend()?;
        self.inner.list_questions(q).await
    }
    async fn get_question(&self, id: Id) -> soe::Result<Question> {
        self.spend()?;
        self.inner.get_question(id).await
    }
    async fn list_answers(
        &self,
        q: Id,
        page: u32,
        size: PageSize,
        sort: AnswerSort,
    ) -> soe::Result<Page<Answer>> {
        self.spend()?;
        self.inner.list_answers(q, page, size, sort).await
    }
    async fn get_answer(&self, q: Id, a: Id) -> soe::Result<Answer> {
        self.spend()?;
        self.inner.get_answer(q, a).await
    }
    async fn search(
        &self,
        query: &str,
        page: u32,
        size: PageSize,
        sort: SearchSort,
    ) -> soe::Result<Page<SearchItem>> {
        self.spend()?;
        self.inner.search(query, page, size, sort).await
    }
    async fn list_tags(
        &self,
        partial: Option<&str>,
        page: u32,
        size: PageSize,
        sort: TagSort,
    ) -> soe::Result<Page<Tag>> {
        self.spend()?;
        self.inner.list_tags(partial, page, size, sort).await
    }
    async fn get_tag(&self, id: Id) -> soe::Result<Tag> {
        self.spend()?;
        self.inner.get_tag(id).await
    }
    async fn me(&self) -> soe::Result<User> {
        self.spend()?;
        self.inner.me().await
    }
    async fn get_user(&self, id: Id) -> soe::Result<User> {
        self.spend()?;
        self.inner.get_user(id).await
    }
    async fn question_comments(&self, q: Id) -> soe::Result<Vec<Comment>> {
        self.spend()?;
        self.inner.question_comments(q).await
    }
    async fn answer_comments(&self, q: Id, a: Id) -> soe::Result<Vec<Comment>> {
        self.spend()?;
        self.inner.answer_comments(q, a).await
    }
}

/// A cached results page and when it was fetched.
type CachedPage = (DateTime<Utc>, Arc<Page<SearchItem>>);

/// Recent search results, keyed by (team, normalised query, sort, API page).
#[derive(Debug)]
pub struct SearchCache {
    clock: SharedClock,
    ttl: Duration,
    entries: Mutex<HashMap<String, CachedPage>>,
}

/// Entries kept at most; the oldest go first.
const SEARCH_CACHE_MAX: usize = 1024;

impl SearchCache {
    /// Results live `ttl_secs`.
    pub fn new(clock: SharedClock, ttl_secs: u32) -> Self {
        Self {
            clock,
            ttl: Duration::seconds(ttl_secs.into()),
            entries: Mutex::new(HashMap::new()),
        }
    }

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

    /// A fresh entry.
    pub fn get(&self, key: &str) -> Option<Arc<Page<SearchItem>>> {
        let now = self.clock.now();
        let map = self.entries.lock();
        map.get(key)
            .filter(|(at, _)| now - *at < self.ttl)
            .map(|(_, page)| page.clone())
    }

    /// Stores an entry.
    pub fn put(&self, key: String, page: Arc<Page<SearchItem>>) {
        let now = self.clock.now();
        let mut map = self.entries.lock();
        if map.len() >= SEARCH_CACHE_MAX {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| now - *at < ttl);
            if map.len() >= SEARCH_CACHE_MAX {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(key, (now, page));
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
}

/// Pages of 100 tags fetched per refresh at most (the 5,000 most used tags).
const TAG_PAGES: u32 = 50;

impl TagCache {
    /// Replaces the list.
    pub fn set(&self, mut tags: Vec<TagEntry>) {
        tags.sort_by(|a, b| {
            b.post_count
                .cmp(&a.post_count)
                .then_with(|| a.name.cmp(&b.name))
        });
        *self.tags.write() = Arc::new(tags);
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

    /// Fetches the list from SOE (most used first).
    pub async fn refresh(&self, soe: &dyn SoeRead) -> soe::Result<usize> {
        let mut all = Vec::new();
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
                break;
            }
        }
        let n = all.len();
        self.set(all);
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

    #[test]
    fn budget_allows_the_burst_then_refills() {
        let clock = FixedClock::epoch();
        let b = ServiceBudget::soe_default(Arc::new(clock.clone()));
        for _ in 0..50 {
            assert!(b.try_take().is_ok());
        }
        let wait = b.try_take().unwrap_err();
        assert!(wait <= std::time::Duration::from_millis(41), "{wait:?}");
        clock.advance(Duration::seconds(2));
        for _ in 0..50 {
            assert!(b.try_take().is_ok());
        }
        // 100 spent inside ~2 s: the minute bucket is now the limit.
        clock.advance(Duration::seconds(2));
        let mut ok = 0;
        while b.try_take().is_ok() {
            ok += 1;
        }
        assert!(ok <= 7, "sustained rate must hold: {ok}");
    }

    #[test]
    fn search_cache_expires() {
        let clock = FixedClock::epoch();
        let c = SearchCache::new(Arc::new(clock.clone()), 60);
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

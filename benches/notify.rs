//! Notifications at scale, with SOE replaced by an in-memory site that counts its calls and a
//! real sled store on disk:
//! - SOE calls per poll for 1, 1,000 and 10,000 rules (printed; they must be equal);
//! - memory of 10,000 rules: bytes held by the loaded rule set (counted by this binary's
//!   allocator), the peak allocated during one poll, and the rules' size on disk;
//! - criterion: one poll (read + match + queue + commit) with 1, 1,000 and 10,000 rules, and
//!   matching one activity against 10,000 rules.
//!
//! Run: `cargo bench --bench notify`. The figures table is printed first.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::notify::rule::{parse_spec, Activity, ActivityKind, Rule, SubscribeOptions};
use soe_bot::notify::{PollSettings, Poller, Target};
use soe_bot::soe::*;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{NotifyStore, SledStore, Store};

/// Counts live and peak heap bytes (the system allocator underneath).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            TOTAL.fetch_add(layout.size(), Ordering::Relaxed);
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

const TAGS: [&str; 8] = ["rust", "tokio", "serde", "go", "sql", "c#", "wasm", "linux"];

/// An in-memory site: 40 questions active in the last minute, each with 2 answers.
struct MemSite {
    questions: Vec<Question>,
    calls: AtomicUsize,
}

impl MemSite {
    fn new(now: DateTime<Utc>) -> Self {
        let questions = (1..=40)
            .map(|i| Question {
                id: i,
                title: format!("Question {i} about things that matter"),
                tags: vec![
                    Tag {
                        name: TAGS[i as usize % 8].into(),
                        ..Default::default()
                    },
                    Tag {
                        name: TAGS[(i as usize + 3) % 8].into(),
                        ..Default::default()
                    },
                ],
                owner: Some(UserSummary {
                    name: "Jane".into(),
                    ..Default::default()
                }),
                creation_date: Some(now - Duration::seconds(30)),
                last_activity_date: Some(now - Duration::seconds(10)),
                answer_count: 2,
                share_url: Some(format!("https://so.example/q/{i}")),
                ..Default::default()
            })
            .collect();
        Self {
            questions,
            calls: AtomicUsize::new(0),
        }
    }
}

fn none<T>() -> Result<T> {
    Err(Error::NotFound { detail: "x".into() })
}

#[async_trait]
impl SoeRead for MemSite {
    async fn list_questions(&self, _: &QuestionQuery) -> Result<Page<Question>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Page {
            items: self.questions.clone(),
            total_count: 40,
            total_pages: 1,
            page: 1,
            page_size: 50,
        })
    }
    async fn get_question(&self, _: Id) -> Result<Question> {
        none()
    }
    async fn list_articles(
        &self,
        _: u32,
        _: PageSize,
        _: ArticleSort,
        _: Order,
    ) -> Result<Page<Article>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Page::default())
    }
    async fn list_answers(
        &self,
        q: Id,
        _: u32,
        _: PageSize,
        _: AnswerSort,
    ) -> Result<Page<Answer>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let now = self.questions[0].last_activity_date.unwrap_or_default();
        Ok(Page {
            items: (0..2)
                .map(|k| Answer {
                    id: 1000 + q * 10 + k,
                    question_id: q,
                    creation_date: Some(now),
                    ..Default::default()
                })
                .collect(),
            ..Page::default()
        })
    }
    async fn get_answer(&self, _: Id, _: Id) -> Result<Answer> {
        none()
    }
    async fn search(
        &self,
        _: &str,
        _: u32,
        _: PageSize,
        _: SearchSort,
    ) -> Result<Page<SearchItem>> {
        none()
    }
    async fn list_tags(
        &self,
        _: Option<&str>,
        _: u32,
        _: PageSize,
        _: TagSort,
    ) -> Result<Page<Tag>> {
        none()
    }
    async fn get_tag(&self, _: Id) -> Result<Tag> {
        none()
    }
    async fn me(&self) -> Result<User> {
        none()
    }
    async fn get_user(&self, _: Id) -> Result<User> {
        none()
    }
    async fn question_comments(&self, _: Id) -> Result<Vec<Comment>> {
        none()
    }
    async fn answer_comments(&self, _: Id, _: Id) -> Result<Vec<Comment>> {
        none()
    }
}

fn rule(i: usize, created: DateTime<Utc>) -> Rule {
    let tags = format!("{} {}", TAGS[i % 8], TAGS[(i / 8) % 8]);
    Rule {
        guild: 1 + (i / 1000) as u64,
        id: 0,
        channel: 100 + (i % 500) as u64,
        spec: parse_spec(&SubscribeOptions {
            tags: Some(&tags),
            match_mode: Some(if i.is_multiple_of(3) { "all" } else { "any" }),
            exclude: Some(if i.is_multiple_of(5) && !tags.contains("wasm") {
                "wasm"
            } else {
                ""
            }),
            events: Some("questions,answers,accepted"),
            unanswered_after: None,
        })
        .unwrap(),
        team: None,
        created_by: 9,
        created_at: created,
        last_post_at: None,
        last_error: None,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<SledStore>,
    clock: FixedClock,
    site: Arc<MemSite>,
    poller: Poller,
}

fn setup(rt: &tokio::runtime::Runtime, rules: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open_at(dir.path(), Cipher::for_testing(), 8 << 20).unwrap());
    let clock = FixedClock::at(t0());
    for i in 0..rules {
        rt.block_on(store.add_rule(&rule(i, t0() - Duration::hours(1))))
            .unwrap();
    }
    let site = Arc::new(MemSite::new(t0()));
    let reader: Arc<dyn SoeRead> = site.clone();
    let shared: SharedClock = Arc::new(clock.clone());
    let poller = Poller::new(
        store.clone(),
        shared,
        Arc::new(move |_: &Target| reader.clone()),
        PollSettings {
            max_answer_reads: 50,
            ..Default::default()
        },
    );
    Setup {
        _dir: dir,
        store,
        clock,
        site,
        poller,
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn figures(rt: &tokio::runtime::Runtime) {
    println!("\nSOE calls per poll (40 active questions, each with answers):");
    for n in [1usize, 1_000, 10_000] {
        let s = setup(rt, n);
        // The first poll (from the oldest rule) finds the activity; the next one, an
        // interval later, reads the same window again and queues nothing new.
        let first = rt.block_on(s.poller.poll(&Target::main())).unwrap();
        let first_calls = s.site.calls.swap(0, Ordering::Relaxed);
        s.clock.advance(Duration::seconds(60));
        let again = rt.block_on(s.poller.poll(&Target::main())).unwrap();
        println!(
            "  {n:>6} rules: {first_calls} calls (1 question page, {} answer lists), {} cards queued; next poll {} calls, {} queued",
            first.answer_reads,
            first.queued,
            s.site.calls.load(Ordering::Relaxed),
            again.queued
        );
    }

    let s = setup(rt, 10_000);
    rt.block_on(s.store.flush()).unwrap();
    println!(
        "\n10,000 rules on disk (sled, before any poll): {:.1} MiB",
        dir_size(s._dir.path()) as f64 / (1024.0 * 1024.0)
    );
    let before = LIVE.load(Ordering::Relaxed);
    let rules = rt.block_on(s.store.all_rules()).unwrap();
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "10,000 rules: {} loaded, {:.1} MiB held in memory ({} bytes per rule)",
        rules.len(),
        held as f64 / (1024.0 * 1024.0),
        held / rules.len().max(1)
    );
    drop(rules);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = rt.block_on(s.poller.poll(&Target::main())).unwrap();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    println!(
        "  one poll with 10,000 rules (queues {} cards): peak {:.1} MiB allocated above the idle process",
        r.queued,
        peak as f64 / (1024.0 * 1024.0)
    );
    s.clock.advance(Duration::seconds(60));
    let total = TOTAL.load(Ordering::Relaxed);
    let r = rt.block_on(s.poller.poll(&Target::main())).unwrap();
    println!(
        "  the next poll (same activity, queues {}): {:.1} MiB allocated in all during the poll",
        r.queued,
        TOTAL.load(Ordering::Relaxed).saturating_sub(total) as f64 / (1024.0 * 1024.0)
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    figures(&rt);

    for n in [1usize, 1_000, 10_000] {
        let s = setup(&rt, n);
        rt.block_on(s.poller.poll(&Target::main())).unwrap();
        c.bench_function(&format!("poll, {n} rules"), |b| {
            b.iter(|| {
                s.clock.advance(Duration::seconds(60));
                rt.block_on(s.poller.poll(&Target::main())).unwrap()
            })
        });
    }

    let rules: Vec<Rule> = (0..10_000).map(|i| rule(i, t0())).collect();
    let tags: Vec<String> = vec!["rust".into(), "tokio".into()];
    c.bench_function("match one activity against 10,000 rules", |b| {
        b.iter(|| {
            let a = Activity {
                kind: ActivityKind::NewQuestion,
                tags: &tags,
                at: t0(),
            };
            rules.iter().filter(|r| r.matches(&a)).count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

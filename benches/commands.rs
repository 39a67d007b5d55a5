//! Time spent in the bot per command, with SOE replaced by an in-memory site (so the fake's
//! own time is excluded): p50/p99 per command, tag autocomplete from cache, and searches per
//! second through the core on this machine's cores.
//!
//! Run: `cargo bench --bench commands`. Criterion reports the means; the percentile table is
//! printed first.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;
use soe_bot::clock::{SharedClock, SystemClock};
use soe_bot::commands::caches::TagEntry;
use soe_bot::commands::ids::Id as CustomId;
use soe_bot::commands::{Action, Commands, Invocation, Member, OptionValue, Origin, SiteInfo};
use soe_bot::config::LimitsConfig;
use soe_bot::link::{LinkService, LinkSettings};
use soe_bot::soe::*;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{Link, LinkStatus, SledStore, Store};

/// An in-memory SOE: canned questions, answers and tags; writes succeed instantly.
struct MemSoe {
    questions: Vec<Question>,
    answers: Vec<Answer>,
    next_id: AtomicI64,
}

fn body_html(i: usize) -> String {
    format!(
        "<p>Question {i}: how do I use <code>tokio::select!</code> with a timeout &amp; cancellation? See <a href=\"https://tokio.rs\">tokio</a>.</p>\
<pre class=\"lang-rust s-code-block\"><code class=\"hljs language-rust\">let r = tokio::time::timeout(Duration::from_secs(5), task).await;\nif r.is_err() {{ handle.abort(); }}\n</code></pre>\
<p>I tried several things; {}</p>",
        "more words in the body ".repeat(20)
    )
}

impl MemSoe {
    fn new() -> Self {
        let tag = |n: &str| Tag {
            id: 1,
            name: n.into(),
            post_count: 10,
            ..Default::default()
        };
        let user = UserSummary {
            id: Some(2),
            name: "Jane Doe".into(),
            ..Default::default()
        };
        let questions = (1..=50)
            .map(|i| Question {
                id: i,
                title: format!("How do I cancel an async task number {i} after a timeout?"),
                body: body_html(i as usize),
                body_markdown: Some("markdown".into()),
                tags: vec![tag("rust"), tag("tokio"), tag("async")],
                owner: Some(user.clone()),
                score: i,
                answer_count: 3,
                web_url: Some(format!("https://acme.stackenterprise.co/questions/{i}")),
                ..Default::default()
            })
            .collect();
        let answers = (1..=3)
            .map(|i| Answer {
                id: 100 + i,
                question_id: 1,
                body: body_html(i as usize),
                score: i,
                is_accepted: i == 1,
                owner: Some(user.clone()),
                ..Default::default()
            })
            .collect();
        Self {
            questions,
            answers,
            next_id: AtomicI64::new(1000),
        }
    }

    fn hits(&self, query: &str) -> Vec<SearchItem> {
        let q = query.to_lowercase();
        self.questions
            .iter()
            .filter(|x| {
                q.split_whitespace()
                    .any(|w| x.title.to_lowercase().contains(w))
            })
            .map(|x| {
                SearchItem::Question(SearchQuestion {
                    common: SearchCommon {
                        title: x.title.clone(),
                        snippet: "snippet".into(),
                        tags: x.tags.clone(),
                        owner: x.owner.clone(),
                        score: x.score,
                        web_url: x.web_url.clone(),
                        ..Default::default()
                    },
                    question_id: x.id,
                    answer_count: x.answer_count,
                    has_accepted_answer: true,
                    view_count: 10,
                })
            })
            .collect()
    }
}

#[async_trait]
impl SoeRead for MemSoe {
    async fn list_questions(&self, _: &QuestionQuery) -> Result<Page<Question>> {
        Ok(Page {
            items: self.questions.clone(),
            ..Default::default()
        })
    }
    async fn list_articles(
        &self,
        _: u32,
        _: PageSize,
        _: ArticleSort,
        _: Order,
    ) -> Result<Page<Article>> {
        Ok(Page::default())
    }
    async fn get_question(&self, id: Id) -> Result<Question> {
        self.questions
            .iter()
            .find(|q| q.id == id)
            .cloned()
            .ok_or(Error::NotFound { detail: "x".into() })
    }
    async fn list_answers(
        &self,
        _: Id,
        _: u32,
        _: PageSize,
        _: AnswerSort,
    ) -> Result<Page<Answer>> {
        Ok(Page {
            items: self.answers.clone(),
            total_count: 3,
            ..Default::default()
        })
    }
    async fn get_answer(&self, _: Id, a: Id) -> Result<Answer> {
        self.answers
            .iter()
            .find(|x| x.id == a)
            .cloned()
            .ok_or(Error::NotFound { detail: "x".into() })
    }
    async fn search(
        &self,
        query: &str,
        _: u32,
        _: PageSize,
        _: SearchSort,
    ) -> Result<Page<SearchItem>> {
        let items = self.hits(query);
        Ok(Page {
            total_count: items.len() as i64,
            items,
            ..Default::default()
        })
    }
    async fn list_tags(
        &self,
        _: Option<&str>,
        _: u32,
        _: PageSize,
        _: TagSort,
    ) -> Result<Page<Tag>> {
        Ok(Page::default())
    }
    async fn get_tag(&self, _: Id) -> Result<Tag> {
        Ok(Tag::default())
    }
    async fn me(&self) -> Result<User> {
        Ok(User {
            id: Some(2),
            name: "Jane Doe".into(),
            ..Default::default()
        })
    }
    async fn get_user(&self, _: Id) -> Result<User> {
        self.me().await
    }
    async fn question_comments(&self, _: Id) -> Result<Vec<Comment>> {
        Ok(vec![])
    }
    async fn answer_comments(&self, _: Id, _: Id) -> Result<Vec<Comment>> {
        Ok(vec![])
    }
    // An in-memory site with the subject-matter-expert feature off and nobody watching tags.
    async fn tag_experts(&self, _: Id) -> Result<soe_bot::soe::SubjectMatterExperts> {
        Ok(Default::default())
    }
    async fn watched_tags(&self, _: Id) -> Result<soe_bot::soe::WatchedTags> {
        Ok(Default::default())
    }
}

#[async_trait]
impl SoeWrite for MemSoe {
    async fn create_question(&self, q: &NewQuestion) -> Result<Question> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Question {
            id,
            title: q.title.clone(),
            web_url: Some(format!("https://acme.stackenterprise.co/questions/{id}")),
            ..Default::default()
        })
    }
    async fn update_question(&self, id: Id, q: &NewQuestion) -> Result<Question> {
        Ok(Question {
            id,
            title: q.title.clone(),
            ..Default::default()
        })
    }
    async fn create_answer(&self, question: Id, _: &NewAnswer) -> Result<Answer> {
        Ok(Answer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            question_id: question,
            ..Default::default()
        })
    }
    async fn vote_question(&self, id: Id, _: Vote) -> Result<Question> {
        self.get_question(id).await
    }
    async fn vote_answer(&self, _: Id, a: Id, _: Vote) -> Result<Answer> {
        self.get_answer(1, a).await
    }
    async fn accept_answer(&self, _: Id, a: Id) -> Result<Answer> {
        self.get_answer(1, a).await
    }
    async fn unaccept_answer(&self, _: Id, a: Id) -> Result<Answer> {
        self.get_answer(1, a).await
    }
}

struct MemConnector(Arc<MemSoe>);

impl SoeConnector for MemConnector {
    fn service(&self, _: Option<&TeamSlug>) -> Arc<dyn SoeRead> {
        self.0.clone()
    }
    fn member(&self, _: UserToken, _: Option<&TeamSlug>) -> Arc<dyn SoeWrite> {
        self.0.clone()
    }
}

struct Bench {
    commands: Arc<Commands>,
    _dir: tempfile::TempDir,
    seq: AtomicU64,
}

fn setup(rt: &tokio::runtime::Runtime) -> Bench {
    let clock: SharedClock = Arc::new(SystemClock);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SledStore::open_at(dir.path().join("db"), Cipher::for_testing(), 16 << 20).unwrap(),
    );
    let site = url::Url::parse("https://acme.stackenterprise.co/").unwrap();
    let soe = HttpSoe::new(SoeClientConfig::new(site.clone())).unwrap();
    let link = Arc::new(
        LinkService::new(
            LinkSettings {
                site_url: site.clone(),
                client_id: "1".into(),
                public_url: url::Url::parse("https://bot.example.com/").unwrap(),
                allow_no_expiry: false,
                discord: None,
                teams: vec![],
                team_scope_format: soe_bot::soe::DEFAULT_TEAM_SCOPE_FORMAT.into(),
            },
            store.clone(),
            clock.clone(),
            soe,
            None,
        )
        .unwrap(),
    );
    let limits = LimitsConfig {
        asks_burst: u32::MAX / 4,
        searches_burst: u32::MAX / 4,
        // The bench measures the bot, not the members' shares of the service budget.
        member_share_per_minute: u32::MAX / 4,
        ..Default::default()
    };
    let commands = Commands::new(
        store.clone(),
        clock.clone(),
        Arc::new(MemConnector(Arc::new(MemSoe::new()))),
        link,
        SiteInfo {
            name: "Acme".into(),
            url: site,
            team: None,
        },
        limits,
        soe_bot::commands::AccessPolicy {
            allowed_guilds: vec![1],
            allow_dms: false,
            admin_roles: vec![],
        },
    )
    .with_budget(soe_bot::commands::caches::ServiceBudget::new(
        clock.clone(),
        u32::MAX / 4,
        1.0,
        u32::MAX / 4,
        1.0,
    ));
    let tags: Vec<TagEntry> = (0..5000)
        .map(|i| TagEntry {
            name: format!("tag-{i:04}-{}", ["rust", "python", "go", "sql"][i % 4]),
            post_count: (i * 7 % 1000) as i64,
        })
        .collect();
    commands.tag_cache().set(tags);
    // The ask runs' members are linked (the ask path posts as the member).
    for member in 1..=ASKERS + HEAVY_ASKERS + 1 {
        rt.block_on(store.put_link(&Link {
            discord_user: member,
            soe_user_id: 2,
            soe_user_name: "Jane Doe".into(),
            soe_user_url: None,
            token: UserToken::new(SecretString::from("bench-token".to_string())),
            scopes: vec!["write_access".into()],
            expires_at: None,
            linked_at: chrono::Utc::now(),
            last_used_at: None,
            status: LinkStatus::Active,
        }))
        .unwrap();
    }
    Bench {
        commands: Arc::new(commands),
        _dir: dir,
        seq: AtomicU64::new(0),
    }
}

/// Members the ask path's runs are spread over: 2,000 runs leave each with 10 drafts, a busy
/// member's day (a member's drafts stay in the store for `limits.draft_ttl_hours` after
/// posting). Creating a draft counts the member's open drafts, which unseals each once the
/// member has `limits.drafts_per_member` (20) in all, so the cost grows past that: the runs
/// of [`HEAVY_ASKERS`] (100 drafts each) and of one member (2,000, more than the default
/// limits allow in a day: about 150) show how.
const ASKERS: u64 = 200;
/// Members of the heavy run: 100 drafts each by its end.
const HEAVY_ASKERS: u64 = 20;

impl Bench {
    fn inv(&self, action: Action) -> Invocation {
        self.inv_as(1, action)
    }
    fn inv_as(&self, member: u64, action: Action) -> Invocation {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        Invocation {
            id: n.to_string(),
            member: Member::new(member, "bench"),
            guild_id: Some(1),
            channel_id: Some(1),
            in_thread: false,
            thread_parent: None,
            locale: None,
            origin: Origin::GuildInstall,
            action,
            reply_token: None,
        }
    }
    fn cmd(&self, sub: &str, opts: &[(&str, String)]) -> Invocation {
        self.inv(Action::Command {
            name: "so".into(),
            path: vec![sub.into()],
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), OptionValue::Str(v.clone())))
                .collect(),
        })
    }
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name:<28} n={:<6} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        samples.len(),
        p(0.5),
        p(0.99),
        samples[samples.len() - 1]
    );
}

fn percentile_table(rt: &tokio::runtime::Runtime, b: &Bench) {
    const N: usize = 2000;
    let run = |name: &str, make: &dyn Fn(usize) -> Invocation| {
        let mut s = Vec::with_capacity(N);
        for i in 0..N {
            let inv = make(i);
            let t = Instant::now();
            let r = rt.block_on(b.commands.handle(&inv));
            s.push(t.elapsed());
            std::hint::black_box(r);
        }
        percentiles(name, s);
    };
    println!("time in the bot per command (in-memory SOE; includes store writes and flushes)");
    run("search (cache miss)", &|i| {
        b.cmd("search", &[("query", format!("async {i}"))])
    });
    run("search (cached)", &|_| {
        b.cmd("search", &[("query", "async".into())])
    });
    run("question", &|i| {
        b.cmd("question", &[("id", format!("{}", i % 50 + 1))])
    });
    run("autocomplete tags", &|i| {
        b.inv(Action::Autocomplete {
            name: "so".into(),
            path: vec!["ask".into()],
            focused: "tags".into(),
            value: format!("tag-{}", i % 100),
        })
    });
    run("help", &|_| b.cmd("help", &[]));
    run("vote (once per button)", &|i| {
        b.inv(Action::Button {
            custom_id: CustomId::VoteQuestion {
                question: (i % 50 + 1) as i64,
                vote: Vote::Up,
                // A confirmation note: the vote alone, without re-rendering a card.
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        })
    });
    run("ask, 200 members x10", &|i| {
        b.inv_as(
            1 + i as u64 % ASKERS,
            Action::Modal {
                custom_id: CustomId::AskModal {
                    draft: format!("benchdraft{i:06}"),
                    source: None,
                }
                .encode(),
                fields: vec![
                    ("title".into(), format!("Unique benchmark title {i} zzz")),
                    (
                        "body".into(),
                        "A body long enough to be valid for the site.".into(),
                    ),
                    ("tags".into(), "rust".into()),
                ],
            },
        )
    });
    run("ask, 20 members x100", &|i| {
        b.inv_as(
            ASKERS + 1 + i as u64 % HEAVY_ASKERS,
            Action::Modal {
                custom_id: CustomId::AskModal {
                    draft: format!("benchheavy{i:06}"),
                    source: None,
                }
                .encode(),
                fields: vec![
                    (
                        "title".into(),
                        format!("Unique heavy benchmark title {i} zzz"),
                    ),
                    (
                        "body".into(),
                        "A body long enough to be valid for the site.".into(),
                    ),
                    ("tags".into(), "rust".into()),
                ],
            },
        )
    });
    // The same, by one member 2,000 times in a row: past anything the default limits allow
    // (about 150 asks a day), to show how the count of the member's open drafts scales.
    run("ask, one member x2,000", &|i| {
        b.inv_as(
            ASKERS + HEAVY_ASKERS + 1,
            Action::Modal {
                custom_id: CustomId::AskModal {
                    draft: format!("benchsolo{i:06}"),
                    source: None,
                }
                .encode(),
                fields: vec![
                    (
                        "title".into(),
                        format!("Unique solo benchmark title {i} zzz"),
                    ),
                    (
                        "body".into(),
                        "A body long enough to be valid for the site.".into(),
                    ),
                    ("tags".into(), "rust".into()),
                ],
            },
        )
    });
}

fn searches_per_second(b: &Bench) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (label, cached) in [
        ("distinct queries (cache misses)", false),
        ("one query (cache hits)", true),
    ] {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(3);
        rt.block_on(async {
            let mut tasks = Vec::new();
            for t in 0..8 {
                let commands = b.commands.clone();
                let done = done.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let q = if cached {
                            "async".to_string()
                        } else {
                            format!("async {t} {i}")
                        };
                        let inv = Invocation {
                            id: format!("{t}-{i}"),
                            member: Member::new(1000 + t, "m"),
                            guild_id: Some(1),
                            channel_id: Some(1),
                            in_thread: false,
                            thread_parent: None,
                            locale: None,
                            origin: Origin::GuildInstall,
                            action: Action::Command {
                                name: "so".into(),
                                path: vec!["search".into()],
                                options: vec![("query".into(), OptionValue::Str(q))],
                            },
                            reply_token: None,
                        };
                        std::hint::black_box(commands.handle(&inv).await);
                        done.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        println!(
            "searches per second through the core, 2 worker threads, {label}: {:.0}",
            done.load(Ordering::Relaxed) as f64 / 3.0
        );
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = setup(&rt);
    percentile_table(&rt, &b);
    searches_per_second(&b);
    let mut g = c.benchmark_group("commands");
    let mut i = 0u64;
    g.bench_function("search_cache_miss", |bench| {
        bench.iter(|| {
            i += 1;
            rt.block_on(
                b.commands
                    .handle(&b.cmd("search", &[("query", format!("async {i}"))])),
            )
        })
    });
    g.bench_function("question", |bench| {
        bench.iter(|| rt.block_on(b.commands.handle(&b.cmd("question", &[("id", "1".into())]))))
    });
    g.bench_function("autocomplete", |bench| {
        bench.iter(|| {
            rt.block_on(b.commands.handle(&b.inv(Action::Autocomplete {
                name: "so".into(),
                path: vec!["ask".into()],
                focused: "tags".into(),
                value: "tag-01".into(),
            })))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

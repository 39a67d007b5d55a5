//! Crash trials: a child bot process (this test binary, re-executed) asks, answers and votes as
//! a linked member in a loop against the fake site, printing `ACK …` for every write whose
//! success the member was shown; the parent kills it with SIGKILL at a seeded random moment,
//! reopens the store, lets a new bot settle what the crash interrupted (the startup recovery),
//! and checks:
//! - the store reopens cleanly every time;
//! - no acknowledged write is lost (every ACKed question, answer and vote is on the site);
//! - none is done twice (no title or answer body twice on the site, no score past +1), also
//!   among the writes the member was never told about;
//! - every draft the recovery marked posted points at its post.
//!
//! The site holds every write's answer back for a few milliseconds after acting, so kills
//! land before a write is sent, while the site acts, after it acted but before the bot
//! recorded it, and between writes. `SOE_BOT_CRASH_TRIALS` sets the number of trials (10 by
//! default; the report in docs/BENCHMARKS.md used 200), `SOE_BOT_CRASH_SEED` the seed.
//!
//! The same trials run on each backend: sled (a directory per trial) and PostgreSQL (a schema
//! per trial on the server named by `SOE_BOT_TEST_POSTGRES_URL`; ignored without one, run by
//! `.ci/run`). On PostgreSQL the killed child's connections die with it, so the server ends its
//! transactions and frees its locks; what it committed is what the new bot sees.

#![cfg(unix)]

#[path = "support/stores.rs"]
mod stores;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use soe_bot::app::{App, AppParts};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::commands::ids::{Id, Surface};
use soe_bot::commands::{Action, Invocation, Member, ReplyKind, SiteInfo};
use soe_bot::config::LimitsConfig;
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, Fault, FaultKind, JANE, SAM};
use soe_bot::link::LinkSettings;
use soe_bot::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig, UserToken, Vote};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{DraftState, Link, LinkStatus, PgStore, SledStore, Store, StoreError};
use tokio::sync::mpsc;
use url::Url;

/// The sled directory of the child's store (sled trials).
const ENV_DIR: &str = "SOE_BOT_TEST_CRASH_DIR";
/// The PostgreSQL URL (with the trial's schema as its search path) of the child's store.
const ENV_PG: &str = "SOE_BOT_TEST_CRASH_PG";
const ENV_SITE: &str = "SOE_BOT_TEST_CRASH_SITE";
const ENV_MEMBER_TOKEN: &str = "SOE_BOT_TEST_CRASH_MEMBER_TOKEN";
const ENV_SERVICE_TOKEN: &str = "SOE_BOT_TEST_CRASH_SERVICE_TOKEN";
/// `<trial>:<question to answer>:<questions to vote on, comma-separated>`.
const ENV_PLAN: &str = "SOE_BOT_TEST_CRASH_PLAN";
const MEMBER: u64 = 111;
/// Questions a child may vote on (more than it reaches before the longest kill).
const VOTE_TARGETS: usize = 40;
/// The longest a child runs before it is killed.
const MAX_RUN: Duration = Duration::from_millis(1200);

fn t0() -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("a date")
}

fn title(trial: u32, i: usize) -> String {
    format!("Crash trial {trial} question {i}: why does the flimflam widget stall?")
}

fn answer_body(trial: u32, i: usize) -> String {
    format!("Crash trial {trial} answer {i}: give the flimflam widget its own runtime thread.")
}

fn bot(
    store: Arc<dyn Store>,
    site: &Url,
    service_token: &str,
    now: chrono::DateTime<Utc>,
) -> (Arc<App>, mpsc::UnboundedReceiver<soe_bot::link::Linked>) {
    let clock: SharedClock = Arc::new(FixedClock::at(now));
    let soe = HttpSoe::new(SoeClientConfig::new(site.clone())).expect("client");
    let service = ServiceToken::new(SecretString::from(service_token.to_string()));
    let limits = LimitsConfig {
        asks_burst: 10_000,
        drafts_per_member: 10_000,
        ..LimitsConfig::default()
    };
    App::build(AppParts {
        store,
        clock,
        soe: soe.clone(),
        connector: Arc::new(HttpConnector::new(soe, service)),
        link: LinkSettings {
            site_url: site.clone(),
            client_id: "4242".into(),
            public_url: Url::parse("http://127.0.0.1:9/").expect("url"),
            allow_no_expiry: false,
            teams: vec![],
            team_scope_format: soe_bot::soe::DEFAULT_TEAM_SCOPE_FORMAT.into(),
            discord: None,
        },
        site: SiteInfo {
            name: "Acme Stack Overflow".into(),
            url: site.clone(),
            team: None,
        },
        limits,
        access: soe_bot::commands::AccessPolicy {
            allowed_guilds: vec![1],
            allow_dms: false,
            admin_roles: vec![],
        },
    })
    .expect("app")
}

fn invocation(id: String, action: Action) -> Invocation {
    let mut member = Member::new(MEMBER, "alice");
    member.permissions = Some(0);
    Invocation {
        id,
        member,
        guild_id: Some(1),
        channel_id: Some(10),
        in_thread: false,
        thread_parent: None,
        locale: Some("en-US".into()),
        origin: soe_bot::commands::Origin::GuildInstall,
        action,
        reply_token: None,
    }
}

/// Child entry point: acts only when the parent re-executes this binary with the plan set.
/// Writes until killed, printing `ACK ask|answer|vote <n>` after each write the member is
/// shown as done.
#[test]
fn child_writes_until_killed() {
    let place = match (std::env::var(ENV_DIR), std::env::var(ENV_PG)) {
        (Ok(dir), _) => Where::Sled(dir.into()),
        (_, Ok(url)) => Where::Pg(url),
        _ => return,
    };
    let (Ok(site), Ok(member_token), Ok(service_token), Ok(plan)) = (
        std::env::var(ENV_SITE),
        std::env::var(ENV_MEMBER_TOKEN),
        std::env::var(ENV_SERVICE_TOKEN),
        std::env::var(ENV_PLAN),
    ) else {
        return;
    };
    let mut parts = plan.split(':');
    let trial: u32 = parts.next().and_then(|s| s.parse().ok()).expect("trial");
    let to_answer: i64 = parts.next().and_then(|s| s.parse().ok()).expect("question");
    let to_vote: Vec<i64> = parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let store = place.open().await.expect("store");
        store
            .put_link(&Link {
                discord_user: MEMBER,
                soe_user_id: JANE,
                soe_user_name: "Jane Doe".into(),
                soe_user_url: None,
                token: UserToken::new(SecretString::from(member_token)),
                scopes: vec!["write_access".into()],
                expires_at: None,
                linked_at: t0(),
                last_used_at: None,
                status: LinkStatus::Active,
            })
            .await
            .expect("link");
        let site = Url::parse(&site).expect("site URL");
        let (app, _linked) = bot(store, &site, &service_token, t0());
        println!("READY");
        let mut n = 0u64;
        let mut next_id = || {
            n += 1;
            format!("i{n}")
        };
        for i in 0.. {
            match i % 3 {
                0 => {
                    let r = app
                        .commands
                        .handle(&invocation(
                            next_id(),
                            Action::Command {
                                name: "so".into(),
                                path: vec!["ask".into()],
                                options: vec![],
                            },
                        ))
                        .await;
                    let ReplyKind::Modal(m) = r.kind else {
                        panic!("no modal: {r:?}")
                    };
                    let r = app
                        .commands
                        .handle(&invocation(
                            next_id(),
                            Action::Modal {
                                custom_id: m.id,
                                fields: vec![
                                    ("title".into(), title(trial, i)),
                                    (
                                        "body".into(),
                                        "The body of a question that must be posted at most once."
                                            .into(),
                                    ),
                                    ("tags".into(), "rust".into()),
                                ],
                            },
                        ))
                        .await;
                    if r.content.contains("Posted as") {
                        println!("ACK ask {i}");
                    }
                }
                1 => {
                    let r = app
                        .commands
                        .handle(&invocation(
                            next_id(),
                            Action::Button {
                                custom_id: Id::OpenAnswer {
                                    question: to_answer,
                                }
                                .encode(),
                            },
                        ))
                        .await;
                    let ReplyKind::Modal(m) = r.kind else {
                        panic!("no modal: {r:?}")
                    };
                    let r = app
                        .commands
                        .handle(&invocation(
                            next_id(),
                            Action::Modal {
                                custom_id: m.id,
                                fields: vec![("body".into(), answer_body(trial, i))],
                            },
                        ))
                        .await;
                    if r.content.contains("Posted as") {
                        println!("ACK answer {i}");
                    }
                }
                _ => {
                    let Some(&q) = to_vote.get(i / 3) else {
                        // Out of targets: idle until killed.
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        continue;
                    };
                    let r = app
                        .commands
                        .handle(&invocation(
                            next_id(),
                            Action::Button {
                                custom_id: Id::VoteQuestion {
                                    question: q,
                                    vote: Vote::Up,
                                    on: Surface::Note,
                                }
                                .encode(),
                            },
                        ))
                        .await;
                    if r.content.contains("You upvoted") {
                        println!("ACK vote {q}");
                    }
                }
            }
        }
    });
}

/// What one trial found.
#[derive(Debug, Default)]
struct Tally {
    acked: usize,
    lost: Vec<String>,
    doubled: Vec<String>,
    reopen_failures: usize,
    settled: usize,
}

/// Where a trial's store lives.
#[derive(Debug, Clone)]
enum Where {
    /// A sled directory.
    Sled(std::path::PathBuf),
    /// A PostgreSQL URL whose search path is the trial's schema.
    Pg(String),
}

impl Where {
    /// Opens the store (waiting up to 5 s for a killed process's sled lock to go).
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        match self {
            Where::Sled(dir) => {
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    match SledStore::open_at(dir, Cipher::for_testing(), 1 << 20) {
                        Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        other => return other.map(|s| Arc::new(s) as Arc<dyn Store>),
                    }
                }
            }
            Where::Pg(url) => {
                let options =
                    <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)
                        .map_err(|e| StoreError::Io(format!("bad test URL: {e}")))?;
                PgStore::open_with(options, 4, Cipher::for_testing())
                    .await
                    .map(|s| Arc::new(s) as Arc<dyn Store>)
            }
        }
    }
}

/// The backend of a run of trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sled,
    Postgres,
}

async fn trial(fake: &FakeSoe, backend: Backend, n: u32, kill_after: Duration, tally: &mut Tally) {
    // Kept alive for the trial: the directory, or the schema (dropped after it).
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = match backend {
        Backend::Sled => None,
        Backend::Postgres => Some(stores::Schema::new().await),
    };
    let place = match &schema {
        None => Where::Sled(dir.path().join("db")),
        Some(schema) => Where::Pg(schema.url()),
    };
    let (env_key, env_value) = match &place {
        Where::Sled(dir) => (ENV_DIR, dir.display().to_string()),
        Where::Pg(url) => (ENV_PG, url.clone()),
    };
    let to_answer = fake.add_question(
        SAM,
        &format!("Crash trial {n}: the question everyone answers"),
        "A question the child answers again and again until it is killed.",
        &["rust"],
    );
    let to_vote: Vec<i64> = (0..VOTE_TARGETS)
        .map(|k| {
            fake.add_question(
                SAM,
                &format!("Crash trial {n}: vote target {k} about gizmo frobbing"),
                "A question of Sam's that the child upvotes once.",
                &["rust"],
            )
        })
        .collect();
    let plan = format!(
        "{n}:{to_answer}:{}",
        to_vote
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let member_token = fake.mint_token(JANE, &["write_access"]);
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_writes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove(ENV_DIR)
        .env_remove(ENV_PG)
        .env(env_key, &env_value)
        .env(ENV_SITE, fake.site_url().as_str())
        .env(ENV_MEMBER_TOKEN, &member_token)
        .env(ENV_SERVICE_TOKEN, fake.service_token())
        .env(ENV_PLAN, &plan)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness's "test … " may precede the first line printed.
            if line.ends_with("READY") {
                let _ = ready_tx.send(());
            } else if let Some(at) = line.find("ACK ") {
                acks.push(line[at + 4..].to_string());
            }
        }
        acks
    });
    let ready = tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("join");
    assert!(ready.is_ok(), "trial {n}: the child never started");
    tokio::time::sleep(kill_after).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let acks = reader.join().expect("reader");
    tally.acked += acks.len();

    // A new bot on the same store, a few minutes later, settles what was interrupted.
    let store = match place.open().await {
        Ok(s) => s,
        Err(e) => {
            tally.reopen_failures += 1;
            eprintln!("trial {n}: the store did not reopen: {e}");
            return;
        }
    };
    // Answers the site was still holding back arrive first.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let (app, _linked) = bot(
        store.clone(),
        &fake.site_url(),
        &fake.service_token(),
        t0() + chrono::Duration::minutes(3),
    );
    tally.settled += app.commands.recover_interrupted().await.len();

    let questions = fake.questions();
    let count_titles = |t: &str| questions.iter().filter(|q| q.title == t).count();
    let answers = fake.answers(to_answer);
    let count_answers = |b: &str| answers.iter().filter(|a| a.body_markdown == b).count();
    for ack in &acks {
        let (kind, what) = ack.split_once(' ').expect("an ACK line");
        let found = match kind {
            "ask" => count_titles(&title(n, what.parse().expect("i"))),
            "answer" => count_answers(&answer_body(n, what.parse().expect("i"))),
            "vote" => {
                let q: i64 = what.parse().expect("q");
                usize::from(fake.question(q).is_some_and(|q| q.score >= 1))
            }
            _ => panic!("unknown ACK {ack}"),
        };
        if found == 0 {
            tally.lost.push(format!("trial {n}: {ack}"));
        }
    }
    for i in 0..3 * VOTE_TARGETS {
        if count_titles(&title(n, i)) > 1 {
            tally.doubled.push(format!("trial {n}: question {i}"));
        }
        if count_answers(&answer_body(n, i)) > 1 {
            tally.doubled.push(format!("trial {n}: answer {i}"));
        }
    }
    for q in &to_vote {
        if fake.question(*q).is_some_and(|q| q.score > 1) {
            tally.doubled.push(format!("trial {n}: vote on {q}"));
        }
    }
    for d in store.drafts_of(MEMBER).await.expect("drafts") {
        if let DraftState::Posted { url, .. } = &d.state {
            let there = questions
                .iter()
                .any(|q| url.contains(&format!("/questions/{}/", q.id)));
            if !there {
                tally
                    .lost
                    .push(format!("trial {n}: draft {} marked posted at {url}", d.id));
            }
        }
    }
}

/// Runs the trials on `backend` and checks the tally.
async fn run_trials(backend: Backend) {
    let trials: u32 = std::env::var("SOE_BOT_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("SOE_BOT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0FFEE);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::at(t0())));
    cfg.application = AppStatus::ReadWrite;
    let fake = FakeSoe::start(cfg).await.expect("fake site");
    // Every write's answer comes a little after the site acted: a window for kills between
    // the site's action and the bot's record of it.
    fake.push_fault(Fault::on(
        "POST",
        "/questions",
        FaultKind::AnswerAfter(Duration::from_millis(15)),
    ));
    fake.push_fault(Fault::on(
        "POST",
        "/questions/{questionId}/answers",
        FaultKind::AnswerAfter(Duration::from_millis(15)),
    ));
    fake.push_fault(Fault::on(
        "POST",
        "/questions/{questionId}/upvote",
        FaultKind::AnswerAfter(Duration::from_millis(15)),
    ));
    let mut tally = Tally::default();
    let started = Instant::now();
    for n in 0..trials {
        let max = u64::try_from(MAX_RUN.as_millis()).unwrap_or(1200);
        let kill_after = Duration::from_millis(rng.gen_range(0..max));
        trial(&fake, backend, n, kill_after, &mut tally).await;
    }
    println!(
        "crash trials on {backend:?}: {trials} (seed {seed}), {} acknowledged writes, {} settled by recovery, lost {}, doubled {}, store reopen failures {}, in {:.1} s",
        tally.acked,
        tally.settled,
        tally.lost.len(),
        tally.doubled.len(),
        tally.reopen_failures,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tally.reopen_failures, 0, "the store reopens every time");
    assert!(tally.lost.is_empty(), "lost: {:#?}", tally.lost);
    assert!(tally.doubled.is_empty(), "doubled: {:#?}", tally.doubled);
    assert!(
        tally.acked > 0,
        "the trials wrote something before the kills"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_no_acknowledged_write_and_doubles_none() {
    run_trials(Backend::Sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn on_postgres_sigkill_at_random_points_loses_no_acknowledged_write_and_doubles_none() {
    run_trials(Backend::Postgres).await;
}

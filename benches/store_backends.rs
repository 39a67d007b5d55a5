//! What the store adds to an interaction, sled against PostgreSQL, one replica against three,
//! measured in one run so the ratios compare like with like.
//!
//! One "interaction" is the store work of the three kinds the bot serves most, in turn:
//! - a search: the member's and the channel's rate buckets taken together (`take_rates`);
//! - a vote button: the one-shot claim, then its outcome (`claim_write`, `finish_write`);
//! - an ask: the capped draft creation, the `Saved → Posting` claim, the `Posted` record
//!   (`put_new_draft`, `begin_posting`, `put_draft`).
//!
//! Each configuration runs 8 concurrent members for a fixed time on a 2-worker runtime and
//! reports interactions per second and the p50 / p99 of one interaction. "3 replicas" is three
//! stores on the same database, each with its own pool, the members spread over them (what
//! three processes do to the database; on this 2-core machine they share the CPU with the
//! server).
//!
//! Run: `SOE_BOT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench
//! store_backends`. Without the variable only sled is measured. Each PostgreSQL run uses a
//! schema of its own, dropped afterwards.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{
    Draft, DraftContent, DraftState, PgStore, RateBucket, SledStore, Store, WriteClaim,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection;

const MEMBERS: u64 = 8;
const RUN: Duration = Duration::from_secs(5);

fn draft(user: u64, id: &str) -> Draft {
    let now = Utc::now();
    Draft {
        id: id.into(),
        discord_user: user,
        guild_id: Some(1),
        channel_id: Some(2),
        team: None,
        proposal: None,
        thread_parent: None,
        content: DraftContent::Ask {
            title: "How do I cancel a task after a timeout?".into(),
            body: "I tried select! with a sleep, but the task keeps running. ".repeat(8),
            tags: vec!["rust".into(), "tokio".into()],
        },
        state: DraftState::Saved { last_error: None },
        post_after_link: false,
        source_message: None,
        created_at: now,
        expires_at: now + chrono::Duration::hours(24),
    }
}

/// One interaction's store work (the `n`th of member `m`).
async fn interaction(store: &dyn Store, m: u64, n: u64) {
    let now = Utc::now();
    match n % 3 {
        0 => {
            let key = format!("search:m:{m}");
            let buckets = [
                RateBucket {
                    key: &key,
                    burst: 1_000_000,
                    refill_secs: 1,
                },
                RateBucket {
                    key: "search:c:2",
                    burst: 1_000_000,
                    refill_secs: 1,
                },
            ];
            store.take_rates(&buckets, now).await.expect("take_rates");
        }
        1 => {
            let key = format!("vote:{m}:{n}");
            assert_eq!(
                store.claim_write(&key, now).await.expect("claim"),
                WriteClaim::Claimed
            );
            store
                .finish_write(&key, Some("Upvoted."), now)
                .await
                .expect("finish");
        }
        _ => {
            let id = format!("d{n}");
            let d = draft(m, &id);
            assert!(store
                .put_new_draft(&d, 1_000_000, now)
                .await
                .expect("new draft"));
            let mut posting = store
                .begin_posting(m, &id, now)
                .await
                .expect("begin")
                .expect("won");
            posting.state = DraftState::Posted {
                url: "https://soe.example/q/1".into(),
                posted_as: "Jane".into(),
            };
            store.put_draft(&posting).await.expect("posted");
        }
    }
}

/// Runs `MEMBERS` members over `stores` (member i on store i mod len) for [`RUN`]: the
/// interactions per second and every interaction's duration.
async fn load(stores: &[Arc<dyn Store>]) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for m in 0..MEMBERS {
        let store = stores[(m as usize) % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut n = 0;
            while start.elapsed() < RUN {
                let t = Instant::now();
                interaction(store.as_ref(), 1_000 + m, n).await;
                samples.push(t.elapsed());
                n += 1;
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a member"));
    }
    let secs = start.elapsed().as_secs_f64();
    (all.len() as f64 / secs, all)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Row {
    name: &'static str,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn row(name: &'static str, (per_sec, mut samples): (f64, Vec<Duration>)) -> Row {
    samples.sort_unstable();
    Row {
        name,
        per_sec,
        p50: pct(&samples, 0.50),
        p99: pct(&samples, 0.99),
    }
}

async fn pg_schema(url: &str) -> (String, PgConnectOptions) {
    let name = format!("soe_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .execute(&mut c)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&mut c)
        .await
        .expect("create");
    let options = PgConnectOptions::from_str(url)
        .expect("url")
        .options([("search_path", name.as_str())]);
    (name, options)
}

async fn drop_schema(url: &str, name: &str) {
    if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(&mut c)
            .await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut rows = Vec::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let sled: Arc<dyn Store> = Arc::new(
            SledStore::open_at(dir.path(), Cipher::for_testing(), 64 << 20).expect("sled"),
        );
        rows.push(row("sled, 1 replica", load(&[sled]).await));

        match std::env::var("SOE_BOT_TEST_POSTGRES_URL") {
            Err(_) => println!(
                "SOE_BOT_TEST_POSTGRES_URL is not set: PostgreSQL not measured"
            ),
            Ok(url) => {
                for replicas in [1usize, 3] {
                    let (schema, options) = pg_schema(&url).await;
                    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
                    let mut pools = Vec::new();
                    for _ in 0..replicas {
                        let s = Arc::new(
                            PgStore::open_with(options.clone(), 10, Cipher::for_testing())
                                .await
                                .expect("open PostgreSQL"),
                        );
                        pools.push(s.clone());
                        stores.push(s);
                    }
                    let name = if replicas == 1 {
                        "PostgreSQL, 1 replica"
                    } else {
                        "PostgreSQL, 3 replicas"
                    };
                    rows.push(row(name, load(&stores).await));
                    for p in pools {
                        p.close().await;
                    }
                    drop_schema(&url, &schema).await;
                }
            }
        }

        let base = rows[0].per_sec;
        let base_p99 = rows[0].p99.as_secs_f64();
        println!(
            "\n| store | interactions / s | p50 | p99 | rate vs sled | p99 vs sled |\n|---|---|---|---|---|---|"
        );
        for r in &rows {
            println!(
                "| {} | {:.0} | {:.0} µs | {:.0} µs | {:.2}× | {:.1}× |",
                r.name,
                r.per_sec,
                r.p50.as_secs_f64() * 1e6,
                r.p99.as_secs_f64() * 1e6,
                r.per_sec / base,
                r.p99.as_secs_f64() / base_p99
            );
        }
    });
}

//! The service token's budget shared by replicas: several [`ServiceBudget`]s, each on its own
//! connection pool (as separate replicas would be) but one database, never let more calls
//! through together than SOE allows one token (50 per 2 s, 100 per minute), however hard they
//! race. Needs PostgreSQL (`SOE_BOT_TEST_POSTGRES_URL`): `#[ignore]`d in a bare `cargo test`,
//! run by `.ci/run`. Time is a shared [`FixedClock`], so the windows are exact.

#[path = "support/stores.rs"]
mod stores;

use std::sync::Arc;

use chrono::Duration;
use soe_bot::clock::FixedClock;
use soe_bot::commands::caches::{BudgetLimits, ServiceBudget};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::pg_store::budget::PgBudget;
use soe_bot::store::PgStore;
use stores::Schema;

const REPLICAS: usize = 3;

/// `REPLICAS` budgets on one schema, each with its own pool.
async fn replicas(schema: &Schema, clock: &FixedClock) -> Vec<Arc<ServiceBudget>> {
    let mut out = Vec::new();
    for _ in 0..REPLICAS {
        let store = PgStore::open_with(schema.options(), 4, Cipher::for_testing())
            .await
            .expect("open");
        out.push(Arc::new(
            ServiceBudget::with_global(
                Arc::new(clock.clone()),
                Arc::new(PgBudget::new(store.pool().clone(), BudgetLimits::SOE)),
            )
            .with_member_share(100),
        ));
    }
    out
}

/// Every replica tries `tries` calls at once (the bot's own background reads: no member
/// share); returns how many were allowed in all.
async fn burst(budgets: &[Arc<ServiceBudget>], tries: usize) -> usize {
    let mut tasks = Vec::new();
    for b in budgets {
        for _ in 0..tries {
            let b = b.clone();
            tasks.push(tokio::spawn(
                async move { b.try_take(None, 1).await.is_ok() },
            ));
        }
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.expect("a task"));
    }
    allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn replicas_sharing_one_database_never_exceed_the_token_limits_together() {
    let schema = Schema::new().await;
    let clock = FixedClock::epoch();
    let budgets = replicas(&schema, &clock).await;

    // At one instant, 3 × 40 tries: exactly what the burst bucket holds at once goes
    // through (25: half the site's 50 per 2 s, so that no 2 s window can take more than 50).
    assert_eq!(burst(&budgets, 40).await, 25);
    assert_eq!(
        burst(&budgets, 5).await,
        0,
        "nothing refills at the same instant"
    );

    // Over the next minute, tries every 2 s: the minute window caps the total at 100, plus
    // what refills in the minute (100 a minute) — never the 3 × 50 per 2 s three separate
    // budgets would allow.
    let mut total = 25;
    let mut per_minute = vec![];
    for step in 1..=30 {
        clock.advance(Duration::seconds(2));
        let n = burst(&budgets, 20).await;
        assert!(n <= 50, "step {step}: {n} in 2 s");
        total += n;
        per_minute.push(n);
    }
    // 60 s: at most 100 at the start plus 100 refilled.
    assert!(total <= 200, "{total} in 60 s");
    // Steady state: about 100 a minute (3.33 per 2 s), all replicas together.
    let last_half: usize = per_minute[15..].iter().sum();
    assert!(last_half <= 52, "{last_half} in the last 30 s");

    // The headroom every replica sees is the same shared one.
    let (burst_left, _) = budgets[0].headroom().await.unwrap();
    let (other, _) = budgets[2].headroom().await.unwrap();
    assert_eq!(burst_left, other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn a_member_refused_by_the_shared_budget_keeps_their_share() {
    let schema = Schema::new().await;
    let clock = FixedClock::epoch();
    let budgets = replicas(&schema, &clock).await;
    assert_eq!(burst(&budgets, 20).await, 25);
    // The commons is spent: the member is refused by the service, not by their share…
    assert!(matches!(
        budgets[0].try_take(Some(7), 1).await,
        Err(soe_bot::commands::caches::Refusal::Service(_))
    ));
    // …and once it refills, their whole share is there.
    clock.advance(Duration::seconds(60));
    let mut ok = 0;
    for _ in 0..20 {
        ok += usize::from(budgets[0].try_take(Some(7), 1).await.is_ok());
    }
    assert_eq!(
        ok, 20,
        "a share of 100 a minute, within the refilled burst bucket (25)"
    );
}

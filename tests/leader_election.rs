//! Leader election on PostgreSQL, in process: of several elections on one schema exactly one
//! leads; when the leader steps down (its connection goes), another leads within about
//! `leader_check`; elections in different schemas lead independently. Needs PostgreSQL
//! (`SOE_BOT_TEST_POSTGRES_URL`): `#[ignore]`d in a bare `cargo test`, run by `.ci/run`.

#[path = "support/stores.rs"]
mod stores;

use std::time::{Duration, Instant};

use soe_bot::store::cipher::Cipher;
use soe_bot::store::pg_store::leader::elect;
use soe_bot::store::PgStore;
use stores::Schema;

const CHECK: Duration = Duration::from_millis(300);

/// How many of `leaders` lead, once the count has been stable for a few checks.
async fn settled(leaders: &[soe_bot::leader::Leadership]) -> usize {
    let mut last = usize::MAX;
    let mut same = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = leaders.iter().filter(|l| l.is_leader()).count();
        if n == last {
            same += 1;
            if same >= 5 {
                return n;
            }
        } else {
            (last, same) = (n, 0);
        }
        assert!(Instant::now() < deadline, "leadership never settled");
        tokio::time::sleep(CHECK).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]
async fn one_leader_and_a_quick_takeover_when_it_goes() {
    let schema = Schema::new().await;
    // The schema must hold the store's tables for nothing here, but open it as a bot would.
    PgStore::open_with(schema.options(), 2, Cipher::for_testing())
        .await
        .expect("open")
        .close()
        .await;
    let mut elections: Vec<_> = (0..3).map(|_| elect(schema.options(), CHECK)).collect();
    let leaders: Vec<_> = elections.iter().map(|(l, _)| l.clone()).collect();
    assert_eq!(settled(&leaders).await, 1, "exactly one leader");
    let first = leaders
        .iter()
        .position(|l| l.is_leader())
        .expect("a leader");

    // The leader goes (its task and its connection with it).
    let (_, task) = elections.remove(first);
    task.abort();
    let gone = Instant::now();
    let rest: Vec<_> = elections.iter().map(|(l, _)| l.clone()).collect();
    while !rest.iter().any(|l| l.is_leader()) {
        assert!(gone.elapsed() < Duration::from_secs(10), "nobody took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = gone.elapsed();
    println!(
        "leader election: takeover after {:.2} s (check every {CHECK:?})",
        took.as_secs_f64()
    );
    assert!(took <= CHECK * 4, "took {took:?}");
    assert_eq!(settled(&rest).await, 1, "still exactly one");

    // Another schema (another deployment in the same database) has its own leader.
    let other = Schema::new().await;
    let (theirs, task) = elect(other.options(), CHECK);
    assert_eq!(settled(std::slice::from_ref(&theirs)).await, 1);
    task.abort();
    for (_, t) in elections {
        t.abort();
    }
}

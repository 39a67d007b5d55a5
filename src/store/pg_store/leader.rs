//! Leader election on PostgreSQL: the replica holding a session-level advisory lock on its
//! own dedicated connection leads (see [`crate::leader`]).
//!
//! The lock lives in the two-`int4` key space (record locks use the `bigint` one, which never
//! overlaps it): the first key says "soe-bot leader", the second is a hash of the schema, so
//! deployments (and tests) in different schemas of one database elect their own leaders.
//!
//! Invariants: leadership is reported only after the server granted the lock; every
//! `check` the leader proves its connection alive (`SELECT 1` within `check`), and the moment
//! that fails it reports "not leading" and drops the connection (the server then frees the
//! lock); a standby asks again every `check`. A leader killed outright closes its socket, so
//! the server frees the lock at once and a standby takes over within one `check`.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::leader::Leadership;

/// The first key of the leader lock: "SOEB".
const LOCK_CLASS: i32 = 0x534F_4542;

/// Starts the election on a dedicated connection made from `options`, checking every
/// `check`. Returns the leadership as this process sees it and the election task (abort it
/// to step down: the connection closes and the lock goes with it).
pub fn elect(options: PgConnectOptions, check: Duration) -> (Leadership, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            match options.connect().await {
                Ok(conn) => hold_or_wait(conn, &tx, check).await,
                Err(e) => {
                    let _ = tx.send(false);
                    tracing::warn!(error = %super::raw::db_err(e), "leader election: cannot connect to PostgreSQL; retrying");
                }
            }
            tokio::time::sleep(check).await;
        }
    });
    (Leadership::from_watch(rx), task)
}

/// On one connection: tries for the lock every `check` until granted, then keeps it while
/// the connection answers. Returns when the connection fails (leadership already withdrawn).
async fn hold_or_wait(mut conn: PgConnection, tx: &watch::Sender<bool>, check: Duration) {
    loop {
        let asked = tokio::time::timeout(
            check,
            sqlx::query_scalar::<_, bool>(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
            )
            .bind(LOCK_CLASS)
            .fetch_one(&mut conn),
        )
        .await;
        match asked {
            Ok(Ok(true)) => {
                if !*tx.borrow() {
                    tracing::info!("leader election: this replica now leads");
                }
                let _ = tx.send(true);
                break;
            }
            Ok(Ok(false)) => {
                let _ = tx.send(false);
                tokio::time::sleep(check).await;
            }
            Ok(Err(e)) => {
                let _ = tx.send(false);
                tracing::warn!(error = %super::raw::db_err(e), "leader election: the lock request failed");
                return;
            }
            Err(_) => {
                let _ = tx.send(false);
                tracing::warn!("leader election: PostgreSQL did not answer in time");
                return;
            }
        }
    }
    // Leading: prove the connection alive every `check`.
    loop {
        tokio::time::sleep(check).await;
        let alive = tokio::time::timeout(check, sqlx::query("SELECT 1").execute(&mut conn)).await;
        if !matches!(alive, Ok(Ok(_))) {
            let _ = tx.send(false);
            tracing::warn!(
                "leader election: lost the connection that holds the leader lock; stepping down"
            );
            return;
        }
    }
}

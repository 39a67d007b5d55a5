//! The service token's budget shared by replicas: [`GlobalBuckets`] on PostgreSQL
//! (`storage.backend = "postgres"`), so N replicas together stay inside SOE's limits for the
//! one token (50 calls per 2 s, 100 per minute) instead of each spending them.
//!
//! Invariant: a take is one transaction that locks both window rows (`SELECT … FOR UPDATE`,
//! in a fixed order), decides with [`BudgetLimits::take`] (the same arithmetic as the
//! in-memory budget) and writes both rows, or neither: concurrent takes from any number of
//! replicas are serialized, so the windows are never overdrawn. A database that cannot be
//! reached refuses the call (fail closed) with a short wait.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::raw::db_err;
use crate::commands::caches::{BudgetLimits, GlobalBuckets};

/// The rows, in lock order.
const WINDOWS: [&str; 2] = ["burst", "sustained"];

/// How long a caller is told to wait when the database does not answer.
const UNREACHABLE_WAIT: Duration = Duration::from_secs(2);

/// The global windows in the `service_budget` table.
pub struct PgBudget {
    pool: PgPool,
    limits: BudgetLimits,
}

impl PgBudget {
    /// The budget with `limits` on `pool` (the store's pool: migrations created the table).
    pub fn new(pool: PgPool, limits: BudgetLimits) -> Self {
        Self { pool, limits }
    }

    async fn try_take(
        &self,
        calls: u32,
        now: DateTime<Utc>,
    ) -> Result<Result<[f64; 2], Duration>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Both rows exist from the first take on (full buckets).
        for (name, (capacity, _)) in WINDOWS.iter().zip(self.limits.windows()) {
            sqlx::query(
                "INSERT INTO service_budget (name, tokens, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(capacity)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query(
            "SELECT name, tokens, updated_at FROM service_budget WHERE name = ANY($1) ORDER BY name FOR UPDATE",
        )
        .bind(&WINDOWS[..])
        .fetch_all(&mut *tx)
        .await?;
        let mut state = [None, None];
        for row in rows {
            let name: String = row.try_get(0)?;
            if let Some(i) = WINDOWS.iter().position(|w| *w == name) {
                state[i] = Some((
                    row.try_get::<f64, _>(1)?,
                    row.try_get::<DateTime<Utc>, _>(2)?,
                ));
            }
        }
        match self.limits.take(state, calls, now) {
            Ok(after) => {
                for (name, (tokens, at)) in WINDOWS.iter().zip(after) {
                    sqlx::query(
                        "UPDATE service_budget SET tokens = $2, updated_at = $3 WHERE name = $1",
                    )
                    .bind(name)
                    .bind(tokens)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(Ok(after.map(|(t, _)| t)))
            }
            Err(wait) => {
                tx.rollback().await?;
                Ok(Err(wait))
            }
        }
    }
}

#[async_trait]
impl GlobalBuckets for PgBudget {
    async fn take(&self, calls: u32, now: DateTime<Utc>) -> Result<[f64; 2], Duration> {
        match self.try_take(calls, now).await {
            Ok(decided) => decided,
            Err(e) => {
                tracing::warn!(error = %db_err(e), "the shared service budget could not be read; refusing the call");
                Err(UNREACHABLE_WAIT)
            }
        }
    }

    async fn left(&self, now: DateTime<Utc>) -> Result<[f64; 2], String> {
        let rows = sqlx::query("SELECT name, tokens, updated_at FROM service_budget")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_err(e).to_string())?;
        let mut left = [0, 1].map(|i| self.limits.windows()[i].0);
        for row in rows {
            let name: String = row.try_get(0).map_err(|e| db_err(e).to_string())?;
            let tokens: f64 = row.try_get(1).map_err(|e| db_err(e).to_string())?;
            let at: DateTime<Utc> = row.try_get(2).map_err(|e| db_err(e).to_string())?;
            if let Some(i) = WINDOWS.iter().position(|w| *w == name) {
                let (capacity, per_second) = self.limits.windows()[i];
                let elapsed = (now - at.min(now)).num_milliseconds() as f64 / 1000.0;
                left[i] = (tokens.clamp(0.0, capacity) + elapsed * per_second).min(capacity);
            }
        }
        Ok(left)
    }

    fn limits(&self) -> BudgetLimits {
        self.limits
    }
}

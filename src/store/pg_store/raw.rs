//! The rows under [`super::PgStore`]: one table `records (tree, key, value, expires_at)`
//! holding, for every (tree, key), exactly the bytes sled holds, and the few statements the
//! store is made of.
//!
//! Invariants:
//! - every write goes through [`put`], which computes `expires_at` from the value
//!   ([`super::sweep_time`]), so the sweep index never disagrees with the record;
//! - single-use takes are one `DELETE … RETURNING` (the row goes to exactly one caller);
//! - a read-modify-write locks its record first ([`lock`]): a transaction-scoped advisory lock
//!   on the (tree, key) (which also serializes writers of a row that does not exist yet) and
//!   `SELECT … FOR UPDATE` on the row (which blind writers wait for), so two replicas never
//!   both win a compare-and-swap.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};

use crate::store::{StoreError, StoreResult};

/// A storage error from sqlx, phrased without the connection URL (it may hold a password).
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    let text = match &e {
        sqlx::Error::Database(d) => format!("PostgreSQL said: {}", d.message()),
        sqlx::Error::Io(io) => format!("PostgreSQL connection failed: {io}"),
        sqlx::Error::Tls(t) => format!("PostgreSQL TLS failed: {t}"),
        sqlx::Error::PoolTimedOut => {
            "no PostgreSQL connection became free in time (server down, or storage.pool_size too small)".into()
        }
        sqlx::Error::PoolClosed => "the PostgreSQL pool is closed (shutting down)".into(),
        sqlx::Error::Configuration(_) => {
            "storage.url is not a usable PostgreSQL URL; write it as postgres://user:password@host:5432/database".into()
        }
        sqlx::Error::Protocol(p) => format!("PostgreSQL protocol error: {p}"),
        sqlx::Error::Migrate(m) => format!("PostgreSQL migration failed: {m}"),
        other => format!("PostgreSQL error: {}", kind_of(other)),
    };
    StoreError::Io(text)
}

/// A short name for the less common sqlx errors (their text may quote values).
fn kind_of(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::RowNotFound => "row not found",
        sqlx::Error::ColumnNotFound(_) => "column not found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "a value did not decode",
        sqlx::Error::Encode(_) => "a value did not encode",
        sqlx::Error::WorkerCrashed => "the connection worker crashed",
        _ => "unexpected",
    }
}

/// The advisory-lock key of a record: the first 8 bytes of SHA-256(tree ‖ 0 ‖ key). Records
/// use the one-`bigint` key space; the leader lock uses the two-`int4` space, which never
/// overlaps it.
pub(crate) fn lock_key(tree: &str, key: &[u8]) -> i64 {
    let mut h = Sha256::new();
    h.update(tree.as_bytes());
    h.update([0u8]);
    h.update(key);
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    i64::from_be_bytes(first)
}

/// Locks (tree, key) until the transaction ends, and returns its current value (the row,
/// if any, is locked `FOR UPDATE` too). Call inside a transaction only.
pub(crate) async fn lock(
    conn: &mut PgConnection,
    tree: &str,
    key: &[u8],
) -> StoreResult<Option<Vec<u8>>> {
    advisory(&mut *conn, tree, key).await?;
    let row = sqlx::query("SELECT value FROM records WHERE tree = $1 AND key = $2 FOR UPDATE")
        .bind(tree)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get::<Vec<u8>, _>(0).map_err(db_err))
        .transpose()
}

/// Takes the transaction-scoped advisory lock of (tree, key) without reading anything (for a
/// lock that guards a group of records, e.g. one member's draft creations).
pub(crate) async fn advisory(conn: &mut PgConnection, tree: &str, key: &[u8]) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(tree, key))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The value under (tree, key).
pub(crate) async fn get(
    conn: &mut PgConnection,
    tree: &str,
    key: &[u8],
) -> StoreResult<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT value FROM records WHERE tree = $1 AND key = $2")
        .bind(tree)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get::<Vec<u8>, _>(0).map_err(db_err))
        .transpose()
}

/// Whether (tree, key) exists.
pub(crate) async fn exists(conn: &mut PgConnection, tree: &str, key: &[u8]) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 FROM records WHERE tree = $1 AND key = $2")
        .bind(tree)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?;
    Ok(row.is_some())
}

/// Creates or replaces (tree, key).
pub(crate) async fn put(
    conn: &mut PgConnection,
    tree: &str,
    key: &[u8],
    value: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO records (tree, key, value, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
    )
    .bind(tree)
    .bind(key)
    .bind(value)
    .bind(super::sweep_time(tree, value))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Removes (tree, key) and returns what it held: exactly one caller gets a given row.
pub(crate) async fn take(
    conn: &mut PgConnection,
    tree: &str,
    key: &[u8],
) -> StoreResult<Option<Vec<u8>>> {
    let row = sqlx::query("DELETE FROM records WHERE tree = $1 AND key = $2 RETURNING value")
        .bind(tree)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get::<Vec<u8>, _>(0).map_err(db_err))
        .transpose()
}

/// Removes (tree, key). True if it existed.
pub(crate) async fn delete(conn: &mut PgConnection, tree: &str, key: &[u8]) -> StoreResult<bool> {
    Ok(take(conn, tree, key).await?.is_some())
}

/// Removes (tree, key) only if it still holds `expected`. True if removed.
pub(crate) async fn delete_if(
    conn: &mut PgConnection,
    tree: &str,
    key: &[u8],
    expected: &[u8],
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM records WHERE tree = $1 AND key = $2 AND value = $3")
        .bind(tree)
        .bind(key)
        .bind(expected)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

/// Removes every row of `tree` whose key starts with `prefix` (not empty). Returns how many.
pub(crate) async fn delete_prefix(
    conn: &mut PgConnection,
    tree: &str,
    prefix: &[u8],
) -> StoreResult<u64> {
    let done = match prefix_end(prefix) {
        Some(end) => {
            sqlx::query("DELETE FROM records WHERE tree = $1 AND key >= $2 AND key < $3")
                .bind(tree)
                .bind(prefix)
                .bind(end)
                .execute(conn)
                .await
        }
        None => {
            sqlx::query("DELETE FROM records WHERE tree = $1 AND key >= $2")
                .bind(tree)
                .bind(prefix)
                .execute(conn)
                .await
        }
    }
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

/// The first key after every key that starts with `prefix` (`None`: no such key, the prefix
/// is all 0xff or empty).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Every (key, value) of `tree` whose key starts with `prefix`, in key order (bytes compare
/// as in sled).
pub(crate) async fn scan(
    conn: &mut PgConnection,
    tree: &str,
    prefix: &[u8],
) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let rows = match prefix_end(prefix) {
        Some(end) => {
            sqlx::query(
                "SELECT key, value FROM records WHERE tree = $1 AND key >= $2 AND key < $3 ORDER BY key",
            )
            .bind(tree)
            .bind(prefix)
            .bind(end)
            .fetch_all(conn)
            .await
        }
        None => {
            sqlx::query(
                "SELECT key, value FROM records WHERE tree = $1 AND key >= $2 ORDER BY key",
            )
            .bind(tree)
            .bind(prefix)
            .fetch_all(conn)
            .await
        }
    }
    .map_err(db_err)?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get::<Vec<u8>, _>(0).map_err(db_err)?,
                r.try_get::<Vec<u8>, _>(1).map_err(db_err)?,
            ))
        })
        .collect()
}

/// The rows of `tree` whose `expires_at` is at or before `now` (candidates for a sweep,
/// which decides on the decoded value).
pub(crate) async fn due(
    conn: &mut PgConnection,
    tree: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let rows = sqlx::query(
        "SELECT key, value FROM records WHERE tree = $1 AND expires_at IS NOT NULL AND expires_at <= $2 ORDER BY key",
    )
    .bind(tree)
    .bind(now)
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get::<Vec<u8>, _>(0).map_err(db_err)?,
                r.try_get::<Vec<u8>, _>(1).map_err(db_err)?,
            ))
        })
        .collect()
}

/// How many records `tree` holds.
pub(crate) async fn count(conn: &mut PgConnection, tree: &str) -> StoreResult<usize> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM records WHERE tree = $1")
        .bind(tree)
        .fetch_one(conn)
        .await
        .map_err(db_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn lock_keys_differ_by_tree_and_key() {
        assert_ne!(lock_key("a", b"b"), lock_key("ab", b""));
        assert_ne!(lock_key("t", b"1"), lock_key("t", b"2"));
        assert_eq!(lock_key("t", b"1"), lock_key("t", b"1"));
    }
}

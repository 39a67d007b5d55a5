//! [`Store`] and [`NotifyStore`] on PostgreSQL (`storage.backend = "postgres"`), for several
//! replicas sharing one state.
//!
//! Layout: one table, `records (tree, key, value, expires_at)` (see `migrations/`), where every
//! (tree, key) holds exactly the bytes the sled store holds for it ([`super::record`]): the
//! same JSON records, sealed with the same associated data. A sealed value copied between
//! backends opens on the other side, and only under its own key.
//!
//! Invariants (the same promises as sled's, kept across processes):
//! - single-use records (tickets, OAuth states, identity checks, confirmations) are consumed by
//!   one `DELETE … RETURNING`: two replicas never both get one;
//! - every read-modify-write (claims, draft posting, link status, rate buckets, rule numbers,
//!   the outbox) runs in one transaction that first locks its record ([`raw::lock`]: an
//!   advisory lock on the (tree, key), which also covers a record that does not exist yet, and
//!   `FOR UPDATE` on the row); a decision step from [`super::record`] runs once, under the
//!   lock, so sealing inside it is safe;
//! - draft creations of one member are serialized by an advisory lock on the member, so two
//!   replicas cannot both pass the per-member cap;
//! - a poll's state and its cards, an outbox entry's removal and its sent record, a rule and
//!   its number are each one transaction; outbox ids come from a sequence (increasing);
//! - a committed transaction is durable (PostgreSQL's WAL): "Flushed" needs nothing more, and
//!   [`Store::flush`] does nothing;
//! - the schema stamp and the key canary live in `meta` as in sled: a wrong key is
//!   [`StoreError::WrongKey`] at open. The connection URL (it may hold a password) is never in
//!   an error, a log line or `Debug`; messages name the server as `postgres://host:port/db`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::cipher::Cipher;
use super::record::{self, Update};
use super::{
    Allowance, DiscordUserId, Draft, DraftState, GuildSettings, Link, LinkCounts, LinkStatus,
    LinkTicket, PendingAuth, PendingConfirm, RateBucket, SavedSearch, Store, StoreCounts,
    StoreError, StoreResult, WriteClaim, SCHEMA_VERSION, SEARCHES_PER_MEMBER,
};
use crate::config::StorageConfig;
use crate::notify::model::Delivered;
use crate::soe::ServiceToken;

pub mod budget;
pub mod leader;
mod notify;
pub(crate) mod raw;

/// The embedded SQL migrations (`migrations/`), applied at open (sqlx takes its own lock, so
/// replicas starting together apply them once).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long opening waits for a first connection before saying the server does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The [`Store`] on a PostgreSQL pool. Cheap to share (`Arc`); every replica opens its own.
pub struct PgStore {
    pool: PgPool,
    cipher: Cipher,
    /// The server as messages show it: `postgres://host:port/db`, no user or password.
    shown: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("server", &self.shown)
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

/// `storage.url` as connection options. The error never repeats the URL.
pub fn connect_options(url: &secrecy::SecretString) -> StoreResult<PgConnectOptions> {
    PgConnectOptions::from_str(url.expose_secret().trim()).map_err(|_| {
        StoreError::Io(
            "storage.url is not a usable PostgreSQL URL; write it as postgres://user:password@host:5432/database".into(),
        )
    })
}

/// How messages name the server of `options`: host, port and database, never credentials.
pub fn shown(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

impl PgStore {
    /// Opens the store `storage` configures (`storage.url`, `storage.pool_size`, the keys):
    /// connects, applies the migrations, checks the schema stamp and the key canary.
    ///
    /// Errors: [`StoreError::Io`] when the server does not answer or refuses (the message
    /// names the server without credentials), [`StoreError::SchemaTooNew`],
    /// [`StoreError::WrongKey`].
    pub async fn open(storage: &StorageConfig) -> StoreResult<PgStore> {
        let url = storage.url.as_ref().ok_or_else(|| {
            StoreError::Io(
                "storage.backend = \"postgres\" needs storage.url (or storage.url_file)".into(),
            )
        })?;
        Self::open_with(
            connect_options(url)?,
            storage.pool_size,
            Cipher::from_config(storage),
        )
        .await
    }

    /// [`PgStore::open`] with explicit parts (tests, tools): `options` may carry a
    /// `search_path` to keep a test in its own schema.
    pub async fn open_with(
        options: PgConnectOptions,
        pool_size: u32,
        cipher: Cipher,
    ) -> StoreResult<PgStore> {
        let shown = shown(&options);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| match raw::db_err(e) {
                StoreError::Io(m) => StoreError::Io(format!("{shown}: {m}")),
                other => other,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Io(format!("{shown}: migrations failed: {e}")))?;
        let store = PgStore {
            pool,
            cipher,
            shown,
        };
        store.check_schema().await?;
        store.check_canary().await?;
        Ok(store)
    }

    /// The server, as messages show it.
    pub fn server(&self) -> &str {
        &self.shown
    }

    /// The pool (the service budget and the migration tool share it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn conn(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(raw::db_err)
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(raw::db_err)
    }

    /// The record schema version stamped in `meta` (the same stamp as sled's).
    pub async fn schema_version(&self) -> StoreResult<Option<u32>> {
        let mut c = self.conn().await?;
        let raw = raw::get(&mut c, record::TREE_META, record::META_SCHEMA_VERSION).await?;
        raw.map(|raw| {
            let bytes: [u8; 4] = raw
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("meta/schema_version is not a u32".into()))?;
            Ok(u32::from_be_bytes(bytes))
        })
        .transpose()
    }

    /// Stamps a new store, refuses a newer one. (Record format 1 is the only one so far, as in
    /// sled; the SQL layout itself is migrated by [`MIGRATOR`].)
    async fn check_schema(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let cur = raw::lock(&mut tx, record::TREE_META, record::META_SCHEMA_VERSION).await?;
        let found = match cur {
            None => {
                raw::put(
                    &mut tx,
                    record::TREE_META,
                    record::META_SCHEMA_VERSION,
                    &SCHEMA_VERSION.to_be_bytes(),
                )
                .await?;
                return tx.commit().await.map_err(raw::db_err);
            }
            Some(raw) => u32::from_be_bytes(
                raw.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("meta/schema_version is not a u32".into()))?,
            ),
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: self.shown.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < SCHEMA_VERSION {
            raw::put(
                &mut tx,
                record::TREE_META,
                record::META_SCHEMA_VERSION,
                &SCHEMA_VERSION.to_be_bytes(),
            )
            .await?;
            tracing::info!(server = %self.shown, version = SCHEMA_VERSION, "storage schema migrated");
        }
        tx.commit().await.map_err(raw::db_err)
    }

    /// As in sled: the first open stores a canary sealed with the current key; later opens
    /// fail with [`StoreError::WrongKey`] unless a configured key opens it, and re-seal it
    /// when it was opened with a previous key.
    async fn check_canary(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let cur = raw::lock(&mut tx, record::TREE_META, record::META_KEY_CANARY).await?;
        match cur {
            None => {
                let blob = record::seal_canary(&self.cipher)?;
                raw::put(&mut tx, record::TREE_META, record::META_KEY_CANARY, &blob).await?;
            }
            Some(blob) if record::canary_opens(&self.cipher, &blob) => {
                if Cipher::key_id_of(&blob) != Some(self.cipher.current_key_id()) {
                    let fresh = record::seal_canary(&self.cipher)?;
                    raw::put(&mut tx, record::TREE_META, record::META_KEY_CANARY, &fresh).await?;
                    tracing::info!(
                        server = %self.shown,
                        key_id = self.cipher.current_key_id(),
                        "storage key canary re-sealed with the current key"
                    );
                }
            }
            Some(_) => {
                return Err(StoreError::WrongKey {
                    path: self.shown.clone(),
                })
            }
        }
        tx.commit().await.map_err(raw::db_err)
    }

    /// Runs `step` on the value of (tree, key) under its lock and applies what it decided, in
    /// one transaction. `step` runs exactly once.
    async fn update<R: Send>(
        &self,
        tree: &str,
        key: &[u8],
        step: impl FnOnce(Option<&[u8]>) -> StoreResult<Update<R>> + Send,
    ) -> StoreResult<R> {
        let mut tx = self.begin().await?;
        let cur = raw::lock(&mut tx, tree, key).await?;
        let r = match step(cur.as_deref())? {
            Update::Keep(r) => {
                tx.rollback().await.map_err(raw::db_err)?;
                return Ok(r);
            }
            Update::Set(value, r) => {
                raw::put(&mut tx, tree, key, &value).await?;
                r
            }
            Update::Remove(r) => {
                raw::delete(&mut tx, tree, key).await?;
                r
            }
        };
        tx.commit().await.map_err(raw::db_err)?;
        Ok(r)
    }

    /// Decodes and unseals the drafts in `rows` (keys `user ‖ id`), skipping unreadable ones
    /// as sled does (one bad draft must not hide the others).
    fn drafts_from_rows(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<Draft> {
        let mut drafts = Vec::new();
        for (k, v) in rows {
            let (Ok(user), Ok(id)) = (
                record::user_of_key(&k),
                std::str::from_utf8(k.get(8..).unwrap_or_default()),
            ) else {
                tracing::warn!(
                    tree = record::TREE_DRAFTS,
                    "skipping a draft with a malformed key"
                );
                continue;
            };
            match record::draft_from_bytes(&self.cipher, user, id, &v) {
                Ok(d) => drafts.push(d),
                Err(e) => {
                    tracing::warn!(tree = record::TREE_DRAFTS, error = %e, "skipping an unreadable draft")
                }
            }
        }
        drafts
    }

    /// Removes the rows of `tree` whose value decodes to a record of `user` (these trees hold
    /// only the few minutes of linking in flight).
    async fn remove_where_user<R: record::Record>(
        conn: &mut sqlx::PgConnection,
        tree: &str,
        user: DiscordUserId,
        user_of: impl Fn(&R) -> DiscordUserId,
    ) -> StoreResult<()> {
        for (k, v) in raw::scan(conn, tree, &[]).await? {
            if record::decode::<R>(&v).is_ok_and(|rec| user_of(&rec) == user) {
                raw::delete_if(conn, tree, &k, &v).await?;
            }
        }
        Ok(())
    }

    /// Sweeps `tree`: removes the rows due by `now` whose decoded record `expired` says so,
    /// unless they changed meanwhile. Returns how many.
    async fn sweep_tree<R: record::Record>(
        &self,
        tree: &'static str,
        now: DateTime<Utc>,
        expired: impl Fn(&R) -> bool,
    ) -> StoreResult<usize> {
        let mut c = self.conn().await?;
        let mut removed = 0;
        for (k, v) in raw::due(&mut c, tree, now).await? {
            match record::decode::<R>(&v) {
                Ok(rec) if expired(&rec) => {
                    removed += usize::from(raw::delete_if(&mut c, tree, &k, &v).await?);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(tree, error = %e, "skipping a corrupt record"),
            }
        }
        Ok(removed)
    }
}

/// The time the sweep index holds for a value of `tree` (see `migrations/`): at or before the
/// moment the record can go, so the index finds every candidate and the sweep decides on the
/// decoded record. `None` for trees no sweep looks at, and for records that do not decode
/// (sled's sweeps skip those too), except sent cards, which the sweep drops when unreadable.
pub(crate) fn sweep_time(tree: &str, value: &[u8]) -> Option<DateTime<Utc>> {
    use record::*;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    match tree {
        TREE_TICKETS => decode::<TicketRecord>(value).ok().map(|r| r.expires_at),
        TREE_AUTH => decode::<AuthRecord>(value).ok().map(|r| r.expires_at),
        TREE_IDENTITY | TREE_CONFIRM => decode::<ConfirmRecord>(value).ok().map(|r| r.expires_at),
        TREE_DRAFTS => decode::<DraftRecord>(value).ok().map(|r| r.expires_at),
        TREE_SEARCHES => decode::<SearchRecord>(value).ok().map(|r| r.expires_at),
        // Claims and outcomes expire a while after their time; a record with no time at all
        // can go at once.
        TREE_WRITES => decode::<WriteRecord>(value)
            .ok()
            .map(|r| r.finished_at.or(r.claimed_at).unwrap_or(epoch)),
        // A bucket is idle once full again (or a day after its update, for old records).
        TREE_RATES => decode::<RateRecord>(value)
            .ok()
            .map(|r| r.full_at.unwrap_or(r.updated_at)),
        TREE_NOTIFY_SENT => Some(
            dec::<Delivered>("sent card", value)
                .map(|d| d.sent_at)
                .unwrap_or(epoch),
        ),
        _ => None,
    }
}

#[async_trait]
impl Store for PgStore {
    // ---- links

    async fn get_link(&self, user: DiscordUserId) -> StoreResult<Option<Link>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_LINKS, &record::user_key(user)).await? {
            None => Ok(None),
            Some(raw) => record::link_from_bytes(&self.cipher, user, &raw).map(Some),
        }
    }

    async fn put_link(&self, link: &Link) -> StoreResult<()> {
        let bytes = record::encode(&record::link_record(&self.cipher, link)?)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_LINKS,
            &record::user_key(link.discord_user),
            &bytes,
        )
        .await
    }

    async fn mark_link_expired(&self, user: DiscordUserId) -> StoreResult<()> {
        self.update(
            record::TREE_LINKS,
            &record::user_key(user),
            record::link_expire_step,
        )
        .await
        .map(|_| ())
    }

    async fn mark_link_write_refused(&self, user: DiscordUserId) -> StoreResult<()> {
        self.update(
            record::TREE_LINKS,
            &record::user_key(user),
            record::link_write_refused_step,
        )
        .await
        .map(|_| ())
    }

    async fn touch_link(&self, user: DiscordUserId, at: DateTime<Utc>) -> StoreResult<()> {
        self.update(record::TREE_LINKS, &record::user_key(user), |cur| {
            record::link_touch_step(cur, at)
        })
        .await
    }

    async fn link_counts(&self) -> StoreResult<LinkCounts> {
        let mut c = self.conn().await?;
        let mut counts = LinkCounts::default();
        for (_, raw) in raw::scan(&mut c, record::TREE_LINKS, &[]).await? {
            let Ok(rec) = record::decode::<record::LinkRecord>(&raw) else {
                continue;
            };
            match rec.status {
                LinkStatus::Active => counts.active += 1,
                LinkStatus::Expired => counts.expired += 1,
                LinkStatus::WriteRefused => counts.write_refused += 1,
            }
        }
        Ok(counts)
    }

    async fn delete_link(&self, user: DiscordUserId) -> StoreResult<bool> {
        let ukey = record::user_key(user);
        let mut tx = self.begin().await?;
        let existed = raw::delete(&mut tx, record::TREE_LINKS, &ukey).await?;
        raw::delete_prefix(&mut tx, record::TREE_DRAFTS, &ukey).await?;
        if let Some(state) = raw::take(&mut tx, record::TREE_AUTH_BY_USER, &ukey).await? {
            raw::delete(&mut tx, record::TREE_AUTH, &state).await?;
        }
        Self::remove_where_user::<record::TicketRecord>(&mut tx, record::TREE_TICKETS, user, |r| {
            r.discord_user
        })
        .await?;
        Self::remove_where_user::<record::ConfirmRecord>(
            &mut tx,
            record::TREE_IDENTITY,
            user,
            |r| r.link.discord_user,
        )
        .await?;
        Self::remove_where_user::<record::ConfirmRecord>(
            &mut tx,
            record::TREE_CONFIRM,
            user,
            |r| r.link.discord_user,
        )
        .await?;
        // Alerts stop with the link (and the member's records go with it), as on sled.
        notify::forget_member_in(&mut tx, user).await?;
        tx.commit().await.map_err(raw::db_err)?;
        Ok(existed)
    }

    // ---- linking flow

    async fn put_ticket(&self, ticket_hash: [u8; 32], ticket: &LinkTicket) -> StoreResult<()> {
        let bytes = record::ticket_bytes(ticket)?;
        let mut c = self.conn().await?;
        raw::put(&mut c, record::TREE_TICKETS, &ticket_hash, &bytes).await
    }

    async fn take_ticket(&self, ticket_hash: [u8; 32]) -> StoreResult<Option<LinkTicket>> {
        let mut c = self.conn().await?;
        match raw::take(&mut c, record::TREE_TICKETS, &ticket_hash).await? {
            None => Ok(None),
            Some(raw) => record::ticket_from_bytes(&raw).map(Some),
        }
    }

    async fn put_pending_auth(
        &self,
        state_hash: [u8; 32],
        pending: &PendingAuth,
    ) -> StoreResult<()> {
        // Sealed before the transaction, like every other value.
        let bytes = record::auth_bytes(&self.cipher, &state_hash, pending)?;
        let ukey = record::user_key(pending.discord_user);
        let mut tx = self.begin().await?;
        if let Some(previous) = raw::lock(&mut tx, record::TREE_AUTH_BY_USER, &ukey).await? {
            if previous.as_slice() != state_hash.as_slice() {
                raw::delete(&mut tx, record::TREE_AUTH, &previous).await?;
            }
        }
        raw::put(&mut tx, record::TREE_AUTH, &state_hash, &bytes).await?;
        raw::put(&mut tx, record::TREE_AUTH_BY_USER, &ukey, &state_hash).await?;
        tx.commit().await.map_err(raw::db_err)
    }

    async fn take_pending_auth(&self, state_hash: [u8; 32]) -> StoreResult<Option<PendingAuth>> {
        // The member's index entry is locked before the authorization, in the same order as
        // `put_pending_auth` (so the two cannot deadlock): read first to learn the member.
        let peeked = {
            let mut c = self.conn().await?;
            raw::get(&mut c, record::TREE_AUTH, &state_hash).await?
        };
        let Some(peeked) = peeked else {
            return Ok(None);
        };
        let rec = record::decode::<record::AuthRecord>(&peeked);
        let mut tx = self.begin().await?;
        if let Ok(rec) = &rec {
            let ukey = record::user_key(rec.discord_user);
            let idx = raw::lock(&mut tx, record::TREE_AUTH_BY_USER, &ukey).await?;
            if idx.as_deref() == Some(&state_hash[..]) {
                raw::delete(&mut tx, record::TREE_AUTH_BY_USER, &ukey).await?;
            }
        }
        // Exactly one caller gets the row; a corrupt record is consumed too, and its error
        // reported below.
        let Some(raw) = raw::take(&mut tx, record::TREE_AUTH, &state_hash).await? else {
            tx.rollback().await.map_err(raw::db_err)?;
            return Ok(None);
        };
        tx.commit().await.map_err(raw::db_err)?;
        let rec = record::decode::<record::AuthRecord>(&raw);
        record::auth_from_record(&self.cipher, &state_hash, rec?).map(Some)
    }

    async fn put_pending_confirm(
        &self,
        form_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()> {
        let bytes = record::confirm_bytes(&self.cipher, pending)?;
        let mut c = self.conn().await?;
        raw::put(&mut c, record::TREE_CONFIRM, &form_hash, &bytes).await
    }

    async fn peek_pending_confirm(
        &self,
        form_hash: [u8; 32],
    ) -> StoreResult<Option<PendingConfirm>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_CONFIRM, &form_hash).await? {
            None => Ok(None),
            Some(raw) => record::confirm_from_bytes(&self.cipher, &raw).map(Some),
        }
    }

    async fn discard_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<bool> {
        let mut c = self.conn().await?;
        raw::delete(&mut c, record::TREE_CONFIRM, &form_hash).await
    }

    async fn put_pending_identity(
        &self,
        state_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()> {
        let bytes = record::confirm_bytes(&self.cipher, pending)?;
        let mut c = self.conn().await?;
        raw::put(&mut c, record::TREE_IDENTITY, &state_hash, &bytes).await
    }

    async fn take_pending_identity(
        &self,
        state_hash: [u8; 32],
    ) -> StoreResult<Option<PendingConfirm>> {
        let mut c = self.conn().await?;
        match raw::take(&mut c, record::TREE_IDENTITY, &state_hash).await? {
            None => Ok(None),
            Some(raw) => record::confirm_from_bytes(&self.cipher, &raw).map(Some),
        }
    }

    async fn confirm_link(&self, form_hash: [u8; 32]) -> StoreResult<Option<Link>> {
        let mut tx = self.begin().await?;
        let Some(raw) = raw::take(&mut tx, record::TREE_CONFIRM, &form_hash).await? else {
            tx.rollback().await.map_err(raw::db_err)?;
            return Ok(None);
        };
        match record::confirmed_link(&self.cipher, &raw) {
            Ok((user, bytes, link)) => {
                raw::put(&mut tx, record::TREE_LINKS, &record::user_key(user), &bytes).await?;
                tx.commit().await.map_err(raw::db_err)?;
                Ok(Some(link))
            }
            Err(e) => {
                // Leaves the confirmation in place; the sweep removes it at expiry.
                tx.rollback().await.map_err(raw::db_err)?;
                Err(e)
            }
        }
    }

    async fn sweep_expired(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        use record::*;
        let mut removed = 0;
        removed += self
            .sweep_tree::<TicketRecord>(TREE_TICKETS, now, |r| r.expires_at <= now)
            .await?;
        // An authorization goes with its index entry, if it still points at it.
        {
            let mut c = self.conn().await?;
            let due = raw::due(&mut c, TREE_AUTH, now).await?;
            drop(c);
            for (k, v) in due {
                match decode::<AuthRecord>(&v) {
                    Ok(rec) if rec.expires_at <= now => {
                        let ukey = user_key(rec.discord_user);
                        // Index first, then the authorization (the order every path uses).
                        let mut tx = self.begin().await?;
                        let idx = raw::lock(&mut tx, TREE_AUTH_BY_USER, &ukey).await?;
                        let gone = raw::delete_if(&mut tx, TREE_AUTH, &k, &v).await?;
                        if gone && idx.as_deref() == Some(k.as_slice()) {
                            raw::delete(&mut tx, TREE_AUTH_BY_USER, &ukey).await?;
                        }
                        tx.commit().await.map_err(raw::db_err)?;
                        removed += usize::from(gone);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(tree = TREE_AUTH, error = %e, "skipping a corrupt record")
                    }
                }
            }
        }
        removed += self
            .sweep_tree::<ConfirmRecord>(TREE_IDENTITY, now, |r| r.expires_at <= now)
            .await?;
        removed += self
            .sweep_tree::<ConfirmRecord>(TREE_CONFIRM, now, |r| r.expires_at <= now)
            .await?;
        removed += self
            .sweep_tree::<DraftRecord>(TREE_DRAFTS, now, |r| r.expires_at <= now)
            .await?;
        removed += self
            .sweep_tree::<SearchRecord>(TREE_SEARCHES, now, |r| r.expires_at <= now)
            .await?;
        // Only records unchanged since they were read go: a claim renewed or a bucket taken
        // from in the meantime stays.
        removed += self
            .sweep_tree::<WriteRecord>(TREE_WRITES, now, |r| r.expired(now))
            .await?;
        removed += self
            .sweep_tree::<RateRecord>(TREE_RATES, now, |r| r.idle(now))
            .await?;
        Ok(removed)
    }

    // ---- drafts

    async fn put_draft(&self, draft: &Draft) -> StoreResult<()> {
        let bytes = record::draft_bytes(&self.cipher, draft)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_DRAFTS,
            &record::draft_key(draft.discord_user, &draft.id),
            &bytes,
        )
        .await
    }

    async fn put_new_draft(
        &self,
        draft: &Draft,
        cap: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Sealed before the transaction; the lock covers the count and the insert.
        let bytes = record::draft_bytes(&self.cipher, draft)?;
        let key = record::draft_key(draft.discord_user, &draft.id);
        let ukey = record::user_key(draft.discord_user);
        let mut tx = self.begin().await?;
        raw::advisory(&mut tx, "drafts/v1#creations", &ukey).await?;
        if !raw::exists(&mut tx, record::TREE_DRAFTS, &key).await? {
            let rows = raw::scan(&mut tx, record::TREE_DRAFTS, &ukey).await?;
            // Fewer drafts in all than the cap means fewer open ones: nothing to unseal.
            let open = if rows.len() < cap as usize {
                rows.len()
            } else {
                self.drafts_from_rows(rows)
                    .iter()
                    .filter(|d| d.expires_at > now && !matches!(d.state, DraftState::Posted { .. }))
                    .count()
            };
            if open >= cap as usize {
                tx.rollback().await.map_err(raw::db_err)?;
                return Ok(false);
            }
        }
        raw::put(&mut tx, record::TREE_DRAFTS, &key, &bytes).await?;
        tx.commit().await.map_err(raw::db_err)?;
        Ok(true)
    }

    async fn get_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<Option<Draft>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_DRAFTS, &record::draft_key(user, id)).await? {
            None => Ok(None),
            Some(raw) => record::draft_from_bytes(&self.cipher, user, id, &raw).map(Some),
        }
    }

    async fn drafts_of(&self, user: DiscordUserId) -> StoreResult<Vec<Draft>> {
        let mut c = self.conn().await?;
        let rows = raw::scan(&mut c, record::TREE_DRAFTS, &record::user_key(user)).await?;
        let mut drafts = self.drafts_from_rows(rows);
        drafts.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(drafts)
    }

    async fn begin_posting(
        &self,
        user: DiscordUserId,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Draft>> {
        let cipher = &self.cipher;
        self.update(record::TREE_DRAFTS, &record::draft_key(user, id), |cur| {
            let Some(cur) = cur else {
                return Ok(Update::Keep(None));
            };
            let mut draft = record::draft_from_bytes(cipher, user, id, cur)?;
            if !matches!(draft.state, DraftState::Saved { .. }) {
                return Ok(Update::Keep(None));
            }
            draft.state = DraftState::Posting { since: now };
            // The step runs once, under the row's lock: sealing here is safe.
            let bytes = record::draft_bytes(cipher, &draft)?;
            Ok(Update::Set(bytes, Some(draft)))
        })
        .await
    }

    async fn delete_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<()> {
        let mut c = self.conn().await?;
        raw::delete(&mut c, record::TREE_DRAFTS, &record::draft_key(user, id)).await?;
        Ok(())
    }

    async fn posting_drafts(&self) -> StoreResult<Vec<Draft>> {
        let mut c = self.conn().await?;
        let rows = raw::scan(&mut c, record::TREE_DRAFTS, &[]).await?;
        Ok(self
            .drafts_from_rows(rows)
            .into_iter()
            .filter(|d| matches!(d.state, DraftState::Posting { .. }))
            .collect())
    }

    // ---- saved searches

    async fn put_search(&self, search: &SavedSearch) -> StoreResult<()> {
        let bytes = record::search_bytes(&self.cipher, search)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_SEARCHES,
            &record::search_key(search.discord_user, &search.handle),
            &bytes,
        )
        .await?;
        // Past the cap, the member's oldest go (unreadable ones first: they are of no use).
        let mut mine: Vec<_> = raw::scan(
            &mut c,
            record::TREE_SEARCHES,
            &record::user_key(search.discord_user),
        )
        .await?
        .into_iter()
        .map(|(k, v)| {
            let created = record::decode::<record::SearchRecord>(&v)
                .ok()
                .map(|r| r.created_at);
            (created, k, v)
        })
        .collect();
        if mine.len() > SEARCHES_PER_MEMBER {
            mine.sort_by_key(|m| m.0);
            let excess = mine.len() - SEARCHES_PER_MEMBER;
            for (_, k, v) in mine.into_iter().take(excess) {
                raw::delete_if(&mut c, record::TREE_SEARCHES, &k, &v).await?;
            }
        }
        Ok(())
    }

    async fn get_search(
        &self,
        user: DiscordUserId,
        handle: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SavedSearch>> {
        let mut c = self.conn().await?;
        let Some(raw) = raw::get(
            &mut c,
            record::TREE_SEARCHES,
            &record::search_key(user, handle),
        )
        .await?
        else {
            return Ok(None);
        };
        record::search_from_bytes(&self.cipher, user, handle, &raw, now)
    }

    // ---- one-shot writes

    async fn claim_write(&self, key: &str, now: DateTime<Utc>) -> StoreResult<WriteClaim> {
        self.update(record::TREE_WRITES, key.as_bytes(), |cur| {
            record::claim_step(cur, now)
        })
        .await
    }

    async fn finish_write(
        &self,
        key: &str,
        outcome: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        match outcome {
            None => {
                let mut c = self.conn().await?;
                raw::delete(&mut c, record::TREE_WRITES, key.as_bytes()).await?;
                Ok(())
            }
            Some(outcome) => {
                self.update(record::TREE_WRITES, key.as_bytes(), |cur| {
                    record::finish_step(cur, outcome, now)
                })
                .await
            }
        }
    }

    async fn forget_outcome(&self, key: &str) -> StoreResult<()> {
        self.update(record::TREE_WRITES, key.as_bytes(), record::forget_step)
            .await
            .map(|_| ())
    }

    async fn unfinished_writes(&self) -> StoreResult<Vec<(String, Option<DateTime<Utc>>)>> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for (k, v) in raw::scan(&mut c, record::TREE_WRITES, &[]).await? {
            let Ok(key) = String::from_utf8(k) else {
                continue;
            };
            match record::decode::<record::WriteRecord>(&v) {
                Ok(rec) if rec.outcome.is_none() => out.push((key, rec.claimed_at)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tree = record::TREE_WRITES, error = %e, "skipping a bad claim")
                }
            }
        }
        Ok(out)
    }

    // ---- rate limits

    async fn take_rate(
        &self,
        key: &str,
        burst: u32,
        refill_secs: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance> {
        if refill_secs == 0 {
            // A token comes back instantly: no limit.
            return Ok(Allowance::Allowed);
        }
        self.update(record::TREE_RATES, key.as_bytes(), |cur| {
            record::take_rate_step(cur, burst, refill_secs, now)
        })
        .await
    }

    async fn take_rates(
        &self,
        buckets: &[RateBucket<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance> {
        // Buckets with no limit take part in nothing.
        let limited: Vec<&RateBucket<'_>> = buckets.iter().filter(|b| b.refill_secs > 0).collect();
        if limited.is_empty() {
            return Ok(Allowance::Allowed);
        }
        let mut tx = self.begin().await?;
        // Locks in key order, so two replicas taking overlapping sets cannot deadlock.
        let mut keys: Vec<&str> = limited.iter().map(|b| b.key).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut current = std::collections::HashMap::new();
        for key in keys {
            let cur = raw::lock(&mut tx, record::TREE_RATES, key.as_bytes()).await?;
            current.insert(key, cur);
        }
        let with_values: Vec<(&RateBucket<'_>, Option<&[u8]>)> = limited
            .iter()
            .map(|b| (*b, current.get(b.key).and_then(|v| v.as_deref())))
            .collect();
        match record::take_rates_step(&with_values, now)? {
            Ok(writes) => {
                for (key, value) in writes {
                    raw::put(&mut tx, record::TREE_RATES, key.as_bytes(), &value).await?;
                }
                tx.commit().await.map_err(raw::db_err)?;
                Ok(Allowance::Allowed)
            }
            Err(wait) => {
                tx.rollback().await.map_err(raw::db_err)?;
                Ok(Allowance::RetryAfter(wait))
            }
        }
    }

    // ---- guild settings

    async fn guild_settings(&self, guild: u64) -> StoreResult<GuildSettings> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_GUILDS, &record::user_key(guild)).await? {
            None => Ok(GuildSettings::default()),
            Some(raw) => record::guild_from_bytes(&raw),
        }
    }

    async fn put_guild_settings(&self, guild: u64, settings: &GuildSettings) -> StoreResult<()> {
        let bytes = record::guild_bytes(settings)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_GUILDS,
            &record::user_key(guild),
            &bytes,
        )
        .await
    }

    // ---- service token

    async fn service_token(&self) -> StoreResult<Option<ServiceToken>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_META, record::META_SERVICE_TOKEN).await? {
            None => Ok(None),
            Some(raw) => record::service_token_from_bytes(&self.cipher, &raw).map(Some),
        }
    }

    async fn put_service_token(&self, token: &ServiceToken) -> StoreResult<()> {
        let bytes = record::service_token_bytes(&self.cipher, token)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_META,
            record::META_SERVICE_TOKEN,
            &bytes,
        )
        .await
    }

    async fn counts(&self) -> StoreResult<StoreCounts> {
        let mut c = self.conn().await?;
        let linked_members = raw::count(&mut c, record::TREE_LINKS).await?;
        let rows = raw::scan(&mut c, record::TREE_DRAFTS, &[]).await?;
        drop(c);
        let drafts_waiting = self
            .drafts_from_rows(rows)
            .iter()
            .filter(|d| !matches!(d.state, DraftState::Posted { .. }))
            .count();
        Ok(StoreCounts {
            linked_members,
            drafts_waiting,
        })
    }

    async fn flush(&self) -> StoreResult<()> {
        // Every change is committed before its method returns: nothing is held back.
        Ok(())
    }
}

#[async_trait]
impl super::copy::RawRecords for PgStore {
    async fn raw_tree(&self, tree: &str) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut c = self.conn().await?;
        raw::scan(&mut c, tree, &[]).await
    }

    async fn raw_get(&self, tree: &str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let mut c = self.conn().await?;
        raw::get(&mut c, tree, key).await
    }

    async fn raw_put(&self, tree: &str, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let mut c = self.conn().await?;
        raw::put(&mut c, tree, key, value).await
    }

    async fn raw_import_done(&self) -> StoreResult<()> {
        // Cards and DMs take their ids from the one sequence: move it past both outboxes' ids.
        let mut c = self.conn().await?;
        let mut last = None;
        for tree in [record::TREE_NOTIFY_OUTBOX, record::TREE_PERSONAL_OUTBOX] {
            let tree_last = raw::scan(&mut c, tree, &[])
                .await?
                .last()
                .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_slice()).ok())
                .map(u64::from_be_bytes);
            last = last.max(tree_last);
        }
        drop(c);
        if let Some(last) = last {
            self.advance_outbox_ids(last).await?;
        }
        Ok(())
    }
}

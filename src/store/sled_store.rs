//! [`Store`] on one sled database.
//!
//! Layout (a fixed, small set of trees; names carry a format version):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `links/v1` | Discord user id, u64 big-endian | link record, token sealed |
//! | `tickets/v1` | SHA-256 of the ticket | ticket record |
//! | `auth/v1` | SHA-256 of the OAuth `state` | pending authorization, verifier sealed |
//! | `auth_by_user/v1` | user id, u64 BE | the `state` hash of the member's one pending authorization |
//! | `identity/v1` | SHA-256 of the Discord OAuth `state` | link awaiting the Discord proof, token sealed |
//! | `confirm/v1` | SHA-256 of the form token | link awaiting confirmation, token sealed |
//! | `drafts/v1` | user id, u64 BE ‖ draft id | expiry in clear, the whole `Draft` sealed |
//! | `searches/v1` | user id, u64 BE ‖ handle | expiry and creation in clear, the whole `SavedSearch` sealed |
//! | `writes/v1` | claim key (UTF-8) | claim or outcome of a one-shot write, with its times |
//! | `rates/v1` | bucket key (UTF-8) | token bucket (`tokens`, `updated_at`, `full_at`) |
//! | `guilds/v1` | guild id, u64 BE | guild settings |
//! | `notify_*/v1` | see [`notify`] | subscription rules, poll state, outbox, sent cards |
//! | `meta` | `schema_version`, `key_canary`, `service_token` | u32 BE; sealed canary; sealed token |
//!
//! Values are JSON objects with a version field `"v": 1`. Sealed blobs (see [`Cipher`]) are
//! base64 strings inside them, with associated data that names their owner:
//! `link-token/v1:<user id>` (the same blob is valid in the member's confirmation and link
//! records and nowhere else), `pkce/v1:<state hash>`, `draft/v1:<user id>:<draft id>`, `search/v1:<user id>:<handle>`,
//! `service-token/v1`, and `canary` for the key canary.
//!
//! Sealing happens before any sled transaction starts (transaction closures may re-run, and a
//! re-run must not seal again with a fresh nonce). Single-use records are consumed with
//! `remove` (which returns the old value exactly once) or in a multi-tree transaction; state
//! changes that exactly one caller may win use compare-and-swap. Methods documented "Flushed"
//! on [`Store`] call the synchronous `Db::flush` (never `flush_async`, which deadlocks in sled
//! 0.34) before returning.

use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional, Tree};

use super::cipher::Cipher;
use super::{
    Allowance, DiscordUserId, Draft, DraftState, GuildSettings, Link, LinkStatus, LinkTicket,
    PendingAuth, PendingConfirm, RateBucket, SavedSearch, Store, StoreCounts, StoreError,
    StoreResult, VerifiedDiscord, WriteClaim, ABANDONED_CLAIM_SWEEP_SECS, SEARCHES_PER_MEMBER,
    WRITE_CLAIM_TTL_SECS,
};
use crate::config::StorageConfig;
use crate::soe::{Id, ServiceToken, UserToken};

mod maintenance;
mod notify;
pub use maintenance::{Backup, RotationReport, BACKUP_FORMAT};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

const TREE_LINKS: &str = "links/v1";
const TREE_TICKETS: &str = "tickets/v1";
const TREE_AUTH: &str = "auth/v1";
const TREE_AUTH_BY_USER: &str = "auth_by_user/v1";
const TREE_IDENTITY: &str = "identity/v1";
const TREE_CONFIRM: &str = "confirm/v1";
const TREE_DRAFTS: &str = "drafts/v1";
const TREE_SEARCHES: &str = "searches/v1";
const TREE_WRITES: &str = "writes/v1";
const TREE_RATES: &str = "rates/v1";
const TREE_GUILDS: &str = "guilds/v1";
const TREE_META: &str = "meta";

const META_SCHEMA_VERSION: &[u8] = b"schema_version";
const META_KEY_CANARY: &[u8] = b"key_canary";
const META_SERVICE_TOKEN: &[u8] = b"service_token";

const CANARY_AAD: &[u8] = b"canary";
const CANARY_PLAINTEXT: &[u8] = b"soe-bot key canary v1";
const SERVICE_TOKEN_AAD: &[u8] = b"service-token/v1";

/// Record format version inside every JSON value.
const RECORD_VERSION: u32 = 1;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------- errors and encoding helpers

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => io(e),
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(ioe) => {
            ioe.kind() == std::io::ErrorKind::WouldBlock
                || ioe.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// A stored JSON record with a format version.
trait Record: Serialize + DeserializeOwned {
    /// What it is, for error messages.
    const WHAT: &'static str;
    fn version(&self) -> u32;
}

fn encode<R: Record>(record: &R) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(record)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a {} record: {e}", R::WHAT)))
}

fn decode<R: Record>(bytes: &[u8]) -> StoreResult<R> {
    let record: R = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{} record does not parse: {e}", R::WHAT)))?;
    if record.version() != RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "{} record has version {}, expected {RECORD_VERSION}",
            R::WHAT,
            record.version()
        )));
    }
    Ok(record)
}

fn b64_decode(s: &str) -> StoreResult<Vec<u8>> {
    B64.decode(s)
        .map_err(|_| StoreError::Corrupt("a sealed field is not base64".into()))
}

fn user_key(user: DiscordUserId) -> [u8; 8] {
    user.to_be_bytes()
}

fn draft_key(user: DiscordUserId, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&user.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn token_aad(user: DiscordUserId) -> Vec<u8> {
    format!("link-token/v1:{user}").into_bytes()
}

fn pkce_aad(state_hash: &[u8; 32]) -> Vec<u8> {
    let mut aad = b"pkce/v1:".to_vec();
    aad.extend_from_slice(state_hash);
    aad
}

/// A hash stored as hex; anything malformed becomes all zeros, which no browser's cookie
/// hashes to.
fn hash_from_hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if hex::decode_to_slice(s, &mut out).is_err() {
        out = [0u8; 32];
    }
    out
}

fn draft_aad(user: DiscordUserId, id: &str) -> Vec<u8> {
    format!("draft/v1:{user}:{id}").into_bytes()
}

fn search_aad(user: DiscordUserId, handle: &str) -> Vec<u8> {
    format!("search/v1:{user}:{handle}").into_bytes()
}

// ---------------------------------------------------------------- records

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkRecord {
    v: u32,
    discord_user: DiscordUserId,
    soe_user_id: Id,
    soe_user_name: String,
    soe_user_url: Option<String>,
    /// Base64 of the token sealed with AAD `link-token/v1:<discord_user>`.
    token: String,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    linked_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    status: LinkStatus,
}

impl Record for LinkRecord {
    const WHAT: &'static str = "link";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TicketRecord {
    v: u32,
    discord_user: DiscordUserId,
    #[serde(alias = "discord_name")]
    discord_username: String,
    #[serde(default)]
    guild_id: Option<u64>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Record for TicketRecord {
    const WHAT: &'static str = "link ticket";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AuthRecord {
    v: u32,
    discord_user: DiscordUserId,
    #[serde(alias = "discord_name")]
    discord_username: String,
    #[serde(default)]
    guild_id: Option<u64>,
    /// Hex SHA-256 of the browser-binding cookie (empty in records from before it existed,
    /// which then match no browser).
    #[serde(default)]
    browser: String,
    /// Base64 of the PKCE verifier sealed with AAD `pkce/v1:<state hash>`.
    verifier: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Record for AuthRecord {
    const WHAT: &'static str = "pending authorization";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ConfirmRecord {
    v: u32,
    /// Exactly what becomes the link record on confirmation.
    link: LinkRecord,
    #[serde(alias = "discord_name")]
    discord_username: String,
    #[serde(default)]
    guild_id: Option<u64>,
    /// Hex SHA-256 of the browser-binding cookie.
    #[serde(default)]
    browser: String,
    #[serde(default)]
    verified: Option<VerifiedDiscord>,
    expires_at: DateTime<Utc>,
}

impl Record for ConfirmRecord {
    const WHAT: &'static str = "pending confirmation";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct DraftRecord {
    v: u32,
    discord_user: DiscordUserId,
    id: String,
    /// In clear so the sweep needs no key.
    expires_at: DateTime<Utc>,
    /// Base64 of the JSON `Draft` sealed with AAD `draft/v1:<user>:<id>`.
    sealed: String,
}

impl Record for DraftRecord {
    const WHAT: &'static str = "draft";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct WriteRecord {
    v: u32,
    /// When the claim was made (absent if an outcome was recorded without a claim).
    claimed_at: Option<DateTime<Utc>>,
    /// `None` while in progress; the reply text once done.
    outcome: Option<String>,
    /// When the outcome was recorded; the outcome expires [`WRITE_CLAIM_TTL_SECS`] later.
    /// Absent in records from before expiry existed: then `claimed_at` stands in.
    #[serde(default)]
    finished_at: Option<DateTime<Utc>>,
}

impl WriteRecord {
    /// Whether the sweep may drop it, and a new claim replace it, as of `now`.
    fn expired(&self, now: DateTime<Utc>) -> bool {
        match (&self.outcome, self.finished_at.or(self.claimed_at)) {
            (Some(_), Some(at)) => now - at > chrono::Duration::seconds(WRITE_CLAIM_TTL_SECS),
            (None, Some(at)) => now - at > chrono::Duration::seconds(ABANDONED_CLAIM_SWEEP_SECS),
            // No time at all: nothing can tell how old it is; it blocks nobody once gone.
            (_, None) => true,
        }
    }
}

impl Record for WriteRecord {
    const WHAT: &'static str = "write claim";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RateRecord {
    v: u32,
    tokens: f64,
    updated_at: DateTime<Utc>,
    /// When the bucket is full again if nobody takes from it: from then on it is idle, it
    /// behaves exactly like a missing bucket, and the sweep drops it. Absent in records from
    /// before the sweep knew buckets: then [`IDLE_BUCKET_FALLBACK_SECS`] after `updated_at`.
    #[serde(default)]
    full_at: Option<DateTime<Utc>>,
}

impl RateRecord {
    /// Whether the bucket is full again (idle) at `now`.
    fn idle(&self, now: DateTime<Utc>) -> bool {
        let full_at = self.full_at.unwrap_or_else(|| {
            self.updated_at + chrono::Duration::seconds(IDLE_BUCKET_FALLBACK_SECS)
        });
        full_at <= now
    }
}

/// For bucket records without `full_at`: a day, longer than any configured bucket takes to
/// refill in practice (asks: 3 × 10 minutes by default).
const IDLE_BUCKET_FALLBACK_SECS: i64 = 24 * 3600;

/// The tokens of a bucket (capacity `capacity`, one token back every `refill` seconds) found
/// as `cur` in the store, refilled up to `now`.
fn bucket_tokens(
    cur: Option<&[u8]>,
    capacity: f64,
    refill: f64,
    now: DateTime<Utc>,
) -> StoreResult<f64> {
    Ok(match cur {
        None => capacity,
        Some(cur) => {
            let rec: RateRecord = decode(cur)?;
            let elapsed_ms = (now - rec.updated_at).num_milliseconds().max(0) as f64;
            let refilled = rec.tokens + elapsed_ms / 1000.0 / refill;
            // A clock that went backwards never grants tokens.
            if rec.tokens.is_finite() {
                refilled.clamp(0.0, capacity)
            } else {
                0.0
            }
        }
    })
}

/// The record after taking one token from `tokens` (which must hold at least one).
fn bucket_after_take(tokens: f64, capacity: f64, refill: f64, now: DateTime<Utc>) -> RateRecord {
    let left = (tokens - 1.0).max(0.0);
    let to_full_ms = ((capacity - left) * refill * 1000.0).ceil();
    let full_at = if to_full_ms.is_finite() && to_full_ms < i64::MAX as f64 {
        now.checked_add_signed(chrono::Duration::milliseconds(to_full_ms as i64))
    } else {
        None
    };
    RateRecord {
        v: RECORD_VERSION,
        tokens: left,
        updated_at: now,
        // An unrepresentable time: leave it to the fallback.
        full_at,
    }
}

/// Whether `tokens` hold one whole token (a tiny epsilon absorbs float error in the refill
/// arithmetic).
fn has_token(tokens: f64) -> bool {
    tokens + 1e-9 >= 1.0
}

/// Whole seconds until one token is back, at least 1.
fn wait_secs(tokens: f64, refill: f64, refill_secs: u64) -> u64 {
    // Milliseconds rounded first, so float noise cannot add a whole second.
    let wait_ms = ((1.0 - tokens) * refill * 1000.0).round();
    if wait_ms.is_finite() {
        (wait_ms as u64).div_ceil(1000).max(1)
    } else {
        refill_secs
    }
}

impl Record for RateRecord {
    const WHAT: &'static str = "rate bucket";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SearchRecord {
    v: u32,
    /// In clear so the per-member cap needs no key.
    created_at: DateTime<Utc>,
    /// In clear so the sweep needs no key.
    expires_at: DateTime<Utc>,
    /// Base64 of the JSON `SavedSearch` sealed with AAD `search/v1:<user>:<handle>`.
    sealed: String,
}

impl Record for SearchRecord {
    const WHAT: &'static str = "saved search";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct GuildRecord {
    v: u32,
    disabled_channels: Vec<u64>,
    #[serde(default)]
    enabled_channels: Vec<u64>,
    #[serde(default)]
    channel_teams: std::collections::BTreeMap<u64, crate::soe::TeamSlug>,
    #[serde(default)]
    channel_tags: std::collections::BTreeMap<u64, Vec<String>>,
    #[serde(default)]
    audit_channel: Option<u64>,
    #[serde(default)]
    cards_off: Vec<u64>,
}

impl Record for GuildRecord {
    const WHAT: &'static str = "guild settings";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ServiceTokenRecord {
    v: u32,
    /// Base64 of the token sealed with AAD `service-token/v1`.
    token: String,
}

impl Record for ServiceTokenRecord {
    const WHAT: &'static str = "service token";
    fn version(&self) -> u32 {
        self.v
    }
}

/// What a compare-and-swap update step decided.
enum Update<R> {
    /// Leave the value as it is.
    Keep(R),
    /// Replace (or create) it.
    Set(Vec<u8>, R),
    /// Remove it.
    Remove(R),
}

// ---------------------------------------------------------------- the store

/// The sled-backed [`Store`]. One per process; dropping it flushes and releases the lock.
pub struct SledStore {
    db: Db,
    path: String,
    cipher: Cipher,
    links: Tree,
    tickets: Tree,
    auth: Tree,
    auth_by_user: Tree,
    identity: Tree,
    confirm: Tree,
    drafts: Tree,
    searches: Tree,
    writes: Tree,
    rates: Tree,
    guilds: Tree,
    meta: Tree,
    /// Notifications' trees (rules, poll state, outbox, sent cards): see [`notify`].
    notify: notify::NotifyTrees,
    /// Serializes draft creations, so two submissions at once cannot both pass the per-member
    /// cap (one process owns the database, so an in-process lock is enough).
    draft_creation: parking_lot::Mutex<()>,
    /// Every [`Store`] method holds it shared (recursively: one may call another), a backup or
    /// restore holds it exclusive: a backup taken while the bot runs sees no half-done change
    /// across trees (e.g. a link confirmed but its confirmation not yet removed).
    snapshot_gate: parking_lot::RwLock<()>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store configured in `storage`: the directory is created `0700`,
    /// the page cache is `cache_capacity_mb` MiB, the schema version and the key canary are
    /// checked.
    ///
    /// Errors: [`StoreError::Locked`] when another process has it open,
    /// [`StoreError::SchemaTooNew`], [`StoreError::WrongKey`] when neither the current nor a
    /// previous key opens the canary, [`StoreError::Io`].
    pub fn open(config: &StorageConfig) -> StoreResult<SledStore> {
        let cache = config.cache_capacity_mb.saturating_mul(1024 * 1024);
        Self::open_at(&config.path, Cipher::from_config(config), cache)
    }

    /// [`SledStore::open`] with explicit parts (tests, tools).
    pub fn open_at(
        path: impl AsRef<Path>,
        cipher: Cipher,
        cache_capacity_bytes: u64,
    ) -> StoreResult<SledStore> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        create_private_dir(path)?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity_bytes)
            .open()
            .map_err(|e| {
                if is_lock_error(&e) {
                    StoreError::Locked {
                        path: shown.clone(),
                    }
                } else {
                    io(e)
                }
            })?;
        let tree = |name: &str| db.open_tree(name).map_err(io);
        let store = SledStore {
            links: tree(TREE_LINKS)?,
            tickets: tree(TREE_TICKETS)?,
            auth: tree(TREE_AUTH)?,
            auth_by_user: tree(TREE_AUTH_BY_USER)?,
            identity: tree(TREE_IDENTITY)?,
            confirm: tree(TREE_CONFIRM)?,
            drafts: tree(TREE_DRAFTS)?,
            searches: tree(TREE_SEARCHES)?,
            writes: tree(TREE_WRITES)?,
            rates: tree(TREE_RATES)?,
            guilds: tree(TREE_GUILDS)?,
            meta: tree(TREE_META)?,
            notify: notify::NotifyTrees::open(&db)?,
            draft_creation: parking_lot::Mutex::new(()),
            snapshot_gate: parking_lot::RwLock::new(()),
            db,
            path: shown,
            cipher,
        };
        store.check_schema()?;
        store.check_canary()?;
        store.flush()?;
        Ok(store)
    }

    /// The database path, as shown in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> StoreResult<Option<u32>> {
        match self.meta.get(META_SCHEMA_VERSION).map_err(io)? {
            None => Ok(None),
            Some(raw) => {
                let bytes: [u8; 4] = raw
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("meta/schema_version is not a u32".into()))?;
                Ok(Some(u32::from_be_bytes(bytes)))
            }
        }
    }

    fn set_schema_version(&self, version: u32) -> StoreResult<()> {
        self.meta
            .insert(META_SCHEMA_VERSION, &version.to_be_bytes())
            .map_err(io)?;
        Ok(())
    }

    /// Refuses a newer schema, migrates an older one step by step, and stamps a new database.
    fn check_schema(&self) -> StoreResult<()> {
        let found = match self.schema_version()? {
            // A new database (this is the first build that writes a schema version).
            None => return self.set_schema_version(SCHEMA_VERSION),
            Some(v) => v,
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let mut version = found;
        while version < SCHEMA_VERSION {
            migrate(&self.db, version)?;
            version += 1;
            self.set_schema_version(version)?;
            tracing::info!(path = %self.path, version, "storage schema migrated");
        }
        Ok(())
    }

    /// At first open, stores a blob sealed with the current key; later, fails with
    /// [`StoreError::WrongKey`] unless one of the configured keys opens it. A canary opened with
    /// a previous key is re-sealed with the current one (the operator has rotated; records
    /// still sealed with the old key open while it stays listed, and need a new link if not).
    fn check_canary(&self) -> StoreResult<()> {
        match self.meta.get(META_KEY_CANARY).map_err(io)? {
            None => {
                let blob = self.cipher.seal(CANARY_AAD, CANARY_PLAINTEXT)?;
                self.meta.insert(META_KEY_CANARY, blob).map_err(io)?;
                Ok(())
            }
            Some(blob) => {
                let opened = self.cipher.open(CANARY_AAD, &blob);
                match opened {
                    Ok(plain) if plain.as_slice() == CANARY_PLAINTEXT => {
                        if Cipher::key_id_of(&blob) != Some(self.cipher.current_key_id()) {
                            let fresh = self.cipher.seal(CANARY_AAD, CANARY_PLAINTEXT)?;
                            self.meta.insert(META_KEY_CANARY, fresh).map_err(io)?;
                            tracing::info!(
                                path = %self.path,
                                key_id = self.cipher.current_key_id(),
                                "storage key canary re-sealed with the current key"
                            );
                        }
                        Ok(())
                    }
                    _ => Err(StoreError::WrongKey {
                        path: self.path.clone(),
                    }),
                }
            }
        }
    }

    /// Reads, transforms and compare-and-swaps one value until no concurrent writer interferes.
    /// `step` may run more than once.
    fn cas_update<R>(
        &self,
        tree: &Tree,
        key: &[u8],
        mut step: impl FnMut(Option<&[u8]>) -> StoreResult<Update<R>>,
    ) -> StoreResult<R> {
        loop {
            let current = tree.get(key).map_err(io)?;
            match step(current.as_deref())? {
                Update::Keep(r) => return Ok(r),
                Update::Set(new, r) => {
                    match tree.compare_and_swap(key, current, Some(new)).map_err(io)? {
                        Ok(()) => return Ok(r),
                        Err(_) => continue,
                    }
                }
                Update::Remove(r) => {
                    match tree
                        .compare_and_swap(key, current, None::<&[u8]>)
                        .map_err(io)?
                    {
                        Ok(()) => return Ok(r),
                        Err(_) => continue,
                    }
                }
            }
        }
    }

    /// Removes `key` only if it still holds `expected`. True if removed.
    fn remove_if_unchanged(tree: &Tree, key: &[u8], expected: &[u8]) -> StoreResult<bool> {
        Ok(tree
            .compare_and_swap(key, Some(expected), None::<&[u8]>)
            .map_err(io)?
            .is_ok())
    }

    fn seal_b64(&self, aad: &[u8], plaintext: &[u8]) -> StoreResult<String> {
        Ok(B64.encode(self.cipher.seal(aad, plaintext)?))
    }

    fn open_b64(&self, aad: &[u8], b64: &str) -> StoreResult<secrecy::zeroize::Zeroizing<Vec<u8>>> {
        self.cipher.open(aad, &b64_decode(b64)?)
    }

    fn link_record(&self, link: &Link) -> StoreResult<LinkRecord> {
        Ok(LinkRecord {
            v: RECORD_VERSION,
            discord_user: link.discord_user,
            soe_user_id: link.soe_user_id,
            soe_user_name: link.soe_user_name.clone(),
            soe_user_url: link.soe_user_url.clone(),
            token: self.seal_b64(
                &token_aad(link.discord_user),
                link.token.secret().expose_secret().as_bytes(),
            )?,
            scopes: link.scopes.clone(),
            expires_at: link.expires_at,
            linked_at: link.linked_at,
            last_used_at: link.last_used_at,
            status: link.status,
        })
    }

    /// Unseals a link record found under `user`'s key. The AAD comes from the key, not from
    /// the record, so a record moved under another member fails to open.
    fn link_from_record(&self, user: DiscordUserId, rec: LinkRecord) -> StoreResult<Link> {
        let plain = self.open_b64(&token_aad(user), &rec.token)?;
        let token = std::str::from_utf8(&plain)
            .map_err(|_| StoreError::Corrupt("a token is not UTF-8".into()))?;
        if rec.discord_user != user {
            return Err(StoreError::Corrupt(
                "link record stored under another member".into(),
            ));
        }
        Ok(Link {
            discord_user: user,
            soe_user_id: rec.soe_user_id,
            soe_user_name: rec.soe_user_name,
            soe_user_url: rec.soe_user_url,
            token: UserToken::new(SecretString::from(token)),
            scopes: rec.scopes,
            expires_at: rec.expires_at,
            linked_at: rec.linked_at,
            last_used_at: rec.last_used_at,
            status: rec.status,
        })
    }

    fn auth_from_record(&self, state_hash: &[u8; 32], rec: AuthRecord) -> StoreResult<PendingAuth> {
        let plain = self.open_b64(&pkce_aad(state_hash), &rec.verifier)?;
        let verifier = std::str::from_utf8(&plain)
            .map_err(|_| StoreError::Corrupt("a PKCE verifier is not UTF-8".into()))?;
        Ok(PendingAuth {
            discord_user: rec.discord_user,
            discord_username: rec.discord_username,
            guild_id: rec.guild_id,
            browser_hash: hash_from_hex(&rec.browser),
            verifier: SecretString::from(verifier),
            scopes: rec.scopes,
            created_at: rec.created_at,
            expires_at: rec.expires_at,
        })
    }

    fn draft_record(&self, draft: &Draft) -> StoreResult<Vec<u8>> {
        let plain = secrecy::zeroize::Zeroizing::new(
            serde_json::to_vec(draft)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode a draft: {e}")))?,
        );
        encode(&DraftRecord {
            v: RECORD_VERSION,
            discord_user: draft.discord_user,
            id: draft.id.clone(),
            expires_at: draft.expires_at,
            sealed: self.seal_b64(&draft_aad(draft.discord_user, &draft.id), &plain)?,
        })
    }

    /// Unseals a draft value found under `(user, id)`.
    fn draft_from_bytes(&self, user: DiscordUserId, id: &str, bytes: &[u8]) -> StoreResult<Draft> {
        let rec: DraftRecord = decode(bytes)?;
        let plain = self.open_b64(&draft_aad(user, id), &rec.sealed)?;
        let draft: Draft = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(format!("a draft does not parse: {e}")))?;
        if draft.discord_user != user || draft.id != id {
            return Err(StoreError::Corrupt("draft stored under another key".into()));
        }
        Ok(draft)
    }

    fn confirm_record(&self, pending: &PendingConfirm) -> StoreResult<Vec<u8>> {
        encode(&ConfirmRecord {
            v: RECORD_VERSION,
            link: self.link_record(&pending.link)?,
            discord_username: pending.discord_username.clone(),
            guild_id: pending.guild_id,
            browser: hex::encode(pending.browser_hash),
            verified: pending.verified.clone(),
            expires_at: pending.expires_at,
        })
    }

    fn confirm_from_bytes(&self, raw: &[u8]) -> StoreResult<PendingConfirm> {
        let rec: ConfirmRecord = decode(raw)?;
        let user = rec.link.discord_user;
        Ok(PendingConfirm {
            link: self.link_from_record(user, rec.link)?,
            discord_username: rec.discord_username,
            guild_id: rec.guild_id,
            browser_hash: hash_from_hex(&rec.browser),
            verified: rec.verified,
            expires_at: rec.expires_at,
        })
    }

    /// Removes every record of `tree` whose value decodes to a record of `user` (scans: these
    /// trees hold only the few minutes of linking in flight).
    fn remove_where_user<R: Record>(
        tree: &Tree,
        user: DiscordUserId,
        user_of: impl Fn(&R) -> DiscordUserId,
    ) -> StoreResult<()> {
        for entry in tree.iter() {
            let (k, v) = entry.map_err(io)?;
            if decode::<R>(&v).is_ok_and(|rec| user_of(&rec) == user) {
                Self::remove_if_unchanged(tree, &k, &v)?;
            }
        }
        Ok(())
    }

    /// Removes the member's pending authorization (and its index entry), if any.
    fn remove_pending_auth_of(&self, user: DiscordUserId) -> StoreResult<()> {
        let ukey = user_key(user);
        (&self.auth, &self.auth_by_user)
            .transaction(|(auth, idx)| {
                if let Some(state) = idx.remove(&ukey[..])? {
                    auth.remove(state)?;
                }
                Ok(())
            })
            .map_err(tx_err)
    }
}

/// Brings a database at schema `from` to `from + 1`. Add a step here (and bump
/// [`SCHEMA_VERSION`]) whenever a record format or the tree layout changes; keep old steps so
/// any older database can be brought up to date.
fn migrate(_db: &Db, from: u32) -> StoreResult<()> {
    match from {
        // Version 0 never had data of its own (databases before the version stamp are new).
        0 => Ok(()),
        other => Err(StoreError::Corrupt(format!(
            "no migration from schema version {other}"
        ))),
    }
}

/// Creates the directory (and parents) owner-only where the platform supports it, and
/// tightens an existing directory to `0700`.
fn create_private_dir(path: &Path) -> StoreResult<()> {
    let err = |e: std::io::Error| StoreError::Io(format!("cannot create {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(err)?;
        let mode = std::fs::metadata(path).map_err(err)?.permissions().mode();
        if mode & 0o077 != 0 {
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot make the storage directory owner-only (0700)");
            }
        }
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(path).map_err(err)?;
    }
    Ok(())
}

impl Store for SledStore {
    // ---- links

    fn get_link(&self, user: DiscordUserId) -> StoreResult<Option<Link>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.links.get(user_key(user)).map_err(io)? {
            None => Ok(None),
            Some(raw) => {
                let rec: LinkRecord = decode(&raw)?;
                self.link_from_record(user, rec).map(Some)
            }
        }
    }

    fn link_counts(&self) -> StoreResult<crate::store::LinkCounts> {
        let mut counts = crate::store::LinkCounts::default();
        for item in self.links.iter() {
            let (_, raw) = item.map_err(io)?;
            let Ok(rec) = decode::<LinkRecord>(&raw) else {
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

    fn put_link(&self, link: &Link) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = encode(&self.link_record(link)?)?;
        self.links
            .insert(user_key(link.discord_user), bytes)
            .map_err(io)?;
        self.flush()
    }

    fn mark_link_expired(&self, user: DiscordUserId) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let changed = self.cas_update(&self.links, &user_key(user), |cur| {
            let Some(cur) = cur else {
                return Ok(Update::Keep(false));
            };
            let mut rec: LinkRecord = decode(cur)?;
            if rec.status == LinkStatus::Expired {
                return Ok(Update::Keep(false));
            }
            rec.status = LinkStatus::Expired;
            Ok(Update::Set(encode(&rec)?, true))
        })?;
        if changed {
            self.flush()?;
        }
        Ok(())
    }

    fn mark_link_write_refused(&self, user: DiscordUserId) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let changed = self.cas_update(&self.links, &user_key(user), |cur| {
            let Some(cur) = cur else {
                return Ok(Update::Keep(false));
            };
            let mut rec: LinkRecord = decode(cur)?;
            if rec.status != LinkStatus::Active {
                return Ok(Update::Keep(false));
            }
            rec.status = LinkStatus::WriteRefused;
            Ok(Update::Set(encode(&rec)?, true))
        })?;
        if changed {
            self.flush()?;
        }
        Ok(())
    }

    fn touch_link(&self, user: DiscordUserId, at: DateTime<Utc>) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.cas_update(&self.links, &user_key(user), |cur| {
            let Some(cur) = cur else {
                return Ok(Update::Keep(()));
            };
            let mut rec: LinkRecord = decode(cur)?;
            rec.last_used_at = Some(at);
            if rec.status == LinkStatus::WriteRefused {
                rec.status = LinkStatus::Active;
            }
            Ok(Update::Set(encode(&rec)?, ()))
        })
    }

    fn delete_link(&self, user: DiscordUserId) -> StoreResult<bool> {
        let _gate = self.snapshot_gate.read_recursive();
        let existed = self.links.remove(user_key(user)).map_err(io)?.is_some();
        for entry in self.drafts.scan_prefix(user_key(user)) {
            let (k, _) = entry.map_err(io)?;
            self.drafts.remove(k).map_err(io)?;
        }
        self.remove_pending_auth_of(user)?;
        Self::remove_where_user::<TicketRecord>(&self.tickets, user, |r| r.discord_user)?;
        Self::remove_where_user::<ConfirmRecord>(&self.identity, user, |r| r.link.discord_user)?;
        Self::remove_where_user::<ConfirmRecord>(&self.confirm, user, |r| r.link.discord_user)?;
        // Alerts stop with the link (and the member's records go with it).
        super::PersonalStore::forget_member(self, user)?;
        self.flush()?;
        Ok(existed)
    }

    // ---- linking flow

    fn put_ticket(&self, ticket_hash: [u8; 32], ticket: &LinkTicket) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = encode(&TicketRecord {
            v: RECORD_VERSION,
            discord_user: ticket.discord_user,
            discord_username: ticket.discord_username.clone(),
            guild_id: ticket.guild_id,
            created_at: ticket.created_at,
            expires_at: ticket.expires_at,
        })?;
        self.tickets.insert(ticket_hash, bytes).map_err(io)?;
        Ok(())
    }

    fn take_ticket(&self, ticket_hash: [u8; 32]) -> StoreResult<Option<LinkTicket>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.tickets.remove(ticket_hash).map_err(io)? {
            None => Ok(None),
            Some(raw) => {
                let rec: TicketRecord = decode(&raw)?;
                Ok(Some(LinkTicket {
                    discord_user: rec.discord_user,
                    discord_username: rec.discord_username,
                    guild_id: rec.guild_id,
                    created_at: rec.created_at,
                    expires_at: rec.expires_at,
                }))
            }
        }
    }

    fn put_pending_auth(&self, state_hash: [u8; 32], pending: &PendingAuth) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        // Seal before the transaction: its closure may run more than once.
        let bytes = encode(&AuthRecord {
            v: RECORD_VERSION,
            discord_user: pending.discord_user,
            discord_username: pending.discord_username.clone(),
            guild_id: pending.guild_id,
            browser: hex::encode(pending.browser_hash),
            verifier: self.seal_b64(
                &pkce_aad(&state_hash),
                pending.verifier.expose_secret().as_bytes(),
            )?,
            scopes: pending.scopes.clone(),
            created_at: pending.created_at,
            expires_at: pending.expires_at,
        })?;
        let ukey = user_key(pending.discord_user);
        (&self.auth, &self.auth_by_user)
            .transaction(|(auth, idx)| {
                if let Some(previous) = idx.get(&ukey[..])? {
                    if previous.as_ref() != &state_hash[..] {
                        auth.remove(previous)?;
                    }
                }
                auth.insert(&state_hash[..], bytes.as_slice())?;
                idx.insert(&ukey[..], &state_hash[..])?;
                Ok(())
            })
            .map_err(tx_err)
    }

    fn take_pending_auth(&self, state_hash: [u8; 32]) -> StoreResult<Option<PendingAuth>> {
        let _gate = self.snapshot_gate.read_recursive();
        let taken: Option<StoreResult<AuthRecord>> = (&self.auth, &self.auth_by_user)
            .transaction(|(auth, idx)| {
                let Some(raw) = auth.remove(&state_hash[..])? else {
                    return Ok(None);
                };
                let rec = decode::<AuthRecord>(&raw);
                if let Ok(rec) = &rec {
                    let ukey = user_key(rec.discord_user);
                    if idx.get(&ukey[..])?.as_deref() == Some(&state_hash[..]) {
                        idx.remove(&ukey[..])?;
                    }
                }
                // A corrupt record is consumed too; its error is reported below.
                Ok(Some(rec))
            })
            .map_err(tx_err)?;
        match taken {
            None => Ok(None),
            Some(rec) => self.auth_from_record(&state_hash, rec?).map(Some),
        }
    }

    fn put_pending_confirm(
        &self,
        form_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = self.confirm_record(pending)?;
        self.confirm.insert(form_hash, bytes).map_err(io)?;
        Ok(())
    }

    fn put_pending_identity(
        &self,
        state_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = self.confirm_record(pending)?;
        self.identity.insert(state_hash, bytes).map_err(io)?;
        Ok(())
    }

    fn take_pending_identity(&self, state_hash: [u8; 32]) -> StoreResult<Option<PendingConfirm>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.identity.remove(state_hash).map_err(io)? {
            None => Ok(None),
            Some(raw) => self.confirm_from_bytes(&raw).map(Some),
        }
    }

    fn peek_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<Option<PendingConfirm>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.confirm.get(form_hash).map_err(io)? {
            None => Ok(None),
            Some(raw) => self.confirm_from_bytes(&raw).map(Some),
        }
    }

    fn discard_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<bool> {
        let _gate = self.snapshot_gate.read_recursive();
        let existed = self.confirm.remove(form_hash).map_err(io)?.is_some();
        Ok(existed)
    }

    fn confirm_link(&self, form_hash: [u8; 32]) -> StoreResult<Option<Link>> {
        let _gate = self.snapshot_gate.read_recursive();
        // No sealing here: the confirmation already holds the token sealed for the member's
        // link record (same AAD), so the closure only moves bytes and checks they open.
        let confirmed = (&self.confirm, &self.links)
            .transaction(|(confirm, links)| {
                let Some(raw) = confirm.remove(&form_hash[..])? else {
                    return Ok(None);
                };
                let result = decode::<ConfirmRecord>(&raw).and_then(|rec| {
                    let user = rec.link.discord_user;
                    let bytes = encode(&rec.link)?;
                    let link = self.link_from_record(user, rec.link)?;
                    Ok((user, bytes, link))
                });
                match result {
                    Ok((user, bytes, link)) => {
                        links.insert(&user_key(user)[..], bytes)?;
                        Ok(Some(link))
                    }
                    // Leaves the confirmation in place; the sweep removes it at expiry.
                    Err(e) => Err(ConflictableTransactionError::Abort(e)),
                }
            })
            .map_err(tx_err)?;
        if confirmed.is_some() {
            self.flush()?;
        }
        Ok(confirmed)
    }

    fn sweep_expired(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut removed = 0;

        for entry in self.tickets.iter() {
            let (k, v) = entry.map_err(io)?;
            match decode::<TicketRecord>(&v) {
                Ok(rec) if rec.expires_at <= now => {
                    removed += usize::from(Self::remove_if_unchanged(&self.tickets, &k, &v)?);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tree = TREE_TICKETS, error = %e, "skipping a corrupt record")
                }
            }
        }

        for entry in self.auth.iter() {
            let (k, v) = entry.map_err(io)?;
            match decode::<AuthRecord>(&v) {
                Ok(rec) if rec.expires_at <= now => {
                    let ukey = user_key(rec.discord_user);
                    let gone = (&self.auth, &self.auth_by_user)
                        .transaction(|(auth, idx)| {
                            if auth.get(&k)?.as_deref() != Some(v.as_ref()) {
                                return Ok(false);
                            }
                            auth.remove(&k)?;
                            if idx.get(&ukey[..])?.as_deref() == Some(k.as_ref()) {
                                idx.remove(&ukey[..])?;
                            }
                            Ok(true)
                        })
                        .map_err(tx_err)?;
                    removed += usize::from(gone);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(tree = TREE_AUTH, error = %e, "skipping a corrupt record"),
            }
        }

        for (tree, name) in [
            (&self.identity, TREE_IDENTITY),
            (&self.confirm, TREE_CONFIRM),
        ] {
            for entry in tree.iter() {
                let (k, v) = entry.map_err(io)?;
                match decode::<ConfirmRecord>(&v) {
                    Ok(rec) if rec.expires_at <= now => {
                        removed += usize::from(Self::remove_if_unchanged(tree, &k, &v)?);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(tree = name, error = %e, "skipping a corrupt record")
                    }
                }
            }
        }

        for entry in self.drafts.iter() {
            let (k, v) = entry.map_err(io)?;
            match decode::<DraftRecord>(&v) {
                Ok(rec) if rec.expires_at <= now => {
                    removed += usize::from(Self::remove_if_unchanged(&self.drafts, &k, &v)?);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tree = TREE_DRAFTS, error = %e, "skipping a corrupt record")
                }
            }
        }

        for entry in self.searches.iter() {
            let (k, v) = entry.map_err(io)?;
            match decode::<SearchRecord>(&v) {
                Ok(rec) if rec.expires_at <= now => {
                    removed += usize::from(Self::remove_if_unchanged(&self.searches, &k, &v)?);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tree = TREE_SEARCHES, error = %e, "skipping a corrupt record")
                }
            }
        }

        // Only records unchanged since they were read go: a claim renewed or a bucket taken
        // from in the meantime stays.
        for entry in self.writes.iter() {
            let (k, v) = entry.map_err(io)?;
            match decode::<WriteRecord>(&v) {
                Ok(rec) if rec.expired(now) => {
                    removed += usize::from(Self::remove_if_unchanged(&self.writes, &k, &v)?);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tree = TREE_WRITES, error = %e, "skipping a corrupt record")
                }
            }
        }

        for entry in self.rates.iter() {
            let (k, v) = entry.map_err(io)?;
            match decode::<RateRecord>(&v) {
                Ok(rec) if rec.idle(now) => {
                    removed += usize::from(Self::remove_if_unchanged(&self.rates, &k, &v)?);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tree = TREE_RATES, error = %e, "skipping a corrupt record")
                }
            }
        }

        Ok(removed)
    }

    // ---- saved searches

    fn put_search(&self, search: &SavedSearch) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let plain = secrecy::zeroize::Zeroizing::new(
            serde_json::to_vec(search)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode a search: {e}")))?,
        );
        let bytes = encode(&SearchRecord {
            v: RECORD_VERSION,
            created_at: search.created_at,
            expires_at: search.expires_at,
            sealed: self.seal_b64(&search_aad(search.discord_user, &search.handle), &plain)?,
        })?;
        self.searches
            .insert(draft_key(search.discord_user, &search.handle), bytes)
            .map_err(io)?;
        // Past the cap, the member's oldest go (unreadable ones first: they are of no use).
        let mut mine = Vec::new();
        for entry in self.searches.scan_prefix(user_key(search.discord_user)) {
            let (k, v) = entry.map_err(io)?;
            let created = decode::<SearchRecord>(&v).ok().map(|r| r.created_at);
            mine.push((created, k, v));
        }
        if mine.len() > SEARCHES_PER_MEMBER {
            mine.sort_by_key(|m| m.0);
            let excess = mine.len() - SEARCHES_PER_MEMBER;
            for (_, k, v) in mine.into_iter().take(excess) {
                Self::remove_if_unchanged(&self.searches, &k, &v)?;
            }
        }
        Ok(())
    }

    fn get_search(
        &self,
        user: DiscordUserId,
        handle: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SavedSearch>> {
        let _gate = self.snapshot_gate.read_recursive();
        let Some(raw) = self.searches.get(draft_key(user, handle)).map_err(io)? else {
            return Ok(None);
        };
        let rec: SearchRecord = decode(&raw)?;
        if rec.expires_at <= now {
            return Ok(None);
        }
        let plain = self.open_b64(&search_aad(user, handle), &rec.sealed)?;
        let search: SavedSearch = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(format!("a saved search does not parse: {e}")))?;
        if search.discord_user != user || search.handle != handle {
            return Err(StoreError::Corrupt(
                "search stored under another key".into(),
            ));
        }
        Ok(Some(search))
    }

    // ---- drafts

    fn put_draft(&self, draft: &Draft) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = self.draft_record(draft)?;
        self.drafts
            .insert(draft_key(draft.discord_user, &draft.id), bytes)
            .map_err(io)?;
        if matches!(draft.state, DraftState::Posted { .. }) {
            // Not worth an fsync (see `Store::put_draft`): sled's background flush writes it
            // within half a second, and a crash before that leaves the draft `Posting`, which
            // the startup recovery settles by finding the post on the site.
            return Ok(());
        }
        self.flush()
    }

    fn put_new_draft(&self, draft: &Draft, cap: u32, now: DateTime<Utc>) -> StoreResult<bool> {
        let _gate = self.snapshot_gate.read_recursive();
        // Seal before taking the lock; the lock only covers the count and the insert.
        let bytes = self.draft_record(draft)?;
        let key = draft_key(draft.discord_user, &draft.id);
        {
            let _one_at_a_time = self.draft_creation.lock();
            if !self.drafts.contains_key(&key).map_err(io)? {
                let open = self
                    .drafts_of(draft.discord_user)?
                    .iter()
                    .filter(|d| d.expires_at > now && !matches!(d.state, DraftState::Posted { .. }))
                    .count();
                if open >= cap as usize {
                    return Ok(false);
                }
            }
            self.drafts.insert(key, bytes).map_err(io)?;
        }
        self.flush()?;
        Ok(true)
    }

    fn get_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<Option<Draft>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.drafts.get(draft_key(user, id)).map_err(io)? {
            None => Ok(None),
            Some(raw) => self.draft_from_bytes(user, id, &raw).map(Some),
        }
    }

    fn drafts_of(&self, user: DiscordUserId) -> StoreResult<Vec<Draft>> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut drafts = Vec::new();
        for entry in self.drafts.scan_prefix(user_key(user)) {
            let (k, v) = entry.map_err(io)?;
            let id = match std::str::from_utf8(&k[8..]) {
                Ok(id) => id,
                Err(_) => {
                    tracing::warn!(tree = TREE_DRAFTS, "skipping a draft whose id is not UTF-8");
                    continue;
                }
            };
            match self.draft_from_bytes(user, id, &v) {
                Ok(d) => drafts.push(d),
                // One unreadable draft must not hide the member's others.
                Err(StoreError::Io(e)) => return Err(StoreError::Io(e)),
                Err(e) => {
                    tracing::warn!(tree = TREE_DRAFTS, error = %e, "skipping an unreadable draft")
                }
            }
        }
        drafts.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(drafts)
    }

    fn begin_posting(
        &self,
        user: DiscordUserId,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Draft>> {
        let _gate = self.snapshot_gate.read_recursive();
        let won = self.cas_update(&self.drafts, &draft_key(user, id), |cur| {
            let Some(cur) = cur else {
                return Ok(Update::Keep(None));
            };
            let mut draft = self.draft_from_bytes(user, id, cur)?;
            if !matches!(draft.state, DraftState::Saved { .. }) {
                return Ok(Update::Keep(None));
            }
            draft.state = DraftState::Posting { since: now };
            // Not a sled transaction: a retry after a lost race re-reads and stops above.
            let bytes = self.draft_record(&draft)?;
            Ok(Update::Set(bytes, Some(draft)))
        })?;
        if won.is_some() {
            self.flush()?;
        }
        Ok(won)
    }

    fn delete_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.drafts.remove(draft_key(user, id)).map_err(io)?;
        Ok(())
    }

    fn posting_drafts(&self) -> StoreResult<Vec<Draft>> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut drafts = Vec::new();
        for entry in self.drafts.iter() {
            let (k, v) = entry.map_err(io)?;
            let (Some(user), Ok(id)) = (
                k.get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes),
                std::str::from_utf8(k.get(8..).unwrap_or_default()),
            ) else {
                tracing::warn!(tree = TREE_DRAFTS, "skipping a draft with a malformed key");
                continue;
            };
            match self.draft_from_bytes(user, id, &v) {
                Ok(d) if matches!(d.state, DraftState::Posting { .. }) => drafts.push(d),
                Ok(_) => {}
                Err(StoreError::Io(e)) => return Err(StoreError::Io(e)),
                Err(e) => {
                    tracing::warn!(tree = TREE_DRAFTS, error = %e, "skipping an unreadable draft")
                }
            }
        }
        Ok(drafts)
    }

    fn counts(&self) -> StoreResult<StoreCounts> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut drafts_waiting = 0;
        for entry in self.drafts.iter() {
            let (k, v) = entry.map_err(io)?;
            let (Some(user), Ok(id)) = (
                k.get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes),
                std::str::from_utf8(k.get(8..).unwrap_or_default()),
            ) else {
                continue;
            };
            if let Ok(d) = self.draft_from_bytes(user, id, &v) {
                if !matches!(d.state, DraftState::Posted { .. }) {
                    drafts_waiting += 1;
                }
            }
        }
        Ok(StoreCounts {
            linked_members: self.links.len(),
            drafts_waiting,
        })
    }

    // ---- one-shot writes

    fn claim_write(&self, key: &str, now: DateTime<Utc>) -> StoreResult<WriteClaim> {
        let _gate = self.snapshot_gate.read_recursive();
        let claim = self.cas_update(&self.writes, key.as_bytes(), |cur| match cur {
            None => {
                let rec = WriteRecord {
                    v: RECORD_VERSION,
                    claimed_at: Some(now),
                    outcome: None,
                    finished_at: None,
                };
                Ok(Update::Set(encode(&rec)?, WriteClaim::Claimed))
            }
            Some(cur) => {
                let rec: WriteRecord = decode(cur)?;
                let stale = rec.claimed_at.is_some_and(|at| {
                    now - at > chrono::Duration::seconds(super::CLAIM_STALE_SECS)
                });
                let fresh = || WriteRecord {
                    v: RECORD_VERSION,
                    claimed_at: Some(now),
                    outcome: None,
                    finished_at: None,
                };
                match rec.outcome {
                    // A claim left behind by a crash: take it over rather than block forever.
                    None if stale => Ok(Update::Set(encode(&fresh())?, WriteClaim::Claimed)),
                    None => Ok(Update::Keep(WriteClaim::InProgress)),
                    // An old outcome no longer stands for this button (e.g. the vote was
                    // undone since): the write may be made again.
                    Some(_) if rec.expired(now) => {
                        Ok(Update::Set(encode(&fresh())?, WriteClaim::Claimed))
                    }
                    Some(outcome) => Ok(Update::Keep(WriteClaim::Done { outcome })),
                }
            }
        })?;
        if claim == WriteClaim::Claimed {
            self.flush()?;
        }
        Ok(claim)
    }

    fn finish_write(
        &self,
        key: &str,
        outcome: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        match outcome {
            None => {
                self.writes.remove(key.as_bytes()).map_err(io)?;
            }
            Some(outcome) => {
                self.cas_update(&self.writes, key.as_bytes(), |cur| {
                    let claimed_at = match cur {
                        Some(cur) => decode::<WriteRecord>(cur).ok().and_then(|r| r.claimed_at),
                        None => None,
                    };
                    let rec = WriteRecord {
                        v: RECORD_VERSION,
                        claimed_at,
                        outcome: Some(outcome.to_string()),
                        finished_at: Some(now),
                    };
                    Ok(Update::Set(encode(&rec)?, ()))
                })?;
            }
        }
        self.flush()
    }

    fn forget_outcome(&self, key: &str) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let dropped = self.cas_update(&self.writes, key.as_bytes(), |cur| {
            let Some(cur) = cur else {
                return Ok(Update::Keep(false));
            };
            match decode::<WriteRecord>(cur) {
                Ok(rec) if rec.outcome.is_none() => Ok(Update::Keep(false)),
                // An outcome, or a record nobody can read: either way it must not block.
                _ => Ok(Update::Remove(true)),
            }
        })?;
        if dropped {
            self.flush()?;
        }
        Ok(())
    }

    fn unfinished_writes(&self) -> StoreResult<Vec<(String, Option<DateTime<Utc>>)>> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut out = Vec::new();
        for entry in self.writes.iter() {
            let (k, v) = entry.map_err(io)?;
            let Ok(key) = std::str::from_utf8(&k) else {
                continue;
            };
            match decode::<WriteRecord>(&v) {
                Ok(rec) if rec.outcome.is_none() => out.push((key.to_string(), rec.claimed_at)),
                Ok(_) => {}
                Err(e) => tracing::warn!(tree = TREE_WRITES, error = %e, "skipping a bad claim"),
            }
        }
        Ok(out)
    }

    // ---- rate limits

    fn take_rate(
        &self,
        key: &str,
        burst: u32,
        refill_secs: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance> {
        let _gate = self.snapshot_gate.read_recursive();
        if refill_secs == 0 {
            // A token comes back instantly: no limit.
            return Ok(Allowance::Allowed);
        }
        let capacity = f64::from(burst);
        let refill = refill_secs as f64;
        self.cas_update(&self.rates, key.as_bytes(), |cur| {
            let tokens = bucket_tokens(cur, capacity, refill, now)?;
            if has_token(tokens) {
                let rec = bucket_after_take(tokens, capacity, refill, now);
                Ok(Update::Set(encode(&rec)?, Allowance::Allowed))
            } else {
                // Nothing changes on refusal: the stored bucket still describes the same state.
                Ok(Update::Keep(Allowance::RetryAfter(wait_secs(
                    tokens,
                    refill,
                    refill_secs,
                ))))
            }
        })
    }

    fn take_rates(&self, buckets: &[RateBucket<'_>], now: DateTime<Utc>) -> StoreResult<Allowance> {
        let _gate = self.snapshot_gate.read_recursive();
        // Buckets with no limit take part in nothing.
        let limited: Vec<&RateBucket<'_>> = buckets.iter().filter(|b| b.refill_secs > 0).collect();
        self.rates
            .transaction(|tx| {
                let mut takes = Vec::with_capacity(limited.len());
                let mut wait = 0;
                for b in &limited {
                    let capacity = f64::from(b.burst);
                    let refill = b.refill_secs as f64;
                    let cur = tx.get(b.key.as_bytes())?;
                    let tokens = bucket_tokens(cur.as_deref(), capacity, refill, now)
                        .map_err(ConflictableTransactionError::Abort)?;
                    if has_token(tokens) {
                        takes.push((b.key, bucket_after_take(tokens, capacity, refill, now)));
                    } else {
                        wait = wait.max(wait_secs(tokens, refill, b.refill_secs));
                    }
                }
                if wait > 0 {
                    // All or nothing: a refusal by one bucket takes from none.
                    return Ok(Allowance::RetryAfter(wait));
                }
                for (key, rec) in takes {
                    let bytes = encode(&rec).map_err(ConflictableTransactionError::Abort)?;
                    tx.insert(key.as_bytes(), bytes)?;
                }
                Ok(Allowance::Allowed)
            })
            .map_err(tx_err)
    }

    // ---- guild settings

    fn guild_settings(&self, guild: u64) -> StoreResult<GuildSettings> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.guilds.get(user_key(guild)).map_err(io)? {
            None => Ok(GuildSettings::default()),
            Some(raw) => {
                let rec: GuildRecord = decode(&raw)?;
                Ok(GuildSettings {
                    disabled_channels: rec.disabled_channels,
                    enabled_channels: rec.enabled_channels,
                    channel_teams: rec.channel_teams,
                    channel_tags: rec.channel_tags,
                    audit_channel: rec.audit_channel,
                    cards_off: rec.cards_off,
                })
            }
        }
    }

    fn put_guild_settings(&self, guild: u64, settings: &GuildSettings) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = encode(&GuildRecord {
            v: RECORD_VERSION,
            disabled_channels: settings.disabled_channels.clone(),
            enabled_channels: settings.enabled_channels.clone(),
            channel_teams: settings.channel_teams.clone(),
            channel_tags: settings.channel_tags.clone(),
            audit_channel: settings.audit_channel,
            cards_off: settings.cards_off.clone(),
        })?;
        self.guilds.insert(user_key(guild), bytes).map_err(io)?;
        self.flush()
    }

    // ---- service token

    fn service_token(&self) -> StoreResult<Option<ServiceToken>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.meta.get(META_SERVICE_TOKEN).map_err(io)? {
            None => Ok(None),
            Some(raw) => {
                let rec: ServiceTokenRecord = decode(&raw)?;
                let plain = self.open_b64(SERVICE_TOKEN_AAD, &rec.token)?;
                let token = std::str::from_utf8(&plain)
                    .map_err(|_| StoreError::Corrupt("the service token is not UTF-8".into()))?;
                Ok(Some(ServiceToken::new(SecretString::from(token))))
            }
        }
    }

    fn put_service_token(&self, token: &ServiceToken) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = encode(&ServiceTokenRecord {
            v: RECORD_VERSION,
            token: self.seal_b64(SERVICE_TOKEN_AAD, token.secret().expose_secret().as_bytes())?,
        })?;
        self.meta.insert(META_SERVICE_TOKEN, bytes).map_err(io)?;
        self.flush()
    }

    fn flush(&self) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> SledStore {
        SledStore::open_at(dir, Cipher::for_testing(), 1 << 20).unwrap()
    }

    #[test]
    fn new_database_is_stamped_with_the_schema_version_and_a_canary() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
        let canary = store.meta.get(META_KEY_CANARY).unwrap().unwrap();
        assert_eq!(canary[0], crate::store::cipher::FORMAT_VERSION);
        assert_eq!(
            Cipher::for_testing()
                .open(CANARY_AAD, &canary)
                .unwrap()
                .as_slice(),
            CANARY_PLAINTEXT
        );
    }

    #[test]
    fn older_schema_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.set_schema_version(0).unwrap();
            store.flush().unwrap();
        }
        let store = open(dir.path());
        assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
    }

    #[test]
    fn migration_from_an_unknown_version_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert!(migrate(&store.db, 0).is_ok());
        assert!(matches!(migrate(&store.db, 7), Err(StoreError::Corrupt(_))));
    }

    #[cfg(unix)]
    #[test]
    fn directory_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b");
        let _store = open(&path);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        // An existing, too-open directory is tightened.
        let loose = dir.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _store2 = open(&loose);
        let mode = std::fs::metadata(&loose).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn debug_shows_path_but_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let s = format!("{store:?}");
        assert!(s.contains("SledStore"));
        assert!(s.contains("[REDACTED]"));
    }
}

#[cfg(test)]
mod guild_record_tests {
    use super::*;

    #[test]
    fn guild_records_written_before_channel_teams_tags_and_audit_still_open() {
        let old = br#"{"v":1,"disabled_channels":[7],"enabled_channels":[8]}"#;
        let rec: GuildRecord = decode(old).expect("an old guild record opens");
        assert_eq!(
            (rec.disabled_channels, rec.enabled_channels),
            (vec![7], vec![8])
        );
        assert!(rec.channel_teams.is_empty() && rec.channel_tags.is_empty());
        assert_eq!(rec.audit_channel, None);
    }
}

//! [`Store`] on one sled database.
//!
//! Layout: one sled tree per record kind, named, keyed and valued exactly as [`record`]
//! describes (a fixed, small set of trees; names carry a format version). Every value is
//! encoded and sealed by [`record`], so another backend holds the same bytes.
//!
//! Sealing happens before any sled transaction starts (transaction closures may re-run, and a
//! re-run must not seal again with a fresh nonce). Single-use records are consumed with
//! `remove` (which returns the old value exactly once) or in a multi-tree transaction; state
//! changes that exactly one caller may win use compare-and-swap. Methods documented "Flushed"
//! on [`Store`] call the synchronous `Db::flush` (never `flush_async`, which deadlocks in sled
//! 0.34) before returning.
//!
//! [`record`]: super::record

use std::path::Path;

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional, Tree};

use super::cipher::Cipher;
use super::record::{
    auth_bytes, auth_from_record, canary_opens, claim_step, confirm_bytes, confirm_from_bytes,
    confirmed_link, decode, draft_bytes, draft_from_bytes, draft_key, encode, finish_step,
    forget_step, guild_bytes, guild_from_bytes, link_expire_step, link_from_bytes, link_record,
    link_touch_step, link_write_refused_step, seal_canary, search_bytes, search_from_bytes,
    search_key, service_token_bytes, service_token_from_bytes, take_rate_step, take_rates_step,
    ticket_bytes, ticket_from_bytes, user_key, AuthRecord, ConfirmRecord, DraftRecord, LinkRecord,
    RateRecord, Record, SearchRecord, TicketRecord, Update, WriteRecord, META_KEY_CANARY,
    META_SCHEMA_VERSION, META_SERVICE_TOKEN, TREE_AUTH, TREE_AUTH_BY_USER, TREE_CONFIRM,
    TREE_DRAFTS, TREE_GUILDS, TREE_IDENTITY, TREE_LINKS, TREE_META, TREE_RATES, TREE_SEARCHES,
    TREE_TICKETS, TREE_WRITES,
};
use super::{
    Allowance, DiscordUserId, Draft, DraftState, GuildSettings, Link, LinkStatus, LinkTicket,
    PendingAuth, PendingConfirm, RateBucket, SavedSearch, Store, StoreCounts, StoreError,
    StoreResult, WriteClaim, SEARCHES_PER_MEMBER,
};
use crate::config::StorageConfig;
use crate::soe::ServiceToken;

mod maintenance;
mod notify;
mod raw;
pub use maintenance::{Backup, RotationReport, BACKUP_FORMAT};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

// ---------------------------------------------------------------- errors

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
        store.flush_db()?;
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
                let blob = seal_canary(&self.cipher)?;
                self.meta.insert(META_KEY_CANARY, blob).map_err(io)?;
                Ok(())
            }
            Some(blob) if canary_opens(&self.cipher, &blob) => {
                if Cipher::key_id_of(&blob) != Some(self.cipher.current_key_id()) {
                    let fresh = seal_canary(&self.cipher)?;
                    self.meta.insert(META_KEY_CANARY, fresh).map_err(io)?;
                    tracing::info!(
                        path = %self.path,
                        key_id = self.cipher.current_key_id(),
                        "storage key canary re-sealed with the current key"
                    );
                }
                Ok(())
            }
            Some(_) => Err(StoreError::WrongKey {
                path: self.path.clone(),
            }),
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

    /// Flushes everything to disk with the synchronous `Db::flush` (never `flush_async`, which
    /// deadlocks in sled 0.34): what [`Store::flush`] does, and what every method documented
    /// "Flushed" calls before returning.
    fn flush_db(&self) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// [`Store::drafts_of`], for the methods that call it inside their own locks.
    fn drafts_of_sync(&self, user: DiscordUserId) -> StoreResult<Vec<Draft>> {
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
            match draft_from_bytes(&self.cipher, user, id, &v) {
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

#[async_trait::async_trait]
impl Store for SledStore {
    // ---- links

    async fn get_link(&self, user: DiscordUserId) -> StoreResult<Option<Link>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.links.get(user_key(user)).map_err(io)? {
            None => Ok(None),
            Some(raw) => link_from_bytes(&self.cipher, user, &raw).map(Some),
        }
    }

    async fn link_counts(&self) -> StoreResult<crate::store::LinkCounts> {
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

    async fn put_link(&self, link: &Link) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = encode(&link_record(&self.cipher, link)?)?;
        self.links
            .insert(user_key(link.discord_user), bytes)
            .map_err(io)?;
        self.flush_db()
    }

    async fn mark_link_expired(&self, user: DiscordUserId) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let changed = self.cas_update(&self.links, &user_key(user), link_expire_step)?;
        if changed {
            self.flush_db()?;
        }
        Ok(())
    }

    async fn mark_link_write_refused(&self, user: DiscordUserId) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let changed = self.cas_update(&self.links, &user_key(user), link_write_refused_step)?;
        if changed {
            self.flush_db()?;
        }
        Ok(())
    }

    async fn touch_link(&self, user: DiscordUserId, at: DateTime<Utc>) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.cas_update(&self.links, &user_key(user), |cur| link_touch_step(cur, at))
    }

    async fn delete_link(&self, user: DiscordUserId) -> StoreResult<bool> {
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
        self.forget_member_sync(user)?;
        self.flush_db()?;
        Ok(existed)
    }

    // ---- linking flow

    async fn put_ticket(&self, ticket_hash: [u8; 32], ticket: &LinkTicket) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = ticket_bytes(ticket)?;
        self.tickets.insert(ticket_hash, bytes).map_err(io)?;
        Ok(())
    }

    async fn take_ticket(&self, ticket_hash: [u8; 32]) -> StoreResult<Option<LinkTicket>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.tickets.remove(ticket_hash).map_err(io)? {
            None => Ok(None),
            Some(raw) => ticket_from_bytes(&raw).map(Some),
        }
    }

    async fn put_pending_auth(
        &self,
        state_hash: [u8; 32],
        pending: &PendingAuth,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        // Seal before the transaction: its closure may run more than once.
        let bytes = auth_bytes(&self.cipher, &state_hash, pending)?;
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

    async fn take_pending_auth(&self, state_hash: [u8; 32]) -> StoreResult<Option<PendingAuth>> {
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
            Some(rec) => auth_from_record(&self.cipher, &state_hash, rec?).map(Some),
        }
    }

    async fn put_pending_confirm(
        &self,
        form_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = confirm_bytes(&self.cipher, pending)?;
        self.confirm.insert(form_hash, bytes).map_err(io)?;
        Ok(())
    }

    async fn put_pending_identity(
        &self,
        state_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = confirm_bytes(&self.cipher, pending)?;
        self.identity.insert(state_hash, bytes).map_err(io)?;
        Ok(())
    }

    async fn take_pending_identity(
        &self,
        state_hash: [u8; 32],
    ) -> StoreResult<Option<PendingConfirm>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.identity.remove(state_hash).map_err(io)? {
            None => Ok(None),
            Some(raw) => confirm_from_bytes(&self.cipher, &raw).map(Some),
        }
    }

    async fn peek_pending_confirm(
        &self,
        form_hash: [u8; 32],
    ) -> StoreResult<Option<PendingConfirm>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.confirm.get(form_hash).map_err(io)? {
            None => Ok(None),
            Some(raw) => confirm_from_bytes(&self.cipher, &raw).map(Some),
        }
    }

    async fn discard_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<bool> {
        let _gate = self.snapshot_gate.read_recursive();
        let existed = self.confirm.remove(form_hash).map_err(io)?.is_some();
        Ok(existed)
    }

    async fn confirm_link(&self, form_hash: [u8; 32]) -> StoreResult<Option<Link>> {
        let _gate = self.snapshot_gate.read_recursive();
        // No sealing here: the confirmation already holds the token sealed for the member's
        // link record (same AAD), so the closure only moves bytes and checks they open.
        let confirmed = (&self.confirm, &self.links)
            .transaction(|(confirm, links)| {
                let Some(raw) = confirm.remove(&form_hash[..])? else {
                    return Ok(None);
                };
                match confirmed_link(&self.cipher, &raw) {
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
            self.flush_db()?;
        }
        Ok(confirmed)
    }

    async fn sweep_expired(&self, now: DateTime<Utc>) -> StoreResult<usize> {
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

    async fn put_search(&self, search: &SavedSearch) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = search_bytes(&self.cipher, search)?;
        self.searches
            .insert(search_key(search.discord_user, &search.handle), bytes)
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

    async fn get_search(
        &self,
        user: DiscordUserId,
        handle: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SavedSearch>> {
        let _gate = self.snapshot_gate.read_recursive();
        let Some(raw) = self.searches.get(search_key(user, handle)).map_err(io)? else {
            return Ok(None);
        };
        search_from_bytes(&self.cipher, user, handle, &raw, now)
    }

    // ---- drafts

    async fn put_draft(&self, draft: &Draft) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = draft_bytes(&self.cipher, draft)?;
        self.drafts
            .insert(draft_key(draft.discord_user, &draft.id), bytes)
            .map_err(io)?;
        if matches!(draft.state, DraftState::Posted { .. }) {
            // Not worth an fsync (see `Store::put_draft`): sled's background flush writes it
            // within half a second, and a crash before that leaves the draft `Posting`, which
            // the startup recovery settles by finding the post on the site.
            return Ok(());
        }
        self.flush_db()
    }

    async fn put_new_draft(
        &self,
        draft: &Draft,
        cap: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let _gate = self.snapshot_gate.read_recursive();
        // Seal before taking the lock; the lock only covers the count and the insert.
        let bytes = draft_bytes(&self.cipher, draft)?;
        let key = draft_key(draft.discord_user, &draft.id);
        {
            let _one_at_a_time = self.draft_creation.lock();
            if !self.drafts.contains_key(&key).map_err(io)? {
                // Fewer drafts in all than the cap means fewer open ones: most members are
                // answered without unsealing any. Past it, each draft is read for its state.
                let all = self
                    .drafts
                    .scan_prefix(user_key(draft.discord_user))
                    .take(cap as usize)
                    .count();
                if all >= cap as usize {
                    let open = self
                        .drafts_of_sync(draft.discord_user)?
                        .iter()
                        .filter(|d| {
                            d.expires_at > now && !matches!(d.state, DraftState::Posted { .. })
                        })
                        .count();
                    if open >= cap as usize {
                        return Ok(false);
                    }
                }
            }
            self.drafts.insert(key, bytes).map_err(io)?;
        }
        self.flush_db()?;
        Ok(true)
    }

    async fn get_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<Option<Draft>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.drafts.get(draft_key(user, id)).map_err(io)? {
            None => Ok(None),
            Some(raw) => draft_from_bytes(&self.cipher, user, id, &raw).map(Some),
        }
    }

    async fn drafts_of(&self, user: DiscordUserId) -> StoreResult<Vec<Draft>> {
        self.drafts_of_sync(user)
    }

    async fn begin_posting(
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
            let mut draft = draft_from_bytes(&self.cipher, user, id, cur)?;
            if !matches!(draft.state, DraftState::Saved { .. }) {
                return Ok(Update::Keep(None));
            }
            draft.state = DraftState::Posting { since: now };
            // Not a sled transaction: a retry after a lost race re-reads and stops above.
            let bytes = draft_bytes(&self.cipher, &draft)?;
            Ok(Update::Set(bytes, Some(draft)))
        })?;
        if won.is_some() {
            self.flush_db()?;
        }
        Ok(won)
    }

    async fn delete_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.drafts.remove(draft_key(user, id)).map_err(io)?;
        Ok(())
    }

    async fn posting_drafts(&self) -> StoreResult<Vec<Draft>> {
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
            match draft_from_bytes(&self.cipher, user, id, &v) {
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

    async fn counts(&self) -> StoreResult<StoreCounts> {
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
            if let Ok(d) = draft_from_bytes(&self.cipher, user, id, &v) {
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

    async fn claim_write(&self, key: &str, now: DateTime<Utc>) -> StoreResult<WriteClaim> {
        let _gate = self.snapshot_gate.read_recursive();
        let claim = self.cas_update(&self.writes, key.as_bytes(), |cur| claim_step(cur, now))?;
        if claim == WriteClaim::Claimed {
            self.flush_db()?;
        }
        Ok(claim)
    }

    async fn finish_write(
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
                    finish_step(cur, outcome, now)
                })?;
            }
        }
        self.flush_db()
    }

    async fn forget_outcome(&self, key: &str) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let dropped = self.cas_update(&self.writes, key.as_bytes(), forget_step)?;
        if dropped {
            self.flush_db()?;
        }
        Ok(())
    }

    async fn unfinished_writes(&self) -> StoreResult<Vec<(String, Option<DateTime<Utc>>)>> {
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

    async fn take_rate(
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
        self.cas_update(&self.rates, key.as_bytes(), |cur| {
            take_rate_step(cur, burst, refill_secs, now)
        })
    }

    async fn take_rates(
        &self,
        buckets: &[RateBucket<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance> {
        let _gate = self.snapshot_gate.read_recursive();
        // Buckets with no limit take part in nothing.
        let limited: Vec<&RateBucket<'_>> = buckets.iter().filter(|b| b.refill_secs > 0).collect();
        self.rates
            .transaction(|tx| {
                let mut current = Vec::with_capacity(limited.len());
                for b in &limited {
                    current.push((*b, tx.get(b.key.as_bytes())?));
                }
                let current: Vec<(&RateBucket<'_>, Option<&[u8]>)> =
                    current.iter().map(|(b, v)| (*b, v.as_deref())).collect();
                match take_rates_step(&current, now).map_err(ConflictableTransactionError::Abort)? {
                    Err(wait) => Ok(Allowance::RetryAfter(wait)),
                    Ok(takes) => {
                        for (key, bytes) in takes {
                            tx.insert(key.as_bytes(), bytes)?;
                        }
                        Ok(Allowance::Allowed)
                    }
                }
            })
            .map_err(tx_err)
    }

    // ---- guild settings

    async fn guild_settings(&self, guild: u64) -> StoreResult<GuildSettings> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.guilds.get(user_key(guild)).map_err(io)? {
            None => Ok(GuildSettings::default()),
            Some(raw) => guild_from_bytes(&raw),
        }
    }

    async fn put_guild_settings(&self, guild: u64, settings: &GuildSettings) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = guild_bytes(settings)?;
        self.guilds.insert(user_key(guild), bytes).map_err(io)?;
        self.flush_db()
    }

    // ---- service token

    async fn service_token(&self) -> StoreResult<Option<ServiceToken>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.meta.get(META_SERVICE_TOKEN).map_err(io)? {
            None => Ok(None),
            Some(raw) => service_token_from_bytes(&self.cipher, &raw).map(Some),
        }
    }

    async fn put_service_token(&self, token: &ServiceToken) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = service_token_bytes(&self.cipher, token)?;
        self.meta.insert(META_SERVICE_TOKEN, bytes).map_err(io)?;
        self.flush_db()
    }

    async fn flush(&self) -> StoreResult<()> {
        self.flush_db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{CANARY_AAD, CANARY_PLAINTEXT};

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

    #[tokio::test]
    async fn older_schema_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.set_schema_version(0).unwrap();
            store.flush().await.unwrap();
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

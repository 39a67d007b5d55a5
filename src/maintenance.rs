//! `soe-bot backup`, `soe-bot restore`, `soe-bot rotate-key` and `soe-bot migrate-store`: the
//! store's operator tasks.
//!
//! `migrate-store` copies a whole store between backends (sled ⇄ PostgreSQL) as stored bytes
//! ([`crate::store::copy::copy_store`]): sealed values stay sealed, the target must be empty,
//! and the counts per tree are checked afterwards. Backup, restore and rotation work on sled
//! stores; with PostgreSQL the database's own tools back it up.
//!
//! Each opens the store named by `storage.*` itself when no bot is running; when a bot holds
//! it (sled lets one process open a store), `backup` and `rotate-key` ask that bot through
//! its control socket ([`crate::control`]) instead, so neither needs downtime. `restore` needs
//! the bot stopped and an empty `storage.path`. The store work itself is in
//! [`crate::store::SledStore`] (`backup`, `restore`, `rotate_key`).
//!
//! Invariants: a backup file is written `0600`, never over an existing file, and appears
//! complete or not at all (written beside it, then renamed); nothing is unsealed on the way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use serde::{Deserialize, Serialize};

use crate::config::{StorageBackend, StorageConfig};
use crate::store::cipher::Cipher;
use crate::store::copy::RawRecords;
use crate::store::{Backup, PgStore, RotationReport, SledStore, StoreError};

/// Records re-sealed per batch by a rotation (each batch is flushed, so an interruption loses
/// at most one batch's work, which the next run redoes).
pub const ROTATION_BATCH: usize = 500;

/// A rotation's outcome as sent over the socket and printed by the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSummary {
    /// The key id every record is now sealed with.
    pub key_id: u8,
    /// Records re-sealed, by kind.
    pub resealed: std::collections::BTreeMap<String, usize>,
    /// Records that were already under the current key.
    pub already_current: usize,
    /// Records still under an old key (0 when done).
    pub remaining: usize,
}

impl RotationSummary {
    /// From a store's report.
    pub fn new(key_id: u8, report: &RotationReport) -> Self {
        Self {
            key_id,
            resealed: report
                .resealed
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
            already_current: report.already_current,
            remaining: report.remaining,
        }
    }

    /// Lines for the operator.
    pub fn describe(&self) -> String {
        let total: usize = self.resealed.values().sum();
        let by_kind: Vec<String> = self
            .resealed
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let mut out = format!(
            "re-sealed {total} record(s) under key id {}{}; {} already were",
            self.key_id,
            if by_kind.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_kind.join(", "))
            },
            self.already_current
        );
        if self.remaining == 0 {
            out.push_str(&format!(
                ".\nEvery record now opens with key id {}: the keys in storage.previous_keys are no longer needed (remove them and restart).",
                self.key_id
            ));
        } else {
            out.push_str(&format!(
                ".\n{} record(s) are still under an old key: run `soe-bot rotate-key` again (keep storage.previous_keys until it finishes).",
                self.remaining
            ));
        }
        out
    }
}

/// Refuses `task` (backup, restore, rotate-key) on a PostgreSQL store, saying what to use.
fn sled_only(cfg: &Config, task: &str) -> Result<(), String> {
    if cfg.storage.backend == StorageBackend::Postgres {
        return Err(format!(
            "`soe-bot {task}` works on sled stores, and storage.backend is \"postgres\": back the database up with PostgreSQL's tools (pg_dump, or your service's snapshots); to move a store between backends use `soe-bot migrate-store`"
        ));
    }
    Ok(())
}

/// `soe-bot backup FILE`. Returns the exit code.
pub async fn backup(cfg: Config, file: PathBuf) -> Result<u8, String> {
    sled_only(&cfg, "backup")?;
    if file.exists() {
        return Err(format!(
            "{} already exists; choose a new file name (a backup never overwrites one)",
            file.display()
        ));
    }
    let path = cfg.storage.path.clone();
    let opened = {
        let storage = cfg.storage.clone();
        tokio::task::spawn_blocking(move || SledStore::open(&storage))
            .await
            .map_err(|e| e.to_string())?
    };
    let json = match opened {
        Ok(store) => {
            let now = SystemClock.now();
            let store = Arc::new(store);
            let backup = tokio::task::spawn_blocking(move || store.backup(now))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            serde_json::to_string(&backup).map_err(|e| e.to_string())?
        }
        Err(StoreError::Locked { .. }) => from_running_bot(&path, "backup").await?,
        Err(e) => return Err(e.to_string()),
    };
    let backup: Backup = serde_json::from_str(&json)
        .map_err(|e| format!("the running bot sent something that is not a backup: {e}"))?;
    write_private(&file, json.as_bytes())?;
    println!(
        "Wrote {} record(s) to {} (schema version {}, sealed with key id(s) {:?}; restoring needs those keys).",
        backup.entries(),
        file.display(),
        backup.schema_version,
        backup.key_ids
    );
    Ok(0)
}

/// `soe-bot restore FILE`. Returns the exit code.
pub async fn restore(cfg: Config, file: PathBuf) -> Result<u8, String> {
    sled_only(&cfg, "restore")?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let backup: Backup = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a soe-bot backup ({e}); give a file written by `soe-bot backup`",
            file.display()
        )
    })?;
    let storage = cfg.storage.clone();
    let restored = tokio::task::spawn_blocking(move || -> Result<usize, String> {
        let count = {
            let store = SledStore::open(&storage).map_err(|e| match e {
                StoreError::Locked { path } => format!(
                    "storage at {path} is in use; stop the bot before restoring, and restore into an empty storage.path"
                ),
                other => other.to_string(),
            })?;
            store.restore(&backup).map_err(|e| e.to_string())?
        };
        // Opening again migrates an older schema and checks the keys against the canary.
        SledStore::open(&storage).map_err(|e| e.to_string())?;
        Ok(count)
    })
    .await
    .map_err(|e| e.to_string())??;
    println!(
        "Restored {restored} record(s) from {} into {}.",
        file.display(),
        cfg.storage.path.display()
    );
    Ok(0)
}

/// `soe-bot rotate-key`. Returns the exit code.
pub async fn rotate_key(cfg: Config) -> Result<u8, String> {
    sled_only(&cfg, "rotate-key")?;
    let path = cfg.storage.path.clone();
    let storage = cfg.storage.clone();
    let opened = tokio::task::spawn_blocking(move || SledStore::open(&storage))
        .await
        .map_err(|e| e.to_string())?;
    let summary = match opened {
        Ok(store) => tokio::task::spawn_blocking(move || {
            let key_id = store.current_key_id();
            store
                .rotate_key(ROTATION_BATCH, |r| {
                    tracing::info!(
                        resealed = r.resealed_total(),
                        remaining = r.remaining,
                        "key rotation progress"
                    )
                })
                .map(|r| RotationSummary::new(key_id, &r))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??,
        Err(StoreError::Locked { .. }) => {
            let json = from_running_bot(&path, "rotate-key").await?;
            serde_json::from_str(&json)
                .map_err(|e| format!("the running bot's report does not parse: {e}"))?
        }
        Err(e) => return Err(e.to_string()),
    };
    println!("{}", summary.describe());
    Ok(if summary.remaining == 0 { 0 } else { 1 })
}

/// One side of `soe-bot migrate-store`: `sled:PATH`, `postgres:URL`, or `sled` / `postgres`
/// alone for the configured `storage.path` / `storage.url`. `Debug` never shows a URL (it may
/// hold a password).
#[derive(Clone)]
pub enum StoreLocation {
    /// A sled directory.
    Sled(PathBuf),
    /// A PostgreSQL URL.
    Postgres(secrecy::SecretString),
    /// The configured `storage.path`.
    ConfiguredSled,
    /// The configured `storage.url`.
    ConfiguredPostgres,
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sled(p) => write!(f, "sled:{}", p.display()),
            StoreLocation::Postgres(_) => write!(f, "postgres:[REDACTED]"),
            StoreLocation::ConfiguredSled => write!(f, "sled (storage.path)"),
            StoreLocation::ConfiguredPostgres => write!(f, "postgres (storage.url)"),
        }
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "sled" {
            return Ok(StoreLocation::ConfiguredSled);
        }
        if s == "postgres" || s == "postgresql" {
            return Ok(StoreLocation::ConfiguredPostgres);
        }
        if let Some(path) = s.strip_prefix("sled:") {
            if path.is_empty() {
                return Err("sled: needs a directory, e.g. sled:/var/lib/soe-bot/store".into());
            }
            return Ok(StoreLocation::Sled(PathBuf::from(path)));
        }
        // `postgres:postgres://…`, or the URL itself.
        let url = s
            .strip_prefix("postgres:")
            .filter(|rest| rest.contains("://"))
            .or_else(|| {
                s.strip_prefix("postgresql:")
                    .filter(|rest| rest.contains("://"))
            })
            .unwrap_or(s);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(secrecy::SecretString::from(url)));
        }
        Err("give sled:PATH, postgres:URL (postgres://user:password@host/db), or sled / postgres alone for the configured storage.path / storage.url".into())
    }
}

/// A store opened for copying.
enum Opened {
    Sled(Arc<SledStore>),
    Postgres(Arc<PgStore>),
}

impl Opened {
    fn raw(&self) -> &dyn RawRecords {
        match self {
            Opened::Sled(s) => s.as_ref(),
            Opened::Postgres(s) => s.as_ref(),
        }
    }

    fn shown(&self) -> String {
        match self {
            Opened::Sled(s) => format!("sled:{}", s.path()),
            Opened::Postgres(s) => s.server().to_string(),
        }
    }
}

/// Opens one side with the configured keys; a sled source must exist already.
async fn open_location(
    storage: &StorageConfig,
    at: &StoreLocation,
    source: bool,
) -> Result<Opened, String> {
    let cipher = Cipher::from_config(storage);
    let sled_path = match at {
        StoreLocation::Sled(p) => Some(p.clone()),
        StoreLocation::ConfiguredSled => Some(storage.path.clone()),
        _ => None,
    };
    if let Some(path) = sled_path {
        if source && !path.exists() {
            return Err(format!(
                "{} does not exist; give the sled store to copy from",
                path.display()
            ));
        }
        let cache = storage.cache_capacity_mb.saturating_mul(1024 * 1024);
        let store = tokio::task::spawn_blocking(move || SledStore::open_at(&path, cipher, cache))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| match e {
                StoreError::Locked { path } => {
                    format!("the sled store at {path} is in use; stop the bot before migrating")
                }
                other => other.to_string(),
            })?;
        return Ok(Opened::Sled(Arc::new(store)));
    }
    let url = match at {
        StoreLocation::Postgres(url) => url.clone(),
        _ => storage.url.clone().ok_or_else(|| {
            "postgres alone means storage.url, which is not set; give postgres:URL".to_string()
        })?,
    };
    let options = crate::store::pg_store::connect_options(&url).map_err(|e| e.to_string())?;
    let store = PgStore::open_with(options, 4, cipher)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Opened::Postgres(Arc::new(store)))
}

/// `soe-bot migrate-store --from … --to …`: copies every record as stored (still sealed) into
/// an empty target and checks the counts per tree. The keys are the configured ones (the
/// source must open with them; the target then holds records only they open). Returns the
/// exit code.
pub async fn migrate_store(
    storage: &StorageConfig,
    from: &StoreLocation,
    to: &StoreLocation,
) -> Result<u8, String> {
    let source = open_location(storage, from, true).await?;
    let target = open_location(storage, to, false).await?;
    if source.shown() == target.shown() {
        return Err("--from and --to name the same store".into());
    }
    let report = crate::store::copy::copy_store(source.raw(), target.raw())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Copied {} record(s) from {} to {}, still sealed; counts checked per tree:",
        report.total(),
        source.shown(),
        target.shown()
    );
    for (tree, n) in &report.copied {
        if *n > 0 {
            println!("  {tree}: {n}");
        }
    }
    println!("Point storage.* at the new store and start the bot.");
    if let Opened::Postgres(p) = &target {
        p.close().await;
    }
    if let Opened::Postgres(p) = &source {
        p.close().await;
    }
    Ok(0)
}

#[cfg(unix)]
async fn from_running_bot(storage: &Path, command: &str) -> Result<String, String> {
    crate::control::request(storage, command).await
}

#[cfg(not(unix))]
async fn from_running_bot(storage: &Path, _command: &str) -> Result<String, String> {
    Err(format!(
        "storage at {} is in use by another process; stop it first",
        storage.display()
    ))
}

/// Writes `bytes` to a new file `path`, owner-only, complete or not at all.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".partial");
    let tmp = path.with_file_name(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

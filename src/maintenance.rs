//! `soe-bot backup`, `soe-bot restore` and `soe-bot rotate-key`: the store's operator tasks.
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

use crate::store::{Backup, RotationReport, SledStore, StoreError};

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

/// `soe-bot backup FILE`. Returns the exit code.
pub async fn backup(cfg: Config, file: PathBuf) -> Result<u8, String> {
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

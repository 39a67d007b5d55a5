//! Opening the backend `storage.backend` names, and what comes with it: the store, its records
//! as bytes, the leadership among replicas, and where the service budget's global windows
//! live.
//!
//! With sled the one process owns the store: it always leads and keeps the budget in memory.
//! With PostgreSQL every replica opens the same database: leadership is elected by an advisory
//! lock, and the budget's windows are rows every replica takes from.

use std::sync::Arc;
use std::time::Duration;

use super::copy::RawRecords;
use super::{PgStore, SledStore, Store, StoreResult};
use crate::commands::caches::{BudgetLimits, GlobalBuckets};
use crate::config::{StorageBackend, StorageConfig};
use crate::leader::Leadership;

/// An open store of either backend.
#[derive(Clone)]
pub enum OpenStore {
    /// sled, embedded.
    Sled(Arc<SledStore>),
    /// PostgreSQL, shared by replicas.
    Postgres(Arc<PgStore>),
}

impl std::fmt::Debug for OpenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenStore::Sled(s) => s.fmt(f),
            OpenStore::Postgres(s) => s.fmt(f),
        }
    }
}

impl OpenStore {
    /// Opens the backend `storage` configures (see [`SledStore::open`], [`PgStore::open`]).
    pub async fn open(storage: &StorageConfig) -> StoreResult<OpenStore> {
        match storage.backend {
            StorageBackend::Sled => {
                let storage = storage.clone();
                let store = tokio::task::spawn_blocking(move || SledStore::open(&storage))
                    .await
                    .map_err(|e| super::StoreError::Io(format!("opening sled failed: {e}")))??;
                Ok(OpenStore::Sled(Arc::new(store)))
            }
            StorageBackend::Postgres => {
                Ok(OpenStore::Postgres(Arc::new(PgStore::open(storage).await?)))
            }
        }
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            OpenStore::Sled(s) => s.clone(),
            OpenStore::Postgres(s) => s.clone(),
        }
    }

    /// Its records as stored bytes.
    pub fn raw(&self) -> Arc<dyn RawRecords> {
        match self {
            OpenStore::Sled(s) => s.clone(),
            OpenStore::Postgres(s) => s.clone(),
        }
    }

    /// The budget's global windows when they are shared (PostgreSQL); `None`: in memory.
    pub fn shared_budget(&self) -> Option<Arc<dyn GlobalBuckets>> {
        match self {
            OpenStore::Sled(_) => None,
            OpenStore::Postgres(s) => Some(Arc::new(super::pg_store::budget::PgBudget::new(
                s.pool().clone(),
                BudgetLimits::SOE,
            ))),
        }
    }

    /// Starts the leader election (PostgreSQL: an advisory lock on a connection of its own
    /// from `storage`, checked every `storage.leader_check_secs`); sled always leads. The
    /// task, if any, ends the election when aborted.
    pub fn elect(
        &self,
        storage: &StorageConfig,
    ) -> StoreResult<(Leadership, Option<tokio::task::JoinHandle<()>>)> {
        match self {
            OpenStore::Sled(_) => Ok((Leadership::always(), None)),
            OpenStore::Postgres(_) => {
                let url = storage.url.as_ref().ok_or_else(|| {
                    super::StoreError::Io("storage.backend = \"postgres\" needs storage.url".into())
                })?;
                let (leadership, task) = super::pg_store::leader::elect(
                    super::pg_store::connect_options(url)?,
                    Duration::from_secs(storage.leader_check_secs),
                );
                Ok((leadership, Some(task)))
            }
        }
    }

    /// Where messages say the store is.
    pub fn shown(&self) -> String {
        match self {
            OpenStore::Sled(s) => s.path().to_string(),
            OpenStore::Postgres(s) => s.server().to_string(),
        }
    }
}

//! [`ThreadSaveStore`]: the state of each "Save thread to …" under way
//! ([`crate::commands::thread_save::ThreadSave`]): who asked, which messages, each author's
//! consent, what was posted.
//!
//! The records hold ids, names, the thread's title and tags, consents and the posted links,
//! no message text (that lives in sealed drafts) and no secret, so they are stored in clear;
//! each is removed two days after it started ([`ThreadSaveStore::sweep_saves`]).

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::commands::thread_save::ThreadSave;

/// Thread saves' durable state (implemented by [`super::SledStore`]).
#[async_trait::async_trait]
pub trait ThreadSaveStore: Send + Sync {
    /// Stores (or replaces) a save. Flushed.
    async fn put_save(&self, save: &ThreadSave) -> StoreResult<()>;
    /// A save by id.
    async fn get_save(&self, id: &str) -> StoreResult<Option<ThreadSave>>;
    /// Every save (for the sweep that expires consents).
    async fn all_saves(&self) -> StoreResult<Vec<ThreadSave>>;
    /// Forgets saves that started before `before`. Returns how many.
    async fn sweep_saves(&self, before: DateTime<Utc>) -> StoreResult<usize>;
}

//! Records as stored bytes, across backends: [`RawRecords`] (every backend can list and write
//! its (tree, key, value) triples as they are) and [`copy_store`], behind `soe-bot
//! migrate-store`, which moves a whole store from one backend to another.
//!
//! Invariants: values cross as they are, still sealed (the same bytes open on either side,
//! with the same keys, see [`super::record`]); a copy goes only into an empty target (nothing
//! but the schema stamp and key canary a fresh open writes), and is checked afterwards tree by
//! tree: the target must hold exactly as many records as the source did, or the copy is
//! reported as failed.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::record::{ALL_TREES, META_KEY_CANARY, META_SCHEMA_VERSION, TREE_META};
use super::{StoreError, StoreResult};

/// A backend's records as stored bytes (for copying between backends and for tests that look
/// at what is stored).
#[async_trait]
pub trait RawRecords: Send + Sync {
    /// Every (key, value) of `tree` (one of [`ALL_TREES`]), in key order.
    async fn raw_tree(&self, tree: &str) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>>;
    /// The value under (tree, key), as stored.
    async fn raw_get(&self, tree: &str, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Writes `value` under (tree, key) as it is (no sealing, no check).
    async fn raw_put(&self, tree: &str, key: &[u8], value: &[u8]) -> StoreResult<()>;
    /// Called once a copy into this store is complete: whatever hands out ids (the channel
    /// cards' and DMs' outboxes') moves past every id copied in, and everything is made
    /// durable.
    async fn raw_import_done(&self) -> StoreResult<()>;
}

/// The trees a backend stores, by name (every backend has the same ones).
pub fn tree_names() -> &'static [&'static str] {
    &ALL_TREES
}

/// Records per tree, by tree name.
pub type TreeCounts = BTreeMap<&'static str, usize>;

/// What [`copy_store`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Records copied per tree (equal on both sides, or the copy failed).
    pub copied: TreeCounts,
}

impl CopyReport {
    /// Records copied in all.
    pub fn total(&self) -> usize {
        self.copied.values().sum()
    }
}

/// Whether `tree`/`key` is what a fresh open writes by itself (the schema stamp, the key
/// canary): a target holding only these counts as empty, and the source's copies replace
/// them.
fn is_open_stamp(tree: &str, key: &[u8]) -> bool {
    tree == TREE_META && (key == META_SCHEMA_VERSION || key == META_KEY_CANARY)
}

/// Records per tree in `store`, not counting the stamps of a fresh open.
pub async fn count_records(store: &dyn RawRecords) -> StoreResult<TreeCounts> {
    let mut counts = TreeCounts::new();
    for tree in ALL_TREES {
        let n = store
            .raw_tree(tree)
            .await?
            .iter()
            .filter(|(k, _)| !is_open_stamp(tree, k))
            .count();
        counts.insert(tree, n);
    }
    Ok(counts)
}

/// Copies every record of `from` into `to` as stored bytes, then checks the counts per tree.
/// `to` must be empty (see the module doc); both stores must have been opened with keys that
/// open the source's canary (the copied canary must open in the target too).
pub async fn copy_store(from: &dyn RawRecords, to: &dyn RawRecords) -> StoreResult<CopyReport> {
    let before = count_records(to).await?;
    let filled: Vec<String> = before
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(tree, n)| format!("{tree} ({n})"))
        .collect();
    if !filled.is_empty() {
        return Err(StoreError::Io(format!(
            "the target is not empty: it holds records in {}; migrate into a new, empty store",
            filled.join(", ")
        )));
    }
    let mut copied = TreeCounts::new();
    for tree in ALL_TREES {
        let rows = from.raw_tree(tree).await?;
        for (k, v) in &rows {
            to.raw_put(tree, k, v).await?;
        }
        copied.insert(
            tree,
            rows.iter().filter(|(k, _)| !is_open_stamp(tree, k)).count(),
        );
    }
    to.raw_import_done().await?;
    let after = count_records(to).await?;
    let source = count_records(from).await?;
    for tree in ALL_TREES {
        let (want, got) = (source.get(tree), after.get(tree));
        if want != got || copied.get(tree) != want {
            return Err(StoreError::Io(format!(
                "after the copy, {tree} holds {} records in the target but {} in the source; the target is incomplete: drop it and migrate again (with the bot stopped)",
                got.copied().unwrap_or(0),
                want.copied().unwrap_or(0)
            )));
        }
    }
    // The stamps were copied too: the target now carries the source's canary.
    for key in [META_SCHEMA_VERSION, META_KEY_CANARY] {
        if from.raw_get(TREE_META, key).await? != to.raw_get(TREE_META, key).await? {
            return Err(StoreError::Io(
                "after the copy, the target's schema stamp or key canary differs from the source's"
                    .into(),
            ));
        }
    }
    Ok(CopyReport { copied })
}

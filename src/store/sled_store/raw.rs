//! [`RawRecords`] on sled: the trees' entries as stored, for `soe-bot migrate-store` and the
//! conformance tests. Only the store's own trees ([`record::ALL_TREES`]) are reachable.

use async_trait::async_trait;

use super::{io, SledStore};
use crate::store::copy::RawRecords;
use crate::store::record;
use crate::store::{StoreError, StoreResult};

impl SledStore {
    fn known_tree(&self, tree: &str) -> StoreResult<sled::Tree> {
        if !record::ALL_TREES.contains(&tree) {
            return Err(StoreError::Corrupt(format!("no tree named {tree}")));
        }
        self.db.open_tree(tree).map_err(io)
    }
}

#[async_trait]
impl RawRecords for SledStore {
    async fn raw_tree(&self, tree: &str) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.known_tree(tree)?;
        t.iter()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io))
            .collect()
    }

    async fn raw_get(&self, tree: &str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .known_tree(tree)?
            .get(key)
            .map_err(io)?
            .map(|v| v.to_vec()))
    }

    async fn raw_put(&self, tree: &str, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.known_tree(tree)?.insert(key, value).map_err(io)?;
        Ok(())
    }

    async fn raw_import_done(&self) -> StoreResult<()> {
        // sled hands out the ids of both outboxes (cards' and DMs') from its own counter:
        // move it past every id copied in, so a new entry never lands on a copied one (or
        // reuses its nonce).
        let mut last = None;
        for tree in [record::TREE_NOTIFY_OUTBOX, record::TREE_PERSONAL_OUTBOX] {
            let tree_last = self
                .known_tree(tree)?
                .last()
                .map_err(io)?
                .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
                .map(u64::from_be_bytes);
            last = last.max(tree_last);
        }
        if let Some(last) = last {
            while self.db.generate_id().map_err(io)? <= last {}
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

//! Operator maintenance on a [`SledStore`]: backup, restore and key rotation.
//!
//! **Backup** ([`SledStore::backup`]) copies every tree's raw entries into one [`Backup`]
//! document, stamped with the schema version and the key ids it was sealed with. It holds the
//! store's snapshot gate for writing while it reads, so no store method changes anything
//! meanwhile: the copy is consistent across trees even while the bot runs. Values are copied
//! as stored, so tokens, verifiers and drafts stay sealed in the file (readable only with the
//! same keys).
//!
//! **Restore** ([`SledStore::restore`]) writes a backup into an empty store (only the schema
//! stamp and key canary of a fresh open), refuses a newer schema, and refuses a backup whose
//! key canary the configured keys cannot open (the records would not open either). An older
//! schema is migrated when the store is next opened.
//!
//! **Rotation** ([`SledStore::rotate_key_batch`]) re-seals records whose blob names a key id
//! other than the current one. Each record is re-sealed alone with a compare-and-swap, so a
//! rotation can stop at any point and be run again: records already under the current key
//! are skipped. Until it finishes the previous keys must stay configured; once
//! [`RotationReport::remaining`] is 0, no record needs them.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Tree;

use super::io;
use super::SledStore;
use crate::store::cipher::Cipher;
use crate::store::record::{
    b64_decode, canary_opens, decode, draft_aad, encode, pkce_aad, reseal_b64, seal_canary,
    search_aad, token_aad, user_of_key, AuthRecord, ConfirmRecord, DraftRecord, LinkRecord,
    SearchRecord, ServiceTokenRecord, ALL_TREES, B64, META_KEY_CANARY, META_SCHEMA_VERSION,
    META_SERVICE_TOKEN, SERVICE_TOKEN_AAD, TREE_AUTH, TREE_AUTH_BY_USER, TREE_CONFIRM, TREE_DRAFTS,
    TREE_GUILDS, TREE_IDENTITY, TREE_LINKS, TREE_META, TREE_RATES, TREE_SEARCHES, TREE_TICKETS,
    TREE_WRITES,
};
use crate::store::SCHEMA_VERSION;
use crate::store::{StoreError, StoreResult};

/// What the `format` field of a backup file says.
pub const BACKUP_FORMAT: &str = "soe-bot-backup";

/// A whole store, as written to a backup file (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Always [`BACKUP_FORMAT`]: says what the file is.
    pub format: String,
    /// The store's schema version when the backup was taken; restore refuses a newer one.
    pub schema_version: u32,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// The key ids the sealed values name: the keys a restore needs configured.
    pub key_ids: Vec<u8>,
    /// Every tree by name: its entries as base64 `[key, value]` pairs, in key order.
    pub trees: BTreeMap<String, Vec<[String; 2]>>,
}

impl Backup {
    /// The number of entries in all trees.
    pub fn entries(&self) -> usize {
        self.trees.values().map(Vec::len).sum()
    }
}

/// What a rotation batch did (counts of records, by kind in `resealed`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Records re-sealed under the current key, by kind (`links`, `drafts`, …).
    pub resealed: BTreeMap<&'static str, usize>,
    /// Records already under the current key.
    pub already_current: usize,
    /// Records still under an old key (left by a batch limit); 0 when the rotation is done.
    pub remaining: usize,
}

impl RotationReport {
    /// Records re-sealed in all.
    pub fn resealed_total(&self) -> usize {
        self.resealed.values().sum()
    }

    fn add(&mut self, other: &RotationReport) {
        for (k, v) in &other.resealed {
            *self.resealed.entry(k).or_default() += v;
        }
        self.already_current += other.already_current;
        self.remaining = other.remaining;
    }
}

/// Re-seals one raw record (`store`, key, value): the new value, or `None` when its blob is
/// already under the current key.
type Reseal = fn(&SledStore, &[u8], &[u8]) -> StoreResult<Option<Vec<u8>>>;

/// A sealed kind of record: what it is called and how to re-seal it.
struct Sealed {
    /// Shown in reports.
    kind: &'static str,
    /// Finds its blob, opens it with the key it names and seals it with the current one.
    reseal: Reseal,
}

impl SledStore {
    /// Every tree of the store by name: the backup copies them all, the restore fills them
    /// all. A tree added to the store must be listed here (a test opens a store and compares
    /// this list with the trees sled holds).
    pub(super) fn all_trees(&self) -> Vec<(&'static str, &Tree)> {
        let mut trees = vec![
            (TREE_LINKS, &self.links),
            (TREE_TICKETS, &self.tickets),
            (TREE_AUTH, &self.auth),
            (TREE_AUTH_BY_USER, &self.auth_by_user),
            (TREE_IDENTITY, &self.identity),
            (TREE_CONFIRM, &self.confirm),
            (TREE_DRAFTS, &self.drafts),
            (TREE_SEARCHES, &self.searches),
            (TREE_WRITES, &self.writes),
            (TREE_RATES, &self.rates),
            (TREE_GUILDS, &self.guilds),
            (TREE_META, &self.meta),
        ];
        trees.extend(self.notify.trees());
        debug_assert!(
            trees.iter().map(|(name, _)| *name).eq(ALL_TREES),
            "record::ALL_TREES names every tree of the sled store"
        );
        trees
    }

    /// The id of the key records are sealed with now.
    pub fn current_key_id(&self) -> u8 {
        self.cipher.current_key_id()
    }

    /// A consistent copy of the whole store (see the module docs). Sealed values stay sealed.
    pub fn backup(&self, now: DateTime<Utc>) -> StoreResult<Backup> {
        let _exclusive = self.snapshot_gate.write();
        let mut trees = BTreeMap::new();
        for (name, tree) in self.all_trees() {
            let mut entries = Vec::new();
            for entry in tree.iter() {
                let (k, v) = entry.map_err(io)?;
                entries.push([B64.encode(&k), B64.encode(&v)]);
            }
            trees.insert(name.to_string(), entries);
        }
        let mut key_ids = Vec::new();
        for blob in self.sealed_blobs()? {
            if let Some(id) = Cipher::key_id_of(&blob) {
                if !key_ids.contains(&id) {
                    key_ids.push(id);
                }
            }
        }
        key_ids.sort_unstable();
        Ok(Backup {
            format: BACKUP_FORMAT.to_string(),
            schema_version: self.schema_version()?.unwrap_or(SCHEMA_VERSION),
            created_at: now,
            key_ids,
            trees,
        })
    }

    /// Writes `backup` into this store, which must be empty (freshly created). Flushed.
    ///
    /// Errors: [`StoreError::SchemaTooNew`] for a backup from a newer soe-bot;
    /// [`StoreError::WrongKey`] when the configured keys cannot open the backup's key canary;
    /// [`StoreError::Corrupt`] for a file that is not a backup, names an unknown tree, or a
    /// store that already holds records.
    pub fn restore(&self, backup: &Backup) -> StoreResult<usize> {
        if backup.format != BACKUP_FORMAT {
            return Err(StoreError::Corrupt(format!(
                "this file is not a soe-bot backup (format `{}`)",
                backup.format
            )));
        }
        if backup.schema_version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: "the backup".into(),
                found: backup.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        let _exclusive = self.snapshot_gate.write();
        for (name, tree) in self.all_trees() {
            let fresh_meta = |k: &[u8]| k == META_SCHEMA_VERSION || k == META_KEY_CANARY;
            for entry in tree.iter() {
                let (k, _) = entry.map_err(io)?;
                if !(name == TREE_META && fresh_meta(&k)) {
                    return Err(StoreError::Corrupt(format!(
                        "{} already holds records ({name}); restore only into an empty storage.path",
                        self.path
                    )));
                }
            }
        }
        let trees: BTreeMap<&str, &Tree> = self.all_trees().into_iter().collect();
        let mut decoded = Vec::with_capacity(backup.trees.len());
        for (name, entries) in &backup.trees {
            let tree = *trees.get(name.as_str()).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the backup has a tree `{name}` this soe-bot does not know"
                ))
            })?;
            for [k, v] in entries {
                decoded.push((tree, b64_decode(k)?, b64_decode(v)?));
            }
        }
        let canary = decoded
            .iter()
            .find(|(t, k, _)| std::ptr::eq(*t, &self.meta) && k.as_slice() == META_KEY_CANARY);
        if let Some((_, _, blob)) = canary {
            if !canary_opens(&self.cipher, blob) {
                return Err(StoreError::WrongKey {
                    path: format!("the backup (sealed with key id(s) {:?})", backup.key_ids),
                });
            }
        }
        let count = decoded.len();
        for (tree, k, v) in decoded {
            tree.insert(k, v).map_err(io)?;
        }
        self.db.flush().map_err(io)?;
        Ok(count)
    }

    /// Every sealed blob in the store (for key ids and the rotation's count).
    fn sealed_blobs(&self) -> StoreResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut push = |b64: &str| -> StoreResult<()> {
            out.push(b64_decode(b64)?);
            Ok(())
        };
        for entry in self.links.iter() {
            let (_, v) = entry.map_err(io)?;
            push(&decode::<LinkRecord>(&v)?.token)?;
        }
        for entry in self.auth.iter() {
            let (_, v) = entry.map_err(io)?;
            push(&decode::<AuthRecord>(&v)?.verifier)?;
        }
        for tree in [&self.identity, &self.confirm] {
            for entry in tree.iter() {
                let (_, v) = entry.map_err(io)?;
                push(&decode::<ConfirmRecord>(&v)?.link.token)?;
            }
        }
        for entry in self.drafts.iter() {
            let (_, v) = entry.map_err(io)?;
            push(&decode::<DraftRecord>(&v)?.sealed)?;
        }
        for entry in self.searches.iter() {
            let (_, v) = entry.map_err(io)?;
            push(&decode::<SearchRecord>(&v)?.sealed)?;
        }
        if let Some(v) = self.meta.get(META_SERVICE_TOKEN).map_err(io)? {
            push(&decode::<ServiceTokenRecord>(&v)?.token)?;
        }
        if let Some(v) = self.meta.get(META_KEY_CANARY).map_err(io)? {
            out.push(v.to_vec());
        }
        Ok(out)
    }

    /// Re-seals `b64` under the current key when it names another key id; `None` when it is
    /// already current.
    fn reseal_b64(&self, aad: &[u8], b64: &str) -> StoreResult<Option<String>> {
        reseal_b64(&self.cipher, aad, b64)
    }

    /// Re-seals up to `limit` records still sealed under an old key (all of them with
    /// `None`), each atomically; flushed. Run again after an interruption: it picks up where
    /// it stopped.
    pub fn rotate_key_batch(&self, limit: Option<usize>) -> StoreResult<RotationReport> {
        let mut report = RotationReport::default();
        let mut budget = limit.unwrap_or(usize::MAX);
        for (tree, sealed) in self.sealed_kinds() {
            let keys: Vec<sled::IVec> = tree.iter().keys().collect::<Result<_, _>>().map_err(io)?;
            for key in keys {
                if std::ptr::eq(tree, &self.meta) && key.as_ref() != META_SERVICE_TOKEN {
                    continue; // the other meta entries are not sealed records
                }
                loop {
                    let _gate = self.snapshot_gate.read_recursive();
                    let Some(current) = tree.get(&key).map_err(io)? else {
                        break; // removed meanwhile
                    };
                    match (sealed.reseal)(self, &key, &current)? {
                        None => {
                            report.already_current += 1;
                            break;
                        }
                        Some(_) if budget == 0 => {
                            report.remaining += 1;
                            break;
                        }
                        Some(new) => {
                            if tree
                                .compare_and_swap(&key, Some(current), Some(new))
                                .map_err(io)?
                                .is_ok()
                            {
                                *report.resealed.entry(sealed.kind).or_default() += 1;
                                budget -= 1;
                                break;
                            }
                            // Changed meanwhile (e.g. the bot touched it): try again.
                        }
                    }
                }
            }
        }
        // The canary is re-sealed on every open; do it here too so it never names an old key.
        if let Some(blob) = self.meta.get(META_KEY_CANARY).map_err(io)? {
            if Cipher::key_id_of(&blob) != Some(self.cipher.current_key_id()) {
                let fresh = seal_canary(&self.cipher)?;
                self.meta
                    .compare_and_swap(META_KEY_CANARY, Some(blob), Some(fresh))
                    .map_err(io)?
                    .ok();
            }
        }
        self.db.flush().map_err(io)?;
        Ok(report)
    }

    /// [`SledStore::rotate_key_batch`] in batches of `batch` until done, calling `progress`
    /// after each batch with the totals so far.
    pub fn rotate_key(
        &self,
        batch: usize,
        mut progress: impl FnMut(&RotationReport),
    ) -> StoreResult<RotationReport> {
        let mut total = RotationReport::default();
        let mut first = true;
        loop {
            let step = self.rotate_key_batch(Some(batch.max(1)))?;
            let done = step.remaining == 0;
            let before = total.already_current;
            total.add(&step);
            // Later batches see the records re-sealed by earlier ones as current: only the
            // first batch counts what was current before this run.
            if !first {
                total.already_current = before;
            }
            first = false;
            progress(&total);
            if done {
                return Ok(total);
            }
        }
    }

    /// The trees holding sealed records, with how to re-seal each.
    fn sealed_kinds(&self) -> [(&Tree, Sealed); 7] {
        fn link(s: &SledStore, key: &[u8], raw: &[u8]) -> StoreResult<Option<Vec<u8>>> {
            let mut rec: LinkRecord = decode(raw)?;
            let user = user_of_key(key)?;
            Ok(match s.reseal_b64(&token_aad(user), &rec.token)? {
                None => None,
                Some(t) => {
                    rec.token = t;
                    Some(encode(&rec)?)
                }
            })
        }
        fn auth(s: &SledStore, key: &[u8], raw: &[u8]) -> StoreResult<Option<Vec<u8>>> {
            let mut rec: AuthRecord = decode(raw)?;
            let state: [u8; 32] = key
                .try_into()
                .map_err(|_| StoreError::Corrupt("an authorization key is not a hash".into()))?;
            Ok(match s.reseal_b64(&pkce_aad(&state), &rec.verifier)? {
                None => None,
                Some(v) => {
                    rec.verifier = v;
                    Some(encode(&rec)?)
                }
            })
        }
        fn confirm(s: &SledStore, _key: &[u8], raw: &[u8]) -> StoreResult<Option<Vec<u8>>> {
            let mut rec: ConfirmRecord = decode(raw)?;
            let user = rec.link.discord_user;
            Ok(match s.reseal_b64(&token_aad(user), &rec.link.token)? {
                None => None,
                Some(t) => {
                    rec.link.token = t;
                    Some(encode(&rec)?)
                }
            })
        }
        fn draft(s: &SledStore, key: &[u8], raw: &[u8]) -> StoreResult<Option<Vec<u8>>> {
            let mut rec: DraftRecord = decode(raw)?;
            let user = user_of_key(key)?;
            let id = std::str::from_utf8(&key[8..])
                .map_err(|_| StoreError::Corrupt("a draft key is not UTF-8".into()))?;
            Ok(match s.reseal_b64(&draft_aad(user, id), &rec.sealed)? {
                None => None,
                Some(t) => {
                    rec.sealed = t;
                    Some(encode(&rec)?)
                }
            })
        }
        fn search(s: &SledStore, key: &[u8], raw: &[u8]) -> StoreResult<Option<Vec<u8>>> {
            let mut rec: SearchRecord = decode(raw)?;
            let user = user_of_key(key)?;
            let handle = std::str::from_utf8(&key[8..])
                .map_err(|_| StoreError::Corrupt("a search key is not UTF-8".into()))?;
            Ok(
                match s.reseal_b64(&search_aad(user, handle), &rec.sealed)? {
                    None => None,
                    Some(t) => {
                        rec.sealed = t;
                        Some(encode(&rec)?)
                    }
                },
            )
        }
        fn service(s: &SledStore, _key: &[u8], raw: &[u8]) -> StoreResult<Option<Vec<u8>>> {
            let mut rec: ServiceTokenRecord = decode(raw)?;
            Ok(match s.reseal_b64(SERVICE_TOKEN_AAD, &rec.token)? {
                None => None,
                Some(t) => {
                    rec.token = t;
                    Some(encode(&rec)?)
                }
            })
        }
        [
            (
                &self.links,
                Sealed {
                    kind: "links",
                    reseal: link,
                },
            ),
            (
                &self.auth,
                Sealed {
                    kind: "pending authorizations",
                    reseal: auth,
                },
            ),
            (
                &self.identity,
                Sealed {
                    kind: "links awaiting the Discord proof",
                    reseal: confirm,
                },
            ),
            (
                &self.confirm,
                Sealed {
                    kind: "links awaiting confirmation",
                    reseal: confirm,
                },
            ),
            (
                &self.drafts,
                Sealed {
                    kind: "drafts",
                    reseal: draft,
                },
            ),
            (
                &self.searches,
                Sealed {
                    kind: "saved searches",
                    reseal: search,
                },
            ),
            (
                &self.meta,
                Sealed {
                    kind: "service token",
                    reseal: service,
                },
            ),
        ]
    }
}

#[cfg(test)]
#[path = "maintenance_tests.rs"]
mod tests;

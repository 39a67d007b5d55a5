//! [`NotifyStore`] on the sled database: six trees of their own.
//!
//! Names, keys and values of the `notify_*` trees are [`record`]'s; the personal-alert and
//! thread-save trees are this module's:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `personal_members/v1` | Discord user id BE | `{"v":1,"data":MemberAlerts}` |
//! | `personal_asked/v1` | target key ‖ 0 ‖ question id BE | `{"v":1,"data":AskedQuestion}` |
//! | `personal_experts/v1` | target key ‖ 0 ‖ tag id BE | `{"v":1,"data":TagExperts}` |
//! | `personal_outbox/v1` | entry id u64 BE (`generate_id`) | `{"v":1,"data":PersonalEntry}` |
//! | `thread_saves/v1` | save id (random handle) | `{"v":1,"data":ThreadSave}` |
//!
//! Multi-record changes (a rule and its number, a poll's state and its cards, an entry's
//! removal and its sent record) are sled transactions; each is flushed before returning.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sled::transaction::ConflictableTransactionError;
use sled::{Db, Transactional, Tree};

use super::{io, tx_err, SledStore};
use crate::commands::thread_save::ThreadSave;
use crate::notify::model::{ChannelNotify, Delivered, OutboxEntry, TargetState};
use crate::notify::personal::{AskedQuestion, MemberAlerts, PersonalEntry, TagExperts};
use crate::notify::rule::{Rule, RuleError};
use crate::store::notify::NotifyStore;
use crate::store::personal::PersonalStore;
use crate::store::record::{
    channel_key, dec, enc, outbox_key, rule_key, sent_key, seq_key, TREE_NOTIFY_CHANNELS,
    TREE_NOTIFY_META, TREE_NOTIFY_OUTBOX, TREE_NOTIFY_RULES, TREE_NOTIFY_SENT, TREE_NOTIFY_TARGETS,
};
use crate::store::saves::ThreadSaveStore;
use crate::store::{StoreError, StoreResult};

const TREE_RULES: &str = TREE_NOTIFY_RULES;
const TREE_META: &str = TREE_NOTIFY_META;
const TREE_TARGETS: &str = TREE_NOTIFY_TARGETS;
const TREE_OUTBOX: &str = TREE_NOTIFY_OUTBOX;
const TREE_SENT: &str = TREE_NOTIFY_SENT;
const TREE_CHANNELS: &str = TREE_NOTIFY_CHANNELS;
const TREE_MEMBERS: &str = crate::store::record::TREE_PERSONAL_MEMBERS;
const TREE_ASKED: &str = crate::store::record::TREE_PERSONAL_ASKED;
const TREE_EXPERTS: &str = crate::store::record::TREE_PERSONAL_EXPERTS;
const TREE_PERSONAL_OUTBOX: &str = crate::store::record::TREE_PERSONAL_OUTBOX;
const TREE_SAVES: &str = crate::store::record::TREE_THREAD_SAVES;

/// The notification trees, opened with the store.
pub(super) struct NotifyTrees {
    rules: Tree,
    meta: Tree,
    targets: Tree,
    outbox: Tree,
    sent: Tree,
    channels: Tree,
    members: Tree,
    asked: Tree,
    experts: Tree,
    personal_outbox: Tree,
    saves: Tree,
}

impl NotifyTrees {
    /// The trees by name (for backup and restore).
    pub(super) fn trees(&self) -> [(&'static str, &Tree); 11] {
        [
            (TREE_RULES, &self.rules),
            (TREE_META, &self.meta),
            (TREE_TARGETS, &self.targets),
            (TREE_OUTBOX, &self.outbox),
            (TREE_SENT, &self.sent),
            (TREE_CHANNELS, &self.channels),
            (TREE_MEMBERS, &self.members),
            (TREE_ASKED, &self.asked),
            (TREE_EXPERTS, &self.experts),
            (TREE_PERSONAL_OUTBOX, &self.personal_outbox),
            (TREE_SAVES, &self.saves),
        ]
    }

    /// Opens (or creates) the trees.
    pub(super) fn open(db: &Db) -> StoreResult<Self> {
        let tree = |name: &str| db.open_tree(name).map_err(io);
        Ok(Self {
            rules: tree(TREE_RULES)?,
            meta: tree(TREE_META)?,
            targets: tree(TREE_TARGETS)?,
            outbox: tree(TREE_OUTBOX)?,
            sent: tree(TREE_SENT)?,
            channels: tree(TREE_CHANNELS)?,
            members: tree(TREE_MEMBERS)?,
            asked: tree(TREE_ASKED)?,
            experts: tree(TREE_EXPERTS)?,
            personal_outbox: tree(TREE_PERSONAL_OUTBOX)?,
            saves: tree(TREE_SAVES)?,
        })
    }
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

impl SledStore {
    fn decode_all<T: DeserializeOwned>(
        tree: &Tree,
        what: &str,
        prefix: &[u8],
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        for entry in tree.scan_prefix(prefix) {
            let (_, v) = entry.map_err(io)?;
            match dec(what, &v) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(what, error = %e, "skipping a corrupt record"),
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl NotifyStore for SledStore {
    async fn add_rule(&self, rule: &Rule) -> StoreResult<Rule> {
        let _gate = self.snapshot_gate.read_recursive();
        let t = &self.notify;
        let seq = seq_key(rule.guild);
        let stored = (&t.rules, &t.meta)
            .transaction(|(rules, meta)| {
                let last = match meta.get(&seq)? {
                    Some(raw) => u32::from_be_bytes(raw.as_ref().try_into().map_err(|_| {
                        abort(StoreError::Corrupt("a rule counter is not 4 bytes".into()))
                    })?),
                    None => 0,
                };
                let id = last
                    .checked_add(1)
                    .ok_or_else(|| abort(StoreError::Corrupt("rule numbers ran out".into())))?;
                let mut r = rule.clone();
                r.id = id;
                let bytes = enc("rule", &r).map_err(abort)?;
                rules.insert(&rule_key(r.guild, id), bytes)?;
                meta.insert(seq.as_slice(), &id.to_be_bytes())?;
                Ok(r)
            })
            .map_err(tx_err)?;
        self.flush_db()?;
        Ok(stored)
    }

    async fn rules_of(&self, guild: u64) -> StoreResult<Vec<Rule>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.rules, "rule", &guild.to_be_bytes())
    }

    async fn all_rules(&self) -> StoreResult<Vec<Rule>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.rules, "rule", &[])
    }

    async fn get_rule(&self, guild: u64, id: u32) -> StoreResult<Option<Rule>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.notify.rules.get(rule_key(guild, id)).map_err(io)? {
            None => Ok(None),
            Some(raw) => dec("rule", &raw).map(Some),
        }
    }

    async fn delete_rule(&self, guild: u64, id: u32) -> StoreResult<bool> {
        let _gate = self.snapshot_gate.read_recursive();
        let existed = self
            .notify
            .rules
            .remove(rule_key(guild, id))
            .map_err(io)?
            .is_some();
        if existed {
            self.flush_db()?;
        }
        Ok(existed)
    }

    async fn record_rule_outcome(
        &self,
        guild: u64,
        ids: &[u32],
        outcome: Result<DateTime<Utc>, RuleError>,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        for id in ids {
            let key = rule_key(guild, *id);
            loop {
                let Some(raw) = self.notify.rules.get(key).map_err(io)? else {
                    break;
                };
                let mut r: Rule = dec("rule", &raw)?;
                match &outcome {
                    Ok(at) => {
                        r.last_post_at = Some(*at);
                        r.last_error = None;
                    }
                    Err(e) => r.last_error = Some(e.clone()),
                }
                let new = enc("rule", &r)?;
                if self
                    .notify
                    .rules
                    .compare_and_swap(key, Some(raw), Some(new))
                    .map_err(io)?
                    .is_ok()
                {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn target_state(&self, target: &str) -> StoreResult<Option<TargetState>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.notify.targets.get(target.as_bytes()).map_err(io)? {
            None => Ok(None),
            Some(raw) => dec("poll state", &raw).map(Some),
        }
    }

    async fn target_states(&self) -> StoreResult<Vec<(String, TargetState)>> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut out = Vec::new();
        for entry in self.notify.targets.iter() {
            let (k, v) = entry.map_err(io)?;
            let key = String::from_utf8_lossy(&k).into_owned();
            match dec("poll state", &v) {
                Ok(s) => out.push((key, s)),
                Err(e) => tracing::warn!(error = %e, "skipping a corrupt poll state"),
            }
        }
        Ok(out)
    }

    async fn put_target_state(&self, target: &str, state: &TargetState) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = enc("poll state", state)?;
        self.notify
            .targets
            .insert(target.as_bytes(), bytes)
            .map_err(io)?;
        self.flush_db()
    }

    async fn commit_poll(
        &self,
        target: &str,
        state: &TargetState,
        mut entries: Vec<OutboxEntry>,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let _gate = self.snapshot_gate.read_recursive();
        // Ids and encodings before the transaction (its closure may run more than once).
        let mut encoded = Vec::with_capacity(entries.len());
        for e in &mut entries {
            e.id = self.db.generate_id().map_err(io)?;
            encoded.push((outbox_key(e.id), enc("outbox entry", e)?));
        }
        let state_bytes = enc("poll state", state)?;
        let t = &self.notify;
        (&t.targets, &t.outbox)
            .transaction(|(targets, outbox)| {
                targets.insert(target.as_bytes(), state_bytes.as_slice())?;
                for (k, v) in &encoded {
                    outbox.insert(k, v.as_slice())?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        self.flush_db()?;
        Ok(entries)
    }

    async fn outbox(&self) -> StoreResult<Vec<OutboxEntry>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.outbox, "outbox entry", &[])
    }

    async fn outbox_depth(&self) -> StoreResult<usize> {
        let _gate = self.snapshot_gate.read_recursive();
        Ok(self.notify.outbox.len())
    }

    async fn update_outbox(&self, entry: &OutboxEntry) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let key = outbox_key(entry.id);
        let new = enc("outbox entry", entry)?;
        loop {
            let Some(current) = self.notify.outbox.get(key).map_err(io)? else {
                return Ok(());
            };
            if self
                .notify
                .outbox
                .compare_and_swap(key, Some(current), Some(new.clone()))
                .map_err(io)?
                .is_ok()
            {
                return Ok(());
            }
        }
    }

    async fn complete_outbox(&self, ids: &[u64], sent: Option<&Delivered>) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let sent = match sent {
            Some(d) => Some((sent_key(d.channel, d.question_id), enc("sent card", d)?)),
            None => None,
        };
        let t = &self.notify;
        (&t.outbox, &t.sent)
            .transaction(|(outbox, sent_tree)| {
                for id in ids {
                    outbox.remove(&outbox_key(*id))?;
                }
                if let Some((k, v)) = &sent {
                    sent_tree.insert(k, v.as_slice())?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        self.flush_db()
    }

    async fn delivered(&self, channel: u64, question: i64) -> StoreResult<Option<Delivered>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self
            .notify
            .sent
            .get(sent_key(channel, question))
            .map_err(io)?
        {
            None => Ok(None),
            Some(raw) => dec("sent card", &raw).map(Some),
        }
    }

    async fn sweep_delivered(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut removed = 0;
        for entry in self.notify.sent.iter() {
            let (k, v) = entry.map_err(io)?;
            let stale = match dec::<Delivered>("sent card", &v) {
                Ok(d) => d.sent_at < before,
                Err(_) => true,
            };
            if stale
                && self
                    .notify
                    .sent
                    .compare_and_swap(&k, Some(&v), None::<&[u8]>)
                    .map_err(io)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn channel_notify(&self, channel: u64) -> StoreResult<ChannelNotify> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.notify.channels.get(channel_key(channel)).map_err(io)? {
            None => Ok(ChannelNotify::default()),
            Some(raw) => dec("channel settings", &raw),
        }
    }

    async fn put_channel_notify(&self, channel: u64, settings: &ChannelNotify) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = enc("channel settings", settings)?;
        self.notify
            .channels
            .insert(channel_key(channel), bytes)
            .map_err(io)?;
        self.flush_db()
    }
}

impl SledStore {
    /// Removes a member's alert settings, the questions they asked through the bot and their
    /// waiting DMs (not flushed: the caller flushes).
    pub(super) fn forget_member_sync(&self, user: u64) -> StoreResult<()> {
        let t = &self.notify;
        t.members.remove(user.to_be_bytes()).map_err(io)?;
        for entry in t.asked.iter() {
            let (k, v) = entry.map_err(io)?;
            if dec::<AskedQuestion>("asked question", &v).is_ok_and(|q| q.user == user) {
                t.asked.remove(k).map_err(io)?;
            }
        }
        for entry in t.personal_outbox.iter() {
            let (k, v) = entry.map_err(io)?;
            if dec::<PersonalEntry>("personal outbox entry", &v).is_ok_and(|e| e.user == user) {
                t.personal_outbox.remove(k).map_err(io)?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl PersonalStore for SledStore {
    async fn member_alerts(&self, user: u64) -> StoreResult<Option<MemberAlerts>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.notify.members.get(user.to_be_bytes()).map_err(io)? {
            None => Ok(None),
            Some(raw) => dec("member alerts", &raw).map(Some),
        }
    }

    async fn put_member_alerts(&self, alerts: &MemberAlerts) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = enc("member alerts", alerts)?;
        self.notify
            .members
            .insert(alerts.user.to_be_bytes(), bytes)
            .map_err(io)?;
        self.flush_db()
    }

    async fn all_member_alerts(&self) -> StoreResult<Vec<MemberAlerts>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.members, "member alerts", &[])
    }

    async fn forget_member(&self, user: u64) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.forget_member_sync(user)?;
        self.flush_db()
    }

    async fn record_asked(&self, asked: &AskedQuestion) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = enc("asked question", asked)?;
        self.notify
            .asked
            .insert(target_key(&asked.target, asked.question_id), bytes)
            .map_err(io)?;
        self.flush_db()
    }

    async fn asked_questions(&self, target: &str) -> StoreResult<Vec<AskedQuestion>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.asked, "asked question", &target_prefix(target))
    }

    async fn sweep_asked(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut removed = 0;
        for entry in self.notify.asked.iter() {
            let (k, v) = entry.map_err(io)?;
            let stale = match dec::<AskedQuestion>("asked question", &v) {
                Ok(q) => q.at < before,
                Err(_) => true,
            };
            if stale
                && self
                    .notify
                    .asked
                    .compare_and_swap(&k, Some(&v), None::<&[u8]>)
                    .map_err(io)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn tag_experts(&self, target: &str, tag: i64) -> StoreResult<Option<TagExperts>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self
            .notify
            .experts
            .get(target_key(target, tag))
            .map_err(io)?
        {
            None => Ok(None),
            Some(raw) => dec("tag experts", &raw).map(Some),
        }
    }

    async fn put_tag_experts(
        &self,
        target: &str,
        tag: i64,
        experts: &TagExperts,
    ) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = enc("tag experts", experts)?;
        self.notify
            .experts
            .insert(target_key(target, tag), bytes)
            .map_err(io)?;
        Ok(())
    }

    async fn commit_poll_personal(
        &self,
        target: &str,
        state: &TargetState,
        mut entries: Vec<OutboxEntry>,
        mut personal: Vec<PersonalEntry>,
    ) -> StoreResult<(Vec<OutboxEntry>, Vec<PersonalEntry>)> {
        let _gate = self.snapshot_gate.read_recursive();
        // Ids and encodings before the transaction (its closure may run more than once).
        let mut encoded = Vec::with_capacity(entries.len());
        for e in &mut entries {
            e.id = self.db.generate_id().map_err(io)?;
            encoded.push((e.id.to_be_bytes(), enc("outbox entry", e)?));
        }
        let mut encoded_personal = Vec::with_capacity(personal.len());
        for e in &mut personal {
            e.id = self.db.generate_id().map_err(io)?;
            encoded_personal.push((e.id.to_be_bytes(), enc("personal outbox entry", e)?));
        }
        let state_bytes = enc("poll state", state)?;
        let t = &self.notify;
        (&t.targets, &t.outbox, &t.personal_outbox)
            .transaction(|(targets, outbox, personal_outbox)| {
                targets.insert(target.as_bytes(), state_bytes.as_slice())?;
                for (k, v) in &encoded {
                    outbox.insert(k, v.as_slice())?;
                }
                for (k, v) in &encoded_personal {
                    personal_outbox.insert(k, v.as_slice())?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        self.flush_db()?;
        Ok((entries, personal))
    }

    async fn personal_outbox(&self) -> StoreResult<Vec<PersonalEntry>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.personal_outbox, "personal outbox entry", &[])
    }

    async fn update_personal(&self, entry: &PersonalEntry) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let key = entry.id.to_be_bytes();
        let new = enc("personal outbox entry", entry)?;
        loop {
            let Some(current) = self.notify.personal_outbox.get(key).map_err(io)? else {
                return Ok(());
            };
            if self
                .notify
                .personal_outbox
                .compare_and_swap(key, Some(current), Some(new.clone()))
                .map_err(io)?
                .is_ok()
            {
                return Ok(());
            }
        }
    }

    async fn complete_personal(&self, id: u64) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        self.notify
            .personal_outbox
            .remove(id.to_be_bytes())
            .map_err(io)?;
        self.flush_db()
    }
}

#[async_trait::async_trait]
impl ThreadSaveStore for SledStore {
    async fn put_save(&self, save: &ThreadSave) -> StoreResult<()> {
        let _gate = self.snapshot_gate.read_recursive();
        let bytes = enc("thread save", save)?;
        self.notify
            .saves
            .insert(save.id.as_bytes(), bytes)
            .map_err(io)?;
        self.flush_db()
    }

    async fn get_save(&self, id: &str) -> StoreResult<Option<ThreadSave>> {
        let _gate = self.snapshot_gate.read_recursive();
        match self.notify.saves.get(id.as_bytes()).map_err(io)? {
            None => Ok(None),
            Some(raw) => dec("thread save", &raw).map(Some),
        }
    }

    async fn all_saves(&self) -> StoreResult<Vec<ThreadSave>> {
        let _gate = self.snapshot_gate.read_recursive();
        Self::decode_all(&self.notify.saves, "thread save", &[])
    }

    async fn sweep_saves(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.snapshot_gate.read_recursive();
        let mut removed = 0;
        for entry in self.notify.saves.iter() {
            let (k, v) = entry.map_err(io)?;
            let stale = match dec::<ThreadSave>("thread save", &v) {
                Ok(s) => s.created_at < before,
                Err(_) => true,
            };
            if stale
                && self
                    .notify
                    .saves
                    .compare_and_swap(&k, Some(&v), None::<&[u8]>)
                    .map_err(io)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// `target ‖ 0 ‖ id BE`: per-target keys that scan by target.
fn target_key(target: &str, id: i64) -> Vec<u8> {
    let mut k = target.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn target_prefix(target: &str) -> Vec<u8> {
    if target.is_empty() {
        return Vec::new();
    }
    let mut k = target.as_bytes().to_vec();
    k.push(0);
    k
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::notify::model::Card;
    use crate::notify::rule::{parse_spec, ActivityKind, SubscribeOptions};
    use crate::store::cipher::Cipher;

    fn open(dir: &std::path::Path) -> SledStore {
        SledStore::open_at(dir, Cipher::for_testing(), 1 << 20).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn rule(guild: u64, channel: u64) -> Rule {
        Rule {
            guild,
            id: 0,
            channel,
            spec: parse_spec(&SubscribeOptions {
                tags: Some("rust"),
                ..Default::default()
            })
            .unwrap(),
            team: None,
            created_by: 9,
            created_at: t0(),
            last_post_at: None,
            last_error: None,
        }
    }

    fn entry(channel: u64, q: i64) -> OutboxEntry {
        OutboxEntry {
            id: 0,
            target: "main".into(),
            guild: 1,
            channel,
            rules: vec![1],
            card: Card {
                kind: ActivityKind::NewQuestion,
                question_id: q,
                answer_id: None,
                title: "t".into(),
                url: "u".into(),
                author: "a".into(),
                tags: vec!["rust".into()],
                score: 0,
                answer_count: 0,
                accepted: false,
                at: t0(),
            },
            queued_at: t0(),
            attempts: 0,
            next_attempt_at: t0(),
            last_error: None,
            folded: false,
        }
    }

    #[tokio::test]
    async fn rule_numbers_are_per_guild_and_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        assert_eq!(s.add_rule(&rule(1, 10)).await.unwrap().id, 1);
        assert_eq!(s.add_rule(&rule(1, 10)).await.unwrap().id, 2);
        assert_eq!(s.add_rule(&rule(2, 20)).await.unwrap().id, 1);
        assert!(s.delete_rule(1, 2).await.unwrap());
        assert!(!s.delete_rule(1, 2).await.unwrap());
        assert_eq!(s.add_rule(&rule(1, 10)).await.unwrap().id, 3);
        let ids: Vec<u32> = s.rules_of(1).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(s.all_rules().await.unwrap().len(), 3);
        let err = RuleError {
            message: "gone".into(),
            at: t0(),
        };
        s.record_rule_outcome(1, &[1, 2], Err(err.clone()))
            .await
            .unwrap();
        assert_eq!(
            s.get_rule(1, 1).await.unwrap().unwrap().last_error,
            Some(err)
        );
        s.record_rule_outcome(1, &[1], Ok(t0())).await.unwrap();
        let r = s.get_rule(1, 1).await.unwrap().unwrap();
        assert_eq!((r.last_error, r.last_post_at), (None, Some(t0())));
        assert_eq!(s.notify_health().await.unwrap().rule_errors.len(), 0);
    }

    #[tokio::test]
    async fn a_poll_and_its_cards_survive_a_reopen_and_leave_only_when_sent() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<u64> = {
            let s = open(dir.path());
            let state = TargetState {
                cursor: Some(t0()),
                ..Default::default()
            };
            let queued = s
                .commit_poll("main", &state, vec![entry(10, 1), entry(10, 2)])
                .await
                .unwrap();
            assert!(queued[0].id < queued[1].id);
            queued.iter().map(|e| e.id).collect()
        };
        let s = open(dir.path());
        assert_eq!(
            s.target_state("main").await.unwrap().unwrap().cursor,
            Some(t0())
        );
        let out = s.outbox().await.unwrap();
        assert_eq!(out.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
        assert_eq!(s.outbox_depth().await.unwrap(), 2);
        let sent = Delivered {
            channel: 10,
            question_id: 1,
            message_id: 77,
            card: out[0].card.clone(),
            sent_at: t0(),
        };
        s.complete_outbox(&[ids[0]], Some(&sent)).await.unwrap();
        assert_eq!(s.outbox_depth().await.unwrap(), 1);
        assert_eq!(s.delivered(10, 1).await.unwrap(), Some(sent));
        assert_eq!(s.sweep_delivered(t0()).await.unwrap(), 0);
        assert_eq!(
            s.sweep_delivered(t0() + chrono::Duration::seconds(1))
                .await
                .unwrap(),
            1
        );
        let health = s.notify_health().await.unwrap();
        assert_eq!(health.outbox_depth, 1);
        assert_eq!(health.targets.len(), 1);
        assert_eq!(
            s.channel_notify(10).await.unwrap(),
            ChannelNotify::default()
        );
    }
}

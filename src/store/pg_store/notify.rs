//! [`NotifyStore`], `PersonalStore` and `ThreadSaveStore` on PostgreSQL: the same `notify_*`,
//! `personal_*` and `thread_saves` trees as sled, as rows of `records`.
//!
//! A rule and its number, a poll's state and its cards, an entry's removal and its sent
//! record are each one transaction. Outbox ids come from the `outbox_ids` sequence, so they
//! increase across replicas and are never reused; the entry's key is the id big-endian, as in
//! sled, so key order is queue order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use super::{raw, PgStore};
use crate::commands::thread_save::ThreadSave;
use crate::notify::model::{ChannelNotify, Delivered, OutboxEntry, TargetState};
use crate::notify::personal::{AskedQuestion, MemberAlerts, PersonalEntry, TagExperts};
use crate::notify::rule::{Rule, RuleError};
use crate::store::notify::NotifyStore;
use crate::store::record::{self, Update};
use crate::store::{StoreError, StoreResult};

impl PgStore {
    /// Every record of `tree` under `prefix`, decoded; corrupt ones are skipped (logged).
    async fn decode_all<T: DeserializeOwned>(
        &self,
        tree: &str,
        what: &str,
        prefix: &[u8],
    ) -> StoreResult<Vec<T>> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for (_, v) in raw::scan(&mut c, tree, prefix).await? {
            match record::dec(what, &v) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(what, error = %e, "skipping a corrupt record"),
            }
        }
        Ok(out)
    }

    /// `n` fresh outbox ids, increasing.
    async fn outbox_ids(&self, n: usize) -> StoreResult<Vec<u64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut c = self.conn().await?;
        let mut ids: Vec<i64> =
            sqlx::query_scalar("SELECT nextval('outbox_ids') FROM generate_series(1, $1)")
                .bind(i64::try_from(n).unwrap_or(i64::MAX))
                .fetch_all(&mut *c)
                .await
                .map_err(raw::db_err)?;
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| {
                u64::try_from(id)
                    .map_err(|_| StoreError::Corrupt("the outbox sequence went negative".into()))
            })
            .collect()
    }

    /// Moves the outbox sequence past `id` (after a migration copied entries in).
    pub(crate) async fn advance_outbox_ids(&self, id: u64) -> StoreResult<()> {
        let id = i64::try_from(id).map_err(|_| {
            StoreError::Corrupt("an outbox id does not fit PostgreSQL's bigint".into())
        })?;
        let mut c = self.conn().await?;
        sqlx::query(
            "SELECT setval('outbox_ids', GREATEST($1, (SELECT last_value FROM outbox_ids)))",
        )
        .bind(id.max(1))
        .execute(&mut *c)
        .await
        .map_err(raw::db_err)?;
        Ok(())
    }
}

#[async_trait]
impl NotifyStore for PgStore {
    async fn add_rule(&self, rule: &Rule) -> StoreResult<Rule> {
        let seq = record::seq_key(rule.guild);
        let mut tx = self.begin().await?;
        let last = match raw::lock(&mut tx, record::TREE_NOTIFY_META, &seq).await? {
            Some(raw) => u32::from_be_bytes(
                raw.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a rule counter is not 4 bytes".into()))?,
            ),
            None => 0,
        };
        let id = last
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("rule numbers ran out".into()))?;
        let mut r = rule.clone();
        r.id = id;
        let bytes = record::enc("rule", &r)?;
        raw::put(
            &mut tx,
            record::TREE_NOTIFY_RULES,
            &record::rule_key(r.guild, id),
            &bytes,
        )
        .await?;
        raw::put(&mut tx, record::TREE_NOTIFY_META, &seq, &id.to_be_bytes()).await?;
        tx.commit().await.map_err(raw::db_err)?;
        Ok(r)
    }

    async fn rules_of(&self, guild: u64) -> StoreResult<Vec<Rule>> {
        self.decode_all(record::TREE_NOTIFY_RULES, "rule", &guild.to_be_bytes())
            .await
    }

    async fn all_rules(&self) -> StoreResult<Vec<Rule>> {
        self.decode_all(record::TREE_NOTIFY_RULES, "rule", &[])
            .await
    }

    async fn get_rule(&self, guild: u64, id: u32) -> StoreResult<Option<Rule>> {
        let mut c = self.conn().await?;
        match raw::get(
            &mut c,
            record::TREE_NOTIFY_RULES,
            &record::rule_key(guild, id),
        )
        .await?
        {
            None => Ok(None),
            Some(raw) => record::dec("rule", &raw).map(Some),
        }
    }

    async fn delete_rule(&self, guild: u64, id: u32) -> StoreResult<bool> {
        let mut c = self.conn().await?;
        raw::delete(
            &mut c,
            record::TREE_NOTIFY_RULES,
            &record::rule_key(guild, id),
        )
        .await
    }

    async fn record_rule_outcome(
        &self,
        guild: u64,
        ids: &[u32],
        outcome: Result<DateTime<Utc>, RuleError>,
    ) -> StoreResult<()> {
        for id in ids {
            let outcome = &outcome;
            self.update(
                record::TREE_NOTIFY_RULES,
                &record::rule_key(guild, *id),
                |cur| {
                    // A rule deleted meanwhile is skipped.
                    let Some(cur) = cur else {
                        return Ok(Update::Keep(()));
                    };
                    let mut r: Rule = record::dec("rule", cur)?;
                    match outcome {
                        Ok(at) => {
                            r.last_post_at = Some(*at);
                            r.last_error = None;
                        }
                        Err(e) => r.last_error = Some(e.clone()),
                    }
                    Ok(Update::Set(record::enc("rule", &r)?, ()))
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn target_state(&self, target: &str) -> StoreResult<Option<TargetState>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_NOTIFY_TARGETS, target.as_bytes()).await? {
            None => Ok(None),
            Some(raw) => record::dec("poll state", &raw).map(Some),
        }
    }

    async fn target_states(&self) -> StoreResult<Vec<(String, TargetState)>> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for (k, v) in raw::scan(&mut c, record::TREE_NOTIFY_TARGETS, &[]).await? {
            let key = String::from_utf8_lossy(&k).into_owned();
            match record::dec("poll state", &v) {
                Ok(s) => out.push((key, s)),
                Err(e) => tracing::warn!(error = %e, "skipping a corrupt poll state"),
            }
        }
        Ok(out)
    }

    async fn put_target_state(&self, target: &str, state: &TargetState) -> StoreResult<()> {
        let bytes = record::enc("poll state", state)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_NOTIFY_TARGETS,
            target.as_bytes(),
            &bytes,
        )
        .await
    }

    async fn commit_poll(
        &self,
        target: &str,
        state: &TargetState,
        mut entries: Vec<OutboxEntry>,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let ids = self.outbox_ids(entries.len()).await?;
        let mut encoded = Vec::with_capacity(entries.len());
        for (e, id) in entries.iter_mut().zip(ids) {
            e.id = id;
            encoded.push((record::outbox_key(id), record::enc("outbox entry", e)?));
        }
        let state_bytes = record::enc("poll state", state)?;
        let mut tx = self.begin().await?;
        raw::put(
            &mut tx,
            record::TREE_NOTIFY_TARGETS,
            target.as_bytes(),
            &state_bytes,
        )
        .await?;
        for (k, v) in &encoded {
            raw::put(&mut tx, record::TREE_NOTIFY_OUTBOX, k, v).await?;
        }
        tx.commit().await.map_err(raw::db_err)?;
        Ok(entries)
    }

    async fn outbox(&self) -> StoreResult<Vec<OutboxEntry>> {
        self.decode_all(record::TREE_NOTIFY_OUTBOX, "outbox entry", &[])
            .await
    }

    async fn outbox_depth(&self) -> StoreResult<usize> {
        let mut c = self.conn().await?;
        raw::count(&mut c, record::TREE_NOTIFY_OUTBOX).await
    }

    async fn update_outbox(&self, entry: &OutboxEntry) -> StoreResult<()> {
        let new = record::enc("outbox entry", entry)?;
        self.update(
            record::TREE_NOTIFY_OUTBOX,
            &record::outbox_key(entry.id),
            |cur| match cur {
                // Gone (sent meanwhile): nothing to update.
                None => Ok(Update::Keep(())),
                Some(_) => Ok(Update::Set(new, ())),
            },
        )
        .await
    }

    async fn complete_outbox(&self, ids: &[u64], sent: Option<&Delivered>) -> StoreResult<()> {
        let sent = match sent {
            Some(d) => Some((
                record::sent_key(d.channel, d.question_id),
                record::enc("sent card", d)?,
            )),
            None => None,
        };
        let mut tx = self.begin().await?;
        for id in ids {
            raw::delete(
                &mut tx,
                record::TREE_NOTIFY_OUTBOX,
                &record::outbox_key(*id),
            )
            .await?;
        }
        if let Some((k, v)) = &sent {
            raw::put(&mut tx, record::TREE_NOTIFY_SENT, k, v).await?;
        }
        tx.commit().await.map_err(raw::db_err)
    }

    async fn delivered(&self, channel: u64, question: i64) -> StoreResult<Option<Delivered>> {
        let mut c = self.conn().await?;
        match raw::get(
            &mut c,
            record::TREE_NOTIFY_SENT,
            &record::sent_key(channel, question),
        )
        .await?
        {
            None => Ok(None),
            Some(raw) => record::dec("sent card", &raw).map(Some),
        }
    }

    async fn sweep_delivered(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        let mut c = self.conn().await?;
        let mut removed = 0;
        for (k, v) in raw::due(&mut c, record::TREE_NOTIFY_SENT, before).await? {
            let stale = match record::dec::<Delivered>("sent card", &v) {
                Ok(d) => d.sent_at < before,
                Err(_) => true,
            };
            if stale && raw::delete_if(&mut c, record::TREE_NOTIFY_SENT, &k, &v).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn channel_notify(&self, channel: u64) -> StoreResult<ChannelNotify> {
        let mut c = self.conn().await?;
        match raw::get(
            &mut c,
            record::TREE_NOTIFY_CHANNELS,
            &record::channel_key(channel),
        )
        .await?
        {
            None => Ok(ChannelNotify::default()),
            Some(raw) => record::dec("channel settings", &raw),
        }
    }

    async fn put_channel_notify(&self, channel: u64, settings: &ChannelNotify) -> StoreResult<()> {
        let bytes = record::enc("channel settings", settings)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_NOTIFY_CHANNELS,
            &record::channel_key(channel),
            &bytes,
        )
        .await
    }
}

/// Removes every record of `tree` that `stale` calls stale (or that does not decode), each only
/// if it is unchanged since it was read. Returns how many.
async fn sweep_tree<T: DeserializeOwned>(
    store: &PgStore,
    tree: &str,
    what: &str,
    stale: impl Fn(&T) -> bool,
) -> StoreResult<usize> {
    let mut c = store.conn().await?;
    let mut removed = 0;
    for (k, v) in raw::scan(&mut c, tree, &[]).await? {
        let gone = record::dec::<T>(what, &v).map_or(true, |r| stale(&r));
        if gone && raw::delete_if(&mut c, tree, &k, &v).await? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes a member's alert settings, the questions they asked through the bot and their
/// waiting DMs, in the caller's transaction (`forget_member`, and `delete_link`: alerts stop
/// with the link, as on sled).
pub(super) async fn forget_member_in(conn: &mut PgConnection, user: u64) -> StoreResult<()> {
    raw::delete(conn, record::TREE_PERSONAL_MEMBERS, &user.to_be_bytes()).await?;
    for (k, v) in raw::scan(conn, record::TREE_PERSONAL_ASKED, &[]).await? {
        if record::dec::<AskedQuestion>("asked question", &v).is_ok_and(|q| q.user == user) {
            raw::delete(conn, record::TREE_PERSONAL_ASKED, &k).await?;
        }
    }
    for (k, v) in raw::scan(conn, record::TREE_PERSONAL_OUTBOX, &[]).await? {
        if record::dec::<PersonalEntry>("personal outbox entry", &v).is_ok_and(|e| e.user == user) {
            raw::delete(conn, record::TREE_PERSONAL_OUTBOX, &k).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl crate::store::personal::PersonalStore for PgStore {
    async fn member_alerts(&self, user: u64) -> StoreResult<Option<MemberAlerts>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_PERSONAL_MEMBERS, &user.to_be_bytes()).await? {
            None => Ok(None),
            Some(v) => record::dec("member alerts", &v).map(Some),
        }
    }

    async fn put_member_alerts(&self, alerts: &MemberAlerts) -> StoreResult<()> {
        let bytes = record::enc("member alerts", alerts)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_PERSONAL_MEMBERS,
            &alerts.user.to_be_bytes(),
            &bytes,
        )
        .await
    }

    async fn all_member_alerts(&self) -> StoreResult<Vec<MemberAlerts>> {
        self.decode_all(record::TREE_PERSONAL_MEMBERS, "member alerts", &[])
            .await
    }

    async fn forget_member(&self, user: u64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        forget_member_in(&mut tx, user).await?;
        tx.commit().await.map_err(raw::db_err)
    }

    async fn record_asked(&self, asked: &AskedQuestion) -> StoreResult<()> {
        let bytes = record::enc("asked question", asked)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_PERSONAL_ASKED,
            &record::target_key(&asked.target, asked.question_id),
            &bytes,
        )
        .await
    }

    async fn asked_questions(&self, target: &str) -> StoreResult<Vec<AskedQuestion>> {
        self.decode_all(
            record::TREE_PERSONAL_ASKED,
            "asked question",
            &record::target_prefix(target),
        )
        .await
    }

    async fn sweep_asked(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        sweep_tree(
            self,
            record::TREE_PERSONAL_ASKED,
            "asked question",
            |q: &AskedQuestion| q.at < before,
        )
        .await
    }

    async fn tag_experts(&self, target: &str, tag: i64) -> StoreResult<Option<TagExperts>> {
        let mut c = self.conn().await?;
        match raw::get(
            &mut c,
            record::TREE_PERSONAL_EXPERTS,
            &record::target_key(target, tag),
        )
        .await?
        {
            None => Ok(None),
            Some(v) => record::dec("tag experts", &v).map(Some),
        }
    }

    async fn put_tag_experts(
        &self,
        target: &str,
        tag: i64,
        experts: &TagExperts,
    ) -> StoreResult<()> {
        let bytes = record::enc("tag experts", experts)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_PERSONAL_EXPERTS,
            &record::target_key(target, tag),
            &bytes,
        )
        .await
    }

    async fn commit_poll_personal(
        &self,
        target: &str,
        state: &TargetState,
        mut entries: Vec<OutboxEntry>,
        mut personal: Vec<PersonalEntry>,
    ) -> StoreResult<(Vec<OutboxEntry>, Vec<PersonalEntry>)> {
        let ids = self.outbox_ids(entries.len() + personal.len()).await?;
        let mut ids = ids.into_iter();
        let mut encoded = Vec::with_capacity(entries.len());
        for e in &mut entries {
            e.id = ids
                .next()
                .ok_or_else(|| StoreError::Corrupt("too few outbox ids".into()))?;
            encoded.push((record::outbox_key(e.id), record::enc("outbox entry", e)?));
        }
        let mut encoded_personal = Vec::with_capacity(personal.len());
        for e in &mut personal {
            e.id = ids
                .next()
                .ok_or_else(|| StoreError::Corrupt("too few outbox ids".into()))?;
            encoded_personal.push((e.id.to_be_bytes(), record::enc("personal outbox entry", e)?));
        }
        let state_bytes = record::enc("poll state", state)?;
        let mut tx = self.begin().await?;
        raw::put(
            &mut tx,
            record::TREE_NOTIFY_TARGETS,
            target.as_bytes(),
            &state_bytes,
        )
        .await?;
        for (k, v) in &encoded {
            raw::put(&mut tx, record::TREE_NOTIFY_OUTBOX, k, v).await?;
        }
        for (k, v) in &encoded_personal {
            raw::put(&mut tx, record::TREE_PERSONAL_OUTBOX, k, v).await?;
        }
        tx.commit().await.map_err(raw::db_err)?;
        Ok((entries, personal))
    }

    async fn personal_outbox(&self) -> StoreResult<Vec<PersonalEntry>> {
        self.decode_all(record::TREE_PERSONAL_OUTBOX, "personal outbox entry", &[])
            .await
    }

    async fn update_personal(&self, entry: &PersonalEntry) -> StoreResult<()> {
        let new = record::enc("personal outbox entry", entry)?;
        self.update(
            record::TREE_PERSONAL_OUTBOX,
            &entry.id.to_be_bytes(),
            |cur| match cur {
                None => Ok(Update::Keep(())),
                Some(_) => Ok(Update::Set(new, ())),
            },
        )
        .await
    }

    async fn complete_personal(&self, id: u64) -> StoreResult<()> {
        let mut c = self.conn().await?;
        raw::delete(&mut c, record::TREE_PERSONAL_OUTBOX, &id.to_be_bytes()).await?;
        Ok(())
    }
}

#[async_trait]
impl crate::store::saves::ThreadSaveStore for PgStore {
    async fn put_save(&self, save: &ThreadSave) -> StoreResult<()> {
        let bytes = record::enc("thread save", save)?;
        let mut c = self.conn().await?;
        raw::put(
            &mut c,
            record::TREE_THREAD_SAVES,
            save.id.as_bytes(),
            &bytes,
        )
        .await
    }

    async fn get_save(&self, id: &str) -> StoreResult<Option<ThreadSave>> {
        let mut c = self.conn().await?;
        match raw::get(&mut c, record::TREE_THREAD_SAVES, id.as_bytes()).await? {
            None => Ok(None),
            Some(v) => record::dec("thread save", &v).map(Some),
        }
    }

    async fn all_saves(&self) -> StoreResult<Vec<ThreadSave>> {
        self.decode_all(record::TREE_THREAD_SAVES, "thread save", &[])
            .await
    }

    async fn sweep_saves(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        sweep_tree(
            self,
            record::TREE_THREAD_SAVES,
            "thread save",
            |s: &ThreadSave| s.created_at < before,
        )
        .await
    }
}

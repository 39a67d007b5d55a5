//! The stored form of every record, shared by every [`super::Store`] backend: tree names, key
//! encodings, the JSON records with their format version, the associated data that binds each
//! sealed blob to its owner, and the conversions between domain types and records (sealing and
//! unsealing with [`Cipher`]), plus the decisions that compare-and-swap updates make on a
//! stored value (claims, rate buckets, link status).
//!
//! Invariant: a backend that stores these bytes under these keys and tree names holds exactly
//! what another backend holds for the same state, so a record can be copied between backends
//! as it is (still sealed) and opens there. Nothing here touches a database; nothing here
//! changes a byte format (the sled store's layout table is the reference, see
//! `sled_store.rs`). Sealing always happens before a backend's transaction starts (a
//! transaction closure may re-run, and a re-run must not seal again with a fresh nonce).
//!
//! Layout (names carry a format version):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `links/v1` | Discord user id, u64 big-endian | [`LinkRecord`], token sealed |
//! | `tickets/v1` | SHA-256 of the ticket | [`TicketRecord`] |
//! | `auth/v1` | SHA-256 of the OAuth `state` | [`AuthRecord`], verifier sealed |
//! | `auth_by_user/v1` | user id, u64 BE | the `state` hash of the member's one pending authorization |
//! | `identity/v1` | SHA-256 of the Discord OAuth `state` | [`ConfirmRecord`] awaiting the Discord proof |
//! | `confirm/v1` | SHA-256 of the form token | [`ConfirmRecord`] awaiting confirmation |
//! | `drafts/v1` | user id, u64 BE ‖ draft id | [`DraftRecord`]: expiry in clear, the whole `Draft` sealed |
//! | `searches/v1` | user id, u64 BE ‖ handle | [`SearchRecord`]: expiry and creation in clear, the whole `SavedSearch` sealed |
//! | `writes/v1` | claim key (UTF-8) | [`WriteRecord`] |
//! | `rates/v1` | bucket key (UTF-8) | [`RateRecord`] |
//! | `guilds/v1` | guild id, u64 BE | [`GuildRecord`] |
//! | `notify_rules/v1` | guild id BE ‖ rule number u32 BE | `{"v":1,"data":Rule}` |
//! | `notify_meta/v1` | `rule_seq` ‖ guild id BE | the guild's last rule number, u32 BE |
//! | `notify_targets/v1` | target key (`main`, `team:<slug>`) | `{"v":1,"data":TargetState}` |
//! | `notify_outbox/v1` | entry id u64 BE (monotonic) | `{"v":1,"data":OutboxEntry}` |
//! | `notify_sent/v1` | channel id BE ‖ question id BE | `{"v":1,"data":Delivered}` |
//! | `notify_channels/v1` | channel id BE | `{"v":1,"data":ChannelNotify}` |
//! | `meta` | `schema_version`, `key_canary`, `service_token` | u32 BE; sealed canary; [`ServiceTokenRecord`] |
//!
//! Values are JSON objects with a version field `"v": 1`. Sealed blobs (see [`Cipher`]) are
//! base64 strings inside them, with associated data that names their owner:
//! `link-token/v1:<user id>` (the same blob is valid in the member's confirmation and link
//! records and nowhere else), `pkce/v1:<state hash>`, `draft/v1:<user id>:<draft id>`,
//! `search/v1:<user id>:<handle>`, `service-token/v1`, and `canary` for the key canary (stored
//! as the raw blob, not JSON).

use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::cipher::Cipher;
use super::{
    Allowance, DiscordUserId, Draft, GuildSettings, Link, LinkStatus, LinkTicket, PendingAuth,
    PendingConfirm, RateBucket, SavedSearch, StoreError, StoreResult, VerifiedDiscord, WriteClaim,
    ABANDONED_CLAIM_SWEEP_SECS, CLAIM_STALE_SECS, WRITE_CLAIM_TTL_SECS,
};
use crate::soe::{Id, ServiceToken, UserToken};

// ---------------------------------------------------------------- tree names and meta keys

pub(crate) const TREE_LINKS: &str = "links/v1";
pub(crate) const TREE_TICKETS: &str = "tickets/v1";
pub(crate) const TREE_AUTH: &str = "auth/v1";
pub(crate) const TREE_AUTH_BY_USER: &str = "auth_by_user/v1";
pub(crate) const TREE_IDENTITY: &str = "identity/v1";
pub(crate) const TREE_CONFIRM: &str = "confirm/v1";
pub(crate) const TREE_DRAFTS: &str = "drafts/v1";
pub(crate) const TREE_SEARCHES: &str = "searches/v1";
pub(crate) const TREE_WRITES: &str = "writes/v1";
pub(crate) const TREE_RATES: &str = "rates/v1";
pub(crate) const TREE_GUILDS: &str = "guilds/v1";
pub(crate) const TREE_META: &str = "meta";

pub(crate) const TREE_NOTIFY_RULES: &str = "notify_rules/v1";
pub(crate) const TREE_NOTIFY_META: &str = "notify_meta/v1";
pub(crate) const TREE_NOTIFY_TARGETS: &str = "notify_targets/v1";
pub(crate) const TREE_NOTIFY_OUTBOX: &str = "notify_outbox/v1";
pub(crate) const TREE_NOTIFY_SENT: &str = "notify_sent/v1";
pub(crate) const TREE_NOTIFY_CHANNELS: &str = "notify_channels/v1";
pub(crate) const TREE_PERSONAL_MEMBERS: &str = "personal_members/v1";
pub(crate) const TREE_PERSONAL_ASKED: &str = "personal_asked/v1";
pub(crate) const TREE_PERSONAL_EXPERTS: &str = "personal_experts/v1";
pub(crate) const TREE_PERSONAL_OUTBOX: &str = "personal_outbox/v1";
pub(crate) const TREE_THREAD_SAVES: &str = "thread_saves/v1";

/// Every tree name, in the order a backup lists them (the store's own trees, then
/// notifications').
pub(crate) const ALL_TREES: [&str; 23] = [
    TREE_LINKS,
    TREE_TICKETS,
    TREE_AUTH,
    TREE_AUTH_BY_USER,
    TREE_IDENTITY,
    TREE_CONFIRM,
    TREE_DRAFTS,
    TREE_SEARCHES,
    TREE_WRITES,
    TREE_RATES,
    TREE_GUILDS,
    TREE_META,
    TREE_NOTIFY_RULES,
    TREE_NOTIFY_META,
    TREE_NOTIFY_TARGETS,
    TREE_NOTIFY_OUTBOX,
    TREE_NOTIFY_SENT,
    TREE_NOTIFY_CHANNELS,
    TREE_PERSONAL_MEMBERS,
    TREE_PERSONAL_ASKED,
    TREE_PERSONAL_EXPERTS,
    TREE_PERSONAL_OUTBOX,
    TREE_THREAD_SAVES,
];

pub(crate) const META_SCHEMA_VERSION: &[u8] = b"schema_version";
pub(crate) const META_KEY_CANARY: &[u8] = b"key_canary";
pub(crate) const META_SERVICE_TOKEN: &[u8] = b"service_token";

pub(crate) const CANARY_AAD: &[u8] = b"canary";
pub(crate) const CANARY_PLAINTEXT: &[u8] = b"soe-bot key canary v1";
pub(crate) const SERVICE_TOKEN_AAD: &[u8] = b"service-token/v1";

/// Record format version inside every JSON value.
pub(crate) const RECORD_VERSION: u32 = 1;

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------- encoding helpers

/// A stored JSON record with a format version.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// What it is, for error messages.
    const WHAT: &'static str;
    fn version(&self) -> u32;
}

pub(crate) fn encode<R: Record>(record: &R) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(record)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a {} record: {e}", R::WHAT)))
}

pub(crate) fn decode<R: Record>(bytes: &[u8]) -> StoreResult<R> {
    let record: R = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{} record does not parse: {e}", R::WHAT)))?;
    if record.version() != RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "{} record has version {}, expected {RECORD_VERSION}",
            R::WHAT,
            record.version()
        )));
    }
    Ok(record)
}

pub(crate) fn b64_decode(s: &str) -> StoreResult<Vec<u8>> {
    B64.decode(s)
        .map_err(|_| StoreError::Corrupt("a sealed field is not base64".into()))
}

/// Seals `plaintext` bound to `aad` and returns the blob as base64 (how records hold it).
pub(crate) fn seal_b64(cipher: &Cipher, aad: &[u8], plaintext: &[u8]) -> StoreResult<String> {
    Ok(B64.encode(cipher.seal(aad, plaintext)?))
}

/// Opens a base64 blob sealed with `aad`.
pub(crate) fn open_b64(
    cipher: &Cipher,
    aad: &[u8],
    b64: &str,
) -> StoreResult<secrecy::zeroize::Zeroizing<Vec<u8>>> {
    cipher.open(aad, &b64_decode(b64)?)
}

/// The key canary blob sealed with the current key (stored raw under `meta/key_canary`).
pub(crate) fn seal_canary(cipher: &Cipher) -> StoreResult<Vec<u8>> {
    cipher.seal(CANARY_AAD, CANARY_PLAINTEXT)
}

/// Whether one of the cipher's keys opens the canary `blob`.
pub(crate) fn canary_opens(cipher: &Cipher, blob: &[u8]) -> bool {
    matches!(cipher.open(CANARY_AAD, blob), Ok(plain) if plain.as_slice() == CANARY_PLAINTEXT)
}

/// Re-seals the base64 blob `b64` under the current key when it names another key id; `None`
/// when it is already current.
pub(crate) fn reseal_b64(cipher: &Cipher, aad: &[u8], b64: &str) -> StoreResult<Option<String>> {
    let blob = b64_decode(b64)?;
    if Cipher::key_id_of(&blob) == Some(cipher.current_key_id()) {
        return Ok(None);
    }
    let plain = cipher.open(aad, &blob)?;
    Ok(Some(B64.encode(cipher.seal(aad, &plain)?)))
}

// ---------------------------------------------------------------- keys

pub(crate) fn user_key(user: DiscordUserId) -> [u8; 8] {
    user.to_be_bytes()
}

/// The key of a draft (and, with the handle as `id`, of a saved search).
pub(crate) fn draft_key(user: DiscordUserId, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&user.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The key of a saved search: the same shape as a draft's.
pub(crate) fn search_key(user: DiscordUserId, handle: &str) -> Vec<u8> {
    draft_key(user, handle)
}

/// The Discord user id at the start of a `links/v1`, `drafts/v1` or `searches/v1` key.
pub(crate) fn user_of_key(key: &[u8]) -> StoreResult<u64> {
    let bytes: [u8; 8] = key
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("a record key is too short".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// `notify_rules/v1`: guild id BE ‖ rule number BE.
pub(crate) fn rule_key(guild: u64, id: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&guild.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `notify_meta/v1`: the guild's rule counter.
pub(crate) fn seq_key(guild: u64) -> Vec<u8> {
    let mut k = b"rule_seq".to_vec();
    k.extend_from_slice(&guild.to_be_bytes());
    k
}

/// `notify_sent/v1`: channel id BE ‖ question id BE.
pub(crate) fn sent_key(channel: u64, question: i64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&channel.to_be_bytes());
    k[8..].copy_from_slice(&question.to_be_bytes());
    k
}

/// `notify_outbox/v1`: the entry id BE.
pub(crate) fn outbox_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// `notify_channels/v1`: the channel id BE.
pub(crate) fn channel_key(channel: u64) -> [u8; 8] {
    channel.to_be_bytes()
}

// ---------------------------------------------------------------- associated data

pub(crate) fn token_aad(user: DiscordUserId) -> Vec<u8> {
    format!("link-token/v1:{user}").into_bytes()
}

pub(crate) fn pkce_aad(state_hash: &[u8; 32]) -> Vec<u8> {
    let mut aad = b"pkce/v1:".to_vec();
    aad.extend_from_slice(state_hash);
    aad
}

pub(crate) fn draft_aad(user: DiscordUserId, id: &str) -> Vec<u8> {
    format!("draft/v1:{user}:{id}").into_bytes()
}

pub(crate) fn search_aad(user: DiscordUserId, handle: &str) -> Vec<u8> {
    format!("search/v1:{user}:{handle}").into_bytes()
}

/// A hash stored as hex; anything malformed becomes all zeros, which no browser's cookie
/// hashes to.
pub(crate) fn hash_from_hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if hex::decode_to_slice(s, &mut out).is_err() {
        out = [0u8; 32];
    }
    out
}

// ---------------------------------------------------------------- records

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LinkRecord {
    pub(crate) v: u32,
    pub(crate) discord_user: DiscordUserId,
    pub(crate) soe_user_id: Id,
    pub(crate) soe_user_name: String,
    pub(crate) soe_user_url: Option<String>,
    /// Base64 of the token sealed with AAD `link-token/v1:<discord_user>`.
    pub(crate) token: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) linked_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    pub(crate) status: LinkStatus,
}

impl Record for LinkRecord {
    const WHAT: &'static str = "link";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TicketRecord {
    pub(crate) v: u32,
    pub(crate) discord_user: DiscordUserId,
    #[serde(alias = "discord_name")]
    pub(crate) discord_username: String,
    #[serde(default)]
    pub(crate) guild_id: Option<u64>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl Record for TicketRecord {
    const WHAT: &'static str = "link ticket";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AuthRecord {
    pub(crate) v: u32,
    pub(crate) discord_user: DiscordUserId,
    #[serde(alias = "discord_name")]
    pub(crate) discord_username: String,
    #[serde(default)]
    pub(crate) guild_id: Option<u64>,
    /// Hex SHA-256 of the browser-binding cookie (empty in records from before it existed,
    /// which then match no browser).
    #[serde(default)]
    pub(crate) browser: String,
    /// Base64 of the PKCE verifier sealed with AAD `pkce/v1:<state hash>`.
    pub(crate) verifier: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl Record for AuthRecord {
    const WHAT: &'static str = "pending authorization";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ConfirmRecord {
    pub(crate) v: u32,
    /// Exactly what becomes the link record on confirmation.
    pub(crate) link: LinkRecord,
    #[serde(alias = "discord_name")]
    pub(crate) discord_username: String,
    #[serde(default)]
    pub(crate) guild_id: Option<u64>,
    /// Hex SHA-256 of the browser-binding cookie.
    #[serde(default)]
    pub(crate) browser: String,
    #[serde(default)]
    pub(crate) verified: Option<VerifiedDiscord>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl Record for ConfirmRecord {
    const WHAT: &'static str = "pending confirmation";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DraftRecord {
    pub(crate) v: u32,
    pub(crate) discord_user: DiscordUserId,
    pub(crate) id: String,
    /// In clear so the sweep needs no key.
    pub(crate) expires_at: DateTime<Utc>,
    /// Base64 of the JSON `Draft` sealed with AAD `draft/v1:<user>:<id>`.
    pub(crate) sealed: String,
}

impl Record for DraftRecord {
    const WHAT: &'static str = "draft";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WriteRecord {
    pub(crate) v: u32,
    /// When the claim was made (absent if an outcome was recorded without a claim).
    pub(crate) claimed_at: Option<DateTime<Utc>>,
    /// `None` while in progress; the reply text once done.
    pub(crate) outcome: Option<String>,
    /// When the outcome was recorded; the outcome expires [`WRITE_CLAIM_TTL_SECS`] later.
    /// Absent in records from before expiry existed: then `claimed_at` stands in.
    #[serde(default)]
    pub(crate) finished_at: Option<DateTime<Utc>>,
}

impl WriteRecord {
    /// Whether the sweep may drop it, and a new claim replace it, as of `now`.
    pub(crate) fn expired(&self, now: DateTime<Utc>) -> bool {
        match (&self.outcome, self.finished_at.or(self.claimed_at)) {
            (Some(_), Some(at)) => now - at > chrono::Duration::seconds(WRITE_CLAIM_TTL_SECS),
            (None, Some(at)) => now - at > chrono::Duration::seconds(ABANDONED_CLAIM_SWEEP_SECS),
            // No time at all: nothing can tell how old it is; it blocks nobody once gone.
            (_, None) => true,
        }
    }
}

impl Record for WriteRecord {
    const WHAT: &'static str = "write claim";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RateRecord {
    pub(crate) v: u32,
    pub(crate) tokens: f64,
    pub(crate) updated_at: DateTime<Utc>,
    /// When the bucket is full again if nobody takes from it: from then on it is idle, it
    /// behaves exactly like a missing bucket, and the sweep drops it. Absent in records from
    /// before the sweep knew buckets: then [`IDLE_BUCKET_FALLBACK_SECS`] after `updated_at`.
    #[serde(default)]
    pub(crate) full_at: Option<DateTime<Utc>>,
}

impl RateRecord {
    /// Whether the bucket is full again (idle) at `now`.
    pub(crate) fn idle(&self, now: DateTime<Utc>) -> bool {
        let full_at = self.full_at.unwrap_or_else(|| {
            self.updated_at + chrono::Duration::seconds(IDLE_BUCKET_FALLBACK_SECS)
        });
        full_at <= now
    }
}

impl Record for RateRecord {
    const WHAT: &'static str = "rate bucket";
    fn version(&self) -> u32 {
        self.v
    }
}

/// For bucket records without `full_at`: a day, longer than any configured bucket takes to
/// refill in practice (asks: 3 × 10 minutes by default).
const IDLE_BUCKET_FALLBACK_SECS: i64 = 24 * 3600;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SearchRecord {
    pub(crate) v: u32,
    /// In clear so the per-member cap needs no key.
    pub(crate) created_at: DateTime<Utc>,
    /// In clear so the sweep needs no key.
    pub(crate) expires_at: DateTime<Utc>,
    /// Base64 of the JSON `SavedSearch` sealed with AAD `search/v1:<user>:<handle>`.
    pub(crate) sealed: String,
}

impl Record for SearchRecord {
    const WHAT: &'static str = "saved search";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct GuildRecord {
    pub(crate) v: u32,
    pub(crate) disabled_channels: Vec<u64>,
    #[serde(default)]
    pub(crate) enabled_channels: Vec<u64>,
    #[serde(default)]
    pub(crate) channel_teams: std::collections::BTreeMap<u64, crate::soe::TeamSlug>,
    #[serde(default)]
    pub(crate) channel_tags: std::collections::BTreeMap<u64, Vec<String>>,
    #[serde(default)]
    pub(crate) audit_channel: Option<u64>,
    #[serde(default)]
    pub(crate) cards_off: Vec<u64>,
}

impl Record for GuildRecord {
    const WHAT: &'static str = "guild settings";
    fn version(&self) -> u32 {
        self.v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ServiceTokenRecord {
    pub(crate) v: u32,
    /// Base64 of the token sealed with AAD `service-token/v1`.
    pub(crate) token: String,
}

impl Record for ServiceTokenRecord {
    const WHAT: &'static str = "service token";
    fn version(&self) -> u32 {
        self.v
    }
}

/// A notification record (`notify_*` trees): `{"v":1,"data":…}`.
#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    v: u32,
    data: T,
}

/// Encodes a notification record; `what` names it in errors.
pub(crate) fn enc<T: Serialize>(what: &str, data: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(&Versioned {
        v: RECORD_VERSION,
        data,
    })
    .map_err(|e| StoreError::Corrupt(format!("cannot encode a {what} record: {e}")))
}

/// Decodes a notification record; `what` names it in errors.
pub(crate) fn dec<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> StoreResult<T> {
    let r: Versioned<T> = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{what} record does not parse: {e}")))?;
    if r.v != RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "{what} record has version {}, expected {RECORD_VERSION}",
            r.v
        )));
    }
    Ok(r.data)
}

// ---------------------------------------------------------------- domain ⇄ record

/// The link record for `link`, its token sealed for the member.
pub(crate) fn link_record(cipher: &Cipher, link: &Link) -> StoreResult<LinkRecord> {
    Ok(LinkRecord {
        v: RECORD_VERSION,
        discord_user: link.discord_user,
        soe_user_id: link.soe_user_id,
        soe_user_name: link.soe_user_name.clone(),
        soe_user_url: link.soe_user_url.clone(),
        token: seal_b64(
            cipher,
            &token_aad(link.discord_user),
            link.token.secret().expose_secret().as_bytes(),
        )?,
        scopes: link.scopes.clone(),
        expires_at: link.expires_at,
        linked_at: link.linked_at,
        last_used_at: link.last_used_at,
        status: link.status,
    })
}

/// Unseals a link record found under `user`'s key. The AAD comes from the key, not from the
/// record, so a record moved under another member fails to open.
pub(crate) fn link_from_record(
    cipher: &Cipher,
    user: DiscordUserId,
    rec: LinkRecord,
) -> StoreResult<Link> {
    let plain = open_b64(cipher, &token_aad(user), &rec.token)?;
    let token = std::str::from_utf8(&plain)
        .map_err(|_| StoreError::Corrupt("a token is not UTF-8".into()))?;
    if rec.discord_user != user {
        return Err(StoreError::Corrupt(
            "link record stored under another member".into(),
        ));
    }
    Ok(Link {
        discord_user: user,
        soe_user_id: rec.soe_user_id,
        soe_user_name: rec.soe_user_name,
        soe_user_url: rec.soe_user_url,
        token: UserToken::new(SecretString::from(token)),
        scopes: rec.scopes,
        expires_at: rec.expires_at,
        linked_at: rec.linked_at,
        last_used_at: rec.last_used_at,
        status: rec.status,
    })
}

/// A link value found under `user`'s key, decoded and unsealed.
pub(crate) fn link_from_bytes(
    cipher: &Cipher,
    user: DiscordUserId,
    raw: &[u8],
) -> StoreResult<Link> {
    link_from_record(cipher, user, decode(raw)?)
}

/// The ticket's value.
pub(crate) fn ticket_bytes(ticket: &LinkTicket) -> StoreResult<Vec<u8>> {
    encode(&TicketRecord {
        v: RECORD_VERSION,
        discord_user: ticket.discord_user,
        discord_username: ticket.discord_username.clone(),
        guild_id: ticket.guild_id,
        created_at: ticket.created_at,
        expires_at: ticket.expires_at,
    })
}

/// A ticket value, decoded.
pub(crate) fn ticket_from_bytes(raw: &[u8]) -> StoreResult<LinkTicket> {
    let rec: TicketRecord = decode(raw)?;
    Ok(LinkTicket {
        discord_user: rec.discord_user,
        discord_username: rec.discord_username,
        guild_id: rec.guild_id,
        created_at: rec.created_at,
        expires_at: rec.expires_at,
    })
}

/// The value of a pending authorization stored under `state_hash`, its verifier sealed.
pub(crate) fn auth_bytes(
    cipher: &Cipher,
    state_hash: &[u8; 32],
    pending: &PendingAuth,
) -> StoreResult<Vec<u8>> {
    encode(&AuthRecord {
        v: RECORD_VERSION,
        discord_user: pending.discord_user,
        discord_username: pending.discord_username.clone(),
        guild_id: pending.guild_id,
        browser: hex::encode(pending.browser_hash),
        verifier: seal_b64(
            cipher,
            &pkce_aad(state_hash),
            pending.verifier.expose_secret().as_bytes(),
        )?,
        scopes: pending.scopes.clone(),
        created_at: pending.created_at,
        expires_at: pending.expires_at,
    })
}

/// Unseals an authorization record found under `state_hash`.
pub(crate) fn auth_from_record(
    cipher: &Cipher,
    state_hash: &[u8; 32],
    rec: AuthRecord,
) -> StoreResult<PendingAuth> {
    let plain = open_b64(cipher, &pkce_aad(state_hash), &rec.verifier)?;
    let verifier = std::str::from_utf8(&plain)
        .map_err(|_| StoreError::Corrupt("a PKCE verifier is not UTF-8".into()))?;
    Ok(PendingAuth {
        discord_user: rec.discord_user,
        discord_username: rec.discord_username,
        guild_id: rec.guild_id,
        browser_hash: hash_from_hex(&rec.browser),
        verifier: SecretString::from(verifier),
        scopes: rec.scopes,
        created_at: rec.created_at,
        expires_at: rec.expires_at,
    })
}

/// The draft's value: the whole draft sealed for its key.
pub(crate) fn draft_bytes(cipher: &Cipher, draft: &Draft) -> StoreResult<Vec<u8>> {
    let plain = secrecy::zeroize::Zeroizing::new(
        serde_json::to_vec(draft)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a draft: {e}")))?,
    );
    encode(&DraftRecord {
        v: RECORD_VERSION,
        discord_user: draft.discord_user,
        id: draft.id.clone(),
        expires_at: draft.expires_at,
        sealed: seal_b64(cipher, &draft_aad(draft.discord_user, &draft.id), &plain)?,
    })
}

/// Unseals a draft value found under `(user, id)`.
pub(crate) fn draft_from_bytes(
    cipher: &Cipher,
    user: DiscordUserId,
    id: &str,
    bytes: &[u8],
) -> StoreResult<Draft> {
    let rec: DraftRecord = decode(bytes)?;
    let plain = open_b64(cipher, &draft_aad(user, id), &rec.sealed)?;
    let draft: Draft = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("a draft does not parse: {e}")))?;
    if draft.discord_user != user || draft.id != id {
        return Err(StoreError::Corrupt("draft stored under another key".into()));
    }
    Ok(draft)
}

/// The value of a link awaiting the Discord proof or the confirmation, its token sealed.
pub(crate) fn confirm_bytes(cipher: &Cipher, pending: &PendingConfirm) -> StoreResult<Vec<u8>> {
    encode(&ConfirmRecord {
        v: RECORD_VERSION,
        link: link_record(cipher, &pending.link)?,
        discord_username: pending.discord_username.clone(),
        guild_id: pending.guild_id,
        browser: hex::encode(pending.browser_hash),
        verified: pending.verified.clone(),
        expires_at: pending.expires_at,
    })
}

/// A confirmation value, decoded and unsealed.
pub(crate) fn confirm_from_bytes(cipher: &Cipher, raw: &[u8]) -> StoreResult<PendingConfirm> {
    let rec: ConfirmRecord = decode(raw)?;
    let user = rec.link.discord_user;
    Ok(PendingConfirm {
        link: link_from_record(cipher, user, rec.link)?,
        discord_username: rec.discord_username,
        guild_id: rec.guild_id,
        browser_hash: hash_from_hex(&rec.browser),
        verified: rec.verified,
        expires_at: rec.expires_at,
    })
}

/// What confirming a confirmation value stores: the member, the link value (moved as it is,
/// no sealing: the confirmation holds the token sealed for the member's link record), and the
/// link unsealed (proving the bytes open).
pub(crate) fn confirmed_link(
    cipher: &Cipher,
    raw: &[u8],
) -> StoreResult<(DiscordUserId, Vec<u8>, Link)> {
    let rec: ConfirmRecord = decode(raw)?;
    let user = rec.link.discord_user;
    let bytes = encode(&rec.link)?;
    let link = link_from_record(cipher, user, rec.link)?;
    Ok((user, bytes, link))
}

/// The saved search's value: times in clear, the whole search sealed for its key.
pub(crate) fn search_bytes(cipher: &Cipher, search: &SavedSearch) -> StoreResult<Vec<u8>> {
    let plain = secrecy::zeroize::Zeroizing::new(
        serde_json::to_vec(search)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a search: {e}")))?,
    );
    encode(&SearchRecord {
        v: RECORD_VERSION,
        created_at: search.created_at,
        expires_at: search.expires_at,
        sealed: seal_b64(
            cipher,
            &search_aad(search.discord_user, &search.handle),
            &plain,
        )?,
    })
}

/// A saved search value found under `(user, handle)`: `None` if it expired as of `now`
/// (checked before unsealing), else unsealed.
pub(crate) fn search_from_bytes(
    cipher: &Cipher,
    user: DiscordUserId,
    handle: &str,
    raw: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<Option<SavedSearch>> {
    let rec: SearchRecord = decode(raw)?;
    if rec.expires_at <= now {
        return Ok(None);
    }
    let plain = open_b64(cipher, &search_aad(user, handle), &rec.sealed)?;
    let search: SavedSearch = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("a saved search does not parse: {e}")))?;
    if search.discord_user != user || search.handle != handle {
        return Err(StoreError::Corrupt(
            "search stored under another key".into(),
        ));
    }
    Ok(Some(search))
}

/// The guild's settings value.
pub(crate) fn guild_bytes(settings: &GuildSettings) -> StoreResult<Vec<u8>> {
    encode(&GuildRecord {
        v: RECORD_VERSION,
        disabled_channels: settings.disabled_channels.clone(),
        enabled_channels: settings.enabled_channels.clone(),
        channel_teams: settings.channel_teams.clone(),
        channel_tags: settings.channel_tags.clone(),
        audit_channel: settings.audit_channel,
        cards_off: settings.cards_off.clone(),
    })
}

/// A guild settings value, decoded.
pub(crate) fn guild_from_bytes(raw: &[u8]) -> StoreResult<GuildSettings> {
    let rec: GuildRecord = decode(raw)?;
    Ok(GuildSettings {
        disabled_channels: rec.disabled_channels,
        enabled_channels: rec.enabled_channels,
        channel_teams: rec.channel_teams,
        channel_tags: rec.channel_tags,
        audit_channel: rec.audit_channel,
        cards_off: rec.cards_off,
    })
}

/// The service token's value (`meta/service_token`), sealed.
pub(crate) fn service_token_bytes(cipher: &Cipher, token: &ServiceToken) -> StoreResult<Vec<u8>> {
    encode(&ServiceTokenRecord {
        v: RECORD_VERSION,
        token: seal_b64(
            cipher,
            SERVICE_TOKEN_AAD,
            token.secret().expose_secret().as_bytes(),
        )?,
    })
}

/// The service token value, decoded and unsealed.
pub(crate) fn service_token_from_bytes(cipher: &Cipher, raw: &[u8]) -> StoreResult<ServiceToken> {
    let rec: ServiceTokenRecord = decode(raw)?;
    let plain = open_b64(cipher, SERVICE_TOKEN_AAD, &rec.token)?;
    let token = std::str::from_utf8(&plain)
        .map_err(|_| StoreError::Corrupt("the service token is not UTF-8".into()))?;
    Ok(ServiceToken::new(SecretString::from(token)))
}

// ---------------------------------------------------------------- update decisions

/// What a compare-and-swap (or row-locked) update step decided about one stored value.
pub(crate) enum Update<R> {
    /// Leave the value as it is.
    Keep(R),
    /// Replace (or create) it.
    Set(Vec<u8>, R),
    /// Remove it.
    Remove(R),
}

/// [`super::Store::mark_link_expired`] on the link value `cur`: true when it changed.
pub(crate) fn link_expire_step(cur: Option<&[u8]>) -> StoreResult<Update<bool>> {
    let Some(cur) = cur else {
        return Ok(Update::Keep(false));
    };
    let mut rec: LinkRecord = decode(cur)?;
    if rec.status == LinkStatus::Expired {
        return Ok(Update::Keep(false));
    }
    rec.status = LinkStatus::Expired;
    Ok(Update::Set(encode(&rec)?, true))
}

/// [`super::Store::mark_link_write_refused`] on the link value `cur`: true when it changed.
pub(crate) fn link_write_refused_step(cur: Option<&[u8]>) -> StoreResult<Update<bool>> {
    let Some(cur) = cur else {
        return Ok(Update::Keep(false));
    };
    let mut rec: LinkRecord = decode(cur)?;
    if rec.status != LinkStatus::Active {
        return Ok(Update::Keep(false));
    }
    rec.status = LinkStatus::WriteRefused;
    Ok(Update::Set(encode(&rec)?, true))
}

/// [`super::Store::touch_link`] on the link value `cur`.
pub(crate) fn link_touch_step(cur: Option<&[u8]>, at: DateTime<Utc>) -> StoreResult<Update<()>> {
    let Some(cur) = cur else {
        return Ok(Update::Keep(()));
    };
    let mut rec: LinkRecord = decode(cur)?;
    rec.last_used_at = Some(at);
    if rec.status == LinkStatus::WriteRefused {
        rec.status = LinkStatus::Active;
    }
    Ok(Update::Set(encode(&rec)?, ()))
}

/// [`super::Store::claim_write`] on the claim value `cur`, as of `now`.
pub(crate) fn claim_step(
    cur: Option<&[u8]>,
    now: DateTime<Utc>,
) -> StoreResult<Update<WriteClaim>> {
    let fresh = || WriteRecord {
        v: RECORD_VERSION,
        claimed_at: Some(now),
        outcome: None,
        finished_at: None,
    };
    let Some(cur) = cur else {
        return Ok(Update::Set(encode(&fresh())?, WriteClaim::Claimed));
    };
    let rec: WriteRecord = decode(cur)?;
    let stale = rec
        .claimed_at
        .is_some_and(|at| now - at > chrono::Duration::seconds(CLAIM_STALE_SECS));
    match rec.outcome {
        // A claim left behind by a crash: take it over rather than block forever.
        None if stale => Ok(Update::Set(encode(&fresh())?, WriteClaim::Claimed)),
        None => Ok(Update::Keep(WriteClaim::InProgress)),
        // An old outcome no longer stands for this button (e.g. the vote was undone since):
        // the write may be made again.
        Some(_) if rec.expired(now) => Ok(Update::Set(encode(&fresh())?, WriteClaim::Claimed)),
        Some(outcome) => Ok(Update::Keep(WriteClaim::Done { outcome })),
    }
}

/// [`super::Store::finish_write`] with an outcome, on the claim value `cur`: the outcome
/// recorded as of `now`, keeping the claim's time.
pub(crate) fn finish_step(
    cur: Option<&[u8]>,
    outcome: &str,
    now: DateTime<Utc>,
) -> StoreResult<Update<()>> {
    let claimed_at = match cur {
        Some(cur) => decode::<WriteRecord>(cur).ok().and_then(|r| r.claimed_at),
        None => None,
    };
    let rec = WriteRecord {
        v: RECORD_VERSION,
        claimed_at,
        outcome: Some(outcome.to_string()),
        finished_at: Some(now),
    };
    Ok(Update::Set(encode(&rec)?, ()))
}

/// [`super::Store::forget_outcome`] on the claim value `cur`: true when it is dropped.
pub(crate) fn forget_step(cur: Option<&[u8]>) -> StoreResult<Update<bool>> {
    let Some(cur) = cur else {
        return Ok(Update::Keep(false));
    };
    match decode::<WriteRecord>(cur) {
        Ok(rec) if rec.outcome.is_none() => Ok(Update::Keep(false)),
        // An outcome, or a record nobody can read: either way it must not block.
        _ => Ok(Update::Remove(true)),
    }
}

/// [`super::Store::take_rate`] on the bucket value `cur` (`refill_secs` > 0), as of `now`.
/// Nothing changes on refusal: the stored bucket still describes the same state.
pub(crate) fn take_rate_step(
    cur: Option<&[u8]>,
    burst: u32,
    refill_secs: u64,
    now: DateTime<Utc>,
) -> StoreResult<Update<Allowance>> {
    let capacity = f64::from(burst);
    let refill = refill_secs as f64;
    let tokens = bucket_tokens(cur, capacity, refill, now)?;
    if has_token(tokens) {
        let rec = bucket_after_take(tokens, capacity, refill, now);
        Ok(Update::Set(encode(&rec)?, Allowance::Allowed))
    } else {
        Ok(Update::Keep(Allowance::RetryAfter(wait_secs(
            tokens,
            refill,
            refill_secs,
        ))))
    }
}

/// The buckets' new values (key, value) when [`take_rates_step`] takes from all of them.
pub(crate) type RateTakes<'k> = Vec<(&'k str, Vec<u8>)>;

/// [`super::Store::take_rates`] on the limited buckets (`refill_secs` > 0) with their current
/// values, as of `now`: the new values to write when every bucket has a token, or the longest
/// wait among those that refused (all or nothing: a refusal by one bucket takes from none).
pub(crate) fn take_rates_step<'k>(
    buckets: &[(&RateBucket<'k>, Option<&[u8]>)],
    now: DateTime<Utc>,
) -> StoreResult<Result<RateTakes<'k>, u64>> {
    let mut takes = Vec::with_capacity(buckets.len());
    let mut wait = 0;
    for (b, cur) in buckets {
        let capacity = f64::from(b.burst);
        let refill = b.refill_secs as f64;
        let tokens = bucket_tokens(*cur, capacity, refill, now)?;
        if has_token(tokens) {
            takes.push((b.key, bucket_after_take(tokens, capacity, refill, now)));
        } else {
            wait = wait.max(wait_secs(tokens, refill, b.refill_secs));
        }
    }
    if wait > 0 {
        return Ok(Err(wait));
    }
    let mut out = Vec::with_capacity(takes.len());
    for (key, rec) in takes {
        out.push((key, encode(&rec)?));
    }
    Ok(Ok(out))
}

/// The tokens of a bucket (capacity `capacity`, one token back every `refill` seconds) found
/// as `cur` in the store, refilled up to `now`.
pub(crate) fn bucket_tokens(
    cur: Option<&[u8]>,
    capacity: f64,
    refill: f64,
    now: DateTime<Utc>,
) -> StoreResult<f64> {
    Ok(match cur {
        None => capacity,
        Some(cur) => {
            let rec: RateRecord = decode(cur)?;
            let elapsed_ms = (now - rec.updated_at).num_milliseconds().max(0) as f64;
            let refilled = rec.tokens + elapsed_ms / 1000.0 / refill;
            // A clock that went backwards never grants tokens.
            if rec.tokens.is_finite() {
                refilled.clamp(0.0, capacity)
            } else {
                0.0
            }
        }
    })
}

/// The record after taking one token from `tokens` (which must hold at least one).
pub(crate) fn bucket_after_take(
    tokens: f64,
    capacity: f64,
    refill: f64,
    now: DateTime<Utc>,
) -> RateRecord {
    let left = (tokens - 1.0).max(0.0);
    let to_full_ms = ((capacity - left) * refill * 1000.0).ceil();
    let full_at = if to_full_ms.is_finite() && to_full_ms < i64::MAX as f64 {
        now.checked_add_signed(chrono::Duration::milliseconds(to_full_ms as i64))
    } else {
        None
    };
    RateRecord {
        v: RECORD_VERSION,
        tokens: left,
        updated_at: now,
        // An unrepresentable time: leave it to the fallback.
        full_at,
    }
}

/// Whether `tokens` hold one whole token (a tiny epsilon absorbs float error in the refill
/// arithmetic).
pub(crate) fn has_token(tokens: f64) -> bool {
    tokens + 1e-9 >= 1.0
}

/// Whole seconds until one token is back, at least 1.
pub(crate) fn wait_secs(tokens: f64, refill: f64, refill_secs: u64) -> u64 {
    // Milliseconds rounded first, so float noise cannot add a whole second.
    let wait_ms = ((1.0 - tokens) * refill * 1000.0).round();
    if wait_ms.is_finite() {
        (wait_ms as u64).div_ceil(1000).max(1)
    } else {
        refill_secs
    }
}

/// `target ‖ 0 ‖ id BE`: per-target keys that scan by target.
pub(crate) fn target_key(target: &str, id: i64) -> Vec<u8> {
    let mut k = target.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(crate) fn target_prefix(target: &str) -> Vec<u8> {
    if target.is_empty() {
        return Vec::new();
    }
    let mut k = target.as_bytes().to_vec();
    k.push(0);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_sealed_before_drafts_had_a_team_open_as_main_site_drafts() {
        let old = r#"{"id":"d1","discord_user":4,"guild_id":1,"channel_id":10,
            "content":{"kind":"ask","title":"A title","body":"A body","tags":["rust"]},
            "state":{"state":"saved","last_error":null},"post_after_link":false,
            "created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z"}"#;
        let draft: Draft = serde_json::from_str(old).expect("an old draft opens");
        assert_eq!((draft.id.as_str(), draft.team), ("d1", None));
    }

    #[test]
    fn guild_records_written_before_channel_teams_tags_and_audit_still_open() {
        let old = br#"{"v":1,"disabled_channels":[7],"enabled_channels":[8]}"#;
        let rec: GuildRecord = decode(old).expect("an old guild record opens");
        assert_eq!(
            (rec.disabled_channels, rec.enabled_channels),
            (vec![7], vec![8])
        );
        assert!(rec.channel_teams.is_empty() && rec.channel_tags.is_empty());
        assert_eq!(rec.audit_channel, None);
        assert!(rec.cards_off.is_empty(), "cards on everywhere");
    }
}

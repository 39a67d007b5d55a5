//! Durable state: member links, linking sessions, drafts, write outcomes, rate limits, guild
//! settings.
//!
//! [`Store`] speaks in domain records; [`SledStore`] implements it on one sled database with a
//! few fixed trees. Invariants:
//! - tokens, PKCE verifiers and draft text are sealed with XChaCha20-Poly1305 before they reach
//!   sled ([`cipher`]), with associated data that binds each blob to its owner's record, so a
//!   blob copied under another member fails to open; plaintext secrets never cross into sled;
//! - single-use records (tickets, OAuth states, confirmations) are consumed atomically: two
//!   concurrent consumers never both succeed;
//! - a write the member is told about is flushed to disk before the method returns;
//! - one process owns the database; a second gets [`StoreError::Locked`].

pub mod cipher;
mod sled_store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use sled_store::SledStore;

use crate::soe::{Id, ServiceToken, UserToken};

/// A Discord user id (snowflake).
pub type DiscordUserId = u64;

/// Storage failures, phrased for operators.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error("storage at {path} is in use by another process; stop the other soe-bot or use another storage.path")]
    Locked {
        /// The database path.
        path: String,
    },
    /// The configured key cannot open records sealed earlier (wrong key, or rotated without
    /// listing the old key in `storage.previous_keys`).
    #[error("storage.encryption_key cannot open the records in {path}: it is not the key they were sealed with; restore the right key or list the old one in storage.previous_keys")]
    WrongKey {
        /// The database path.
        path: String,
    },
    /// The on-disk schema is newer than this build understands.
    #[error("storage at {path} has schema version {found}, newer than this soe-bot ({supported}); upgrade soe-bot")]
    SchemaTooNew {
        /// The database path.
        path: String,
        /// Version on disk.
        found: u32,
        /// Version this build writes.
        supported: u32,
    },
    /// A sealed blob failed to open (tampered, moved, or sealed with an unknown key).
    #[error("a sealed record could not be opened")]
    Unseal,
    /// A record failed to (de)serialize.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
    /// sled or the filesystem failed.
    #[error("storage I/O failed: {0}")]
    Io(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// State of a member's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Usable.
    Active,
    /// SOE answered 401 to this token, or its known expiry passed: the member must link again.
    Expired,
    /// SOE refused a write with this token outright (a bare 403, no privilege named) although
    /// `write_access` was asked for: the site did not grant writing, most likely because the
    /// API application is still read-only. Writes are still tried (an admin may switch the
    /// application to Read-write); the next successful write makes the link Active again.
    WriteRefused,
}

/// A Discord member linked to an SOE user.
#[derive(Debug)]
pub struct Link {
    /// The Discord member.
    pub discord_user: DiscordUserId,
    /// The SOE user the token belongs to (from `/users/me` at link time).
    pub soe_user_id: Id,
    /// Their SOE display name, for "Posted as …".
    pub soe_user_name: String,
    /// Their SOE profile URL, if the site gave one.
    pub soe_user_url: Option<String>,
    /// The member's token. Sealed at rest.
    pub token: UserToken,
    /// Scopes granted (`write_access`, `no_expiry`).
    pub scopes: Vec<String>,
    /// When the token expires, if SOE said (`expires` seconds from the exchange).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the link was made.
    pub linked_at: DateTime<Utc>,
    /// Last time a write used the token.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Active or expired.
    pub status: LinkStatus,
}

/// A one-time ticket behind the `/so link` button (`/link/start?ticket=…`). Stored under the
/// SHA-256 of the ticket, so the raw ticket never reaches disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTicket {
    /// The member who asked to link.
    pub discord_user: DiscordUserId,
    /// Their Discord display name, for the confirmation page.
    pub discord_name: String,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// 15 minutes after issue.
    pub expires_at: DateTime<Utc>,
}

/// An OAuth authorization in flight, keyed by the SHA-256 of its `state`.
#[derive(Debug)]
pub struct PendingAuth {
    /// The member the authorization is for.
    pub discord_user: DiscordUserId,
    /// Their Discord display name.
    pub discord_name: String,
    /// The PKCE verifier. Sealed at rest.
    pub verifier: secrecy::SecretString,
    /// The scopes requested (comma-joined on the wire).
    pub scopes: Vec<String>,
    /// Start time.
    pub created_at: DateTime<Utc>,
    /// 10 minutes after start.
    pub expires_at: DateTime<Utc>,
}

/// A token obtained and verified, waiting for the browser's explicit confirmation (the
/// link-hijacking defence). Keyed by the SHA-256 of the one-time form token.
#[derive(Debug)]
pub struct PendingConfirm {
    /// What becomes the link on confirmation (status Active, last_used None).
    pub link: Link,
    /// The Discord display name shown on the page.
    pub discord_name: String,
    /// The confirmation page expires 10 minutes after the callback.
    pub expires_at: DateTime<Utc>,
}

/// What a draft would post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DraftContent {
    /// A question.
    Ask {
        /// Title.
        title: String,
        /// Markdown body.
        body: String,
        /// Tag names.
        tags: Vec<String>,
    },
    /// An answer.
    Answer {
        /// The question answered.
        question_id: Id,
        /// Markdown body.
        body: String,
    },
}

/// Where a draft stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DraftState {
    /// Kept, not yet posted (e.g. waiting for the member to link, or after a failed post).
    Saved {
        /// Why it was not posted, if a post failed (shown with Retry / Edit).
        last_error: Option<String>,
    },
    /// A post is under way; nobody else may start one.
    Posting {
        /// When the post started (a crash leaves this; after a timeout it may be retried
        /// only after checking the site).
        since: DateTime<Utc>,
    },
    /// Posted.
    Posted {
        /// The new post's URL.
        url: String,
        /// Whom it was posted as.
        posted_as: String,
    },
}

/// A member's unposted text. Sealed at rest (the whole record), with a TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// A random id (also the idempotency key of its post).
    pub id: String,
    /// The author.
    pub discord_user: DiscordUserId,
    /// Where it was written (for telling the member where it went).
    pub guild_id: Option<u64>,
    /// Channel it was written in.
    pub channel_id: Option<u64>,
    /// The text.
    pub content: DraftContent,
    /// Posting state.
    pub state: DraftState,
    /// Whether to post it automatically when the member finishes linking.
    pub post_after_link: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Removed after this.
    pub expires_at: DateTime<Utc>,
}

/// Seconds after which an unfinished write claim is considered abandoned (well past the SOE
/// client's total timeout).
pub const CLAIM_STALE_SECS: i64 = 120;

/// The outcome of claiming a one-shot write (see [`Store::claim_write`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WriteClaim {
    /// This caller owns the write and must perform it, then call [`Store::finish_write`].
    Claimed,
    /// Another caller is performing it.
    InProgress,
    /// It was done; here is what the member was told.
    Done {
        /// The reply text recorded when it finished.
        outcome: String,
    },
}

/// A token bucket's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Go ahead (one token taken).
    Allowed,
    /// Wait this many seconds.
    RetryAfter(u64),
}

/// Per-guild settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuildSettings {
    /// Channels where the bot is disabled (default: enabled everywhere).
    pub disabled_channels: Vec<u64>,
    /// Channels an admin explicitly enabled (shown to members in a disabled channel).
    pub enabled_channels: Vec<u64>,
}

/// The durable state, in domain terms. Methods are synchronous (sled is); callers on async
/// paths that must flush use `tokio::task::spawn_blocking` or accept the short block.
pub trait Store: Send + Sync {
    // ---- links
    /// The member's link, unsealed. A record that fails to open (moved, tampered, unknown key)
    /// is `Err(StoreError::Unseal)`; callers treat it as "link again".
    fn get_link(&self, user: DiscordUserId) -> StoreResult<Option<Link>>;
    /// Replaces the member's link (the old ciphertext is gone). Flushed.
    fn put_link(&self, link: &Link) -> StoreResult<()>;
    /// Marks the link expired (after a 401). Flushed.
    fn mark_link_expired(&self, user: DiscordUserId) -> StoreResult<()>;
    /// Records that SOE refused a write with the token outright ([`LinkStatus::WriteRefused`]);
    /// an expired link stays expired. Flushed.
    fn mark_link_write_refused(&self, user: DiscordUserId) -> StoreResult<()>;
    /// Records a successful write with the token (best effort, not flushed): `last_used_at`,
    /// and a [`LinkStatus::WriteRefused`] link is Active again.
    fn touch_link(&self, user: DiscordUserId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Forgets the link and every draft of the member. Flushed. True if a link existed.
    fn delete_link(&self, user: DiscordUserId) -> StoreResult<bool>;

    // ---- linking flow
    /// Stores a ticket under `ticket_hash`.
    fn put_ticket(&self, ticket_hash: [u8; 32], ticket: &LinkTicket) -> StoreResult<()>;
    /// Removes and returns the ticket (atomic single use), whatever its expiry.
    fn take_ticket(&self, ticket_hash: [u8; 32]) -> StoreResult<Option<LinkTicket>>;
    /// Stores an authorization in flight under `state_hash`, replacing any earlier one of the
    /// same member (at most one pending authorization per member).
    fn put_pending_auth(&self, state_hash: [u8; 32], pending: &PendingAuth) -> StoreResult<()>;
    /// Removes and returns it (atomic single use), whatever its expiry.
    fn take_pending_auth(&self, state_hash: [u8; 32]) -> StoreResult<Option<PendingAuth>>;
    /// Stores a token awaiting confirmation under `form_hash`.
    fn put_pending_confirm(&self, form_hash: [u8; 32], pending: &PendingConfirm)
        -> StoreResult<()>;
    /// Reads it without consuming (to render the confirmation page again).
    fn peek_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<Option<PendingConfirm>>;
    /// Removes a confirmation without linking (Cancel pressed, or expired). True if it existed.
    fn discard_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<bool>;
    /// Atomically consumes the confirmation and stores its link (one transaction), then flushes.
    /// `None` if it was already used or never existed. Expiry is the caller's check, made on
    /// the returned record before reporting success.
    fn confirm_link(&self, form_hash: [u8; 32]) -> StoreResult<Option<Link>>;
    /// Removes expired tickets, authorizations, confirmations and drafts. Returns how many.
    fn sweep_expired(&self, now: DateTime<Utc>) -> StoreResult<usize>;

    // ---- drafts
    /// Creates or replaces a draft (sealed). Flushed.
    fn put_draft(&self, draft: &Draft) -> StoreResult<()>;
    /// A draft by id, if it exists and belongs to `user`.
    fn get_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<Option<Draft>>;
    /// The member's drafts, oldest first.
    fn drafts_of(&self, user: DiscordUserId) -> StoreResult<Vec<Draft>>;
    /// Moves a draft from `Saved` to `Posting` atomically. Returns the draft when this caller
    /// won; `None` when it is already posting or posted (a double click, a retried
    /// interaction). Flushed.
    fn begin_posting(
        &self,
        user: DiscordUserId,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Draft>>;
    /// Removes a draft.
    fn delete_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<()>;
    /// Every member's drafts in [`DraftState::Posting`] (for recovery after a restart).
    /// Unreadable drafts are skipped.
    fn posting_drafts(&self) -> StoreResult<Vec<Draft>>;

    // ---- one-shot writes (votes, accepts; keyed by interaction id or button + member)
    /// Claims `key` for one write. The first caller gets `Claimed`; later callers see
    /// `InProgress` or `Done`. A claim older than [`CLAIM_STALE_SECS`] without an outcome
    /// (its process died mid-write) can be claimed again. Flushed.
    fn claim_write(&self, key: &str, now: DateTime<Utc>) -> StoreResult<WriteClaim>;
    /// Records the outcome of a claimed write (`Done`), or releases it when `outcome` is
    /// `None` (the write failed and may be tried again). Flushed.
    fn finish_write(&self, key: &str, outcome: Option<&str>) -> StoreResult<()>;
    /// Claims without an outcome, with when each was made (for recovery after a restart).
    fn unfinished_writes(&self) -> StoreResult<Vec<(String, Option<DateTime<Utc>>)>>;

    // ---- rate limits (token buckets that survive restarts)
    /// Takes one token from bucket `key` (capacity `burst`, one token back every
    /// `refill_secs`), as of `now`.
    fn take_rate(
        &self,
        key: &str,
        burst: u32,
        refill_secs: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance>;

    // ---- guild settings
    /// A guild's settings (default when none stored).
    fn guild_settings(&self, guild: u64) -> StoreResult<GuildSettings>;
    /// Replaces a guild's settings. Flushed.
    fn put_guild_settings(&self, guild: u64, settings: &GuildSettings) -> StoreResult<()>;

    // ---- the service token (when stored by `soe-bot service-token --store`)
    /// The stored service token, unsealed.
    fn service_token(&self) -> StoreResult<Option<ServiceToken>>;
    /// Stores the service token sealed. Flushed.
    fn put_service_token(&self, token: &ServiceToken) -> StoreResult<()>;

    /// Flushes everything to disk.
    fn flush(&self) -> StoreResult<()>;
}

//! Durable state: member links, linking sessions, drafts, saved searches, write outcomes, rate
//! limits, guild settings, and notifications (rules, poll state, outbox: [`notify`]).
//!
//! [`Store`] speaks in domain records. Two backends implement it on the same stored form
//! ([`record`]: tree names, keys, JSON records, sealed blobs): [`SledStore`] on one embedded
//! sled database (one process), and [`PgStore`] on PostgreSQL (any number of replicas), so a
//! record is the same bytes in both and [`copy`] moves a store between them as it is.
//! [`open::OpenStore`] opens the one `storage.backend` names. Invariants, on both:
//! - tokens, PKCE verifiers and draft text are sealed with XChaCha20-Poly1305 before they reach
//!   the database ([`cipher`]), with associated data that binds each blob to its owner's
//!   record, so a blob copied under another member fails to open; plaintext secrets never
//!   cross into storage;
//! - single-use records (tickets, OAuth states, confirmations) are consumed atomically: two
//!   concurrent consumers (threads, or replicas) never both succeed;
//! - a write the member is told about is durable before the method returns (flushed, or
//!   committed); the one exception, a `Posted` draft record, is rebuilt from the site after a
//!   crash (see [`Store::put_draft`]);
//! - with sled one process owns the database, and a second gets [`StoreError::Locked`].

pub mod cipher;
pub mod copy;
pub mod notify;
pub mod open;
pub mod personal;
pub mod pg_store;
pub(crate) mod record;
pub mod saves;
mod sled_store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use notify::NotifyStore;
pub use personal::PersonalStore;
pub use pg_store::PgStore;
pub use saves::ThreadSaveStore;
pub use sled_store::{Backup, RotationReport, SledStore, BACKUP_FORMAT, SCHEMA_VERSION};

use std::collections::BTreeMap;

use crate::soe::{Id, ServiceToken, TeamSlug, UserToken};

/// A Discord user id (snowflake).
pub type DiscordUserId = u64;

/// Sizes reported by [`Store::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Members with a stored link (any status).
    pub linked_members: usize,
    /// Drafts not posted yet.
    pub drafts_waiting: usize,
}

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

/// How many links are in each [`LinkStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Usable.
    pub active: usize,
    /// Must link again.
    pub expired: usize,
    /// The site refused a write with the token outright (read-only application?).
    pub write_refused: usize,
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
    /// Their Discord username (the unique `@handle`), never a nickname: anyone can set a
    /// nickname to someone else's name, so pages that name the member use this.
    pub discord_username: String,
    /// The server the member asked from (`None` in a DM), shown on the confirmation page.
    pub guild_id: Option<u64>,
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
    /// Their Discord username, from the ticket.
    pub discord_username: String,
    /// The server the member asked from, from the ticket.
    pub guild_id: Option<u64>,
    /// SHA-256 of the browser-binding cookie set by `/link/start`: only the browser holding the
    /// cookie may finish this authorization (RFC 9700 §2.1.1: bind the flow to the user agent).
    pub browser_hash: [u8; 32],
    /// The PKCE verifier. Sealed at rest.
    pub verifier: secrecy::SecretString,
    /// The scopes requested (comma-joined on the wire).
    pub scopes: Vec<String>,
    /// Start time.
    pub created_at: DateTime<Utc>,
    /// 10 minutes after start.
    pub expires_at: DateTime<Utc>,
}

/// The Discord account that Discord itself said was at the browser (OAuth2 `identify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedDiscord {
    /// The snowflake Discord returned; equal to the ticket's member, or nothing is stored.
    pub id: DiscordUserId,
    /// The username Discord returned.
    pub username: String,
}

/// An SOE token obtained and verified with `/users/me`, on its way to becoming a link. Kept
/// first while the browser proves its Discord account (keyed by the SHA-256 of the Discord
/// `state`), then while the page waits for the explicit Confirm (keyed by the SHA-256 of the
/// one-time form token).
#[derive(Debug)]
pub struct PendingConfirm {
    /// What becomes the link on confirmation (status Active, last_used None).
    pub link: Link,
    /// The member's Discord username, from the ticket.
    pub discord_username: String,
    /// The server the member asked from, from the ticket.
    pub guild_id: Option<u64>,
    /// SHA-256 of the browser-binding cookie; every later step checks it.
    pub browser_hash: [u8; 32],
    /// The Discord account proven at the browser; `None` before that step, or when an operator
    /// turned the check off (`link.verify_discord_identity = false`).
    pub verified: Option<VerifiedDiscord>,
    /// The step expires 10 minutes after it began.
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
    /// The channel that channel belongs to, when it was a thread (or forum post): per-channel
    /// settings such as post cards follow the parent.
    #[serde(default)]
    pub thread_parent: Option<u64>,
    /// The private team it is for: the team its channel was bound to (or the configured
    /// default team) when it was last saved. It is posted there, and an interrupted post is
    /// looked for there after a restart, whatever the channel is bound to by then. `None`:
    /// the main site (the configured default team, if any); drafts stored before this field
    /// existed read as `None`.
    #[serde(default)]
    pub team: Option<TeamSlug>,
    /// The text.
    pub content: DraftContent,
    /// Posting state.
    pub state: DraftState,
    /// Whether to post it automatically when the member finishes linking.
    pub post_after_link: bool,
    /// The Discord message it was written from ("Ask on …"), so the channel card about the
    /// post can reply to that message.
    #[serde(default)]
    pub source_message: Option<u64>,
    /// When the text is someone else's message: its author, and whether they consented to it
    /// being posted as theirs. The member who proposed it may post it as themself (quoted, with
    /// the author named) only after a decline or an unanswered wait.
    #[serde(default)]
    pub proposal: Option<Proposal>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Removed after this.
    pub expires_at: DateTime<Utc>,
}

/// Someone else's message, proposed for posting (see [`Draft::proposal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The message's author: the only one who may accept or decline.
    pub author_id: DiscordUserId,
    /// Their display name when proposed, for the prompt and the quote's attribution.
    pub author_name: String,
    /// Their answer so far.
    pub consent: Consent,
    /// When the author was asked (the public prompt went out); `None` while the proposer is
    /// still choosing the question an answer is for.
    pub asked_at: Option<DateTime<Utc>>,
}

/// An author's answer to a [`Proposal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Not answered (yet).
    Pending,
    /// The author accepted: it is theirs to post, through their own link.
    Accepted,
    /// The author declined: the proposer may post it as themself, quoted and attributed.
    Declined,
}

/// A member's search, kept so the buttons of its results carry a short handle instead of the
/// query: Next, Prev and Share act on exactly what the member searched, however long. Sealed at
/// rest (a query can name internal things), with a TTL; a handle works only for its member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// A random handle (the buttons' state).
    pub handle: String,
    /// The member who searched (the only one whose buttons find it).
    pub discord_user: DiscordUserId,
    /// The query, in full.
    pub query: String,
    /// The tag filter, lower-cased.
    pub tag: Option<String>,
    /// The order of the results.
    pub sort: crate::soe::SearchSort,
    /// When it was searched (the oldest of a member's searches goes first past the cap).
    pub created_at: DateTime<Utc>,
    /// Its buttons stop working after this; the sweep removes it.
    pub expires_at: DateTime<Utc>,
}

/// Seconds a saved search keeps its buttons working: a day, well past the time a member
/// keeps a results message open.
pub const SEARCH_TTL_SECS: i64 = 24 * 3600;

/// Saved searches kept per member; a new one past this drops the member's oldest.
pub const SEARCHES_PER_MEMBER: usize = 50;

/// Seconds after which an unfinished write claim is considered abandoned (well past the SOE
/// client's total timeout).
pub const CLAIM_STALE_SECS: i64 = 120;

/// Seconds a finished write's outcome keeps answering "Already done" for the same button:
/// long enough to absorb double clicks and retried interactions, short enough that the same
/// vote after an undo (here or on the site) is made again. The sweep drops it afterwards.
pub const WRITE_CLAIM_TTL_SECS: i64 = 60;

/// Seconds after which the sweep drops a claim that never finished: a day past the point
/// where it could be taken over ([`CLAIM_STALE_SECS`]), so whatever looks at an interrupted
/// write has had ample time to.
pub const ABANDONED_CLAIM_SWEEP_SECS: i64 = CLAIM_STALE_SECS + 24 * 3600;

/// One token bucket of [`Store::take_rates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBucket<'a> {
    /// The bucket's key, e.g. `share:m:<user>`.
    pub key: &'a str,
    /// Capacity (and starting tokens).
    pub burst: u32,
    /// Seconds for one token to come back; 0 means no limit.
    pub refill_secs: u64,
}

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
    /// Channels bound to a private team (`/so-admin channel team`): searches, questions and
    /// posts from there go to the team's API base, and members need the team's grant.
    pub channel_teams: BTreeMap<u64, TeamSlug>,
    /// Default tags offered when asking from a channel (`/so-admin channel tags`).
    pub channel_tags: BTreeMap<u64, Vec<String>>,
    /// Where configuration changes and writes made through the bot are reported
    /// (`/so-admin audit-channel`); `None`: the log only.
    pub audit_channel: Option<u64>,
    /// Channels where members who post from there are not offered a public card about their
    /// post (`/so-admin channel cards off`); the card is offered everywhere else (default on).
    /// A thread follows its parent channel.
    pub cards_off: Vec<u64>,
}

impl GuildSettings {
    /// Whether members posting from `channel` (in a thread: its parent `parent`) are offered
    /// a public card about their post there.
    pub fn cards_on(&self, channel: u64, parent: Option<u64>) -> bool {
        !self.cards_off.contains(&channel) && !parent.is_some_and(|p| self.cards_off.contains(&p))
    }

    /// Every channel the guild's settings name (enabled, disabled, team-bound, with default
    /// tags, with post cards off, the audit channel), once each, in order.
    pub fn configured_channels(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .enabled_channels
            .iter()
            .chain(&self.disabled_channels)
            .chain(self.channel_teams.keys())
            .chain(self.channel_tags.keys())
            .chain(&self.cards_off)
            .chain(&self.audit_channel)
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The durable state, in domain terms. Methods are async, so a backend that talks to a
/// database server (PostgreSQL) awaits its I/O; [`SledStore`] does its sled calls inline (a
/// flush is a short block of the calling task). Callers that scan the whole store
/// (`sweep_expired`, `counts`) run them off the async workers.
#[async_trait::async_trait]
pub trait Store: NotifyStore + PersonalStore + ThreadSaveStore + Send + Sync {
    // ---- links
    /// The member's link, unsealed. A record that fails to open (moved, tampered, unknown key)
    /// is `Err(StoreError::Unseal)`; callers treat it as "link again".
    async fn get_link(&self, user: DiscordUserId) -> StoreResult<Option<Link>>;
    /// Replaces the member's link (the old ciphertext is gone). Flushed.
    async fn put_link(&self, link: &Link) -> StoreResult<()>;
    /// Marks the link expired (after a 401). Flushed.
    async fn mark_link_expired(&self, user: DiscordUserId) -> StoreResult<()>;
    /// Records that SOE refused a write with the token outright ([`LinkStatus::WriteRefused`]);
    /// an expired link stays expired. Flushed.
    async fn mark_link_write_refused(&self, user: DiscordUserId) -> StoreResult<()>;
    /// Records a successful write with the token (best effort, not flushed): `last_used_at`,
    /// and a [`LinkStatus::WriteRefused`] link is Active again.
    async fn touch_link(&self, user: DiscordUserId, at: DateTime<Utc>) -> StoreResult<()>;
    /// How many links are in each state (for `doctor`: links whose writes the site refused
    /// outright point at a read-only API application). Unreadable records are skipped.
    async fn link_counts(&self) -> StoreResult<LinkCounts>;
    /// Forgets the link, every draft of the member, every linking record in flight for them
    /// (tickets, authorizations, identity checks, confirmations) and their personal alerts
    /// (what [`PersonalStore::forget_member`] forgets, even when no link existed). Flushed.
    /// True if a link existed.
    async fn delete_link(&self, user: DiscordUserId) -> StoreResult<bool>;

    // ---- linking flow
    /// Stores a ticket under `ticket_hash`.
    async fn put_ticket(&self, ticket_hash: [u8; 32], ticket: &LinkTicket) -> StoreResult<()>;
    /// Removes and returns the ticket (atomic single use), whatever its expiry.
    async fn take_ticket(&self, ticket_hash: [u8; 32]) -> StoreResult<Option<LinkTicket>>;
    /// Stores an authorization in flight under `state_hash`, replacing any earlier one of the
    /// same member (at most one pending authorization per member).
    async fn put_pending_auth(
        &self,
        state_hash: [u8; 32],
        pending: &PendingAuth,
    ) -> StoreResult<()>;
    /// Removes and returns it (atomic single use), whatever its expiry.
    async fn take_pending_auth(&self, state_hash: [u8; 32]) -> StoreResult<Option<PendingAuth>>;
    /// Stores a token awaiting confirmation under `form_hash`.
    async fn put_pending_confirm(
        &self,
        form_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()>;
    /// Reads it without consuming (to render the confirmation page again).
    async fn peek_pending_confirm(
        &self,
        form_hash: [u8; 32],
    ) -> StoreResult<Option<PendingConfirm>>;
    /// Removes a confirmation without linking (Cancel pressed, or expired). True if it existed.
    async fn discard_pending_confirm(&self, form_hash: [u8; 32]) -> StoreResult<bool>;
    /// Stores a verified SOE token waiting for the browser's Discord proof, under the SHA-256
    /// of the Discord OAuth `state`.
    async fn put_pending_identity(
        &self,
        state_hash: [u8; 32],
        pending: &PendingConfirm,
    ) -> StoreResult<()>;
    /// Removes and returns it (atomic single use), whatever its expiry.
    async fn take_pending_identity(
        &self,
        state_hash: [u8; 32],
    ) -> StoreResult<Option<PendingConfirm>>;
    /// Atomically consumes the confirmation and stores its link (one transaction), then flushes.
    /// `None` if it was already used or never existed. Expiry is the caller's check, made on
    /// the returned record before reporting success.
    async fn confirm_link(&self, form_hash: [u8; 32]) -> StoreResult<Option<Link>>;
    /// Removes expired tickets, authorizations, confirmations and drafts, write outcomes past
    /// [`WRITE_CLAIM_TTL_SECS`], claims abandoned for [`ABANDONED_CLAIM_SWEEP_SECS`], and rate
    /// buckets that are full again (an idle bucket behaves exactly like a missing one).
    /// Returns how many.
    async fn sweep_expired(&self, now: DateTime<Utc>) -> StoreResult<usize>;

    // ---- drafts
    /// Creates or replaces a draft (sealed). Flushed, except the record of a post that
    /// succeeded ([`DraftState::Posted`]): the draft was flushed `Posting` before the post,
    /// and if the `Posted` record is lost in a crash, the startup recovery finds the post on
    /// the site and records it then, so nothing is posted twice and the member is told again.
    /// That saves the ask path one fsync.
    async fn put_draft(&self, draft: &Draft) -> StoreResult<()>;
    /// Creates `draft` unless its author already has `cap` open drafts (saved or posting, not
    /// expired at `now`; posted ones are history and do not count). A draft with the same id
    /// is replaced whatever the count. Creations are serialized, so concurrent submissions
    /// cannot overshoot the cap. True if stored (flushed), false if the cap refused it.
    async fn put_new_draft(&self, draft: &Draft, cap: u32, now: DateTime<Utc>)
        -> StoreResult<bool>;
    /// A draft by id, if it exists and belongs to `user`.
    async fn get_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<Option<Draft>>;
    /// The member's drafts, oldest first.
    async fn drafts_of(&self, user: DiscordUserId) -> StoreResult<Vec<Draft>>;
    /// Moves a draft from `Saved` to `Posting` atomically. Returns the draft when this caller
    /// won; `None` when it is already posting or posted (a double click, a retried
    /// interaction). Flushed.
    async fn begin_posting(
        &self,
        user: DiscordUserId,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Draft>>;
    /// Removes a draft.
    async fn delete_draft(&self, user: DiscordUserId, id: &str) -> StoreResult<()>;
    /// Every member's drafts in [`DraftState::Posting`] (for recovery after a restart).
    /// Unreadable drafts are skipped.
    async fn posting_drafts(&self) -> StoreResult<Vec<Draft>>;

    // ---- saved searches (the state behind a results message's buttons)
    /// Keeps `search` under its member and handle, dropping the member's oldest searches past
    /// [`SEARCHES_PER_MEMBER`]. Not flushed: a search lost in a crash only means searching
    /// again.
    async fn put_search(&self, search: &SavedSearch) -> StoreResult<()>;
    /// The member's search under `handle`, unless missing or expired as of `now`.
    async fn get_search(
        &self,
        user: DiscordUserId,
        handle: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SavedSearch>>;

    // ---- one-shot writes (votes, accepts; keyed by interaction id or button + member)
    /// Claims `key` for one write. The first caller gets `Claimed`; later callers see
    /// `InProgress` or `Done`. A claim older than [`CLAIM_STALE_SECS`] without an outcome
    /// (its process died mid-write) can be claimed again, and so can an outcome recorded more
    /// than [`WRITE_CLAIM_TTL_SECS`] ago. Flushed.
    async fn claim_write(&self, key: &str, now: DateTime<Utc>) -> StoreResult<WriteClaim>;
    /// Records the outcome of a claimed write (`Done`) as of `now`, or releases it when
    /// `outcome` is `None` (the write failed and may be tried again). Flushed.
    async fn finish_write(
        &self,
        key: &str,
        outcome: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Drops the outcome recorded under `key`, if any, so the write may be made again (a
    /// later write replaced what it did, e.g. a vote undone). A claim still in progress is
    /// left alone. Flushed when something was dropped.
    async fn forget_outcome(&self, key: &str) -> StoreResult<()>;
    /// Claims without an outcome, with when each was made (for recovery after a restart).
    async fn unfinished_writes(&self) -> StoreResult<Vec<(String, Option<DateTime<Utc>>)>>;

    // ---- rate limits (token buckets that survive restarts)
    /// Takes one token from bucket `key` (capacity `burst`, one token back every
    /// `refill_secs`), as of `now`.
    async fn take_rate(
        &self,
        key: &str,
        burst: u32,
        refill_secs: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance>;
    /// Takes one token from every bucket, or from none: `RetryAfter` is the longest wait
    /// among the buckets that refused (e.g. a member's and a channel's cooldown together, so
    /// a refusal by one never uses up the other).
    async fn take_rates(
        &self,
        buckets: &[RateBucket<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Allowance>;

    // ---- guild settings
    /// A guild's settings (default when none stored).
    async fn guild_settings(&self, guild: u64) -> StoreResult<GuildSettings>;
    /// Replaces a guild's settings. Flushed.
    async fn put_guild_settings(&self, guild: u64, settings: &GuildSettings) -> StoreResult<()>;

    // ---- the service token (when stored by `soe-bot service-token --store`)
    /// The stored service token, unsealed.
    async fn service_token(&self) -> StoreResult<Option<ServiceToken>>;
    /// Stores the service token sealed. Flushed.
    async fn put_service_token(&self, token: &ServiceToken) -> StoreResult<()>;

    /// How many members are linked and how many drafts wait to be posted (saved or being
    /// posted), for the metrics. Scans; meant for a once-a-minute gauge.
    async fn counts(&self) -> StoreResult<StoreCounts>;

    /// Flushes everything to disk.
    async fn flush(&self) -> StoreResult<()>;
}

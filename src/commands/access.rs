//! Who the bot serves, and where: the guild gate, DMs, and the admin roles.
//!
//! The service token reads a private site, so anyone who can talk to the bot can read it. The
//! bot therefore serves only the organisation's own Discord servers (`discord.allowed_guilds`),
//! whatever transport an invocation came through. Invariants:
//! - [`AccessGate::check`] runs first for every invocation, before the channel gate and before
//!   any SOE call; [`AccessGate::refuses_at_once`] lets the ack answer a refusal directly, so a
//!   refused interaction is never deferred into a use case;
//! - an invocation from a guild not in the list is refused, whoever installed the app there;
//! - an invocation outside the bot's guild install ([`Origin::Private`]: a DM, a group DM, a
//!   member's own install of the app) is refused unless `discord.allow_dms`; then it is served
//!   only to members of an allowed guild, asked of a [`MemberDirectory`] (Discord's REST API,
//!   supplied by the adapter) and remembered per user for minutes, both ways, by the injected
//!   clock; with no directory, or when Discord cannot answer, the member is refused for this
//!   call only and nothing is remembered;
//! - admin roles are matched by role id: a name can be copied by anyone who can create roles;
//! - refusals are short, private, and never mention anyone; autocomplete gets no choices.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};

use crate::clock::SharedClock;

use super::invocation::{Action, Invocation, Origin};
use super::reply::Reply;

/// How long a confirmed membership is trusted before Discord is asked again. Short enough that
/// someone who left the organisation's server loses DM access within minutes.
pub const MEMBER_TTL_MINUTES: i64 = 10;
/// How long a "not a member" answer is remembered: spares Discord's API from a stranger's
/// repeated DMs, while someone who just joined waits only a few minutes.
pub const NON_MEMBER_TTL_MINUTES: i64 = 3;
/// Most remembered answers; beyond it expired ones are dropped, then all (each costs only a
/// fresh look-up).
const MAX_REMEMBERED: usize = 10_000;

const FOREIGN_GUILD: &str =
    "soe-bot works only in its organisation's own Discord servers, so it does nothing here.";
const PRIVATE_OFF: &str = "soe-bot does not work in direct messages or through a personal install. Use it in your organisation's Discord server.";
const NOT_A_MEMBER: &str = "soe-bot works in direct messages only for members of its organisation's Discord servers. Use it in one of them.";
const UNVERIFIED: &str = "soe-bot could not check that you are a member of its organisation's Discord server, so nothing was done. Try again in a minute, or use it in the server.";

/// Who may use the bot where (`discord.allowed_guilds`, `discord.allow_dms`,
/// `discord.admin_roles`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The organisation's servers: the only guilds served, and the ones whose members may use
    /// DMs. Empty serves no guild at all (the config refuses that for `run`).
    pub allowed_guilds: Vec<u64>,
    /// Whether DMs and personal installs are served (to members of an allowed guild only).
    pub allow_dms: bool,
    /// Role ids whose holders may use `/so-admin` without Manage Server.
    pub admin_roles: Vec<u64>,
}

impl AccessPolicy {
    /// Whether the bot serves `guild`.
    pub fn serves_guild(&self, guild: u64) -> bool {
        self.allowed_guilds.contains(&guild)
    }
}

/// What the bot does about a guild it is in (gateway `GUILD_CREATE`: at startup for every
/// guild, and when it is added to a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuildPresence {
    /// An allowed guild: stay.
    Stay,
    /// Not one of the organisation's servers: leave it (and log its id).
    Leave,
}

/// The bot is in `guild`: stay only if it is allowed.
pub fn presence_in(policy: &AccessPolicy, guild: u64) -> GuildPresence {
    if policy.serves_guild(guild) {
        GuildPresence::Stay
    } else {
        GuildPresence::Leave
    }
}

/// Why a membership could not be checked (log-safe: no URL, no token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DirectoryError(pub String);

/// Answers "is this user a member of this guild?" (the Discord adapter asks the REST API).
#[async_trait]
pub trait MemberDirectory: Send + Sync {
    /// `Ok(true)` for a member, `Ok(false)` for a non-member, `Err` when it cannot be told.
    async fn is_member(&self, guild: u64, user: u64) -> Result<bool, DirectoryError>;
}

/// Why an invocation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// From a guild that is not allowed.
    ForeignGuild,
    /// A DM or personal install while `discord.allow_dms` is off.
    PrivateOff,
    /// A DM from someone in none of the allowed guilds.
    NotAMember,
    /// A DM whose sender's membership could not be checked.
    Unverified,
}

impl Refusal {
    /// The reply for `inv`: no choices for autocomplete, a short private text otherwise.
    pub fn reply(self, inv: &Invocation) -> Reply {
        if matches!(inv.action, Action::Autocomplete { .. }) {
            return Reply::choices(vec![]);
        }
        Reply::private(match self {
            Refusal::ForeignGuild => FOREIGN_GUILD,
            Refusal::PrivateOff => PRIVATE_OFF,
            Refusal::NotAMember => NOT_A_MEMBER,
            Refusal::Unverified => UNVERIFIED,
        })
    }
}

/// What the gate knows without asking anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precheck {
    Serve,
    Refuse(Refusal),
    /// A DM from someone whose membership is not remembered.
    LookUp,
}

/// A remembered membership answer.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    member: bool,
    until: DateTime<Utc>,
}

/// The gate: the policy, the membership look-up and what it remembers.
pub struct AccessGate {
    /// What is allowed.
    policy: AccessPolicy,
    /// Judges how long a remembered answer holds (injected, so tests move it).
    clock: SharedClock,
    /// Set by the Discord adapter once its REST client exists; `None` (console, tests without
    /// Discord) refuses DMs as unverifiable.
    directory: RwLock<Option<Arc<dyn MemberDirectory>>>,
    /// Membership answers per Discord user, positive and negative.
    remembered: Mutex<HashMap<u64, Remembered>>,
}

impl std::fmt::Debug for AccessGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessGate")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl AccessGate {
    /// A gate for `policy`, with no directory yet.
    pub fn new(policy: AccessPolicy, clock: SharedClock) -> Self {
        Self {
            policy,
            clock,
            directory: RwLock::new(None),
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// Uses `directory` for membership look-ups from now on (the Discord adapter calls this
    /// with its REST client).
    pub fn use_directory(&self, directory: Arc<dyn MemberDirectory>) {
        *self.directory.write() = Some(directory);
    }

    /// True when `inv` is refused without any look-up, so the adapter answers at once instead
    /// of deferring.
    pub fn refuses_at_once(&self, inv: &Invocation) -> bool {
        matches!(self.precheck(inv), Precheck::Refuse(_))
    }

    /// `None` when `inv` may be served; otherwise the refusal to send.
    pub async fn check(&self, inv: &Invocation) -> Option<Reply> {
        let refusal = match self.precheck(inv) {
            Precheck::Serve => return None,
            Precheck::Refuse(r) => r,
            Precheck::LookUp => match self.look_up(inv.member.id).await {
                Ok(true) => return None,
                Ok(false) => Refusal::NotAMember,
                Err(e) => {
                    tracing::warn!(user = inv.member.id, error = %e, "could not check a DM sender's membership; refused for now");
                    Refusal::Unverified
                }
            },
        };
        match refusal {
            Refusal::ForeignGuild => tracing::info!(
                guild = inv.guild_id.unwrap_or_default(),
                "refused an interaction from a guild not in discord.allowed_guilds"
            ),
            other => {
                tracing::debug!(user = inv.member.id, refusal = ?other, "refused a private interaction")
            }
        }
        Some(refusal.reply(inv))
    }

    fn precheck(&self, inv: &Invocation) -> Precheck {
        if let Some(guild) = inv.guild_id {
            if !self.policy.serves_guild(guild) {
                return Precheck::Refuse(Refusal::ForeignGuild);
            }
        }
        let private = inv.guild_id.is_none() || inv.origin == Origin::Private;
        if !private {
            return Precheck::Serve;
        }
        // A press on a message the bot sent in a DM (a personal alert's Accept or Answer, and
        // the form that opens) is served to members even while DMs are off: only the bot
        // starts those conversations. Commands typed in a DM still need `allow_dms`.
        let answers_the_bot = inv.guild_id.is_none()
            && matches!(
                inv.action,
                Action::Button { .. } | Action::Select { .. } | Action::Modal { .. }
            );
        if !self.policy.allow_dms && !answers_the_bot {
            return Precheck::Refuse(Refusal::PrivateOff);
        }
        match self.recall(inv.member.id) {
            Some(true) => Precheck::Serve,
            Some(false) => Precheck::Refuse(Refusal::NotAMember),
            None => Precheck::LookUp,
        }
    }

    /// Whether `user` is still a member of an allowed guild, for personal alerts: the
    /// remembered answer, else the directory's. With no directory (the console, which plays
    /// members of its allowed guild) everyone linked counts as a member.
    pub async fn still_member(&self, user: u64) -> Result<bool, DirectoryError> {
        if self.directory.read().is_none() {
            return Ok(true);
        }
        if let Some(member) = self.recall(user) {
            return Ok(member);
        }
        self.look_up(user).await
    }

    fn recall(&self, user: u64) -> Option<bool> {
        let now = self.clock.now();
        self.remembered
            .lock()
            .get(&user)
            .filter(|r| r.until > now)
            .map(|r| r.member)
    }

    fn remember(&self, user: u64, member: bool) {
        let now = self.clock.now();
        let ttl = if member {
            MEMBER_TTL_MINUTES
        } else {
            NON_MEMBER_TTL_MINUTES
        };
        let mut map = self.remembered.lock();
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, r| r.until > now);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(
            user,
            Remembered {
                member,
                until: now + Duration::minutes(ttl),
            },
        );
    }

    /// Asks the directory about each allowed guild in turn until one says "member".
    /// Remembers a yes, and a no that every guild gave; an unanswered guild makes the result
    /// an error (not remembered) unless another guild said yes.
    async fn look_up(&self, user: u64) -> Result<bool, DirectoryError> {
        let Some(directory) = self.directory.read().clone() else {
            return Err(DirectoryError(
                "no member directory is configured (DMs need the Discord adapter)".into(),
            ));
        };
        let mut failure = None;
        for &guild in &self.policy.allowed_guilds {
            match directory.is_member(guild, user).await {
                Ok(true) => {
                    self.remember(user, true);
                    return Ok(true);
                }
                Ok(false) => {}
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                self.remember(user, false);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::commands::invocation::Member;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HOME: u64 = 100;
    const OTHER_HOME: u64 = 101;
    const STRANGER: u64 = 666;

    /// Members by guild; counts look-ups; can be made to fail.
    #[derive(Default)]
    struct Directory {
        members: Vec<(u64, u64)>,
        calls: AtomicUsize,
        down: parking_lot::Mutex<bool>,
    }

    #[async_trait]
    impl MemberDirectory for Directory {
        async fn is_member(&self, guild: u64, user: u64) -> Result<bool, DirectoryError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if *self.down.lock() {
                return Err(DirectoryError("Discord answered 503".into()));
            }
            Ok(self.members.contains(&(guild, user)))
        }
    }

    fn policy(allow_dms: bool) -> AccessPolicy {
        AccessPolicy {
            allowed_guilds: vec![HOME, OTHER_HOME],
            allow_dms,
            admin_roles: vec![],
        }
    }

    fn inv(user: u64, guild: Option<u64>, origin: Origin, action: Action) -> Invocation {
        Invocation {
            id: "1".into(),
            member: Member::new(user, "m"),
            guild_id: guild,
            channel_id: Some(10),
            in_thread: false,
            thread_parent: None,
            locale: None,
            origin,
            action,
            reply_token: None,
        }
    }

    fn help() -> Action {
        Action::Command {
            name: "so".into(),
            path: vec!["help".into()],
            options: vec![],
        }
    }

    fn gate(allow_dms: bool, dir: Option<Arc<Directory>>) -> (AccessGate, FixedClock) {
        let clock = FixedClock::epoch();
        let g = AccessGate::new(policy(allow_dms), Arc::new(clock.clone()));
        if let Some(d) = dir {
            g.use_directory(d);
        }
        (g, clock)
    }

    #[test]
    fn the_bot_stays_only_in_allowed_guilds() {
        let p = policy(false);
        assert_eq!(presence_in(&p, HOME), GuildPresence::Stay);
        assert_eq!(presence_in(&p, OTHER_HOME), GuildPresence::Stay);
        assert_eq!(presence_in(&p, STRANGER), GuildPresence::Leave);
        assert_eq!(
            presence_in(&AccessPolicy::default(), HOME),
            GuildPresence::Leave,
            "an empty list serves nothing"
        );
    }

    #[tokio::test]
    async fn guilds_are_served_by_the_list_alone() {
        let (g, _) = gate(false, None);
        let home = inv(1, Some(HOME), Origin::GuildInstall, help());
        assert!(!g.refuses_at_once(&home));
        assert_eq!(g.check(&home).await, None);
        let away = inv(1, Some(STRANGER), Origin::GuildInstall, help());
        assert!(g.refuses_at_once(&away));
        assert_eq!(g.check(&away).await, Some(Reply::private(FOREIGN_GUILD)));
        let typing = inv(
            1,
            Some(STRANGER),
            Origin::GuildInstall,
            Action::Autocomplete {
                name: "so".into(),
                path: vec!["search".into()],
                focused: "tag".into(),
                value: "ru".into(),
            },
        );
        assert_eq!(g.check(&typing).await, Some(Reply::choices(vec![])));
    }

    #[tokio::test]
    async fn private_contexts_are_refused_while_dms_are_off_even_for_members() {
        let dir = Arc::new(Directory {
            members: vec![(HOME, 1)],
            ..Default::default()
        });
        let (g, _) = gate(false, Some(dir.clone()));
        for i in [
            inv(1, None, Origin::Private, help()),
            inv(1, Some(HOME), Origin::Private, help()),
            inv(1, Some(STRANGER), Origin::Private, help()),
        ] {
            assert!(g.refuses_at_once(&i));
            assert!(g.check(&i).await.is_some());
        }
        assert_eq!(dir.calls.load(Ordering::SeqCst), 0, "nothing asked");
    }

    #[tokio::test]
    async fn with_dms_on_members_of_any_allowed_guild_pass_and_answers_are_remembered() {
        let dir = Arc::new(Directory {
            members: vec![(OTHER_HOME, 1)],
            ..Default::default()
        });
        let (g, clock) = gate(true, Some(dir.clone()));
        let member = inv(1, None, Origin::Private, help());
        assert!(!g.refuses_at_once(&member), "needs a look-up first");
        assert_eq!(g.check(&member).await, None);
        assert_eq!(
            dir.calls.load(Ordering::SeqCst),
            2,
            "HOME no, OTHER_HOME yes"
        );
        assert_eq!(g.check(&member).await, None);
        assert_eq!(dir.calls.load(Ordering::SeqCst), 2, "remembered");

        let stranger = inv(2, None, Origin::Private, help());
        assert_eq!(g.check(&stranger).await, Some(Reply::private(NOT_A_MEMBER)));
        assert_eq!(dir.calls.load(Ordering::SeqCst), 4);
        assert!(g.refuses_at_once(&stranger), "the no is remembered too");
        assert!(g.check(&stranger).await.is_some());
        assert_eq!(dir.calls.load(Ordering::SeqCst), 4);

        clock.advance(Duration::minutes(NON_MEMBER_TTL_MINUTES) + Duration::seconds(1));
        assert!(!g.refuses_at_once(&stranger), "the no has expired");
        assert!(g.check(&stranger).await.is_some());
        assert_eq!(dir.calls.load(Ordering::SeqCst), 6);
        clock.advance(Duration::minutes(MEMBER_TTL_MINUTES));
        assert_eq!(g.check(&member).await, None);
        assert_eq!(dir.calls.load(Ordering::SeqCst), 8, "the yes has expired");
    }

    #[tokio::test]
    async fn an_unanswered_look_up_refuses_once_and_is_not_remembered() {
        let dir = Arc::new(Directory {
            members: vec![(HOME, 1)],
            ..Default::default()
        });
        *dir.down.lock() = true;
        let (g, _) = gate(true, Some(dir.clone()));
        let member = inv(1, None, Origin::Private, help());
        assert_eq!(g.check(&member).await, Some(Reply::private(UNVERIFIED)));
        *dir.down.lock() = false;
        assert_eq!(g.check(&member).await, None, "asked again, now served");

        let (bare, _) = gate(true, None);
        assert_eq!(
            bare.check(&member).await,
            Some(Reply::private(UNVERIFIED)),
            "no directory: DMs cannot be verified"
        );
    }

    #[test]
    fn the_memory_is_bounded() {
        let (g, clock) = gate(true, None);
        for user in 0..MAX_REMEMBERED as u64 {
            g.remember(user, false);
        }
        clock.advance(Duration::minutes(NON_MEMBER_TTL_MINUTES + 1));
        g.remember(u64::MAX, true);
        assert_eq!(g.remembered.lock().len(), 1, "expired answers dropped");
    }
}

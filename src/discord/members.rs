//! Guild membership through the REST API, for the DM gate, and leaving guilds that are not
//! allowed.
//!
//! [`RestMembers`] answers [`MemberDirectory`] with `GET /guilds/{guild.id}/members/{user.id}`
//! (bot token): 200 is a member, 404 (Unknown Member, Unknown Guild) and 403 (the bot is not in
//! that guild) are not, anything else is "could not tell", which the gate never remembers.
//! [`leave_if_not_allowed`] is what the gateway does on `GUILD_CREATE`. Invariants: errors are
//! described without URLs ([`rest::describe`]); only guild ids are logged.

use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{GuildId, UserId};
use serenity::http::Http;

use super::rest::{self, Idempotent};
use crate::commands::access::MemberDirectory;
use crate::commands::access::{presence_in, AccessPolicy, DirectoryError, GuildPresence};

/// Membership look-ups through serenity's REST client.
pub struct RestMembers {
    /// The bot's REST client (its token reads any guild the bot is in).
    http: Arc<Http>,
}

impl RestMembers {
    /// Looks members up through `http`.
    pub fn new(http: Arc<Http>) -> Self {
        Self { http }
    }
}

#[async_trait]
impl MemberDirectory for RestMembers {
    async fn is_member(&self, guild: u64, user: u64) -> Result<bool, DirectoryError> {
        let (Some(g), Some(u)) = (NonZeroU64::new(guild), NonZeroU64::new(user)) else {
            return Ok(false);
        };
        let (g, u) = (GuildId::from(g), UserId::from(u));
        match rest::call(Idempotent::Yes, "get guild member", || {
            self.http.get_member(g, u)
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(e) => match rest::status(&e) {
                Some(404) => Ok(false),
                Some(403) => {
                    tracing::warn!(
                        guild,
                        "cannot read members of an allowed guild; is the bot in it?"
                    );
                    Ok(false)
                }
                _ => Err(DirectoryError(rest::describe(&e))),
            },
        }
    }
}

/// What [`leave_if_not_allowed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// The guild is allowed: nothing done.
    Stayed,
    /// The bot left the guild.
    Left,
    /// It should have left but Discord refused or failed (logged; tried again on the next
    /// `GUILD_CREATE`, e.g. after a reconnect).
    Failed,
}

/// The bot is in `guild` (a `GUILD_CREATE`): leaves it unless `policy` allows it, logging the
/// guild id.
pub async fn leave_if_not_allowed(http: &Http, policy: &AccessPolicy, guild: u64) -> Left {
    if presence_in(policy, guild) == GuildPresence::Stay {
        return Left::Stayed;
    }
    let Some(id) = NonZeroU64::new(guild).map(GuildId::from) else {
        return Left::Failed;
    };
    tracing::warn!(
        guild,
        "the bot is in a guild that is not in discord.allowed_guilds; leaving it"
    );
    match rest::call(Idempotent::Yes, "leave guild", || http.leave_guild(id)).await {
        Ok(()) => {
            tracing::info!(guild, "left a guild that is not allowed");
            Left::Left
        }
        Err(e) => {
            tracing::error!(guild, error = %rest::describe(&e), "could not leave a guild that is not allowed; it is still refused");
            Left::Failed
        }
    }
}

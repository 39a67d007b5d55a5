//! [`RestServer`]: the use cases' [`ServerView`] through Discord's REST API (bot token).
//!
//! - which guild a channel is in: `GET /channels/{channel.id}`;
//! - the bot's permissions in a channel, computed the way Discord documents it ("Permission
//!   Overwrites": base permissions from `@everyone` and the member's roles, Administrator
//!   grants everything, then the channel's `@everyone`, role and member overwrites in that
//!   order; without View Channel nothing else applies, without Send Messages neither do Embed
//!   Links and attachments) from `GET /users/@me` (the bot's id, asked once),
//!   `GET /guilds/{guild.id}/members/{bot}`, `GET /guilds/{guild.id}/roles` and the channel;
//! - posting a message with no mentions allowed ([`convert::channel_message`]);
//! - reading a thread for Save thread: `GET /channels/{thread.id}` (name, parent),
//!   `GET /channels/{thread.id}/messages?limit=100` (the replies, and a forum post's starter,
//!   whose id is the thread's), and for a thread started from a message,
//!   `GET /channels/{parent.id}/messages/{thread.id}` (that message). Message text needs the
//!   Message Content intent: without it other people's messages arrive with empty content;
//! - whether a channel is a forum (or media) channel: `GET /channels/{channel.id}`, once per
//!   channel;
//! - a direct message: `POST /users/@me/channels`, then a message in that channel.
//!
//! Invariants: errors are log-safe ([`rest::describe`]); nothing is cached but the bot's own
//! id and which channels are forums (a channel's type never changes between forum and text),
//! so a permission fixed in Discord shows at the next check.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{
    Channel, ChannelId, ChannelType, GuildId, Message, MessageId, MessageType,
    PermissionOverwriteType, UserId,
};
use serenity::http::Http;
use tokio::sync::OnceCell;

use super::convert;
use super::rest::{self, Idempotent};
use crate::commands::access::DirectoryError;
use crate::commands::server::{ChannelLookup, ServerView, ThreadContent, ThreadMessage};
use crate::commands::Reply;

use crate::commands::admin::ADMINISTRATOR;
use crate::commands::server::{EMBED_LINKS, SEND_MESSAGES, VIEW_CHANNEL};

/// What Send Messages gates implicitly: SEND_TTS_MESSAGES, EMBED_LINKS, ATTACH_FILES,
/// MENTION_EVERYONE.
const NEEDS_SEND: u64 = (1 << 12) | EMBED_LINKS | (1 << 15) | (1 << 17);

/// One permission overwrite of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overwrite {
    /// A role id (the guild id for `@everyone`) or a member id.
    pub id: u64,
    /// True for a member overwrite, false for a role.
    pub member: bool,
    /// Bits allowed.
    pub allow: u64,
    /// Bits denied.
    pub deny: u64,
}

/// A member's permissions in a channel: `roles` are the guild's roles as (id, permissions),
/// `@everyone` having the guild's id; `member_roles` the member's role ids.
pub fn channel_permissions(
    guild: u64,
    member: u64,
    roles: &[(u64, u64)],
    member_roles: &[u64],
    overwrites: &[Overwrite],
) -> u64 {
    let perms_of = |id: u64| roles.iter().find(|(r, _)| *r == id).map(|(_, p)| *p);
    let mut base = perms_of(guild).unwrap_or(0);
    for r in member_roles {
        base |= perms_of(*r).unwrap_or(0);
    }
    if base & ADMINISTRATOR != 0 {
        return u64::MAX;
    }
    let mut p = base;
    if let Some(o) = overwrites.iter().find(|o| !o.member && o.id == guild) {
        p = (p & !o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| !o.member && o.id != guild && member_roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    p = (p & !deny) | allow;
    if let Some(o) = overwrites.iter().find(|o| o.member && o.id == member) {
        p = (p & !o.deny) | o.allow;
    }
    if p & VIEW_CHANNEL == 0 {
        return 0;
    }
    if p & SEND_MESSAGES == 0 {
        p &= !NEEDS_SEND;
    }
    p
}

/// The bot's view of its guilds through `http`.
pub struct RestServer {
    /// The bot's REST client.
    http: Arc<Http>,
    /// The bot's own user id, asked once.
    me: OnceCell<u64>,
    /// Whether each channel asked about is a forum: Discord never changes a channel between
    /// forum and text, so the answer stands (one look-up per parent channel).
    forums: parking_lot::Mutex<HashMap<u64, bool>>,
}

/// Discord's media channel type (a forum of media posts; serenity 0.12 has no name for it).
const MEDIA: u8 = 16;

impl RestServer {
    /// Looks things up through `http`.
    pub fn new(http: Arc<Http>) -> Self {
        Self {
            http,
            me: OnceCell::new(),
            forums: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    async fn me(&self) -> Result<u64, DirectoryError> {
        self.me
            .get_or_try_init(|| async {
                rest::call(Idempotent::Yes, "get current user", || {
                    self.http.get_current_user()
                })
                .await
                .map(|u| u.id.get())
                .map_err(|e| DirectoryError(rest::describe(&e)))
            })
            .await
            .copied()
    }
}

fn ids(guild: u64, channel: u64) -> Result<(GuildId, ChannelId), DirectoryError> {
    match (NonZeroU64::new(guild), NonZeroU64::new(channel)) {
        (Some(g), Some(c)) => Ok((GuildId::from(g), ChannelId::from(c))),
        _ => Err(DirectoryError("id 0 is not a guild or channel".into())),
    }
}

#[async_trait]
impl ServerView for RestServer {
    async fn channel(&self, channel: u64) -> Result<ChannelLookup, DirectoryError> {
        let Some(id) = NonZeroU64::new(channel).map(ChannelId::from) else {
            return Ok(ChannelLookup::Unknown);
        };
        match rest::call(Idempotent::Yes, "get channel", || self.http.get_channel(id)).await {
            Ok(Channel::Guild(c)) => Ok(ChannelLookup::In(Some(c.guild_id.get()))),
            Ok(_) => Ok(ChannelLookup::In(None)),
            Err(e) => match rest::status(&e) {
                Some(403 | 404) => Ok(ChannelLookup::Unknown),
                _ => Err(DirectoryError(rest::describe(&e))),
            },
        }
    }

    async fn bot_permissions(&self, guild: u64, channel: u64) -> Result<u64, DirectoryError> {
        let (g, c) = ids(guild, channel)?;
        let me = self.me().await?;
        let bot = NonZeroU64::new(me)
            .map(UserId::from)
            .ok_or_else(|| DirectoryError("Discord gave the bot user id 0".into()))?;
        let failed = |what: &str, e: serenity::Error| {
            DirectoryError(format!("{what}: {}", rest::describe(&e)))
        };
        let channel_obj = rest::call(Idempotent::Yes, "get channel", || self.http.get_channel(c))
            .await
            .map_err(|e| failed("reading the channel", e))?;
        let Channel::Guild(gc) = channel_obj else {
            return Err(DirectoryError("not a server channel".into()));
        };
        if gc.guild_id != g {
            return Err(DirectoryError("the channel is in another server".into()));
        }
        let member = rest::call(Idempotent::Yes, "get guild member", || {
            self.http.get_member(g, bot)
        })
        .await
        .map_err(|e| failed("reading the bot's roles", e))?;
        let roles = rest::call(Idempotent::Yes, "get guild roles", || {
            self.http.get_guild_roles(g)
        })
        .await
        .map_err(|e| failed("reading the server's roles", e))?;
        let roles: Vec<(u64, u64)> = roles
            .iter()
            .map(|r| (r.id.get(), r.permissions.bits()))
            .collect();
        let member_roles: Vec<u64> = member.roles.iter().map(|r| r.get()).collect();
        let overwrites: Vec<Overwrite> = gc
            .permission_overwrites
            .iter()
            .filter_map(|o| {
                let (id, member) = match o.kind {
                    PermissionOverwriteType::Member(u) => (u.get(), true),
                    PermissionOverwriteType::Role(r) => (r.get(), false),
                    _ => return None,
                };
                Some(Overwrite {
                    id,
                    member,
                    allow: o.allow.bits(),
                    deny: o.deny.bits(),
                })
            })
            .collect();
        Ok(channel_permissions(
            guild,
            me,
            &roles,
            &member_roles,
            &overwrites,
        ))
    }

    async fn post(&self, channel: u64, reply: &Reply) -> Result<(), DirectoryError> {
        let Some(id) = NonZeroU64::new(channel).map(ChannelId::from) else {
            return Err(DirectoryError("channel id 0".into()));
        };
        let message = convert::channel_message(reply);
        rest::call(Idempotent::No, "send channel message", || {
            self.http.send_message(id, vec![], &message)
        })
        .await
        .map(|_| ())
        .map_err(|e| DirectoryError(rest::describe(&e)))
    }

    async fn thread(&self, thread: u64) -> Result<ThreadContent, DirectoryError> {
        let Some(id) = NonZeroU64::new(thread).map(ChannelId::from) else {
            return Err(DirectoryError("thread id 0".into()));
        };
        let failed = |what: &str, e: serenity::Error| {
            DirectoryError(format!("{what}: {}", rest::describe(&e)))
        };
        let channel = rest::call(Idempotent::Yes, "get thread", || self.http.get_channel(id))
            .await
            .map_err(|e| failed("reading the thread", e))?;
        let Channel::Guild(gc) = channel else {
            return Err(DirectoryError("not a server thread".into()));
        };
        let mut messages = rest::call(Idempotent::Yes, "get thread messages", || {
            self.http.get_messages(id, None, Some(100))
        })
        .await
        .map_err(|e| failed("reading the thread's messages", e))?;
        messages.reverse();
        let mut starter = messages
            .iter()
            .find(|m| m.id.get() == thread)
            .map(thread_message);
        if starter.is_none() {
            // A thread started from a message: that message lives in the parent channel.
            if let Some(parent) = gc.parent_id {
                match rest::call(Idempotent::Yes, "get starter message", || {
                    self.http.get_message(parent, MessageId::from(id.get()))
                })
                .await
                {
                    Ok(m) => starter = Some(thread_message(&m)),
                    Err(e) => tracing::debug!(error = %rest::describe(&e), "no starter message"),
                }
            }
        }
        let replies = messages
            .iter()
            .filter(|m| m.id.get() != thread && !m.author.bot)
            .filter(|m| matches!(m.kind, MessageType::Regular | MessageType::InlineReply))
            .map(thread_message)
            .collect();
        Ok(ThreadContent {
            id: thread,
            name: gc.name.clone(),
            parent: gc.parent_id.map(|p| p.get()),
            starter,
            replies,
        })
    }

    async fn is_forum(&self, channel: u64) -> Result<bool, DirectoryError> {
        if let Some(forum) = self.forums.lock().get(&channel) {
            return Ok(*forum);
        }
        let Some(id) = NonZeroU64::new(channel).map(ChannelId::from) else {
            return Ok(false);
        };
        let found = rest::call(Idempotent::Yes, "get channel", || self.http.get_channel(id))
            .await
            .map_err(|e| DirectoryError(format!("reading the channel: {}", rest::describe(&e))))?;
        let forum = matches!(
            found,
            Channel::Guild(c) if c.kind == ChannelType::Forum || c.kind == ChannelType::Unknown(MEDIA)
        );
        self.forums.lock().insert(channel, forum);
        Ok(forum)
    }

    async fn dm(&self, user: u64, reply: &Reply) -> Result<(), DirectoryError> {
        let Some(user) = NonZeroU64::new(user).map(UserId::from) else {
            return Err(DirectoryError("user id 0".into()));
        };
        let open = serde_json::json!({ "recipient_id": user });
        let dm = rest::call(Idempotent::Yes, "open DM channel", || {
            self.http.create_private_channel(&open)
        })
        .await
        .map_err(|e| DirectoryError(rest::describe(&e)))?;
        let message = convert::channel_message(reply);
        rest::call(Idempotent::No, "send DM", || {
            self.http.send_message(dm.id, vec![], &message)
        })
        .await
        .map(|_| ())
        .map_err(|e| DirectoryError(rest::describe(&e)))
    }
}

/// A Discord message as Save thread reads it: Discord syntax rendered as names
/// ([`convert::message_text`]), attachments as links.
fn thread_message(m: &Message) -> ThreadMessage {
    let author_name = m
        .member
        .as_ref()
        .and_then(|pm| pm.nick.clone())
        .unwrap_or_else(|| m.author.display_name().to_string());
    ThreadMessage {
        id: m.id.get(),
        author_id: m.author.id.get(),
        author_name,
        content: convert::message_text(
            &m.content,
            &m.mentions
                .iter()
                .map(|u| (u.id.get(), u.display_name().to_string()))
                .collect::<Vec<_>>(),
            &m.attachments
                .iter()
                .map(|a| (a.filename.clone(), a.url.clone()))
                .collect::<Vec<_>>(),
        ),
        has_media: !m.attachments.is_empty() || !m.embeds.is_empty() || !m.sticker_items.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 100;
    const BOT: u64 = 7;
    const ROLE: u64 = 200;
    const EMBED: u64 = EMBED_LINKS;

    fn ow(id: u64, member: bool, allow: u64, deny: u64) -> Overwrite {
        Overwrite {
            id,
            member,
            allow,
            deny,
        }
    }

    #[test]
    fn roles_add_up_and_administrator_grants_everything() {
        let roles = [(G, VIEW_CHANNEL), (ROLE, SEND_MESSAGES | EMBED)];
        assert_eq!(
            channel_permissions(G, BOT, &roles, &[ROLE], &[]),
            VIEW_CHANNEL | SEND_MESSAGES | EMBED
        );
        assert_eq!(channel_permissions(G, BOT, &roles, &[], &[]), VIEW_CHANNEL);
        let admin = [(G, 0), (ROLE, ADMINISTRATOR)];
        let deny_all = [ow(G, false, 0, u64::MAX)];
        assert_eq!(
            channel_permissions(G, BOT, &admin, &[ROLE], &deny_all),
            u64::MAX
        );
    }

    #[test]
    fn overwrites_apply_everyone_then_roles_then_the_member() {
        let roles = [(G, VIEW_CHANNEL | SEND_MESSAGES | EMBED), (ROLE, 0)];
        // @everyone denied Embed Links, the bot's role allows it back.
        let o = [ow(G, false, 0, EMBED), ow(ROLE, false, EMBED, 0)];
        assert_ne!(channel_permissions(G, BOT, &roles, &[ROLE], &o) & EMBED, 0);
        // A member overwrite beats the role's.
        let o = [ow(ROLE, false, EMBED, 0), ow(BOT, true, 0, EMBED)];
        assert_eq!(channel_permissions(G, BOT, &roles, &[ROLE], &o) & EMBED, 0);
        // A role overwrite for a role the bot lacks does nothing.
        let o = [ow(ROLE + 1, false, 0, SEND_MESSAGES)];
        assert_ne!(
            channel_permissions(G, BOT, &roles, &[ROLE], &o) & SEND_MESSAGES,
            0
        );
    }

    #[test]
    fn no_view_means_nothing_and_no_send_means_no_embeds() {
        let roles = [(G, VIEW_CHANNEL | SEND_MESSAGES | EMBED)];
        assert_eq!(
            channel_permissions(G, BOT, &roles, &[], &[ow(G, false, 0, VIEW_CHANNEL)]),
            0
        );
        assert_eq!(
            channel_permissions(G, BOT, &roles, &[], &[ow(G, false, 0, SEND_MESSAGES)]),
            VIEW_CHANNEL
        );
    }
}

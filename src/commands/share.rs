//! "Share to channel": who may post a search page or a question publicly, and how often.
//!
//! A share is a public message in the channel, so it follows the channel's rules and cannot
//! flood it. Invariants:
//! - in a server, only a member who may send messages in that channel can share: the
//!   interaction's `member.permissions` (Discord computes them for the channel, overwrites and
//!   timeouts included) must hold VIEW_CHANNEL and SEND_MESSAGES, or SEND_MESSAGES_IN_THREADS
//!   in a thread; ADMINISTRATOR holds every permission. Without permissions in a server the
//!   share is refused (deny by default). Outside a server (a DM with the bot) nobody else
//!   reads the message, so there is nothing to check;
//! - the permission check is pure and comes before any SOE call; [`super::Commands::ack`]
//!   makes the same check, so a refused share never shows a public "thinking…";
//! - each member may share once per `limits.share_member_cooldown_secs` (whatever the
//!   channel) and each channel takes one share per `limits.share_channel_cooldown_secs`
//!   (whoever shares). Both cooldowns are store buckets (they survive restarts), taken
//!   together, all or nothing, and only once the content is ready: a share refused by one
//!   cooldown, or failed for another reason, uses up neither.

use crate::store::{Allowance, RateBucket};

use super::reply::Reply;
use super::{Commands, Invocation};

/// Discord's ADMINISTRATOR permission: all of them.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// Discord's VIEW_CHANNEL permission.
pub const VIEW_CHANNEL: u64 = 1 << 10;
/// Discord's SEND_MESSAGES permission (not valid in threads).
pub const SEND_MESSAGES: u64 = 1 << 11;
/// Discord's SEND_MESSAGES_IN_THREADS permission.
pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;

/// Whether the member may post in the invocation's channel (see the module doc).
pub fn may_post(inv: &Invocation) -> bool {
    if inv.guild_id.is_none() {
        return true;
    }
    let Some(perms) = inv.member.permissions else {
        return false;
    };
    if perms & ADMINISTRATOR != 0 {
        return true;
    }
    let send = if inv.in_thread {
        SEND_MESSAGES_IN_THREADS
    } else {
        SEND_MESSAGES
    };
    perms & VIEW_CHANNEL != 0 && perms & send != 0
}

/// The refusal for a member who may not post here, if they may not.
pub fn permission_refusal(inv: &Invocation) -> Option<Reply> {
    if may_post(inv) {
        return None;
    }
    let place = if inv.in_thread {
        "this thread"
    } else {
        "this channel"
    };
    Some(Reply::private(format!(
        "You don't have permission to send messages in {place}, so the bot will not post there for you. Share it where you can post, or ask a moderator."
    )))
}

/// Takes the member's and the channel's cooldowns together; the refusal when either is
/// still running (nothing is taken then).
pub async fn take_cooldowns(ctx: &Commands, inv: &Invocation) -> Option<Reply> {
    let member_key = format!("share:m:{}", inv.member.id);
    let channel_key = inv.channel_id.map(|c| format!("share:c:{c}"));
    let mut buckets = vec![RateBucket {
        key: &member_key,
        burst: 1,
        refill_secs: ctx.limits.share_member_cooldown_secs.into(),
    }];
    if let Some(key) = &channel_key {
        buckets.push(RateBucket {
            key,
            burst: 1,
            refill_secs: ctx.limits.share_channel_cooldown_secs.into(),
        });
    }
    match ctx.store.take_rates(&buckets, ctx.clock.now()).await {
        Ok(Allowance::Allowed) => None,
        Ok(Allowance::RetryAfter(secs)) => Some(Reply::private(format!(
            "Sharing is paced so a channel is not flooded: each member can share once every {} s, and each channel takes one share every {} s. Nothing was posted; try again in {secs} s.",
            ctx.limits.share_member_cooldown_secs, ctx.limits.share_channel_cooldown_secs
        ))),
        Err(e) => Some(ctx.store_failure(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Action, Member};

    fn inv(perms: Option<u64>, guild: Option<u64>, in_thread: bool) -> Invocation {
        let mut member = Member::new(1, "m");
        member.permissions = perms;
        Invocation {
            id: "i".into(),
            member,
            guild_id: guild,
            channel_id: Some(10),
            in_thread,
            thread_parent: None,
            locale: None,
            origin: crate::commands::Origin::GuildInstall,
            action: Action::Button {
                custom_id: "so:qs:1".into(),
            },
            reply_token: None,
        }
    }

    #[test]
    fn posting_needs_view_and_the_right_send_permission() {
        let g = Some(1);
        assert!(may_post(&inv(Some(VIEW_CHANNEL | SEND_MESSAGES), g, false)));
        assert!(!may_post(&inv(Some(VIEW_CHANNEL), g, false)));
        assert!(!may_post(&inv(Some(SEND_MESSAGES), g, false)));
        assert!(!may_post(&inv(Some(0), g, false)));
        assert!(!may_post(&inv(None, g, false)), "deny by default");
        // Threads want their own permission, whatever SEND_MESSAGES says.
        assert!(!may_post(&inv(Some(VIEW_CHANNEL | SEND_MESSAGES), g, true)));
        assert!(may_post(&inv(
            Some(VIEW_CHANNEL | SEND_MESSAGES_IN_THREADS),
            g,
            true
        )));
        assert!(!may_post(&inv(
            Some(VIEW_CHANNEL | SEND_MESSAGES_IN_THREADS),
            g,
            false
        )));
        assert!(may_post(&inv(Some(ADMINISTRATOR), g, true)));
        // A DM with the bot: nobody else to post to.
        assert!(may_post(&inv(None, None, false)));
        let refusal = permission_refusal(&inv(Some(VIEW_CHANNEL), g, true)).unwrap();
        assert!(refusal.ephemeral && refusal.content.contains("this thread"));
    }
}

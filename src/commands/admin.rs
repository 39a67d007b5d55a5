//! `/so-admin …`: server configuration, behind a server-side permission check.
//!
//! Discord hides admin commands from members without Manage Server
//! (`default_member_permissions`), but server admins can change that, so every call is checked
//! again here: Manage Server or Administrator in the channel, or a role whose **id** is in
//! `discord.admin_roles` (never a name: anyone who can create roles can copy one); never in DMs
//! (no member, no permission).
//!
//! Subcommands: `channel enable|disable|team|tags [channel]`, `channel cards on|off [channel]`
//! (whether members posting from a channel are offered a public card there; default on),
//! `audit-channel [channel] [off]`, `doctor`. A `channel` option must be a channel of the invoking guild: the Discord adapter is
//! asked ([`super::server::ServerView`]) and the command is refused when it says otherwise or
//! cannot tell. Every change is stored, then audited ([`super::audit`]).

use super::audit::AuditEvent;
use super::invocation::Member;
use super::reply::{truncate, Reply};
use super::server::ChannelLookup;
use super::validate;
use super::{Commands, Invocation, OptionValue};
use crate::soe::{SoeRead, TeamSlug};

/// Discord's ADMINISTRATOR permission bit.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// Discord's MANAGE_GUILD permission bit.
pub const MANAGE_GUILD: u64 = 1 << 5;

/// Whether `member` may use admin commands in a guild: the permission bits, or a role id in
/// `admin_roles`.
pub fn is_admin(member: &Member, in_guild: bool, admin_roles: &[u64]) -> bool {
    if !in_guild {
        return false;
    }
    let Some(perms) = member.permissions else {
        return false;
    };
    if perms & (ADMINISTRATOR | MANAGE_GUILD) != 0 {
        return true;
    }
    member.role_ids.iter().any(|r| admin_roles.contains(r))
}

/// `/so-admin …`.
pub async fn command(ctx: &Commands, inv: &Invocation) -> Reply {
    let Some(guild) = inv.guild_id else {
        return Reply::private("Admin commands work only inside a server, not in DMs.");
    };
    if !is_admin(&inv.member, true, &ctx.access.policy().admin_roles) {
        tracing::info!(user = inv.member.id, "admin command denied");
        return Reply::private("You need the Manage Server permission (or an admin role set in the bot's config) to change the bot's settings.");
    }
    let path = match &inv.action {
        super::Action::Command { path, .. } => path.clone(),
        _ => vec![],
    };
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    if path.as_slice() == ["doctor"] {
        return super::doctor::command(ctx, inv, guild).await;
    }
    let channel = match target_channel(ctx, inv, guild).await {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let change = match path.as_slice() {
        ["channel", verb @ ("enable" | "disable")] => {
            let Some(channel) = channel else {
                return Reply::private(
                    "Name a channel, e.g. `/so-admin channel disable channel:#general`.",
                );
            };
            Change::Enable(channel, *verb == "enable")
        }
        ["channel", "team"] => {
            let Some(channel) = channel else {
                return Reply::private("Name a channel, e.g. `/so-admin channel team channel:#platform slug:platform`.");
            };
            match inv.text("slug") {
                None => Change::Team(channel, None),
                Some(raw) => match TeamSlug::parse(raw.trim_start_matches("/c/")) {
                    Some(team) => {
                        if let Err(reply) = check_team(ctx, inv.member.id, &team).await {
                            return reply;
                        }
                        Change::Team(channel, Some(team))
                    }
                    None => {
                        return Reply::private(format!(
                            "`{}` is not a team slug. Use the part after `/c/` in the team's address on the site (a-z, 0-9 and -), e.g. `slug:platform`; leave `slug` out to unbind the channel.",
                            truncate(&raw, 60).replace('`', "'")
                        ))
                    }
                },
            }
        }
        ["channel", "tags"] => {
            let Some(channel) = channel else {
                return Reply::private(
                    "Name a channel, e.g. `/so-admin channel tags channel:#rust tags:rust async`.",
                );
            };
            match inv.text("tags") {
                None => Change::Tags(channel, vec![]),
                Some(raw) => match validate::tags(&raw) {
                    Ok(tags) => Change::Tags(channel, tags),
                    Err(p) => {
                        return Reply::private(format!(
                            "Tags {} Leave `tags` out to clear the channel's default tags.",
                            p.message
                        ))
                    }
                },
            }
        }
        ["channel", "cards"] => {
            let Some(channel) = channel else {
                return Reply::private(
                    "Name a channel, e.g. `/so-admin channel cards state:off channel:#general`.",
                );
            };
            match inv.text("state").map(|s| s.to_ascii_lowercase()).as_deref() {
                Some("on") => Change::Cards(channel, true),
                Some("off") => Change::Cards(channel, false),
                _ => {
                    return Reply::private(
                        "Say `state:on` or `state:off`, e.g. `/so-admin channel cards state:off`.",
                    )
                }
            }
        }
        ["audit-channel"] => {
            if inv.option("off").is_some_and(|v| v.as_text() == "true") {
                Change::Audit(None)
            } else {
                match channel {
                    Some(c) => Change::Audit(Some(c)),
                    None => return Reply::private("Name a channel, e.g. `/so-admin audit-channel channel:#bot-audit`, or turn the audit channel off with `off:True`."),
                }
            }
        }
        _ => return Reply::private(
            "Unknown admin command. Available: `/so-admin channel enable|disable|team|tags|cards`, `/so-admin subscribe|subscriptions|unsubscribe|preview`, `/so-admin doctor`, `/so-admin audit-channel`.",
        ),
    };
    apply(ctx, inv, guild, change).await
}

/// One configuration change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// Turn the bot on (true) or off in a channel.
    Enable(u64, bool),
    /// Bind a channel to a private team, or unbind it (`None`).
    Team(u64, Option<TeamSlug>),
    /// Set a channel's default tags (empty: clear).
    Tags(u64, Vec<String>),
    /// Offer (true) or stop offering the public card after a post from a channel.
    Cards(u64, bool),
    /// Set or clear the audit channel.
    Audit(Option<u64>),
}

/// The channel an admin command is about: the `channel` option, which must be a channel of
/// `guild` (asked of the Discord adapter; refused when it cannot tell), or the channel the
/// command was used in. `Ok(None)` when there is neither.
async fn target_channel(
    ctx: &Commands,
    inv: &Invocation,
    guild: u64,
) -> Result<Option<u64>, Reply> {
    let named = match inv.option("channel") {
        Some(OptionValue::Channel(c)) => *c,
        Some(other) => match other.as_text().parse::<u64>() {
            Ok(c) => c,
            Err(_) => {
                return Err(Reply::private(
                    "The `channel` option must be a channel of this server.",
                ))
            }
        },
        None => return Ok(inv.channel_id),
    };
    if Some(named) == inv.channel_id {
        // Discord sent the interaction from this channel of this guild.
        return Ok(Some(named));
    }
    let Some(server) = ctx.server() else {
        return Err(Reply::private("The bot cannot check that channel here, so nothing was changed. Run the command in the channel itself, without the `channel` option."));
    };
    match server.channel(named).await {
        Ok(ChannelLookup::In(Some(g))) if g == guild => Ok(Some(named)),
        Ok(_) => {
            tracing::info!(
                user = inv.member.id,
                guild,
                channel = named,
                "admin command named a channel outside the guild"
            );
            Err(Reply::private("That channel is not in this server (or the bot cannot see it), so nothing was changed. Pick a channel of this server."))
        }
        Err(e) => {
            tracing::warn!(guild, channel = named, error = %e, "could not look a channel up");
            Err(Reply::private("Discord could not tell which server that channel is in, so nothing was changed. Try again in a minute."))
        }
    }
}

/// Checks that the service token can read `team` before a channel is bound to it (one call,
/// charged to the admin's share of the budget).
async fn check_team(ctx: &Commands, admin: u64, team: &TeamSlug) -> Result<(), Reply> {
    let reader = ctx.reader_for(admin, Some(team));
    match reader
        .list_tags(None, 1, crate::soe::PageSize::Fifteen, crate::soe::TagSort::PostCount)
        .await
    {
        Ok(_) => Ok(()),
        Err(crate::soe::Error::Forbidden { .. }) => Err(Reply::private(format!(
            "The bot's service token cannot read the private team `{}` (the site refused it), so the channel was not bound. The token's owner must be a member of the team, and the token minted with the team's grant: `soe-bot service-token --team {}` (it also asks for `soe.team` and every team already bound to a channel).",
            team.as_str(),
            team.as_str()
        ))),
        Err(crate::soe::Error::NotFound { .. }) => Err(Reply::private(format!(
            "The site has no private team `{}`; check the slug (the part after `/c/` in the team's address).",
            team.as_str()
        ))),
        Err(e) => Err(ctx.soe_failure(&e)),
    }
}

async fn apply(ctx: &Commands, inv: &Invocation, guild: u64, change: Change) -> Reply {
    let mut s = match ctx.store.guild_settings(guild).await {
        Ok(s) => s,
        Err(e) => return ctx.store_failure(&e),
    };
    let previous_audit = s.audit_channel;
    let (what, reply) = match &change {
        Change::Enable(channel, enable) => {
            let channel = *channel;
            s.disabled_channels.retain(|c| *c != channel);
            s.enabled_channels.retain(|c| *c != channel);
            if *enable {
                s.enabled_channels.push(channel);
                (
                    format!("turned the bot on in <#{channel}>"),
                    enabled_text(channel, &s.disabled_channels),
                )
            } else {
                s.disabled_channels.push(channel);
                (format!("turned the bot off in <#{channel}>"), format!("soe-bot is now turned off in <#{channel}>; members there get a pointer to where it is on."))
            }
        }
        Change::Team(channel, Some(team)) => {
            s.channel_teams.insert(*channel, team.clone());
            (
                format!("bound <#{channel}> to the private team `{}`", team.as_str()),
                format!("<#{channel}> now works in the private team `{}`: searches, questions and posts from there go to the team, and members are asked to link again if their link lacks the team's access.", team.as_str()),
            )
        }
        Change::Team(channel, None) => {
            let was = s.channel_teams.remove(channel);
            match was {
                Some(t) => (
                    format!("unbound <#{channel}> from the private team `{}`", t.as_str()),
                    format!("<#{channel}> is no longer bound to the private team `{}`.", t.as_str()),
                ),
                None => return Reply::private(format!("<#{channel}> is not bound to a private team; nothing changed. To bind it, give `slug:`.")),
            }
        }
        Change::Tags(channel, tags) if tags.is_empty() => {
            if s.channel_tags.remove(channel).is_none() {
                return Reply::private(format!(
                    "<#{channel}> has no default tags; nothing changed. To set them, give `tags:`."
                ));
            }
            (
                format!("cleared the default tags of <#{channel}>"),
                format!("<#{channel}> has no default tags any more."),
            )
        }
        Change::Tags(channel, tags) => {
            s.channel_tags.insert(*channel, tags.clone());
            let list = tags
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!("set the default tags of <#{channel}> to {list}"),
                format!("Questions asked from <#{channel}> now start with the tags {list}."),
            )
        }
        Change::Cards(channel, on) => {
            let channel = *channel;
            let was_on = !s.cards_off.contains(&channel);
            s.cards_off.retain(|c| *c != channel);
            if !on {
                s.cards_off.push(channel);
            }
            if was_on == *on {
                return Reply::private(format!(
                    "Cards after a post are already {} in <#{channel}>; nothing changed.",
                    if *on { "on" } else { "off" }
                ));
            }
            if *on {
                (
                    format!("turned cards after a post on in <#{channel}>"),
                    format!("Members who post a question or answer from <#{channel}> (or its threads) are offered a public card about it there again: title, author, tags and link (the default)."),
                )
            } else {
                (
                    format!("turned cards after a post off in <#{channel}>"),
                    format!("Members who post a question or answer from <#{channel}> (or its threads) are no longer offered a public card about it there; their confirmation stays private. `/so-admin channel cards state:on` turns it back on."),
                )
            }
        }
        Change::Audit(Some(channel)) => {
            s.audit_channel = Some(*channel);
            (
                format!("set the audit channel to <#{channel}>"),
                format!("Configuration changes and posts made through the bot are now reported in <#{channel}> (and always in the bot's log)."),
            )
        }
        Change::Audit(None) => {
            if s.audit_channel.take().is_none() {
                return Reply::private("There is no audit channel; nothing changed.");
            }
            (
                "turned the audit channel off".to_string(),
                "The audit channel is off; changes and posts are still recorded in the bot's log."
                    .to_string(),
            )
        }
    };
    if let Err(e) = ctx.store.put_guild_settings(guild, &s).await {
        return ctx.store_failure(&e);
    }
    ctx.audit_in(
        AuditEvent {
            guild: Some(guild),
            actor: inv.member.id,
            actor_username: Some(inv.member.username.clone()),
            what,
            link: None,
        },
        previous_audit,
    )
    .await;
    Reply::private(reply)
}

/// What `enable` means: the bot answers everywhere except the channels turned off, so
/// enabling one channel does not limit it to that channel; the ones still off are named.
fn enabled_text(channel: u64, still_off: &[u64]) -> String {
    if still_off.is_empty() {
        return format!(
            "soe-bot now answers in <#{channel}>. It answers in every channel of this server; `/so-admin channel disable` turns one off."
        );
    }
    let mut names: Vec<String> = still_off
        .iter()
        .take(10)
        .map(|c| format!("<#{c}>"))
        .collect();
    if still_off.len() > names.len() {
        names.push(format!("and {} more", still_off.len() - names.len()));
    }
    format!(
        "soe-bot now answers in <#{channel}>. Enabling a channel does not limit the bot to it: it answers in every channel except those turned off, which are still {}.",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_says_what_it_means_when_other_channels_are_off() {
        let alone = enabled_text(7, &[]);
        assert!(alone.contains("every channel of this server"), "{alone}");
        let others = enabled_text(7, &[8, 9]);
        assert!(
            others.contains("does not limit the bot to it") && others.contains("<#8>, <#9>"),
            "{others}"
        );
        let many: Vec<u64> = (100..115).collect();
        assert!(enabled_text(7, &many).contains("and 5 more"));
    }

    fn m(perms: Option<u64>, roles: &[u64]) -> Member {
        Member {
            id: 1,
            name: "a".into(),
            username: "a".into(),
            permissions: perms,
            role_ids: roles.to_vec(),
        }
    }

    #[test]
    fn admin_policy() {
        let roles = [77];
        assert!(!is_admin(&m(Some(0), &[]), true, &roles), "no permission");
        assert!(is_admin(&m(Some(MANAGE_GUILD), &[]), true, &roles));
        assert!(is_admin(&m(Some(ADMINISTRATOR), &[]), true, &roles));
        assert!(!is_admin(&m(Some(MANAGE_GUILD), &[]), false, &roles), "DM");
        assert!(!is_admin(&m(None, &[]), true, &roles), "no member data");
        assert!(
            is_admin(&m(Some(0), &[5, 77]), true, &roles),
            "configured role id"
        );
        assert!(!is_admin(&m(Some(0), &[5, 78]), true, &roles));
        assert!(!is_admin(&m(None, &[77]), true, &roles), "DM role ids");
        assert!(!is_admin(&m(Some(0), &[77]), true, &[]), "none configured");
    }
}

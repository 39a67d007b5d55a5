//! `/so-admin …`: server configuration, behind a server-side permission check.
//!
//! Discord hides admin commands from members without Manage Server
//! (`default_member_permissions`), but server admins can change that, so every call is checked
//! again here: Manage Server or Administrator in the channel, or a role whose **id** is in
//! `discord.admin_roles` (never a name: anyone who can create roles can copy one); never in DMs
//! (no member, no permission).

use super::invocation::Member;
use super::reply::Reply;
use super::{Commands, Invocation, OptionValue};

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
pub fn command(ctx: &Commands, inv: &Invocation) -> Reply {
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
    match path
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["channel", verb @ ("enable" | "disable")] => {
            let channel = match inv.option("channel") {
                Some(OptionValue::Channel(c)) => Some(*c),
                _ => inv.channel_id,
            };
            let Some(channel) = channel else {
                return Reply::private(
                    "Name a channel, e.g. `/so-admin channel disable channel:#general`.",
                );
            };
            set_channel(ctx, guild, channel, *verb == "enable")
        }
        _ => Reply::private(
            "Unknown admin command. Available: `/so-admin channel enable|disable [#channel]`.",
        ),
    }
}

fn set_channel(ctx: &Commands, guild: u64, channel: u64, enable: bool) -> Reply {
    let mut s = match ctx.store.guild_settings(guild) {
        Ok(s) => s,
        Err(e) => return ctx.store_failure(&e),
    };
    s.disabled_channels.retain(|c| *c != channel);
    s.enabled_channels.retain(|c| *c != channel);
    if enable {
        s.enabled_channels.push(channel);
    } else {
        s.disabled_channels.push(channel);
    }
    if let Err(e) = ctx.store.put_guild_settings(guild, &s) {
        return ctx.store_failure(&e);
    }
    tracing::info!(guild, channel, enable, "channel setting changed");
    Reply::private(if enable {
        enabled_text(channel, &s.disabled_channels)
    } else {
        format!("soe-bot is now turned off in <#{channel}>; members there get a pointer to where it is on.")
    })
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

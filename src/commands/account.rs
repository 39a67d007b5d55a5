//! `/so link`, `/so unlink`, `/so me`.
//!
//! Every link button stores a ticket, so a member may ask for `limits.links_burst` of them in
//! a row and then one per `limits.link_refill_secs` (the `/so link` command and the Link
//! buttons share the limit); past it they are told when to come back, and the last button
//! they got keeps working. A Link prompt elsewhere (ask, answer, vote while unlinked) spends
//! the same allowance, because its button is the link itself ([`link_button`]).

use crate::store::{Allowance, LinkStatus};

use super::reply::{Component, Reply};
use super::{Commands, Invocation};

/// `/so link`: a member already linked (with a link the bot can use) is told so, with the
/// account, and offered a Link again button, which starts a fresh link as [`link`] does;
/// anyone else gets the link button at once.
pub async fn link_command(ctx: &Commands, inv: &Invocation) -> Reply {
    // Only a link that can do everything the bot needs counts as linked: an expired,
    // unreadable or read-only link, or one without the team grant, is replaced at once.
    // Usable in this channel's team, if the channel is bound to one.
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    match super::member::session(ctx, inv.member.id, team.as_ref()).await {
        Ok(s) => Reply::private(format!(
            "You are already linked to **{}** on {}; `/so me` shows its access and expiry. Link again only to switch accounts or renew access: the new link replaces this one when you confirm it.",
            super::render::escape_md(&super::reply::truncate(&s.name, 100)),
            ctx.site.name
        ))
        .with_row(vec![Component::button(
            super::ids::Id::Link.encode(),
            "Link again",
            super::reply::ButtonStyle::Secondary,
        )]),
        Err(_) => link(ctx, inv).await,
    }
}

/// A button to a fresh single-use linking URL (15 minutes), shown only to the member.
pub async fn link(ctx: &Commands, inv: &Invocation) -> Reply {
    match link_button(ctx, inv).await {
        Ok(button) => Reply::private(format!(
            "Link your {} account so what you post from Discord is credited to you. The button works once, for 15 minutes, and only for you: don't share it. You'll sign in on the site, approve access, {}and confirm.",
            ctx.site.name,
            if ctx.link.settings().discord.is_some() {
                "let Discord confirm it is you, "
            } else {
                ""
            }
        ))
        .with_row(vec![button]),
        Err(refusal) => *refusal,
    }
}

/// The Link button itself: a URL button to a fresh ticket, within the member's link-button
/// allowance. `Err` is the reply to give instead (come back later, or a storage failure).
pub async fn link_button(ctx: &Commands, inv: &Invocation) -> Result<Component, Box<Reply>> {
    match ctx.store.take_rate(
        &format!("link:{}", inv.member.id),
        ctx.limits.links_burst,
        ctx.limits.link_refill_secs.into(),
        ctx.clock.now(),
    ).await {
        Ok(Allowance::Allowed) => {}
        Ok(Allowance::RetryAfter(secs)) => {
            return Err(Box::new(Reply::private(format!(
                "You asked for several link buttons in a short time; try again in {secs} s. The last button you got still works for 15 minutes after it was made."
            ))))
        }
        Err(e) => return Err(Box::new(ctx.store_failure(&e))),
    }
    match ctx
        .link
        .issue_ticket(inv.member.id, &inv.member.username, inv.guild_id)
        .await
    {
        Ok(url) => Ok(Component::link(url.to_string(), "Link account")),
        Err(e) => Err(Box::new(ctx.store_failure(&e))),
    }
}

/// Forgets the member's token and drafts.
pub async fn unlink(ctx: &Commands, inv: &Invocation) -> Reply {
    match ctx.store.delete_link(inv.member.id).await {
        Ok(true) => Reply::private(format!(
            "Unlinked. The bot forgot your {} token and your saved drafts. To revoke the app's access on the site too, remove it from your account's settings there.",
            ctx.site.name
        )),
        Ok(false) => Reply::private("You were not linked; there was nothing to forget."),
        Err(e) => ctx.store_failure(&e),
    }
}

/// The member's link: SOE user, scopes, expiry, last use.
pub async fn me(ctx: &Commands, inv: &Invocation) -> Reply {
    let link = match ctx.store.get_link(inv.member.id).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return super::member::link_prompt(
                "You have not linked an account. Link one to ask, answer and vote as yourself.",
            )
        }
        Err(crate::store::StoreError::Unseal) | Err(crate::store::StoreError::Corrupt(_)) => {
            return super::member::link_prompt(
                "Your link could not be read (the bot's key changed). Link your account again.",
            )
        }
        Err(e) => return ctx.store_failure(&e),
    };
    let now = ctx.clock.now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let expired = link.status == LinkStatus::Expired || link.expires_at.is_some_and(|t| t <= now);
    let status = if expired {
        "expired: link again with `/so link`".to_string()
    } else {
        "active".to_string()
    };
    let expiry = match link.expires_at {
        Some(t) if t > now => format!(
            "{} ({})",
            fmt(t),
            super::render::age(Some(now - (t - now)), now).replace(" ago", " left")
        ),
        Some(t) => format!("{} (passed)", fmt(t)),
        None => "never".into(),
    };
    let user = match &link.soe_user_url {
        Some(u) => format!("[{}]({u})", super::render::escape_md(&link.soe_user_name)),
        None => super::render::escape_md(&link.soe_user_name),
    };
    let write = if link.scopes.iter().any(|s| s == "write_access") {
        "read and write"
    } else {
        "read only"
    };
    // What the site actually granted: it does not say at link time (`/users/me` has no
    // scopes), so the first write tells.
    let granted = if !link.scopes.iter().any(|s| s == "write_access") {
        "read only".to_string()
    } else if link.status == LinkStatus::WriteRefused {
        "write refused: the site refused a write with your token outright, so the bot's API application is probably still read-only. An admin must set it to Read-write on the site.".to_string()
    } else if let Some(t) = link.last_used_at {
        format!("read and write (confirmed by a write on {})", fmt(t))
    } else {
        "not confirmed yet: the site says whether writing is allowed at your first write".into()
    };
    let team = match &ctx.site.team {
        Some(t) if link.scopes.iter().any(|s| s.eq_ignore_ascii_case(&ctx.link.settings().team_scope(t))) => {
            format!("\n**Private team:** `{}` requested at link time", t.as_str())
        }
        Some(t) => format!(
            "\n**Private team:** `{}` not included in your link: link again with `/so link` to use it",
            t.as_str()
        ),
        None => String::new(),
    };
    let text = format!(
        "**Linked {} account:** {user} (user {})\n**Access requested:** {write} (`{}`)\n**Access granted:** {granted}{team}\n**Token expires:** {expiry}\n**Last used:** {}\n**Linked:** {}\n**Status:** {status}",
        ctx.site.name,
        link.soe_user_id,
        link.scopes.join(","),
        link.last_used_at.map(fmt).unwrap_or_else(|| "not yet".into()),
        fmt(link.linked_at),
    );
    if expired {
        super::member::link_prompt(&text)
    } else {
        Reply::private(text)
    }
}

//! Acting as the member: their link, their token, and what to say when it cannot be used.
//!
//! Token lifecycle: no link → offer linking; a known expiry in the past or an earlier 401 →
//! "link again"; a link without `write_access` → "write access is missing"; a link without the
//! `access_team` grant for the bot's private team → "link again for the team"; a 401 during a
//! write marks the link expired; a bare 403 (the site refusing the token outright, not a
//! privilege) marks the link "write refused" and says the API application is probably still
//! read-only, rather than a generic error.

use std::sync::Arc;

use crate::soe::{self, SoeWrite};
use crate::store::{LinkStatus, StoreError};

use super::ids::Id;
use super::reply::{ButtonStyle, Component, Reply};
use super::Commands;

/// A usable member session.
pub struct MemberSession {
    /// Writes as the member.
    pub writer: Arc<dyn SoeWrite>,
    /// Their SOE user id.
    pub soe_user_id: i64,
    /// Their SOE name, for "Posted as …".
    pub name: String,
}

/// Why there is no session.
#[derive(Debug)]
pub enum NoSession {
    /// Never linked (or unlinked).
    NotLinked,
    /// Expired or rejected by SOE.
    Expired,
    /// Linked without `write_access`.
    ReadOnly,
    /// Linked without the `access_team` grant for the private team the bot works in.
    NoTeamGrant(crate::soe::TeamSlug),
    /// The stored link could not be opened (wrong key, tampering): treat as "link again".
    Unreadable,
    /// Storage failed.
    Store(StoreError),
}

/// The member's writer for `team` (the private team of the channel the write comes from; see
/// [`Commands::team_in`]), checking the link's state, expiry and team grant first.
pub async fn session(
    ctx: &Commands,
    user: u64,
    team: Option<&crate::soe::TeamSlug>,
) -> Result<MemberSession, NoSession> {
    let link = match ctx.store.get_link(user).await {
        Ok(Some(l)) => l,
        Ok(None) => return Err(NoSession::NotLinked),
        Err(StoreError::Unseal) | Err(StoreError::Corrupt(_)) => return Err(NoSession::Unreadable),
        Err(e) => return Err(NoSession::Store(e)),
    };
    if link.status == LinkStatus::Expired {
        return Err(NoSession::Expired);
    }
    if link.expires_at.is_some_and(|t| t <= ctx.clock.now()) {
        if let Err(e) = ctx.store.mark_link_expired(user).await {
            tracing::warn!(error = %e, "could not mark a link expired");
        }
        return Err(NoSession::Expired);
    }
    if !link.scopes.iter().any(|s| s == "write_access") {
        return Err(NoSession::ReadOnly);
    }
    if let Some(team) = team {
        let grant = ctx.link.settings().team_scope(team);
        if !link.scopes.iter().any(|s| s.eq_ignore_ascii_case(&grant)) {
            return Err(NoSession::NoTeamGrant(team.clone()));
        }
    }
    let writer = ctx.soe.member(link.token, team);
    Ok(MemberSession {
        writer,
        soe_user_id: link.soe_user_id,
        name: link.soe_user_name,
    })
}

/// A reply with a Link button. [`Commands::handle`](super::Commands::handle) turns that button
/// into the link itself (a URL button to a fresh ticket) when the member may have one, so a
/// prompt takes one click.
pub fn link_prompt(text: &str) -> Reply {
    Reply::private(text).with_row(vec![Component::button(
        Id::Link.encode(),
        &crate::t!("button-link-account"),
        ButtonStyle::Primary,
    )])
}

/// What to tell a member who has no session, with what to do next. `doing` is the catalogue
/// id of what they tried (`doing-post-question`, `doing-vote`, …).
pub fn no_session_reply(ctx: &Commands, why: NoSession, doing: &str) -> Reply {
    no_session_reply_doing(ctx, why, &crate::t!(doing))
}

/// [`no_session_reply`] with what they tried already in words (a catalogue message with
/// arguments, e.g. Save thread's `save-doing-as-author`).
pub fn no_session_reply_doing(ctx: &Commands, why: NoSession, doing: &str) -> Reply {
    let site = ctx.site.name.as_str();
    match why {
        NoSession::NotLinked => link_prompt(&crate::t!("link-needed", site = site, doing = doing)),
        NoSession::Expired | NoSession::Unreadable => {
            link_prompt(&crate::t!("link-expired", site = site, doing = doing))
        }
        NoSession::ReadOnly => link_prompt(&crate::t!("link-read-only", doing = doing)),
        NoSession::NoTeamGrant(team) => link_prompt(&crate::t!(
            "link-no-team-grant",
            team = team.as_str(),
            doing = doing
        )),
        NoSession::Store(e) => ctx.store_failure(&e),
    }
}

/// Turns a failed write into a sentence, updating the link on 401.
pub async fn write_error_text(ctx: &Commands, user: u64, e: &soe::Error) -> String {
    match e {
        soe::Error::Unauthorized => {
            if let Err(err) = ctx.store.mark_link_expired(user).await {
                tracing::warn!(error = %err, "could not mark a link expired");
            }
            crate::t!("write-token-rejected", site = ctx.site.name.as_str())
        }
        soe::Error::Forbidden { .. } if e.is_grant_refusal() => {
            if let Err(err) = ctx.store.mark_link_write_refused(user).await {
                tracing::warn!(error = %err, "could not record a refused write on the link");
            }
            let team = ctx
                .site
                .team
                .as_ref()
                .map(|t| format!(", or it has not granted your token the private team `{}`", t.as_str()))
                .unwrap_or_default();
            format!(
                "{} refused to let your token write at all: the bot's API application on the site is probably still read-only (new applications start that way){team}. An admin must set the application to Read-write on the site; then try again, and link again with `/so link` if it still fails.",
                ctx.site.name
            )
        }
        soe::Error::Forbidden { detail } => format!(
            "{} refused this ({detail}). Your account may not have the privilege it needs (e.g. reputation, or it is your own post), or the token lacks write access.",
            ctx.site.name
        ),
        other => {
            let reference = super::short_ref();
            tracing::warn!(reference, error = %other, "SOE write failed");
            format!(
                "{} (ref {reference})",
                other.user_message_on(&ctx.site.name)
            )
        }
    }
}

/// Whether a failure means the member should link again.
pub fn needs_relink(e: &soe::Error) -> bool {
    matches!(e, soe::Error::Unauthorized)
}

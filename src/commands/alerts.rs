//! `/so alerts on|off [tags]` and `/so experts on|off`: a member's personal alerts
//! ([`crate::notify::personal`]).
//!
//! - `alerts on`: answers to every question the member's linked SOE user asked (on the site
//!   too, not only through the bot), and new questions in the tags given, else in the
//!   member's watched tags on the site (`GET /users/{id}/watched-tags`, read now with the
//!   service token for the linked user id, charged to the member's share), batched into one
//!   DM per poll;
//! - `alerts off`: no alerts at all, not even answers to questions asked through the bot
//!   (which are on by default);
//! - `experts on|off`: DMs about questions still unanswered in tags the member is a
//!   subject-matter expert for on the site.
//!
//! Invariants: every setting needs a link (members map to SOE users through their links
//! only), and records the SOE user id the link names; replies are private; the store holds no
//! secret here.

use super::member::link_prompt;
use super::render::escape_md;
use super::validate;
use super::{Commands, Invocation, Reply};
use crate::notify::personal::{AnswerAlerts, MemberAlerts};
use crate::soe::SoeRead;
use crate::store::{Link, StoreError};

/// The member's link, or the reply that says to link first.
async fn linked(ctx: &Commands, inv: &Invocation, what: &str) -> Result<Link, Reply> {
    match ctx.store.get_link(inv.member.id).await {
        Ok(Some(l)) => Ok(l),
        Ok(None) | Err(StoreError::Unseal) | Err(StoreError::Corrupt(_)) => {
            Err(link_prompt(&format!(
                "{what} follow your {} account, so link it first; then run this again.",
                ctx.site.name
            )))
        }
        Err(e) => Err(ctx.store_failure(&e)),
    }
}

/// The member's record, fresh for `link` (a record left from another SOE user starts over).
async fn record_for(ctx: &Commands, inv: &Invocation, link: &Link) -> Result<MemberAlerts, Reply> {
    let mut m = match ctx.store.member_alerts(inv.member.id).await {
        Ok(Some(m)) if m.soe_user_id == link.soe_user_id => m,
        Ok(_) => MemberAlerts {
            user: inv.member.id,
            soe_user_id: link.soe_user_id,
            ..Default::default()
        },
        Err(e) => return Err(ctx.store_failure(&e)),
    };
    m.updated_at = ctx.clock.now();
    Ok(m)
}

/// `/so alerts on [tags]` (`on` true) or `/so alerts off`.
pub async fn alerts(ctx: &Commands, inv: &Invocation, on: bool) -> Reply {
    let link = match linked(ctx, inv, "Alerts").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut m = match record_for(ctx, inv, &link).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !on {
        m.answers = AnswerAlerts::Off;
        m.questions = false;
        return match ctx.store.put_member_alerts(&m).await {
            Ok(()) => Reply::private(
                "Alerts off: no more DMs about answers to your questions or new questions in your tags. Turn them back on with `/so alerts on`.",
            ),
            Err(e) => ctx.store_failure(&e),
        };
    }
    let given = match inv.text("tags") {
        None => Vec::new(),
        Some(raw) => match validate::tags(&raw) {
            Ok(t) => t,
            Err(p) => return Reply::private(format!("Tags {} Nothing was changed.", p.message)),
        },
    };
    m.answers = AnswerAlerts::All;
    m.questions = true;
    m.tags = given.clone();
    let mut note = String::new();
    if given.is_empty() {
        let reader = ctx.reader_for(inv.member.id, None);
        match (&reader as &dyn SoeRead)
            .watched_tags(link.soe_user_id)
            .await
        {
            Ok(tags) => {
                m.watched = tags.0.iter().map(|t| t.name.to_ascii_lowercase()).collect();
                m.watched_read_at = Some(ctx.clock.now());
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read a member's watched tags");
                note = " The bot could not read your watched tags just now; it will try again shortly.".into();
            }
        }
    }
    if let Err(e) = ctx.store.put_member_alerts(&m).await {
        return ctx.store_failure(&e);
    }
    let tags = if m.tags.is_empty() {
        &m.watched
    } else {
        &m.tags
    };
    let which = if tags.is_empty() {
        if note.is_empty() {
            format!(
                "You watch no tags on {} yet: watch some there, or name them here with `/so alerts on tags:…`.",
                ctx.site.name
            )
        } else {
            String::new()
        }
    } else {
        format!(
            "New questions tagged {} come as one DM per round.",
            tags.iter()
                .map(|t| format!("`{}`", escape_md(t)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Reply::private(format!(
        "Alerts on for **{}**: a DM when any question you asked on {} gets an answer, with Accept. {which}{note} Turn them off with `/so alerts off`.",
        escape_md(&link.soe_user_name),
        ctx.site.name
    ))
}

/// `/so experts on` or `/so experts off`.
pub async fn experts(ctx: &Commands, inv: &Invocation, on: bool) -> Reply {
    let link = match linked(ctx, inv, "Expert alerts").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut m = match record_for(ctx, inv, &link).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    m.experts = on;
    if let Err(e) = ctx.store.put_member_alerts(&m).await {
        return ctx.store_failure(&e);
    }
    if on {
        Reply::private(format!(
            "Expert alerts on: when a question in a tag you are a subject-matter expert for on {} is still unanswered after a channel's `unanswered-after`, you get a DM with an Answer button (at most {} a day). Turn them off with `/so experts off`.",
            ctx.site.name, ctx.limits.expert_dms_per_day
        ))
    } else {
        Reply::private("Expert alerts off. Turn them back on with `/so experts on`.")
    }
}

//! Someone else's message: posted under its author's name only with their consent.
//!
//! "Ask on …" or "Post as answer" on a message written by someone else opens no form. The
//! text is saved as a proposal, a draft of the member who proposed it carrying the author
//! ([`Proposal`]); for an answer the proposer first picks the question (see `pick`). Then a
//! public prompt, replying to the message, asks the author, who alone can act on it:
//! - **Accept and review** opens the form for the author, pre-filled with the text; what they
//!   send is posted as them, through their own link (kept for after they link, if they have
//!   not), exactly like a post of their own message;
//! - **Decline** records it and updates the prompt;
//! - the proposer's **post it quoted instead** opens the form for the proposer with the text
//!   quoted and "Originally written by @author in Discord" under it, once the author declined
//!   or let [`CONSENT_WAIT_MINUTES`] pass without answering; it is then posted as the proposer.
//!
//! Invariants: nothing is posted under the author's name except by the author's own
//! submission; the proposer's post always carries the attribution (added when posting if it
//! was edited out) and is refused while the author may still answer, or after they accepted
//! (checked in `post::post_draft`, so no path around it posts); the prompt is a public message
//! (the proposer must be allowed to post there, and the share cooldowns apply) that names both
//! members without pinging anyone; anyone else pressing its buttons is answered privately.

use chrono::Duration;

use crate::store::{Consent, Draft, DraftContent, Proposal};

use super::ids::{new_draft_id, Id};
use super::invocation::MessageRef;
use super::reply::{truncate, ButtonStyle, Component, Embed, Reply};
use super::{Commands, Invocation};

/// How long the author has to answer before the proposer may post the text as themself.
pub const CONSENT_WAIT_MINUTES: i64 = 30;

/// The line under a quoted message posted by someone other than its author.
pub fn attribution(author_name: &str) -> String {
    format!(
        "*Originally written by @{} in Discord.*",
        super::render::escape_md(&truncate(author_name, 80))
    )
}

/// `text` quoted, with the [`attribution`] under it (unchanged if it already has it).
pub fn quoted(text: &str, author_name: &str) -> String {
    let line = attribution(author_name);
    if text.contains(&line) {
        return text.to_string();
    }
    let quote = text
        .lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{quote}\n\n{line}")
}

/// The message command on someone else's message: saves the proposal, then asks the author
/// (or, for an answer whose question is not known yet, lets the proposer pick it first).
pub async fn propose(
    ctx: &Commands,
    inv: &Invocation,
    answer: bool,
    message: &MessageRef,
) -> Reply {
    if let Some(refusal) = super::share::permission_refusal(inv) {
        return refusal;
    }
    let text = super::validate::clean(message.content.trim());
    let question = if answer {
        message.replies_to.as_ref().and_then(|r| r.card_question())
    } else {
        None
    };
    let content = if answer {
        DraftContent::Answer {
            question_id: question.unwrap_or(0),
            body: text,
        }
    } else {
        DraftContent::Ask {
            title: super::post::title_of(inv, message),
            body: text,
            tags: super::post::channel_tag_list(ctx, inv).await,
        }
    };
    let proposal = Proposal {
        author_id: message.author_id,
        author_name: message.author_name.clone(),
        consent: Consent::Pending,
        asked_at: None,
    };
    let draft =
        match super::post::save_proposal(ctx, inv, &new_draft_id(), content, message.id, proposal)
            .await
        {
            Ok(d) => d,
            Err(r) => return *r,
        };
    if answer && question.is_none() {
        return super::pick::picker(ctx, inv, &draft.id, true);
    }
    ask_author(ctx, inv, draft, question).await
}

/// Asks the author of `draft`'s message: the public prompt (for an answer, `question` is the
/// one the proposer picked).
pub async fn ask_author(
    ctx: &Commands,
    inv: &Invocation,
    mut draft: Draft,
    question: Option<i64>,
) -> Reply {
    let Some(mut proposal) = draft.proposal.clone() else {
        return Reply::private(crate::t!("consent-not-a-proposal"));
    };
    if proposal.asked_at.is_some() {
        return Reply::private(crate::t!("consent-already-asked"));
    }
    if let (Some(q), DraftContent::Answer { question_id, .. }) = (question, &mut draft.content) {
        *question_id = q;
    }
    if let Some(refusal) = super::share::permission_refusal(inv) {
        return refusal;
    }
    if let Some(refusal) = super::share::take_cooldowns(ctx, inv).await {
        return refusal;
    }
    proposal.asked_at = Some(ctx.clock.now());
    draft.proposal = Some(proposal);
    if let Err(e) = ctx.store.put_draft(&draft).await {
        return ctx.store_failure(&e);
    }
    prompt(ctx, &draft)
}

/// The public prompt about `draft`'s proposal, as it stands.
fn prompt(ctx: &Commands, draft: &Draft) -> Reply {
    let Some(p) = &draft.proposal else {
        return Reply::private(crate::t!("consent-not-a-proposal"));
    };
    let (author, proposer) = (p.author_id, draft.discord_user);
    let site = &ctx.site.name;
    let what = match &draft.content {
        DraftContent::Ask { .. } => crate::t!("consent-what-question", site = site.as_str()),
        DraftContent::Answer { question_id, .. } => {
            let team = super::post::draft_team(ctx, draft);
            let url = ctx.question_url(team.as_ref(), *question_id);
            let title = ctx
                .recent
                .title(draft.channel_id, *question_id)
                .map(|t| super::render::escape_md(&truncate(&t, 120)))
                .unwrap_or_else(|| crate::t!("consent-question-n", n = *question_id));
            crate::t!(
                "consent-what-answer",
                site = site.as_str(),
                title = title,
                url = url
            )
        }
    };
    let open = p.consent != Consent::Declined;
    let (author_at, proposer_at) = (format!("<@{author}>"), format!("<@{proposer}>"));
    let text = if open {
        crate::t!(
            "consent-prompt",
            author = author_at.as_str(),
            proposer = proposer_at.as_str(),
            what = what,
            minutes = CONSENT_WAIT_MINUTES
        )
    } else {
        crate::t!(
            "consent-declined",
            author = author_at.as_str(),
            proposer = proposer_at.as_str()
        )
    };
    let mut reply = Reply::public(text);
    if let DraftContent::Ask { title, .. } = &draft.content {
        reply = reply.with_embed(Embed::new(title, "").color(super::render::COLOR));
    }
    let id = draft.id.clone();
    reply = reply.with_row(vec![
        Component::button(
            Id::ConsentAccept {
                proposer,
                draft: id.clone(),
            }
            .encode(),
            &crate::t!("button-consent-accept"),
            ButtonStyle::Success,
        )
        .disabled(!open),
        Component::button(
            Id::ConsentDecline {
                proposer,
                draft: id.clone(),
            }
            .encode(),
            &crate::t!("button-consent-decline"),
            ButtonStyle::Danger,
        )
        .disabled(!open),
        Component::button(
            Id::PostQuoted {
                proposer,
                draft: id,
            }
            .encode(),
            &crate::t!("button-consent-quoted"),
            ButtonStyle::Secondary,
        ),
    ]);
    reply.reply_to = draft.source_message;
    reply
}

/// The proposal `id` of `proposer`, or the reply to give (expired, withdrawn, not one).
async fn load(ctx: &Commands, proposer: u64, id: &str) -> Result<(Draft, Proposal), Reply> {
    match ctx.store.get_draft(proposer, id).await {
        Ok(Some(d)) => match d.proposal.clone() {
            Some(p) => Ok((d, p)),
            None => Err(Reply::private(crate::t!("consent-not-a-proposal"))),
        },
        Ok(None) => Err(Reply::private(crate::t!("consent-expired"))),
        Err(e) => Err(ctx.store_failure(&e)),
    }
}

/// The author's refusal to anyone else who presses Accept or Decline.
fn author_only(p: &Proposal) -> Reply {
    Reply::private(crate::t!(
        "consent-author-only",
        author = format!("<@{}>", p.author_id)
    ))
}

/// "Accept and review", by the author: the form, pre-filled, posted as them when they send
/// it. Pressed again after they posted, it says where it went.
pub async fn accept(ctx: &Commands, inv: &Invocation, proposer: u64, id: &str) -> Reply {
    let (mut draft, mut p) = match load(ctx, proposer, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if inv.member.id != p.author_id {
        return author_only(&p);
    }
    if let Some(r) = super::post::settled(&draft) {
        return Reply::private(format!(
            "{} {}",
            crate::t!("consent-posted-quoted", proposer = format!("<@{proposer}>")),
            r.content
        ));
    }
    // The author's own copy: the same handle under their id (drafts are keyed by member).
    match ctx.store.get_draft(inv.member.id, id).await {
        Ok(Some(mine)) => {
            if let Some(r) = super::post::settled(&mine) {
                return r;
            }
        }
        Ok(None) => {}
        Err(e) => return ctx.store_failure(&e),
    }
    if p.consent == Consent::Declined {
        return Reply::private(crate::t!("consent-you-declined"));
    }
    if p.consent != Consent::Accepted {
        p.consent = Consent::Accepted;
        draft.proposal = Some(p);
        if let Err(e) = ctx.store.put_draft(&draft).await {
            return ctx.store_failure(&e);
        }
    }
    form(&draft, id, None)
}

/// The form for `draft`'s text, saving into draft `id` of whoever sends it; `quote_for`
/// quotes the text for a post by someone other than its author.
fn form(draft: &Draft, id: &str, quote_for: Option<&str>) -> Reply {
    let shown = |body: &str| match quote_for {
        Some(author) => quoted(body, author),
        None => body.to_string(),
    };
    match &draft.content {
        DraftContent::Ask { title, body, tags } => super::post::ask_form(
            id,
            draft.source_message,
            Some(title),
            Some(&shown(body)),
            Some(&tags.join(", ")),
        ),
        DraftContent::Answer { question_id: 0, .. } => {
            Reply::private(crate::t!("consent-no-question"))
        }
        DraftContent::Answer { question_id, body } => {
            super::post::answer_form(*question_id, id, Some(&shown(body)))
        }
    }
}

/// "Decline", by the author: recorded, and the prompt says so (the proposer may now post it
/// quoted).
pub async fn decline(ctx: &Commands, inv: &Invocation, proposer: u64, id: &str) -> Reply {
    let (mut draft, mut p) = match load(ctx, proposer, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if inv.member.id != p.author_id {
        return author_only(&p);
    }
    match ctx.store.get_draft(inv.member.id, id).await {
        Ok(Some(mine)) if matches!(mine.state, crate::store::DraftState::Posted { .. }) => {
            return Reply::private(crate::t!("consent-already-yours"))
        }
        Ok(_) => {}
        Err(e) => return ctx.store_failure(&e),
    }
    if p.consent != Consent::Declined {
        p.consent = Consent::Declined;
        draft.proposal = Some(p);
        if let Err(e) = ctx.store.put_draft(&draft).await {
            return ctx.store_failure(&e);
        }
    }
    prompt(ctx, &draft).into_update()
}

/// Whether the proposer may post `p`'s text as themself now; the refusal otherwise.
pub fn quoted_allowed(ctx: &Commands, p: &Proposal) -> Result<(), Box<Reply>> {
    match (p.consent, p.asked_at) {
        (Consent::Declined, _) => Ok(()),
        (Consent::Accepted, _) => Err(Box::new(Reply::private(crate::t!(
            "consent-accepted-theirs",
            author = format!("<@{}>", p.author_id)
        )))),
        (Consent::Pending, None) => Err(Box::new(Reply::private(crate::t!("consent-not-asked")))),
        (Consent::Pending, Some(asked)) => {
            let until = asked + Duration::minutes(CONSENT_WAIT_MINUTES);
            if ctx.clock.now() >= until {
                Ok(())
            } else {
                let ts = until.timestamp();
                Err(Box::new(Reply::private(crate::t!(
                    "consent-still-waiting",
                    author = format!("<@{}>", p.author_id),
                    until = format!("<t:{ts}:t> (<t:{ts}:R>)")
                ))))
            }
        }
    }
}

/// "post it quoted instead", by the proposer: after a decline or the wait, the form with the
/// text quoted and attributed, posted as the proposer.
pub async fn post_quoted(ctx: &Commands, inv: &Invocation, proposer: u64, id: &str) -> Reply {
    if inv.member.id != proposer {
        return Reply::private(crate::t!(
            "consent-proposer-only",
            proposer = format!("<@{proposer}>")
        ));
    }
    let (draft, p) = match load(ctx, proposer, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = super::post::settled(&draft) {
        return r;
    }
    if let Err(r) = quoted_allowed(ctx, &p) {
        return *r;
    }
    form(&draft, id, Some(&p.author_name))
}

/// Before the proposer's post of `draft` goes out: refused unless [`quoted_allowed`]; the
/// attribution is added to the text if it was edited out. `Ok(Some(changed))` when the
/// draft's text had to change (the caller stores it).
pub fn check_before_posting(ctx: &Commands, draft: &Draft) -> Result<Option<Draft>, Box<Reply>> {
    let Some(p) = &draft.proposal else {
        return Ok(None);
    };
    quoted_allowed(ctx, p)?;
    let line = attribution(&p.author_name);
    let mut changed = draft.clone();
    let body = match &mut changed.content {
        DraftContent::Ask { body, .. } | DraftContent::Answer { body, .. } => body,
    };
    if body.contains(&line) {
        return Ok(None);
    }
    body.push_str("\n\n");
    body.push_str(&line);
    Ok(Some(changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_names_the_author_once() {
        let q = quoted("first line\nsecond *line*", "Sam_the_dev");
        assert_eq!(
            q,
            "> first line\n> second *line*\n\n*Originally written by @Sam\\_the\\_dev in Discord.*"
        );
        assert_eq!(quoted(&q, "Sam_the_dev"), q, "quoted once");
    }
}

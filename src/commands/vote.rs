//! Upvote, Downvote and Accept buttons, acting as the member, once per member and button.
//!
//! "Once" is a store claim keyed by member and button: a double click or a retried
//! interaction gets "Already done". The outcome stands for about a minute
//! ([`crate::store::WRITE_CLAIM_TTL_SECS`]) and is dropped at once when the member votes
//! otherwise on the same post (an undo, or the other direction), so the same button works
//! again after an undo made here or on the site. A successful vote drops the cached view of
//! the question, so the next view shows the new score.

use crate::soe::Vote;
use crate::store::WriteClaim;

use super::caches::QuestionCache;
use super::member::{link_prompt, needs_relink, no_session_reply, session, write_error_text};
use super::reply::Reply;
use super::{Commands, Invocation};

fn verb(vote: Vote) -> &'static str {
    match vote {
        Vote::Up => "upvoted",
        Vote::Down => "downvoted",
        Vote::UndoUp => "removed your upvote on",
        Vote::UndoDown => "removed your downvote on",
    }
}

/// Runs `action` at most once for `key`. The flag says whether it ran now and succeeded.
async fn once<F, Fut>(
    ctx: &Commands,
    inv: &Invocation,
    key: &str,
    what: &str,
    action: F,
) -> (Reply, bool)
where
    F: FnOnce(super::member::MemberSession) -> Fut,
    Fut: std::future::Future<Output = Result<String, crate::soe::Error>>,
{
    let s = match session(ctx, inv.member.id) {
        Ok(s) => s,
        Err(why) => return (no_session_reply(ctx, why, what), false),
    };
    match ctx.store.claim_write(key, ctx.clock.now()) {
        Ok(WriteClaim::Claimed) => {}
        Ok(WriteClaim::InProgress) => {
            return (
                Reply::private("Already working on that; one moment."),
                false,
            )
        }
        Ok(WriteClaim::Done { outcome }) => {
            return (Reply::private(format!("Already done: {outcome}")), false)
        }
        Err(e) => return (ctx.store_failure(&e), false),
    }
    match action(s).await {
        Ok(outcome) => {
            if let Err(e) = ctx.store.finish_write(key, Some(&outcome), ctx.clock.now()) {
                tracing::warn!(error = %e, "could not record a finished write");
            }
            let _ = ctx.store.touch_link(inv.member.id, ctx.clock.now());
            (Reply::private(outcome), true)
        }
        Err(e) => {
            if let Err(err) = ctx.store.finish_write(key, None, ctx.clock.now()) {
                tracing::warn!(error = %err, "could not release a write claim");
            }
            let text = write_error_text(ctx, inv.member.id, &e);
            let reply = if needs_relink(&e) {
                link_prompt(&text)
            } else {
                Reply::private(text)
            };
            (reply, false)
        }
    }
}

/// The cached view of `question` no longer matches the site.
fn forget_view(ctx: &Commands, question: i64) {
    let team = ctx.site.team.as_ref().map(|t| t.as_str());
    ctx.question_cache
        .forget(&QuestionCache::key(team, question));
}

/// After `vote` succeeded on a post: the member's other vote buttons on it no longer stand
/// for what is on the site (their recorded outcomes were replaced by this vote), and the
/// cached view of the question is stale.
fn after_vote(ctx: &Commands, question: i64, vote: Vote, key_of: impl Fn(Vote) -> String) {
    for other in [Vote::Up, Vote::Down, Vote::UndoUp, Vote::UndoDown] {
        if other == vote {
            continue;
        }
        if let Err(e) = ctx.store.forget_outcome(&key_of(other)) {
            tracing::warn!(error = %e, "could not drop an earlier vote outcome");
        }
    }
    forget_view(ctx, question);
}

/// A vote on a question.
pub async fn vote_question(ctx: &Commands, inv: &Invocation, question: i64, vote: Vote) -> Reply {
    let member = inv.member.id;
    let key_of = |v: Vote| format!("vq:{member}:{question}:{v:?}");
    let (reply, voted) = once(ctx, inv, &key_of(vote), "vote", |s| async move {
        let q = s.writer.vote_question(question, vote).await?;
        Ok(format!(
            "You {} “{}” as **{}** (score now {}).",
            verb(vote),
            super::reply::truncate(&q.title, 100),
            super::render::escape_md(&s.name),
            q.score
        ))
    })
    .await;
    if voted {
        after_vote(ctx, question, vote, key_of);
    }
    reply
}

/// A vote on an answer.
pub async fn vote_answer(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    answer: i64,
    vote: Vote,
) -> Reply {
    let member = inv.member.id;
    let key_of = |v: Vote| format!("va:{member}:{question}:{answer}:{v:?}");
    let (reply, voted) = once(ctx, inv, &key_of(vote), "vote", |s| async move {
        let a = s.writer.vote_answer(question, answer, vote).await?;
        Ok(format!(
            "You {} answer {answer} as **{}** (score now {}).",
            verb(vote),
            super::render::escape_md(&s.name),
            a.score
        ))
    })
    .await;
    if voted {
        after_vote(ctx, question, vote, key_of);
    }
    reply
}

/// Accepting an answer (question owner only; SOE enforces it, the reply explains it).
pub async fn accept(ctx: &Commands, inv: &Invocation, question: i64, answer: i64) -> Reply {
    let key = format!("ac:{}:{question}:{answer}", inv.member.id);
    let (reply, accepted) = once(ctx, inv, &key, "accept answers", |s| async move {
        s.writer.accept_answer(question, answer).await?;
        Ok(format!(
            "You accepted answer {answer} on question {question} as **{}**. ✅",
            super::render::escape_md(&s.name)
        ))
    })
    .await;
    if accepted {
        forget_view(ctx, question);
    }
    if reply.content.contains("refused this") {
        return Reply::private(format!(
            "Only the person who asked question {question} can accept an answer to it, and the bot acts as your linked account. {}",
            reply.content
        ));
    }
    reply
}

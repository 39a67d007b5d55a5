//! Upvote, Downvote and Accept buttons, acting as the member, once per member and button.

use crate::soe::Vote;
use crate::store::WriteClaim;

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

/// Runs `action` at most once for `key`.
async fn once<F, Fut>(ctx: &Commands, inv: &Invocation, key: String, what: &str, action: F) -> Reply
where
    F: FnOnce(super::member::MemberSession) -> Fut,
    Fut: std::future::Future<Output = Result<String, crate::soe::Error>>,
{
    let s = match session(ctx, inv.member.id) {
        Ok(s) => s,
        Err(why) => return no_session_reply(ctx, why, what),
    };
    match ctx.store.claim_write(&key, ctx.clock.now()) {
        Ok(WriteClaim::Claimed) => {}
        Ok(WriteClaim::InProgress) => {
            return Reply::private("Already working on that; one moment.")
        }
        Ok(WriteClaim::Done { outcome }) => {
            return Reply::private(format!("Already done: {outcome}"))
        }
        Err(e) => return ctx.store_failure(&e),
    }
    match action(s).await {
        Ok(outcome) => {
            if let Err(e) = ctx.store.finish_write(&key, Some(&outcome)) {
                tracing::warn!(error = %e, "could not record a finished write");
            }
            let _ = ctx.store.touch_link(inv.member.id, ctx.clock.now());
            Reply::private(outcome)
        }
        Err(e) => {
            if let Err(err) = ctx.store.finish_write(&key, None) {
                tracing::warn!(error = %err, "could not release a write claim");
            }
            let text = write_error_text(ctx, inv.member.id, &e);
            if needs_relink(&e) {
                link_prompt(&text)
            } else {
                Reply::private(text)
            }
        }
    }
}

/// A vote on a question.
pub async fn vote_question(ctx: &Commands, inv: &Invocation, question: i64, vote: Vote) -> Reply {
    let key = format!("vq:{}:{question}:{vote:?}", inv.member.id);
    once(ctx, inv, key, "vote", |s| async move {
        let q = s.writer.vote_question(question, vote).await?;
        Ok(format!(
            "You {} “{}” as **{}** (score now {}).",
            verb(vote),
            super::reply::truncate(&q.title, 100),
            super::render::escape_md(&s.name),
            q.score
        ))
    })
    .await
}

/// A vote on an answer.
pub async fn vote_answer(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    answer: i64,
    vote: Vote,
) -> Reply {
    let key = format!("va:{}:{question}:{answer}:{vote:?}", inv.member.id);
    once(ctx, inv, key, "vote", |s| async move {
        let a = s.writer.vote_answer(question, answer, vote).await?;
        Ok(format!(
            "You {} answer {answer} as **{}** (score now {}).",
            verb(vote),
            super::render::escape_md(&s.name),
            a.score
        ))
    })
    .await
}

/// Accepting an answer (question owner only; SOE enforces it, the reply explains it).
pub async fn accept(ctx: &Commands, inv: &Invocation, question: i64, answer: i64) -> Reply {
    let key = format!("ac:{}:{question}:{answer}", inv.member.id);
    let reply = once(ctx, inv, key, "accept answers", |s| async move {
        s.writer.accept_answer(question, answer).await?;
        Ok(format!(
            "You accepted answer {answer} on question {question} as **{}**. ✅",
            super::render::escape_md(&s.name)
        ))
    })
    .await;
    if reply.content.contains("refused this") {
        return Reply::private(format!(
            "Only the person who asked question {question} can accept an answer to it, and the bot acts as your linked account. {}",
            reply.content
        ));
    }
    reply
}

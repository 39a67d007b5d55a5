//! `/so question id:<id or URL>` and the Open and Share buttons: the question, its top
//! answers, and what one can do with them.
//!
//! A view is two service-token reads (the question and its answers), made together and
//! charged together to the member's share of the service budget (`caches`): a member past
//! their share is told to slow down before any call. Views are cached like searches
//! (`limits.search_cache_secs`), for every member, so repeated views and Open clicks cost
//! nothing; a vote or accept through the bot drops the cached view. A view whose answers
//! failed to load is shown but not cached. Share follows the rules in `share`.

use std::sync::Arc;

use crate::soe::{AnswerSort, PageSize, SoeRead, Vote};

use super::caches::{QuestionCache, QuestionView};
use super::ids::Id;
use super::render::{answer_embed, question_embed};
use super::reply::{ButtonStyle, Component, Reply};
use super::{Commands, Invocation};

/// Answers shown under a question.
pub const TOP_ANSWERS: usize = 3;

/// Reads a question id from `123`, `#123`, or a URL with `/questions/123/…` or `/q/123`.
pub fn parse_question_ref(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('#');
    if let Ok(n) = s.parse::<i64>() {
        return (n > 0).then_some(n);
    }
    let url = url::Url::parse(s).ok()?;
    let mut segs = url.path_segments()?;
    while let Some(seg) = segs.next() {
        if seg == "questions" || seg == "q" {
            return segs.next()?.parse::<i64>().ok().filter(|n| *n > 0);
        }
    }
    None
}

/// `/so question`.
pub async fn command(ctx: &Commands, inv: &Invocation) -> Reply {
    let raw = inv.text("id").unwrap_or_default();
    match parse_question_ref(&raw) {
        Some(id) => show(ctx, inv, id, false).await,
        None => Reply::private(format!(
            "`{}` is not a question id or link. Use the number from the question's URL, e.g. `/so question id: 123` or the full link.",
            super::reply::truncate(&raw, 100).replace('`', "'")
        )),
    }
}

/// Question `id` and its answers: from the cache, or from SOE charged to `member`'s share.
/// The error is the reply to give.
async fn fetch(
    ctx: &Commands,
    member: u64,
    team: Option<&crate::soe::TeamSlug>,
    id: i64,
) -> Result<Arc<QuestionView>, Reply> {
    let key = QuestionCache::key(team.map(|t| t.as_str()), id);
    if let Some(hit) = ctx.question_cache.get(&key) {
        return Ok(hit);
    }
    let reader = ctx.reader_for(member, team);
    reader.reserve(2).map_err(|refusal| refusal.reply())?;
    let (question, answers) = tokio::join!(
        reader.get_question(id),
        reader.list_answers(id, 1, PageSize::Fifteen, AnswerSort::Score)
    );
    let question = match question {
        Ok(q) => q,
        Err(crate::soe::Error::NotFound { .. }) => {
            return Err(Reply::private(format!(
                "There is no question {id} on {} (or you cannot see it). Check the number or link.",
                ctx.site.name
            )));
        }
        Err(e) => return Err(ctx.soe_failure(&e)),
    };
    match answers {
        Ok(page) => {
            let view = Arc::new(QuestionView {
                question,
                answers: page.items,
            });
            ctx.question_cache.put(key, view.clone());
            Ok(view)
        }
        Err(e) => {
            tracing::info!(error = %e, "answers did not load; showing the question alone");
            Ok(Arc::new(QuestionView {
                question,
                answers: vec![],
            }))
        }
    }
}

/// Renders question `id` privately, or publicly when `share`.
pub async fn show(ctx: &Commands, inv: &Invocation, id: i64, share: bool) -> Reply {
    if share {
        if let Some(refusal) = super::share::permission_refusal(inv) {
            return refusal;
        }
    }
    let team = ctx.team_in(inv.guild_id, inv.channel_id);
    let view = match fetch(ctx, inv.member.id, team.as_ref(), id).await {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    if share {
        if let Some(refusal) = super::share::take_cooldowns(ctx, inv) {
            return refusal;
        }
    }
    let question = &view.question;
    let mut answers = view.answers.clone();
    // Accepted first, then by score (the API sorts by score only).
    answers.sort_by(|a, b| {
        b.is_accepted
            .cmp(&a.is_accepted)
            .then(b.score.cmp(&a.score))
    });
    answers.truncate(TOP_ANSWERS);
    let now = ctx.clock.now();
    let mut reply = if share {
        Reply::public("")
    } else {
        Reply::private("")
    };
    reply = reply.with_embed(question_embed(question, now, 1500));
    for (i, a) in answers.iter().enumerate() {
        reply = reply.with_embed(answer_embed(i + 1, a, now, 900));
    }
    if share {
        reply.content = format!("Shared by {}", super::render::escape_md(&inv.member.name));
    }
    let mut row = vec![
        Component::button(
            Id::VoteQuestion {
                question: id,
                vote: Vote::Up,
            }
            .encode(),
            "▲ Upvote",
            ButtonStyle::Secondary,
        ),
        Component::button(
            Id::VoteQuestion {
                question: id,
                vote: Vote::Down,
            }
            .encode(),
            "▼ Downvote",
            ButtonStyle::Secondary,
        ),
        Component::button(
            Id::OpenAnswer { question: id }.encode(),
            "Answer",
            ButtonStyle::Primary,
        ),
    ];
    if let Some(url) = question.web_url.clone().or(question.share_url.clone()) {
        row.push(Component::link(url, "View on site"));
    }
    if !share {
        row.push(Component::button(
            Id::ShareQuestion { question: id }.encode(),
            "Share to channel",
            ButtonStyle::Secondary,
        ));
    }
    reply = reply.with_row(row);
    for (i, a) in answers.iter().enumerate() {
        let n = i + 1;
        let mut r = vec![
            Component::button(
                Id::VoteAnswer {
                    question: id,
                    answer: a.id,
                    vote: Vote::Up,
                }
                .encode(),
                &format!("▲ Answer {n}"),
                ButtonStyle::Secondary,
            ),
            Component::button(
                Id::VoteAnswer {
                    question: id,
                    answer: a.id,
                    vote: Vote::Down,
                }
                .encode(),
                &format!("▼ Answer {n}"),
                ButtonStyle::Secondary,
            ),
        ];
        if !a.is_accepted {
            r.push(Component::button(
                Id::Accept {
                    question: id,
                    answer: a.id,
                }
                .encode(),
                &format!("✓ Accept {n}"),
                ButtonStyle::Success,
            ));
        }
        reply = reply.with_row(r);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_refs() {
        assert_eq!(parse_question_ref("123"), Some(123));
        assert_eq!(parse_question_ref("#7"), Some(7));
        assert_eq!(
            parse_question_ref("https://acme.stackenterprise.co/questions/42/some-slug"),
            Some(42)
        );
        assert_eq!(
            parse_question_ref("https://acme.stackenterprise.co/c/platform/questions/9"),
            Some(9)
        );
        assert_eq!(
            parse_question_ref("https://acme.stackenterprise.co/q/5"),
            Some(5)
        );
        assert_eq!(parse_question_ref("abc"), None);
        assert_eq!(parse_question_ref("-3"), None);
        assert_eq!(parse_question_ref("https://x/users/3"), None);
    }
}

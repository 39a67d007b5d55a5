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
use super::ids::{Id, Surface};
use super::render::{answer_embed, question_embed};
use super::reply::{ButtonStyle, Component, Reply, SelectOption};
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

/// [`fetch`] in the team the invocation's channel is bound to (or the main site).
pub(crate) async fn fetch_in(
    ctx: &Commands,
    inv: &Invocation,
    id: i64,
) -> Result<Arc<QuestionView>, Reply> {
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    fetch(ctx, inv.member.id, team.as_ref(), id).await
}

/// Question `id` and its answers: from the cache, or from SOE charged to `member`'s share.
/// The error is the reply to give.
pub(crate) async fn fetch(
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
    reader.reserve(2).await.map_err(|refusal| refusal.reply())?;
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

/// A vote the member just made through a card, shown on its buttons: the pressed one becomes
/// its Undo (with the new score), the other direction is disabled until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JustVoted {
    /// The answer voted on, `None` for the question.
    pub answer: Option<i64>,
    /// The vote made (an undo shows the buttons as they were).
    pub vote: Vote,
}

/// Renders question `id` privately, or publicly when `share`.
pub async fn show(ctx: &Commands, inv: &Invocation, id: i64, share: bool) -> Reply {
    if share {
        if let Some(refusal) = super::share::permission_refusal(inv) {
            return refusal;
        }
    }
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    let view = match fetch(ctx, inv.member.id, team.as_ref(), id).await {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    if share {
        if let Some(refusal) = super::share::take_cooldowns(ctx, inv).await {
            return refusal;
        }
    }
    ctx.recent
        .record(inv.channel_id, view.question.id, &view.question.title);
    let mut reply = card(&view, share, None);
    if share {
        reply.content = format!("Shared by {}", super::render::escape_md(&inv.member.name));
    }
    reply
}

/// The up and down buttons of one post. `just` is the member's vote on this post, if they
/// just made one here.
fn vote_buttons(
    id_of: impl Fn(Vote) -> String,
    [up_label, down_label]: [&str; 2],
    score: i64,
    just: Option<Vote>,
) -> [Component; 2] {
    let mut up = Component::button(id_of(Vote::Up), up_label, ButtonStyle::Secondary);
    let mut down = Component::button(id_of(Vote::Down), down_label, ButtonStyle::Secondary);
    match just {
        Some(Vote::Up) => {
            up = Component::button(
                id_of(Vote::UndoUp),
                &format!("▲ Upvoted · score {score} · Undo"),
                ButtonStyle::Success,
            );
            down = down.disabled(true);
        }
        Some(Vote::Down) => {
            down = Component::button(
                id_of(Vote::UndoDown),
                &format!("▼ Downvoted · score {score} · Undo"),
                ButtonStyle::Danger,
            );
            up = up.disabled(true);
        }
        Some(Vote::UndoUp | Vote::UndoDown) | None => {}
    }
    [up, down]
}

/// The answers of `view`, accepted first, then by score (the API sorts by score only).
fn ranked(view: &QuestionView) -> Vec<&crate::soe::Answer> {
    let mut answers: Vec<&crate::soe::Answer> = view.answers.iter().collect();
    answers.sort_by(|a, b| {
        b.is_accepted
            .cmp(&a.is_accepted)
            .then(b.score.cmp(&a.score))
    });
    answers
}

/// The card of `view`: the question and its top answers, the question's buttons, and a select
/// to open an answer (with its votes and Accept). `share` renders the public copy (its
/// controls answer the presser privately); `just` marks a vote the member just made on the
/// question through this (private) card.
pub fn card(view: &QuestionView, share: bool, just: Option<JustVoted>) -> Reply {
    let question = &view.question;
    let id = question.id;
    let on = if share {
        Surface::Shared
    } else {
        Surface::Card
    };
    let answers = ranked(view);
    let mut reply = if share {
        Reply::public("")
    } else {
        Reply::private("")
    };
    reply = reply.with_embed(question_embed(question, 1500));
    for (i, a) in answers.iter().take(TOP_ANSWERS).enumerate() {
        reply = reply.with_embed(answer_embed(i + 1, a, 900));
    }
    let on_question = just.filter(|j| j.answer.is_none()).map(|j| j.vote);
    let [up, down] = vote_buttons(
        |vote| {
            Id::VoteQuestion {
                question: id,
                vote,
                on,
            }
            .encode()
        },
        ["▲ Upvote", "▼ Downvote"],
        question.score,
        on_question,
    );
    let mut row = vec![
        up,
        down,
        Component::button(
            Id::OpenAnswer { question: id }.encode(),
            "Answer",
            ButtonStyle::Primary,
        ),
    ];
    if let Some(url) = question.web_url.clone().or(question.share_url.clone()) {
        row.push(Component::link(url, &crate::t!("button-view-on-site")));
    }
    if !share {
        row.push(Component::button(
            Id::ShareQuestion { question: id }.encode(),
            &crate::t!("button-share"),
            ButtonStyle::Secondary,
        ));
    }
    reply = reply.with_row(row);
    let choices: Vec<SelectOption> = answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let label = format!(
                "Answer {} · score {}{}",
                i + 1,
                a.score,
                if a.is_accepted {
                    " · ✓ accepted"
                } else {
                    ""
                }
            );
            let owner = a.owner.as_ref().map_or("unknown", |o| o.name.as_str());
            let excerpt = super::render::plain_text(&a.body);
            let about = format!("{owner}: {excerpt}");
            SelectOption::new(&label, &a.id.to_string(), Some(&about))
        })
        .collect();
    reply.with_row(vec![Component::select(
        Id::PickAnswer { question: id, on }.encode(),
        "Vote on or accept an answer…",
        choices,
    )])
}

/// One answer of `view`, privately, with its votes, Accept (or ✓ when accepted) and Back to
/// the question; `just` marks a vote the member just made on it here. `None` when the answer
/// is not among those loaded.
pub fn answer_card(view: &QuestionView, answer: i64, just: Option<Vote>) -> Option<Reply> {
    let question = &view.question;
    let answers = ranked(view);
    let (i, a) = answers.iter().enumerate().find(|(_, a)| a.id == answer)?;
    let n = i + 1;
    let id = question.id;
    let [up, down] = vote_buttons(
        |vote| {
            Id::VoteAnswer {
                question: id,
                answer,
                vote,
                on: Surface::Card,
            }
            .encode()
        },
        ["▲ Upvote", "▼ Downvote"],
        a.score,
        just,
    );
    let accept = if a.is_accepted {
        Component::button(
            format!("so:accepted:{answer}"),
            "✓ Accepted",
            ButtonStyle::Success,
        )
        .disabled(true)
    } else {
        Component::button(
            Id::Accept {
                question: id,
                answer,
                on: Surface::Card,
            }
            .encode(),
            "✓ Accept",
            ButtonStyle::Success,
        )
    };
    let back = Component::button(
        Id::QuestionInPlace { question: id }.encode(),
        "◀ Back to the question",
        ButtonStyle::Secondary,
    );
    let mut reply = Reply::private(format!(
        "On “{}”",
        super::render::escape_md(&super::reply::truncate(&question.title, 200))
    ))
    .with_embed(answer_embed(n, a, 3500))
    .with_row(vec![up, down, accept, back]);
    if let Some(url) = a.web_url.clone().or(a.share_link.clone()) {
        reply = reply.with_row(vec![Component::link(
            url,
            &crate::t!("button-view-on-site"),
        )]);
    }
    Some(reply)
}

/// The answers select: answer `answer` of question `question`, in place of a private card, or
/// privately for a shared card.
pub async fn pick_answer(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    answer: i64,
    on: Surface,
) -> Reply {
    let view = match fetch_in(ctx, inv, question).await {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    match answer_card(&view, answer, None) {
        Some(card) if on == Surface::Shared => card,
        Some(card) => card.into_update(),
        None => Reply::private("That answer is no longer on this question; open it again."),
    }
}

/// Question `id` in place of the message the member used (a result picked from a search, or
/// Back from an answer); `back` adds a row (Back to the results). Failures are told
/// privately and the message stays.
pub async fn in_place(ctx: &Commands, inv: &Invocation, id: i64, back: Option<Component>) -> Reply {
    let view = match fetch_in(ctx, inv, id).await {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    ctx.recent
        .record(inv.channel_id, view.question.id, &view.question.title);
    let mut reply = card(&view, false, None);
    if let Some(b) = back {
        reply = reply.with_row(vec![b]);
    }
    reply.into_update()
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

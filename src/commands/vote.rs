//! Upvote, Downvote and Accept buttons, acting as the member, once per member and button.
//!
//! A press updates the message it came from ([`Surface`]): on the member's private card (a
//! question, or one answer opened from its select) the card is shown again with the new score
//! and the pressed button turned into its Undo (SOE's `DELETE …/upvote|downvote`), the other
//! direction disabled, and an accepted answer marked ✓; on a
//! private confirmation the text and its Undo change in place; a card shared in the channel is
//! left as everyone sees it and the member is answered privately, with an Undo.
//!
//! "Once" is a store claim keyed by member and button: a double click or a retried
//! interaction gets "Already done". The outcome stands for about a minute
//! ([`crate::store::WRITE_CLAIM_TTL_SECS`]) and is dropped at once when the member votes
//! otherwise on the same post (an undo, or the other direction), so the same button works
//! again after an undo made here or on the site. A successful vote drops the cached view of
//! the question, so the next view shows the new score.
//!
//! Each write is claimed in the store under a key that names the member, the target and the
//! private team the write went to, if any ([`WriteKey`]). A claim left unfinished by a process
//! that died mid-write is settled by [`recover_claim`], which reads the post's state, in that
//! team, as the member
//! (`userHasUpvoted`/`userHasDownvoted` of the question, `isAccepted` of the answer): done
//! writes are recorded as done, writes that did not happen are released so the button works
//! again. The member's vote on an answer is not in API v3's answer model, so such a claim is
//! released with its outcome named as unknown (pressing again is safe: the site refuses a
//! second identical vote).

use crate::soe::{SoeWrite, TeamSlug, Vote};
use crate::store::WriteClaim;

use super::caches::QuestionCache;
use super::ids::{Id, Surface};
use super::member::{link_prompt, needs_relink, no_session_reply, session, write_error_text};
use super::reply::{ButtonStyle, Component, Reply};
use super::show::{self, JustVoted};
use super::{Commands, Invocation, Notice};

/// What a write claim is about; its string form is the claim key. A write made in a private
/// team ends its key with `@{team}` (`vq:7:3:Up@platform`); a key without it (all keys made
/// before the suffix existed) is a write on the main site (the configured default team, if
/// any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKey {
    /// A vote on a question: `vq:{user}:{question}:{vote}[@{team}]`.
    QuestionVote {
        user: u64,
        question: i64,
        vote: Vote,
        team: Option<TeamSlug>,
    },
    /// A vote on an answer: `va:{user}:{question}:{answer}:{vote}[@{team}]`.
    AnswerVote {
        user: u64,
        question: i64,
        answer: i64,
        vote: Vote,
        team: Option<TeamSlug>,
    },
    /// Accepting an answer: `ac:{user}:{question}:{answer}[@{team}]`.
    Accept {
        user: u64,
        question: i64,
        answer: i64,
        team: Option<TeamSlug>,
    },
}

/// A vote as a past-tense verb for the audit ("upvoted question 7").
fn voted(vote: Vote) -> &'static str {
    match vote {
        Vote::Up => "upvoted",
        Vote::Down => "downvoted",
        Vote::UndoUp => "took back an upvote on",
        Vote::UndoDown => "took back a downvote on",
    }
}

fn vote_name(vote: Vote) -> &'static str {
    match vote {
        Vote::Up => "Up",
        Vote::Down => "Down",
        Vote::UndoUp => "UndoUp",
        Vote::UndoDown => "UndoDown",
    }
}

impl WriteKey {
    /// The claim key.
    pub fn key(&self) -> String {
        let base = match *self {
            WriteKey::QuestionVote {
                user,
                question,
                vote,
                ..
            } => {
                format!("vq:{user}:{question}:{}", vote_name(vote))
            }
            WriteKey::AnswerVote {
                user,
                question,
                answer,
                vote,
                ..
            } => {
                format!("va:{user}:{question}:{answer}:{}", vote_name(vote))
            }
            WriteKey::Accept {
                user,
                question,
                answer,
                ..
            } => format!("ac:{user}:{question}:{answer}"),
        };
        match self.team() {
            Some(team) => format!("{base}@{}", team.as_str()),
            None => base,
        }
    }

    /// Reads a claim key back; `None` for keys this module did not make.
    pub fn parse(key: &str) -> Option<WriteKey> {
        let (key, team) = match key.split_once('@') {
            Some((key, team)) => (key, Some(TeamSlug::parse(team)?)),
            None => (key, None),
        };
        let parts: Vec<&str> = key.split(':').collect();
        let vote = |s: &str| {
            [Vote::Up, Vote::Down, Vote::UndoUp, Vote::UndoDown]
                .into_iter()
                .find(|v| vote_name(*v) == s)
        };
        match parts.as_slice() {
            ["vq", u, q, v] => Some(WriteKey::QuestionVote {
                user: u.parse().ok()?,
                question: q.parse().ok()?,
                vote: vote(v)?,
                team,
            }),
            ["va", u, q, a, v] => Some(WriteKey::AnswerVote {
                user: u.parse().ok()?,
                question: q.parse().ok()?,
                answer: a.parse().ok()?,
                vote: vote(v)?,
                team,
            }),
            ["ac", u, q, a] => Some(WriteKey::Accept {
                user: u.parse().ok()?,
                question: q.parse().ok()?,
                answer: a.parse().ok()?,
                team,
            }),
            _ => None,
        }
    }

    fn user(&self) -> u64 {
        match *self {
            WriteKey::QuestionVote { user, .. }
            | WriteKey::AnswerVote { user, .. }
            | WriteKey::Accept { user, .. } => user,
        }
    }

    /// The private team the write went to; `None`: the main site.
    fn team(&self) -> Option<&TeamSlug> {
        match self {
            WriteKey::QuestionVote { team, .. }
            | WriteKey::AnswerVote { team, .. }
            | WriteKey::Accept { team, .. } => team.as_ref(),
        }
    }

    /// What was done, for the audit entry, and the question it was on.
    fn audit_what(&self) -> (String, i64) {
        match *self {
            WriteKey::QuestionVote { question, vote, .. } => {
                (format!("{} question {question}", voted(vote)), question)
            }
            WriteKey::AnswerVote {
                question,
                answer,
                vote,
                ..
            } => (format!("{} answer {answer}", voted(vote)), question),
            WriteKey::Accept {
                question, answer, ..
            } => (
                format!("accepted answer {answer} on question {question}"),
                question,
            ),
        }
    }

    fn describe(&self) -> String {
        match *self {
            WriteKey::QuestionVote { question, vote, .. } => {
                format!("your vote ({}) on question {question}", vote_name(vote))
            }
            WriteKey::AnswerVote { answer, vote, .. } => {
                format!("your vote ({}) on answer {answer}", vote_name(vote))
            }
            WriteKey::Accept {
                question, answer, ..
            } => {
                format!("accepting answer {answer} on question {question}")
            }
        }
    }
}

/// What the site says about an interrupted write.
enum SiteState {
    /// It happened; the outcome text to record.
    Done(String),
    /// It did not happen.
    NotDone,
    /// The API does not show it.
    Unknowable,
}

async fn read_state(
    writer: &dyn SoeWrite,
    name: &str,
    key: &WriteKey,
) -> crate::soe::Result<SiteState> {
    Ok(match *key {
        WriteKey::QuestionVote { question, vote, .. } => {
            let q = writer.get_question(question).await?;
            let holds = match vote {
                Vote::Up => q.user_has_upvoted,
                Vote::Down => q.user_has_downvoted,
                Vote::UndoUp => q.user_has_upvoted.map(|v| !v),
                Vote::UndoDown => q.user_has_downvoted.map(|v| !v),
            };
            match holds {
                Some(true) => SiteState::Done(format!(
                    "You {} “{}” as **{name}** (score now {}).",
                    verb(vote),
                    super::reply::truncate(&q.title, 100),
                    q.score
                )),
                Some(false) => SiteState::NotDone,
                None => SiteState::Unknowable,
            }
        }
        WriteKey::AnswerVote { .. } => SiteState::Unknowable,
        WriteKey::Accept {
            question, answer, ..
        } => {
            if writer.get_answer(question, answer).await?.is_accepted {
                SiteState::Done(format!(
                    "You accepted answer {answer} on question {question} as **{name}**. ✅"
                ))
            } else {
                SiteState::NotDone
            }
        }
    })
}

/// Settles a write claim left unfinished by an interrupted process (see the module docs) and
/// says what happened. `None` for keys this module does not know, or when the site cannot be
/// asked right now (the claim then expires on its own and the button works again).
pub async fn recover_claim(ctx: &Commands, key: &str) -> Option<Notice> {
    let parsed = WriteKey::parse(key)?;
    let user = parsed.user();
    let what = parsed.describe();
    // The team the write went to, named by the key; a key without one: the main site.
    let team = parsed.team().or(ctx.site.team.as_ref());
    let s = match session(ctx, user, team).await {
        Ok(s) => s,
        Err(_) => {
            let _ = ctx.store.finish_write(key, None, ctx.clock.now()).await;
            return Some(Notice {
                original: None,
                user,
                reply: Reply::private(format!(
                    "The bot was interrupted while recording {what}, and without a usable link it cannot check the site. Look at the post; press the button again after linking if it is not there."
                )),
            });
        }
    };
    let state = match read_state(s.writer.as_ref(), &s.name, &parsed).await {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!(error = %e, "could not check an interrupted write; leaving its claim");
            return None;
        }
    };
    let (outcome, text) = match state {
        SiteState::Done(outcome) => (
            Some(outcome.clone()),
            format!("The bot was interrupted, but the site has it: {outcome}"),
        ),
        SiteState::NotDone => (
            None,
            format!("The bot was interrupted before {what} reached the site: nothing was recorded. Press the button again."),
        ),
        SiteState::Unknowable => (
            None,
            format!("The bot was interrupted while recording {what}, and the site does not show whether it went through. Check the post; pressing the button again is safe (the site refuses a second identical vote)."),
        ),
    };
    if let Err(e) = ctx
        .store
        .finish_write(key, outcome.as_deref(), ctx.clock.now())
        .await
    {
        tracing::warn!(error = %e, "could not settle an interrupted write");
    }
    Some(Notice {
        original: None,
        user,
        reply: Reply::private(text),
    })
}

/// True when `key`'s unfinished claim was made before this process started.
pub(crate) async fn claimed_by_an_earlier_process(ctx: &Commands, key: &str) -> bool {
    ctx.store.unfinished_writes().await.is_ok_and(|claims| {
        claims
            .iter()
            .any(|(k, at)| k == key && at.is_none_or(|at| at < ctx.started_at))
    })
}

fn verb(vote: Vote) -> &'static str {
    match vote {
        Vote::Up => "upvoted",
        Vote::Down => "downvoted",
        Vote::UndoUp => "removed your upvote on",
        Vote::UndoDown => "removed your downvote on",
    }
}

/// Runs `action` at most once for `key`, as the member in `team` (the channel's; the key names
/// it too). The flag says whether it ran now and succeeded.
async fn once<F, Fut>(
    ctx: &Commands,
    inv: &Invocation,
    team: Option<&TeamSlug>,
    key: &str,
    what: &str,
    action: F,
) -> (Reply, bool)
where
    F: FnOnce(super::member::MemberSession) -> Fut,
    Fut: std::future::Future<Output = Result<String, crate::soe::Error>>,
{
    let s = match session(ctx, inv.member.id, team).await {
        Ok(s) => s,
        Err(why) => return (no_session_reply(ctx, why, what), false),
    };
    let mut claim = ctx.store.claim_write(key, ctx.clock.now()).await;
    if matches!(claim, Ok(WriteClaim::InProgress)) && claimed_by_an_earlier_process(ctx, key).await
    {
        // Left by a process that died mid-write: look on the site, then claim again.
        let _ = recover_claim(ctx, key).await;
        claim = ctx.store.claim_write(key, ctx.clock.now()).await;
    }
    match claim {
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
            if let Err(e) = ctx
                .store
                .finish_write(key, Some(&outcome), ctx.clock.now())
                .await
            {
                tracing::warn!(error = %e, "could not record a finished write");
            }
            let _ = ctx.store.touch_link(inv.member.id, ctx.clock.now()).await;
            if let Some(k) = WriteKey::parse(key) {
                let (what, question) = k.audit_what();
                ctx.audit(super::audit::AuditEvent {
                    guild: inv.guild_id,
                    actor: inv.member.id,
                    actor_username: Some(inv.member.username.clone()),
                    what: format!(
                        "{what}{}",
                        inv.channel_id
                            .map(|c| format!(" from <#{c}>"))
                            .unwrap_or_default()
                    ),
                    link: Some(ctx.question_url(team, question)),
                })
                .await;
            }
            (Reply::private(outcome), true)
        }
        Err(e) => {
            if let Err(err) = ctx.store.finish_write(key, None, ctx.clock.now()).await {
                tracing::warn!(error = %err, "could not release a write claim");
            }
            let text = write_error_text(ctx, inv.member.id, &e).await;
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
async fn forget_view(ctx: &Commands, inv: &Invocation, question: i64) {
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    ctx.question_cache.forget(&QuestionCache::key(
        team.as_ref().map(|t| t.as_str()),
        question,
    ));
}

/// After `vote` succeeded on a post: the member's other vote buttons on it no longer stand
/// for what is on the site (their recorded outcomes were replaced by this vote), and the
/// cached view of the question is stale.
async fn after_vote(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    vote: Vote,
    key_of: impl Fn(Vote) -> String,
) {
    for other in [Vote::Up, Vote::Down, Vote::UndoUp, Vote::UndoDown] {
        if other == vote {
            continue;
        }
        if let Err(e) = ctx.store.forget_outcome(&key_of(other)).await {
            tracing::warn!(error = %e, "could not drop an earlier vote outcome");
        }
    }
    forget_view(ctx, inv, question).await;
}

/// After a vote went through: the reply for the message the button was on (see
/// [`Surface`]). `confirmation` is what the member is told; `vote_id` makes the button for a
/// vote on the same post.
async fn live_vote(
    ctx: &Commands,
    inv: &Invocation,
    confirmation: Reply,
    question: i64,
    just: JustVoted,
    on: Surface,
    vote_id: impl Fn(Vote, Surface) -> String,
) -> Reply {
    let next = match just.vote {
        Vote::Up => (Vote::UndoUp, "Undo upvote", ButtonStyle::Secondary),
        Vote::Down => (Vote::UndoDown, "Undo downvote", ButtonStyle::Secondary),
        Vote::UndoUp => (Vote::Up, "▲ Upvote again", ButtonStyle::Secondary),
        Vote::UndoDown => (Vote::Down, "▼ Downvote again", ButtonStyle::Secondary),
    };
    let note = confirmation.with_row(vec![Component::button(
        vote_id(next.0, Surface::Note),
        next.1,
        next.2,
    )]);
    match on {
        Surface::Note => note.into_update(),
        Surface::Shared | Surface::Dm => note,
        Surface::Card => {
            let card = match (show::fetch_in(ctx, inv, question).await, just.answer) {
                (Ok(view), None) => Some(show::card(&view, false, Some(just))),
                (Ok(view), Some(answer)) => show::answer_card(&view, answer, Some(just.vote)),
                (Err(_), _) => None,
            };
            match card {
                Some(mut card) => {
                    card.content = note.content;
                    card.into_update()
                }
                // The vote is made; without the card the member still gets it, and its Undo.
                None => note,
            }
        }
    }
}

/// A vote on a question, from a button on `on`.
pub async fn vote_question(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    vote: Vote,
    on: Surface,
) -> Reply {
    let user = inv.member.id;
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    let key_of = |vote: Vote| {
        WriteKey::QuestionVote {
            user,
            question,
            vote,
            team: team.clone(),
        }
        .key()
    };
    let (reply, voted) = once(
        ctx,
        inv,
        team.as_ref(),
        &key_of(vote),
        "doing-vote",
        |s| async move {
            let q = s.writer.vote_question(question, vote).await?;
            Ok(format!(
                "You {} “{}” as **{}** (score now {}).",
                verb(vote),
                super::reply::truncate(&q.title, 100),
                super::render::escape_md(&s.name),
                q.score
            ))
        },
    )
    .await;
    if !voted {
        return reply;
    }
    after_vote(ctx, inv, question, vote, key_of).await;
    let just = JustVoted { answer: None, vote };
    live_vote(ctx, inv, reply, question, just, on, |vote, on| {
        Id::VoteQuestion { question, vote, on }.encode()
    })
    .await
}

/// A vote on an answer, from a button on `on`.
pub async fn vote_answer(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    answer: i64,
    vote: Vote,
    on: Surface,
) -> Reply {
    let user = inv.member.id;
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    let key_of = |vote: Vote| {
        WriteKey::AnswerVote {
            user,
            question,
            answer,
            vote,
            team: team.clone(),
        }
        .key()
    };
    let (reply, voted) = once(
        ctx,
        inv,
        team.as_ref(),
        &key_of(vote),
        "doing-vote",
        |s| async move {
            let a = s.writer.vote_answer(question, answer, vote).await?;
            Ok(format!(
                "You {} answer {answer} as **{}** (score now {}).",
                verb(vote),
                super::render::escape_md(&s.name),
                a.score
            ))
        },
    )
    .await;
    if !voted {
        return reply;
    }
    after_vote(ctx, inv, question, vote, key_of).await;
    let just = JustVoted {
        answer: Some(answer),
        vote,
    };
    live_vote(ctx, inv, reply, question, just, on, |vote, on| {
        Id::VoteAnswer {
            question,
            answer,
            vote,
            on,
        }
        .encode()
    })
    .await
}

/// Accepting an answer (question owner only; SOE enforces it, the reply explains it), from a
/// button on `on`: a private card shows the answer accepted in place.
pub async fn accept(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    answer: i64,
    on: Surface,
) -> Reply {
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    let key = WriteKey::Accept {
        user: inv.member.id,
        question,
        answer,
        team: team.clone(),
    }
    .key();
    let (reply, accepted) = once(
        ctx,
        inv,
        team.as_ref(),
        &key,
        "doing-accept",
        |s| async move {
            s.writer.accept_answer(question, answer).await?;
            Ok(format!(
                "You accepted answer {answer} on question {question} as **{}**. ✅",
                super::render::escape_md(&s.name)
            ))
        },
    )
    .await;
    if accepted {
        forget_view(ctx, inv, question).await;
        if on == Surface::Card {
            if let Ok(view) = show::fetch_in(ctx, inv, question).await {
                if let Some(mut card) = show::answer_card(&view, answer, None) {
                    card.content = reply.content;
                    return card.into_update();
                }
            }
        }
        return reply;
    }
    if reply.content.contains("refused this") {
        return Reply::private(format!(
            "Only the person who asked question {question} can accept an answer to it, and the bot acts as your linked account. {}",
            reply.content
        ));
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_keys_read_back_and_keep_their_old_spelling() {
        let platform = TeamSlug::parse("platform");
        let keys = [
            WriteKey::QuestionVote {
                user: 7,
                question: 3,
                vote: Vote::UndoDown,
                team: None,
            },
            WriteKey::AnswerVote {
                user: 7,
                question: 3,
                answer: 16,
                vote: Vote::Up,
                team: None,
            },
            WriteKey::Accept {
                user: 7,
                question: 3,
                answer: 16,
                team: None,
            },
            WriteKey::QuestionVote {
                user: 7,
                question: 3,
                vote: Vote::Up,
                team: platform.clone(),
            },
            WriteKey::AnswerVote {
                user: 7,
                question: 3,
                answer: 16,
                vote: Vote::Down,
                team: platform.clone(),
            },
            WriteKey::Accept {
                user: 7,
                question: 3,
                answer: 16,
                team: platform.clone(),
            },
        ];
        for k in &keys {
            assert_eq!(WriteKey::parse(&k.key()).as_ref(), Some(k));
        }
        // The spelling claims already stored use (`{vote:?}`), so old claims are recognised.
        assert_eq!(keys[0].key(), format!("vq:7:3:{:?}", Vote::UndoDown));
        assert_eq!(keys[1].key(), format!("va:7:3:16:{:?}", Vote::Up));
        assert_eq!(WriteKey::parse("vq:7:3:Sideways"), None);
        assert_eq!(WriteKey::parse("draft:abc"), None);
        // A write in a private team names it; a key without it is a main-site write.
        assert_eq!(keys[3].key(), "vq:7:3:Up@platform");
        assert_eq!(keys[5].key(), "ac:7:3:16@platform");
        assert_eq!(
            WriteKey::parse("va:7:3:16:Down@platform").as_ref(),
            Some(&keys[4])
        );
        assert_eq!(WriteKey::parse("vq:7:3:Up@Not A Team"), None);
        // The same vote on the main site and in a team are two different claims.
        assert_ne!(
            WriteKey::parse("vq:7:3:Up"),
            WriteKey::parse("vq:7:3:Up@platform")
        );
    }
}

//! "Save thread to …": a solved Discord thread becomes a question and its answer on the site,
//! each posted as its own author.
//!
//! The flow, started by any member (the invoker) on a message of a thread or forum post, or
//! from the "Save thread to <site>" button ([`forum_button`], `so:tsb:<thread>`) that the
//! bot's private `/so search` replies carry inside a forum post (a thread whose parent is a
//! forum channel, [`super::server::ServerView::is_forum`]); the button starts the same flow on
//! the post's starter message. Neither starts where an admin turned the channel's cards off
//! (a save ends with a card in the thread):
//! 1. the bot reads the thread ([`super::server::ServerView::thread`]); replies that arrive
//!    with empty text mean the bot lacks Discord's Message Content intent, and the invoker is
//!    told what to ask an admin instead of saving an empty answer;
//! 2. the invoker picks the reply that answers it (a select), then confirms the title and tags
//!    (a form, pre-filled with the thread's name and the channel's default tags); the texts
//!    are kept in the invoker's sealed drafts, with Discord syntax rendered as names and code
//!    blocks as written;
//! 3. each author is asked for consent by DM ([`super::consent`]); an author who started the
//!    save has consented by doing so. The question's author may also agree to accept the
//!    answer;
//! 4. as consents arrive, the question is posted as its author, the answer as its author, and
//!    the answer accepted as the question's author, each through that author's own link and
//!    each exactly once (write claims `ts:<save>:q|a|acc|card`); then the thread gets a card
//!    linking the new question;
//! 5. an author who declines, is not linked, or does not answer within 24 hours gets nothing
//!    posted in their name; the invoker may then post that text as themself, with a line
//!    naming the Discord author.
//!
//! Interrupted writes: a part's write is claimed, then marked on the save
//! ([`SavedPart::posting`], [`ThreadSave::accepting`]), flushed, before it goes out, and the
//! mark is cleared when it is recorded. A claim left by an earlier process is taken over at
//! once, a stale one by the store; under the claim, a marked write is never simply made
//! again: the site is asked first, as [`super::post::recover_posting`] does for drafts (the
//! poster's questions since the mark by title, the question's answers by the poster by
//! body; for the acceptance, the answer's accepted state). Found, it is recorded with its
//! link; not there, it is made once; when the site cannot be asked, nothing is written and
//! the mark stays. A post that timed out keeps its mark the same way. Marked saves are
//! continued by the next consent or press, by [`recover_interrupted`] (at startup, and on the
//! leader among replicas) and by the minute's sweep ([`expire_due`]) once the mark is stale.
//!
//! Invariants: nothing is posted under anyone's name without their consent, and only through
//! their own link; every write happens at most once whatever the retries and crashes (only
//! the thread card, which the bot cannot look for in Discord, may be missing or doubled after
//! a crash while it is posted); replies to the invoker are private; the thread card mentions
//! no one.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::author_consent::{self as consent, Consent, ConsentError, PromptButtons};
use super::ids::{Id, SavePart as Part};
use super::member::{link_prompt, no_session_reply_doing, session};
use super::render::escape_md;
use super::reply::{limits, truncate, ButtonStyle, Component, Embed, Modal, Reply, TextInput};
use super::server::{ThreadContent, ThreadMessage};
use super::{validate, Commands, Invocation, MessageRef, Notice};
use crate::soe::{NewAnswer, NewQuestion, SoeWrite};
use crate::store::{Draft, DraftContent, DraftState, WriteClaim};

/// How long a save (and its drafts) is kept: the consents' 24 hours and a day to spare.
pub const SAVE_HOURS: i64 = 48;

/// What was posted for one part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    /// The post's id on the site.
    pub id: i64,
    /// Its link.
    pub url: String,
    /// Whom it was posted as (SOE name).
    pub posted_as: String,
    /// Posted by the invoker as themself, credited to the Discord author.
    pub by_invoker: bool,
}

/// The question or the answer of a save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPart {
    /// The Discord message.
    pub message: u64,
    /// Its author's consent.
    pub consent: Consent,
    /// The invoker's sealed draft holding its text.
    pub draft: String,
    /// What was posted, once it was.
    pub posted: Option<Posted>,
    /// A post of this part that began and was never confirmed (the process died, or the site
    /// did not answer in time): before anything is posted again, the site is searched for it
    /// ([`super::post::find_post`]). Set, flushed, before the write goes out; cleared with
    /// `posted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posting: Option<Unconfirmed>,
}

/// A write of a save that began and is not known to have reached the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unconfirmed {
    /// When it began (the site is searched from a little before: clocks differ).
    pub since: DateTime<Utc>,
    /// Posted by the invoker as themself: it is looked for among the invoker's posts.
    #[serde(default)]
    pub by_invoker: bool,
}

/// One save under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSave {
    /// Random handle (in button ids).
    pub id: String,
    /// The guild.
    pub guild: Option<u64>,
    /// The thread.
    pub thread: u64,
    /// The thread's channel (its team binding and default tags apply).
    pub parent: Option<u64>,
    /// Who started it.
    pub invoker: u64,
    /// Their display name.
    pub invoker_name: String,
    /// The thread's name.
    pub thread_name: String,
    /// The question: the thread's starter message, set when the save starts.
    pub question_message: u64,
    /// Its author.
    pub question_author: (u64, String),
    /// The question's title and tags, once confirmed.
    pub title: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The question part, once the invoker confirmed.
    pub question: Option<SavedPart>,
    /// The answer part, once the invoker confirmed.
    pub answer: Option<SavedPart>,
    /// The answer was accepted on the site.
    pub accepted: bool,
    /// When an acceptance began that was never confirmed: before accepting again, the
    /// answer's state on the site is read. Cleared once `accepted` is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepting: Option<DateTime<Utc>>,
    /// The thread got its card.
    pub card_posted: bool,
    /// The invoker was told how it ended.
    pub finished: bool,
    /// When it started.
    pub created_at: DateTime<Utc>,
}

/// A save's text of a reply or the starter, for its select option.
fn preview(m: &ThreadMessage) -> String {
    let first = m
        .content
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    truncate(first.trim(), 90)
}

/// Step 1: the message command, on a message of a thread.
pub async fn start(ctx: &Commands, inv: &Invocation, message: &MessageRef) -> Reply {
    begin(ctx, inv, Some(message)).await
}

/// Step 1 from the "Save thread to …" button on a reply in a forum post ([`forum_button`]):
/// the same as the message command on the post's starter message, pressed in that post.
pub async fn start_from_button(ctx: &Commands, inv: &Invocation, thread: u64) -> Reply {
    if inv.channel_id != Some(thread) || !inv.in_thread {
        return Reply::private(crate::t!("save-button-elsewhere"));
    }
    begin(ctx, inv, None).await
}

/// The "Save thread to <site>" button for the bot's reply `inv` gets, when `inv` comes from
/// a forum post (a thread whose parent is a forum channel) where the channel's cards are on
/// and the bot can look at the server; `None` anywhere else, and when Discord cannot say.
pub(crate) async fn forum_button(ctx: &Commands, inv: &Invocation) -> Option<Component> {
    let (Some(thread), true, Some(parent), Some(_)) = (
        inv.channel_id,
        inv.in_thread,
        inv.thread_parent,
        inv.guild_id,
    ) else {
        return None;
    };
    let server = ctx.server()?;
    if !cards_on(ctx, inv.guild_id, thread, Some(parent)).await {
        return None;
    }
    match server.is_forum(parent).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::debug!(error = %e, "could not tell whether a thread is a forum post");
            return None;
        }
    }
    Some(Component::button(
        Id::SaveThread { thread }.encode(),
        &crate::t!("button-save-thread", site = ctx.site.name.as_str()),
        ButtonStyle::Secondary,
    ))
}

/// Whether public cards are on in `channel` (a thread follows its `parent`): a save ends
/// with a card in the thread, so none starts where an admin turned cards off. Unreadable
/// settings count as on (the default).
async fn cards_on(ctx: &Commands, guild: Option<u64>, channel: u64, parent: Option<u64>) -> bool {
    let Some(guild) = guild else {
        return true;
    };
    match ctx.store.guild_settings(guild).await {
        Ok(s) => s.cards_on(channel, parent),
        Err(e) => {
            tracing::warn!(error = %e, "guild settings unreadable; cards count as on");
            true
        }
    }
}

/// Step 1, from the message command (on `message`) or the forum-post button (`None`: the
/// thread's starter message is the question, read from Discord).
async fn begin(ctx: &Commands, inv: &Invocation, message: Option<&MessageRef>) -> Reply {
    let (Some(thread), true) = (inv.channel_id, inv.in_thread) else {
        return Reply::private(crate::t!("save-not-in-thread"));
    };
    if !cards_on(ctx, inv.guild_id, thread, inv.thread_parent).await {
        return Reply::private(crate::t!("save-cards-off"));
    }
    let Some(server) = ctx.server() else {
        return Reply::private(crate::t!("save-cannot-read-threads"));
    };
    let content = match server.thread(thread).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a thread to save");
            return Reply::private(crate::t!("save-thread-unreadable"));
        }
    };
    let starter = content.starter.clone().or_else(|| {
        message.filter(|m| m.id == thread).map(|m| ThreadMessage {
            id: m.id,
            author_id: m.author_id,
            author_name: m.author_name.clone(),
            content: m.content.clone(),
            has_media: false,
        })
    });
    let Some(starter) = starter else {
        return Reply::private(crate::t!("save-no-starter"));
    };
    if let Some(problem) = unreadable(&content) {
        return problem;
    }
    let replies: Vec<&ThreadMessage> = content
        .replies
        .iter()
        .filter(|r| !r.content.trim().is_empty())
        .collect();
    if replies.is_empty() {
        return Reply::private(crate::t!("save-no-replies"));
    }
    let now = ctx.clock.now();
    let save = ThreadSave {
        id: super::ids::new_draft_id(),
        guild: inv.guild_id,
        thread,
        parent: content.parent.or(inv.thread_parent),
        invoker: inv.member.id,
        invoker_name: inv.member.name.clone(),
        thread_name: content.name.clone(),
        question_message: starter.id,
        question_author: (starter.author_id, starter.author_name.clone()),
        title: String::new(),
        tags: Vec::new(),
        question: None,
        answer: None,
        accepted: false,
        accepting: None,
        card_posted: false,
        finished: false,
        created_at: now,
    };
    if let Err(e) = ctx.store.put_save(&save).await {
        return ctx.store_failure(&e);
    }
    let options = replies
        .iter()
        .take(limits::SELECT_OPTIONS)
        .map(|r| {
            super::reply::SelectOption::new(
                &format!("{}: {}", r.author_name, preview(r)),
                &r.id.to_string(),
                None,
            )
        })
        .collect();
    Reply::private(crate::t!(
        "save-choose-answer",
        thread = escape_md(&truncate(&content.name, 100)),
        site = ctx.site.name.as_str(),
        author = escape_md(&truncate(&starter.author_name, 80)),
    ))
    .with_row(vec![Component::select(
        Id::SaveAnswer { save: save.id }.encode(),
        &crate::t!("save-answer-placeholder"),
        options,
    )])
}

/// Replies that arrive with no text and nothing attached: Discord withholds message content
/// from a bot without the Message Content intent.
fn unreadable(content: &ThreadContent) -> Option<Reply> {
    // Discord has no empty message: one without text has attachments, embeds or stickers.
    let blank = content
        .replies
        .iter()
        .any(|r| r.content.trim().is_empty() && !r.has_media);
    if !blank {
        return None;
    }
    Some(Reply::private(crate::t!("save-no-message-content")))
}

async fn load(ctx: &Commands, id: &str) -> Result<ThreadSave, Reply> {
    match ctx.store.get_save(id).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Reply::private(crate::t!("save-lapsed"))),
        Err(e) => Err(ctx.store_failure(&e)),
    }
}

/// Step 2: the invoker chose the answer; the form for the title and tags.
pub async fn choose_answer(ctx: &Commands, inv: &Invocation, id: &str, reply: i64) -> Reply {
    let save = match load(ctx, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if save.invoker != inv.member.id {
        return Reply::private(crate::t!("save-invoker-only-choose"));
    }
    let mut defaults = String::new();
    if let (Some(c), Some(g)) = (save.parent, save.guild) {
        if let Ok(settings) = ctx.store.guild_settings(g).await {
            if let Some(tags) = settings.channel_tags.get(&c) {
                defaults = tags.join(", ");
            }
        }
    }
    Reply::modal(Modal {
        id: Id::SaveModal {
            save: save.id.clone(),
            answer: u64::try_from(reply).unwrap_or_default(),
        }
        .encode(),
        title: truncate(
            &crate::t!("save-modal-title", site = ctx.site.name.as_str()),
            limits::MODAL_TITLE,
        ),
        inputs: vec![
            TextInput::new("title", &crate::t!("save-field-title"), false)
                .length(validate::TITLE_MIN as u16, validate::TITLE_MAX as u16)
                .value(Some(&save.thread_name)),
            TextInput::new("tags", &crate::t!("save-field-tags"), false)
                .length(1, 200)
                .placeholder("rust, async")
                .value(Some(&defaults)),
        ],
    })
}

/// Step 3: the form was submitted: keep the texts, ask each author.
pub async fn submit(ctx: &Commands, inv: &Invocation, id: &str, answer_message: u64) -> Reply {
    let mut save = match load(ctx, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if save.invoker != inv.member.id {
        return Reply::private(crate::t!("save-invoker-only-confirm"));
    }
    if save.question.is_some() {
        return Reply::private(crate::t!("save-already-confirmed"));
    }
    let mut problems: Vec<validate::Problem> = Vec::new();
    let title = validate::title(inv.field("title").unwrap_or_default());
    let tags = validate::tags(inv.field("tags").unwrap_or_default());
    let Some(server) = ctx.server() else {
        return Reply::private(crate::t!("save-cannot-read-threads"));
    };
    let content = match server.thread(save.thread).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a thread to save");
            return Reply::private(crate::t!("save-thread-unreadable-again"));
        }
    };
    if let Some(problem) = unreadable(&content) {
        return problem;
    }
    let starter = content
        .starter
        .clone()
        .filter(|s| s.id == save.question_message);
    let answer = content.replies.iter().find(|r| r.id == answer_message);
    let (Some(starter), Some(answer)) = (starter, answer) else {
        return Reply::private(crate::t!("save-message-deleted"));
    };
    let q_body = validate::body(&starter.content);
    let a_body = validate::body(&answer.content);
    if let Err(p) = &title {
        problems.push(p.clone());
    }
    if let Err(p) = &tags {
        problems.push(p.clone());
    }
    if let Err(p) = &q_body {
        problems.push(validate::Problem {
            field: "question",
            message: crate::t!("save-problem-question", problem = p.message.as_str()),
        });
    }
    if let Err(p) = &a_body {
        problems.push(validate::Problem {
            field: "answer",
            message: crate::t!("save-problem-answer", problem = p.message.as_str()),
        });
    }
    let (Ok(title), Ok(tags), Ok(q_body), Ok(a_body)) = (title, tags, q_body, a_body) else {
        return Reply::private(crate::t!(
            "save-not-saved",
            problems = validate::describe(&problems)
        ));
    };
    let now = ctx.clock.now();
    let team = ctx.team_in(save.guild, save.parent).await;
    let draft = |content: DraftContent| Draft {
        id: super::ids::new_draft_id(),
        discord_user: save.invoker,
        guild_id: save.guild,
        channel_id: Some(save.thread),
        thread_parent: save.parent,
        team: team.clone(),
        proposal: None,
        content,
        state: DraftState::Saved { last_error: None },
        post_after_link: false,
        source_message: None,
        created_at: now,
        expires_at: now + Duration::hours(SAVE_HOURS),
    };
    let q_draft = draft(DraftContent::Ask {
        title: title.clone(),
        body: q_body,
        tags: tags.clone(),
    });
    let a_draft = draft(DraftContent::Answer {
        question_id: 0,
        body: a_body,
    });
    for d in [&q_draft, &a_draft] {
        if let Err(e) = ctx.store.put_draft(d).await {
            return ctx.store_failure(&e);
        }
    }
    // An author who started the save consented by doing so (the question's author also to
    // accepting the answer they picked).
    let ask = |author: u64, name: &str, extra: bool| {
        if author == save.invoker {
            Consent::given(author, name, extra, now)
        } else {
            Consent::ask(author, name, now)
        }
    };
    save.title = title;
    save.tags = tags;
    save.question = Some(SavedPart {
        message: starter.id,
        consent: ask(starter.author_id, &starter.author_name, true),
        draft: q_draft.id.clone(),
        posted: None,
        posting: None,
    });
    save.answer = Some(SavedPart {
        message: answer.id,
        consent: ask(answer.author_id, &answer.author_name, false),
        draft: a_draft.id.clone(),
        posted: None,
        posting: None,
    });
    if let Err(e) = ctx.store.put_save(&save).await {
        return ctx.store_failure(&e);
    }
    let mut asked = Vec::new();
    for (part, text) in [
        (Part::Question, &starter.content),
        (Part::Answer, &answer.content),
    ] {
        let Some(p) = part_of(&save, part) else {
            continue;
        };
        if p.consent.granted() {
            continue;
        }
        let what = crate::t!(
            match part {
                Part::Question => "save-consent-question",
                Part::Answer => "save-consent-answer",
            },
            thread = escape_md(&truncate(&save.thread_name, 100)),
            site = ctx.site.name.as_str()
        );
        let id = |choice| {
            Id::Consent {
                save: save.id.clone(),
                part,
                choice,
            }
            .encode()
        };
        let prompt = consent::prompt(
            &save.invoker_name,
            &what,
            text,
            PromptButtons {
                yes: (
                    id(super::ids::ConsentChoice::Yes),
                    crate::t!("save-button-post-as-me"),
                ),
                extra: (part == Part::Question).then(|| {
                    (
                        id(super::ids::ConsentChoice::Extra),
                        crate::t!("save-button-post-and-accept"),
                    )
                }),
                no: id(super::ids::ConsentChoice::No),
            },
        );
        let mut prompt = prompt;
        if !matches!(ctx.store.get_link(p.consent.author).await, Ok(Some(_))) {
            prompt.content.push('\n');
            prompt.content.push_str(&crate::t!(
                "save-consent-link-first",
                site = ctx.site.name.as_str()
            ));
        }
        match server.dm(p.consent.author, &prompt).await {
            Ok(()) => asked.push(format!("**{}**", escape_md(&p.consent.author_name))),
            Err(e) => {
                tracing::info!(error = %e, "could not DM an author for consent");
                asked.push(crate::t!(
                    "save-asked-no-dm",
                    author = escape_md(&p.consent.author_name)
                ));
            }
        }
    }
    let progress = advance(ctx, &mut save).await;
    // At most two authors are asked: the question's and the answer's.
    let authors = match asked.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [first, second, ..] => Some(crate::t!(
            "save-asked-both",
            first = first.as_str(),
            second = second.as_str()
        )),
    };
    let head = match authors {
        None => crate::t!("save-saving"),
        Some(authors) => crate::t!(
            "save-asked",
            authors = authors,
            hours = consent::CONSENT_HOURS
        ),
    };
    let mut reply = Reply::private(format!("{head}{}", progress.text));
    for row in progress.rows {
        reply = reply.with_row(row);
    }
    reply
}

fn part_of(save: &ThreadSave, part: Part) -> Option<&SavedPart> {
    match part {
        Part::Question => save.question.as_ref(),
        Part::Answer => save.answer.as_ref(),
    }
}

fn part_mut(save: &mut ThreadSave, part: Part) -> Option<&mut SavedPart> {
    match part {
        Part::Question => save.question.as_mut(),
        Part::Answer => save.answer.as_mut(),
    }
}

/// Step 4: an author answered a consent prompt.
pub async fn consent(
    ctx: &Commands,
    inv: &Invocation,
    id: &str,
    part: Part,
    choice: super::ids::ConsentChoice,
) -> Reply {
    let mut save = match load(ctx, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = ctx.clock.now();
    let granted = !matches!(choice, super::ids::ConsentChoice::No);
    if let Some(p) = part_of(&save, part) {
        if p.consent.author != inv.member.id {
            return Reply::private(crate::t!(
                "save-only-author",
                author = escape_md(&p.consent.author_name)
            ));
        }
    }
    if granted && !matches!(ctx.store.get_link(inv.member.id).await, Ok(Some(_))) {
        return link_prompt(&crate::t!(
            "save-link-first",
            site = ctx.site.name.as_str(),
            hours = consent::CONSENT_HOURS
        ));
    }
    let answer = match choice {
        super::ids::ConsentChoice::No => None,
        super::ids::ConsentChoice::Yes => Some(false),
        super::ids::ConsentChoice::Extra => Some(true),
    };
    let Some(p) = part_mut(&mut save, part) else {
        return Reply::private(crate::t!("save-no-such-part"));
    };
    match p.consent.decide(inv.member.id, answer, now) {
        Ok(()) => {}
        Err(ConsentError::NotTheAuthor(name)) => {
            return Reply::private(crate::t!("save-only-author", author = escape_md(&name)))
        }
        Err(ConsentError::Settled) => {
            return Reply::private(crate::t!(
                "save-already-answered",
                decision = p.consent.describe()
            ))
        }
    }
    if let Err(e) = ctx.store.put_save(&save).await {
        return ctx.store_failure(&e);
    }
    let mine = if granted {
        crate::t!("save-consent-thanks")
    } else {
        crate::t!("save-consent-declined")
    };
    let progress = advance(ctx, &mut save).await;
    notify_invoker(ctx, &save, inv.member.id, &progress).await;
    let mut reply = Reply::private(format!("{mine}{}", progress.text));
    if save.invoker == inv.member.id {
        for row in progress.rows {
            reply = reply.with_row(row);
        }
    }
    reply
}

/// Step 5: the invoker posts a refused part as themself, with attribution.
pub async fn post_as_me(ctx: &Commands, inv: &Invocation, id: &str, part: Part) -> Reply {
    let mut save = match load(ctx, id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if save.invoker != inv.member.id {
        return Reply::private(crate::t!("save-invoker-only-do"));
    }
    let Some(p) = part_of(&save, part) else {
        return Reply::private(crate::t!("save-no-such-part"));
    };
    if p.posted.is_some() {
        return Reply::private(crate::t!("save-part-posted"));
    }
    if !p.consent.refused() {
        return Reply::private(crate::t!(
            "save-not-refused-yet",
            author = escape_md(&p.consent.author_name),
            decision = p.consent.describe(),
            hours = consent::CONSENT_HOURS
        ));
    }
    if part == Part::Answer
        && save
            .question
            .as_ref()
            .and_then(|q| q.posted.as_ref())
            .is_none()
    {
        return Reply::private(crate::t!("save-question-first"));
    }
    let progress = match post_part(ctx, &mut save, part, true).await {
        Ok(()) => advance(ctx, &mut save).await,
        Err(reply) => return reply,
    };
    let mut reply = Reply::private(format!(
        "{}{}",
        crate::t!("save-posted-as-you"),
        progress.text
    ));
    for row in progress.rows {
        reply = reply.with_row(row);
    }
    reply
}

/// The 24-hour deadline passed for some consents: settles them and moves the saves on; a
/// save with a write left unconfirmed for longer than [`crate::store::CLAIM_STALE_SECS`] (a
/// post that timed out) is moved on too, looking on the site first ([`resume`]). Called
/// every minute by the background sweep. Returns how many saves changed.
pub async fn expire_due(ctx: &Commands) -> usize {
    let now = ctx.clock.now();
    let saves = match ctx.store.all_saves().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "could not list thread saves");
            return 0;
        }
    };
    let stale = now - Duration::seconds(crate::store::CLAIM_STALE_SECS);
    let mut changed = 0;
    for mut save in saves {
        let mut lapsed = false;
        for part in [Part::Question, Part::Answer] {
            if let Some(p) = part_mut(&mut save, part) {
                lapsed |= p.consent.expire_if_due(now);
            }
        }
        let stuck = interrupted_before(&save, stale);
        if !lapsed && !stuck {
            continue;
        }
        changed += 1;
        if lapsed {
            if let Err(e) = ctx.store.put_save(&save).await {
                tracing::warn!(error = %e, "could not record a lapsed consent");
                continue;
            }
        }
        let progress = resume(ctx, &mut save).await;
        notify_invoker(ctx, &save, 0, &progress).await;
    }
    if let Err(e) = ctx
        .store
        .sweep_saves(now - Duration::hours(SAVE_HOURS))
        .await
    {
        tracing::warn!(error = %e, "could not sweep old thread saves");
    }
    changed
}

/// Whether a write of `save` (a part or the acceptance) began before `cutoff` and was never
/// confirmed.
fn interrupted_before(save: &ThreadSave, cutoff: DateTime<Utc>) -> bool {
    let part = |p: &Option<SavedPart>| {
        p.as_ref()
            .and_then(|p| p.posting)
            .is_some_and(|m| m.since < cutoff)
    };
    part(&save.question) || part(&save.answer) || save.accepting.is_some_and(|at| at < cutoff)
}

/// Moves a save on after an interruption: a part the invoker was posting as themself is
/// posted again through [`post_part`] (which looks on the site first); everything else,
/// parts posted as their authors and the acceptance included, through [`advance`], whose
/// writes look on the site first in the same way.
async fn resume(ctx: &Commands, save: &mut ThreadSave) -> Progress {
    let mut notes = Vec::new();
    for part in [Part::Question, Part::Answer] {
        let mark = part_of(save, part)
            .filter(|p| p.posted.is_none())
            .and_then(|p| p.posting)
            .filter(|m| m.by_invoker);
        if mark.is_some() {
            if let Err(r) = post_part(ctx, save, part, true).await {
                notes.push(r.content);
            }
        }
    }
    let mut progress = advance(ctx, save).await;
    if !notes.is_empty() {
        progress.text = format!("{}\n{}", progress.text, notes.join("\n"));
    }
    progress
}

/// After a restart (or, with replicas, on the leader every minute): every save with a write
/// begun before `cutoff` and never confirmed is moved on by [`resume`], which looks on the
/// site before writing anything again; its invoker is told where it stands.
pub async fn recover_interrupted(ctx: &Commands, cutoff: DateTime<Utc>) -> Vec<Notice> {
    let saves = match ctx.store.all_saves().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "could not list thread saves to recover");
            return Vec::new();
        }
    };
    let mut notices = Vec::new();
    for mut save in saves.into_iter().filter(|s| interrupted_before(s, cutoff)) {
        let progress = resume(ctx, &mut save).await;
        let mut reply = Reply::private(format!(
            "{}{}",
            crate::t!(
                "save-recovered",
                thread = escape_md(&truncate(&save.thread_name, 100)),
                site = ctx.site.name.as_str()
            ),
            progress.text
        ));
        for row in progress.rows {
            reply = reply.with_row(row);
        }
        if progress.done && !save.finished {
            // This notice tells the invoker how it ended: no second DM.
            save.finished = true;
            if let Err(e) = ctx.store.put_save(&save).await {
                tracing::warn!(error = %e, "could not record a finished thread save");
            }
        }
        notices.push(Notice {
            user: save.invoker,
            reply,
            original: None,
        });
    }
    notices
}

/// Where a save stands after [`advance`]: a sentence and the invoker's fallback buttons.
struct Progress {
    text: String,
    rows: Vec<Vec<Component>>,
    /// Nothing more will happen without the invoker.
    done: bool,
}

/// Tells the invoker by DM how a save ended, once (unless they are the one acting now: the
/// reply tells them).
async fn notify_invoker(ctx: &Commands, save: &ThreadSave, actor: u64, progress: &Progress) {
    if !progress.done || save.finished || actor == save.invoker {
        return;
    }
    let Some(server) = ctx.server() else {
        return;
    };
    let mut reply = Reply::private(format!(
        "{}{}",
        crate::t!(
            "save-ended",
            thread = escape_md(&truncate(&save.thread_name, 100))
        ),
        progress.text
    ));
    for row in &progress.rows {
        reply = reply.with_row(row.clone());
    }
    if let Err(e) = server.dm(save.invoker, &reply).await {
        tracing::info!(error = %e, "could not DM the member who started a thread save");
    }
    let mut done = save.clone();
    done.finished = true;
    if let Err(e) = ctx.store.put_save(&done).await {
        tracing::warn!(error = %e, "could not record a finished thread save");
    }
}

/// Does every step the consents allow, in order: the question as its author, the answer as
/// its author, the acceptance as the question's author, the card in the thread. Saves the
/// record after each step.
async fn advance(ctx: &Commands, save: &mut ThreadSave) -> Progress {
    let mut notes: Vec<String> = Vec::new();
    let q_ready = save
        .question
        .as_ref()
        .is_some_and(|q| q.posted.is_none() && q.consent.granted());
    if q_ready {
        if let Err(r) = post_part(ctx, save, Part::Question, false).await {
            notes.push(r.content);
        }
    }
    let question_posted = save.question.as_ref().and_then(|q| q.posted.clone());
    let a_ready = save
        .answer
        .as_ref()
        .is_some_and(|a| a.posted.is_none() && a.consent.granted());
    if a_ready && question_posted.is_some() {
        if let Err(r) = post_part(ctx, save, Part::Answer, false).await {
            notes.push(r.content);
        }
    }
    let answer_posted = save.answer.as_ref().and_then(|a| a.posted.clone());
    let accept_wanted = save
        .question
        .as_ref()
        .is_some_and(|q| q.consent.extra() && q.posted.as_ref().is_some_and(|p| !p.by_invoker));
    // The question's author accepts their own question's answer, as its author wrote it (not
    // a stand-in the invoker posted).
    let accept_wanted = accept_wanted && answer_posted.as_ref().is_some_and(|a| !a.by_invoker);
    if let (Some(q), Some(a), true, false) = (
        &question_posted,
        &answer_posted,
        accept_wanted,
        save.accepted,
    ) {
        if let Err(text) = accept(ctx, save, q.id, a.id).await {
            notes.push(text);
        }
    }
    // Settled: posted or refused; the answer also when the question was refused and not
    // posted (it has nothing to answer until the invoker posts the question).
    let settled = |p: &Option<SavedPart>| {
        p.as_ref()
            .is_some_and(|p| p.posted.is_some() || p.consent.refused())
    };
    let question_refused = question_posted.is_none() && settled(&save.question);
    let pending = !(settled(&save.question) && (settled(&save.answer) || question_refused));
    if let (Some(q), false, false) = (&question_posted, save.card_posted, pending) {
        post_card(ctx, save, q).await;
    }
    // What to say.
    let mut lines = Vec::new();
    let name = |p: &SavedPart| escape_md(&truncate(&p.consent.author_name, 80));
    let mut rows = Vec::new();
    if let Some(q) = &save.question {
        lines.push(match &q.posted {
            Some(p) => crate::t!(
                "save-question-posted",
                name = escape_md(&p.posted_as),
                url = p.url.as_str()
            ),
            None if q.consent.refused() => {
                rows.push(vec![Component::button(
                    Id::SaveAsMe {
                        save: save.id.clone(),
                        part: Part::Question,
                    }
                    .encode(),
                    &crate::t!("save-button-question-as-me"),
                    ButtonStyle::Secondary,
                )]);
                crate::t!(
                    "save-question-refused",
                    author = name(q),
                    decision = q.consent.describe()
                )
            }
            None => crate::t!("save-waiting-question", author = name(q)),
        });
    }
    if let Some(a) = &save.answer {
        lines.push(match &a.posted {
            Some(p) => crate::t!(
                if save.accepted {
                    "save-answer-posted-accepted"
                } else {
                    "save-answer-posted"
                },
                name = escape_md(&p.posted_as),
                url = p.url.as_str()
            ),
            None if a.consent.refused() => {
                if question_posted.is_some() {
                    rows.push(vec![Component::button(
                        Id::SaveAsMe {
                            save: save.id.clone(),
                            part: Part::Answer,
                        }
                        .encode(),
                        &crate::t!("save-button-answer-as-me"),
                        ButtonStyle::Secondary,
                    )]);
                }
                crate::t!(
                    "save-answer-refused",
                    author = name(a),
                    decision = a.consent.describe()
                )
            }
            None => crate::t!("save-waiting-answer", author = name(a)),
        });
    }
    lines.extend(notes);
    Progress {
        text: if lines.is_empty() {
            String::new()
        } else {
            format!("\n{}", lines.join("\n"))
        },
        rows,
        done: !pending,
    }
}

/// The text of a part, from the invoker's sealed draft.
async fn text_of(ctx: &Commands, save: &ThreadSave, part: Part) -> Result<DraftContent, Reply> {
    let Some(p) = part_of(save, part) else {
        return Err(Reply::private(crate::t!("save-no-such-part")));
    };
    match ctx.store.get_draft(save.invoker, &p.draft).await {
        Ok(Some(d)) => Ok(d.content),
        Ok(None) => Err(Reply::private(crate::t!("save-text-lapsed"))),
        Err(e) => Err(ctx.store_failure(&e)),
    }
}

/// The private team a save posts in: the one its drafts were written for (so a write is
/// looked for where it went even if the channel was bound elsewhere meanwhile), else the
/// channel's.
async fn team_of(ctx: &Commands, save: &ThreadSave) -> Option<crate::soe::TeamSlug> {
    if let Some(q) = &save.question {
        if let Ok(Some(d)) = ctx.store.get_draft(save.invoker, &q.draft).await {
            return super::post::draft_team(ctx, &d);
        }
    }
    ctx.team_in(save.guild, save.parent).await
}

/// Claims the write `key`. A claim left unfinished by an earlier process (it died
/// mid-write) is taken over at once: the caller then looks on the site before writing
/// (the marker on the save says a write may have gone out).
async fn claim(ctx: &Commands, key: &str) -> Result<WriteClaim, crate::store::StoreError> {
    let now = ctx.clock.now();
    let claim = ctx.store.claim_write(key, now).await?;
    if matches!(claim, WriteClaim::InProgress)
        && super::vote::claimed_by_an_earlier_process(ctx, key).await
    {
        ctx.store.finish_write(key, None, now).await?;
        return ctx.store.claim_write(key, now).await;
    }
    Ok(claim)
}

/// Posts one part, exactly once (claim `ts:<save>:q|a`): as its author, or as the invoker
/// with a line naming the Discord author. Records it on the save.
///
/// A post begun earlier and never confirmed ([`SavedPart::posting`]) is looked for on the
/// site first, under the claim: found, it is recorded with its link; not there, it is
/// posted now, once; when the site cannot be asked, nothing is posted and the marker stays.
async fn post_part(
    ctx: &Commands,
    save: &mut ThreadSave,
    part: Part,
    by_invoker: bool,
) -> Result<(), Reply> {
    let Some(p) = part_of(save, part).cloned() else {
        return Err(Reply::private(crate::t!("save-no-such-part")));
    };
    // An unconfirmed post is looked for as whoever made it.
    let by_invoker = p.posting.map_or(by_invoker, |m| m.by_invoker);
    let poster = if by_invoker {
        save.invoker
    } else {
        p.consent.author
    };
    let team = team_of(ctx, save).await;
    let s = match session(ctx, poster, team.as_ref()).await {
        Ok(s) => s,
        Err(why) => {
            let doing = if by_invoker {
                crate::t!("save-doing-as-you")
            } else {
                crate::t!(
                    "save-doing-as-author",
                    author = p.consent.author_name.as_str()
                )
            };
            let mut r = no_session_reply_doing(ctx, why, &doing);
            if !by_invoker {
                r.content = crate::t!(
                    "save-author-no-link",
                    author = escape_md(&p.consent.author_name),
                    why = r.content.as_str()
                );
                r.rows.clear();
            }
            return Err(r);
        }
    };
    let content = text_of(ctx, save, part).await?;
    let attribution = |body: &str| {
        if by_invoker {
            format!(
                "{body}\n\n---\n*Written by {} in Discord; posted by {}.*",
                p.consent.author_name, s.name
            )
        } else {
            body.to_string()
        }
    };
    // What goes to the site (and what an unconfirmed post is looked for by).
    let content = match content {
        DraftContent::Ask { title, body, tags } => DraftContent::Ask {
            title,
            body: attribution(&body),
            tags,
        },
        DraftContent::Answer { body, .. } => {
            let Some(q) = save.question.as_ref().and_then(|q| q.posted.as_ref()) else {
                return Err(Reply::private(crate::t!("save-question-not-posted")));
            };
            DraftContent::Answer {
                question_id: q.id,
                body: attribution(&body),
            }
        }
    };
    let key = format!("ts:{}:{}", save.id, part.code());
    let now = ctx.clock.now();
    match claim(ctx, &key).await {
        Ok(WriteClaim::Claimed) => {}
        Ok(WriteClaim::InProgress) => {
            return Err(Reply::private(crate::t!("save-already-posting")))
        }
        Ok(WriteClaim::Done { outcome }) => {
            // Posted before (a retry): take the record of it.
            let posted = parse_outcome(&outcome, &s.name, by_invoker).ok_or_else(|| {
                Reply::private(crate::t!("save-already-posted", outcome = outcome.as_str()))
            })?;
            return record_posted(ctx, save, part, posted).await;
        }
        Err(e) => return Err(ctx.store_failure(&e)),
    }
    // Under the claim, the stored record is the truth: another attempt may have recorded or
    // marked this part since `save` was read.
    let fresh = match ctx.store.get_save(&save.id).await {
        Ok(fresh) => fresh,
        Err(e) => {
            let _ = ctx.store.finish_write(&key, None, now).await;
            return Err(ctx.store_failure(&e));
        }
    };
    let fresh = fresh.as_ref().and_then(|f| part_of(f, part));
    if let Some(posted) = fresh.and_then(|f| f.posted.clone()) {
        let outcome = format!("{} {}", posted.id, posted.url);
        let _ = ctx.store.finish_write(&key, Some(&outcome), now).await;
        return record_posted(ctx, save, part, posted).await;
    }
    if let Some(mark) = fresh.and_then(|f| f.posting).or(p.posting) {
        // Begun before and never confirmed: it may be on the site. Look before anything.
        match super::post::find_post(
            ctx,
            poster,
            team.as_ref(),
            s.soe_user_id,
            &content,
            mark.since,
        )
        .await
        {
            Ok(Some(found)) => {
                let url = found
                    .url
                    .unwrap_or_else(|| fallback_url(ctx, save, part, team.as_ref(), found.id));
                tracing::info!(
                    soe_user_id = s.soe_user_id,
                    "an interrupted thread-save post had reached the site"
                );
                return posted_now(ctx, save, part, &s, &key, team, by_invoker, found.id, url)
                    .await;
            }
            Ok(None) => {
                tracing::info!("an interrupted thread-save post is not on the site; posting it");
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not look for an interrupted thread-save post");
                let _ = ctx.store.finish_write(&key, None, now).await;
                return Err(Reply::private(crate::t!(
                    "save-cannot-check",
                    what = what_of(part),
                    why = e.user_message_on(&ctx.site.name)
                )));
            }
        }
    }
    // The marker goes to the store before the write goes out.
    if let Some(p) = part_mut(save, part) {
        p.posting = Some(Unconfirmed {
            since: now,
            by_invoker,
        });
    }
    if let Err(e) = ctx.store.put_save(save).await {
        let _ = ctx.store.finish_write(&key, None, now).await;
        return Err(ctx.store_failure(&e));
    }
    let writer: &dyn SoeWrite = s.writer.as_ref();
    let result = match content {
        DraftContent::Ask { title, body, tags } => writer
            .create_question(&NewQuestion { title, body, tags })
            .await
            .map(|q| {
                let url = q
                    .web_url
                    .clone()
                    .or(q.share_url.clone())
                    .unwrap_or_else(|| ctx.question_url(team.as_ref(), q.id));
                (q.id, url)
            }),
        DraftContent::Answer { question_id, body } => writer
            .create_answer(question_id, &NewAnswer { body })
            .await
            .map(|a| {
                let url = a
                    .web_url
                    .clone()
                    .or(a.share_link.clone())
                    .unwrap_or_else(|| fallback_url(ctx, save, part, team.as_ref(), a.id));
                (a.id, url)
            }),
    };
    match result {
        Ok((id, url)) => posted_now(ctx, save, part, &s, &key, team, by_invoker, id, url).await,
        Err(crate::soe::Error::Timeout) => {
            // The request went out and no answer came: the site may have it. The marker
            // stays (moved back past the stale mark) and the claim is released, so the next
            // attempt, here or after a restart, looks on the site first.
            let since = super::post::abandoned_since(now, ctx.clock.now());
            if let Some(p) = part_mut(save, part) {
                p.posting = Some(Unconfirmed { since, by_invoker });
            }
            if let Err(e) = ctx.store.put_save(save).await {
                tracing::warn!(error = %e, "could not record an unconfirmed thread-save post");
            }
            let _ = ctx.store.finish_write(&key, None, now).await;
            tracing::warn!("a thread-save post timed out; it waits for a check of the site");
            Err(Reply::private(crate::t!(
                "save-not-confirmed",
                what = what_of(part),
                site = ctx.site.name.as_str()
            )))
        }
        Err(e) => {
            if let Some(p) = part_mut(save, part) {
                p.posting = None;
            }
            if let Err(e) = ctx.store.put_save(save).await {
                tracing::warn!(error = %e, "could not record a failed thread-save post");
            }
            let _ = ctx.store.finish_write(&key, None, now).await;
            let why = super::member::write_error_text(ctx, poster, &e).await;
            Err(Reply::private(crate::t!(
                match part {
                    Part::Question => "save-question-failed",
                    Part::Answer => "save-answer-failed",
                },
                why = why
            )))
        }
    }
}

/// "the question" or "the answer", in the reader's language.
fn what_of(part: Part) -> String {
    match part {
        Part::Question => crate::t!("save-what-question"),
        Part::Answer => crate::t!("save-what-answer"),
    }
}

/// The link of a post the site gave none for.
fn fallback_url(
    ctx: &Commands,
    save: &ThreadSave,
    part: Part,
    team: Option<&crate::soe::TeamSlug>,
    id: i64,
) -> String {
    match (part, save.question.as_ref().and_then(|q| q.posted.as_ref())) {
        (Part::Answer, Some(q)) => q.url.clone(),
        _ => ctx.question_url(team, id),
    }
}

/// A part is on the site (posted now, or found there after an interruption): the claim's
/// outcome, the answer alerts for a question, the audit entry, and the save's record.
#[allow(clippy::too_many_arguments)] // one call per way a post is confirmed
async fn posted_now(
    ctx: &Commands,
    save: &mut ThreadSave,
    part: Part,
    s: &super::member::MemberSession,
    key: &str,
    team: Option<crate::soe::TeamSlug>,
    by_invoker: bool,
    id: i64,
    url: String,
) -> Result<(), Reply> {
    let now = ctx.clock.now();
    let poster = if by_invoker {
        save.invoker
    } else {
        part_of(save, part).map_or(save.invoker, |p| p.consent.author)
    };
    let outcome = format!("{id} {url}");
    if let Err(e) = ctx.store.finish_write(key, Some(&outcome), now).await {
        tracing::warn!(error = %e, "could not record a finished write");
    }
    let _ = ctx.store.touch_link(poster, now).await;
    if part == Part::Question {
        let asked = crate::notify::personal::AskedQuestion {
            target: crate::notify::Target(team.clone()).key(),
            question_id: id,
            user: poster,
            soe_user_id: s.soe_user_id,
            at: now,
        };
        if let Err(e) = ctx.store.record_asked(&asked).await {
            tracing::warn!(error = %e, "could not remember a saved question for answer alerts");
        }
    }
    ctx.audit(super::audit::AuditEvent {
        guild: save.guild,
        actor: poster,
        actor_username: None,
        what: format!(
            "saved thread <#{}>: posted the {} as **{}**",
            save.thread,
            part.noun(),
            escape_md(&truncate(&s.name, 80))
        ),
        link: Some(url.clone()),
    })
    .await;
    record_posted(
        ctx,
        save,
        part,
        Posted {
            id,
            url,
            posted_as: s.name.clone(),
            by_invoker,
        },
    )
    .await
}

fn parse_outcome(outcome: &str, name: &str, by_invoker: bool) -> Option<Posted> {
    let (id, url) = outcome.split_once(' ')?;
    Some(Posted {
        id: id.parse().ok()?,
        url: url.to_string(),
        posted_as: name.to_string(),
        by_invoker,
    })
}

async fn record_posted(
    ctx: &Commands,
    save: &mut ThreadSave,
    part: Part,
    posted: Posted,
) -> Result<(), Reply> {
    if let Some(p) = part_mut(save, part) {
        p.posted = Some(posted);
        p.posting = None;
    }
    ctx.store
        .put_save(save)
        .await
        .map_err(|e| ctx.store_failure(&e))
}

/// Accepts the answer as the question's author (who agreed to it), once, and records it.
/// An acceptance begun earlier and never confirmed ([`ThreadSave::accepting`]) is settled
/// by reading the answer's state on the site first.
async fn accept(
    ctx: &Commands,
    save: &mut ThreadSave,
    question: i64,
    answer: i64,
) -> Result<(), String> {
    let author = save.question_author.0;
    let team = team_of(ctx, save).await;
    let s = session(ctx, author, team.as_ref())
        .await
        .map_err(|_| crate::t!("save-accept-no-link"))?;
    let key = format!("ts:{}:acc", save.id);
    let now = ctx.clock.now();
    let record = |save: &mut ThreadSave| {
        save.accepted = true;
        save.accepting = None;
    };
    match claim(ctx, &key).await {
        Ok(WriteClaim::Claimed) => {}
        Ok(WriteClaim::Done { .. }) => {
            record(save);
            return store_accepted(ctx, save).await;
        }
        Ok(WriteClaim::InProgress) => return Err(crate::t!("save-accepting")),
        Err(e) => return Err(crate::t!("save-accept-not-recorded", error = e.to_string())),
    }
    // Under the claim, the stored record is the truth (another attempt may have gone first).
    if let Ok(Some(fresh)) = ctx.store.get_save(&save.id).await {
        if fresh.accepted {
            let _ = ctx.store.finish_write(&key, Some("accepted"), now).await;
            record(save);
            return store_accepted(ctx, save).await;
        }
        save.accepting = save.accepting.or(fresh.accepting);
    }
    if save.accepting.is_some() {
        // Begun before and never confirmed: the answer's state on the site tells.
        match s.writer.get_answer(question, answer).await {
            Ok(a) if a.is_accepted => {
                tracing::info!("an interrupted thread-save acceptance had reached the site");
                let _ = ctx.store.finish_write(&key, Some("accepted"), now).await;
                record(save);
                return store_accepted(ctx, save).await;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = ctx.store.finish_write(&key, None, now).await;
                return Err(crate::t!(
                    "save-cannot-check",
                    what = crate::t!("save-what-acceptance"),
                    why = e.user_message_on(&ctx.site.name)
                ));
            }
        }
    }
    save.accepting = Some(now);
    if let Err(e) = ctx.store.put_save(save).await {
        let _ = ctx.store.finish_write(&key, None, now).await;
        return Err(crate::t!("save-accept-not-recorded", error = e.to_string()));
    }
    match s.writer.accept_answer(question, answer).await {
        Ok(_) => {
            let _ = ctx.store.finish_write(&key, Some("accepted"), now).await;
            record(save);
            store_accepted(ctx, save).await
        }
        Err(crate::soe::Error::Timeout) => {
            save.accepting = Some(super::post::abandoned_since(now, ctx.clock.now()));
            if let Err(e) = ctx.store.put_save(save).await {
                tracing::warn!(error = %e, "could not record an unconfirmed acceptance");
            }
            let _ = ctx.store.finish_write(&key, None, now).await;
            Err(crate::t!(
                "save-not-confirmed",
                what = crate::t!("save-what-acceptance"),
                site = ctx.site.name.as_str()
            ))
        }
        Err(e) => {
            save.accepting = None;
            if let Err(e) = ctx.store.put_save(save).await {
                tracing::warn!(error = %e, "could not record a failed acceptance");
            }
            let _ = ctx.store.finish_write(&key, None, now).await;
            let why = super::member::write_error_text(ctx, author, &e).await;
            Err(crate::t!("save-accept-failed", why = why))
        }
    }
}

/// Records an acceptance on the save (a failure is logged: the claim's outcome and the
/// site both hold it).
async fn store_accepted(ctx: &Commands, save: &ThreadSave) -> Result<(), String> {
    if let Err(e) = ctx.store.put_save(save).await {
        tracing::warn!(error = %e, "accepted, but could not record it");
    }
    Ok(())
}

/// The card in the thread linking the new question, once.
async fn post_card(ctx: &Commands, save: &mut ThreadSave, question: &Posted) {
    let Some(server) = ctx.server() else {
        return;
    };
    let key = format!("ts:{}:card", save.id);
    let now = ctx.clock.now();
    if !matches!(
        ctx.store.claim_write(&key, now).await,
        Ok(WriteClaim::Claimed)
    ) {
        return;
    }
    let by_question = escape_md(&question.posted_as);
    let by = match save.answer.as_ref().and_then(|a| a.posted.as_ref()) {
        None => crate::t!("save-card-by-question", question = by_question),
        Some(a) => crate::t!(
            if save.accepted {
                "save-card-by-both-accepted"
            } else {
                "save-card-by-both"
            },
            question = by_question,
            answer = escape_md(&a.posted_as)
        ),
    };
    let card = Reply::public("").with_embed(
        Embed::new(
            &save.title,
            &crate::t!("save-card", site = ctx.site.name.as_str(), by = by),
        )
        .url(Some(question.url.clone())),
    );
    match server.post(save.thread, &card).await {
        Ok(()) => {
            let _ = ctx.store.finish_write(&key, Some("posted"), now).await;
            save.card_posted = true;
            if let Err(e) = ctx.store.put_save(save).await {
                tracing::warn!(error = %e, "could not record a thread card");
            }
        }
        Err(e) => {
            let _ = ctx.store.finish_write(&key, None, now).await;
            tracing::warn!(error = %e, "could not post the saved thread's card");
        }
    }
}

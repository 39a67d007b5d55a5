//! Asking and answering: modals, drafts, the similar-questions step, and posting as the member.
//!
//! Every question or answer is a [`Draft`] first (sealed in the store, with a TTL), keyed by a
//! random id minted when its modal opens. Posting moves the draft `Saved → Posting` atomically,
//! so a modal submitted twice, a double-clicked Retry or a retried interaction post at most
//! once; a failed post returns it to `Saved` with the error, offering Retry and Edit; an
//! unlinked member's draft waits for the link and is posted when it completes. A member keeps
//! at most `limits.drafts_per_member` unposted drafts: past it a new one is not saved, and the
//! reply shows its text back (nothing is lost) with the drafts to post or discard first.
//!
//! A draft left `Posting` by a process that died mid-post (or a post that never answered) is
//! never simply offered for Retry: [`recover_posting`] first looks on the site for the
//! member's post (their questions since the post began, matched by title, or their answers to
//! the question, matched by body) and marks the draft posted with its link when it is there.
//! Only a post the site does not have is offered again; when the site cannot be asked, the
//! draft stays as it is.
//!
//! A draft remembers the private team of the channel it was written in ([`Draft::team`]): it
//! is posted there, and an interrupted post is looked for there, even if the channel is bound
//! elsewhere by then.

use chrono::Duration;

use crate::soe::{
    AnswerSort, NewAnswer, NewQuestion, Order, PageSize, QuestionQuery, QuestionSort, SearchItem,
    SearchSort, SoeRead,
};
use crate::store::{Allowance, Draft, DraftContent, DraftState};

use super::ids::{new_draft_id, Id};
use super::member::{needs_relink, no_session_reply, session, write_error_text, NoSession};
use super::reply::{limits, truncate, ButtonStyle, Component, Modal, Reply, TextInput};
use super::show::parse_question_ref;
use super::validate::{self, describe};
use super::{Commands, Invocation, MessageRef};

/// Similar questions shown before posting.
const SIMILAR: usize = 3;

/// When looking on the site for an interrupted post: how far before the post's start the
/// site's clock may be (clock skew between the bot and the site).
const LOOK_BACK_MINUTES: i64 = 10;

/// At most this many of the member's recent answers are opened to compare bodies.
const ANSWERS_TO_OPEN: usize = 5;

fn ask_modal(
    draft: &str,
    source: Option<u64>,
    title: Option<&str>,
    body: Option<&str>,
    tags: Option<&str>,
) -> Reply {
    Reply::modal(Modal {
        id: Id::AskModal {
            draft: draft.into(),
            source,
        }
        .encode(),
        title: "Ask a question".into(),
        inputs: vec![
            TextInput::new("title", "Title", false)
                .length(validate::TITLE_MIN as u16, validate::TITLE_MAX as u16)
                .placeholder("What are you trying to do, and what goes wrong?")
                .value(title),
            TextInput::new("body", "Details (Markdown)", true)
                .length(validate::BODY_MIN as u16, limits::MODAL_FIELD as u16)
                .placeholder(
                    "What you tried, what happened, what you expected. Code in ``` blocks.",
                )
                .value(body),
            TextInput::new("tags", "Tags (1–5, comma separated)", false)
                .length(1, 200)
                .placeholder("rust, async")
                .value(tags),
        ],
    })
}

fn answer_modal_reply(question: i64, draft: &str, body: Option<&str>) -> Reply {
    Reply::modal(Modal {
        id: Id::AnswerModal {
            question,
            draft: draft.into(),
        }
        .encode(),
        title: truncate(&format!("Answer question {question}"), limits::MODAL_TITLE),
        inputs: vec![TextInput::new("body", "Your answer (Markdown)", true)
            .length(validate::BODY_MIN as u16, limits::MODAL_FIELD as u16)
            .value(body)],
    })
}

/// The ask form, saving into draft `draft` (written from message `source`, if any).
pub(crate) fn ask_form(
    draft: &str,
    source: Option<u64>,
    title: Option<&str>,
    body: Option<&str>,
    tags: Option<&str>,
) -> Reply {
    ask_modal(draft, source, title, body, tags)
}

/// The answer form for `question`, saving into draft `draft`, pre-filled with `body`.
pub(crate) fn answer_form(question: i64, draft: &str, body: Option<&str>) -> Reply {
    answer_modal_reply(question, draft, body)
}

/// `/so ask [title] [tags]`: opens the modal.
pub async fn ask_command(ctx: &Commands, inv: &Invocation) -> Reply {
    let tags = match inv.text("tags") {
        Some(tags) => Some(tags),
        None => channel_tags(ctx, inv).await,
    };
    ask_modal(
        &new_draft_id(),
        None,
        inv.text("title").as_deref(),
        None,
        tags.as_deref(),
    )
}

/// The default tags of the channel `inv` comes from, as a list (empty when none).
pub(crate) async fn channel_tag_list(ctx: &Commands, inv: &Invocation) -> Vec<String> {
    channel_tags(ctx, inv)
        .await
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The default tags of the channel `inv` comes from (`/so-admin channel tags`), space-separated.
async fn channel_tags(ctx: &Commands, inv: &Invocation) -> Option<String> {
    let (guild, channel) = (inv.guild_id?, inv.channel_id?);
    match ctx.store.guild_settings(guild).await {
        Ok(s) => s.channel_tags.get(&channel).map(|t| t.join(" ")),
        Err(e) => {
            tracing::warn!(error = %e, "guild settings unreadable; no default tags");
            None
        }
    }
}

/// `/so answer question:<id or link>`: opens the modal.
pub async fn answer_command(ctx: &Commands, inv: &Invocation) -> Reply {
    let raw = inv.text("question").unwrap_or_default();
    match parse_question_ref(&raw) {
        Some(q) => answer_modal(ctx, inv, q, None),
        None => Reply::private(
            "Say which question: its number or link, e.g. `/so answer question: 123`.",
        ),
    }
}

/// The answer modal for `question`.
pub fn answer_modal(
    _ctx: &Commands,
    _inv: &Invocation,
    question: i64,
    body: Option<&str>,
) -> Reply {
    answer_modal_reply(question, &new_draft_id(), body)
}

/// The message commands: "Ask on <site>" (the ask form pre-filled from the message: its
/// forum post's title or first line, its text) and "Post as answer" (the question is the
/// card's the message replies to, else picked by title, see `pick`; then the answer form
/// pre-filled with the text). On someone else's message, their consent is asked first (see
/// `consent`).
pub async fn message_command(
    ctx: &Commands,
    inv: &Invocation,
    name: &str,
    message: &MessageRef,
) -> Reply {
    let text = message.content.trim();
    if text.is_empty() {
        return Reply::private("That message has no text to use.");
    }
    let answer = name == ANSWER_MESSAGE_COMMAND;
    if message.author_id != inv.member.id {
        // Someone else's words: posted as them only with their consent.
        return super::consent::propose(ctx, inv, answer, message).await;
    }
    if answer {
        if let Some(question) = message.replies_to.as_ref().and_then(|r| r.card_question()) {
            return answer_modal_reply(question, &new_draft_id(), Some(text));
        }
        let content = DraftContent::Answer {
            question_id: 0,
            body: validate::clean(text),
        };
        return match save(
            ctx,
            inv.member.id,
            Some(inv),
            &new_draft_id(),
            content,
            None,
        )
        .await
        {
            Ok(d) => super::pick::picker(ctx, inv, &d.id, false),
            Err(r) => *r,
        };
    }
    let title = title_of(inv, message);
    ask_modal(
        &new_draft_id(),
        Some(message.id),
        Some(&title),
        Some(text),
        channel_tags(ctx, inv).await.as_deref(),
    )
}

/// Saves someone else's message `source` as a new draft of the proposer (`inv`'s member),
/// carrying `proposal` (see `consent`); within the proposer's draft cap.
pub(crate) async fn save_proposal(
    ctx: &Commands,
    inv: &Invocation,
    id: &str,
    content: DraftContent,
    source: u64,
    proposal: crate::store::Proposal,
) -> Result<Draft, Box<Reply>> {
    let now = ctx.clock.now();
    let draft = Draft {
        id: id.to_string(),
        discord_user: inv.member.id,
        guild_id: inv.guild_id,
        channel_id: inv.channel_id,
        thread_parent: inv.thread_parent,
        team: ctx.team_in(inv.guild_id, inv.channel_id).await,
        content,
        state: DraftState::Saved { last_error: None },
        post_after_link: false,
        source_message: Some(source),
        proposal: Some(proposal),
        created_at: now,
        expires_at: now + Duration::hours(ctx.limits.draft_ttl_hours.into()),
    };
    match ctx
        .store
        .put_new_draft(&draft, ctx.limits.drafts_per_member, now)
        .await
    {
        Ok(true) => Ok(draft),
        Ok(false) => Err(Box::new(too_many_drafts(ctx, inv.member.id, &draft).await)),
        Err(e) => Err(Box::new(ctx.store_failure(&e))),
    }
}

/// The name of the "Post as answer" message command (the ask command is named after the site).
pub const ANSWER_MESSAGE_COMMAND: &str = "Post as answer";

/// The title a message offers: a forum post's starter message (its id is the thread's) has
/// it in the thread's name; any other message offers its first line.
pub(crate) fn title_of(inv: &Invocation, message: &MessageRef) -> String {
    let text = message.content.trim();
    let first_line = text.lines().next().unwrap_or_default();
    let forum_title = message
        .thread_name
        .as_deref()
        .filter(|_| inv.channel_id == Some(message.id));
    truncate(
        forum_title.unwrap_or(first_line.trim_start_matches('#').trim()),
        validate::TITLE_MAX,
    )
}

fn draft_buttons(id: &str, retry: bool) -> Vec<Component> {
    let mut row = Vec::new();
    if retry {
        row.push(Component::button(
            Id::PostDraft { draft: id.into() }.encode(),
            &crate::t!("button-retry"),
            ButtonStyle::Primary,
        ));
    }
    row.push(Component::button(
        Id::EditDraft { draft: id.into() }.encode(),
        &crate::t!("button-edit"),
        ButtonStyle::Secondary,
    ));
    row.push(Component::button(
        Id::DiscardDraft { draft: id.into() }.encode(),
        &crate::t!("button-discard"),
        ButtonStyle::Danger,
    ));
    row
}

/// "Posted as … on <site>: <url>" (`site` is `None` for a post made earlier: "Already
/// posted"), with a link button when there is a URL.
fn posted_reply(url: &str, posted_as: &str, site: Option<&str>) -> Reply {
    let who = super::render::escape_md(&truncate(posted_as, 100));
    let text = match site {
        None => crate::t!("posted-already", who = who, url = url),
        Some(site) => crate::t!("posted-as", who = who, site = site, url = url),
    };
    let mut r = Reply::private(text);
    if url.starts_with("http") {
        r = r.with_row(vec![Component::link(
            url,
            &crate::t!("button-view-on-site"),
        )]);
    }
    r
}

/// Replies for a draft that must not be posted again, or `None` when it may be edited/posted.
pub(crate) fn settled(draft: &Draft) -> Option<Reply> {
    match &draft.state {
        DraftState::Posted { url, posted_as } => Some(posted_reply(url, posted_as, None)),
        DraftState::Posting { .. } => Some(Reply::private(
            "This is being posted right now; you will see the result in a moment.",
        )),
        DraftState::Saved { .. } => None,
    }
}

/// Saves (creates or replaces) a draft with `content`.
async fn save(
    ctx: &Commands,
    inv_user: u64,
    inv: Option<&Invocation>,
    id: &str,
    content: DraftContent,
    last_error: Option<String>,
) -> Result<Draft, Box<Reply>> {
    let now = ctx.clock.now();
    let previous = ctx
        .store
        .get_draft(inv_user, id)
        .await
        .map_err(|e| Box::new(ctx.store_failure(&e)))?;
    if let Some(p) = &previous {
        if let Some(r) = settled(p) {
            return Err(Box::new(r));
        }
    }
    let guild_id = inv
        .and_then(|i| i.guild_id)
        .or(previous.as_ref().and_then(|p| p.guild_id));
    let channel_id = inv
        .and_then(|i| i.channel_id)
        .or(previous.as_ref().and_then(|p| p.channel_id));
    let draft = Draft {
        id: id.to_string(),
        discord_user: inv_user,
        guild_id,
        channel_id,
        // Follows the channel: the invocation's when it has one.
        thread_parent: match inv {
            Some(i) if i.channel_id.is_some() => i.thread_parent,
            _ => previous.as_ref().and_then(|p| p.thread_parent),
        },
        // The team of the channel it is written in, now: where it is posted and, after an
        // interrupted post, looked for (a later binding of the channel does not move it).
        team: ctx.team_in(guild_id, channel_id).await,
        content,
        state: DraftState::Saved { last_error },
        post_after_link: previous.as_ref().is_some_and(|p| p.post_after_link),
        source_message: previous.as_ref().and_then(|p| p.source_message),
        proposal: previous.as_ref().and_then(|p| p.proposal.clone()),
        created_at: previous.as_ref().map_or(now, |p| p.created_at),
        expires_at: now + Duration::hours(ctx.limits.draft_ttl_hours.into()),
    };
    if previous.is_some() {
        ctx.store
            .put_draft(&draft)
            .await
            .map_err(|e| Box::new(ctx.store_failure(&e)))?;
        return Ok(draft);
    }
    match ctx
        .store
        .put_new_draft(&draft, ctx.limits.drafts_per_member, now)
        .await
    {
        Ok(true) => Ok(draft),
        Ok(false) => Err(Box::new(too_many_drafts(ctx, inv_user, &draft).await)),
        Err(e) => Err(Box::new(ctx.store_failure(&e))),
    }
}

/// Where `draft` is posted: the team it was written for, else the main site (the configured
/// default team, if any).
pub(crate) fn draft_team(ctx: &Commands, draft: &Draft) -> Option<crate::soe::TeamSlug> {
    draft.team.clone().or_else(|| ctx.site.team.clone())
}

/// A short name for a draft in a list.
fn draft_label(d: &Draft) -> String {
    match &d.content {
        DraftContent::Ask { title, .. } if !title.trim().is_empty() => title.clone(),
        DraftContent::Ask { .. } => "Untitled question".into(),
        DraftContent::Answer { question_id: 0, .. } => "Answer (no question yet)".into(),
        DraftContent::Answer { question_id, .. } => format!("Answer to question {question_id}"),
    }
}

/// The refusal when the member's drafts are at the cap: says what to do, shows the text that
/// was not saved (so it is not lost), and lists the open drafts with Discard buttons.
async fn too_many_drafts(ctx: &Commands, user: u64, refused: &Draft) -> Reply {
    let cap = ctx.limits.drafts_per_member;
    let now = ctx.clock.now();
    let open: Vec<Draft> = match ctx.store.drafts_of(user).await {
        Ok(d) => d
            .into_iter()
            .filter(|d| d.expires_at > now && !matches!(d.state, DraftState::Posted { .. }))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not list drafts for the cap message");
            vec![]
        }
    };
    let (title, text) = match &refused.content {
        DraftContent::Ask { title, body, tags } => (
            title.clone(),
            format!("{body}\n\nTags: {}", tags.join(", ")),
        ),
        DraftContent::Answer { body, .. } => (draft_label(refused), body.clone()),
    };
    // In a code block so it copies back exactly, unless the text has fences of its own.
    let shown = if text.contains("```") {
        text
    } else {
        format!("```\n{text}\n```")
    };
    let mut reply = Reply::private(format!(
        "You already have {cap} unposted drafts, the most the bot keeps for one member, so this one was **not saved**. Post or discard some first (oldest first below, each with a Discard button), then run the command again and paste your text, which is shown below so nothing is lost."
    ))
    .with_embed(super::reply::Embed::new(&format!("Not saved: {title}"), &shown));
    let lines: Vec<String> = open
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let waiting = if d.post_after_link {
                " · waiting for your link"
            } else {
                ""
            };
            format!(
                "{}. {}{waiting} · {}",
                i + 1,
                super::render::escape_md(&truncate(&draft_label(d), 80)),
                super::render::age(Some(d.created_at), now)
            )
        })
        .collect();
    if !lines.is_empty() {
        reply = reply.with_embed(super::reply::Embed::new("Your drafts", &lines.join("\n")));
    }
    let buttons: Vec<Component> = open
        .iter()
        .enumerate()
        .take(limits::ROWS * limits::ROW_ITEMS)
        .map(|(i, d)| {
            Component::button(
                Id::DiscardDraft {
                    draft: d.id.clone(),
                }
                .encode(),
                &format!("Discard {}: {}", i + 1, truncate(&draft_label(d), 40)),
                ButtonStyle::Danger,
            )
        })
        .collect();
    for row in buttons.chunks(limits::ROW_ITEMS) {
        reply = reply.with_row(row.to_vec());
    }
    reply
}

/// The ask modal was submitted.
pub async fn ask_submit(ctx: &Commands, inv: &Invocation, id: &str, source: Option<u64>) -> Reply {
    let (title, body, tags) = (
        inv.field("title").unwrap_or_default(),
        inv.field("body").unwrap_or_default(),
        inv.field("tags").unwrap_or_default(),
    );
    let user = inv.member.id;
    let content = DraftContent::Ask {
        title: validate::clean(title),
        body: validate::clean(body),
        tags: tags
            .split([',', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect(),
    };
    let valid = validate::question(title, body, tags);
    let problems = valid.as_ref().err().map(|p| describe(p));
    let content = match &valid {
        Ok(v) => DraftContent::Ask {
            title: v.title.clone(),
            body: v.body.clone(),
            tags: v.tags.clone(),
        },
        Err(_) => content,
    };
    let mut draft = match save(ctx, user, Some(inv), id, content, problems.clone()).await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    if source.is_some() && draft.source_message != source {
        // Written from a message: the channel card about the post replies to it.
        draft.source_message = source;
        if let Err(e) = ctx.store.put_draft(&draft).await {
            return ctx.store_failure(&e);
        }
    }
    if let Some(p) = problems {
        return Reply::private(crate::t!("question-not-ready", problems = p))
            .with_row(draft_buttons(&draft.id, false));
    }
    let team = draft_team(ctx, &draft);
    if let Err(why) = session(ctx, user, team.as_ref()).await {
        return wait_for_link(ctx, draft, why, "doing-post-question").await;
    }
    let Ok(v) = valid else {
        return Reply::private("Your question could not be checked; press Edit.");
    };
    let similar = similar_questions(ctx, user, team.as_ref(), &v.title).await;
    if similar.is_empty() {
        return post_draft(ctx, user, &draft.id, true).await;
    }
    let list = similar.join("\n");
    Reply::private(crate::t!("similar-first", list = list)).with_row(vec![
        Component::button(
            Id::PostDraft {
                draft: draft.id.clone(),
            }
            .encode(),
            &crate::t!("button-post-anyway"),
            ButtonStyle::Primary,
        ),
        Component::button(
            Id::DiscardDraft {
                draft: draft.id.clone(),
            }
            .encode(),
            &crate::t!("button-one-answers-it"),
            ButtonStyle::Success,
        ),
        Component::button(
            Id::EditDraft { draft: draft.id }.encode(),
            &crate::t!("button-edit"),
            ButtonStyle::Secondary,
        ),
    ])
}

/// Words too common to tell questions apart.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "how", "what", "why", "when", "where", "which", "who", "can",
    "does", "did", "not", "are", "was", "were", "this", "that", "these", "those", "from", "into",
    "onto", "about", "after", "before", "use", "using", "get", "set", "there", "their", "them",
    "they", "you", "your", "its", "our", "any", "all", "should", "would", "could", "will", "way",
    "best", "have", "has", "had", "but", "out", "than", "then", "too", "very", "just", "also",
    "some", "more", "most", "other", "one", "two", "new", "make", "work", "works",
];

/// The site's search matches every term, so a whole title rarely matches anything: search for
/// its most distinctive words instead (longest first, stopwords dropped).
pub fn similar_query(title: &str, words: usize) -> String {
    let mut seen = Vec::new();
    for w in title
        .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == '+'))
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
    {
        if !seen.contains(&w) {
            seen.push(w);
        }
    }
    seen.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    seen.truncate(words);
    seen.join(" ")
}

/// Up to three similar questions, as lines (empty when none or when the search fails: the
/// check helps, it must not block asking). The searches are charged to the asker's share of
/// the service budget; past it, the check is skipped.
async fn similar_questions(
    ctx: &Commands,
    member: u64,
    team: Option<&crate::soe::TeamSlug>,
    title: &str,
) -> Vec<String> {
    let reader = ctx.reader_for(member, team);
    let mut page = None;
    for words in [3, 1] {
        let query = similar_query(title, words);
        if query.is_empty() {
            break;
        }
        match reader
            .search(&query, 1, PageSize::Fifteen, SearchSort::Relevance)
            .await
        {
            Ok(p) if p.items.iter().any(|i| matches!(i, SearchItem::Question(_))) => {
                page = Some(p);
                break;
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::info!(error = %e, "similar-question search failed; skipping it");
                return vec![];
            }
        }
    }
    let Some(page) = page else { return vec![] };
    page.items
        .iter()
        .filter_map(|i| match i {
            SearchItem::Question(q) => Some(q),
            _ => None,
        })
        .take(SIMILAR)
        .enumerate()
        .map(|(n, q)| {
            let title = super::render::escape_md(&truncate(&q.common.title, 120));
            let link = q
                .common
                .web_url
                .as_deref()
                .map_or(title.clone(), |u| format!("[{title}]({u})"));
            format!(
                "{}. {link}{} · {} answer{}",
                n + 1,
                if q.has_accepted_answer { " ✓" } else { "" },
                q.answer_count,
                if q.answer_count == 1 { "" } else { "s" }
            )
        })
        .collect()
}

/// Keeps a draft for after linking and says so.
async fn wait_for_link(ctx: &Commands, mut draft: Draft, why: NoSession, what: &str) -> Reply {
    draft.post_after_link = true;
    if let Err(e) = ctx.store.put_draft(&draft).await {
        return ctx.store_failure(&e);
    }
    let mut r = no_session_reply(ctx, why, what);
    if !r.content.is_empty() {
        r.content.push('\n');
        r.content.push_str(&crate::t!(
            "draft-kept-for-link",
            hours = ctx.limits.draft_ttl_hours
        ));
    }
    r.with_row(vec![Component::button(
        Id::DiscardDraft { draft: draft.id }.encode(),
        &crate::t!("button-discard-draft"),
        ButtonStyle::Danger,
    )])
}

/// The answer modal was submitted.
pub async fn answer_submit(ctx: &Commands, inv: &Invocation, question: i64, id: &str) -> Reply {
    submit_answer(
        ctx,
        inv,
        question,
        id,
        inv.field("body").unwrap_or_default(),
    )
    .await
}

/// The "Post as answer" modal was submitted.
pub async fn post_as_answer_submit(ctx: &Commands, inv: &Invocation, id: &str) -> Reply {
    let raw = inv.field("question").unwrap_or_default();
    let body = inv.field("body").unwrap_or_default();
    match parse_question_ref(raw) {
        Some(q) => submit_answer(ctx, inv, q, id, body).await,
        None => {
            // Keep the text: reopenable through Edit once the question is fixed.
            let content = DraftContent::Answer {
                question_id: 0,
                body: validate::clean(body),
            };
            match save(ctx, inv.member.id, Some(inv), id, content, Some("no question".into())).await {
                Ok(d) => Reply::private(format!(
                    "`{}` is not a question number or link. Your answer is saved; press Edit and fill in the question.",
                    truncate(raw, 80).replace('`', "'")
                ))
                .with_row(draft_buttons(&d.id, false)),
                Err(r) => *r,
            }
        }
    }
}

async fn submit_answer(
    ctx: &Commands,
    inv: &Invocation,
    question: i64,
    id: &str,
    body: &str,
) -> Reply {
    let user = inv.member.id;
    let checked = validate::body(body);
    let problem = checked
        .as_ref()
        .err()
        .map(|p| describe(std::slice::from_ref(p)));
    let content = DraftContent::Answer {
        question_id: question,
        body: checked.clone().unwrap_or_else(|_| validate::clean(body)),
    };
    let draft = match save(ctx, user, Some(inv), id, content, problem.clone()).await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    if let Some(p) = problem {
        return Reply::private(crate::t!("answer-not-ready", problems = p))
            .with_row(draft_buttons(&draft.id, false));
    }
    let team = draft_team(ctx, &draft);
    if let Err(why) = session(ctx, user, team.as_ref()).await {
        return wait_for_link(ctx, draft, why, "doing-post-answer").await;
    }
    post_draft(ctx, user, &draft.id, true).await
}

/// Posts a saved draft as its author, at most once. `interactive` is false when posting after
/// linking (no button press to answer).
pub async fn post_draft(ctx: &Commands, user: u64, id: &str, interactive: bool) -> Reply {
    let draft = match ctx.store.get_draft(user, id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Reply::private(
                "This draft no longer exists: it was posted, discarded, or expired.",
            )
        }
        Err(e) => return ctx.store_failure(&e),
    };
    if let DraftState::Posting { since } = draft.state {
        // Left by an earlier process, or a post whose answer never came: look before anything.
        let stale = ctx.clock.now() - since > Duration::seconds(crate::store::CLAIM_STALE_SECS);
        if since < ctx.started_at || stale {
            return recover_posting(ctx, draft).await;
        }
    }
    if let Some(r) = settled(&draft) {
        return r;
    }
    if let DraftContent::Answer { question_id: 0, .. } = draft.content {
        return Reply::private("This answer has no question yet; press Edit and choose it.")
            .with_row(draft_buttons(id, false));
    }
    // Someone else's words: only once they declined or let the wait pass, and attributed.
    let draft = match super::consent::check_before_posting(ctx, &draft) {
        Ok(None) => draft,
        Ok(Some(attributed)) => {
            if let Err(e) = ctx.store.put_draft(&attributed).await {
                return ctx.store_failure(&e);
            }
            attributed
        }
        Err(refusal) => return *refusal,
    };
    let team = draft_team(ctx, &draft);
    let s = match session(ctx, user, team.as_ref()).await {
        Ok(s) => s,
        Err(why) => return wait_for_link(ctx, draft, why, "doing-post-it").await,
    };
    if matches!(draft.content, DraftContent::Ask { .. }) {
        let rate = ctx
            .store
            .take_rate(
                &format!("ask:{user}"),
                ctx.limits.asks_burst,
                u64::from(ctx.limits.ask_refill_minutes) * 60,
                ctx.clock.now(),
            )
            .await;
        match rate {
            Ok(Allowance::Allowed) => {}
            Ok(Allowance::RetryAfter(secs)) => {
                return Reply::private(format!(
                    "You have asked several questions in a short time; you can post this one in about {} minute(s). It is saved.",
                    secs.div_ceil(60)
                ))
                .with_row(draft_buttons(id, true));
            }
            Err(e) => return ctx.store_failure(&e),
        }
    }
    let draft = match ctx.store.begin_posting(user, id, ctx.clock.now()).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return match ctx.store.get_draft(user, id).await {
                Ok(Some(d)) => settled(&d).unwrap_or_else(|| {
                    Reply::private("This draft is busy; try again in a moment.")
                }),
                _ => Reply::private(
                    "This draft no longer exists: it was posted, discarded, or expired.",
                ),
            }
        }
        Err(e) => return ctx.store_failure(&e),
    };
    let result = match &draft.content {
        DraftContent::Ask { title, body, tags } => s
            .writer
            .create_question(&NewQuestion {
                title: title.clone(),
                body: body.clone(),
                tags: tags.clone(),
            })
            .await
            .map(|q| {
                let url = q
                    .web_url
                    .or(q.share_url)
                    .unwrap_or_else(|| format!("question {}", q.id));
                (url, Some(q.id))
            }),
        DraftContent::Answer { question_id, body } => s
            .writer
            .create_answer(*question_id, &NewAnswer { body: body.clone() })
            .await
            .map(|a| {
                let url = a
                    .web_url
                    .or(a.share_link)
                    .unwrap_or_else(|| format!("answer {} on question {question_id}", a.id));
                (url, None)
            }),
    };
    match result {
        Ok((url, asked)) => {
            if let Some(question_id) = asked {
                // Its answers are DMed to the asker (on by default; `/so alerts off`).
                let record = crate::notify::personal::AskedQuestion {
                    target: crate::notify::Target(team.clone()).key(),
                    question_id,
                    user,
                    soe_user_id: s.soe_user_id,
                    at: ctx.clock.now(),
                };
                if let Err(e) = ctx.store.record_asked(&record).await {
                    tracing::warn!(error = %e, "posted, but could not remember the question for answer alerts");
                }
            }
            let mut done = draft;
            done.state = DraftState::Posted {
                url: url.clone(),
                posted_as: s.name.clone(),
            };
            done.post_after_link = false;
            if let Err(e) = ctx.store.put_draft(&done).await {
                tracing::error!(error = %e, "posted, but could not record it");
            }
            let _ = ctx.store.touch_link(user, ctx.clock.now()).await;
            tracing::info!(soe_user_id = s.soe_user_id, "posted a draft");
            ctx.audit(super::audit::AuditEvent {
                guild: done.guild_id,
                actor: user,
                actor_username: None,
                what: format!(
                    "posted {} as **{}**{}",
                    match done.content {
                        DraftContent::Ask { .. } => "a question".to_string(),
                        DraftContent::Answer { question_id, .. } =>
                            format!("an answer to question {question_id}"),
                    },
                    super::render::escape_md(&super::reply::truncate(&s.name, 80)),
                    done.channel_id
                        .map(|c| format!(" from <#{c}>"))
                        .unwrap_or_default()
                ),
                link: url.starts_with("http").then(|| url.clone()),
            })
            .await;
            let mut r = posted_reply(&url, &s.name, Some(&ctx.site.name));
            if !interactive {
                r.content = format!("{} {}", crate::t!("posted-after-link"), r.content);
            } else if cards_on(ctx, &done).await {
                // Offered by default: the channel learns that it was posted (see `announce`).
                r = r.with_row(vec![Component::button(
                    Id::AnnouncePost { draft: done.id }.encode(),
                    &crate::t!("button-post-card"),
                    ButtonStyle::Primary,
                )]);
            }
            r
        }
        Err(crate::soe::Error::Timeout) => {
            // The request went out and no answer came: the site may have the post. The draft
            // stays `Posting`, recorded as a claim nobody holds any more (its start moved back
            // past the stale mark, which only widens the window `find_post` looks in), so the
            // next Post, on any replica, looks on the site first (`recover_posting`) and
            // offers to post again only when the post is not there.
            let mut unsure = draft;
            unsure.state = DraftState::Posting {
                since: abandoned_since(since_of(&unsure, ctx.clock.now()), ctx.clock.now()),
            };
            if let Err(err) = ctx.store.put_draft(&unsure).await {
                return ctx.store_failure(&err);
            }
            tracing::warn!("a post timed out; its draft waits for a check of the site");
            Reply::private(format!(
                "Not confirmed: {} did not answer in time, so the post may or may not have been made. Press Retry: the bot first looks on the site and posts only if it is not there (never twice).\nYour draft is kept.",
                ctx.site.name
            ))
            .with_row(draft_buttons(id, true))
        }
        Err(e) => {
            let text = write_error_text(ctx, user, &e).await;
            let mut back = draft;
            back.state = DraftState::Saved {
                last_error: Some(text.clone()),
            };
            back.post_after_link = needs_relink(&e);
            if let Err(err) = ctx.store.put_draft(&back).await {
                return ctx.store_failure(&err);
            }
            let mut r = Reply::private(crate::t!("not-posted", why = text.as_str()))
                .with_row(draft_buttons(id, true));
            if needs_relink(&e) {
                r = r.with_row(vec![Component::button(
                    Id::Link.encode(),
                    &crate::t!("button-link-account"),
                    ButtonStyle::Primary,
                )]);
            }
            r
        }
    }
}

/// When `draft`'s post began (now, for a draft not posting).
fn since_of(draft: &Draft, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    match draft.state {
        DraftState::Posting { since } => since,
        _ => now,
    }
}

/// A `Posting` start that makes the claim stale as of `now` (so it is recovered, not waited
/// for), and no later than the real start `since`.
pub(crate) fn abandoned_since(
    since: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    since.min(now - Duration::seconds(crate::store::CLAIM_STALE_SECS + 1))
}

/// Settles a draft whose post was interrupted (its state is `Posting` and nobody is posting
/// it): looks on the site for the member's post and marks the draft posted with its link when
/// it is there; offers Retry only when the site does not have it; leaves it untouched (and
/// says so) when the site cannot be asked, so nothing is ever posted twice.
pub async fn recover_posting(ctx: &Commands, draft: Draft) -> Reply {
    let DraftState::Posting { since } = draft.state else {
        return settled(&draft)
            .unwrap_or_else(|| Reply::private("This draft is not being posted."));
    };
    let user = draft.discord_user;
    let link = match ctx.store.get_link(user).await {
        Ok(Some(l)) => l,
        Ok(None) | Err(_) => {
            return Reply::private(
                "A post of this draft was interrupted, and without your link the bot cannot check whether it reached the site. Link your account again; the draft is kept.",
            )
        }
    };
    let team = draft_team(ctx, &draft);
    match find_post(
        ctx,
        user,
        team.as_ref(),
        link.soe_user_id,
        &draft.content,
        since,
    )
    .await
    {
        Ok(Some(found)) => {
            let url = found.url.unwrap_or_else(|| match &draft.content {
                DraftContent::Ask { .. } => format!("question {}", found.id),
                DraftContent::Answer { question_id, .. } => {
                    format!("answer {} on question {question_id}", found.id)
                }
            });
            let mut done = draft;
            done.state = DraftState::Posted {
                url: url.clone(),
                posted_as: link.soe_user_name.clone(),
            };
            done.post_after_link = false;
            if let Err(e) = ctx.store.put_draft(&done).await {
                return ctx.store_failure(&e);
            }
            let _ = ctx.store.touch_link(user, ctx.clock.now()).await;
            tracing::info!(
                soe_user_id = link.soe_user_id,
                "an interrupted post had reached the site"
            );
            let mut r = posted_reply(&url, &link.soe_user_name, Some(&ctx.site.name));
            r.content = format!(
                "The bot was interrupted while posting your draft, but it had reached the site (nothing was posted twice). {}",
                r.content
            );
            r
        }
        Ok(None) => {
            let text = "The bot was interrupted while posting this, and it is not on the site: nothing was posted. Press Retry to post it.";
            let mut back = draft;
            back.state = DraftState::Saved {
                last_error: Some(text.into()),
            };
            let id = back.id.clone();
            if let Err(e) = ctx.store.put_draft(&back).await {
                return ctx.store_failure(&e);
            }
            Reply::private(text).with_row(draft_buttons(&id, true))
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not look for an interrupted post");
            Reply::private(format!(
                "A post of this draft was interrupted, and the bot cannot check the site right now ({}). The draft is kept as it is so nothing is posted twice; press Post again in a minute.",
                e.user_message_on(&ctx.site.name)
            ))
        }
    }
}

/// A post found on the site by [`find_post`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundPost {
    /// Its id (a question's or an answer's).
    pub id: i64,
    /// Its link, when the site gave one.
    pub url: Option<String>,
}

/// `member`'s post of `content` on the site, made since about `since`, if it is there (the
/// look-up is charged to `member`'s share of the service budget).
/// Question titles are unique on a site, so a title match is the post; answers are matched by
/// their Markdown body.
pub(crate) async fn find_post(
    ctx: &Commands,
    member: u64,
    team: Option<&crate::soe::TeamSlug>,
    soe_user: i64,
    content: &DraftContent,
    since: chrono::DateTime<chrono::Utc>,
) -> crate::soe::Result<Option<FoundPost>> {
    // The member's press spends the service token: charged to their share like every read.
    let reader = ctx.reader_for(member, team);
    let from = since - Duration::minutes(LOOK_BACK_MINUTES);
    let same = |a: &str, b: &str| a.split_whitespace().eq(b.split_whitespace());
    match content {
        DraftContent::Ask { title, .. } => {
            let page = reader
                .list_questions(&QuestionQuery {
                    page: 1,
                    page_size: PageSize::Fifty,
                    sort: Some(QuestionSort::Creation),
                    order: Some(Order::Desc),
                    author_id: Some(soe_user),
                    from: Some(from),
                    ..Default::default()
                })
                .await?;
            Ok(page
                .items
                .into_iter()
                .find(|q| same(&q.title, title))
                .map(|q| FoundPost {
                    id: q.id,
                    url: q.web_url.or(q.share_url),
                }))
        }
        DraftContent::Answer { question_id, body } => {
            let page = reader
                .list_answers(*question_id, 1, PageSize::Fifty, AnswerSort::Creation)
                .await?;
            let candidates = page.items.into_iter().filter(|a| {
                a.owner.as_ref().and_then(|o| o.id) == Some(soe_user)
                    && a.creation_date.is_none_or(|c| c >= from)
            });
            for a in candidates.take(ANSWERS_TO_OPEN) {
                let full = reader.get_answer(*question_id, a.id).await?;
                if full
                    .body_markdown
                    .as_deref()
                    .is_some_and(|md| same(md, body))
                {
                    return Ok(Some(FoundPost {
                        id: full.id,
                        url: full.web_url.or(full.share_link),
                    }));
                }
            }
            Ok(None)
        }
    }
}

/// A Post (Retry, Post anyway) or Discard press answered on the message it came from: a
/// reply that offers what to do next (Retry, Edit, Link…) replaces the prompt; once the draft
/// is posted or gone, the prompt says so and its buttons are greyed out, so nothing stale can
/// be pressed; a passing problem (busy, storage) is told privately and the prompt stays.
pub async fn live_draft(ctx: &Commands, inv: &Invocation, id: &str, reply: Reply) -> Reply {
    let finished = match ctx.store.get_draft(inv.member.id, id).await {
        Ok(None) => true,
        Ok(Some(d)) => matches!(d.state, DraftState::Posted { .. }),
        Err(_) => false,
    };
    if !finished {
        return if reply.buttons().iter().any(|c| c.id().is_some()) {
            reply.into_update()
        } else {
            reply
        };
    }
    let mut row = draft_buttons(id, true);
    if let Some(Component::Button { label, .. }) = row.first_mut() {
        *label = crate::t!("button-post");
    }
    reply
        .with_row(row.into_iter().map(|c| c.disabled(true)).collect())
        .into_update()
}

/// "Post a card in the channel" after a post: a public card in the channel the draft was
/// written in, naming the member as their SOE name: the question's title, tags and link (an
/// answer's card names the question it answers). Follows the share rules (permission first,
/// then the cooldowns) and is posted once per draft; not in a channel whose cards an admin
/// turned off (a button offered before that is refused).
pub async fn announce(ctx: &Commands, inv: &Invocation, id: &str) -> Reply {
    if let Some(refusal) = super::share::permission_refusal(inv) {
        return refusal;
    }
    let draft = match ctx.store.get_draft(inv.member.id, id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Reply::private(
                "That post is too old to announce now; share it with `/so question` instead.",
            )
        }
        Err(e) => return ctx.store_failure(&e),
    };
    let DraftState::Posted { url, posted_as } = &draft.state else {
        return Reply::private("This is not posted yet, so there is nothing to announce.");
    };
    if draft.channel_id != inv.channel_id {
        return Reply::private(
            "This card belongs in the channel the post was written in; press the button there.",
        );
    }
    if !cards_on(ctx, &draft).await {
        return Reply::private(
            "An admin turned cards about posts off in this channel, so nothing was posted. Share the question with `/so question` and Share to channel instead.",
        );
    }
    let who = super::render::escape_md(&truncate(posted_as, 100));
    let link = url.starts_with("http").then(|| url.clone());
    let embed = match &draft.content {
        DraftContent::Ask { title, tags, .. } => {
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let mut e = super::reply::Embed::new(title, &format!("Asked by **{who}**"))
                .url(link.clone())
                .color(super::render::COLOR);
            if !tags.is_empty() {
                e = e.field("Tags", &super::render::tag_list(&tags), false);
            }
            e
        }
        DraftContent::Answer { question_id, .. } => {
            let view = match super::show::fetch_in(ctx, inv, *question_id).await {
                Ok(v) => v,
                Err(reply) => return reply,
            };
            let q = &view.question;
            let mut e = super::reply::Embed::new(
                &format!("New answer: {}", q.title),
                &format!("Answered by **{who}**"),
            )
            .url(link.clone())
            .color(super::render::COLOR);
            if !q.tags.is_empty() {
                e = e.field("Tags", &super::render::tag_list(&q.tag_names()), false);
            }
            e
        }
    };
    if let Some(refusal) = super::share::take_cooldowns(ctx, inv).await {
        return refusal;
    }
    // Once per draft: a bucket of one that refills only after the draft is long gone.
    let once = ctx
        .store
        .take_rate(
            &format!("announce:{}:{id}", inv.member.id),
            1,
            u64::from(ctx.limits.draft_ttl_hours) * 3600 * 2,
            ctx.clock.now(),
        )
        .await;
    match once {
        Ok(Allowance::Allowed) => {}
        Ok(Allowance::RetryAfter(_)) => {
            return Reply::private("The card for this post is already in the channel.")
        }
        Err(e) => return ctx.store_failure(&e),
    }
    let mut card = Reply::public("").with_embed(embed.footer(&ctx.site.name));
    card.reply_to = draft.source_message;
    if let Some(url) = link {
        card = card.with_row(vec![Component::link(
            url,
            &crate::t!("button-view-on-site"),
        )]);
    }
    card
}

/// Whether a card about `draft`'s post may be offered in the channel it was written in: a
/// guild channel whose cards an admin did not turn off (`/so-admin channel cards`; a thread
/// follows its parent). Unreadable settings offer it (the default).
async fn cards_on(ctx: &Commands, draft: &Draft) -> bool {
    let (Some(guild), Some(channel)) = (draft.guild_id, draft.channel_id) else {
        return false;
    };
    match ctx.store.guild_settings(guild).await {
        Ok(s) => s.cards_on(channel, draft.thread_parent),
        Err(e) => {
            tracing::warn!(error = %e, "guild settings unreadable; offering the card");
            true
        }
    }
}

/// Reopens a draft in its modal.
pub async fn edit_draft(ctx: &Commands, inv: &Invocation, id: &str) -> Reply {
    let draft = match ctx.store.get_draft(inv.member.id, id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Reply::private(
                "This draft no longer exists: it was posted, discarded, or expired.",
            )
        }
        Err(e) => return ctx.store_failure(&e),
    };
    if let Some(r) = settled(&draft) {
        return r;
    }
    match &draft.content {
        DraftContent::Ask { title, body, tags } => {
            ask_modal(id, None, Some(title), Some(body), Some(&tags.join(", ")))
        }
        DraftContent::Answer { question_id: 0, .. } => super::pick::picker(ctx, inv, id, false),
        DraftContent::Answer { question_id, body } => {
            answer_modal_reply(*question_id, id, Some(body))
        }
    }
}

/// Forgets a draft.
pub async fn discard_draft(ctx: &Commands, inv: &Invocation, id: &str) -> Reply {
    match ctx.store.get_draft(inv.member.id, id).await {
        Ok(Some(d))
            if matches!(
                d.state,
                DraftState::Posted { .. } | DraftState::Posting { .. }
            ) =>
        {
            settled(&d).unwrap_or_else(|| Reply::private("Nothing to discard."))
        }
        Ok(Some(_)) => match ctx.store.delete_draft(inv.member.id, id).await {
            Ok(()) => Reply::private("Draft discarded."),
            Err(e) => ctx.store_failure(&e),
        },
        Ok(None) => Reply::private("Nothing to discard: the draft is already gone."),
        Err(e) => ctx.store_failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::similar_query;

    #[test]
    fn similar_queries_keep_the_distinctive_words() {
        assert_eq!(
            similar_query("How do I run async tasks concurrently with tokio?", 3),
            "concurrently async tasks"
        );
        assert_eq!(
            similar_query("How do I run async tasks concurrently with tokio?", 1),
            "concurrently"
        );
        assert_eq!(similar_query("How do I do it?", 3), "");
        assert_eq!(
            similar_query("C# async in C# constructors", 2),
            "constructors async"
        );
    }
}

//! "Post as answer": the member picks the question by its title, never by its number.
//!
//! The message's text is saved first as an answer draft without a question (so nothing is
//! lost, and the components carry only the draft's handle). The member then picks the
//! question from a select of the questions this channel saw lately (search results listed and
//! question cards shown or shared here, see [`super::complete::RecentQuestions`]), or searches
//! the site for it: a form for words of its title, then one search through the member's share
//! of the service budget (or the search cache), whose results come back as a new select. A
//! message that replies to one of the bot's question cards skips the choice: its question is
//! the card's (see [`super::invocation::RepliedMessage::card_question`]).
//!
//! Choosing opens the answer form pre-filled with the message's text for the member's own
//! message; for someone else's message it asks the author's consent first (`consent`).
//! Invariants: a choice acts only on the chooser's own draft (drafts are keyed by member); a
//! draft already posted answers "Already posted" rather than opening a form again.

use crate::store::{Draft, DraftContent};

use super::ids::Id;
use super::reply::{
    limits, truncate, ButtonStyle, Component, Modal, Reply, SelectOption, TextInput,
};
use super::{Commands, Invocation};

/// Shortest search worth a request (as for autocomplete).
const FIND_MIN: usize = super::complete::LIVE_SEARCH_MIN;

/// The picker for answer draft `draft`: the questions this channel saw lately, and a search.
pub fn picker(ctx: &Commands, inv: &Invocation, draft: &str, consent: bool) -> Reply {
    let recent = ctx.recent.matching(inv.channel_id, "");
    let text = if recent.is_empty() {
        crate::t!("pick-none-recent")
    } else {
        crate::t!("pick-recent")
    };
    menu(&text, draft, consent, &recent)
}

/// A picker over `questions` (id, title), with "Search for the question…" and Cancel.
fn menu(text: &str, draft: &str, consent: bool, questions: &[(i64, String)]) -> Reply {
    let options: Vec<SelectOption> = questions
        .iter()
        .take(limits::SELECT_OPTIONS)
        .map(|(id, title)| {
            SelectOption::new(
                title,
                &id.to_string(),
                Some(&crate::t!("pick-question-n", n = *id)),
            )
        })
        .collect();
    Reply::private(text)
        .with_row(vec![Component::select(
            Id::PickQuestion {
                draft: draft.into(),
                consent,
            }
            .encode(),
            &crate::t!("pick-placeholder"),
            options,
        )])
        .with_row(vec![
            Component::button(
                Id::FindQuestion {
                    draft: draft.into(),
                    consent,
                }
                .encode(),
                &crate::t!("button-find-question"),
                ButtonStyle::Primary,
            ),
            Component::button(
                Id::DiscardDraft {
                    draft: draft.into(),
                }
                .encode(),
                &crate::t!("button-cancel"),
                ButtonStyle::Secondary,
            ),
        ])
}

/// The chooser's answer draft `id`, or the reply to give instead (gone, or already posted).
pub(crate) async fn own_answer_draft(
    ctx: &Commands,
    user: u64,
    id: &str,
) -> Result<(Draft, String), Reply> {
    let draft = match ctx.store.get_draft(user, id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Err(Reply::private(crate::t!("pick-draft-gone"))),
        Err(e) => return Err(ctx.store_failure(&e)),
    };
    if let Some(r) = super::post::settled(&draft) {
        return Err(r);
    }
    match &draft.content {
        DraftContent::Answer { body, .. } => {
            let body = body.clone();
            Ok((draft, body))
        }
        DraftContent::Ask { .. } => Err(Reply::private(crate::t!("pick-not-an-answer"))),
    }
}

/// A question was chosen for answer draft `id`: the answer form, pre-filled, for the
/// member's own message; the author's consent prompt for someone else's.
pub async fn chosen(
    ctx: &Commands,
    inv: &Invocation,
    id: &str,
    consent: bool,
    question: i64,
) -> Reply {
    let (draft, body) = match own_answer_draft(ctx, inv.member.id, id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if consent {
        // Someone else's message: its author is asked first.
        return super::consent::ask_author(ctx, inv, draft, Some(question)).await;
    }
    super::post::answer_form(question, id, Some(&body))
}

/// "Search for the question…": a form for words of its title.
pub fn find_form(draft: &str, consent: bool) -> Reply {
    Reply::modal(Modal {
        id: Id::FindQuestionModal {
            draft: draft.into(),
            consent,
        }
        .encode(),
        title: truncate(&crate::t!("find-title"), limits::MODAL_TITLE),
        inputs: vec![TextInput::new("words", &crate::t!("find-words"), false)
            .length(FIND_MIN as u16, 100)
            .placeholder(&crate::t!("find-placeholder"))],
    })
}

/// The search form was sent: one search (cached, or charged to the member's share of the
/// service budget), whose questions come back as a new picker.
pub async fn find(ctx: &Commands, inv: &Invocation, draft: &str, consent: bool) -> Reply {
    let words = inv.field("words").unwrap_or_default().trim().to_string();
    if let Err(r) = own_answer_draft(ctx, inv.member.id, draft).await {
        return r;
    }
    if words.chars().count() < FIND_MIN {
        return menu(
            &crate::t!("find-too-short", n = FIND_MIN),
            draft,
            consent,
            &[],
        );
    }
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    let shown = truncate(&words, 80).replace('`', "'");
    match super::complete::search_titles(ctx, inv.member.id, team.as_ref(), &words).await {
        Err(reply) => reply,
        Ok(found) if found.is_empty() => menu(
            &crate::t!(
                "find-none",
                site = ctx.site.name.as_str(),
                words = shown.as_str()
            ),
            draft,
            consent,
            &[],
        ),
        Ok(found) => menu(
            &crate::t!(
                "find-found",
                site = ctx.site.name.as_str(),
                words = shown.as_str()
            ),
            draft,
            consent,
            &found,
        ),
    }
}

//! How a card looks: a public message with one embed (title, author, tags, score, link), a
//! digest of folded cards, and the merge of news into an earlier card (edit in place).
//!
//! Invariants: everything from the site is Markdown-escaped, so a title cannot format,
//! link or mention; messages are [`Reply`] values that adapters send with no allowed
//! mentions.

use super::model::Card;
use super::personal::Alert;
use super::rule::{format_duration, ActivityKind};
use crate::commands::ids::{Id, Surface};
use crate::commands::render::{escape_md, tag_list};
use crate::commands::reply::truncate;
use crate::commands::{ButtonStyle, Component};
use crate::commands::{Embed, Reply};

const BLUE: u32 = 0x0a95ff;
const GREEN: u32 = 0x2f9e44;
const AMBER: u32 = 0xf2a60c;

fn headline(card: &Card) -> String {
    match card.kind {
        ActivityKind::NewQuestion => "New question".into(),
        ActivityKind::Unanswered { age_secs } => format!(
            "Unanswered for {}",
            format_duration(age_secs - age_secs % 60)
        ),
        ActivityKind::NewAnswer => "New answer".into(),
        ActivityKind::Accepted => "Answer accepted".into(),
        ActivityKind::NewArticle => "New article".into(),
    }
}

/// The message for one card.
pub fn card(card: &Card) -> Reply {
    let tags: Vec<&str> = card.tags.iter().map(String::as_str).collect();
    let by = if card.author.is_empty() {
        String::new()
    } else {
        format!(" by **{}**", escape_md(&truncate(&card.author, 80)))
    };
    let answers = match card.answer_count {
        1 => "1 answer".to_string(),
        n => format!("{n} answers"),
    };
    let accepted = if card.accepted {
        " · ✓ accepted"
    } else {
        ""
    };
    let description = if card.kind == ActivityKind::NewArticle {
        // Articles have no answers.
        format!("{}{by}\nscore {}", headline(card), card.score)
    } else {
        format!(
            "{}{by}\nscore {} · {answers}{accepted}",
            headline(card),
            card.score
        )
    };
    let color = match card.kind {
        ActivityKind::Accepted => GREEN,
        ActivityKind::Unanswered { .. } => AMBER,
        _ if card.accepted => GREEN,
        _ => BLUE,
    };
    let embed = Embed::new(&card.title, &description)
        .url(Some(card.url.clone()).filter(|u| !u.is_empty()))
        .field("Tags", &tag_list(&tags), false)
        .color(color);
    Reply::public("").with_embed(embed)
}

/// A question card updated with later news (an answer, an acceptance) about the same
/// question, for editing the earlier message.
pub fn updated(earlier: &Card, news: &Card) -> Card {
    Card {
        answer_count: earlier.answer_count.max(news.answer_count),
        score: news.score,
        accepted: earlier.accepted || news.kind == ActivityKind::Accepted,
        ..earlier.clone()
    }
}

/// The name of the thread started on a question card (Discord allows 100 characters).
pub fn thread_name(card: &Card) -> String {
    let name = truncate(&card.title, 100);
    if name.trim().is_empty() {
        format!("Question {}", card.question_id)
    } else {
        name
    }
}

/// One message for cards folded over a channel's hourly cap.
pub fn digest(cards: &[&Card]) -> Reply {
    let mut lines = vec![format!(
        "**{} more from the site** (this channel reached its hourly card limit):",
        cards.len()
    )];
    for c in cards.iter().take(super::deliver::DIGEST_LINES) {
        let title = escape_md(&truncate(&c.title, 120));
        let line = if c.url.is_empty() {
            format!("• {}: {title}", headline(c))
        } else {
            format!("• {}: [{title}](<{}>)", headline(c), c.url)
        };
        lines.push(line);
    }
    if cards.len() > super::deliver::DIGEST_LINES {
        lines.push(format!(
            "…and {} more.",
            cards.len() - super::deliver::DIGEST_LINES
        ));
    }
    Reply::public(lines.join("\n"))
}

/// The direct message of a personal alert (sent with no allowed mentions; everything from
/// the site escaped):
/// - an answer to the member's question: the question, who answered, the answer's first
///   lines, and **Accept** (as the member, through their link) and **View**;
/// - new questions in their tags: one list, the newest [`super::personal::BATCH_LINES`];
/// - expert routing: the question's card, **Answer** (the answer form, posted as them) and
///   **View**.
pub fn personal(alert: &Alert) -> Reply {
    match alert {
        Alert::Answer { card: c, excerpt } => {
            let by = if c.author.is_empty() {
                "Someone".to_string()
            } else {
                format!("**{}**", escape_md(&truncate(&c.author, 80)))
            };
            let quoted: String = excerpt
                .lines()
                .map(|l| format!("> {}", escape_md(l)))
                .collect::<Vec<_>>()
                .join("\n");
            let embed = Embed::new(&c.title, &format!("{by} answered your question:\n{quoted}"))
                .url(Some(c.url.clone()).filter(|u| !u.is_empty()))
                .color(GREEN);
            let mut row = Vec::new();
            if let Some(answer) = c.answer_id {
                row.push(Component::button(
                    Id::Accept {
                        question: c.question_id,
                        answer,
                        on: Surface::Dm,
                    }
                    .encode(),
                    "Accept",
                    ButtonStyle::Success,
                ));
            }
            if !c.url.is_empty() {
                row.push(Component::link(c.url.clone(), "View"));
            }
            Reply::public("New answer to your question")
                .with_embed(embed)
                .with_row(row)
        }
        Alert::NewQuestions { cards } => {
            let n = cards.len();
            let mut lines = vec![match n {
                1 => "**1 new question** in your tags:".to_string(),
                n => format!("**{n} new questions** in your tags:"),
            }];
            let shown = super::personal::BATCH_LINES;
            for c in cards.iter().rev().take(shown) {
                let title = escape_md(&truncate(&c.title, 120));
                let tags: Vec<&str> = c.tags.iter().map(String::as_str).collect();
                let line = if c.url.is_empty() {
                    format!("• {title} · {}", tag_list(&tags))
                } else {
                    format!("• [{title}](<{}>) · {}", c.url, tag_list(&tags))
                };
                lines.push(line);
            }
            if n > shown {
                lines.push(format!("…and {} more.", n - shown));
            }
            lines.push("Turn these off with `/so alerts off`.".into());
            Reply::public(lines.join("\n"))
        }
        Alert::Expert { card: c } => {
            let mut message = card(c);
            message.content =
                "A question in a tag you are an expert for is still unanswered. Turn these off with `/so experts off`."
                    .into();
            let mut row = vec![Component::button(
                Id::OpenAnswer {
                    question: c.question_id,
                }
                .encode(),
                "Answer",
                ButtonStyle::Primary,
            )];
            if !c.url.is_empty() {
                row.push(Component::link(c.url.clone(), "View"));
            }
            message.with_row(row)
        }
    }
}

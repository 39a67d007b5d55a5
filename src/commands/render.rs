//! SOE content as Discord embeds: questions, answers, search hits.
//!
//! Bodies are HTML converted to Discord Markdown, then truncated on character boundaries.
//! Titles and names are plain text (decoded once by the client). [`escape_md`] is the one
//! escaping function: every Discord display name and SOE user name put into Markdown text
//! (message content, embed descriptions and field values) goes through it, so a name can never
//! format a reply or forge a link. Embed footers and titles of cards are not Markdown to
//! Discord's renderer (footers show text as is), so names there are left alone: escaping them
//! would show the backslashes.

use chrono::{DateTime, Utc};

use crate::soe::text::html_to_discord;
use crate::soe::{Answer, Question, SearchItem};

use super::reply::{limits, truncate, Embed};

/// SOE orange.
pub const COLOR: u32 = 0xF4_80_24;
/// Accepted-answer green.
pub const ACCEPTED: u32 = 0x2F_A8_4F;

/// A Discord relative timestamp (`<t:1700000000:R>`): each reader's client shows "3 days ago"
/// and keeps it current, so a card posted in a channel never shows a frozen age. Only message
/// content, embed descriptions and field values render it (not titles or footers).
pub fn when(then: Option<DateTime<Utc>>) -> String {
    match then {
        Some(t) => format!("<t:{}:R>", t.timestamp()),
        None => "some time ago".into(),
    }
}

/// "3 days ago" from `then` to `now` (for text that is not rendered by Discord).
pub fn age(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(then) = then else {
        return "some time ago".into();
    };
    let secs = (now - then).num_seconds();
    if secs < 0 {
        return "just now".into();
    }
    let (n, unit) = match secs {
        0..=59 => return "just now".into(),
        60..=3_599 => (secs / 60, "minute"),
        3_600..=86_399 => (secs / 3_600, "hour"),
        86_400..=2_591_999 => (secs / 86_400, "day"),
        2_592_000..=31_535_999 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// Escapes Discord Markdown (`\ * _ ~ ` | > # - [ ] ( )`) with backslashes, so `s` shows
/// exactly as written: no bold, italics, strike-through, spoilers, code, quotes, headings,
/// lists or links. Mentions need no escaping: no reply allows any (`allowed_mentions`).
pub fn escape_md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '-' | '[' | ']' | '(' | ')'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `[a] [b]` tag list.
pub fn tag_list(tags: &[&str]) -> String {
    tags.iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A question card. `body_chars` bounds the rendered body.
pub fn question_embed(q: &Question, body_chars: usize) -> Embed {
    let body = html_to_discord(&q.body);
    let owner = q
        .owner
        .as_ref()
        .map(|o| o.name.as_str())
        .unwrap_or("unknown");
    let mut e = Embed::new(
        &q.title,
        &truncate(&body, body_chars.min(limits::EMBED_DESCRIPTION)),
    )
    .url(q.web_url.clone().or_else(|| q.share_url.clone()))
    .color(COLOR)
    .field("Score", &q.score.to_string(), true)
    .field("Answers", &q.answer_count.to_string(), true)
    .field("Views", &q.view_count.to_string(), true)
    .field("Asked", &when(q.creation_date), true);
    if !q.tags.is_empty() {
        e = e.field("Tags", &tag_list(&q.tag_names()), false);
    }
    e.footer(&format!("asked by {} · question {}", owner, q.id))
}

/// An answer card, numbered for its buttons.
pub fn answer_embed(n: usize, a: &Answer, body_chars: usize) -> Embed {
    let body = html_to_discord(&a.body);
    let owner = a
        .owner
        .as_ref()
        .map(|o| o.name.as_str())
        .unwrap_or("unknown");
    let title = format!(
        "{}Answer {n} · score {}",
        if a.is_accepted { "✅ " } else { "" },
        a.score
    );
    Embed::new(&title, &truncate(&body, body_chars))
        .url(a.web_url.clone().or_else(|| a.share_link.clone()))
        .color(if a.is_accepted { ACCEPTED } else { COLOR })
        .field("Answered", &when(a.creation_date), true)
        .footer(&format!("answered by {owner}"))
}

/// One search hit as a line: "**1.** [Title](url) ✓ · 5 votes · 3 answers · `rust` · 2 days ago".
pub fn hit_line(n: usize, item: &SearchItem) -> Option<String> {
    let (common, extra) = match item {
        SearchItem::Question(q) => (
            &q.common,
            format!(
                "{}{}",
                if q.has_accepted_answer { "✓ · " } else { "" },
                crate::t!("hit-answers", count = q.answer_count)
            ),
        ),
        SearchItem::Answer(a) => (
            &a.common,
            format!(
                "{}{}",
                crate::t!("hit-answer"),
                if a.is_accepted { " ✓" } else { "" }
            ),
        ),
        SearchItem::Article(a) => (&a.common, crate::t!("hit-article")),
        SearchItem::Other => return None,
    };
    let title = escape_md(&truncate(&common.title, 120));
    let link = match &common.web_url {
        Some(u) => format!("[{title}]({u})"),
        None => title,
    };
    let tags: Vec<&str> = common
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .take(5)
        .collect();
    let mut line = format!(
        "**{n}.** {link}\n{extra} · {}",
        crate::t!("hit-score", score = common.score)
    );
    if !tags.is_empty() {
        line.push_str(" · ");
        line.push_str(&tag_list(&tags));
    }
    line.push_str(" · ");
    line.push_str(&when(common.creation_date));
    Some(line)
}

/// A hit as a select choice: "3. Title" and "question · score 5 · 2 answers · rust, tokio".
pub fn hit_choice(n: usize, item: &SearchItem) -> Option<(String, String)> {
    let (common, kind) = match item {
        SearchItem::Question(q) => (
            &q.common,
            format!(
                "{}{}",
                if q.has_accepted_answer { "✓ " } else { "" },
                crate::t!("hit-answers", count = q.answer_count)
            ),
        ),
        SearchItem::Answer(a) => (
            &a.common,
            format!(
                "{}{}",
                crate::t!("hit-an-answer"),
                if a.is_accepted { " ✓" } else { "" }
            ),
        ),
        _ => return None,
    };
    let tags: Vec<&str> = common
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .take(5)
        .collect();
    let mut about = format!("{} · {kind}", crate::t!("hit-score", score = common.score));
    if !tags.is_empty() {
        about.push_str(" · ");
        about.push_str(&tags.join(", "));
    }
    Some((format!("{n}. {}", common.title), about))
}

/// A post's HTML body as one line of plain text (tags dropped, entities decoded, spaces
/// collapsed), for places that show no Markdown (select descriptions).
pub fn plain_text(html: &str) -> String {
    const BLOCKS: [&str; 14] = [
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "pre",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "tr",
        "td",
    ];
    let mut text = String::with_capacity(html.len());
    let mut tag: Option<String> = None;
    for c in html.chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(name), '>') => {
                // Block elements separate words; inline ones (code, a, em) do not.
                let name = name.trim_start_matches('/').to_ascii_lowercase();
                let name = name.split([' ', '/']).next().unwrap_or_default();
                if BLOCKS.contains(&name) {
                    text.push(' ');
                }
                tag = None;
            }
            (Some(name), c) => name.push(c),
            (None, c) => text.push(c),
        }
    }
    crate::soe::text::decode_once(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The question id a hit leads to (answers lead to their question).
pub fn hit_question_id(item: &SearchItem) -> Option<i64> {
    match item {
        SearchItem::Question(q) => Some(q.question_id),
        SearchItem::Answer(a) => Some(a.parent_question_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn ages_read_naturally() {
        let now = Utc::now();
        assert_eq!(age(Some(now - Duration::seconds(5)), now), "just now");
        assert_eq!(age(Some(now - Duration::minutes(1)), now), "1 minute ago");
        assert_eq!(age(Some(now - Duration::days(3)), now), "3 days ago");
        assert_eq!(age(Some(now - Duration::days(800)), now), "2 years ago");
        assert_eq!(age(None, now), "some time ago");
    }

    #[test]
    fn plain_text_drops_tags_and_decodes() {
        assert_eq!(
            plain_text(
                "<p>Use <a href=\"x\">a <code>JoinSet</code></a> &amp; wait.</p>\n<pre>x</pre>"
            ),
            "Use a JoinSet & wait. x"
        );
    }

    #[test]
    fn escapes_markdown_in_titles() {
        assert_eq!(escape_md("a [b] *c*"), "a \\[b\\] \\*c\\*");
    }

    #[test]
    fn escapes_every_markdown_character_of_a_name() {
        assert_eq!(
            escape_md("**Bob** _x_ [a](b)"),
            r"\*\*Bob\*\* \_x\_ \[a\]\(b\)"
        );
        assert_eq!(
            escape_md(r"~~s~~ ||h|| `c` > q # h - l \"),
            r"\~\~s\~\~ \|\|h\|\| \`c\` \> q \# h \- l \\"
        );
        assert_eq!(
            escape_md("Connor O'Brien"),
            "Connor O'Brien",
            "nothing else"
        );
    }
}

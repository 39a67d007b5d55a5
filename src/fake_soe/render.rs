//! Rendering for the fake site: Markdown to the site's HTML, the vendor's HTML encoding of text
//! fields, dates, URLs, and the JSON models of the official OpenAPI document.
//!
//! Invariants:
//! - every JSON object built here has exactly the field names of the document's models
//!   (`QuestionSummaryResponseModel`, `AnswerResponseModel`, …); fields that are not nullable in
//!   the document and have no value (`bounty`, `lastEditor` before an edit) are omitted, never
//!   `null`;
//! - the store keeps plain text; text fields are HTML-encoded here, on the way out, each only when
//!   its [`EncodedField`] is in the site's encoded set (the `html_encode` quirk and
//!   `encoded_fields`); `body` is HTML rendered from the Markdown and never encoded again;
//! - dates are ISO-8601 UTC with milliseconds (`2026-01-05T10:30:21.254Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};
use serde_json::{json, Map, Value};
use url::Url;

use super::store::{
    FakeAnswer, FakeArticle, FakeComment, FakeQuestion, FakeTag, FakeUser, Store, VoteKind,
};
use crate::soe::text::{EncodedField, EncodedFields};

/// Formats a date the way the site does: `2026-01-05T10:30:21.254Z`.
pub(crate) fn iso(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The vendor's encoding of text fields: `&`, `<`, `>`, `"` and `'` as entities.
pub(crate) fn html_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Escapes text for an HTML page or attribute (the fake's own pages).
pub(crate) fn escape(s: &str) -> String {
    html_encode(s)
}

/// Inline HTML tags the site lets through in Markdown (without attributes); anything else is
/// shown as text, like the site's sanitizer does.
const ALLOWED_TAGS: &[&str] = &[
    "b",
    "i",
    "em",
    "strong",
    "kbd",
    "sup",
    "sub",
    "br",
    "hr",
    "del",
    "s",
    "strike",
    "code",
    "p",
    "blockquote",
];

fn allowed_raw_html(raw: &str) -> bool {
    let t = raw.trim();
    let Some(inner) = t.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        return false;
    };
    let inner = inner.strip_prefix('/').unwrap_or(inner);
    let inner = inner.strip_suffix('/').unwrap_or(inner).trim();
    ALLOWED_TAGS
        .iter()
        .any(|tag| inner.eq_ignore_ascii_case(tag))
}

fn safe_href(dest: &str) -> bool {
    let lower = dest.trim().to_ascii_lowercase();
    match lower.find(':') {
        None => true,
        Some(colon) => {
            // A colon after the first slash, '?' or '#' is not a scheme separator.
            let first_special = lower.find(['/', '?', '#']).unwrap_or(usize::MAX);
            colon > first_special
                || lower.starts_with("http:")
                || lower.starts_with("https:")
                || lower.starts_with("mailto:")
        }
    }
}

/// The language of a fenced block, reduced to characters safe in a class name.
fn code_language(info: &str) -> Option<String> {
    let word = info.split_whitespace().next()?;
    let lang: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#' | '.'))
        .collect();
    (!lang.is_empty()).then(|| lang.to_ascii_lowercase())
}

/// Renders post Markdown (CommonMark + tables + strikethrough) to the site's HTML: code blocks as
/// `<pre class="lang-rust s-code-block"><code class="hljs language-rust">…</code></pre>`, links
/// with `rel="nofollow noreferrer"`, raw HTML outside a small allow-list shown as text.
pub(crate) fn markdown_to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut in_code = false;
    // For each open link: whether an <a> was emitted (unsafe hrefs render as bare text).
    let mut links: Vec<bool> = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code = true;
                let lang = match &kind {
                    CodeBlockKind::Fenced(info) => code_language(info),
                    CodeBlockKind::Indented => None,
                };
                let open = match lang {
                    Some(l) => format!(
                        "<pre class=\"lang-{l} s-code-block\"><code class=\"hljs language-{l}\">"
                    ),
                    None => "<pre class=\"s-code-block\"><code class=\"hljs\">".to_string(),
                };
                events.push(Event::Html(CowStr::from(open)));
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                events.push(Event::Html(CowStr::from("</code></pre>\n")));
            }
            Event::Text(text) if in_code => {
                events.push(Event::Html(CowStr::from(
                    html_escape::encode_text(&text).into_owned(),
                )));
            }
            Event::Start(Tag::Link {
                dest_url, title, ..
            }) => {
                if safe_href(&dest_url) {
                    let mut a = format!(
                        "<a href=\"{}\"",
                        html_escape::encode_double_quoted_attribute(&dest_url)
                    );
                    if !title.is_empty() {
                        a.push_str(&format!(
                            " title=\"{}\"",
                            html_escape::encode_double_quoted_attribute(&title)
                        ));
                    }
                    a.push_str(" rel=\"nofollow noreferrer\">");
                    events.push(Event::InlineHtml(CowStr::from(a)));
                    links.push(true);
                } else {
                    links.push(false);
                }
            }
            Event::End(TagEnd::Link) => {
                if links.pop().unwrap_or(false) {
                    events.push(Event::InlineHtml(CowStr::from("</a>")));
                }
            }
            Event::Html(raw) | Event::InlineHtml(raw) => {
                if allowed_raw_html(&raw) {
                    events.push(Event::InlineHtml(raw));
                } else {
                    events.push(Event::Text(raw));
                }
            }
            other => events.push(other),
        }
    }
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// A plain-text excerpt of post Markdown, as search results show it (at most `max` chars).
pub(crate) fn snippet(markdown: &str, max: usize) -> String {
    let mut text = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak
            | Event::HardBreak
            | Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::Item
                | TagEnd::BlockQuote(_)
                | TagEnd::TableCell
                | TagEnd::TableRow,
            ) => text.push(' '),
            _ => {}
        }
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// A URL slug: lower-case ASCII words joined by `-` (at most 80 chars).
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
        if out.len() >= 80 {
            break;
        }
    }
    if out.is_empty() {
        "post".to_string()
    } else {
        out
    }
}

/// Percent-encodes one path segment (`c#` → `c%23`).
pub(crate) fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Builds JSON models for one response: the store, the site, the encoding quirk and the user
/// whose token made the call (for `userHasUpvoted`, `email`, …).
pub(crate) struct View<'a> {
    /// The data.
    pub store: &'a Store,
    /// The site root, ending in `/`.
    pub site: &'a Url,
    /// Which text fields are served HTML-encoded.
    pub encode: EncodedFields,
    /// The token's user.
    pub viewer: Option<i64>,
}

impl View<'_> {
    /// A text field as served: encoded when `field` is in the encoded set.
    pub fn text(&self, field: EncodedField, s: &str) -> String {
        if self.encode.contains(field) {
            html_encode(s)
        } else {
            s.to_string()
        }
    }

    /// `{site}` or `{site}c/{team}/`.
    fn base(&self, team: Option<&str>) -> String {
        match team {
            Some(t) => format!("{}c/{}/", self.site, path_segment(t)),
            None => self.site.to_string(),
        }
    }

    /// `UserSummaryResponseModel`.
    pub fn user_summary(&self, id: i64) -> Value {
        match self.store.user(id) {
            Some(u) => json!({
                "id": u.id,
                "accountId": u.account_id,
                "name": self.text(EncodedField::DisplayName, &u.name),
                "avatarUrl": u.avatar_url(),
                "webUrl": self.user_url(u),
                "reputation": u.reputation,
                "role": u.role,
            }),
            // A deleted user, as the site shows one.
            None => json!({
                "id": id,
                "accountId": null,
                "name": format!("user{id}"),
                "avatarUrl": "",
                "webUrl": format!("{}users/{id}", self.site),
                "reputation": 1,
                "role": "Registered",
            }),
        }
    }

    fn user_url(&self, u: &FakeUser) -> String {
        format!("{}users/{}/{}", self.site, u.id, slug(&u.name))
    }

    /// `UserDetailsResponseModel`; `email` only for the viewer's own account.
    pub fn user_details(&self, u: &FakeUser) -> Value {
        let own = self.viewer == Some(u.id);
        json!({
            "communities": [],
            "externalId": u.external_id,
            "department": u.department,
            "jobTitle": u.job_title,
            "email": if own { Some(u.email.clone()) } else { None },
            "id": u.id,
            "accountId": u.account_id,
            "name": self.text(EncodedField::DisplayName, &u.name),
            "avatarUrl": u.avatar_url(),
            "webUrl": self.user_url(u),
            "reputation": u.reputation,
            "role": u.role,
        })
    }

    /// `TagSummaryResponseModel`.
    pub fn tag_summary(&self, t: &FakeTag) -> Value {
        json!({
            "id": t.id,
            "name": t.name,
            "description": self.text(EncodedField::TagDescription, &t.description),
            "postCount": self.store.tag_post_count(t.team.as_deref(), &t.name),
            "subjectMatterExpertCount": if self.store.smes_enabled() {
                Some(self.store.expert_count(t.id))
            } else {
                None
            },
            "watcherCount": t.watcher_count,
            "creationDate": iso(t.creation_date),
            "hasSynonyms": false,
            "webUrl": format!(
                "{}questions/tagged/{}",
                self.base(t.team.as_deref()),
                path_segment(&t.name)
            ),
        })
    }

    /// `SubjectMatterExpertResponseModel`: the users named experts for a tag and the user
    /// groups named experts, each group with its members (`UserGroupResponseModel`).
    pub fn tag_experts(&self, tag: i64) -> Value {
        let e = self.store.experts_of(tag);
        let users: Vec<Value> = e.users.iter().map(|u| self.user_summary(*u)).collect();
        let groups: Vec<Value> = e
            .groups
            .iter()
            .filter_map(|g| self.store.group(*g))
            .map(|g| {
                json!({
                    "id": g.id,
                    "name": g.name,
                    "description": g.description,
                    "users": g.members.iter().map(|u| self.user_summary(*u)).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "users": users, "userGroups": groups })
    }

    /// `TagResponseModel`.
    pub fn tag_response(&self, t: &FakeTag) -> Value {
        let mut v = self.tag_summary(t);
        if let Value::Object(map) = &mut v {
            map.insert("subjectMatterExperts".into(), self.tag_experts(t.id));
        }
        v
    }

    fn question_tags(&self, q: &FakeQuestion) -> Vec<Value> {
        q.tags
            .iter()
            .filter_map(|name| self.store.tag_by_name(q.team.as_deref(), name))
            .map(|t| self.tag_summary(t))
            .collect()
    }

    /// The question's web URL.
    pub fn question_url(&self, q: &FakeQuestion) -> String {
        format!(
            "{}questions/{}/{}",
            self.base(q.team.as_deref()),
            q.id,
            slug(&q.title)
        )
    }

    fn summary_map(&self, q: &FakeQuestion) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(q.id));
        m.insert(
            "title".into(),
            json!(self.text(EncodedField::Title, &q.title)),
        );
        m.insert("body".into(), json!(markdown_to_html(&q.body_markdown)));
        m.insert("tags".into(), Value::Array(self.question_tags(q)));
        m.insert("owner".into(), self.user_summary(q.owner_id));
        if let Some(editor) = q.last_editor_id {
            m.insert("lastEditor".into(), self.user_summary(editor));
        }
        m.insert("creationDate".into(), json!(iso(q.creation_date)));
        m.insert("lastActivityDate".into(), json!(iso(q.last_activity_date)));
        m.insert("score".into(), json!(q.score));
        m.insert("isAnswered".into(), json!(self.store.is_answered(q.id)));
        m.insert("answerCount".into(), json!(self.store.answer_count(q.id)));
        m.insert("viewCount".into(), json!(q.view_count));
        m.insert("webUrl".into(), json!(self.question_url(q)));
        m.insert(
            "shareUrl".into(),
            json!(format!("{}q/{}", self.base(q.team.as_deref()), q.id)),
        );
        m.insert("isDeleted".into(), json!(q.is_deleted));
        m.insert("isObsolete".into(), json!(false));
        m.insert("isClosed".into(), json!(q.is_closed));
        m
    }

    /// `ArticleSummaryResponseModel` (the items of `GET /articles`).
    pub fn article_summary(&self, a: &FakeArticle) -> Value {
        let base = self.base(a.team.as_deref());
        let tags: Vec<Value> = a
            .tags
            .iter()
            .filter_map(|name| self.store.tag_by_name(a.team.as_deref(), name))
            .map(|t| self.tag_summary(t))
            .collect();
        json!({
            "id": a.id,
            "type": a.article_type,
            "title": self.text(EncodedField::Title, &a.title),
            "body": markdown_to_html(&a.body_markdown),
            "tags": tags,
            "owner": self.user_summary(a.owner_id),
            "creationDate": iso(a.creation_date),
            "lastActivityDate": iso(a.last_activity_date),
            "score": a.score,
            "viewCount": a.view_count,
            "webUrl": format!("{base}articles/{}/{}", a.id, slug(&a.title)),
            "shareUrl": format!("{base}articles/{}", a.id),
            "isDeleted": a.is_deleted,
            "isObsolete": false,
            "isClosed": false,
        })
    }

    /// `QuestionSummaryResponseModel` (list items: no `bodyMarkdown`).
    pub fn question_summary(&self, q: &FakeQuestion) -> Value {
        Value::Object(self.summary_map(q))
    }

    /// `QuestionResponseModel` (single item and write results).
    pub fn question_response(&self, q: &FakeQuestion) -> Value {
        let mut m = Map::new();
        m.insert("communities".into(), json!([]));
        m.extend(self.summary_map(q));
        m.insert(
            "bodyMarkdown".into(),
            json!(self.text(EncodedField::BodyMarkdown, &q.body_markdown)),
        );
        let mentioned: Vec<Value> = self
            .store
            .mentioned_users(&q.body_markdown)
            .into_iter()
            .map(|u| json!({ "id": u.id, "name": self.text(EncodedField::DisplayName, &u.name) }))
            .collect();
        m.insert("mentionedUsers".into(), Value::Array(mentioned));
        m.insert("mentionedUserGroups".into(), json!([]));
        let vote = self.viewer.and_then(|v| self.store.vote_of(q.id, v));
        m.insert(
            "userIsFollowing".into(),
            json!(self.viewer == Some(q.owner_id)),
        );
        m.insert("userHasUpvoted".into(), json!(vote == Some(VoteKind::Up)));
        m.insert(
            "userHasDownvoted".into(),
            json!(vote == Some(VoteKind::Down)),
        );
        m.insert("userHasBookmarked".into(), json!(false));
        Value::Object(m)
    }

    fn answer_urls(&self, a: &FakeAnswer) -> (String, String) {
        match self.store.question_any(a.question_id) {
            Some(q) => (
                format!("{}/{}#{}", self.question_url(q), a.id, a.id),
                format!("{}a/{}", self.base(q.team.as_deref()), a.id),
            ),
            None => (
                format!("{}a/{}", self.site, a.id),
                format!("{}a/{}", self.site, a.id),
            ),
        }
    }

    fn answer_map(&self, a: &FakeAnswer) -> Map<String, Value> {
        let (web, share) = self.answer_urls(a);
        let mut m = Map::new();
        m.insert("id".into(), json!(a.id));
        m.insert("questionId".into(), json!(a.question_id));
        m.insert("body".into(), json!(markdown_to_html(&a.body_markdown)));
        m.insert("score".into(), json!(a.score));
        m.insert("isAccepted".into(), json!(a.is_accepted));
        m.insert("isDeleted".into(), json!(a.is_deleted));
        m.insert("isBookmarked".into(), json!(false));
        m.insert("isFollowed".into(), json!(self.viewer == Some(a.owner_id)));
        m.insert("creationDate".into(), json!(iso(a.creation_date)));
        m.insert("lockedDate".into(), Value::Null);
        m.insert("lastEditDate".into(), json!(a.last_edit_date.map(iso)));
        m.insert("lastActivityDate".into(), json!(iso(a.last_activity_date)));
        m.insert("deletionDate".into(), Value::Null);
        m.insert("owner".into(), self.user_summary(a.owner_id));
        if let Some(editor) = a.last_editor_id {
            m.insert("lastEditor".into(), self.user_summary(editor));
        }
        m.insert(
            "lastActivityUser".into(),
            self.user_summary(a.last_editor_id.unwrap_or(a.owner_id)),
        );
        m.insert(
            "commentCount".into(),
            json!(self.store.comments_on(a.id).len()),
        );
        m.insert("webUrl".into(), json!(web));
        m.insert("shareLink".into(), json!(share));
        m.insert("userCanFollow".into(), json!(self.viewer.is_some()));
        m.insert("canBeFollowed".into(), json!(true));
        m.insert("isSubjectMatterExpert".into(), json!(false));
        m
    }

    /// `AnswerSummaryResponseModel` (lists, votes, accept: no `bodyMarkdown`).
    pub fn answer_summary(&self, a: &FakeAnswer) -> Value {
        Value::Object(self.answer_map(a))
    }

    /// `AnswerResponseModel` (single answer and create).
    pub fn answer_response(&self, a: &FakeAnswer) -> Value {
        let mut m = self.answer_map(a);
        m.insert(
            "bodyMarkdown".into(),
            json!(self.text(EncodedField::BodyMarkdown, &a.body_markdown)),
        );
        Value::Object(m)
    }

    /// `CommentResponseModel`.
    pub fn comment(&self, c: &FakeComment) -> Value {
        let name = self
            .store
            .user(c.owner_id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| format!("user{}", c.owner_id));
        json!({
            "id": c.id,
            "score": c.score,
            "body": self.text(EncodedField::CommentBody, &c.body),
            "ownerUserId": c.owner_id,
            "ownerDisplayName": self.text(EncodedField::DisplayName, &name),
            "creationDate": iso(c.creation_date),
        })
    }

    /// `QuestionSearchResultModel`.
    pub fn search_question(&self, q: &FakeQuestion) -> Value {
        json!({
            "type": "question",
            "questionId": q.id,
            "title": self.text(EncodedField::Title, &q.title),
            "snippet": self.text(EncodedField::Snippet, &snippet(&q.body_markdown, 200)),
            "tags": self.question_tags(q),
            "owner": self.user_summary(q.owner_id),
            "creationDate": iso(q.creation_date),
            "score": q.score,
            "webUrl": self.question_url(q),
            "answerCount": self.store.answer_count(q.id),
            "hasAcceptedAnswer": q.accepted_answer_id.is_some(),
            "viewCount": q.view_count,
        })
    }

    /// `AnswerSearchResultModel`: the title and tags are the question's.
    pub fn search_answer(&self, q: &FakeQuestion, a: &FakeAnswer) -> Value {
        json!({
            "type": "answer",
            "answerId": a.id,
            "parentQuestionId": q.id,
            "isAccepted": a.is_accepted,
            "title": self.text(EncodedField::Title, &q.title),
            "snippet": self.text(EncodedField::Snippet, &snippet(&a.body_markdown, 200)),
            "tags": self.question_tags(q),
            "owner": self.user_summary(a.owner_id),
            "creationDate": iso(a.creation_date),
            "score": a.score,
            "webUrl": self.answer_urls(a).0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_render_like_the_site() {
        let html = markdown_to_html("Try:\n\n```rust\nlet v: Vec<u8> = a & b;\n```\n");
        assert!(
            html.contains(
                "<pre class=\"lang-rust s-code-block\"><code class=\"hljs language-rust\">let v: Vec&lt;u8&gt; = a &amp; b;\n</code></pre>"
            ),
            "{html}"
        );
    }

    #[test]
    fn links_get_rel_and_unsafe_schemes_are_dropped() {
        let html = markdown_to_html("[docs](https://docs.rs/tokio) and [x](javascript:alert(1))");
        assert!(
            html.contains("<a href=\"https://docs.rs/tokio\" rel=\"nofollow noreferrer\">docs</a>")
        );
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn raw_html_outside_the_allow_list_is_text() {
        let html = markdown_to_html("<b>bold</b> <script>alert(1)</script>");
        assert!(html.contains("<b>bold</b>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn encoding_covers_the_five_characters() {
        assert_eq!(
            html_encode(r#"a & b < c > "d" 'e'"#),
            "a &amp; b &lt; c &gt; &quot;d&quot; &#39;e&#39;"
        );
    }

    #[test]
    fn dates_have_milliseconds_and_z() {
        let dt = DateTime::from_timestamp(1_767_609_021, 254_000_000).unwrap_or_default();
        assert_eq!(iso(dt), "2026-01-05T10:30:21.254Z");
    }

    #[test]
    fn snippets_are_plain_and_bounded() {
        let s = snippet("Use **`JoinSet`** &\n\n```rust\nfn main() {}\n```", 200);
        assert_eq!(s, "Use JoinSet & fn main() {}");
        assert!(snippet(&"word ".repeat(100), 20).chars().count() <= 20);
    }
}

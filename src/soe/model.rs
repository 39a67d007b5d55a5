//! SOE API v3 data, as the bot reads and writes it.
//!
//! Shapes follow the official OpenAPI document (`QuestionResponseModel`,
//! `PaginatedQuestions`, …). Invariants:
//! - every response field is optional on the wire (the document marks none required), so every
//!   field has a default and a missing one never fails a parse;
//! - dates are parsed leniently: one odd timestamp becomes `None`, it never fails a page;
//! - text fields the site may HTML-encode (`title`, `bodyMarkdown`, names, snippets, comment
//!   bodies; see [`crate::soe::text`] for which and on whose word) are parsed as served and then
//!   decoded exactly once by [`DecodeText`] with the configured set, so values the client hands
//!   out are plain text. `body` stays HTML (render it with
//!   [`crate::soe::text::html_to_discord`]);
//! - a search result without `type` is told apart by its id field (`questionId`, `answerId`,
//!   `articleId`) and never fails the page.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::{de_lenient_date, de_string_or_null, DecodeText, EncodedField, EncodedFields};

/// A site-wide numeric id (questions, answers, users, tags). int32 on the wire; i64 here so
/// arithmetic on ids never overflows.
pub type Id = i64;

/// `UserSummaryResponseModel`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserSummary {
    pub id: Option<Id>,
    /// The network account id; needed only for impersonation, kept for completeness.
    pub account_id: Option<Id>,
    #[serde(deserialize_with = "de_string_or_null")]
    pub name: String,
    pub avatar_url: Option<String>,
    pub web_url: Option<String>,
    pub reputation: Option<i64>,
    /// e.g. "Registered", "Moderator".
    pub role: Option<String>,
}

/// `UserDetailsResponseModel` (`GET /users/me`) and `UserResponseModel` (`GET /users/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub id: Option<Id>,
    pub account_id: Option<Id>,
    #[serde(deserialize_with = "de_string_or_null")]
    pub name: String,
    pub avatar_url: Option<String>,
    pub web_url: Option<String>,
    pub reputation: Option<i64>,
    pub role: Option<String>,
    /// Only visible to admins, or for the current user.
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
}

/// `TagSummaryResponseModel` / `TagResponseModel`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tag {
    pub id: Id,
    pub name: String,
    #[serde(deserialize_with = "de_string_or_null")]
    pub description: String,
    pub post_count: i64,
    pub watcher_count: i64,
    #[serde(deserialize_with = "de_lenient_date")]
    pub creation_date: Option<DateTime<Utc>>,
    pub has_synonyms: bool,
    pub web_url: Option<String>,
}

/// `UserGroupResponseModel`: a named group of users (subject-matter experts can be groups).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserGroup {
    pub id: Id,
    #[serde(deserialize_with = "de_string_or_null")]
    pub name: String,
    #[serde(deserialize_with = "de_string_or_null")]
    pub description: String,
    pub users: Vec<UserSummary>,
}

/// `SubjectMatterExpertResponseModel` (`GET /tags/{tagId}/subject-matter-experts`): the users
/// named experts for a tag, and the user groups named experts (with their members).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubjectMatterExperts {
    pub users: Vec<UserSummary>,
    pub user_groups: Vec<UserGroup>,
}

impl SubjectMatterExperts {
    /// Every expert's user id: the users and the members of the groups, once each, sorted.
    pub fn user_ids(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = self
            .users
            .iter()
            .chain(self.user_groups.iter().flat_map(|g| g.users.iter()))
            .filter_map(|u| u.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// `GET /users/{userId}/watched-tags`. The official document names a single
/// `TagSummaryResponseModel` as the 200 body while the operation is "a list of tags watched by
/// user"; the bot accepts either a JSON array of tag summaries or a single one, and drops
/// summaries without a name (an empty model: no tag watched).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WatchedTags(pub Vec<Tag>);

impl<'de> Deserialize<'de> for WatchedTags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            Many(Vec<Tag>),
            One(Tag),
        }
        let tags = match OneOrMany::deserialize(d)? {
            OneOrMany::Many(v) => v,
            OneOrMany::One(t) => vec![t],
        };
        Ok(WatchedTags(
            tags.into_iter().filter(|t| !t.name.is_empty()).collect(),
        ))
    }
}

/// `QuestionSummaryResponseModel` (list items) and `QuestionResponseModel` (single item and
/// write results). List items carry no `bodyMarkdown`; it is `None` then.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Question {
    pub id: Id,
    #[serde(deserialize_with = "de_string_or_null")]
    pub title: String,
    /// HTML, as rendered by the site. Not entity-decoded: it is markup.
    pub body: String,
    /// The Markdown source, decoded once. Only on single-question responses.
    pub body_markdown: Option<String>,
    pub tags: Vec<Tag>,
    pub owner: Option<UserSummary>,
    #[serde(deserialize_with = "de_lenient_date")]
    pub creation_date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de_lenient_date")]
    pub last_activity_date: Option<DateTime<Utc>>,
    pub score: i64,
    /// "Has at least one upvoted answer"; not the same as having an accepted answer.
    pub is_answered: bool,
    pub answer_count: i64,
    pub view_count: i64,
    pub web_url: Option<String>,
    pub share_url: Option<String>,
    pub is_deleted: bool,
    pub is_closed: bool,
    pub is_obsolete: bool,
    pub user_has_upvoted: Option<bool>,
    pub user_has_downvoted: Option<bool>,
}

impl Question {
    /// Tag names, in site order.
    pub fn tag_names(&self) -> Vec<&str> {
        self.tags.iter().map(|t| t.name.as_str()).collect()
    }
}

/// `ArticleSummaryResponseModel` (an item of `GET /articles`). Only what cards show.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Article {
    pub id: Id,
    /// `ArticleType` (`knowledgeArticle`, `announcement`, `policy`, `howToGuide`); kept as
    /// text so a type added later does not fail the page.
    #[serde(rename = "type")]
    pub article_type: Option<String>,
    #[serde(deserialize_with = "de_string_or_null")]
    pub title: String,
    pub tags: Vec<Tag>,
    pub owner: Option<UserSummary>,
    #[serde(deserialize_with = "de_lenient_date")]
    pub creation_date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de_lenient_date")]
    pub last_activity_date: Option<DateTime<Utc>>,
    pub score: i64,
    pub view_count: i64,
    pub web_url: Option<String>,
    pub share_url: Option<String>,
    pub is_deleted: bool,
}

/// `AnswerSummaryResponseModel` / `AnswerResponseModel`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Answer {
    pub id: Id,
    pub question_id: Id,
    /// HTML.
    pub body: String,
    pub body_markdown: Option<String>,
    pub score: i64,
    pub is_accepted: bool,
    pub is_deleted: bool,
    #[serde(deserialize_with = "de_lenient_date")]
    pub creation_date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de_lenient_date")]
    pub last_activity_date: Option<DateTime<Utc>>,
    pub owner: Option<UserSummary>,
    pub comment_count: i64,
    pub web_url: Option<String>,
    /// Answers call it `shareLink`; questions call it `shareUrl`.
    pub share_link: Option<String>,
}

/// `CommentResponseModel`. Comments arrive as a bare JSON array, not a page.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    pub id: Id,
    pub score: i64,
    /// Markdown, decoded once.
    #[serde(deserialize_with = "de_string_or_null")]
    pub body: String,
    pub owner_user_id: Option<Id>,
    #[serde(deserialize_with = "de_string_or_null")]
    pub owner_display_name: String,
    #[serde(deserialize_with = "de_lenient_date")]
    pub creation_date: Option<DateTime<Utc>>,
}

/// The paging envelope shared by every `Paginated*` model. Pages are 1-based.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Page<T> {
    pub total_count: i64,
    pub page_size: i64,
    pub page: i64,
    pub total_pages: i64,
    pub items: Vec<T>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            total_count: 0,
            page_size: 0,
            page: 0,
            total_pages: 0,
            items: Vec::new(),
        }
    }
}

/// One item of `PaginatedSearchResults`: a `oneOf` told apart by `type`, or, when a site
/// leaves `type` out, by which id field the item has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SearchItem {
    /// `QuestionSearchResultModel`.
    Question(SearchQuestion),
    /// `AnswerSearchResultModel`.
    Answer(SearchAnswer),
    /// `ArticleSearchResultModel`.
    Article(SearchArticle),
    /// A result type this bot does not know; skipped when rendering.
    Other,
}

impl<'de> Deserialize<'de> for SearchItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let Some(map) = value.as_object() else {
            return Ok(SearchItem::Other);
        };
        let kind = match map.get("type").and_then(serde_json::Value::as_str) {
            Some(t) => t.to_ascii_lowercase(),
            None if map.contains_key("questionId") => "question".into(),
            None if map.contains_key("answerId") => "answer".into(),
            None if map.contains_key("articleId") => "article".into(),
            None => String::new(),
        };
        // Every field has a default, so a known kind only fails on a wrongly typed field:
        // then the item is skipped rather than failing the page.
        Ok(match kind.as_str() {
            "question" => serde_json::from_value(value)
                .map(SearchItem::Question)
                .unwrap_or(SearchItem::Other),
            "answer" => serde_json::from_value(value)
                .map(SearchItem::Answer)
                .unwrap_or(SearchItem::Other),
            "article" => serde_json::from_value(value)
                .map(SearchItem::Article)
                .unwrap_or(SearchItem::Other),
            _ => SearchItem::Other,
        })
    }
}

/// Fields every search result has (`SearchResultModel`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchCommon {
    #[serde(deserialize_with = "de_string_or_null")]
    pub title: String,
    /// A short plain-text excerpt, decoded once.
    #[serde(deserialize_with = "de_string_or_null")]
    pub snippet: String,
    pub tags: Vec<Tag>,
    pub owner: Option<UserSummary>,
    #[serde(deserialize_with = "de_lenient_date")]
    pub creation_date: Option<DateTime<Utc>>,
    pub score: i64,
    pub web_url: Option<String>,
}

/// A question hit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchQuestion {
    #[serde(flatten)]
    pub common: SearchCommon,
    pub question_id: Id,
    pub answer_count: i64,
    pub has_accepted_answer: bool,
    pub view_count: i64,
}

/// An answer hit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchAnswer {
    #[serde(flatten)]
    pub common: SearchCommon,
    pub answer_id: Id,
    pub parent_question_id: Id,
    pub is_accepted: bool,
}

/// An article hit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchArticle {
    #[serde(flatten)]
    pub common: SearchCommon,
    pub article_id: Id,
    pub view_count: i64,
}

// ----- decoding the encoded text fields, once (see `crate::soe::text`)

impl DecodeText for UserSummary {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::DisplayName, &mut self.name);
    }
}

impl DecodeText for User {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::DisplayName, &mut self.name);
    }
}

impl DecodeText for Tag {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::TagDescription, &mut self.description);
    }
}

impl DecodeText for UserGroup {
    fn decode_text(&mut self, f: EncodedFields) {
        self.users.decode_text(f);
    }
}

impl DecodeText for SubjectMatterExperts {
    fn decode_text(&mut self, f: EncodedFields) {
        self.users.decode_text(f);
        self.user_groups.decode_text(f);
    }
}

impl DecodeText for WatchedTags {
    fn decode_text(&mut self, f: EncodedFields) {
        self.0.decode_text(f);
    }
}

impl DecodeText for Question {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::Title, &mut self.title);
        f.decode_opt(EncodedField::BodyMarkdown, &mut self.body_markdown);
        self.tags.decode_text(f);
        self.owner.decode_text(f);
    }
}

impl DecodeText for Article {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::Title, &mut self.title);
        self.tags.decode_text(f);
        self.owner.decode_text(f);
    }
}

impl DecodeText for Answer {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode_opt(EncodedField::BodyMarkdown, &mut self.body_markdown);
        self.owner.decode_text(f);
    }
}

impl DecodeText for Comment {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::CommentBody, &mut self.body);
        f.decode(EncodedField::DisplayName, &mut self.owner_display_name);
    }
}

impl DecodeText for SearchCommon {
    fn decode_text(&mut self, f: EncodedFields) {
        f.decode(EncodedField::Title, &mut self.title);
        f.decode(EncodedField::Snippet, &mut self.snippet);
        self.tags.decode_text(f);
        self.owner.decode_text(f);
    }
}

impl DecodeText for SearchItem {
    fn decode_text(&mut self, f: EncodedFields) {
        match self {
            SearchItem::Question(q) => q.common.decode_text(f),
            SearchItem::Answer(a) => a.common.decode_text(f),
            SearchItem::Article(a) => a.common.decode_text(f),
            SearchItem::Other => {}
        }
    }
}

impl<T: DecodeText> DecodeText for Page<T> {
    fn decode_text(&mut self, f: EncodedFields) {
        self.items.decode_text(f);
    }
}

/// `pageSize`: the API accepts only these four values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PageSize {
    #[default]
    Fifteen,
    Thirty,
    Fifty,
    Hundred,
}

impl PageSize {
    /// The wire value.
    pub fn get(self) -> u32 {
        match self {
            PageSize::Fifteen => 15,
            PageSize::Thirty => 30,
            PageSize::Fifty => 50,
            PageSize::Hundred => 100,
        }
    }

    /// The smallest allowed page size that holds at least `n` items (100 at most).
    pub fn at_least(n: usize) -> Self {
        match n {
            0..=15 => PageSize::Fifteen,
            16..=30 => PageSize::Thirty,
            31..=50 => PageSize::Fifty,
            _ => PageSize::Hundred,
        }
    }
}

/// `QuestionSortParameter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum QuestionSort {
    #[default]
    Activity,
    Creation,
    Score,
}

/// `ArticleSortParameter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArticleSort {
    #[default]
    Activity,
    Creation,
    Score,
}

/// `SearchSortParameter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SearchSort {
    #[default]
    Relevance,
    Newest,
    Active,
    Score,
}

/// `AnswersSortParameter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AnswerSort {
    #[default]
    Score,
    Modified,
    Creation,
}

/// `TagsSortParameter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TagSort {
    Name,
    #[default]
    PostCount,
    CreationDate,
}

/// `SortOrder`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

macro_rules! wire_names {
    ($($t:ident { $($v:ident => $s:literal),* })*) => {$(
        impl $t {
            /// The value as sent in a query string.
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }
        }
    )*};
}
wire_names! {
    QuestionSort { Activity => "activity", Creation => "creation", Score => "score" }
    ArticleSort { Activity => "activity", Creation => "creation", Score => "score" }
    SearchSort { Relevance => "relevance", Newest => "newest", Active => "active", Score => "score" }
    AnswerSort { Score => "score", Modified => "modified", Creation => "creation" }
    TagSort { Name => "name", PostCount => "postCount", CreationDate => "creationDate" }
    Order { Asc => "asc", Desc => "desc" }
}

/// Filters for `GET /questions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuestionQuery {
    pub page: u32,
    pub page_size: PageSize,
    pub sort: Option<QuestionSort>,
    pub order: Option<Order>,
    /// OR semantics on the server.
    pub tag_ids: Vec<Id>,
    pub is_answered: Option<bool>,
    pub has_accepted_answer: Option<bool>,
    pub author_id: Option<Id>,
    /// Creation date lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Creation date upper bound.
    pub to: Option<DateTime<Utc>>,
}

/// `QuestionRequestModel`: plain Markdown, never pre-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewQuestion {
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

/// `AnswerRequestModel`: plain Markdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAnswer {
    pub body: String,
}

/// A private team's slug (`https://SITE/c/{slug}`), validated so it can sit in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamSlug(String);

impl TeamSlug {
    /// Accepts 1–64 characters of `[a-z0-9-]` (lower-cased first).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ok.then_some(Self(s))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TeamSlug {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        TeamSlug::parse(&s).ok_or_else(|| format!("`{s}` is not a team slug (use a-z, 0-9 and -)"))
    }
}

impl From<TeamSlug> for String {
    fn from(t: TeamSlug) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_odd_timestamp_does_not_fail_a_page() {
        let json = r#"{"totalCount":2,"pageSize":15,"page":1,"totalPages":1,"sort":"activity","order":"desc","items":[
            {"id":1,"title":"A &amp; B","creationDate":"not a date","score":1,"tags":[],"owner":{"id":2,"name":"Jane &quot;JD&quot; Doe"}},
            {"id":2,"title":"C","creationDate":"2022-10-12T7:16:48.462Z","lastActivityDate":null,"extraField":true}
        ]}"#;
        let mut page: Page<Question> = serde_json::from_str(json).expect("page parses");
        page.decode_text(EncodedFields::all());
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0].creation_date, None);
        assert_eq!(page.items[0].title, "A & B");
        assert_eq!(
            page.items[0].owner.as_ref().unwrap().name,
            "Jane \"JD\" Doe"
        );
        assert!(page.items[1].creation_date.is_some());
    }

    #[test]
    fn search_items_are_told_apart_by_type() {
        let json = r#"[{"type":"question","questionId":3,"title":"Q","answerCount":2},
                       {"type":"answer","answerId":9,"parentQuestionId":3,"title":"A"},
                       {"type":"article","articleId":4,"title":"Art"},
                       {"type":"poll","title":"?"}]"#;
        let items: Vec<SearchItem> = serde_json::from_str(json).unwrap();
        assert!(
            matches!(&items[0], SearchItem::Question(q) if q.question_id == 3 && q.answer_count == 2)
        );
        assert!(matches!(&items[1], SearchItem::Answer(a) if a.parent_question_id == 3));
        assert!(matches!(&items[2], SearchItem::Article(_)));
        assert_eq!(items[3], SearchItem::Other);
    }

    #[test]
    fn a_search_result_without_type_does_not_fail_the_page() {
        let json = r#"{"totalCount":4,"pageSize":15,"page":1,"totalPages":1,"items":[
            {"questionId":3,"title":"Q &amp; A","answerCount":2,"score":1},
            {"answerId":9,"parentQuestionId":3,"title":"A"},
            {"articleId":4,"title":"Art"},
            {"title":"no type, no id"},
            {"type":"question","questionId":"not a number"}
        ]}"#;
        let mut page: Page<SearchItem> = serde_json::from_str(json).expect("the page parses");
        page.decode_text(EncodedFields::all());
        assert_eq!(page.items.len(), 5);
        assert!(
            matches!(&page.items[0], SearchItem::Question(q) if q.question_id == 3 && q.common.title == "Q & A")
        );
        assert!(matches!(&page.items[1], SearchItem::Answer(a) if a.answer_id == 9));
        assert!(matches!(&page.items[2], SearchItem::Article(a) if a.article_id == 4));
        assert_eq!(page.items[3], SearchItem::Other);
        assert_eq!(
            page.items[4],
            SearchItem::Other,
            "a broken item is skipped, not fatal"
        );
    }

    #[test]
    fn only_the_configured_fields_are_decoded() {
        let json = r#"{"id":1,"title":"Escaping &amp; in HTML","bodyMarkdown":"a &amp;lt; b",
            "owner":{"name":"Jane &quot;JD&quot;"},"tags":[{"name":"html","description":"&lt;tags&gt;"}]}"#;
        let mut q: Question = serde_json::from_str(json).unwrap();
        q.decode_text(EncodedFields::guide_only());
        assert_eq!(
            q.title, "Escaping &amp; in HTML",
            "titles not encoded on this site"
        );
        assert_eq!(q.body_markdown.as_deref(), Some("a &lt; b"), "decoded once");
        assert_eq!(q.owner.as_ref().unwrap().name, "Jane &quot;JD&quot;");
        assert_eq!(q.tags[0].description, "&lt;tags&gt;");
    }

    #[test]
    fn team_slugs_are_validated() {
        assert_eq!(TeamSlug::parse(" Platform ").unwrap().as_str(), "platform");
        assert!(TeamSlug::parse("../etc").is_none());
        assert!(TeamSlug::parse("").is_none());
    }
}

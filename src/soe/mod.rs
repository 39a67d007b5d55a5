//! The SOE API v3 client.
//!
//! Reads go through [`SoeRead`], writes through [`SoeWrite`]. The only implementation that talks
//! HTTP is [`HttpSoe`]: [`HttpSoe::reader`] takes a [`ServiceToken`] and gives a read-only
//! handle; [`HttpSoe::writer`] takes a member's [`UserToken`]. There is no conversion between
//! the two token types and no way to build a writer from a service token, so "the service token
//! never writes" is checked by the compiler:
//!
//! ```compile_fail
//! # use soe_bot::soe::{HttpSoe, ServiceToken};
//! # fn f(soe: std::sync::Arc<HttpSoe>, service: ServiceToken) {
//! let w = soe.writer(service, None); // a ServiceToken is not a UserToken
//! # }
//! ```
//!
//! Invariants: tokens are [`secrecy::SecretString`]s, redacted in `Debug`, exposed only while
//! building the `Authorization` header; errors never carry a URL or token.

mod client;
pub mod error;
pub mod model;
pub mod text;
mod throttle;

use async_trait::async_trait;
use secrecy::SecretString;

pub use client::{HttpReader, HttpSoe, HttpWriter, SoeClientConfig};
pub use error::{Error, FieldError};
pub use model::*;
pub use text::{EncodedField, EncodedFields};

/// Result of an SOE call.
pub type Result<T> = std::result::Result<T, Error>;

/// The default form of the scope that grants a private team: the earlier Teams API's
/// `access_team|stackoverflow.com/c/{team}`, with the site's host. v3 does not document the
/// form, so it is configurable (`soe.team_scope_format`).
pub const DEFAULT_TEAM_SCOPE_FORMAT: &str = "access_team|{host}/c/{team}";

/// The scope that asks the site for `team`: `format` with `{host}` replaced by the site's host
/// (with its port, when the URL names one) and `{team}` by the slug.
pub fn team_scope(format: &str, site_url: &url::Url, team: &TeamSlug) -> String {
    let host = match (site_url.host_str(), site_url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    };
    format
        .replace("{host}", &host)
        .replace("{team}", team.as_str())
}

/// The bot's persistent, read-only service token. It can only build a [`SoeRead`].
pub struct ServiceToken(SecretString);

impl ServiceToken {
    /// Wraps a service token.
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }

    /// Crate-internal access for the HTTP client and for storing the token sealed.
    pub(crate) fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceToken([redacted])")
    }
}

/// A member's own SOE token, as obtained by linking. It builds a [`SoeWrite`].
pub struct UserToken(SecretString);

impl UserToken {
    /// Wraps a member's token (from the store, after unsealing, or from the token exchange).
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }

    /// Crate-internal access for the HTTP client and for sealing.
    pub(crate) fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserToken([redacted])")
    }
}

/// A vote action on a question or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vote {
    /// `POST …/upvote`.
    Up,
    /// `POST …/downvote`.
    Down,
    /// `DELETE …/upvote`.
    UndoUp,
    /// `DELETE …/downvote`.
    UndoDown,
}

/// Reads. Implemented for the service token and for members' tokens.
#[async_trait]
pub trait SoeRead: Send + Sync {
    /// `GET /questions`.
    async fn list_questions(&self, query: &QuestionQuery) -> Result<Page<Question>>;
    /// `GET /articles`, newest first by `sort` (the bot's filters stop at paging).
    async fn list_articles(
        &self,
        page: u32,
        page_size: PageSize,
        sort: ArticleSort,
        order: Order,
    ) -> Result<Page<Article>>;
    /// `GET /questions/{id}`.
    async fn get_question(&self, id: Id) -> Result<Question>;
    /// `GET /questions/{id}/answers`.
    async fn list_answers(
        &self,
        question: Id,
        page: u32,
        page_size: PageSize,
        sort: AnswerSort,
    ) -> Result<Page<Answer>>;
    /// `GET /questions/{id}/answers/{answerId}`.
    async fn get_answer(&self, question: Id, answer: Id) -> Result<Answer>;
    /// `GET /search`.
    async fn search(
        &self,
        query: &str,
        page: u32,
        page_size: PageSize,
        sort: SearchSort,
    ) -> Result<Page<SearchItem>>;
    /// `GET /tags`.
    async fn list_tags(
        &self,
        partial_name: Option<&str>,
        page: u32,
        page_size: PageSize,
        sort: TagSort,
    ) -> Result<Page<Tag>>;
    /// `GET /tags/{id}`.
    async fn get_tag(&self, id: Id) -> Result<Tag>;
    /// `GET /users/me`: whose token this is.
    async fn me(&self) -> Result<User>;
    /// `GET /users/{id}`.
    async fn get_user(&self, id: Id) -> Result<User>;
    /// `GET /questions/{id}/comments`.
    async fn question_comments(&self, question: Id) -> Result<Vec<Comment>>;
    /// `GET /questions/{id}/answers/{answerId}/comments`.
    async fn answer_comments(&self, question: Id, answer: Id) -> Result<Vec<Comment>>;
    /// `GET /tags/{id}/subject-matter-experts` (422 when the site has the feature off).
    async fn tag_experts(&self, tag: Id) -> Result<SubjectMatterExperts>;
    /// `GET /users/{id}/watched-tags`.
    async fn watched_tags(&self, user: Id) -> Result<WatchedTags>;
}

/// Writes, credited to the token's owner. Only a member's [`UserToken`] builds one.
#[async_trait]
pub trait SoeWrite: SoeRead {
    /// `POST /questions`.
    async fn create_question(&self, question: &NewQuestion) -> Result<Question>;
    /// `PUT /questions/{id}` (full replacement of title, body and tags).
    async fn update_question(&self, id: Id, question: &NewQuestion) -> Result<Question>;
    /// `POST /questions/{id}/answers`.
    async fn create_answer(&self, question: Id, answer: &NewAnswer) -> Result<Answer>;
    /// `POST|DELETE /questions/{id}/upvote|downvote`.
    async fn vote_question(&self, id: Id, vote: Vote) -> Result<Question>;
    /// `POST|DELETE /questions/{id}/answers/{answerId}/upvote|downvote`.
    async fn vote_answer(&self, question: Id, answer: Id, vote: Vote) -> Result<Answer>;
    /// `POST /questions/{id}/answers/{answerId}/accept` (question owner only).
    async fn accept_answer(&self, question: Id, answer: Id) -> Result<Answer>;
    /// `DELETE /questions/{id}/answers/{answerId}/accept`.
    async fn unaccept_answer(&self, question: Id, answer: Id) -> Result<Answer>;
}

/// Hands out SOE handles: the service reader, and writers for members' tokens. The use cases
/// depend on this trait, not on HTTP, so benchmarks can swap in an in-memory site.
pub trait SoeConnector: Send + Sync {
    /// A reader on the service token for the main site or a private team.
    fn service(&self, team: Option<&TeamSlug>) -> std::sync::Arc<dyn SoeRead>;
    /// A writer acting as the owner of `token`.
    fn member(&self, token: UserToken, team: Option<&TeamSlug>) -> std::sync::Arc<dyn SoeWrite>;
}

/// [`SoeConnector`] over [`HttpSoe`] and the service token.
#[derive(Debug)]
pub struct HttpConnector {
    soe: std::sync::Arc<HttpSoe>,
    service: ServiceToken,
}

impl HttpConnector {
    /// Wraps the client and the service token.
    pub fn new(soe: std::sync::Arc<HttpSoe>, service: ServiceToken) -> Self {
        Self { soe, service }
    }

    /// The underlying client.
    pub fn client(&self) -> &std::sync::Arc<HttpSoe> {
        &self.soe
    }
}

impl SoeConnector for HttpConnector {
    fn service(&self, team: Option<&TeamSlug>) -> std::sync::Arc<dyn SoeRead> {
        std::sync::Arc::new(self.soe.reader(&self.service, team))
    }

    fn member(&self, token: UserToken, team: Option<&TeamSlug>) -> std::sync::Arc<dyn SoeWrite> {
        std::sync::Arc::new(self.soe.writer(token, team))
    }
}

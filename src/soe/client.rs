//! [`HttpSoe`]: the reqwest-based SOE API v3 client.
//!
//! One connection pool for the whole bot, connect and total timeouts always set, redirects never
//! followed, a descriptive `User-Agent`. GETs are retried with bounded exponential backoff and
//! jitter on 5xx and timeouts; POST, PUT and DELETE are never retried automatically (a retried
//! write could post twice). Throttle headers pause the token that hit a limit (see
//! [`super::throttle`]). Invariants: the token is exposed only to build the `Authorization`
//! header; errors carry no URL; response bodies are capped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::text::{DecodeText, EncodedFields};
use super::throttle::{token_key, Headroom, Throttles, TokenKey, MAX_WAIT};
use super::{
    Answer, AnswerSort, Article, ArticleSort, Comment, Error, Id, NewAnswer, NewQuestion, Order,
    Page, PageSize, Question, QuestionQuery, Result, SearchItem, SearchSort, ServiceToken, SoeRead,
    SoeWrite, SubjectMatterExperts, Tag, TagSort, TeamSlug, User, UserToken, Vote, WatchedTags,
};

/// How the client talks to the site.
#[derive(Debug, Clone)]
pub struct SoeClientConfig {
    /// The site root, e.g. `https://acme.stackenterprise.co/`. The API is at `{site}/api/v3`.
    pub site_url: Url,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (reqwest has none by default).
    pub request_timeout: Duration,
    /// Sent on every request; the vendor asks for a unique, descriptive one.
    pub user_agent: String,
    /// Extra attempts for a GET after a 5xx or timeout.
    pub max_get_retries: usize,
    /// First backoff delay; doubles per retry, with jitter.
    pub retry_min_delay: Duration,
    /// Backoff ceiling.
    pub retry_max_delay: Duration,
    /// Responses larger than this are refused (a runaway body must not eat memory).
    pub max_body_bytes: usize,
    /// The text fields this site serves HTML-encoded, decoded once after parsing
    /// (`soe.encoded_fields`; see [`super::text`]).
    pub encoded_fields: EncodedFields,
}

impl SoeClientConfig {
    /// Defaults for `site_url`: 5 s connect, 15 s total, 2 GET retries from 250 ms, 8 MiB bodies,
    /// every text field decoded.
    pub fn new(site_url: Url) -> Self {
        Self {
            site_url,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            user_agent: default_user_agent(),
            max_get_retries: 2,
            retry_min_delay: Duration::from_millis(250),
            retry_max_delay: Duration::from_secs(3),
            max_body_bytes: 8 * 1024 * 1024,
            encoded_fields: EncodedFields::all(),
        }
    }
}

/// `soe-bot/<version> (+https://github.com/soe-bot/soe-bot)`.
pub fn default_user_agent() -> String {
    format!(
        "soe-bot/{} (Discord integration; +https://github.com/soe-bot/soe-bot)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The SOE API client: a connection pool, the site, and the per-token throttle table.
/// Build handles with [`HttpSoe::reader`] and [`HttpSoe::writer`].
#[derive(Debug)]
pub struct HttpSoe {
    /// One pool for every SOE call (and the OAuth token exchange).
    http: reqwest::Client,
    /// Settings, including the site root.
    config: SoeClientConfig,
    /// Pauses per token fingerprint.
    throttles: Throttles,
}

impl HttpSoe {
    /// Builds the client and its connection pool.
    pub fn new(config: SoeClientConfig) -> Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| Error::Transport(format!("could not build the HTTP client: {e}")))?;
        Ok(Arc::new(Self {
            http,
            config,
            throttles: Throttles::default(),
        }))
    }

    /// The shared connection pool (redirects off), for the OAuth token exchange.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The site root.
    pub fn site_url(&self) -> &Url {
        &self.config.site_url
    }

    /// `{site}/api/v3` or `{site}/api/v3/teams/{slug}`, without a trailing slash.
    pub fn api_base(&self, team: Option<&TeamSlug>) -> String {
        let site = self.config.site_url.as_str().trim_end_matches('/');
        match team {
            Some(t) => format!("{site}/api/v3/teams/{}", t.as_str()),
            None => format!("{site}/api/v3"),
        }
    }

    /// A read-only handle on the service token. The only thing a service token can build.
    pub fn reader(self: &Arc<Self>, token: &ServiceToken, team: Option<&TeamSlug>) -> HttpReader {
        HttpReader(Session::new(
            self.clone(),
            token.secret().clone(),
            team,
            TokenKind::Service,
        ))
    }

    /// A handle acting as the member who owns `token`.
    pub fn writer(self: &Arc<Self>, token: UserToken, team: Option<&TeamSlug>) -> HttpWriter {
        HttpWriter(Session::new(
            self.clone(),
            token.secret().clone(),
            team,
            TokenKind::Member,
        ))
    }
}

/// Reads with the service token.
#[derive(Debug)]
pub struct HttpReader(Session);

/// Reads and writes as a member.
#[derive(Debug)]
pub struct HttpWriter(Session);

/// Whose token a session holds (a metrics and span label; never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// The bot's read-only service token.
    Service,
    /// A linked member's own token.
    Member,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Service => "service",
            TokenKind::Member => "member",
        }
    }
}

/// One token against one API base.
struct Session {
    soe: Arc<HttpSoe>,
    token: SecretString,
    /// Whose token it is.
    kind: TokenKind,
    /// The token's fingerprint, for the throttle table.
    key: TokenKey,
    /// API base without a trailing slash.
    base: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish()
    }
}

type Query = Vec<(&'static str, String)>;

impl Session {
    fn new(
        soe: Arc<HttpSoe>,
        token: SecretString,
        team: Option<&TeamSlug>,
        kind: TokenKind,
    ) -> Self {
        let key = token_key(token.expose_secret());
        let base = soe.api_base(team);
        Self {
            soe,
            token,
            kind,
            key,
            base,
        }
    }

    /// A GET, retried on 5xx and timeouts.
    async fn get<T: DeserializeOwned + DecodeText>(&self, path: &str, query: Query) -> Result<T> {
        let cfg = &self.soe.config;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(cfg.retry_min_delay)
            .with_max_delay(cfg.retry_max_delay)
            .with_max_times(cfg.max_get_retries)
            .with_jitter();
        (|| self.execute::<T>(Method::GET, path, &query, None))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(Error::is_transient)
            .notify(|err, wait| {
                tracing::debug!(path, error = %err, ?wait, "retrying SOE GET");
            })
            .await
    }

    /// A write: sent once, never retried.
    async fn write<T: DeserializeOwned + DecodeText>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let body = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| Error::Unexpected(format!("could not encode the request: {e}")))?,
            ),
            None => None,
        };
        self.execute(method, path, &[], body).await
    }

    async fn wait_for_throttle(&self) -> Result<()> {
        if let Some(wait) = self.soe.throttles.remaining(&self.key) {
            if wait > MAX_WAIT {
                return Err(Error::RateLimited { retry_after: wait });
            }
            tracing::debug!(?wait, "SOE token paused by throttle; waiting");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// One call, in a span naming the endpoint (route template), method, token kind and, once
    /// known, the status; counted and timed in the metrics ([`crate::telemetry`]).
    async fn execute<T: DeserializeOwned + DecodeText>(
        &self,
        method: Method,
        path: &str,
        query: &[(&'static str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        use tracing::Instrument;
        let endpoint = crate::telemetry::endpoint_template(path);
        let span = tracing::info_span!(
            "soe",
            endpoint = %endpoint,
            method = %method,
            token = self.kind.as_str(),
            status = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let (result, status) = self
            .execute_unobserved(method, path, query, body)
            .instrument(span.clone())
            .await;
        span.record("status", status.as_str());
        let token = self.kind.as_str();
        metrics::counter!(crate::telemetry::SOE_REQUESTS, "endpoint" => endpoint.clone(), "status" => status, "token" => token).increment(1);
        metrics::histogram!(crate::telemetry::SOE_SECONDS, "endpoint" => endpoint, "token" => token)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// [`Session::execute`] without the span and metrics; also returns the status label (the
    /// HTTP status, or `throttled`, `timeout`, `transport`, `error` when none came back).
    async fn execute_unobserved<T: DeserializeOwned + DecodeText>(
        &self,
        method: Method,
        path: &str,
        query: &[(&'static str, String)],
        body: Option<Vec<u8>>,
    ) -> (Result<T>, String) {
        let no_status = |e: &Error| match e {
            Error::Timeout => "timeout",
            Error::Transport(_) => "transport",
            Error::RateLimited { .. } => "throttled",
            _ => "error",
        };
        if let Err(e) = self.wait_for_throttle().await {
            let label = no_status(&e).to_string();
            return (Err(e), label);
        }
        let mut url = match Url::parse(&format!("{}{}", self.base, path)) {
            Ok(u) => u,
            Err(e) => {
                return (
                    Err(Error::Unexpected(format!("bad request path: {e}"))),
                    "error".into(),
                )
            }
        };
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self
            .soe
            .http
            .request(method.clone(), url)
            .bearer_auth(self.token.expose_secret())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, self.soe.config.user_agent.as_str());
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        let resp = match req.send().await.map_err(map_transport) {
            Ok(r) => r,
            Err(e) => {
                let label = no_status(&e).to_string();
                return (Err(e), label);
            }
        };
        let status = resp.status().as_u16();
        // The enclosing `soe` span (see `execute`): every line logged from here on names it.
        tracing::Span::current().record("status", status);
        let headroom = Headroom::from_headers(resp.headers());
        self.record_headroom(&headroom);
        let bytes = match read_capped(resp, self.soe.config.max_body_bytes).await {
            Ok(b) => b,
            Err(e) => return (Err(e), status.to_string()),
        };
        tracing::debug!(status, "SOE call");
        if status == 429 {
            let retry_after = headroom.retry_after_429();
            self.soe.throttles.pause(self.key, retry_after);
            return (Err(Error::RateLimited { retry_after }), status.to_string());
        }
        if let Some(pause) = headroom.pause() {
            self.soe.throttles.pause(self.key, pause);
        }
        let result = if (200..300).contains(&status) {
            match serde_json::from_slice::<T>(&bytes) {
                Ok(mut value) => {
                    value.decode_text(self.soe.config.encoded_fields);
                    Ok(value)
                }
                Err(e) => Err(Error::Unexpected(format!(
                    "response is not the expected JSON ({e})"
                ))),
            }
        } else {
            Err(Error::from_response(status, &bytes, None))
        };
        (result, status.to_string())
    }

    /// The calls SOE says this kind of token has left, as gauges.
    fn record_headroom(&self, headroom: &Headroom) {
        let token = self.kind.as_str();
        if let Some(left) = headroom.burst_left {
            metrics::gauge!(crate::telemetry::SOE_CALLS_LEFT, "token" => token, "limiter" => "burst")
                .set(left as f64);
        }
        if let Some(left) = headroom.bucket_left {
            metrics::gauge!(crate::telemetry::SOE_CALLS_LEFT, "token" => token, "limiter" => "bucket")
                .set(left as f64);
        }
    }
}

/// Maps a reqwest failure to an error with no URL in it.
fn map_transport(err: reqwest::Error) -> Error {
    if err.is_timeout() {
        return Error::Timeout;
    }
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Error::Transport(text)
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(map_transport)? {
        if buf.len() + chunk.len() > cap {
            return Err(Error::Unexpected(format!(
                "response larger than {cap} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn paging(page: u32, page_size: PageSize) -> Query {
    vec![
        ("page", page.max(1).to_string()),
        ("pageSize", page_size.get().to_string()),
    ]
}

fn iso(dt: chrono::DateTime<chrono::Utc>) -> String {
    dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn vote_route(vote: Vote) -> (Method, &'static str) {
    match vote {
        Vote::Up => (Method::POST, "upvote"),
        Vote::Down => (Method::POST, "downvote"),
        Vote::UndoUp => (Method::DELETE, "upvote"),
        Vote::UndoDown => (Method::DELETE, "downvote"),
    }
}

const NO_BODY: Option<&()> = None;

#[async_trait]
impl SoeRead for Session {
    async fn list_questions(&self, q: &QuestionQuery) -> Result<Page<Question>> {
        let mut query = paging(q.page, q.page_size);
        if let Some(sort) = q.sort {
            query.push(("sort", sort.as_str().into()));
        }
        if let Some(order) = q.order {
            query.push(("order", order.as_str().into()));
        }
        if let Some(v) = q.is_answered {
            query.push(("isAnswered", v.to_string()));
        }
        if let Some(v) = q.has_accepted_answer {
            query.push(("hasAcceptedAnswer", v.to_string()));
        }
        for id in &q.tag_ids {
            query.push(("tagId", id.to_string()));
        }
        if let Some(a) = q.author_id {
            query.push(("authorId", a.to_string()));
        }
        if let Some(from) = q.from {
            query.push(("from", iso(from)));
        }
        if let Some(to) = q.to {
            query.push(("to", iso(to)));
        }
        self.get("/questions", query).await
    }

    async fn get_question(&self, id: Id) -> Result<Question> {
        self.get(&format!("/questions/{id}"), vec![]).await
    }

    async fn list_articles(
        &self,
        page: u32,
        page_size: PageSize,
        sort: ArticleSort,
        order: Order,
    ) -> Result<Page<Article>> {
        let mut query = paging(page, page_size);
        query.push(("sort", sort.as_str().into()));
        query.push(("order", order.as_str().into()));
        self.get("/articles", query).await
    }

    async fn list_answers(
        &self,
        question: Id,
        page: u32,
        page_size: PageSize,
        sort: AnswerSort,
    ) -> Result<Page<Answer>> {
        let mut query = paging(page, page_size);
        query.push(("sort", sort.as_str().into()));
        self.get(&format!("/questions/{question}/answers"), query)
            .await
    }

    async fn get_answer(&self, question: Id, answer: Id) -> Result<Answer> {
        self.get(&format!("/questions/{question}/answers/{answer}"), vec![])
            .await
    }

    async fn search(
        &self,
        query: &str,
        page: u32,
        page_size: PageSize,
        sort: SearchSort,
    ) -> Result<Page<SearchItem>> {
        let mut q = vec![("query", query.to_string())];
        q.extend(paging(page, page_size));
        q.push(("sort", sort.as_str().into()));
        self.get("/search", q).await
    }

    async fn list_tags(
        &self,
        partial_name: Option<&str>,
        page: u32,
        page_size: PageSize,
        sort: TagSort,
    ) -> Result<Page<Tag>> {
        let mut query = paging(page, page_size);
        query.push(("sort", sort.as_str().into()));
        if let Some(p) = partial_name.filter(|p| !p.is_empty()) {
            query.push(("partialName", p.to_string()));
        }
        self.get("/tags", query).await
    }

    async fn get_tag(&self, id: Id) -> Result<Tag> {
        self.get(&format!("/tags/{id}"), vec![]).await
    }

    async fn me(&self) -> Result<User> {
        self.get("/users/me", vec![]).await
    }

    async fn get_user(&self, id: Id) -> Result<User> {
        self.get(&format!("/users/{id}"), vec![]).await
    }

    async fn question_comments(&self, question: Id) -> Result<Vec<Comment>> {
        self.get(&format!("/questions/{question}/comments"), vec![])
            .await
    }

    async fn answer_comments(&self, question: Id, answer: Id) -> Result<Vec<Comment>> {
        self.get(
            &format!("/questions/{question}/answers/{answer}/comments"),
            vec![],
        )
        .await
    }

    async fn tag_experts(&self, tag: Id) -> Result<SubjectMatterExperts> {
        self.get(&format!("/tags/{tag}/subject-matter-experts"), vec![])
            .await
    }

    async fn watched_tags(&self, user: Id) -> Result<WatchedTags> {
        self.get(&format!("/users/{user}/watched-tags"), vec![])
            .await
    }
}

#[async_trait]
impl SoeWrite for Session {
    async fn create_question(&self, question: &NewQuestion) -> Result<Question> {
        self.write(Method::POST, "/questions", Some(question)).await
    }

    async fn update_question(&self, id: Id, question: &NewQuestion) -> Result<Question> {
        self.write(Method::PUT, &format!("/questions/{id}"), Some(question))
            .await
    }

    async fn create_answer(&self, question: Id, answer: &NewAnswer) -> Result<Answer> {
        self.write(
            Method::POST,
            &format!("/questions/{question}/answers"),
            Some(answer),
        )
        .await
    }

    async fn vote_question(&self, id: Id, vote: Vote) -> Result<Question> {
        let (method, action) = vote_route(vote);
        self.write(method, &format!("/questions/{id}/{action}"), NO_BODY)
            .await
    }

    async fn vote_answer(&self, question: Id, answer: Id, vote: Vote) -> Result<Answer> {
        let (method, action) = vote_route(vote);
        self.write(
            method,
            &format!("/questions/{question}/answers/{answer}/{action}"),
            NO_BODY,
        )
        .await
    }

    async fn accept_answer(&self, question: Id, answer: Id) -> Result<Answer> {
        self.write(
            Method::POST,
            &format!("/questions/{question}/answers/{answer}/accept"),
            NO_BODY,
        )
        .await
    }

    async fn unaccept_answer(&self, question: Id, answer: Id) -> Result<Answer> {
        self.write(
            Method::DELETE,
            &format!("/questions/{question}/answers/{answer}/accept"),
            NO_BODY,
        )
        .await
    }
}

/// Forwards every [`SoeRead`] method of a handle to its [`Session`].
macro_rules! forward_read {
    ($t:ty) => {
        #[async_trait]
        impl SoeRead for $t {
            async fn list_questions(&self, q: &QuestionQuery) -> Result<Page<Question>> {
                self.0.list_questions(q).await
            }
            async fn get_question(&self, id: Id) -> Result<Question> {
                self.0.get_question(id).await
            }
            async fn list_articles(
                &self,
                page: u32,
                page_size: PageSize,
                sort: ArticleSort,
                order: Order,
            ) -> Result<Page<Article>> {
                self.0.list_articles(page, page_size, sort, order).await
            }
            async fn list_answers(
                &self,
                question: Id,
                page: u32,
                page_size: PageSize,
                sort: AnswerSort,
            ) -> Result<Page<Answer>> {
                self.0.list_answers(question, page, page_size, sort).await
            }
            async fn get_answer(&self, question: Id, answer: Id) -> Result<Answer> {
                self.0.get_answer(question, answer).await
            }
            async fn search(
                &self,
                query: &str,
                page: u32,
                page_size: PageSize,
                sort: SearchSort,
            ) -> Result<Page<SearchItem>> {
                self.0.search(query, page, page_size, sort).await
            }
            async fn list_tags(
                &self,
                partial_name: Option<&str>,
                page: u32,
                page_size: PageSize,
                sort: TagSort,
            ) -> Result<Page<Tag>> {
                self.0.list_tags(partial_name, page, page_size, sort).await
            }
            async fn get_tag(&self, id: Id) -> Result<Tag> {
                self.0.get_tag(id).await
            }
            async fn me(&self) -> Result<User> {
                self.0.me().await
            }
            async fn get_user(&self, id: Id) -> Result<User> {
                self.0.get_user(id).await
            }
            async fn question_comments(&self, question: Id) -> Result<Vec<Comment>> {
                self.0.question_comments(question).await
            }
            async fn answer_comments(&self, question: Id, answer: Id) -> Result<Vec<Comment>> {
                self.0.answer_comments(question, answer).await
            }
            async fn tag_experts(&self, tag: Id) -> Result<SubjectMatterExperts> {
                self.0.tag_experts(tag).await
            }
            async fn watched_tags(&self, user: Id) -> Result<WatchedTags> {
                self.0.watched_tags(user).await
            }
        }
    };
}

forward_read!(HttpReader);
forward_read!(HttpWriter);

#[async_trait]
impl SoeWrite for HttpWriter {
    async fn create_question(&self, question: &NewQuestion) -> Result<Question> {
        self.0.create_question(question).await
    }
    async fn update_question(&self, id: Id, question: &NewQuestion) -> Result<Question> {
        self.0.update_question(id, question).await
    }
    async fn create_answer(&self, question: Id, answer: &NewAnswer) -> Result<Answer> {
        self.0.create_answer(question, answer).await
    }
    async fn vote_question(&self, id: Id, vote: Vote) -> Result<Question> {
        self.0.vote_question(id, vote).await
    }
    async fn vote_answer(&self, question: Id, answer: Id, vote: Vote) -> Result<Answer> {
        self.0.vote_answer(question, answer, vote).await
    }
    async fn accept_answer(&self, question: Id, answer: Id) -> Result<Answer> {
        self.0.accept_answer(question, answer).await
    }
    async fn unaccept_answer(&self, question: Id, answer: Id) -> Result<Answer> {
        self.0.unaccept_answer(question, answer).await
    }
}

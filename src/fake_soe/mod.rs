//! A faithful fake Stack Overflow Enterprise site on loopback, for tests and `soe-bot demo`.
//!
//! [`FakeSoe::start`] binds an axum server (default `127.0.0.1:0`) that serves, like the real
//! site:
//! - OAuth 2.0 + PKCE at the site root: `GET /oauth`, `POST /oauth/consent` (the fake's consent
//!   page) and `POST /oauth/access_token/json`;
//! - the API v3 subset the bot uses under `/api/v3` and, for the seeded private team
//!   [`TEAM`], under `/api/v3/teams/{team}`: questions, answers, votes, accept, comments,
//!   search, tags and users, with the official document's models, paging, errors and throttle
//!   headers;
//! - small HTML pages for the URLs the API hands out (`webUrl`, `shareUrl`).
//!
//! The vendor's rules are held here rather than bent to the client:
//! - text fields are served HTML-encoded, per field ([`FakeSoeConfig::encoded_fields`],
//!   [`FakeSoe::set_html_encode`]);
//! - the API application has a status: read-only (how every new application and service key
//!   starts) refuses every write with 403 whatever the token's scopes
//!   ([`FakeSoeConfig::application`]);
//! - a private team's routes (`/api/v3/teams/{team}/…`) answer 403 to a token without the
//!   `access_team` grant for that team ([`FakeSoeConfig::team_scope_format`]);
//! - `redirect_uri` must be under the application's registered domain
//!   ([`FakeSoeConfig::redirect_domain`]);
//! - the token endpoint wants `client_id`, `code`, `redirect_uri` and `code_verifier` (from the
//!   query string, as the vendor's SDK sends them, or a form body) and can word its answer the
//!   SOE way or the standard way, under any content type ([`FakeSoeConfig::token_response`]).
//!
//! Faults can be injected per route ([`FakeSoe::push_fault`]); every exchange is recorded
//! ([`FakeSoe::requests`]). Invariants: the store keeps plain text;
//! all TTLs and token expiry read the injected [`crate::clock::Clock`]; throttle windows and
//! injected delays use `tokio::time`, so tests can pause time; nothing is traced but method and
//! route template; the server task is aborted when the [`FakeSoe`] is dropped.
//!
//! Layout: `server` (the handler, faults, log), `api` (routes and rules), `oauth` (codes and
//! tokens), `store` (data), `seed` (demo data), `render` (Markdown, encoding, JSON models),
//! `throttle` (limiters), `pages` (HTML), `log` (the request record).

mod api;
pub mod log;
mod oauth;
mod pages;
mod render;
pub mod seed;
mod server;
mod store;
#[cfg(test)]
mod tests;
mod throttle;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use url::Url;

use crate::clock::SharedClock;

pub use seed::{
    ALEX, CONNOR, JANE, PRIYA, Q_ACCEPTED, Q_ASYNC, Q_ENTITIES, Q_TEAM, Q_UNANSWERED, SAM, SERVICE,
    TEAM,
};
pub use store::{FakeAnswer, FakeArticle, FakeComment, FakeQuestion, FakeTag, FakeUser, VoteKind};
pub use throttle::ThrottleLimits;

use crate::soe::text::EncodedFields;

use server::Shared;

/// How the fake configures itself. Build with [`FakeSoeConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct FakeSoeConfig {
    /// The clock for token expiry (24 h unless `no_expiry`) and code lifetime.
    pub clock: SharedClock,
    /// Where to listen; default `127.0.0.1:0` (any free port).
    pub bind: SocketAddr,
    /// The registered API application's client id; default `"4242"`.
    pub client_id: String,
    /// The application's secret for the classic (non-PKCE) exchange; default `None`, which
    /// makes PKCE mandatory.
    pub client_secret: Option<String>,
    /// The application's "Domain": the `redirect_uri` host must be it or under it
    /// (`bot.test` admits `bot.test` and `auth.bot.test`, not `evil-bot.test`); default
    /// `127.0.0.1`.
    pub redirect_domain: String,
    /// Vendor quirk: serve text fields HTML-encoded; default `true`. Off, nothing is encoded.
    pub html_encode: bool,
    /// Which text fields the quirk encodes; default all of them (the guide names
    /// `body_markdown` and comment bodies; titles, snippets, names and tag descriptions are
    /// the assumption a test can drop).
    pub encoded_fields: EncodedFields,
    /// The API application's status; default [`AppStatus::ReadOnly`], as every new application
    /// and service key starts. Tests that write set [`AppStatus::ReadWrite`], the step the
    /// README asks an admin to take.
    pub application: AppStatus,
    /// The form of the scope that grants a private team, with `{host}` (the site's host and
    /// port) and `{team}`; default `access_team|{host}/c/{team}`.
    pub team_scope_format: String,
    /// How a successful token exchange is worded; default [`TokenResponseStyle::Soe`].
    pub token_response: TokenResponseStyle,
    /// The `Content-Type` of a successful token response; default `application/json`.
    pub token_content_type: String,
    /// How `GET /oauth` answers; default [`Approval::AutoApprove`] as [`JANE`].
    pub approval: Approval,
    /// Load the seeded demo data; default `true`. Without it the site has only the users.
    pub seed: bool,
    /// Authorization-code lifetime in seconds; default 600.
    pub code_ttl_secs: i64,
    /// Throttle limits; default 50 per 2 s burst and a 5,000 bucket refilled by 100 per 60 s.
    pub throttle: ThrottleLimits,
}

impl FakeSoeConfig {
    /// The defaults listed on each field, with `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "4242".into(),
            client_secret: None,
            redirect_domain: "127.0.0.1".into(),
            html_encode: true,
            encoded_fields: EncodedFields::all(),
            application: AppStatus::ReadOnly,
            team_scope_format: DEFAULT_TEAM_SCOPE_FORMAT.into(),
            token_response: TokenResponseStyle::Soe,
            token_content_type: "application/json".into(),
            approval: Approval::AutoApprove { user_id: JANE },
            seed: true,
            code_ttl_secs: 600,
            throttle: ThrottleLimits::default(),
        }
    }
}

/// The site's default form of a team grant (the earlier Teams API's form).
pub const DEFAULT_TEAM_SCOPE_FORMAT: &str = "access_team|{host}/c/{team}";

/// An API application's status, set by an admin on the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// Tokens read; every write is refused with 403, whatever scope was granted.
    ReadOnly,
    /// Tokens with `write_access` may write.
    ReadWrite,
}

/// How the token endpoint words a successful exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenResponseStyle {
    /// SOE's documented body: `{"access_token", "expires"}` (`expires` absent with
    /// `no_expiry`).
    Soe,
    /// RFC 6749's: `{"access_token", "token_type": "bearer", "expires_in"}`.
    Standard,
}

/// How `GET /oauth` answers a valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Redirect straight back with a code, as if `user_id` had clicked "Approve".
    AutoApprove {
        /// The approving user.
        user_id: i64,
    },
    /// Redirect back with `error=access_denied`.
    Deny,
    /// Show a consent page listing the seeded users, each with an "Approve as …" button, and
    /// "Deny"; the buttons post to `/oauth/consent`.
    ConsentPage,
}

/// An injected failure. Matches by method and route template (`None` = any); fires `times`
/// times (`None` = until cleared). The first matching fault in push order fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `GET`, `POST`, … (case-insensitive), or `None` for any.
    pub method: Option<String>,
    /// A route template relative to the API base (`/questions/{questionId}`), a site path
    /// (`/oauth/access_token/json`) or a concrete request path; `None` for any.
    pub route: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many times it fires; `None` = forever.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault on every request, forever.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            method: None,
            route: None,
            kind,
            times: None,
        }
    }

    /// A fault on `method route`, forever (narrow it with [`Fault::times`]).
    pub fn on(method: &str, route: &str, kind: FaultKind) -> Self {
        Self {
            method: Some(method.to_string()),
            route: Some(route.to_string()),
            kind,
            times: None,
        }
    }

    /// Fires only `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status and a ProblemDetails JSON body (500, 503, …).
    Status(u16),
    /// 429 with `Retry-After` and the throttle headers at 0.
    RateLimited {
        /// The `Retry-After` value and the throttle headers' seconds.
        retry_after_secs: u64,
    },
    /// Wait (`tokio::time::sleep`, so paused test time applies), then serve normally.
    Delay(Duration),
    /// Serve normally (the site acts, and the request is logged), then wait before sending
    /// the answer: a write the site performed whose answer the client has not seen yet.
    AnswerAfter(Duration),
    /// 200 `application/json` with a truncated JSON body.
    MalformedJson,
    /// 401 `text/plain` `Invalid access token`, whatever the token.
    Unauthorized,
}

/// A running fake site. Dropping it stops the server.
pub struct FakeSoe {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    service_token: String,
}

impl std::fmt::Debug for FakeSoe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSoe")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeSoe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The site's own rendering of its team-grant form: `{host}` is the site's host with its port,
/// `{team}` the slug.
pub(crate) fn render_team_scope(format: &str, site: &Url, team: &str) -> String {
    let host = match (site.host_str(), site.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    };
    format.replace("{host}", &host).replace("{team}", team)
}

fn io_error(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

impl FakeSoe {
    /// Binds, seeds and starts serving. Must be called inside a tokio runtime.
    pub async fn start(config: FakeSoeConfig) -> std::io::Result<FakeSoe> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let site_url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| io_error(format!("bad site URL: {e}")))?;
        let mut store = store::Store::new();
        if config.seed {
            seed::seed(&mut store);
        } else {
            seed::seed_users_only(&mut store);
        }
        let mut auth = oauth::AuthState::default();
        // The seeded service token was minted the way `soe-bot service-token` asks: read-only,
        // non-expiring, with the grant for the seeded private team.
        let team_grant = render_team_scope(&config.team_scope_format, &site_url, TEAM);
        let service_token = auth.mint(
            SERVICE,
            &["no_expiry".to_string(), team_grant],
            config.clock.now(),
        );
        let shared = Arc::new(Shared {
            clock: config.clock,
            client_id: config.client_id,
            client_secret: config.client_secret,
            redirect_domain: config.redirect_domain,
            code_ttl_secs: config.code_ttl_secs,
            site_url,
            approval: Mutex::new(config.approval),
            html_encode: AtomicBool::new(config.html_encode),
            encoded_fields: Mutex::new(config.encoded_fields),
            application: Mutex::new(config.application),
            team_scope_format: config.team_scope_format,
            token_response: config.token_response,
            token_content_type: config.token_content_type,
            store: Mutex::new(store),
            auth: Mutex::new(auth),
            throttles: Mutex::new(throttle::Throttles::new(config.throttle)),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake SOE server stopped");
            }
        });
        Ok(FakeSoe {
            shared,
            addr,
            task,
            service_token,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The site root, `http://127.0.0.1:PORT/` (OAuth lives here).
    pub fn site_url(&self) -> Url {
        self.shared.site_url.clone()
    }

    /// The API base, `http://127.0.0.1:PORT/api/v3` (no trailing slash).
    pub fn api_base(&self) -> Url {
        let mut url = self.shared.site_url.clone();
        url.set_path("/api/v3");
        url
    }

    /// The `GET /oauth` authorization URL.
    pub fn authorize_url(&self) -> Url {
        let mut url = self.shared.site_url.clone();
        url.set_path("/oauth");
        url
    }

    /// The registered client id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// Mints a valid token for `user_id` without OAuth. `scopes` like `"write_access"`,
    /// `"no_expiry"`; without `no_expiry` it expires 24 h from now by the injected clock.
    pub fn mint_token(&self, user_id: i64, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.shared
            .auth
            .lock()
            .mint(user_id, &scopes, self.shared.clock.now())
    }

    /// The seeded read-only, non-expiring token owned by the service account [`SERVICE`].
    pub fn service_token(&self) -> String {
        self.service_token.clone()
    }

    /// Revokes a token: later calls with it get 401.
    pub fn revoke_token(&self, token: &str) {
        self.shared.auth.lock().revoke(token);
    }

    /// Changes how `GET /oauth` answers.
    pub fn set_approval(&self, approval: Approval) {
        *self.shared.approval.lock() = approval;
    }

    /// Turns the HTML encoding of text fields on or off.
    pub fn set_html_encode(&self, on: bool) {
        self.shared.html_encode.store(on, Ordering::Relaxed);
    }

    /// Chooses which text fields are encoded (while the encoding is on).
    pub fn set_encoded_fields(&self, fields: EncodedFields) {
        *self.shared.encoded_fields.lock() = fields;
    }

    /// An admin switches the API application read-only or read-write.
    pub fn set_application(&self, status: AppStatus) {
        *self.shared.application.lock() = status;
    }

    /// The scope that grants `team` on this site (the configured format, this site's host).
    pub fn team_scope(&self, team: &str) -> String {
        render_team_scope(&self.shared.team_scope_format, &self.shared.site_url, team)
    }

    /// Adds a fault (after the existing ones).
    pub fn push_fault(&self, fault: Fault) {
        self.shared.faults.lock().push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// Everything served so far, in order (OAuth and pages too).
    pub fn requests(&self) -> Vec<log::LoggedRequest> {
        self.shared.log.lock().clone()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.log.lock().clear();
    }

    /// Performs the consent step for an `/oauth?…` URL as `user_id` (whatever the
    /// [`Approval`] setting) and returns `redirect_uri?code=…&state=…`. Errors name what is
    /// wrong with the request.
    pub fn approve(&self, authorize_url: &Url, user_id: i64) -> Result<Url, String> {
        if authorize_url.path() != "/oauth" {
            return Err(format!(
                "not an authorization URL (path {:?}, expected /oauth)",
                authorize_url.path()
            ));
        }
        if self.shared.store.lock().user(user_id).is_none() {
            return Err(format!("no user {user_id} on this site"));
        }
        let pairs: Vec<(String, String)> = authorize_url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match oauth::parse_authorize(&self.shared, &pairs) {
            Ok(request) => Ok(oauth::grant(&self.shared, &request, user_id)),
            Err(oauth::AuthorizeError::Page(message)) => Err(message),
            Err(oauth::AuthorizeError::Redirect(url)) => {
                let description = url
                    .query_pairs()
                    .find(|(k, _)| k == "error_description")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| "invalid authorization request".into());
                Err(description)
            }
        }
    }

    /// A question by id on any site (plain text).
    pub fn question(&self, id: i64) -> Option<FakeQuestion> {
        self.shared.store.lock().question_any(id).cloned()
    }

    /// Every question on every site, by id (see [`FakeQuestion::team`]).
    pub fn questions(&self) -> Vec<FakeQuestion> {
        self.shared.store.lock().all_questions().cloned().collect()
    }

    /// The answers of a question, by id.
    pub fn answers(&self, question_id: i64) -> Vec<FakeAnswer> {
        self.shared
            .store
            .lock()
            .answers_of(question_id)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Comments on a question or answer, oldest first.
    pub fn comments(&self, post_id: i64) -> Vec<FakeComment> {
        self.shared
            .store
            .lock()
            .comments_on(post_id)
            .into_iter()
            .cloned()
            .collect()
    }

    /// A user by id.
    pub fn user(&self, id: i64) -> Option<FakeUser> {
        self.shared.store.lock().user(id).cloned()
    }

    /// Test setup: adds a main-site question as `owner`, created now by the injected clock,
    /// without validation (missing tags are created). Returns its id.
    pub fn add_question(&self, owner: i64, title: &str, body_markdown: &str, tags: &[&str]) -> i64 {
        let now = self.shared.clock.now();
        self.shared
            .store
            .lock()
            .insert_question(None, owner, title, body_markdown, tags, now, 0, 0)
    }

    /// Test setup: adds a knowledge article as `owner` on the main site (`team` `None`) or a
    /// private team, created now by the injected clock (missing tags are created). Returns
    /// its id.
    pub fn add_article(
        &self,
        team: Option<&str>,
        owner: i64,
        title: &str,
        body_markdown: &str,
        tags: &[&str],
    ) -> i64 {
        let now = self.shared.clock.now();
        self.shared
            .store
            .lock()
            .insert_article(team, owner, title, body_markdown, tags, now)
    }

    /// Test setup: the question's owner accepts `answer_id` now (activity on the question, as
    /// on the site). Errors say why the site would refuse.
    pub fn accept_answer(&self, question_id: i64, answer_id: i64) -> Result<(), String> {
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock();
        let owner = store
            .question_any(question_id)
            .map(|q| q.owner_id)
            .ok_or_else(|| format!("no question {question_id}"))?;
        store
            .set_accepted(question_id, answer_id, owner, true, now)
            .map_err(|r| r.0)
    }

    /// Test setup: adds an answer as `owner`, created now, without validation. Returns its id.
    pub fn add_answer(&self, question_id: i64, owner: i64, body_markdown: &str) -> i64 {
        let now = self.shared.clock.now();
        self.shared
            .store
            .lock()
            .insert_answer(question_id, owner, body_markdown, now, 0)
    }

    /// Test setup: turns the subject-matter-expert feature on (off by default: the SME route
    /// answers 422, as the site does).
    pub fn enable_smes(&self) {
        self.shared.store.lock().enable_smes();
    }

    /// Test setup: names `users` and the groups `groups` subject-matter experts for the
    /// main-site tag `tag` (created if missing) and turns the feature on.
    pub fn add_experts(&self, tag: &str, users: &[i64], groups: &[i64]) {
        let now = self.shared.clock.now();
        let mut store = self.shared.store.lock();
        store.enable_smes();
        let id = store.ensure_tag(None, tag, "", now);
        store.add_experts(id, users, groups);
    }

    /// Test setup: creates a user group with `members`; returns its id.
    pub fn add_user_group(&self, name: &str, members: &[i64]) -> i64 {
        self.shared.store.lock().add_group(name, members)
    }

    /// Test setup: `user` watches the main-site tag `tag` (created if missing).
    pub fn watch_tag(&self, user: i64, tag: &str) {
        let now = self.shared.clock.now();
        self.shared.store.lock().watch(None, user, tag, now);
    }
}

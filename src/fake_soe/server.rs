//! The fake site's HTTP front: one axum fallback handler that classifies every request (API,
//! OAuth, pages), applies injected faults, dispatches, records the exchange in the request log
//! and turns the result into a response.
//!
//! Invariants:
//! - every request is logged exactly once, after its response is decided, in completion order;
//! - the only `.await`s are the sleeps of [`FaultKind::Delay`] (before serving) and
//!   [`FaultKind::AnswerAfter`] (after logging), taken outside every lock, so no lock is ever
//!   held across an await;
//! - nothing here panics on bad input: unparseable bodies, paths and headers become 4xx replies,
//!   and a response that cannot be built becomes a bare 500;
//! - `tracing` sees the method and route template only, never tokens, codes, verifiers or state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body as AxumBody, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use parking_lot::Mutex;
use serde_json::{json, Value};
use url::Url;

use super::log::LoggedRequest;
use super::oauth::AuthState;
use super::store::Store;
use super::throttle::{ThrottleState, Throttles};
use super::{api, oauth, pages, Approval, Fault, FaultKind};
use crate::clock::SharedClock;

/// State shared by the handler and the [`super::FakeSoe`] handle.
pub(crate) struct Shared {
    pub clock: SharedClock,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_domain: String,
    pub code_ttl_secs: i64,
    /// The site root, ending in `/`.
    pub site_url: Url,
    pub approval: Mutex<Approval>,
    pub html_encode: AtomicBool,
    /// The fields encoded while `html_encode` is on.
    pub encoded_fields: Mutex<super::EncodedFields>,
    /// The API application's status (read-only refuses every write).
    pub application: Mutex<super::AppStatus>,
    /// The form of a team grant (`{host}`, `{team}`).
    pub team_scope_format: String,
    /// How a successful token exchange is worded.
    pub token_response: super::TokenResponseStyle,
    /// Its `Content-Type`.
    pub token_content_type: String,
    pub store: Mutex<Store>,
    pub auth: Mutex<AuthState>,
    pub throttles: Mutex<Throttles>,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<Vec<LoggedRequest>>,
}

impl Shared {
    /// Which text fields are HTML-encoded right now.
    pub fn encode(&self) -> super::EncodedFields {
        if self.html_encode.load(Ordering::Relaxed) {
            *self.encoded_fields.lock()
        } else {
            super::EncodedFields::none()
        }
    }

    /// True when `scopes` hold this site's grant for `team`.
    pub fn grants_team(&self, scopes: &[String], team: &str) -> bool {
        let wanted = super::render_team_scope(&self.team_scope_format, &self.site_url, team);
        scopes.iter().any(|s| s.eq_ignore_ascii_case(&wanted))
    }

    /// Takes the first fault matching this request, counting down its `times`.
    fn take_fault(&self, method: &Method, route: &str, path: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock();
        let index = faults.iter().position(|f| {
            f.times != Some(0)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
                && f.route.as_deref().is_none_or(|r| r == route || r == path)
        })?;
        let fault = faults.get_mut(index)?;
        let kind = fault.kind.clone();
        if let Some(times) = fault.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                faults.remove(index);
            }
        }
        Some(kind)
    }
}

/// What a request looked like, decoded once.
pub(crate) struct Ctx {
    pub method: Method,
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The bearer token, if an `Authorization: Bearer` header was sent.
    pub token: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl Ctx {
    fn new(method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Self {
        let query = uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let header_str = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let token = header_str(header::AUTHORIZATION).and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        let json = if body.is_empty() {
            None
        } else {
            serde_json::from_slice(&body).ok()
        };
        Self {
            method,
            path: uri.path().to_string(),
            query,
            token,
            user_agent: header_str(header::USER_AGENT),
            content_type: header_str(header::CONTENT_TYPE),
            body,
            json,
        }
    }

    /// The body as form pairs (empty when it is not a form).
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// What the log records as the request body: the JSON, or for a form-encoded request (the
/// OAuth token exchange) its pairs as a JSON object, so tests can see every parameter sent.
fn logged_body(ctx: &Ctx) -> Option<Value> {
    let is_form = ctx
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form && !ctx.body.is_empty() {
        let map: serde_json::Map<String, Value> = ctx
            .form()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return Some(Value::Object(map));
    }
    ctx.json.clone()
}

/// A response body.
#[derive(Debug, Clone)]
pub(crate) enum ReplyBody {
    Json(Value),
    Text(String),
    Html(String),
    Empty,
    /// Deliberately broken JSON (a fault), sent as `application/json`.
    Malformed(String),
    /// Text with a content type of its own (a token response served as `text/plain` or
    /// `text/html`, as some sites do).
    Typed {
        /// The `Content-Type` header.
        content_type: String,
        /// The body.
        text: String,
    },
}

/// A decided response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, value: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(value),
            headers: Vec::new(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            body: ReplyBody::Text(text.into()),
            headers: Vec::new(),
        }
    }

    /// A `text/html` page.
    pub fn html(status: u16, html: String) -> Self {
        Self {
            status,
            body: ReplyBody::Html(html),
            headers: vec![(
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'".to_string(),
            )],
        }
    }

    /// A response with an explicit content type.
    pub fn typed(status: u16, content_type: &str, text: String) -> Self {
        Self {
            status,
            body: ReplyBody::Typed {
                content_type: content_type.to_string(),
                text,
            },
            headers: Vec::new(),
        }
    }

    /// A 302 to `location`.
    pub fn redirect(location: &str) -> Self {
        Self {
            status: 302,
            body: ReplyBody::Empty,
            headers: vec![("location", location.to_string())],
        }
    }

    /// A ProblemDetails (RFC 7807) JSON response.
    pub fn problem(status: u16, kind: &str, title: &str, detail: Option<String>) -> Self {
        let mut body = json!({ "type": kind, "title": title, "status": status });
        if let (Some(detail), Value::Object(map)) = (detail, &mut body) {
            map.insert("detail".into(), Value::String(detail));
        }
        Self::json(status, body)
    }

    /// The 401 the site sends for a missing, unknown, expired or revoked token.
    pub fn unauthorized() -> Self {
        Self::text(401, "Invalid access token")
    }

    /// The 403 for a token without `write_access` or a refused action (`detail`).
    pub fn forbidden(detail: Option<String>) -> Self {
        Self::problem(403, "/v3/errors/forbidden", "Forbidden Action", detail)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds the five throttle headers.
    pub fn with_throttle(mut self, state: &ThrottleState) -> Self {
        self.headers.extend(state.headers());
        self
    }

    fn content_type(&self) -> Option<&str> {
        match &self.body {
            ReplyBody::Json(_) | ReplyBody::Malformed(_) => Some("application/json; charset=utf-8"),
            ReplyBody::Text(_) => Some("text/plain; charset=utf-8"),
            ReplyBody::Html(_) => Some("text/html; charset=utf-8"),
            ReplyBody::Typed { content_type, .. } => Some(content_type.as_str()),
            ReplyBody::Empty => None,
        }
    }

    fn into_response(self) -> Response {
        let content_type = self
            .content_type()
            .and_then(|ct| HeaderValue::from_str(ct).ok());
        let bytes = match self.body {
            ReplyBody::Json(v) => serde_json::to_vec(&v).unwrap_or_default(),
            ReplyBody::Text(s)
            | ReplyBody::Html(s)
            | ReplyBody::Malformed(s)
            | ReplyBody::Typed { text: s, .. } => s.into_bytes(),
            ReplyBody::Empty => Vec::new(),
        };
        let mut response = Response::new(AxumBody::from(bytes));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// What a dispatcher decided, plus what the log wants to know.
pub(crate) struct Outcome {
    pub reply: Reply,
    /// The user the presented token (or the OAuth exchange) belongs to.
    pub user_id: Option<i64>,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Self {
            reply,
            user_id: None,
        }
    }
}

/// Where a request goes.
enum Target {
    /// `/api/v3[/teams/{team}]<rel>`.
    Api { team: Option<String>, rel: String },
    /// Anything else on the site (OAuth, pages).
    Site,
}

fn classify(path: &str) -> Target {
    let lower = path.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("/api/v3") else {
        return Target::Site;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Target::Site;
    }
    // Keep the original case for the team slug and ids; the prefix is ASCII.
    let rest = &path[path.len() - rest.len()..];
    if let Some(after) = rest.to_ascii_lowercase().strip_prefix("/teams/") {
        let after = &rest[rest.len() - after.len()..];
        let (team, rel) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        return Target::Api {
            team: Some(team.to_string()),
            rel: rel.to_string(),
        };
    }
    Target::Api {
        team: None,
        rel: rest.to_string(),
    }
}

fn fault_reply(kind: &FaultKind) -> Reply {
    match kind {
        FaultKind::Status(status) => {
            let title = StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            Reply::problem(
                *status,
                "/v3/errors/server",
                title,
                Some("Injected fault.".into()),
            )
        }
        FaultKind::RateLimited { retry_after_secs } => Reply::problem(
            429,
            "/v3/errors/throttle-violation",
            "Too Many Requests",
            Some(format!(
                "Too many requests; try again in {retry_after_secs} seconds."
            )),
        )
        .with_throttle(&ThrottleState::exhausted(*retry_after_secs))
        .with_header("retry-after", retry_after_secs.to_string()),
        FaultKind::MalformedJson => Reply {
            status: 200,
            body: ReplyBody::Malformed(
                r#"{"totalCount":3,"pageSize":15,"page":1,"items":[{"id":3,"title":"How do I"#
                    .into(),
            ),
            headers: Vec::new(),
        },
        FaultKind::Unauthorized => Reply::unauthorized(),
        // Handled by the caller (sleep, then serve; or serve, then sleep).
        FaultKind::Delay(_) | FaultKind::AnswerAfter(_) => Reply::text(500, "unreachable"),
    }
}

/// The one handler: every method, every path.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(method, &uri, &headers, body);
    let target = classify(&ctx.path);
    let (route, team) = match &target {
        Target::Api { team, rel } => (api::route_template(rel), team.clone()),
        Target::Site => (pages::route_template(&ctx.path), None),
    };
    tracing::debug!(method = %ctx.method, route = %route, "fake SOE request");

    let fault = shared.take_fault(&ctx.method, &route, &ctx.path);
    if let Some(FaultKind::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let outcome = match &fault {
        Some(kind) if !matches!(kind, FaultKind::Delay(_) | FaultKind::AnswerAfter(_)) => {
            Outcome::from(fault_reply(kind))
        }
        _ => match &target {
            Target::Api { team, rel } => api::serve(&shared, &ctx, team.as_deref(), rel),
            Target::Site => site(&shared, &ctx),
        },
    };

    let reply = outcome.reply;
    let (response_json, malformed) = match &reply.body {
        ReplyBody::Json(v) => (Some(v.clone()), false),
        ReplyBody::Malformed(_) => (None, true),
        // JSON served under another content type is still logged as JSON.
        ReplyBody::Typed { text, .. } => (serde_json::from_str(text).ok(), false),
        _ => (None, false),
    };
    let entry = LoggedRequest {
        method: ctx.method.as_str().to_string(),
        path: ctx.path.clone(),
        route,
        team,
        query: ctx.query.clone(),
        token: ctx.token.clone(),
        user_id: outcome.user_id,
        user_agent: ctx.user_agent.clone(),
        body: logged_body(&ctx),
        status: reply.status,
        response_content_type: reply.content_type().map(str::to_string),
        response: response_json,
        malformed,
    };
    shared.log.lock().push(entry);
    if let Some(FaultKind::AnswerAfter(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    reply.into_response()
}

fn site(shared: &Shared, ctx: &Ctx) -> Outcome {
    let path = ctx.path.as_str();
    match (ctx.method.as_str(), path) {
        ("GET", "/oauth") => oauth::authorize(shared, ctx),
        ("POST", "/oauth/consent") => oauth::consent(shared, ctx),
        ("POST", "/oauth/access_token/json") => oauth::token(shared, ctx),
        (_, "/oauth" | "/oauth/consent" | "/oauth/access_token/json") => {
            Reply::text(405, "Method Not Allowed").into()
        }
        ("GET" | "HEAD", _) => pages::serve(shared, ctx),
        _ => Reply::text(404, "Not Found").into(),
    }
}

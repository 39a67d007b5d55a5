//! A fake of Discord's OAuth2 on loopback, for tests and `soe-bot demo`: the three endpoints the
//! linking flow uses to prove which Discord account is at the browser.
//!
//! - `GET /oauth2/authorize` (Discord's web host): the browser's Discord session is a cookie
//!   of this fake (`fake_discord_session`, set by [`FakeDiscord::login_url`] or by the login
//!   page it shows to a browser without one). With a session and `prompt=none` it redirects
//!   straight back with a code, as Discord does for an application the user authorised before;
//!   otherwise it shows an "Authorize" page. Cancel sends `error=access_denied`.
//! - `POST /api/v10/oauth2/token`: `grant_type=authorization_code`, `code`, `redirect_uri`, with
//!   the client id and secret as HTTP Basic or form fields; answers Discord's token JSON
//!   (`access_token`, `token_type`, `expires_in`, `refresh_token`, `scope`).
//! - `GET /api/v10/users/@me` with `Authorization: Bearer …`: `id` (a string snowflake),
//!   `username`, `global_name`, `discriminator`, `avatar`.
//!
//! Invariants, as Discord's documentation gives them: the `redirect_uri` must equal one
//! registered on the application ([`FakeDiscord::register_redirect`]) exactly; codes are single
//! use (a failed exchange burns the code too), bound to the client, the redirect URI and the
//! user, and expire after `code_ttl_secs` by the injected clock; the client secret is required;
//! only `identify` is granted. Every request is recorded as method, path and status (never a
//! query string, code, token or secret). Nothing here panics on bad input.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use serde_json::json;
use url::Url;

use crate::clock::SharedClock;

/// The name of the fake's own session cookie (Discord's login, not the bot's).
pub const SESSION_COOKIE: &str = "fake_discord_session";

/// A Discord account the fake knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDiscordUser {
    /// The snowflake.
    pub id: u64,
    /// The unique, immutable handle (`@alice`).
    pub username: String,
    /// The display name, which anyone can set to anything.
    pub global_name: Option<String>,
}

impl FakeDiscordUser {
    /// A user with a handle and a display name.
    pub fn new(id: u64, username: &str, global_name: &str) -> Self {
        Self {
            id,
            username: username.into(),
            global_name: Some(global_name.into()),
        }
    }
}

/// How the fake configures itself.
#[derive(Debug, Clone)]
pub struct FakeDiscordConfig {
    /// Code lifetime is measured on this clock.
    pub clock: SharedClock,
    /// Where to listen; default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// The application (client) id; default `"777000"`.
    pub client_id: String,
    /// The application's client secret; default a fixed test value.
    pub client_secret: String,
    /// The accounts that can sign in.
    pub users: Vec<FakeDiscordUser>,
    /// Authorization-code lifetime; Discord's codes are short-lived, default 600 s.
    pub code_ttl_secs: i64,
}

impl FakeDiscordConfig {
    /// Defaults with `clock` and no users.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "777000".into(),
            client_secret: "fake-discord-client-secret".into(),
            users: Vec::new(),
            code_ttl_secs: 600,
        }
    }
}

/// One request the fake served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDiscordRequest {
    /// HTTP method.
    pub method: String,
    /// Path only.
    pub path: String,
    /// Status answered.
    pub status: u16,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    user_id: u64,
    redirect_uri: String,
    issued_at: DateTime<Utc>,
}

struct Shared {
    clock: SharedClock,
    client_id: String,
    client_secret: String,
    code_ttl_secs: i64,
    users: Mutex<Vec<FakeDiscordUser>>,
    redirects: Mutex<Vec<String>>,
    sessions: Mutex<HashMap<String, u64>>,
    codes: Mutex<HashMap<String, Option<CodeGrant>>>,
    tokens: Mutex<HashMap<String, u64>>,
    log: Mutex<Vec<FakeDiscordRequest>>,
}

impl Shared {
    fn user(&self, id: u64) -> Option<FakeDiscordUser> {
        self.users.lock().iter().find(|u| u.id == id).cloned()
    }
}

/// A running fake Discord OAuth2. The server stops when this is dropped.
pub struct FakeDiscord {
    addr: SocketAddr,
    base: Url,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

impl FakeDiscord {
    /// Binds and serves.
    pub async fn start(config: FakeDiscordConfig) -> std::io::Result<FakeDiscord> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let shared = Arc::new(Shared {
            clock: config.clock,
            client_id: config.client_id,
            client_secret: config.client_secret,
            code_ttl_secs: config.code_ttl_secs,
            users: Mutex::new(config.users),
            redirects: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Discord stopped");
            }
        });
        Ok(FakeDiscord {
            addr,
            base,
            shared,
            task,
        })
    }

    /// The base URL, standing in for `https://discord.com/` (`discord.api_base`).
    pub fn base_url(&self) -> Url {
        self.base.clone()
    }

    /// The application id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The application's client secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// Registers a redirect URI on the application (the developer portal's OAuth2 → Redirects).
    pub fn register_redirect(&self, uri: &str) {
        self.shared.redirects.lock().push(uri.to_string());
    }

    /// Adds an account (replacing one with the same id).
    pub fn add_user(&self, user: FakeDiscordUser) {
        let mut users = self.shared.users.lock();
        users.retain(|u| u.id != user.id);
        users.push(user);
    }

    /// A URL that signs the browser that opens it in as `user_id` (sets the session cookie),
    /// then sends it to `next` when given.
    pub fn login_url(&self, user_id: u64, next: Option<&Url>) -> Url {
        let mut url = self.base_url();
        url.set_path("/login");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("user_id", &user_id.to_string());
            if let Some(next) = next {
                q.append_pair("next", next.as_str());
            }
        }
        url
    }

    /// Plays a browser signed in to Discord as `user` (added if unknown) on `authorize_url`:
    /// checks the request as `GET /oauth2/authorize` does and returns the redirect carrying a
    /// code. The console of `demo` uses this instead of a browser.
    pub fn approve(&self, authorize_url: &Url, user: FakeDiscordUser) -> Result<Url, String> {
        if authorize_url.path() != "/oauth2/authorize" {
            return Err(format!(
                "not a Discord authorize URL (path {:?})",
                authorize_url.path()
            ));
        }
        let q: HashMap<String, String> = authorize_url.query_pairs().into_owned().collect();
        let req = parse_authorize(&self.shared, &q)
            .map_err(|_| "Discord refused the authorization request".to_string())?;
        if self.shared.user(user.id).is_none() {
            self.add_user(user.clone());
        }
        Ok(grant_url(&self.shared, &req, &user))
    }

    /// Every request served so far.
    pub fn requests(&self) -> Vec<FakeDiscordRequest> {
        self.shared.log.lock().clone()
    }

    /// How many requests hit `path`.
    pub fn count(&self, path: &str) -> usize {
        self.shared
            .log
            .lock()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Authorization codes handed out, used or not (for log canaries).
    pub fn issued_codes(&self) -> Vec<String> {
        self.shared.codes.lock().keys().cloned().collect()
    }

    /// Access tokens handed out (for log canaries).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.tokens.lock().keys().cloned().collect()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/login", get(login_get).post(login_post))
        .route("/oauth2/authorize", get(authorize))
        .route("/oauth2/authorize/decide", post(decide))
        .route("/api/v10/oauth2/token", post(token))
        .route("/api/v10/users/@me", get(me))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn record(
    State(shared): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    shared.log.lock().push(FakeDiscordRequest {
        method,
        path,
        status: res.status().as_u16(),
    });
    res
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#313338;color:#eee;margin:0}\
main{max-width:28rem;margin:3rem auto;background:#2b2d31;padding:1.5rem 2rem;border-radius:8px}\
h1{font-size:1.3rem}button{margin:.25rem 0;padding:.5rem .9rem;border-radius:4px;border:0;\
background:#5865f2;color:#fff;cursor:pointer;width:100%}button.cancel{background:#4e5058}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let esc = html_escape::encode_text;
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>{STYLE}</style></head><body><main><h1>{t}</h1>{body}</main></body></html>",
            t = esc(title)
        )),
    )
        .into_response()
}

fn session_user(shared: &Shared, headers: &HeaderMap) -> Option<FakeDiscordUser> {
    let sid = crate::web::cookie_value(headers, SESSION_COOKIE)?;
    let id = *shared.sessions.lock().get(&sid)?;
    shared.user(id)
}

/// Only same-origin paths may be `next` (this fake is no open redirector either).
fn safe_next(next: Option<&String>) -> Option<String> {
    let next = next?;
    let url = Url::parse(next).ok()?;
    let mut local = url.path().to_string();
    if let Some(q) = url.query() {
        local.push('?');
        local.push_str(q);
    }
    Some(local)
}

fn sign_in(shared: &Shared, user_id: u64, next: Option<String>) -> Response {
    if shared.user(user_id).is_none() {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown account",
            "<p>No such Discord account.</p>",
        );
    }
    let sid = random(24);
    shared.sessions.lock().insert(sid.clone(), user_id);
    let set = format!("{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
    match next {
        Some(next) => (
            StatusCode::SEE_OTHER,
            [(header::SET_COOKIE, set), (header::LOCATION, next)],
        )
            .into_response(),
        None => (
            StatusCode::OK,
            [(header::SET_COOKIE, set)],
            Html("<!doctype html><title>Signed in</title><p>Signed in.</p>".to_string()),
        )
            .into_response(),
    }
}

async fn login_get(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match q.get("user_id").and_then(|v| v.parse::<u64>().ok()) {
        Some(id) => sign_in(&shared, id, safe_next(q.get("next"))),
        None => login_page(&shared, q.get("next").map(String::as_str).unwrap_or("/")),
    }
}

async fn login_post(
    State(shared): State<Arc<Shared>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Some(id) = f.get("user_id").and_then(|v| v.parse::<u64>().ok()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "<p>Pick an account.</p>",
        );
    };
    let next = f
        .get("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .cloned();
    sign_in(&shared, id, next)
}

fn login_page(shared: &Shared, next: &str) -> Response {
    let attr = html_escape::encode_double_quoted_attribute;
    let mut body = String::from("<p>Sign in to Discord as:</p>");
    for u in shared.users.lock().iter() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"user_id\" value=\"{id}\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <button type=\"submit\" id=\"login-{id}\">@{name}</button></form>",
            id = u.id,
            next = attr(next),
            name = html_escape::encode_text(&u.username),
        ));
    }
    page(StatusCode::OK, "Discord: sign in", &body)
}

struct AuthorizeRequest {
    redirect_uri: String,
    redirect: Url,
    state: Option<String>,
    prompt_none: bool,
}

fn parse_authorize(
    shared: &Shared,
    q: &HashMap<String, String>,
) -> Result<AuthorizeRequest, String> {
    let bad = |m: &str| Err(m.to_string());
    if q.get("client_id") != Some(&shared.client_id) {
        return bad("Unknown application (client_id).");
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return bad("redirect_uri is required.");
    };
    if !shared.redirects.lock().iter().any(|r| r == redirect_uri) {
        return bad("Invalid OAuth2 redirect_uri: it is not registered on the application.");
    }
    let Ok(redirect) = Url::parse(redirect_uri) else {
        return bad("Invalid OAuth2 redirect_uri.");
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return bad("response_type must be code.");
    }
    let scopes: Vec<&str> = q
        .get("scope")
        .map(|s| s.split([' ', '+']).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if scopes != ["identify"] {
        return bad("This fake grants exactly the identify scope.");
    }
    Ok(AuthorizeRequest {
        redirect_uri: redirect_uri.clone(),
        redirect,
        state: q.get("state").cloned(),
        prompt_none: q.get("prompt").map(String::as_str) == Some("none"),
    })
}

/// The page for a refused authorization request.
fn invalid_request(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Invalid OAuth2 request",
        &format!("<p>{}</p>", html_escape::encode_text(message)),
    )
}

fn back(req: &AuthorizeRequest, pairs: &[(&str, &str)]) -> Response {
    let url = back_url(req, pairs);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn back_url(req: &AuthorizeRequest, pairs: &[(&str, &str)]) -> Url {
    let mut url = req.redirect.clone();
    {
        let mut qp = url.query_pairs_mut();
        for (k, v) in pairs {
            qp.append_pair(k, v);
        }
        if let Some(s) = &req.state {
            qp.append_pair("state", s);
        }
    }
    url
}

fn grant(shared: &Shared, req: &AuthorizeRequest, user: &FakeDiscordUser) -> Response {
    let url = grant_url(shared, req, user);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn grant_url(shared: &Shared, req: &AuthorizeRequest, user: &FakeDiscordUser) -> Url {
    let code = random(24);
    shared.codes.lock().insert(
        code.clone(),
        Some(CodeGrant {
            user_id: user.id,
            redirect_uri: req.redirect_uri.clone(),
            issued_at: shared.clock.now(),
        }),
    );
    back_url(req, &[("code", &code)])
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let req = match parse_authorize(&shared, &q) {
        Ok(r) => r,
        Err(message) => return invalid_request(&message),
    };
    let Some(user) = session_user(&shared, &headers) else {
        let next = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        return login_page(&shared, &next);
    };
    if req.prompt_none {
        return grant(&shared, &req, &user);
    }
    let attr = html_escape::encode_double_quoted_attribute;
    let query = uri.query().unwrap_or_default();
    let body = format!(
        "<p>An application wants to know your username and avatar (<code>identify</code>).</p>\
         <p>Signed in as <strong>@{name}</strong>.</p>\
         <form method=\"post\" action=\"/oauth2/authorize/decide?{q}\">\
         <button type=\"submit\" name=\"decision\" value=\"authorize\" id=\"authorize\">Authorize</button>\
         <button type=\"submit\" name=\"decision\" value=\"cancel\" class=\"cancel\">Cancel</button></form>",
        name = html_escape::encode_text(&user.username),
        q = attr(query),
    );
    page(StatusCode::OK, "Authorize access to your account", &body)
}

async fn decide(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let req = match parse_authorize(&shared, &q) {
        Ok(r) => r,
        Err(message) => return invalid_request(&message),
    };
    if f.get("decision").map(String::as_str) != Some("authorize") {
        return back(
            &req,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "The resource owner or authorization server denied the request",
                ),
            ],
        );
    }
    match session_user(&shared, &headers) {
        Some(user) => grant(&shared, &req, &user),
        None => page(StatusCode::UNAUTHORIZED, "Sign in", "<p>Sign in first.</p>"),
    }
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let (client_id, secret) = match basic_auth(&headers) {
        Some(pair) => pair,
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if client_id != shared.client_id || secret != shared.client_secret {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some(code) = f.get("code") else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    // Burn the code whatever happens next.
    let grant = match shared.codes.lock().get_mut(code) {
        Some(slot) => slot.take(),
        None => None,
    };
    let Some(grant) = grant else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if shared.clock.now() - grant.issued_at >= Duration::seconds(shared.code_ttl_secs) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let access = random(24);
    shared.tokens.lock().insert(access.clone(), grant.user_id);
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 604800,
        "refresh_token": random(24),
        "scope": "identify",
    }))
    .into_response()
}

async fn me(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let user = token
        .and_then(|t| shared.tokens.lock().get(t).copied())
        .and_then(|id| shared.user(id));
    match user {
        Some(u) => Json(json!({
            "id": u.id.to_string(),
            "username": u.username,
            "global_name": u.global_name,
            "discriminator": "0",
            "avatar": null,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "401: Unauthorized", "code": 0 })),
        )
            .into_response(),
    }
}

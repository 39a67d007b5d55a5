//! The bot's web server (axum): linking pages, health, and (in HTTP mode) Discord interactions.
//!
//! Routes: `GET /link/start`, `GET /oauth/callback`, `GET /oauth/discord/callback`,
//! `POST /oauth/confirm`, `GET /healthz`, `GET /readyz`; everything else is 404. Invariants:
//! every response carries `Referrer-Policy: no-referrer`, `Cache-Control: no-store`, a CSP that
//! allows no third-party resource and no framing, and `X-Content-Type-Options: nosniff`, plus
//! `Strict-Transport-Security` when the public URL is https; the only redirects are to the
//! configured SOE site's `/oauth` and Discord's `/oauth2/authorize` (never to a URL taken from
//! the request); the linking steps after `/link/start` read the browser-binding cookie it sets
//! and nothing else from cookies; access logs record method, path and status, never query
//! strings, cookies or bodies.
//!
//! Slow or idle clients cannot take the server down ([`serve`]): a request head must arrive
//! within [`HEADER_READ_TIMEOUT`], a body within [`BODY_READ_TIMEOUT`], and a whole request is
//! answered within [`REQUEST_TIMEOUT`] (408 otherwise). Connections are capped below the
//! process's descriptor budget ([`ServeLimits`]); at the cap the connection that has waited
//! longest without a request in progress is closed to make room, so a slowloris holding
//! every slot cannot keep `/healthz` or Discord's `/interactions` from being answered.

pub mod pages;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use secrecy::ExposeSecret;
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::link::{AfterSite, CallbackParams, ConfirmView, LinkError, LinkService};

/// Largest request body accepted. Linking forms are tiny; Discord interaction payloads (a
/// message command carries the whole message with its embeds) stay well below this.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// How long a client may take to send a request line and headers. Browsers and Discord send
/// them in one packet; a slowloris never finishes them.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may take to arrive in full (forms and interactions are small).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest any request may take, answered 408 after. The slowest legitimate one is the
/// OAuth callback (a token exchange and a user lookup on the SOE site); if it is cut off,
/// nothing is stored and the member starts linking again.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `Strict-Transport-Security` when the public URL is https: one year, this host only.
pub const HSTS: &str = "max-age=31536000";

/// A readiness probe: what is not ready (store, Discord, shutdown) and notes. Async, since
/// reading the store is.
pub type ReadyCheck = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ReadyReport> + Send>>
        + Send
        + Sync,
>;

/// A [`ReadyCheck`] from a probe that needs nothing async (tests, the demo).
pub fn ready_check(probe: impl Fn() -> ReadyReport + Send + Sync + 'static) -> ReadyCheck {
    Arc::new(move || {
        let report = probe();
        Box::pin(async move { report })
    })
}

/// What `/readyz` answers: 200 when `not_ready` is empty, else 503; each line of both lists
/// in the body. Nothing in it may be secret: anyone who reaches the server can read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadyReport {
    /// Each part that is not ready, in words an operator can act on.
    pub not_ready: Vec<String>,
    /// Facts that do not make the bot unready (e.g. a command registration being retried).
    pub notes: Vec<String>,
}

impl ReadyReport {
    /// Ready, nothing to note.
    pub fn ready() -> Self {
        Self::default()
    }
}

/// What the routes need.
#[derive(Clone)]
pub struct WebState {
    /// The linking service.
    pub link: Arc<LinkService>,
    /// Readiness.
    pub ready: ReadyCheck,
    /// Extra routes (the `/interactions` endpoint in HTTP mode), merged in.
    pub extra: Option<Router>,
    /// Send `Strict-Transport-Security` on every response: true when members reach the bot
    /// over https (`WebConfig::hsts`); false on loopback http, where it means nothing.
    pub hsts: bool,
}

/// Builds the router.
pub fn router(state: WebState) -> Router {
    let extra = state.extra.clone();
    let hsts = state.hsts;
    let mut app = Router::new()
        .route("/link/start", get(link_start))
        .route("/oauth/callback", get(oauth_callback))
        .route("/oauth/discord/callback", get(discord_callback))
        .route("/oauth/confirm", post(oauth_confirm))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    // Later layers wrap earlier ones: the security headers go on every answer, the 408 and
    // 413 of the limits included.
    app.fallback(not_found)
        .layer(RequestBodyDeadlineLayer::new(BODY_READ_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response_with_state(
            hsts,
            security_headers,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    // Path only: the query of /link/start and /oauth/callback holds secrets.
                    // `id` ties together every line logged while serving this request.
                    tracing::info_span!(
                        "http",
                        id = next_request_id(),
                        method = %req.method(),
                        path = %req.uri().path()
                    )
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_ms = latency.as_millis() as u64,
                        "served"
                    );
                }),
        )
}

/// The most connections served at once, whatever the descriptor budget: far more than the
/// linking pages and Discord's interactions ever need at the same moment.
pub const MAX_CONNECTIONS_CEILING: usize = 1024;

/// The connection cap when the descriptor budget cannot be read (half of a common 1,024).
pub const FALLBACK_MAX_CONNECTIONS: usize = 512;

/// How long a shutdown waits for requests in progress before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The limits [`serve_with`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// Connections held at once. Half the descriptor budget at most: the other half is for
    /// the store, the SOE site and Discord, which an attacker must not be able to starve.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
}

impl ServeLimits {
    /// The limits for a process allowed `descriptors` open files (`None`: unknown).
    pub fn for_descriptor_budget(descriptors: Option<u64>) -> Self {
        let max_connections = descriptors
            .map(|d| usize::try_from(d / 2).unwrap_or(usize::MAX))
            .unwrap_or(FALLBACK_MAX_CONNECTIONS)
            .clamp(1, MAX_CONNECTIONS_CEILING);
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }

    /// The limits for this process's open-file limit (`RLIMIT_NOFILE`, soft).
    pub fn for_this_process() -> Self {
        Self::for_descriptor_budget(descriptor_budget())
    }
}

#[cfg(unix)]
fn descriptor_budget() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn descriptor_budget() -> Option<u64> {
    None
}

/// Serves `router` on `listener` until `shutdown` resolves, with [`ServeLimits`] sized for
/// this process.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeLimits::for_this_process(), shutdown).await
}

/// Serves `router` on `listener` with `limits` until `shutdown` resolves, then lets requests
/// in progress finish (up to `limits.shutdown_grace`).
///
/// HTTP/1.1 through hyper with a header-read timeout. Each connection holds a permit of a
/// semaphore sized `limits.max_connections`; when none is left, the connection that has been
/// idle longest (just accepted or between requests, never one with a request in progress) is
/// closed and the new one waits for its permit. If every connection is busy, it waits for one
/// to finish: requests are bounded by [`REQUEST_TIMEOUT`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let open = Arc::new(OpenConnections::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if open.evict_longest_idle() {
                    tracing::debug!(
                        max,
                        "connection limit reached; closed the longest-idle connection"
                    );
                } else {
                    tracing::warn!(
                        max,
                        "connection limit reached with every connection busy; a new one waits"
                    );
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let conn = open.register();
        let service = {
            let (router, conn, open) = (router.clone(), conn.clone(), open.clone());
            hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let busy = conn.begin_request(&open);
                let router = router.clone();
                async move {
                    let res = router.oneshot(req).await;
                    drop(busy);
                    res
                }
            })
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let (open, mut stop) = (open.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    // Dropping the connection closes the socket.
                    () = conn.evict.notified() => break,
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            open.remove(conn.id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = open.len(),
            "requests still in progress at shutdown were abandoned"
        );
    }
    Ok(())
}

/// What an accept error means: a client that gave up is nothing; anything else (out of
/// descriptors) is logged and retried after a pause, as axum does.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Marks a connection being evicted (in place of its request count).
const EVICTED: usize = usize::MAX;

/// The connections being served, so that the longest-idle one can be closed at the cap.
#[derive(Default)]
struct OpenConnections {
    /// The next connection id.
    next_id: AtomicU64,
    /// A logical clock, stamped on a connection each time it becomes idle.
    ticks: AtomicU64,
    /// Id → state, for the eviction scan (at most `max_connections` entries).
    by_id: Mutex<HashMap<u64, Arc<Connection>>>,
}

/// One connection's state.
struct Connection {
    /// Its key in [`OpenConnections::by_id`].
    id: u64,
    /// Requests in progress, or [`EVICTED`]. Only a connection at 0 may be evicted, so no
    /// request is ever cut off to make room.
    in_flight: AtomicUsize,
    /// The tick at which it last became idle; the lowest is evicted first.
    idle_since: AtomicU64,
    /// Wakes its task to close it.
    evict: Notify,
}

impl OpenConnections {
    fn register(&self) -> Arc<Connection> {
        let conn = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.ticks.fetch_add(1, Ordering::Relaxed)),
            evict: Notify::new(),
        });
        self.by_id.lock().insert(conn.id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.by_id.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.by_id.lock().len()
    }

    /// Closes the connection idle for longest; false when every connection is busy.
    fn evict_longest_idle(&self) -> bool {
        let by_id = self.by_id.lock();
        loop {
            let Some(victim) = by_id
                .values()
                .filter(|c| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|c| c.idle_since.load(Ordering::Relaxed))
            else {
                return false;
            };
            // A request may have started since the scan: then look again.
            if victim
                .in_flight
                .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                victim.evict.notify_one();
                return true;
            }
        }
    }
}

impl Connection {
    /// Counts a request in progress until the returned guard drops.
    fn begin_request(self: &Arc<Self>, open: &Arc<OpenConnections>) -> RequestInProgress {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != EVICTED).then(|| n + 1)
            });
        RequestInProgress {
            conn: self.clone(),
            open: open.clone(),
        }
    }
}

/// A request in progress on a connection; makes the connection idle again when dropped.
struct RequestInProgress {
    conn: Arc<Connection>,
    open: Arc<OpenConnections>,
}

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        let before = self
            .conn
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != EVICTED && n > 0).then(|| n - 1)
            });
        if before == Ok(1) {
            let tick = self.open.ticks.fetch_add(1, Ordering::Relaxed);
            self.conn.idle_since.store(tick, Ordering::Relaxed);
        }
    }
}

async fn security_headers(State(hsts): State<bool>, mut res: Response) -> Response {
    let h = res.headers_mut();
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

fn error_page(err: &LinkError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let title = match err {
        LinkError::Denied | LinkError::DiscordDenied => "Linking cancelled",
        LinkError::TicketExpired | LinkError::StateExpired | LinkError::ConfirmExpired => {
            "This link has expired"
        }
        LinkError::TicketInvalid | LinkError::StateInvalid | LinkError::ConfirmInvalid => {
            "This link is not valid or was already used"
        }
        LinkError::WrongBrowser => "This link was opened in another browser",
        LinkError::DiscordMismatch { .. } => "This link belongs to another Discord account",
        _ => "Linking failed",
    };
    (status, Html(pages::message(title, &err.advice()))).into_response()
}

/// The value of cookie `name` in the request's `Cookie` headers, if any.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The browser-binding cookie's value, if the request carries it.
fn binding(state: &WebState, headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, state.link.settings().cookie_name())
}

async fn link_start(
    State(state): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ticket = q.get("ticket").map(String::as_str).unwrap_or_default();
    match state.link.start(ticket).await {
        Ok(started) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, started.authorize.to_string()),
                (
                    header::SET_COOKIE,
                    state.link.settings().binding_cookie(&started.binding),
                ),
            ],
        )
            .into_response(),
        Err(e) => error_page(&e),
    }
}

fn callback_params(q: &HashMap<String, String>) -> CallbackParams {
    CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        error: q.get("error").cloned(),
    }
}

fn confirm_page(state: &WebState, view: &ConfirmView) -> Response {
    let expires = view
        .expires_at
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    let action = crate::config::join(&state.link.settings().public_url, "oauth/confirm");
    Html(pages::confirm(&pages::ConfirmPage {
        view,
        expires: expires.as_deref(),
        action: action.as_str(),
        form_token: view.form_token.expose_secret(),
    }))
    .into_response()
}

async fn oauth_callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let browser = binding(&state, &headers);
    match state
        .link
        .callback(callback_params(&q), browser.as_deref())
        .await
    {
        Ok(AfterSite::ProveDiscord(url)) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
        }
        Ok(AfterSite::Confirm(view)) => confirm_page(&state, &view),
        Err(e) => error_page(&e),
    }
}

async fn discord_callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let browser = binding(&state, &headers);
    match state
        .link
        .discord_callback(callback_params(&q), browser.as_deref())
        .await
    {
        Ok(view) => confirm_page(&state, &view),
        Err(e) => error_page(&e),
    }
}

async fn oauth_confirm(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let browser = binding(&state, &headers);
    let token = form
        .get("form_token")
        .map(String::as_str)
        .unwrap_or_default();
    let clear = state.link.settings().clear_binding_cookie();
    if form.get("action").map(String::as_str) == Some("cancel") {
        return match state.link.cancel(token, browser.as_deref()).await {
            Ok(()) => (
                [(header::SET_COOKIE, clear)],
                Html(pages::message(
                    "Linking cancelled",
                    "Nothing was linked. You can close this tab.",
                )),
            )
                .into_response(),
            Err(e) => error_page(&e),
        };
    }
    match state.link.confirm(token, browser.as_deref()).await {
        Ok(linked) => (
            [(header::SET_COOKIE, clear)],
            Html(pages::message(
                "Account linked",
                &format!(
                    "Your Discord account now posts on the site as {}. You can close this tab and go back to Discord; /so unlink undoes this.",
                    linked.soe_user_name
                ),
            )),
        )
            .into_response(),
        Err(e) => error_page(&e),
    }
}

/// A process-unique request number for the `http` span.
fn next_request_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

async fn readyz(State(state): State<WebState>) -> Response {
    let report = (state.ready)().await;
    let (status, mut body) = if report.not_ready.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string())
    };
    for line in report.not_ready.iter().chain(&report.notes) {
        body.push_str("- ");
        body.push_str(line);
        body.push('\n');
    }
    (status, body).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::message("Not found", "There is nothing here.")),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_is_half_the_descriptor_budget_within_bounds() {
        let cap = |d| ServeLimits::for_descriptor_budget(d).max_connections;
        assert_eq!(cap(Some(1024)), 512, "systemd's default soft limit");
        assert_eq!(cap(Some(1000)), 500);
        assert_eq!(cap(Some(1_048_576)), MAX_CONNECTIONS_CEILING);
        assert_eq!(cap(Some(u64::MAX)), MAX_CONNECTIONS_CEILING);
        assert_eq!(cap(Some(1)), 1);
        assert_eq!(cap(None), FALLBACK_MAX_CONNECTIONS);
    }

    #[test]
    fn the_longest_idle_connection_is_evicted_and_a_busy_one_never() {
        let open = Arc::new(OpenConnections::default());
        let a = open.register();
        let b = open.register();
        let c = open.register();
        // a is busy; b then c became idle (b earlier).
        let busy = a.begin_request(&open);
        assert!(open.evict_longest_idle());
        assert_eq!(b.in_flight.load(Ordering::SeqCst), EVICTED, "b idled first");
        // An evicted connection is not chosen again, and a request on it is not counted.
        drop(b.begin_request(&open));
        assert_eq!(b.in_flight.load(Ordering::SeqCst), EVICTED);
        assert!(open.evict_longest_idle());
        assert_eq!(c.in_flight.load(Ordering::SeqCst), EVICTED);
        assert!(!open.evict_longest_idle(), "only the busy one is left");
        assert_eq!(a.in_flight.load(Ordering::SeqCst), 1);
        // Once its request ends, a is idle and may go.
        drop(busy);
        assert!(open.evict_longest_idle());
        open.remove(a.id);
        open.remove(b.id);
        open.remove(c.id);
        assert_eq!(open.len(), 0);
    }

    #[test]
    fn a_connection_that_served_a_request_goes_to_the_back_of_the_idle_queue() {
        let open = Arc::new(OpenConnections::default());
        let a = open.register();
        let b = open.register();
        drop(a.begin_request(&open)); // a served a request after b was accepted
        assert!(open.evict_longest_idle());
        assert_eq!(b.in_flight.load(Ordering::SeqCst), EVICTED);
        assert_eq!(a.in_flight.load(Ordering::SeqCst), 0);
    }
}

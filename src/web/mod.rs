//! The bot's web server (axum): linking pages, health, and (in HTTP mode) Discord interactions.
//!
//! Routes: `GET /link/start`, `GET /oauth/callback`, `GET /oauth/discord/callback`,
//! `POST /oauth/confirm`, `GET /healthz`, `GET /readyz`; everything else is 404. Invariants:
//! every response carries `Referrer-Policy: no-referrer`, `Cache-Control: no-store`, a CSP that
//! allows no third-party resource and no framing, and `X-Content-Type-Options: nosniff`; the
//! only redirects are to the configured SOE site's `/oauth` and Discord's `/oauth2/authorize`
//! (never to a URL taken from the request); the linking steps after `/link/start` read the
//! browser-binding cookie it sets and nothing else from cookies; access logs record method,
//! path and status, never query strings, cookies or bodies.

pub mod pages;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use secrecy::ExposeSecret;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::link::{AfterSite, CallbackParams, ConfirmView, LinkError, LinkService};

/// Largest request body accepted. Linking forms are tiny; Discord interaction payloads (a
/// message command carries the whole message with its embeds) stay well below this.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// A readiness probe: true when the bot can serve (store open, Discord connected).
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// What the routes need.
#[derive(Clone)]
pub struct WebState {
    /// The linking service.
    pub link: Arc<LinkService>,
    /// Readiness.
    pub ready: ReadyCheck,
    /// Extra routes (the `/interactions` endpoint in HTTP mode), merged in.
    pub extra: Option<Router>,
}

/// Builds the router.
pub fn router(state: WebState) -> Router {
    let extra = state.extra.clone();
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
    app.fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    // Path only: the query of /link/start and /oauth/callback holds secrets.
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
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

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
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

/// The browser-binding cookie's value, if the request carries it.
fn binding(state: &WebState, headers: &HeaderMap) -> Option<String> {
    let name = state.link.settings().cookie_name();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

async fn link_start(
    State(state): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ticket = q.get("ticket").map(String::as_str).unwrap_or_default();
    match state.link.start(ticket) {
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
        return match state.link.cancel(token, browser.as_deref()) {
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
    match state.link.confirm(token, browser.as_deref()) {
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

async fn readyz(State(state): State<WebState>) -> Response {
    if (state.ready)() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::message("Not found", "There is nothing here.")),
    )
        .into_response()
}

//! The REST side: building serenity's [`Http`] from the config, and calling it with retries
//! and log-safe error descriptions.
//!
//! `discord.api_base` other than `https://discord.com` routes every call through that base
//! (tests point it at a fake on `127.0.0.1`). serenity's `HttpBuilder::proxy` rewrites the
//! `https://discord.com` prefix of each URL to the base (`http/request.rs`), **but only when
//! its ratelimiter is disabled**: `Ratelimiter::perform` builds requests with no proxy
//! (`ratelimiting.rs`, serenity issue #1739), so with the ratelimiter on, a proxied client
//! silently talks to the real Discord. Hence: the real base keeps serenity's ratelimiter
//! (per-route buckets, 429s slept and retried inside serenity); another base disables it and
//! [`call`] handles 429s itself with a bounded backoff. Every client has timeouts (serenity's
//! default client has none, and a hung edit would hold a task forever).
//!
//! Invariants: errors are described without URLs (an interaction URL holds its token) and
//! without `Debug` (serenity's request types print tokens); a non-idempotent call (a new
//! message, an interaction callback) is retried only when Discord certainly did not act on it
//! (429, refused connection).

use std::future::Future;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serenity::all::ApplicationId;
use serenity::http::{Http, HttpBuilder, HttpError};
use url::Url;

use super::DiscordError;
use crate::config::DiscordConfig;

/// Discord's own REST origin.
pub const DISCORD_BASE: &str = "https://discord.com";
/// Connect timeout for REST calls.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout for REST calls.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call (first try included).
const ATTEMPTS: u32 = 3;

/// Whether repeating a call is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotent {
    /// PUT, PATCH, DELETE, GET: retried after 5xx, timeouts and refused connections too.
    Yes,
    /// POST: retried only after a 429 or a refused connection.
    No,
}

/// True when `base` is Discord itself (`https://discord.com`, any trailing slash).
pub fn is_discord(base: &Url) -> bool {
    base.as_str().trim_end_matches('/') == DISCORD_BASE
}

/// serenity's REST client for `token` and `application_id` through `api_base` (see the
/// module docs for why a non-Discord base runs without serenity's ratelimiter).
pub fn build_http(token: &str, application_id: u64, api_base: &Url) -> Result<Http, DiscordError> {
    let app = NonZeroU64::new(application_id)
        .map(ApplicationId::from)
        .ok_or_else(|| DiscordError::Config("discord.application_id must not be 0".into()))?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| {
            DiscordError::Config(format!("could not build the Discord HTTP client: {e}"))
        })?;
    let mut builder = HttpBuilder::new(token).client(client).application_id(app);
    if is_discord(api_base) {
        builder = builder.ratelimiter_disabled(false);
    } else {
        let base = api_base.as_str().trim_end_matches('/').to_string();
        builder = builder.proxy(base).ratelimiter_disabled(true);
    }
    Ok(builder.build())
}

/// [`build_http`] from `discord.*`, shared.
pub fn http_client(config: &DiscordConfig) -> Result<Arc<Http>, DiscordError> {
    build_http(
        config.token.expose_secret(),
        config.application_id,
        &config.api_base,
    )
    .map(Arc::new)
}

/// The HTTP status of a failed call, if Discord answered.
pub fn status(e: &serenity::Error) -> Option<u16> {
    match e {
        serenity::Error::Http(h) => h.status_code().map(|s| s.as_u16()),
        _ => None,
    }
}

/// A log-safe description: status, Discord's error code and message, or the transport
/// failure's kind. Never the URL.
pub fn describe(e: &serenity::Error) -> String {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => format!(
            "Discord answered {} (code {}): {}",
            r.status_code.as_u16(),
            r.error.code,
            e
        ),
        serenity::Error::Http(HttpError::Request(r)) => {
            let kind = if r.is_timeout() {
                "timed out"
            } else if r.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            format!("the request to Discord {kind}")
        }
        // Other variants can carry a request URL (an interaction's webhook URL holds its
        // token), so only their kind is described.
        serenity::Error::Json(j) => format!(
            "Discord's answer was not understood ({:?} at line {})",
            j.classify(),
            j.line()
        ),
        serenity::Error::Http(_) => "Discord call failed in the HTTP layer".to_string(),
        serenity::Error::Gateway(g) => describe_gateway(g),
        serenity::Error::Model(m) => format!("Discord call refused before sending: {m}"),
        _ => "Discord call failed".to_string(),
    }
}

/// A gateway failure in words an operator can act on. The closes that end the client for good
/// (a rejected token, refused intents) say what is wrong and what to do; the rest name their
/// kind (serenity's `Display` of these variants holds no token or URL).
pub fn describe_gateway(g: &serenity::gateway::GatewayError) -> String {
    use serenity::gateway::GatewayError as G;
    match g {
        G::InvalidAuthentication => "Discord rejected the bot token (gateway close 4004). The token in discord.token (or discord.token_file) is wrong or was reset: copy a new one from the Developer Portal (your application → Bot → Reset Token), put it in place and start the bot again".to_string(),
        G::InvalidGatewayIntents => "Discord refused the gateway intents this bot asked for (gateway close 4013). This build asks only for GUILDS; if you changed the intents, undo that, and check that discord.application_id and discord.token belong to the same application".to_string(),
        G::DisallowedGatewayIntents => "Discord refused a privileged gateway intent (gateway close 4014). Turn it on in the Developer Portal (your application → Bot → Privileged Gateway Intents) or stop asking for it, then start the bot again".to_string(),
        other => format!("the Discord gateway failed: {other}"),
    }
}

fn refused(e: &serenity::Error) -> bool {
    matches!(e, serenity::Error::Http(HttpError::Request(r)) if r.is_connect())
}

fn transient(e: &serenity::Error) -> bool {
    match e {
        serenity::Error::Http(HttpError::Request(r)) => r.is_timeout() || r.is_connect(),
        _ => matches!(status(e), Some(500..=599)),
    }
}

/// Runs `f` (one REST call) up to three times: again after a 429 (whatever the call; Discord
/// did not act), and for idempotent calls after a 5xx, a timeout or a refused connection.
/// Waits 1 s, then 2 s.
pub async fn call<T, F, Fut>(
    idempotent: Idempotent,
    what: &'static str,
    f: F,
) -> serenity::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = serenity::Result<T>>,
{
    call_with(idempotent, what, false, f).await
}

/// [`call`], also retrying a 404 (for an edit racing the HTTP-mode defer that Discord has
/// not processed yet).
pub async fn call_with<T, F, Fut>(
    idempotent: Idempotent,
    what: &'static str,
    retry_not_found: bool,
    mut f: F,
) -> serenity::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = serenity::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let again = status(&e) == Some(429)
                    || refused(&e)
                    || (idempotent == Idempotent::Yes && transient(&e))
                    || (retry_not_found && status(&e) == Some(404));
                if !again || attempt >= ATTEMPTS {
                    return Err(e);
                }
                let wait = Duration::from_secs(u64::from(attempt));
                tracing::info!(call = what, attempt, error = %describe(&e), wait_ms = wait.as_millis() as u64, "Discord call failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity::gateway::GatewayError;

    #[test]
    fn closes_that_end_the_gateway_say_what_is_wrong_and_what_to_do() {
        for (error, code, todo) in [
            (GatewayError::InvalidAuthentication, "4004", "Reset Token"),
            (GatewayError::InvalidGatewayIntents, "4013", "GUILDS"),
            (
                GatewayError::DisallowedGatewayIntents,
                "4014",
                "Privileged Gateway Intents",
            ),
        ] {
            let text = describe(&serenity::Error::Gateway(error));
            assert!(text.contains(code), "{text}");
            assert!(text.contains(todo), "{text}");
            assert!(!text.contains("Discord call failed"), "{text}");
        }
    }
}

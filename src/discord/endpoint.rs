//! HTTP interactions mode: Discord POSTs signed interactions to `/interactions`.
//!
//! Order, per Discord's rules and serenity's example: read the raw body; verify the Ed25519
//! signature over `X-Signature-Timestamp ‖ body` with the application's public key
//! ([`Verifier`]); check that the timestamp is within five minutes of now (serenity does not;
//! this blocks replays); only then parse. Anything unsigned, mis-signed or stale is 401, PING
//! included. A PING is answered `{"type":1}`; every other interaction goes through the same
//! [`Flow`] as the gateway: an immediate reply is the HTTP body, a deferred one answers with
//! the defer and finishes later through the REST API.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serenity::all::Interaction;
use serenity::http::Http;
use serenity::interactions_endpoint::Verifier;

use super::members::RestMembers;
use super::respond::{Flow, Start};
use super::DiscordError;
use crate::app::App;
use crate::clock::SharedClock;

/// Header with the hex Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// Header with the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Largest accepted difference between the signed timestamp and now.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Clone)]
struct Endpoint {
    flow: Flow,
    verifier: Verifier,
    clock: SharedClock,
}

/// Parses a 64-digit hex Ed25519 public key into a [`Verifier`] (never the panicking
/// constructor).
pub fn verifier(public_key_hex: &str) -> Result<Verifier, DiscordError> {
    let raw = hex::decode(public_key_hex.trim()).map_err(|_| DiscordError::PublicKey)?;
    let bytes: [u8; 32] = raw.try_into().map_err(|_| DiscordError::PublicKey)?;
    Verifier::try_new(bytes).map_err(|_| DiscordError::PublicKey)
}

/// The `POST /interactions` route, to merge into the web server (`WebState.extra`).
/// `http` makes the deferred edits and, as the app's member directory, the DM gate's
/// membership look-ups; `clock` judges timestamp freshness.
pub fn interactions_router(
    app: Arc<App>,
    public_key_hex: &str,
    http: Arc<Http>,
    clock: SharedClock,
) -> Result<Router, DiscordError> {
    let verifier = verifier(public_key_hex)?;
    app.commands
        .access()
        .use_directory(Arc::new(RestMembers::new(http.clone())));
    let state = Endpoint {
        flow: Flow { app, http },
        verifier,
        clock,
    };
    Ok(Router::new()
        .route("/interactions", post(interactions))
        .with_state(state))
}

/// Why a request was refused (all answered 401; the reason is logged only).
type Refusal = &'static str;

/// Verifies the request.
fn verify(ep: &Endpoint, headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER))
    else {
        return Err("missing signature headers");
    };
    if ep.verifier.verify(signature, timestamp, body).is_err() {
        return Err("bad signature");
    }
    let Ok(ts) = timestamp.parse::<i64>() else {
        return Err("malformed timestamp");
    };
    let now = ep.clock.now().timestamp();
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err("stale or future timestamp");
    }
    Ok(())
}

async fn interactions(State(ep): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reason) = verify(&ep, &headers, &body) {
        tracing::info!(reason, "interaction request refused");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            // Signed by Discord but not understood (a newer interaction shape). Only the
            // position is logged: serde's message can quote a value, and the body holds a token.
            tracing::warn!(category = ?e.classify(), line = e.line(), column = e.column(), "signed interaction could not be parsed");
            return (StatusCode::BAD_REQUEST, "unsupported interaction").into_response();
        }
    };
    if let Interaction::Ping(_) = interaction {
        return Json(serde_json::json!({ "type": 1 })).into_response();
    }
    match ep.flow.start(&interaction, true).await {
        Start::Reply(response) => Json(response).into_response(),
        Start::Deferred(defer, pending) => {
            tokio::spawn(pending.finish());
            Json(defer).into_response()
        }
    }
}

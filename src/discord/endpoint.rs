//! HTTP interactions mode: Discord POSTs signed interactions to `/interactions`.
//!
//! Order, per Discord's rules and serenity's example: read the raw body; verify the Ed25519
//! signature over `X-Signature-Timestamp ‖ body` with the application's public key
//! ([`Verifier`]); check that the timestamp is within five minutes of now (serenity does not);
//! only then parse. Anything unsigned, mis-signed or stale is 401, PING included. Within those
//! five minutes a captured request would still verify, so the ids of verified interactions are
//! remembered until their timestamp goes stale ([`SeenInteractions`], bounded) and a repeat is
//! refused with 409 before anything runs. A PING is answered `{"type":1}`; every other
//! interaction goes through the same [`Flow`] as the gateway: an immediate reply is the HTTP
//! body, a deferred one answers with the defer and finishes later through the REST API.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parking_lot::Mutex;
use serenity::all::Interaction;
use serenity::http::Http;
use serenity::interactions_endpoint::Verifier;
use tracing::Instrument;

use super::members::RestMembers;
use super::respond::{interaction_span, Flow, Start};
use super::DiscordError;
use crate::app::App;
use crate::clock::SharedClock;

/// Header with the hex Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// Header with the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Largest accepted difference between the signed timestamp and now.
pub const MAX_SKEW_SECS: i64 = 300;

/// How many interaction ids [`SeenInteractions`] holds at most. Only requests signed by
/// Discord are recorded, so only real traffic fills it: this is 83 interactions a second
/// sustained over the ten minutes an id can stay fresh, far beyond what one organisation sends.
pub const MAX_REMEMBERED_INTERACTIONS: usize = 50_000;

#[derive(Clone)]
struct Endpoint {
    flow: Flow,
    verifier: Verifier,
    clock: SharedClock,
    /// Ids already handled, so a replay of a captured, still-fresh request does nothing.
    seen: Arc<SeenInteractions>,
}

/// The ids of verified interactions whose signed timestamp is still fresh (a request older
/// than [`MAX_SKEW_SECS`] is refused as stale anyway, so an id is forgotten then).
///
/// Bounded: at [`MAX_REMEMBERED_INTERACTIONS`] the earliest recorded id is forgotten first
/// (logged), so memory stays flat even under a flood of genuine interactions.
#[derive(Debug)]
pub struct SeenInteractions {
    /// The most ids kept.
    capacity: usize,
    inner: Mutex<SeenInner>,
}

#[derive(Debug, Default)]
struct SeenInner {
    /// The ids, for lookups.
    ids: HashSet<u64>,
    /// `(stale_after, id)` in the order they arrived (timestamps are close to arrival time,
    /// so this is nearly sorted; an id is at worst kept a little longer than needed).
    by_arrival: VecDeque<(i64, u64)>,
}

impl SeenInteractions {
    /// An empty set holding at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(SeenInner::default()),
        }
    }

    /// Records interaction `id`, signed at `signed_at` (Unix seconds); false if it was already
    /// recorded and is still fresh at `now`.
    pub fn first_time(&self, id: u64, signed_at: i64, now: i64) -> bool {
        let mut inner = self.inner.lock();
        while let Some(&(stale_after, old)) = inner.by_arrival.front() {
            if stale_after >= now {
                break;
            }
            inner.by_arrival.pop_front();
            inner.ids.remove(&old);
        }
        if inner.ids.contains(&id) {
            return false;
        }
        if inner.ids.len() >= self.capacity {
            if let Some((_, old)) = inner.by_arrival.pop_front() {
                inner.ids.remove(&old);
                tracing::warn!(
                    capacity = self.capacity,
                    "too many interactions in the replay window; forgot the earliest id"
                );
            }
        }
        inner.ids.insert(id);
        inner
            .by_arrival
            .push_back((signed_at.saturating_add(MAX_SKEW_SECS), id));
        true
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.inner.lock().ids.len()
    }

    /// True when no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
    app.commands
        .use_server(Arc::new(super::server::RestServer::new(http.clone())));
    app.commands
        .use_channel_directory(Arc::new(super::cards::DiscordCards::new(http.clone())));
    let state = Endpoint {
        flow: Flow { app, http },
        verifier,
        clock,
        seen: Arc::new(SeenInteractions::new(MAX_REMEMBERED_INTERACTIONS)),
    };
    Ok(Router::new()
        .route("/interactions", post(interactions))
        .with_state(state))
}

/// Why a request was refused (all answered 401; the reason is logged only).
type Refusal = &'static str;

/// Verifies the request; returns the signed timestamp.
fn verify(ep: &Endpoint, headers: &HeaderMap, body: &[u8]) -> Result<i64, Refusal> {
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
    Ok(ts)
}

async fn interactions(State(ep): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = std::time::Instant::now();
    let signed_at = match verify(&ep, &headers, &body) {
        Ok(ts) => ts,
        Err(reason) => {
            tracing::info!(reason, "interaction request refused");
            return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
        }
    };
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            // Signed by Discord but not understood (a newer interaction shape). Only the
            // position is logged: serde's message can quote a value, and the body holds a token.
            tracing::warn!(category = ?e.classify(), line = e.line(), column = e.column(), "signed interaction could not be parsed");
            return (StatusCode::BAD_REQUEST, "unsupported interaction").into_response();
        }
    };
    let id = interaction.id().get();
    if !ep
        .seen
        .first_time(id, signed_at, ep.clock.now().timestamp())
    {
        tracing::warn!(interaction = id, "a replayed interaction was refused");
        return (StatusCode::CONFLICT, "interaction already received").into_response();
    }
    if let Interaction::Ping(_) = interaction {
        return Json(serde_json::json!({ "type": 1 })).into_response();
    }
    let in_flight = ep.flow.app.in_flight.clone();
    if in_flight.is_closed() {
        // Shutting down: take no new work (Discord tells the member it failed; nothing was
        // stored, so nothing is lost).
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let _working = in_flight.token();
    let span = interaction_span(id);
    let response = match ep
        .flow
        .start(&interaction, true)
        .instrument(span.clone())
        .await
    {
        Start::Reply(response) => Json(response).into_response(),
        Start::Deferred(defer, pending) => {
            in_flight.spawn(pending.finish().instrument(span));
            Json(defer).into_response()
        }
    };
    crate::telemetry::record_ack("http", arrived);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_refused_until_its_timestamp_goes_stale() {
        let seen = SeenInteractions::new(10);
        assert!(seen.first_time(1, 1_000, 1_000));
        assert!(!seen.first_time(1, 1_000, 1_000 + MAX_SKEW_SECS));
        assert!(seen.first_time(2, 1_100, 1_100));
        // Once stale, the endpoint refuses the request before asking; the id is forgotten.
        assert!(seen.first_time(3, 1_400, 1_000 + MAX_SKEW_SECS + 1));
        assert_eq!(seen.len(), 2, "id 1 was forgotten, 2 and 3 are held");
    }

    #[test]
    fn memory_is_bounded_and_the_earliest_id_goes_first() {
        let seen = SeenInteractions::new(100);
        for id in 0..1_000u64 {
            assert!(seen.first_time(id, 5_000, 5_000));
            assert!(seen.len() <= 100);
        }
        assert_eq!(seen.len(), 100);
        assert!(!seen.first_time(999, 5_000, 5_000), "recent ids are held");
        assert!(
            seen.first_time(0, 5_000, 5_000),
            "the earliest were forgotten"
        );
    }
}

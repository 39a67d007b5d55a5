//! Metrics: what the bot counts and measures, and `/metrics` in Prometheus' text format.
//!
//! The code that does the work records through the `metrics` facade with the names below;
//! [`install`] puts a Prometheus recorder behind it once per process (`run` and `demo` do;
//! without it every record is a no-op, as in unit tests), and [`router`] serves what it holds.
//!
//! Series (every label value comes from a fixed, small set: no label ever carries a user id,
//! a guild or channel id, a search query, a title or any other text a member typed):
//! - [`COMMANDS`] `{command, outcome}`: use cases run, by command (`so search`, `button`,
//!   `modal answer`, …) and outcome (`served`, `refused`);
//! - [`ACK_SECONDS`] `{transport}`: from an interaction's arrival to its first response;
//! - [`SOE_REQUESTS`] `{endpoint, status, token}` and [`SOE_SECONDS`] `{endpoint, token}`: SOE
//!   API calls by route template (ids replaced by `{id}`), HTTP status (or `timeout`,
//!   `transport`), and token kind (`service`, `member`);
//! - [`SOE_CALLS_LEFT`] `{token, limiter}`: the throttle headroom SOE reported last;
//! - [`BUDGET_USED`] `{window}` and [`BUDGET_REFUSALS`] `{who}`: the share of the global
//!   service-token budget in use, and the calls it refused;
//! - [`CACHE_LOOKUPS`] `{cache, result}`: cache hits and misses (the hit rate is
//!   `hit / (hit + miss)`);
//! - [`LINKED_MEMBERS`] and [`DRAFTS_WAITING`]: counted from the store every minute;
//! - [`PERSONAL_ALERTS`] `{kind, outcome}`: personal DMs (`answer`, `questions`, `expert`) by
//!   outcome (`queued`, `sent`, `failed`, `unlinked`, `left`, `over_cap`);
//! - [`PERSONAL_WAITING`]: personal DMs waiting in their outbox, after each delivery round;
//! - [`ALERT_MEMBERS`] `{kind}`: members with alerts (`alerts`) or expert routing (`experts`)
//!   on, counted from the store every minute;
//! - [`NOTIFY_LAG`] `{target}` and [`NOTIFY_LAST_SUCCESS`] `{target}`: how far behind the site
//!   each subscription poll loop runs, and when its last poll succeeded, set after each poll
//!   and every minute; `target` is `site` or a team's slug ([`notify_target`]);
//! - [`NOTIFY_OUTBOX`]: channel cards waiting in their outbox, after each delivery round and
//!   every minute.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Use cases run: `command`, `outcome`.
pub const COMMANDS: &str = "soe_bot_commands_total";
/// Seconds from an interaction's arrival to its first response: `transport`.
pub const ACK_SECONDS: &str = "soe_bot_interaction_ack_seconds";
/// SOE API calls: `endpoint`, `status`, `token`.
pub const SOE_REQUESTS: &str = "soe_bot_soe_requests_total";
/// SOE API call latency in seconds: `endpoint`, `token`.
pub const SOE_SECONDS: &str = "soe_bot_soe_request_seconds";
/// Calls left in SOE's throttle as last reported: `token`, `limiter` (`burst`, `bucket`).
pub const SOE_CALLS_LEFT: &str = "soe_bot_soe_throttle_calls_left";
/// Fraction (0–1) of the global service-token budget in use: `window` (`burst`, `minute`).
pub const BUDGET_USED: &str = "soe_bot_service_budget_used_ratio";
/// Calls the service budget refused: `who` (`member`: a member's share; `service`: the
/// global budget).
pub const BUDGET_REFUSALS: &str = "soe_bot_service_budget_refusals_total";
/// Cache lookups: `cache` (`search`, `question`), `result` (`hit`, `miss`).
pub const CACHE_LOOKUPS: &str = "soe_bot_cache_lookups_total";
/// Discord members with a stored link.
pub const LINKED_MEMBERS: &str = "soe_bot_linked_members";
/// Drafts stored and not yet posted.
pub const DRAFTS_WAITING: &str = "soe_bot_drafts_waiting";
/// Personal DMs: `kind` (`answer`, `questions`, `expert`), `outcome` (`queued`, `sent`,
/// `failed`, `unlinked`, `left`, `over_cap`).
pub const PERSONAL_ALERTS: &str = "soe_bot_personal_alerts_total";
/// Personal DMs waiting in their outbox.
pub const PERSONAL_WAITING: &str = "soe_bot_personal_alerts_waiting";
/// Members with personal alerts on: `kind` (`alerts`, `experts`).
pub const ALERT_MEMBERS: &str = "soe_bot_alert_members";
/// Seconds between the newest activity a subscription poll carded and the poll (how far
/// behind the site the poller runs): `target`.
pub const NOTIFY_LAG: &str = "soe_bot_notify_poll_lag_seconds";
/// Unix time of a subscription poll loop's last successful poll (alert on
/// `time() - this` to catch a stalled loop, which the lag alone cannot show): `target`.
pub const NOTIFY_LAST_SUCCESS: &str = "soe_bot_notify_last_success_timestamp_seconds";
/// Channel cards waiting in the subscription outbox.
pub const NOTIFY_OUTBOX: &str = "soe_bot_notify_outbox_depth";

/// The `target` label of a poll loop from its store key (`main` or `team:<slug>`): `site` for
/// the main site, the slug for a team. Slugs come from the teams an admin bound and the
/// service token can read, a small fixed set; anything else becomes `other`.
pub fn notify_target(key: &str) -> String {
    match crate::notify::model::Target::from_key(key) {
        Some(crate::notify::model::Target(None)) => "site".into(),
        Some(crate::notify::model::Target(Some(team))) => team.as_str().to_string(),
        None => "other".into(),
    }
}

/// Sets [`NOTIFY_LAG`] and [`NOTIFY_LAST_SUCCESS`] for the poll loop `key` from its state
/// (each only once it has a value).
pub fn record_notify_target(key: &str, state: &crate::notify::model::TargetState) {
    let target = notify_target(key);
    if let Some(lag) = state.lag_secs {
        metrics::gauge!(NOTIFY_LAG, "target" => target.clone()).set(lag as f64);
    }
    if let Some(at) = state.last_success_at {
        metrics::gauge!(NOTIFY_LAST_SUCCESS, "target" => target).set(at.timestamp() as f64);
    }
}

/// Latency buckets (seconds) for the histograms: Discord's 3 s deadline and SOE's usual
/// answers sit well inside them.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
/// `None` if another recorder was installed first, which is logged.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: the recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

/// `GET /metrics`: the Prometheus text exposition of everything recorded.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    )
}

/// The fixed segments of the SOE routes the client calls; any other segment that is not an id
/// becomes `{other}`, so no text can reach a label.
const ROUTE_WORDS: [&str; 12] = [
    "subject-matter-experts",
    "watched-tags",
    "questions",
    "answers",
    "comments",
    "tags",
    "users",
    "me",
    "search",
    "upvote",
    "downvote",
    "accept",
];

/// Records the time from an interaction's arrival to its first response ([`ACK_SECONDS`]),
/// by transport (`gateway`, `http`, `console`).
pub fn record_ack(transport: &'static str, arrived: std::time::Instant) {
    metrics::histogram!(ACK_SECONDS, "transport" => transport)
        .record(arrived.elapsed().as_secs_f64());
}

/// An SOE API path as a route template: every segment that is a number (an id) or a list of
/// numbers (`1;2;3`) becomes `{id}`, any other unknown segment `{other}`; the query string is
/// dropped. `/questions/42/answers` → `/questions/{id}/answers`.
pub fn endpoint_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let is_id = !seg.is_empty()
            && seg
                .split(';')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        out.push_str(if is_id {
            "{id}"
        } else if seg.is_empty() || ROUTE_WORDS.contains(&seg) {
            seg
        } else {
            "{other}"
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_placeholders_and_queries_go() {
        assert_eq!(
            endpoint_template("/questions/42/answers"),
            "/questions/{id}/answers"
        );
        assert_eq!(endpoint_template("/questions/1;2;3"), "/questions/{id}");
        assert_eq!(endpoint_template("/search?q=secret"), "/search");
        assert_eq!(endpoint_template("/users/me"), "/users/me");
        assert_eq!(endpoint_template("/tags/some text"), "/tags/{other}");
        assert_eq!(
            endpoint_template("/answers/7/upvote"),
            "/answers/{id}/upvote"
        );
    }

    #[test]
    fn a_poll_loop_is_labelled_by_site_or_team_slug_only() {
        assert_eq!(notify_target("main"), "site");
        assert_eq!(notify_target("team:platform-eng"), "platform-eng");
        assert_eq!(notify_target("team:Not A Slug!"), "other");
        assert_eq!(notify_target("anything else"), "other");
    }
}

//! soe-bot: a Discord bot for a Stack Overflow Enterprise (SOE) site.
//!
//! Members search, ask, answer, vote and accept from Discord; every write is made with the
//! member's own SOE token, obtained through a per-member OAuth 2.0 + PKCE link, so posts are
//! credited to the person who wrote them. Reads use one read-only service token.
//!
//! # Layout
//!
//! Data flows one way: a transport adapter turns a Discord interaction into an `Invocation`,
//! a use case in `commands` turns that into a `Reply`, and the adapter renders the reply.
//!
//! - [`app`]: the shared dependencies handed to the transports, and the background tasks.
//! - [`clock`]: injected wall-clock time ([`clock::SystemClock`], [`clock::FixedClock`]).
//! - [`config`]: `bot.toml` + `SOE_BOT_*` overrides, validated once at startup.
//! - [`soe`]: the SOE API v3 client: models, errors by meaning, text decoding, throttling,
//!   and the credential types that make the service token read-only at compile time.
//! - [`fake_soe`]: a faithful SOE site on loopback (OAuth + PKCE + the API subset) for tests and
//!   `demo`.
//! - [`fake_discord`]: a fake of Discord's OAuth2 (authorize, token, `/users/@me`) on loopback,
//!   so tests and `demo` can prove a Discord identity while linking.
//! - [`store`]: durable state behind the [`store::Store`] trait: [`store::SledStore`]
//!   (embedded, one process) or [`store::PgStore`] (PostgreSQL, shared by replicas), holding the
//!   same records, with tokens, verifiers and drafts sealed with XChaCha20-Poly1305.
//! - [`leader`]: which replica runs the once-only work (the notification poller; the gateway).
//! - [`link`]: per-member OAuth 2.0 + PKCE linking, bound to one browser by a cookie, with the
//!   Discord account proven in that browser (Discord OAuth2 `identify`) and an explicit
//!   confirmation before anything is stored.
//! - `control` (Unix): the running bot's control socket, through which `soe-bot backup` and
//!   `soe-bot rotate-key` reach a store the bot holds open.
//! - [`lifecycle`]: what `/readyz` reports, and the bound on finishing work at shutdown.
//! - [`maintenance`]: `soe-bot backup`, `restore`, `rotate-key` and `migrate-store`.
//! - [`run`]: the production wiring behind `soe-bot run`.
//! - [`telemetry`]: the metrics series and `/metrics`.
//! - [`web`]: the axum server: linking pages, health, and Discord's interactions endpoint.
//! - [`console`]: the console transport of `soe-bot demo`.
//! - [`commands`]: the use cases, transport-independent: `Invocation` in, `Reply` out, in the
//!   invocation's language (a Fluent catalogue, English and German).
//! - [`notify`]: subscriptions and notifications: rules and their matching, the poller (one
//!   loop per SOE target, O(1) SOE calls per interval), the outbox that sends each card once.
//!   Personal alerts (answers to your question, new questions in your tags, expert routing)
//!   come from the same polls, matched locally, and go out as DMs through their own outbox.
//! - [`discord`]: the serenity adapter: gateway and HTTP interactions, conversions, registration.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console;
#[cfg(unix)]
pub mod control;
pub mod discord;
pub mod fake_discord;
pub mod fake_soe;
pub mod leader;
pub mod lifecycle;
pub mod link;
pub mod maintenance;
pub mod notify;
pub mod run;
pub mod soe;
pub mod store;
pub mod telemetry;
pub mod web;

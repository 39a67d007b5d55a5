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
//! - [`clock`]: injected wall-clock time ([`clock::SystemClock`], [`clock::FixedClock`]).
//! - [`config`]: `bot.toml` + `SOE_BOT_*` overrides, validated once at startup.
//! - [`soe`]: the SOE API v3 client: models, errors by meaning, text decoding, throttling,
//!   and the credential types that make the service token read-only at compile time.
//! - [`fake_soe`]: a faithful SOE site on loopback (OAuth + PKCE + the API subset) for tests and
//!   `demo`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod clock;
pub mod config;
pub mod fake_soe;
pub mod soe;

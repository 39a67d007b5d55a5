//! The Discord adapter (serenity 0.12.5, raw: no framework): interactions in, replies out.
//!
//! - [`convert`]: pure conversions, interaction → [`crate::commands::Invocation`] and
//!   [`crate::commands::Reply`] → interaction response / edit / follow-up / DM.
//! - [`registration`]: the command definitions and their bulk registration.
//! - [`respond`]: the flow both transports share (ack, defer, run, deliver, time limits).
//! - [`gateway`]: gateway mode (the default).
//! - [`endpoint`]: HTTP interactions mode (`POST /interactions`, Ed25519-verified).
//! - [`notify`]: background notices as DMs.
//! - [`cards`]: notification cards into channels (the outbox's transport), channel look-ups.
//! - [`members`]: guild membership for the DM gate, and leaving guilds that are not allowed.
//! - [`server`]: the use cases' view of a guild: a channel's guild, the bot's permissions in
//!   a channel, posting audit entries and test cards.
//! - [`rest`]: serenity's REST client from the config (`discord.api_base`), retries, log-safe
//!   errors.
//!
//! Invariants: the first response to an interaction never waits on SOE (deferring acks are sent
//! before the use case runs); no reply can mention anyone; an interaction (it holds a token)
//! is never logged, only its id; a Discord failure is logged and never panics or loses what a
//! member typed (the use cases store drafts themselves).

pub mod cards;
pub mod convert;
pub mod endpoint;
pub mod gateway;
pub mod members;
pub mod notify;
pub mod registration;
pub mod respond;
pub mod rest;
pub mod server;

pub use convert::invocation_from;
pub use endpoint::interactions_router;
pub use gateway::{run_gateway, run_gateway_leading};
pub use notify::DiscordNotifier;
pub use registration::{command_definitions, register, register_commands, Registration};
pub use rest::http_client;

/// What can go wrong in the adapter, each with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// `discord.public_key` is not a valid Ed25519 key.
    #[error("discord.public_key is not a 64-digit hex Ed25519 public key; copy it from the Developer Portal (General Information → Public Key)")]
    PublicKey,
    /// A configuration value the adapter cannot use.
    #[error("{0}")]
    Config(String),
    /// A REST call failed (described without URLs or tokens).
    #[error("{0}")]
    Api(String),
    /// The gateway client failed.
    #[error("Discord gateway: {0}")]
    Gateway(String),
}

impl From<DiscordError> for String {
    fn from(e: DiscordError) -> String {
        e.to_string()
    }
}

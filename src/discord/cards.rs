//! [`DiscordCards`]: the notification outbox's transport ([`CardSink`]) and the channel look-up
//! of the subscription commands ([`ChannelDirectory`]), through serenity's REST client.
//!
//! Invariants: every card is sent with the outbox entry's nonce and `enforce_nonce`, so Discord
//! returns the earlier message instead of posting again when an entry is resent after a crash
//! (Discord keeps nonces for a few minutes); no message can mention anyone (empty
//! `allowed_mentions`); errors are sorted by what the outbox should do (404 gone, 403
//! forbidden, 429 wait, anything else transient) and described without URLs.

use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{Channel, ChannelId, MessageId, Nonce};
use serenity::http::Http;

use super::convert;
use super::rest::{self, Idempotent};
use crate::commands::subscriptions::ChannelDirectory;
use crate::commands::Reply;
use crate::notify::{CardSink, SendError};

/// Cards into guild channels.
pub struct DiscordCards {
    http: Arc<Http>,
}

impl DiscordCards {
    /// Sends through `http`.
    pub fn new(http: Arc<Http>) -> Self {
        Self { http }
    }
}

fn channel_id(id: u64) -> Result<ChannelId, SendError> {
    NonZeroU64::new(id)
        .map(ChannelId::from)
        .ok_or_else(|| SendError::Gone("channel id 0".into()))
}

fn sort(e: &serenity::Error) -> SendError {
    let text = rest::describe(e);
    match rest::status(e) {
        Some(404) => SendError::Gone(text),
        Some(403) => SendError::Forbidden(text),
        Some(429) => SendError::RateLimited(std::time::Duration::from_secs(5)),
        _ => SendError::Transient(text),
    }
}

/// The JSON of a message edit: what a new message would carry, minus what only creation
/// takes.
fn edit_body(message: &Reply) -> Result<serde_json::Value, SendError> {
    let mut body = serde_json::to_value(convert::channel_message(message))
        .map_err(|e| SendError::Transient(format!("could not encode the card: {e}")))?;
    if let Some(o) = body.as_object_mut() {
        for k in [
            "nonce",
            "enforce_nonce",
            "tts",
            "sticker_ids",
            "attachments",
        ] {
            o.remove(k);
        }
        // An edit keeps unset fields; a card always states all of its content.
        o.entry("content")
            .or_insert(serde_json::Value::String(String::new()));
    }
    Ok(body)
}

#[async_trait]
impl CardSink for DiscordCards {
    async fn send(&self, channel: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        let ch = channel_id(channel)?;
        let body = convert::channel_message(message)
            .nonce(Nonce::String(nonce.to_string()))
            .enforce_nonce(true);
        // With the nonce enforced, a repeat returns the first message: safe to retry.
        let sent = rest::call(Idempotent::Yes, "send card", || {
            self.http.send_message(ch, vec![], &body)
        })
        .await
        .map_err(|e| sort(&e))?;
        Ok(sent.id.get())
    }

    async fn edit(&self, channel: u64, message_id: u64, message: &Reply) -> Result<(), SendError> {
        let ch = channel_id(channel)?;
        let msg = NonZeroU64::new(message_id)
            .map(MessageId::from)
            .ok_or_else(|| SendError::Gone("message id 0".into()))?;
        let body = edit_body(message)?;
        rest::call(Idempotent::Yes, "edit card", || {
            self.http.edit_message(ch, msg, &body, vec![])
        })
        .await
        .map_err(|e| sort(&e))?;
        Ok(())
    }

    async fn start_thread(
        &self,
        channel: u64,
        message_id: u64,
        name: &str,
    ) -> Result<(), SendError> {
        let ch = channel_id(channel)?;
        let msg = NonZeroU64::new(message_id)
            .map(MessageId::from)
            .ok_or_else(|| SendError::Gone("message id 0".into()))?;
        let body = serde_json::json!({ "name": name, "auto_archive_duration": 1440 });
        rest::call(Idempotent::No, "start card thread", || {
            self.http.create_thread_from_message(ch, msg, &body, None)
        })
        .await
        .map_err(|e| sort(&e))?;
        Ok(())
    }

    async fn send_dm(&self, user: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        let user = NonZeroU64::new(user)
            .map(serenity::all::UserId::from)
            .ok_or_else(|| SendError::Gone("user id 0".into()))?;
        let open = serde_json::json!({ "recipient_id": user });
        // Opening a DM channel returns the same channel every time: safe to retry.
        let dm = rest::call(Idempotent::Yes, "open DM channel", || {
            self.http.create_private_channel(&open)
        })
        .await
        .map_err(|e| sort(&e))?;
        let body = convert::channel_message(message)
            .nonce(Nonce::String(nonce.to_string()))
            .enforce_nonce(true);
        let sent = rest::call(Idempotent::Yes, "send alert DM", || {
            self.http.send_message(dm.id, vec![], &body)
        })
        .await
        .map_err(|e| sort(&e))?;
        Ok(sent.id.get())
    }

    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, SendError> {
        let ch = channel_id(channel)?;
        match rest::call(Idempotent::Yes, "get channel", || self.http.get_channel(ch)).await {
            Ok(Channel::Guild(g)) => Ok(Some(g.guild_id.get())),
            Ok(_) => Ok(None),
            Err(e) => match rest::status(&e) {
                Some(404 | 403) => Ok(None),
                _ => Err(sort(&e)),
            },
        }
    }
}

#[async_trait]
impl ChannelDirectory for DiscordCards {
    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, String> {
        CardSink::channel_guild(self, channel)
            .await
            .map_err(|e| e.to_string())
    }
}

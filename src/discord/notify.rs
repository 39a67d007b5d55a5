//! [`DiscordNotifier`]: background notices (a draft posted after linking, a token that
//! expired) as direct messages, or, for a notice that names the private message it answers
//! ([`Notice::original`], the Link prompt), as an edit of that message in place.

use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{Nonce, UserId};
use serenity::http::Http;

use super::convert;
use super::rest::{self, Idempotent};
use crate::app::Notifier;
use crate::commands::Notice;

/// Sends each [`Notice`] as a DM: opens (or reuses, Discord returns the same channel) the DM
/// channel, then posts the reply with no mentions allowed and an enforced nonce (so the 5xx
/// retries of [`rest::call`] cannot post it twice). Failures (DMs closed, Discord down) are
/// logged; the notice is not retried beyond [`rest::call`]'s rules, because whatever it
/// reports has already happened.
pub struct DiscordNotifier {
    http: Arc<Http>,
}

impl DiscordNotifier {
    /// A notifier that talks through `http`.
    pub fn new(http: Arc<Http>) -> Self {
        Self { http }
    }

    /// Delivers one notice; `Err` is a log-safe description. A notice with an original
    /// message is first tried as `PATCH /webhooks/{app}/{token}/messages/@original` (the
    /// token is never logged); when that fails (token expired, message deleted) it goes as a
    /// DM like any other.
    pub async fn send(&self, notice: &Notice) -> Result<(), String> {
        if let Some(original) = &notice.original {
            let edit = convert::edit_response(&notice.reply);
            let token = original.expose();
            match rest::call(Idempotent::Yes, "edit the link prompt", || {
                self.http
                    .edit_original_interaction_response(token, &edit, vec![])
            })
            .await
            {
                Ok(_) => return Ok(()),
                Err(e) => tracing::info!(
                    user = notice.user,
                    error = %rest::describe(&e),
                    "could not edit the link prompt in place; sending a DM instead"
                ),
            }
        }
        let user = NonZeroU64::new(notice.user)
            .map(UserId::from)
            .ok_or_else(|| "notice for user id 0".to_string())?;
        let body = serde_json::json!({ "recipient_id": user });
        let channel = rest::call(Idempotent::Yes, "open DM channel", || {
            self.http.create_private_channel(&body)
        })
        .await
        .map_err(|e| format!("could not open the DM channel: {}", rest::describe(&e)))?;
        // With a nonce Discord enforces, a resend after a 5xx that did post returns the first
        // message: the notice is retried like a card, never doubled.
        let message = convert::channel_message(&notice.reply)
            .nonce(Nonce::String(dm_nonce()))
            .enforce_nonce(true);
        rest::call(Idempotent::Yes, "send DM", || {
            self.http.send_message(channel.id, vec![], &message)
        })
        .await
        .map_err(|e| format!("could not send the DM: {}", rest::describe(&e)))?;
        Ok(())
    }
}

/// A fresh nonce for one notice (Discord takes up to 25 characters).
fn dm_nonce() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("dm{n:x}")
}

#[async_trait]
impl Notifier for DiscordNotifier {
    async fn notify(&self, notice: Notice) {
        if let Err(e) = self.send(&notice).await {
            tracing::warn!(user = notice.user, error = %e, "could not DM a member");
        }
    }
}

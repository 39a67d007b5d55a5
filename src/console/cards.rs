//! [`ConsoleCards`]: notification cards printed in the console (`soe-bot demo`) instead of
//! posted in Discord channels.
//!
//! Invariants: like Discord with `enforce_nonce`, a repeated nonce returns the first message
//! and prints nothing; every channel belongs to the console's guild (the demo's own world).

use std::collections::HashMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::render;
use crate::clock::SharedClock;
use crate::commands::Reply;
use crate::notify::{CardSink, SendError};

/// Cards as console text, handed to the console through a channel.
pub struct ConsoleCards {
    tx: mpsc::UnboundedSender<String>,
    /// Nonce → message id (deduplication), and the next id.
    sent: Mutex<(HashMap<String, u64>, u64)>,
    /// Renders Discord timestamps (`<t:…:R>`) as ages, as a client would when the card shows.
    clock: SharedClock,
    /// The console's threads (the demo's stand-in for Discord threads), by id.
    pub threads: Mutex<HashMap<u64, crate::commands::server::ThreadContent>>,
    /// The DMs sent through [`crate::commands::server::ServerView::dm`], in order (the console
    /// shows a member theirs with `inbox`).
    pub dms: Mutex<Vec<(u64, Reply)>>,
}

impl std::fmt::Debug for ConsoleCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleCards").finish_non_exhaustive()
    }
}

impl ConsoleCards {
    /// A sink and the receiver the console prints from.
    pub fn new(clock: SharedClock) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                tx,
                sent: Mutex::new((HashMap::new(), 0)),
                clock,
                threads: Mutex::new(HashMap::new()),
                dms: Mutex::new(Vec::new()),
            },
            rx,
        )
    }
}

#[async_trait]
impl CardSink for ConsoleCards {
    async fn send(&self, channel: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        let id = {
            let mut s = self.sent.lock();
            if let Some(id) = s.0.get(nonce) {
                return Ok(*id);
            }
            s.1 += 1;
            let id = s.1;
            s.0.insert(nonce.to_string(), id);
            id
        };
        let _ = self.tx.send(format!(
            "card in <#{channel}> (message {id}):\n{}",
            render::render(message, self.clock.now())
        ));
        Ok(id)
    }

    async fn edit(&self, channel: u64, message_id: u64, message: &Reply) -> Result<(), SendError> {
        let _ = self.tx.send(format!(
            "card in <#{channel}> (message {message_id}) edited:\n{}",
            render::render(message, self.clock.now())
        ));
        Ok(())
    }

    async fn start_thread(
        &self,
        channel: u64,
        message_id: u64,
        name: &str,
    ) -> Result<(), SendError> {
        let _ = self.tx.send(format!(
            "thread \"{name}\" started on message {message_id} in <#{channel}>"
        ));
        Ok(())
    }

    async fn channel_guild(&self, _channel: u64) -> Result<Option<u64>, SendError> {
        Ok(Some(super::CONSOLE_GUILD))
    }

    async fn send_dm(&self, user: u64, message: &Reply, nonce: &str) -> Result<u64, SendError> {
        let id = {
            let mut s = self.sent.lock();
            if let Some(id) = s.0.get(nonce) {
                return Ok(*id);
            }
            s.1 += 1;
            let id = s.1;
            s.0.insert(nonce.to_string(), id);
            id
        };
        let _ = self.tx.send(format!(
            "DM to <@{user}> (message {id}):\n{}",
            render::render(message, self.clock.now())
        ));
        Ok(id)
    }
}

#[async_trait]
impl crate::commands::subscriptions::ChannelDirectory for ConsoleCards {
    async fn channel_guild(&self, _channel: u64) -> Result<Option<u64>, String> {
        Ok(Some(super::CONSOLE_GUILD))
    }
}

/// The console as the admin commands' view of the server: every channel is the console
/// guild's, the console lets the bot do everything, and audit entries and test cards are
/// printed like cards.
#[async_trait]
impl crate::commands::server::ServerView for ConsoleCards {
    async fn channel(
        &self,
        _channel: u64,
    ) -> Result<crate::commands::server::ChannelLookup, crate::commands::access::DirectoryError>
    {
        Ok(crate::commands::server::ChannelLookup::In(Some(
            super::CONSOLE_GUILD,
        )))
    }

    async fn bot_permissions(
        &self,
        _guild: u64,
        _channel: u64,
    ) -> Result<u64, crate::commands::access::DirectoryError> {
        Ok(u64::MAX)
    }

    async fn post(
        &self,
        channel: u64,
        reply: &Reply,
    ) -> Result<(), crate::commands::access::DirectoryError> {
        let _ = self.tx.send(format!(
            "message in <#{channel}>:\n{}",
            render::render(reply, self.clock.now())
        ));
        Ok(())
    }

    async fn thread(
        &self,
        thread: u64,
    ) -> Result<crate::commands::server::ThreadContent, crate::commands::access::DirectoryError>
    {
        self.threads.lock().get(&thread).cloned().ok_or_else(|| {
            crate::commands::access::DirectoryError(format!(
                "no thread {thread} in the console (start one with `thread <name>`)"
            ))
        })
    }

    /// The console's threads are in a text channel.
    async fn is_forum(
        &self,
        _channel: u64,
    ) -> Result<bool, crate::commands::access::DirectoryError> {
        Ok(false)
    }

    async fn dm(
        &self,
        user: u64,
        reply: &Reply,
    ) -> Result<(), crate::commands::access::DirectoryError> {
        let _ = self.tx.send(format!(
            "DM to <@{user}>:\n{}",
            render::render(reply, self.clock.now())
        ));
        self.dms.lock().push((user, reply.clone()));
        Ok(())
    }
}

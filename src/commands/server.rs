//! What the use cases ask of the Discord server itself, through the adapter: which guild a
//! channel belongs to, the bot's own permissions in a channel, posting a message (audit
//! entries, the doctor's test card, a saved thread's card), reading a thread (Save thread),
//! whether a channel is a forum (the Save thread button in forum posts) and sending a member
//! a direct message (consent prompts).
//!
//! The Discord adapter implements [`ServerView`] with its REST client and hands it to
//! [`super::Commands::use_server`]; without one (the console, tests without Discord) every
//! question is answered "could not tell", so an admin option naming another channel is refused
//! rather than trusted. Invariants: a message posted through it can mention no one (the adapter
//! sends `allowed_mentions` empty); errors are log-safe sentences (no URL, no token).

use async_trait::async_trait;

use super::access::DirectoryError;
use super::reply::Reply;

pub use super::share::{SEND_MESSAGES, SEND_MESSAGES_IN_THREADS, VIEW_CHANNEL};

/// Discord's EMBED_LINKS permission bit.
pub const EMBED_LINKS: u64 = 1 << 14;
/// Discord's CREATE_PUBLIC_THREADS permission bit.
pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;

/// The permissions the bot needs in a channel it posts to, with the names admins see in
/// Discord's settings.
pub const NEEDED_IN_CHANNEL: [(u64, &str); 5] = [
    (VIEW_CHANNEL, "View Channel"),
    (SEND_MESSAGES, "Send Messages"),
    (EMBED_LINKS, "Embed Links"),
    (CREATE_PUBLIC_THREADS, "Create Public Threads"),
    (SEND_MESSAGES_IN_THREADS, "Send Messages in Threads"),
];

/// A channel as the adapter found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelLookup {
    /// The channel exists, in this guild (`None`: a DM or group DM, no guild).
    In(Option<u64>),
    /// Discord says there is no such channel, or the bot cannot see it.
    Unknown,
}

/// One message of a thread, as a post on the site would read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessage {
    /// Message id.
    pub id: u64,
    /// Author id.
    pub author_id: u64,
    /// Author display name.
    pub author_name: String,
    /// The text with Discord syntax rendered as names (`@name`, `#channel`, `:emoji:`),
    /// attachments listed as links, everything else (code blocks and their language) as
    /// written.
    pub content: String,
    /// Whether the message carries attachments or embeds (a message can be all attachment).
    pub has_media: bool,
}

/// A thread (or forum post) with its starter message and its replies, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadContent {
    /// The thread's id (a forum post's starter message has the same id).
    pub id: u64,
    /// Its name (a forum post's title).
    pub name: String,
    /// The channel it is in.
    pub parent: Option<u64>,
    /// The first message (`None`: deleted).
    pub starter: Option<ThreadMessage>,
    /// The replies by people (bots and system messages left out), oldest first, at most 100.
    pub replies: Vec<ThreadMessage>,
}

/// The Discord server as the use cases need it (implemented by the adapter).
#[async_trait]
pub trait ServerView: Send + Sync {
    /// Where `channel` lives.
    async fn channel(&self, channel: u64) -> Result<ChannelLookup, DirectoryError>;
    /// The bot's effective permissions in `channel` of `guild` (Discord bitfield), computed
    /// from the guild's roles, the bot's roles and the channel's overwrites.
    async fn bot_permissions(&self, guild: u64, channel: u64) -> Result<u64, DirectoryError>;
    /// Posts `reply` as a new message in `channel`, mentioning no one.
    async fn post(&self, channel: u64, reply: &Reply) -> Result<(), DirectoryError>;
    /// Reads a thread: its name, starter message and replies.
    async fn thread(&self, thread: u64) -> Result<ThreadContent, DirectoryError>;
    /// Whether `channel` is a forum (or media) channel, whose threads are forum posts
    /// (where replies offer a "Save thread to …" button).
    async fn is_forum(&self, channel: u64) -> Result<bool, DirectoryError>;
    /// Sends `user` a direct message, mentioning no one.
    async fn dm(&self, user: u64, reply: &Reply) -> Result<(), DirectoryError>;
}

/// The names of the permissions in [`NEEDED_IN_CHANNEL`] that `have` lacks.
pub fn missing_permissions(have: u64) -> Vec<&'static str> {
    NEEDED_IN_CHANNEL
        .iter()
        .filter(|(bit, _)| have & bit == 0)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_permissions_are_named() {
        let all = NEEDED_IN_CHANNEL.iter().fold(0, |a, (b, _)| a | b);
        assert!(missing_permissions(all).is_empty());
        assert_eq!(missing_permissions(all & !EMBED_LINKS), vec!["Embed Links"]);
        assert_eq!(missing_permissions(0).len(), 5);
    }

    #[test]
    fn the_deploy_guide_asks_for_every_permission_doctor_checks() {
        let guide = include_str!("../../deploy/README.md");
        let setup = &guide[guide.find("## Discord setup").expect("the section")..];
        let setup = &setup[..setup[3..].find("\n## ").map_or(setup.len(), |i| i + 3)];
        for (_, name) in NEEDED_IN_CHANNEL {
            assert!(
                setup.contains(&format!("*{name}*")),
                "deploy/README.md's Discord setup does not name *{name}*"
            );
        }
        // Save thread reads the thread's messages (doctor does not check it).
        assert!(setup.contains("*Read Message History*"));
    }
}

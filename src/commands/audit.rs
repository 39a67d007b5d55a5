//! Audit entries: every configuration change and every write made through the bot, with who
//! did it, what, and a link when there is one.
//!
//! The use cases build an [`AuditEvent`] and call [`super::Commands::audit`]; it always goes
//! to the log (target `soe_bot::audit`), and, when the guild has an audit channel
//! (`/so-admin audit-channel`), to that channel as a message through the adapter's
//! [`super::server::ServerView`], sent in the background so no reply waits on it. Invariants:
//! an entry names people by their unique `@username` and id (a display name can be anything),
//! escaped so it cannot format or mention; it never holds a token, a link URL with a secret,
//! or the text of a post; an audit message mentions no one.

use super::render::escape_md;
use super::reply::{truncate, Reply};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The guild it happened in (its audit channel receives it); `None` for a write made from
    /// a DM (the log only).
    pub guild: Option<u64>,
    /// Who did it (Discord user id).
    pub actor: u64,
    /// Their unique `@username`, when the use case has it (a draft posted after linking
    /// knows only the id).
    pub actor_username: Option<String>,
    /// What happened, as a sentence fragment after the actor ("turned the bot off in <#1>").
    pub what: String,
    /// The post or page concerned, if any.
    pub link: Option<String>,
}

impl AuditEvent {
    /// The entry as one line of Discord Markdown.
    pub fn line(&self) -> String {
        let link = self
            .link
            .as_deref()
            .map(|l| format!(" <{}>", truncate(l, 300)))
            .unwrap_or_default();
        let who = match &self.actor_username {
            Some(u) => format!("**@{}** (`{}`)", escape_md(&truncate(u, 40)), self.actor),
            None => format!("member `{}`", self.actor),
        };
        format!("📝 {who} {}{link}", self.what)
    }

    /// The entry as a message for the audit channel.
    pub fn message(&self) -> Reply {
        Reply::public(self.line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_escapes_the_username_and_keeps_the_link_unembedded() {
        let e = AuditEvent {
            guild: Some(1),
            actor: 42,
            actor_username: Some("x_y*z".into()),
            what: "posted a question".into(),
            link: Some("https://site/q/1".into()),
        };
        assert_eq!(
            e.line(),
            "📝 **@x\\_y\\*z** (`42`) posted a question <https://site/q/1>"
        );
    }
}

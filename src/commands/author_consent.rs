//! Author consent (the generic kind, used by Save thread): before the bot publishes someone's
//! Discord words on the site under their name, that person agrees, explicitly, within a
//! deadline. What the author reads comes from the catalogue (`consent-*`, in their language).
//!
//! Kept in its own module, independent of what is being published, so that every flow that
//! posts someone else's text (Save thread; "Ask on …" / "Post as answer" on another member's
//! message) can share it. A [`Consent`] is asked of one Discord member, who answers with the
//! buttons of [`prompt`]: grant (optionally with an extra grant, e.g. "and accept the
//! answer"), or decline. Invariants:
//! - only the author themself can answer ([`Consent::decide`] checks who pressed);
//! - an answer is final: a consent is decided once, and never after its deadline (it is then
//!   [`Decision::Expired`], which counts as a refusal);
//! - nothing here posts or stores anything: the flow that asked records the consent with its
//!   own state and acts on the decision.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::render::escape_md;
use super::reply::{truncate, ButtonStyle, Component, Reply};

/// How long an author has to answer.
pub const CONSENT_HOURS: i64 = 24;

/// Where a consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Asked, not answered yet.
    Pending,
    /// Agreed; `extra` when the extra grant was given too.
    Granted {
        /// The extra grant (e.g. accept the answer as well).
        extra: bool,
    },
    /// Refused.
    Declined,
    /// Not answered in time (a refusal).
    Expired,
}

/// One author's consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Whose words (Discord user id).
    pub author: u64,
    /// Their display name, for messages.
    pub author_name: String,
    /// Where it stands.
    pub decision: Decision,
    /// When it was asked.
    pub asked_at: DateTime<Utc>,
    /// No answer after this: [`Decision::Expired`].
    pub expires_at: DateTime<Utc>,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// Someone else pressed the author's button.
    #[error("only {0} can answer this")]
    NotTheAuthor(String),
    /// Already answered (or expired).
    #[error("this was already answered")]
    Settled,
}

impl Consent {
    /// Asks `author` now, for [`CONSENT_HOURS`].
    pub fn ask(author: u64, author_name: &str, now: DateTime<Utc>) -> Self {
        Self {
            author,
            author_name: author_name.to_string(),
            decision: Decision::Pending,
            asked_at: now,
            expires_at: now + Duration::hours(CONSENT_HOURS),
        }
    }

    /// Granted at once: the author is the one who started the flow.
    pub fn given(author: u64, author_name: &str, extra: bool, now: DateTime<Utc>) -> Self {
        Self {
            decision: Decision::Granted { extra },
            ..Self::ask(author, author_name, now)
        }
    }

    /// Records `by`'s answer (`Some(extra)`: granted, `None`: declined).
    pub fn decide(
        &mut self,
        by: u64,
        answer: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<(), ConsentError> {
        if by != self.author {
            return Err(ConsentError::NotTheAuthor(self.author_name.clone()));
        }
        self.expire_if_due(now);
        if self.decision != Decision::Pending {
            return Err(ConsentError::Settled);
        }
        self.decision = match answer {
            Some(extra) => Decision::Granted { extra },
            None => Decision::Declined,
        };
        Ok(())
    }

    /// Marks a pending consent past its deadline expired; true if it changed.
    pub fn expire_if_due(&mut self, now: DateTime<Utc>) -> bool {
        if self.decision == Decision::Pending && now >= self.expires_at {
            self.decision = Decision::Expired;
            return true;
        }
        false
    }

    /// Granted (with or without the extra grant).
    pub fn granted(&self) -> bool {
        matches!(self.decision, Decision::Granted { .. })
    }

    /// Granted with the extra grant.
    pub fn extra(&self) -> bool {
        self.decision == Decision::Granted { extra: true }
    }

    /// Declined or expired.
    pub fn refused(&self) -> bool {
        matches!(self.decision, Decision::Declined | Decision::Expired)
    }

    /// What happened, for people, in the reader's language: "agreed", "declined", "did not
    /// answer within 24 hours", "not answered yet".
    pub fn describe(&self) -> String {
        match self.decision {
            Decision::Pending => crate::t!("consent-state-pending"),
            Decision::Granted { .. } => crate::t!("consent-state-agreed"),
            Decision::Declined => crate::t!("consent-state-declined"),
            Decision::Expired => crate::t!("consent-state-expired", hours = CONSENT_HOURS),
        }
    }
}

/// The buttons an author answers with.
pub struct PromptButtons {
    /// Grant.
    pub yes: (String, String),
    /// Grant with the extra grant, if offered.
    pub extra: Option<(String, String)>,
    /// Decline.
    pub no: String,
}

/// The message asking for consent: who asks, what would be posted (quoted, escaped, cut),
/// and the buttons.
pub fn prompt(asker: &str, what: &str, quoted: &str, buttons: PromptButtons) -> Reply {
    let quote: String = truncate(quoted, 600)
        .lines()
        .map(|l| format!("> {}", escape_md(l)))
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!(
        "**{}** {what}\n{quote}\n{}",
        escape_md(&truncate(asker, 80)),
        crate::t!("consent-lapses", hours = CONSENT_HOURS),
    );
    let mut row = vec![Component::button(
        buttons.yes.0,
        &buttons.yes.1,
        ButtonStyle::Success,
    )];
    if let Some((id, label)) = buttons.extra {
        row.push(Component::button(id, &label, ButtonStyle::Primary));
    }
    row.push(Component::button(
        buttons.no,
        &crate::t!("button-consent-decline"),
        ButtonStyle::Danger,
    ));
    Reply::private(text).with_row(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_author_answers_once_and_not_after_the_deadline() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let mut c = Consent::ask(7, "Ann", t0);
        assert_eq!(
            c.decide(8, Some(false), t0),
            Err(ConsentError::NotTheAuthor("Ann".into()))
        );
        assert_eq!(c.decision, Decision::Pending);
        c.decide(7, Some(true), t0 + Duration::hours(1)).unwrap();
        assert!(c.granted() && c.extra());
        assert_eq!(c.decide(7, None, t0), Err(ConsentError::Settled));

        let mut late = Consent::ask(7, "Ann", t0);
        assert_eq!(
            late.decide(7, Some(false), t0 + Duration::hours(CONSENT_HOURS)),
            Err(ConsentError::Settled)
        );
        assert!(late.refused());
        assert_eq!(late.describe(), "did not answer within 24 hours");
    }

    #[tokio::test]
    async fn the_prompt_speaks_the_readers_language() {
        let buttons = || PromptButtons {
            yes: ("y".into(), "Yes".into()),
            extra: None,
            no: "n".into(),
        };
        let en = prompt("Carol", "would like", "hi", buttons());
        assert_eq!(
            en.content,
            "**Carol** would like\n> hi\nNothing is posted without your answer; after 24 hours this request lapses."
        );
        let de = crate::commands::i18n::scope(crate::commands::i18n::Lang::De, async {
            prompt("Carol", "möchte", "hi", buttons())
        })
        .await;
        assert!(
            de.content
                .ends_with("nach 24 Stunden verfällt diese Anfrage."),
            "{de:?}"
        );
        assert!(format!("{:?}", de.rows).contains("Ablehnen"), "{de:?}");
    }
}

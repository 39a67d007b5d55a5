//! What a member did: a transport-independent [`Invocation`].
//!
//! The Discord adapter builds one from an interaction, the console from a typed line. Only what
//! the use cases need is here; no transport type leaks in.

/// The member who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Discord user id.
    pub id: u64,
    /// Display name (server nickname or global name): anyone can set it to anything, so it is
    /// used for greetings only, never to say who someone is.
    pub name: String,
    /// The unique, immutable Discord username (`@handle`): what pages that must identify the
    /// member show.
    pub username: String,
    /// The member's permissions in the channel (Discord bitfield), `None` in DMs.
    pub permissions: Option<u64>,
    /// Ids of the member's roles (guild only), matched against `discord.admin_roles`.
    pub role_ids: Vec<u64>,
}

impl Member {
    /// A member with no guild context (tests, console).
    pub fn new(id: u64, name: &str) -> Self {
        Self {
            id,
            name: name.into(),
            username: name.into(),
            permissions: None,
            role_ids: vec![],
        }
    }
}

/// An option value of a slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// A string option.
    Str(String),
    /// An integer option.
    Int(i64),
    /// A boolean option.
    Bool(bool),
    /// A channel option (id).
    Channel(u64),
    /// A user option (id).
    User(u64),
}

impl OptionValue {
    /// The value as text (integers and ids as decimal).
    pub fn as_text(&self) -> String {
        match self {
            OptionValue::Str(s) => s.clone(),
            OptionValue::Int(i) => i.to_string(),
            OptionValue::Bool(b) => b.to_string(),
            OptionValue::Channel(c) | OptionValue::User(c) => c.to_string(),
        }
    }
}

/// A message a message command was used on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageRef {
    /// Message id.
    pub id: u64,
    /// Author id.
    pub author_id: u64,
    /// Author display name.
    pub author_name: String,
    /// Text content.
    pub content: String,
    /// The name of the thread the message is in, when it is in one: a forum post's starter
    /// message (its id is the thread's) takes the post's title from it.
    pub thread_name: Option<String>,
    /// The message it replies to, when the transport has it: a reply to one of the bot's
    /// question cards says which question "Post as answer" answers.
    pub replies_to: Option<RepliedMessage>,
}

/// The message a message replies to, as much of it as says which question it was about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepliedMessage {
    /// Its id.
    pub id: u64,
    /// Whether the bot itself sent it: only the bot's own cards are read for a question (a
    /// member's message could carry any link).
    pub from_bot: bool,
    /// The custom ids of its buttons and menus (a question card's name its question).
    pub custom_ids: Vec<String>,
    /// The links of its embeds' titles (cards about posts and notification cards link the
    /// question).
    pub links: Vec<String>,
}

impl RepliedMessage {
    /// The question the bot's card is about, if it is one of the bot's cards about a
    /// question: from its components' ids first (exact), else from an embed's link to a
    /// question on the site.
    pub fn card_question(&self) -> Option<i64> {
        use super::ids::{parse, Id};
        if !self.from_bot {
            return None;
        }
        let from_ids = self.custom_ids.iter().find_map(|c| match parse(c)? {
            Id::OpenAnswer { question }
            | Id::ShareQuestion { question }
            | Id::OpenQuestion { question }
            | Id::QuestionInPlace { question }
            | Id::PickAnswer { question, .. }
            | Id::VoteQuestion { question, .. }
            | Id::VoteAnswer { question, .. }
            | Id::Accept { question, .. } => Some(question),
            _ => None,
        });
        from_ids.or_else(|| {
            self.links
                .iter()
                .find_map(|l| super::show::parse_question_ref(l))
        })
    }
}

/// What kind of interaction it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A slash command: `name` is the top-level command (`so`, `so-admin`), `path` the
    /// subcommand (group) names, e.g. `["search"]` or `["channel", "enable"]`.
    Command {
        /// Top-level command.
        name: String,
        /// Subcommand path.
        path: Vec<String>,
        /// Options by name.
        options: Vec<(String, OptionValue)>,
    },
    /// Autocomplete for the focused option.
    Autocomplete {
        /// Top-level command.
        name: String,
        /// Subcommand path.
        path: Vec<String>,
        /// The focused option's name.
        focused: String,
        /// What the member typed so far.
        value: String,
    },
    /// A button press.
    Button {
        /// The button's custom id.
        custom_id: String,
    },
    /// A choice in a select menu.
    Select {
        /// The select's custom id.
        custom_id: String,
        /// The chosen values (one for the bot's menus).
        values: Vec<String>,
    },
    /// A modal submission.
    Modal {
        /// The modal's custom id.
        custom_id: String,
        /// Input custom id → value.
        fields: Vec<(String, String)>,
    },
    /// A message context-menu command.
    MessageCommand {
        /// The command's name ("Ask on Stack Overflow", "Post as answer").
        name: String,
        /// The message.
        message: MessageRef,
    },
}

/// How an interaction reached the bot, for the guild gate ([`super::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Inside a server, through that server's install of the bot (the console acts like this).
    #[default]
    GuildInstall,
    /// Outside a server's install: a DM with the bot, a group DM, or a member's own (user)
    /// install of the app, even when used inside a server.
    Private,
}

/// One interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The interaction id: unique per interaction, the same across Discord's retries.
    pub id: String,
    /// Who.
    pub member: Member,
    /// The guild, `None` in DMs.
    pub guild_id: Option<u64>,
    /// The channel.
    pub channel_id: Option<u64>,
    /// Whether that channel is a thread: there, sending needs SEND_MESSAGES_IN_THREADS rather
    /// than SEND_MESSAGES (see `commands::share`). False when unknown.
    pub in_thread: bool,
    /// The channel a thread (or forum post) belongs to, when `channel_id` is a thread: the
    /// channel gate applies the parent's setting to its threads.
    pub thread_parent: Option<u64>,
    /// The member's locale (e.g. `en-US`).
    pub locale: Option<String>,
    /// Through whose install, for the guild gate: a personal install counts as a DM.
    pub origin: Origin,
    /// What.
    pub action: Action,
    /// The interaction's token, when a transport has one: it lets the reply be edited later
    /// (linking completes in a browser, and the private prompt then says so in place).
    pub reply_token: Option<ReplyToken>,
}

/// An interaction token and when it arrived. Discord accepts edits of the interaction's
/// original response with it for 15 minutes. It is a secret (whoever holds it may rewrite the
/// reply), so it is never printed: `Debug` shows only its age, and it is kept in memory only.
#[derive(Clone)]
pub struct ReplyToken {
    /// The token, exposed only to the transport that edits the reply.
    token: secrecy::SecretString,
    /// When the interaction arrived (the app's clock): the token dies 15 minutes later.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl ReplyToken {
    /// Wraps `token`, received at `received_at`.
    pub fn new(token: &str, received_at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            token: secrecy::SecretString::from(token.to_string()),
            received_at,
        }
    }

    /// The token itself, for the transport's edit call only.
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.token.expose_secret()
    }
}

impl std::fmt::Debug for ReplyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyToken")
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ReplyToken {
    fn eq(&self, other: &Self) -> bool {
        self.received_at == other.received_at && self.expose() == other.expose()
    }
}

impl Eq for ReplyToken {}

impl Invocation {
    /// The option `name` of a slash command.
    pub fn option(&self, name: &str) -> Option<&OptionValue> {
        match &self.action {
            Action::Command { options, .. } => {
                options.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The option `name` as trimmed text, if present and non-empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.option(name)
            .map(OptionValue::as_text)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// A modal field's value.
    pub fn field(&self, id: &str) -> Option<&str> {
        match &self.action {
            Action::Modal { fields, .. } => fields
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

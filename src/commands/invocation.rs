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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

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

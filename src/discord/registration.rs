//! The application commands the bot registers, and their registration.
//!
//! `/so` (member commands), `/so-admin` (guild only, hidden from members without Manage Server
//! by `default_member_permissions`; the use case re-checks on every call), and the message
//! commands "Ask on <site>" ([`ask_message_command`]) and "Post as answer". Texts name the
//! site as configured, within Discord's limits (32 characters for a command name, 100 for a
//! description). Every command is installable in
//! guilds only (`integration_types` GUILD_INSTALL: no personal installs) and usable in servers
//! (`contexts` GUILD), plus the bot's DMs (BOT_DM) for the member commands only when
//! `discord.allow_dms` is on, matching what the guild gate serves. Registration is a bulk overwrite
//! (`PUT`), so it is idempotent and removes commands the bot no longer has: per guild for
//! `discord.guild_ids` (instant), otherwise global.

use std::num::NonZeroU64;

use serde_json::Value;
use serenity::all::{
    ChannelType, CommandOptionType, CommandType, CreateCommand, CreateCommandOption, GuildId,
    InstallationContext, InteractionContext, Permissions,
};
use serenity::http::Http;

use super::rest::{self, Idempotent};
use super::DiscordError;
use crate::config::DiscordConfig;

/// Longest command or option description Discord accepts.
const DESCRIPTION_MAX: usize = 100;
/// Name of the message command that opens the answer form with the message's text.
pub const ANSWER_MESSAGE_COMMAND: &str = "Post as answer";
/// Longest search query Discord lets a member type.
pub const QUERY_MAX: u16 = 80;
/// Longest tag a member can type: SOE's longest tag name.
pub const TAG_MAX: u16 = crate::commands::search::TAG_MAX as u16;

pub use crate::commands::help::ask_message_command;

/// `text` cut to a description's 100 characters.
fn described(text: String) -> String {
    crate::commands::reply::truncate(&text, DESCRIPTION_MAX)
}

fn string(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
}

fn sub(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
}

/// Every command the bot registers, in a fixed order, naming the site as `site`; member
/// commands are offered in the bot's DMs only when `allow_dms` (`discord.allow_dms`).
pub fn command_definitions(allow_dms: bool, site: &str) -> Vec<CreateCommand> {
    let mut member_contexts = vec![InteractionContext::Guild];
    if allow_dms {
        member_contexts.push(InteractionContext::BotDm);
    }
    let so = CreateCommand::new("so")
        .description(described(format!("Search, read, ask and answer on {site}")))
        .integration_types(vec![InstallationContext::Guild])
        .contexts(member_contexts.clone())
        .add_option(
            sub(
                "search",
                "Search questions and answers (only you see the results)",
            )
            .add_sub_option(
                string("query", "What to search for")
                    .required(true)
                    .min_length(1)
                    .max_length(QUERY_MAX),
            )
            .add_sub_option(
                string("tag", "Only results with this tag")
                    .set_autocomplete(true)
                    .max_length(TAG_MAX),
            )
            .add_sub_option(
                string("sort", "Order of the results")
                    .add_string_choice("relevance", "relevance")
                    .add_string_choice("newest", "newest")
                    .add_string_choice("active", "active")
                    .add_string_choice("score", "score"),
            ),
        )
        .add_option(
            sub("question", "Show a question and its top answers").add_sub_option(
                string("id", "Start typing its title, or paste its number or link")
                    .required(true)
                    .set_autocomplete(true)
                    .max_length(300),
            ),
        )
        .add_option(
            sub("ask", "Ask a question, posted as you")
                .add_sub_option(string("title", "The question's title").max_length(150))
                .add_sub_option(
                    string("tags", "Tags, separated by spaces")
                        .set_autocomplete(true)
                        .max_length(200),
                ),
        )
        .add_option(
            sub("answer", "Answer a question, posted as you").add_sub_option(
                string(
                    "question",
                    "Start typing its title, or paste its number or link",
                )
                .required(true)
                .set_autocomplete(true)
                .max_length(300),
            ),
        )
        .add_option(sub(
            "link",
            &described(format!(
                "Link your {site} account so posts are credited to you"
            )),
        ))
        .add_option(sub(
            "unlink",
            &described(format!("Forget your {site} token and drafts")),
        ))
        .add_option(sub("me", "Show the linked account, its access and expiry"))
        .add_option(sub("help", "How to use the bot"));

    let channel = |verb: &str, description: &str| {
        sub(verb, description).add_sub_option(
            CreateCommandOption::new(
                CommandOptionType::Channel,
                "channel",
                "The channel (default: this one)",
            )
            // Forum channels hold posts (threads) the bot answers in, too. Media channels
            // (type 16) are left out: the official OpenAPI document's ChannelTypes, which the
            // contract follows, does not list them yet; their posts still follow the
            // channel's setting through the thread's parent.
            .channel_types(vec![
                ChannelType::Text,
                ChannelType::News,
                ChannelType::Forum,
            ]),
        )
    };
    #[allow(deprecated)] // dm_permission is deprecated in favour of contexts; both are sent
    let admin = CreateCommand::new("so-admin")
        .description("Configure the bot for this server (Manage Server)")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .dm_permission(false)
        .integration_types(vec![InstallationContext::Guild])
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommandGroup,
                "channel",
                "Where the bot answers",
            )
            .add_sub_option(channel("enable", "Let the bot answer in a channel"))
            .add_sub_option(channel("disable", "Stop the bot answering in a channel")),
        );

    let message = |name: &str| {
        CreateCommand::new(name)
            .kind(CommandType::Message)
            .integration_types(vec![InstallationContext::Guild])
            .contexts(member_contexts.clone())
    };
    vec![
        so,
        admin,
        message(&ask_message_command(site)),
        message(ANSWER_MESSAGE_COMMAND),
    ]
}

/// The JSON body of a bulk overwrite for `commands`.
///
/// serenity sends `default_member_permissions` as a decimal string (the prose docs' type);
/// Discord's OpenAPI document types it as an integer, and the API accepts both
/// (discord/discord-api-spec#11). The bot sends what the document says, so the body validates
/// against the contract written from it.
pub fn registration_payload(commands: &[CreateCommand]) -> Result<Value, DiscordError> {
    // Never fall back to an empty list: a bulk overwrite with `[]` deletes every command.
    let mut value = serde_json::to_value(commands).map_err(|e| {
        DiscordError::Config(format!("the command definitions do not serialize: {e}"))
    })?;
    if let Value::Array(items) = &mut value {
        for item in items {
            if let Some(p) = item.get_mut("default_member_permissions") {
                if let Some(n) = p.as_str().and_then(|s| s.parse::<u64>().ok()) {
                    *p = Value::from(n);
                }
            }
        }
    }
    Ok(value)
}

/// What [`register`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Guilds whose commands were overwritten (empty: registered globally).
    pub guilds: Vec<u64>,
    /// Commands per scope.
    pub commands: usize,
}

/// Registers [`command_definitions`] (with `config.allow_dms` and the site's name): a bulk
/// overwrite in each of `config.guild_ids`, or globally when there are none. A guild id of 0
/// is refused. Stops at the first failure.
pub async fn register(
    http: &Http,
    config: &DiscordConfig,
    site: &str,
) -> Result<Registration, DiscordError> {
    let commands = command_definitions(config.allow_dms, site);
    let body = registration_payload(&commands)?;
    let count = commands.len();
    if config.guild_ids.is_empty() {
        rest::call(Idempotent::Yes, "register global commands", || {
            http.create_global_commands(&body)
        })
        .await
        .map_err(|e| {
            DiscordError::Api(format!(
                "registering global commands: {}",
                rest::describe(&e)
            ))
        })?;
        tracing::info!(
            commands = count,
            "commands registered globally (Discord may take up to an hour to show changes)"
        );
        return Ok(Registration {
            guilds: vec![],
            commands: count,
        });
    }
    for &guild in &config.guild_ids {
        let id = NonZeroU64::new(guild).map(GuildId::from).ok_or_else(|| {
            DiscordError::Config("discord.guild_ids contains 0, which is not a guild id".into())
        })?;
        rest::call(Idempotent::Yes, "register guild commands", || {
            http.create_guild_commands(id, &body)
        })
        .await
        .map_err(|e| {
            DiscordError::Api(format!(
                "registering commands in guild {guild}: {}",
                rest::describe(&e)
            ))
        })?;
        tracing::info!(guild, commands = count, "commands registered in guild");
    }
    Ok(Registration {
        guilds: config.guild_ids.clone(),
        commands: count,
    })
}

/// `soe-bot register-commands`: builds the REST client from `config` and registers.
pub async fn register_commands(
    config: &DiscordConfig,
    site: &str,
) -> Result<Registration, DiscordError> {
    let http = rest::http_client(config)?;
    register(&http, config, site).await
}

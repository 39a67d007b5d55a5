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
//! `discord.guild_ids` (instant), otherwise global. At startup it runs in the background
//! ([`register_with_retry`]): a Discord hiccup delays it, with backoff, and never stops the bot
//! from serving (commands registered earlier keep working meanwhile).

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use serenity::all::{
    ChannelType, CommandOptionType, CommandType, CreateCommand, CreateCommandOption, GuildId,
    InstallationContext, InteractionContext, Permissions,
};
use serenity::http::Http;

use super::rest::{self, Idempotent};
use super::DiscordError;
use crate::config::DiscordConfig;
use crate::lifecycle::{CommandsStatus, Health};

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
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommandGroup,
                "alerts",
                "DMs about answers to your questions and new questions in your tags",
            )
            .add_sub_option(
                sub(
                    "on",
                    "Answers to all your questions, and new questions in your watched tags",
                )
                .add_sub_option(
                    string("tags", "These tags instead of your watched tags")
                        .set_autocomplete(true)
                        .max_length(200),
                ),
            )
            .add_sub_option(sub("off", "No alerts at all")),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommandGroup,
                "experts",
                "DMs when a question in a tag you are an expert for stays unanswered",
            )
            .add_sub_option(sub("on", "Send me unanswered questions in my expert tags"))
            .add_sub_option(sub("off", "Stop sending them")),
        )
        .add_option(sub("help", "How to use the bot"));

    let channel_of = |verb: &str, description: &str, types: Vec<ChannelType>| {
        sub(verb, description).add_sub_option(
            CreateCommandOption::new(
                CommandOptionType::Channel,
                "channel",
                "The channel (default: this one)",
            )
            .channel_types(types),
        )
    };
    let channel = |verb: &str, description: &str| {
        channel_of(
            verb,
            description,
            vec![ChannelType::Text, ChannelType::News],
        )
    };
    // Where the bot answers: forum channels too, whose posts (threads) follow the forum's
    // setting. Media channels (type 16) are left out: the official OpenAPI document's
    // ChannelTypes, which the contract follows, does not list them yet; their posts still
    // follow the channel's setting through the thread's parent.
    let gate = |verb: &str, description: &str| {
        channel_of(
            verb,
            description,
            vec![ChannelType::Text, ChannelType::News, ChannelType::Forum],
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
                "Where the bot answers, and how",
            )
            .add_sub_option(gate("enable", "Let the bot answer in a channel"))
            .add_sub_option(gate("disable", "Stop the bot answering in a channel"))
            .add_sub_option(
                channel(
                    "team",
                    "Bind a channel to a private team (leave slug out to unbind)",
                )
                .add_sub_option(
                    string("slug", "The team's slug, as in https://SITE/c/<slug>")
                        .min_length(1)
                        .max_length(64),
                ),
            )
            .add_sub_option(
                channel(
                    "tags",
                    "Default tags when asking from a channel (leave tags out to clear)",
                )
                .add_sub_option(
                    string("tags", "Tags, separated by spaces")
                        .set_autocomplete(true)
                        .max_length(200),
                ),
            ),
        )
        .add_option(subscribe_definition())
        .add_option(
            sub(
                "subscriptions",
                "List the subscription rules, with last post and last error",
            )
            .add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::Channel,
                    "channel",
                    "Only this channel's rules",
                )
                .channel_types(vec![ChannelType::Text, ChannelType::News]),
            ),
        )
        .add_option(sub("unsubscribe", "Remove a subscription rule").add_sub_option(rule_option()))
        .add_option(
            sub(
                "preview",
                "How many cards a rule would have posted in the last 7 days",
            )
            .add_sub_option(rule_option()),
        )
        .add_option(sub(
            "doctor",
            "Check the bot's permissions, the site, the service token; post a test card",
        ))
        .add_option(
            channel(
                "audit-channel",
                "Where configuration changes and posts made through the bot are reported",
            )
            .add_sub_option(CreateCommandOption::new(
                CommandOptionType::Boolean,
                "off",
                "Turn the audit channel off",
            )),
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
        message(&crate::commands::help::save_thread_command(site)),
    ]
}

/// `rule:` — a rule number from `/so-admin subscriptions`.
fn rule_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::Integer,
        "rule",
        "The rule's number (see /so-admin subscriptions)",
    )
    .required(true)
    .min_int_value(1)
}

/// `/so-admin subscribe`: the grammar of [`crate::notify::rule`].
fn subscribe_definition() -> CreateCommandOption {
    sub(
        "subscribe",
        "Post new site activity with these tags into a channel",
    )
    .add_sub_option(
        string("tags", "Tags, separated by commas or spaces (up to 10)")
            .required(true)
            .set_autocomplete(true)
            .max_length(400),
    )
    .add_sub_option(
        CreateCommandOption::new(
            CommandOptionType::Channel,
            "channel",
            "Where the cards go (default: this channel)",
        )
        .channel_types(vec![ChannelType::Text, ChannelType::News]),
    )
    .add_sub_option(
        string("match", "Any of the tags (default) or all of them")
            .add_string_choice("any", "any")
            .add_string_choice("all", "all"),
    )
    .add_sub_option(string("exclude", "Never post items with these tags").max_length(400))
    .add_sub_option(
        string(
            "events",
            "questions, answers, accepted, articles (comma separated; default questions)",
        )
        .max_length(100),
    )
    .add_sub_option(
        string(
            "unanswered-after",
            "Post questions only once unanswered this long, e.g. 4h or 2d",
        )
        .max_length(20),
    )
    .add_sub_option(CreateCommandOption::new(
        CommandOptionType::Boolean,
        "threads",
        "Start a thread on each question card in this channel (default off)",
    ))
    .add_sub_option(
        CreateCommandOption::new(
            CommandOptionType::Integer,
            "cap-per-hour",
            "Cards per hour in this channel before the rest fold into a digest (default 20)",
        )
        .min_int_value(1)
        .max_int_value(200),
    )
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

/// Waits between registration attempts: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 5 s, doubling up to 10 minutes: quick after a blip, light on Discord in an outage.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            max: Duration::from_secs(600),
        }
    }
}

/// [`register`] until it succeeds, waiting per `backoff` between attempts and recording each
/// outcome in `health` (shown by `/readyz`). A configuration error (which no retry can fix)
/// ends it with an error line. Meant to be spawned; the caller aborts it at shutdown.
pub async fn register_with_retry(
    http: Arc<Http>,
    config: DiscordConfig,
    site: String,
    health: Arc<Health>,
    backoff: Backoff,
) {
    let mut wait = backoff.first;
    let mut attempts = 0u32;
    loop {
        match register(&http, &config, &site).await {
            Ok(_) => {
                health.set_commands(CommandsStatus::Registered);
                return;
            }
            Err(DiscordError::Config(e)) => {
                tracing::error!(error = %e, "command registration cannot work with this configuration; fix it and restart (or run `soe-bot register-commands`)");
                health.set_commands(CommandsStatus::Retrying {
                    attempts: attempts + 1,
                    error: e,
                });
                return;
            }
            Err(e) => {
                attempts += 1;
                let error = e.to_string();
                tracing::warn!(
                    attempts,
                    retry_in_secs = wait.as_secs_f64(),
                    error = %error,
                    "command registration failed; the bot keeps serving and tries again"
                );
                health.set_commands(CommandsStatus::Retrying { attempts, error });
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(backoff.max);
            }
        }
    }
}

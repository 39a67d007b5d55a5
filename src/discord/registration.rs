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
use crate::commands::i18n::Lang;
use crate::commands::reply::truncate;
use crate::config::DiscordConfig;
use crate::lifecycle::{CommandsStatus, Health};

/// Longest command or option description Discord accepts.
const DESCRIPTION_MAX: usize = 100;
/// Name of the message command that opens the answer form with the message's text.
pub use crate::commands::post::ANSWER_MESSAGE_COMMAND;
/// Longest search query Discord lets a member type.
pub const QUERY_MAX: u16 = 80;
/// Longest tag a member can type: SOE's longest tag name.
pub const TAG_MAX: u16 = crate::commands::search::TAG_MAX as u16;

pub use crate::commands::help::ask_message_command;

/// A text of the catalogue in English (what Discord shows by default) and in each Discord
/// locale a translation serves, cut to `max` characters.
struct Localized {
    default: String,
    translations: Vec<(&'static str, String)>,
}

/// Catalogue text `id` (naming the site as `site`), within `max` characters.
fn localized(id: &str, site: &str, max: usize) -> Localized {
    let text = |lang: Lang| truncate(&crate::tr!(lang, id, site = site), max);
    let translations = Lang::ALL
        .into_iter()
        .filter(|l| *l != Lang::En)
        .flat_map(|l| {
            let t = text(l);
            l.discord_locales().iter().map(move |loc| (*loc, t.clone()))
        })
        .collect();
    Localized {
        default: text(Lang::En),
        translations,
    }
}

/// A command description: catalogue text `id`, with its translations.
fn describe(command: CreateCommand, id: &str, site: &str) -> CreateCommand {
    let d = localized(id, site, DESCRIPTION_MAX);
    d.translations
        .into_iter()
        .fold(command.description(d.default), |c, (loc, t)| {
            c.description_localized(loc, t)
        })
}

/// An option of `kind` named `name`, described by catalogue text `id` (with translations).
fn option(kind: CommandOptionType, name: &str, id: &str, site: &str) -> CreateCommandOption {
    let d = localized(id, site, DESCRIPTION_MAX);
    d.translations.into_iter().fold(
        CreateCommandOption::new(kind, name, d.default),
        |o, (loc, t)| o.description_localized(loc, t),
    )
}

/// Adds a string choice shown as catalogue text `id` (its value stays `value`).
fn choice(o: CreateCommandOption, id: &str, value: &str) -> CreateCommandOption {
    let d = localized(id, "", CHOICE_NAME_MAX);
    o.add_string_choice_localized(d.default, value, d.translations)
}

/// Longest choice name Discord accepts.
const CHOICE_NAME_MAX: usize = 100;

/// Every command the bot registers, in a fixed order, naming the site as `site`; member
/// commands are offered in the bot's DMs only when `allow_dms` (`discord.allow_dms`).
/// Descriptions, choice names and the message commands' names come from the message
/// catalogue, with their translations (`name_localizations`, `description_localizations`);
/// the names members type stay as they are (the use cases match them).
pub fn command_definitions(allow_dms: bool, site: &str) -> Vec<CreateCommand> {
    use CommandOptionType::{Boolean, Channel, Integer, SubCommand, SubCommandGroup};
    let string = |name: &str, id: &str| option(CommandOptionType::String, name, id, site);
    let sub = |name: &str, id: &str| option(SubCommand, name, id, site);
    let mut member_contexts = vec![InteractionContext::Guild];
    if allow_dms {
        member_contexts.push(InteractionContext::BotDm);
    }
    let sort = ["relevance", "newest", "active", "score"]
        .into_iter()
        .fold(string("sort", "reg-search-sort"), |o, v| {
            choice(o, &format!("reg-sort-{v}"), v)
        });
    let so = describe(CreateCommand::new("so"), "reg-so", site)
        .integration_types(vec![InstallationContext::Guild])
        .contexts(member_contexts.clone())
        .add_option(
            sub("search", "reg-search")
                .add_sub_option(
                    string("query", "reg-search-query")
                        .required(true)
                        .min_length(1)
                        .max_length(QUERY_MAX),
                )
                .add_sub_option(
                    string("tag", "reg-search-tag")
                        .set_autocomplete(true)
                        .max_length(TAG_MAX),
                )
                .add_sub_option(sort),
        )
        .add_option(
            sub("question", "reg-question").add_sub_option(
                string("id", "reg-question-ref")
                    .required(true)
                    .set_autocomplete(true)
                    .max_length(300),
            ),
        )
        .add_option(
            sub("ask", "reg-ask")
                .add_sub_option(string("title", "reg-ask-title").max_length(150))
                .add_sub_option(
                    string("tags", "reg-tags")
                        .set_autocomplete(true)
                        .max_length(200),
                ),
        )
        .add_option(
            sub("answer", "reg-answer").add_sub_option(
                string("question", "reg-question-ref")
                    .required(true)
                    .set_autocomplete(true)
                    .max_length(300),
            ),
        )
        .add_option(sub("link", "reg-link"))
        .add_option(sub("unlink", "reg-unlink"))
        .add_option(sub("me", "reg-me"))
        .add_option(
            option(SubCommandGroup, "alerts", "reg-alerts", site)
                .add_sub_option(
                    sub("on", "reg-alerts-on").add_sub_option(
                        string("tags", "reg-alerts-tags")
                            .set_autocomplete(true)
                            .max_length(200),
                    ),
                )
                .add_sub_option(sub("off", "reg-alerts-off")),
        )
        .add_option(
            option(SubCommandGroup, "experts", "reg-experts", site)
                .add_sub_option(sub("on", "reg-experts-on"))
                .add_sub_option(sub("off", "reg-experts-off")),
        )
        .add_option(sub("help", "reg-help"));

    let channel_of = |verb: &str, id: &str, types: Vec<ChannelType>| {
        sub(verb, id).add_sub_option(
            option(Channel, "channel", "reg-channel-default-here", site).channel_types(types),
        )
    };
    let channel =
        |verb: &str, id: &str| channel_of(verb, id, vec![ChannelType::Text, ChannelType::News]);
    // Where the bot answers: forum channels too, whose posts (threads) follow the forum's
    // setting. Media channels (type 16) are left out: the official OpenAPI document's
    // ChannelTypes, which the contract follows, does not list them yet; their posts still
    // follow the channel's setting through the thread's parent.
    let gate = |verb: &str, id: &str| {
        channel_of(
            verb,
            id,
            vec![ChannelType::Text, ChannelType::News, ChannelType::Forum],
        )
    };
    let rule = || {
        option(Integer, "rule", "reg-rule", site)
            .required(true)
            .min_int_value(1)
    };
    #[allow(deprecated)] // dm_permission is deprecated in favour of contexts; both are sent
    let admin = describe(CreateCommand::new("so-admin"), "reg-admin", site)
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .dm_permission(false)
        .integration_types(vec![InstallationContext::Guild])
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            option(SubCommandGroup, "channel", "reg-admin-channel", site)
                .add_sub_option(gate("enable", "reg-admin-enable"))
                .add_sub_option(gate("disable", "reg-admin-disable"))
                .add_sub_option(
                    channel("team", "reg-admin-team").add_sub_option(
                        string("slug", "reg-admin-team-slug")
                            .min_length(1)
                            .max_length(64),
                    ),
                )
                .add_sub_option(
                    // `state` first: Discord wants required options before optional ones.
                    sub("cards", "reg-admin-cards")
                        .add_sub_option(choice(
                            choice(
                                string("state", "reg-admin-cards-state").required(true),
                                "reg-state-on",
                                "on",
                            ),
                            "reg-state-off",
                            "off",
                        ))
                        .add_sub_option(
                            option(Channel, "channel", "reg-admin-cards-channel", site)
                                .channel_types(vec![
                                    ChannelType::Text,
                                    ChannelType::News,
                                    ChannelType::Forum,
                                ]),
                        ),
                )
                .add_sub_option(
                    channel("tags", "reg-admin-tags").add_sub_option(
                        string("tags", "reg-tags")
                            .set_autocomplete(true)
                            .max_length(200),
                    ),
                ),
        )
        .add_option(
            sub("subscribe", "reg-subscribe")
                .add_sub_option(
                    string("tags", "reg-subscribe-tags")
                        .required(true)
                        .set_autocomplete(true)
                        .max_length(400),
                )
                .add_sub_option(
                    option(Channel, "channel", "reg-subscribe-channel", site)
                        .channel_types(vec![ChannelType::Text, ChannelType::News]),
                )
                .add_sub_option(choice(
                    choice(
                        string("match", "reg-subscribe-match"),
                        "reg-match-any",
                        "any",
                    ),
                    "reg-match-all",
                    "all",
                ))
                .add_sub_option(string("exclude", "reg-subscribe-exclude").max_length(400))
                .add_sub_option(string("events", "reg-subscribe-events").max_length(100))
                .add_sub_option(
                    string("unanswered-after", "reg-subscribe-unanswered").max_length(20),
                )
                .add_sub_option(option(Boolean, "threads", "reg-subscribe-threads", site))
                .add_sub_option(
                    option(Integer, "cap-per-hour", "reg-subscribe-cap", site)
                        .min_int_value(1)
                        .max_int_value(200),
                ),
        )
        .add_option(
            sub("subscriptions", "reg-subscriptions").add_sub_option(
                option(Channel, "channel", "reg-subscriptions-channel", site)
                    .channel_types(vec![ChannelType::Text, ChannelType::News]),
            ),
        )
        .add_option(sub("unsubscribe", "reg-unsubscribe").add_sub_option(rule()))
        .add_option(sub("preview", "reg-preview").add_sub_option(rule()))
        .add_option(sub("doctor", "reg-doctor"))
        .add_option(
            channel("audit-channel", "reg-audit-channel").add_sub_option(option(
                Boolean,
                "off",
                "reg-audit-off",
                site,
            )),
        );

    let message = |name: String, localized: Vec<(&'static str, String)>| {
        localized.into_iter().fold(
            CreateCommand::new(name)
                .kind(CommandType::Message)
                .integration_types(vec![InstallationContext::Guild])
                .contexts(member_contexts.clone()),
            |c, (loc, n)| c.name_localized(loc, n),
        )
    };
    let in_locales = |name: &dyn Fn(Lang) -> String| -> Vec<(&'static str, String)> {
        Lang::ALL
            .into_iter()
            .filter(|l| *l != Lang::En)
            .flat_map(|l| {
                let n = name(l);
                l.discord_locales().iter().map(move |loc| (*loc, n.clone()))
            })
            .collect()
    };
    let ask = |l: Lang| crate::commands::help::ask_message_command_in(l, site);
    let answer = |l: Lang| crate::commands::help::answer_message_command_in(l);
    vec![
        so,
        admin,
        message(ask_message_command(site), in_locales(&ask)),
        message(ANSWER_MESSAGE_COMMAND.to_string(), in_locales(&answer)),
        message(crate::commands::help::save_thread_command(site), Vec::new()),
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

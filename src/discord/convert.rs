//! Pure conversions between serenity's types and the use cases' [`Invocation`] / [`Reply`].
//!
//! Nothing here does I/O, so every rule is unit-tested on JSON fixtures. Invariants: every
//! message the bot builds carries `allowed_mentions` with nothing allowed; the ephemeral flag
//! (64) is set exactly when the reply says so (never on updates, whose visibility is fixed by
//! Discord); a reply kind the interaction cannot take (an update outside a component, a modal
//! after a defer) degrades to the nearest valid response rather than failing.

use serenity::all::{
    ActionRowComponent, AuthorizingIntegrationOwner, AuthorizingIntegrationOwners,
    AutocompleteChoice, ButtonStyle as SButtonStyle, CommandDataOption, CommandDataOptionValue,
    CommandType, ComponentInteractionDataKind, CreateActionRow, CreateAllowedMentions,
    CreateAutocompleteResponse, CreateButton, CreateEmbed, CreateEmbedFooter, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateMessage, CreateModal, CreateSelectMenu, CreateSelectMenuKind, CreateSelectMenuOption,
    EditInteractionResponse, GuildId, InputTextStyle, Interaction, InteractionContext,
    Member as SMember, ResolvedTarget, User,
};
use serenity::all::{ChannelId, ChannelType, MessageId, MessageReference, PartialChannel};

use crate::commands::invocation::RepliedMessage;
use crate::commands::{
    Ack, Action, ButtonStyle, Component, Embed, Invocation, Member, MessageRef, OptionValue,
    Origin, Reply, ReplyKind,
};

/// Discord's EPHEMERAL message flag.
pub const EPHEMERAL: u64 = 1 << 6;

/// Said instead of a modal or choices that can no longer be shown (the interaction was
/// deferred first).
const CANNOT_SHOW: &str =
    "This step needs a form, which Discord only allows as the first answer. Run the command again.";

// ------------------------------------------------------------------ interaction → invocation

/// The [`Invocation`] for an interaction: slash commands (with subcommand path and options),
/// autocomplete, button presses, modal submits and the message commands. `None` for pings and
/// for what the bot never registers (user commands, select menus, unresolved messages).
///
/// The member carries `member.permissions` exactly as Discord computed them for the channel
/// (overwrites included) and the role ids. In DMs there is no member: permissions are `None`.
/// The [`Origin`] says whether the guild's own install of the bot carried it ([`origin`]).
pub fn invocation_from(interaction: &Interaction) -> Option<Invocation> {
    match interaction {
        Interaction::Ping(_) => None,
        Interaction::Command(c) => {
            let action = match c.data.kind {
                CommandType::ChatInput => {
                    let (path, options) = walk_options(&c.data.options);
                    Action::Command {
                        name: c.data.name.clone(),
                        path,
                        options: options.iter().filter_map(option_value).collect(),
                    }
                }
                CommandType::Message => {
                    let Some(ResolvedTarget::Message(m)) = c.data.target() else {
                        return None;
                    };
                    let author_name = m
                        .member
                        .as_ref()
                        .and_then(|pm| pm.nick.clone())
                        .unwrap_or_else(|| m.author.display_name().to_string());
                    Action::MessageCommand {
                        name: c.data.name.clone(),
                        message: MessageRef {
                            id: m.id.get(),
                            author_id: m.author.id.get(),
                            author_name,
                            content: message_text(
                                &m.content,
                                &m.mentions
                                    .iter()
                                    .map(|u| (u.id.get(), u.display_name().to_string()))
                                    .collect::<Vec<_>>(),
                                &m.attachments
                                    .iter()
                                    .map(|a| (a.filename.clone(), a.url.clone()))
                                    .collect::<Vec<_>>(),
                            ),
                            thread_name: c
                                .channel
                                .as_ref()
                                .filter(|ch| thread_of(Some(ch)).0)
                                .and_then(|ch| ch.name.clone()),
                            replies_to: m
                                .referenced_message
                                .as_deref()
                                .map(|r| replied(r, c.application_id.get())),
                        },
                    }
                }
                _ => return None,
            };
            Some(invocation(
                c.id.get(),
                c.member.as_deref(),
                &c.user,
                c.guild_id.map(|g| g.get()),
                c.channel_id.get(),
                c.channel.as_ref(),
                &c.locale,
                origin(c.guild_id, c.context, &c.authorizing_integration_owners),
                action,
            ))
        }
        Interaction::Autocomplete(c) => {
            let focused = c.data.autocomplete()?;
            let (path, _) = walk_options(&c.data.options);
            Some(invocation(
                c.id.get(),
                c.member.as_deref(),
                &c.user,
                c.guild_id.map(|g| g.get()),
                c.channel_id.get(),
                c.channel.as_ref(),
                &c.locale,
                origin(c.guild_id, c.context, &c.authorizing_integration_owners),
                Action::Autocomplete {
                    name: c.data.name.clone(),
                    path,
                    focused: focused.name.to_string(),
                    value: focused.value.to_string(),
                },
            ))
        }
        Interaction::Component(c) => {
            let action = match &c.data.kind {
                ComponentInteractionDataKind::Button => Action::Button {
                    custom_id: c.data.custom_id.clone(),
                },
                ComponentInteractionDataKind::StringSelect { values } => Action::Select {
                    custom_id: c.data.custom_id.clone(),
                    values: values.clone(),
                },
                _ => return None,
            };
            Some(invocation(
                c.id.get(),
                c.member.as_ref(),
                &c.user,
                c.guild_id.map(|g| g.get()),
                c.channel_id.get(),
                c.channel.as_ref(),
                &c.locale,
                origin(c.guild_id, c.context, &c.authorizing_integration_owners),
                action,
            ))
        }
        Interaction::Modal(m) => {
            let fields = m
                .data
                .components
                .iter()
                .flat_map(|row| row.components.iter())
                .filter_map(|c| match c {
                    ActionRowComponent::InputText(t) => {
                        Some((t.custom_id.clone(), t.value.clone().unwrap_or_default()))
                    }
                    _ => None,
                })
                .collect();
            // serenity 0.12.5's modal type carries neither `context` nor the installs: only the
            // guild tells. A modal only follows a form the bot showed after the same gate.
            Some(invocation(
                m.id.get(),
                m.member.as_ref(),
                &m.user,
                m.guild_id.map(|g| g.get()),
                m.channel_id.get(),
                m.channel.as_ref(),
                &m.locale,
                origin(m.guild_id, None, &AuthorizingIntegrationOwners::default()),
                Action::Modal {
                    custom_id: m.data.custom_id.clone(),
                    fields,
                },
            ))
        }
        _ => None,
    }
}

/// What the use cases need of the message a message replies to: whether the bot (the user
/// whose id is the application's) sent it, and the ids and links that say which question a
/// card is about (component custom ids, link buttons, embed title links).
fn replied(r: &serenity::all::Message, application: u64) -> RepliedMessage {
    use serenity::all::ButtonKind;
    let mut custom_ids = Vec::new();
    let mut links: Vec<String> = r.embeds.iter().filter_map(|e| e.url.clone()).collect();
    for c in r.components.iter().flat_map(|row| row.components.iter()) {
        match c {
            ActionRowComponent::Button(b) => match &b.data {
                ButtonKind::NonLink { custom_id, .. } => custom_ids.push(custom_id.clone()),
                ButtonKind::Link { url } => links.push(url.clone()),
                _ => {}
            },
            ActionRowComponent::SelectMenu(m) => custom_ids.extend(m.custom_id.clone()),
            _ => {}
        }
    }
    RepliedMessage {
        id: r.id.get(),
        from_bot: r.author.bot && r.author.id.get() == application,
        custom_ids,
        links,
    }
}

/// A Discord message's text as it reads, for a post on the site: user mentions (`<@id>`)
/// become `@name` (from the message's resolved mentions, else `@user`), channel and role
/// mentions become `#channel` / `@role`, custom emoji (`<:name:id>`) become `:name:`, and
/// attachments are listed as links at the end. Everything else is kept as written.
pub fn message_text(
    content: &str,
    mentions: &[(u64, String)],
    attachments: &[(String, String)],
) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find('>') else {
            out.push_str(tail);
            rest = "";
            break;
        };
        let inner = &tail[1..end];
        let id_of = |s: &str| s.parse::<u64>().ok();
        let replaced = if let Some(id) = inner
            .strip_prefix("@!")
            .or_else(|| inner.strip_prefix('@').filter(|s| !s.starts_with('&')))
            .and_then(id_of)
        {
            let name = mentions
                .iter()
                .find(|(u, _)| *u == id)
                .map(|(_, n)| n.as_str());
            Some(format!("@{}", name.unwrap_or("user")))
        } else if inner.strip_prefix("@&").and_then(id_of).is_some() {
            Some("@role".to_string())
        } else if inner.strip_prefix('#').and_then(id_of).is_some() {
            Some("#channel".to_string())
        } else {
            let emoji = inner.strip_prefix("a:").or_else(|| inner.strip_prefix(':'));
            emoji
                .and_then(|e| e.rsplit_once(':'))
                .filter(|(name, id)| !name.is_empty() && id_of(id).is_some())
                .map(|(name, _)| format!(":{name}:"))
        };
        match replaced {
            Some(r) => out.push_str(&r),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    if !attachments.is_empty() {
        out.push_str("\n\nAttachments:");
        for (name, url) in attachments {
            out.push_str(&format!("\n- [{name}]({url})"));
        }
    }
    out
}

/// Whether an interaction came through the guild's own install of the bot: in a guild, not in
/// a DM or group DM context, and (when Discord says who authorised it) authorised by that
/// guild's install. A member's own (user) install, even inside a server, is
/// [`Origin::Private`], like a DM. An interaction without installs listed (older payloads,
/// modals) is judged by its guild alone.
pub fn origin(
    guild: Option<GuildId>,
    context: Option<InteractionContext>,
    owners: &AuthorizingIntegrationOwners,
) -> Origin {
    let Some(guild) = guild else {
        return Origin::Private;
    };
    if matches!(
        context,
        Some(InteractionContext::BotDm | InteractionContext::PrivateChannel)
    ) {
        return Origin::Private;
    }
    let by_this_guild = owners
        .0
        .iter()
        .any(|o| matches!(o, AuthorizingIntegrationOwner::GuildInstall(Some(g)) if *g == guild));
    if owners.0.is_empty() || by_this_guild {
        Origin::GuildInstall
    } else {
        Origin::Private
    }
}

/// Whether the interaction's channel is a thread (public, private or announcement; a forum
/// or media post is a public thread), and the channel it belongs to, if so.
fn thread_of(channel: Option<&PartialChannel>) -> (bool, Option<u64>) {
    match channel {
        Some(c)
            if matches!(
                c.kind,
                ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
            ) =>
        {
            (true, c.parent_id.map(|p| p.get()))
        }
        _ => (false, None),
    }
}

#[allow(clippy::too_many_arguments)] // one call site per interaction kind, all fields named
fn invocation(
    id: u64,
    member: Option<&SMember>,
    user: &User,
    guild_id: Option<u64>,
    channel_id: u64,
    channel: Option<&PartialChannel>,
    locale: &str,
    origin: Origin,
    action: Action,
) -> Invocation {
    let member = match member {
        Some(m) => Member {
            id: m.user.id.get(),
            name: m.display_name().to_string(),
            username: m.user.name.clone(),
            permissions: m.permissions.map(|p| p.bits()),
            role_ids: m.roles.iter().map(|r| r.get()).collect(),
        },
        None => Member {
            username: user.name.clone(),
            ..Member::new(user.id.get(), user.display_name())
        },
    };
    let (in_thread, thread_parent) = thread_of(channel);
    Invocation {
        id: id.to_string(),
        member,
        guild_id,
        channel_id: Some(channel_id),
        in_thread,
        thread_parent,
        locale: (!locale.is_empty()).then(|| locale.to_string()),
        origin,
        action,
        reply_token: None,
    }
}

/// Splits the option tree into the subcommand path and the leaf options.
fn walk_options(options: &[CommandDataOption]) -> (Vec<String>, &[CommandDataOption]) {
    let mut path = Vec::new();
    let mut current = options;
    loop {
        match current {
            [only] => match &only.value {
                CommandDataOptionValue::SubCommandGroup(inner)
                | CommandDataOptionValue::SubCommand(inner) => {
                    path.push(only.name.clone());
                    current = inner;
                }
                _ => return (path, current),
            },
            _ => return (path, current),
        }
    }
}

fn option_value(o: &CommandDataOption) -> Option<(String, OptionValue)> {
    let v = match &o.value {
        CommandDataOptionValue::String(s) => OptionValue::Str(s.clone()),
        CommandDataOptionValue::Integer(i) => OptionValue::Int(*i),
        CommandDataOptionValue::Boolean(b) => OptionValue::Bool(*b),
        CommandDataOptionValue::Number(n) => OptionValue::Str(n.to_string()),
        CommandDataOptionValue::Channel(c) => OptionValue::Channel(c.get()),
        CommandDataOptionValue::User(u) => OptionValue::User(u.get()),
        CommandDataOptionValue::Role(r) => OptionValue::Str(r.get().to_string()),
        CommandDataOptionValue::Mentionable(m) => OptionValue::Str(m.get().to_string()),
        CommandDataOptionValue::Autocomplete { value, .. } => OptionValue::Str(value.clone()),
        _ => return None,
    };
    Some((o.name.clone(), v))
}

// ------------------------------------------------------------------ reply → Discord

/// Whether the interaction came from a message component (only those can be answered with an
/// update of their message).
pub fn from_component(inv: &Invocation) -> bool {
    matches!(inv.action, Action::Button { .. } | Action::Select { .. })
}

/// Allowed mentions that allow nothing: no reply can ping anyone.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

fn embed(e: &Embed) -> CreateEmbed {
    let mut out = CreateEmbed::new();
    if !e.title.is_empty() {
        out = out.title(e.title.clone());
    }
    if let Some(url) = &e.url {
        out = out.url(url.clone());
    }
    if !e.description.is_empty() {
        out = out.description(e.description.clone());
    }
    if !e.fields.is_empty() {
        out = out.fields(
            e.fields
                .iter()
                .map(|f| (f.name.clone(), f.value.clone(), f.inline)),
        );
    }
    if let Some(footer) = &e.footer {
        out = out.footer(CreateEmbedFooter::new(footer.clone()));
    }
    if let Some(c) = e.color {
        out = out.color(c);
    }
    out
}

fn embeds(r: &Reply) -> Vec<CreateEmbed> {
    r.embeds.iter().map(embed).collect()
}

fn rows(r: &Reply) -> Vec<CreateActionRow> {
    r.rows
        .iter()
        .filter(|row| !row.is_empty())
        .map(|row| match row.as_slice() {
            [Component::Select {
                id,
                placeholder,
                options,
            }] => CreateActionRow::SelectMenu(
                CreateSelectMenu::new(
                    id.clone(),
                    CreateSelectMenuKind::String {
                        options: options
                            .iter()
                            .map(|o| {
                                let opt =
                                    CreateSelectMenuOption::new(o.label.clone(), o.value.clone());
                                match &o.description {
                                    Some(d) => opt.description(d.clone()),
                                    None => opt,
                                }
                            })
                            .collect(),
                    },
                )
                .placeholder(placeholder.clone()),
            ),
            _ => CreateActionRow::Buttons(row.iter().filter_map(button).collect()),
        })
        .collect()
}

/// A button; `None` for a select (a select fills its own row, see [`Reply::with_row`]).
fn button(c: &Component) -> Option<CreateButton> {
    Some(match c {
        Component::Button {
            id,
            label,
            style,
            disabled,
        } => CreateButton::new(id.clone())
            .label(label.clone())
            .style(match style {
                ButtonStyle::Primary => SButtonStyle::Primary,
                ButtonStyle::Secondary => SButtonStyle::Secondary,
                ButtonStyle::Success => SButtonStyle::Success,
                ButtonStyle::Danger => SButtonStyle::Danger,
            })
            .disabled(*disabled),
        Component::Link { url, label } => CreateButton::new_link(url.clone()).label(label.clone()),
        Component::Select { .. } => return None,
    })
}

/// Text standing in for a reply that cannot be shown as it is (a modal or choices where only
/// a message fits).
fn as_message(reply: &Reply) -> Reply {
    match reply.kind {
        ReplyKind::Message | ReplyKind::Update => reply.clone(),
        ReplyKind::Modal(_) | ReplyKind::Choices(_) => Reply::private(CANNOT_SHOW),
    }
}

/// A new message (`type 4`, or the data of a defer).
fn new_message(reply: &Reply) -> CreateInteractionResponseMessage {
    let mut m = CreateInteractionResponseMessage::new().allowed_mentions(no_mentions());
    if !reply.content.is_empty() {
        m = m.content(reply.content.clone());
    }
    if !reply.embeds.is_empty() {
        m = m.embeds(embeds(reply));
    }
    if !reply.rows.is_empty() {
        m = m.components(rows(reply));
    }
    if reply.ephemeral {
        m = m.ephemeral(true);
    }
    m
}

/// An update of the component's message (`type 7`): everything is replaced, so empty parts
/// are sent empty; the visibility of a message cannot change, so no flags.
fn update_message(reply: &Reply) -> CreateInteractionResponseMessage {
    CreateInteractionResponseMessage::new()
        .allowed_mentions(no_mentions())
        .content(reply.content.clone())
        .embeds(embeds(reply))
        .components(rows(reply))
}

/// The immediate response to an interaction for `reply`: a message (type 4), an update of the
/// component's message (type 7, only when `from_component`; otherwise a new message), a modal
/// (type 9) or autocomplete choices (type 8).
pub fn interaction_response(reply: &Reply, from_component: bool) -> CreateInteractionResponse {
    match &reply.kind {
        ReplyKind::Message => CreateInteractionResponse::Message(new_message(reply)),
        ReplyKind::Update if from_component => {
            CreateInteractionResponse::UpdateMessage(update_message(reply))
        }
        ReplyKind::Update => CreateInteractionResponse::Message(new_message(reply)),
        ReplyKind::Modal(modal) => {
            let inputs = modal
                .inputs
                .iter()
                .map(|i| {
                    let style = if i.paragraph {
                        InputTextStyle::Paragraph
                    } else {
                        InputTextStyle::Short
                    };
                    let mut t = CreateInputText::new(style, i.label.clone(), i.id.clone())
                        .required(i.required);
                    if let Some(v) = &i.value {
                        t = t.value(v.clone());
                    }
                    if let Some(p) = &i.placeholder {
                        t = t.placeholder(p.clone());
                    }
                    if let Some(min) = i.min_length {
                        t = t.min_length(min);
                    }
                    if let Some(max) = i.max_length {
                        t = t.max_length(max);
                    }
                    CreateActionRow::InputText(t)
                })
                .collect();
            CreateInteractionResponse::Modal(
                CreateModal::new(modal.id.clone(), modal.title.clone()).components(inputs),
            )
        }
        ReplyKind::Choices(choices) => CreateInteractionResponse::Autocomplete(
            CreateAutocompleteResponse::new().set_choices(
                choices
                    .iter()
                    .map(|c| AutocompleteChoice::new(c.name.clone(), c.value.clone()))
                    .collect(),
            ),
        ),
    }
}

/// The deferred response for `ack` (`None` for [`Ack::Immediate`]): a private or public
/// "thinking…" (type 5, flag 64 when private) or a deferred update (type 6).
pub fn defer_response(ack: Ack) -> Option<CreateInteractionResponse> {
    match ack {
        Ack::Immediate => None,
        Ack::DeferEphemeral => Some(CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new().ephemeral(true),
        )),
        Ack::DeferPublic => Some(CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new(),
        )),
        Ack::DeferUpdate => Some(CreateInteractionResponse::Acknowledge),
    }
}

/// An edit of the original response (`PATCH …/messages/@original`) that replaces all of it.
pub fn edit_response(reply: &Reply) -> EditInteractionResponse {
    let reply = as_message(reply);
    EditInteractionResponse::new()
        .allowed_mentions(no_mentions())
        .content(reply.content.clone())
        .embeds(embeds(&reply))
        .components(rows(&reply))
}

/// A follow-up message (`POST /webhooks/{app}/{token}`).
pub fn followup(reply: &Reply) -> CreateInteractionResponseFollowup {
    let reply = as_message(reply);
    let mut f = CreateInteractionResponseFollowup::new().allowed_mentions(no_mentions());
    if !reply.content.is_empty() {
        f = f.content(reply.content.clone());
    }
    if !reply.embeds.is_empty() {
        f = f.embeds(embeds(&reply));
    }
    if !reply.rows.is_empty() {
        f = f.components(rows(&reply));
    }
    if reply.ephemeral {
        f = f.ephemeral(true);
    }
    f
}

/// A plain channel message (a DM): content, embeds and buttons; no flags.
pub fn channel_message(reply: &Reply) -> CreateMessage {
    let reply = as_message(reply);
    let mut m = CreateMessage::new().allowed_mentions(no_mentions());
    if !reply.content.is_empty() {
        m = m.content(reply.content.clone());
    }
    if !reply.embeds.is_empty() {
        m = m.embeds(embeds(&reply));
    }
    if !reply.rows.is_empty() {
        m = m.components(rows(&reply));
    }
    m
}

/// How a deferred interaction is finished once the use case has answered.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Edit the original response (the "thinking…", or the component's message after a
    /// deferred update).
    Edit(EditInteractionResponse),
    /// Leave the original alone and send a follow-up (a private error after a deferred update
    /// must not replace the message the button was on).
    Followup(CreateInteractionResponseFollowup),
    /// Delete the public "thinking…" and send the reply privately (a public defer whose
    /// answer turned out to be private, e.g. an error on Share).
    ReplaceWithPrivate(CreateInteractionResponseFollowup),
    /// Post the reply as a channel message that replies to another message (an interaction
    /// response cannot), then delete the public "thinking…"; if the bot cannot post there,
    /// edit the "thinking…" into the reply instead (no reply reference, nothing lost).
    ReplyInChannel {
        /// The message, with its `message_reference` (boxed: it is much bigger than the other
        /// plans).
        message: Box<CreateMessage>,
        /// The edit of the "thinking…" used when the message cannot be sent.
        fallback: Box<EditInteractionResponse>,
    },
}

/// Chooses how to deliver `reply` after the interaction was acknowledged with `ack`, in
/// `channel` (the interaction's). Discord fixes a deferred message's visibility at the defer,
/// so a private answer to a public defer is deleted-and-followed-up rather than edited into
/// public view; a public answer that replies to a message goes out as a channel message.
pub fn finish_plan(ack: Ack, reply: &Reply, channel: Option<u64>) -> Finish {
    let reply = as_message(reply);
    match ack {
        Ack::DeferPublic if reply.ephemeral => Finish::ReplaceWithPrivate(followup(&reply)),
        Ack::DeferPublic => match (reply.reply_to, channel) {
            (Some(message), Some(channel)) if message > 0 && channel > 0 => {
                let reference =
                    MessageReference::from((ChannelId::new(channel), MessageId::new(message)));
                let mut reference = reference;
                // A deleted source message must not cost the card: post it without the reply.
                reference.fail_if_not_exists = Some(false);
                Finish::ReplyInChannel {
                    message: Box::new(channel_message(&reply).reference_message(reference)),
                    fallback: Box::new(edit_response(&reply)),
                }
            }
            _ => Finish::Edit(edit_response(&reply)),
        },
        Ack::DeferUpdate if reply.kind != ReplyKind::Update => Finish::Followup(followup(&reply)),
        _ => Finish::Edit(edit_response(&reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::message_text;

    #[test]
    fn discord_syntax_reads_as_names_and_attachments_as_links() {
        let mentions = [(42, "Jane".to_string())];
        assert_eq!(
            message_text(
                "Hi <@42> and <@!7>, see <#99> (<@&5>) <:blobwave:123> <a:party:9> <b> a<c",
                &mentions,
                &[]
            ),
            "Hi @Jane and @user, see #channel (@role) :blobwave: :party: <b> a<c"
        );
        assert_eq!(
            message_text(
                "Logs:",
                &[],
                &[("log.txt".into(), "https://cdn/x/log.txt".into())]
            ),
            "Logs:\n\nAttachments:\n- [log.txt](https://cdn/x/log.txt)"
        );
    }
}

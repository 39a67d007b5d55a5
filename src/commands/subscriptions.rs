//! `/so-admin subscribe | subscriptions | unsubscribe | preview`: the subscription rules of a
//! server (see [`crate::notify`] for what happens to them).
//!
//! Invariants: the admin check of [`super::admin`] runs on every call (guild only; Manage
//! Server, Administrator or a configured admin role id); a channel option must be a channel of
//! the invoking guild, asked of the [`ChannelDirectory`] the adapter supplies (without one,
//! only the channel the command was used in is accepted); every reply is private; `preview`
//! reads through the service token behind the global budget, charged to the admin's share.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};

use super::admin::is_admin;
use super::render::escape_md;
use super::reply::{truncate, Reply};
use super::{Commands, Invocation, OptionValue};
use crate::notify::model::ChannelNotify;
use crate::notify::poll::{article_card, question_card};
use crate::notify::rule::{parse_spec, ActivityKind, EventKind, Rule, SubscribeOptions};
use crate::soe::{ArticleSort, Order, PageSize, QuestionQuery, QuestionSort, SoeRead};

/// Rules one server may have.
pub const MAX_RULES_PER_GUILD: usize = 1_000;
/// Pages of 100 questions `preview` reads at most (the last 7 days of a busy site).
const PREVIEW_PAGES: u32 = 5;

/// Which guild a channel belongs to (the Discord adapter asks Discord's REST API).
#[async_trait]
pub trait ChannelDirectory: Send + Sync {
    /// `Ok(Some(guild))` for a guild channel, `Ok(None)` when there is no such channel (or
    /// the bot cannot see it); `Err` (log-safe text) when Discord could not answer.
    async fn channel_guild(&self, channel: u64) -> Result<Option<u64>, String>;
}

/// `/so-admin subscribe|subscriptions|unsubscribe|preview`.
pub async fn command(ctx: &Commands, inv: &Invocation, verb: &str) -> Reply {
    let Some(guild) = inv.guild_id else {
        return Reply::private("Admin commands work only inside a server, not in DMs.");
    };
    if !is_admin(&inv.member, true, &ctx.access.policy().admin_roles) {
        tracing::info!(user = inv.member.id, "admin command denied");
        return Reply::private("You need the Manage Server permission (or an admin role set in the bot's config) to change the bot's settings.");
    }
    match verb {
        "subscribe" => subscribe(ctx, inv, guild).await,
        "subscriptions" => list(ctx, inv, guild).await,
        "unsubscribe" => unsubscribe(ctx, inv, guild).await,
        "preview" => preview(ctx, inv, guild).await,
        _ => Reply::private("Unknown admin command."),
    }
}

/// The channel named by the `channel` option (default: where the command was used), checked
/// to be a channel of `guild`.
async fn channel_of_guild(
    ctx: &Commands,
    inv: &Invocation,
    guild: u64,
) -> Result<Option<u64>, String> {
    let named = match inv.option("channel") {
        Some(OptionValue::Channel(c)) => Some(*c),
        _ => None,
    };
    let Some(channel) = named else {
        return Ok(inv.channel_id);
    };
    if Some(channel) == inv.channel_id {
        return Ok(Some(channel));
    }
    let directory = ctx.channels.read().clone();
    let Some(directory) = directory else {
        return Err(
            "The bot cannot check other channels here; run the command in the channel itself."
                .into(),
        );
    };
    match directory.channel_guild(channel).await {
        Ok(Some(g)) if g == guild => Ok(Some(channel)),
        Ok(_) => Err(
            "That channel is not a channel of this server (or the bot cannot see it). Pick one of this server's channels.".into(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not look a channel up");
            Err(
                "Discord did not say which server that channel belongs to, so nothing was changed. Try again in a minute.".into(),
            )
        }
    }
}

fn rule_number(inv: &Invocation) -> Result<u32, String> {
    match inv.option("rule") {
        Some(OptionValue::Int(n)) if *n >= 1 => u32::try_from(*n).map_err(|_| no_rule_text(*n)),
        Some(OptionValue::Str(s)) => s
            .trim()
            .trim_start_matches('#')
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                "`rule` is a rule number from `/so-admin subscriptions`, e.g. `rule:3`.".to_string()
            }),
        _ => Err("Give the rule's number from `/so-admin subscriptions`, e.g. `rule:3`.".into()),
    }
}

fn no_rule_text(n: i64) -> String {
    format!("This server has no rule #{n}. `/so-admin subscriptions` lists them.")
}

fn no_rule(n: i64) -> Reply {
    Reply::private(no_rule_text(n))
}

async fn subscribe(ctx: &Commands, inv: &Invocation, guild: u64) -> Reply {
    let channel = match channel_of_guild(ctx, inv, guild).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Reply::private(
                "Name a channel, e.g. `/so-admin subscribe channel:#help tags:rust`.",
            )
        }
        Err(message) => return Reply::private(message),
    };
    let (tags, mode, exclude, events, after) = (
        inv.text("tags"),
        inv.text("match"),
        inv.text("exclude"),
        inv.text("events"),
        inv.text("unanswered-after"),
    );
    let spec = match parse_spec(&SubscribeOptions {
        tags: tags.as_deref(),
        match_mode: mode.as_deref(),
        exclude: exclude.as_deref(),
        events: events.as_deref(),
        unanswered_after: after.as_deref(),
    }) {
        Ok(s) => s,
        Err(message) => return Reply::private(message),
    };
    let threads = match inv.option("threads") {
        Some(OptionValue::Bool(b)) => Some(*b),
        _ => None,
    };
    let cap = match inv.option("cap-per-hour") {
        Some(OptionValue::Int(n)) if (1..=200).contains(n) => u32::try_from(*n).ok(),
        Some(OptionValue::Int(_)) => {
            return Reply::private("`cap-per-hour` must be between 1 and 200.")
        }
        _ => None,
    };
    let existing = match ctx.store.rules_of(guild).await {
        Ok(r) => r,
        Err(e) => return ctx.store_failure(&e),
    };
    let same = existing
        .iter()
        .find(|r| r.channel == channel && r.spec == spec)
        .map(|r| r.id);
    if same.is_none() && existing.len() >= MAX_RULES_PER_GUILD {
        return Reply::private(format!(
            "This server already has {MAX_RULES_PER_GUILD} rules, the most it may have. Remove some with `/so-admin unsubscribe`."
        ));
    }
    // The channel's options apply whether or not the rule is new: `subscribe` is the only
    // place to change them.
    let (settings_note, settings_change) = match channel_options(ctx, channel, threads, cap).await {
        Ok(Some((s, changed))) => (
            channel_settings_line(&s),
            changed.then(|| format!("set the cards of <#{channel}> to {}", settings_text(&s))),
        ),
        Ok(None) => (String::new(), None),
        Err(reply) => return reply,
    };
    if let Some(id) = same {
        if let Some(what) = settings_change {
            tracing::info!(
                guild,
                channel,
                admin = inv.member.id,
                "channel card settings changed"
            );
            ctx.audit(super::audit::AuditEvent {
                guild: Some(guild),
                actor: inv.member.id,
                actor_username: Some(inv.member.username.clone()),
                what,
                link: None,
            })
            .await;
        }
        return Reply::private(format!(
            "Rule #{id} already does exactly this in <#{channel}>.{settings_note}"
        ));
    }
    let rule = Rule {
        guild,
        id: 0,
        channel,
        spec,
        // The channel's own team binding (`/so-admin channel team`); `None` reads the main
        // site (or the configured default team), so one loop serves every unbound channel.
        team: ctx
            .store
            .guild_settings(guild)
            .await
            .ok()
            .and_then(|s| s.channel_teams.get(&channel).cloned()),
        created_by: inv.member.id,
        created_at: ctx.clock.now(),
        last_post_at: None,
        last_error: None,
    };
    let rule = match ctx.store.add_rule(&rule).await {
        Ok(r) => r,
        Err(e) => return ctx.store_failure(&e),
    };
    tracing::info!(
        guild,
        channel,
        rule = rule.id,
        admin = inv.member.id,
        spec = %rule.spec.describe(),
        "subscription rule added"
    );
    ctx.audit(super::audit::AuditEvent {
        guild: Some(guild),
        actor: inv.member.id,
        actor_username: Some(inv.member.username.clone()),
        what: format!(
            "added subscription rule #{} in <#{channel}>: {}{}",
            rule.id,
            rule.spec.describe(),
            settings_change
                .map(|c| format!("; {c}"))
                .unwrap_or_default()
        ),
        link: None,
    })
    .await;
    let tags_note = unknown_tags_note(ctx, &rule);
    Reply::private(format!(
        "Rule **#{}**: <#{channel}> gets a card for {}.{settings_note}{tags_note}\nCards start with activity from now on; `/so-admin preview rule:{}` shows what the last 7 days would have given, `/so-admin unsubscribe rule:{}` removes it.",
        rule.id,
        rule.spec.describe(),
        rule.id,
        rule.id
    ))
}

/// A warning line naming the rule's tags (and excluded tags) that the site's tag list does not
/// have: a typo or a synonym never matches (activity carries the site's tag names), silently.
/// Empty when all are known, when the list is not loaded or not complete (nothing can be
/// told), and for a rule of a private team (the list is the main site's).
fn unknown_tags_note(ctx: &Commands, rule: &Rule) -> String {
    let known = ctx.tag_cache();
    if rule.team.is_some() || !known.knows_every_tag() {
        return String::new();
    }
    let unknown: Vec<String> = rule
        .spec
        .tags
        .iter()
        .chain(&rule.spec.exclude)
        .filter(|t| !known.contains(t))
        .map(|t| format!("`{t}`"))
        .collect();
    let (them, names) = match unknown.as_slice() {
        [] => return String::new(),
        [one] => ("it", one.clone()),
        [init @ .., last] => ("them", format!("{} or {last}", init.join(", "))),
    };
    format!(
        "\n⚠️ The site has no tag {names} (yet): the rule keeps {them} and matches once the site uses {them}. Check the spelling; a tag synonym never matches, name the tag it stands for."
    )
}

/// Applies the `threads` and `cap-per-hour` options to `channel`'s settings: `Ok(None)` when
/// neither was given, else the settings now in force and whether they changed.
async fn channel_options(
    ctx: &Commands,
    channel: u64,
    threads: Option<bool>,
    cap: Option<u32>,
) -> Result<Option<(ChannelNotify, bool)>, Reply> {
    if threads.is_none() && cap.is_none() {
        return Ok(None);
    }
    let before = ctx
        .store
        .channel_notify(channel)
        .await
        .map_err(|e| ctx.store_failure(&e))?;
    let mut s = before.clone();
    if let Some(t) = threads {
        s.threads = t;
    }
    if let Some(c) = cap {
        s.cap_per_hour = c;
    }
    let changed = s != before;
    if changed {
        ctx.store
            .put_channel_notify(channel, &s)
            .await
            .map_err(|e| ctx.store_failure(&e))?;
    }
    Ok(Some((s, changed)))
}

/// A channel's card settings, as a phrase ("threads on question cards on, at most 20 cards
/// an hour").
fn settings_text(s: &ChannelNotify) -> String {
    format!(
        "threads on question cards {}, at most {} cards an hour",
        if s.threads { "on" } else { "off" },
        s.cap_per_hour
    )
}

fn channel_settings_line(s: &ChannelNotify) -> String {
    format!("\nThis channel: {} (then one digest).", settings_text(s))
}

fn ago(then: chrono::DateTime<Utc>, now: chrono::DateTime<Utc>) -> String {
    super::render::age(Some(then), now)
}

async fn list(ctx: &Commands, inv: &Invocation, guild: u64) -> Reply {
    let only = match inv.option("channel") {
        Some(OptionValue::Channel(_)) => match channel_of_guild(ctx, inv, guild).await {
            Ok(c) => c,
            Err(message) => return Reply::private(message),
        },
        _ => None,
    };
    let rules = match ctx.store.rules_of(guild).await {
        Ok(r) => r,
        Err(e) => return ctx.store_failure(&e),
    };
    let rules: Vec<Rule> = rules
        .into_iter()
        .filter(|r| only.is_none_or(|c| r.channel == c))
        .collect();
    if rules.is_empty() {
        return Reply::private(match only {
            Some(c) => format!("<#{c}> has no subscription rules. Add one with `/so-admin subscribe`."),
            None => "This server has no subscription rules. Add one with `/so-admin subscribe channel:#help tags:rust`.".into(),
        });
    }
    let now = ctx.clock.now();
    let mut lines = vec![format!("**Subscription rules** ({}):", rules.len())];
    for r in &rules {
        let mut line = format!("**#{}** <#{}>: {}", r.id, r.channel, r.spec.describe());
        match r.last_post_at {
            Some(t) => line.push_str(&format!(" · last card {}", ago(t, now))),
            None => line.push_str(" · no card yet"),
        }
        if let Some(e) = &r.last_error {
            line.push_str(&format!(
                "\n  ⚠ {} ({})",
                escape_md(&truncate(&e.message, 200)),
                ago(e.at, now)
            ));
        }
        lines.push(line);
    }
    let mut out = String::new();
    let mut shown = 0;
    for l in &lines {
        if out.len() + l.len() + 40 > 1900 {
            break;
        }
        out.push_str(l);
        out.push('\n');
        shown += 1;
    }
    if shown < lines.len() {
        out.push_str(&format!(
            "…and {} more; narrow it with `channel:`.",
            lines.len() - shown
        ));
    }
    Reply::private(out.trim_end())
}

async fn unsubscribe(ctx: &Commands, inv: &Invocation, guild: u64) -> Reply {
    let n = match rule_number(inv) {
        Ok(n) => n,
        Err(message) => return Reply::private(message),
    };
    match ctx.store.delete_rule(guild, n).await {
        Ok(true) => {
            tracing::info!(
                guild,
                rule = n,
                admin = inv.member.id,
                "subscription rule removed"
            );
            ctx.audit(super::audit::AuditEvent {
                guild: Some(guild),
                actor: inv.member.id,
                actor_username: Some(inv.member.username.clone()),
                what: format!("removed subscription rule #{n}"),
                link: None,
            })
            .await;
            Reply::private(format!(
                "Rule #{n} removed; cards it had queued and not yet sent are dropped."
            ))
        }
        Ok(false) => no_rule(i64::from(n)),
        Err(e) => ctx.store_failure(&e),
    }
}

async fn preview(ctx: &Commands, inv: &Invocation, guild: u64) -> Reply {
    let n = match rule_number(inv) {
        Ok(n) => n,
        Err(message) => return Reply::private(message),
    };
    let rule = match ctx.store.get_rule(guild, n).await {
        Ok(Some(r)) => r,
        Ok(None) => return no_rule(i64::from(n)),
        Err(e) => return ctx.store_failure(&e),
    };
    let now = ctx.clock.now();
    let from = now - Duration::days(7);
    let reader = ctx.reader_for(inv.member.id, rule.team.as_ref());
    let mut questions = Vec::new();
    let mut complete = true;
    for page in 1..=PREVIEW_PAGES {
        let p = match (&reader as &dyn SoeRead)
            .list_questions(&QuestionQuery {
                page,
                page_size: PageSize::Hundred,
                sort: Some(QuestionSort::Creation),
                order: Some(Order::Desc),
                from: Some(from),
                ..Default::default()
            })
            .await
        {
            Ok(p) => p,
            Err(e) => return ctx.soe_failure(&e),
        };
        let n = p.items.len();
        questions.extend(p.items);
        if n < 100 || i64::from(page) >= p.total_pages {
            break;
        }
        if page == PREVIEW_PAGES {
            complete = false;
        }
    }
    let wants = |k: EventKind| rule.spec.events.contains(&k);
    let mut cards = 0i64;
    let mut examples = Vec::new();
    for q in &questions {
        let tags: Vec<String> = q.tags.iter().map(|t| t.name.to_ascii_lowercase()).collect();
        let created = q.creation_date.unwrap_or(now);
        let age = u64::try_from((now - created).num_seconds().max(0)).unwrap_or(0);
        let kind = if rule.spec.unanswered_after_secs.is_some() {
            ActivityKind::Unanswered { age_secs: age }
        } else {
            ActivityKind::NewQuestion
        };
        let mut hit = false;
        if wants(EventKind::Questions)
            && rule.spec.matches(kind, &tags)
            && (rule.spec.unanswered_after_secs.is_none() || q.answer_count == 0)
        {
            cards += 1;
            hit = true;
        }
        if wants(EventKind::Answers) && rule.spec.matches(ActivityKind::NewAnswer, &tags) {
            cards += q.answer_count;
            hit |= q.answer_count > 0;
        }
        if hit && examples.len() < 3 {
            examples.push(question_card(q, kind));
        }
    }
    // Articles: one page of the newest (what the poller reads per interval, too).
    let mut articles_complete = true;
    if wants(EventKind::Articles) {
        let page = match (&reader as &dyn SoeRead)
            .list_articles(1, PageSize::Hundred, ArticleSort::Creation, Order::Desc)
            .await
        {
            Ok(p) => p,
            Err(e) => return ctx.soe_failure(&e),
        };
        let mut reached_old = false;
        for a in page.items.iter().filter(|a| !a.is_deleted) {
            let created = a.creation_date.unwrap_or(now);
            if created < from {
                reached_old = true;
                continue;
            }
            let card = article_card(a);
            if rule.spec.matches(ActivityKind::NewArticle, &card.tags) {
                cards += 1;
                if examples.len() < 3 {
                    examples.push(card);
                }
            }
        }
        articles_complete = reached_old || page.items.len() < 100;
    }
    let mut text = format!(
        "Rule #{} ({}) would have posted **{cards}** card{} in <#{}> over the last 7 days{}.",
        rule.id,
        rule.spec.describe(),
        if cards == 1 { "" } else { "s" },
        rule.channel,
        if complete {
            ""
        } else {
            " (counting only the 500 newest questions)"
        }
    );
    if !articles_complete {
        text.push_str(" Articles: only the 100 newest are counted.");
    }
    if wants(EventKind::Accepted) {
        text.push_str(" Acceptances are not counted: the site's question list does not say when an answer was accepted.");
    }
    if examples.is_empty() {
        text.push_str("\nNo examples: nothing matched.");
    } else {
        text.push_str("\nFor example:");
        for c in &examples {
            text.push_str(&format!(
                "\n• [{}](<{}>) ({})",
                escape_md(&truncate(&c.title, 120)),
                c.url,
                c.tags.join(", ")
            ));
        }
    }
    Reply::private(text)
}

/// For adapters: remembers the directory used to check channel options.
pub fn set_directory(ctx: &Commands, directory: Arc<dyn ChannelDirectory>) {
    *ctx.channels.write() = Some(directory);
}

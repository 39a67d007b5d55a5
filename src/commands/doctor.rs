//! `doctor`: what stands between the bot and working, checked live, for admins
//! (`/so-admin doctor`) and operators (`soe-bot doctor`), in one report.
//!
//! Checks, in order: the site is reachable and the service token valid (`GET /users/me`); the
//! service token is a read token; each private team the bot works in (the configured one and
//! every channel binding) is readable with it; the API application lets members write (no
//! link's writes refused outright, see [`crate::store::LinkStatus::WriteRefused`]); the
//! service budget's headroom; notifications (each poll loop's last poll, lag and error, the
//! outbox depth, each rule's last error); personal alerts and expert routing (members with
//! them on, questions watched for their askers, DMs waiting or failing); the bot's permissions in
//! every channel the guild's settings or subscription rules name (View Channel, Send
//! Messages, Embed Links; thread permissions as a warning); then a test
//! card is posted. Invariants: every problem says what to do next; nothing in the report is
//! secret (no token, no URL with a token); the SOE calls go through the global budget.

use std::collections::BTreeSet;

use super::reply::{Embed, Reply};
use super::server::{missing_permissions, EMBED_LINKS, SEND_MESSAGES, VIEW_CHANNEL};
use super::{Commands, Invocation};
use crate::soe::{self, PageSize, SoeRead, TagSort, TeamSlug};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, with a caveat.
    Warn,
    /// Broken: something the admin must fix.
    Fail,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✅",
            Status::Warn => "⚠️",
            Status::Fail => "❌",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The outcome.
    pub status: Status,
    /// What was found and, for a problem, what to do (Discord Markdown; channels as `<#id>`).
    pub text: String,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Adds a line.
    pub fn push(&mut self, status: Status, text: impl Into<String>) {
        self.checks.push(Check {
            status,
            text: text.into(),
        });
    }

    /// True when no check failed (warnings allowed).
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// The report as Discord Markdown.
    pub fn render(&self) -> String {
        let problems = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        let head = match problems {
            0 => "**soe-bot doctor**: all good".to_string(),
            1 => "**soe-bot doctor**: 1 problem".to_string(),
            n => format!("**soe-bot doctor**: {n} problems"),
        };
        let mut out = vec![head];
        out.extend(
            self.checks
                .iter()
                .map(|c| format!("{} {}", c.status.mark(), c.text)),
        );
        out.join("\n")
    }

    /// The report for a terminal: channels as `#id`, no Markdown emphasis.
    pub fn render_plain(&self) -> String {
        plain(&self.render())
    }
}

/// Discord Markdown to terminal text: `<#id>` → `#id`, `**`/`` ` `` dropped.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<#") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('>') {
            Some(j) if j > 0 && after[..j].chars().all(|c| c.is_ascii_digit()) => {
                out.push('#');
                out.push_str(&after[..j]);
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str("<#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("**", "").replace('`', "")
}

/// `/so-admin doctor` in `guild` (the permission check already passed): the report for this
/// guild, the channel it was asked in included, with a test card posted there.
pub async fn command(ctx: &Commands, inv: &Invocation, guild: u64) -> Reply {
    let mut report = check(ctx, &[guild], inv.channel_id).await;
    match inv.channel_id {
        Some(channel) => post_test_card(ctx, &mut report, channel).await,
        None => report.push(Status::Warn, "No channel to post a test card to."),
    }
    Reply::private(report.render())
}

/// The checks for `guilds` (plus `here`, the channel a command was used in), without the test
/// card.
pub async fn check(ctx: &Commands, guilds: &[u64], here: Option<u64>) -> Report {
    let mut report = Report::default();
    let mut teams: BTreeSet<TeamSlug> = ctx.site.team.iter().cloned().collect();
    let mut channels: Vec<(u64, u64)> = Vec::new();
    for &guild in guilds {
        match ctx.store.guild_settings(guild).await {
            Ok(s) => {
                teams.extend(s.channel_teams.values().cloned());
                let mut list = s.configured_channels();
                if let Some(h) = here {
                    if !list.contains(&h) {
                        list.insert(0, h);
                    }
                }
                // The channels of the guild's subscription rules: where cards must post,
                // even when no setting names them.
                match ctx.store.rules_of(guild).await {
                    Ok(rules) => {
                        for r in rules {
                            if !list.contains(&r.channel) {
                                list.push(r.channel);
                            }
                        }
                    }
                    Err(e) => report.push(
                        Status::Fail,
                        format!(
                            "The subscription rules could not be read ({e}); their channels were not checked."
                        ),
                    ),
                }
                channels.extend(list.into_iter().map(|c| (guild, c)));
            }
            Err(e) => report.push(
                Status::Fail,
                format!(
                    "The bot's storage could not be read ({e}); channel settings were not checked."
                ),
            ),
        }
    }
    site_checks(ctx, &mut report, &teams).await;
    application_check(ctx, &mut report).await;
    budget_check(ctx, &mut report).await;
    notify_checks(ctx, &mut report, guilds).await;
    personal_checks(ctx, &mut report).await;
    channel_checks(ctx, &mut report, &channels).await;
    report
}

/// The checks that need no store (the site, the service token, the configured team, the
/// budget), for when the bot's storage cannot be read (`soe-bot doctor` while another process
/// holds it and no snapshot could be had): `why` says what failed, and the report names what
/// was not checked, as a failure, rather than show an empty store's zeros.
pub async fn check_without_store(ctx: &Commands, why: &str) -> Report {
    let mut report = Report::default();
    let teams: BTreeSet<TeamSlug> = ctx.site.team.iter().cloned().collect();
    site_checks(ctx, &mut report, &teams).await;
    budget_check(ctx, &mut report).await;
    report.push(
        Status::Fail,
        format!(
            "The bot's storage could not be read: {why}. Not checked: subscription rules and their channels, the notification poll loops, the outbox, linked members, personal alerts and the channel settings. Run `/so-admin doctor` in Discord, or run this again as the bot's user once its control socket answers."
        ),
    );
    report
}

/// Personal alerts and expert routing: how many members have them on, the questions asked
/// through the bot still watched for answers, and the DMs waiting (a failing one is a
/// warning: DMs closed, or Discord refusing).
async fn personal_checks(ctx: &Commands, report: &mut Report) {
    let h = match ctx.store.personal_health().await {
        Ok(h) => h,
        Err(e) => {
            report.push(
                Status::Fail,
                format!("The personal alerts' state could not be read ({e})."),
            );
            return;
        }
    };
    report.push(
        Status::Ok,
        format!(
            "Personal alerts: {} member{} with alerts on, {} with expert routing on; {} question{} asked through the bot watched for answers.",
            h.alert_members,
            if h.alert_members == 1 { "" } else { "s" },
            h.expert_members,
            h.asked_questions,
            if h.asked_questions == 1 { "" } else { "s" },
        ),
    );
    match (&h.last_error, h.failing) {
        (Some(e), n) if n > 0 => report.push(
            Status::Warn,
            format!(
                "Alert DMs: {} waiting, {n} failing (last error: {e}). Members who close their DMs to the bot stop getting alerts.",
                h.outbox_depth
            ),
        ),
        _ => report.push(
            Status::Ok,
            format!(
                "Alert DMs: {} waiting.",
                h.outbox_depth
            ),
        ),
    }
}

/// A poll loop that has not run for this many intervals is reported as stalled.
const STALLED_POLLS: i64 = 5;
/// A card queued longer than this means delivery is stuck.
const STUCK_CARD_MINUTES: i64 = 10;

/// Notifications: each poll loop's last poll, lag and error; the outbox depth; each rule of
/// `guilds` with a last error.
async fn notify_checks(ctx: &Commands, report: &mut Report, guilds: &[u64]) {
    use crate::notify::model::Target;
    let health = match ctx.store.notify_health().await {
        Ok(h) => h,
        Err(e) => {
            report.push(
                Status::Fail,
                format!("The notifications' state could not be read ({e})."),
            );
            return;
        }
    };
    let now = ctx.clock.now();
    let interval = crate::notify::PollSettings::default().interval;
    let stalled_after = chrono::Duration::from_std(interval)
        .unwrap_or(chrono::Duration::minutes(1))
        * STALLED_POLLS as i32;
    let has_rules = ctx.store.all_rules().await.is_ok_and(|r| !r.is_empty());
    if health.targets.is_empty() {
        report.push(
            if has_rules { Status::Warn } else { Status::Ok },
            if has_rules {
                "Notifications: no poll has run yet (the first one starts within a minute of startup)."
            } else {
                "Notifications: no subscription rules yet (`/so-admin subscribe`)."
            },
        );
    }
    for (key, state) in &health.targets {
        let what = Target::from_key(key)
            .map(|t| t.describe())
            .unwrap_or_else(|| key.clone());
        let last = state
            .last_poll_at
            .map(|t| super::render::age(Some(t), now))
            .unwrap_or_else(|| "never".into());
        let lag = state
            .lag_secs
            .map(|s| format!(", {s} s behind the site"))
            .unwrap_or_default();
        match (&state.last_error, state.last_poll_at) {
            (Some(e), _) => report.push(
                Status::Fail,
                format!(
                    "Notifications from {what}: the last poll failed ({}); last poll {last}{lag}.",
                    e.message
                ),
            ),
            (None, Some(t)) if now - t > stalled_after => report.push(
                Status::Warn,
                format!("Notifications from {what}: the last poll was {last}; the poll loop may be stalled (restart the bot if it stays so)."),
            ),
            (None, _) => report.push(
                Status::Ok,
                format!("Notifications from {what}: last poll {last}{lag}."),
            ),
        }
    }
    let stuck = health
        .oldest_queued_at
        .is_some_and(|t| now - t > chrono::Duration::minutes(STUCK_CARD_MINUTES));
    report.push(
        if stuck { Status::Warn } else { Status::Ok },
        format!(
            "Outbox: {} card{} waiting{}.",
            health.outbox_depth,
            if health.outbox_depth == 1 { "" } else { "s" },
            match health.oldest_queued_at {
                Some(t) if stuck => format!(
                    ", the oldest since {} (Discord refusing or unreachable?)",
                    super::render::age(Some(t), now)
                ),
                _ => String::new(),
            }
        ),
    );
    for (guild, rule, channel, error) in &health.rule_errors {
        if guilds.contains(guild) {
            report.push(
                Status::Fail,
                format!(
                    "Rule #{rule} in <#{channel}>: {} ({}).",
                    error.message,
                    super::render::age(Some(error.at), now)
                ),
            );
        }
    }
}

async fn site_checks(ctx: &Commands, report: &mut Report, teams: &BTreeSet<TeamSlug>) {
    let reader = ctx.reader(None);
    let main_ok = match reader.me().await {
        Ok(user) => {
            report.push(
                Status::Ok,
                format!(
                    "{} is reachable; the service token is valid (it acts as **{}**{}).",
                    ctx.site.name,
                    super::render::escape_md(&super::reply::truncate(&user.name, 80)),
                    user.id.map(|id| format!(", user {id}")).unwrap_or_default()
                ),
            );
            true
        }
        Err(e) => {
            report.push(Status::Fail, site_problem(ctx, &e, None));
            false
        }
    };
    if main_ok {
        report.push(
            Status::Ok,
            "The service token is used for reading only: the bot has no way to write with it, and `soe-bot service-token` mints it without `write_access`.",
        );
    }
    for team in teams {
        let reader = ctx.reader(Some(team));
        match reader
            .list_tags(None, 1, PageSize::Fifteen, TagSort::PostCount)
            .await
        {
            Ok(_) => report.push(
                Status::Ok,
                format!(
                    "The private team `{}` is readable with the service token.",
                    team.as_str()
                ),
            ),
            Err(e) => report.push(Status::Fail, site_problem(ctx, &e, Some(team))),
        }
    }
}

fn site_problem(ctx: &Commands, e: &soe::Error, team: Option<&TeamSlug>) -> String {
    let place = match team {
        Some(t) => format!("The private team `{}`", t.as_str()),
        None => ctx.site.name.clone(),
    };
    match e {
        soe::Error::Unauthorized => format!(
            "{place} rejected the service token (401): it expired, was revoked, or its owner was deactivated. Mint a new one with `soe-bot service-token` and restart the bot."
        ),
        soe::Error::Forbidden { .. } => format!(
            "{place} refused the service token (403): its owner must be a member of the team and the token minted with the team's grant (`soe-bot service-token` with the team in `soe.team`)."
        ),
        soe::Error::NotFound { .. } => format!(
            "{place} does not exist on the site (404): check the slug, or unbind the channel with `/so-admin channel team`."
        ),
        soe::Error::RateLimited { .. } => format!(
            "{place} could not be checked now: the bot is at the site's rate limit. Run doctor again in a minute."
        ),
        other => format!(
            "{place} is not reachable ({}). Check `soe.site_url`, the network path from the bot to the site, and the site's status.",
            other.user_message()
        ),
    }
}

async fn application_check(ctx: &Commands, report: &mut Report) {
    match ctx.store.link_counts().await {
        Ok(c) if c.write_refused > 0 => report.push(
            Status::Fail,
            format!(
                "The site refused writes outright for {} linked member{}: the bot's API application is probably still read-only (new applications start that way). An admin of the site must set it to Read-write.",
                c.write_refused,
                if c.write_refused == 1 { "" } else { "s" }
            ),
        ),
        Ok(c) => report.push(
            Status::Ok,
            format!(
                "No linked member's writes were refused by the site ({} link{} active, {} expired).",
                c.active,
                if c.active == 1 { "" } else { "s" },
                c.expired
            ),
        ),
        Err(e) => report.push(Status::Fail, format!("The bot's storage could not be read ({e}).")),
    }
}

async fn budget_check(ctx: &Commands, report: &mut Report) {
    let ((burst, burst_cap), (sustained, sustained_cap)) = match ctx.budget.headroom().await {
        Ok(h) => h,
        Err(e) => {
            report.push(
                Status::Warn,
                format!("The shared service budget could not be read ({e})."),
            );
            return;
        }
    };
    let low = burst * 5 < burst_cap || sustained * 5 < sustained_cap;
    report.push(
        if low { Status::Warn } else { Status::Ok },
        format!(
            "Service budget headroom: {burst} of {burst_cap} calls available at once, {sustained} of {sustained_cap} this minute{}.",
            if low { " (nearly spent: members may be told to wait)" } else { "" }
        ),
    );
}

async fn channel_checks(ctx: &Commands, report: &mut Report, channels: &[(u64, u64)]) {
    if channels.is_empty() {
        return;
    }
    let Some(server) = ctx.server() else {
        report.push(
            Status::Fail,
            "The bot's permissions in Discord could not be checked: no Discord connection.",
        );
        return;
    };
    for &(guild, channel) in channels {
        match server.bot_permissions(guild, channel).await {
            Ok(have) => {
                let missing = missing_permissions(have);
                let essential = [VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS]
                    .iter()
                    .any(|bit| have & bit == 0);
                if missing.is_empty() {
                    report.push(
                        Status::Ok,
                        format!("<#{channel}>: the bot may view, send, embed links and use threads."),
                    );
                } else {
                    report.push(
                        if essential { Status::Fail } else { Status::Warn },
                        format!(
                            "<#{channel}>: the bot lacks {}. Grant {} to the bot's role in the channel's settings (Permissions).",
                            missing.join(", "),
                            if missing.len() == 1 { "it" } else { "them" }
                        ),
                    );
                }
            }
            Err(e) => report.push(
                Status::Fail,
                format!("<#{channel}>: the bot's permissions could not be read ({e}); is the channel deleted, or hidden from the bot?"),
            ),
        }
    }
}

/// Posts a card in `channel` and records whether it went out.
pub async fn post_test_card(ctx: &Commands, report: &mut Report, channel: u64) {
    let Some(server) = ctx.server() else {
        report.push(Status::Fail, "No test card posted: no Discord connection.");
        return;
    };
    let card = Reply::public("").with_embed(
        Embed::new(
            "soe-bot test card",
            &format!(
                "If you can read this, the bot can post cards here. New activity from {} will look like this.",
                ctx.site.name
            ),
        )
        .url(Some(ctx.site.url.to_string())),
    );
    match server.post(channel, &card).await {
        Ok(()) => report.push(Status::Ok, format!("Test card posted in <#{channel}>.")),
        Err(e) => report.push(
            Status::Fail,
            format!("The test card could not be posted in <#{channel}> ({e})."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_names_channels_by_id_and_drops_emphasis() {
        assert_eq!(plain("**a** <#12>: `x` <#b> <#>"), "a #12: x <#b> <#>");
    }

    #[test]
    fn a_report_is_healthy_until_a_check_fails() {
        let mut r = Report::default();
        r.push(Status::Warn, "w");
        assert!(r.healthy());
        r.push(Status::Fail, "f");
        assert!(!r.healthy());
        assert!(r.render().starts_with("**soe-bot doctor**: 1 problem\n"));
    }
}

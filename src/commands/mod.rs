//! The use cases: an [`Invocation`] in, a [`Reply`] out, independent of any transport.
//!
//! [`Commands`] holds the dependencies (store, clock, SOE connector, linking, caches) and
//! routes each invocation to its use case: `search`, `show` (`/so question`), `ask` and
//! `answer` (modals, drafts, posting), `pick` (the question of "Post as answer", by title),
//! `consent` (someone else's message, posted as them only if they accept), `vote` (votes and
//! accepts), `account` (`link`, `unlink`, `me`), `complete` (question autocomplete), `help`,
//! `admin` (with `doctor`), `alerts` (`/so alerts`, `/so experts`), `thread_save` ("Save thread
//! to …", on the author-consent mechanism of [`author_consent`]), and the [`audit`] entries. Buttons and select menus on the
//! member's private messages update those messages in place. What members read comes from
//! the [`i18n`] catalogue, in the invocation's language. Invariants:
//! - the guild gate ([`access`]) runs first: only `discord.allowed_guilds` (and, if enabled,
//!   DMs of their members) are served, and a refusal is acked at once, with no SOE call;
//! - nothing here imports serenity, axum, reqwest or sled (a test enforces it);
//! - reads use the service token (through the global budget, charged to the invoking member's
//!   share of it: see `caches`), writes the invoker's own link;
//! - a write happens at most once per draft or button, whatever the retries (store claims);
//! - a failed or refused post keeps the draft, offering Retry and Edit;
//! - replies showing one member's data, a link URL or an error are ephemeral; no reply can
//!   mention anyone.

pub mod access;
pub mod account;
pub mod admin;
pub mod alerts;
pub mod audit;
pub mod author_consent;
pub mod caches;
pub mod complete;
pub mod consent;
pub mod doctor;
pub mod help;
pub mod i18n;
pub mod ids;
pub mod invocation;
pub mod member;
pub mod pick;
pub mod post;
pub mod render;
pub mod reply;
pub mod search;
pub mod server;
pub mod share;
pub mod show;
pub mod subscriptions;
pub mod thread_save;
pub mod validate;
pub mod vote;

use std::collections::HashMap;
use std::sync::Arc;

use url::Url;

use crate::clock::SharedClock;
use crate::config::LimitsConfig;
use crate::link::{LinkService, Linked};
use crate::soe::{self, SoeConnector, SoeRead, TeamSlug};
use crate::store::{Store, StoreError};

pub use access::{AccessGate, AccessPolicy};
pub use invocation::{Action, Invocation, Member, MessageRef, OptionValue, Origin, ReplyToken};
pub use reply::{ButtonStyle, Choice, Component, Embed, Modal, Reply, ReplyKind, TextInput};

use caches::{BudgetedRead, QuestionCache, SearchCache, ServiceBudget, TagCache};

/// The site as members know it.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    /// A short name ("Acme Stack Overflow").
    pub name: String,
    /// The site root.
    pub url: Url,
    /// The private team the bot reads by default, if any.
    pub team: Option<TeamSlug>,
}

/// How an adapter should acknowledge an invocation before the reply is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Answer directly (modals, autocomplete, replies that need no SOE call).
    Immediate,
    /// Defer with a private "thinking…", then edit.
    DeferEphemeral,
    /// Defer with a public "thinking…", then edit.
    DeferPublic,
    /// Defer an update of the component's message, then edit it.
    DeferUpdate,
}

/// A message for a member outside an interaction (a DM on Discord, a line in the console).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The member.
    pub user: u64,
    /// What to tell them.
    pub reply: Reply,
    /// The private message to replace with `reply` instead of sending a DM (the Link prompt
    /// the member answered), while its interaction token is fresh; the DM is the fallback.
    pub original: Option<ReplyToken>,
}

/// How long after an interaction its original response is still edited in place: Discord
/// keeps the token 15 minutes; the last minute is left as margin for the edit to arrive.
pub const EDIT_IN_PLACE_FOR: chrono::Duration = chrono::Duration::minutes(14);

/// The use cases and their dependencies.
pub struct Commands {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: SharedClock,
    pub(crate) soe: Arc<dyn SoeConnector>,
    pub(crate) link: Arc<LinkService>,
    pub(crate) site: SiteInfo,
    pub(crate) limits: LimitsConfig,
    pub(crate) budget: Arc<ServiceBudget>,
    pub(crate) search_cache: SearchCache,
    pub(crate) question_cache: QuestionCache,
    pub(crate) tags: TagCache,
    /// Questions each channel saw lately, for question autocomplete.
    pub(crate) recent: complete::RecentQuestions,
    /// Which guilds (and DMs) are served, and which role ids grant admin commands.
    pub(crate) access: AccessGate,
    /// When this process's use cases were built: a draft left `Posting` or a write claim made
    /// before it belongs to an earlier process that died mid-write, so it is recovered at
    /// once (by looking on the site) instead of waiting out a timeout.
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    /// The Discord server as the adapter sees it (channel look-ups, the bot's permissions,
    /// audit messages); `None` until an adapter installs one ([`Commands::use_server`]).
    pub(crate) server: parking_lot::RwLock<Option<Arc<dyn server::ServerView>>>,
    /// Which guild a channel option belongs to (set by the Discord adapter; without it only
    /// the invocation's own channel is accepted by the subscription commands).
    pub(crate) channels: parking_lot::RwLock<Option<Arc<dyn subscriptions::ChannelDirectory>>>,
    /// Per member, the interaction whose private reply was their latest Link button, so that
    /// finishing the link rewrites that message in place. In memory only (the tokens are
    /// secrets and die in 15 minutes; after a restart the DM is the fallback); entries older
    /// than [`EDIT_IN_PLACE_FOR`] are dropped whenever one is added.
    /// The prompt's language comes along, for the message that rewrites it.
    pub(crate) link_prompts: parking_lot::Mutex<HashMap<u64, (ReplyToken, i18n::Lang)>>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl Commands {
    /// Wires the use cases.
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        soe: Arc<dyn SoeConnector>,
        link: Arc<LinkService>,
        site: SiteInfo,
        limits: LimitsConfig,
        access: AccessPolicy,
    ) -> Self {
        Self {
            access: AccessGate::new(access, clock.clone()),
            started_at: clock.now(),
            server: parking_lot::RwLock::new(None),
            channels: parking_lot::RwLock::new(None),
            link_prompts: parking_lot::Mutex::new(HashMap::new()),
            budget: Arc::new(
                ServiceBudget::soe_default(clock.clone())
                    .with_member_share(limits.member_share_per_minute),
            ),
            search_cache: SearchCache::new("search", clock.clone(), limits.search_cache_secs),
            question_cache: QuestionCache::new("question", clock.clone(), limits.search_cache_secs),
            tags: TagCache::default(),
            recent: complete::RecentQuestions::default(),
            store,
            clock,
            soe,
            link,
            site,
            limits,
        }
    }

    /// Replaces the service budget (tests use tighter ones); members keep their configured
    /// share of it.
    pub fn with_budget(mut self, budget: ServiceBudget) -> Self {
        self.budget = Arc::new(budget.with_member_share(self.limits.member_share_per_minute));
        self
    }

    /// Keeps the global budget's windows in `global` from now on (shared by every replica,
    /// e.g. in the database); members keep their share.
    pub fn use_global_budget(&self, global: Arc<dyn caches::GlobalBuckets>) {
        self.budget.use_global(global);
    }

    /// The service reader for the bot's own background work (no member's share), behind the
    /// global budget.
    pub(crate) fn reader(&self, team: Option<&TeamSlug>) -> BudgetedRead {
        let team = team.or(self.site.team.as_ref());
        BudgetedRead::new(self.soe.service(team), self.budget.clone(), None)
    }

    /// The service reader for what `member` asked for: behind the global budget and charged
    /// to the member's share of it.
    pub(crate) fn reader_for(&self, member: u64, team: Option<&TeamSlug>) -> BudgetedRead {
        let team = team.or(self.site.team.as_ref());
        BudgetedRead::new(self.soe.service(team), self.budget.clone(), Some(member))
    }

    /// Uses `server` for channel look-ups, permissions and audit messages from now on (the
    /// Discord adapter calls this with its REST client).
    pub fn use_server(&self, server: Arc<dyn server::ServerView>) {
        *self.server.write() = Some(server);
    }

    /// The adapter's view of the Discord server, if one is installed.
    pub(crate) fn server(&self) -> Option<Arc<dyn server::ServerView>> {
        self.server.read().clone()
    }

    /// The private team a channel works in: its binding (`/so-admin channel team`), else the
    /// configured `soe.team`, else none (the main site).
    pub(crate) async fn team_in(
        &self,
        guild: Option<u64>,
        channel: Option<u64>,
    ) -> Option<TeamSlug> {
        if let (Some(g), Some(c)) = (guild, channel) {
            match self.store.guild_settings(g).await {
                Ok(s) => {
                    if let Some(t) = s.channel_teams.get(&c) {
                        return Some(t.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, guild = g, "guild settings unreadable; using the default team")
                }
            }
        }
        self.site.team.clone()
    }

    /// The web address of question `id` on the site, or in `team`'s space (`/c/{team}`).
    pub(crate) fn question_url(&self, team: Option<&TeamSlug>, id: soe::Id) -> String {
        let path = match team {
            Some(t) => format!("c/{}/questions/{id}", t.as_str()),
            None => format!("questions/{id}"),
        };
        crate::config::join(&self.site.url, &path).to_string()
    }

    /// Records `event`: always in the log, and in the guild's audit channel when one is set
    /// (sent in the background; a failure is logged, never shown to the member).
    pub(crate) async fn audit(&self, event: audit::AuditEvent) {
        self.audit_in(event, None).await;
    }

    /// [`Commands::audit`], sent to `fallback` when the guild has no audit channel (the
    /// entry that turns the audit channel off goes to the channel being turned off).
    pub(crate) async fn audit_in(&self, event: audit::AuditEvent, fallback: Option<u64>) {
        tracing::info!(
            target: "soe_bot::audit",
            guild = event.guild.unwrap_or(0),
            actor = event.actor,
            what = %event.what,
            link = event.link.as_deref().unwrap_or(""),
            "audit"
        );
        let Some(guild) = event.guild else {
            return;
        };
        let channel = match self.store.guild_settings(guild).await {
            Ok(s) => s.audit_channel.or(fallback),
            Err(e) => {
                tracing::warn!(error = %e, "guild settings unreadable; audit entry kept in the log only");
                None
            }
        };
        let (Some(channel), Some(server)) = (channel, self.server()) else {
            return;
        };
        let message = event.message();
        tokio::spawn(async move {
            if let Err(e) = server.post(channel, &message).await {
                tracing::warn!(guild, channel, error = %e, "could not post an audit entry to the audit channel");
            }
        });
    }

    /// Gives the subscription commands a way to check that a channel option is a channel of
    /// the invoking guild (the Discord adapter's REST look-up).
    pub fn use_channel_directory(&self, directory: Arc<dyn subscriptions::ChannelDirectory>) {
        subscriptions::set_directory(self, directory);
    }

    /// The service reader the poller uses: the service token for `team` behind the global
    /// budget (no member's share).
    pub fn service_reader(&self, team: Option<&TeamSlug>) -> Arc<dyn SoeRead> {
        Arc::new(self.reader(team))
    }

    /// The guild gate (adapters give it their member directory and ask it about guilds).
    pub fn access(&self) -> &AccessGate {
        &self.access
    }

    /// The tag cache (for the background refresher and tests).
    pub fn tag_cache(&self) -> &TagCache {
        &self.tags
    }

    /// Refreshes the tag list from SOE; the adapters call this every few minutes.
    pub async fn refresh_tags(&self) -> soe::Result<usize> {
        // Through the budget like every other service-token call.
        let reader = self.reader(None);
        self.tags.refresh(&reader as &dyn SoeRead).await
    }

    /// How to acknowledge `inv` (see [`Ack`]).
    pub fn ack(&self, inv: &Invocation) -> Ack {
        if self.access.refuses_at_once(inv) {
            // The refusal needs nothing: answer it now rather than defer into a use case.
            return Ack::Immediate;
        }
        match &inv.action {
            Action::MessageCommand { name, .. } if is_save_thread(name) => Ack::DeferEphemeral,
            // Someone else's message: the author is asked in public (unless the question of
            // an answer must be picked first, privately, or the member may not post here).
            Action::MessageCommand { name, message }
                if message.author_id != inv.member.id
                    && !message.content.trim().is_empty()
                    && share::may_post(inv) =>
            {
                let picks_first = name == post::ANSWER_MESSAGE_COMMAND
                    && message
                        .replies_to
                        .as_ref()
                        .and_then(|r| r.card_question())
                        .is_none();
                if picks_first {
                    Ack::Immediate
                } else {
                    Ack::DeferPublic
                }
            }
            Action::Autocomplete { .. } | Action::MessageCommand { .. } => Ack::Immediate,
            Action::Command { name, path, .. } => match (name.as_str(), first(path)) {
                ("so", "ask" | "answer" | "help" | "link") => Ack::Immediate,
                _ => Ack::DeferEphemeral,
            },
            Action::Button { custom_id } => match ids::parse(custom_id) {
                Some(
                    ids::Id::OpenAnswer { .. }
                    | ids::Id::EditDraft { .. }
                    | ids::Id::Link
                    | ids::Id::FindQuestion { .. }
                    | ids::Id::ConsentAccept { .. }
                    | ids::Id::PostQuoted { .. },
                ) => Ack::Immediate,
                // Decline updates the public prompt (anyone else is answered privately).
                Some(ids::Id::ConsentDecline { .. }) => Ack::DeferUpdate,
                Some(ids::Id::SearchPage { .. } | ids::Id::QuestionInPlace { .. }) => {
                    Ack::DeferUpdate
                }
                // A press on a private message updates it in place (see `vote`, `post`).
                Some(
                    ids::Id::VoteQuestion { on, .. }
                    | ids::Id::VoteAnswer { on, .. }
                    | ids::Id::Accept { on, .. },
                ) if !matches!(on, ids::Surface::Shared | ids::Surface::Dm) => Ack::DeferUpdate,
                Some(ids::Id::PostDraft { .. } | ids::Id::DiscardDraft { .. }) => Ack::DeferUpdate,
                // Save thread from a forum post's button: privately, like the message
                // command (it reads the thread first).
                Some(ids::Id::SaveThread { .. }) => Ack::DeferEphemeral,
                // A share the member may not post answers at once, privately.
                Some(
                    ids::Id::ShareSearch { .. }
                    | ids::Id::ShareQuestion { .. }
                    | ids::Id::AnnouncePost { .. },
                ) if share::may_post(inv) => Ack::DeferPublic,
                Some(
                    ids::Id::ShareSearch { .. }
                    | ids::Id::ShareQuestion { .. }
                    | ids::Id::AnnouncePost { .. },
                ) => Ack::Immediate,
                _ => Ack::DeferEphemeral,
            },
            Action::Select { custom_id, .. } => match ids::parse(custom_id) {
                // A shared card's answers select answers privately; every other choice
                // replaces the message it was made on.
                Some(ids::Id::PickAnswer {
                    on: ids::Surface::Shared,
                    ..
                }) => Ack::DeferEphemeral,
                Some(ids::Id::PickResult { .. } | ids::Id::PickAnswer { .. }) => Ack::DeferUpdate,
                // For someone else's message, the chosen question goes into the public prompt
                // to its author.
                Some(ids::Id::PickQuestion { consent: true, .. }) if share::may_post(inv) => {
                    Ack::DeferPublic
                }
                // The chosen question opens the answer form (only a first answer can be one).
                Some(ids::Id::PickQuestion { .. }) => Ack::Immediate,
                // The reply that answers a saved thread opens the title and tags form.
                Some(ids::Id::SaveAnswer { .. }) => Ack::Immediate,
                _ => Ack::DeferEphemeral,
            },
            Action::Modal { .. } => Ack::DeferEphemeral,
        }
    }

    /// Runs the use case for `inv`. Never fails: every error becomes a reply that says what to
    /// do next.
    /// Counted in the metrics by command and outcome ([`crate::telemetry::COMMANDS`]).
    /// Texts are in the invocation's language where the catalogue has it ([`i18n`]).
    pub async fn handle(&self, inv: &Invocation) -> Reply {
        let lang = i18n::Lang::of(inv.locale.as_deref());
        i18n::scope(lang, self.handle_in(inv)).await
    }

    async fn handle_in(&self, inv: &Invocation) -> Reply {
        let command = command_label(&inv.action);
        let counted = |outcome: &'static str| {
            metrics::counter!(crate::telemetry::COMMANDS, "command" => command, "outcome" => outcome)
                .increment(1);
        };
        if let Some(refusal) = self.access.check(inv).await {
            counted("refused");
            return refusal;
        }
        if let Some(gate) = self.channel_gate(inv).await {
            counted("refused");
            return gate;
        }
        let reply = self.run(inv).await;
        counted("served");
        reply
    }

    /// The use case for `inv`, once access and the channel gate allowed it.
    async fn run(&self, inv: &Invocation) -> Reply {
        let reply = match &inv.action {
            Action::Command { name, path, .. } => match (name.as_str(), first(path)) {
                ("so", "search") => search::command(self, inv).await,
                ("so", "question") => show::command(self, inv).await,
                ("so", "ask") => post::ask_command(self, inv).await,
                ("so", "answer") => post::answer_command(self, inv).await,
                ("so", "link") => account::link_command(self, inv).await,
                ("so", "unlink") => account::unlink(self, inv).await,
                ("so", "me") => account::me(self, inv).await,
                ("so", "help") => help::help(self),
                ("so", "alerts") => match path.get(1).map(String::as_str) {
                    Some("on") => alerts::alerts(self, inv, true).await,
                    Some("off") => alerts::alerts(self, inv, false).await,
                    _ => Reply::private("Use `/so alerts on [tags]` or `/so alerts off`."),
                },
                ("so", "experts") => match path.get(1).map(String::as_str) {
                    Some("on") => alerts::experts(self, inv, true).await,
                    Some("off") => alerts::experts(self, inv, false).await,
                    _ => Reply::private("Use `/so experts on` or `/so experts off`."),
                },
                (
                    "so-admin",
                    verb @ ("subscribe" | "subscriptions" | "unsubscribe" | "preview"),
                ) => subscriptions::command(self, inv, verb).await,
                ("so-admin", _) => admin::command(self, inv).await,
                _ => Reply::private(crate::t!("error-unknown-command")),
            },
            Action::Autocomplete { focused, value, .. } => match focused.as_str() {
                "tag" | "tags" => Reply::choices(self.tags.complete(value)),
                "id" | "question" => {
                    complete::questions(self, inv.member.id, inv.channel_id, value).await
                }
                _ => Reply::choices(vec![]),
            },
            Action::Button { custom_id } => match ids::parse(custom_id) {
                Some(id) => self.button(inv, id).await,
                None => Reply::private(crate::t!("error-old-button")),
            },
            Action::Select { custom_id, values } => self.select(inv, custom_id, values).await,
            Action::Modal { custom_id, .. } => match ids::parse(custom_id) {
                Some(ids::Id::AskModal { draft, source }) => {
                    post::ask_submit(self, inv, &draft, source).await
                }
                Some(ids::Id::AnswerModal { question, draft }) => {
                    post::answer_submit(self, inv, question, &draft).await
                }
                Some(ids::Id::PostAsAnswerModal { draft }) => {
                    post::post_as_answer_submit(self, inv, &draft).await
                }
                Some(ids::Id::FindQuestionModal { draft, consent }) => {
                    pick::find(self, inv, &draft, consent).await
                }
                Some(ids::Id::SaveModal { save, answer }) => {
                    thread_save::submit(self, inv, &save, answer).await
                }
                _ => Reply::private(crate::t!("error-old-form")),
            },
            Action::MessageCommand { name, message } if is_save_thread(name) => {
                thread_save::start(self, inv, message).await
            }
            Action::MessageCommand { name, message } => {
                post::message_command(self, inv, name, message).await
            }
        };
        self.one_click_link(inv, reply).await
    }

    /// Makes a Link prompt the link itself: its primary Link button (the one
    /// [`member::link_prompt`] adds) becomes a URL button to a fresh ticket. When the reply
    /// carries a link button and will be the interaction's original response, that
    /// interaction is remembered so [`Commands::on_linked`] can rewrite the message in place.
    /// Past the member's link-button allowance the plain button stays (pressing it says when
    /// to come back).
    async fn one_click_link(&self, inv: &Invocation, mut reply: Reply) -> Reply {
        let link_id = ids::Id::Link.encode();
        let mut has_link = false;
        for c in reply.rows.iter_mut().flatten() {
            match c {
                Component::Button {
                    id,
                    style: ButtonStyle::Primary,
                    ..
                } if *id == link_id => match account::link_button(self, inv).await {
                    Ok(button) => {
                        *c = button;
                        has_link = true;
                    }
                    Err(_) => tracing::debug!("link button not issued; the plain button stays"),
                },
                Component::Link { url, .. } if self.link.is_start_url(url) => has_link = true,
                _ => {}
            }
        }
        if has_link && lands_in_original(self.ack(inv), &reply) {
            if let Some(token) = &inv.reply_token {
                let now = self.clock.now();
                let mut prompts = self.link_prompts.lock();
                prompts.retain(|_, (t, _)| now - t.received_at < EDIT_IN_PLACE_FOR);
                prompts.insert(inv.member.id, (token.clone(), i18n::current()));
            }
        }
        reply
    }

    /// The member's remembered Link prompt, if its token is still fresh enough to edit with
    /// (taken: a prompt is rewritten once).
    fn take_link_prompt(&self, user: u64) -> Option<(ReplyToken, i18n::Lang)> {
        let (token, lang) = self.link_prompts.lock().remove(&user)?;
        (self.clock.now() - token.received_at < EDIT_IN_PLACE_FOR).then_some((token, lang))
    }

    /// A choice in one of the bot's select menus.
    async fn select(&self, inv: &Invocation, custom_id: &str, values: &[String]) -> Reply {
        let chosen = values
            .first()
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n > 0);
        let Some(chosen) = chosen else {
            return Reply::private(crate::t!("error-choose-listed"));
        };
        match ids::parse(custom_id) {
            Some(ids::Id::PickResult { page, search }) => {
                let back = Component::button(
                    ids::Id::SearchPage { page, search }.encode(),
                    &crate::t!("button-back-to-results"),
                    ButtonStyle::Secondary,
                );
                show::in_place(self, inv, chosen, Some(back)).await
            }
            Some(ids::Id::PickAnswer { question, on }) => {
                show::pick_answer(self, inv, question, chosen, on).await
            }
            Some(ids::Id::PickQuestion { draft, consent }) => {
                pick::chosen(self, inv, &draft, consent, chosen).await
            }
            Some(ids::Id::SaveAnswer { save }) => {
                thread_save::choose_answer(self, inv, &save, chosen).await
            }
            _ => Reply::private(crate::t!("error-old-menu")),
        }
    }

    async fn button(&self, inv: &Invocation, id: ids::Id) -> Reply {
        use ids::Id;
        match id {
            Id::SearchPage { page, search } => search::page(self, inv, &search, page, false).await,
            Id::ShareSearch { page, search } => search::page(self, inv, &search, page, true).await,
            Id::OpenQuestion { question } => show::show(self, inv, question, false).await,
            Id::QuestionInPlace { question } => show::in_place(self, inv, question, None).await,
            Id::PickResult { .. } | Id::PickAnswer { .. } | Id::PickQuestion { .. } => {
                Reply::private("That is a menu id, not a button.")
            }
            Id::FindQuestion { draft, consent } => pick::find_form(&draft, consent),
            Id::ConsentAccept { proposer, draft } => {
                consent::accept(self, inv, proposer, &draft).await
            }
            Id::ConsentDecline { proposer, draft } => {
                consent::decline(self, inv, proposer, &draft).await
            }
            Id::PostQuoted { proposer, draft } => {
                consent::post_quoted(self, inv, proposer, &draft).await
            }
            Id::ShareQuestion { question } => show::show(self, inv, question, true).await,
            Id::VoteQuestion { question, vote, on } => {
                vote::vote_question(self, inv, question, vote, on).await
            }
            Id::VoteAnswer {
                question,
                answer,
                vote,
                on,
            } => vote::vote_answer(self, inv, question, answer, vote, on).await,
            Id::Accept {
                question,
                answer,
                on,
            } => vote::accept(self, inv, question, answer, on).await,
            Id::OpenAnswer { question } => post::answer_modal(self, inv, question, None),
            Id::PostDraft { draft } => {
                let reply = post::post_draft(self, inv.member.id, &draft, true).await;
                post::live_draft(self, inv, &draft, reply).await
            }
            Id::EditDraft { draft } => post::edit_draft(self, inv, &draft).await,
            Id::AnnouncePost { draft } => post::announce(self, inv, &draft).await,
            Id::DiscardDraft { draft } => {
                let reply = post::discard_draft(self, inv, &draft).await;
                post::live_draft(self, inv, &draft, reply).await
            }
            Id::Link => account::link(self, inv).await,
            Id::AskModal { .. }
            | Id::AnswerModal { .. }
            | Id::PostAsAnswerModal { .. }
            | Id::FindQuestionModal { .. }
            | Id::SaveModal { .. } => Reply::private("That is a form id, not a button."),
            Id::SaveAnswer { .. } => Reply::private("That is a menu id, not a button."),
            Id::Consent { save, part, choice } => {
                thread_save::consent(self, inv, &save, part, choice).await
            }
            Id::SaveAsMe { save, part } => thread_save::post_as_me(self, inv, &save, part).await,
            Id::SaveThread { thread } => thread_save::start_from_button(self, inv, thread).await,
        }
    }

    /// Posts the drafts a member left for after linking, and says where they went. When the
    /// member linked from a Link button the bot showed within [`EDIT_IN_PLACE_FOR`], one notice
    /// rewrites that private message: "Linked as … · your draft was posted: <url>" (with the
    /// posted drafts' buttons); otherwise (or for drafts that could not be posted) DMs.
    /// The messages are in the language of the member's Link prompt (English without one).
    pub async fn on_linked(&self, linked: &Linked) -> Vec<Notice> {
        let prompt = self.take_link_prompt(linked.discord_user);
        let lang = prompt.as_ref().map(|(_, l)| *l).unwrap_or_default();
        i18n::scope(lang, self.on_linked_in(linked, prompt.map(|(t, _)| t))).await
    }

    async fn on_linked_in(&self, linked: &Linked, prompt: Option<ReplyToken>) -> Vec<Notice> {
        let user = linked.discord_user;
        let name = render::escape_md(&reply::truncate(&linked.soe_user_name, 100));
        let drafts = match self.store.drafts_of(user).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not read drafts after linking");
                vec![]
            }
        };
        let mut posted: Vec<(String, Reply)> = Vec::new();
        let mut others: Vec<Reply> = Vec::new();
        for d in drafts.into_iter().filter(|d| {
            d.post_after_link && matches!(d.state, crate::store::DraftState::Saved { .. })
        }) {
            let reply = post::post_draft(self, user, &d.id, false).await;
            match self.store.get_draft(user, &d.id).await {
                Ok(Some(crate::store::Draft {
                    state: crate::store::DraftState::Posted { url, .. },
                    ..
                })) => posted.push((url, reply)),
                _ => others.push(reply),
            }
        }
        let dm = |reply: Reply| Notice {
            user,
            reply,
            original: None,
        };
        let mut notices = Vec::new();
        match prompt {
            Some(token) => {
                let mut text = crate::t!(
                    "linked-in-place",
                    name = name.as_str(),
                    site = self.site.name.as_str()
                );
                match posted.as_slice() {
                    [] => text.push_str(&crate::t!("linked-not-you")),
                    [(url, _)] => {
                        text.push_str(&crate::t!("linked-draft-posted", url = url.as_str()))
                    }
                    many => text.push_str(&crate::t!(
                        "linked-drafts-posted",
                        list = many
                            .iter()
                            .map(|(u, _)| u.as_str())
                            .collect::<Vec<_>>()
                            .join(" · ")
                    )),
                }
                let mut reply = Reply::private(text);
                for (_, r) in posted {
                    for row in r.rows {
                        if reply.rows.len() < 5 {
                            reply = reply.with_row(row);
                        }
                    }
                }
                notices.push(Notice {
                    user,
                    reply,
                    original: Some(token),
                });
            }
            None => {
                notices.push(dm(Reply::private(crate::t!(
                    "linked-dm",
                    name = name.as_str(),
                    site = self.site.name.as_str()
                ))));
                notices.extend(posted.into_iter().map(|(_, r)| dm(r)));
            }
        }
        notices.extend(others.into_iter().map(dm));
        notices
    }

    /// After a restart: settles every draft left `Posting`, every write claim left unfinished
    /// and every thread save with an unconfirmed write by an earlier process, by looking on
    /// the site (see [`post::recover_posting`], [`vote::recover_claim`],
    /// [`thread_save::recover_interrupted`]), and says what happened to each
    /// member concerned. Runs once at startup, before members can press anything again.
    pub async fn recover_interrupted(&self) -> Vec<Notice> {
        self.recover_interrupted_before(self.started_at).await
    }

    /// [`Commands::recover_interrupted`] for what was interrupted before `cutoff` only: with
    /// several replicas, the leader settles posts and votes older than
    /// [`crate::store::CLAIM_STALE_SECS`] (any request still in flight has timed out by
    /// then), never one another replica may still be making.
    pub async fn recover_interrupted_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        match self.store.posting_drafts().await {
            Ok(drafts) => {
                for d in drafts.into_iter().filter(|d| {
                    matches!(d.state, crate::store::DraftState::Posting { since } if since < cutoff)
                }) {
                    let user = d.discord_user;
                    let reply = post::recover_posting(self, d).await;
                    notices.push(Notice {
                        user,
                        reply,
                        original: None,
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list interrupted posts"),
        }
        match self.store.unfinished_writes().await {
            Ok(claims) => {
                for (key, at) in claims {
                    if at.is_none_or(|at| at < cutoff) {
                        notices.extend(vote::recover_claim(self, &key).await);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list interrupted writes"),
        }
        // Thread saves: a part or an acceptance begun and never confirmed.
        notices.extend(thread_save::recover_interrupted(self, cutoff).await);
        if !notices.is_empty() {
            tracing::info!(
                settled = notices.len(),
                "settled writes interrupted by a restart"
            );
        }
        notices
    }

    /// In a channel where the bot is turned off, members get a pointer; admin commands pass.
    /// A thread (or forum post) follows its parent channel, unless it was turned off itself.
    async fn channel_gate(&self, inv: &Invocation) -> Option<Reply> {
        let (guild, channel) = (inv.guild_id?, inv.channel_id?);
        if matches!(&inv.action, Action::Command { name, .. } if name == "so-admin")
            || matches!(&inv.action, Action::Autocomplete { .. })
        {
            return None;
        }
        let settings = match self.store.guild_settings(guild).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "guild settings unreadable; allowing");
                return None;
            }
        };
        let off = |c: u64| settings.disabled_channels.contains(&c);
        if !off(channel) && !inv.thread_parent.is_some_and(off) {
            return None;
        }
        if settings.enabled_channels.is_empty() {
            return Some(Reply::private(crate::t!("channel-off-elsewhere")));
        }
        let channels = settings
            .enabled_channels
            .iter()
            .take(10)
            .map(|c| format!("<#{c}>"))
            .collect::<Vec<_>>()
            .join(", ");
        Some(Reply::private(crate::t!(
            "channel-off-use",
            channels = channels
        )))
    }

    /// A reply for a storage failure, with a reference for the logs.
    pub(crate) fn store_failure(&self, e: &StoreError) -> Reply {
        let reference = short_ref();
        tracing::error!(reference, error = %e, "storage failure");
        Reply::private(crate::t!("error-store", reference = reference))
    }

    /// A reply for an SOE failure on a read. Reads use the service token, so a 401 or 403
    /// here is the bot's credential, not the member's: the member is told an admin has been
    /// told (never "link again"), and the failure is logged as an error for operators
    /// (`doctor` and the logs name the service token).
    pub(crate) fn soe_failure(&self, e: &soe::Error) -> Reply {
        let reference = short_ref();
        match e {
            soe::Error::Unauthorized | soe::Error::Forbidden { .. } => {
                tracing::error!(
                    reference,
                    error = %e,
                    credential = "service token",
                    "the site refused the bot's service token on a read; check it with `soe-bot doctor` and replace it"
                );
                Reply::private(crate::t!(
                    "error-read-access",
                    site = self.site.name.as_str(),
                    reference = reference
                ))
            }
            soe::Error::Unavailable { .. }
            | soe::Error::Transport(_)
            | soe::Error::Unexpected(_)
            | soe::Error::Timeout => {
                tracing::warn!(reference, error = %e, "SOE read failed");
                let text = match e {
                    soe::Error::Unexpected(_) => e.user_message_on(&self.site.name),
                    _ => crate::t!("error-site-unreachable", site = self.site.name.as_str()),
                };
                Reply::private(format!("{text} (ref {reference})"))
            }
            _ => Reply::private(e.user_message_on(&self.site.name)),
        }
    }
}

/// What a metrics label calls `action`: from a fixed set, never anything a member typed (an
/// unknown command name is `other`).
fn command_label(action: &Action) -> &'static str {
    match action {
        Action::Command { name, path, .. } => match (name.as_str(), first(path)) {
            ("so", "search") => "so search",
            ("so", "question") => "so question",
            ("so", "ask") => "so ask",
            ("so", "answer") => "so answer",
            ("so", "link") => "so link",
            ("so", "unlink") => "so unlink",
            ("so", "me") => "so me",
            ("so", "help") => "so help",
            ("so", "alerts") => "so alerts",
            ("so", "experts") => "so experts",
            ("so-admin", _) => "so-admin",
            _ => "other",
        },
        Action::Autocomplete { .. } => "autocomplete",
        Action::Button { .. } => "button",
        Action::Modal { custom_id, .. } => match ids::parse(custom_id) {
            Some(ids::Id::AskModal { .. }) => "modal ask",
            Some(ids::Id::AnswerModal { .. }) => "modal answer",
            Some(ids::Id::PostAsAnswerModal { .. }) => "modal post as answer",
            Some(ids::Id::FindQuestionModal { .. }) => "modal find question",
            Some(ids::Id::SaveModal { .. }) => "modal save thread",
            _ => "modal other",
        },
        Action::Select { .. } => "select",
        // The ask command is named after the site ("Ask on …"); `post::message_command` tells
        // them apart the same way.
        Action::MessageCommand { name, .. } => match name.as_str() {
            post::ANSWER_MESSAGE_COMMAND => "message answer",
            n if is_save_thread(n) => "message save thread",
            _ => "message ask",
        },
    }
}

/// Whether a message command is "Save thread to …" (named after the site, like "Ask on …").
pub fn is_save_thread(name: &str) -> bool {
    name.starts_with("Save thread")
}

fn first(path: &[String]) -> &str {
    path.first().map(String::as_str).unwrap_or_default()
}

/// A short random reference that ties a member's error message to a log line.
pub(crate) fn short_ref() -> String {
    use rand::Rng;
    let n: u32 = rand::thread_rng().gen();
    format!("{n:08x}")
}

/// Whether `reply`, answered under `ack`, becomes the interaction's original response and is
/// private (see the Discord adapter's delivery): a new message (answered at once or after a
/// private defer), or an update of the private message a component was on. A follow-up or a
/// public card is not, so it is never edited later.
fn lands_in_original(ack: Ack, reply: &Reply) -> bool {
    reply.ephemeral
        && match ack {
            Ack::DeferPublic => false,
            Ack::DeferUpdate => reply.kind == ReplyKind::Update,
            Ack::Immediate | Ack::DeferEphemeral => {
                matches!(reply.kind, ReplyKind::Message | ReplyKind::Update)
            }
        }
}

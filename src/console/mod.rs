//! The console transport used by `soe-bot demo`: type what a member would do in Discord, see
//! each reply as text.
//!
//! Lines: `/so search async`, `/so question 3`, `/so link`, `/so ask`, `/so answer 3`,
//! `/so me`, `/so-admin channel disable`, `/so-admin subscribe tags:rust`, `press 2` (or just
//! `2`) to press a button, `site question tags:rust <title>` and `site answer <id> <text>` to
//! post on the fake site (demo), `poll` to check the site for new activity now and print the
//! cards,
//! `approve [user]` to finish the last link without a browser, `complete ru` for tag
//! suggestions, `as <name>` to act as another Discord member, `locale <tag>` to use Discord in
//! another language (e.g. `locale de`), `expect <text>` to assert on
//! the last output (scripts), `help`, `quit`. When a reply is a form (modal), each field is
//! asked for; multi-line fields end with a line holding a single `.`. `$Q` in a line stands for
//! the last question id posted or shown. Invariants: the console goes through exactly the same
//! `Commands` as Discord does; it only adds a way to complete linking without a browser.

pub mod cards;
pub mod demo;
pub mod render;

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use url::Url;

use crate::app::{App, Notifier};
use crate::commands::{
    Action, Component, Invocation, Member, Notice, OptionValue, Reply, ReplyKind,
};

/// The guild the console's member acts in (the demo allows it).
pub const CONSOLE_GUILD: u64 = 1;

/// Completes the site's consent step for an authorize URL as a given SOE user, returning the
/// redirect (callback) URL. The demo wires the fake site's `approve`.
pub type Approver = Arc<dyn Fn(&Url, &str) -> Result<Url, String> + Send + Sync>;

/// Completes Discord's authorize step for an authorize URL as the console's member (the
/// demo wires the fake Discord's `approve`), returning the redirect (callback) URL.
pub type DiscordApprover = Arc<dyn Fn(&Url, &Member) -> Result<Url, String> + Send + Sync>;

/// Notices (DMs) for the console, printed after each line.
#[derive(Debug, Clone)]
pub struct ConsoleNotifier {
    tx: mpsc::UnboundedSender<Notice>,
}

impl ConsoleNotifier {
    /// A notifier and the receiver the console drains.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Notice>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

#[async_trait]
impl Notifier for ConsoleNotifier {
    async fn notify(&self, notice: Notice) {
        let _ = self.tx.send(notice);
    }
}

/// Posts on the site as someone else would (the demo wires the fake site): `question
/// tags:a,b <title>` or `answer <question id> <text>`; returns what was posted.
pub type SiteHook = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// The notification machinery the console can run on demand (`poll`), and the cards it sent.
pub struct ConsoleNotifications {
    /// Polls the site.
    pub poller: Arc<crate::notify::Poller>,
    /// Sends the outbox (to [`cards::ConsoleCards`]).
    pub deliverer: Arc<crate::notify::Deliverer>,
    /// What the cards sink printed.
    pub cards: mpsc::UnboundedReceiver<String>,
}

/// What a line did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fine.
    Ok,
    /// The line could not be carried out (unknown input, no such button, failed expectation).
    Failed(String),
    /// `quit`.
    Quit,
}

/// The console session.
pub struct Console {
    app: Arc<App>,
    approver: Approver,
    /// Plays Discord's side of linking, when the bot proves Discord identities.
    discord_approver: Option<DiscordApprover>,
    http: reqwest::Client,
    /// The bot's web server, for `get PATH`.
    web: Option<Url>,
    member: Member,
    /// The Discord locale the member's interactions carry (`locale de`).
    locale: String,
    guild_id: Option<u64>,
    channel_id: Option<u64>,
    notices: mpsc::UnboundedReceiver<Notice>,
    last: Option<Reply>,
    last_link: Option<Url>,
    last_output: String,
    last_question: Option<i64>,
    seq: u64,
    /// Pending input lines for forms (script mode feeds them; interactive mode reads stdin).
    queued: VecDeque<String>,
    /// `site …` lines (demo).
    site: Option<SiteHook>,
    /// `poll` and the cards printed after each line (demo).
    notifications: Option<ConsoleNotifications>,
    /// The console's stand-in for Discord threads and DMs (`thread`, `say`, `save thread`,
    /// `inbox`).
    threads: Option<Arc<cards::ConsoleCards>>,
    /// The thread the console is in (`thread <name>`), if any.
    thread: Option<u64>,
}

const HELP: &str = "commands: /so search <words> [tag:<t>] [sort:<s>] · /so question <id> · /so ask · /so answer <id> · /so link · /so me · /so unlink · /so help · /so alerts on [tags:<t,…>]|off · /so experts on|off · /so-admin channel enable|disable|team|tags · /so-admin channel cards on|off · /so-admin audit-channel · /so-admin doctor · /so-admin subscribe tags:<t,…> [match:any|all] [exclude:<t,…>] [events:questions,answers,accepted,articles] [unanswered-after:4h] · /so-admin subscriptions · /so-admin unsubscribe rule:<n> · /so-admin preview rule:<n>\n\
console: press <n or label> (or <n>) · choose <menu choice> · approve [jane|sam|priya|alex] · complete <partial tag> · as <name> · thread <name> · say <text, \\n for a new line> · save thread · inbox · locale <de|en-US> · site question tags:<t,…> <title> · site answer <id> <text> · poll · get <path on the bot's web server, e.g. /metrics> · expect <text> · quit";

impl Console {
    /// A console acting as Discord member `member` in [`CONSOLE_GUILD`], channel 10.
    pub fn new(
        app: Arc<App>,
        approver: Approver,
        notices: mpsc::UnboundedReceiver<Notice>,
        member: Member,
    ) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            app,
            approver,
            discord_approver: None,
            web: None,
            http,
            member,
            locale: "en-US".into(),
            guild_id: Some(CONSOLE_GUILD),
            channel_id: Some(10),
            notices,
            last: None,
            last_link: None,
            last_output: String::new(),
            last_question: None,
            seq: 0,
            queued: VecDeque::new(),
            site: None,
            notifications: None,
            threads: None,
            thread: None,
        }
    }

    /// Lets `thread`, `say`, `save thread` and `inbox` play Discord threads and DMs.
    pub fn with_threads(mut self, cards: Arc<cards::ConsoleCards>) -> Self {
        self.threads = Some(cards);
        self
    }

    /// `thread <name>`: starts a thread in channel 10 and moves into it.
    fn start_thread(&mut self, name: &str) -> Outcome {
        let Some(cards) = self.threads.clone() else {
            return Outcome::Failed("threads are not wired in this console".into());
        };
        let mut threads = cards.threads.lock();
        let id = 7_000 + threads.len() as u64 * 100;
        threads.insert(
            id,
            crate::commands::server::ThreadContent {
                id,
                name: name.to_string(),
                parent: Some(10),
                starter: None,
                replies: Vec::new(),
            },
        );
        drop(threads);
        self.thread = Some(id);
        self.channel_id = Some(id);
        self.print(&format!(
            "(in thread <#{id}> \"{name}\" of <#10>; `say` posts in it)"
        ));
        Outcome::Ok
    }

    /// `say <text>` (`\n` for a new line): a message in the current thread as the current
    /// member; the first one is the thread's starter.
    fn say(&mut self, text: &str) -> Outcome {
        let (Some(cards), Some(thread)) = (self.threads.clone(), self.thread) else {
            return Outcome::Failed("not in a thread: start one with `thread <name>`".into());
        };
        let text = text.replace("\\n", "\n");
        let mut threads = cards.threads.lock();
        let Some(t) = threads.get_mut(&thread) else {
            return Outcome::Failed("the thread is gone".into());
        };
        let message = crate::commands::server::ThreadMessage {
            id: if t.starter.is_none() {
                thread
            } else {
                thread + 1 + t.replies.len() as u64
            },
            author_id: self.member.id,
            author_name: self.member.name.clone(),
            content: text.clone(),
            has_media: false,
        };
        if t.starter.is_none() {
            t.starter = Some(message);
        } else {
            t.replies.push(message);
        }
        drop(threads);
        self.print(&format!("({} in <#{thread}>: {text})", self.member.name));
        Outcome::Ok
    }

    /// `save thread`: the "Save thread to …" message command on the thread's last message.
    async fn save_thread(
        &mut self,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Outcome {
        let (Some(cards), Some(thread)) = (self.threads.clone(), self.thread) else {
            return Outcome::Failed("not in a thread: start one with `thread <name>`".into());
        };
        let t = cards.threads.lock().get(&thread).cloned();
        let Some(last) = t
            .as_ref()
            .and_then(|t| t.replies.last().cloned().or(t.starter.clone()))
        else {
            return Outcome::Failed("the thread has no message yet: `say` something".into());
        };
        let name = crate::commands::help::save_thread_command(&self.app.commands.site.name);
        let inv = self.invocation(Action::MessageCommand {
            name,
            message: crate::commands::MessageRef {
                id: last.id,
                author_id: last.author_id,
                author_name: last.author_name,
                content: last.content,
                thread_name: t.map(|t| t.name),
                replies_to: None,
            },
        });
        let reply = self.handled(&inv).await;
        self.show(reply, read).await
    }

    /// `inbox`: the current member's latest DM from the bot (its buttons can be pressed).
    fn inbox(&mut self) -> Outcome {
        let Some(cards) = self.threads.clone() else {
            return Outcome::Failed("DMs are not wired in this console".into());
        };
        let dm = cards
            .dms
            .lock()
            .iter()
            .rev()
            .find(|(u, _)| *u == self.member.id)
            .map(|(_, r)| r.clone());
        match dm {
            Some(r) => {
                let text = render::render(&r, self.app.clock.now());
                self.print(&format!("DM from soe-bot:\n{text}"));
                self.remember(&r);
                self.last = Some(r);
                Outcome::Ok
            }
            None => Outcome::Failed(format!("no DM for {}", self.member.name)),
        }
    }

    /// Lets `site …` lines post on the (fake) site.
    pub fn with_site(mut self, site: SiteHook) -> Self {
        self.site = Some(site);
        self
    }

    /// Lets `poll` run the notification poller and prints the cards it sends.
    pub fn with_notifications(mut self, n: ConsoleNotifications) -> Self {
        self.notifications = Some(n);
        self
    }

    async fn poll_now(&mut self) -> Outcome {
        let Some(n) = &self.notifications else {
            return Outcome::Failed("notifications are not wired in this console".into());
        };
        let (poller, deliverer) = (n.poller.clone(), n.deliverer.clone());
        let mut lines = Vec::new();
        match poller.targets().await {
            Ok(targets) => {
                for t in targets {
                    match poller.poll(&t).await {
                        Ok(r) => lines.push(format!(
                            "(polled {}: {} active question(s), {} answer list(s), {} card(s) queued)",
                            t.describe(),
                            r.questions,
                            r.answer_reads,
                            r.queued
                        )),
                        Err(e) => lines.push(format!("(poll of {} failed: {e})", t.describe())),
                    }
                }
            }
            Err(e) => return Outcome::Failed(format!("could not read the rules: {e}")),
        }
        if let Err(e) = deliverer.deliver_due().await {
            lines.push(format!("(delivery failed: {e})"));
        }
        for l in lines {
            self.print(&l);
        }
        self.print_cards();
        Outcome::Ok
    }

    fn print_cards(&mut self) {
        let mut got = Vec::new();
        if let Some(n) = &mut self.notifications {
            while let Ok(c) = n.cards.try_recv() {
                got.push(c);
            }
        }
        for c in got {
            self.print(&c);
        }
    }

    /// Lets the console play Discord's authorize step while linking.
    pub fn with_discord(mut self, approver: DiscordApprover) -> Self {
        self.discord_approver = Some(approver);
        self
    }

    /// Lets `get PATH` fetch pages of the bot's web server at `base` (e.g. `/metrics`).
    pub fn with_web(mut self, base: Url) -> Self {
        self.web = Some(base);
        self
    }

    /// Runs the use case, timed like a Discord interaction's first response.
    async fn handled(&self, inv: &Invocation) -> Reply {
        let arrived = std::time::Instant::now();
        let reply = self.app.commands.handle(inv).await;
        crate::telemetry::record_ack("console", arrived);
        reply
    }

    /// `get PATH`: prints the bot web server's answer to `GET PATH`.
    async fn get(&mut self, path: &str) -> Outcome {
        let Some(base) = &self.web else {
            return Outcome::Failed("this console has no web server".into());
        };
        let url = crate::config::join(base, path);
        match self.http.get(url).send().await {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                self.print(&format!("{status}\n{body}"));
                if status.is_success() {
                    Outcome::Ok
                } else {
                    Outcome::Failed(format!("GET {path} answered {status}"))
                }
            }
            Err(e) => Outcome::Failed(format!("GET {path} failed: {e}")),
        }
    }

    /// The help text.
    pub fn help() -> &'static str {
        HELP
    }

    /// Queues lines used to answer form fields (scripts).
    pub fn queue_input(&mut self, line: String) {
        self.queued.push_back(line);
    }

    /// Everything printed for the last line.
    pub fn last_output(&self) -> &str {
        &self.last_output
    }

    fn print(&mut self, text: &str) {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        self.last_output.push_str(text);
        self.last_output.push('\n');
    }

    fn invocation(&mut self, action: Action) -> Invocation {
        self.seq += 1;
        Invocation {
            id: format!("console-{}-{}", self.member.id, self.seq),
            member: self.member.clone(),
            guild_id: self.guild_id,
            channel_id: self.channel_id,
            in_thread: self.thread.is_some(),
            thread_parent: self.thread.map(|_| 10),
            locale: Some(self.locale.clone()),
            origin: crate::commands::Origin::GuildInstall,
            action,
            reply_token: None,
        }
    }

    /// Runs one line. `read` supplies form field values when the queue is empty
    /// (`None` = no more input).
    pub async fn run_line(
        &mut self,
        line: &str,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Outcome {
        let q = self
            .last_question
            .map(|q| q.to_string())
            .unwrap_or_else(|| "0".into());
        let line = line.trim().replace("$Q", &q);
        if line.is_empty() || line.starts_with('#') {
            return Outcome::Ok;
        }
        if let Some(text) = line.strip_prefix("expect ") {
            // Checks the output of the previous line (kept until the next real line).
            return if self.last_output.contains(text.trim()) {
                Outcome::Ok
            } else {
                Outcome::Failed(format!(
                    "expected the last output to contain `{}`",
                    text.trim()
                ))
            };
        }
        self.last_output.clear();
        let outcome = self.dispatch(&line, read).await;
        self.drain_notices(std::time::Duration::from_millis(50))
            .await;
        self.print_cards();
        outcome
    }

    async fn dispatch(
        &mut self,
        line: &str,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Outcome {
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match head {
            "quit" | "exit" => Outcome::Quit,
            "help" | "?" => {
                self.print(HELP);
                Outcome::Ok
            }
            "press" => self.press(rest, read).await,
            "poll" => self.poll_now().await,
            "thread" if !rest.is_empty() => self.start_thread(rest),
            "say" if !rest.is_empty() => self.say(rest),
            "save" if rest == "thread" => self.save_thread(read).await,
            "inbox" => self.inbox(),
            "site" => match self.site.clone() {
                Some(site) => match site(rest) {
                    Ok(done) => {
                        self.print(&done);
                        Outcome::Ok
                    }
                    Err(e) => Outcome::Failed(e),
                },
                None => Outcome::Failed("there is no fake site to post on here".into()),
            },
            "choose" => self.choose(rest, read).await,
            n if n.parse::<usize>().is_ok() => self.press(n, read).await,
            "approve" => self.approve(rest).await,
            "get" if rest.starts_with('/') => self.get(rest).await,
            "complete" => {
                let inv = self.invocation(Action::Autocomplete {
                    name: "so".into(),
                    path: vec!["ask".into()],
                    focused: "tags".into(),
                    value: rest.into(),
                });
                let reply = self.handled(&inv).await;
                self.show(reply, read).await
            }
            "locale" if !rest.is_empty() => {
                self.locale = rest.to_string();
                self.print(&format!("(Discord now in locale {rest})"));
                Outcome::Ok
            }
            "as" if !rest.is_empty() => {
                let id = 1000
                    + rest
                        .bytes()
                        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64))
                        % 1000;
                self.member = Member::new(id, rest);
                self.print(&format!("(now acting as Discord member {rest})"));
                Outcome::Ok
            }
            h if h.starts_with('/') => match parse_slash(line) {
                Some(action) => {
                    let inv = self.invocation(action);
                    let reply = self.handled(&inv).await;
                    self.show(reply, read).await
                }
                None => Outcome::Failed(format!("cannot read `{line}`; type help")),
            },
            _ => Outcome::Failed(format!("unknown input `{line}`; type help")),
        }
    }

    fn remember(&mut self, reply: &Reply) {
        for c in reply.buttons() {
            if let Component::Link { url, .. } = c {
                if url.contains("/link/start") {
                    self.last_link = Url::parse(url).ok();
                }
                if let Some(q) = crate::commands::show::parse_question_ref(url) {
                    self.last_question = Some(q);
                }
            }
            if let Some(crate::commands::ids::Id::OpenAnswer { question }) =
                c.id().and_then(crate::commands::ids::parse)
            {
                self.last_question = Some(question);
            }
        }
    }

    async fn show(
        &mut self,
        reply: Reply,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Outcome {
        let text = render::render(&reply, self.app.clock.now());
        self.print(&text);
        self.remember(&reply);
        if let ReplyKind::Modal(modal) = &reply.kind {
            let mut fields = Vec::new();
            for input in &modal.inputs {
                let value = if input.paragraph {
                    self.print(&format!(
                        "{} (end with a line holding only .):",
                        input.label
                    ));
                    let mut lines = Vec::new();
                    loop {
                        match self.next_input(&format!("{}> ", input.label), read) {
                            Some(l) if l.trim() == "." => break,
                            Some(l) => lines.push(l),
                            None => {
                                return Outcome::Failed(format!(
                                    "input ended inside the form field {}",
                                    input.label
                                ))
                            }
                        }
                    }
                    lines.join("\n")
                } else {
                    match self.next_input(&format!("{}: ", input.label), read) {
                        Some(l) => l,
                        None => {
                            return Outcome::Failed(format!(
                                "input ended before the form field {}",
                                input.label
                            ))
                        }
                    }
                };
                let value = if value.trim().is_empty() {
                    input.value.clone().unwrap_or_default()
                } else {
                    value
                };
                fields.push((input.id.clone(), value));
            }
            let inv = self.invocation(Action::Modal {
                custom_id: modal.id.clone(),
                fields,
            });
            let result = self.handled(&inv).await;
            let text = render::render(&result, self.app.clock.now());
            self.print(&text);
            self.remember(&result);
            self.last = Some(result);
            return Outcome::Ok;
        }
        if !matches!(reply.kind, ReplyKind::Choices(_)) {
            self.last = Some(reply);
        }
        Outcome::Ok
    }

    fn next_input(
        &mut self,
        prompt: &str,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Option<String> {
        if let Some(l) = self.queued.pop_front() {
            return Some(l);
        }
        read(prompt)
    }

    async fn press(
        &mut self,
        n: &str,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Outcome {
        let n = match n.trim().parse::<usize>() {
            Ok(n) => n,
            // `press Accept 1`: the first button whose label contains the text.
            Err(_) if !n.trim().is_empty() => {
                let wanted = n.trim().to_lowercase();
                match self.last.as_ref().and_then(|r| {
                    r.buttons()
                        .iter()
                        .position(|c| c.label().to_lowercase().contains(&wanted))
                }) {
                    Some(i) => i + 1,
                    None => {
                        return Outcome::Failed(format!(
                            "no button labelled `{}` on the last reply",
                            n.trim()
                        ))
                    }
                }
            }
            Err(_) => return Outcome::Failed("press needs a button number or label".into()),
        };
        let Some(component) = self
            .last
            .as_ref()
            .and_then(|r| r.buttons().get(n.wrapping_sub(1)).map(|c| (*c).clone()))
        else {
            return Outcome::Failed(format!("there is no button {n} on the last reply"));
        };
        match component {
            Component::Link { url, .. } => {
                if url.contains("/link/start") {
                    self.last_link = Url::parse(&url).ok();
                    self.print(&format!(
                        "Open {url} in a browser, or type `approve` to finish linking here."
                    ));
                } else {
                    self.print(&format!("(opens {url})"));
                }
                Outcome::Ok
            }
            Component::Button { id, disabled, .. } => {
                if disabled {
                    return Outcome::Failed(format!("button {n} is disabled"));
                }
                let inv = self.invocation(Action::Button { custom_id: id });
                let reply = self.handled(&inv).await;
                self.show(reply, read).await
            }
            Component::Select { .. } => {
                Outcome::Failed(format!("{n} is a menu: use `choose <text of a choice>`"))
            }
        }
    }

    /// `choose <text>`: the first choice of a select menu on the last reply whose label
    /// contains the text.
    async fn choose(
        &mut self,
        text: &str,
        read: &mut (dyn FnMut(&str) -> Option<String> + Send),
    ) -> Outcome {
        let picked = self.last.as_ref().and_then(|r| {
            r.choice(text.trim())
                .map(|(id, value)| (id.to_string(), value.to_string()))
        });
        let Some((custom_id, value)) = picked.filter(|_| !text.trim().is_empty()) else {
            return Outcome::Failed(format!(
                "no menu choice labelled `{}` on the last reply",
                text.trim()
            ));
        };
        let inv = self.invocation(Action::Select {
            custom_id,
            values: vec![value],
        });
        let reply = self.app.commands.handle(&inv).await;
        self.show(reply, read).await
    }

    async fn approve(&mut self, who: &str) -> Outcome {
        let Some(start) = self.last_link.clone() else {
            return Outcome::Failed("no link to approve: run /so link first".into());
        };
        let who = if who.is_empty() { "jane" } else { who };
        match self.complete_link(&start, who).await {
            Ok(page) => {
                self.last_link = None;
                self.print(&format!("(browser) {page}"));
                // The draft resume runs in the background; give it a moment to report.
                self.drain_notices(std::time::Duration::from_secs(3)).await;
                Outcome::Ok
            }
            Err(e) => {
                self.print(&format!("(browser) {e}"));
                Outcome::Failed(e)
            }
        }
    }

    /// Plays the browser: /link/start (keeping its cookie) → site consent → callback →
    /// Discord's authorize step as the console's member → confirmation → Confirm.
    async fn complete_link(&self, start: &Url, who: &str) -> Result<String, String> {
        let resp = self
            .http
            .get(start.clone())
            .send()
            .await
            .map_err(|e| format!("could not open the link: {}", e.without_url()))?;
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
            .unwrap_or_default();
        let Some(authorize) = location(&resp) else {
            return Err(format!(
                "the link page answered {} instead of sending you to the site: {}",
                resp.status(),
                page_title(&resp.text().await.unwrap_or_default())
            ));
        };
        let callback = (self.approver)(&authorize, who)?;
        let mut page = self
            .http
            .get(callback)
            .header("cookie", &cookie)
            .send()
            .await
            .map_err(|e| format!("callback failed: {}", e.without_url()))?;
        if let Some(discord) = location(&page) {
            let approve = self
                .discord_approver
                .as_ref()
                .ok_or("the bot wants a Discord sign-in, but this console cannot play Discord")?;
            let back = approve(&discord, &self.member)?;
            page = self
                .http
                .get(back)
                .header("cookie", &cookie)
                .send()
                .await
                .map_err(|e| format!("Discord callback failed: {}", e.without_url()))?;
        }
        let html = page.text().await.unwrap_or_default();
        let Some(token) = form_token(&html) else {
            return Err(format!(
                "linking failed: {}: {}",
                page_title(&html),
                page_text(&html)
            ));
        };
        let mut confirm = start.clone();
        confirm.set_path("/oauth/confirm");
        confirm.set_query(None);
        let done = self
            .http
            .post(confirm)
            .header("cookie", &cookie)
            .form(&[("form_token", token.as_str()), ("action", "confirm")])
            .send()
            .await
            .map_err(|e| format!("confirm failed: {}", e.without_url()))?;
        let ok = done.status().is_success();
        let html = done.text().await.unwrap_or_default();
        if ok {
            Ok(format!("{}: {}", page_title(&html), page_text(&html)))
        } else {
            Err(format!("confirm refused: {}", page_title(&html)))
        }
    }

    async fn drain_notices(&mut self, wait: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got_any = false;
        loop {
            let timeout = if got_any {
                std::time::Duration::from_millis(300)
            } else {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            };
            match tokio::time::timeout(timeout, self.notices.recv()).await {
                Ok(Some(n)) => {
                    got_any = true;
                    let text = render::render(&n.reply, self.app.clock.now());
                    self.print(&format!("DM from soe-bot:\n{text}"));
                    self.remember(&n.reply);
                    self.last = Some(n.reply);
                }
                _ => break,
            }
        }
    }
}

/// Where a response redirects, if it does.
fn location(resp: &reqwest::Response) -> Option<Url> {
    resp.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| Url::parse(l).ok())
}

fn page_title(html: &str) -> String {
    between(html, "<h1>", "</h1>").unwrap_or_else(|| "unexpected page".into())
}

fn page_text(html: &str) -> String {
    between(html, "<p>", "</p>").unwrap_or_default()
}

fn between(s: &str, a: &str, b: &str) -> Option<String> {
    let i = s.find(a)? + a.len();
    let j = s[i..].find(b)? + i;
    Some(html_escape::decode_html_entities(&s[i..j]).to_string())
}

fn form_token(html: &str) -> Option<String> {
    between(html, "name=\"form_token\" value=\"", "\"")
}

/// Known options per subcommand, the first being where bare words go.
fn options_of(path: &[&str]) -> &'static [&'static str] {
    match path {
        ["search"] => &["query", "tag", "sort"],
        ["question"] => &["id"],
        ["answer"] => &["question"],
        ["ask"] => &["title", "tags"],
        ["alerts", "on"] => &["tags"],
        ["channel", "team"] => &["slug", "channel"],
        ["channel", "tags"] => &["tags", "channel"],
        ["channel", "cards"] => &["state", "channel"],
        ["channel", _] => &["channel"],
        ["audit-channel"] => &["channel", "off"],
        ["subscribe"] => &[
            "tags",
            "channel",
            "match",
            "exclude",
            "events",
            "unanswered-after",
            "threads",
            "cap-per-hour",
        ],
        ["subscriptions"] => &["channel"],
        ["unsubscribe"] | ["preview"] => &["rule"],
        _ => &[],
    }
}

/// Parses `/so sub words name:value …` into a command action.
pub fn parse_slash(line: &str) -> Option<Action> {
    let mut words = line.split_whitespace();
    let name = words.next()?.strip_prefix('/')?.to_string();
    if name != "so" && name != "so-admin" {
        return None;
    }
    let mut path = vec![words.next()?.to_string()];
    let group = (name == "so-admin" && path[0] == "channel")
        || (name == "so" && matches!(path[0].as_str(), "alerts" | "experts"));
    if group {
        path.push(words.next()?.to_string());
    }
    let path_refs: Vec<&str> = path.iter().map(String::as_str).collect();
    let known = options_of(&path_refs);
    let mut options: Vec<(String, OptionValue)> = Vec::new();
    let mut bare = Vec::new();
    for w in words {
        match w.split_once(':') {
            Some((k, v)) if known.contains(&k) => {
                let value = if k == "channel" {
                    OptionValue::Channel(
                        v.trim_start_matches("<#")
                            .trim_end_matches('>')
                            .parse()
                            .ok()?,
                    )
                } else if k == "threads" {
                    OptionValue::Bool(matches!(v, "true" | "on" | "yes"))
                } else if k == "rule" || k == "cap-per-hour" {
                    match v.trim_start_matches('#').parse::<i64>() {
                        Ok(n) => OptionValue::Int(n),
                        Err(_) => OptionValue::Str(v.to_string()),
                    }
                } else {
                    OptionValue::Str(v.to_string())
                };
                options.push((k.to_string(), value));
            }
            _ => bare.push(w),
        }
    }
    if !bare.is_empty() {
        let first = known.first()?;
        options.insert(0, (first.to_string(), OptionValue::Str(bare.join(" "))));
    }
    Some(Action::Command {
        name,
        path,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_lines_parse() {
        match parse_slash("/so search async rust tag:tokio").unwrap() {
            Action::Command {
                name,
                path,
                options,
            } => {
                assert_eq!(name, "so");
                assert_eq!(path, ["search"]);
                assert_eq!(
                    options[0],
                    ("query".into(), OptionValue::Str("async rust".into()))
                );
                assert_eq!(options[1], ("tag".into(), OptionValue::Str("tokio".into())));
            }
            _ => panic!(),
        }
        match parse_slash("/so question https://x/questions/3/a").unwrap() {
            Action::Command { options, .. } => assert_eq!(
                options[0].1,
                OptionValue::Str("https://x/questions/3/a".into())
            ),
            _ => panic!(),
        }
        assert!(
            matches!(parse_slash("/so-admin channel disable").unwrap(), Action::Command { path, .. } if path == ["channel", "disable"])
        );
        assert!(parse_slash("/other x").is_none());
    }

    #[test]
    fn finds_the_form_token() {
        let html = r#"<form><input type="hidden" name="form_token" value="abc_DEF-1"><button>"#;
        assert_eq!(form_token(html).as_deref(), Some("abc_DEF-1"));
    }
}

//! `TestApp`: the whole bot against the fake SOE site, on loopback, with an injected clock and a
//! throw-away sealed store. Build with [`TestApp::builder`] (crates.io style) and drive it like
//! a member would: slash commands, buttons, modals, and the browser side of linking.
#![allow(dead_code)]

use std::sync::Arc;

use secrecy::SecretString;
use soe_bot::app::{App, AppParts};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::commands::caches::ServiceBudget;
use soe_bot::commands::{
    AccessPolicy, Action, Invocation, Member, Notice, OptionValue, Origin, Reply, SiteInfo,
};
use soe_bot::config::LimitsConfig;
use soe_bot::console::ConsoleNotifier;
use soe_bot::fake_discord::{FakeDiscord, FakeDiscordConfig, FakeDiscordUser};
use soe_bot::fake_soe::{Approval, FakeSoe, FakeSoeConfig};
use soe_bot::link::discord::DiscordOAuthSettings;
use soe_bot::link::LinkSettings;
use soe_bot::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::SledStore;
use tokio::sync::mpsc;
use url::Url;

use super::browser::{Browser, Page};
/// The guild of the signed-interaction fixtures (`fake_discord::fixtures::GUILD`), allowed by
/// default next to guild 1 (where [`TestApp::invocation`] acts).
pub const FIXTURE_GUILD: u64 = 1_000_000_000_000_000_001;

type FakeTweak = Box<dyn FnOnce(&mut FakeSoeConfig)>;
type ClientTweak = Box<dyn FnOnce(&mut SoeClientConfig)>;

/// Options for [`TestApp`].
pub struct TestAppBuilder {
    clock: FixedClock,
    approval: Approval,
    html_encode: bool,
    limits: LimitsConfig,
    budget: Option<(u32, f64, u32, f64)>,
    allow_no_expiry: bool,
    configure_fake: Option<FakeTweak>,
    client: Option<ClientTweak>,
    store_dir: Option<std::path::PathBuf>,
    verify_discord: bool,
    public_prefix: Option<String>,
    access: AccessPolicy,
    team: Option<soe_bot::soe::TeamSlug>,
}

impl TestAppBuilder {
    /// Turn the Discord identity check off (`link.verify_discord_identity = false`).
    pub fn without_discord_check(mut self) -> Self {
        self.verify_discord = false;
        self
    }

    /// Serve the bot under a path prefix of `public_url` (`http://127.0.0.1:P/<prefix>/`), the
    /// way a reverse proxy that strips the prefix would: the test browser adds it, the server
    /// never sees it.
    pub fn public_prefix(mut self, prefix: &str) -> Self {
        self.public_prefix = Some(prefix.trim_matches('/').to_string());
        self
    }

    /// Use this clock (shared with the fake site).
    pub fn clock(mut self, clock: FixedClock) -> Self {
        self.clock = clock;
        self
    }
    /// How the fake's consent step answers.
    pub fn approval(mut self, a: Approval) -> Self {
        self.approval = a;
        self
    }
    /// Member limits.
    pub fn limits(mut self, l: LimitsConfig) -> Self {
        self.limits = l;
        self
    }
    /// A tighter global service budget: burst per secs, sustained per secs.
    pub fn budget(
        mut self,
        burst: u32,
        burst_secs: f64,
        sustained: u32,
        sustained_secs: f64,
    ) -> Self {
        self.budget = Some((burst, burst_secs, sustained, sustained_secs));
        self
    }
    /// Members may get non-expiring tokens.
    pub fn allow_no_expiry(mut self) -> Self {
        self.allow_no_expiry = true;
        self
    }
    /// Adjust the fake site's config.
    pub fn fake(mut self, f: impl FnOnce(&mut FakeSoeConfig) + 'static) -> Self {
        self.configure_fake = Some(Box::new(f));
        self
    }
    /// Adjust the SOE client's config.
    pub fn client(mut self, f: impl FnOnce(&mut SoeClientConfig) + 'static) -> Self {
        self.client = Some(Box::new(f));
        self
    }

    /// Serve DMs (to members of an allowed guild).
    pub fn allow_dms(mut self) -> Self {
        self.access.allow_dms = true;
        self
    }
    /// The guilds served (default: 1 and [`FIXTURE_GUILD`]).
    pub fn allowed_guilds(mut self, guilds: Vec<u64>) -> Self {
        self.access.allowed_guilds = guilds;
        self
    }
    /// Work in the private team `slug` (`soe.team`; default the main site).
    pub fn team(mut self, slug: &str) -> Self {
        self.team = Some(soe_bot::soe::TeamSlug::parse(slug).expect("a team slug"));
        self
    }
    /// Role ids that grant admin commands (default: none).
    pub fn admin_roles(mut self, roles: Vec<u64>) -> Self {
        self.access.admin_roles = roles;
        self
    }

    /// Keep the store in `dir` (default: a fresh temporary directory).
    pub fn store_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.store_dir = Some(dir);
        self
    }

    /// Starts everything.
    pub async fn start(self) -> TestApp {
        let clock: SharedClock = Arc::new(self.clock.clone());
        let mut fcfg = FakeSoeConfig::new(clock.clone());
        fcfg.approval = self.approval;
        fcfg.html_encode = self.html_encode;
        // The suite's application is Read-write (the README's setup step); tests of the
        // read-only status switch it back.
        fcfg.application = soe_bot::fake_soe::AppStatus::ReadWrite;
        if let Some(f) = self.configure_fake {
            f(&mut fcfg);
        }
        let fake = Arc::new(FakeSoe::start(fcfg).await.expect("fake site"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = self
            .store_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("db"));
        let store =
            Arc::new(SledStore::open_at(path, Cipher::for_testing(), 8 << 20).expect("store"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let web = Url::parse(&format!("http://{addr}/")).expect("url");
        // What browsers are told (the proxy's address); `web` is where the server listens.
        let public = match &self.public_prefix {
            Some(prefix) => Url::parse(&format!("http://{addr}/{prefix}/")).expect("url"),
            None => web.clone(),
        };
        let discord = Arc::new(
            FakeDiscord::start(FakeDiscordConfig::new(clock.clone()))
                .await
                .expect("fake Discord"),
        );
        let mut ccfg = SoeClientConfig::new(fake.site_url());
        ccfg.retry_min_delay = std::time::Duration::from_millis(10);
        ccfg.retry_max_delay = std::time::Duration::from_millis(50);
        if let Some(f) = self.client {
            f(&mut ccfg);
        }
        let soe = HttpSoe::new(ccfg).expect("client");
        let service = ServiceToken::new(SecretString::from(fake.service_token()));
        let (app, linked) = App::build(AppParts {
            store: store.clone(),
            clock: clock.clone(),
            soe: soe.clone(),
            connector: Arc::new(HttpConnector::new(soe.clone(), service)),
            link: {
                let settings = LinkSettings {
                    site_url: fake.site_url(),
                    client_id: fake.client_id().to_string(),
                    public_url: public.clone(),
                    allow_no_expiry: self.allow_no_expiry,
                    discord: self.verify_discord.then(|| DiscordOAuthSettings {
                        base: discord.base_url(),
                        client_id: discord.client_id().to_string(),
                        client_secret: SecretString::from(discord.client_secret().to_string()),
                    }),
                    teams: self.team.iter().cloned().collect(),
                    team_scope_format: soe_bot::soe::DEFAULT_TEAM_SCOPE_FORMAT.into(),
                };
                discord.register_redirect(settings.discord_redirect_uri().as_str());
                settings
            },
            site: SiteInfo {
                name: "Acme Stack Overflow".into(),
                url: fake.site_url(),
                team: self.team.clone(),
            },
            limits: self.limits,
            access: self.access,
        })
        .expect("app");
        let app = match self.budget {
            Some((b, bs, s, ss)) => {
                // Rebuild the commands with a tighter budget.
                let Ok(cmds) = Arc::try_unwrap(app) else {
                    panic!("the app has one owner here")
                };
                let Ok(commands) = Arc::try_unwrap(cmds.commands) else {
                    panic!("the commands have one owner here")
                };
                let commands =
                    commands.with_budget(ServiceBudget::new(clock.clone(), b, bs, s, ss));
                Arc::new(App {
                    commands: Arc::new(commands),
                    ..cmds
                })
            }
            None => app,
        };
        let router = soe_bot::web::router(soe_bot::web::WebState {
            link: app.link.clone(),
            ready: soe_bot::web::ready_check(soe_bot::web::ReadyReport::ready),
            extra: None,
            hsts: false,
        });
        // A reverse proxy that strips the public path prefix.
        let router = match self.public_prefix.clone() {
            Some(prefix) => axum::Router::new().nest(&format!("/{prefix}"), router),
            None => router,
        };
        let server = tokio::spawn(async move {
            let _ = soe_bot::web::serve(listener, router, std::future::pending()).await;
        });
        let (notifier, notices) = ConsoleNotifier::new();
        let mut tasks = app.spawn_background(linked, Arc::new(notifier));
        tasks.push(server);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http");
        TestApp {
            fake,
            discord,
            public,
            tickets: Default::default(),
            clock: self.clock,
            app,
            store,
            web,
            dir,
            notices: tokio::sync::Mutex::new(notices),
            http,
            tasks,
            seq: Default::default(),
        }
    }
}

/// A running bot against a fake site.
pub struct TestApp {
    pub fake: Arc<FakeSoe>,
    /// The fake Discord OAuth2 the linking flow proves identities with.
    pub discord: Arc<FakeDiscord>,
    /// The bot's public URL as browsers see it (`web` plus any path prefix).
    pub public: Url,
    /// `/link/start` URLs handed out, and to whom (so a test browser can sign in to Discord as
    /// the member the link is for).
    tickets: parking_lot::Mutex<std::collections::HashMap<String, Member>>,
    pub clock: FixedClock,
    pub app: Arc<App>,
    pub store: Arc<SledStore>,
    pub web: Url,
    pub dir: tempfile::TempDir,
    pub notices: tokio::sync::Mutex<mpsc::UnboundedReceiver<Notice>>,
    pub http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    seq: std::sync::atomic::AtomicU64,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The outcome of the browser side of linking.
#[derive(Debug)]
pub struct BrowserRun {
    /// Status and body of each page seen.
    pub pages: Vec<(u16, String)>,
}

impl BrowserRun {
    pub fn last(&self) -> &(u16, String) {
        self.pages.last().expect("a page")
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            clock: FixedClock::epoch(),
            approval: Approval::AutoApprove {
                user_id: soe_bot::fake_soe::JANE,
            },
            html_encode: true,
            limits: LimitsConfig::default(),
            budget: None,
            allow_no_expiry: false,
            configure_fake: None,
            client: None,
            store_dir: None,
            verify_discord: true,
            public_prefix: None,
            access: AccessPolicy {
                allowed_guilds: vec![1, FIXTURE_GUILD],
                allow_dms: false,
                admin_roles: vec![],
            },
            team: None,
        }
    }

    pub async fn start() -> TestApp {
        Self::builder().start().await
    }

    /// A member in guild 1, channel 10, with an ordinary member's permissions there (view,
    /// send, send in threads; nothing of a moderator's).
    pub fn member(id: u64, name: &str) -> Member {
        use soe_bot::commands::share::{SEND_MESSAGES, SEND_MESSAGES_IN_THREADS, VIEW_CHANNEL};
        let mut m = Member::new(id, name);
        m.permissions = Some(VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS);
        m
    }

    pub fn invocation(&self, member: &Member, action: Action) -> Invocation {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Invocation {
            id: format!("test-{n}"),
            member: member.clone(),
            guild_id: Some(1),
            channel_id: Some(10),
            in_thread: false,
            thread_parent: None,
            locale: Some("en-US".into()),
            origin: Origin::GuildInstall,
            action,
            reply_token: None,
        }
    }

    pub async fn run(&self, inv: &Invocation) -> Reply {
        let reply = self.app.commands.handle(inv).await;
        for c in reply.buttons() {
            if let soe_bot::commands::Component::Link { url, .. } = c {
                if url.contains("/link/start") {
                    self.tickets.lock().insert(url.clone(), inv.member.clone());
                }
            }
        }
        reply
    }

    /// The member a `/link/start` URL was handed to.
    pub fn ticket_member(&self, start: &Url) -> Option<Member> {
        self.tickets.lock().get(start.as_str()).cloned()
    }

    /// A fresh browser that is signed in to (fake) Discord as `member`.
    pub async fn browser_of(&self, member: &Member) -> Browser {
        let browser = Browser::new();
        self.sign_in_discord(&browser, member).await;
        browser
    }

    /// Signs `browser` in to the fake Discord as `member` (registering the account).
    pub async fn sign_in_discord(&self, browser: &Browser, member: &Member) {
        self.discord.add_user(FakeDiscordUser {
            id: member.id,
            username: member.username.clone(),
            global_name: Some(member.name.clone()),
        });
        let page = browser.get(self.discord.login_url(member.id, None)).await;
        assert_eq!(page.status, 200, "signed in to fake Discord: {}", page.body);
    }

    /// `/so <sub> opt:value…`.
    pub async fn slash(&self, member: &Member, sub: &str, options: &[(&str, &str)]) -> Reply {
        let inv = self.invocation(
            member,
            Action::Command {
                name: "so".into(),
                path: vec![sub.into()],
                options: options
                    .iter()
                    .map(|(k, v)| (k.to_string(), OptionValue::Str(v.to_string())))
                    .collect(),
            },
        );
        self.run(&inv).await
    }

    pub async fn press(&self, member: &Member, custom_id: &str) -> Reply {
        let inv = self.invocation(
            member,
            Action::Button {
                custom_id: custom_id.into(),
            },
        );
        self.run(&inv).await
    }

    pub async fn submit(&self, member: &Member, modal_id: &str, fields: &[(&str, &str)]) -> Reply {
        let inv = self.invocation(
            member,
            Action::Modal {
                custom_id: modal_id.into(),
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        );
        self.run(&inv).await
    }

    /// Chooses the first menu choice of `reply` whose label contains `text`.
    pub async fn choose(&self, member: &Member, reply: &Reply, text: &str) -> Reply {
        let (id, value) = reply
            .choice(text)
            .unwrap_or_else(|| panic!("no menu choice {text:?} in {reply:#?}"));
        let inv = self.invocation(
            member,
            Action::Select {
                custom_id: id.to_string(),
                values: vec![value.to_string()],
            },
        );
        self.run(&inv).await
    }

    /// Whether `reply` has a button whose label contains `label`.
    pub fn try_button(reply: &Reply, label: &str) -> bool {
        reply.buttons().iter().any(|c| c.label().contains(label))
    }

    /// The custom id of the first button whose label contains `label`.
    pub fn button(reply: &Reply, label: &str) -> String {
        reply
            .buttons()
            .iter()
            .find(|c| c.label().contains(label))
            .and_then(|c| c.id().map(String::from))
            .unwrap_or_else(|| panic!("no button {label:?} in {reply:#?}"))
    }

    /// A fresh `/link/start` URL from `/so link`, through Link again when the member is
    /// already linked (as a member switching accounts would).
    pub async fn link_start(&self, member: &Member) -> Url {
        let mut reply = self.slash(member, "link", &[]).await;
        if Self::try_button(&reply, "Link again") {
            reply = self
                .press(member, &Self::button(&reply, "Link again"))
                .await;
        }
        Self::link_url(&reply)
    }

    /// The URL of the first link button.
    pub fn link_url(reply: &Reply) -> Url {
        reply
            .buttons()
            .iter()
            .find_map(|c| match c {
                soe_bot::commands::Component::Link { url, .. } => Url::parse(url).ok(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no link button in {reply:#?}"))
    }

    /// Plays the browser from a `/link/start` URL: start → site (auto-approve) → callback →
    /// Discord (signed in as the member the link was handed to) → confirmation page → Confirm
    /// (if `confirm`).
    pub async fn browse_link(&self, start: &Url, confirm: bool) -> BrowserRun {
        let member = self
            .ticket_member(start)
            .expect("a link URL handed out by this TestApp");
        let browser = self.browser_of(&member).await;
        self.browse_link_in(&browser, start, confirm).await
    }

    /// [`TestApp::browse_link`] in a given browser.
    pub async fn browse_link_in(
        &self,
        browser: &Browser,
        start: &Url,
        confirm: bool,
    ) -> BrowserRun {
        let seen = browser.follow(start).await;
        let mut pages: Vec<(u16, String)> =
            seen.iter().map(|p| (p.status, p.body.clone())).collect();
        let last = seen.last().expect("a page");
        if !confirm || last.status != 200 {
            return BrowserRun { pages };
        }
        let Some(token) = form_token(&last.body) else {
            return BrowserRun { pages };
        };
        let done = self.confirm_in(browser, &token, "confirm").await;
        pages.push((done.status, done.body));
        BrowserRun { pages }
    }

    /// Presses Confirm (`action = "confirm"`) or Cancel on a confirmation page in `browser`.
    pub async fn confirm_in(&self, browser: &Browser, form_token: &str, action: &str) -> Page {
        browser
            .post_form(
                self.public.join("oauth/confirm").expect("url"),
                &[("form_token", form_token), ("action", action)],
            )
            .await
    }

    /// GETs `url` and returns where it redirects (panics if it does not).
    pub async fn redirect(&self, url: impl reqwest::IntoUrl) -> String {
        let r = self.http.get(url).send().await.expect("answered");
        r.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("expected a redirect, got {}", r.status()))
            .to_string()
    }

    /// Links `member` to the SOE user the fake auto-approves as; panics unless it worked.
    pub async fn link(&self, member: &Member) {
        let mut reply = self.slash(member, "link", &[]).await;
        if Self::try_button(&reply, "Link again") {
            // Already linked: link again, as a member switching accounts would.
            reply = self
                .press(member, &Self::button(&reply, "Link again"))
                .await;
        }
        let run = self.browse_link(&Self::link_url(&reply), true).await;
        assert_eq!(run.last().0, 200, "link flow failed: {:?}", run.pages);
        assert!(run.last().1.contains("Account linked"), "{:?}", run.last());
        // The linked event is processed in the background: wait for its notice.
        self.next_notice().await;
    }

    /// The next notice (DM), waiting up to 5 s.
    pub async fn next_notice(&self) -> Notice {
        let mut rx = self.notices.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("a notice within 5 s")
            .expect("notice channel open")
    }
}

/// The one-time form token on a confirmation page.
pub fn form_token(html: &str) -> Option<String> {
    let i = html.find("name=\"form_token\" value=\"")? + "name=\"form_token\" value=\"".len();
    let j = html[i..].find('"')? + i;
    Some(html[i..j].to_string())
}

impl TestApp {
    /// The injected clock's now.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use soe_bot::clock::Clock;
        self.clock.now()
    }
}

/// A stand-in for the Discord adapter's view of a server ([`soe_bot::commands::server::ServerView`]):
/// knows which guild each declared channel is in, grants the bot `permissions` everywhere, and
/// records every message posted.
pub struct StubServer {
    /// Channel → guild.
    pub channels: parking_lot::Mutex<std::collections::HashMap<u64, u64>>,
    /// The bot's permissions in every channel.
    pub permissions: std::sync::atomic::AtomicU64,
    /// (channel, message) in order.
    pub posts: parking_lot::Mutex<Vec<(u64, Reply)>>,
    /// Threads by id (Save thread reads them).
    pub threads: parking_lot::Mutex<
        std::collections::HashMap<u64, soe_bot::commands::server::ThreadContent>,
    >,
    /// (user, message) of the DMs sent, in order.
    pub dms: parking_lot::Mutex<Vec<(u64, Reply)>>,
    /// Users whose DMs fail.
    pub closed_dms: parking_lot::Mutex<Vec<u64>>,
    /// The forum channels (their threads are forum posts).
    pub forums: parking_lot::Mutex<Vec<u64>>,
}

impl StubServer {
    /// Channels 10 and 11 of guild 1, channel 99 of guild 2; every permission.
    pub fn new() -> Self {
        Self {
            channels: parking_lot::Mutex::new([(10, 1), (11, 1), (99, 2)].into_iter().collect()),
            permissions: std::sync::atomic::AtomicU64::new(u64::MAX),
            posts: parking_lot::Mutex::new(Vec::new()),
            threads: parking_lot::Mutex::new(std::collections::HashMap::new()),
            dms: parking_lot::Mutex::new(Vec::new()),
            closed_dms: parking_lot::Mutex::new(Vec::new()),
            forums: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// What was posted in `channel`.
    pub fn posted_in(&self, channel: u64) -> Vec<Reply> {
        self.posts
            .lock()
            .iter()
            .filter(|(c, _)| *c == channel)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl soe_bot::commands::server::ServerView for StubServer {
    async fn channel(
        &self,
        channel: u64,
    ) -> Result<soe_bot::commands::server::ChannelLookup, soe_bot::commands::access::DirectoryError>
    {
        use soe_bot::commands::server::ChannelLookup;
        Ok(match self.channels.lock().get(&channel) {
            Some(g) => ChannelLookup::In(Some(*g)),
            None => ChannelLookup::Unknown,
        })
    }
    async fn bot_permissions(
        &self,
        _guild: u64,
        _channel: u64,
    ) -> Result<u64, soe_bot::commands::access::DirectoryError> {
        Ok(self.permissions.load(std::sync::atomic::Ordering::SeqCst))
    }
    async fn post(
        &self,
        channel: u64,
        reply: &Reply,
    ) -> Result<(), soe_bot::commands::access::DirectoryError> {
        self.posts.lock().push((channel, reply.clone()));
        Ok(())
    }
    async fn thread(
        &self,
        thread: u64,
    ) -> Result<soe_bot::commands::server::ThreadContent, soe_bot::commands::access::DirectoryError>
    {
        self.threads
            .lock()
            .get(&thread)
            .cloned()
            .ok_or_else(|| soe_bot::commands::access::DirectoryError("no such thread".into()))
    }
    async fn is_forum(
        &self,
        channel: u64,
    ) -> Result<bool, soe_bot::commands::access::DirectoryError> {
        Ok(self.forums.lock().contains(&channel))
    }
    async fn dm(
        &self,
        user: u64,
        reply: &Reply,
    ) -> Result<(), soe_bot::commands::access::DirectoryError> {
        if self.closed_dms.lock().contains(&user) {
            return Err(soe_bot::commands::access::DirectoryError(
                "Discord answered 403: the user does not accept DMs".into(),
            ));
        }
        self.dms.lock().push((user, reply.clone()));
        Ok(())
    }
}

impl TestApp {
    /// Installs a [`StubServer`] as the commands' view of Discord and returns it.
    pub fn stub_server(&self) -> Arc<StubServer> {
        let s = Arc::new(StubServer::new());
        self.app.commands.use_server(s.clone());
        s
    }
}

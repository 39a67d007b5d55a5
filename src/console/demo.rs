//! `soe-bot demo`: the fake SOE site with its seeded data, the bot's web server, and a console,
//! all on loopback, with a throw-away store. No accounts, tokens or network needed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;
use url::Url;

use crate::app::{App, AppParts};
use crate::clock::{SharedClock, SystemClock};
use crate::commands::{AccessPolicy, Member, SiteInfo};
use crate::config::{EncryptionKey, LimitsConfig};
use crate::fake_discord::{FakeDiscord, FakeDiscordConfig, FakeDiscordUser};
use crate::fake_soe::{Approval, FakeSoe, FakeSoeConfig, ALEX, JANE, PRIYA, SAM};
use crate::link::discord::DiscordOAuthSettings;
use crate::link::LinkSettings;
use crate::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig};
use crate::store::cipher::Cipher;
use crate::store::SledStore;

use super::{Approver, Console, ConsoleNotifier, DiscordApprover, Outcome};

/// The console's Discord member.
const YOU: u64 = 424_242;

/// A running demo: keep it alive while the console runs.
pub struct Demo {
    /// The fake site.
    pub fake: Arc<FakeSoe>,
    /// The fake Discord OAuth2 (linking proves the member's Discord account there).
    pub discord: Arc<FakeDiscord>,
    /// The app.
    pub app: Arc<App>,
    /// The bot's web server origin.
    pub web_url: Url,
    /// The throw-away store directory (removed on drop).
    dir: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The notification poller and deliverer (the console's `poll` runs them too).
    notify: (Arc<crate::notify::Poller>, Arc<crate::notify::Deliverer>),
}

impl Drop for Demo {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The SOE user a console name approves as.
pub fn soe_user(name: &str) -> Option<i64> {
    match name.to_ascii_lowercase().as_str() {
        "jane" => Some(JANE),
        "sam" => Some(SAM),
        "priya" => Some(PRIYA),
        "alex" => Some(ALEX),
        _ => name.parse().ok(),
    }
}

impl Demo {
    /// Starts everything and returns the demo with a console acting as member "you".
    pub async fn start() -> Result<(Demo, Console), String> {
        Self::start_with(Arc::new(SystemClock)).await
    }

    /// [`Demo::start`] with a given clock.
    pub async fn start_with(clock: SharedClock) -> Result<(Demo, Console), String> {
        let mut cfg = FakeSoeConfig::new(clock.clone());
        cfg.approval = Approval::ConsentPage;
        // The demo's application has been switched to Read-write, as the README asks.
        cfg.application = crate::fake_soe::AppStatus::ReadWrite;
        let fake = Arc::new(
            FakeSoe::start(cfg)
                .await
                .map_err(|e| format!("could not start the fake site: {e}"))?,
        );

        let dir = std::env::temp_dir().join(format!(
            "soe-bot-demo-{}-{}",
            std::process::id(),
            crate::link::random_secret().get(..8).unwrap_or("x")
        ));
        let key = EncryptionKey::from_base64(1, &EncryptionKey::generate_base64())?;
        let store = Arc::new(open_store(&dir, key)?);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("could not open the web server port: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let web_url = Url::parse(&format!("http://{addr}/")).map_err(|e| e.to_string())?;

        let discord = Arc::new(
            FakeDiscord::start(FakeDiscordConfig {
                users: vec![FakeDiscordUser::new(YOU, "you", "you")],
                ..FakeDiscordConfig::new(clock.clone())
            })
            .await
            .map_err(|e| format!("could not start the fake Discord: {e}"))?,
        );
        let link_settings = LinkSettings {
            site_url: fake.site_url(),
            client_id: fake.client_id().to_string(),
            public_url: web_url.clone(),
            allow_no_expiry: false,
            teams: vec![],
            team_scope_format: crate::soe::DEFAULT_TEAM_SCOPE_FORMAT.into(),
            discord: Some(DiscordOAuthSettings {
                base: discord.base_url(),
                client_id: discord.client_id().to_string(),
                client_secret: SecretString::from(discord.client_secret().to_string()),
            }),
        };
        discord.register_redirect(link_settings.discord_redirect_uri().as_str());

        let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).map_err(|e| e.to_string())?;
        let service = ServiceToken::new(SecretString::from(fake.service_token()));
        let (app, linked) = App::build(AppParts {
            store: store.clone(),
            clock: clock.clone(),
            soe: soe.clone(),
            connector: Arc::new(HttpConnector::new(soe.clone(), service)),
            link: link_settings,
            site: SiteInfo {
                name: "Acme Stack Overflow (demo)".into(),
                url: fake.site_url(),
                team: None,
            },
            limits: LimitsConfig::default(),
            // The console acts in its own guild, which is the one the demo serves.
            access: AccessPolicy {
                allowed_guilds: vec![super::CONSOLE_GUILD],
                allow_dms: false,
                admin_roles: vec![],
            },
        })?;

        let router = crate::web::router(crate::web::WebState {
            link: app.link.clone(),
            ready: crate::web::ready_check(crate::web::ReadyReport::ready),
            extra: crate::telemetry::install().map(crate::telemetry::router),
            hsts: false,
        });
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = crate::web::serve(listener, router, std::future::pending()).await {
                tracing::error!(error = %e, "demo web server stopped");
            }
        })];
        let (notifier, notices) = ConsoleNotifier::new();
        tasks.extend(app.spawn_background(linked, Arc::new(notifier)));
        if let Err(e) = app.commands.refresh_tags().await {
            tracing::warn!(error = %e, "tag list not loaded");
        }

        let approving = fake.clone();
        let approver: Approver = Arc::new(move |url: &Url, who: &str| {
            let user = soe_user(who).ok_or_else(|| {
                format!("unknown site user `{who}`; use jane, sam, priya or alex")
            })?;
            approving.approve(url, user)
        });
        let mut member = Member::new(YOU, "you");
        // A server manager who may post in the console's channel (shares and channel cards).
        member.permissions = Some(
            crate::commands::admin::MANAGE_GUILD
                | crate::commands::share::VIEW_CHANNEL
                | crate::commands::share::SEND_MESSAGES,
        );
        let signing_in = discord.clone();
        let discord_approver: DiscordApprover = Arc::new(move |url: &Url, m: &Member| {
            signing_in.approve(
                url,
                FakeDiscordUser {
                    id: m.id,
                    username: m.username.clone(),
                    global_name: Some(m.name.clone()),
                },
            )
        });
        let (cards, printed) = super::cards::ConsoleCards::new(app.clock.clone());
        let cards = Arc::new(cards);
        app.commands.use_channel_directory(cards.clone());
        app.commands.use_server(cards.clone());
        let (poller, deliverer) = app.notifications(
            cards,
            crate::notify::PollSettings {
                interval: std::time::Duration::from_secs(15),
                ..Default::default()
            },
        );
        let posting = fake.clone();
        let site: super::SiteHook = Arc::new(move |line: &str| site_post(&posting, line));
        let console = Console::new(app.clone(), approver, notices, member)
            .with_discord(discord_approver)
            .with_web(web_url.clone())
            .with_site(site)
            .with_notifications(super::ConsoleNotifications {
                poller: poller.clone(),
                deliverer: deliverer.clone(),
                cards: printed,
            });
        Ok((
            Demo {
                fake,
                discord,
                app,
                web_url,
                dir,
                tasks,
                notify: (poller, deliverer),
            },
            console,
        ))
    }

    /// Starts the notification loops (interactive sessions; scripts use `poll`, so their
    /// output does not depend on timing).
    pub fn spawn_notification_loops(&mut self) {
        let (p, d) = self.notify.clone();
        self.tasks.extend(crate::notify::run::spawn(p, d));
    }

    /// The banner printed at start.
    pub fn banner(&self) -> String {
        format!(
            "soe-bot demo\n\
  fake Stack Overflow site: {site} ({n} questions; try question 3)\n\
  bot web server:           {web}\n\
  fake Discord sign-in:     {discord}\n\
You are Discord member \"you\". Try:\n\
  /so search async\n\
  /so question 3\n\
  /so link      (open the printed URL in a browser, or type: approve)\n\
  /so ask       (you will be asked for the title, details and tags)\n\
  /so-admin subscribe tags:rust   then   site question tags:rust How do I …?   then   poll\n\
Type help for everything, quit to leave.",
            site = self.fake.site_url(),
            n = self.fake.questions().len(),
            web = self.web_url,
            discord = self.discord.base_url(),
        )
    }
}

/// `site question tags:a,b <title>` or `site answer <question id> <text>`: posts on the fake
/// site as Sam, as if someone used the site itself.
fn site_post(fake: &FakeSoe, line: &str) -> Result<String, String> {
    let usage = "use `site question tags:rust,tokio <title>` or `site answer <question id> <text>`";
    let (what, rest) = line
        .trim()
        .split_once(' ')
        .ok_or_else(|| usage.to_string())?;
    match what {
        "question" => {
            let mut tags = Vec::new();
            let mut title = Vec::new();
            for w in rest.split_whitespace() {
                match w.strip_prefix("tags:") {
                    Some(t) => {
                        tags.extend(t.split(',').filter(|t| !t.is_empty()).map(str::to_string))
                    }
                    None => title.push(w),
                }
            }
            let title = title.join(" ");
            if title.len() < 15 || tags.is_empty() {
                return Err(format!(
                    "a question needs tags and a title of 15 characters or more; {usage}"
                ));
            }
            let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let id = fake.add_question(
                SAM,
                &title,
                "Posted on the site during the demo, to show a notification card.",
                &tag_refs,
            );
            Ok(format!("(Sam posted question {id} on the site: {title})"))
        }
        "answer" => {
            let (q, text) = rest
                .trim()
                .split_once(' ')
                .ok_or_else(|| usage.to_string())?;
            let q: i64 = q.parse().map_err(|_| usage.to_string())?;
            if fake.question(q).is_none() {
                return Err(format!("the site has no question {q}"));
            }
            let id = fake.add_answer(q, SAM, text.trim());
            Ok(format!(
                "(Sam posted answer {id} to question {q} on the site)"
            ))
        }
        _ => Err(usage.to_string()),
    }
}

fn open_store(dir: &Path, key: EncryptionKey) -> Result<SledStore, String> {
    let cipher = Cipher::new(&key, &[]);
    SledStore::open_at(dir, cipher, 16 * 1024 * 1024).map_err(|e| e.to_string())
}

/// Runs the console on `lines` (a script) or on stdin. Returns the process exit code: 0, or
/// 1 when a script line failed.
pub async fn run(script: Option<&Path>) -> Result<i32, String> {
    let (mut demo, mut console) = Demo::start().await?;
    println!("{}", demo.banner());
    if script.is_none() {
        demo.spawn_notification_loops();
    }
    match script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            run_script(&mut console, &text).await
        }
        None => {
            let mut read = |prompt: &str| read_stdin(prompt);
            loop {
                let Some(line) = read_stdin("> ") else {
                    return Ok(0);
                };
                match console.run_line(&line, &mut read).await {
                    Outcome::Ok => {}
                    Outcome::Quit => return Ok(0),
                    Outcome::Failed(why) => println!("! {why}"),
                }
            }
        }
    }
}

/// Runs a script: each line as typed; form fields take the following lines.
pub async fn run_script(console: &mut Console, text: &str) -> Result<i32, String> {
    let mut lines: std::collections::VecDeque<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    while let Some((n, line)) = lines.pop_front() {
        if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            println!("> {line}");
        }
        // Form fields read the next script lines.
        let shared = std::sync::Arc::new(parking_lot::Mutex::new(std::mem::take(&mut lines)));
        let feed = shared.clone();
        let mut read = move |_prompt: &str| {
            let next = feed.lock().pop_front().map(|(_, l)| l);
            if let Some(l) = &next {
                println!("  {l}");
            }
            next
        };
        let outcome = console.run_line(&line, &mut read).await;
        lines = std::mem::take(&mut *shared.lock());
        match outcome {
            Outcome::Ok => {}
            Outcome::Quit => return Ok(0),
            Outcome::Failed(why) => {
                eprintln!("script line {n} failed: {line}\n  {why}");
                return Ok(1);
            }
        }
    }
    Ok(0)
}

fn read_stdin(prompt: &str) -> Option<String> {
    use std::io::Write;
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut s = String::new();
    match std::io::stdin().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
    }
}

//! After a crash, the bot looks before offering Retry (issue 9, point 7), with a real crash:
//! a child process (this test binary, re-executed) runs the bot against a fake site that lives
//! in the parent, submits a question (or presses Upvote), and is killed with SIGKILL after the
//! site has acted but before the bot has recorded the outcome (the site holds its answer back).
//! A new bot on the same store then settles the write by looking on the site, with no member
//! action: one copy on the site, the draft posted with its link, the member told "posted".
//! The same holds in a channel bound to a private team (`/so-admin channel team`): the bot
//! looks in the team the write went to, even when the channel was unbound meanwhile.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::SecretString;
use soe_bot::app::{App, AppParts};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::commands::ids::Id;
use soe_bot::commands::{Action, Invocation, Member, Notice, ReplyKind, SiteInfo};
use soe_bot::config::LimitsConfig;
use soe_bot::console::ConsoleNotifier;
use soe_bot::fake_soe::{
    AppStatus, FakeSoe, FakeSoeConfig, Fault, FaultKind, JANE, Q_TEAM, SAM, TEAM,
};
use soe_bot::link::LinkSettings;
use soe_bot::soe::{
    HttpConnector, HttpSoe, ServiceToken, SoeClientConfig, TeamSlug, UserToken, Vote,
};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{DraftState, Link, LinkStatus, SledStore, Store, WriteClaim};
use tokio::sync::mpsc;
use url::Url;

const ENV_DIR: &str = "SOE_BOT_TEST_RECOVERY_DIR";
const ENV_SITE: &str = "SOE_BOT_TEST_RECOVERY_SITE";
const ENV_MEMBER_TOKEN: &str = "SOE_BOT_TEST_RECOVERY_MEMBER_TOKEN";
const ENV_SERVICE_TOKEN: &str = "SOE_BOT_TEST_RECOVERY_SERVICE_TOKEN";
/// `ask:<title>` or `upvote:<question id>`.
const ENV_ACTION: &str = "SOE_BOT_TEST_RECOVERY_ACTION";
/// When set, the scope that grants [`TEAM`]: the member's link has it and the channel is
/// bound to the team before the child acts.
const ENV_TEAM_SCOPE: &str = "SOE_BOT_TEST_RECOVERY_TEAM_SCOPE";
/// The guild and the channel the member writes in.
const GUILD: u64 = 1;
const CHANNEL: u64 = 10;
/// The Discord member.
const MEMBER: u64 = 111;
const RUNS: usize = 3;

fn t0() -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("a date")
}

/// A bot on the store in `dir` against the site at `site`, with a clock at `now`.
fn bot(
    store: Arc<SledStore>,
    site: &Url,
    service_token: &str,
    now: chrono::DateTime<Utc>,
) -> (Arc<App>, mpsc::UnboundedReceiver<soe_bot::link::Linked>) {
    let clock: SharedClock = Arc::new(FixedClock::at(now));
    let mut ccfg = SoeClientConfig::new(site.clone());
    // Longer than the site holds its answer back: only the kill ends the child's post.
    ccfg.request_timeout = Duration::from_secs(300);
    let soe = HttpSoe::new(ccfg).expect("client");
    let service = ServiceToken::new(SecretString::from(service_token.to_string()));
    App::build(AppParts {
        store,
        clock,
        soe: soe.clone(),
        connector: Arc::new(HttpConnector::new(soe, service)),
        link: LinkSettings {
            site_url: site.clone(),
            client_id: "4242".into(),
            public_url: Url::parse("http://127.0.0.1:9/").expect("url"),
            allow_no_expiry: false,
            teams: vec![],
            team_scope_format: soe_bot::soe::DEFAULT_TEAM_SCOPE_FORMAT.into(),
            discord: None,
        },
        site: SiteInfo {
            name: "Acme Stack Overflow".into(),
            url: site.clone(),
            team: None,
        },
        limits: LimitsConfig::default(),
        access: soe_bot::commands::AccessPolicy {
            allowed_guilds: vec![1],
            allow_dms: false,
            admin_roles: vec![],
        },
    })
    .expect("app")
}

fn invocation(id: &str, action: Action) -> Invocation {
    let mut member = Member::new(MEMBER, "alice");
    member.permissions = Some(0);
    Invocation {
        id: id.into(),
        member,
        guild_id: Some(GUILD),
        channel_id: Some(CHANNEL),
        in_thread: false,
        thread_parent: None,
        locale: Some("en-US".into()),
        origin: soe_bot::commands::Origin::GuildInstall,
        action,
        reply_token: None,
    }
}

/// Child entry point: does something only when the parent re-executes this binary with the
/// environment set. Links the member directly in the store, then asks or votes, and never
/// returns from that call (the site holds its answer until the parent kills this process).
#[test]
fn child_writes_until_killed() {
    let (Ok(dir), Ok(site), Ok(member_token), Ok(service_token), Ok(action)) = (
        std::env::var(ENV_DIR),
        std::env::var(ENV_SITE),
        std::env::var(ENV_MEMBER_TOKEN),
        std::env::var(ENV_SERVICE_TOKEN),
        std::env::var(ENV_ACTION),
    ) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let store =
            Arc::new(SledStore::open_at(&dir, Cipher::for_testing(), 1 << 20).expect("store"));
        let mut scopes = vec!["write_access".to_string()];
        if let Ok(team_scope) = std::env::var(ENV_TEAM_SCOPE) {
            scopes.push(team_scope);
            bind_channel(&store, Some(TEAM)).await;
        }
        store
            .put_link(&Link {
                discord_user: MEMBER,
                soe_user_id: JANE,
                soe_user_name: "Jane Doe".into(),
                soe_user_url: None,
                token: UserToken::new(SecretString::from(member_token)),
                scopes,
                expires_at: None,
                linked_at: t0(),
                last_used_at: None,
                status: LinkStatus::Active,
            })
            .await
            .expect("link");
        let site = Url::parse(&site).expect("site URL");
        let (app, _linked) = bot(store, &site, &service_token, t0());
        let reply = match action.split_once(':') {
            Some(("ask", title)) => {
                let r = app
                    .commands
                    .handle(&invocation(
                        "i1",
                        Action::Command {
                            name: "so".into(),
                            path: vec!["ask".into()],
                            options: vec![],
                        },
                    ))
                    .await;
                let ReplyKind::Modal(m) = r.kind else {
                    panic!("no modal: {r:?}")
                };
                println!("ASKING");
                app.commands
                    .handle(&invocation(
                        "i2",
                        Action::Modal {
                            custom_id: m.id,
                            fields: vec![
                                ("title".into(), title.into()),
                                (
                                    "body".into(),
                                    "The body of a question that will be posted exactly once."
                                        .into(),
                                ),
                                ("tags".into(), "rust".into()),
                            ],
                        },
                    ))
                    .await
            }
            Some(("upvote", q)) => {
                println!("VOTING");
                let question = q.parse().expect("a question id");
                app.commands
                    .handle(&invocation(
                        "i3",
                        Action::Button {
                            custom_id: Id::VoteQuestion {
                                question,
                                vote: Vote::Up,
                                on: soe_bot::commands::ids::Surface::Note,
                            }
                            .encode(),
                        },
                    ))
                    .await
            }
            _ => panic!("unknown action {action}"),
        };
        // Only reached if the site answered, which the parent does not let happen.
        println!("UNEXPECTED REPLY {}", reply.content);
    });
}

/// Binds [`CHANNEL`] to `team` (`None`: unbinds it), as `/so-admin channel team` does.
async fn bind_channel(store: &SledStore, team: Option<&str>) {
    let mut settings = store.guild_settings(GUILD).await.expect("settings");
    match team {
        Some(t) => {
            settings
                .channel_teams
                .insert(CHANNEL, TeamSlug::parse(t).expect("a slug"));
        }
        None => {
            settings.channel_teams.remove(&CHANNEL);
        }
    }
    store
        .put_guild_settings(GUILD, &settings)
        .await
        .expect("settings stored");
}

/// Re-executes this binary as the child; with `team_scope`, in a channel bound to [`TEAM`].
fn spawn_child(
    dir: &std::path::Path,
    fake: &FakeSoe,
    member_token: &str,
    action: &str,
    team_scope: Option<&str>,
) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut command = Command::new(exe);
    if let Some(scope) = team_scope {
        command.env(ENV_TEAM_SCOPE, scope);
    }
    command
        .args([
            "--exact",
            "child_writes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_DIR, dir)
        .env(ENV_SITE, fake.site_url().as_str())
        .env(ENV_MEMBER_TOKEN, member_token)
        .env(ENV_SERVICE_TOKEN, fake.service_token())
        .env(ENV_ACTION, action)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child")
}

/// Waits until the site has performed `method route` (logged with `status`), then kills the
/// child: the bot has sent the write and not seen the answer.
async fn kill_after_the_site_acted(
    mut child: Child,
    fake: &FakeSoe,
    method: &str,
    route: &str,
    status: u16,
) {
    let stdout = child.stdout.take().expect("stdout");
    let started = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("ASKING") || l.contains("VOTING"))
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acted = fake
            .requests()
            .iter()
            .any(|r| r.method == method && r.route == route && r.status == status);
        if acted {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child never reached the site");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        started.join().unwrap_or(false),
        "the child said what it was doing"
    );
}

async fn site() -> FakeSoe {
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::at(t0())));
    cfg.application = AppStatus::ReadWrite;
    FakeSoe::start(cfg).await.expect("fake site")
}

/// The restarted bot's notice, waiting up to 10 s for the startup recovery. With `unbind`, an
/// admin has unbound the channel from its team while the bot was down.
async fn restart_and_recover(
    dir: &std::path::Path,
    fake: &FakeSoe,
    unbind: bool,
) -> (Arc<SledStore>, Notice) {
    let store = Arc::new(SledStore::open_at(dir, Cipher::for_testing(), 1 << 20).expect("reopen"));
    if unbind {
        bind_channel(&store, None).await;
    }
    // The bot comes back a few minutes later.
    let (app, linked) = bot(
        store.clone(),
        &fake.site_url(),
        &fake.service_token(),
        t0() + chrono::Duration::minutes(3),
    );
    let (notifier, mut notices) = ConsoleNotifier::new();
    let tasks = app.spawn_background(linked, Arc::new(notifier));
    let notice = tokio::time::timeout(Duration::from_secs(10), notices.recv())
        .await
        .expect("a notice from the startup recovery")
        .expect("open");
    for t in tasks {
        t.abort();
    }
    (store, notice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_posted_as_the_bot_died_is_recorded_posted_after_restart() {
    for run in 0..RUNS {
        let fake = site().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let title = format!("Zorblax quuxification fails under flimflam load, run {run}");
        // The site acts on the POST, then holds its answer back until after the kill.
        fake.push_fault(Fault::on(
            "POST",
            "/questions",
            FaultKind::AnswerAfter(Duration::from_secs(120)),
        ));
        let member_token = fake.mint_token(JANE, &["write_access"]);
        let child = spawn_child(&db, &fake, &member_token, &format!("ask:{title}"), None);
        kill_after_the_site_acted(child, &fake, "POST", "/questions", 201).await;
        fake.clear_faults();
        fake.clear_requests();

        let (store, notice) = restart_and_recover(&db, &fake, false).await;
        let copies: Vec<_> = fake
            .questions()
            .into_iter()
            .filter(|q| q.title == title)
            .collect();
        assert_eq!(copies.len(), 1, "run {run}: one copy on the site");
        let id = copies[0].id;
        assert_eq!(notice.user, MEMBER);
        assert!(
            notice.reply.content.contains("Posted as *Jane Doe*"),
            "run {run}: {:?}",
            notice.reply
        );
        assert!(
            notice.reply.content.contains(&format!("/questions/{id}/")),
            "run {run}: the link: {:?}",
            notice.reply
        );
        assert!(
            !fake.requests().iter().any(|r| r.is_api_write()),
            "run {run}: nothing posted again"
        );
        let drafts = store.drafts_of(MEMBER).await.expect("drafts");
        assert_eq!(drafts.len(), 1);
        assert!(
            matches!(&drafts[0].state, DraftState::Posted { url, .. } if url.contains(&format!("/questions/{id}/"))),
            "run {run}: {:?}",
            drafts[0].state
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upvote_sent_as_the_bot_died_is_recorded_done_after_restart() {
    let fake = site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let q = fake.add_question(
        SAM,
        "A question of Sam's that Jane upvotes once",
        &"s".repeat(40),
        &["rust"],
    );
    fake.push_fault(Fault::on(
        "POST",
        "/questions/{questionId}/upvote",
        FaultKind::AnswerAfter(Duration::from_secs(120)),
    ));
    let member_token = fake.mint_token(JANE, &["write_access"]);
    let child = spawn_child(&db, &fake, &member_token, &format!("upvote:{q}"), None);
    kill_after_the_site_acted(child, &fake, "POST", "/questions/{questionId}/upvote", 200).await;
    fake.clear_faults();
    fake.clear_requests();

    let (store, notice) = restart_and_recover(&db, &fake, false).await;
    assert!(
        notice
            .reply
            .content
            .contains("the site has it: You upvoted"),
        "{:?}",
        notice.reply
    );
    assert_eq!(fake.question(q).expect("question").score, 1, "one vote");
    assert!(!fake.requests().iter().any(|r| r.is_api_write()));
    let claim = store
        .claim_write(
            &format!("vq:{MEMBER}:{q}:Up"),
            t0() + chrono::Duration::minutes(4),
        )
        .await
        .expect("claim");
    assert!(
        matches!(&claim, WriteClaim::Done { outcome } if outcome.contains("You upvoted")),
        "{claim:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_posted_in_a_team_channel_as_the_bot_died_is_found_in_the_team_after_restart() {
    let fake = site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let title = "Zorblax quuxification fails in the platform team's flimflam cluster";
    fake.push_fault(Fault::on(
        "POST",
        "/questions",
        FaultKind::AnswerAfter(Duration::from_secs(120)),
    ));
    let team_scope = fake.team_scope(TEAM);
    let member_token = fake.mint_token(JANE, &["write_access", &team_scope]);
    let child = spawn_child(
        &db,
        &fake,
        &member_token,
        &format!("ask:{title}"),
        Some(&team_scope),
    );
    kill_after_the_site_acted(child, &fake, "POST", "/questions", 201).await;
    let copies: Vec<_> = fake
        .questions()
        .into_iter()
        .filter(|q| q.title == title)
        .collect();
    assert_eq!(copies.len(), 1, "one copy on the site");
    assert_eq!(copies[0].team.as_deref(), Some(TEAM), "posted in the team");
    let id = copies[0].id;
    fake.clear_faults();
    fake.clear_requests();

    // The draft was written for the team: where the channel points now does not matter.
    let (store, notice) = restart_and_recover(&db, &fake, true).await;
    assert_eq!(notice.user, MEMBER);
    assert!(
        notice.reply.content.contains("Posted as *Jane Doe*"),
        "{:?}",
        notice.reply
    );
    assert!(
        notice.reply.content.contains(&format!("/questions/{id}/")),
        "the link: {:?}",
        notice.reply
    );
    assert!(
        !fake.requests().iter().any(|r| r.is_api_write()),
        "nothing posted again"
    );
    assert_eq!(
        fake.questions().iter().filter(|q| q.title == title).count(),
        1,
        "still one copy"
    );
    let drafts = store.drafts_of(MEMBER).await.expect("drafts");
    assert_eq!(drafts.len(), 1);
    assert!(
        matches!(&drafts[0].state, DraftState::Posted { url, .. } if url.contains(&format!("/questions/{id}/"))),
        "{:?}",
        drafts[0].state
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upvote_in_a_team_channel_sent_as_the_bot_died_is_recorded_done_after_restart() {
    let fake = site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let score = fake.question(Q_TEAM).expect("the team's question").score;
    fake.push_fault(Fault::on(
        "POST",
        "/questions/{questionId}/upvote",
        FaultKind::AnswerAfter(Duration::from_secs(120)),
    ));
    let team_scope = fake.team_scope(TEAM);
    let member_token = fake.mint_token(JANE, &["write_access", &team_scope]);
    let child = spawn_child(
        &db,
        &fake,
        &member_token,
        &format!("upvote:{Q_TEAM}"),
        Some(&team_scope),
    );
    kill_after_the_site_acted(child, &fake, "POST", "/questions/{questionId}/upvote", 200).await;
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.route == "/questions/{questionId}/upvote" && r.team.as_deref() == Some(TEAM)),
        "the vote went to the team"
    );
    fake.clear_faults();
    fake.clear_requests();

    let (store, notice) = restart_and_recover(&db, &fake, false).await;
    assert!(
        notice
            .reply
            .content
            .contains("the site has it: You upvoted"),
        "{:?}",
        notice.reply
    );
    assert_eq!(
        fake.question(Q_TEAM).expect("question").score,
        score + 1,
        "one vote"
    );
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.route == "/questions/{questionId}" && r.team.as_deref() == Some(TEAM)),
        "the bot looked in the team: {requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.is_api_write()),
        "nothing written"
    );
    let claim = store
        .claim_write(
            &format!("vq:{MEMBER}:{Q_TEAM}:Up@{TEAM}"),
            t0() + chrono::Duration::minutes(4),
        )
        .await
        .expect("claim");
    assert!(
        matches!(&claim, WriteClaim::Done { outcome } if outcome.contains("You upvoted")),
        "{claim:?}"
    );
}

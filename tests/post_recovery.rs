//! After a crash, the bot looks before offering Retry (issue 9, point 7), with a real crash:
//! a child process (this test binary, re-executed) runs the bot against a fake site that lives
//! in the parent, submits a question (or presses Upvote), and is killed with SIGKILL after the
//! site has acted but before the bot has recorded the outcome (the site holds its answer back).
//! A new bot on the same store then settles the write by looking on the site, with no member
//! action: one copy on the site, the draft posted with its link, the member told "posted".

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
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, Fault, FaultKind, JANE, SAM};
use soe_bot::link::LinkSettings;
use soe_bot::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig, UserToken, Vote};
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
        guild_id: Some(1),
        channel_id: Some(10),
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
        store
            .put_link(&Link {
                discord_user: MEMBER,
                soe_user_id: JANE,
                soe_user_name: "Jane Doe".into(),
                soe_user_url: None,
                token: UserToken::new(SecretString::from(member_token)),
                scopes: vec!["write_access".into()],
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

fn spawn_child(dir: &std::path::Path, fake: &FakeSoe, member_token: &str, action: &str) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
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

/// The restarted bot's notice, waiting up to 10 s for the startup recovery.
async fn restart_and_recover(dir: &std::path::Path, fake: &FakeSoe) -> (Arc<SledStore>, Notice) {
    let store = Arc::new(SledStore::open_at(dir, Cipher::for_testing(), 1 << 20).expect("reopen"));
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
        let child = spawn_child(&db, &fake, &member_token, &format!("ask:{title}"));
        kill_after_the_site_acted(child, &fake, "POST", "/questions", 201).await;
        fake.clear_faults();
        fake.clear_requests();

        let (store, notice) = restart_and_recover(&db, &fake).await;
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
    let child = spawn_child(&db, &fake, &member_token, &format!("upvote:{q}"));
    kill_after_the_site_acted(child, &fake, "POST", "/questions/{questionId}/upvote", 200).await;
    fake.clear_faults();
    fake.clear_requests();

    let (store, notice) = restart_and_recover(&db, &fake).await;
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

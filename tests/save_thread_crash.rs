//! Save thread after a real crash: a child process (this test binary, re-executed) saves a
//! thread against a fake site that lives in the parent, and is killed with SIGKILL after the
//! site took a part (the question, or the answer) but before the bot recorded it (the site
//! holds its answer back). A new bot on the same store settles the save at startup by
//! looking on the site, with no member action: one copy of each part on the site, the save's
//! record pointing at it, the rest of the save made (the acceptance, the thread's card), and
//! the invoker told.

#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use secrecy::SecretString;
use soe_bot::app::{App, AppParts};
use soe_bot::clock::{FixedClock, SharedClock};
use soe_bot::commands::access::{DirectoryError, MemberDirectory};
use soe_bot::commands::server::{ThreadContent, ThreadMessage};
use soe_bot::commands::{Action, Invocation, Member, MessageRef, Notice, Origin, ReplyKind};
use soe_bot::commands::{Reply, SiteInfo};
use soe_bot::config::LimitsConfig;
use soe_bot::console::ConsoleNotifier;
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, Fault, FaultKind, JANE, SAM};
use soe_bot::link::LinkSettings;
use soe_bot::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig, UserToken};
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{Link, LinkStatus, SledStore, Store, ThreadSaveStore};
use support::test_app::StubServer;
use tokio::sync::mpsc;
use url::Url;

const ENV_DIR: &str = "SOE_BOT_TEST_SAVE_CRASH_DIR";
const ENV_SITE: &str = "SOE_BOT_TEST_SAVE_CRASH_SITE";
const ENV_ANN_TOKEN: &str = "SOE_BOT_TEST_SAVE_CRASH_ANN_TOKEN";
const ENV_BOB_TOKEN: &str = "SOE_BOT_TEST_SAVE_CRASH_BOB_TOKEN";
const ENV_SERVICE_TOKEN: &str = "SOE_BOT_TEST_SAVE_CRASH_SERVICE_TOKEN";

const GUILD: u64 = 1;
const PARENT: u64 = 10;
const THREAD: u64 = 5_000;
const ANN: u64 = 111;
const BOB: u64 = 222;
const TITLE: &str = "How do I stop a tokio task cleanly after a crash?";
const QUESTION: &str = "I spawn a worker with tokio::spawn and want to stop it cleanly when the user quits:\n```rust\nlet handle = tokio::spawn(work());\n```\nWhat is the right way?";
const ANSWER: &str = "Keep the JoinHandle and call abort() on it:\n```rust\nhandle.abort();\n```\nFor a clean stop, pass a CancellationToken instead.";
const ANSWER_ROUTE: &str = "/questions/{questionId}/answers";
const ACCEPT_ROUTE: &str = "/questions/{questionId}/answers/{answerId}/accept";

fn t0() -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("a date")
}

/// Everyone here is a member of the guild.
struct Members;

#[async_trait]
impl MemberDirectory for Members {
    async fn is_member(&self, _guild: u64, user: u64) -> Result<bool, DirectoryError> {
        Ok([ANN, BOB].contains(&user))
    }
}

fn member(id: u64, name: &str) -> Member {
    use soe_bot::commands::share::{SEND_MESSAGES, SEND_MESSAGES_IN_THREADS, VIEW_CHANNEL};
    let mut m = Member::new(id, name);
    m.permissions = Some(VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS);
    m
}

fn msg(id: u64, author: u64, name: &str, text: &str) -> ThreadMessage {
    ThreadMessage {
        id,
        author_id: author,
        author_name: name.into(),
        content: text.into(),
        has_media: false,
    }
}

/// A bot on `store` against the site at `site`, its clock at `now`, seeing Discord through a
/// stub that holds the thread: Ann asked, Bob answered.
fn bot(
    store: Arc<SledStore>,
    site: &Url,
    service_token: &str,
    now: chrono::DateTime<Utc>,
) -> (
    Arc<App>,
    Arc<StubServer>,
    mpsc::UnboundedReceiver<soe_bot::link::Linked>,
) {
    let clock: SharedClock = Arc::new(FixedClock::at(now));
    let mut ccfg = SoeClientConfig::new(site.clone());
    // Longer than the site holds its answer back: only the kill ends the child's post.
    ccfg.request_timeout = Duration::from_secs(300);
    let soe = HttpSoe::new(ccfg).expect("client");
    let service = ServiceToken::new(SecretString::from(service_token.to_string()));
    let (app, linked) = App::build(AppParts {
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
            allowed_guilds: vec![GUILD],
            allow_dms: false,
            admin_roles: vec![],
        },
    })
    .expect("app");
    app.commands.access().use_directory(Arc::new(Members));
    let stub = Arc::new(StubServer::new());
    stub.threads.lock().insert(
        THREAD,
        ThreadContent {
            id: THREAD,
            name: TITLE.into(),
            parent: Some(PARENT),
            starter: Some(msg(THREAD, ANN, "Ann", QUESTION)),
            replies: vec![msg(THREAD + 1, BOB, "Bob", ANSWER)],
        },
    );
    app.commands.use_server(stub.clone());
    (app, stub, linked)
}

fn in_thread(id: &str, who: &Member, action: Action) -> Invocation {
    Invocation {
        id: id.into(),
        member: who.clone(),
        guild_id: Some(GUILD),
        channel_id: Some(THREAD),
        in_thread: true,
        thread_parent: Some(PARENT),
        locale: Some("en-US".into()),
        origin: Origin::GuildInstall,
        action,
        reply_token: None,
    }
}

async fn link(store: &SledStore, user: u64, soe_user: i64, name: &str, token: String) {
    store
        .put_link(&Link {
            discord_user: user,
            soe_user_id: soe_user,
            soe_user_name: name.into(),
            soe_user_url: None,
            token: UserToken::new(SecretString::from(token)),
            scopes: vec!["write_access".into()],
            expires_at: None,
            linked_at: t0(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .await
        .expect("link");
}

/// Child entry point: does something only when the parent re-executes this binary with the
/// environment set. Ann saves her own thread (the question is posted as her at once), then
/// Bob agrees by DM (his answer is posted as him). The parent holds one of those posts'
/// answers back and kills this process meanwhile.
#[test]
fn child_saves_until_killed() {
    let (Ok(dir), Ok(site), Ok(ann_token), Ok(bob_token), Ok(service_token)) = (
        std::env::var(ENV_DIR),
        std::env::var(ENV_SITE),
        std::env::var(ENV_ANN_TOKEN),
        std::env::var(ENV_BOB_TOKEN),
        std::env::var(ENV_SERVICE_TOKEN),
    ) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let store =
            Arc::new(SledStore::open_at(&dir, Cipher::for_testing(), 1 << 20).expect("store"));
        link(&store, ANN, JANE, "Jane Doe", ann_token).await;
        link(&store, BOB, SAM, "Sam Smith", bob_token).await;
        let site = Url::parse(&site).expect("site URL");
        let (app, stub, _linked) = bot(store, &site, &service_token, t0());
        let ann = member(ANN, "Ann");
        let bob = member(BOB, "Bob");
        let r = app
            .commands
            .handle(&in_thread(
                "i1",
                &ann,
                Action::MessageCommand {
                    name: "Save thread to Acme Stack Overflow".into(),
                    message: MessageRef {
                        id: THREAD,
                        author_id: ANN,
                        author_name: "Ann".into(),
                        content: QUESTION.into(),
                        thread_name: Some(TITLE.into()),
                        replies_to: None,
                    },
                },
            ))
            .await;
        let (select, value) = r.choice("Bob").expect("the answer select");
        let r = app
            .commands
            .handle(&in_thread(
                "i2",
                &ann,
                Action::Select {
                    custom_id: select.to_string(),
                    values: vec![value.to_string()],
                },
            ))
            .await;
        let ReplyKind::Modal(modal) = r.kind else {
            panic!("no form: {r:?}")
        };
        println!("SAVING");
        let r = app
            .commands
            .handle(&in_thread(
                "i3",
                &ann,
                Action::Modal {
                    custom_id: modal.id,
                    fields: vec![
                        ("title".into(), TITLE.into()),
                        ("tags".into(), "rust, tokio".into()),
                    ],
                },
            ))
            .await;
        println!("SAVED {}", r.content.replace('\n', " "));
        let prompt: Reply = stub
            .dms
            .lock()
            .iter()
            .find(|(u, _)| *u == BOB)
            .map(|(_, r)| r.clone())
            .expect("Bob was asked");
        let id = support::test_app::TestApp::button(&prompt, "Post as me");
        let mut press = in_thread("i4", &bob, Action::Button { custom_id: id });
        press.guild_id = None;
        press.channel_id = Some(9_000 + BOB);
        press.in_thread = false;
        press.thread_parent = None;
        press.origin = Origin::Private;
        println!("AGREEING");
        let r = app.commands.handle(&press).await;
        // Only reached if the site answered, which the parent does not let happen.
        println!("UNEXPECTED REPLY {}", r.content);
    });
}

fn spawn_child(dir: &std::path::Path, fake: &FakeSoe) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args([
            "--exact",
            "child_saves_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_DIR, dir)
        .env(ENV_SITE, fake.site_url().as_str())
        .env(ENV_ANN_TOKEN, fake.mint_token(JANE, &["write_access"]))
        .env(ENV_BOB_TOKEN, fake.mint_token(SAM, &["write_access"]))
        .env(ENV_SERVICE_TOKEN, fake.service_token())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child")
}

/// Waits until the site has performed `POST route` (logged 201), then kills the child: the
/// bot has sent the post and not seen the answer.
async fn kill_after_the_site_acted(mut child: Child, fake: &FakeSoe, route: &str) {
    let stdout = child.stdout.take().expect("stdout");
    let said = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acted = fake
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.route == route && r.status == 201);
        if acted {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child never reached the site; it said {:?}",
                said.join().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let said = said.join().unwrap_or_default();
    assert!(
        said.iter().any(|l| l.contains("SAVING")),
        "the child said what it was doing: {said:?}"
    );
}

async fn site() -> FakeSoe {
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::at(t0())));
    cfg.application = AppStatus::ReadWrite;
    FakeSoe::start(cfg).await.expect("fake site")
}

/// The restarted bot (a few minutes later) settles what the crash left, at startup; its
/// first notice, and its view of Discord.
async fn restart(
    dir: &std::path::Path,
    fake: &FakeSoe,
) -> (Arc<SledStore>, Arc<StubServer>, Notice) {
    let store = Arc::new(SledStore::open_at(dir, Cipher::for_testing(), 1 << 20).expect("reopen"));
    let (app, stub, linked) = bot(
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
    (store, stub, notice)
}

fn the_question(fake: &FakeSoe) -> i64 {
    let copies: Vec<i64> = fake
        .questions()
        .into_iter()
        .filter(|q| q.title == TITLE)
        .map(|q| q.id)
        .collect();
    assert_eq!(copies.len(), 1, "one copy of the question: {copies:?}");
    copies[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_the_site_took_as_the_bot_died_is_recorded_after_restart_not_posted_again() {
    let fake = site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    fake.push_fault(Fault::on(
        "POST",
        "/questions",
        FaultKind::AnswerAfter(Duration::from_secs(120)),
    ));
    let child = spawn_child(&db, &fake);
    kill_after_the_site_acted(child, &fake, "/questions").await;
    fake.clear_faults();
    fake.clear_requests();

    let (store, _stub, notice) = restart(&db, &fake).await;
    let q = the_question(&fake);
    assert_eq!(notice.user, ANN, "the invoker is told");
    assert!(
        notice.reply.content.contains("picked it up again"),
        "{:?}",
        notice.reply
    );
    assert!(
        notice.reply.content.contains(&format!("/questions/{q}")),
        "the question's link: {:?}",
        notice.reply
    );
    assert!(
        notice.reply.content.contains("Waiting for **Bob**"),
        "the answer still waits for Bob: {:?}",
        notice.reply
    );
    assert!(
        !fake.requests().iter().any(|r| r.is_api_write()),
        "nothing posted again: {:?}",
        fake.requests()
    );
    let saves = store.all_saves().await.expect("saves");
    assert_eq!(saves.len(), 1);
    let question = saves[0].question.as_ref().expect("question");
    assert_eq!(question.posted.as_ref().map(|p| p.id), Some(q));
    assert!(question.posting.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_the_site_took_as_the_bot_died_is_recorded_after_restart_and_the_save_finishes() {
    let fake = site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    fake.push_fault(Fault::on(
        "POST",
        ANSWER_ROUTE,
        FaultKind::AnswerAfter(Duration::from_secs(120)),
    ));
    let child = spawn_child(&db, &fake);
    kill_after_the_site_acted(child, &fake, ANSWER_ROUTE).await;
    fake.clear_faults();
    let q = the_question(&fake);
    assert_eq!(fake.answers(q).len(), 1, "the site took the answer");
    fake.clear_requests();

    let (store, stub, notice) = restart(&db, &fake).await;
    assert_eq!(notice.user, ANN);
    assert!(
        notice
            .reply
            .content
            .contains("Answer posted as **Sam Smith**"),
        "{:?}",
        notice.reply
    );
    assert!(
        notice.reply.content.contains("and accepted ✓"),
        "{:?}",
        notice.reply
    );
    let answers = fake.answers(q);
    assert_eq!(answers.len(), 1, "one copy of the answer");
    assert_eq!(answers[0].owner_id, SAM);
    assert!(answers[0].is_accepted);
    let writes: Vec<(String, Option<i64>)> = fake
        .requests()
        .into_iter()
        .filter(|r| r.is_api_write())
        .map(|r| (r.route.clone(), r.user_id))
        .collect();
    assert_eq!(
        writes,
        vec![(ACCEPT_ROUTE.to_string(), Some(JANE))],
        "only the acceptance, as the question's author"
    );
    let saves = store.all_saves().await.expect("saves");
    let answer = saves[0].answer.as_ref().expect("answer");
    assert_eq!(answer.posted.as_ref().map(|p| p.id), Some(answers[0].id));
    assert!(answer.posting.is_none() && saves[0].accepted);
    let cards = stub.posted_in(THREAD);
    assert_eq!(cards.len(), 1, "the thread's card: {cards:#?}");
    assert!(saves[0].card_posted && saves[0].finished);
}

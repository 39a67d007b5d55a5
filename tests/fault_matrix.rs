//! The fault matrix: every fault the fake SOE site can inject (and the client's own limits:
//! a timeout, an oversized body, a refused connection) against every member path, reads and
//! writes. For each cell the member gets a clear private message that says what to do (never
//! an internal error, never a secret), nothing is posted twice, and a failed post keeps its
//! draft: once the fault is gone, Retry posts it exactly once.
//!
//! The matrix (paths × faults → what the member was told) is printed with `--nocapture` and
//! recorded in docs/BENCHMARKS.md.

mod support;

use std::time::Duration;

use secrecy::SecretString;
use soe_bot::commands::{Member, Reply, ReplyKind};
use soe_bot::fake_soe::{Fault, FaultKind, JANE, Q_UNANSWERED, SAM};
use soe_bot::soe::UserToken;
use soe_bot::store::{DraftState, Link, LinkStatus, Store};
use support::test_app::TestApp;

/// The client's total timeout in this test: a [`FaultKind::Delay`] longer than it is a timeout.
const TIMEOUT: Duration = Duration::from_millis(400);
/// Longer than [`TIMEOUT`].
const SLOW: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Search,
    Show,
    Ask,
    Answer,
    Vote,
    Accept,
}

impl Path {
    const ALL: [Path; 6] = [
        Path::Search,
        Path::Show,
        Path::Ask,
        Path::Answer,
        Path::Vote,
        Path::Accept,
    ];

    fn name(self) -> &'static str {
        match self {
            Path::Search => "search",
            Path::Show => "question",
            Path::Ask => "ask (post)",
            Path::Answer => "answer (post)",
            Path::Vote => "vote",
            Path::Accept => "accept",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injected {
    Status500,
    Status503,
    RateLimited,
    Timeout,
    /// The site acts, but its answer comes after the client gave up.
    AnsweredTooLate,
    MalformedJson,
    Oversized,
    Revoked401,
    Forbidden403,
    Refused,
}

impl Injected {
    const ALL: [Injected; 10] = [
        Injected::Status500,
        Injected::Status503,
        Injected::RateLimited,
        Injected::Timeout,
        Injected::AnsweredTooLate,
        Injected::MalformedJson,
        Injected::Oversized,
        Injected::Revoked401,
        Injected::Forbidden403,
        Injected::Refused,
    ];

    fn name(self) -> &'static str {
        match self {
            Injected::Status500 => "500",
            Injected::Status503 => "503",
            Injected::RateLimited => "429",
            Injected::Timeout => "timeout",
            Injected::AnsweredTooLate => "late answer",
            Injected::MalformedJson => "bad JSON",
            Injected::Oversized => "oversized",
            Injected::Revoked401 => "401",
            Injected::Forbidden403 => "403",
            Injected::Refused => "refused",
        }
    }

    /// The fake's fault, for the kinds the site injects (the rest are client settings).
    fn fault(self) -> Option<FaultKind> {
        Some(match self {
            Injected::Status500 => FaultKind::Status(500),
            Injected::Status503 => FaultKind::Status(503),
            Injected::RateLimited => FaultKind::RateLimited {
                retry_after_secs: 1,
            },
            Injected::Timeout => FaultKind::Delay(SLOW),
            Injected::AnsweredTooLate => FaultKind::AnswerAfter(SLOW),
            Injected::MalformedJson => FaultKind::MalformedJson,
            Injected::Revoked401 => FaultKind::Unauthorized,
            Injected::Forbidden403 => FaultKind::Status(403),
            Injected::Oversized | Injected::Refused => return None,
        })
    }
}

/// What a cell showed the member, in a few words for the printed matrix.
fn gist(r: &Reply) -> String {
    let text = format!(
        "{} {}",
        r.content,
        r.embeds
            .iter()
            .map(|e| format!("{} {}", e.title, e.description))
            .collect::<Vec<_>>()
            .join(" ")
    )
    .to_lowercase();
    let mut words = Vec::new();
    for (needle, label) in [
        ("link again", "link again"),
        ("link your account again", "link again"),
        ("refused", "refused, says why"),
        ("admin", "admin told"),
        ("draft is kept", "draft kept"),
        ("not posted", "not posted"),
        ("try again", "try again"),
        ("busy", "busy"),
        ("wait", "wait"),
        ("timed out", "timed out"),
        ("didn't answer", "no answer"),
        ("did not answer", "no answer"),
        ("unreachable", "unreachable"),
        ("posted", "posted"),
        ("voted", "voted"),
        ("accepted", "accepted"),
    ] {
        if text.contains(needle) && !words.contains(&label) {
            words.push(label);
        }
    }
    if words.is_empty() {
        words.push("ok");
    }
    words.truncate(2);
    words.join(", ")
}

/// Words that mean an internal error reached the member.
const LEAKS: [&str; 8] = [
    "reqwest",
    "hyper",
    "error sending request",
    "error decoding",
    "Error {",
    "os error",
    "panicked",
    "Bearer",
];

struct Cell {
    reply: Reply,
    /// Posts the site holds with this cell's unique text (questions, answers), or votes and
    /// accepts made, before a retry.
    effects: usize,
}

/// Runs `path` for `member` against `app` with the fault armed just before the call that
/// reaches the site. `mark` makes the cell's post unique.
async fn run_path(
    app: &TestApp,
    member: &Member,
    path: Path,
    arm: &dyn Fn(&TestApp),
    mark: &str,
    accept_on: (i64, i64),
) -> Cell {
    let score_before = app.fake.question(Q_UNANSWERED).map_or(0, |q| q.score);
    let reply = match path {
        Path::Search => {
            arm(app);
            app.slash(member, "search", &[("query", "async")]).await
        }
        Path::Show => {
            arm(app);
            app.slash(member, "question", &[("id", &Q_UNANSWERED.to_string())])
                .await
        }
        Path::Ask => {
            let modal = app.slash(member, "ask", &[]).await;
            let ReplyKind::Modal(m) = &modal.kind else {
                panic!("ask opens a modal: {modal:?}")
            };
            arm(app);
            app.submit(
                member,
                &m.id,
                &[
                    ("title", &format!("How do I stop the {mark} worker cleanly?")),
                    (
                        "body",
                        &format!("I spawn the {mark} worker with tokio::spawn and want to stop it after five seconds."),
                    ),
                    ("tags", "rust"),
                ],
            )
            .await
        }
        Path::Answer => {
            let modal = app.press(member, &format!("so:an:{Q_UNANSWERED}")).await;
            let ReplyKind::Modal(m) = &modal.kind else {
                panic!("Answer opens a modal: {modal:?}")
            };
            arm(app);
            app.submit(
                member,
                &m.id,
                &[(
                    "body",
                    &format!(
                        "Use a CancellationToken: the {mark} worker selects on it and returns."
                    ),
                )],
            )
            .await
        }
        Path::Vote => {
            arm(app);
            app.press(member, &format!("so:vq:{Q_UNANSWERED}:u")).await
        }
        Path::Accept => {
            arm(app);
            app.press(member, &format!("so:ac:{}:{}", accept_on.0, accept_on.1))
                .await
        }
    };
    let effects = effects_of(app, path, mark, score_before, accept_on);
    Cell { reply, effects }
}

/// What `path` did on the site so far.
fn effects_of(
    app: &TestApp,
    path: Path,
    mark: &str,
    score_before: i64,
    accept_on: (i64, i64),
) -> usize {
    match path {
        Path::Search | Path::Show => 0,
        Path::Ask => app
            .fake
            .questions()
            .into_iter()
            .filter(|q| q.title.contains(mark))
            .count(),
        Path::Answer => app
            .fake
            .answers(Q_UNANSWERED)
            .into_iter()
            .filter(|a| a.body_markdown.contains(mark))
            .count(),
        Path::Vote => {
            let after = app.fake.question(Q_UNANSWERED).map_or(0, |q| q.score);
            usize::try_from(after - score_before).unwrap_or(usize::MAX)
        }
        Path::Accept => usize::from(
            app.fake
                .answers(accept_on.0)
                .into_iter()
                .any(|a| a.id == accept_on.1 && a.is_accepted),
        ),
    }
}

/// A bot whose client has the test's timeout (and, for the oversized and refused cells, a
/// body cap below every answer or a site address where nothing listens), with Jane linked.
async fn app_for(injected: Injected) -> (TestApp, Member) {
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = TestApp::builder()
        .client(move |c| {
            c.request_timeout = TIMEOUT;
            c.connect_timeout = TIMEOUT;
            match injected {
                Injected::Oversized => c.max_body_bytes = 64,
                // The listener above is dropped: nothing listens there any more.
                Injected::Refused => {
                    c.site_url = url::Url::parse(&format!("http://{refused}/")).unwrap()
                }
                _ => {}
            }
        })
        .start()
        .await;
    let jane = TestApp::member(111, "jane");
    let token = app.fake.mint_token(JANE, &["write_access", "no_expiry"]);
    app.store
        .put_link(&Link {
            discord_user: jane.id,
            soe_user_id: JANE,
            soe_user_name: "Jane Doe".into(),
            soe_user_url: None,
            token: UserToken::new(SecretString::from(token)),
            scopes: vec!["write_access".into(), "no_expiry".into()],
            expires_at: None,
            linked_at: app.clock_now(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .await
        .unwrap();
    (app, jane)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_every_path_is_explained_and_nothing_is_lost_or_doubled() {
    let mut matrix: Vec<(Path, Vec<String>)> = Vec::new();
    let mut failures = Vec::new();
    for path in Path::ALL {
        let mut row = Vec::new();
        for injected in Injected::ALL {
            let (app, jane) = app_for(injected).await;
            // A question of Jane's with Sam's answer, for Accept.
            let q = app.fake.add_question(
                JANE,
                "How do I pin a future to the stack?",
                "Body long enough to be a question body here.",
                &["rust"],
            );
            let a = app.fake.add_answer(q, SAM, "Use std::pin::pin! on it.");
            let mark = format!("m{}{}", path as u8, injected as u8);
            let fault = injected.fault();
            let arm = move |app: &TestApp| {
                if let Some(kind) = fault.clone() {
                    app.fake.push_fault(Fault::always(kind));
                }
            };
            let cell = run_path(&app, &jane, path, &arm, &mark, (q, a)).await;
            app.fake.clear_faults();
            let r = &cell.reply;
            let cell_name = format!("{} × {}", path.name(), injected.name());
            let text = format!("{}{:?}", r.content, r.embeds);
            let mut problems = Vec::new();
            if r.content.trim().is_empty() && r.embeds.is_empty() {
                problems.push("empty reply".to_string());
            }
            if !r.ephemeral && !matches!(r.kind, ReplyKind::Update) {
                problems.push("a failure shown publicly".to_string());
            }
            for leak in LEAKS {
                if text.contains(leak) {
                    problems.push(format!("internal detail {leak:?} shown"));
                }
            }
            if cell.effects > 1 {
                problems.push(format!("done {} times", cell.effects));
            }
            // A failed post keeps the draft; once the fault is gone, Retry posts it exactly once,
            // also when the site had acted and only its answer was lost (a Retry must not post
            // it again).
            if matches!(path, Path::Ask | Path::Answer) {
                if injected == Injected::AnsweredTooLate || injected == Injected::RateLimited {
                    // The late answer arrives, or the site's Retry-After passes.
                    tokio::time::sleep(SLOW).await;
                }
                let kept = app
                    .store
                    .drafts_of(jane.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .any(|d| !matches!(d.state, DraftState::Posted { .. }));
                let can_retry_here = !matches!(
                    injected,
                    Injected::Refused | Injected::Oversized | Injected::Revoked401
                );
                if cell.effects == 0 && !kept {
                    problems.push("the draft was not kept".into());
                }
                if can_retry_here && TestApp::try_button(r, "Retry") {
                    let retry = TestApp::button(r, "Retry");
                    let mut again = app.press(&jane, &retry).await;
                    if again.content.contains("it is not on the site") {
                        // An unconfirmed post: the bot looked first and found nothing; the
                        // member's next Retry posts it.
                        let retry = TestApp::button(&again, "Retry");
                        again = app.press(&jane, &retry).await;
                    }
                    let after = effects_of(&app, path, &mark, 0, (q, a));
                    if after != 1 {
                        problems.push(format!(
                            "after Retry the site holds {after}: {}",
                            again.content
                        ));
                    }
                } else if can_retry_here && cell.effects == 0 {
                    problems.push("no Retry: the draft is not offered again".into());
                }
                let total = effects_of(&app, path, &mark, 0, (q, a));
                if total > 1 {
                    problems.push(format!("posted {total} times"));
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{cell_name}: {} — reply: {:?}",
                    problems.join("; "),
                    r.content
                ));
            }
            row.push(gist(r));
        }
        matrix.push((path, row));
    }

    // The matrix, as Markdown.
    let mut out = String::from("| path |");
    for injected in Injected::ALL {
        out.push_str(&format!(" {} |", injected.name()));
    }
    out.push_str("\n|---|");
    for _ in Injected::ALL {
        out.push_str("---|");
    }
    for (path, row) in &matrix {
        out.push_str(&format!("\n| {} |", path.name()));
        for cell in row {
            out.push_str(&format!(" {cell} |"));
        }
    }
    println!("{out}");
    assert!(failures.is_empty(), "{}\n\n{out}", failures.join("\n"));
}

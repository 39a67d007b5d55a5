//! The Discord side of the fault matrix: each failure Discord's REST API gives (a 429 with
//! `retry_after`, a 500 that lasts, and its 404s: "Unknown interaction" on a late response,
//! "Unknown Webhook" on an edit or follow-up whose interaction token is gone, "Unknown
//! Channel" on a message) against every way the bot speaks in Discord: the first response,
//! a deferred reply (a search, and a post made from a modal), a follow-up, a DM notice, a
//! personal-alert DM and a subscription card.
//!
//! For every cell: nothing panics, nothing is delivered twice, nothing is done twice on the
//! site, a member's post is made once or kept as a draft, and when the reply to a post cannot
//! reach the member where they asked, the outcome reaches them as a DM. Cards and alert DMs
//! report a failure the outbox can act on (wait, retry, or record the channel as broken), and
//! a resend after the fault delivers exactly one message (the nonce).
//!
//! The matrix (paths × faults → outcome) is printed with `--nocapture` and recorded in
//! docs/BENCHMARKS.md.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;
mod support;

use std::sync::Arc;

use fake_discord::fixtures::{self, Who};
use fake_discord::harness::{wire, Wired};
use fake_discord::{CALLBACK_ROUTE, DM_ROUTE, FOLLOWUP_ROUTE, MESSAGES_ROUTE, ORIGINAL_ROUTE};
use secrecy::SecretString;
use serde_json::Value;
use serenity::all::Interaction;
use soe_bot::app::Notifier;
use soe_bot::clock::SharedClock;
use soe_bot::commands::ids::{Id, Surface};
use soe_bot::commands::{Notice, Reply, ReplyKind};
use soe_bot::discord::cards::DiscordCards;
use soe_bot::discord::respond::respond_via_rest;
use soe_bot::discord::DiscordNotifier;
use soe_bot::fake_soe::JANE;
use soe_bot::notify::{CardSink, SendError};
use soe_bot::soe::{UserToken, Vote};
use soe_bot::store::{DraftState, Link, LinkStatus, Store};
use support::test_app::TestApp;

/// Jane's Discord id in every cell.
const MEMBER: u64 = 111;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `/so help`: answered in the interaction response itself.
    Reply,
    /// `/so search`: a defer, then an edit of `@original`.
    Search,
    /// The ask modal: a defer, the post on the site, then an edit of `@original`.
    Ask,
    /// A vote button on a card that the site refuses (Jane's own question): a deferred update,
    /// then the private refusal as a follow-up.
    Vote,
    /// A background notice (a draft posted after linking) as a DM.
    Notice,
    /// A personal alert DM from the outbox.
    AlertDm,
    /// A subscription card in a channel.
    Card,
}

impl Path {
    const ALL: [Path; 7] = [
        Path::Reply,
        Path::Search,
        Path::Ask,
        Path::Vote,
        Path::Notice,
        Path::AlertDm,
        Path::Card,
    ];

    fn name(self) -> &'static str {
        match self {
            Path::Reply => "reply (`/so help`)",
            Path::Search => "deferred reply (`/so search`)",
            Path::Ask => "deferred reply to a post (ask modal)",
            Path::Vote => "follow-up (a refused vote on a card)",
            Path::Notice => "DM notice",
            Path::AlertDm => "alert DM (outbox)",
            Path::Card => "card (outbox)",
        }
    }

    /// The request the fault is put on.
    fn faulted(self) -> (&'static str, &'static str) {
        match self {
            Path::Reply => ("POST", CALLBACK_ROUTE),
            Path::Search | Path::Ask => ("PATCH", ORIGINAL_ROUTE),
            Path::Vote => ("POST", FOLLOWUP_ROUTE),
            Path::Notice | Path::AlertDm | Path::Card => ("POST", MESSAGES_ROUTE),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// One 429 with `retry_after`.
    RateLimited,
    /// 500 on every attempt.
    Status500,
    /// Discord's 404 for the route, on every attempt.
    Unknown,
}

impl Fault {
    const ALL: [Fault; 3] = [Fault::RateLimited, Fault::Status500, Fault::Unknown];

    fn name(self) -> &'static str {
        match self {
            Fault::RateLimited => "429 (once)",
            Fault::Status500 => "500 (lasting)",
            Fault::Unknown => "404 unknown interaction / webhook / channel",
        }
    }

    fn arm(self, w: &Wired, path: Path) {
        let (method, route) = path.faulted();
        let (status, times) = match self {
            Fault::RateLimited => (429, 1),
            Fault::Status500 => (500, 10),
            Fault::Unknown => (404, 10),
        };
        w.discord.fail(method, route, status, times);
    }
}

/// What one cell did.
struct Cell {
    /// Attempts on the faulted route.
    attempts: usize,
    /// Of those, answered 2xx.
    delivered: usize,
    /// Site effects of the cell (a question posted, a vote counted).
    effects: usize,
    /// The member's draft survived (not posted).
    draft_kept: bool,
    /// DMs that reached the member (messages created in a DM channel).
    dms: usize,
    /// What the outbox was told (cards and alert DMs).
    sink_error: Option<SendError>,
    /// Messages in the channel after the outbox sent the same entry again (cards), or DMs
    /// after a resend (alert DMs).
    after_resend: Option<usize>,
}

impl Cell {
    fn summary(&self) -> String {
        let mut words = vec![format!(
            "{} {}",
            self.attempts,
            if self.attempts == 1 { "try" } else { "tries" }
        )];
        words.push(if self.delivered > 0 {
            "delivered".into()
        } else {
            "not delivered".into()
        });
        if self.effects > 0 {
            words.push(format!("site: done {}×", self.effects));
        }
        if self.draft_kept {
            words.push("draft kept".into());
        }
        if self.dms > 0 {
            words.push("outcome sent as DM".into());
        }
        if let Some(e) = &self.sink_error {
            words.push(
                match e {
                    SendError::Gone(_) => "outbox: channel gone, rule error, slow retry",
                    SendError::Forbidden(_) => "outbox: forbidden, rule error, slow retry",
                    SendError::RateLimited(_) => "outbox: waits",
                    SendError::Transient(_) => "outbox: backs off, retries",
                }
                .into(),
            );
        }
        if let Some(n) = self.after_resend {
            words.push(format!("resend → {n} message"));
        }
        words.join(", ")
    }
}

fn interaction(v: &Value) -> Interaction {
    serde_json::from_value(v.clone()).expect("fixture parses")
}

/// A bot wired to a fake Discord, with Jane linked.
async fn bot() -> (TestApp, Wired) {
    let t = TestApp::start().await;
    let clock: SharedClock = Arc::new(t.clock.clone());
    let w = wire(t.app.clone(), clock).await;
    let token = t.fake.mint_token(JANE, &["write_access", "no_expiry"]);
    t.store
        .put_link(&Link {
            discord_user: MEMBER,
            soe_user_id: JANE,
            soe_user_name: "Jane Doe".into(),
            soe_user_url: None,
            token: UserToken::new(SecretString::from(token)),
            scopes: vec!["write_access".into(), "no_expiry".into()],
            expires_at: None,
            linked_at: t.clock_now(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .await
        .unwrap();
    (t, w)
}

/// Messages created in DM channels (the fake's DM channels are the ids it answered
/// `POST /users/@me/channels` with).
fn dm_messages(w: &Wired) -> usize {
    let mut dm_channels: Vec<String> = w
        .discord
        .on("POST", DM_ROUTE)
        .iter()
        .filter_map(|r| r.response.as_ref()?.get("id")?.as_str().map(String::from))
        .collect();
    dm_channels.sort();
    dm_channels.dedup();
    dm_channels
        .iter()
        .map(|c| w.discord.channel_messages(c.parse().unwrap_or(0)).len())
        .sum()
}

/// One send of the outbox's entry: a card in the channel, or an alert DM to Jane.
async fn send_card(
    cards: &DiscordCards,
    path: Path,
    message: &Reply,
    nonce: &str,
) -> Result<u64, SendError> {
    if path == Path::Card {
        cards.send(fixtures::CHANNEL, message, nonce).await
    } else {
        cards.send_dm(MEMBER, message, nonce).await
    }
}

async fn run_cell(path: Path, fault: Fault) -> Cell {
    let (t, w) = bot().await;
    let who = Who::member(MEMBER, "jane");
    let flow = w.flow();
    let mut own_question = None;
    let mark = format!("m{}{}", path as u8, fault as u8);
    let mut sink_error = None;
    let mut after_resend = None;
    match path {
        Path::Reply | Path::Search => {
            let data = if path == Path::Reply {
                fixtures::so("help", vec![])
            } else {
                fixtures::so("search", vec![fixtures::opt("query", "async")])
            };
            fault.arm(&w, path);
            let id = fixtures::snowflake();
            respond_via_rest(&flow, &interaction(&fixtures::envelope(id, 2, data, &who))).await;
        }
        Path::Ask => {
            let member = TestApp::member(MEMBER, "jane");
            let opened = t.slash(&member, "ask", &[]).await;
            let ReplyKind::Modal(modal) = &opened.kind else {
                panic!("ask opens a modal: {opened:?}")
            };
            fault.arm(&w, path);
            let title = format!("How do I stop the {mark} worker cleanly?");
            let body = format!(
                "I spawn the {mark} worker with tokio::spawn and want to stop it after five seconds."
            );
            let fields = [
                ("title", title.as_str()),
                ("body", body.as_str()),
                ("tags", "rust"),
            ];
            let id = fixtures::snowflake();
            respond_via_rest(
                &flow,
                &interaction(&fixtures::envelope(
                    id,
                    5,
                    fixtures::modal(&modal.id, &fields),
                    &who,
                )),
            )
            .await;
        }
        Path::Vote => {
            let own = t.fake.add_question(
                JANE,
                &format!("Jane's own question {mark}"),
                "A body long enough to be a question body on the site.",
                &["rust"],
            );
            own_question = Some(own);
            fault.arm(&w, path);
            let button = Id::VoteQuestion {
                question: own,
                vote: Vote::Up,
                on: Surface::Card,
            }
            .encode();
            let id = fixtures::snowflake();
            respond_via_rest(
                &flow,
                &interaction(&fixtures::with_message(fixtures::envelope(
                    id,
                    3,
                    fixtures::button(&button),
                    &who,
                ))),
            )
            .await;
        }
        Path::Notice => {
            fault.arm(&w, path);
            DiscordNotifier::new(w.http.clone())
                .notify(Notice {
                    original: None,
                    user: MEMBER,
                    reply: Reply::private(format!("Your draft {mark} was posted.")),
                })
                .await;
        }
        Path::AlertDm | Path::Card => {
            let cards = DiscordCards::new(w.http.clone());
            let message = Reply::public(format!("New question {mark}"));
            let nonce = format!("n-{mark}");
            fault.arm(&w, path);
            if let Err(e) = send_card(&cards, path, &message, &nonce).await {
                sink_error = Some(e);
                // The outbox keeps the entry and sends it again later (same nonce).
                w.discord.clear_faults();
                send_card(&cards, path, &message, &nonce)
                    .await
                    .expect("a resend after the fault is delivered");
            }
            // A second resend, as after a crash before the outbox recorded the send: the
            // nonce makes Discord return the first message.
            send_card(&cards, path, &message, &nonce)
                .await
                .expect("a repeat is answered");
            after_resend = Some(if path == Path::Card {
                w.discord.channel_messages(fixtures::CHANNEL).len()
            } else {
                dm_messages(&w)
            });
        }
    }
    let (method, route) = path.faulted();
    let tried = w.discord.on(method, route);
    let effects = match path {
        Path::Ask => t
            .fake
            .questions()
            .into_iter()
            .filter(|q| q.title.contains(&mark))
            .count(),
        Path::Vote => own_question
            .and_then(|q| t.fake.question(q))
            .map_or(0, |q| usize::try_from(q.score).unwrap_or(usize::MAX)),
        _ => 0,
    };
    let draft_kept = t
        .store
        .drafts_of(MEMBER)
        .await
        .unwrap()
        .into_iter()
        .any(|d| !matches!(d.state, DraftState::Posted { .. }));
    let dms = match path {
        Path::Notice | Path::AlertDm | Path::Card => 0,
        _ => dm_messages(&w),
    };
    let attempts = tried.len();
    let delivered = match after_resend {
        // The outbox's paths: distinct messages (a resend answered with the first message by
        // its nonce is not a second delivery).
        Some(messages) => messages,
        None => tried
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count(),
    };
    Cell {
        attempts,
        delivered,
        effects,
        draft_kept,
        dms,
        sink_error,
        after_resend,
    }
}

/// What must hold in every cell; the problems found.
fn check(path: Path, fault: Fault, cell: &Cell) -> Vec<String> {
    let mut problems = Vec::new();
    if cell.attempts == 0 {
        problems.push("the path never used the route the fault was on".into());
    }
    if cell.delivered > 1 {
        problems.push(format!("delivered {} times", cell.delivered));
    }
    if cell.effects > 1 {
        problems.push(format!("done {} times on the site", cell.effects));
    }
    if fault == Fault::RateLimited && cell.delivered != 1 && cell.sink_error.is_none() {
        problems.push("a 429 was not waited out and retried".into());
    }
    match path {
        Path::Ask => {
            if cell.effects == 0 && !cell.draft_kept {
                problems.push("the post was neither made nor kept as a draft".into());
            }
            if cell.delivered == 0 && cell.dms != 1 {
                problems.push(format!(
                    "the reply to a post did not reach the member ({} DMs)",
                    cell.dms
                ));
            }
        }
        Path::Vote if cell.effects != 0 => {
            problems.push(format!("a refused vote counted {} times", cell.effects));
        }
        Path::Card | Path::AlertDm => {
            if cell.after_resend != Some(1) {
                problems.push(format!(
                    "after the resends there are {:?} messages, not 1",
                    cell.after_resend
                ));
            }
            let expected = match fault {
                Fault::RateLimited => None,
                Fault::Status500 => Some("transient"),
                Fault::Unknown => Some("gone"),
            };
            let got = cell.sink_error.as_ref().map(|e| match e {
                SendError::Gone(_) => "gone",
                SendError::Forbidden(_) => "forbidden",
                SendError::RateLimited(_) => "rate limited",
                SendError::Transient(_) => "transient",
            });
            if got != expected {
                problems.push(format!("the outbox was told {got:?}, not {expected:?}"));
            }
        }
        _ => {}
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_discord_failure_on_every_way_the_bot_speaks() {
    // Cells are independent (each has its own bot and fake Discord): run them together, so the
    // retries' back-off (1 s, then 2 s) is waited once, not 21 times.
    // (The test app is not `Send`, so the cells are local tasks.)
    let local = tokio::task::LocalSet::new();
    let done = local
        .run_until(async {
            let mut cells = Vec::new();
            for path in Path::ALL {
                for fault in Fault::ALL {
                    cells.push(tokio::task::spawn_local(async move {
                        (path, fault, run_cell(path, fault).await)
                    }));
                }
            }
            let mut done = Vec::new();
            for cell in cells {
                done.push(cell.await.expect("no cell panics"));
            }
            done
        })
        .await;
    let mut failures = Vec::new();
    let mut out = String::from("| path |");
    for fault in Fault::ALL {
        out.push_str(&format!(" {} |", fault.name()));
    }
    out.push_str("\n|---|");
    for _ in Fault::ALL {
        out.push_str("---|");
    }
    for path in Path::ALL {
        out.push_str(&format!("\n| {} |", path.name()));
        for fault in Fault::ALL {
            let (_, _, cell) = done
                .iter()
                .find(|(p, f, _)| *p == path && *f == fault)
                .expect("every cell ran");
            for p in check(path, fault, cell) {
                failures.push(format!("{} × {}: {p}", path.name(), fault.name()));
            }
            out.push_str(&format!(" {} |", cell.summary()));
        }
    }
    println!("{out}");
    assert!(failures.is_empty(), "{}\n\n{out}", failures.join("\n"));
}

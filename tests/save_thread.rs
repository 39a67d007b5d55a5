//! "Save thread to …" end to end against the fake site, with a stub of Discord (the thread, the
//! DMs, the thread's card): a thread with two authors becomes a question and an answer, each
//! credited to its author (the fake site's log shows each author's token), the answer accepted
//! when the question's author agreed to that too; an author who declines or does not answer
//! within 24 hours gets nothing posted in their name, and the invoker may post it as
//! themself with attribution; replies without text (no Message Content intent) save nothing.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use parking_lot::Mutex;
use soe_bot::commands::access::{DirectoryError, MemberDirectory};
use soe_bot::commands::server::{ThreadContent, ThreadMessage};
use soe_bot::commands::{Action, Member, MessageRef, Origin, Reply, ReplyKind};
use soe_bot::fake_soe::{Approval, JANE, SAM};
use support::test_app::{StubServer, TestApp};

const THREAD: u64 = 5_000;
const PARENT: u64 = 10;

/// Everyone in the tests is a member of the allowed guild.
#[derive(Default)]
struct Members(Mutex<Vec<u64>>);

#[async_trait]
impl MemberDirectory for Members {
    async fn is_member(&self, _guild: u64, user: u64) -> Result<bool, DirectoryError> {
        Ok(self.0.lock().contains(&user))
    }
}

struct World {
    t: TestApp,
    stub: Arc<StubServer>,
    ann: Member,
    bob: Member,
    carol: Member,
}

const QUESTION: &str = "I spawn a worker with tokio::spawn and want to stop it cleanly when the user quits:\n```rust\nlet handle = tokio::spawn(work());\n```\nWhat is the right way?";
const ANSWER: &str = "Keep the JoinHandle and call abort() on it, as @Ann guessed:\n```rust\nhandle.abort();\n```\nFor a clean stop, pass a CancellationToken instead.";

fn msg(id: u64, who: &Member, text: &str) -> ThreadMessage {
    ThreadMessage {
        id,
        author_id: who.id,
        author_name: who.name.clone(),
        content: text.into(),
        has_media: false,
    }
}

impl World {
    /// Ann (Jane on the site) asked in a thread, Bob (Sam) answered, Carol said thanks; Ann
    /// and Bob are linked, Carol is not.
    async fn start() -> World {
        World::start_with(TestApp::builder()).await
    }

    /// [`World::start`] on a bot built by `builder`.
    async fn start_with(builder: support::test_app::TestAppBuilder) -> World {
        let t = builder.start().await;
        let stub = t.stub_server();
        let ann = TestApp::member(111, "Ann");
        let bob = TestApp::member(222, "Bob");
        let carol = TestApp::member(333, "Carol");
        t.link(&ann).await;
        t.fake.set_approval(Approval::AutoApprove { user_id: SAM });
        t.link(&bob).await;
        let members = Arc::new(Members::default());
        members.0.lock().extend([ann.id, bob.id, carol.id]);
        t.app.commands.access().use_directory(members);
        stub.threads.lock().insert(
            THREAD,
            ThreadContent {
                id: THREAD,
                name: "How do I stop a tokio task cleanly?".into(),
                parent: Some(PARENT),
                starter: Some(msg(THREAD, &ann, QUESTION)),
                replies: vec![
                    msg(THREAD + 1, &bob, ANSWER),
                    msg(THREAD + 2, &carol, "Thanks, that worked for me too."),
                ],
            },
        );
        t.fake.clear_requests();
        World {
            t,
            stub,
            ann,
            bob,
            carol,
        }
    }

    /// `who` runs "Save thread" on a message of the thread, picks Bob's reply and confirms
    /// the title and tags.
    async fn save(&self, who: &Member) -> Reply {
        let mut inv = self.t.invocation(
            who,
            Action::MessageCommand {
                name: "Save thread to Acme Stack Overflow".into(),
                message: MessageRef {
                    id: THREAD + 2,
                    author_id: self.carol.id,
                    author_name: "Carol".into(),
                    content: "Thanks, that worked for me too.".into(),
                    thread_name: Some("How do I stop a tokio task cleanly?".into()),
                    replies_to: None,
                },
            },
        );
        inv.channel_id = Some(THREAD);
        inv.in_thread = true;
        inv.thread_parent = Some(PARENT);
        let r = self.t.run(&inv).await;
        assert!(r.content.contains("Which reply answers it?"), "{r:?}");
        let r = self.t.choose(who, &r, "Bob").await;
        let ReplyKind::Modal(modal) = &r.kind else {
            panic!("the title and tags form: {r:?}");
        };
        let title = modal.inputs[0].value.clone().unwrap_or_default();
        assert_eq!(title, "How do I stop a tokio task cleanly?");
        let mut inv = self.t.invocation(
            who,
            Action::Modal {
                custom_id: modal.id.clone(),
                fields: vec![
                    ("title".into(), title),
                    ("tags".into(), "rust, tokio".into()),
                ],
            },
        );
        inv.channel_id = Some(THREAD);
        inv.in_thread = true;
        self.t.run(&inv).await
    }

    /// The last DM `user` got.
    fn dm_of(&self, user: &Member) -> Reply {
        self.stub
            .dms
            .lock()
            .iter()
            .rev()
            .find(|(u, _)| *u == user.id)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no DM to {}", user.name))
    }

    /// `who` presses `label` on their last DM (a DM: no guild).
    async fn press_dm(&self, who: &Member, label: &str) -> Reply {
        let id = TestApp::button(&self.dm_of(who), label);
        let mut inv = self.t.invocation(who, Action::Button { custom_id: id });
        inv.guild_id = None;
        inv.channel_id = Some(9_000 + who.id);
        inv.origin = Origin::Private;
        self.t.run(&inv).await
    }

    /// The API writes the fake site saw: (route, user).
    fn writes(&self) -> Vec<(String, Option<i64>)> {
        self.t
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.is_api_write())
            .map(|r| (format!("{} {}", r.method, r.route), r.user_id))
            .collect()
    }
}

#[tokio::test]
async fn a_thread_with_two_authors_becomes_a_question_and_an_answer_credited_to_each() {
    let w = World::start().await;
    // Carol (not linked, not an author) saves it: Ann and Bob are asked.
    let r = w.save(&w.carol).await;
    assert!(r.content.contains("Asked **Ann** and **Bob**"), "{r:?}");
    assert!(w.writes().is_empty(), "nothing before consent");
    let to_ann = w.dm_of(&w.ann);
    assert!(
        to_ann
            .content
            .contains("**Carol** would like to save the thread"),
        "{to_ann:?}"
    );
    assert!(TestApp::try_button(
        &to_ann,
        "Post as me and accept the answer"
    ));
    let to_bob = w.dm_of(&w.bob);
    assert!(
        to_bob.content.contains("post your reply as the answer"),
        "{to_bob:?}"
    );
    assert!(!TestApp::try_button(&to_bob, "accept"));

    // Someone else cannot answer for Bob.
    let id = TestApp::button(&to_bob, "Post as me");
    let mut forged = w.t.invocation(&w.carol, Action::Button { custom_id: id });
    forged.guild_id = None;
    forged.origin = Origin::Private;
    let r = w.t.run(&forged).await;
    assert!(r.content.contains("Only Bob can answer this"), "{r:?}");

    let r = w.press_dm(&w.bob, "Post as me").await;
    assert!(r.content.contains("Waiting for **Ann**"), "{r:?}");
    assert!(w.writes().is_empty(), "the answer waits for its question");
    let r = w.press_dm(&w.ann, "Post as me and accept the answer").await;
    assert!(r.content.contains("Question posted as **Jane"), "{r:?}");
    assert!(r.content.contains("and accepted ✓"), "{r:?}");

    // Each post through its author's own token, the acceptance through the asker's.
    let writes = w.writes();
    assert_eq!(
        writes,
        vec![
            ("POST /questions".to_string(), Some(JANE)),
            (
                "POST /questions/{questionId}/answers".to_string(),
                Some(SAM)
            ),
            (
                "POST /questions/{questionId}/answers/{answerId}/accept".to_string(),
                Some(JANE)
            ),
        ]
    );
    let q =
        w.t.fake
            .questions()
            .into_iter()
            .find(|q| q.title == "How do I stop a tokio task cleanly?")
            .expect("the question");
    assert_eq!(q.owner_id, JANE);
    assert!(
        q.body_markdown.contains("```rust\nlet handle"),
        "code keeps its language: {}",
        q.body_markdown
    );
    assert_eq!(q.tags, vec!["rust", "tokio"]);
    let answers = w.t.fake.answers(q.id);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].owner_id, SAM);
    assert!(
        answers[0].body_markdown.contains("as @Ann guessed"),
        "{}",
        answers[0].body_markdown
    );
    assert!(answers[0].is_accepted);

    // The thread got one card linking the question; Carol was told by DM.
    let cards = w.stub.posted_in(THREAD);
    assert_eq!(cards.len(), 1);
    let card = &cards[0].embeds[0];
    assert!(
        card.url
            .as_deref()
            .is_some_and(|u| u.contains(&format!("/questions/{}", q.id))),
        "{card:?}"
    );
    assert!(card.description.contains("question by **Jane"), "{card:?}");
    let to_carol = w.dm_of(&w.carol);
    assert!(
        to_carol.content.contains("Answer posted as **Sam"),
        "{to_carol:?}"
    );

    // Pressing again posts nothing more.
    let again = w.press_dm(&w.ann, "Post as me and accept the answer").await;
    assert!(again.content.contains("already answered"), "{again:?}");
    assert_eq!(w.writes().len(), 3);
    assert_eq!(w.stub.posted_in(THREAD).len(), 1);
}

#[tokio::test]
async fn a_declined_answer_is_not_posted_and_the_invoker_may_post_it_as_themself() {
    let w = World::start().await;
    // Ann saves her own thread: her consent (and acceptance) is given by doing so.
    let r = w.save(&w.ann).await;
    assert!(r.content.contains("Asked **Bob**"), "{r:?}");
    assert!(r.content.contains("Question posted as **Jane"), "{r:?}");
    let r = w.press_dm(&w.bob, "Decline").await;
    assert!(
        r.content
            .contains("Declined: nothing of yours will be posted"),
        "{r:?}"
    );
    assert_eq!(
        w.writes(),
        vec![("POST /questions".to_string(), Some(JANE))],
        "only the question"
    );
    // Ann is told, with the fallback.
    let to_ann = w.dm_of(&w.ann);
    assert!(to_ann.content.contains("**Bob** declined"), "{to_ann:?}");
    let r = w.press_dm(&w.ann, "Post the answer as me").await;
    assert!(r.content.contains("Posted as you"), "{r:?}");
    let q =
        w.t.fake
            .questions()
            .into_iter()
            .find(|q| q.title == "How do I stop a tokio task cleanly?")
            .unwrap();
    let answers = w.t.fake.answers(q.id);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].owner_id, JANE, "posted as Ann herself");
    assert!(
        answers[0]
            .body_markdown
            .contains("*Written by Bob in Discord; posted by Jane"),
        "{}",
        answers[0].body_markdown
    );
    assert!(
        !answers[0].is_accepted,
        "her own stand-in answer is not accepted for Bob"
    );
    assert_eq!(w.stub.posted_in(THREAD).len(), 1, "one card");
}

#[tokio::test]
async fn an_author_who_does_not_answer_within_24_hours_gets_nothing_posted() {
    let w = World::start().await;
    w.save(&w.carol).await;
    // An author without a link cannot agree: Dave answers... as nobody; Bob never answers.
    let r = w.press_dm(&w.ann, "Post as me").await;
    assert!(r.content.contains("Question posted as **Jane"), "{r:?}");
    assert!(r.content.contains("Waiting for **Bob**"), "{r:?}");
    w.t.clock.advance(Duration::hours(23));
    assert_eq!(
        soe_bot::commands::thread_save::expire_due(&w.t.app.commands).await,
        0
    );
    w.t.clock.advance(Duration::hours(1));
    assert_eq!(
        soe_bot::commands::thread_save::expire_due(&w.t.app.commands).await,
        1
    );
    assert_eq!(
        w.writes(),
        vec![("POST /questions".to_string(), Some(JANE))],
        "nothing in Bob's name"
    );
    let to_carol = w.dm_of(&w.carol);
    assert!(
        to_carol.content.contains("did not answer within 24 hours"),
        "{to_carol:?}"
    );
    assert!(TestApp::try_button(&to_carol, "Post the answer as me"));
    // Too late for Bob.
    let r = w.press_dm(&w.bob, "Post as me").await;
    assert!(r.content.contains("lapsed"), "{r:?}");
    assert_eq!(w.writes().len(), 1);
    // The card links the question alone.
    let cards = w.stub.posted_in(THREAD);
    assert_eq!(cards.len(), 1);
    assert!(
        !cards[0].embeds[0].description.contains("answer by"),
        "{cards:?}"
    );
}

#[tokio::test]
async fn an_unlinked_author_is_asked_to_link_before_agreeing() {
    let w = World::start().await;
    let dave = TestApp::member(444, "Dave");
    w.stub.threads.lock().get_mut(&THREAD).unwrap().replies[0].author_id = dave.id;
    w.stub.threads.lock().get_mut(&THREAD).unwrap().replies[0].author_name = "Bob".into();
    w.save(&w.ann).await;
    let members = Arc::new(Members::default());
    members.0.lock().extend([w.ann.id, dave.id]);
    w.t.app.commands.access().use_directory(members);
    let to_dave = w.dm_of(&dave);
    assert!(
        to_dave
            .content
            .contains("link your Acme Stack Overflow account first"),
        "{to_dave:?}"
    );
    let r = w.press_dm(&dave, "Post as me").await;
    assert!(TestApp::try_button(&r, "Link"), "{r:?}");
    assert_eq!(w.writes().len(), 1, "only Ann's question");
}

#[tokio::test]
async fn replies_without_text_mean_the_message_content_intent_is_off() {
    let w = World::start().await;
    for r in &mut w.stub.threads.lock().get_mut(&THREAD).unwrap().replies {
        r.content.clear();
    }
    let mut inv = w.t.invocation(
        &w.ann,
        Action::MessageCommand {
            name: "Save thread to Acme Stack Overflow".into(),
            message: MessageRef {
                id: THREAD,
                author_id: w.ann.id,
                author_name: "Ann".into(),
                content: QUESTION.into(),
                thread_name: Some("How do I stop a tokio task cleanly?".into()),
                replies_to: None,
            },
        },
    );
    inv.channel_id = Some(THREAD);
    inv.in_thread = true;
    let r = w.t.run(&inv).await;
    assert!(r.content.contains("Message Content"), "{r:?}");
    assert!(r.content.contains("Ask an admin"), "{r:?}");
    assert!(r.rows.is_empty(), "nothing to choose: {r:?}");
    assert!(w.writes().is_empty());
    let _ = &w.bob;
}

// ---------------------------------------------------------------- interrupted writes
//
// A process that dies after claiming a part's write (`ts:<save>:q|a|acc`) and marking it
// unconfirmed on the save, and before recording it posted, leaves exactly this in the store.
// Whatever continues the save (the startup recovery, the next consent, the sweep) looks on
// the site before writing: a write that reached the site is recorded with its link, one
// that did not is made once.

use soe_bot::commands::author_consent::Consent;
use soe_bot::commands::thread_save::{ThreadSave, Unconfirmed};
use soe_bot::store::{Store, ThreadSaveStore, WriteClaim};

const TITLE: &str = "How do I stop a tokio task cleanly?";
const ACCEPT_ROUTE: &str = "POST /questions/{questionId}/answers/{answerId}/accept";

/// Which write was interrupted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cut {
    Question,
    Answer,
    Accept,
}

impl Cut {
    fn key(self, save: &ThreadSave) -> String {
        format!(
            "ts:{}:{}",
            save.id,
            match self {
                Cut::Question => "q",
                Cut::Answer => "a",
                Cut::Accept => "acc",
            }
        )
    }
}

impl World {
    /// The one save in the store.
    async fn the_save(&self) -> ThreadSave {
        let saves = self.t.store.all_saves().await.expect("saves");
        assert_eq!(saves.len(), 1, "{saves:#?}");
        saves.into_iter().next().expect("a save")
    }

    /// The question on the site, if it is there (exactly once).
    fn question_on_site(&self) -> Option<i64> {
        let copies: Vec<i64> = self
            .t
            .fake
            .questions()
            .into_iter()
            .filter(|q| q.title == TITLE)
            .map(|q| q.id)
            .collect();
        assert!(
            copies.len() <= 1,
            "the question twice on the site: {copies:?}"
        );
        copies.first().copied()
    }

    /// The answer's text as the save holds it (the invoker's sealed draft).
    async fn answer_body(&self, save: &ThreadSave) -> String {
        let a = save.answer.as_ref().expect("the answer part");
        match self
            .t
            .store
            .get_draft(save.invoker, &a.draft)
            .await
            .expect("store")
            .expect("the draft")
            .content
        {
            soe_bot::store::DraftContent::Answer { body, .. } => body,
            other => panic!("not an answer: {other:?}"),
        }
    }

    /// Leaves `cut` as a process that died mid-write leaves it: claimed, and marked
    /// unconfirmed on the save, 30 s before this bot started (a claim not yet stale: only
    /// the earlier process's end makes it abandoned).
    async fn interrupt(&self, save: &mut ThreadSave, cut: Cut) {
        let since = self.t.clock_now() - Duration::seconds(30);
        let mark = Some(Unconfirmed {
            since,
            by_invoker: false,
        });
        match cut {
            Cut::Question => save.question.as_mut().expect("question").posting = mark,
            Cut::Answer => save.answer.as_mut().expect("answer").posting = mark,
            Cut::Accept => save.accepting = Some(since),
        }
        assert_eq!(
            self.t
                .store
                .claim_write(&cut.key(save), since)
                .await
                .expect("claim"),
            WriteClaim::Claimed
        );
        self.t.store.put_save(save).await.expect("stored");
    }

    /// Both authors agreed (Ann also to accepting the answer), as their presses would have
    /// recorded before the crash.
    fn agreed(&self, save: &mut ThreadSave) {
        let now = self.t.clock_now() - Duration::minutes(1);
        save.question.as_mut().expect("question").consent =
            Consent::given(self.ann.id, "Ann", true, now);
        save.answer.as_mut().expect("answer").consent =
            Consent::given(self.bob.id, "Bob", false, now);
    }

    /// Carol saved the thread; both authors agreed; then the bot died while posting the
    /// question. With `on_site`, the site had already taken it.
    async fn question_cut(&self, on_site: bool) -> ThreadSave {
        let r = self.save(&self.carol).await;
        assert!(r.content.contains("Asked **Ann** and **Bob**"), "{r:?}");
        let mut save = self.the_save().await;
        self.agreed(&mut save);
        self.interrupt(&mut save, Cut::Question).await;
        if on_site {
            self.t
                .fake
                .add_question(soe_bot::fake_soe::JANE, TITLE, QUESTION, &["rust", "tokio"]);
        }
        self.t.fake.clear_requests();
        save
    }

    /// Ann saved her own thread (the question is posted), Bob agreed; then the bot died
    /// while posting the answer. With `on_site`, the site had already taken it.
    async fn answer_cut(&self, on_site: bool) -> (ThreadSave, i64) {
        let r = self.save(&self.ann).await;
        assert!(r.content.contains("Question posted as **Jane"), "{r:?}");
        let q = self.question_on_site().expect("the question");
        let mut save = self.the_save().await;
        self.agreed(&mut save);
        self.interrupt(&mut save, Cut::Answer).await;
        if on_site {
            let body = self.answer_body(&save).await;
            self.t.fake.add_answer(q, SAM, &body);
        }
        self.t.fake.clear_requests();
        (save, q)
    }

    /// Ann saved her own thread and Bob agreed: question and answer are posted, and the
    /// thread has its card; then the bot died while accepting the answer. With `on_site`,
    /// the site had already accepted it.
    async fn accept_cut(&self, on_site: bool) -> (ThreadSave, i64) {
        self.save(&self.ann).await;
        // The site refuses the first acceptance: the save stops right before it.
        self.t.fake.push_fault(
            soe_bot::fake_soe::Fault::on(
                "POST",
                "/questions/{questionId}/answers/{answerId}/accept",
                soe_bot::fake_soe::FaultKind::Status(400),
            )
            .times(1),
        );
        let r = self.press_dm(&self.bob, "Post as me").await;
        assert!(r.content.contains("could not be accepted"), "{r:?}");
        let q = self.question_on_site().expect("the question");
        let mut save = self.the_save().await;
        assert!(!save.accepted);
        self.interrupt(&mut save, Cut::Accept).await;
        if on_site {
            let a = save
                .answer
                .as_ref()
                .and_then(|a| a.posted.as_ref())
                .expect("the answer posted")
                .id;
            self.t
                .fake
                .accept_answer(q, a)
                .expect("accepted on the site");
        }
        self.t.fake.clear_requests();
        (save, q)
    }

    /// The end state every interrupted save reaches: one question by Jane, one answer by
    /// Sam, accepted, the save's record pointing at them, one card in the thread, nothing
    /// left unconfirmed.
    async fn saved_once(&self) {
        let q = self.question_on_site().expect("the question on the site");
        let answers = self.t.fake.answers(q);
        assert_eq!(answers.len(), 1, "one answer: {answers:#?}");
        assert_eq!(answers[0].owner_id, SAM);
        assert!(answers[0].is_accepted, "accepted");
        let save = self.the_save().await;
        let question = save.question.as_ref().expect("question");
        let answer = save.answer.as_ref().expect("answer");
        assert_eq!(question.posted.as_ref().map(|p| p.id), Some(q));
        assert_eq!(answer.posted.as_ref().map(|p| p.id), Some(answers[0].id));
        assert!(save.accepted);
        assert!(
            question.posting.is_none() && answer.posting.is_none() && save.accepting.is_none(),
            "nothing left unconfirmed: {save:#?}"
        );
        let cards = self.stub.posted_in(THREAD);
        assert_eq!(cards.len(), 1, "one card: {cards:#?}");
        assert!(
            cards[0].embeds[0]
                .url
                .as_deref()
                .is_some_and(|u| u.contains(&format!("/questions/{q}"))),
            "{cards:?}"
        );
        // Another recovery pass finds nothing to do.
        let before = self.writes().len();
        assert!(self.t.app.commands.recover_interrupted().await.is_empty());
        assert_eq!(self.writes().len(), before);
    }
}

/// The routes of the API writes in `writes`, with whom they were made as.
fn routes(writes: &[(&str, i64)]) -> Vec<(String, Option<i64>)> {
    writes
        .iter()
        .map(|(r, u)| (r.to_string(), Some(*u)))
        .collect()
}

#[tokio::test]
async fn an_interrupted_question_already_on_the_site_is_recorded_and_the_save_goes_on() {
    let w = World::start().await;
    w.question_cut(true).await;
    let q = w.question_on_site().expect("the question");
    let notices = w.t.app.commands.recover_interrupted().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let n = &notices[0];
    assert_eq!(n.user, w.carol.id, "the invoker is told");
    assert!(n.reply.content.contains("picked it up again"), "{n:?}");
    assert!(
        n.reply.content.contains("Question posted as **Jane"),
        "{n:?}"
    );
    assert!(
        n.reply.content.contains(&format!("/questions/{q}")),
        "its link: {n:?}"
    );
    assert!(n.reply.content.contains("and accepted ✓"), "{n:?}");
    assert_eq!(
        w.writes(),
        routes(&[
            ("POST /questions/{questionId}/answers", SAM),
            (ACCEPT_ROUTE, JANE)
        ]),
        "the question was not posted again"
    );
    w.saved_once().await;
}

#[tokio::test]
async fn an_interrupted_question_not_on_the_site_is_posted_once() {
    let w = World::start().await;
    w.question_cut(false).await;
    assert_eq!(w.question_on_site(), None);
    let notices = w.t.app.commands.recover_interrupted().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(
        notices[0]
            .reply
            .content
            .contains("Question posted as **Jane"),
        "{notices:?}"
    );
    assert_eq!(
        w.writes(),
        routes(&[
            ("POST /questions", JANE),
            ("POST /questions/{questionId}/answers", SAM),
            (ACCEPT_ROUTE, JANE)
        ])
    );
    w.saved_once().await;
}

#[tokio::test]
async fn the_next_consent_settles_an_interrupted_question_by_looking_first() {
    let w = World::start().await;
    w.save(&w.carol).await;
    let mut save = w.the_save().await;
    // Ann had agreed; Bob has not answered yet.
    save.question.as_mut().expect("question").consent =
        Consent::given(w.ann.id, "Ann", true, w.t.clock_now());
    w.interrupt(&mut save, Cut::Question).await;
    w.t.fake
        .add_question(JANE, TITLE, QUESTION, &["rust", "tokio"]);
    w.t.fake.clear_requests();
    // No recovery pass: Bob's press continues the save.
    let r = w.press_dm(&w.bob, "Post as me").await;
    assert!(r.content.contains("Question posted as **Jane"), "{r:?}");
    assert!(r.content.contains("Answer posted as **Sam"), "{r:?}");
    assert_eq!(
        w.writes(),
        routes(&[
            ("POST /questions/{questionId}/answers", SAM),
            (ACCEPT_ROUTE, JANE)
        ])
    );
    w.saved_once().await;
}

#[tokio::test]
async fn an_interrupted_answer_already_on_the_site_is_recorded_and_accepted() {
    let w = World::start().await;
    let (_, q) = w.answer_cut(true).await;
    let notices = w.t.app.commands.recover_interrupted().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].user, w.ann.id);
    assert!(
        notices[0].reply.content.contains("Answer posted as **Sam"),
        "{notices:?}"
    );
    assert_eq!(w.writes(), routes(&[(ACCEPT_ROUTE, JANE)]));
    assert_eq!(w.t.fake.answers(q).len(), 1);
    w.saved_once().await;
}

#[tokio::test]
async fn an_interrupted_answer_not_on_the_site_is_posted_once() {
    let w = World::start().await;
    let (_, q) = w.answer_cut(false).await;
    assert!(w.t.fake.answers(q).is_empty());
    w.t.app.commands.recover_interrupted().await;
    assert_eq!(
        w.writes(),
        routes(&[
            ("POST /questions/{questionId}/answers", SAM),
            (ACCEPT_ROUTE, JANE)
        ])
    );
    w.saved_once().await;
}

#[tokio::test]
async fn an_interrupted_acceptance_the_site_made_is_recorded_without_accepting_again() {
    let w = World::start().await;
    w.accept_cut(true).await;
    let notices = w.t.app.commands.recover_interrupted().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(
        notices[0].reply.content.contains("and accepted ✓"),
        "{notices:?}"
    );
    assert!(w.writes().is_empty(), "nothing written: {:?}", w.writes());
    w.saved_once().await;
}

#[tokio::test]
async fn an_interrupted_acceptance_the_site_did_not_make_is_made_once() {
    let w = World::start().await;
    w.accept_cut(false).await;
    w.t.app.commands.recover_interrupted().await;
    assert_eq!(w.writes(), routes(&[(ACCEPT_ROUTE, JANE)]));
    w.saved_once().await;
}

#[tokio::test]
async fn a_question_post_that_timed_out_is_found_by_the_sweep_not_posted_again() {
    let w = World::start_with(TestApp::builder().client(|c| {
        c.request_timeout = std::time::Duration::from_millis(400);
    }))
    .await;
    // The site takes the question, then answers too late.
    w.t.fake.push_fault(
        soe_bot::fake_soe::Fault::on(
            "POST",
            "/questions",
            soe_bot::fake_soe::FaultKind::AnswerAfter(std::time::Duration::from_secs(2)),
        )
        .times(1),
    );
    let r = w.save(&w.ann).await;
    assert!(r.content.contains("did not answer in time"), "{r:?}");
    let q = w.question_on_site().expect("the site took it");
    let save = w.the_save().await;
    assert!(
        save.question.as_ref().and_then(|q| q.posting).is_some(),
        "left unconfirmed: {save:#?}"
    );
    // The minute's sweep looks on the site and finds it.
    assert_eq!(
        soe_bot::commands::thread_save::expire_due(&w.t.app.commands).await,
        1
    );
    let save = w.the_save().await;
    let question = save.question.as_ref().expect("question");
    assert_eq!(question.posted.as_ref().map(|p| p.id), Some(q));
    assert!(question.posting.is_none());
    // Bob agrees: the answer goes to that question.
    let r = w.press_dm(&w.bob, "Post as me").await;
    assert!(r.content.contains("Answer posted as **Sam"), "{r:?}");
    assert_eq!(
        w.writes()
            .iter()
            .filter(|(route, _)| route == "POST /questions")
            .count(),
        1,
        "looked, found, not posted again: {:?}",
        w.writes()
    );
    w.saved_once().await;
}

#[tokio::test]
async fn a_question_post_that_timed_out_is_looked_for_when_the_next_consent_arrives() {
    let w = World::start_with(TestApp::builder().client(|c| {
        c.request_timeout = std::time::Duration::from_millis(400);
    }))
    .await;
    w.t.fake.push_fault(
        soe_bot::fake_soe::Fault::on(
            "POST",
            "/questions",
            soe_bot::fake_soe::FaultKind::AnswerAfter(std::time::Duration::from_secs(2)),
        )
        .times(1),
    );
    let r = w.save(&w.ann).await;
    assert!(r.content.contains("did not answer in time"), "{r:?}");
    let q = w.question_on_site().expect("the site took it");
    // Bob agrees before any sweep: his press looks on the site first.
    let r = w.press_dm(&w.bob, "Post as me").await;
    assert!(r.content.contains("Question posted as **Jane"), "{r:?}");
    assert!(
        r.content.contains(&format!("/questions/{q}")),
        "the question's link: {r:?}"
    );
    assert_eq!(
        w.writes()
            .iter()
            .filter(|(route, _)| route == "POST /questions")
            .count(),
        1,
        "looked, found, not posted again: {:?}",
        w.writes()
    );
    w.saved_once().await;
}

// ---------------------------------------------------------------- the forum-post button

use soe_bot::commands::ids::Id;
use soe_bot::commands::OptionValue;

const SAVE_BUTTON: &str = "Save thread to Acme Stack Overflow";

impl World {
    /// `who` acts in the thread (a forum post when [`PARENT`] is a forum).
    fn in_thread(&self, who: &Member, action: Action) -> soe_bot::commands::Invocation {
        let mut inv = self.t.invocation(who, action);
        inv.channel_id = Some(THREAD);
        inv.in_thread = true;
        inv.thread_parent = Some(PARENT);
        inv
    }

    /// `/so search query:<query>` by `who` in the thread.
    async fn search_in_thread(&self, who: &Member, query: &str) -> Reply {
        let inv = self.in_thread(
            who,
            Action::Command {
                name: "so".into(),
                path: vec!["search".into()],
                options: vec![("query".into(), OptionValue::Str(query.into()))],
            },
        );
        self.t.run(&inv).await
    }

    /// `who` presses the forum post's Save button in the thread.
    async fn press_save(&self, who: &Member) -> Reply {
        let inv = self.in_thread(
            who,
            Action::Button {
                custom_id: Id::SaveThread { thread: THREAD }.encode(),
            },
        );
        self.t.run(&inv).await
    }

    /// `who` runs the message command on the thread's first message.
    async fn message_command(&self, who: &Member) -> Reply {
        let inv = self.in_thread(
            who,
            Action::MessageCommand {
                name: "Save thread to Acme Stack Overflow".into(),
                message: MessageRef {
                    id: THREAD,
                    author_id: self.ann.id,
                    author_name: "Ann".into(),
                    content: QUESTION.into(),
                    thread_name: Some(TITLE.into()),
                    replies_to: None,
                },
            },
        );
        self.t.run(&inv).await
    }

    /// Turns the bot's cards off in [`PARENT`] (`/so-admin channel cards off`).
    async fn cards_off(&self) {
        let mut settings = self.t.store.guild_settings(1).await.expect("settings");
        settings.cards_off.push(PARENT);
        self.t
            .store
            .put_guild_settings(1, &settings)
            .await
            .expect("stored");
    }
}

/// `reply` as JSON, with the save's random handle replaced.
fn normalized(reply: &Reply) -> serde_json::Value {
    let text = serde_json::to_string(reply).expect("json");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("so:tsa:") {
        out.push_str(&rest[..i + "so:tsa:".len()]);
        out.push_str("<save>");
        rest = &rest[i + "so:tsa:".len()..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).expect("json")
}

#[tokio::test]
async fn the_save_button_is_offered_only_in_forum_posts() {
    let w = World::start().await;
    w.stub.forums.lock().push(PARENT);
    // In a forum post: the private results offer it, next to Prev, Next and Share.
    let r = w.search_in_thread(&w.carol, "tokio").await;
    assert!(!r.embeds.is_empty(), "results: {r:?}");
    assert_eq!(
        TestApp::button(&r, SAVE_BUTTON),
        Id::SaveThread { thread: THREAD }.encode()
    );
    assert!(TestApp::try_button(&r, "Share"), "{r:?}");
    // And so does "no results", the likeliest moment to save the post once answered.
    let none = w.search_in_thread(&w.carol, "zorblax flimflam").await;
    assert!(none.embeds.is_empty(), "{none:?}");
    assert!(TestApp::try_button(&none, SAVE_BUTTON), "{none:?}");

    // In the forum channel itself (not a post): no.
    let mut inv = w.t.invocation(
        &w.carol,
        Action::Command {
            name: "so".into(),
            path: vec!["search".into()],
            options: vec![("query".into(), OptionValue::Str("tokio".into()))],
        },
    );
    inv.channel_id = Some(PARENT);
    let r = w.t.run(&inv).await;
    assert!(!r.embeds.is_empty(), "{r:?}");
    assert!(!TestApp::try_button(&r, SAVE_BUTTON), "{r:?}");

    // In a thread of a text channel: no (the message command is there for those).
    w.stub.forums.lock().clear();
    let r = w.search_in_thread(&w.carol, "tokio").await;
    assert!(!r.embeds.is_empty(), "{r:?}");
    assert!(!TestApp::try_button(&r, SAVE_BUTTON), "{r:?}");
    let none = w.search_in_thread(&w.carol, "zorblax flimflam").await;
    assert!(!TestApp::try_button(&none, SAVE_BUTTON), "{none:?}");
    assert!(w.writes().is_empty());
}

#[tokio::test]
async fn the_forum_post_button_opens_the_same_flow_as_the_message_command() {
    let w = World::start().await;
    w.stub.forums.lock().push(PARENT);
    let r = w.search_in_thread(&w.carol, "tokio").await;
    let pressed = w.press_save(&w.carol).await;
    assert_eq!(
        w.t.app.commands.ack(&w.in_thread(
            &w.carol,
            Action::Button {
                custom_id: TestApp::button(&r, SAVE_BUTTON)
            }
        )),
        soe_bot::commands::Ack::DeferEphemeral,
        "acked like the message command: privately, while the thread is read"
    );
    insta::assert_json_snapshot!("forum_post_save_pressed", normalized(&pressed));
    let by_command = w.message_command(&w.carol).await;
    assert_eq!(
        normalized(&pressed),
        normalized(&by_command),
        "the button and the message command start the same save"
    );
    // It goes on like the message command's: pick the answer, confirm, ask the authors.
    let r = w.t.choose(&w.carol, &pressed, "Bob").await;
    let ReplyKind::Modal(modal) = &r.kind else {
        panic!("the title and tags form: {r:?}");
    };
    assert_eq!(modal.inputs[0].value.as_deref(), Some(TITLE));
    let inv = w.in_thread(
        &w.carol,
        Action::Modal {
            custom_id: modal.id.clone(),
            fields: vec![
                ("title".into(), TITLE.into()),
                ("tags".into(), "rust, tokio".into()),
            ],
        },
    );
    let r = w.t.run(&inv).await;
    assert!(r.content.contains("Asked **Ann** and **Bob**"), "{r:?}");
    assert!(w.writes().is_empty(), "nothing before consent");
}

#[tokio::test]
async fn the_forum_post_button_is_refused_where_cards_are_off_or_the_bot_cannot_read() {
    let w = World::start().await;
    w.stub.forums.lock().push(PARENT);
    // Pressed outside the post it belongs to.
    let mut inv = w.t.invocation(
        &w.carol,
        Action::Button {
            custom_id: Id::SaveThread { thread: THREAD }.encode(),
        },
    );
    inv.channel_id = Some(PARENT);
    let r = w.t.run(&inv).await;
    assert!(
        r.content.contains("saves the forum post it was shown in"),
        "{r:?}"
    );

    // Cards off in the forum: not offered, and an old button is refused, as is the
    // message command.
    w.cards_off().await;
    let r = w.search_in_thread(&w.carol, "tokio").await;
    assert!(!TestApp::try_button(&r, SAVE_BUTTON), "{r:?}");
    let r = w.press_save(&w.carol).await;
    assert!(r.content.contains("turned the bot's cards off"), "{r:?}");
    assert!(r.rows.is_empty(), "{r:?}");
    let r = w.message_command(&w.carol).await;
    assert!(r.content.contains("turned the bot's cards off"), "{r:?}");
    assert!(w.t.store.all_saves().await.expect("saves").is_empty());

    // The bot cannot read the post: refused the same way as the message command.
    let mut settings = w.t.store.guild_settings(1).await.expect("settings");
    settings.cards_off.clear();
    w.t.store
        .put_guild_settings(1, &settings)
        .await
        .expect("stored");
    w.stub.threads.lock().remove(&THREAD);
    let pressed = w.press_save(&w.carol).await;
    assert!(
        pressed.content.contains("could not read this thread"),
        "{pressed:?}"
    );
    let by_command = w.message_command(&w.carol).await;
    assert_eq!(pressed.content, by_command.content);
    assert!(w.t.store.all_saves().await.expect("saves").is_empty());
    assert!(w.writes().is_empty());
}

#[tokio::test]
async fn the_message_command_is_refused_where_cards_are_off() {
    let w = World::start().await;
    w.cards_off().await;
    let r = w.message_command(&w.ann).await;
    assert!(r.content.contains("turned the bot's cards off"), "{r:?}");
    assert!(w.t.store.all_saves().await.expect("saves").is_empty());
}

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
        let t = TestApp::start().await;
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

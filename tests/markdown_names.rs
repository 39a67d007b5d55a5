//! Names are shown, never interpreted: a Discord display name or an SOE user name full of
//! Markdown (`**Bob** _x_ [a](b)`) appears literally in every reply that quotes it, so nobody
//! can make the bot print bold text, fake links or hide parts of a message with their name.

mod support;

use soe_bot::commands::ids::Id;
use soe_bot::commands::{Action, MessageRef, Reply};
use soe_bot::fake_soe::{JANE, Q_ASYNC};
use soe_bot::soe::{UserToken, Vote};
use soe_bot::store::{Link, LinkStatus, Store};
use support::test_app::TestApp;

/// A name that would render as bold, italics and a link if it were not escaped.
const NAME: &str = "**Bob** _x_ [a](b)";
/// How it must appear in Markdown: every special character backslash-escaped.
const ESCAPED: &str = r"\*\*Bob\*\* \_x\_ \[a\]\(b\)";

fn text(r: &Reply) -> String {
    let mut s = r.content.clone();
    for e in &r.embeds {
        s.push_str(&e.description);
        for f in &e.fields {
            s.push_str(&f.value);
        }
    }
    s
}

fn assert_escaped(r: &Reply) {
    let t = text(r);
    assert!(t.contains(ESCAPED), "escaped name missing:\n{t}");
    assert!(!t.contains(NAME), "raw name shown:\n{t}");
}

#[tokio::test]
async fn a_discord_display_name_with_markdown_is_escaped() {
    let app = TestApp::start().await;
    let bob = TestApp::member(111, NAME);
    let shared = app
        .press(&bob, &Id::ShareQuestion { question: Q_ASYNC }.encode())
        .await;
    assert!(!shared.ephemeral, "{shared:?}");
    assert_escaped(&shared);

    // Someone else's message: the refusal names its author.
    let alice = TestApp::member(222, "alice");
    let inv = app.invocation(
        &alice,
        Action::MessageCommand {
            name: "Ask on Stack Overflow".into(),
            message: MessageRef {
                id: 5,
                author_id: 111,
                author_name: NAME.into(),
                content: "How do I rotate sled keys safely?".into(),
                thread_name: None,
            },
        },
    );
    assert_escaped(&app.run(&inv).await);
}

#[tokio::test]
async fn an_soe_user_name_with_markdown_is_escaped() {
    let app = TestApp::start().await;
    let bob = TestApp::member(111, "bob");
    let token = app.fake.mint_token(JANE, &["write_access"]);
    app.store
        .put_link(&Link {
            discord_user: 111,
            soe_user_id: JANE,
            soe_user_name: NAME.into(),
            soe_user_url: None,
            token: UserToken::new(secrecy::SecretString::from(token)),
            scopes: vec!["write_access".into()],
            expires_at: None,
            linked_at: app.clock_now(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .await
        .unwrap();
    assert_escaped(&app.slash(&bob, "me", &[]).await);
    let voted = app
        .press(
            &bob,
            &Id::VoteQuestion {
                question: Q_ASYNC,
                vote: Vote::Up,
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        )
        .await;
    assert!(voted.content.contains("score now"), "{voted:?}");
    assert_escaped(&voted);

    // Posting an answer says "Posted as <name>", and says it again on a repeated press.
    let form = app
        .slash(&bob, "answer", &[("question", &Q_ASYNC.to_string())])
        .await;
    let soe_bot::commands::ReplyKind::Modal(modal) = &form.kind else {
        panic!("the answer form: {form:?}")
    };
    let posted = app
        .submit(
            &bob,
            &modal.id,
            &[(
                "body",
                "Use a JoinSet: spawn each task into it and await join_next until it is empty.",
            )],
        )
        .await;
    assert!(text(&posted).contains("Posted as"), "{posted:?}");
    assert_escaped(&posted);
}

//! The bot against a fake site that holds the vendor's rules where the documents are silent or
//! the bot used to assume (issue 9), end to end through the use cases:
//! - private teams need the `access_team` grant, which linking now asks for;
//! - the token request is sent as the vendor's SDK sends it, and its answer is read whatever it
//!   is worded or served as;
//! - a read-only API application refuses writes, and the link and `/so me` say so;
//! - a post or vote interrupted by a crash is looked up on the site before Retry is offered.

#[path = "support/contract.rs"]
mod contract;
mod support;

use chrono::Duration;
use secrecy::SecretString;
use soe_bot::commands::ids::Id;
use soe_bot::commands::{Reply, ReplyKind};
use soe_bot::fake_soe::{AppStatus, TokenResponseStyle, JANE, Q_UNANSWERED, SAM, TEAM};
use soe_bot::soe::{UserToken, Vote};
use soe_bot::store::{Draft, DraftContent, DraftState, Link, LinkStatus, Store, WriteClaim};
use support::test_app::TestApp;

fn token_exchanges(app: &TestApp) -> Vec<soe_bot::fake_soe::log::LoggedRequest> {
    app.fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/access_token/json")
        .collect()
}

async fn ask(app: &TestApp, member: &soe_bot::commands::Member, title: &str) -> Reply {
    let r = app.slash(member, "ask", &[]).await;
    let ReplyKind::Modal(m) = r.kind else {
        panic!("expected the ask modal, got {r:?}")
    };
    app.submit(
        member,
        &m.id,
        &[
            ("title", title),
            (
                "body",
                "What I tried, what happened and what I expected, at some length.",
            ),
            ("tags", "rust"),
        ],
    )
    .await
}

// ----- the token request and its answer

#[tokio::test]
async fn the_token_request_is_sent_as_the_vendors_sdk_sends_it() {
    let app = TestApp::start().await;
    app.link(&TestApp::member(111, "alice")).await;
    let exchanges = token_exchanges(&app);
    assert_eq!(exchanges.len(), 1);
    let ex = &exchanges[0];
    let names: Vec<&str> = ex.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["client_id", "code", "redirect_uri", "code_verifier"],
        "the four parameters, in the query string"
    );
    assert!(ex.body.is_none(), "an empty body: {:?}", ex.body);
    contract::Contract::soe()
        .check_oauth_token_exchange(ex)
        .unwrap_or_else(|e| panic!("{e:#?}"));
}

#[tokio::test]
async fn a_standard_token_response_still_records_the_expiry() {
    let app = TestApp::builder()
        .fake(|c| c.token_response = TokenResponseStyle::Standard)
        .start()
        .await;
    app.link(&TestApp::member(111, "alice")).await;
    let served = token_exchanges(&app)[0].response.clone().expect("JSON");
    assert_eq!(
        served["expires_in"], 86_400,
        "the site sent expires_in: {served}"
    );
    let link = app.store.get_link(111).await.unwrap().expect("linked");
    assert_eq!(
        link.expires_at,
        Some(app.clock_now() + Duration::hours(24)),
        "not recorded as never expiring"
    );
}

#[tokio::test]
async fn a_token_response_served_as_text_or_html_still_links() {
    for content_type in ["text/plain; charset=utf-8", "text/html; charset=utf-8"] {
        let app = TestApp::builder()
            .fake(move |c| c.token_content_type = content_type.into())
            .start()
            .await;
        app.link(&TestApp::member(111, "alice")).await;
        let ex = &token_exchanges(&app)[0];
        assert_eq!(ex.response_content_type.as_deref(), Some(content_type));
        let link = app.store.get_link(111).await.unwrap().expect("linked");
        assert_eq!(link.soe_user_id, JANE);
        assert_eq!(link.expires_at, Some(app.clock_now() + Duration::hours(24)));
    }
}

// ----- private teams

#[tokio::test]
async fn linking_for_a_private_team_asks_for_the_team_and_posts_there() {
    let app = TestApp::builder().team(TEAM).start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let authorize = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth")
        .expect("authorize");
    let scope = authorize
        .query
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .expect("scope");
    let site = app.fake.site_url();
    let expected = format!(
        "write_access,access_team|{}:{}/c/{TEAM}",
        site.host_str().unwrap(),
        site.port().unwrap()
    );
    assert_eq!(scope, expected);
    let r = ask(
        &app,
        &alice,
        "Where is the platform team's on-call rota kept?",
    )
    .await;
    assert!(r.content.contains("Posted as"), "{r:?}");
    let posted = app
        .fake
        .questions()
        .into_iter()
        .find(|q| q.title == "Where is the platform team's on-call rota kept?")
        .expect("on the site");
    assert_eq!(posted.team.as_deref(), Some(TEAM));
}

/// Stores a link for `user` as JANE with exactly `scopes` (a link made before the bot asked for
/// them).
async fn put_link(app: &TestApp, user: u64, scopes: &[&str]) {
    let token = app.fake.mint_token(JANE, scopes);
    app.store
        .put_link(&Link {
            discord_user: user,
            soe_user_id: JANE,
            soe_user_name: "Jane Doe".into(),
            soe_user_url: None,
            token: UserToken::new(SecretString::from(token)),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: None,
            linked_at: app.clock_now(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_link_without_the_team_grant_is_told_to_link_again_and_the_draft_waits() {
    let app = TestApp::builder().team(TEAM).start().await;
    let alice = TestApp::member(111, "alice");
    put_link(&app, 111, &["write_access"]).await;
    let title = "How does the platform team rotate its secrets?";
    let r = ask(&app, &alice, title).await;
    assert!(
        r.content
            .contains("without access to the private team `platform`"),
        "{r:?}"
    );
    assert!(r.content.contains("Link again"), "{r:?}");
    TestApp::link_url(&r);
    assert!(
        !app.fake.requests().iter().any(|r| r.is_api_write()),
        "nothing was sent that the site would refuse"
    );
    // Linking again asks for the team; the kept draft is then posted in the team.
    app.link(&alice).await;
    let notice = app.next_notice().await;
    assert!(
        notice.reply.content.contains("Your saved draft was posted"),
        "{notice:?}"
    );
    let q = app
        .fake
        .questions()
        .into_iter()
        .find(|q| q.title == title)
        .expect("posted");
    assert_eq!(q.team.as_deref(), Some(TEAM));
}

#[tokio::test]
async fn a_team_write_the_site_refuses_says_the_team_may_not_be_granted() {
    // The site expects another form of the grant, so the one the bot asked for is not it.
    let app = TestApp::builder()
        .team(TEAM)
        .fake(|c| c.team_scope_format = "team:{team}".into())
        .start()
        .await;
    let alice = TestApp::member(111, "alice");
    let bot_form = format!(
        "access_team|{}:{}/c/{TEAM}",
        app.fake.site_url().host_str().unwrap(),
        app.fake.site_url().port().unwrap()
    );
    put_link(&app, 111, &["write_access", &bot_form]).await;
    let r = ask(
        &app,
        &alice,
        "Which dashboards does the platform team watch?",
    )
    .await;
    assert!(r.content.starts_with("Not posted:"), "{r:?}");
    assert!(
        r.content
            .contains("has not granted your token the private team `platform`"),
        "{r:?}"
    );
    let refused = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.is_api_write())
        .expect("the write was tried");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.team.as_deref(), Some(TEAM));
}

// ----- the application's status

#[tokio::test]
async fn a_read_only_application_refuses_writes_and_the_link_and_me_say_so() {
    let app = TestApp::builder()
        .fake(|c| c.application = AppStatus::ReadOnly)
        .start()
        .await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let me = app.slash(&alice, "me", &[]).await;
    assert!(
        me.content.contains("**Access granted:** not confirmed yet"),
        "{}",
        me.content
    );
    let title = "Why does my first question never reach the site?";
    let r = ask(&app, &alice, title).await;
    assert!(r.content.starts_with("Not posted:"), "{r:?}");
    assert!(r.content.contains("API application"), "{r:?}");
    assert!(r.content.contains("read-only"), "{r:?}");
    assert!(r.content.contains("Read-write"), "{r:?}");
    let link = app.store.get_link(111).await.unwrap().unwrap();
    assert_eq!(link.status, LinkStatus::WriteRefused);
    let me = app.slash(&alice, "me", &[]).await;
    assert!(
        me.content.contains("**Access granted:** write refused"),
        "{}",
        me.content
    );
    // An admin switches the application to Read-write; Retry posts it, once.
    app.fake.set_application(AppStatus::ReadWrite);
    let posted = app.press(&alice, &TestApp::button(&r, "Retry")).await;
    assert!(posted.content.contains("Posted as"), "{posted:?}");
    let link = app.store.get_link(111).await.unwrap().unwrap();
    assert_eq!(link.status, LinkStatus::Active);
    let me = app.slash(&alice, "me", &[]).await;
    assert!(
        me.content
            .contains("**Access granted:** read and write (confirmed by a write"),
        "{}",
        me.content
    );
    assert_eq!(
        app.fake
            .questions()
            .iter()
            .filter(|q| q.title == title)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_refused_privilege_is_not_mistaken_for_a_read_only_application() {
    let app = TestApp::start().await;
    let sam = TestApp::member(222, "sam");
    app.link(&sam).await; // links as JANE (the fake's auto-approver)
                          // Jane votes on her own question: the site refuses with a reason.
    let own = app.fake.add_question(
        JANE,
        "A question of Jane's own about Rust",
        &"b".repeat(40),
        &["rust"],
    );
    let r = app
        .press(
            &sam,
            &Id::VoteQuestion {
                question: own,
                vote: Vote::Up,
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("own post"), "{r:?}");
    let link = app.store.get_link(222).await.unwrap().unwrap();
    assert_eq!(
        link.status,
        LinkStatus::Active,
        "a privilege refusal is not a write refusal"
    );
}

// ----- interrupted writes

async fn posting_draft(app: &TestApp, user: u64, id: &str, content: DraftContent) -> Draft {
    let now = app.clock_now();
    let draft = Draft {
        id: id.into(),
        discord_user: user,
        guild_id: Some(1),
        channel_id: Some(10),
        team: None,
        content,
        // Begun by an earlier process: before this one started.
        state: DraftState::Posting {
            since: now - Duration::minutes(1),
        },
        post_after_link: false,
        source_message: None,
        proposal: None,
        thread_parent: None,
        created_at: now - Duration::minutes(2),
        expires_at: now + Duration::hours(24),
    };
    app.store.put_draft(&draft).await.unwrap();
    draft
}

#[tokio::test]
async fn a_post_an_earlier_process_left_posting_is_found_on_the_site_not_posted_again() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let title = "How do I recover a post after a crash?";
    let body = "The process died after the POST and before it wrote the outcome down.";
    posting_draft(
        &app,
        111,
        "d-crash-1",
        DraftContent::Ask {
            title: title.into(),
            body: body.into(),
            tags: vec!["rust".into()],
        },
    )
    .await;
    // The POST had reached the site.
    let id = app.fake.add_question(JANE, title, body, &["rust"]);
    let r = app
        .press(
            &alice,
            &Id::PostDraft {
                draft: "d-crash-1".into(),
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("had reached the site"), "{r:?}");
    assert!(r.content.contains(&format!("/questions/{id}/")), "{r:?}");
    assert_eq!(
        app.fake
            .questions()
            .iter()
            .filter(|q| q.title == title)
            .count(),
        1,
        "no second copy"
    );
    assert!(!app.fake.requests().iter().any(|r| r.is_api_write()));
    let d = app
        .store
        .get_draft(111, "d-crash-1")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(d.state, DraftState::Posted { ref url, .. } if url.contains(&id.to_string())));
}

#[tokio::test]
async fn the_look_up_a_retry_triggers_is_charged_to_the_members_share() {
    // Every service-token call made for a member takes from their share (issue 8): the look
    // on the site before a Retry too, or a member could spend the commons by pressing it.
    let app = TestApp::builder()
        .limits(soe_bot::config::LimitsConfig {
            member_share_per_minute: 2,
            ..Default::default()
        })
        .start()
        .await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let title = "How do I recover a post after a crash, with my share spent?";
    let body = "The process died after the POST and before it wrote the outcome down.";
    posting_draft(
        &app,
        111,
        "d-crash-share",
        DraftContent::Ask {
            title: title.into(),
            body: body.into(),
            tags: vec!["rust".into()],
        },
    )
    .await;
    let id = app.fake.add_question(JANE, title, body, &["rust"]);
    // A question view costs two calls: the whole share of 2 a minute.
    app.slash(&alice, "question", &[("id", &Q_UNANSWERED.to_string())])
        .await;
    let reads_before = app.fake.requests().len();
    let press = Id::PostDraft {
        draft: "d-crash-share".into(),
    }
    .encode();
    let r = app.press(&alice, &press).await;
    assert!(
        r.content.contains("cannot check the site right now"),
        "the spent share refuses the look-up: {r:?}"
    );
    assert_eq!(
        app.fake.requests().len(),
        reads_before,
        "no call was made for the member past their share"
    );
    let d = app
        .store
        .get_draft(111, "d-crash-share")
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(d.state, DraftState::Posting { .. }),
        "kept as it was"
    );
    // A minute later the share is back: the look-up finds the post, and nothing is posted.
    app.clock.advance(Duration::seconds(61));
    let r = app.press(&alice, &press).await;
    assert!(r.content.contains(&format!("/questions/{id}/")), "{r:?}");
    assert!(!app.fake.requests().iter().any(|r| r.is_api_write()));
}

#[tokio::test]
async fn an_interrupted_answer_is_matched_by_its_body() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let body = "Pass an AbortController's signal to fetch and call abort() on timeout.";
    // Someone else's answer with another body, then Jane's.
    app.fake.add_answer(
        Q_UNANSWERED,
        SAM,
        "A different answer that does not match at all.",
    );
    let aid = app.fake.add_answer(Q_UNANSWERED, JANE, body);
    posting_draft(
        &app,
        111,
        "d-crash-2",
        DraftContent::Answer {
            question_id: Q_UNANSWERED,
            body: body.into(),
        },
    )
    .await;
    let r = app
        .press(
            &alice,
            &Id::PostDraft {
                draft: "d-crash-2".into(),
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("had reached the site"), "{r:?}");
    assert!(r.content.contains(&aid.to_string()), "{r:?}");
    assert_eq!(app.fake.answers(Q_UNANSWERED).len(), 2, "no second copy");
}

#[tokio::test]
async fn an_interrupted_post_the_site_does_not_have_is_offered_again_and_posted_once() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    // The same title by someone else is not the member's post.
    let taken = "What happens when the POST never left the bot?";
    app.fake
        .add_question(SAM, taken, &"s".repeat(40), &["rust"]);
    posting_draft(
        &app,
        111,
        "d-crash-3",
        DraftContent::Ask {
            title: taken.into(),
            body: "It died before sending anything, so the site never saw it.".into(),
            tags: vec!["rust".into()],
        },
    )
    .await;
    let r = app
        .press(
            &alice,
            &Id::PostDraft {
                draft: "d-crash-3".into(),
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("it is not on the site"), "{r:?}");
    TestApp::button(&r, "Retry");
    let d = app
        .store
        .get_draft(111, "d-crash-3")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(d.state, DraftState::Saved { .. }));

    // A post that never left: offered again, and Retry posts it exactly once.
    let title = "Does Retry after a crash post exactly one copy?";
    posting_draft(
        &app,
        111,
        "d-crash-5",
        DraftContent::Ask {
            title: title.into(),
            body: "The bot died before its POST left, so the site has nothing yet.".into(),
            tags: vec!["rust".into()],
        },
    )
    .await;
    let r = app
        .press(
            &alice,
            &Id::PostDraft {
                draft: "d-crash-5".into(),
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("it is not on the site"), "{r:?}");
    assert!(
        !app.fake.requests().iter().any(|r| r.is_api_write()),
        "looked, did not post"
    );
    let posted = app.press(&alice, &TestApp::button(&r, "Retry")).await;
    assert!(posted.content.contains("Posted as"), "{posted:?}");
    assert_eq!(
        app.fake
            .questions()
            .iter()
            .filter(|q| q.title == title)
            .count(),
        1
    );
}

#[tokio::test]
async fn an_interrupted_post_is_left_alone_while_the_site_cannot_be_asked() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    posting_draft(
        &app,
        111,
        "d-crash-4",
        DraftContent::Ask {
            title: "Is it safe to retry while the site is down?".into(),
            body: "No: the bot cannot know whether the first attempt landed.".into(),
            tags: vec!["rust".into()],
        },
    )
    .await;
    app.fake.push_fault(soe_bot::fake_soe::Fault::on(
        "GET",
        "/questions",
        soe_bot::fake_soe::FaultKind::Status(503),
    ));
    let r = app
        .press(
            &alice,
            &Id::PostDraft {
                draft: "d-crash-4".into(),
            }
            .encode(),
        )
        .await;
    assert!(
        r.content.contains("cannot check the site right now"),
        "{r:?}"
    );
    assert!(r.buttons().is_empty(), "no Retry while unknown: {r:?}");
    let d = app
        .store
        .get_draft(111, "d-crash-4")
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(d.state, DraftState::Posting { .. }),
        "kept as it is"
    );
}

#[tokio::test]
async fn a_vote_an_earlier_process_left_claimed_is_read_from_the_site() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let q = app.fake.add_question(
        SAM,
        "A question of Sam's to be upvoted once",
        &"s".repeat(40),
        &["rust"],
    );
    let key = format!("vq:111:{q}:Up");
    // The earlier process claimed the vote, and the site recorded it.
    assert_eq!(
        app.store
            .claim_write(&key, app.clock_now() - Duration::minutes(1))
            .await
            .unwrap(),
        WriteClaim::Claimed
    );
    let jane = app.fake.mint_token(JANE, &["write_access"]);
    let voted = app
        .http
        .post(format!("{}/questions/{q}/upvote", app.fake.api_base()))
        .bearer_auth(jane)
        .send()
        .await
        .unwrap();
    assert_eq!(voted.status(), 200);
    app.fake.clear_requests();
    let r = app
        .press(
            &alice,
            &Id::VoteQuestion {
                question: q,
                vote: Vote::Up,
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        )
        .await;
    assert!(r.content.starts_with("Already done: You upvoted"), "{r:?}");
    assert_eq!(app.fake.question(q).unwrap().score, 1, "voted once");
    assert!(!app.fake.requests().iter().any(|r| r.is_api_write()));
}

#[tokio::test]
async fn a_vote_an_earlier_process_claimed_but_never_sent_is_sent_now() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let q = app.fake.add_question(
        SAM,
        "Another question of Sam's to be upvoted",
        &"s".repeat(40),
        &["rust"],
    );
    let key = format!("vq:111:{q}:Up");
    app.store
        .claim_write(&key, app.clock_now() - Duration::minutes(1))
        .await
        .unwrap();
    let r = app
        .press(
            &alice,
            &Id::VoteQuestion {
                question: q,
                vote: Vote::Up,
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        )
        .await;
    assert!(r.content.starts_with("You upvoted"), "{r:?}");
    assert_eq!(app.fake.question(q).unwrap().score, 1);
}

#[tokio::test]
async fn an_accept_an_earlier_process_left_claimed_is_read_from_the_site() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let q = app.fake.add_question(
        JANE,
        "A question of Jane's whose answer she accepts once",
        &"j".repeat(40),
        &["rust"],
    );
    let a = app
        .fake
        .add_answer(q, SAM, "Sam's answer, which Jane accepts exactly once.");
    app.store
        .claim_write(
            &format!("ac:111:{q}:{a}"),
            app.clock_now() - Duration::minutes(1),
        )
        .await
        .unwrap();
    // The earlier process's accept had reached the site.
    let jane = app.fake.mint_token(JANE, &["write_access"]);
    let accepted = app
        .http
        .post(format!(
            "{}/questions/{q}/answers/{a}/accept",
            app.fake.api_base()
        ))
        .bearer_auth(jane)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    app.fake.clear_requests();
    let r = app
        .press(
            &alice,
            &Id::Accept {
                question: q,
                answer: a,
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        )
        .await;
    assert!(
        r.content.starts_with("Already done: You accepted answer"),
        "{r:?}"
    );
    assert!(!app.fake.requests().iter().any(|r| r.is_api_write()));
}

//! Every request the client makes and every response of the fake site it parses, validated
//! against the project's contract schemas (`tests/contract/soe-api-v3.contract.json`), for the
//! whole API subset, on the main site and a private team. Then the same for the traffic of a
//! full member session through the use cases.

#[path = "support/contract.rs"]
mod contract;
mod support;

use std::sync::Arc;

use contract::Contract;
use secrecy::SecretString;
use soe_bot::clock::FixedClock;
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, JANE, Q_ACCEPTED, Q_ASYNC, SAM, TEAM};
use soe_bot::soe::*;
use support::test_app::TestApp;

#[tokio::test]
async fn every_client_call_and_fake_response_matches_the_contract() {
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::epoch()));
    cfg.application = AppStatus::ReadWrite;
    let fake = FakeSoe::start(cfg).await.unwrap();
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let service = ServiceToken::new(SecretString::from(fake.service_token()));
    let team = TeamSlug::parse(TEAM).unwrap();
    fake.add_article(None, JANE, "Service template", "Start here.", &["rust"]);
    fake.add_article(
        Some(TEAM),
        JANE,
        "Team namespaces",
        "Ask here.",
        &["kubernetes"],
    );
    // Jane watches `rust`; `rust`'s experts are Jane and a group with Sam (the feature stays
    // off until the main-site pass turns it on, after seeing the 422).
    fake.watch_tag(JANE, "rust");
    let group = fake.add_user_group("Contract probes", &[SAM]);
    {
        let svc = soe.reader(&service, None);
        let rust = svc
            .list_tags(Some("rust"), 1, PageSize::Fifteen, TagSort::Name)
            .await
            .unwrap();
        let rust = rust.items.iter().find(|t| t.name == "rust").unwrap().id;
        assert!(matches!(
            svc.tag_experts(rust).await,
            Err(Error::Validation { .. })
        ));
        fake.add_experts("rust", &[JANE], &[group]);
    }
    for team in [None, Some(&team)] {
        let svc = soe.reader(&service, team);
        let jane = soe.writer(
            UserToken::new(SecretString::from(
                fake.mint_token(JANE, &["write_access", &fake.team_scope(TEAM)]),
            )),
            team,
        );
        let sam = soe.writer(
            UserToken::new(SecretString::from(
                fake.mint_token(SAM, &["write_access", &fake.team_scope(TEAM)]),
            )),
            team,
        );
        let listed = svc
            .list_questions(&QuestionQuery {
                page: 1,
                page_size: PageSize::Fifty,
                sort: Some(QuestionSort::Creation),
                order: Some(Order::Asc),
                tag_ids: vec![1, 2],
                is_answered: Some(true),
                has_accepted_answer: Some(false),
                author_id: Some(SAM),
                from: Some(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
                to: Some(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
            })
            .await
            .unwrap();
        let _ = listed;
        let all = svc
            .list_questions(&QuestionQuery {
                page: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        let qid = all.items.first().map(|q| q.id).unwrap_or(Q_ASYNC);
        svc.get_question(qid).await.unwrap();
        let articles = svc
            .list_articles(1, PageSize::Hundred, ArticleSort::Creation, Order::Desc)
            .await
            .unwrap();
        assert!(!articles.items.is_empty(), "the seed has articles");
        let answers = svc
            .list_answers(qid, 1, PageSize::Fifteen, AnswerSort::Creation)
            .await
            .unwrap();
        if let Some(a) = answers.items.first() {
            svc.get_answer(qid, a.id).await.unwrap();
            svc.answer_comments(qid, a.id).await.unwrap();
        }
        svc.question_comments(qid).await.unwrap();
        svc.search("async", 1, PageSize::Thirty, SearchSort::Newest)
            .await
            .unwrap();
        svc.search("tokio", 2, PageSize::Fifteen, SearchSort::Score)
            .await
            .unwrap();
        let tags = svc
            .list_tags(Some("r"), 1, PageSize::Fifteen, TagSort::Name)
            .await
            .unwrap();
        if let Some(t) = tags.items.first() {
            svc.get_tag(t.id).await.unwrap();
        }
        svc.me().await.unwrap();
        svc.get_user(JANE).await.unwrap();
        // Personal alerts and expert routing: a user's watched tags (the document's single
        // tag summary, then none), a tag's experts (422 while the feature is off, then users
        // and a group with its members).
        let watched = svc.watched_tags(JANE).await.unwrap();
        let none = svc.watched_tags(SAM).await.unwrap();
        assert!(none.0.is_empty(), "{none:?}");
        let rust = svc
            .list_tags(Some("rust"), 1, PageSize::Fifteen, TagSort::Name)
            .await
            .unwrap();
        if let Some(t) = rust.items.iter().find(|t| t.name == "rust") {
            let e = svc.tag_experts(t.id).await.unwrap();
            if team.is_none() {
                assert_eq!(watched.0.len(), 1, "{watched:?}");
                assert!(e.users.iter().any(|u| u.id == Some(JANE)), "{e:?}");
                assert_eq!(e.user_groups.len(), 1, "{e:?}");
                assert_eq!(e.user_ids(), vec![JANE, SAM], "{e:?}");
            }
        }
        // Writes: ask as Jane, edit, answer as Sam, vote and accept.
        let q = jane
            .create_question(&NewQuestion {
                title: format!("Contract probe question for team {team:?}"),
                body: "A body for the contract probe, long enough to pass.".into(),
                tags: vec!["rust".into(), "contract-probe".into()],
            })
            .await
            .unwrap();
        jane.update_question(
            q.id,
            &NewQuestion {
                title: q.title.clone(),
                body: "An edited body that is still long enough.".into(),
                tags: vec!["rust".into()],
            },
        )
        .await
        .unwrap();
        let a = sam
            .create_answer(
                q.id,
                &NewAnswer {
                    body: "An answer body for the contract probe, long enough.".into(),
                },
            )
            .await
            .unwrap();
        for v in [Vote::Up, Vote::UndoUp, Vote::Down, Vote::UndoDown] {
            sam.vote_question(q.id, v).await.unwrap();
            jane.vote_answer(q.id, a.id, v).await.unwrap();
        }
        jane.accept_answer(q.id, a.id).await.unwrap();
        jane.unaccept_answer(q.id, a.id).await.unwrap();
        // Declared error responses.
        assert!(svc.get_question(987_654).await.is_err());
        assert!(jane.accept_answer(Q_ACCEPTED, 1).await.is_err());
        assert!(jane
            .create_question(&NewQuestion {
                title: "short".into(),
                body: "x".into(),
                tags: vec![]
            })
            .await
            .is_err());
    }
    let log = fake.requests();
    assert!(log.len() >= 40, "exercised {} calls", log.len());
    let routes: std::collections::BTreeSet<_> = log
        .iter()
        .filter(|r| r.is_api())
        .map(|r| format!("{} {}", r.method, r.route))
        .collect();
    for op in Contract::soe().operation_keys() {
        assert!(routes.contains(op), "the client never exercised {op}");
    }
    let checked = Contract::soe()
        .check_log(&log)
        .unwrap_or_else(|errs| panic!("contract violations:\n{}", errs.join("\n")));
    assert!(checked >= 40);
}

#[tokio::test]
async fn a_member_session_through_the_use_cases_matches_the_contract() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.slash(&alice, "search", &[("query", "async")]).await;
    app.slash(&alice, "question", &[("id", &Q_ASYNC.to_string())])
        .await;
    let r = app.slash(&alice, "ask", &[]).await;
    let soe_bot::commands::ReplyKind::Modal(m) = r.kind else {
        panic!()
    };
    let r = app
        .submit(
            &alice,
            &m.id,
            &[
                ("title", "A contract-checked question about widgets"),
                (
                    "body",
                    "Body text that is comfortably over thirty characters.",
                ),
                ("tags", "widgets"),
            ],
        )
        .await;
    assert!(r.content.contains("Posted as"), "{r:?}");
    app.app.commands.refresh_tags().await.unwrap();
    let log = app.fake.requests();
    let n = Contract::soe()
        .check_log(&log)
        .unwrap_or_else(|errs| panic!("contract violations:\n{}", errs.join("\n")));
    assert!(n >= 6, "{n}");
    let token_responses = log
        .iter()
        .filter(|r| r.path == "/oauth/access_token/json" && r.status == 200)
        .count();
    assert_eq!(
        token_responses, 1,
        "the OAuth token response was checked too"
    );
}

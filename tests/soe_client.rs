//! The SOE client against the fake site over real loopback HTTP: text decoding round trip,
//! errors by meaning from the fake's real responses, retries, throttling.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use soe_bot::clock::FixedClock;
use soe_bot::fake_soe::{AppStatus, FakeSoe, FakeSoeConfig, Fault, FaultKind, JANE, Q_ASYNC, SAM};
use soe_bot::soe::{
    AnswerSort, EncodedFields, Error, HttpSoe, NewAnswer, NewQuestion, PageSize, QuestionQuery,
    SearchItem, SearchSort, ServiceToken, SoeClientConfig, SoeRead, SoeWrite, UserToken, Vote,
};

async fn site(configure: impl FnOnce(&mut FakeSoeConfig)) -> FakeSoe {
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::epoch()));
    // These tests write; a read-only application is tested on its own.
    cfg.application = AppStatus::ReadWrite;
    configure(&mut cfg);
    FakeSoe::start(cfg).await.expect("fake site")
}

fn client(fake: &FakeSoe) -> Arc<HttpSoe> {
    let mut c = SoeClientConfig::new(fake.site_url());
    c.retry_min_delay = Duration::from_millis(5);
    c.retry_max_delay = Duration::from_millis(20);
    c.request_timeout = Duration::from_secs(2);
    HttpSoe::new(c).expect("client")
}

fn user(fake: &FakeSoe, id: i64) -> UserToken {
    UserToken::new(SecretString::from(fake.mint_token(id, &["write_access"])))
}

fn service(fake: &FakeSoe) -> ServiceToken {
    ServiceToken::new(SecretString::from(fake.service_token()))
}

#[tokio::test]
async fn entity_title_survives_read_edit_write_read() {
    let fake = site(|_| {}).await;
    let soe = client(&fake);
    let jane = soe.writer(user(&fake, JANE), None);
    let plain = "Tom & Jerry's \"cat\" in <tags>";
    let id = fake.add_question(
        JANE,
        plain,
        "A body that is long enough to be valid, with & and <b>.",
        &["rust"],
    );
    // As served, the text is encoded (vendor quirk) …
    fake.clear_requests();
    let q = jane.get_question(id).await.expect("read");
    let served = fake
        .requests()
        .last()
        .and_then(|r| r.response.clone())
        .expect("logged JSON");
    assert!(
        served["title"].as_str().unwrap().contains("&amp;"),
        "the fake encodes: {served}"
    );
    // … and the client decodes it exactly once.
    assert_eq!(q.title, plain);
    let md = q
        .body_markdown
        .clone()
        .expect("bodyMarkdown on a single question");
    assert!(md.contains("& and <b>"), "{md}");
    // Edit the body, write the title back unchanged.
    let edited = NewQuestion {
        title: q.title.clone(),
        body: format!("{md} Edited."),
        tags: q.tag_names().iter().map(|s| s.to_string()).collect(),
    };
    jane.update_question(id, &edited).await.expect("write");
    assert_eq!(
        fake.question(id).expect("stored").title,
        plain,
        "stored verbatim, not double-encoded"
    );
    let again = jane.get_question(id).await.expect("read again");
    assert_eq!(again.title, plain);
    assert_eq!(
        again.body_markdown.as_deref(),
        Some(format!("{md} Edited.").as_str())
    );
}

#[tokio::test]
async fn a_literal_ampersand_entity_is_not_over_decoded() {
    let fake = site(|_| {}).await;
    let soe = client(&fake);
    let title = "Why does &amp; show up literally in my HTML?";
    let id = fake.add_question(
        JANE,
        title,
        "Some body text that is definitely thirty chars.",
        &["html"],
    );
    let q = soe
        .reader(&service(&fake), None)
        .get_question(id)
        .await
        .expect("read");
    assert_eq!(q.title, title, "decoded once, not until stable");
}

#[tokio::test]
async fn a_literal_entity_in_a_title_survives_on_a_site_that_does_not_encode_titles() {
    // The guide names only body and body_markdown as encoded; this site leaves titles, names
    // and snippets as written.
    let fake = site(|c| c.encoded_fields = EncodedFields::guide_only()).await;
    let title = "How do I escape &amp; itself in an XML attribute?";
    let body = "Writing `a & b` into <attr> with quotes \"q\" and &amp; as text.";
    let id = fake.add_question(JANE, title, body, &["xml"]);
    // A client configured like the site: decodes only the guide's fields.
    let mut cfg = SoeClientConfig::new(fake.site_url());
    cfg.encoded_fields = EncodedFields::guide_only();
    let soe = HttpSoe::new(cfg).expect("client");
    let svc = soe.reader(&service(&fake), None);
    let q = svc.get_question(id).await.expect("read");
    assert_eq!(q.title, title, "the literal &amp; in the title survives");
    assert_eq!(
        q.body_markdown.as_deref(),
        Some(body),
        "bodyMarkdown decoded once"
    );
    let hits = svc
        .search("xml attribute", 1, PageSize::Fifteen, SearchSort::Relevance)
        .await
        .expect("search");
    let hit = hits
        .items
        .iter()
        .find_map(|i| match i {
            SearchItem::Question(h) if h.question_id == id => Some(h),
            _ => None,
        })
        .expect("found");
    assert_eq!(hit.common.title, title);
    // The default client assumes titles are encoded, which on this site would eat the
    // literal entity: that is why the set is a setting.
    let assuming = client(&fake).reader(&service(&fake), None);
    assert_eq!(
        assuming.get_question(id).await.expect("read").title,
        "How do I escape & itself in an XML attribute?"
    );
}

#[tokio::test]
async fn error_classes_map_from_the_fakes_real_responses() {
    let fake = site(|_| {}).await;
    let soe = client(&fake);
    let svc = soe.reader(&service(&fake), None);
    let jane = soe.writer(user(&fake, JANE), None);

    // 404
    assert!(matches!(
        svc.get_question(999_999).await,
        Err(Error::NotFound { .. })
    ));
    // 401 (text/plain from the fake)
    let revoked = fake.mint_token(JANE, &["write_access"]);
    fake.revoke_token(&revoked);
    let bad = soe.writer(UserToken::new(SecretString::from(revoked)), None);
    assert_eq!(bad.me().await.unwrap_err(), Error::Unauthorized);
    // 403: a read-only token cannot write
    let read_only = soe.writer(
        UserToken::new(SecretString::from(fake.mint_token(SAM, &[]))),
        None,
    );
    let q = NewQuestion {
        title: "A perfectly fine question title".into(),
        body: "x".repeat(40),
        tags: vec!["rust".into()],
    };
    assert!(matches!(
        read_only.create_question(&q).await,
        Err(Error::Forbidden { .. })
    ));
    // 400 with per-field messages
    let short = NewQuestion {
        title: "too short".into(),
        body: "x".repeat(40),
        tags: vec!["rust".into()],
    };
    match jane.create_question(&short).await {
        Err(Error::Validation { errors }) => {
            assert_eq!(errors[0].field.as_deref(), Some("title"), "{errors:?}")
        }
        other => panic!("expected validation, got {other:?}"),
    }
    // 429
    fake.push_fault(
        Fault::on(
            "GET",
            "/users/me",
            FaultKind::RateLimited {
                retry_after_secs: 42,
            },
        )
        .times(1),
    );
    match jane.me().await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(42)),
        other => panic!("expected rate limited, got {other:?}"),
    }
    // 5xx (persisting, so retries also fail)
    fake.push_fault(Fault::on("GET", "/tags/{tagId}", FaultKind::Status(503)));
    assert_eq!(
        svc.get_tag(1).await.unwrap_err(),
        Error::Unavailable { status: 503 }
    );
    fake.clear_faults();
    // malformed JSON
    fake.push_fault(Fault::on(
        "GET",
        "/users/{userId}",
        FaultKind::MalformedJson,
    ));
    assert!(matches!(
        svc.get_user(JANE).await,
        Err(Error::Unexpected(_))
    ));
    fake.clear_faults();
    // timeout (client total timeout 2 s, fake delays 5 s)
    fake.push_fault(Fault::on(
        "GET",
        "/questions/{questionId}/comments",
        FaultKind::Delay(Duration::from_secs(5)),
    ));
    assert_eq!(
        svc.question_comments(Q_ASYNC).await.unwrap_err(),
        Error::Timeout
    );
    fake.clear_faults();
    // transport: nothing listens
    let mut dead = SoeClientConfig::new(url::Url::parse("http://127.0.0.1:9/").unwrap());
    dead.max_get_retries = 0;
    let dead = HttpSoe::new(dead).unwrap();
    let e = dead.reader(&service(&fake), None).me().await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(
        !e.to_string().contains("127.0.0.1:9"),
        "no URL in errors: {e}"
    );
}

#[tokio::test]
async fn gets_are_retried_and_posts_are_not() {
    let fake = site(|_| {}).await;
    let soe = client(&fake);
    let svc = soe.reader(&service(&fake), None);
    fake.push_fault(Fault::on("GET", "/questions/{questionId}", FaultKind::Status(500)).times(1));
    fake.clear_requests();
    let q = svc
        .get_question(Q_ASYNC)
        .await
        .expect("second attempt succeeds");
    assert_eq!(q.id, Q_ASYNC);
    let gets: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == "/questions/{questionId}")
        .map(|r| r.status)
        .collect();
    assert_eq!(gets, [500, 200]);

    let jane = soe.writer(user(&fake, JANE), None);
    fake.push_fault(Fault::on("POST", "/questions", FaultKind::Status(500)).times(1));
    fake.clear_requests();
    let q = NewQuestion {
        title: "Retries must never double post".into(),
        body: "y".repeat(40),
        tags: vec!["rust".into()],
    };
    assert_eq!(
        jane.create_question(&q).await.unwrap_err(),
        Error::Unavailable { status: 500 }
    );
    let posts = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "a POST is sent once");

    fake.push_fault(
        Fault::on(
            "POST",
            "/questions/{questionId}/upvote",
            FaultKind::Status(503),
        )
        .times(1),
    );
    fake.clear_requests();
    assert!(jane.vote_question(Q_ASYNC, Vote::Up).await.is_err());
    assert_eq!(fake.requests().len(), 1, "votes are not retried either");
}

#[tokio::test]
async fn a_429_pauses_that_token_for_the_advertised_time() {
    let fake = site(|_| {}).await;
    let soe = client(&fake);
    let jane = soe.writer(user(&fake, JANE), None);
    let svc = soe.reader(&service(&fake), None);
    fake.push_fault(
        Fault::on(
            "GET",
            "/users/me",
            FaultKind::RateLimited {
                retry_after_secs: 30,
            },
        )
        .times(1),
    );
    assert!(matches!(jane.me().await, Err(Error::RateLimited { .. })));

    // From here on tokio time is injected.
    tokio::time::pause();
    fake.clear_requests();
    match jane.me().await {
        Err(Error::RateLimited { retry_after }) => {
            assert!(
                retry_after <= Duration::from_secs(30) && retry_after > Duration::from_secs(29),
                "{retry_after:?}"
            )
        }
        other => panic!("expected the token to be paused, got {other:?}"),
    }
    assert!(fake.requests().is_empty(), "a paused token sends nothing");
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(
        matches!(jane.me().await, Err(Error::RateLimited { .. })),
        "still paused after 20 s"
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    tokio::time::resume();
    // Other tokens were never affected; this one works again after 30 s.
    assert!(svc.me().await.is_ok());
    assert!(jane.me().await.is_ok());
}

#[tokio::test]
async fn an_empty_burst_makes_the_client_wait_instead_of_hitting_429() {
    let fake = site(|c| {
        c.throttle.burst_calls = 3;
        c.throttle.burst_window = Duration::from_secs(1);
    })
    .await;
    let soe = client(&fake);
    let svc = soe.reader(&service(&fake), None);
    for _ in 0..7 {
        svc.get_tag(1).await.expect("never refused");
    }
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn reads_and_writes_cover_the_api_subset() {
    let fake = site(|_| {}).await;
    let soe = client(&fake);
    let svc = soe.reader(&service(&fake), None);
    let jane = soe.writer(user(&fake, JANE), None);
    let sam = soe.writer(user(&fake, SAM), None);

    // Reads: every list must have something in it, so "all items satisfy …" means something.
    let page = svc
        .search("async", 1, PageSize::Fifteen, SearchSort::Relevance)
        .await
        .expect("search");
    assert!(page.total_count > 0 && !page.items.is_empty());
    let qs = svc
        .list_questions(&QuestionQuery {
            page: 1,
            page_size: PageSize::Thirty,
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(!qs.items.is_empty(), "the seeded site has questions");
    assert!(
        qs.items.iter().all(|q| q.body_markdown.is_none()),
        "list items carry no bodyMarkdown"
    );
    let tags = svc
        .list_tags(
            Some("ru"),
            1,
            PageSize::Fifteen,
            soe_bot::soe::TagSort::PostCount,
        )
        .await
        .expect("tags");
    assert!(!tags.items.is_empty(), "`ru` matches the seeded `rust`");
    assert!(tags.items.iter().all(|t| t.name.contains("ru")));
    let tag = svc.get_tag(tags.items[0].id).await.expect("tag");
    assert_eq!(tag.name, tags.items[0].name);
    let me = svc.me().await.expect("me");
    assert_eq!(me.id, Some(soe_bot::fake_soe::SERVICE));
    assert_eq!(svc.get_user(JANE).await.expect("user").id, Some(JANE));
    let answers = svc
        .list_answers(Q_ASYNC, 1, PageSize::Fifteen, AnswerSort::Score)
        .await
        .expect("answers");
    assert!(!answers.items.is_empty(), "the seeded question has answers");
    let first = &answers.items[0];
    let one = svc.get_answer(Q_ASYNC, first.id).await.expect("answer");
    assert!(
        one.body_markdown.is_some(),
        "a single answer has bodyMarkdown"
    );
    let comments = svc.question_comments(Q_ASYNC).await.expect("comments");
    assert!(!comments.is_empty(), "the seeded question has comments");
    assert_eq!(
        comments.len(),
        fake.comments(Q_ASYNC).len(),
        "every comment the site holds"
    );
    let answer_comments = svc
        .answer_comments(Q_ASYNC, first.id)
        .await
        .expect("answer comments");
    assert!(
        !answer_comments.is_empty(),
        "both seeded answers of the question have a comment"
    );
    assert_eq!(answer_comments.len(), fake.comments(first.id).len());

    // Writes, each checked on the site.
    let asked = jane
        .create_question(&NewQuestion {
            title: "How do I cover every write of the client?".into(),
            body: "A body long enough for the site's thirty-character rule.".into(),
            tags: vec!["rust".into()],
        })
        .await
        .expect("ask");
    assert_eq!(fake.question(asked.id).expect("on the site").owner_id, JANE);
    let edited = jane
        .update_question(
            asked.id,
            &NewQuestion {
                title: asked.title.clone(),
                body: "An edited body, still long enough for the rule.".into(),
                tags: vec!["rust".into(), "testing".into()],
            },
        )
        .await
        .expect("edit");
    assert_eq!(edited.tag_names(), ["rust", "testing"]);
    let answered = sam
        .create_answer(
            asked.id,
            &NewAnswer {
                body: "Call each write once and look at the site afterwards.".into(),
            },
        )
        .await
        .expect("answer");
    assert_eq!(fake.answers(asked.id).len(), 1);
    let up = sam.vote_question(asked.id, Vote::Up).await.expect("upvote");
    assert_eq!(up.score, 1);
    assert_eq!(up.user_has_upvoted, Some(true));
    let down = sam
        .vote_question(asked.id, Vote::Down)
        .await
        .expect("downvote");
    assert_eq!(down.score, -1, "a downvote replaces the upvote");
    let undone = sam
        .vote_question(asked.id, Vote::UndoDown)
        .await
        .expect("undo");
    assert_eq!(undone.score, 0);
    let a_up = jane
        .vote_answer(asked.id, answered.id, Vote::Up)
        .await
        .expect("answer upvote");
    assert_eq!(a_up.score, 1);
    let a_undone = jane
        .vote_answer(asked.id, answered.id, Vote::UndoUp)
        .await
        .expect("answer undo");
    assert_eq!(a_undone.score, 0);
    let accepted = jane
        .accept_answer(asked.id, answered.id)
        .await
        .expect("accept");
    assert!(accepted.is_accepted);
    assert!(fake.answers(asked.id)[0].is_accepted);
    let unaccepted = jane
        .unaccept_answer(asked.id, answered.id)
        .await
        .expect("unaccept");
    assert!(!unaccepted.is_accepted);
    let writes = fake.requests().iter().filter(|r| r.is_api_write()).count();
    assert_eq!(writes, 10, "each write reached the site exactly once");
}

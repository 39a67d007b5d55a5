//! Use-case tests: every command and button against the fake site and a temporary store.

mod support;

use soe_bot::commands::ids::Id;
use soe_bot::commands::{Action, OptionValue, Reply, ReplyKind};
use soe_bot::fake_soe::{Fault, FaultKind, JANE, Q_ACCEPTED, Q_ASYNC, SAM};
use soe_bot::soe::Vote;
use soe_bot::store::Store;
use support::test_app::TestApp;

/// The reply as JSON with the random parts (ports, draft ids, tickets) replaced, for snapshots.
fn normalized(app: &TestApp, reply: &Reply) -> serde_json::Value {
    let mut text = serde_json::to_string(reply).unwrap();
    text = text.replace(
        app.fake.site_url().as_str().trim_end_matches('/'),
        "http://SOE",
    );
    text = text.replace(app.web.as_str().trim_end_matches('/'), "http://BOT");
    fn re_draft(s: &str) -> String {
        const MARKERS: [&str; 9] = [
            "so:sr:",
            "so:sh:",
            "so:pk:",
            "so:dp:",
            "so:de:",
            "so:dx:",
            "so:m:ask:",
            "so:m:paa:",
            "ticket=",
        ];
        let mut out = String::new();
        let mut rest = s;
        while let Some((start, len)) = MARKERS
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
            .min()
        {
            out.push_str(&rest[..start + len]);
            let mut tail = &rest[start + len..];
            // A search button's page number comes before its handle.
            if let Some((page, after)) = tail.split_once(':') {
                if !page.is_empty() && page.chars().all(|c| c.is_ascii_digit()) {
                    out.push_str(page);
                    out.push(':');
                    tail = after;
                }
            }
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(tail.len());
            out.push_str("<random>");
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    }
    text = re_draft(&text);
    // Error references are random too.
    while let Some(i) = text.find("(ref ") {
        let end = i + 5 + text[i + 5..].find(')').unwrap_or(0);
        if text[i + 5..end].chars().all(|c| c.is_ascii_hexdigit()) && end > i + 5 {
            text.replace_range(i + 5..end, "<ref>");
        } else {
            break;
        }
    }
    serde_json::from_str(&text).unwrap()
}

fn all_text(r: &Reply) -> String {
    let mut s = r.content.clone();
    for e in &r.embeds {
        s.push_str(&e.title);
        s.push_str(&e.description);
        for f in &e.fields {
            s.push_str(&f.value);
        }
        if let Some(f) = &e.footer {
            s.push_str(f);
        }
    }
    s
}

#[tokio::test]
async fn search_is_private_pages_and_shares() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let r = app.slash(&alice, "search", &[("query", "async")]).await;
    assert!(r.ephemeral);
    assert_eq!(r.kind, ReplyKind::Message);
    assert!(all_text(&r).contains("Search: async"), "{r:#?}");
    insta::assert_json_snapshot!("search_first_page", normalized(&app, &r));
    let share = TestApp::button(&r, "Share to channel");
    let shared = app.press(&alice, &share).await;
    assert!(!shared.ephemeral, "shared publicly");
    assert!(shared.rows.is_empty(), "no controls on the shared copy");
    assert!(all_text(&shared).contains("Shared by alice"));
    let q = app.choose(&alice, &r, "1.").await;
    assert!(!q.embeds.is_empty() && q.ephemeral);
}

#[tokio::test]
async fn search_pages_with_prev_and_next() {
    let app = TestApp::start().await;
    for i in 0..7 {
        app.fake.add_question(
            JANE,
            &format!("Paging probe question number {i} about widgets"),
            "A body that mentions widgets and is long enough.",
            &["widgets"],
        );
    }
    let alice = TestApp::member(111, "alice");
    let r = app.slash(&alice, "search", &[("query", "widgets")]).await;
    let footer = r.embeds[0].footer.clone().unwrap();
    assert!(footer.starts_with("Page 1 of 2"), "{footer}");
    let next = TestApp::button(&r, "Next");
    app.fake.clear_requests();
    let p2 = app.press(&alice, &next).await;
    assert_eq!(p2.kind, ReplyKind::Update, "paging edits the same message");
    assert!(p2.embeds[0]
        .footer
        .as_deref()
        .unwrap()
        .starts_with("Page 2 of 2"));
    assert!(
        app.fake.requests().is_empty(),
        "page 2 comes from the cached API page"
    );
    let prev = TestApp::button(&p2, "Prev");
    let p1 = app.press(&alice, &prev).await;
    assert!(p1.embeds[0]
        .footer
        .as_deref()
        .unwrap()
        .starts_with("Page 1 of 2"));
}

#[tokio::test]
async fn repeated_searches_within_a_minute_come_from_cache() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let searches = || {
        app.fake
            .requests()
            .iter()
            .filter(|r| r.route == "/search")
            .count()
    };
    app.slash(&alice, "search", &[("query", "Async")]).await;
    assert_eq!(searches(), 1);
    app.slash(&alice, "search", &[("query", "  async ")]).await;
    assert_eq!(searches(), 1, "served from cache");
    app.clock.advance(chrono::Duration::seconds(61));
    app.slash(&alice, "search", &[("query", "async")]).await;
    assert_eq!(searches(), 2, "expired after 60 s");
}

#[tokio::test]
async fn search_with_no_hits_and_a_tag_filter() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let r = app
        .slash(&alice, "search", &[("query", "zzzxqv nothing")])
        .await;
    assert!(r.content.contains("No results"), "{r:?}");
    let r = app
        .slash(&alice, "search", &[("query", "async"), ("tag", "python")])
        .await;
    for e in &r.embeds {
        assert!(
            !e.description.contains("`tokio`") || e.description.contains("`python`"),
            "{}",
            e.description
        );
    }
}

#[tokio::test]
async fn member_search_rate_limit_is_kept_in_the_store() {
    let limits = soe_bot::config::LimitsConfig {
        searches_burst: 2,
        search_refill_secs: 30,
        ..Default::default()
    };
    let app = TestApp::builder().limits(limits).start().await;
    let alice = TestApp::member(111, "alice");
    let bob = TestApp::member(222, "bob");
    app.slash(&alice, "search", &[("query", "a1")]).await;
    app.slash(&alice, "search", &[("query", "a2")]).await;
    let r = app.slash(&alice, "search", &[("query", "a3")]).await;
    assert!(r.content.contains("try again in 30 s"), "{r:?}");
    let r = app.slash(&bob, "search", &[("query", "a3")]).await;
    assert!(!r.content.contains("try again"), "other members unaffected");
    app.clock.advance(chrono::Duration::seconds(30));
    let r = app.slash(&alice, "search", &[("query", "a4")]).await;
    assert!(!r.content.contains("try again"), "{r:?}");
}

#[tokio::test]
async fn the_global_budget_keeps_the_service_token_inside_soe_limits() {
    let app = TestApp::builder().budget(5, 2.0, 100, 60.0).start().await;
    // Ten members, each viewing another question: no cache and no member share in the way,
    // only the global budget (5 calls per 2 s here).
    let questions = add_probe_questions(&app, 10);
    let members: Vec<_> = (0..10).map(|i| TestApp::member(500 + i, "m")).collect();
    app.fake.clear_requests();
    let (mut shown, mut busy) = (0, 0);
    for (m, q) in members.iter().zip(&questions) {
        let r = app.slash(m, "question", &[("id", &q.to_string())]).await;
        if !r.embeds.is_empty() {
            shown += 1;
        } else if r.content.contains("busy") {
            busy += 1;
        } else {
            panic!("neither shown nor busy: {r:?}");
        }
    }
    let svc = app.fake.service_token();
    let service_calls = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.token.as_deref() == Some(svc.as_str()))
        .count();
    let routes: Vec<_> = app
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.route, r.status))
        .collect();
    assert!(
        (1..=5).contains(&service_calls),
        "the budget was used, and its burst of 5 per 2 s held: {service_calls} {routes:?}"
    );
    assert!(shown >= 1, "views worked until the budget ran out");
    assert!(busy >= 1, "then members were told the site is busy");
    // The budget refills: two seconds later views work again.
    app.clock.advance(chrono::Duration::seconds(2));
    let r = app
        .slash(
            &members[9],
            "question",
            &[("id", &questions[9].to_string())],
        )
        .await;
    assert!(!r.embeds.is_empty(), "{r:?}");
}

#[tokio::test]
async fn question_renders_body_answers_and_buttons() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let r = app
        .slash(&alice, "question", &[("id", &Q_ACCEPTED.to_string())])
        .await;
    assert!(r.ephemeral);
    assert!(r.embeds.len() >= 2, "question + answers");
    assert!(
        r.embeds[1].title.starts_with("✅"),
        "accepted answer first: {:?}",
        r.embeds[1].title
    );
    let body = &r.embeds[0].description;
    assert!(
        !body.contains("&amp;") && !body.contains("<p>"),
        "rendered, decoded: {body}"
    );
    insta::assert_json_snapshot!("question_card", normalized(&app, &r));
    for label in [
        "Upvote",
        "Downvote",
        "Answer",
        "View on site",
        "Share to channel",
    ] {
        assert!(
            r.buttons().iter().any(|b| b.label().contains(label)),
            "{label}"
        );
    }
    let by_url = app
        .slash(
            &alice,
            "question",
            &[(
                "id",
                &format!("{}questions/{}/some-slug", app.fake.site_url(), Q_ACCEPTED),
            )],
        )
        .await;
    assert_eq!(by_url.embeds[0].title, r.embeds[0].title);
    let missing = app.slash(&alice, "question", &[("id", "999999")]).await;
    assert!(
        missing.content.contains("no question 999999"),
        "{missing:?}"
    );
    let bad = app.slash(&alice, "question", &[("id", "banana")]).await;
    assert!(bad.content.contains("not a question id"), "{bad:?}");
}

#[tokio::test]
async fn reads_use_the_service_token_and_writes_the_invokers() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.fake.clear_requests();
    app.slash(&alice, "search", &[("query", "tokio")]).await;
    app.slash(&alice, "question", &[("id", &Q_ASYNC.to_string())])
        .await;
    app.press(
        &alice,
        &Id::VoteQuestion {
            question: Q_ASYNC,
            vote: Vote::Up,
            on: soe_bot::commands::ids::Surface::Card,
        }
        .encode(),
    )
    .await;
    let svc = app.fake.service_token();
    let log = app.fake.requests();
    assert!(log.iter().any(|r| r.is_api_write()), "a write happened");
    for r in log.iter().filter(|r| r.is_api()) {
        if r.is_api_write() {
            assert_eq!(r.user_id, Some(JANE), "{r:?}");
            assert_ne!(r.token.as_deref(), Some(svc.as_str()));
        } else {
            assert_eq!(
                r.token.as_deref(),
                Some(svc.as_str()),
                "reads use the service token: {r:?}"
            );
        }
    }
}

fn ask_fields<'a>(title: &'a str, body: &'a str, tags: &'a str) -> [(&'static str, &'a str); 3] {
    [("title", title), ("body", body), ("tags", tags)]
}

async fn open_ask(app: &TestApp, m: &soe_bot::commands::Member) -> String {
    let r = app.slash(m, "ask", &[]).await;
    match r.kind {
        ReplyKind::Modal(ref modal) => {
            insta::assert_json_snapshot!("ask_modal", normalized(app, &r));
            modal.id.clone()
        }
        _ => panic!("ask opens a modal: {r:?}"),
    }
}

const BODY: &str =
    "I spawn a worker with tokio::spawn and want to stop it cleanly after five seconds.";

#[tokio::test]
async fn validation_boundaries_give_per_field_messages_without_any_call() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let cases: Vec<(String, String, &str, Option<&str>)> = vec![
        ("a".repeat(14), BODY.into(), "rust", Some("Title")),
        ("a".repeat(151), BODY.into(), "rust", Some("Title")),
        ("é".repeat(14), BODY.into(), "rust", Some("Title")),
        ("x".repeat(15), "b".repeat(29), "rust", Some("Body")),
        ("x".repeat(15), BODY.into(), "a,b,c,d,e,f", Some("Tags")),
        ("x".repeat(15), BODY.into(), "bad_tag", Some("Tags")),
        ("x".repeat(15), BODY.into(), "", Some("Tags")),
    ];
    for (title, body, tags, field) in cases {
        app.fake.clear_requests();
        let id = open_ask(&app, &alice).await;
        let r = app
            .submit(&alice, &id, &ask_fields(&title, &body, tags))
            .await;
        let field = field.unwrap();
        assert!(
            r.content.contains(&format!("**{field}**")),
            "{field}: {r:?}"
        );
        assert!(
            TestApp::button(&r, "Edit").starts_with("so:de:"),
            "the text is kept for editing"
        );
        assert!(
            app.fake.requests().is_empty(),
            "no network call for invalid input: {:?}",
            app.fake.requests()
        );
    }
    // The valid boundaries pass validation (15 and 150 characters, multi-byte counted as one).
    for title in ["t".repeat(15), "t".repeat(150), "é".repeat(15)] {
        let id = open_ask(&app, &alice).await;
        let r = app
            .submit(&alice, &id, &ask_fields(&title, BODY, "rust"))
            .await;
        assert!(!r.content.contains("**Title**"), "{title}: {r:?}");
    }
}

#[tokio::test]
async fn the_same_modal_submitted_twice_posts_one_question() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let id = open_ask(&app, &alice).await;
    let fields = ask_fields(
        "How do I stop a zorblax frobnicator cleanly?",
        BODY,
        "rust, tokio",
    );
    let (a, b) = tokio::join!(
        app.submit(&alice, &id, &fields),
        app.submit(&alice, &id, &fields)
    );
    let posts = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.route == "/questions")
        .count();
    assert_eq!(posts, 1, "{a:?}\n{b:?}");
    let n = app
        .fake
        .questions()
        .into_iter()
        .filter(|q| q.title.contains("zorblax"))
        .count();
    assert_eq!(n, 1);
    let texts = format!("{}\n{}", a.content, b.content);
    assert!(texts.contains("Posted as *Jane Doe*"), "{texts}");
    let again = app.submit(&alice, &id, &fields).await;
    assert!(
        again.content.contains("Already posted as *Jane Doe*"),
        "{again:?}"
    );
    let q = app
        .fake
        .questions()
        .into_iter()
        .find(|q| q.title.contains("zorblax"))
        .unwrap();
    assert_eq!(q.owner_id, JANE, "credited to the member");
}

#[tokio::test]
async fn a_500_on_post_keeps_the_draft_and_retry_posts_once() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.fake
        .push_fault(Fault::on("POST", "/questions", FaultKind::Status(500)).times(1));
    let id = open_ask(&app, &alice).await;
    let r = app
        .submit(
            &alice,
            &id,
            &ask_fields("Why does my quuxinator leak file handles?", BODY, "rust"),
        )
        .await;
    assert!(
        r.content.contains("Not posted") && r.content.contains("draft is kept"),
        "{r:?}"
    );
    insta::assert_json_snapshot!("post_failed_keeps_draft", normalized(&app, &r));
    let retry = TestApp::button(&r, "Retry");
    let (x, y) = tokio::join!(app.press(&alice, &retry), app.press(&alice, &retry));
    let posts = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.route == "/questions")
        .count();
    assert_eq!(posts, 2, "one failed + one retry: {x:?} {y:?}");
    assert_eq!(
        app.fake
            .questions()
            .into_iter()
            .filter(|q| q.title.contains("quuxinator"))
            .count(),
        1
    );
    let edit = TestApp::button(&r, "Edit");
    let e = app.press(&alice, &edit).await;
    assert!(
        e.content.contains("Already posted"),
        "an edit after posting does not reopen: {e:?}"
    );
}

#[tokio::test]
async fn an_unlinked_member_keeps_the_draft_and_it_posts_after_linking() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let id = open_ask(&app, &alice).await;
    let r = app
        .submit(
            &alice,
            &id,
            &ask_fields(
                "Where do flibbertigibbets store their config?",
                BODY,
                "config",
            ),
        )
        .await;
    assert!(
        r.content.contains("link your") && r.content.contains("saved"),
        "{r:?}"
    );
    insta::assert_json_snapshot!("draft_waits_for_link", normalized(&app, &r));
    assert!(!app.fake.requests().iter().any(|r| r.is_api_write()));
    // Linking (the prompt's button is the link itself) posts the draft and tells the member
    // where.
    let run = app.browse_link(&TestApp::link_url(&r), true).await;
    assert_eq!(run.last().0, 200);
    let first = app.next_notice().await;
    assert!(first.reply.content.contains("linked"), "{first:?}");
    let posted = app.next_notice().await;
    assert!(
        posted.reply.content.contains("Your saved draft was posted")
            && posted.reply.content.contains("Jane Doe"),
        "{posted:?}"
    );
    let q = app
        .fake
        .questions()
        .into_iter()
        .find(|q| q.title.contains("flibbertigibbets"))
        .expect("posted");
    assert_eq!(q.owner_id, JANE);
    assert!(
        posted
            .reply
            .content
            .contains(&format!("/questions/{}", q.id)),
        "says where: {posted:?}"
    );
}

#[tokio::test]
async fn similar_questions_are_shown_before_posting() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let existing = app.fake.question(Q_ASYNC).unwrap().title;
    let id = open_ask(&app, &alice).await;
    let r = app
        .submit(
            &alice,
            &id,
            &ask_fields(&format!("{existing} again"), BODY, "rust"),
        )
        .await;
    assert!(
        r.content.contains("do any of these already answer it"),
        "{r:?}"
    );
    assert!(!app
        .fake
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.route == "/questions"));
    let posted = app.press(&alice, &TestApp::button(&r, "Post anyway")).await;
    assert!(posted.content.contains("Posted as"), "{posted:?}");
    let id2 = open_ask(&app, &alice).await;
    let r2 = app
        .submit(
            &alice,
            &id2,
            &ask_fields(&format!("{existing} once more"), BODY, "rust"),
        )
        .await;
    let gone = app
        .press(&alice, &TestApp::button(&r2, "One of these answers it"))
        .await;
    assert!(gone.content.contains("discarded"), "{gone:?}");
}

#[tokio::test]
async fn site_validation_errors_are_shown_per_field_and_keep_the_draft() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let dup = app.fake.question(Q_ACCEPTED).unwrap().title;
    // Skip the similar step by searching nothing: post through the draft button directly.
    let id = open_ask(&app, &alice).await;
    let r = app
        .submit(&alice, &id, &ask_fields(&dup, BODY, "rust"))
        .await;
    let r = if r.content.contains("Post anyway") || r.content.contains("do any of these") {
        app.press(&alice, &TestApp::button(&r, "Post anyway")).await
    } else {
        r
    };
    assert!(r.content.contains("already exists"), "{r:?}");
    assert!(TestApp::button(&r, "Retry").starts_with("so:dp:"));
}

#[tokio::test]
async fn answers_post_as_the_member() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let r = app
        .slash(&alice, "answer", &[("question", &Q_ASYNC.to_string())])
        .await;
    let ReplyKind::Modal(m) = &r.kind else {
        panic!("{r:?}")
    };
    let before = app.fake.answers(Q_ASYNC).len();
    let done = app
        .submit(
            &alice,
            &m.id.clone(),
            &[(
                "body",
                "Use tokio::time::timeout around the JoinHandle and abort it.",
            )],
        )
        .await;
    assert!(done.content.contains("Posted as *Jane Doe*"), "{done:?}");
    let answers = app.fake.answers(Q_ASYNC);
    assert_eq!(answers.len(), before + 1);
    assert_eq!(answers.last().unwrap().owner_id, JANE);
    let bad = app.slash(&alice, "answer", &[("question", "nope")]).await;
    assert!(bad.content.contains("Say which question"));
}

#[tokio::test]
async fn a_double_clicked_vote_makes_one_post() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.fake.clear_requests();
    let id = Id::VoteQuestion {
        question: Q_ASYNC,
        vote: Vote::Up,
        on: soe_bot::commands::ids::Surface::Card,
    }
    .encode();
    let (a, b) = tokio::join!(app.press(&alice, &id), app.press(&alice, &id));
    let c = app.press(&alice, &id).await;
    let posts = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.is_api_write())
        .count();
    assert_eq!(posts, 1, "{a:?} {b:?} {c:?}");
    assert!(c.content.contains("Already done"), "{c:?}");
}

#[tokio::test]
async fn accept_is_for_the_asker() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    // Jane asks, Sam answers, Jane (alice's link) accepts.
    let q = app.fake.add_question(
        JANE,
        "How should I name my accept test question?",
        BODY,
        &["testing"],
    );
    let a = app.fake.add_answer(
        q,
        SAM,
        "Name it after the behaviour you are checking, always.",
    );
    let r = app
        .press(
            &alice,
            &Id::Accept {
                question: q,
                answer: a,
                on: soe_bot::commands::ids::Surface::Card,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("accepted answer"), "{r:?}");
    assert!(app
        .fake
        .answers(q)
        .iter()
        .any(|x| x.id == a && x.is_accepted));
    // On someone else's question the site refuses and the reply explains why.
    let r = app
        .press(
            &alice,
            &Id::Accept {
                question: Q_ASYNC,
                answer: app.fake.answers(Q_ASYNC)[0].id,
                on: soe_bot::commands::ids::Surface::Card,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("Only the person who asked"), "{r:?}");
}

#[tokio::test]
async fn help_autocomplete_and_unknown_buttons() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let h = app.slash(&alice, "help", &[]).await;
    assert!(all_text(&h).contains("/so search") && all_text(&h).contains("Acme Stack Overflow"));
    insta::assert_json_snapshot!("help", normalized(&app, &h));
    app.app.commands.refresh_tags().await.unwrap();
    let inv = app.invocation(
        &alice,
        Action::Autocomplete {
            name: "so".into(),
            path: vec!["ask".into()],
            focused: "tags".into(),
            value: "ru".into(),
        },
    );
    let n = app.fake.requests().len();
    let r = app.run(&inv).await;
    assert_eq!(app.fake.requests().len(), n, "autocomplete never calls SOE");
    let ReplyKind::Choices(c) = r.kind else {
        panic!()
    };
    assert_eq!(c.first().map(|c| c.value.as_str()), Some("rust"));
    let r = app.press(&alice, "so:zz:1").await;
    assert!(r.content.contains("older version"));
}

#[tokio::test]
async fn admin_commands_need_manage_server_and_gate_channels() {
    /// The role id in `discord.admin_roles`.
    const ADMIN_ROLE: u64 = 4_000_000_000_000_000_001;
    let app = TestApp::builder()
        .admin_roles(vec![ADMIN_ROLE])
        .start()
        .await;
    app.stub_server().channels.lock().insert(77, 1);
    let member = TestApp::member(111, "alice");
    let mut admin = TestApp::member(222, "boss");
    admin.permissions = Some(soe_bot::commands::admin::MANAGE_GUILD);
    let disable = |m: &soe_bot::commands::Member| {
        app.invocation(
            m,
            Action::Command {
                name: "so-admin".into(),
                path: vec!["channel".into(), "disable".into()],
                options: vec![],
            },
        )
    };
    let r = app.run(&disable(&member)).await;
    assert!(r.content.contains("Manage Server"), "{r:?}");
    let mut dm = disable(&admin);
    dm.guild_id = None;
    assert!(
        app.run(&dm).await.content.contains("direct messages"),
        "DMs are off: the guild gate refuses first"
    );
    let mut role = TestApp::member(333, "roled");
    role.role_ids = vec![ADMIN_ROLE];
    let enable_other = app.invocation(
        &role,
        Action::Command {
            name: "so-admin".into(),
            path: vec!["channel".into(), "enable".into()],
            options: vec![("channel".into(), OptionValue::Channel(77))],
        },
    );
    let mut other_role = TestApp::member(334, "other");
    other_role.role_ids = vec![ADMIN_ROLE + 1];
    let refused = app.run(&disable(&other_role)).await;
    assert!(refused.content.contains("Manage Server"), "{refused:?}");
    assert!(app
        .run(&enable_other)
        .await
        .content
        .contains("now answers in <#77>"));
    assert!(app
        .run(&disable(&admin))
        .await
        .content
        .contains("turned off"));
    let r = app.slash(&member, "search", &[("query", "x")]).await;
    assert!(
        r.ephemeral
            && r.content.contains("turned off in this channel")
            && r.content.contains("<#77>"),
        "{r:?}"
    );
    assert_eq!(
        app.store.guild_settings(1).await.unwrap().disabled_channels,
        [10]
    );
    // Issue 10, part 9: a thread (or forum post) in the disabled channel 10 is off too; a
    // thread elsewhere is served.
    let in_thread = |parent: u64| {
        let mut inv = app.invocation(
            &member,
            Action::Command {
                name: "so".into(),
                path: vec!["help".into()],
                options: vec![],
            },
        );
        inv.channel_id = Some(9_000);
        inv.in_thread = true;
        inv.thread_parent = Some(parent);
        inv
    };
    let r = app.run(&in_thread(10)).await;
    assert!(r.content.contains("turned off in this channel"), "{r:?}");
    let r = app.run(&in_thread(77)).await;
    assert!(
        !r.embeds.is_empty(),
        "a thread of an enabled channel: {r:?}"
    );
}

#[tokio::test]
async fn message_commands_prefill_only_for_the_author() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let msg = soe_bot::commands::MessageRef {
        id: 5,
        author_id: 111,
        author_name: "alice".into(),
        content: "How do I rotate sled keys safely?\nDetails here...".into(),
        thread_name: None,
    };
    let r = app
        .run(&app.invocation(
            &alice,
            Action::MessageCommand {
                name: "Ask on Stack Overflow".into(),
                message: msg.clone(),
            },
        ))
        .await;
    let ReplyKind::Modal(m) = &r.kind else {
        panic!("{r:?}")
    };
    assert_eq!(
        m.inputs[0].value.as_deref(),
        Some("How do I rotate sled keys safely?")
    );
    let other = soe_bot::commands::MessageRef {
        author_id: 999,
        author_name: "zed".into(),
        ..msg.clone()
    };
    let r = app
        .run(&app.invocation(
            &alice,
            Action::MessageCommand {
                name: "Post as answer".into(),
                message: other,
            },
        ))
        .await;
    assert!(r.content.contains("Only the author"), "{r:?}");
}

#[tokio::test]
async fn huge_posts_render_within_discords_limits() {
    use soe_bot::commands::reply::limits;
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let body = format!(
        "Intro paragraph.\n\n```rust\n{}\n```\n\n{}",
        "let x = 1;\n".repeat(2000),
        "word ".repeat(6000)
    );
    let title = "T".repeat(150);
    let q = app.fake.add_question(JANE, &title, &body, &["rust"]);
    for i in 0..3 {
        app.fake.add_answer(
            q,
            SAM,
            &format!("Answer {i}: {}", "long answer text ".repeat(800)),
        );
    }
    let r = app
        .slash(&alice, "question", &[("id", &q.to_string())])
        .await;
    let total: usize = r.embeds.iter().map(|e| e.char_len()).sum();
    assert!(total <= limits::EMBEDS_TOTAL, "{total}");
    for e in &r.embeds {
        assert!(e.title.chars().count() <= limits::EMBED_TITLE);
        assert!(e.description.chars().count() <= limits::EMBED_DESCRIPTION);
        assert_eq!(
            e.description.matches("```").count() % 2,
            0,
            "no open code fence: {}",
            e.description
        );
    }
    assert!(
        r.embeds[0].description.ends_with('…'),
        "cut with an ellipsis"
    );
    assert!(
        r.rows.len() <= limits::ROWS && r.rows.iter().all(|row| row.len() <= limits::ROW_ITEMS)
    );
}

#[tokio::test]
async fn asks_per_member_are_limited_and_the_draft_is_kept() {
    let limits = soe_bot::config::LimitsConfig {
        asks_burst: 1,
        ask_refill_minutes: 10,
        ..Default::default()
    };
    let app = TestApp::builder().limits(limits).start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let id = open_ask(&app, &alice).await;
    let r = app
        .submit(
            &alice,
            &id,
            &ask_fields(
                "First probe question about gizmos and gadgets",
                BODY,
                "gizmos",
            ),
        )
        .await;
    assert!(r.content.contains("Posted as"), "{r:?}");
    let id2 = open_ask(&app, &alice).await;
    let r = app
        .submit(
            &alice,
            &id2,
            &ask_fields(
                "Second probe question about sprockets today",
                BODY,
                "sprockets",
            ),
        )
        .await;
    assert!(
        r.content.contains("about 10 minute(s)") && r.content.contains("saved"),
        "{r:?}"
    );
    app.clock.advance(chrono::Duration::minutes(10));
    let r = app.press(&alice, &TestApp::button(&r, "Retry")).await;
    assert!(r.content.contains("Posted as"), "{r:?}");
}

#[tokio::test]
async fn a_post_interrupted_by_a_crash_can_be_retried_after_a_while() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let now = app.clock_now();
    let draft = soe_bot::store::Draft {
        id: "interruptedDraft1".into(),
        discord_user: 111,
        guild_id: Some(1),
        channel_id: Some(10),
        team: None,
        content: soe_bot::store::DraftContent::Answer {
            question_id: Q_ASYNC,
            body: "An answer whose post was cut short by a crash.".into(),
        },
        state: soe_bot::store::DraftState::Posting { since: now },
        post_after_link: false,
        source_message: None,
        created_at: now,
        expires_at: now + chrono::Duration::hours(24),
    };
    app.store.put_draft(&draft).await.unwrap();
    let post = Id::PostDraft {
        draft: draft.id.clone(),
    }
    .encode();
    let r = app.press(&alice, &post).await;
    assert!(
        r.content.contains("being posted"),
        "a fresh claim is respected: {r:?}"
    );
    app.clock.advance(chrono::Duration::minutes(3));
    let r = app.press(&alice, &post).await;
    // Stale: the bot looked on the site first, and only then offers Retry.
    assert!(r.content.contains("it is not on the site"), "{r:?}");
    let r = app.press(&alice, &TestApp::button(&r, "Retry")).await;
    assert!(r.content.contains("Posted as *Jane Doe*"), "{r:?}");
}

#[tokio::test]
async fn another_guild_is_refused_at_once_before_any_soe_call() {
    let app = TestApp::start().await;
    app.fake.clear_requests();
    let alice = TestApp::member(111, "alice");
    let mut inv = app.invocation(
        &alice,
        Action::Command {
            name: "so".into(),
            path: vec!["search".into()],
            options: vec![("query".into(), OptionValue::Str("tokio".into()))],
        },
    );
    inv.guild_id = Some(999);
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::Immediate,
        "refused without deferring into the search"
    );
    let r = app.run(&inv).await;
    assert!(r.ephemeral && r.content.contains("only"), "{r:?}");
    assert!(app.fake.requests().is_empty(), "{:#?}", app.fake.requests());
    // The same search in the allowed guild is deferred and reaches SOE.
    inv.guild_id = Some(1);
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferEphemeral
    );
    app.run(&inv).await;
    assert!(!app.fake.requests().is_empty());
}

// ---------------------------------------------------------------- the service token as a commons

/// Discord permission bits the share check reads.
const VIEW_CHANNEL: u64 = 1 << 10;
const SEND_MESSAGES: u64 = 1 << 11;
const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;

/// A member who may post in the test channel.
fn poster(id: u64, name: &str) -> soe_bot::commands::Member {
    let mut m = TestApp::member(id, name);
    m.permissions = Some(VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS);
    m
}

/// GETs of a question or its answers with the service token (what Open costs).
fn question_reads(app: &TestApp) -> usize {
    let svc = app.fake.service_token();
    app.fake
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.route.starts_with("/questions/{questionId}")
                && r.token.as_deref() == Some(svc.as_str())
        })
        .count()
}

/// Adds `n` questions whose titles carry their index ("… number 7 …").
fn add_probe_questions(app: &TestApp, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            app.fake.add_question(
                JANE,
                &format!("Budget probe question number {i} about gadgets"),
                "A body that is long enough to be a question body on the site.",
                &["gadgets"],
            )
        })
        .collect()
}

#[tokio::test]
async fn one_member_clicking_open_200_times_in_a_minute_leaves_another_members_search_working() {
    let app = TestApp::start().await;
    let questions = add_probe_questions(&app, 200);
    let clicker = TestApp::member(666, "clicker");
    let searcher = TestApp::member(777, "searcher");
    app.fake.clear_requests();
    let (mut opened, mut too_fast, mut searches, mut searches_ok) = (0, 0, 0, 0);
    for (i, q) in questions.iter().enumerate() {
        let r = app
            .press(&clicker, &Id::OpenQuestion { question: *q }.encode())
            .await;
        if !r.embeds.is_empty() {
            opened += 1;
        } else if r.content.contains("too fast") {
            too_fast += 1;
        }
        if i % 20 == 19 {
            searches += 1;
            let r = app
                .slash(
                    &searcher,
                    "search",
                    &[("query", &format!("number {i} gadgets"))],
                )
                .await;
            if r.embeds
                .first()
                .is_some_and(|e| e.title.starts_with("Search:"))
            {
                searches_ok += 1;
            } else {
                eprintln!("search {searches} failed: {r:?}");
            }
        }
        // 200 clicks spread over one minute.
        app.clock.advance(chrono::Duration::milliseconds(300));
    }
    let clicker_calls = question_reads(&app);
    println!(
        "budget figures: clicker opened {opened}, was told to slow down {too_fast} times, and made {clicker_calls} SOE calls; the other member's searches worked {searches_ok} of {searches}"
    );
    assert_eq!(
        searches_ok, searches,
        "every search of the other member works"
    );
    assert!(
        clicker_calls <= 42,
        "one member gets at most their share (20 a minute, plus what refills in the minute): {clicker_calls}"
    );
    assert!(
        opened >= 10,
        "the clicker was served up to their share: {opened}"
    );
    assert_eq!(opened + too_fast, 200, "every click got an answer");
}

#[tokio::test]
async fn a_member_who_spent_their_share_is_told_to_slow_down_without_any_soe_call() {
    let app = TestApp::start().await;
    let questions = add_probe_questions(&app, 15);
    let alice = TestApp::member(111, "alice");
    app.fake.clear_requests();
    let mut replies = Vec::new();
    for q in &questions {
        replies.push(
            app.press(&alice, &Id::OpenQuestion { question: *q }.encode())
                .await,
        );
    }
    let opened = replies.iter().filter(|r| !r.embeds.is_empty()).count();
    assert_eq!(opened, 10, "20 calls a minute is 10 question views");
    assert_eq!(question_reads(&app), 20, "no call once the share is spent");
    let refused = &replies[10];
    assert!(
        refused.ephemeral
            && refused.content.contains("too fast")
            && refused.content.contains("try again in"),
        "{refused:?}"
    );
    // Another member is not affected.
    let bob = TestApp::member(222, "bob");
    let r = app
        .press(
            &bob,
            &Id::OpenQuestion {
                question: questions[14],
            }
            .encode(),
        )
        .await;
    assert!(!r.embeds.is_empty(), "{r:?}");
    // The share refills at 20 a minute: after 6 s one more view (two calls).
    app.clock.advance(chrono::Duration::seconds(6));
    let r = app
        .press(
            &alice,
            &Id::OpenQuestion {
                question: questions[12],
            }
            .encode(),
        )
        .await;
    assert!(!r.embeds.is_empty(), "{r:?}");
}

#[tokio::test]
async fn question_views_are_cached_like_searches() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let bob = TestApp::member(222, "bob");
    app.fake.clear_requests();
    let first = app
        .slash(&alice, "question", &[("id", &Q_ASYNC.to_string())])
        .await;
    assert_eq!(question_reads(&app), 2, "question and answers");
    let open = Id::OpenQuestion { question: Q_ASYNC }.encode();
    for _ in 0..5 {
        let again = app.press(&alice, &open).await;
        assert_eq!(again.embeds, first.embeds);
    }
    let other = app
        .slash(&bob, "question", &[("id", &Q_ASYNC.to_string())])
        .await;
    assert_eq!(other.embeds, first.embeds);
    assert_eq!(question_reads(&app), 2, "repeated views cost nothing");
    app.clock.advance(chrono::Duration::seconds(61));
    app.press(&alice, &open).await;
    assert_eq!(question_reads(&app), 4, "expired after 60 s");
}

#[tokio::test]
async fn a_vote_refreshes_the_cached_question() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.fake.clear_requests();
    let open = Id::OpenQuestion { question: Q_ASYNC }.encode();
    app.press(&alice, &open).await;
    let vote = app
        .press(
            &alice,
            &Id::VoteQuestion {
                question: Q_ASYNC,
                vote: Vote::Up,
                on: soe_bot::commands::ids::Surface::Card,
            }
            .encode(),
        )
        .await;
    assert!(vote.content.contains("upvoted"), "{vote:?}");
    let after = app.press(&alice, &open).await;
    let score = app.fake.question(Q_ASYNC).unwrap().score;
    assert!(
        all_text(&after).contains(&format!("{score}")),
        "the view after a vote shows the new score {score}: {after:?}"
    );
    assert_eq!(question_reads(&app), 4, "the vote dropped the cached view");
}

#[tokio::test]
async fn share_needs_permission_to_send_in_the_channel() {
    let app = TestApp::start().await;
    let mut reader = TestApp::member(111, "reader");
    reader.permissions = Some(VIEW_CHANNEL);
    let share = Id::ShareQuestion { question: Q_ASYNC }.encode();
    let inv = app.invocation(
        &reader,
        Action::Button {
            custom_id: share.clone(),
        },
    );
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::Immediate,
        "no public placeholder for a share that will be refused"
    );
    app.fake.clear_requests();
    let r = app.run(&inv).await;
    assert!(
        r.ephemeral && r.content.contains("permission") && r.embeds.is_empty(),
        "{r:?}"
    );
    assert!(
        app.fake.requests().is_empty(),
        "no SOE call for a refused share"
    );
    let results = app.slash(&reader, "search", &[("query", "async")]).await;
    let search_share = TestApp::button(&results, "Share to channel");
    app.fake.clear_requests();
    let r = app.press(&reader, &search_share).await;
    assert!(
        app.fake.requests().is_empty(),
        "no SOE call for a refused share"
    );
    assert!(r.ephemeral && r.content.contains("permission"), "{r:?}");
    // Without VIEW_CHANNEL either.
    let mut blind = TestApp::member(112, "blind");
    blind.permissions = Some(SEND_MESSAGES);
    let r = app.press(&blind, &share).await;
    assert!(r.ephemeral && r.content.contains("permission"), "{r:?}");
    // No member permissions in a guild: refused (deny by default).
    let mut unknown = TestApp::member(113, "unknown");
    unknown.permissions = None;
    let r = app.press(&unknown, &share).await;
    assert!(r.ephemeral && r.content.contains("permission"), "{r:?}");
    // A member who may post shares publicly.
    let ok = poster(114, "poster");
    let inv = app.invocation(&ok, Action::Button { custom_id: share });
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferPublic
    );
    let r = app.run(&inv).await;
    assert!(!r.ephemeral && !r.embeds.is_empty(), "{r:?}");
}

#[tokio::test]
async fn share_has_a_member_and_a_channel_cooldown() {
    let app = TestApp::start().await;
    let alice = poster(111, "alice");
    let bob = poster(222, "bob");
    let share = |q: i64| Id::ShareQuestion { question: q }.encode();
    let in_channel = |m: &soe_bot::commands::Member, id: String, channel: u64| {
        let mut inv = app.invocation(m, Action::Button { custom_id: id });
        inv.channel_id = Some(channel);
        inv
    };
    let r = app.press(&alice, &share(Q_ASYNC)).await;
    assert!(!r.ephemeral, "the first share is public: {r:?}");

    app.clock.advance(chrono::Duration::seconds(1));
    // Bob in the same channel: the channel cooldown (10 s).
    let r = app.press(&bob, &share(Q_ACCEPTED)).await;
    assert!(
        r.ephemeral && r.content.contains("try again in 9 s"),
        "{r:?}"
    );
    // Alice in another channel: her own cooldown (30 s).
    let r = app.run(&in_channel(&alice, share(Q_ACCEPTED), 11)).await;
    assert!(
        r.ephemeral && r.content.contains("try again in 29 s"),
        "{r:?}"
    );
    // Bob's refused attempt did not use up his own cooldown, nor Alice's the other channel's.
    let r = app.run(&in_channel(&bob, share(Q_ACCEPTED), 11)).await;
    assert!(!r.ephemeral, "{r:?}");

    app.clock.advance(chrono::Duration::seconds(9));
    let r = app
        .run(&in_channel(&poster(333, "carol"), share(Q_ASYNC), 10))
        .await;
    assert!(!r.ephemeral, "the channel cooled down after 10 s: {r:?}");
    app.clock.advance(chrono::Duration::seconds(20));
    let r = app.run(&in_channel(&alice, share(Q_ASYNC), 12)).await;
    assert!(!r.ephemeral, "alice cooled down after 30 s: {r:?}");
}

#[tokio::test]
async fn a_vote_after_an_undo_works() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.fake.clear_requests();
    let press = |vote: Vote| {
        app.press(
            &alice,
            Box::leak(
                Id::VoteQuestion {
                    question: Q_ASYNC,
                    vote,
                    on: soe_bot::commands::ids::Surface::Card,
                }
                .encode()
                .into_boxed_str(),
            ),
        )
    };
    let writes = || {
        app.fake
            .requests()
            .iter()
            .filter(|r| r.is_api_write())
            .count()
    };
    let up = press(Vote::Up).await;
    assert!(up.content.contains("You upvoted"), "{up:?}");
    let undo = press(Vote::UndoUp).await;
    assert!(undo.content.contains("removed your upvote"), "{undo:?}");
    let again = press(Vote::Up).await;
    assert!(again.content.contains("You upvoted"), "{again:?}");
    assert_eq!(writes(), 3);
    // A double click is still one write.
    let twice = press(Vote::Up).await;
    assert!(twice.content.contains("Already done"), "{twice:?}");
    assert_eq!(writes(), 3);
    // Undone on the site itself: after about a minute the button works again.
    app.fake.clear_requests();
    app.clock.advance(chrono::Duration::seconds(61));
    let later = press(Vote::Up).await;
    assert!(!later.content.contains("Already done"), "{later:?}");
    assert_eq!(
        writes(),
        1,
        "the claim expired, so the vote was tried again"
    );
}

#[tokio::test]
async fn drafts_per_member_are_capped_and_nothing_is_lost() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let mut modal_ids = Vec::new();
    for i in 0..20 {
        let id = open_ask(&app, &alice).await;
        let r = app
            .submit(
                &alice,
                &id,
                &ask_fields(
                    &format!("Draft cap probe question number {i}"),
                    BODY,
                    "rust",
                ),
            )
            .await;
        assert!(r.content.contains("saved"), "draft {i}: {r:?}");
        modal_ids.push(id);
    }
    assert_eq!(app.store.drafts_of(111).await.unwrap().len(), 20);
    let id = open_ask(&app, &alice).await;
    let title = "One draft too many for this member";
    app.fake.clear_requests();
    let r = app
        .submit(&alice, &id, &ask_fields(title, BODY, "rust"))
        .await;
    assert!(
        r.content.contains("20") && r.content.contains("discard"),
        "{r:?}"
    );
    assert!(
        all_text(&r).contains(title) && all_text(&r).contains(BODY),
        "the text is shown back so it is not lost: {r:?}"
    );
    assert!(app.fake.requests().is_empty(), "no SOE call");
    assert_eq!(
        app.store.drafts_of(111).await.unwrap().len(),
        20,
        "not saved"
    );
    // Changing a draft that exists is never refused.
    let r = app
        .submit(
            &alice,
            &modal_ids[0],
            &ask_fields("Draft cap probe question number 0, edited", BODY, "rust"),
        )
        .await;
    assert!(r.content.contains("saved"), "{r:?}");
    // Discarding one (from the refusal itself) makes room.
    let refusal = app
        .submit(&alice, &id, &ask_fields(title, BODY, "rust"))
        .await;
    let discarded = app
        .press(&alice, &TestApp::button(&refusal, "Discard 1"))
        .await;
    assert!(discarded.content.contains("discarded"), "{discarded:?}");
    let r = app
        .submit(&alice, &id, &ask_fields(title, BODY, "rust"))
        .await;
    assert!(r.content.contains("saved"), "{r:?}");
    assert_eq!(app.store.drafts_of(111).await.unwrap().len(), 20);
}

#[tokio::test]
async fn link_is_rate_limited_per_member() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    for i in 0..5 {
        let r = app.slash(&alice, "link", &[]).await;
        assert!(!r.buttons().is_empty(), "link {i}: {r:?}");
    }
    let r = app.slash(&alice, "link", &[]).await;
    assert!(
        r.buttons().is_empty() && r.content.contains("try again in 60 s"),
        "{r:?}"
    );
    let r = app.press(&alice, &Id::Link.encode()).await;
    assert!(
        r.buttons().is_empty(),
        "the Link button shares the limit: {r:?}"
    );
    let bob = TestApp::member(222, "bob");
    assert!(!app.slash(&bob, "link", &[]).await.buttons().is_empty());
    app.clock.advance(chrono::Duration::seconds(60));
    let r = app.slash(&alice, "link", &[]).await;
    assert!(!r.buttons().is_empty(), "one more after a minute: {r:?}");
}

/// Issue 10, part 1: Next and Share act on exactly the query (and tag) the member searched,
/// however long; nothing of it is cut to fit a button's custom id.
#[tokio::test]
async fn paging_and_sharing_keep_an_80_character_query_and_a_35_character_tag() {
    let app = TestApp::start().await;
    // The old custom id kept the first 60 characters: exactly `head` and a space.
    let head = "widgets gadgets sprockets flanges gaskets brackets grommets";
    let query = format!("{head} zyzzyva axles quirks");
    assert_eq!(query.chars().count(), 80, "{query}");
    let tag = "extremely-long-hardware-fitting-tag";
    assert_eq!(tag.chars().count(), 35);
    // Seven questions match the whole query; seven decoys match only its first 60 characters.
    for i in 0..7 {
        app.fake.add_question(
            JANE,
            &format!("{query} match {i}"),
            "A body long enough to be a question body.",
            &[tag],
        );
        app.fake.add_question(
            JANE,
            &format!("{head} decoy {i}"),
            "A body long enough to be a question body.",
            &[tag],
        );
    }
    let alice = poster(111, "alice");
    let first = app
        .slash(&alice, "search", &[("query", &query), ("tag", tag)])
        .await;
    let footer = first.embeds[0].footer.clone().unwrap();
    assert!(footer.starts_with("Page 1 of 2 · 7 results"), "{footer}");
    let next = app.press(&alice, &TestApp::button(&first, "Next")).await;
    let page2 = &next.embeds[0];
    assert!(
        page2
            .footer
            .as_deref()
            .unwrap()
            .starts_with("Page 2 of 2 · 7 results"),
        "{next:#?}"
    );
    assert!(
        page2.description.contains("match") && !page2.description.contains("decoy"),
        "{}",
        page2.description
    );
    let shared = app
        .press(&alice, &TestApp::button(&next, "Share to channel"))
        .await;
    assert!(!shared.ephemeral, "{shared:#?}");
    let card = &shared.embeds[0];
    assert_eq!(card.title, format!("Search: {query} [{tag}]"));
    assert!(
        card.description.contains("match") && !card.description.contains("decoy"),
        "{}",
        card.description
    );
    // Every custom id stays within Discord's 100 characters.
    for c in next.buttons() {
        assert!(c.id().map_or(0, str::len) <= 100);
    }
}

#[tokio::test]
async fn a_search_handle_is_the_members_own_and_expires_after_a_day() {
    let app = TestApp::start().await;
    add_probe_questions(&app, 7);
    let alice = poster(111, "alice");
    let bob = poster(222, "bob");
    let r = app.slash(&alice, "search", &[("query", "probe")]).await;
    let next = TestApp::button(&r, "Next");
    let share = TestApp::button(&r, "Share to channel");
    // Bob pressing Alice's buttons (a forged id) finds nothing of hers.
    app.fake.clear_requests();
    for id in [&next, &share] {
        let other = app.press(&bob, id).await;
        assert!(
            other.ephemeral && other.content.contains("expired"),
            "{other:?}"
        );
        assert!(other.embeds.is_empty());
    }
    assert!(
        app.fake.requests().is_empty(),
        "no SOE call for a foreign handle"
    );
    assert!(app.press(&alice, &next).await.embeds[0]
        .footer
        .as_deref()
        .unwrap()
        .starts_with("Page 2"));
    app.clock.advance(chrono::Duration::hours(24));
    let late = app.press(&alice, &next).await;
    assert!(
        late.content.contains("expired") && late.content.contains("/so search"),
        "{late:?}"
    );
    // A tag longer than any SOE tag is refused before any call.
    let long = "t".repeat(36);
    let r = app
        .slash(&alice, "search", &[("query", "async"), ("tag", &long)])
        .await;
    assert!(r.ephemeral && r.content.contains("35 characters"), "{r:?}");
}

/// The (first) button whose label contains `label`, whole.
fn component<'a>(r: &'a Reply, label: &str) -> &'a soe_bot::commands::Component {
    r.buttons()
        .into_iter()
        .find(|c| c.label().contains(label))
        .unwrap_or_else(|| panic!("no button {label:?} in {r:#?}"))
}

fn is_disabled(c: &soe_bot::commands::Component) -> bool {
    matches!(
        c,
        soe_bot::commands::Component::Button { disabled: true, .. }
    )
}

/// Issue 10, part 3: a vote on the member's private card updates that card in place (new
/// score, the pressed button turned into its Undo, the other direction off) and Undo uses
/// SOE's undo endpoint; a vote on a shared card answers privately with an Undo.
#[tokio::test]
async fn a_vote_updates_its_card_in_place_and_can_be_undone() {
    let app = TestApp::start().await;
    let alice = poster(111, "alice");
    app.link(&alice).await;
    let before = app.fake.question(Q_ASYNC).unwrap().score;
    let card = app
        .slash(&alice, "question", &[("id", &Q_ASYNC.to_string())])
        .await;
    let up = TestApp::button(&card, "▲ Upvote");
    let inv = app.invocation(
        &alice,
        Action::Button {
            custom_id: up.clone(),
        },
    );
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferUpdate,
        "a press on a private card updates it"
    );
    let voted = app.run(&inv).await;
    assert_eq!(voted.kind, ReplyKind::Update, "{voted:#?}");
    assert_eq!(app.fake.question(Q_ASYNC).unwrap().score, before + 1);
    assert!(voted.content.contains("You upvoted"), "{voted:?}");
    let undo = component(&voted, "Undo");
    assert!(
        undo.label().contains(&format!("score {}", before + 1)),
        "{undo:?}"
    );
    assert!(is_disabled(component(&voted, "▼ Downvote")), "down is off");
    assert!(all_text(&voted).contains(&(before + 1).to_string()));
    insta::assert_json_snapshot!("question_card_after_upvote", normalized(&app, &voted));
    app.fake.clear_requests();
    let undone = app.press(&alice, undo.id().unwrap()).await;
    assert_eq!(undone.kind, ReplyKind::Update);
    assert!(undone.content.contains("removed your upvote"), "{undone:?}");
    assert!(
        app.fake
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.route == "/questions/{questionId}/upvote"),
        "SOE's undo endpoint (DELETE …/upvote): {:?}",
        app.fake.requests()
    );
    assert_eq!(app.fake.question(Q_ASYNC).unwrap().score, before);
    assert!(!is_disabled(component(&undone, "▼ Downvote")));
    assert!(undone.buttons().iter().all(|c| !c.label().contains("Undo")));

    // On a card shared in the channel, the presser is answered privately, with an Undo that
    // then updates that private note in place.
    let shared = app
        .press(&alice, &Id::ShareQuestion { question: Q_ASYNC }.encode())
        .await;
    assert!(!shared.ephemeral);
    let up = TestApp::button(&shared, "▲ Upvote");
    let inv = app.invocation(&alice, Action::Button { custom_id: up });
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferEphemeral,
        "the public card is left as everyone sees it"
    );
    let note = app.run(&inv).await;
    assert!(
        note.ephemeral && note.kind == ReplyKind::Message,
        "{note:?}"
    );
    assert!(note.embeds.is_empty());
    let undo = TestApp::button(&note, "Undo upvote");
    let undone = app.press(&alice, &undo).await;
    assert_eq!(undone.kind, ReplyKind::Update, "{undone:?}");
    assert!(undone.content.contains("removed your upvote"));
    TestApp::button(&undone, "Upvote again");
    assert_eq!(app.fake.question(Q_ASYNC).unwrap().score, before);
}

/// Issue 10, parts 2 and 3: an answer opened from the card's select, accepted in place (✓).
#[tokio::test]
async fn accept_marks_the_answer_on_the_card() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let q = app.fake.add_question(
        JANE,
        "How should I name my live accept question?",
        BODY,
        &["testing"],
    );
    app.fake
        .add_answer(q, SAM, "Name it after what it shows, always.");
    let card = app
        .slash(&alice, "question", &[("id", &q.to_string())])
        .await;
    let answer = app.choose(&alice, &card, "Answer 1").await;
    assert_eq!(answer.kind, ReplyKind::Update, "{answer:#?}");
    let accepted = app.press(&alice, &TestApp::button(&answer, "Accept")).await;
    assert_eq!(accepted.kind, ReplyKind::Update, "{accepted:#?}");
    assert!(accepted.content.contains("accepted answer"));
    assert!(accepted.embeds[0].title.starts_with("✅"), "{accepted:#?}");
    let mark = component(&accepted, "Accepted");
    assert!(
        mark.label().starts_with('✓') && is_disabled(mark),
        "{mark:?}"
    );
    // Back shows the question in place, its answers select marking the accepted one.
    let back = app
        .press(&alice, &TestApp::button(&accepted, "Back to the question"))
        .await;
    assert_eq!(back.kind, ReplyKind::Update);
    assert!(back.choice("✓ accepted").is_some(), "{back:#?}");
}

/// Issue 10, part 3: Post and Discard update the draft prompt they came from and grey out
/// what no longer applies.
#[tokio::test]
async fn post_and_discard_update_their_prompt_and_disable_its_buttons() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    // Not linked: the submit keeps the draft and offers Edit / Discard.
    let id = open_ask(&app, &alice).await;
    let kept = app
        .submit(
            &alice,
            &id,
            &ask_fields(
                "Why does my frobnicator drop every third packet?",
                BODY,
                "testing",
            ),
        )
        .await;
    let discard = TestApp::button(&kept, "Discard");
    let inv = app.invocation(
        &alice,
        Action::Button {
            custom_id: discard.clone(),
        },
    );
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferUpdate
    );
    let gone = app.run(&inv).await;
    assert_eq!(gone.kind, ReplyKind::Update, "{gone:?}");
    assert!(gone.content.contains("Draft discarded"));
    assert!(!gone.buttons().is_empty());
    assert!(gone.buttons().iter().all(|c| is_disabled(c)), "{gone:#?}");
    insta::assert_json_snapshot!("draft_discarded", normalized(&app, &gone));

    // Linked, a failed post offers Retry; Retry that succeeds turns the prompt into the link.
    app.link(&alice).await;
    app.fake
        .push_fault(Fault::on("POST", "/questions", FaultKind::Status(500)).times(1));
    let id = open_ask(&app, &alice).await;
    let failed = app
        .submit(
            &alice,
            &id,
            &ask_fields(
                "Why does my grommetizer refuse to start twice?",
                BODY,
                "testing",
            ),
        )
        .await;
    let retry = TestApp::button(&failed, "Retry");
    let posted = app.press(&alice, &retry).await;
    assert_eq!(posted.kind, ReplyKind::Update, "{posted:?}");
    assert!(posted.content.contains("Posted as"), "{posted:?}");
    TestApp::link_url(&posted);
    for label in ["Post", "Edit", "Discard"] {
        let c = posted
            .buttons()
            .into_iter()
            .find(|c| c.label() == label)
            .unwrap_or_else(|| panic!("no {label} in {posted:#?}"));
        assert!(is_disabled(c), "{label}: {posted:#?}");
    }
    // A stale Discard on the posted draft changes nothing.
    let stale = app
        .press(&alice, &TestApp::button(&failed, "Discard"))
        .await;
    assert!(stale.content.contains("Already posted"), "{stale:?}");
}

/// Issue 10, part 3: ages are Discord timestamps, so shared cards never freeze.
#[tokio::test]
async fn ages_are_discord_timestamps() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let r = app.slash(&alice, "search", &[("query", "async")]).await;
    assert!(r.embeds[0].description.contains(":R>"), "{r:#?}");
    assert!(!r.embeds[0].description.contains(" ago"));
    let card = app
        .slash(&alice, "question", &[("id", &Q_ACCEPTED.to_string())])
        .await;
    let asked = card.embeds[0]
        .fields
        .iter()
        .find(|f| f.name == "Asked")
        .expect("an Asked field");
    assert!(asked.value.starts_with("<t:") && asked.value.ends_with(":R>"));
    let footers: String = card
        .embeds
        .iter()
        .filter_map(|e| e.footer.clone())
        .collect();
    assert!(!footers.contains(" ago"), "{footers}");
}

/// Issue 10, part 8: a read refused because of the bot's own service token tells members an
/// admin has been told, never to link again, and names the site as configured.
#[tokio::test]
async fn a_refused_service_token_is_the_admins_problem_not_the_members() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let svc = app.fake.service_token();
    app.fake.revoke_token(&svc);
    for r in [
        app.slash(&alice, "search", &[("query", "tokio")]).await,
        app.slash(&alice, "question", &[("id", &Q_ASYNC.to_string())])
            .await,
    ] {
        assert!(
            r.ephemeral
                && r.content
                    .contains("The bot's read access to Acme Stack Overflow is broken")
                && r.content.contains("an admin has been told"),
            "{r:?}"
        );
        assert!(!r.content.contains("/so link") && !r.content.contains(&svc));
    }
    // A 403 on the service token reads the same.
    let app = TestApp::start().await;
    app.fake
        .push_fault(Fault::on("GET", "/search", FaultKind::Status(403)).times(1));
    let r = app.slash(&alice, "search", &[("query", "tokio")]).await;
    assert!(r.content.contains("an admin has been told"), "{r:?}");
}

/// Issue 10, part 2: results and answers are chosen from select menus (title as label, score
/// and tags as description), Back returns to the results page, and a question appears once
/// per page even when its answers match too.
#[tokio::test]
async fn results_and_answers_are_picked_from_menus_and_back_returns() {
    let app = TestApp::start().await;
    for i in 0..6 {
        app.fake.add_question(
            JANE,
            &format!("Async probe question number {i} for the menus"),
            "A body long enough to be a question body.",
            &["async"],
        );
    }
    let alice = poster(111, "alice");
    app.link(&alice).await;
    let r = app.slash(&alice, "search", &[("query", "async")]).await;
    let options = r
        .buttons()
        .into_iter()
        .find_map(|c| match c {
            soe_bot::commands::Component::Select { options, .. } => Some(options.clone()),
            _ => None,
        })
        .expect("a results menu");
    let values: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
    let unique: std::collections::HashSet<&str> = values.iter().copied().collect();
    assert_eq!(unique.len(), values.len(), "no question twice: {values:?}");
    assert_eq!(
        values.iter().filter(|v| **v == Q_ASYNC.to_string()).count(),
        1,
        "the question matched, and so did its answer: listed once"
    );
    let first = &options[0];
    assert!(first.label.starts_with("1. "), "{first:?}");
    assert!(
        first.description.as_deref().unwrap().contains("score"),
        "{first:?}"
    );
    assert!(
        r.embeds[0].description.matches("/questions/3/").count() == 1,
        "{}",
        r.embeds[0].description
    );
    assert!(
        r.buttons().iter().all(|c| !c.label().starts_with("Open ")
            || matches!(c, soe_bot::commands::Component::Select { .. })),
        "no Open 1…5 buttons"
    );
    // Page 2, then a result: the question replaces the results, with Back to page 2.
    let p2 = app.press(&alice, &TestApp::button(&r, "Next")).await;
    let (menu, value) = p2.choice("6.").expect("a choice numbered 6 on page 2");
    let inv = app.invocation(
        &alice,
        Action::Select {
            custom_id: menu.to_string(),
            values: vec![value.to_string()],
        },
    );
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferUpdate
    );
    let q = app.run(&inv).await;
    assert_eq!(q.kind, ReplyKind::Update, "{q:#?}");
    assert!(!q.embeds.is_empty());
    let back = app
        .press(&alice, &TestApp::button(&q, "Back to the results"))
        .await;
    assert_eq!(back.kind, ReplyKind::Update);
    assert!(back.embeds[0]
        .footer
        .as_deref()
        .unwrap()
        .starts_with("Page 2"));
    // The card's answers menu: an answer opens with its votes; a vote updates it in place.
    let card = app
        .slash(&alice, "question", &[("id", &Q_ASYNC.to_string())])
        .await;
    insta::assert_json_snapshot!("question_card_with_menus", normalized(&app, &card));
    assert!(
        card.buttons()
            .iter()
            .all(|c| !c.label().contains("Answer 1")
                || matches!(c, soe_bot::commands::Component::Select { .. })),
        "no per-answer button rows"
    );
    // Answer 2 is Priya's (answer 1 is Jane's own, which she may not vote on).
    let answer = app.choose(&alice, &card, "Answer 2").await;
    assert_eq!(answer.kind, ReplyKind::Update);
    assert!(answer.content.contains("On “"), "{answer:?}");
    let up = app
        .press(&alice, &TestApp::button(&answer, "▲ Upvote"))
        .await;
    assert_eq!(up.kind, ReplyKind::Update, "{up:#?}");
    assert!(up.content.contains("You upvoted answer"), "{up:?}");
    TestApp::button(&up, "Upvoted · score");
    TestApp::button(&up, "Back to the question");
    // Garbage in a menu gets a polite reply.
    let inv = app.invocation(
        &alice,
        Action::Select {
            custom_id: menu.to_string(),
            values: vec!["nope".into()],
        },
    );
    assert!(app.run(&inv).await.content.contains("Choose one"));
}

/// Issue 10, part 4: after a post from a channel the member is offered a public card there:
/// title, author as their SOE name, tags and link; once per post, under the share rules.
#[tokio::test]
async fn a_post_can_be_announced_in_its_channel_once() {
    let app = TestApp::start().await;
    let alice = poster(111, "alice");
    app.link(&alice).await;
    let id = open_ask(&app, &alice).await;
    let r = app
        .submit(
            &alice,
            &id,
            &ask_fields(
                "Why does my flux capacitor need exactly 1.21 gigawatts?",
                BODY,
                "physics, time",
            ),
        )
        .await;
    let r = if r.content.contains("Post anyway") || TestApp::try_button(&r, "Post anyway") {
        app.press(&alice, &TestApp::button(&r, "Post anyway")).await
    } else {
        r
    };
    assert!(r.content.contains("Posted as *Jane Doe*"), "{r:#?}");
    let offer = TestApp::button(&r, "Post a card in the channel");
    let inv = app.invocation(
        &alice,
        Action::Button {
            custom_id: offer.clone(),
        },
    );
    assert_eq!(
        app.app.commands.ack(&inv),
        soe_bot::commands::Ack::DeferPublic
    );
    let card = app.run(&inv).await;
    assert!(!card.ephemeral, "{card:#?}");
    let e = &card.embeds[0];
    assert_eq!(
        e.title,
        "Why does my flux capacitor need exactly 1.21 gigawatts?"
    );
    assert!(e.description.contains("Asked by **Jane Doe**"), "{e:?}");
    assert!(e.fields.iter().any(|f| f.value.contains("`physics`")));
    assert!(e.url.as_deref().is_some_and(|u| u.contains("/questions/")));
    insta::assert_json_snapshot!("channel_card", normalized(&app, &card));
    app.clock.advance(chrono::Duration::minutes(10));
    let again = app.press(&alice, &offer).await;
    assert!(
        again.ephemeral && again.content.contains("already in the channel"),
        "{again:?}"
    );
    // Another member cannot announce it (the draft is Alice's).
    let bob = poster(222, "bob");
    let other = app.press(&bob, &offer).await;
    assert!(other.ephemeral && other.embeds.is_empty(), "{other:?}");
}

/// Issue 10, part 5: `/so question` and `/so answer` suggest questions by title: first those
/// this channel has seen (no SOE call), then one live search charged to the member's share.
#[tokio::test]
async fn question_options_autocomplete_titles() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let complete = |sub: &str, focused: &str, typed: &str| {
        app.invocation(
            &alice,
            Action::Autocomplete {
                name: "so".into(),
                path: vec![sub.into()],
                focused: focused.into(),
                value: typed.into(),
            },
        )
    };
    let names = |r: &Reply| match &r.kind {
        ReplyKind::Choices(c) => c.clone(),
        other => panic!("{other:?}"),
    };
    app.slash(&alice, "search", &[("query", "async")]).await;
    app.fake.clear_requests();
    let r = app.run(&complete("question", "id", "tokio")).await;
    let choices = names(&r);
    assert_eq!(choices[0].value, Q_ASYNC.to_string(), "{choices:?}");
    assert!(choices[0].name.contains("tokio") && choices[0].name.ends_with(&format!("#{Q_ASYNC}")));
    assert!(
        app.fake.requests().is_empty(),
        "seen in this channel: no call"
    );
    // Unseen words: one live search, charged like any search.
    let r = app
        .run(&complete("answer", "question", "axum handlers"))
        .await;
    assert!(names(&r).iter().any(|c| c.name.contains("axum")), "{r:?}");
    let searches = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.route == "/search")
        .count();
    assert_eq!(searches, 1);
    // A number or a link is offered as it is; too little text makes no call.
    app.fake.clear_requests();
    let r = app.run(&complete("question", "id", "42")).await;
    assert_eq!(names(&r)[0].value, "42");
    app.run(&complete("question", "id", "zq")).await;
    assert!(app.fake.requests().is_empty());
    // The chosen value works with the command as before.
    let shown = app
        .slash(&alice, "question", &[("id", &choices[0].value)])
        .await;
    assert!(!shown.embeds.is_empty());
}

/// Issue 10, part 6 (in part): `/so link` when already linked says so and offers to link
/// again; Link again starts a fresh link.
#[tokio::test]
async fn link_when_linked_says_so_and_offers_relink() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let first = app.slash(&alice, "link", &[]).await;
    TestApp::link_url(&first);
    app.link(&alice).await;
    let again = app.slash(&alice, "link", &[]).await;
    assert!(
        again.content.contains("already linked to **Jane Doe**"),
        "{again:?}"
    );
    let relink = app
        .press(&alice, &TestApp::button(&again, "Link again"))
        .await;
    assert!(TestApp::link_url(&relink).as_str().contains("/link/start"));
}

/// Issue 10, part 4: a question asked from a message ("Ask on …") gets a channel card that
/// replies to that message.
#[tokio::test]
async fn the_card_of_a_question_asked_from_a_message_replies_to_it() {
    let app = TestApp::start().await;
    let alice = poster(111, "alice");
    app.link(&alice).await;
    let msg = soe_bot::commands::MessageRef {
        id: 4_242,
        author_id: 111,
        author_name: "alice".into(),
        content: "Why does my zeppelin autoscaler oscillate every hour?\nIt flaps between 3 and 9 replicas.".into(),
        thread_name: None,
    };
    let modal = app
        .run(&app.invocation(
            &alice,
            Action::MessageCommand {
                name: "Ask on Acme Stack Overflow".into(),
                message: msg,
            },
        ))
        .await;
    let ReplyKind::Modal(m) = &modal.kind else {
        panic!("{modal:?}")
    };
    let r = app
        .submit(
            &alice,
            &m.id,
            &ask_fields(
                "Why does my zeppelin autoscaler oscillate every hour?",
                BODY,
                "kubernetes",
            ),
        )
        .await;
    let r = if TestApp::try_button(&r, "Post anyway") {
        app.press(&alice, &TestApp::button(&r, "Post anyway")).await
    } else {
        r
    };
    let card = app
        .press(&alice, &TestApp::button(&r, "Post a card in the channel"))
        .await;
    assert!(!card.ephemeral, "{card:#?}");
    assert_eq!(card.reply_to, Some(4_242));
}

/// Issue 10, part 7 (in part): "Ask on …" on a forum post's starter message takes the title
/// from the post (the thread's name); mentions already read as names (see the adapter).
#[tokio::test]
async fn a_forum_posts_name_prefills_the_title() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let starter = soe_bot::commands::MessageRef {
        id: 7_777,
        author_id: 111,
        author_name: "alice".into(),
        content: "It flaps between 3 and 9 replicas every hour.".into(),
        thread_name: Some("Why does my autoscaler oscillate?".into()),
    };
    let mut inv = app.invocation(
        &alice,
        Action::MessageCommand {
            name: "Ask on Acme Stack Overflow".into(),
            message: starter.clone(),
        },
    );
    inv.channel_id = Some(7_777);
    inv.in_thread = true;
    let r = app.run(&inv).await;
    let ReplyKind::Modal(m) = &r.kind else {
        panic!("{r:?}")
    };
    assert_eq!(
        m.inputs[0].value.as_deref(),
        Some("Why does my autoscaler oscillate?")
    );
    // A reply further down the thread keeps its own first line.
    let mut later = inv.clone();
    later.action = Action::MessageCommand {
        name: "Ask on Acme Stack Overflow".into(),
        message: soe_bot::commands::MessageRef {
            id: 7_778,
            ..starter
        },
    };
    let r = app.run(&later).await;
    let ReplyKind::Modal(m) = &r.kind else {
        panic!("{r:?}")
    };
    assert_eq!(
        m.inputs[0].value.as_deref(),
        Some("It flaps between 3 and 9 replicas every hour.")
    );
}

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
        const MARKERS: [&str; 6] = [
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
            let tail = &rest[start + len..];
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
    let open = TestApp::button(&r, "Open 1");
    let q = app.press(&alice, &open).await;
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
    let members: Vec<_> = (0..10).map(|i| TestApp::member(500 + i, "m")).collect();
    for (i, m) in members.iter().enumerate() {
        app.slash(m, "question", &[("id", &Q_ASYNC.to_string())])
            .await;
        let _ = i;
    }
    let service_calls = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.token.as_deref() == Some(app.fake.service_token().as_str()))
        .count();
    let routes: Vec<_> = app
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.route, r.status))
        .collect();
    assert!(
        service_calls <= 5,
        "burst of 5 per 2 s held (tag refresh included): {service_calls} {routes:?}"
    );
    let busy = app.slash(&members[0], "question", &[("id", "1")]).await;
    assert!(busy.content.contains("busy"), "{busy:?}");
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
    // Linking (the button gives a fresh ticket) posts the draft and tells the member where.
    let link = app
        .press(&alice, &TestApp::button(&r, "Link account"))
        .await;
    let run = app.browse_link(&TestApp::link_url(&link), true).await;
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
    let app = TestApp::start().await;
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
    assert!(app.run(&dm).await.content.contains("only inside a server"));
    let mut role = TestApp::member(333, "roled");
    role.role_names = vec!["soe admins".into()];
    let enable_other = app.invocation(
        &role,
        Action::Command {
            name: "so-admin".into(),
            path: vec!["channel".into(), "enable".into()],
            options: vec![("channel".into(), OptionValue::Channel(77))],
        },
    );
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
    assert_eq!(app.store.guild_settings(1).unwrap().disabled_channels, [10]);
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
        ..msg
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
        content: soe_bot::store::DraftContent::Answer {
            question_id: Q_ASYNC,
            body: "An answer whose post was cut short by a crash.".into(),
        },
        state: soe_bot::store::DraftState::Posting { since: now },
        post_after_link: false,
        created_at: now,
        expires_at: now + chrono::Duration::hours(24),
    };
    app.store.put_draft(&draft).unwrap();
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

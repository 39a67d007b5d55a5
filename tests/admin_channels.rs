//! What the admin settings change for members, through the use cases (a stand-in for the
//! Discord adapter records audit messages): writes made through the bot are audited with who,
//! what and a link; a channel's default tags prefill the ask form; a channel bound to a private
//! team needs the team's grant (asked for when linking from that server) and posts there;
//! doctor shows the notifications' health (a failing poll, a rule's last error, the outbox);
//! `subscribe` and `unsubscribe` are each one audit entry naming who and what; `subscribe`
//! changes a channel's threads and hourly cap even when its rule already exists, and warns
//! (keeping the rule) about tags the site's loaded tag list does not have.

mod support;

use chrono::Duration;
use soe_bot::commands::{Action, Member, OptionValue, Reply, ReplyKind};
use soe_bot::fake_soe::{Q_TEAM, Q_UNANSWERED, TEAM};
use soe_bot::notify::model::TargetState;
use soe_bot::notify::rule::RuleError;
use soe_bot::store::{NotifyStore, Store};
use support::test_app::TestApp;

/// The channel [`TestApp::invocation`] acts in, and another one of guild 1.
const HERE: u64 = 10;
const AUDIT: u64 = 11;

fn boss() -> Member {
    let mut m = TestApp::member(222, "boss");
    m.permissions = Some(soe_bot::commands::admin::MANAGE_GUILD);
    m
}

async fn admin(t: &TestApp, path: &[&str], options: Vec<(&str, OptionValue)>) -> Reply {
    let inv = t.invocation(
        &boss(),
        Action::Command {
            name: "so-admin".into(),
            path: path.iter().map(|p| p.to_string()).collect(),
            options: options
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        },
    );
    t.run(&inv).await
}

async fn entries(server: &support::test_app::StubServer, n: usize) -> Vec<String> {
    for _ in 0..300 {
        if server.posted_in(AUDIT).len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    server
        .posted_in(AUDIT)
        .into_iter()
        .map(|r| {
            assert!(!r.ephemeral);
            r.content
        })
        .collect()
}

/// Answers `question` through the modal, as `member`.
async fn answer(t: &TestApp, member: &Member, question: i64, body: &str) -> Reply {
    let modal = t
        .slash(member, "answer", &[("question", &question.to_string())])
        .await;
    let ReplyKind::Modal(m) = modal.kind else {
        panic!("a modal: {modal:?}")
    };
    t.submit(member, &m.id, &[("body", body)]).await
}

#[tokio::test]
async fn writes_made_through_the_bot_are_audited_with_who_what_and_a_link() {
    let t = TestApp::start().await;
    let server = t.stub_server();
    let set = admin(
        &t,
        &["audit-channel"],
        vec![("channel", OptionValue::Channel(AUDIT))],
    )
    .await;
    assert!(set.content.contains("now reported in"), "{set:?}");
    assert_eq!(entries(&server, 1).await.len(), 1);

    let jane = TestApp::member(111, "jane");
    t.link(&jane).await;
    let vote = soe_bot::commands::ids::Id::VoteQuestion {
        question: Q_UNANSWERED,
        vote: soe_bot::soe::Vote::Up,
        on: soe_bot::commands::ids::Surface::Card,
    };
    let voted = t.press(&jane, &vote.encode()).await;
    assert!(voted.content.contains("as **"), "{voted:?}");
    let posted = answer(
        &t,
        &jane,
        Q_UNANSWERED,
        "Restart the pod after rotating the secret; the old one is cached in memory.",
    )
    .await;
    assert!(posted.content.contains("Posted as"), "{posted:?}");
    let e = entries(&server, 3).await;
    assert_eq!(e.len(), 3, "one entry per write: {e:#?}");
    assert!(
        e[1].starts_with("📝 **@jane** (`111`) upvoted question 7 from <#10> <http"),
        "{}",
        e[1]
    );
    assert!(
        e[1].contains(&format!("/questions/{Q_UNANSWERED}>")),
        "{}",
        e[1]
    );
    assert!(
        e[2].starts_with("📝 member `111` posted an answer to question 7 as **")
            && e[2].contains(" from <#10> <http"),
        "{}",
        e[2]
    );
    for entry in &e {
        assert!(
            !entry.contains("Restart the pod"),
            "no post text in the audit: {entry}"
        );
    }
    // A refused write is not a write.
    t.fake
        .set_application(soe_bot::fake_soe::AppStatus::ReadOnly);
    let down = soe_bot::commands::ids::Id::VoteQuestion {
        question: Q_UNANSWERED,
        vote: soe_bot::soe::Vote::UndoUp,
        on: soe_bot::commands::ids::Surface::Card,
    };
    t.press(&jane, &down.encode()).await;
    assert_eq!(entries(&server, 4).await.len(), 3);
}

#[tokio::test]
async fn a_channels_default_tags_prefill_the_ask_form_unless_the_member_gave_some() {
    let t = TestApp::start().await;
    t.stub_server();
    let set = admin(
        &t,
        &["channel", "tags"],
        vec![("tags", OptionValue::Str("kubernetes, helm".into()))],
    )
    .await;
    assert!(set.content.contains("`kubernetes`, `helm`"), "{set:?}");
    let jane = TestApp::member(111, "jane");
    let tags_field = |r: &Reply| match &r.kind {
        ReplyKind::Modal(m) => m
            .inputs
            .iter()
            .find(|i| i.id == "tags")
            .and_then(|i| i.value.clone()),
        other => panic!("a modal: {other:?}"),
    };
    let form = t.slash(&jane, "ask", &[]).await;
    assert_eq!(tags_field(&form).as_deref(), Some("kubernetes helm"));
    let own = t.slash(&jane, "ask", &[("tags", "rust")]).await;
    assert_eq!(tags_field(&own).as_deref(), Some("rust"));
}

#[tokio::test]
async fn a_team_channel_needs_the_team_grant_asks_for_it_when_linking_and_posts_to_the_team() {
    let t = TestApp::start().await;
    t.stub_server();
    let jane = TestApp::member(111, "jane");
    // Linked before the channel was bound: no grant for the team.
    t.link(&jane).await;
    let bound = admin(
        &t,
        &["channel", "team"],
        vec![("slug", OptionValue::Str(TEAM.into()))],
    )
    .await;
    assert!(
        bound.content.contains("now works in the private team"),
        "{bound:?}"
    );
    let refused = answer(
        &t,
        &jane,
        Q_TEAM,
        "Use the team's shared runner pool for this.",
    )
    .await;
    assert!(
        refused.content.contains(&format!("private team `{TEAM}`"))
            && refused.content.contains("Link again"),
        "{refused:?}"
    );
    assert!(t
        .fake
        .answers(Q_TEAM)
        .iter()
        .all(|a| !a.body_markdown.contains("runner pool")));
    // Linking again from this server (the prompt's Link button) asks for the team's grant.
    let link = t.press(&jane, "so:link").await;
    let start = TestApp::link_url(&link);
    let run = t.browse_link(&start, true).await;
    assert!(run.last().1.contains("Account linked"), "{:?}", run.last());
    t.next_notice().await;
    let scopes = t.store.get_link(jane.id).await.unwrap().unwrap().scopes;
    assert!(scopes.contains(&t.fake.team_scope(TEAM)), "{scopes:?}");
    // The answer kept while linking is posted as soon as the link is made, in the team.
    let posted = t.next_notice().await;
    assert!(posted.reply.content.contains("Posted as"), "{posted:?}");
    assert!(
        t.fake
            .answers(Q_TEAM)
            .iter()
            .any(|a| a.body_markdown.contains("runner pool for this.")),
        "posted in the team"
    );
}

#[tokio::test]
async fn doctor_shows_a_failing_poll_a_rules_last_error_and_the_outbox() {
    let t = TestApp::start().await;
    let server = t.stub_server();
    let sub = admin(
        &t,
        &["subscribe"],
        vec![("tags", OptionValue::Str("rust".into()))],
    )
    .await;
    assert!(sub.content.contains("Rule **#1**"), "{sub:?}");
    let now = t.clock_now();
    t.store
        .record_rule_outcome(
            1,
            &[1],
            Err(RuleError {
                message: "the channel is gone (Discord: Unknown Channel)".into(),
                at: now - Duration::minutes(3),
            }),
        )
        .await
        .unwrap();
    t.store
        .put_target_state(
            "main",
            &TargetState {
                last_poll_at: Some(now - Duration::seconds(30)),
                last_error: Some(RuleError {
                    message: "the site answered 503".into(),
                    at: now - Duration::seconds(30),
                }),
                lag_secs: Some(42),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A channel bound (before the service token lost access) to a team it cannot read.
    let mut s = t.store.guild_settings(1).await.unwrap();
    s.channel_teams
        .insert(AUDIT, soe_bot::soe::TeamSlug::parse("secret-team").unwrap());
    t.store.put_guild_settings(1, &s).await.unwrap();
    let report = admin(&t, &["doctor"], vec![]).await.content;
    assert!(report.contains("3 problems"), "{report}");
    assert!(
        report.contains("❌ The private team `secret-team`"),
        "{report}"
    );
    assert!(
        report.contains("❌ Notifications from the main site: the last poll failed (the site answered 503); last poll just now, 42 s behind the site."),
        "{report}"
    );
    assert!(
        report.contains(
            "❌ Rule #1 in <#10>: the channel is gone (Discord: Unknown Channel) (3 minutes ago)."
        ),
        "{report}"
    );
    assert!(report.contains("✅ Outbox: 0 cards waiting."), "{report}");
    assert_eq!(server.posted_in(HERE).len(), 1, "the test card");
}

#[tokio::test]
async fn subscribe_and_unsubscribe_are_each_one_audit_entry_with_who_and_what() {
    let t = TestApp::start().await;
    let server = t.stub_server();
    admin(
        &t,
        &["audit-channel"],
        vec![("channel", OptionValue::Channel(AUDIT))],
    )
    .await;
    assert_eq!(entries(&server, 1).await.len(), 1);
    let sub = admin(
        &t,
        &["subscribe"],
        vec![
            ("tags", OptionValue::Str("rust, tokio".into())),
            ("events", OptionValue::Str("questions".into())),
        ],
    )
    .await;
    assert!(sub.content.contains("Rule **#1**"), "{sub:?}");
    let e = entries(&server, 2).await;
    assert_eq!(e.len(), 2, "one entry for the subscribe: {e:#?}");
    assert_eq!(
        e[1],
        "📝 **@boss** (`222`) added subscription rule #1 in <#10>: any of `rust`, `tokio`; questions"
    );
    // A refused subscribe (no tags) changes nothing and is not audited.
    let refused = admin(&t, &["subscribe"], vec![]).await;
    assert!(refused.content.contains("at least one tag"), "{refused:?}");
    let gone = admin(&t, &["unsubscribe"], vec![("rule", OptionValue::Int(1))]).await;
    assert!(gone.content.contains("Rule #1 removed"), "{gone:?}");
    let e = entries(&server, 3).await;
    assert_eq!(e.len(), 3, "one entry for the unsubscribe: {e:#?}");
    assert_eq!(e[2], "📝 **@boss** (`222`) removed subscription rule #1");
    // Removing a rule that is not there is not a change.
    admin(&t, &["unsubscribe"], vec![("rule", OptionValue::Int(1))]).await;
    assert_eq!(entries(&server, 4).await.len(), 3);
}

#[tokio::test]
async fn subscribe_changes_a_channels_threads_and_cap_even_for_an_existing_rule() {
    let t = TestApp::start().await;
    let server = t.stub_server();
    admin(
        &t,
        &["audit-channel"],
        vec![("channel", OptionValue::Channel(AUDIT))],
    )
    .await;
    let rust = || ("tags", OptionValue::Str("rust".into()));
    let first = admin(&t, &["subscribe"], vec![rust()]).await;
    assert!(first.content.contains("Rule **#1**"), "{first:?}");
    let before = t.store.channel_notify(HERE).await.unwrap();
    assert!(!before.threads);
    // The same rule again, with the channel's options: the rule stays, the options change.
    let again = admin(
        &t,
        &["subscribe"],
        vec![
            rust(),
            ("threads", OptionValue::Bool(true)),
            ("cap-per-hour", OptionValue::Int(5)),
        ],
    )
    .await;
    assert!(
        again
            .content
            .contains("Rule #1 already does exactly this in <#10>"),
        "{again:?}"
    );
    assert!(
        again
            .content
            .contains("threads on question cards on, at most 5 cards an hour"),
        "{again:?}"
    );
    let now = t.store.channel_notify(HERE).await.unwrap();
    assert!(now.threads, "{now:?}");
    assert_eq!(now.cap_per_hour, 5);
    assert_eq!(t.store.rules_of(1).await.unwrap().len(), 1, "no new rule");
    let e = entries(&server, 3).await;
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!(
        e[2],
        "📝 **@boss** (`222`) set the cards of <#10> to threads on question cards on, at most 5 cards an hour"
    );
    // Out of range: refused, nothing changed.
    let bad = admin(
        &t,
        &["subscribe"],
        vec![rust(), ("cap-per-hour", OptionValue::Int(0))],
    )
    .await;
    assert!(bad.content.contains("between 1 and 200"), "{bad:?}");
    assert_eq!(t.store.channel_notify(HERE).await.unwrap().cap_per_hour, 5);
    // The same options again change nothing: no entry.
    admin(
        &t,
        &["subscribe"],
        vec![rust(), ("threads", OptionValue::Bool(true))],
    )
    .await;
    assert_eq!(entries(&server, 4).await.len(), 3);
    // A new rule with a change names both in one entry.
    let second = admin(
        &t,
        &["subscribe"],
        vec![
            ("tags", OptionValue::Str("go".into())),
            ("threads", OptionValue::Bool(false)),
        ],
    )
    .await;
    assert!(second.content.contains("Rule **#2**"), "{second:?}");
    let e = entries(&server, 4).await;
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(
        e[3].contains("added subscription rule #2 in <#10>")
            && e[3].contains(
                "set the cards of <#10> to threads on question cards off, at most 5 cards an hour"
            ),
        "{}",
        e[3]
    );
}

#[tokio::test]
async fn subscribe_warns_about_tags_the_site_does_not_know_and_keeps_the_rule() {
    let t = TestApp::start().await;
    t.stub_server();
    let tags = |v: &str| ("tags", OptionValue::Str(v.into()));
    // Before the site's tag list is loaded nothing can be told: no warning.
    let quiet = admin(&t, &["subscribe"], vec![tags("rust, rsut")]).await;
    assert!(quiet.content.contains("Rule **#1**"), "{quiet:?}");
    assert!(!quiet.content.contains("no tag"), "{quiet:?}");
    t.app.commands.refresh_tags().await.unwrap();
    let warned = admin(
        &t,
        &["subscribe"],
        vec![
            tags("rust, tokoi"),
            ("exclude", OptionValue::Str("wsam".into())),
        ],
    )
    .await;
    assert!(warned.content.contains("Rule **#2**"), "{warned:?}");
    assert!(
        warned
            .content
            .contains("⚠️ The site has no tag `tokoi` or `wsam` (yet)"),
        "{warned:?}"
    );
    assert!(!warned.content.contains("`rust` or"), "{warned:?}");
    let rules = t.store.rules_of(1).await.unwrap();
    assert_eq!(rules.len(), 2, "the rule is kept");
    assert_eq!(rules[1].spec.tags, ["rust", "tokoi"]);
    // Known tags: no warning.
    let fine = admin(&t, &["subscribe"], vec![tags("tokio")]).await;
    assert!(fine.content.contains("Rule **#3**"), "{fine:?}");
    assert!(!fine.content.contains("no tag"), "{fine:?}");
}

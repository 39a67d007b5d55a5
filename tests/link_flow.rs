//! Account linking end to end over real loopback HTTP: the bot's web server, the fake site's
//! OAuth + PKCE, the sealed store, and the use cases.

mod support;

use chrono::Duration;
use soe_bot::fake_soe::{Approval, JANE, Q_ASYNC, SAM};
use soe_bot::store::{LinkStatus, Store};
use support::test_app::{form_token, TestApp};

fn token_requests(app: &TestApp) -> usize {
    app.fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/access_token/json")
        .count()
}

#[tokio::test]
async fn link_then_post_is_credited_to_the_linked_user() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let reply = app.slash(&alice, "link", &[]).await;
    assert!(reply.ephemeral, "the link URL is shown only to the member");
    let start = TestApp::link_url(&reply);
    assert_eq!(start.path(), "/link/start");

    let run = app.browse_link(&start, false).await;
    assert_eq!(run.pages[0].0, 303, "start redirects to the site");
    let (status, confirm_page) = &run.pages[2];
    assert_eq!(*status, 200);
    assert!(
        confirm_page.contains("alice") && confirm_page.contains("Jane Doe"),
        "names both accounts"
    );
    assert!(
        app.store.get_link(111).unwrap().is_none(),
        "nothing stored before Confirm"
    );

    let token = form_token(confirm_page).unwrap();
    let done = app
        .http
        .post(app.web.join("oauth/confirm").unwrap())
        .form(&[("form_token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let link = app.store.get_link(111).unwrap().expect("linked");
    assert_eq!(link.soe_user_id, JANE);
    assert_eq!(link.status, LinkStatus::Active);
    assert_eq!(link.scopes, ["write_access"]);
    assert!(link.expires_at.is_some(), "24 h token without no_expiry");
    let notice = app.next_notice().await;
    assert!(notice.reply.content.contains("Jane Doe"), "{notice:?}");

    // A write with that token, credited by the fake to Jane.
    app.fake.clear_requests();
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("as **Jane Doe**"), "{r:?}");
    let vote = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a vote POST");
    assert_eq!(vote.user_id, Some(JANE));
    assert_ne!(
        vote.token.as_deref(),
        Some(app.fake.service_token().as_str()),
        "never the service token"
    );

    // Replaying the confirmation does nothing.
    let again = app
        .http
        .post(app.web.join("oauth/confirm").unwrap())
        .form(&[("form_token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn a_replayed_state_is_refused_and_stores_nothing() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let authorize = app.redirect(start).await;
    let callback = app.redirect(&authorize).await;
    assert_eq!(app.http.get(&callback).send().await.unwrap().status(), 200);
    let exchanges = token_requests(&app);
    let replay = app.http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already used"));
    assert_eq!(token_requests(&app), exchanges, "no second exchange");
    assert!(app.store.get_link(111).unwrap().is_none());
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let authorize = app.redirect(start).await;
    app.clock.advance(Duration::seconds(601));
    let callback = app.redirect(&authorize).await;
    let page = app.http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expired"));
    assert_eq!(token_requests(&app), 0, "the code is never exchanged");
    assert!(app.store.get_link(111).unwrap().is_none());
}

#[tokio::test]
async fn a_state_just_inside_its_ttl_still_works() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let authorize = app.redirect(start).await;
    app.clock.advance(Duration::seconds(599));
    let callback = app.redirect(&authorize).await;
    assert_eq!(app.http.get(&callback).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_by_the_site() {
    // Two flows; the code minted for flow A is delivered to flow B's callback, so the bot
    // exchanges it with B's verifier. PKCE must make the site refuse.
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let mut authorize = Vec::new();
    for _ in 0..2 {
        let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
        authorize.push(url::Url::parse(&app.redirect(start).await).unwrap());
    }
    // Only the latest pending authorization of a member survives; use a second member for B.
    let bob = TestApp::member(222, "bob");
    let start_b = TestApp::link_url(&app.slash(&bob, "link", &[]).await);
    let authorize_b = url::Url::parse(&app.redirect(start_b).await).unwrap();
    let cb_a = app.fake.approve(&authorize[1], JANE).unwrap();
    let code_a = cb_a
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let state_b = authorize_b
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let mut forged = app.web.join("oauth/callback").unwrap();
    forged
        .query_pairs_mut()
        .append_pair("code", &code_a)
        .append_pair("state", &state_b);
    let page = app.http.get(forged).send().await.unwrap();
    assert_eq!(page.status(), 400);
    let exchanges: Vec<_> = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/access_token/json")
        .collect();
    assert_eq!(exchanges.len(), 1, "one exchange, for the forged callback");
    let exchange = &exchanges[0];
    // The bot sent a verifier: flow B's, the one whose challenge B's authorize URL carried,
    // not flow A's (the code's).
    let verifier = exchange
        .param("code_verifier")
        .expect("the exchange carried a code_verifier");
    assert_eq!(verifier.len(), 43, "a 256-bit verifier");
    let challenge_of = |url: &url::Url| {
        url.query_pairs()
            .find(|(k, _)| k == "code_challenge")
            .map(|(_, v)| v.into_owned())
            .expect("a code_challenge")
    };
    use base64::Engine as _;
    use sha2::Digest as _;
    let s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(s256, challenge_of(&authorize_b), "B's verifier was sent");
    assert_ne!(s256, challenge_of(&authorize[1]), "not the code's own");
    // The site refused it for PKCE, not for anything else.
    assert_eq!(exchange.status, 400, "the site refused the verifier");
    let body = exchange.response.as_ref().expect("a JSON error body");
    assert_eq!(body["error_name"], "invalid_grant", "{body}");
    assert_eq!(
        body["error_message"], "code_verifier does not match",
        "{body}"
    );
    assert!(app.store.get_link(222).unwrap().is_none());
    assert!(app.store.get_link(111).unwrap().is_none());
}

#[tokio::test]
async fn a_missing_or_malformed_state_never_reaches_the_site() {
    let app = TestApp::start().await;
    for q in [
        "code=abc",
        "code=abc&state=",
        "code=abc&state=short",
        &format!("code=abc&state={}", "A".repeat(2048)),
        "code=abc&state=%00%01",
    ] {
        let url = app.web.join(&format!("oauth/callback?{q}")).unwrap();
        let page = app.http.get(url).send().await.unwrap();
        assert_eq!(page.status(), 400, "{q}");
    }
    assert_eq!(token_requests(&app), 0);
}

#[tokio::test]
async fn a_ticket_works_once() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    assert_eq!(
        app.http.get(start.clone()).send().await.unwrap().status(),
        303
    );
    let second = app.http.get(start).send().await.unwrap();
    assert_eq!(second.status(), 400);
    assert!(second.headers().get("location").is_none());
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    app.clock.advance(Duration::minutes(16));
    let page = app.http.get(start).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn another_persons_browser_completing_a_members_ticket_is_named_and_needs_confirmation() {
    // Alice's ticket reaches Sam (forwarded link). Sam signs in on the site and approves. The
    // confirmation page tells Sam that Discord member "alice" would post as Sam; without his
    // Confirm nothing is stored for anyone.
    let app = TestApp::builder()
        .approval(Approval::AutoApprove { user_id: SAM })
        .start()
        .await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link(&start, false).await;
    let (status, page) = run.last();
    assert_eq!(*status, 200);
    assert!(
        page.contains("Discord member <strong>alice</strong>"),
        "{page}"
    );
    assert!(page.contains("Sam Rivera"), "{page}");
    assert!(page.contains("If someone sent you this link"), "{page}");
    assert!(app.store.get_link(111).unwrap().is_none());
    let token = form_token(page).unwrap();
    let cancel = app
        .http
        .post(app.web.join("oauth/confirm").unwrap())
        .form(&[("form_token", token.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let after = app
        .http
        .post(app.web.join("oauth/confirm").unwrap())
        .form(&[("form_token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        400,
        "a cancelled confirmation cannot be confirmed later"
    );
    assert!(app.store.get_link(111).unwrap().is_none());
}

#[tokio::test]
async fn a_confirmation_left_too_long_expires() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link(&start, false).await;
    let token = form_token(&run.last().1).unwrap();
    app.clock.advance(Duration::minutes(11));
    let r = app
        .http
        .post(app.web.join("oauth/confirm").unwrap())
        .form(&[("form_token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(app.store.get_link(111).unwrap().is_none());
}

#[tokio::test]
async fn denial_on_the_site_stores_nothing_and_says_so() {
    let app = TestApp::builder().approval(Approval::Deny).start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link(&start, true).await;
    let (status, page) = run.last();
    assert_eq!(*status, 400);
    assert!(page.contains("Linking cancelled"), "{page}");
    assert_eq!(token_requests(&app), 0);
    assert!(app.store.get_link(111).unwrap().is_none());
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_nothing_else_is_served() {
    let app = TestApp::start().await;
    for path in [
        "link/start?ticket=x",
        "oauth/callback?state=x",
        "healthz",
        "nothing-here",
    ] {
        let r = app
            .http
            .get(app.web.join(path).unwrap())
            .send()
            .await
            .unwrap();
        let h = r.headers();
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{path}"
        );
        assert!(h.get("location").is_none(), "{path}");
        if path == "nothing-here" {
            assert_eq!(r.status(), 404);
        }
    }
    let r = app
        .http
        .post(app.web.join("oauth/callback").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = app.http.get(app.web.join("oauth/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E&next=https://evil.example").unwrap()).send().await.unwrap();
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("<script") && !body.contains("evil"),
        "{body}"
    );
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "no external resources: {body}"
    );
}

#[tokio::test]
async fn unlink_forgets_the_token_and_me_shows_the_link() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let me = app.slash(&alice, "me", &[]).await;
    assert!(me.content.contains("not linked"), "{me:?}");
    app.link(&alice).await;
    let me = app.slash(&alice, "me", &[]).await;
    assert!(me.ephemeral);
    assert!(
        me.content.contains("Jane Doe") && me.content.contains("write_access"),
        "{}",
        me.content
    );
    assert!(
        me.content.contains("Token expires:** 2026-01-02"),
        "{}",
        me.content
    );
    let r = app.slash(&alice, "unlink", &[]).await;
    assert!(r.content.contains("Unlinked"));
    assert!(app.store.get_link(111).unwrap().is_none());
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("link your"), "{r:?}");
}

#[tokio::test]
async fn a_401_marks_the_link_expired_and_asks_to_link_again() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    let token = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.route == "/users/me")
        .and_then(|r| r.token)
        .unwrap();
    app.fake.revoke_token(&token);
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("expired or was revoked"), "{r:?}");
    assert!(TestApp::button(&r, "Link account").starts_with("so:link"));
    assert_eq!(
        app.store.get_link(111).unwrap().unwrap().status,
        LinkStatus::Expired
    );
    app.fake.clear_requests();
    let again = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Down,
            }
            .encode(),
        )
        .await;
    assert!(again.content.contains("expired"), "{again:?}");
    assert!(
        app.fake.requests().is_empty(),
        "an expired link makes no call"
    );
    let me = app.slash(&alice, "me", &[]).await;
    assert!(me.content.contains("expired"), "{}", me.content);
}

#[tokio::test]
async fn a_known_expiry_is_checked_before_writing() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    app.link(&alice).await;
    app.clock.advance(Duration::hours(25));
    app.fake.clear_requests();
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("expired"), "{r:?}");
    assert!(app.fake.requests().is_empty());
}

#[tokio::test]
async fn a_read_only_link_is_explained() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    // Store a link whose token lacks write_access.
    let token = app.fake.mint_token(JANE, &[]);
    app.store
        .put_link(&soe_bot::store::Link {
            discord_user: 111,
            soe_user_id: JANE,
            soe_user_name: "Jane Doe".into(),
            soe_user_url: None,
            token: soe_bot::soe::UserToken::new(secrecy::SecretString::from(token)),
            scopes: vec![],
            expires_at: None,
            linked_at: app.clock_now(),
            last_used_at: None,
            status: LinkStatus::Active,
        })
        .unwrap();
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("read-only access"), "{r:?}");
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[tokio::test]
async fn after_linking_the_store_files_hold_neither_token_nor_verifier() {
    use base64::Engine;
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    // Leave one authorization pending too, so a verifier is at rest.
    app.link(&alice).await;
    let bob = TestApp::member(222, "bob");
    let start = TestApp::link_url(&app.slash(&bob, "link", &[]).await);
    app.http.get(start).send().await.unwrap();
    app.store.flush().unwrap();
    let log = app.fake.requests();
    let exchange = log
        .iter()
        .find(|r| r.path == "/oauth/access_token/json")
        .unwrap();
    let verifier = exchange.param("code_verifier").unwrap();
    let token = exchange
        .response
        .as_ref()
        .and_then(|b| b["access_token"].as_str())
        .unwrap()
        .to_string();
    let mut needles = vec![token.clone(), verifier.clone()];
    for s in [&token, &verifier] {
        needles.push(base64::engine::general_purpose::STANDARD.encode(s));
        needles.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s));
    }
    let mut files = Vec::new();
    files_under(app.dir.path(), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "{} holds a secret in clear",
                f.display()
            );
        }
    }
}

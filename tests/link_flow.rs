//! Account linking end to end over real loopback HTTP: the bot's web server, the fake site's
//! OAuth + PKCE, the sealed store, and the use cases.

mod support;

use chrono::Duration;
use soe_bot::fake_soe::{Approval, JANE, Q_ASYNC, SAM};
use soe_bot::store::{LinkStatus, Store};
use support::browser::Browser;
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

    let browser = app.browser_of(&alice).await;
    let run = app.browse_link_in(&browser, &start, false).await;
    let statuses: Vec<u16> = run.pages.iter().map(|p| p.0).collect();
    // start → site → callback → Discord → Discord callback (the confirmation page)
    assert_eq!(statuses, [303, 302, 303, 302, 200], "{:?}", run.pages);
    let (_, confirm_page) = run.last();
    assert!(
        confirm_page.contains("@alice") && confirm_page.contains("Jane Doe"),
        "names both accounts"
    );
    assert!(
        app.store.get_link(111).await.unwrap().is_none(),
        "nothing stored before Confirm"
    );
    assert_eq!(
        app.discord.count("/api/v10/users/@me"),
        1,
        "Discord was asked"
    );

    let token = form_token(confirm_page).unwrap();
    let done = app.confirm_in(&browser, &token, "confirm").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.set_cookies.iter().any(|c| c.contains("Max-Age=0")),
        "the binding cookie is cleared: {:?}",
        done.set_cookies
    );
    let link = app.store.get_link(111).await.unwrap().expect("linked");
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
                on: soe_bot::commands::ids::Surface::Note,
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
    let again = app.confirm_in(&browser, &token, "confirm").await;
    assert_eq!(again.status, 400);
}

/// The member's way to the site's authorize URL, in `browser`.
async fn to_site(app: &TestApp, browser: &Browser, member: &soe_bot::commands::Member) -> String {
    let start = TestApp::link_url(&app.slash(member, "link", &[]).await);
    browser.redirect(start).await
}

#[tokio::test]
async fn a_replayed_state_is_refused_and_stores_nothing() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let authorize = to_site(&app, &browser, &alice).await;
    let callback = browser.redirect(&authorize).await;
    assert_eq!(browser.get(&callback).await.status, 303, "on to Discord");
    let exchanges = token_requests(&app);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("already used"));
    assert_eq!(token_requests(&app), exchanges, "no second exchange");
    assert!(app.store.get_link(111).await.unwrap().is_none());
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let authorize = to_site(&app, &browser, &alice).await;
    app.clock.advance(Duration::seconds(601));
    let callback = browser.redirect(&authorize).await;
    let page = browser.get(&callback).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expired"));
    assert_eq!(token_requests(&app), 0, "the code is never exchanged");
    assert!(app.store.get_link(111).await.unwrap().is_none());
}

#[tokio::test]
async fn a_state_just_inside_its_ttl_still_works() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let authorize = to_site(&app, &browser, &alice).await;
    app.clock.advance(Duration::seconds(599));
    let callback = browser.redirect(&authorize).await;
    assert_eq!(browser.get(&callback).await.status, 303);
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_by_the_site() {
    // Two flows; the code minted for flow A is delivered to flow B's callback (in B's
    // browser), so the bot exchanges it with B's verifier. PKCE must make the site refuse.
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser_a = app.browser_of(&alice).await;
    let mut authorize = Vec::new();
    for _ in 0..2 {
        authorize.push(url::Url::parse(&to_site(&app, &browser_a, &alice).await).unwrap());
    }
    // Only the latest pending authorization of a member survives; use a second member for B.
    let bob = TestApp::member(222, "bob");
    let browser_b = app.browser_of(&bob).await;
    let authorize_b = url::Url::parse(&to_site(&app, &browser_b, &bob).await).unwrap();
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
    let page = browser_b.get(forged).await;
    assert_eq!(page.status, 400);
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
    assert!(app.store.get_link(222).await.unwrap().is_none());
    assert!(app.store.get_link(111).await.unwrap().is_none());
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

// ---- issue 8 part 1: the attack, step by step.
//
// Mallory sets her server nickname to the victim's name ("Jane Doe"), runs /so link and keeps a
// draft waiting for the link. She then forwards either the site's authorize URL (after opening
// her own ticket) or the ticket itself to Jane, who is signed in on the SOE site (auto-approve)
// and in Discord as herself.

fn mallory() -> soe_bot::commands::Member {
    let mut m = TestApp::member(666, "Jane Doe");
    m.username = "mallory".into();
    m
}

fn jane_in_discord() -> soe_bot::commands::Member {
    let mut m = TestApp::member(111, "Jane Doe");
    m.username = "jane".into();
    m
}

/// `m` writes a question before linking; it waits for their link.
async fn keep_a_draft(app: &TestApp, m: &soe_bot::commands::Member) {
    let modal = app.slash(m, "ask", &[]).await;
    let modal_id = match &modal.kind {
        soe_bot::commands::ReplyKind::Modal(md) => md.id.clone(),
        other => panic!("expected a modal, got {other:?}"),
    };
    let mut r = app
        .submit(
            m,
            &modal_id,
            &[
                ("title", "How do I read the whole knowledge base at once?"),
                (
                    "body",
                    "Posting this as whoever links next; it must only appear once linked for real.",
                ),
                ("tags", "rust"),
            ],
        )
        .await;
    if r.buttons()
        .iter()
        .any(|b| b.label().contains("Post anyway"))
    {
        r = app.press(m, &TestApp::button(&r, "Post anyway")).await;
    }
    assert!(
        r.buttons().iter().any(|b| b.label().contains("Link")),
        "the draft waits for a link: {r:?}"
    );
}

fn no_question_posted(app: &TestApp) {
    assert!(
        !app.fake
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.route.ends_with("/questions")),
        "no question was posted"
    );
}

/// The callback URL the site sent the browser to.
fn callback_in(pages: &[support::browser::Page]) -> String {
    pages
        .iter()
        .filter_map(|p| p.location.clone())
        .find(|l| l.contains("/oauth/callback"))
        .expect("the site redirected to the callback")
}

#[tokio::test]
async fn the_attack_a_forwarded_authorize_url_is_refused_in_the_victims_browser() {
    let app = TestApp::start().await;
    let mallory = mallory();
    keep_a_draft(&app, &mallory).await;
    let mallorys_browser = app.browser_of(&mallory).await;
    let authorize = to_site(&app, &mallorys_browser, &mallory).await;

    // Jane opens the forwarded /oauth?…state=… URL; the site approves her at once.
    let janes_browser = app.browser_of(&jane_in_discord()).await;
    let pages = janes_browser
        .follow(&url::Url::parse(&authorize).unwrap())
        .await;
    let last = pages.last().unwrap();
    assert_eq!(last.status, 403, "{}", last.body);
    assert!(last.body.contains("another browser"), "{}", last.body);
    assert!(last.body.contains("Nothing was linked"), "{}", last.body);
    assert_eq!(token_requests(&app), 0, "Jane's code is never exchanged");
    assert!(app.store.get_link(666).await.unwrap().is_none());
    assert_eq!(app.discord.count("/api/v10/users/@me"), 0);
    no_question_posted(&app);

    // The state was spent on the refusal: Mallory cannot finish with it either.
    let cb = url::Url::parse(&callback_in(&pages)).unwrap();
    assert_eq!(mallorys_browser.get(cb).await.status, 400);
    assert!(app.store.get_link(666).await.unwrap().is_none());
}

#[tokio::test]
async fn the_attack_the_victims_browser_with_the_attackers_ticket_is_refused_by_discord() {
    let app = TestApp::start().await;
    let mallory = mallory();
    keep_a_draft(&app, &mallory).await;
    let ticket = TestApp::link_url(&app.slash(&mallory, "link", &[]).await);

    // Jane opens the ticket itself: her browser gets its own cookie, the site approves her,
    // and Discord says who she is.
    let jane = jane_in_discord();
    let janes_browser = app.browser_of(&jane).await;
    let pages = janes_browser.follow(&ticket).await;
    let last = pages.last().unwrap();
    assert_eq!(last.status, 403, "{}", last.body);
    assert!(
        last.body.contains("@mallory"),
        "names who asked: {}",
        last.body
    );
    assert!(
        last.body.contains("@jane"),
        "and who is here: {}",
        last.body
    );
    assert!(last.body.contains("Nothing was linked"), "{}", last.body);
    assert!(form_token(&last.body).is_none(), "no confirmation offered");
    assert_eq!(
        app.discord.count("/api/v10/users/@me"),
        1,
        "Discord was asked"
    );
    assert!(
        app.store.get_link(666).await.unwrap().is_none(),
        "nothing stored"
    );
    assert!(app.store.get_link(111).await.unwrap().is_none());
    no_question_posted(&app);
    // Nothing comes to anyone (no "linked" notice, no posted draft).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut rx = app.notices.lock().await;
    assert!(rx.try_recv().is_err(), "no notice for anyone");
}

#[tokio::test]
async fn a_ticket_forwarded_to_the_members_own_other_browser_still_links() {
    // The member opens their own link on another device, signed in to Discord there too.
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let phone = app.browser_of(&alice).await;
    let run = app.browse_link_in(&phone, &start, true).await;
    assert_eq!(run.last().0, 200, "{:?}", run.last());
    assert!(app.store.get_link(111).await.unwrap().is_some());
}

#[tokio::test]
async fn the_confirmation_page_names_accounts_by_username_and_id_never_by_nickname() {
    let app = TestApp::builder()
        .approval(Approval::AutoApprove { user_id: SAM })
        .start()
        .await;
    let mut alice = TestApp::member(111, "Totally Not Alice");
    alice.username = "alice".into();
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link(&start, false).await;
    let (status, page) = run.last();
    assert_eq!(*status, 200, "{page}");
    assert!(page.contains("@alice"), "{page}");
    assert!(page.contains("<code>111</code>"), "the Discord id: {page}");
    assert!(page.contains("<code>1</code>"), "the server: {page}");
    assert!(
        !page.contains("Totally Not Alice"),
        "never the nickname: {page}"
    );
    assert!(page.contains("Discord confirmed"), "{page}");
    assert!(page.contains("Sam Rivera"), "{page}");
    assert!(
        page.contains(&format!("<code>{SAM}</code>")),
        "the SOE user id: {page}"
    );
    assert!(page.contains("href=\"http"), "the SOE profile link: {page}");
    assert!(page.contains("If someone sent you this link"), "{page}");
    assert!(app.store.get_link(111).await.unwrap().is_none());
}

#[tokio::test]
async fn cancel_on_the_confirmation_page_stores_nothing() {
    let app = TestApp::builder()
        .approval(Approval::AutoApprove { user_id: SAM })
        .start()
        .await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link_in(&browser, &start, false).await;
    let token = form_token(&run.last().1).unwrap();
    assert_eq!(app.confirm_in(&browser, &token, "cancel").await.status, 200);
    let after = app.confirm_in(&browser, &token, "confirm").await;
    assert_eq!(
        after.status, 400,
        "a cancelled confirmation cannot be confirmed later"
    );
    assert!(app.store.get_link(111).await.unwrap().is_none());
}

#[tokio::test]
async fn a_confirmation_posted_from_another_browser_is_refused() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link_in(&browser, &start, false).await;
    let token = form_token(&run.last().1).unwrap();
    let elsewhere = Browser::new();
    let r = app.confirm_in(&elsewhere, &token, "confirm").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app.confirm_in(&elsewhere, &token, "cancel").await;
    assert_eq!(r.status, 403, "another browser cannot cancel it either");
    assert!(app.store.get_link(111).await.unwrap().is_none());
    // The right browser still can.
    assert_eq!(
        app.confirm_in(&browser, &token, "confirm").await.status,
        200
    );
    assert!(app.store.get_link(111).await.unwrap().is_some());
}

#[tokio::test]
async fn a_confirmation_left_too_long_expires() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link_in(&browser, &start, false).await;
    let token = form_token(&run.last().1).unwrap();
    app.clock.advance(Duration::minutes(11));
    let r = app.confirm_in(&browser, &token, "confirm").await;
    assert_eq!(r.status, 400);
    assert!(app.store.get_link(111).await.unwrap().is_none());
}

#[tokio::test]
async fn drafts_wait_until_the_whole_flow_has_stored_the_link() {
    let app = TestApp::start().await;
    let jane = jane_in_discord();
    keep_a_draft(&app, &jane).await;
    let browser = app.browser_of(&jane).await;
    let start = TestApp::link_url(&app.slash(&jane, "link", &[]).await);
    let run = app.browse_link_in(&browser, &start, false).await;
    assert_eq!(run.last().0, 200);
    no_question_posted(&app);
    let token = form_token(&run.last().1).unwrap();
    assert_eq!(
        app.confirm_in(&browser, &token, "confirm").await.status,
        200
    );
    app.next_notice().await; // "linked"
    let posted = app.next_notice().await;
    assert!(
        app.fake
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.route.ends_with("/questions")),
        "posted after Confirm: {posted:?}"
    );
}

#[tokio::test]
async fn cancelling_at_discord_stores_nothing() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let browser = app.browser_of(&alice).await;
    let authorize = to_site(&app, &browser, &alice).await;
    let callback = browser.redirect(&authorize).await;
    let discord = url::Url::parse(&browser.redirect(&callback).await).unwrap();
    let state = discord
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let mut back = app.web.join("oauth/discord/callback").unwrap();
    back.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("state", &state);
    let page = browser.get(back).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Linking cancelled"), "{}", page.body);
    assert!(app.store.get_link(111).await.unwrap().is_none());
}

#[tokio::test]
async fn the_binding_cookie_is_http_only_lax_and_for_the_whole_host() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let browser = Browser::new();
    let page = browser.get(start).await;
    assert_eq!(page.status, 303);
    let cookie = page
        .set_cookies
        .iter()
        .find(|c| c.starts_with("soe-bot-link="))
        .unwrap_or_else(|| panic!("{:?}", page.set_cookies));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: a Secure cookie would be dropped"
    );
    let value = browser.cookie("soe-bot-link").unwrap();
    assert_eq!(value.len(), 43, "256 random bits");
    app.store.flush().await.unwrap();
    let mut files = Vec::new();
    files_under(app.dir.path(), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "only the cookie's hash is stored, {} holds it",
            f.display()
        );
    }
}

#[tokio::test]
async fn with_the_discord_check_off_the_page_warns_and_the_browser_is_still_bound() {
    let app = TestApp::builder().without_discord_check().start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let browser = Browser::new();
    let run = app.browse_link_in(&browser, &start, false).await;
    let statuses: Vec<u16> = run.pages.iter().map(|p| p.0).collect();
    assert_eq!(statuses, [303, 302, 200], "no Discord step");
    assert!(run.last().1.contains("Warning"), "{}", run.last().1);
    assert!(run.last().1.contains("@alice"), "{}", run.last().1);
    assert_eq!(app.discord.requests().len(), 0);
    let token = form_token(&run.last().1).unwrap();
    let other = Browser::new();
    assert_eq!(app.confirm_in(&other, &token, "confirm").await.status, 403);
    assert_eq!(
        app.confirm_in(&browser, &token, "confirm").await.status,
        200
    );
    assert!(app.store.get_link(111).await.unwrap().is_some());
}

#[tokio::test]
async fn the_confirm_form_works_under_a_public_url_path_prefix() {
    let app = TestApp::builder().public_prefix("soe-bot").start().await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    assert_eq!(start.path(), "/soe-bot/link/start");
    let browser = app.browser_of(&alice).await;
    let run = app.browse_link_in(&browser, &start, false).await;
    assert_eq!(run.last().0, 200, "{:?}", run.pages);
    let page = &run.last().1;
    assert!(
        page.contains("/soe-bot/oauth/confirm\""),
        "the form posts under the prefix: {page}"
    );
    let token = form_token(page).unwrap();
    let done = app.confirm_in(&browser, &token, "confirm").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(app.store.get_link(111).await.unwrap().is_some());
}

#[tokio::test]
async fn unlink_also_forgets_tickets_and_links_in_flight() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    // One unused ticket, one flow waiting at Discord, one waiting for Confirm.
    let unused = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let b1 = app.browser_of(&alice).await;
    let authorize = to_site(&app, &b1, &alice).await;
    let callback = b1.redirect(&authorize).await;
    let at_discord = b1.redirect(&callback).await;
    let b2 = app.browser_of(&alice).await;
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    let run = app.browse_link_in(&b2, &start, false).await;
    let token = form_token(&run.last().1).unwrap();

    let r = app.slash(&alice, "unlink", &[]).await;
    assert!(r.ephemeral);

    assert_eq!(b1.get(unused).await.status, 400, "the ticket is gone");
    let pages = b1.follow(&url::Url::parse(&at_discord).unwrap()).await;
    assert_eq!(
        pages.last().unwrap().status,
        400,
        "the Discord step is gone"
    );
    assert_eq!(app.confirm_in(&b2, &token, "confirm").await.status, 400);
    assert!(app.store.get_link(111).await.unwrap().is_none());
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
    assert!(app.store.get_link(111).await.unwrap().is_none());
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
    assert!(app.store.get_link(111).await.unwrap().is_none());
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
                on: soe_bot::commands::ids::Surface::Note,
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
                on: soe_bot::commands::ids::Surface::Note,
            }
            .encode(),
        )
        .await;
    assert!(r.content.contains("expired or was revoked"), "{r:?}");
    assert!(
        TestApp::link_url(&r).path().ends_with("/link/start"),
        "{r:?}"
    );
    assert_eq!(
        app.store.get_link(111).await.unwrap().unwrap().status,
        LinkStatus::Expired
    );
    app.fake.clear_requests();
    let again = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Down,
                on: soe_bot::commands::ids::Surface::Note,
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
                on: soe_bot::commands::ids::Surface::Note,
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
        .await
        .unwrap();
    let r = app
        .press(
            &alice,
            &soe_bot::commands::ids::Id::VoteQuestion {
                question: Q_ASYNC,
                vote: soe_bot::soe::Vote::Up,
                on: soe_bot::commands::ids::Surface::Note,
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
    app.store.flush().await.unwrap();
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

/// Issue 10, part 6: the unlinked member's private prompt after `/so ask`, answered through an
/// interaction whose token arrived at `received_at`.
async fn ask_unlinked(
    app: &TestApp,
    m: &soe_bot::commands::Member,
    token: &str,
    received_at: chrono::DateTime<chrono::Utc>,
) -> soe_bot::commands::Reply {
    let modal = app.slash(m, "ask", &[]).await;
    let modal_id = match &modal.kind {
        soe_bot::commands::ReplyKind::Modal(md) => md.id.clone(),
        other => panic!("expected a modal, got {other:?}"),
    };
    let mut inv = app.invocation(
        m,
        soe_bot::commands::Action::Modal {
            custom_id: modal_id,
            fields: [
                ("title", "Where do flibbertigibbets keep their spare keys?"),
                (
                    "body",
                    "Asked before linking; it must be posted once the link is confirmed.",
                ),
                ("tags", "rust"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        },
    );
    inv.reply_token = Some(soe_bot::commands::ReplyToken::new(token, received_at));
    let r = app.run(&inv).await;
    assert!(r.content.contains("link your"), "{r:?}");
    r
}

#[tokio::test]
async fn the_link_prompt_is_the_link_and_linking_rewrites_it_in_place() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let r = ask_unlinked(&app, &alice, "interaction-token-alice", app.clock_now()).await;
    // One click: the prompt's button is the /link/start URL, not a button to another prompt.
    assert!(
        !r.buttons().iter().any(|b| b.id() == Some("so:link")),
        "{r:?}"
    );
    let start = TestApp::link_url(&r);
    assert!(start.path().ends_with("/link/start"), "{start}");
    assert!(
        start.query().unwrap_or("").starts_with("ticket="),
        "{start}"
    );
    let run = app.browse_link(&start, true).await;
    assert_eq!(run.last().0, 200, "{:?}", run.pages);
    let notice = app.next_notice().await;
    assert_eq!(
        notice.original.as_ref().map(|t| t.expose()),
        Some("interaction-token-alice"),
        "the notice edits the prompt's message"
    );
    let site = app
        .fake
        .site_url()
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let text = &notice.reply.content;
    assert!(
        text.starts_with(&format!("Linked as **{}**", "Jane Doe"))
            && text.contains(&format!("your draft was posted: {site}/")),
        "{text}"
    );
    assert!(notice.reply.ephemeral);
    // The token is a secret: Debug never shows it.
    assert!(!format!("{notice:?}").contains("interaction-token-alice"));
    // The draft was posted once, as the linked user.
    let posted = app
        .fake
        .questions()
        .into_iter()
        .filter(|q| q.title.contains("flibbertigibbets"))
        .count();
    assert_eq!(posted, 1);
}

#[tokio::test]
async fn a_prompt_whose_token_is_too_old_is_answered_by_dm() {
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let old = app.clock_now() - Duration::minutes(15);
    let r = ask_unlinked(&app, &alice, "interaction-token-old", old).await;
    let run = app.browse_link(&TestApp::link_url(&r), true).await;
    assert_eq!(run.last().0, 200, "{:?}", run.pages);
    let first = app.next_notice().await;
    assert_eq!(first.original, None, "a 15-minute-old token is not used");
    assert!(
        first.reply.content.contains("now linked to **Jane Doe**"),
        "{first:?}"
    );
    let posted = app.next_notice().await;
    assert_eq!(posted.original, None);
    assert!(
        posted.reply.content.contains("Your saved draft was posted"),
        "{posted:?}"
    );
}

#[tokio::test]
async fn a_prompt_inside_fourteen_minutes_is_rewritten_once() {
    // Just inside the 14-minute margin the prompt is still edited; a second link event for
    // the same member (the prompt was already rewritten once) goes by DM.
    let app = TestApp::start().await;
    let alice = TestApp::member(111, "alice");
    let at = app.clock_now() - Duration::minutes(13);
    let r = ask_unlinked(&app, &alice, "interaction-token-13", at).await;
    let run = app.browse_link(&TestApp::link_url(&r), true).await;
    assert_eq!(run.last().0, 200, "{:?}", run.pages);
    let notice = app.next_notice().await;
    assert!(notice.original.is_some(), "{notice:?}");
    let again = app.link_start(&alice).await;
    let run = app.browse_link(&again, true).await;
    assert_eq!(run.last().0, 200, "{:?}", run.pages);
    let dm = app.next_notice().await;
    assert_eq!(dm.original, None, "{dm:?}");
}

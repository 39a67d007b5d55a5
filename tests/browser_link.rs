//! The linking pages in a real browser: headless Chromium driven over WebDriver (fantoccini),
//! so cookies, redirects and the Confirm button behave by a browser's rules, not a test
//! client's. Needs `chromedriver` listening at `$WEBDRIVER_URL` (default
//! `http://127.0.0.1:9515`) and Chromium; `.ci/run` installs Debian's `chromium` and
//! `chromium-driver`, starts the driver, and runs these with `--include-ignored`. A bare
//! `cargo test` lists them as ignored.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use soe_bot::fake_soe::Approval;
use soe_bot::store::Store;
use support::test_app::TestApp;

/// A fresh Chromium (a new, empty profile per session: one person's browser).
async fn chromium() -> Client {
    let url =
        std::env::var("WEBDRIVER_URL").unwrap_or_else(|_| "http://127.0.0.1:9515".to_string());
    let mut caps = serde_json::Map::new();
    let binary = std::env::var("CHROMIUM_BINARY").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": binary,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("no WebDriver at {url}: {e}"))
}

/// The page's text once it contains `needle`: after a click the browser is still on the old
/// page (or between documents, with no body) for a moment, longer on a loaded machine, so
/// this waits up to 20 s for the page that should follow and then returns whatever is shown.
async fn page_with(c: &Client, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = match c.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) || std::time::Instant::now() >= deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn click_button(c: &Client, label: &str) {
    c.find(Locator::XPath(&format!(
        "//button[contains(normalize-space(.), '{label}')]"
    )))
    .await
    .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
    .click()
    .await
    .expect("clicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver at $WEBDRIVER_URL; .ci/run provides them"]
async fn a_real_browser_links_through_consent_discord_and_confirm() {
    let app = TestApp::builder()
        .approval(Approval::ConsentPage)
        .start()
        .await;
    let alice = TestApp::member(111, "alice");
    let start = TestApp::link_url(&app.slash(&alice, "link", &[]).await);
    // The member is signed in to Discord in this browser.
    app.discord
        .add_user(soe_bot::fake_discord::FakeDiscordUser::new(
            111, "alice", "Alice",
        ));
    let c = chromium().await;
    c.goto(app.discord.login_url(111, None).as_str())
        .await
        .expect("Discord sign-in");

    c.goto(start.as_str()).await.expect("open the link button");
    // The site's consent page: approve as Jane.
    let text = page_with(&c, "Authorize application").await;
    assert!(text.contains("Authorize application"), "{text}");
    click_button(&c, "Approve as Jane Doe").await;
    // Back at the bot (cookie carried across the site's redirect), through Discord, to the
    // confirmation page.
    let text = page_with(&c, "Discord confirmed").await;
    assert!(text.contains("@alice"), "{text}");
    assert!(text.contains("Jane Doe"), "{text}");
    assert!(text.contains("Discord confirmed"), "{text}");
    assert!(app.store.get_link(111).await.unwrap().is_none());
    let cookies = c.get_all_cookies().await.expect("cookies");
    let binding = cookies
        .iter()
        .find(|k| k.name() == "soe-bot-link")
        .expect("the browser holds the binding cookie");
    assert_eq!(binding.http_only(), Some(true));
    assert_eq!(format!("{:?}", binding.same_site()), "Some(Lax)");

    c.find(Locator::Id("confirm"))
        .await
        .expect("Confirm button")
        .click()
        .await
        .expect("clicked");
    let text = page_with(&c, "Account linked").await;
    assert!(text.contains("Account linked"), "{text}");
    let link = app.store.get_link(111).await.unwrap().expect("linked");
    assert_eq!(link.soe_user_id, soe_bot::fake_soe::JANE);
    let cookies = c.get_all_cookies().await.expect("cookies");
    assert!(
        cookies.iter().all(|k| k.name() != "soe-bot-link"),
        "the binding cookie is cleared after Confirm"
    );
    c.close().await.expect("closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver at $WEBDRIVER_URL; .ci/run provides them"]
async fn a_real_browser_refuses_an_authorize_url_forwarded_from_another_browser() {
    let app = TestApp::builder()
        .approval(Approval::ConsentPage)
        .start()
        .await;
    let mut mallory = TestApp::member(666, "Jane Doe");
    mallory.username = "mallory".into();
    let ticket = TestApp::link_url(&app.slash(&mallory, "link", &[]).await);

    // Mallory's browser opens her ticket and stops at the site's consent page.
    let attacker = chromium().await;
    attacker.goto(ticket.as_str()).await.expect("open ticket");
    let forwarded = attacker.current_url().await.expect("url");
    assert_eq!(forwarded.path(), "/oauth", "at the site's authorize URL");
    attacker.close().await.expect("closed");

    // Jane's browser (signed in to Discord as herself) opens it and approves.
    app.discord
        .add_user(soe_bot::fake_discord::FakeDiscordUser::new(
            111, "jane", "Jane Doe",
        ));
    let victim = chromium().await;
    victim
        .goto(app.discord.login_url(111, None).as_str())
        .await
        .expect("Discord sign-in");
    victim
        .goto(forwarded.as_str())
        .await
        .expect("open forwarded");
    click_button(&victim, "Approve as Jane Doe").await;
    let text = page_with(&victim, "Nothing was linked").await;
    assert!(text.contains("another browser"), "{text}");
    assert!(text.contains("Nothing was linked"), "{text}");
    assert!(app.store.get_link(666).await.unwrap().is_none());
    assert!(app.store.get_link(111).await.unwrap().is_none());
    victim.close().await.expect("closed");
}

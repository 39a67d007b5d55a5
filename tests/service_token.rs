//! `soe-bot service-token`: the admin's PKCE flow, sent back by the site to a redirect URL
//! under the API application's domain (here `bot.test`, which no DNS resolves: the "browser"
//! is a reqwest client told that `bot.test` is the command's listener on 127.0.0.1), yields a
//! read-only, non-expiring token for the service account with the grant for the team.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use soe_bot::clock::FixedClock;
use soe_bot::fake_soe::{AppStatus, Approval, FakeSoe, FakeSoeConfig, SERVICE, TEAM};
use soe_bot::link::service_token::{mint, service_scopes, teams_to_grant, MintRequest};
use soe_bot::soe::{HttpSoe, NewQuestion, SoeClientConfig, SoeRead, SoeWrite, TeamSlug, UserToken};
use url::Url;

/// The API application's registered domain on the fake site.
const APP_DOMAIN: &str = "bot.test";

async fn site() -> FakeSoe {
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::epoch()));
    cfg.approval = Approval::AutoApprove { user_id: SERVICE };
    cfg.redirect_domain = APP_DOMAIN.into();
    // Read-write, so that "the token cannot write" is about its scopes, not the application.
    cfg.application = AppStatus::ReadWrite;
    FakeSoe::start(cfg).await.unwrap()
}

/// The admin's browser: follows redirects, and resolves the application's domain to the
/// command's listener.
fn browser(listener: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(APP_DOMAIN, listener)
        .build()
        .unwrap()
}

fn request(fake: &FakeSoe, redirect: Url) -> MintRequest {
    MintRequest {
        client_id: fake.client_id().to_string(),
        redirect_uri: redirect,
        scopes: service_scopes([fake.team_scope(TEAM)]),
    }
}

#[tokio::test]
async fn mints_a_read_only_non_expiring_team_token_through_a_redirect_under_the_apps_domain() {
    let fake = site().await;
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // What {web.public_url}/oauth/service-callback is when web.public_url = http://bot.test:PORT.
    let redirect = Url::parse(&format!(
        "http://{APP_DOMAIN}:{}/oauth/service-callback",
        addr.port()
    ))
    .unwrap();
    let browser = browser(addr);
    let minted = mint(
        &soe,
        &request(&fake, redirect.clone()),
        listener,
        move |url| {
            let url = url.clone();
            tokio::spawn(async move {
                let page = browser
                    .get(url)
                    .send()
                    .await
                    .expect("the callback answered");
                assert_eq!(page.status(), 200, "the listener served the redirect path");
            });
        },
        Duration::from_secs(10),
    )
    .await
    .expect("minted");
    assert_eq!(minted.user.id, Some(SERVICE));
    let log = fake.requests();
    let authorize = log.iter().find(|r| r.path == "/oauth").unwrap();
    let param = |name: &str| {
        authorize
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(authorize.status, 302, "the site accepted the redirect URI");
    assert_eq!(param("redirect_uri").as_deref(), Some(redirect.as_str()));
    assert_eq!(
        param("scope"),
        Some(format!("no_expiry,{}", fake.team_scope(TEAM))),
        "read-only (no write_access), with the team's grant"
    );
    let token_exchange = log
        .iter()
        .find(|r| r.path == "/oauth/access_token/json")
        .unwrap();
    assert!(
        token_exchange
            .response
            .as_ref()
            .unwrap()
            .get("expires")
            .is_none(),
        "no expiry"
    );
    let token = || UserToken::new(SecretString::from(minted.token.expose_secret().to_string()));
    // It reads the private team …
    let team = TeamSlug::parse(TEAM).unwrap();
    let in_team = soe.writer(token(), Some(&team));
    assert!(in_team.me().await.is_ok(), "the team grant works");
    // … and cannot write.
    let w = soe.writer(token(), None);
    let q = NewQuestion {
        title: "A service token must never be able to post".into(),
        body: "z".repeat(40),
        tags: vec!["x".into()],
    };
    assert!(matches!(
        w.create_question(&q).await,
        Err(soe_bot::soe::Error::Forbidden { .. })
    ));
    assert!(
        !format!("{minted:?}").contains(minted.token.expose_secret()),
        "Debug redacts the token"
    );
}

#[tokio::test]
async fn a_loopback_redirect_is_refused_by_a_site_whose_app_domain_is_the_bots_host() {
    // What the command used to do: a redirect to its own loopback listener. The site refuses
    // it before any code exists, and the command says what to check.
    let fake = site().await;
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let redirect = Url::parse(&format!("http://{addr}/callback")).unwrap();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let result = mint(
        &soe,
        &request(&fake, redirect),
        listener,
        move |url| {
            let url = url.clone();
            tokio::spawn(async move {
                let page = reqwest::get(url).await.expect("the site answered");
                let status = page.status().as_u16();
                let _ = seen_tx.send((status, page.text().await.unwrap_or_default()));
            });
        },
        Duration::from_secs(2),
    )
    .await;
    let (status, page) = seen_rx.recv().await.expect("the browser saw a page");
    assert_eq!(status, 400);
    assert!(page.contains("redirect_uri is not configured"), "{page}");
    let err = result.unwrap_err();
    assert!(err.contains("no answer from the site in time"), "{err}");
    assert!(
        err.contains(&format!("http://{addr}/callback")),
        "names the URL: {err}"
    );
    assert!(!fake
        .requests()
        .iter()
        .any(|r| r.path == "/oauth/access_token/json"));
}

#[tokio::test]
async fn a_callback_with_another_state_mints_nothing() {
    let fake = site().await;
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let redirect = Url::parse(&format!(
        "http://{APP_DOMAIN}:{}/oauth/service-callback",
        addr.port()
    ))
    .unwrap();
    let browser = browser(addr);
    let forged = format!(
        "http://{APP_DOMAIN}:{}/oauth/service-callback?code=abc&state=forged",
        addr.port()
    );
    let result = mint(
        &soe,
        &request(&fake, redirect),
        listener,
        move |_| {
            tokio::spawn(async move {
                let _ = browser.get(forged).send().await;
            });
        },
        Duration::from_secs(10),
    )
    .await;
    assert!(result.unwrap_err().contains("state"));
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.path == "/oauth/access_token/json"),
        "no exchange"
    );
}

#[tokio::test]
async fn the_listener_serves_only_the_redirect_path() {
    let fake = site().await;
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let redirect = Url::parse(&format!(
        "http://{APP_DOMAIN}:{}/oauth/service-callback",
        addr.port()
    ))
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = mint(
        &soe,
        &request(&fake, redirect),
        listener,
        move |_| {
            tokio::spawn(async move {
                let r = reqwest::get(format!("http://{addr}/callback?code=abc&state=x"))
                    .await
                    .expect("answered");
                let _ = tx.send(r.status().as_u16());
            });
        },
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(
        rx.recv().await,
        Some(404),
        "the old /callback path is not served"
    );
    assert!(result.is_err(), "nothing arrived on the redirect path");
}

#[tokio::test]
async fn the_command_asks_for_the_configured_team_every_bound_team_and_those_named_once_each() {
    use soe_bot::store::cipher::Cipher;
    use soe_bot::store::{GuildSettings, SledStore, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_at(dir.path(), Cipher::for_testing(), 4 << 20).unwrap();
    let slug = |s: &str| TeamSlug::parse(s).unwrap();
    let mut home = GuildSettings::default();
    home.channel_teams.insert(10, slug("platform"));
    home.channel_teams.insert(11, slug("data"));
    home.channel_teams.insert(12, slug("platform"));
    store.put_guild_settings(1, &home).await.unwrap();
    // A guild that is no longer allowed: its bindings are not asked for.
    let mut gone = GuildSettings::default();
    gone.channel_teams.insert(20, slug("legacy"));
    store.put_guild_settings(2, &gone).await.unwrap();

    let teams = teams_to_grant(
        Some(&slug("platform")),
        Some(&store as &dyn Store),
        &[1],
        &[slug("infra"), slug("data")],
    )
    .await
    .unwrap();
    assert_eq!(
        teams.iter().map(TeamSlug::as_str).collect::<Vec<_>>(),
        ["platform", "data", "infra"],
        "soe.team first, then the bound teams, then --team; each once"
    );
    let fake = site().await;
    let scopes = service_scopes(teams.iter().map(|t| fake.team_scope(t.as_str())));
    assert_eq!(scopes.len(), 1 + 3, "{scopes:?}");
    assert!(scopes.iter().all(|s| !s.contains("legacy")));

    // Without the storage (the bot holds it): soe.team and --team only.
    let teams = teams_to_grant(Some(&slug("platform")), None, &[1], &[slug("infra")])
        .await
        .unwrap();
    assert_eq!(
        teams.iter().map(TeamSlug::as_str).collect::<Vec<_>>(),
        ["platform", "infra"]
    );
}

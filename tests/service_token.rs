//! `soe-bot service-token`: the admin's PKCE flow on a loopback callback yields a read-only,
//! non-expiring token for the service account.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use soe_bot::clock::FixedClock;
use soe_bot::fake_soe::{Approval, FakeSoe, FakeSoeConfig, SERVICE};
use soe_bot::soe::{HttpSoe, NewQuestion, SoeClientConfig, SoeWrite, UserToken};

#[tokio::test]
async fn mints_a_read_only_non_expiring_token_for_the_service_account() {
    let mut cfg = FakeSoeConfig::new(Arc::new(FixedClock::epoch()));
    cfg.approval = Approval::AutoApprove { user_id: SERVICE };
    let fake = FakeSoe::start(cfg).await.unwrap();
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let minted = soe_bot::link::service_token::mint(
        &soe,
        "4242",
        listener,
        |url| {
            let url = url.clone();
            // The admin's browser: follows the site's redirect to the loopback callback.
            tokio::spawn(async move {
                let _ = reqwest::get(url).await;
            });
        },
        Duration::from_secs(10),
    )
    .await
    .expect("minted");
    assert_eq!(minted.user.id, Some(SERVICE));
    let authorize = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth")
        .unwrap();
    let scope = authorize
        .query
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone());
    assert_eq!(
        scope.as_deref(),
        Some("no_expiry"),
        "read-only: no write_access"
    );
    let token_resp = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth/access_token/json")
        .unwrap();
    assert!(
        token_resp.response.unwrap().get("expires").is_none(),
        "no expiry"
    );
    // It cannot write.
    let w = soe.writer(
        UserToken::new(SecretString::from(minted.token.expose_secret().to_string())),
        None,
    );
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
async fn a_callback_with_another_state_mints_nothing() {
    let fake = FakeSoe::start(FakeSoeConfig::new(Arc::new(FixedClock::epoch())))
        .await
        .unwrap();
    let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let result = soe_bot::link::service_token::mint(
        &soe,
        "4242",
        listener,
        move |_| {
            tokio::spawn(async move {
                let _ = reqwest::get(format!("http://{addr}/callback?code=abc&state=forged")).await;
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

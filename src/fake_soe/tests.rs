//! End-to-end tests of the fake site over real loopback HTTP (reqwest): OAuth + PKCE, auth and
//! scopes, validation, encoding, faults, throttling, team routes, votes and accepts, search,
//! the request log, and conformance of every response to the project's API contract.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use super::*;
use crate::clock::FixedClock;

const REDIRECT: &str = "http://127.0.0.1:8080/oauth/callback";

struct Site {
    fake: FakeSoe,
    clock: FixedClock,
    http: reqwest::Client,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    fn location(&self) -> Url {
        Url::parse(self.header("location").expect("a Location header")).expect("a URL")
    }
}

async fn site_with(adjust: impl FnOnce(&mut FakeSoeConfig)) -> Site {
    let clock = FixedClock::epoch();
    let mut config = FakeSoeConfig::new(std::sync::Arc::new(clock.clone()));
    // Most tests write; the application-status tests switch it back to read-only.
    config.application = AppStatus::ReadWrite;
    adjust(&mut config);
    let fake = FakeSoe::start(config).await.expect("the fake starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("fake-soe-tests/1.0")
        .build()
        .expect("a client");
    Site { fake, clock, http }
}

async fn site() -> Site {
    site_with(|_| {}).await
}

fn pair(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A PKCE verifier: 64 hex characters, as the official SDK makes them.
fn verifier() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Site {
    async fn send(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.fake.api_base(), path)
        };
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the request is answered");
        Resp {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("a body"),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(Method::GET, Some(token), path, None).await
    }

    fn authorize(&self, redirect: &str, scope: &str, state: &str, challenge: Option<&str>) -> Url {
        let mut url = self.fake.authorize_url();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", "4242");
            q.append_pair("redirect_uri", redirect);
            q.append_pair("scope", scope);
            q.append_pair("state", state);
            if let Some(c) = challenge {
                q.append_pair("code_challenge", c);
                q.append_pair("code_challenge_method", "S256");
            }
        }
        url
    }

    async fn open(&self, url: &Url) -> Resp {
        self.send(Method::GET, None, url.as_str(), None).await
    }

    /// Runs `GET /oauth` with auto-approval and returns `(code, verifier)`.
    async fn code(&self, scope: &str) -> (String, String) {
        let v = verifier();
        let r = self
            .open(&self.authorize(REDIRECT, scope, "st", Some(&oauth::s256(&v))))
            .await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
        (pair(&r.location(), "code").expect("a code"), v)
    }

    /// Runs `GET /oauth` without PKCE and returns the code.
    async fn code_without_pkce(&self) -> String {
        let r = self.open(&self.authorize(REDIRECT, "", "st", None)).await;
        pair(&r.location(), "code").expect("a code")
    }

    /// The SDK's exchange: parameters in the query string, empty form body.
    async fn exchange(&self, params: &[(&str, &str)]) -> Resp {
        let mut url = self
            .fake
            .site_url()
            .join("oauth/access_token/json")
            .expect("url");
        url.query_pairs_mut().extend_pairs(params);
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body("")
            .send()
            .await
            .expect("answered");
        Resp {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("a body"),
        }
    }

    fn writer(&self, user: i64) -> String {
        self.fake.mint_token(user, &["write_access"])
    }
}

fn ask_body(title: &str) -> Value {
    json!({
        "title": title,
        "body": "I tried everything in the docs and it still fails with a timeout.",
        "tags": ["rust", "brand-new-tag"]
    })
}

// ----- OAuth -----

#[tokio::test]
async fn oauth_pkce_happy_path_issues_a_write_token() {
    let s = site().await;
    let v = verifier();
    let state = "a b&c=d/é";
    let url = s.authorize(REDIRECT, "write_access", state, Some(&oauth::s256(&v)));
    let r = s.open(&url).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let back = r.location();
    assert_eq!(back.host_str(), Some("127.0.0.1"));
    assert_eq!(back.path(), "/oauth/callback");
    assert_eq!(
        pair(&back, "state").as_deref(),
        Some(state),
        "state echoed verbatim"
    );
    let code = pair(&back, "code").expect("a code");
    assert!(code.len() >= 22, "at least 128 bits: {}", code.len());

    let r = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.content_type().starts_with("application/json"));
    let body = r.json();
    assert_eq!(body["expires"], 86_400);
    assert_eq!(body.as_object().map(|m| m.len()), Some(2), "{body}");
    let token = body["access_token"].as_str().expect("a token").to_string();

    let me = s.get(&token, "/users/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["id"], JANE);
    assert_eq!(me.json()["email"], "jane.doe@acme.example");
    let answer = s
        .send(
            Method::POST,
            Some(&token),
            &format!("/questions/{Q_UNANSWERED}/answers"),
            Some(json!({ "body": "Use an AbortController and pass its signal to fetch()." })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.json()["owner"]["id"], JANE);

    let log = s.fake.requests();
    let exchange = log
        .iter()
        .find(|r| r.route == "/oauth/access_token/json")
        .expect("logged");
    assert_eq!(exchange.user_id, Some(JANE));
    assert!(exchange.query.iter().any(|(k, _)| k == "code_verifier"));
    assert_eq!(log[0].route, "/oauth");
}

#[tokio::test]
async fn token_exchange_accepts_a_form_body() {
    let s = site().await;
    let (code, v) = s.code("write_access,no_expiry").await;
    let url = s
        .fake
        .site_url()
        .join("oauth/access_token/json")
        .expect("url");
    let form = [
        ("client_id", "4242"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", v.as_str()),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = s
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert!(body["access_token"].is_string());
    assert!(
        body.get("expires").is_none(),
        "no_expiry omits expires: {body}"
    );
}

#[tokio::test]
async fn a_token_request_missing_any_parameter_is_refused_by_name() {
    let s = site().await;
    for missing in ["client_id", "code", "redirect_uri", "code_verifier"] {
        let (code, v) = s.code("write_access").await;
        let all = [
            ("client_id", "4242"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", v.as_str()),
        ];
        let params: Vec<(&str, &str)> = all.into_iter().filter(|(k, _)| *k != missing).collect();
        let r = s.exchange(&params).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "without {missing}");
        assert_eq!(r.json()["error_name"], "bad_parameter");
        assert_eq!(
            r.json()["error_message"],
            format!("{missing} is required"),
            "without {missing}"
        );
    }
}

#[tokio::test]
async fn the_token_response_can_be_worded_the_standard_way_and_served_as_text() {
    for content_type in ["application/json", "text/plain; charset=utf-8", "text/html"] {
        let s = site_with(|c| {
            c.token_response = TokenResponseStyle::Standard;
            c.token_content_type = content_type.into();
        })
        .await;
        let (code, v) = s.code("write_access").await;
        let r = s
            .exchange(&[
                ("client_id", "4242"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &v),
            ])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.content_type().starts_with(content_type),
            "{}",
            r.content_type()
        );
        let body = r.json();
        assert_eq!(body["expires_in"], 86_400);
        assert_eq!(body["token_type"], "bearer");
        assert!(body.get("expires").is_none());
        let logged = s
            .fake
            .requests()
            .into_iter()
            .find(|r| r.route == "/oauth/access_token/json")
            .expect("logged");
        assert_eq!(
            logged.response,
            Some(body),
            "logged as JSON whatever its type"
        );
    }
}

#[tokio::test]
async fn redirect_uris_must_be_under_the_applications_domain() {
    let s = site_with(|c| c.redirect_domain = "bot.test".into()).await;
    for ok in [
        "https://bot.test/oauth/callback",
        "http://bot.test:8080/oauth/service-callback",
        "https://auth.BOT.test/cb",
    ] {
        let r = s.open(&s.authorize(ok, "", "st", None)).await;
        assert_eq!(r.status, StatusCode::FOUND, "{ok}: {}", r.text);
        assert!(r
            .location()
            .host_str()
            .is_some_and(|h| h.ends_with("bot.test")));
    }
    for refused in [
        "http://127.0.0.1:8080/callback",
        "http://localhost/callback",
        "https://evil-bot.test/cb",
        "https://bot.test.evil.example/cb",
        "ftp://bot.test/cb",
    ] {
        let r = s.open(&s.authorize(refused, "", "st", None)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(
            r.text.contains("redirect_uri is not configured"),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn wrong_verifier_is_refused_and_burns_the_code() {
    let s = site().await;
    let (code, v) = s.code("write_access").await;
    let wrong = verifier();
    let r = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong),
        ])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error_name"], "invalid_grant");
    assert_eq!(r.json()["error_id"], 400);
    let again = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ])
        .await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "a failed exchange burns the code"
    );
}

#[tokio::test]
async fn missing_verifier_is_refused() {
    let s = site().await;
    let (code, _) = s.code("write_access").await;
    let r = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error_message"]
        .as_str()
        .is_some_and(|m| m.contains("code_verifier")));
}

#[tokio::test]
async fn reused_code_is_refused() {
    let s = site().await;
    let (code, v) = s.code("").await;
    let params = [
        ("client_id", "4242"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", v.as_str()),
    ];
    assert_eq!(s.exchange(&params).await.status, StatusCode::OK);
    let second = s.exchange(&params).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json()["error_name"], "invalid_grant");
}

#[tokio::test]
async fn mismatched_redirect_uri_is_refused() {
    let s = site().await;
    let (code, v) = s.code("write_access").await;
    let r = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8080/oauth/callback/"),
            ("code_verifier", &v),
        ])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error_name"], "invalid_grant");
    let other_client = s.code("write_access").await;
    let r = s
        .exchange(&[
            ("client_id", "9999"),
            ("code", &other_client.0),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &other_client.1),
        ])
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "client_id must match the code's"
    );
}

#[tokio::test]
async fn expired_code_is_refused() {
    let s = site().await;
    let (code, v) = s.code("write_access").await;
    s.clock.advance(chrono::Duration::seconds(601));
    let r = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error_message"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));
}

#[tokio::test]
async fn tokens_expire_after_24_hours_unless_no_expiry() {
    let s = site().await;
    let day = s.fake.mint_token(SAM, &["write_access"]);
    let forever = s.fake.mint_token(SAM, &["no_expiry"]);
    s.clock.advance(chrono::Duration::hours(23));
    assert_eq!(s.get(&day, "/users/me").await.status, StatusCode::OK);
    s.clock.advance(chrono::Duration::hours(1));
    let expired = s.get(&day, "/users/me").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.text, "Invalid access token");
    assert_eq!(s.get(&forever, "/users/me").await.status, StatusCode::OK);
    assert_eq!(
        s.get(&s.fake.service_token(), "/users/me").await.json()["id"],
        SERVICE
    );
}

#[tokio::test]
async fn authorize_rejects_unknown_clients_and_foreign_redirects() {
    let s = site().await;
    let mut url = s.authorize(REDIRECT, "write_access", "x", None);
    url.set_query(Some(
        &url.query()
            .unwrap_or_default()
            .replace("client_id=4242", "client_id=1"),
    ));
    let r = s.open(&url).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.content_type().starts_with("text/html"));

    let url = s.authorize("https://evil.example/cb", "write_access", "x", None);
    let r = s.open(&url).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text.contains("redirect_uri is not configured"),
        "{}",
        r.text
    );
    assert!(
        r.header("location").is_none(),
        "never redirect to an unverified URI"
    );

    let url = s.authorize("not a url", "write_access", "x", None);
    assert_eq!(s.open(&url).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn authorize_requires_s256() {
    let s = site().await;
    let mut url = s.authorize(REDIRECT, "write_access", "st8", None);
    url.query_pairs_mut()
        .append_pair("code_challenge", &oauth::s256(&verifier()))
        .append_pair("code_challenge_method", "plain");
    let r = s.open(&url).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let back = r.location();
    assert_eq!(pair(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(pair(&back, "state").as_deref(), Some("st8"));
    assert!(pair(&back, "code").is_none());
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_the_state() {
    let s = site_with(|c| c.approval = Approval::Deny).await;
    let r = s
        .open(&s.authorize(
            REDIRECT,
            "write_access",
            "s t",
            Some(&oauth::s256(&verifier())),
        ))
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let back = r.location();
    assert_eq!(pair(&back, "error").as_deref(), Some("access_denied"));
    assert!(pair(&back, "error_description").is_some());
    assert_eq!(pair(&back, "state").as_deref(), Some("s t"));
}

#[tokio::test]
async fn consent_page_approves_and_denies() {
    let s = site_with(|c| c.approval = Approval::ConsentPage).await;
    let v = verifier();
    let url = s.authorize(REDIRECT, "write_access", "xyz", Some(&oauth::s256(&v)));
    let page = s.open(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type().starts_with("text/html"));
    for name in [
        "Approve as Jane Doe",
        "Approve as Sam Rivera",
        "Approve as Connor O&#39;Brien",
        "Deny",
    ] {
        assert!(page.text.contains(name), "{name} missing");
    }
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "self-contained"
    );
    let request_id = page
        .text
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a request id")
        .to_string();
    let consent = s.fake.site_url().join("oauth/consent").expect("url");
    let r = s
        .http
        .post(consent.clone())
        .form(&[("request", request_id.as_str()), ("user_id", "4")])
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = Url::parse(r.headers()["location"].to_str().expect("ascii")).expect("url");
    let code = pair(&back, "code").expect("a code");
    assert_eq!(pair(&back, "state").as_deref(), Some("xyz"));
    let t = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ])
        .await;
    let token = t.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(s.get(&token, "/users/me").await.json()["id"], PRIYA);
    // The pending request is single use.
    let r = s
        .http
        .post(consent.clone())
        .form(&[("request", request_id.as_str()), ("user_id", "4")])
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Deny.
    let page = s.open(&url).await;
    let request_id = page
        .text
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a request id")
        .to_string();
    let r = s
        .http
        .post(consent)
        .form(&[("request", request_id.as_str()), ("decision", "deny")])
        .send()
        .await
        .expect("answered");
    let back = Url::parse(r.headers()["location"].to_str().expect("ascii")).expect("url");
    assert_eq!(pair(&back, "error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn approve_helper_returns_the_redirect_with_a_working_code() {
    let s = site_with(|c| c.approval = Approval::ConsentPage).await;
    let v = verifier();
    let url = s.authorize(REDIRECT, "write_access", "st", Some(&oauth::s256(&v)));
    let back = s.fake.approve(&url, ALEX).expect("approved");
    assert!(back.as_str().starts_with(REDIRECT));
    let code = pair(&back, "code").expect("code");
    let r = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(s.fake.approve(&url, 999).is_err());
    let foreign = s.authorize("https://evil.example/", "", "st", None);
    assert!(s
        .fake
        .approve(&foreign, ALEX)
        .is_err_and(|e| e.contains("redirect_uri")));
}

#[tokio::test]
async fn classic_flow_needs_the_client_secret() {
    let s = site_with(|c| c.client_secret = Some("s3cret".into())).await;
    let c1 = s.code_without_pkce().await;
    let bad = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &c1),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "no secret, no PKCE");
    let c2 = s.code_without_pkce().await;
    let ok = s
        .exchange(&[
            ("client_id", "4242"),
            ("code", &c2),
            ("redirect_uri", REDIRECT),
            ("client_secret", "s3cret"),
        ])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

// ----- auth and scopes -----

#[tokio::test]
async fn writes_without_write_access_are_forbidden() {
    let s = site().await;
    let read_only = s.fake.service_token();
    for (method, path) in [
        (Method::POST, "/questions".to_string()),
        (Method::PUT, format!("/questions/{Q_ASYNC}")),
        (Method::POST, format!("/questions/{Q_ASYNC}/upvote")),
        (
            Method::DELETE,
            format!("/questions/{Q_ASYNC}/answers/13/accept"),
        ),
    ] {
        let r = s
            .send(
                method.clone(),
                Some(&read_only),
                &path,
                Some(ask_body("A perfectly fine title")),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            r.json(),
            json!({"type":"/v3/errors/forbidden","title":"Forbidden Action","status":403})
        );
    }
    assert_eq!(
        s.get(&read_only, "/questions").await.status,
        StatusCode::OK,
        "reads need no scope"
    );
    assert!(s
        .fake
        .questions()
        .iter()
        .all(|q| q.title != "A perfectly fine title"));
}

#[tokio::test]
async fn bad_tokens_get_401_text_plain() {
    let s = site().await;
    let none = s.send(Method::GET, None, "/questions", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.content_type().starts_with("text/plain"));
    assert_eq!(none.text, "Invalid access token");
    assert_eq!(
        s.get("made-up))", "/questions").await.status,
        StatusCode::UNAUTHORIZED
    );
    let t = s.writer(SAM);
    assert_eq!(s.get(&t, "/questions").await.status, StatusCode::OK);
    s.fake.revoke_token(&t);
    let revoked = s.get(&t, "/questions").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.text, "Invalid access token");
}

// ----- paging and validation -----

#[tokio::test]
async fn page_size_must_be_an_allowed_value() {
    let s = site().await;
    let t = s.fake.service_token();
    let r = s.get(&t, "/questions?pageSize=20").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["errors"]["pageSize"].is_array(), "{}", r.text);
    assert_eq!(
        s.get(&t, "/search?query=async&pageSize=20").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get(&t, "/questions?page=0").await.status,
        StatusCode::BAD_REQUEST
    );
    let ok = s.get(&t, "/questions?pagesize=30&page=1").await.json();
    assert_eq!(ok["pageSize"], 30);
    let page2 = s.get(&t, "/questions?pageSize=15&page=2").await.json();
    assert_eq!(page2["page"], 2);
    assert_eq!(page2["totalCount"], 8);
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn question_validation_follows_the_site() {
    let s = site().await;
    let t = s.writer(ALEX);
    let post = |body: Value| s.send(Method::POST, Some(&t), "/questions", Some(body));

    let short = post(json!({"title": "Too short", "body": "b".repeat(40), "tags": ["rust"]})).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        short.json()["type"],
        "/v3/errors/questions/ValidationErrors"
    );
    assert_eq!(short.json()["title"], "Question not created");

    // 15 characters but 30 bytes: characters count, not bytes.
    let accents = "éééééééééé ééé?";
    assert_eq!(accents.chars().count(), 15);
    let ok = post(json!({"title": accents, "body": "b".repeat(40), "tags": ["rust"]})).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    let long =
        post(json!({"title": "x".repeat(151), "body": "b".repeat(40), "tags": ["rust"]})).await;
    assert!(long.json()["detail"]
        .as_str()
        .is_some_and(|d| d.contains("150")));

    let thin = post(
        json!({"title": "A fine title for a question", "body": "too short", "tags": ["rust"]}),
    )
    .await;
    assert!(thin.json()["detail"]
        .as_str()
        .is_some_and(|d| d.contains("30")));
    let no_tags =
        post(json!({"title": "A fine title for a question", "body": "b".repeat(40), "tags": []}))
            .await;
    assert_eq!(no_tags.status, StatusCode::BAD_REQUEST);
    let six = post(
        json!({"title": "A fine title for a question", "body": "b".repeat(40),
        "tags": ["a", "b", "c", "d", "e", "f"]}),
    )
    .await;
    assert_eq!(six.status, StatusCode::BAD_REQUEST);

    let existing = s
        .fake
        .question(Q_ASYNC)
        .expect("seeded")
        .title
        .to_uppercase();
    let dup = post(json!({"title": existing, "body": "b".repeat(40), "tags": ["rust"]})).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dup.json(),
        json!({"type":"/v3/errors/questions/ValidationErrors","title":"Question not created",
               "status":400,"detail":"A question with that title already exists; please be more specific."})
    );
}

#[tokio::test]
async fn missing_fields_and_bad_json_get_aspnet_errors() {
    let s = site().await;
    let t = s.writer(ALEX);
    let r = s
        .send(
            Method::POST,
            Some(&t),
            "/questions",
            Some(json!({"body": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let body = r.json();
    assert_eq!(body["title"], "One or more validation errors occurred.");
    assert_eq!(body["status"], 400);
    assert_eq!(
        body["errors"]["Title"],
        json!(["The Title field is required."])
    );
    assert_eq!(
        body["errors"]["Tags"],
        json!(["The Tags field is required."])
    );
    assert!(body["traceId"]
        .as_str()
        .is_some_and(|t| t.starts_with("00-")));

    let raw = s
        .http
        .post(format!("{}/questions", s.fake.api_base()))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .expect("answered");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let v: Value = raw.json().await.expect("problem json");
    assert!(v["errors"]["$"].is_array());

    let answer = s
        .send(
            Method::POST,
            Some(&t),
            "/questions/3/answers",
            Some(json!({"body": "short"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["title"], "Answer not created");
}

#[tokio::test]
async fn asking_creates_tags_and_returns_the_response_model() {
    let s = site().await;
    let t = s.writer(ALEX);
    let r = s
        .send(
            Method::POST,
            Some(&t),
            "/questions",
            Some(ask_body("How do I use the brand new tag?")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let q = r.json();
    assert!(q["bodyMarkdown"].is_string());
    assert_eq!(q["owner"]["id"], ALEX);
    assert_eq!(q["answerCount"], 0);
    assert_eq!(q["creationDate"], "2026-01-01T00:00:00.000Z");
    let names: Vec<&str> = q["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["rust", "brand-new-tag"]);
    let tags = s.get(&t, "/tags?partialName=brand").await.json();
    assert_eq!(tags["totalCount"], 1);
    assert_eq!(tags["items"][0]["postCount"], 1);

    // PUT: full replacement, owner only.
    let id = q["id"].as_i64().expect("id");
    let edit = json!({"title": "How do I use the brand new tag, really?",
        "body": "Edited body that is long enough to pass validation.", "tags": ["rust"]});
    let other = s
        .send(
            Method::PUT,
            Some(&s.writer(SAM)),
            &format!("/questions/{id}"),
            Some(edit.clone()),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let mine = s
        .send(
            Method::PUT,
            Some(&t),
            &format!("/questions/{id}"),
            Some(edit),
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    assert_eq!(mine.json()["tags"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine.json()["lastEditor"]["id"], ALEX);
    assert_eq!(
        s.fake.question(id).expect("stored").tags,
        vec!["rust".to_string()]
    );
}

// ----- text -----

#[tokio::test]
async fn text_fields_are_html_encoded_when_the_quirk_is_on() {
    let s = site().await;
    let t = s.fake.service_token();
    let plain = s.fake.question(Q_ENTITIES).expect("seeded").title;
    let q = s.get(&t, &format!("/questions/{Q_ENTITIES}")).await.json();
    assert_eq!(q["title"], render::html_encode(&plain));
    assert!(q["title"].as_str().is_some_and(|t| t.contains("&quot;")
        && t.contains("&#39;")
        && t.contains("&amp;")
        && t.contains("&lt;&gt;")));
    assert!(q["bodyMarkdown"]
        .as_str()
        .is_some_and(|b| b.contains("&lt;&gt;")));
    let connor = s.get(&t, &format!("/users/{CONNOR}")).await.json();
    assert_eq!(connor["name"], "Connor O&#39;Brien");
    let comments = s.get(&t, "/questions/3/comments").await.json();
    assert!(comments[1]["body"]
        .as_str()
        .is_some_and(|b| b.contains("&quot;multi_thread&quot;")));
    // `body` is HTML and not encoded a second time.
    assert!(
        q["body"]
            .as_str()
            .is_some_and(|b| b.contains("status &lt;&gt; 'shipped'")
                || b.contains("status &lt;&gt; &#39;shipped&#39;")),
        "{}",
        q["body"]
    );

    s.fake.set_html_encode(false);
    let q = s.get(&t, &format!("/questions/{Q_ENTITIES}")).await.json();
    assert_eq!(q["title"], plain);
    let search = s.get(&t, "/search?query=shipped").await.json();
    assert_eq!(search["items"][0]["title"], plain);
}

#[tokio::test]
async fn the_encoded_field_set_is_a_setting() {
    use crate::soe::text::{EncodedField, EncodedFields};
    let s = site_with(|c| c.encoded_fields = EncodedFields::guide_only()).await;
    let t = s.fake.service_token();
    let plain = s.fake.question(Q_ENTITIES).expect("seeded").title;
    let q = s.get(&t, &format!("/questions/{Q_ENTITIES}")).await.json();
    assert_eq!(q["title"], plain, "titles left as written");
    assert!(
        q["bodyMarkdown"]
            .as_str()
            .is_some_and(|b| b.contains("&lt;&gt;")),
        "the guide's field still encoded"
    );
    let connor = s.get(&t, &format!("/users/{CONNOR}")).await.json();
    assert_eq!(connor["name"], "Connor O'Brien");
    s.fake
        .set_encoded_fields(EncodedFields::all().without(EncodedField::BodyMarkdown));
    let q = s.get(&t, &format!("/questions/{Q_ENTITIES}")).await.json();
    assert_eq!(q["title"], render::html_encode(&plain));
    assert!(q["bodyMarkdown"].as_str().is_some_and(|b| b.contains("<>")));
}

#[tokio::test]
async fn a_write_stores_what_it_receives_so_pre_encoded_text_double_encodes() {
    let s = site().await;
    let t = s.writer(SAM);
    let title = "Why is &quot;x&quot; shown in my <b> title?";
    let r = s
        .send(
            Method::POST,
            Some(&t),
            "/questions",
            Some(json!({"title": title,
            "body": "Body with \"quotes\" & <angle> brackets, long enough.", "tags": ["rust"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_i64().expect("id");
    assert_eq!(
        s.fake.question(id).expect("stored").title,
        title,
        "stored verbatim"
    );
    let read = s.get(&t, &format!("/questions/{id}")).await.json();
    assert_eq!(
        read["title"],
        "Why is &amp;quot;x&amp;quot; shown in my &lt;b&gt; title?"
    );
    assert_eq!(
        read["bodyMarkdown"],
        "Body with &quot;quotes&quot; &amp; &lt;angle&gt; brackets, long enough."
    );
}

#[tokio::test]
async fn bodies_render_code_blocks_and_links_like_the_site() {
    let s = site().await;
    let t = s.fake.service_token();
    let a = s.get(&t, "/questions/3/answers/15").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let body = a.json()["body"].as_str().expect("html").to_string();
    assert!(
        body.contains("<pre class=\"lang-rust s-code-block\"><code class=\"hljs language-rust\">"),
        "{body}"
    );
    assert!(
        body.contains("Vec&lt;Result&lt;String, reqwest::Error&gt;&gt;"),
        "{body}"
    );
    assert!(body.contains("<a href=\"https://docs.rs/tokio/latest/tokio/task/struct.JoinSet.html\" rel=\"nofollow noreferrer\">"), "{body}");
    assert!(a.json()["bodyMarkdown"]
        .as_str()
        .is_some_and(|m| m.contains("```rust")));
    let list = s.get(&t, "/questions/3/answers").await.json();
    assert!(
        list["items"][0].get("bodyMarkdown").is_none(),
        "list items are summaries"
    );
    let questions = s.get(&t, "/questions").await.json();
    assert!(questions["items"][0].get("bodyMarkdown").is_none());
}

// ----- faults and throttling -----

#[tokio::test]
async fn faults_fire_by_route_and_count() {
    let s = site().await;
    let t = s.fake.service_token();
    s.fake
        .push_fault(Fault::on("GET", "/questions/{questionId}", FaultKind::Status(503)).times(1));
    let r = s.get(&t, "/questions/3").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["status"], 503);
    assert_eq!(
        s.get(&t, "/questions").await.status,
        StatusCode::OK,
        "other routes unaffected"
    );
    assert_eq!(
        s.get(&t, "/questions/3").await.status,
        StatusCode::OK,
        "fired once"
    );

    s.fake.push_fault(
        Fault::on(
            "get",
            "/search",
            FaultKind::RateLimited {
                retry_after_secs: 7,
            },
        )
        .times(1),
    );
    let r = s.get(&t, "/search?query=async").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("x-burst-throttle-calls-left"), Some("0"));
    assert_eq!(r.header("x-token-bucket-calls-left"), Some("0"));

    s.fake
        .push_fault(Fault::on("GET", "/tags", FaultKind::MalformedJson).times(1));
    let r = s.get(&t, "/tags").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "truncated JSON"
    );
    assert!(s
        .fake
        .requests()
        .last()
        .is_some_and(|l| l.malformed && l.response.is_none()));

    s.fake
        .push_fault(Fault::on("GET", "/users/me", FaultKind::Unauthorized).times(1));
    let r = s.get(&t, "/users/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, "Invalid access token");
    assert_eq!(s.get(&t, "/users/me").await.status, StatusCode::OK);

    s.fake
        .push_fault(Fault::always(FaultKind::Delay(Duration::from_millis(150))));
    let started = std::time::Instant::now();
    let r = s.get(&t, "/questions/3").await;
    assert_eq!(r.status, StatusCode::OK, "served after the delay");
    assert!(started.elapsed() >= Duration::from_millis(150));
    s.fake.clear_faults();
    s.fake.push_fault(Fault::on(
        "POST",
        "/oauth/access_token/json",
        FaultKind::Status(500),
    ));
    assert_eq!(
        s.exchange(&[("code", "x")]).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    s.fake.clear_faults();
    assert_eq!(s.get(&t, "/questions/3").await.status, StatusCode::OK);
}

#[tokio::test]
async fn throttle_headers_on_every_response_and_429_when_the_burst_is_spent() {
    let s = site_with(|c| {
        c.throttle = ThrottleLimits {
            burst_calls: 3,
            burst_window: Duration::from_secs(60),
            ..ThrottleLimits::default()
        }
    })
    .await;
    let t = s.fake.service_token();
    let first = s.get(&t, "/questions").await;
    assert_eq!(first.header("x-burst-throttle-calls-left"), Some("2"));
    assert_eq!(first.header("x-token-bucket-calls-left"), Some("4999"));
    for name in [
        "x-burst-throttle-seconds-until-full",
        "x-token-bucket-seconds-until-full",
        "x-token-bucket-seconds-until-next-refill",
    ] {
        assert!(
            first.header(name).is_some_and(|v| v.parse::<u64>().is_ok()),
            "{name}"
        );
    }
    let not_found = s.get(&t, "/questions/999").await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_eq!(not_found.header("x-burst-throttle-calls-left"), Some("1"));
    assert_eq!(s.get(&t, "/tags").await.status, StatusCode::OK);
    let limited = s.get(&t, "/tags").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("x-burst-throttle-calls-left"), Some("0"));
    assert!(limited
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|v| v >= 1));
    assert_eq!(limited.json()["status"], 429);
    let other = s.fake.mint_token(JANE, &[]);
    assert_eq!(
        s.get(&other, "/tags").await.status,
        StatusCode::OK,
        "per token"
    );
}

// ----- sites, posts, votes -----

#[tokio::test]
async fn team_routes_serve_the_team_and_only_the_team() {
    let s = site().await;
    let t = s.fake.service_token();
    let team = s.get(&t, "/teams/platform/questions").await;
    assert_eq!(team.status, StatusCode::OK);
    let ids: Vec<i64> = team.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|q| q["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| (9..=11).contains(id)), "{ids:?}");
    assert!(team.json()["items"][0]["webUrl"]
        .as_str()
        .is_some_and(|u| u.contains("/c/platform/questions/")));
    assert_eq!(
        s.get(&t, &format!("/questions/{Q_TEAM}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&t, &format!("/teams/platform/questions/{Q_TEAM}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.get(&t, "/teams/platform/questions/3").await.status,
        StatusCode::NOT_FOUND
    );
    let nope = s
        .fake
        .mint_token(SAM, &["no_expiry", &s.fake.team_scope("nope")]);
    let missing = s.get(&nope, "/teams/nope/questions").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["type"], "/v3/errors/teams/not-found");
    let search = s.get(&t, "/teams/platform/search?query=async").await.json();
    assert!(search["items"].as_array().is_some_and(|i| !i.is_empty()
        && i.iter()
            .all(|h| h["questionId"] == 11 || h["parentQuestionId"] == 11)));

    let w = s
        .fake
        .mint_token(SAM, &["write_access", &s.fake.team_scope(TEAM)]);
    let asked = s
        .send(
            Method::POST,
            Some(&w),
            "/teams/platform/questions",
            Some(ask_body("Where is the platform on-call rota?")),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED);
    let id = asked.json()["id"].as_i64().expect("id");
    assert_eq!(
        s.fake.question(id).and_then(|q| q.team).as_deref(),
        Some(TEAM)
    );
    let log = s.fake.requests();
    let last = log.last().expect("logged");
    assert_eq!(last.route, "/questions");
    assert_eq!(last.team.as_deref(), Some("platform"));
}

#[tokio::test]
async fn a_team_route_needs_the_access_team_grant_for_that_team() {
    let s = site().await;
    let host = s.fake.site_url();
    let scope = s.fake.team_scope(TEAM);
    assert_eq!(
        scope,
        format!(
            "access_team|{}:{}/c/platform",
            host.host_str().unwrap(),
            host.port().unwrap()
        ),
        "the default form, with this site's host"
    );
    let plain = s.writer(SAM);
    let other_team = s
        .fake
        .mint_token(SAM, &["write_access", &s.fake.team_scope("other")]);
    let granted = s.fake.mint_token(SAM, &["write_access", &scope]);
    for token in [&plain, &other_team] {
        let r = s.get(token, "/teams/platform/questions").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.json()["title"], "Forbidden Action");
        assert!(r.json().get("detail").is_none(), "the bare 403: {}", r.text);
        let w = s
            .send(
                Method::POST,
                Some(token),
                "/teams/platform/questions",
                Some(ask_body("Where does the platform keep its runbooks?")),
            )
            .await;
        assert_eq!(w.status, StatusCode::FORBIDDEN);
        // The main site does not need it.
        assert_eq!(s.get(token, "/questions").await.status, StatusCode::OK);
    }
    assert_eq!(
        s.get(&granted, "/teams/platform/questions").await.status,
        StatusCode::OK
    );
    // The seeded service token carries the grant, as `soe-bot service-token` now asks for it.
    assert_eq!(
        s.get(&s.fake.service_token(), "/teams/platform/questions")
            .await
            .status,
        StatusCode::OK
    );
    // A site configured with another form wants that form.
    let s2 = site_with(|c| c.team_scope_format = "team:{team}".into()).await;
    let t = s2.fake.mint_token(SAM, &["team:platform"]);
    assert_eq!(s2.fake.team_scope(TEAM), "team:platform");
    assert_eq!(
        s2.get(&t, "/teams/platform/questions").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_read_only_application_refuses_every_write_whatever_the_scope() {
    let s = site_with(|c| c.application = AppStatus::ReadOnly).await;
    let w = s.writer(JANE);
    let r = s.get(&w, "/questions").await;
    assert_eq!(r.status, StatusCode::OK, "reads work");
    let asked = s
        .send(
            Method::POST,
            Some(&w),
            "/questions",
            Some(ask_body("Why can this application not write anything?")),
        )
        .await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN, "{}", asked.text);
    assert_eq!(asked.json()["title"], "Forbidden Action");
    assert!(asked.json().get("detail").is_none());
    let vote = s
        .send(Method::POST, Some(&w), "/questions/3/upvote", None)
        .await;
    assert_eq!(vote.status, StatusCode::FORBIDDEN);
    // An admin switches it to Read-write: the same token now writes.
    s.fake.set_application(AppStatus::ReadWrite);
    let asked = s
        .send(
            Method::POST,
            Some(&w),
            "/questions",
            Some(ask_body("Why can this application not write anything?")),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    // The default of a new fake is read-only, as every new application starts.
    let fresh = FakeSoeConfig::new(std::sync::Arc::new(FixedClock::epoch()));
    assert_eq!(fresh.application, AppStatus::ReadOnly);
}

#[tokio::test]
async fn votes_follow_the_site_rules() {
    let s = site().await;
    let jane = s.writer(JANE);
    let sam = s.writer(SAM);
    let before = s.fake.question(Q_ASYNC).expect("seeded").score;
    let up = s
        .send(Method::POST, Some(&jane), "/questions/3/upvote", None)
        .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text);
    assert_eq!(up.json()["score"], before + 1);
    assert_eq!(up.json()["userHasUpvoted"], true);
    let twice = s
        .send(Method::POST, Some(&jane), "/questions/3/upvote", None)
        .await;
    assert_eq!(twice.status, StatusCode::FORBIDDEN);
    assert!(twice.json()["detail"]
        .as_str()
        .is_some_and(|d| d.contains("already")));
    let undo = s
        .send(Method::DELETE, Some(&jane), "/questions/3/upvote", None)
        .await;
    assert_eq!(undo.json()["score"], before);
    let own = s
        .send(Method::POST, Some(&sam), "/questions/3/downvote", None)
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "own post");

    let answer = s
        .send(
            Method::POST,
            Some(&sam),
            "/questions/3/answers/15/upvote",
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json().get("bodyMarkdown").is_none(), "AnswerSummary");
    let own_answer = s
        .send(
            Method::POST,
            Some(&jane),
            "/questions/3/answers/15/upvote",
            None,
        )
        .await;
    assert_eq!(own_answer.status, StatusCode::FORBIDDEN);
    let gone = s
        .send(Method::POST, Some(&jane), "/questions/999/upvote", None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["type"], "/v3/errors/vote/QuestionNotFound");
}

#[tokio::test]
async fn accepting_is_for_the_question_owner_and_moves_the_mark() {
    let s = site().await;
    let answers = s.fake.answers(Q_ASYNC);
    let (first, second) = (answers[0].id, answers[1].id);
    let jane = s.writer(JANE);
    let sam = s.writer(SAM);
    let path = |a: i64| format!("/questions/{Q_ASYNC}/answers/{a}/accept");
    let refused = s.send(Method::POST, Some(&jane), &path(first), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let ok = s.send(Method::POST, Some(&sam), &path(first), None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["isAccepted"], true);
    let moved = s.send(Method::POST, Some(&sam), &path(second), None).await;
    assert_eq!(moved.json()["isAccepted"], true);
    let now = s.fake.answers(Q_ASYNC);
    assert!(!now[0].is_accepted && now[1].is_accepted);
    assert_eq!(
        s.fake.question(Q_ASYNC).and_then(|q| q.accepted_answer_id),
        Some(second)
    );
    let unaccept = s
        .send(Method::DELETE, Some(&sam), &path(second), None)
        .await;
    assert_eq!(unaccept.json()["isAccepted"], false);
    let wrong = s
        .send(
            Method::POST,
            Some(&sam),
            &format!("/questions/{Q_ASYNC}/answers/12/accept"),
            None,
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::NOT_FOUND,
        "answer 12 belongs to question 1"
    );
    assert_eq!(wrong.json()["type"], "/v3/errors/answers/not-found");
}

#[tokio::test]
async fn search_finds_questions_and_answers_by_whole_words() {
    let s = site().await;
    let t = s.fake.service_token();
    let r = s.get(&t, "/search?query=ASYNC").await.json();
    assert!(r.get("order").is_none(), "search has no order");
    assert_eq!(r["sort"], "relevance");
    let items = r["items"].as_array().expect("items");
    let questions: Vec<i64> = items
        .iter()
        .filter(|i| i["type"] == "question")
        .filter_map(|i| i["questionId"].as_i64())
        .collect();
    assert!(questions.len() >= 3, "{questions:?}");
    assert!(questions.contains(&Q_ASYNC));
    assert!(!questions.contains(&Q_TEAM), "team posts stay in the team");
    assert!(items
        .iter()
        .any(|i| i["type"] == "answer" && i["parentQuestionId"].is_i64()));
    assert!(items
        .iter()
        .all(|i| i["snippet"].is_string() && i["title"].is_string()));
    let tagged = s.get(&t, "/search?query=[tokio]").await.json();
    assert_eq!(tagged["totalCount"], 1);
    assert_eq!(
        s.get(&t, "/search?query=asynchronous").await.json()["totalCount"],
        0
    );
    let newest = s.get(&t, "/search?query=async&sort=newest").await.json();
    let dates: Vec<&str> = newest["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["creationDate"].as_str())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
}

#[tokio::test]
async fn question_lists_filter_and_sort() {
    let s = site().await;
    let t = s.fake.service_token();
    let get = |q: &'static str| s.get(&t, q);
    let all = get("/questions").await.json();
    assert_eq!(all["sort"], "activity");
    assert_eq!(all["order"], "desc");
    assert_eq!(all["totalCount"], 8);
    assert_eq!(all["totalPages"], 1);
    let accepted = get("/questions?hasAcceptedAnswer=true").await.json();
    assert_eq!(accepted["items"][0]["id"], Q_ACCEPTED);
    assert_eq!(accepted["totalCount"], 1);
    let unanswered = get("/questions?isAnswered=false").await.json();
    assert_eq!(unanswered["items"][0]["id"], Q_UNANSWERED);
    let tags = s.get(&t, "/tags?partialName=tok").await.json();
    let tokio_id = tags["items"][0]["id"].as_i64().expect("tokio tag");
    let git = s.get(&t, "/tags?partialName=git").await.json()["items"][0]["id"]
        .as_i64()
        .expect("git");
    let or = s
        .get(
            &t,
            &format!("/questions?tagId={tokio_id}&tagId={git}&sort=creation&order=asc"),
        )
        .await
        .json();
    let ids: Vec<i64> = or["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|q| q["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![3, 8]);
    let by_alex = get("/questions?authorId=5").await.json();
    assert_eq!(by_alex["totalCount"], 3);
    let picked = get("/questions?questionId=1&questionId=2").await.json();
    assert_eq!(picked["totalCount"], 2);
    let window = get("/questions?from=2025-12-10&to=2025-12-16").await.json();
    assert_eq!(window["totalCount"], 3);
    let by_score = get("/questions?sort=score").await.json();
    assert_eq!(by_score["items"][0]["id"], Q_ASYNC);
    assert_eq!(
        get("/questions?sort=hot").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/questions?isAnswered=maybe").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn comments_are_bare_arrays_oldest_first() {
    let s = site().await;
    let t = s.fake.service_token();
    let r = s.get(&t, "/questions/3/comments").await.json();
    let list = r.as_array().expect("a bare array");
    assert_eq!(list.len(), 2);
    assert!(list[0]["creationDate"].as_str() < list[1]["creationDate"].as_str());
    assert_eq!(list[0]["ownerUserId"], JANE);
    let on_answer = s.get(&t, "/questions/3/answers/16/comments").await.json();
    assert_eq!(on_answer.as_array().map(Vec::len), Some(1));
    assert_eq!(
        s.get(&t, "/questions/999/comments").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn users_tags_and_bad_ids() {
    let s = site().await;
    let t = s.fake.mint_token(SAM, &[]);
    let me = s.get(&t, "/users/me").await.json();
    assert_eq!(me["name"], "Sam Rivera");
    assert!(me["email"].is_string());
    let jane = s.get(&t, "/users/2").await.json();
    assert!(jane["email"].is_null(), "others' e-mail is hidden");
    assert_eq!(jane["role"], "Moderator");
    let missing = s.get(&t, "/users/4000").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["type"], "/v3/errors/user/not-found");
    let bad = s.get(&t, "/questions/abc").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["errors"]["questionId"].is_array());
    let tag = s.get(&t, "/tags/1").await.json();
    assert_eq!(tag["name"], "rust");
    assert!(tag["subjectMatterExperts"].is_object());
    let by_name = s.get(&t, "/tags?sort=name&order=asc").await.json();
    assert_eq!(by_name["items"][0]["name"], ".net");
    assert_eq!(s.get(&t, "/nope").await.status, StatusCode::NOT_FOUND);
    let wrong_method = s.send(Method::DELETE, Some(&t), "/tags", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn pages_exist_for_the_urls_the_api_hands_out() {
    let s = site().await;
    let t = s.fake.service_token();
    let q = s.get(&t, "/questions/3").await.json();
    let page = s
        .open(&Url::parse(q["webUrl"].as_str().expect("url")).expect("url"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("JoinSet"));
    let share = s
        .open(&Url::parse(q["shareUrl"].as_str().expect("url")).expect("url"))
        .await;
    assert_eq!(share.status, StatusCode::FOUND);
}

// ----- the log and the contract -----

#[tokio::test]
async fn request_log_records_templates_tokens_users_and_bodies() {
    let s = site().await;
    let w = s.writer(SAM);
    s.send(
        Method::POST,
        Some(&w),
        "/questions/3/answers/16/upvote",
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&w),
        "/questions",
        Some(ask_body("Logged question title here")),
    )
    .await;
    s.get(&w, "/questions?tagId=1&tagId=2").await;
    let log = s.fake.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[0].route,
        "/questions/{questionId}/answers/{answerId}/upvote"
    );
    assert_eq!(log[0].path, "/api/v3/questions/3/answers/16/upvote");
    assert_eq!(log[0].token.as_deref(), Some(w.as_str()));
    assert_eq!(log[0].user_id, Some(SAM));
    assert_eq!(log[0].user_agent.as_deref(), Some("fake-soe-tests/1.0"));
    assert!(log[0].is_api_write());
    assert_eq!(log[1].status, 201);
    assert_eq!(
        log[1].body.as_ref().map(|b| b["title"].clone()),
        Some(json!("Logged question title here"))
    );
    assert!(log[1]
        .response_content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(
        log[2].query,
        vec![
            ("tagId".to_string(), "1".to_string()),
            ("tagId".to_string(), "2".to_string())
        ]
    );
    assert!(
        !format!("{:?}", log[0]).contains(&w),
        "Debug redacts tokens"
    );
    s.fake.clear_requests();
    assert!(s.fake.requests().is_empty());
}

/// Validates every logged API response against `tests/contract/soe-api-v3.contract.json`.
fn contract_violations(log: &[log::LoggedRequest]) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/contract/soe-api-v3.contract.json"
    );
    let text = std::fs::read_to_string(path).expect("the contract file");
    let text = text.replace("#/schemas/", "#/$defs/");
    let contract: Value = serde_json::from_str(&text).expect("contract JSON");
    let defs = contract["schemas"].clone();
    let mut violations = Vec::new();
    for r in log.iter().filter(|r| r.is_api()) {
        let key = format!("{} {}", r.method, r.route);
        let Some(response) = contract["operations"][&key]["responses"].get(r.status.to_string())
        else {
            violations.push(format!("{key}: status {} not declared", r.status));
            continue;
        };
        let want = response["contentType"].as_str().unwrap_or_default();
        let got = r.response_content_type.as_deref().unwrap_or_default();
        if !got.starts_with(want) {
            violations.push(format!(
                "{key} {}: content type {got}, want {want}",
                r.status
            ));
        }
        let (Some(schema), Some(body)) = (response.get("schema"), r.response.as_ref()) else {
            continue;
        };
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            map.insert("$defs".into(), defs.clone());
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .expect("schema compiles");
        for e in validator.iter_errors(body) {
            violations.push(format!(
                "{key} {}: {} at {}",
                r.status,
                e,
                e.instance_path()
            ));
        }
    }
    violations
}

#[tokio::test]
async fn every_response_matches_the_contract() {
    let s = site().await;
    let t = s.fake.service_token();
    let w = s.writer(PRIYA);
    let sam = s.writer(SAM);
    s.fake
        .add_article(None, JANE, "Service template", "Start here.", &["rust"]);
    s.fake.add_article(
        Some(TEAM),
        JANE,
        "Team namespaces",
        "Ask here.",
        &["kubernetes"],
    );
    for path in [
        "/questions",
        "/questions?sort=score&pageSize=50",
        "/questions/3",
        "/questions/5",
        "/questions/3/answers",
        "/questions/3/answers/16",
        "/questions/3/comments",
        "/questions/3/answers/16/comments",
        "/search?query=async",
        "/search?query=[sql]",
        "/tags",
        "/tags/2",
        "/users/me",
        "/users/3",
        "/teams/platform/questions",
        "/teams/platform/questions/9/answers",
        "/articles",
        "/articles?sort=creation&order=desc&pageSize=100",
        "/teams/platform/articles",
        "/questions/999",
        "/questions?pageSize=20",
        "/questions/3/answers/999",
        "/tags/999",
        "/users/999",
    ] {
        s.get(&t, path).await;
    }
    s.send(Method::POST, None, "/questions", None).await;
    s.send(
        Method::POST,
        Some(&t),
        "/questions",
        Some(ask_body("Read-only token tries to ask")),
    )
    .await;
    let created = s
        .send(
            Method::POST,
            Some(&w),
            "/questions",
            Some(ask_body("Contract checked question title")),
        )
        .await;
    let id = created.json()["id"].as_i64().expect("id");
    s.send(
        Method::PUT,
        Some(&w),
        &format!("/questions/{id}"),
        Some(ask_body("Contract checked question, edited")),
    )
    .await;
    s.send(
        Method::POST,
        Some(&w),
        "/questions",
        Some(json!({"title": "x"})),
    )
    .await;
    let answer = s
        .send(
            Method::POST,
            Some(&sam),
            &format!("/questions/{id}/answers"),
            Some(json!({"body": "An answer that is long enough for the site."})),
        )
        .await;
    let aid = answer.json()["id"].as_i64().expect("answer id");
    s.send(
        Method::POST,
        Some(&sam),
        &format!("/questions/{id}/upvote"),
        None,
    )
    .await;
    s.send(
        Method::DELETE,
        Some(&sam),
        &format!("/questions/{id}/upvote"),
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&sam),
        &format!("/questions/{id}/downvote"),
        None,
    )
    .await;
    s.send(
        Method::DELETE,
        Some(&sam),
        &format!("/questions/{id}/downvote"),
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&w),
        &format!("/questions/{id}/answers/{aid}/upvote"),
        None,
    )
    .await;
    s.send(
        Method::DELETE,
        Some(&w),
        &format!("/questions/{id}/answers/{aid}/upvote"),
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&w),
        &format!("/questions/{id}/answers/{aid}/downvote"),
        None,
    )
    .await;
    s.send(
        Method::DELETE,
        Some(&w),
        &format!("/questions/{id}/answers/{aid}/downvote"),
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&w),
        &format!("/questions/{id}/answers/{aid}/accept"),
        None,
    )
    .await;
    s.send(
        Method::DELETE,
        Some(&w),
        &format!("/questions/{id}/answers/{aid}/accept"),
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&sam),
        &format!("/questions/{id}/answers/{aid}/accept"),
        None,
    )
    .await;
    s.send(
        Method::POST,
        Some(&sam),
        &format!("/questions/{id}/answers/{aid}/upvote"),
        None,
    )
    .await;
    s.fake.set_html_encode(false);
    s.get(&t, "/questions/5").await;

    let log = s.fake.requests();
    assert!(log.len() >= 38, "{}", log.len());
    let statuses: std::collections::BTreeSet<u16> = log.iter().map(|r| r.status).collect();
    for st in [200, 201, 400, 401, 403, 404] {
        assert!(statuses.contains(&st), "no {st} exercised");
    }
    let violations = contract_violations(&log);
    assert!(violations.is_empty(), "{violations:#?}");

    // The checker itself catches a field the document does not have.
    let mut tampered = log
        .iter()
        .find(|r| r.route == "/questions/{questionId}" && r.status == 200)
        .expect("a question response")
        .clone();
    if let Some(Value::Object(map)) = tampered.response.as_mut() {
        map.insert("bogus".into(), json!(1));
    }
    assert_eq!(contract_violations(&[tampered]).len(), 1);
}

#[tokio::test]
async fn articles_are_listed_per_site_with_their_summary_model() {
    let s = site().await;
    let t = s.fake.service_token();
    s.fake.add_article(
        None,
        JANE,
        "Our Rust service template",
        "Start every service from the template.",
        &["rust", "tokio"],
    );
    s.fake.add_article(
        Some(TEAM),
        ALEX,
        "Namespaces on the platform cluster",
        "Ask in the platform channel.",
        &["kubernetes"],
    );
    let main = s.get(&t, "/articles?sort=creation&order=desc").await.json();
    let items = main["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{main}");
    assert_eq!(items[0]["title"], "Our Rust service template");
    assert_eq!(items[0]["type"], "knowledgeArticle");
    assert_eq!(main["sort"], "creation");
    let tags: Vec<&str> = items[0]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tags, ["rust", "tokio"]);
    let id = items[0]["id"].as_i64().expect("id");
    assert!(items[0]["shareUrl"]
        .as_str()
        .is_some_and(|u| u.ends_with(&format!("articles/{id}"))));
    let team = s.get(&t, "/teams/platform/articles").await.json();
    let titles: Vec<&str> = team["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["title"].as_str())
        .collect();
    assert_eq!(titles, ["Namespaces on the platform cluster"]);
    let bad = s.get(&t, "/articles?sort=votes").await;
    assert_eq!(bad.status, 400);
}

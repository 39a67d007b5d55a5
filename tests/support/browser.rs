//! `Browser`: one person's web browser, for the linking tests. It keeps its own cookies (every
//! server here is on 127.0.0.1, and cookies do not care about ports, so one jar per browser is
//! what a real browser would hold) and never follows redirects by itself, so tests see each hop.
//! The cookie rules of a real browser (Secure, `__Host-`, SameSite) are exercised by the
//! headless-Chromium test in `tests/browser_link.rs`; this one only carries cookies.
#![allow(dead_code)]

use parking_lot::Mutex;
use url::Url;

/// A page as the browser got it.
#[derive(Debug, Clone)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Where it redirects, if it does.
    pub location: Option<String>,
    /// The `Set-Cookie` headers it sent.
    pub set_cookies: Vec<String>,
    /// The body.
    pub body: String,
}

/// A browser with its own cookie jar.
pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<Vec<(String, String)>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A fresh browser with no cookies.
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            jar: Mutex::new(Vec::new()),
        }
    }

    /// The value of cookie `name`, if held.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar
            .lock()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Every cookie held, as `name=value`.
    pub fn cookies(&self) -> Vec<String> {
        self.jar
            .lock()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Forgets every cookie (another browser, or the same one after clearing its data).
    pub fn clear_cookies(&self) {
        self.jar.lock().clear();
    }

    fn header(&self) -> String {
        self.cookies().join("; ")
    }

    fn store(&self, set_cookies: &[String]) {
        let mut jar = self.jar.lock();
        for sc in set_cookies {
            let mut parts = sc.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.trim().split_once('=')) else {
                continue;
            };
            let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            jar.retain(|(k, _)| k != name);
            if !expired {
                jar.push((name.to_string(), value.to_string()));
            }
        }
    }

    async fn page(&self, resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect();
        self.store(&set_cookies);
        Page {
            status,
            location,
            set_cookies,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    /// GET with this browser's cookies.
    pub async fn get(&self, url: impl reqwest::IntoUrl) -> Page {
        let mut req = self.http.get(url);
        let cookies = self.header();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        let resp = req.send().await.expect("answered");
        self.page(resp).await
    }

    /// POST a form with this browser's cookies.
    pub async fn post_form(&self, url: impl reqwest::IntoUrl, form: &[(&str, &str)]) -> Page {
        let mut req = self.http.post(url).form(form);
        let cookies = self.header();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        let resp = req.send().await.expect("answered");
        self.page(resp).await
    }

    /// GETs `url` and returns where it redirects (panics if it does not).
    pub async fn redirect(&self, url: impl reqwest::IntoUrl) -> String {
        let page = self.get(url).await;
        page.location.unwrap_or_else(|| {
            panic!(
                "expected a redirect, got {}: {}",
                page.status,
                &page.body[..page.body.len().min(300)]
            )
        })
    }

    /// GETs `url` and follows redirects (up to 10), returning every page seen.
    pub async fn follow(&self, url: &Url) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut next = url.clone();
        for _ in 0..10 {
            let page = self.get(next.clone()).await;
            let loc = page.location.clone();
            pages.push(page);
            match loc.and_then(|l| next.join(&l).ok()) {
                Some(u) => next = u,
                None => break,
            }
        }
        pages
    }
}

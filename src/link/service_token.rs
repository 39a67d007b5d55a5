//! `soe-bot service-token`: an admin mints the bot's read-only service token through the same
//! PKCE flow, on a loopback callback.
//!
//! Scope `no_expiry` only (no `write_access`), so the token can read and never write. The
//! callback listens on `127.0.0.1` for one request and checks `state` before anything else.
//! Invariants: the token is returned as a secret and never logged; the callback page shows no
//! secret.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, Mutex};
use url::Url;

use super::oauth::SoeOAuth;
use crate::soe::{HttpSoe, SoeRead, User, UserToken};

/// The scopes of the service token: non-expiring, read-only.
pub const SERVICE_SCOPES: &[&str] = &["no_expiry"];

/// A minted token and whose it is.
pub struct Minted {
    /// The token.
    pub token: SecretString,
    /// The SOE user it belongs to (the service account).
    pub user: User,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("token", &"[redacted]")
            .field("user", &self.user.name)
            .finish()
    }
}

type Params = std::collections::HashMap<String, String>;

/// Runs the flow: `show_url` receives the authorize URL to open in a browser; the function
/// then waits (up to `wait`) for the site to redirect to `listener`'s `/callback`.
pub async fn mint(
    soe: &std::sync::Arc<HttpSoe>,
    client_id: &str,
    listener: tokio::net::TcpListener,
    show_url: impl FnOnce(&Url),
    wait: Duration,
) -> Result<Minted, String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let redirect = Url::parse(&format!("http://{addr}/callback")).map_err(|e| e.to_string())?;
    let oauth = SoeOAuth::new(soe.site_url(), client_id, &redirect)?;
    let scopes: Vec<String> = SERVICE_SCOPES.iter().map(|s| s.to_string()).collect();
    let auth = oauth.authorize(&scopes);

    let (tx, mut rx) = mpsc::channel::<Params>(1);
    let tx = std::sync::Arc::new(Mutex::new(Some(tx)));
    let app = Router::new()
        .route(
            "/callback",
            get(|State(tx): State<std::sync::Arc<Mutex<Option<mpsc::Sender<Params>>>>>, Query(q): Query<Params>| async move {
                if let Some(tx) = tx.lock().await.take() {
                    let _ = tx.send(q).await;
                }
                Html(crate::web::pages::message(
                    "Done",
                    "The site answered. Go back to the terminal to see the result; you can close this tab.",
                ))
            }),
        )
        .with_state(tx);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    show_url(&auth.url);
    let params = tokio::time::timeout(wait, rx.recv()).await;
    server.abort();
    let params = params
        .map_err(|_| "no answer from the site in time; run the command again".to_string())?
        .ok_or("the callback server stopped")?;

    if params.get("state").map(String::as_str) != Some(auth.state.expose_secret()) {
        return Err("the callback did not carry this run's state; nothing was minted. Run the command again.".into());
    }
    if let Some(err) = params.get("error") {
        return Err(format!(
            "the site did not grant access ({}); nothing was minted",
            html_escape::encode_text(err)
        ));
    }
    let code = params
        .get("code")
        .ok_or("the site sent no authorization code")?;
    let exchanged = oauth
        .exchange(soe.http_client(), code, &auth.verifier)
        .await
        .map_err(|e| format!("{e}; run the command again"))?;
    let reader = soe.writer(UserToken::new(exchanged.token.clone()), None);
    let user = reader
        .me()
        .await
        .map_err(|e| format!("the new token does not work: {e}"))?;
    Ok(Minted {
        token: exchanged.token,
        user,
    })
}

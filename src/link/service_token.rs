//! `soe-bot service-token`: an admin mints the bot's read-only service token through the same
//! PKCE flow as members, with the site sending the browser back to a redirect URL under the
//! API application's registered domain.
//!
//! Scopes: `no_expiry` (no `write_access`, so the token can read and never write) plus the
//! `access_team` grant for each configured private team ([`service_scopes`]); without it the
//! site refuses the team's routes.
//!
//! The redirect: the site only sends the browser back to a URL under the application's
//! domain, which is the bot's public host, so a loopback URL is refused. The URL is
//! `soe.service_redirect_url` (default `{web.public_url}/oauth/service-callback`) and the
//! command serves it itself with a short-lived listener for exactly one request, bound to
//! `web.listen` by default (where the public URL's proxy already points) or to an address the
//! admin gives. Why not the running bot's web server: the `state` and PKCE verifier exist only
//! in this process, and the bot's storage is owned by one process at a time, so the running
//! bot could neither check the state nor hand the code back. A listener in the command keeps
//! every secret in one process for a few minutes; the price is stopping the bot for that
//! minute (or routing the one path to another address), which the command says when the
//! address is taken.
//!
//! Invariants: the callback checks `state` before anything else and serves only the redirect
//! URL's path; the token is returned as a secret and never logged; the callback page shows no
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
use crate::soe::{HttpSoe, SoeRead, TeamSlug, User, UserToken};
use crate::store::{Store, StoreError};

/// The scopes of the service token besides team grants: non-expiring, read-only.
pub const SERVICE_SCOPES: &[&str] = &["no_expiry"];

/// The service token's scopes: [`SERVICE_SCOPES`] and the grant of each team the bot reads.
pub fn service_scopes(team_scopes: impl IntoIterator<Item = String>) -> Vec<String> {
    SERVICE_SCOPES
        .iter()
        .map(|s| s.to_string())
        .chain(team_scopes)
        .collect()
}

/// The private teams the service token must be granted, each once and in this order: the
/// configured team (`soe.team`), the teams bound to channels of the allowed `guilds` (read
/// from `store` when the command can open it), then those named on the command line
/// (`--team`). A team the token lacks is unreadable for every subscription and every read in
/// its channels, so the command asks for all of them at once.
pub async fn teams_to_grant(
    configured: Option<&TeamSlug>,
    store: Option<&dyn Store>,
    guilds: &[u64],
    named: &[TeamSlug],
) -> Result<Vec<TeamSlug>, StoreError> {
    let mut teams: Vec<TeamSlug> = configured.into_iter().cloned().collect();
    let mut add = |t: &TeamSlug| {
        if !teams.contains(t) {
            teams.push(t.clone());
        }
    };
    if let Some(store) = store {
        for &guild in guilds {
            for team in store.guild_settings(guild).await?.channel_teams.values() {
                add(team);
            }
        }
    }
    for team in named {
        add(team);
    }
    Ok(teams)
}

/// What the admin's authorization asks for.
#[derive(Debug, Clone)]
pub struct MintRequest {
    /// The API application's client id.
    pub client_id: String,
    /// Where the site sends the browser back (`soe.service_redirect_url`); the listener serves
    /// its path.
    pub redirect_uri: Url,
    /// The scopes, from [`service_scopes`].
    pub scopes: Vec<String>,
}

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
type Sender = std::sync::Arc<Mutex<Option<mpsc::Sender<Params>>>>;

/// Runs the flow: `show_url` receives the authorize URL to open in a browser; the function
/// then waits (up to `wait`) for the site to send the browser to `request.redirect_uri`, which
/// must reach `listener`.
pub async fn mint(
    soe: &std::sync::Arc<HttpSoe>,
    request: &MintRequest,
    listener: tokio::net::TcpListener,
    show_url: impl FnOnce(&Url),
    wait: Duration,
) -> Result<Minted, String> {
    let oauth = SoeOAuth::new(soe.site_url(), &request.client_id, &request.redirect_uri)?;
    let auth = oauth.authorize(&request.scopes);

    let (tx, mut rx) = mpsc::channel::<Params>(1);
    let tx: Sender = std::sync::Arc::new(Mutex::new(Some(tx)));
    let path = match request.redirect_uri.path() {
        "" => "/",
        p => p,
    };
    let app = Router::new()
        .route(
            path,
            get(|State(tx): State<Sender>, Query(q): Query<Params>| async move {
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
        .map_err(|_| {
            format!(
                "no answer from the site in time; check that {} reaches this command, then run it again",
                request.redirect_uri
            )
        })?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_token_asks_for_no_expiry_and_each_team() {
        assert_eq!(service_scopes(Vec::new()), ["no_expiry"]);
        assert_eq!(
            service_scopes(["access_team|acme.stackenterprise.co/c/platform".to_string()]),
            [
                "no_expiry",
                "access_team|acme.stackenterprise.co/c/platform"
            ]
        );
    }
}

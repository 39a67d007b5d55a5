//! Account linking: a member's Discord account → their own SOE token, by OAuth 2.0 + PKCE.
//!
//! The flow, and the record each step consumes:
//! 1. `/so link` → [`LinkService::issue_ticket`]: a single-use ticket bound to the Discord
//!    member, valid 15 minutes, behind a button to `{public_url}/link/start?ticket=…`.
//! 2. The browser opens it → [`LinkService::start`]: the ticket is consumed; a fresh `state`
//!    (256 bits) and PKCE verifier (S256) are minted and stored sealed (10 minutes; at most one
//!    per member), and the browser is sent to the site's `/oauth`.
//! 3. The site redirects to `/oauth/callback` → [`LinkService::callback`]: the state is consumed
//!    atomically, the code exchanged with the verifier, `/users/me` asked who the token belongs
//!    to, and the result parked behind a one-time form token (10 minutes).
//! 4. The confirmation page names both accounts ("Discord member X will post as SOE user Y");
//!    its POST carries the form token → [`LinkService::confirm`] stores the link (atomically
//!    consuming the confirmation, flushed) and announces it on the event channel, so drafts
//!    kept for the member are posted.
//!
//! Why step 4: the flow starts in Discord, not in the browser, so nothing ties the browser to
//! the member. A member who forwards their link (or whose link is shared) would otherwise let
//! someone else's SOE account post under their Discord name, or theirs under someone else's.
//! The page makes the pairing explicit to the person who holds the SOE session, and the
//! member is told afterwards which SOE identity was linked, with `/so unlink` one click away.
//!
//! Invariants: tickets, states and form tokens are stored only as SHA-256 hashes; verifiers
//! and tokens only sealed; every secret is single-use; any failure stores nothing; nothing
//! here logs a ticket, state, code, verifier, form token or token.

pub mod oauth;
pub mod service_token;

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use url::Url;

use crate::clock::SharedClock;
use crate::soe::{self, HttpSoe, SoeRead, UserToken};
use crate::store::{
    DiscordUserId, Link, LinkStatus, LinkTicket, PendingAuth, PendingConfirm, Store, StoreError,
};
use oauth::{ExchangeError, SoeOAuth};

/// How long a `/so link` button works.
pub const TICKET_TTL: Duration = Duration::minutes(15);
/// How long the browser has from `/link/start` to the callback.
pub const STATE_TTL: Duration = Duration::minutes(10);
/// How long the confirmation page stays valid.
pub const CONFIRM_TTL: Duration = Duration::minutes(10);

/// What linking needs to know.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// The SOE site root.
    pub site_url: Url,
    /// The API application's client id.
    pub client_id: String,
    /// The bot's public origin (`/link/start` lives there).
    pub public_url: Url,
    /// Whether members may get non-expiring tokens.
    pub allow_no_expiry: bool,
    /// The private teams the bot works in (today the configured `soe.team`; channel-bound
    /// teams later): a member's token needs the `access_team` grant for each, or the site
    /// refuses the team's routes.
    pub teams: Vec<crate::soe::TeamSlug>,
    /// The form of that grant (`soe.team_scope_format`, with `{host}` and `{team}`).
    pub team_scope_format: String,
}

impl LinkSettings {
    /// `{public_url}/oauth/callback`, identical in the authorize and token requests.
    pub fn redirect_uri(&self) -> Url {
        crate::config::join(&self.public_url, "oauth/callback")
    }

    /// The scope that grants `team` on this site.
    pub fn team_scope(&self, team: &crate::soe::TeamSlug) -> String {
        crate::soe::team_scope(&self.team_scope_format, &self.site_url, team)
    }

    /// The scopes members are asked for: `write_access`, `no_expiry` if allowed, and the
    /// grant for each configured team.
    pub fn member_scopes(&self) -> Vec<String> {
        let mut s = vec!["write_access".to_string()];
        if self.allow_no_expiry {
            s.push("no_expiry".into());
        }
        s.extend(self.teams.iter().map(|t| self.team_scope(t)));
        s
    }
}

/// Why a step of the flow failed. Each maps to a page that says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Unknown, malformed or already used ticket.
    #[error("this link button has already been used or is not valid")]
    TicketInvalid,
    /// Ticket older than 15 minutes.
    #[error("this link button has expired")]
    TicketExpired,
    /// Missing, malformed, unknown or replayed `state`.
    #[error("this sign-in is not one the bot started, or it was already used")]
    StateInvalid,
    /// `state` older than 10 minutes.
    #[error("this sign-in took too long and expired")]
    StateExpired,
    /// The member declined on the site.
    #[error("access was not granted on the site")]
    Denied,
    /// The callback had a state but no code.
    #[error("the site did not send an authorization code")]
    MissingCode,
    /// The code exchange failed.
    #[error("the code exchange failed: {0}")]
    Exchange(#[from] ExchangeError),
    /// `/users/me` with the new token failed.
    #[error("the new token could not be verified: {0}")]
    Identity(soe::Error),
    /// Unknown or used confirmation.
    #[error("this confirmation is not valid or was already used")]
    ConfirmInvalid,
    /// Confirmation older than 10 minutes.
    #[error("this confirmation expired")]
    ConfirmExpired,
    /// Storage failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl LinkError {
    /// The HTTP status for the page.
    pub fn status(&self) -> u16 {
        match self {
            LinkError::Exchange(ExchangeError::Unreachable) | LinkError::Identity(_) => 502,
            LinkError::Store(_) => 500,
            _ => 400,
        }
    }

    /// What the person in the browser should do next.
    pub fn advice(&self) -> &'static str {
        match self {
            LinkError::Denied => "Nothing was linked. If you change your mind, run /so link in Discord again.",
            LinkError::Store(_) => "The bot could not save this. Try again in a minute; if it keeps failing, tell an admin.",
            LinkError::Exchange(ExchangeError::Unreachable) | LinkError::Identity(_) => {
                "The Stack Overflow site could not be reached. Run /so link in Discord again in a minute."
            }
            _ => "Nothing was linked. Run /so link in Discord to get a fresh link button.",
        }
    }
}

/// Announced when a member's link is stored, so kept drafts can be posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    /// The Discord member.
    pub discord_user: DiscordUserId,
    /// The SOE user now linked.
    pub soe_user_name: String,
}

/// What the confirmation page shows.
#[derive(Debug)]
pub struct ConfirmView {
    /// The one-time form token the page's POST carries.
    pub form_token: SecretString,
    /// The Discord member's display name.
    pub discord_name: String,
    /// The SOE user the token belongs to.
    pub soe_user_name: String,
    /// The SOE profile URL, if any.
    pub soe_user_url: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The callback's query string, as received.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// Our state.
    pub state: Option<String>,
    /// `access_denied` and friends.
    pub error: Option<String>,
}

/// The linking service shared by the web server and the commands.
pub struct LinkService {
    settings: LinkSettings,
    store: Arc<dyn Store>,
    clock: SharedClock,
    soe: Arc<HttpSoe>,
    oauth: SoeOAuth,
    /// Where [`Linked`] events go (drafts are resumed by the receiver).
    events: Option<mpsc::UnboundedSender<Linked>>,
}

impl std::fmt::Debug for LinkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A random 256-bit secret as 43 base64url characters.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The storage key of a secret handle: SHA-256 of the string, after a shape check so garbage
/// (empty, 2 KB, non-base64) is refused without a lookup.
pub fn handle_hash(s: &str) -> Option<[u8; 32]> {
    let ok = s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| Sha256::digest(s.as_bytes()).into())
}

impl LinkService {
    /// Builds the service. `events` receives a [`Linked`] per completed link.
    pub fn new(
        settings: LinkSettings,
        store: Arc<dyn Store>,
        clock: SharedClock,
        soe: Arc<HttpSoe>,
        events: Option<mpsc::UnboundedSender<Linked>>,
    ) -> Result<Self, String> {
        let oauth = SoeOAuth::new(
            &settings.site_url,
            &settings.client_id,
            &settings.redirect_uri(),
        )?;
        Ok(Self {
            settings,
            store,
            clock,
            soe,
            oauth,
            events,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &LinkSettings {
        &self.settings
    }

    /// Step 1: a single-use ticket for `discord_user`; returns the `/link/start` URL.
    pub fn issue_ticket(
        &self,
        discord_user: DiscordUserId,
        discord_name: &str,
    ) -> Result<Url, StoreError> {
        let ticket = random_secret();
        let hash: [u8; 32] = Sha256::digest(ticket.as_bytes()).into();
        let now = self.clock.now();
        self.store.put_ticket(
            hash,
            &LinkTicket {
                discord_user,
                discord_name: discord_name.to_string(),
                created_at: now,
                expires_at: now + TICKET_TTL,
            },
        )?;
        let mut url = crate::config::join(&self.settings.public_url, "link/start");
        url.query_pairs_mut().append_pair("ticket", &ticket);
        Ok(url)
    }

    /// Step 2: consumes the ticket and returns the site's authorize URL.
    pub fn start(&self, ticket: &str) -> Result<Url, LinkError> {
        let hash = handle_hash(ticket).ok_or(LinkError::TicketInvalid)?;
        let t = self
            .store
            .take_ticket(hash)?
            .ok_or(LinkError::TicketInvalid)?;
        let now = self.clock.now();
        if now >= t.expires_at {
            tracing::info!(reason = "ticket_expired", "link start refused");
            return Err(LinkError::TicketExpired);
        }
        let scopes = self.settings.member_scopes();
        let auth = self.oauth.authorize(&scopes);
        let state_hash = handle_hash(secrecy::ExposeSecret::expose_secret(&auth.state))
            .ok_or(LinkError::StateInvalid)?;
        self.store.put_pending_auth(
            state_hash,
            &PendingAuth {
                discord_user: t.discord_user,
                discord_name: t.discord_name,
                verifier: auth.verifier,
                scopes,
                created_at: now,
                expires_at: now + STATE_TTL,
            },
        )?;
        tracing::info!("link started; sending the browser to the site");
        Ok(auth.url)
    }

    /// Step 3: the callback. On success the token waits for confirmation.
    pub async fn callback(&self, params: CallbackParams) -> Result<ConfirmView, LinkError> {
        let state = params.state.as_deref().unwrap_or_default();
        let Some(state_hash) = handle_hash(state) else {
            tracing::info!(reason = "state_malformed", "link callback refused");
            return Err(LinkError::StateInvalid);
        };
        let Some(pending) = self.store.take_pending_auth(state_hash)? else {
            tracing::info!(reason = "state_unknown_or_used", "link callback refused");
            return Err(LinkError::StateInvalid);
        };
        let now = self.clock.now();
        if now >= pending.expires_at {
            tracing::info!(reason = "state_expired", "link callback refused");
            return Err(LinkError::StateExpired);
        }
        if params.error.is_some() {
            tracing::info!(reason = "denied", "link callback: the member declined");
            return Err(LinkError::Denied);
        }
        let code = params
            .code
            .filter(|c| !c.is_empty() && c.len() <= 512)
            .ok_or(LinkError::MissingCode)?;
        let exchanged = self
            .oauth
            .exchange(self.soe.http_client(), &code, &pending.verifier)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "link code exchange failed"))?;
        let expires_at = exchanged
            .expires_in
            .and_then(|d| Duration::from_std(d).ok())
            .map(|d| now + d);
        let writer = self
            .soe
            .writer(UserToken::new(exchanged.token.clone()), None);
        let me = writer.me().await.map_err(|e| {
            tracing::warn!(error = %e, "could not verify the new token with /users/me");
            LinkError::Identity(e)
        })?;
        let soe_user_id = me.id.ok_or(LinkError::Identity(soe::Error::Unexpected(
            "/users/me has no id".into(),
        )))?;
        let form_token = random_secret();
        let form_hash = handle_hash(&form_token).ok_or(LinkError::ConfirmInvalid)?;
        let link = Link {
            discord_user: pending.discord_user,
            soe_user_id,
            soe_user_name: me.name.clone(),
            soe_user_url: me.web_url.clone(),
            token: UserToken::new(exchanged.token),
            scopes: pending.scopes.clone(),
            expires_at,
            linked_at: now,
            last_used_at: None,
            status: LinkStatus::Active,
        };
        self.store.put_pending_confirm(
            form_hash,
            &PendingConfirm {
                link,
                discord_name: pending.discord_name.clone(),
                expires_at: now + CONFIRM_TTL,
            },
        )?;
        tracing::info!(soe_user_id, "link token obtained; waiting for confirmation");
        Ok(ConfirmView {
            form_token: SecretString::from(form_token),
            discord_name: pending.discord_name,
            soe_user_name: me.name,
            soe_user_url: me.web_url,
            scopes: pending.scopes,
            expires_at,
        })
    }

    /// Step 4: the confirmation POST. Stores the link and announces it.
    pub fn confirm(&self, form_token: &str) -> Result<Linked, LinkError> {
        let hash = handle_hash(form_token).ok_or(LinkError::ConfirmInvalid)?;
        let now = self.clock.now();
        // Check expiry before consuming, so an expired confirmation never becomes a link.
        match self.store.peek_pending_confirm(hash)? {
            None => return Err(LinkError::ConfirmInvalid),
            Some(p) if now >= p.expires_at => {
                let _ = self.store.discard_pending_confirm(hash);
                return Err(LinkError::ConfirmExpired);
            }
            Some(_) => {}
        }
        let link = self
            .store
            .confirm_link(hash)?
            .ok_or(LinkError::ConfirmInvalid)?;
        let linked = Linked {
            discord_user: link.discord_user,
            soe_user_name: link.soe_user_name.clone(),
        };
        tracing::info!(soe_user_id = link.soe_user_id, "link stored");
        if let Some(tx) = &self.events {
            let _ = tx.send(linked.clone());
        }
        Ok(linked)
    }

    /// The browser pressed Cancel: forget the token waiting for confirmation.
    pub fn cancel(&self, form_token: &str) -> Result<(), LinkError> {
        let hash = handle_hash(form_token).ok_or(LinkError::ConfirmInvalid)?;
        self.store.discard_pending_confirm(hash)?;
        Ok(())
    }
}

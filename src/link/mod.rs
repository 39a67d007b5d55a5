//! Account linking: a member's Discord account → their own SOE token, by OAuth 2.0 + PKCE,
//! with the Discord account proven in the same browser.
//!
//! The flow, and the record each step consumes:
//! 1. `/so link` → [`LinkService::issue_ticket`]: a single-use ticket bound to the Discord
//!    member (id, username, server), valid 15 minutes, behind a button to
//!    `{public_url}/link/start?ticket=…`.
//! 2. The browser opens it → [`LinkService::start`]: the ticket is consumed; a fresh `state`
//!    (256 bits), a PKCE verifier (S256) and a **browser binding** (256 bits, set as a cookie:
//!    `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax on https) are minted; the verifier is
//!    stored sealed with the binding's hash (10 minutes; at most one per member), and the
//!    browser is sent to the site's `/oauth`.
//! 3. The site redirects to `/oauth/callback` → [`LinkService::callback`]: the state is consumed
//!    atomically and the browser's cookie checked *before* the code is exchanged; then the code
//!    is exchanged with the verifier and `/users/me` asked who the token belongs to.
//! 4. Unless an operator turned it off, the browser goes through Discord OAuth2 (`identify`,
//!    `prompt=none`) with a state of its own → [`LinkService::discord_callback`]: the cookie is
//!    checked again and Discord says which account is at this browser; unless it is the
//!    ticket's member, nothing is stored.
//! 5. The confirmation page names both accounts by what cannot be faked (the Discord
//!    `@username` and id, the SOE name with its user id and profile); its POST carries a
//!    one-time form token and the cookie → [`LinkService::confirm`] stores the link (atomically
//!    consuming the confirmation, flushed) and announces it on the event channel, so drafts
//!    kept for the member are posted only now.
//!
//! Why the cookie and the Discord step: the flow starts in Discord, not in the browser, so a
//! ticket (or the site's authorize URL it leads to) can be forwarded. Without them an attacker
//! could send their own link to a victim, whose approval on the site would hand the victim's
//! write token to the attacker's Discord account. The cookie makes every step after
//! `/link/start` refuse a browser other than the one that opened the ticket; Discord's own
//! answer makes the link refuse a browser signed in to another Discord account.
//!
//! Invariants: tickets, states, bindings and form tokens are stored only as SHA-256 hashes;
//! verifiers and tokens only sealed; every secret is single-use; any failure stores nothing;
//! nothing here logs a ticket, state, code, verifier, binding, form token or token.

pub mod discord;
pub mod oauth;
pub mod service_token;

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use url::Url;

use crate::clock::SharedClock;
use crate::soe::{self, HttpSoe, SoeRead, UserToken};
use crate::store::{
    DiscordUserId, Link, LinkStatus, LinkTicket, PendingAuth, PendingConfirm, Store, StoreError,
    VerifiedDiscord,
};
use discord::{DiscordCheckError, DiscordOAuth, DiscordOAuthSettings};
use oauth::{ExchangeError, SoeOAuth};

/// How long a `/so link` button works.
pub const TICKET_TTL: Duration = Duration::minutes(15);
/// How long the browser has from `/link/start` to the callback, and from there to Discord's.
pub const STATE_TTL: Duration = Duration::minutes(10);
/// How long the confirmation page stays valid.
pub const CONFIRM_TTL: Duration = Duration::minutes(10);
/// How long the browser-binding cookie lives (the whole flow fits in it).
pub const BINDING_MAX_AGE_SECS: i64 = 30 * 60;

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
    /// Discord OAuth2 for proving the member's account at the browser; `None` only when an
    /// operator set `link.verify_discord_identity = false` (the page then warns).
    pub discord: Option<DiscordOAuthSettings>,
    /// The configured private team (`soe.team`): a member's token needs its `access_team`
    /// grant, or the site refuses the team's routes. Teams bound to channels of the member's
    /// server are added per link (see [`LinkService::start`]).
    pub teams: Vec<crate::soe::TeamSlug>,
    /// The form of that grant (`soe.team_scope_format`, with `{host}` and `{team}`).
    pub team_scope_format: String,
}

impl LinkSettings {
    /// `{public_url}/oauth/callback`, identical in the authorize and token requests.
    pub fn redirect_uri(&self) -> Url {
        crate::config::join(&self.public_url, "oauth/callback")
    }

    /// `{public_url}/oauth/discord/callback`, registered on the Discord application.
    pub fn discord_redirect_uri(&self) -> Url {
        crate::config::join(&self.public_url, DISCORD_CALLBACK_PATH)
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

    /// Whether the browser-binding cookie is a `Secure`, `__Host-` cookie: always on https;
    /// on plain http (allowed only for loopback) a browser would drop a Secure cookie.
    pub fn cookie_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The browser-binding cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.cookie_secure() {
            "__Host-soe-bot-link"
        } else {
            "soe-bot-link"
        }
    }

    /// The `Set-Cookie` value that binds this browser to a flow.
    pub fn binding_cookie(&self, value: &SecretString) -> String {
        self.cookie(value.expose_secret(), BINDING_MAX_AGE_SECS)
    }

    /// The `Set-Cookie` value that forgets the binding.
    pub fn clear_binding_cookie(&self) -> String {
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: i64) -> String {
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
            self.cookie_name(),
            if self.cookie_secure() { "; Secure" } else { "" }
        )
    }
}

/// Path of the Discord OAuth2 callback under `public_url`.
pub const DISCORD_CALLBACK_PATH: &str = "oauth/discord/callback";

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
    /// The browser does not hold the cookie `/link/start` set for this flow.
    #[error("this sign-in was started in another browser")]
    WrongBrowser,
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
    /// The member declined on Discord.
    #[error("Discord sign-in was cancelled")]
    DiscordDenied,
    /// Discord's code exchange or `/users/@me` failed.
    #[error("the Discord account could not be checked: {0}")]
    DiscordCheck(#[from] DiscordCheckError),
    /// Discord says another account is at this browser.
    #[error("the Discord account in this browser is not the one that asked to link")]
    DiscordMismatch {
        /// Who asked to link (from the ticket).
        requested_by: String,
        /// Who Discord says is here.
        signed_in_as: String,
    },
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
            LinkError::Exchange(ExchangeError::Unreachable)
            | LinkError::Identity(_)
            | LinkError::DiscordCheck(DiscordCheckError::Unreachable) => 502,
            LinkError::Store(_) => 500,
            LinkError::WrongBrowser | LinkError::DiscordMismatch { .. } => 403,
            _ => 400,
        }
    }

    /// What the person in the browser should do next.
    pub fn advice(&self) -> String {
        match self {
            LinkError::Denied | LinkError::DiscordDenied => "Nothing was linked. If you change your mind, run /so link in Discord again.".into(),
            LinkError::Store(_) => "The bot could not save this. Try again in a minute; if it keeps failing, tell an admin.".into(),
            LinkError::Exchange(ExchangeError::Unreachable) | LinkError::Identity(_) => {
                "The Stack Overflow site could not be reached. Run /so link in Discord again in a minute.".into()
            }
            LinkError::DiscordCheck(DiscordCheckError::Unreachable) => {
                "Discord could not be reached to check your account. Run /so link in Discord again in a minute.".into()
            }
            LinkError::WrongBrowser => "Nothing was linked. Linking must be finished in the browser where the Link button was opened. If someone sent you this link, do not use it: it would let them post under your name. To link your own account, run /so link in Discord and open the button here.".into(),
            LinkError::DiscordMismatch { requested_by, signed_in_as } => format!(
                "Nothing was linked. This link was started by the Discord account @{requested_by}, but this browser is signed in to Discord as @{signed_in_as}. If someone sent you this link, they were trying to post under your name; tell an admin. To link your own account, run /so link in Discord yourself."
            ),
            _ => "Nothing was linked. Run /so link in Discord to get a fresh link button.".into(),
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

/// What the confirmation page shows: only names that cannot be faked by a nickname.
#[derive(Debug)]
pub struct ConfirmView {
    /// The one-time form token the page's POST carries.
    pub form_token: SecretString,
    /// The Discord member's id (the ticket's; equal to Discord's answer when verified).
    pub discord_id: DiscordUserId,
    /// Their `@username` (Discord's answer when verified, else the ticket's).
    pub discord_username: String,
    /// Whether Discord confirmed the account at this browser.
    pub discord_verified: bool,
    /// The server the member asked from.
    pub guild_id: Option<u64>,
    /// The SOE user the token belongs to.
    pub soe_user_name: String,
    /// Their SOE user id.
    pub soe_user_id: soe::Id,
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

/// What `/link/start` hands the browser.
pub struct Started {
    /// The site's authorize URL.
    pub authorize: Url,
    /// The browser-binding value, for the cookie.
    pub binding: SecretString,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").finish_non_exhaustive()
    }
}

/// Where the browser goes after the SOE callback.
#[derive(Debug)]
pub enum AfterSite {
    /// To Discord, to prove the account (the URL is built from configuration only).
    ProveDiscord(Url),
    /// Straight to the confirmation page (Discord check turned off).
    Confirm(ConfirmView),
}

/// The linking service shared by the web server and the commands.
pub struct LinkService {
    settings: LinkSettings,
    store: Arc<dyn Store>,
    clock: SharedClock,
    soe: Arc<HttpSoe>,
    oauth: SoeOAuth,
    /// Discord OAuth2, unless the check is turned off.
    discord: Option<DiscordOAuth>,
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

/// Whether `browser` (the cookie value the request carried) is the one bound to a record.
fn same_browser(browser: Option<&str>, bound: &[u8; 32]) -> bool {
    match browser.and_then(handle_hash) {
        Some(h) => h == *bound && *bound != [0u8; 32],
        None => false,
    }
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
        let discord = match &settings.discord {
            Some(d) => Some(DiscordOAuth::new(d, &settings.discord_redirect_uri())?),
            None => None,
        };
        Ok(Self {
            settings,
            store,
            clock,
            soe,
            oauth,
            discord,
            events,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &LinkSettings {
        &self.settings
    }

    /// Step 1: a single-use ticket for `discord_user` (known by their immutable `username`,
    /// asking from `guild_id`); returns the `/link/start` URL.
    pub async fn issue_ticket(
        &self,
        discord_user: DiscordUserId,
        username: &str,
        guild_id: Option<u64>,
    ) -> Result<Url, StoreError> {
        let ticket = random_secret();
        let hash: [u8; 32] = Sha256::digest(ticket.as_bytes()).into();
        let now = self.clock.now();
        self.store
            .put_ticket(
                hash,
                &LinkTicket {
                    discord_user,
                    discord_username: username.to_string(),
                    guild_id,
                    created_at: now,
                    expires_at: now + TICKET_TTL,
                },
            )
            .await?;
        let mut url = crate::config::join(&self.settings.public_url, "link/start");
        url.query_pairs_mut().append_pair("ticket", &ticket);
        Ok(url)
    }

    /// Whether `url` is one of this service's `/link/start` URLs (a Link button's target).
    pub fn is_start_url(&self, url: &str) -> bool {
        let start = crate::config::join(&self.settings.public_url, "link/start");
        url.strip_prefix(start.as_str())
            .is_some_and(|rest| rest.starts_with('?'))
    }

    /// Step 2: consumes the ticket, binds the flow to this browser, and returns the site's
    /// authorize URL with the binding for the cookie.
    pub async fn start(&self, ticket: &str) -> Result<Started, LinkError> {
        let hash = handle_hash(ticket).ok_or(LinkError::TicketInvalid)?;
        let t = self
            .store
            .take_ticket(hash)
            .await?
            .ok_or(LinkError::TicketInvalid)?;
        let now = self.clock.now();
        if now >= t.expires_at {
            tracing::info!(reason = "ticket_expired", "link start refused");
            return Err(LinkError::TicketExpired);
        }
        let mut scopes = self.settings.member_scopes();
        // Channels of the member's server bound to a private team need its grant too
        // (`/so-admin channel team`): asked for all of them at once, so linking from one
        // channel never drops the grant another channel needs.
        if let Some(guild) = t.guild_id {
            match self.store.guild_settings(guild).await {
                Ok(s) => {
                    for team in s.channel_teams.values() {
                        let grant = self.settings.team_scope(team);
                        if !scopes.contains(&grant) {
                            scopes.push(grant);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "guild settings unreadable; linking without the channels' team grants")
                }
            }
        }
        let auth = self.oauth.authorize(&scopes);
        let state_hash = handle_hash(auth.state.expose_secret()).ok_or(LinkError::StateInvalid)?;
        let binding = random_secret();
        let browser_hash = handle_hash(&binding).ok_or(LinkError::StateInvalid)?;
        self.store
            .put_pending_auth(
                state_hash,
                &PendingAuth {
                    discord_user: t.discord_user,
                    discord_username: t.discord_username,
                    guild_id: t.guild_id,
                    browser_hash,
                    verifier: auth.verifier,
                    scopes,
                    created_at: now,
                    expires_at: now + STATE_TTL,
                },
            )
            .await?;
        tracing::info!("link started; sending the browser to the site");
        Ok(Started {
            authorize: auth.url,
            binding: SecretString::from(binding),
        })
    }

    /// Step 3: the site's callback, from the browser holding `browser` (the cookie's value).
    pub async fn callback(
        &self,
        params: CallbackParams,
        browser: Option<&str>,
    ) -> Result<AfterSite, LinkError> {
        let state = params.state.as_deref().unwrap_or_default();
        let Some(state_hash) = handle_hash(state) else {
            tracing::info!(reason = "state_malformed", "link callback refused");
            return Err(LinkError::StateInvalid);
        };
        let Some(pending) = self.store.take_pending_auth(state_hash).await? else {
            tracing::info!(reason = "state_unknown_or_used", "link callback refused");
            return Err(LinkError::StateInvalid);
        };
        let now = self.clock.now();
        if now >= pending.expires_at {
            tracing::info!(reason = "state_expired", "link callback refused");
            return Err(LinkError::StateExpired);
        }
        if !same_browser(browser, &pending.browser_hash) {
            // Checked before the code is exchanged: a forwarded authorize URL approved in
            // someone else's browser never becomes a token.
            tracing::warn!(
                reason = "wrong_browser",
                "link callback refused: not the browser that opened the link"
            );
            return Err(LinkError::WrongBrowser);
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
        let pending_link = PendingConfirm {
            link: Link {
                discord_user: pending.discord_user,
                soe_user_id,
                soe_user_name: me.name,
                soe_user_url: me.web_url,
                token: UserToken::new(exchanged.token),
                scopes: pending.scopes,
                expires_at,
                linked_at: now,
                last_used_at: None,
                status: LinkStatus::Active,
            },
            discord_username: pending.discord_username,
            guild_id: pending.guild_id,
            browser_hash: pending.browser_hash,
            verified: None,
            expires_at: now + STATE_TTL,
        };
        match &self.discord {
            Some(discord) => {
                let (url, state) = discord.authorize();
                let hash = handle_hash(state.expose_secret()).ok_or(LinkError::StateInvalid)?;
                self.store.put_pending_identity(hash, &pending_link).await?;
                tracing::info!(
                    soe_user_id,
                    "link token obtained; asking Discord who is at the browser"
                );
                Ok(AfterSite::ProveDiscord(url))
            }
            None => {
                tracing::info!(soe_user_id, "link token obtained; waiting for confirmation");
                Ok(AfterSite::Confirm(
                    self.park_for_confirmation(pending_link).await?,
                ))
            }
        }
    }

    /// Step 4: Discord's callback, from the browser holding `browser`.
    pub async fn discord_callback(
        &self,
        params: CallbackParams,
        browser: Option<&str>,
    ) -> Result<ConfirmView, LinkError> {
        let Some(discord) = &self.discord else {
            return Err(LinkError::StateInvalid);
        };
        let state = params.state.as_deref().unwrap_or_default();
        let Some(state_hash) = handle_hash(state) else {
            tracing::info!(reason = "state_malformed", "Discord callback refused");
            return Err(LinkError::StateInvalid);
        };
        let Some(mut pending) = self.store.take_pending_identity(state_hash).await? else {
            tracing::info!(reason = "state_unknown_or_used", "Discord callback refused");
            return Err(LinkError::StateInvalid);
        };
        if self.clock.now() >= pending.expires_at {
            tracing::info!(reason = "state_expired", "Discord callback refused");
            return Err(LinkError::StateExpired);
        }
        if !same_browser(browser, &pending.browser_hash) {
            tracing::warn!(
                reason = "wrong_browser",
                "Discord callback refused: not the browser that opened the link"
            );
            return Err(LinkError::WrongBrowser);
        }
        if params.error.is_some() {
            tracing::info!(reason = "denied", "Discord callback: the member declined");
            return Err(LinkError::DiscordDenied);
        }
        let code = params
            .code
            .filter(|c| !c.is_empty() && c.len() <= 512)
            .ok_or(LinkError::MissingCode)?;
        let who = discord
            .identify(self.soe.http_client(), &code)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "Discord identity check failed"))?;
        if who.id != pending.link.discord_user {
            tracing::warn!(
                reason = "discord_mismatch",
                "link refused: Discord says another account is at the browser"
            );
            return Err(LinkError::DiscordMismatch {
                requested_by: pending.discord_username,
                signed_in_as: who.username,
            });
        }
        pending.verified = Some(VerifiedDiscord {
            id: who.id,
            username: who.username,
        });
        tracing::info!("Discord account proven at the browser; waiting for confirmation");
        self.park_for_confirmation(pending).await
    }

    /// Keeps `pending` behind a fresh one-time form token and describes it for the page.
    async fn park_for_confirmation(
        &self,
        mut pending: PendingConfirm,
    ) -> Result<ConfirmView, LinkError> {
        let form_token = random_secret();
        let form_hash = handle_hash(&form_token).ok_or(LinkError::ConfirmInvalid)?;
        pending.expires_at = self.clock.now() + CONFIRM_TTL;
        self.store.put_pending_confirm(form_hash, &pending).await?;
        let (discord_username, discord_verified) = match &pending.verified {
            Some(v) => (v.username.clone(), true),
            None => (pending.discord_username.clone(), false),
        };
        Ok(ConfirmView {
            form_token: SecretString::from(form_token),
            discord_id: pending.link.discord_user,
            discord_username,
            discord_verified,
            guild_id: pending.guild_id,
            soe_user_name: pending.link.soe_user_name.clone(),
            soe_user_id: pending.link.soe_user_id,
            soe_user_url: pending.link.soe_user_url.clone(),
            scopes: pending.link.scopes.clone(),
            expires_at: pending.link.expires_at,
        })
    }

    /// Step 5: the confirmation POST, from the browser holding `browser`. Stores the link and
    /// announces it.
    pub async fn confirm(
        &self,
        form_token: &str,
        browser: Option<&str>,
    ) -> Result<Linked, LinkError> {
        let hash = handle_hash(form_token).ok_or(LinkError::ConfirmInvalid)?;
        let now = self.clock.now();
        // Check expiry and the browser before consuming, so an expired confirmation or another
        // browser never becomes a link.
        match self.store.peek_pending_confirm(hash).await? {
            None => return Err(LinkError::ConfirmInvalid),
            Some(p) if now >= p.expires_at => {
                let _ = self.store.discard_pending_confirm(hash).await;
                return Err(LinkError::ConfirmExpired);
            }
            Some(p) if !same_browser(browser, &p.browser_hash) => {
                tracing::warn!(reason = "wrong_browser", "link confirmation refused");
                return Err(LinkError::WrongBrowser);
            }
            Some(p) if self.discord.is_some() && p.verified.is_none() => {
                return Err(LinkError::ConfirmInvalid);
            }
            Some(_) => {}
        }
        let link = self
            .store
            .confirm_link(hash)
            .await?
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
    pub async fn cancel(&self, form_token: &str, browser: Option<&str>) -> Result<(), LinkError> {
        let hash = handle_hash(form_token).ok_or(LinkError::ConfirmInvalid)?;
        match self.store.peek_pending_confirm(hash).await? {
            Some(p) if !same_browser(browser, &p.browser_hash) => Err(LinkError::WrongBrowser),
            _ => {
                self.store.discard_pending_confirm(hash).await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use url::Url;

    use super::LinkSettings;

    fn settings(public_url: &str) -> LinkSettings {
        LinkSettings {
            site_url: Url::parse("https://acme.stackenterprise.co/").expect("url"),
            client_id: "42".into(),
            public_url: Url::parse(public_url).expect("url"),
            allow_no_expiry: false,
            discord: None,
            teams: vec![],
            team_scope_format: crate::soe::DEFAULT_TEAM_SCOPE_FORMAT.into(),
        }
    }

    /// Every cookie attribute, parsed: the name=value pair first, then the attributes.
    fn parts(cookie: &str) -> Vec<String> {
        cookie.split(';').map(|p| p.trim().to_string()).collect()
    }

    #[test]
    fn on_https_the_binding_cookie_is_a_host_prefixed_secure_cookie() {
        // RFC 6265bis §4.1.3.2: a `__Host-` cookie must be Secure, have Path=/ and no Domain,
        // or the browser drops it.
        let s = settings("https://bot.acme.example/");
        let cookie = s.binding_cookie(&SecretString::from("v4lue"));
        let parts = parts(&cookie);
        assert_eq!(parts[0], "__Host-soe-bot-link=v4lue");
        for attr in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
            assert!(parts.iter().any(|p| p == attr), "{attr} in {cookie}");
        }
        assert!(
            !parts
                .iter()
                .any(|p| p.to_ascii_lowercase().starts_with("domain")),
            "{cookie}"
        );
        let cleared = parts_of_clear(&s);
        assert_eq!(cleared[0], "__Host-soe-bot-link=");
        assert!(cleared.iter().any(|p| p == "Max-Age=0"));
        assert!(cleared.iter().any(|p| p == "Secure"));
    }

    #[test]
    fn on_loopback_http_the_binding_cookie_drops_the_prefix_and_secure() {
        // A browser drops a Secure cookie set over plain http, so the loopback form has
        // neither the prefix (which requires Secure) nor the attribute.
        let s = settings("http://127.0.0.1:8080/");
        let cookie = s.binding_cookie(&SecretString::from("v4lue"));
        let parts = parts(&cookie);
        assert_eq!(parts[0], "soe-bot-link=v4lue");
        assert!(!parts.iter().any(|p| p == "Secure"), "{cookie}");
        for attr in ["Path=/", "HttpOnly", "SameSite=Lax"] {
            assert!(parts.iter().any(|p| p == attr), "{attr} in {cookie}");
        }
    }

    fn parts_of_clear(s: &LinkSettings) -> Vec<String> {
        parts(&s.clear_binding_cookie())
    }
}

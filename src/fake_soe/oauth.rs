//! The site's OAuth 2.0 authorization-code flow with PKCE, as SOE runs it at the site root:
//! `GET /oauth` (consent or redirect), `POST /oauth/consent` (the consent page's buttons) and
//! `POST /oauth/access_token/json` (the exchange), plus the access-token table the API checks.
//!
//! Invariants:
//! - codes carry ≥ 128 random bits, are single use (a failed exchange burns the code too, and a
//!   used code is refused forever), expire `code_ttl_secs` after issue by the injected clock, and
//!   are bound to the client id, the exact `redirect_uri`, the user, the scopes and the PKCE
//!   challenge;
//! - PKCE is S256 only; without a challenge only the correct client secret is accepted;
//! - tokens expire 24 h after issue by the injected clock unless `no_expiry` was granted;
//! - nothing here traces a token, code, verifier or state.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

use super::render::escape;
use super::server::{Ctx, Outcome, Reply, Shared};
use super::{Approval, TokenResponseStyle};

/// Lifetime of a token without `no_expiry`.
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 86_400;

/// An access token's grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl TokenInfo {
    /// True when the token may write.
    pub fn can_write(&self) -> bool {
        self.scopes.iter().any(|s| s == "write_access")
    }
}

/// An issued authorization code.
#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    user_id: i64,
    scopes: Vec<String>,
    challenge: Option<String>,
    issued_at: DateTime<Utc>,
    used: bool,
}

/// A validated authorization request waiting on the consent page.
#[derive(Debug, Clone)]
struct Pending {
    request: AuthorizeRequest,
    created: DateTime<Utc>,
}

/// Tokens, codes and pending consents.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    tokens: HashMap<String, TokenInfo>,
    codes: HashMap<String, CodeGrant>,
    pending: HashMap<String, Pending>,
}

fn random_string(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl AuthState {
    /// Issues a token for `user_id` with `scopes`; SE-style tokens end in `))`.
    pub fn mint(&mut self, user_id: i64, scopes: &[String], now: DateTime<Utc>) -> String {
        let token = format!("{}))", random_string(24));
        let no_expiry = scopes.iter().any(|s| s == "no_expiry");
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                user_id,
                scopes: scopes.to_vec(),
                expires_at: (!no_expiry).then(|| now + Duration::seconds(TOKEN_LIFETIME_SECS)),
                revoked: false,
            },
        );
        token
    }

    /// The grant behind a token, if it is known, not revoked and not expired.
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Option<&TokenInfo> {
        self.tokens
            .get(token)
            .filter(|t| !t.revoked && t.expires_at.is_none_or(|exp| now < exp))
    }

    /// Revokes a token (unknown tokens are ignored).
    pub fn revoke(&mut self, token: &str) {
        if let Some(t) = self.tokens.get_mut(token) {
            t.revoked = true;
        }
    }
}

/// A validated `GET /oauth` request.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeRequest {
    client_id: String,
    /// Exactly as sent (decoded from the query string).
    redirect_uri: String,
    redirect: Url,
    scopes: Vec<String>,
    state: Option<String>,
    challenge: Option<String>,
}

/// Why an authorization request was refused.
#[derive(Debug)]
pub(crate) enum AuthorizeError {
    /// Shown as a 400 page: the redirect target cannot be trusted.
    Page(String),
    /// Sent back to the (verified) redirect URI with `error=…`.
    Redirect(Url),
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn error_redirect(redirect: &Url, error: &str, description: &str, state: Option<&str>) -> Url {
    let mut url = redirect.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", description);
        if let Some(state) = state {
            q.append_pair("state", state);
        }
    }
    url
}

/// True when `host` is the application's registered `domain` or a subdomain of it
/// ("redirect_uri must be under an app's registered domain"). Case-insensitive; a port is not
/// part of the host.
pub(crate) fn under_domain(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(&domain)
                .is_some_and(|rest| rest.ends_with('.')))
}

/// Validates the parameters of `GET /oauth`.
pub(crate) fn parse_authorize(
    shared: &Shared,
    pairs: &[(String, String)],
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client_id = first(pairs, "client_id")
        .ok_or_else(|| AuthorizeError::Page("client_id is required.".into()))?;
    if client_id != shared.client_id {
        return Err(AuthorizeError::Page(
            "Unknown client_id: no API application is registered with this id.".into(),
        ));
    }
    let redirect_uri = first(pairs, "redirect_uri")
        .ok_or_else(|| AuthorizeError::Page("redirect_uri is not configured".into()))?;
    let redirect = Url::parse(redirect_uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| {
            u.host_str()
                .is_some_and(|h| under_domain(h, &shared.redirect_domain))
        })
        .ok_or_else(|| AuthorizeError::Page("redirect_uri is not configured".into()))?;
    let state = pairs
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone());
    let scopes: Vec<String> = first(pairs, "scope")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let challenge = first(pairs, "code_challenge").map(str::to_string);
    let method = first(pairs, "code_challenge_method");
    let bad = |description: &str| {
        AuthorizeError::Redirect(error_redirect(
            &redirect,
            "invalid_request",
            description,
            state.as_deref(),
        ))
    };
    match (&challenge, method) {
        (Some(_), Some("S256")) | (None, None) => {}
        (Some(_), Some(_)) | (Some(_), None) => {
            return Err(bad("code_challenge_method must be S256."));
        }
        (None, Some(_)) => return Err(bad("code_challenge_method given without code_challenge.")),
    }
    if let Some(c) = &challenge {
        if c.len() != 43 || URL_SAFE_NO_PAD.decode(c).is_err() {
            return Err(bad(
                "code_challenge must be base64url(SHA-256(code_verifier)) without padding.",
            ));
        }
    }
    Ok(AuthorizeRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        redirect,
        scopes,
        state,
        challenge,
    })
}

/// Issues a code for `user_id` and returns the redirect URL carrying it.
pub(crate) fn grant(shared: &Shared, request: &AuthorizeRequest, user_id: i64) -> Url {
    let code = random_string(32);
    shared.auth.lock().codes.insert(
        code.clone(),
        CodeGrant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user_id,
            scopes: request.scopes.clone(),
            challenge: request.challenge.clone(),
            issued_at: shared.clock.now(),
            used: false,
        },
    );
    let mut url = request.redirect.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(state) = &request.state {
            q.append_pair("state", state);
        }
    }
    url
}

/// The redirect URL for a refusal.
pub(crate) fn deny(request: &AuthorizeRequest) -> Url {
    error_redirect(
        &request.redirect,
        "access_denied",
        "The user denied access to the application.",
        request.state.as_deref(),
    )
}

fn page(status: u16, title: &str, message: &str) -> Reply {
    Reply::html(
        status,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>{STYLE}</style></head><body><main><h1>{t}</h1><p>{m}</p></main></body></html>\n",
            t = escape(title),
            m = escape(message),
        ),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f1f2f3;margin:0}\
main{max-width:32rem;margin:3rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem}form{display:inline}\
button{margin:.25rem 0;padding:.5rem .9rem;border-radius:5px;border:1px solid #0a95ff;\
background:#0a95ff;color:#fff;cursor:pointer;width:100%}button.deny{background:#fff;color:#c22e32;\
border-color:#c22e32}code{background:#eee;padding:0 .2rem}";

fn consent_page(shared: &Shared, id: &str, request: &AuthorizeRequest) -> Reply {
    let scopes = if request.scopes.is_empty() {
        "read access".to_string()
    } else {
        request.scopes.join(", ")
    };
    let mut buttons = String::new();
    let store = shared.store.lock();
    for user in store.users() {
        buttons.push_str(&format!(
            "<form method=\"post\" action=\"/oauth/consent\">\
             <input type=\"hidden\" name=\"request\" value=\"{id}\">\
             <input type=\"hidden\" name=\"user_id\" value=\"{uid}\">\
             <button type=\"submit\">Approve as {name}</button></form>\n",
            id = escape(id),
            uid = user.id,
            name = escape(&user.name),
        ));
    }
    drop(store);
    Reply::html(
        200,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Authorize application</title><style>{STYLE}</style></head><body><main>\
             <h1>Authorize application {client}?</h1>\
             <p>It asks for: <code>{scopes}</code>.</p>\
             <p>You will be sent back to <code>{host}</code>.</p>\n{buttons}\
             <form method=\"post\" action=\"/oauth/consent\">\
             <input type=\"hidden\" name=\"request\" value=\"{id}\">\
             <input type=\"hidden\" name=\"decision\" value=\"deny\">\
             <button type=\"submit\" class=\"deny\">Deny</button></form>\n\
             </main></body></html>\n",
            client = escape(&request.client_id),
            scopes = escape(&scopes),
            host = escape(request.redirect.host_str().unwrap_or_default()),
            id = escape(id),
        ),
    )
}

/// `GET /oauth`.
pub(crate) fn authorize(shared: &Shared, ctx: &Ctx) -> Outcome {
    let request = match parse_authorize(shared, &ctx.query) {
        Ok(r) => r,
        Err(AuthorizeError::Page(message)) => {
            return page(400, "Application error", &message).into();
        }
        Err(AuthorizeError::Redirect(url)) => return Reply::redirect(url.as_str()).into(),
    };
    let approval = shared.approval.lock().clone();
    match approval {
        Approval::AutoApprove { user_id } => {
            if shared.store.lock().user(user_id).is_none() {
                return page(
                    400,
                    "Application error",
                    "The approving user does not exist.",
                )
                .into();
            }
            Outcome {
                reply: Reply::redirect(grant(shared, &request, user_id).as_str()),
                user_id: Some(user_id),
            }
        }
        Approval::Deny => Reply::redirect(deny(&request).as_str()).into(),
        Approval::ConsentPage => {
            let id = random_string(16);
            let now = shared.clock.now();
            let ttl = Duration::seconds(shared.code_ttl_secs);
            let mut auth = shared.auth.lock();
            auth.pending.retain(|_, p| now - p.created < ttl);
            auth.pending.insert(
                id.clone(),
                Pending {
                    request: request.clone(),
                    created: now,
                },
            );
            drop(auth);
            consent_page(shared, &id, &request).into()
        }
    }
}

/// `POST /oauth/consent`: one of the consent page's buttons.
pub(crate) fn consent(shared: &Shared, ctx: &Ctx) -> Outcome {
    let form = ctx.form();
    let Some(id) = first(&form, "request") else {
        return page(400, "Application error", "The consent request is missing.").into();
    };
    let now = shared.clock.now();
    let pending = shared.auth.lock().pending.remove(id);
    let Some(pending) =
        pending.filter(|p| now - p.created < Duration::seconds(shared.code_ttl_secs))
    else {
        return page(
            400,
            "Application error",
            "This authorization request has expired or was already answered. Start again.",
        )
        .into();
    };
    if first(&form, "decision") == Some("deny") {
        return Reply::redirect(deny(&pending.request).as_str()).into();
    }
    let user_id = first(&form, "user_id").and_then(|v| v.parse::<i64>().ok());
    let Some(user_id) = user_id.filter(|id| shared.store.lock().user(*id).is_some()) else {
        return page(400, "Application error", "Unknown user.").into();
    };
    Outcome {
        reply: Reply::redirect(grant(shared, &pending.request, user_id).as_str()),
        user_id: Some(user_id),
    }
}

fn token_error(name: &str, message: &str) -> Reply {
    Reply::json(
        400,
        json!({ "error_id": 400, "error_name": name, "error_message": message }),
    )
}

/// The PKCE S256 transform.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `POST /oauth/access_token/json`: `client_id`, `code`, `redirect_uri` and `code_verifier`
/// (or, without PKCE, `client_secret`) from the query string (as the vendor's SDK sends them)
/// or a form body; a request missing any of them is refused with 400 before anything else
/// about the code is said.
pub(crate) fn token(shared: &Shared, ctx: &Ctx) -> Outcome {
    let mut params = ctx.form();
    params.extend(ctx.query.iter().cloned());
    let get = |name: &str| first(&params, name);
    // Every parameter is required; a request missing one is refused before the code is looked
    // at (the verifier, or without PKCE the client secret).
    for name in ["client_id", "code", "redirect_uri"] {
        if get(name).is_none() {
            return token_error("bad_parameter", &format!("{name} is required")).into();
        }
    }
    if get("code_verifier").is_none() && get("client_secret").is_none() {
        return token_error("bad_parameter", "code_verifier is required").into();
    }
    let Some(code) = get("code") else {
        return token_error("bad_parameter", "code is required").into();
    };
    let now = shared.clock.now();
    let mut auth = shared.auth.lock();
    let Some(grant) = auth.codes.get_mut(code) else {
        return token_error("invalid_grant", "code is not valid").into();
    };
    if grant.used {
        return token_error("invalid_grant", "code has already been used").into();
    }
    // Burn first: whatever happens next, this code is spent.
    grant.used = true;
    let grant = grant.clone();
    if now - grant.issued_at >= Duration::seconds(shared.code_ttl_secs) {
        return token_error("invalid_grant", "code has expired").into();
    }
    match get("client_id") {
        None => return token_error("bad_parameter", "client_id is required").into(),
        Some(id) if id != grant.client_id => {
            return token_error("invalid_grant", "code was not issued to this client_id").into();
        }
        Some(_) => {}
    }
    match get("redirect_uri") {
        None => return token_error("bad_parameter", "redirect_uri is required").into(),
        Some(uri) if uri != grant.redirect_uri => {
            return token_error(
                "invalid_grant",
                "redirect_uri does not match the one used to authorize",
            )
            .into();
        }
        Some(_) => {}
    }
    match &grant.challenge {
        Some(challenge) => match get("code_verifier") {
            None => {
                return token_error("bad_parameter", "code_verifier is required").into();
            }
            Some(v) if !valid_verifier(v) => {
                return token_error("bad_parameter", "code_verifier is malformed").into();
            }
            Some(v) if s256(v) != *challenge => {
                return token_error("invalid_grant", "code_verifier does not match").into();
            }
            Some(_) => {}
        },
        None => {
            let ok = match (&shared.client_secret, get("client_secret")) {
                (Some(want), Some(got)) => want == got,
                _ => false,
            };
            if !ok {
                return token_error(
                    "invalid_grant",
                    "client_secret is required when PKCE is not used",
                )
                .into();
            }
        }
    }
    let token = auth.mint(grant.user_id, &grant.scopes, now);
    drop(auth);
    let no_expiry = grant.scopes.iter().any(|s| s == "no_expiry");
    let mut body = json!({ "access_token": token });
    match shared.token_response {
        TokenResponseStyle::Soe => {
            if !no_expiry {
                body["expires"] = json!(TOKEN_LIFETIME_SECS);
            }
        }
        TokenResponseStyle::Standard => {
            body["token_type"] = json!("bearer");
            if !no_expiry {
                body["expires_in"] = json!(TOKEN_LIFETIME_SECS);
            }
        }
    }
    let reply = if shared.token_content_type.starts_with("application/json") {
        Reply::json(200, body)
    } else {
        Reply::typed(200, &shared.token_content_type, body.to_string())
    };
    Outcome {
        reply,
        user_id: Some(grant.user_id),
    }
}

//! The SOE OAuth client: the authorize URL and the code exchange.
//!
//! Built on the `oauth2` crate for PKCE (S256) and the request shape. SOE's token endpoint
//! (`/oauth/access_token/json`) answers `{access_token, expires}` without `token_type`, so the
//! response is parsed with [`SoeTokenResponse`]. Scopes are comma-separated on SOE, so they go
//! as one pre-joined scope string. Invariants: the exchange uses the shared client whose
//! redirects are off (no SSRF through a redirecting token endpoint); errors are reduced to a
//! kind, never the server's body, the code or the verifier.

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

/// SOE's token response: `access_token` and, unless `no_expiry` was granted, `expires`
/// (seconds from now).
#[derive(Debug, Deserialize, Serialize)]
pub struct SoeTokenResponse {
    access_token: AccessToken,
    #[serde(default)]
    expires: Option<u64>,
    /// SOE sends none; oauth2 wants one.
    #[serde(default = "bearer")]
    token_type: BasicTokenType,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

impl TokenResponse for SoeTokenResponse {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        None
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

type Client = oauth2::Client<
    BasicErrorResponse,
    SoeTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why an exchange failed, without any secret or server text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The token endpoint refused the code (used, expired, wrong verifier or redirect).
    #[error("the site refused the authorization code")]
    Refused,
    /// The token endpoint could not be reached or timed out.
    #[error("the site's token endpoint could not be reached")]
    Unreachable,
    /// The token endpoint answered something unexpected (a redirect, non-JSON, no token).
    #[error("the site's token endpoint answered unexpectedly")]
    Unexpected,
}

/// A token just obtained.
pub struct Exchanged {
    /// The access token.
    pub token: SecretString,
    /// Lifetime, if SOE gave one.
    pub expires_in: Option<Duration>,
}

impl std::fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanged")
            .field("token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A fresh authorization: the URL to send the browser to, and the secrets to keep.
pub struct Authorization {
    /// `https://SITE/oauth?client_id=…&redirect_uri=…&scope=…&state=…&code_challenge=…`.
    pub url: Url,
    /// The `state` (256 random bits, base64url).
    pub state: SecretString,
    /// The PKCE verifier (256 random bits, 43 characters).
    pub verifier: SecretString,
}

/// SOE OAuth for one API application and one redirect URI.
#[derive(Debug)]
pub struct SoeOAuth {
    client: Client,
}

impl SoeOAuth {
    /// `site_url` is the site root; `/oauth` and `/oauth/access_token/json` live there.
    pub fn new(site_url: &Url, client_id: &str, redirect_uri: &Url) -> Result<Self, String> {
        let root = site_url.as_str().trim_end_matches('/');
        let auth = AuthUrl::new(format!("{root}/oauth")).map_err(|e| e.to_string())?;
        let token =
            TokenUrl::new(format!("{root}/oauth/access_token/json")).map_err(|e| e.to_string())?;
        let client = oauth2::Client::new(ClientId::new(client_id.to_string()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        Ok(Self { client })
    }

    /// Mints a state and a PKCE verifier and builds the authorize URL for `scopes`.
    pub fn authorize(&self, scopes: &[String]) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(|| CsrfToken::new_random_len(32))
            // SOE separates scopes with commas; oauth2 would join several with spaces.
            .add_scope(Scope::new(scopes.join(",")))
            .set_pkce_challenge(challenge)
            .url();
        Authorization {
            url,
            state: SecretString::from(state.secret().clone()),
            verifier: SecretString::from(verifier.secret().clone()),
        }
    }

    /// Exchanges `code` with the verifier kept for it.
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        code: &str,
        verifier: &SecretString,
    ) -> Result<Exchanged, ExchangeError> {
        use oauth2::RequestTokenError as E;
        let result = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_string()))
            .request_async(http)
            .await;
        match result {
            Ok(resp) => {
                let token = resp.access_token().secret().trim().to_string();
                if token.is_empty() {
                    return Err(ExchangeError::Unexpected);
                }
                Ok(Exchanged {
                    token: SecretString::from(token),
                    expires_in: resp.expires_in(),
                })
            }
            Err(E::ServerResponse(_)) => Err(ExchangeError::Refused),
            Err(E::Request(_)) => Err(ExchangeError::Unreachable),
            // oauth2 treats every non-200 as an error body; SOE's 400 bodies are not RFC 6749
            // shaped, so they land here: a refusal unless it was not a 4xx at all.
            Err(E::Parse(_, body)) if !body.is_empty() => Err(ExchangeError::Refused),
            Err(E::Parse(..)) | Err(E::Other(_)) => Err(ExchangeError::Unexpected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_has_pkce_s256_and_comma_scopes() {
        let oauth = SoeOAuth::new(
            &Url::parse("https://acme.stackenterprise.co/").unwrap(),
            "4242",
            &Url::parse("https://bot.example.com/oauth/callback").unwrap(),
        )
        .unwrap();
        let a = oauth.authorize(&["write_access".into(), "no_expiry".into()]);
        let pairs: std::collections::HashMap<_, _> = a.url.query_pairs().into_owned().collect();
        assert_eq!(a.url.path(), "/oauth");
        assert_eq!(pairs["client_id"], "4242");
        assert_eq!(
            pairs["redirect_uri"],
            "https://bot.example.com/oauth/callback"
        );
        assert_eq!(pairs["scope"], "write_access,no_expiry");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["state"], a.state.expose_secret());
        assert_eq!(a.verifier.expose_secret().len(), 43);
        assert_eq!(a.state.expose_secret().len(), 43, "256-bit state");
        assert_ne!(pairs["code_challenge"], a.verifier.expose_secret());
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = PkceCodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        let c = PkceCodeChallenge::from_code_verifier_sha256(&v);
        assert_eq!(c.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn ten_thousand_verifiers_are_distinct_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let v = verifier.secret().clone();
            assert_eq!(v.len(), 43);
            assert!(v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
            assert_eq!(challenge.method().as_str(), "S256");
            assert_ne!(challenge.as_str(), v);
            assert!(seen.insert(v));
        }
    }
}

//! Proof of the Discord account at the browser: Discord OAuth2 with the `identify` scope.
//!
//! The link flow starts in Discord but finishes in whatever browser opens the link, so only a
//! proof made in that browser ties the two (RFC 9700 §2.1.1). After the SOE consent the browser
//! is sent to Discord's authorize page (`prompt=none`: no screen for a member who authorised the
//! application before); the code that comes back is exchanged with the application's client
//! secret and `/users/@me` says which account it is. The bot keeps only the id and username;
//! the Discord access token is used once and dropped.
//!
//! Invariants: the URLs derive from `discord.api_base` (`{base}/oauth2/authorize`,
//! `{base}/api/v10/oauth2/token`, `{base}/api/v10/users/@me`), so tests and `demo` use a fake;
//! the exchange uses the shared client whose redirects are off; errors are reduced to a kind,
//! never the server's body, the code, the secret or the token.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// What the bot needs to ask Discord who is at the browser.
#[derive(Clone)]
pub struct DiscordOAuthSettings {
    /// `discord.api_base` (`https://discord.com` unless a proxy or fake is used).
    pub base: Url,
    /// The application id (Discord's OAuth2 client id).
    pub client_id: String,
    /// `discord.client_secret`.
    pub client_secret: SecretString,
}

impl std::fmt::Debug for DiscordOAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordOAuthSettings")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// The Discord account proven at the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordIdentity {
    /// The snowflake.
    pub id: u64,
    /// The unique handle (`alice` for `@alice`): what the confirmation page shows.
    pub username: String,
}

/// Why the Discord step failed, without any secret or server text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiscordCheckError {
    /// Discord refused the code or the client credentials.
    #[error("Discord refused the sign-in")]
    Refused,
    /// Discord could not be reached or timed out.
    #[error("Discord could not be reached")]
    Unreachable,
    /// Discord answered something unexpected.
    #[error("Discord answered unexpectedly")]
    Unexpected,
}

type Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Discord OAuth2 for one application and one redirect URI.
pub struct DiscordOAuth {
    client: Client,
    me_url: Url,
}

impl std::fmt::Debug for DiscordOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordOAuth")
            .field("me_url", &self.me_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct MeResponse {
    id: String,
    username: String,
}

impl DiscordOAuth {
    /// `redirect_uri` is `{public_url}/oauth/discord/callback`, registered on the application.
    pub fn new(settings: &DiscordOAuthSettings, redirect_uri: &Url) -> Result<Self, String> {
        let root = settings.base.as_str().trim_end_matches('/');
        let auth = AuthUrl::new(format!("{root}/oauth2/authorize")).map_err(|e| e.to_string())?;
        let token =
            TokenUrl::new(format!("{root}/api/v10/oauth2/token")).map_err(|e| e.to_string())?;
        let me_url = Url::parse(&format!("{root}/api/v10/users/@me")).map_err(|e| e.to_string())?;
        let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose_secret().to_string(),
            ))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        Ok(Self { client, me_url })
    }

    /// A fresh authorize URL and its state (256 random bits).
    pub fn authorize(&self) -> (Url, SecretString) {
        let (url, state) = self
            .client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .add_scope(Scope::new("identify".into()))
            .add_extra_param("prompt", "none")
            .url();
        (url, SecretString::from(state.secret().clone()))
    }

    /// Exchanges `code` and asks Discord whose it is.
    pub async fn identify(
        &self,
        http: &reqwest::Client,
        code: &str,
    ) -> Result<DiscordIdentity, DiscordCheckError> {
        use oauth2::RequestTokenError as E;
        let token = match self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .request_async(http)
            .await
        {
            Ok(t) => SecretString::from(t.access_token().secret().clone()),
            Err(E::ServerResponse(_)) => return Err(DiscordCheckError::Refused),
            Err(E::Request(_)) => return Err(DiscordCheckError::Unreachable),
            Err(E::Parse(_, body)) if !body.is_empty() => return Err(DiscordCheckError::Refused),
            Err(E::Parse(..)) | Err(E::Other(_)) => return Err(DiscordCheckError::Unexpected),
        };
        let res = http
            .get(self.me_url.clone())
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|_| DiscordCheckError::Unreachable)?;
        match res.status().as_u16() {
            200 => {}
            401 | 403 => return Err(DiscordCheckError::Refused),
            _ => return Err(DiscordCheckError::Unexpected),
        }
        let me: MeResponse = res
            .json()
            .await
            .map_err(|_| DiscordCheckError::Unexpected)?;
        let id = me
            .id
            .parse::<u64>()
            .map_err(|_| DiscordCheckError::Unexpected)?;
        Ok(DiscordIdentity {
            id,
            username: me.username,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_asks_for_identify_only_without_a_prompt() {
        let settings = DiscordOAuthSettings {
            base: Url::parse("https://discord.com").unwrap(),
            client_id: "1234".into(),
            client_secret: SecretString::from("s3cret"),
        };
        let oauth = DiscordOAuth::new(
            &settings,
            &Url::parse("https://bot.example.com/oauth/discord/callback").unwrap(),
        )
        .unwrap();
        let (url, state) = oauth.authorize();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.host_str(), Some("discord.com"));
        assert_eq!(url.path(), "/oauth2/authorize");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "1234");
        assert_eq!(q["scope"], "identify");
        assert_eq!(q["prompt"], "none");
        assert_eq!(
            q["redirect_uri"],
            "https://bot.example.com/oauth/discord/callback"
        );
        assert_eq!(q["state"], state.expose_secret());
        assert_eq!(state.expose_secret().len(), 43);
        assert!(
            !url.as_str().contains("s3cret"),
            "the secret never travels in the URL"
        );
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}

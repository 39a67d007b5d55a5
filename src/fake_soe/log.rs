//! The fake site's request log: what was asked, with which token, and what was answered.
//!
//! Tests use it to assert which token made which call, and the contract tests validate every
//! logged request and response against the project's contract schemas. The log holds raw tokens
//! because it is test equipment that never leaves the process; nothing here is ever traced.

use serde_json::Value;

/// One request the fake site served.
#[derive(Clone, PartialEq)]
pub struct LoggedRequest {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// The concrete path, e.g. `/api/v3/questions/3`.
    pub path: String,
    /// The route template relative to the API base, as in the OpenAPI document, e.g.
    /// `/questions/{questionId}`; for OAuth routes the site path (`/oauth/access_token/json`).
    /// Team routes use the same template as the main site (the team prefix is in `team`).
    pub route: String,
    /// The private team slug when the request went to `/api/v3/teams/{team}/…`.
    pub team: Option<String>,
    /// Decoded query pairs in order; repeated keys appear repeatedly (`tagId=1&tagId=2`).
    pub query: Vec<(String, String)>,
    /// The bearer token presented, if any.
    pub token: Option<String>,
    /// The SOE user the token belongs to, if the token was valid.
    pub user_id: Option<i64>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The parsed JSON request body, if there was one; for a form-encoded request (the OAuth
    /// token exchange) its pairs as a JSON object of strings.
    pub body: Option<Value>,
    /// The response status.
    pub status: u16,
    /// The response `Content-Type`, if set.
    pub response_content_type: Option<String>,
    /// The response body when it was JSON (also when the fake deliberately sent malformed
    /// JSON: then this is `None` and `malformed` is true).
    pub response: Option<Value>,
    /// True when a fault made the fake send a body that is not valid JSON.
    pub malformed: bool,
}

impl std::fmt::Debug for LoggedRequest {
    // Tokens are redacted even here, so a failing assertion never prints one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("route", &self.route)
            .field("team", &self.team)
            .field("query", &self.query)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("user_id", &self.user_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl LoggedRequest {
    /// True for writes (POST, PUT, DELETE) to the API (not OAuth).
    pub fn is_api_write(&self) -> bool {
        self.path.starts_with("/api/") && self.method != "GET"
    }

    /// True for API calls (not OAuth or pages).
    pub fn is_api(&self) -> bool {
        self.path.starts_with("/api/")
    }

    /// A request parameter wherever it was sent: the query string (how the bot sends the
    /// token request, like the vendor's SDK) or a form body.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.body
                    .as_ref()
                    .and_then(|b| b.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    }
}

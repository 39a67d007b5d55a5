//! SOE errors by meaning, not by status code.
//!
//! The HTTP client maps every response and transport failure to exactly one [`Error`] variant in
//! one place ([`Error::from_response`]); callers branch on the variant. Invariants:
//! - no variant carries a token, a URL with a query string, or a raw response body beyond the
//!   site's own human-readable problem text;
//! - `Display` is safe to log; [`Error::user_message`] is safe to show to a member.

use std::time::Duration;

use serde::Deserialize;

/// The title of the site's 403 ProblemDetails; alone, it names no reason.
const GENERIC_FORBIDDEN: &str = "Forbidden Action";

/// One field-level validation message from a 400 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, lower-case (`title`, `body`, `tags`), or `None` for a message about the whole
    /// request.
    pub field: Option<String>,
    /// The site's message.
    pub message: String,
}

/// What went wrong talking to SOE.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// 401: the token is invalid, expired or revoked.
    #[error("SOE rejected the access token (401)")]
    Unauthorized,
    /// 403: the token lacks `write_access`, or the user lacks a privilege (own post, not the
    /// question owner, reputation).
    #[error("SOE refused the action (403): {detail}")]
    Forbidden {
        /// The site's problem title/detail, or a generic phrase.
        detail: String,
    },
    /// 404.
    #[error("not found on SOE (404): {detail}")]
    NotFound {
        /// The site's problem detail.
        detail: String,
    },
    /// 400 (and 409/422): the request was understood and refused, per field where possible.
    #[error("SOE refused the request: {}", summarize(.errors))]
    Validation {
        /// Per-field messages, in the order the site gave them.
        errors: Vec<FieldError>,
    },
    /// 429, or a throttle pause still in effect for this token.
    #[error("SOE rate limit reached; retry in {}s", .retry_after.as_secs())]
    RateLimited {
        /// How long until the token may be used again.
        retry_after: Duration,
    },
    /// 5xx.
    #[error("SOE is unavailable (HTTP {status})")]
    Unavailable {
        /// The status code.
        status: u16,
    },
    /// Connect or total timeout.
    #[error("SOE did not answer in time")]
    Timeout,
    /// Connection refused, DNS, TLS, and other transport failures. The text has no URL.
    #[error("could not reach SOE: {0}")]
    Transport(String),
    /// A 2xx whose body did not parse, or an unexpected status.
    #[error("unexpected response from SOE: {0}")]
    Unexpected(String),
}

fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// RFC 7807 problem details, plus ASP.NET's `errors` map.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    errors: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

impl Error {
    /// Maps a non-success response to an error. `retry_after` is what the throttle headers or
    /// `Retry-After` said, if anything.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
        let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
        let text = || {
            problem
                .detail
                .clone()
                .or_else(|| problem.title.clone())
                .unwrap_or_default()
        };
        match status {
            401 => Error::Unauthorized,
            403 => Error::Forbidden {
                detail: non_empty(text(), GENERIC_FORBIDDEN),
            },
            404 => Error::NotFound {
                detail: non_empty(text(), "not found"),
            },
            400 | 409 | 422 => Error::Validation {
                errors: field_errors(&problem),
            },
            429 => Error::RateLimited {
                retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
            },
            500..=599 => Error::Unavailable { status },
            other => Error::Unexpected(format!("HTTP {other}")),
        }
    }

    /// A sentence for the member: what happened and what to do next. Never includes secrets.
    /// The site is called "the site"; [`Error::user_message_on`] names it.
    pub fn user_message(&self) -> String {
        self.user_message_on("the site")
    }

    /// [`Error::user_message`] naming the site as members know it (`site`, e.g. "Acme Stack
    /// Overflow").
    pub fn user_message_on(&self, site: &str) -> String {
        let mut text = match self {
            Error::Unauthorized => format!(
                "{site} rejected the access token: it has expired or was revoked. Link your account again with `/so link`."
            ),
            Error::Forbidden { detail } => format!(
                "{site} refused this action ({detail}). Your account may lack write access or the privilege it needs."
            ),
            Error::NotFound { .. } => format!(
                "That post does not exist on {site}, or you cannot see it. Check the id or URL."
            ),
            Error::Validation { errors } => {
                format!("{site} did not accept it: {}", summarize(errors))
            }
            Error::RateLimited { retry_after } => format!(
                "{site} is busy (rate limit). Try again in about {} s.",
                retry_after.as_secs().max(1)
            ),
            Error::Unavailable { .. } | Error::Timeout | Error::Transport(_) => {
                format!("{site} is not reachable right now. Try again in a minute.")
            }
            Error::Unexpected(_) => format!(
                "{site} sent an answer the bot did not understand. Try again; if it keeps happening, tell an admin."
            ),
        };
        // A sentence starts with a capital, whatever the site is called.
        if let Some(first) = text.get(..1) {
            if first == "t" {
                text.replace_range(..1, "T");
            }
        }
        text
    }

    /// True for a 403 that names no reason of its own: the site's bare `Forbidden Action`.
    /// That is how it refuses a token that may not do this at all (no `write_access`, a
    /// read-only API application, no `access_team` grant for the team), as opposed to a
    /// privilege it refuses to the user (own post, not the question's owner, reputation),
    /// which comes with a `detail` saying so.
    pub fn is_grant_refusal(&self) -> bool {
        matches!(self, Error::Forbidden { detail } if detail == GENERIC_FORBIDDEN)
    }

    /// True for failures worth retrying a GET on (5xx and timeouts).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout)
    }
}

fn non_empty(s: String, fallback: &str) -> String {
    if s.trim().is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

/// Per-field messages from an ASP.NET `errors` map or a domain problem's `detail`.
fn field_errors(problem: &Problem) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Some(errors) = &problem.errors {
        for (field, messages) in errors {
            for message in messages {
                out.push(FieldError {
                    field: Some(field.to_ascii_lowercase()),
                    message: message.clone(),
                });
            }
        }
    }
    if out.is_empty() {
        let message = problem
            .detail
            .clone()
            .or_else(|| problem.title.clone())
            .unwrap_or_else(|| "the request was refused".into());
        out.push(FieldError {
            field: guess_field(&message, problem.kind.as_deref()),
            message,
        });
    }
    out
}

/// Domain errors name their field only in prose ("Title cannot be longer than 150 characters.").
fn guess_field(message: &str, _kind: Option<&str>) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    ["title", "body", "tags", "tag"]
        .into_iter()
        .find(|f| lower.starts_with(f) || lower.contains(&format!(" {f} ")))
        .map(|f| if f == "tag" { "tags" } else { f }.to_string())
        .or_else(|| {
            (lower.contains("duplicate") || lower.contains("already exists"))
                .then(|| "title".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspnet_validation_errors_become_field_errors() {
        let body = br#"{"errors":{"Title":["The Title field is required."]},"title":"One or more validation errors occurred.","status":400}"#;
        let err = Error::from_response(400, body, None);
        assert_eq!(
            err,
            Error::Validation {
                errors: vec![FieldError {
                    field: Some("title".into()),
                    message: "The Title field is required.".into()
                }]
            }
        );
    }

    #[test]
    fn domain_errors_guess_their_field() {
        let body = br#"{"type":"/v3/errors/questions/ValidationErrors","title":"Question not created","status":400,"detail":"A question with that title already exists; please be more specific."}"#;
        match Error::from_response(400, body, None) {
            Error::Validation { errors } => {
                assert_eq!(errors[0].field.as_deref(), Some("title"));
                assert!(errors[0].message.contains("already exists"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bare_403_is_a_grant_refusal_and_a_reasoned_one_is_not() {
        let bare = br#"{"type":"/v3/errors/forbidden","title":"Forbidden Action","status":403}"#;
        assert!(Error::from_response(403, bare, None).is_grant_refusal());
        assert!(Error::from_response(403, b"", None).is_grant_refusal());
        let reasoned = br#"{"type":"/v3/errors/forbidden","title":"Forbidden Action","status":403,"detail":"You can't vote for your own post."}"#;
        let e = Error::from_response(403, reasoned, None);
        assert!(!e.is_grant_refusal());
        assert!(e.to_string().contains("own post"));
        assert!(!Error::Unauthorized.is_grant_refusal());
    }

    #[test]
    fn text_plain_401_is_unauthorized() {
        assert_eq!(
            Error::from_response(401, b"Invalid access token", None),
            Error::Unauthorized
        );
    }
}

//! The API v3 subset the bot uses, served under `/api/v3` and `/api/v3/teams/{team}`.
//!
//! Each request goes: route match (unknown path → 404 text, known path with another method →
//! 405) → bearer token (401 `text/plain` `Invalid access token`) → throttle (429) → team: the
//! token's `access_team` grant for it (403), then the team itself (404) → for POST/PUT/DELETE,
//! a read-write application and `write_access` (403) → parameters and body (400) → the action.
//! The 403s of a missing grant or a read-only application are the site's bare "Forbidden
//! Action" (no detail), as for a missing `write_access`; refusals of a privilege (own post,
//! not the owner) carry a detail.
//! Invariants:
//! - responses use the document's models exactly (built by [`super::render::View`]); list
//!   endpoints return the paging envelope, comments a bare array;
//! - query parameter names match case-insensitively (ASP.NET binding); `pageSize` is one of
//!   15/30/50/100 and `page` ≥ 1, pages are 1-based;
//! - writes store the received text verbatim; validation follows the site's rules and messages;
//! - the five throttle headers are on every response to an authenticated request.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::RngCore;
use serde_json::{json, Value};

use super::oauth::TokenInfo;
use super::render::View;
use super::server::{Ctx, Outcome, Reply, Shared};
use super::store::{FakeAnswer, FakeArticle, FakeQuestion, Store, VoteKind};
use super::throttle::Verdict;
use super::AppStatus;

/// A matched API route. Ids are the raw path segments (parsed later, so a bad id is a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Questions,
    Articles,
    Question(String),
    Answers(String),
    Answer(String, String),
    QuestionVote(String, VoteKind),
    AnswerVote(String, String, VoteKind),
    Accept(String, String),
    QuestionComments(String),
    AnswerComments(String, String),
    Search,
    Tags,
    Tag(String),
    TagExperts(String),
    Me,
    WatchedTags(String),
    User(String),
}

/// Matches a path relative to the API base; returns the route and its template (as written in
/// the OpenAPI document).
fn resolve(rel: &str) -> Option<(Route, &'static str)> {
    let raw: Vec<&str> = rel.strip_prefix('/')?.split('/').collect();
    let lower: Vec<String> = raw.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let s = |i: usize| raw.get(i).map(|s| s.to_string()).unwrap_or_default();
    let vote = |w: &str| match w {
        "upvote" => Some(VoteKind::Up),
        "downvote" => Some(VoteKind::Down),
        _ => None,
    };
    Some(match l.as_slice() {
        ["questions"] => (Route::Questions, "/questions"),
        ["questions", _] => (Route::Question(s(1)), "/questions/{questionId}"),
        ["questions", _, "answers"] => (Route::Answers(s(1)), "/questions/{questionId}/answers"),
        ["questions", _, "comments"] => (
            Route::QuestionComments(s(1)),
            "/questions/{questionId}/comments",
        ),
        ["questions", _, "upvote"] => (
            Route::QuestionVote(s(1), VoteKind::Up),
            "/questions/{questionId}/upvote",
        ),
        ["questions", _, "downvote"] => (
            Route::QuestionVote(s(1), VoteKind::Down),
            "/questions/{questionId}/downvote",
        ),
        ["questions", _, "answers", _] => (
            Route::Answer(s(1), s(3)),
            "/questions/{questionId}/answers/{answerId}",
        ),
        ["questions", _, "answers", _, w] => match *w {
            "accept" => (
                Route::Accept(s(1), s(3)),
                "/questions/{questionId}/answers/{answerId}/accept",
            ),
            "comments" => (
                Route::AnswerComments(s(1), s(3)),
                "/questions/{questionId}/answers/{answerId}/comments",
            ),
            "upvote" => (
                Route::AnswerVote(s(1), s(3), vote(w)?),
                "/questions/{questionId}/answers/{answerId}/upvote",
            ),
            "downvote" => (
                Route::AnswerVote(s(1), s(3), vote(w)?),
                "/questions/{questionId}/answers/{answerId}/downvote",
            ),
            _ => return None,
        },
        ["articles"] => (Route::Articles, "/articles"),
        ["search"] => (Route::Search, "/search"),
        ["tags"] => (Route::Tags, "/tags"),
        ["tags", _] => (Route::Tag(s(1)), "/tags/{tagId}"),
        ["tags", _, "subject-matter-experts"] => (
            Route::TagExperts(s(1)),
            "/tags/{tagId}/subject-matter-experts",
        ),
        ["users", "me"] => (Route::Me, "/users/me"),
        ["users", _] => (Route::User(s(1)), "/users/{userId}"),
        ["users", _, "watched-tags"] => (Route::WatchedTags(s(1)), "/users/{userId}/watched-tags"),
        _ => return None,
    })
}

/// The log's route for a path relative to the API base: the document's template, or the path
/// itself when no route matches.
pub(crate) fn route_template(rel: &str) -> String {
    match resolve(rel) {
        Some((_, template)) => template.to_string(),
        None => rel.to_string(),
    }
}

fn allowed_methods(route: &Route) -> &'static [&'static str] {
    match route {
        Route::Questions | Route::Answers(_) => &["GET", "POST"],
        Route::Question(_) => &["GET", "PUT"],
        Route::QuestionVote(..) | Route::AnswerVote(..) | Route::Accept(..) => &["POST", "DELETE"],
        _ => &["GET"],
    }
}

// ----- errors -----

fn trace_id() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{}-00", &hex[..32], &hex[32..48])
}

/// ASP.NET's model-validation ProblemDetails.
fn validation_problem(errors: BTreeMap<String, Vec<String>>) -> Reply {
    Reply::json(
        400,
        json!({
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": errors,
            "traceId": trace_id(),
        }),
    )
}

fn field_error(field: &str, message: String) -> Reply {
    let mut errors = BTreeMap::new();
    errors.insert(field.to_string(), vec![message]);
    validation_problem(errors)
}

fn not_found(kind: &str, title: &str, detail: String) -> Reply {
    Reply::problem(404, kind, title, Some(detail))
}

fn question_not_found(id: i64) -> Reply {
    not_found(
        "/v3/errors/questions/not-found",
        "Question not found",
        format!("Question ID {id} not found"),
    )
}

fn answer_not_found(id: i64) -> Reply {
    not_found(
        "/v3/errors/answers/not-found",
        "Answer not found",
        format!("Answer ID {id} not found"),
    )
}

fn path_id(name: &str, raw: &str) -> Result<i64, Reply> {
    raw.parse::<i32>()
        .map(i64::from)
        .map_err(|_| field_error(name, format!("The value '{raw}' is not valid.")))
}

// ----- query parameters -----

/// Query parameters with ASP.NET-style binding errors.
struct Params<'a> {
    pairs: &'a [(String, String)],
    errors: BTreeMap<String, Vec<String>>,
}

impl<'a> Params<'a> {
    fn new(pairs: &'a [(String, String)]) -> Self {
        Self {
            pairs,
            errors: BTreeMap::new(),
        }
    }

    fn all(&self, name: &str) -> Vec<&'a str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.all(name).into_iter().next().filter(|v| !v.is_empty())
    }

    fn error(&mut self, name: &str, message: String) {
        self.errors
            .entry(name.to_string())
            .or_default()
            .push(message);
    }

    fn int(&mut self, name: &str) -> Option<i64> {
        let raw = self.get(name)?;
        match raw.trim().parse::<i32>() {
            Ok(v) => Some(i64::from(v)),
            Err(_) => {
                self.error(name, format!("The value '{raw}' is not valid."));
                None
            }
        }
    }

    fn ints(&mut self, name: &str) -> Vec<i64> {
        let mut out = Vec::new();
        for raw in self.all(name) {
            match raw.trim().parse::<i32>() {
                Ok(v) => out.push(i64::from(v)),
                Err(_) => self.error(name, format!("The value '{raw}' is not valid.")),
            }
        }
        out
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        let raw = self.get(name)?;
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.error(name, format!("The value '{raw}' is not valid."));
                None
            }
        }
    }

    /// An enum value (case-insensitive), returned in its canonical spelling.
    fn choice(
        &mut self,
        name: &str,
        allowed: &[&'static str],
        default: &'static str,
    ) -> &'static str {
        let Some(raw) = self.get(name) else {
            return default;
        };
        match allowed.iter().find(|a| a.eq_ignore_ascii_case(raw.trim())) {
            Some(a) => a,
            None => {
                self.error(name, format!("The value '{raw}' is not valid."));
                default
            }
        }
    }

    fn date(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let raw = self.get(name)?;
        let t = raw.trim();
        let parsed = DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            })
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|n| n.and_utc())
            })
            .or_else(|| {
                NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|n| n.and_utc())
            });
        if parsed.is_none() {
            self.error(name, format!("The value '{raw}' is not valid."));
        }
        parsed
    }

    fn paging(&mut self) -> Paging {
        let page = match self.int("page") {
            Some(p) if p < 1 => {
                self.error(
                    "page",
                    "The field page must be between 1 and 2147483647.".into(),
                );
                1
            }
            Some(p) => p,
            None => 1,
        };
        let page_size = match self.int("pageSize") {
            Some(s) if [15, 30, 50, 100].contains(&s) => s,
            Some(_) => {
                self.error(
                    "pageSize",
                    "The field pageSize must be one of 15, 30, 50 or 100.".into(),
                );
                15
            }
            None => 15,
        };
        Paging { page, page_size }
    }

    fn finish(self) -> Result<(), Reply> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(validation_problem(self.errors))
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Paging {
    page: i64,
    page_size: i64,
}

impl Paging {
    fn envelope<T>(
        &self,
        items: Vec<T>,
        render: impl Fn(&T) -> Value,
        sort: &str,
        order: Option<&str>,
    ) -> Value {
        let total = items.len() as i64;
        let skip = ((self.page - 1).saturating_mul(self.page_size)).max(0) as usize;
        let page_items: Vec<Value> = items
            .iter()
            .skip(skip)
            .take(self.page_size as usize)
            .map(render)
            .collect();
        let mut v = json!({
            "totalCount": total,
            "pageSize": self.page_size,
            "page": self.page,
            "totalPages": (total + self.page_size - 1) / self.page_size,
            "sort": sort,
        });
        if let (Some(order), Value::Object(map)) = (order, &mut v) {
            map.insert("order".into(), json!(order));
        }
        if let Value::Object(map) = &mut v {
            map.insert("items".into(), Value::Array(page_items));
        }
        v
    }
}

fn ordered<T, K: Ord>(items: &mut [T], order: &str, key: impl Fn(&T) -> K) {
    items.sort_by(|a, b| {
        let o = key(a).cmp(&key(b));
        if order == "asc" {
            o
        } else {
            o.reverse()
        }
    });
}

// ----- request bodies -----

fn is_json_media(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json"
        || media == "text/json"
        || (media.starts_with("application/") && media.ends_with("+json"))
}

/// The JSON object of a write, or ASP.NET's error for a missing, unparseable or non-object
/// body.
fn json_object(ctx: &Ctx) -> Result<&serde_json::Map<String, Value>, Reply> {
    if !is_json_media(ctx.content_type.as_deref()) {
        return Err(Reply::problem(
            415,
            "https://tools.ietf.org/html/rfc9110#section-15.5.16",
            "Unsupported Media Type",
            None,
        ));
    }
    if ctx.body.iter().all(u8::is_ascii_whitespace) {
        return Err(field_error(
            "",
            "A non-empty request body is required.".into(),
        ));
    }
    match &ctx.json {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(field_error(
            "$",
            "The JSON value could not be converted to the request model. Path: $".into(),
        )),
        None => {
            let detail = serde_json::from_slice::<Value>(&ctx.body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            Err(field_error(
                "$",
                format!("The request body is not valid JSON: {detail}"),
            ))
        }
    }
}

/// A required string field (`Title` → JSON `title`), with ASP.NET's messages.
fn required_string(
    map: &serde_json::Map<String, Value>,
    json_name: &str,
    display: &str,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<String> {
    let value = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(json_name))
        .map(|(_, v)| v);
    match value {
        None | Some(Value::Null) => {
            errors
                .entry(display.to_string())
                .or_default()
                .push(format!("The {display} field is required."));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors
                .entry(display.to_string())
                .or_default()
                .push(format!("The {display} field is required."));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors
                .entry(format!("$.{json_name}"))
                .or_default()
                .push(format!(
                    "The JSON value could not be converted to System.String. Path: $.{json_name}"
                ));
            None
        }
    }
}

struct QuestionInput {
    title: String,
    body: String,
    tags: Vec<String>,
}

fn question_input(ctx: &Ctx) -> Result<QuestionInput, Reply> {
    let map = json_object(ctx)?;
    let mut errors = BTreeMap::new();
    let title = required_string(map, "title", "Title", &mut errors);
    let body = required_string(map, "body", "Body", &mut errors);
    let tags = match map.iter().find(|(k, _)| k.eq_ignore_ascii_case("tags")) {
        None | Some((_, Value::Null)) => {
            errors
                .entry("Tags".to_string())
                .or_default()
                .push("The Tags field is required.".into());
            None
        }
        Some((_, Value::Array(items))) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            if strings.is_none() {
                errors.entry("$.tags".to_string()).or_default().push(
                    "The JSON value could not be converted to System.String[]. Path: $.tags".into(),
                );
            }
            strings
        }
        Some(_) => {
            errors.entry("$.tags".to_string()).or_default().push(
                "The JSON value could not be converted to System.String[]. Path: $.tags".into(),
            );
            None
        }
    };
    match (title, body, tags) {
        (Some(title), Some(body), Some(tags)) if errors.is_empty() => {
            Ok(QuestionInput { title, body, tags })
        }
        _ => Err(validation_problem(errors)),
    }
}

fn valid_tag_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=35).contains(&n)
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '#' | '-' | '.')
        })
}

/// The site's rules for a question; `exclude` is the question being edited.
fn validate_question(
    store: &Store,
    team: Option<&str>,
    input: &QuestionInput,
    exclude: Option<i64>,
    title_word: &str,
) -> Result<Vec<String>, Reply> {
    let fail = |detail: String| {
        Reply::problem(
            400,
            "/v3/errors/questions/ValidationErrors",
            &format!("Question not {title_word}"),
            Some(detail),
        )
    };
    let title_len = input.title.trim().chars().count();
    if title_len < 15 {
        return Err(fail("Title must be at least 15 characters.".into()));
    }
    if title_len > 150 {
        return Err(fail("Title cannot be longer than 150 characters.".into()));
    }
    let body_len = input.body.trim().chars().count();
    if body_len < 30 {
        return Err(fail(format!(
            "Body must be at least 30 characters; you entered {body_len}."
        )));
    }
    if body_len > 30_000 {
        return Err(fail(format!(
            "Body is limited to 30000 characters; you entered {body_len}."
        )));
    }
    let mut tags: Vec<String> = Vec::new();
    for t in &input.tags {
        let t = t.trim().to_lowercase();
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.is_empty() {
        return Err(fail("Please enter at least one tag.".into()));
    }
    if tags.len() > 5 {
        return Err(fail("Please enter no more than 5 tags.".into()));
    }
    if let Some(bad) = tags.iter().find(|t| !valid_tag_name(t)) {
        return Err(fail(format!(
            "The tag \"{bad}\" is invalid: use lower-case letters, digits and + # - . only, at most 35 characters."
        )));
    }
    let wanted = input.title.trim().to_lowercase();
    let duplicate = store
        .questions_on(team)
        .iter()
        .any(|q| Some(q.id) != exclude && q.title.trim().to_lowercase() == wanted);
    if duplicate {
        return Err(fail(
            "A question with that title already exists; please be more specific.".into(),
        ));
    }
    Ok(tags)
}

fn answer_body(ctx: &Ctx) -> Result<String, Reply> {
    let map = json_object(ctx)?;
    let mut errors = BTreeMap::new();
    match required_string(map, "body", "Body", &mut errors) {
        Some(body) if errors.is_empty() => {
            let n = body.trim().chars().count();
            if n < 30 {
                return Err(Reply::problem(
                    400,
                    "/v3/errors/answers/ValidationErrors",
                    "Answer not created",
                    Some(format!(
                        "Body must be at least 30 characters; you entered {n}."
                    )),
                ));
            }
            if n > 30_000 {
                return Err(Reply::problem(
                    400,
                    "/v3/errors/answers/ValidationErrors",
                    "Answer not created",
                    Some(format!(
                        "Body is limited to 30000 characters; you entered {n}."
                    )),
                ));
            }
            Ok(body)
        }
        _ => Err(validation_problem(errors)),
    }
}

// ----- search -----

/// True when `term` occurs in `hay` as a whole word (both already lower-case).
fn contains_word(hay: &str, term: &str) -> bool {
    if term.is_empty() {
        return false;
    }
    hay.match_indices(term).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + term.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

struct SearchQuery {
    terms: Vec<String>,
    tags: Vec<String>,
}

fn parse_search(query: &str) -> SearchQuery {
    let mut terms = Vec::new();
    let mut tags = Vec::new();
    for word in query.split_whitespace() {
        let lower = word.to_lowercase();
        if let Some(tag) = lower.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            if !tag.is_empty() {
                tags.push(tag.to_string());
            }
        } else {
            let t = lower.trim_matches(|c: char| c == '"' || c == '\'' || c == ',' || c == '?');
            if !t.is_empty() {
                terms.push(t.to_string());
            }
        }
    }
    SearchQuery { terms, tags }
}

enum Hit<'a> {
    Question(&'a FakeQuestion, i64),
    Answer(&'a FakeQuestion, &'a FakeAnswer, i64),
}

impl Hit<'_> {
    fn relevance(&self) -> i64 {
        match self {
            Hit::Question(_, r) | Hit::Answer(_, _, r) => *r,
        }
    }
    fn id(&self) -> i64 {
        match self {
            Hit::Question(q, _) => q.id,
            Hit::Answer(_, a, _) => a.id,
        }
    }
    fn score(&self) -> i64 {
        match self {
            Hit::Question(q, _) => q.score,
            Hit::Answer(_, a, _) => a.score,
        }
    }
    fn created(&self) -> DateTime<Utc> {
        match self {
            Hit::Question(q, _) => q.creation_date,
            Hit::Answer(_, a, _) => a.creation_date,
        }
    }
    fn active(&self) -> DateTime<Utc> {
        match self {
            Hit::Question(q, _) => q.last_activity_date,
            Hit::Answer(_, a, _) => a.last_activity_date,
        }
    }
}

fn search<'a>(store: &'a Store, team: Option<&str>, query: &SearchQuery) -> Vec<Hit<'a>> {
    let mut hits = Vec::new();
    if query.terms.is_empty() && query.tags.is_empty() {
        return hits;
    }
    for q in store.questions_on(team) {
        if !query
            .tags
            .iter()
            .all(|t| q.tags.iter().any(|qt| qt.eq_ignore_ascii_case(t)))
        {
            continue;
        }
        let title = q.title.to_lowercase();
        let body = q.body_markdown.to_lowercase();
        let tags = q.tags.join(" ").to_lowercase();
        let mut relevance = 0;
        let mut all = true;
        for term in &query.terms {
            let r = 3 * i64::from(contains_word(&title, term))
                + 2 * i64::from(contains_word(&tags, term))
                + i64::from(contains_word(&body, term));
            all &= r > 0;
            relevance += r;
        }
        if all {
            hits.push(Hit::Question(q, relevance.max(1)));
        }
        for a in store.answers_of(q.id) {
            let body = a.body_markdown.to_lowercase();
            if query.terms.is_empty() {
                continue;
            }
            if query.terms.iter().all(|t| contains_word(&body, t)) {
                hits.push(Hit::Answer(q, a, query.terms.len() as i64));
            }
        }
    }
    hits
}

// ----- dispatch -----

/// Serves one API request.
pub(crate) fn serve(shared: &Shared, ctx: &Ctx, team: Option<&str>, rel: &str) -> Outcome {
    let Some((route, _)) = resolve(rel) else {
        return Reply::text(404, "Not Found").into();
    };
    let allowed = allowed_methods(&route);
    if !allowed.contains(&ctx.method.as_str()) {
        return Reply::text(405, "Method Not Allowed")
            .with_header("allow", allowed.join(", "))
            .into();
    }
    let now = shared.clock.now();
    let Some(token) = ctx.token.as_deref() else {
        return Reply::unauthorized().into();
    };
    let grant = shared.auth.lock().check(token, now).cloned();
    let Some(grant) = grant else {
        return Reply::unauthorized().into();
    };
    let user_id = grant.user_id;
    let verdict = shared.throttles.lock().check(token);
    let throttle = match verdict {
        Verdict::Allowed(state) => state,
        Verdict::Limited(state, retry_after) => {
            return Outcome {
                reply: Reply::problem(
                    429,
                    "/v3/errors/throttle-violation",
                    "Too Many Requests",
                    Some(format!(
                        "Too many requests; try again in {retry_after} seconds."
                    )),
                )
                .with_throttle(&state)
                .with_header("retry-after", retry_after.to_string()),
                user_id: Some(user_id),
            };
        }
    };
    let reply = dispatch(shared, ctx, team, &route, user_id, &grant, now);
    Outcome {
        reply: reply.with_throttle(&throttle),
        user_id: Some(user_id),
    }
}

fn dispatch(
    shared: &Shared,
    ctx: &Ctx,
    team: Option<&str>,
    route: &Route,
    user: i64,
    grant: &TokenInfo,
    now: DateTime<Utc>,
) -> Reply {
    let mut store = shared.store.lock();
    let team: Option<String> = match team {
        None => None,
        Some(slug) if !shared.grants_team(&grant.scopes, slug) => return Reply::forbidden(None),
        Some(slug) => match store.team(slug) {
            Some(t) => Some(t.to_string()),
            None => {
                return not_found(
                    "/v3/errors/teams/not-found",
                    "Team not found",
                    format!("Team '{slug}' not found"),
                )
            }
        },
    };
    let team = team.as_deref();
    let read_only_app = *shared.application.lock() == AppStatus::ReadOnly;
    if ctx.method != "GET" && (read_only_app || !grant.can_write()) {
        return Reply::forbidden(None);
    }
    let result = match (ctx.method.as_str(), route) {
        ("POST", Route::Questions) => create_question(&mut store, ctx, team, user, now),
        ("PUT", Route::Question(q)) => update_question(&mut store, ctx, team, user, q, now),
        ("POST", Route::Answers(q)) => create_answer(&mut store, ctx, team, user, q, now),
        ("POST" | "DELETE", Route::QuestionVote(q, kind)) => {
            vote_question(&mut store, team, user, q, *kind, ctx.method == "DELETE")
        }
        ("POST" | "DELETE", Route::AnswerVote(q, a, kind)) => {
            vote_answer(&mut store, team, user, q, a, *kind, ctx.method == "DELETE")
        }
        ("POST" | "DELETE", Route::Accept(q, a)) => {
            accept(&mut store, team, user, q, a, ctx.method == "POST", now)
        }
        _ => Ok(None),
    };
    match result {
        Err(reply) => return reply,
        Ok(Some(written)) => return render_written(shared, &store, user, written),
        Ok(None) => {}
    }
    let view = View {
        store: &store,
        site: &shared.site_url,
        encode: shared.encode(),
        viewer: Some(user),
    };
    read(&view, ctx, team, route, user).unwrap_or_else(|reply| reply)
}

/// What a write produced, rendered after the store is updated.
enum Written {
    QuestionCreated(i64),
    Question(i64),
    AnswerCreated(i64, i64),
    AnswerSummary(i64, i64),
}

fn render_written(shared: &Shared, store: &Store, user: i64, written: Written) -> Reply {
    let view = View {
        store,
        site: &shared.site_url,
        encode: shared.encode(),
        viewer: Some(user),
    };
    let question = |id| store.question_any(id);
    match written {
        Written::QuestionCreated(id) => match question(id) {
            Some(q) => Reply::json(201, view.question_response(q)),
            None => question_not_found(id),
        },
        Written::Question(id) => match question(id) {
            Some(q) => Reply::json(200, view.question_response(q)),
            None => question_not_found(id),
        },
        Written::AnswerCreated(q, a) => match store.answer(q, a) {
            Some(a) => Reply::json(201, view.answer_response(a)),
            None => answer_not_found(a),
        },
        Written::AnswerSummary(q, a) => match store.answer(q, a) {
            Some(a) => Reply::json(200, view.answer_summary(a)),
            None => answer_not_found(a),
        },
    }
}

type WriteResult = Result<Option<Written>, Reply>;

fn find_question(store: &Store, team: Option<&str>, raw: &str) -> Result<i64, Reply> {
    let id = path_id("questionId", raw)?;
    match store.question(team, id) {
        Some(q) if !q.is_deleted => Ok(id),
        _ => Err(question_not_found(id)),
    }
}

fn find_answer(store: &Store, team: Option<&str>, q: &str, a: &str) -> Result<(i64, i64), Reply> {
    let qid = find_question(store, team, q)?;
    let aid = path_id("answerId", a)?;
    match store.answer(qid, aid) {
        Some(ans) if !ans.is_deleted => Ok((qid, aid)),
        _ => Err(answer_not_found(aid)),
    }
}

fn create_question(
    store: &mut Store,
    ctx: &Ctx,
    team: Option<&str>,
    user: i64,
    now: DateTime<Utc>,
) -> WriteResult {
    let input = question_input(ctx)?;
    let tags = validate_question(store, team, &input, None, "created")?;
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    let id = store.insert_question(team, user, &input.title, &input.body, &tags, now, 0, 0);
    Ok(Some(Written::QuestionCreated(id)))
}

fn update_question(
    store: &mut Store,
    ctx: &Ctx,
    team: Option<&str>,
    user: i64,
    raw: &str,
    now: DateTime<Utc>,
) -> WriteResult {
    let id = find_question(store, team, raw)?;
    let owner = store.question(team, id).map(|q| q.owner_id);
    let moderator = store.user(user).is_some_and(|u| u.is_moderator());
    if owner != Some(user) && !moderator {
        return Err(Reply::forbidden(Some(
            "You can only edit your own posts.".into(),
        )));
    }
    let input = question_input(ctx)?;
    let tags = validate_question(store, team, &input, Some(id), "updated")?;
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    store.update_question(id, user, &input.title, &input.body, &tags, now);
    Ok(Some(Written::Question(id)))
}

fn create_answer(
    store: &mut Store,
    ctx: &Ctx,
    team: Option<&str>,
    user: i64,
    raw: &str,
    now: DateTime<Utc>,
) -> WriteResult {
    let qid = find_question(store, team, raw)?;
    let body = answer_body(ctx)?;
    let aid = store.insert_answer(qid, user, &body, now, 0);
    Ok(Some(Written::AnswerCreated(qid, aid)))
}

fn vote_question(
    store: &mut Store,
    team: Option<&str>,
    user: i64,
    raw: &str,
    kind: VoteKind,
    undo: bool,
) -> WriteResult {
    let id = path_id("questionId", raw)?;
    if store.question(team, id).is_none_or(|q| q.is_deleted) {
        return Err(not_found(
            "/v3/errors/vote/QuestionNotFound",
            "Question not found",
            format!("Question ID {id} not found"),
        ));
    }
    store
        .vote(id, user, kind, undo)
        .map_err(|r| Reply::forbidden(Some(r.0)))?;
    Ok(Some(Written::Question(id)))
}

fn vote_answer(
    store: &mut Store,
    team: Option<&str>,
    user: i64,
    q: &str,
    a: &str,
    kind: VoteKind,
    undo: bool,
) -> WriteResult {
    let qid = path_id("questionId", q)?;
    let aid = path_id("answerId", a)?;
    let exists = store.question(team, qid).is_some_and(|q| !q.is_deleted)
        && store.answer(qid, aid).is_some_and(|a| !a.is_deleted);
    if !exists {
        return Err(not_found(
            "/v3/errors/vote/AnswerNotFound",
            "Answer not found",
            format!("Answer ID {aid} not found"),
        ));
    }
    store
        .vote(aid, user, kind, undo)
        .map_err(|r| Reply::forbidden(Some(r.0)))?;
    Ok(Some(Written::AnswerSummary(qid, aid)))
}

fn accept(
    store: &mut Store,
    team: Option<&str>,
    user: i64,
    q: &str,
    a: &str,
    on: bool,
    now: DateTime<Utc>,
) -> WriteResult {
    let (qid, aid) = find_answer(store, team, q, a)?;
    store
        .set_accepted(qid, aid, user, on, now)
        .map_err(|r| Reply::forbidden(Some(r.0)))?;
    Ok(Some(Written::AnswerSummary(qid, aid)))
}

fn read(
    view: &View<'_>,
    ctx: &Ctx,
    team: Option<&str>,
    route: &Route,
    user: i64,
) -> Result<Reply, Reply> {
    let store = view.store;
    let mut params = Params::new(&ctx.query);
    Ok(match route {
        Route::Questions => {
            let paging = params.paging();
            let sort = params.choice("sort", &["activity", "creation", "score"], "activity");
            let order = params.choice("order", &["asc", "desc"], "desc");
            let is_answered = params.boolean("isAnswered");
            let has_accepted = params.boolean("hasAcceptedAnswer");
            let ids = params.ints("questionId");
            let tag_ids = params.ints("tagId");
            let author = params.int("authorId");
            let from = params.date("from");
            let to = params.date("to");
            params.finish()?;
            let tag_names: Vec<&str> = tag_ids
                .iter()
                .filter_map(|id| store.tag_by_id(team, *id))
                .map(|t| t.name.as_str())
                .collect();
            let mut items: Vec<&FakeQuestion> = store
                .questions_on(team)
                .into_iter()
                .filter(|q| is_answered.is_none_or(|b| store.is_answered(q.id) == b))
                .filter(|q| has_accepted.is_none_or(|b| q.accepted_answer_id.is_some() == b))
                .filter(|q| ids.is_empty() || ids.contains(&q.id))
                .filter(|q| {
                    tag_ids.is_empty() || q.tags.iter().any(|t| tag_names.contains(&t.as_str()))
                })
                .filter(|q| author.is_none_or(|a| q.owner_id == a))
                .filter(|q| from.is_none_or(|f| q.creation_date >= f))
                .filter(|q| to.is_none_or(|t| q.creation_date <= t))
                .collect();
            match sort {
                "creation" => ordered(&mut items, order, |q| (q.creation_date, q.id)),
                "score" => ordered(&mut items, order, |q| (q.score, q.id)),
                _ => ordered(&mut items, order, |q| (q.last_activity_date, q.id)),
            }
            Reply::json(
                200,
                paging.envelope(items, |q| view.question_summary(q), sort, Some(order)),
            )
        }
        Route::Articles => {
            let paging = params.paging();
            let sort = params.choice("sort", &["activity", "creation", "score"], "activity");
            let order = params.choice("order", &["asc", "desc"], "desc");
            let tag_ids = params.ints("tagId");
            let author = params.int("authorId");
            let from = params.date("from");
            let to = params.date("to");
            params.finish()?;
            let tag_names: Vec<&str> = tag_ids
                .iter()
                .filter_map(|id| store.tag_by_id(team, *id))
                .map(|t| t.name.as_str())
                .collect();
            let mut items: Vec<&FakeArticle> = store
                .articles_on(team)
                .into_iter()
                .filter(|a| {
                    tag_ids.is_empty() || a.tags.iter().any(|t| tag_names.contains(&t.as_str()))
                })
                .filter(|a| author.is_none_or(|x| a.owner_id == x))
                .filter(|a| from.is_none_or(|f| a.creation_date >= f))
                .filter(|a| to.is_none_or(|t| a.creation_date <= t))
                .collect();
            match sort {
                "creation" => ordered(&mut items, order, |a| (a.creation_date, a.id)),
                "score" => ordered(&mut items, order, |a| (a.score, a.id)),
                _ => ordered(&mut items, order, |a| (a.last_activity_date, a.id)),
            }
            Reply::json(
                200,
                paging.envelope(items, |a| view.article_summary(a), sort, Some(order)),
            )
        }
        Route::Question(raw) => {
            let id = find_question(store, team, raw)?;
            match store.question(team, id) {
                Some(q) => Reply::json(200, view.question_response(q)),
                None => question_not_found(id),
            }
        }
        Route::Answers(raw) => {
            let id = path_id("questionId", raw)?;
            let paging = params.paging();
            let sort = params.choice("sort", &["score", "modified", "creation"], "score");
            let order = params.choice("order", &["asc", "desc"], "desc");
            params.finish()?;
            let id = find_question(store, team, &id.to_string())?;
            let mut items = store.answers_of(id);
            match sort {
                "creation" => ordered(&mut items, order, |a| (a.creation_date, a.id)),
                "modified" => ordered(&mut items, order, |a| (a.last_activity_date, a.id)),
                _ => ordered(&mut items, order, |a| (a.score, a.id)),
            }
            Reply::json(
                200,
                paging.envelope(items, |a| view.answer_summary(a), sort, Some(order)),
            )
        }
        Route::Answer(q, a) => {
            let (qid, aid) = find_answer(store, team, q, a)?;
            match store.answer(qid, aid) {
                Some(a) => Reply::json(200, view.answer_response(a)),
                None => answer_not_found(aid),
            }
        }
        Route::QuestionComments(raw) => {
            let id = find_question(store, team, raw)?;
            let comments: Vec<Value> = store
                .comments_on(id)
                .into_iter()
                .map(|c| view.comment(c))
                .collect();
            Reply::json(200, Value::Array(comments))
        }
        Route::AnswerComments(q, a) => {
            let (_, aid) = find_answer(store, team, q, a)?;
            let comments: Vec<Value> = store
                .comments_on(aid)
                .into_iter()
                .map(|c| view.comment(c))
                .collect();
            Reply::json(200, Value::Array(comments))
        }
        Route::Search => {
            let paging = params.paging();
            let sort = params.choice(
                "sort",
                &["relevance", "newest", "active", "score"],
                "relevance",
            );
            let query = params.get("query").unwrap_or_default().to_string();
            params.finish()?;
            let mut hits = search(store, team, &parse_search(&query));
            match sort {
                "newest" => ordered(&mut hits, "desc", |h| (h.created(), h.id())),
                "active" => ordered(&mut hits, "desc", |h| (h.active(), h.id())),
                "score" => ordered(&mut hits, "desc", |h| (h.score(), h.id())),
                _ => ordered(&mut hits, "desc", |h| (h.relevance(), h.score(), h.id())),
            }
            let render = |h: &Hit<'_>| match h {
                Hit::Question(q, _) => view.search_question(q),
                Hit::Answer(q, a, _) => view.search_answer(q, a),
            };
            Reply::json(200, paging.envelope(hits, render, sort, None))
        }
        Route::Tags => {
            let paging = params.paging();
            let sort = params.choice("sort", &["name", "postCount", "creationDate"], "postCount");
            let order = params.choice("order", &["asc", "desc"], "desc");
            let partial = params.get("partialName").map(str::to_lowercase);
            let has_smes = params.boolean("hasSmes");
            let has_synonyms = params.boolean("hasSynonyms");
            params.finish()?;
            let mut tags: Vec<_> = store
                .tags_on(team)
                .into_iter()
                .filter(|t| partial.as_deref().is_none_or(|p| t.name.contains(p)))
                .filter(|t| {
                    has_smes.is_none_or(|want| {
                        (store.smes_enabled() && store.expert_count(t.id) > 0) == want
                    })
                })
                // No tag has synonyms on this site.
                .filter(|_| has_synonyms != Some(true))
                .collect();
            match sort {
                "name" => ordered(&mut tags, order, |t| t.name.clone()),
                "creationDate" => ordered(&mut tags, order, |t| (t.creation_date, t.id)),
                _ => ordered(&mut tags, order, |t| {
                    (store.tag_post_count(team, &t.name), t.id)
                }),
            }
            Reply::json(
                200,
                paging.envelope(tags, |t| view.tag_summary(t), sort, Some(order)),
            )
        }
        Route::Tag(raw) => {
            let id = path_id("tagId", raw)?;
            match store.tag_by_id(team, id) {
                Some(t) => Reply::json(200, view.tag_response(t)),
                None => not_found(
                    "/v3/errors/tags/not-found",
                    "Tag not found",
                    format!("Tag ID {id} not found"),
                ),
            }
        }
        Route::TagExperts(raw) => {
            let id = path_id("tagId", raw)?;
            params.finish()?;
            if !store.smes_enabled() {
                return Ok(Reply::problem(
                    422,
                    "/v3/errors/tags/subject-matter-experts-disabled",
                    "Subject matter experts feature not enabled",
                    Some("Subject matter experts are not enabled on this site".into()),
                ));
            }
            if store.tag_by_id(team, id).is_none() {
                return Ok(not_found(
                    "/v3/errors/tags/not-found",
                    "Tag not found",
                    format!("Tag ID {id} not found"),
                ));
            }
            Reply::json(200, view.tag_experts(id))
        }
        Route::WatchedTags(raw) => {
            let id = path_id("userId", raw)?;
            params.finish()?;
            if store.user(id).is_none() {
                return Ok(user_not_found(id));
            }
            // The official document's 200 body is one `TagSummaryResponseModel` (every field
            // optional), not a list: the fake serves that shape, the first tag the user
            // watches, or an empty model when they watch none. The client also accepts a list.
            let first = store
                .watched_by(team, id)
                .iter()
                .find_map(|name| store.tag_by_name(team, name))
                .map(|t| view.tag_summary(t))
                .unwrap_or_else(|| Value::Object(Default::default()));
            Reply::json(200, first)
        }
        Route::Me => match store.user(user) {
            Some(u) => Reply::json(200, view.user_details(u)),
            None => user_not_found(user),
        },
        Route::User(raw) => {
            let id = path_id("userId", raw)?;
            match store.user(id) {
                Some(u) => Reply::json(200, view.user_details(u)),
                None => user_not_found(id),
            }
        }
        // Writes were handled before; a write route here means a method mismatch.
        _ => Reply::text(405, "Method Not Allowed"),
    })
}

fn user_not_found(id: i64) -> Reply {
    not_found(
        "/v3/errors/user/not-found",
        "User not found",
        format!("User ID {id} not found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_to_document_templates() {
        let cases = [
            ("/questions", "/questions"),
            ("/questions/3", "/questions/{questionId}"),
            (
                "/Questions/3/Answers/12/accept",
                "/questions/{questionId}/answers/{answerId}/accept",
            ),
            (
                "/questions/3/answers/12/comments",
                "/questions/{questionId}/answers/{answerId}/comments",
            ),
            ("/questions/3/downvote", "/questions/{questionId}/downvote"),
            ("/users/me", "/users/me"),
            ("/users/7", "/users/{userId}"),
            ("/search", "/search"),
            ("/tags/2", "/tags/{tagId}"),
        ];
        for (path, template) in cases {
            assert_eq!(route_template(path), template, "{path}");
        }
        assert_eq!(route_template("/nope"), "/nope");
        assert!(resolve("/questions/3/answers/12/flags").is_none());
    }

    #[test]
    fn word_matching_respects_boundaries() {
        assert!(contains_word("use async/await here", "async"));
        assert!(contains_word("tags: c# .net", "c#"));
        assert!(!contains_word("asynchronous code", "async"));
        assert!(!contains_word("", "async"));
    }

    #[test]
    fn search_syntax_splits_tags_and_terms() {
        let q = parse_search("[Rust] Tokio \"join\"");
        assert_eq!(q.tags, vec!["rust"]);
        assert_eq!(q.terms, vec!["tokio", "join"]);
    }

    #[test]
    fn params_bind_case_insensitively_and_report_errors() {
        let pairs = vec![
            ("pagesize".to_string(), "30".to_string()),
            ("page".to_string(), "0".to_string()),
            ("isAnswered".to_string(), "maybe".to_string()),
        ];
        let mut p = Params::new(&pairs);
        let paging = p.paging();
        assert_eq!(paging.page_size, 30);
        assert!(p.boolean("isAnswered").is_none());
        let errors = p.errors.clone();
        assert!(errors.contains_key("page"));
        assert!(errors.contains_key("isAnswered"));
        assert!(p.finish().is_err());
    }

    #[test]
    fn envelope_pages_from_one() {
        let paging = Paging {
            page: 2,
            page_size: 15,
        };
        let v = paging.envelope(
            (1..=20).collect::<Vec<i64>>(),
            |i| json!(i),
            "score",
            Some("desc"),
        );
        assert_eq!(v["totalCount"], 20);
        assert_eq!(v["totalPages"], 2);
        assert_eq!(v["items"].as_array().map(Vec::len), Some(5));
        assert_eq!(v["items"][0], 16);
        assert_eq!(v["order"], "desc");
    }
}

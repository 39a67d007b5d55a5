//! The SOE contract (`tests/contract/soe-api-v3.contract.json`) and its checker
//! (`tests/support/contract.rs`), exercised with hand-made `LoggedRequest`s. Bodies are the
//! official document's examples where it has them.

#[path = "support/contract.rs"]
mod contract;

use contract::{Contract, Exchange};
use serde_json::{json, Value};
use soe_bot::fake_soe::log::LoggedRequest;

const JSON: &str = "application/json; charset=utf-8";

/// A logged exchange with no query, no request body and no token.
fn logged(
    method: &str,
    route: &str,
    path: &str,
    status: u16,
    response: Option<Value>,
) -> LoggedRequest {
    let content_type = match (&response, status) {
        (Some(_), _) => Some(JSON.to_string()),
        (None, 401) => Some("text/plain".to_string()),
        (None, _) => None,
    };
    LoggedRequest {
        method: method.to_string(),
        path: path.to_string(),
        route: route.to_string(),
        team: None,
        query: Vec::new(),
        token: Some("test-token".to_string()),
        user_id: Some(7),
        user_agent: Some("soe-bot tests".to_string()),
        body: None,
        status,
        response_content_type: content_type,
        response,
        malformed: false,
    }
}

fn with_query(mut r: LoggedRequest, pairs: &[(&str, &str)]) -> LoggedRequest {
    r.query = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    r
}

fn with_body(mut r: LoggedRequest, body: Value) -> LoggedRequest {
    r.body = Some(body);
    r
}

fn errors(result: Result<(), Vec<String>>) -> Vec<String> {
    match result {
        Ok(()) => panic!("expected contract errors, the exchange passed"),
        Err(e) => e,
    }
}

/// Asserts exactly one error and that it mentions every needle.
fn one_error(result: Result<(), Vec<String>>, needles: &[&str]) -> String {
    let e = errors(result);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    for n in needles {
        assert!(e[0].contains(n), "{:?} does not mention {n:?}", e[0]);
    }
    e.into_iter().next().unwrap_or_default()
}

fn user_summary() -> Value {
    // UserSummaryResponseModel, the document's example values.
    json!({
        "id": 123,
        "accountId": 146,
        "name": "Stack User",
        "avatarUrl": "https://stackoverflow.design/assets/img/logos/se/se-icon.png",
        "webUrl": "https://stackoverflow.com/users/31280",
        "reputation": 101,
        "role": "Registered"
    })
}

fn tag_summary() -> Value {
    // TagSummaryResponseModel, the document's example values; its creationDate example
    // "1955-11-12T22:04:00.0" has no offset, so it is not an RFC 3339 date-time (see
    // `the_documents_own_date_examples_are_not_date_times`).
    json!({
        "id": 123,
        "name": "refactoring",
        "description": "Content related to refactoring code",
        "postCount": 129,
        "subjectMatterExpertCount": 10,
        "watcherCount": 141,
        "creationDate": "1955-11-12T22:04:00.0Z",
        "hasSynonyms": false,
        "webUrl": "https://stackoverflow.com/questions/tagged/refactoring"
    })
}

/// QuestionResponseModel: the document's example values (two dates made RFC 3339).
fn question() -> Value {
    json!({
        "communities": [{
            "name": "CI/CD",
            "description": "All things pertaining to CI (continuous integration) and CD (continuous delivery)",
            "id": 4,
            "memberCount": 12,
            "tags": [tag_summary()]
        }],
        "id": 123,
        "title": "How do I undo the most recent local commits in Git?",
        "body": "<p>I accidentally committed the wrong files to Git, but didn't push the commit to the server yet.</p>",
        "tags": [tag_summary()],
        "owner": user_summary(),
        "lastEditor": user_summary(),
        "creationDate": "2018-04-08T10:30:21.254Z",
        "lastActivityDate": "2022-12-21T17:16:48.462Z",
        "score": 23,
        "isAnswered": true,
        "answerCount": 2,
        "viewCount": 85964,
        "webUrl": "https://stackoverflow.com/q/927358",
        "shareUrl": "https://stackoverflow.com/q/927358",
        "isDeleted": false,
        "isObsolete": false,
        "isClosed": false,
        "bounty": {"amount": 50, "closes": "2022-10-12T07:16:48.462Z"},
        "bodyMarkdown": "I accidentally committed the wrong files to Git, but didn't push the commit to the server yet.",
        "mentionedUsers": [{"id": 146, "name": "Expert User"}],
        "mentionedUserGroups": [{"id": 23, "name": "Knowledgeable Users", "memberCount": 64}],
        "userIsFollowing": false,
        "userHasUpvoted": false,
        "userHasDownvoted": false,
        "userHasBookmarked": false
    })
}

/// QuestionSummaryResponseModel: QuestionResponseModel without the single-item fields.
fn question_summary() -> Value {
    let mut q = question();
    let m = q.as_object_mut().expect("object");
    for k in [
        "communities",
        "bodyMarkdown",
        "mentionedUsers",
        "mentionedUserGroups",
        "userIsFollowing",
        "userHasUpvoted",
        "userHasDownvoted",
        "userHasBookmarked",
    ] {
        m.remove(k);
    }
    q
}

/// AnswerResponseModel: the document's example values.
fn answer() -> Value {
    json!({
        "id": 123,
        "questionId": 1234,
        "body": "<p>This is a common answer to a common question</p>",
        "score": 23,
        "isAccepted": true,
        "isDeleted": false,
        "isBookmarked": true,
        "isFollowed": false,
        "creationDate": "2022-07-25T08:00:51.170641Z",
        "lockedDate": null,
        "lastEditDate": "2022-07-28T12:36:31.827519Z",
        "lastActivityDate": "2022-07-28T12:36:31.827519Z",
        "deletionDate": null,
        "owner": user_summary(),
        "lastEditor": user_summary(),
        "lastActivityUser": user_summary(),
        "commentCount": 12,
        "webUrl": "https://stackoverflowteams.com/a/16/17",
        "shareLink": "https://stackoverflowteams.com/a/16/17",
        "userCanFollow": true,
        "canBeFollowed": true,
        "isSubjectMatterExpert": false,
        "bodyMarkdown": "This is a common answer to a common question"
    })
}

fn answer_summary() -> Value {
    let mut a = answer();
    a.as_object_mut().expect("object").remove("bodyMarkdown");
    a
}

/// CommentResponseModel: the document's example values.
fn comment() -> Value {
    json!({
        "id": 123,
        "score": 7,
        "body": "This is a comment on a post.",
        "ownerUserId": 789,
        "ownerDisplayName": "Roberta Redding",
        "creationDate": "2022-07-25T08:00:51.170641Z"
    })
}

fn page(items: Vec<Value>, extra: Value) -> Value {
    let mut p = json!({"totalCount": items.len(), "pageSize": 15, "page": 1, "totalPages": 1, "items": items});
    if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(extra.clone());
    }
    p
}

fn search_items() -> Vec<Value> {
    let common = |title: &str| {
        json!({
            "title": title,
            "snippet": "I accidentally committed the wrong files to Git…",
            "tags": [tag_summary()],
            "owner": user_summary(),
            "creationDate": "2018-04-08T10:30:21.254Z",
            "score": 23,
            "webUrl": "https://stackoverflow.com/q/927358"
        })
    };
    let merge = |mut base: Value, extra: Value| {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    vec![
        merge(
            common("How do I undo the most recent local commits in Git?"),
            json!({"type": "question", "questionId": 927358, "answerCount": 2, "hasAcceptedAnswer": true, "viewCount": 85964}),
        ),
        merge(
            common("How do I undo the most recent local commits in Git?"),
            json!({"type": "answer", "answerId": 927386, "parentQuestionId": 927358, "isAccepted": true}),
        ),
        merge(
            common("Our Git workflow"),
            json!({"type": "article", "articleId": 12, "viewCount": 310, "articleType": "howToGuide", "readTimeInMinutes": 4}),
        ),
    ]
}

fn problem(status: u16, title: &str) -> Value {
    json!({"type": "/v3/errors/forbidden", "title": title, "status": status})
}

// ---------------------------------------------------------------------------------------------
// Loading

#[test]
fn the_contract_declares_exactly_the_operations_the_client_uses() {
    let c = Contract::soe();
    let mut keys: Vec<&str> = c.operation_keys().collect();
    keys.sort_unstable();
    let mut expected = vec![
        "GET /questions",
        "POST /questions",
        "GET /questions/{questionId}",
        "PUT /questions/{questionId}",
        "GET /questions/{questionId}/answers",
        "POST /questions/{questionId}/answers",
        "GET /questions/{questionId}/answers/{answerId}",
        "POST /questions/{questionId}/upvote",
        "DELETE /questions/{questionId}/upvote",
        "POST /questions/{questionId}/downvote",
        "DELETE /questions/{questionId}/downvote",
        "POST /questions/{questionId}/answers/{answerId}/upvote",
        "DELETE /questions/{questionId}/answers/{answerId}/upvote",
        "POST /questions/{questionId}/answers/{answerId}/downvote",
        "DELETE /questions/{questionId}/answers/{answerId}/downvote",
        "POST /questions/{questionId}/answers/{answerId}/accept",
        "DELETE /questions/{questionId}/answers/{answerId}/accept",
        "GET /search",
        "GET /tags",
        "GET /tags/{tagId}",
        "GET /tags/{tagId}/subject-matter-experts",
        "GET /users/me",
        "GET /users/{userId}",
        "GET /users/{userId}/watched-tags",
        "GET /questions/{questionId}/comments",
        "GET /questions/{questionId}/answers/{answerId}/comments",
        "GET /articles",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
}

#[test]
fn the_contract_file_is_valid_and_every_schema_compiles() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(contract::SOE_CONTRACT);
    let c = Contract::try_load(&path).expect("the SOE contract loads and compiles");
    assert!(c.has_operation("GET", "/questions/{questionId}"));
    assert!(!c.has_operation("GET", "/questions/{questionId}/linked"));
    // Each named schema is usable on its own.
    assert!(c.validate("QuestionResponseModel", &question()).is_ok());
    assert!(c.validate("CommentResponseModel", &comment()).is_ok());
    assert!(c.validate("SortOrder", &json!("desc")).is_ok());
    assert!(c.validate("SortOrder", &json!("descending")).is_err());
}

#[test]
fn a_broken_contract_is_refused_with_the_reason() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(contract::SOE_CONTRACT),
    )
    .expect("contract");
    let mut doc: Value = serde_json::from_str(&text).expect("json");
    // A ref to a model the contract does not declare cannot compile.
    doc["schemas"]["QuestionResponseModel"]["properties"]["owner"] =
        json!({"$ref": "#/schemas/Nobody"});
    let e = Contract::from_value("broken", &doc).expect_err("a dangling ref must not compile");
    assert!(e.contains("Nobody"), "{e}");
    // A route placeholder without a declared path parameter.
    let mut doc: Value = serde_json::from_str(&text).expect("json");
    doc["operations"]["GET /tags/{tagId}"]["parameters"] = json!({});
    let e = Contract::from_value("broken", &doc).expect_err("an undeclared placeholder");
    assert!(
        e.contains("GET /tags/{tagId}") && e.contains("tagId"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Responses

#[test]
fn a_valid_question_response_passes() {
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(question()),
    );
    assert_eq!(Contract::soe().check(&r), Ok(()));
}

#[test]
fn the_same_route_under_a_private_team_passes() {
    let mut r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/teams/eng/questions/123",
        200,
        Some(question()),
    );
    r.team = Some("eng".into());
    assert_eq!(Contract::soe().check(&r), Ok(()));
}

#[test]
fn the_documents_own_date_examples_are_not_date_times() {
    // Formats are validated: the document's verbatim examples "2022-10-12T7:16:48.462Z" (one-digit
    // hour) and "1955-11-12T22:04:00.0" (no offset) are rejected where they appear.
    let mut q = question();
    q["bounty"]["closes"] = json!("2022-10-12T7:16:48.462Z");
    q["tags"][0]["creationDate"] = json!("1955-11-12T22:04:00.0");
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(q),
    );
    let e = errors(Contract::soe().check(&r));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e.iter()
            .any(|e| e.contains("at \"/bounty/closes\"") && e.contains("date-time")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|e| e.contains("at \"/tags/0/creationDate\"")),
        "{e:#?}"
    );
}

#[test]
fn a_response_field_of_the_wrong_type_fails_with_operation_status_and_pointer() {
    let mut q = question();
    q["score"] = json!("23");
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(q),
    );
    one_error(
        Contract::soe().check(&r),
        &[
            "GET /questions/{questionId}",
            "response 200 body",
            "at \"/score\"",
            "integer",
        ],
    );
}

#[test]
fn a_nested_wrong_type_is_located() {
    let mut q = question();
    q["owner"]["reputation"] = json!(101.5);
    let r = logged(
        "POST",
        "/questions/{questionId}/upvote",
        "/api/v3/questions/123/upvote",
        200,
        Some(q),
    );
    one_error(
        Contract::soe().check(&r),
        &[
            "POST /questions/{questionId}/upvote",
            "response 200 body",
            "at \"/owner/reputation\"",
        ],
    );
}

#[test]
fn an_unknown_extra_response_field_fails() {
    let mut q = question();
    q["votes"] = json!(3);
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(q),
    );
    one_error(
        Contract::soe().check(&r),
        &["response 200 body", "at \"\"", "votes"],
    );
}

#[test]
fn a_field_the_single_item_has_but_the_summary_lacks_fails_in_a_list() {
    // List items are QuestionSummaryResponseModel: no bodyMarkdown.
    let r = logged(
        "GET",
        "/questions",
        "/api/v3/questions",
        200,
        Some(page(vec![question()], json!({}))),
    );
    let e = errors(Contract::soe().check(&r));
    assert!(
        e.iter()
            .all(|e| e.contains("GET /questions: response 200 body at \"/items/0\"")),
        "{e:#?}"
    );
    assert!(e.iter().any(|e| e.contains("bodyMarkdown")), "{e:#?}");
}

#[test]
fn a_value_outside_an_enum_fails() {
    let body = page(
        vec![question_summary()],
        json!({"sort": "hot", "order": "desc"}),
    );
    let r = logged("GET", "/questions", "/api/v3/questions", 200, Some(body));
    one_error(
        Contract::soe().check(&r),
        &["GET /questions", "response 200 body", "at \"/sort\"", "hot"],
    );

    let mut items = search_items();
    items[2]["articleType"] = json!("faq");
    let r = logged(
        "GET",
        "/search",
        "/api/v3/search",
        200,
        Some(page(items, json!({"sort": "relevance"}))),
    );
    one_error(
        Contract::soe().check(&r),
        &["GET /search", "at \"/items/2\"", "articleType"],
    );
}

#[test]
fn nullability_follows_the_document() {
    let c = Contract::soe();
    // nullable: true in the document.
    let mut q = question();
    q["lastActivityDate"] = Value::Null;
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(q),
    );
    assert_eq!(c.check(&r), Ok(()));
    let mut cm = comment();
    cm["ownerUserId"] = Value::Null;
    let r = logged(
        "GET",
        "/questions/{questionId}/comments",
        "/api/v3/questions/123/comments",
        200,
        Some(json!([cm])),
    );
    assert_eq!(c.check(&r), Ok(()));
    // Not nullable in the document.
    for (field, pointer) in [
        ("owner", "/owner"),
        ("title", "/title"),
        ("creationDate", "/creationDate"),
    ] {
        let mut q = question();
        q[field] = Value::Null;
        let r = logged(
            "GET",
            "/questions/{questionId}",
            "/api/v3/questions/123",
            200,
            Some(q),
        );
        one_error(c.check(&r), &[&format!("at \"{pointer}\""), "null"]);
    }
}

#[test]
fn int32_fields_are_bounded() {
    let mut q = question();
    q["id"] = json!(2_147_483_648_i64);
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(q),
    );
    one_error(Contract::soe().check(&r), &["at \"/id\"", "2147483648"]);
    let mut q = question();
    q["id"] = json!(2_147_483_647_i64);
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        200,
        Some(q),
    );
    assert_eq!(Contract::soe().check(&r), Ok(()));
}

#[test]
fn search_results_of_every_type_pass() {
    let body = page(search_items(), json!({"sort": "relevance"}));
    let r = with_query(
        logged("GET", "/search", "/api/v3/search", 200, Some(body)),
        &[
            ("query", "undo commit"),
            ("page", "1"),
            ("pageSize", "15"),
            ("sort", "relevance"),
        ],
    );
    assert_eq!(Contract::soe().check(&r), Ok(()));
}

#[test]
fn a_search_result_mixing_two_types_or_with_a_bad_field_fails() {
    let c = Contract::soe();
    // A question hit that also carries an answer's field matches no variant.
    let mut items = search_items();
    items[0]["answerId"] = json!(5);
    let r = logged(
        "GET",
        "/search",
        "/api/v3/search",
        200,
        Some(page(items, json!({}))),
    );
    let e = one_error(c.check(&r), &["GET /search", "at \"/items/0\"", "oneOf"]);
    assert!(
        e.contains("branch 0") && e.contains("answerId"),
        "the branches are explained: {e}"
    );
    // A wrong type in a base (SearchResultModel) property.
    let mut items = search_items();
    items[1]["snippet"] = json!(7);
    let r = logged(
        "GET",
        "/search",
        "/api/v3/search",
        200,
        Some(page(items, json!({}))),
    );
    one_error(c.check(&r), &["at \"/items/1\""]);
    // Search pages have no `order`.
    let r = logged(
        "GET",
        "/search",
        "/api/v3/search",
        200,
        Some(page(search_items(), json!({"order": "desc"}))),
    );
    one_error(c.check(&r), &["GET /search", "at \"\"", "order"]);
}

#[test]
fn lists_and_bare_arrays_have_their_own_shapes() {
    let c = Contract::soe();
    let answers = page(
        vec![answer_summary()],
        json!({"sort": "score", "order": "desc"}),
    );
    let r = with_query(
        logged(
            "GET",
            "/questions/{questionId}/answers",
            "/api/v3/questions/1234/answers",
            200,
            Some(answers),
        ),
        &[("page", "1"), ("pageSize", "30"), ("sort", "score")],
    );
    assert_eq!(c.check(&r), Ok(()));
    // Comments are a bare array, not a page.
    let r = logged(
        "GET",
        "/questions/{questionId}/answers/{answerId}/comments",
        "/api/v3/questions/1234/answers/123/comments",
        200,
        Some(json!([comment(), comment()])),
    );
    assert_eq!(c.check(&r), Ok(()));
    let r = logged(
        "GET",
        "/questions/{questionId}/comments",
        "/api/v3/questions/1234/comments",
        200,
        Some(page(vec![comment()], json!({}))),
    );
    one_error(
        c.check(&r),
        &[
            "GET /questions/{questionId}/comments",
            "response 200 body",
            "at \"\"",
            "array",
        ],
    );
}

#[test]
fn answer_votes_and_accept_return_an_answer_summary() {
    let c = Contract::soe();
    for (method, action) in [
        ("POST", "upvote"),
        ("DELETE", "downvote"),
        ("POST", "accept"),
        ("DELETE", "accept"),
    ] {
        let route = format!("/questions/{{questionId}}/answers/{{answerId}}/{action}");
        let path = format!("/api/v3/questions/1234/answers/123/{action}");
        let r = logged(method, &route, &path, 200, Some(answer_summary()));
        assert_eq!(c.check(&r), Ok(()), "{method} {action}");
        // The single-answer model's bodyMarkdown is not part of the summary.
        let r = logged(method, &route, &path, 200, Some(answer()));
        one_error(c.check(&r), &[&format!("{method} {route}"), "bodyMarkdown"]);
    }
}

#[test]
fn users_and_tags_pass() {
    let c = Contract::soe();
    let me = json!({
        "communities": [],
        "externalId": "12345",
        "department": "Engineering",
        "jobTitle": "Software Developer",
        "email": "user@example.com",
        "id": 123,
        "accountId": 146,
        "name": "Stack User",
        "avatarUrl": "https://stackoverflow.design/assets/img/logos/se/se-icon.png",
        "webUrl": "https://stackoverflow.com/users/31280",
        "reputation": 101,
        "role": "Registered"
    });
    assert_eq!(
        c.check(&logged(
            "GET",
            "/users/me",
            "/api/v3/users/me",
            200,
            Some(me.clone())
        )),
        Ok(())
    );
    assert_eq!(
        c.check(&logged(
            "GET",
            "/users/{userId}",
            "/api/v3/users/123",
            200,
            Some(me)
        )),
        Ok(())
    );
    let mut tag = tag_summary();
    tag["subjectMatterExperts"] = json!({"users": [user_summary()], "userGroups": [
        {"id": 123, "name": "Knowledgable Group", "description": "A group of our most knowledgable users", "users": []}
    ]});
    assert_eq!(
        c.check(&logged(
            "GET",
            "/tags/{tagId}",
            "/api/v3/tags/123",
            200,
            Some(tag.clone())
        )),
        Ok(())
    );
    // TagSummaryResponseModel (list items) has no subjectMatterExperts.
    let r = with_query(
        logged(
            "GET",
            "/tags",
            "/api/v3/tags",
            200,
            Some(page(
                vec![tag],
                json!({"sort": "postCount", "order": "desc"}),
            )),
        ),
        &[
            ("page", "1"),
            ("pageSize", "15"),
            ("sort", "postCount"),
            ("partialName", "refac"),
        ],
    );
    one_error(
        c.check(&r),
        &["GET /tags", "at \"/items/0\"", "subjectMatterExperts"],
    );
}

#[test]
fn a_401_is_text_plain() {
    let c = Contract::soe();
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        401,
        None,
    );
    assert_eq!(r.response_content_type.as_deref(), Some("text/plain"));
    assert_eq!(c.check(&r), Ok(()));
    let mut r = logged("POST", "/questions", "/api/v3/questions", 401, None);
    r.body = Some(json!({"title": "t", "body": "b", "tags": []}));
    r.response_content_type = Some("text/plain; charset=utf-8".into());
    assert_eq!(c.check(&r), Ok(()));
    // As JSON it breaks the contract.
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/123",
        401,
        Some(problem(401, "Unauthorized")),
    );
    one_error(
        c.check(&r),
        &[
            "GET /questions/{questionId}",
            "response 401",
            "content type is application/json",
            "text/plain",
        ],
    );
}

#[test]
fn error_bodies_are_problem_details() {
    let c = Contract::soe();
    // ASP.NET model validation adds `errors` and `traceId`: ProblemDetails is open.
    let validation = json!({
        "errors": {"Title": ["The Title field is required."]},
        "title": "One or more validation errors occurred.",
        "status": 400,
        "traceId": "00-abc-def-00"
    });
    let r = with_body(
        logged(
            "POST",
            "/questions",
            "/api/v3/questions",
            400,
            Some(validation),
        ),
        json!({"title": "t", "body": "b", "tags": []}),
    );
    assert_eq!(c.check(&r), Ok(()));
    let r = logged(
        "GET",
        "/users/{userId}",
        "/api/v3/users/40000",
        404,
        Some(json!({
            "type": "/v3/errors/user/not-found", "title": "User not found", "status": 404, "detail": "User ID 40000 not found"
        })),
    );
    assert_eq!(c.check(&r), Ok(()));
    let r = logged(
        "GET",
        "/users/{userId}",
        "/api/v3/users/40000",
        404,
        Some(json!({"status": "404"})),
    );
    one_error(c.check(&r), &["response 404 body", "at \"/status\""]);
}

#[test]
fn an_undeclared_status_fails_but_search_declares_429() {
    let c = Contract::soe();
    let r = logged(
        "GET",
        "/questions",
        "/api/v3/questions",
        429,
        Some(problem(429, "Too many requests")),
    );
    one_error(
        c.check(&r),
        &[
            "GET /questions",
            "response status 429 is not declared",
            "200, 400, 401, 403",
        ],
    );
    // The request half is still checkable on its own.
    assert_eq!(c.check_request(&r), Ok(()));
    let r = logged(
        "GET",
        "/search",
        "/api/v3/search",
        429,
        Some(problem(429, "Too many requests")),
    );
    assert_eq!(c.check(&r), Ok(()));
    // 404 is not declared for PUT /questions/{questionId} in the document.
    let r = with_body(
        logged(
            "PUT",
            "/questions/{questionId}",
            "/api/v3/questions/5",
            404,
            Some(problem(404, "Question not found")),
        ),
        json!({"title": "t", "body": "b", "tags": ["git"]}),
    );
    one_error(
        c.check_response(&r),
        &["PUT /questions/{questionId}", "404 is not declared"],
    );
}

#[test]
fn a_json_response_without_a_body_or_content_type_fails() {
    let c = Contract::soe();
    let r = logged("GET", "/users/me", "/api/v3/users/me", 200, None);
    let e = errors(c.check(&r));
    assert!(
        e.iter()
            .any(|e| e.contains("GET /users/me: response 200 has no content type")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|e| e.contains("body is missing or not JSON")),
        "{e:#?}"
    );
}

#[test]
fn a_deliberately_malformed_body_is_not_validated_but_its_status_is() {
    let c = Contract::soe();
    let mut r = logged("GET", "/users/me", "/api/v3/users/me", 200, None);
    r.response_content_type = Some(JSON.into());
    r.malformed = true;
    assert_eq!(c.check(&r), Ok(()));
    r.status = 418;
    one_error(c.check(&r), &["GET /users/me", "418 is not declared"]);
}

// ---------------------------------------------------------------------------------------------
// Requests

#[test]
fn every_query_parameter_the_client_sends_for_questions_passes() {
    let r = with_query(
        logged(
            "GET",
            "/questions",
            "/api/v3/questions",
            200,
            Some(page(
                vec![question_summary()],
                json!({"sort": "activity", "order": "desc"}),
            )),
        ),
        &[
            ("page", "2"),
            ("pageSize", "100"),
            ("sort", "creation"),
            ("order", "asc"),
            ("isAnswered", "true"),
            ("hasAcceptedAnswer", "false"),
            ("tagId", "1"),
            ("tagId", "2"),
            ("authorId", "3"),
            ("from", "2024-01-01T00:00:00Z"),
            ("to", "2024-02-01T00:00:00Z"),
        ],
    );
    assert_eq!(Contract::soe().check(&r), Ok(()));
}

fn questions_with(pairs: &[(&str, &str)]) -> LoggedRequest {
    with_query(
        logged(
            "GET",
            "/questions",
            "/api/v3/questions",
            200,
            Some(page(vec![], json!({}))),
        ),
        pairs,
    )
}

#[test]
fn an_undeclared_query_parameter_fails() {
    one_error(
        Contract::soe().check(&questions_with(&[("page", "1"), ("tagName", "git")])),
        &[
            "GET /questions",
            "query parameter `tagName` is not declared",
        ],
    );
    // Names are case-sensitive: `pagesize` is not `pageSize`.
    one_error(
        Contract::soe().check(&questions_with(&[("pagesize", "100")])),
        &["query parameter `pagesize` is not declared"],
    );
}

#[test]
fn page_size_must_be_one_of_the_four_values() {
    let e = one_error(
        Contract::soe().check(&questions_with(&[("pageSize", "20")])),
        &["GET /questions", "query parameter `pageSize`", "20"],
    );
    assert!(
        e.contains("15") && e.contains("100"),
        "names the allowed values: {e}"
    );
    for ok in ["15", "30", "50", "100"] {
        assert_eq!(
            Contract::soe().check(&questions_with(&[("pageSize", ok)])),
            Ok(()),
            "{ok}"
        );
    }
}

#[test]
fn query_values_must_parse_as_their_declared_types() {
    let c = Contract::soe();
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Pairs, &[&str])] = &[
        (&[("page", "0")], &["query parameter `page`", "minimum"]),
        (
            &[("page", "one")],
            &["query parameter `page`", "not an integer"],
        ),
        (
            &[("isAnswered", "True")],
            &["query parameter `isAnswered`", "not a boolean"],
        ),
        (
            &[("authorId", "2147483648")],
            &["query parameter `authorId`", "2147483648"],
        ),
        (&[("sort", "hot")], &["query parameter `sort`", "hot"]),
        (&[("order", "DESC")], &["query parameter `order`", "DESC"]),
        (
            &[("from", "2024-01-01")],
            &["query parameter `from`", "date-time"],
        ),
        (
            &[("tagId", "1"), ("tagId", "rust")],
            &["query parameter `tagId`", "at \"/1\"", "not an integer"],
        ),
        (
            &[("page", "1"), ("page", "2")],
            &["query parameter `page`", "not an array", "2 times"],
        ),
    ];
    for (pairs, needles) in cases {
        one_error(c.check(&questions_with(pairs)), needles);
    }
}

#[test]
fn path_parameters_are_checked_against_the_route() {
    let c = Contract::soe();
    // questionId has minimum 1 on GET /questions/{questionId}.
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/0",
        200,
        Some(question()),
    );
    one_error(
        c.check(&r),
        &[
            "GET /questions/{questionId}",
            "path parameter `questionId`",
            "minimum",
        ],
    );
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/abc",
        200,
        Some(question()),
    );
    one_error(
        c.check(&r),
        &["path parameter `questionId`", "not an integer"],
    );
    // A path that is not the route.
    let r = logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/articles/5",
        200,
        Some(question()),
    );
    one_error(c.check(&r), &["does not match the route"]);
}

#[test]
fn an_undeclared_operation_fails() {
    let r = logged(
        "GET",
        "/questions/{questionId}/linked",
        "/api/v3/questions/1/linked",
        200,
        Some(json!({})),
    );
    one_error(
        Contract::soe().check(&r),
        &[
            "GET /questions/{questionId}/linked",
            "operation not declared",
        ],
    );
    let r = logged(
        "PATCH",
        "/questions/{questionId}",
        "/api/v3/questions/1",
        200,
        Some(question()),
    );
    one_error(
        Contract::soe().check(&r),
        &["PATCH /questions/{questionId}", "operation not declared"],
    );
}

#[test]
fn a_valid_ask_passes() {
    let body = json!({"title": "How do I undo the most recent local commits in Git?", "body": "I committed the wrong files.", "tags": ["git"]});
    let r = with_body(
        logged(
            "POST",
            "/questions",
            "/api/v3/questions",
            201,
            Some(question()),
        ),
        body.clone(),
    );
    assert_eq!(Contract::soe().check(&r), Ok(()));
    let r = with_body(
        logged(
            "PUT",
            "/questions/{questionId}",
            "/api/v3/questions/123",
            200,
            Some(question()),
        ),
        body,
    );
    assert_eq!(Contract::soe().check(&r), Ok(()));
}

#[test]
fn a_request_body_missing_title_fails() {
    let r = with_body(
        logged(
            "POST",
            "/questions",
            "/api/v3/questions",
            201,
            Some(question()),
        ),
        json!({"body": "I committed the wrong files.", "tags": ["git"]}),
    );
    one_error(
        Contract::soe().check(&r),
        &["POST /questions", "request body", "at \"\"", "title"],
    );
}

#[test]
fn request_bodies_are_held_to_their_models() {
    let c = Contract::soe();
    let ask = |body: Value| {
        with_body(
            logged(
                "POST",
                "/questions",
                "/api/v3/questions",
                201,
                Some(question()),
            ),
            body,
        )
    };
    // Empty title (minLength 1), tags of the wrong type, an unknown field.
    one_error(
        c.check(&ask(json!({"title": "", "body": "b", "tags": []}))),
        &["request body", "at \"/title\""],
    );
    one_error(
        c.check(&ask(json!({"title": "t", "body": "b", "tags": [1]}))),
        &["request body", "at \"/tags/0\""],
    );
    one_error(
        c.check(&ask(
            json!({"title": "t", "body": "b", "tags": [], "draft": true}),
        )),
        &["request body", "draft"],
    );
    // An answer body.
    let answer_req = |body: Value| {
        with_body(
            logged(
                "POST",
                "/questions/{questionId}/answers",
                "/api/v3/questions/1234/answers",
                201,
                Some(answer()),
            ),
            body,
        )
    };
    assert_eq!(
        c.check(&answer_req(json!({"body": "Use git reset --soft HEAD~1"}))),
        Ok(())
    );
    let e = errors(c.check(&answer_req(json!({"bodyMarkdown": "x"}))));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e.iter()
            .all(|e| e.starts_with("POST /questions/{questionId}/answers: request body")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("'bodyMarkdown' was unexpected")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("\"body\" is a required property")),
        "{e:#?}"
    );
    // A missing body where one is expected, and a body where none is taken.
    let mut r = ask(json!({}));
    r.body = None;
    one_error(c.check(&r), &["POST /questions", "request body is missing"]);
    let r = with_body(
        logged(
            "POST",
            "/questions/{questionId}/upvote",
            "/api/v3/questions/123/upvote",
            200,
            Some(question()),
        ),
        json!({}),
    );
    one_error(
        c.check(&r),
        &["POST /questions/{questionId}/upvote", "takes none"],
    );
}

// ---------------------------------------------------------------------------------------------
// OAuth and whole logs

fn token_exchange(status: u16, response: Value) -> LoggedRequest {
    let mut r = logged(
        "POST",
        "/oauth/access_token/json",
        "/oauth/access_token/json",
        status,
        Some(response),
    );
    r.query = vec![
        ("client_id".into(), "110".into()),
        ("code".into(), "abc".into()),
        ("redirect_uri".into(), "https://bot.example/callback".into()),
        ("code_verifier".into(), "v".repeat(64)),
    ];
    r.token = None;
    r.user_id = None;
    r
}

#[test]
fn oauth_token_responses_follow_the_vendor_docs_schema() {
    let c = Contract::soe();
    assert_eq!(
        c.check_oauth_token_response(&token_exchange(
            200,
            json!({"access_token": "t0k", "expires": 86400})
        )),
        Ok(())
    );
    // `expires` is absent when no_expiry was granted.
    assert_eq!(
        c.check_oauth_token_response(&token_exchange(200, json!({"access_token": "t0k"}))),
        Ok(())
    );
    one_error(
        c.check_oauth_token_response(&token_exchange(200, json!({"expires": 86400}))),
        &[
            "POST /oauth/access_token/json",
            "response 200 body",
            "access_token",
        ],
    );
    one_error(
        c.check_oauth_token_response(&token_exchange(
            200,
            json!({"access_token": "t0k", "expires": "86400"}),
        )),
        &["at \"/expires\""],
    );
    // Not the token exchange.
    let r = logged(
        "GET",
        "/users/me",
        "/api/v3/users/me",
        200,
        Some(json!({"access_token": "t"})),
    );
    one_error(
        c.check_oauth_token_response(&r),
        &["GET /users/me", "not the OAuth token exchange"],
    );
    // The OAuth route is not an API operation.
    one_error(
        c.check(&token_exchange(200, json!({"access_token": "t"}))),
        &["operation not declared"],
    );
}

#[test]
fn a_whole_log_is_checked_and_pages_are_skipped() {
    let c = Contract::soe();
    let mut authorize_page = logged("GET", "/oauth", "/oauth", 200, None);
    authorize_page.response_content_type = Some("text/html".into());
    let good = vec![
        authorize_page.clone(),
        token_exchange(200, json!({"access_token": "t0k", "expires": 86400})),
        token_exchange(400, json!({"error": "invalid_grant"})),
        logged(
            "GET",
            "/users/me",
            "/api/v3/users/me",
            200,
            Some(json!({"id": 123, "name": "Stack User"})),
        ),
        logged(
            "GET",
            "/questions/{questionId}",
            "/api/v3/questions/123",
            200,
            Some(question()),
        ),
    ];
    assert_eq!(
        c.check_log(&good),
        Ok(4),
        "the page is skipped; the failed exchange's request is checked too"
    );
    let mut bad = good;
    bad.push(logged(
        "GET",
        "/questions/{questionId}",
        "/api/v3/questions/124",
        200,
        Some(json!({"id": "124"})),
    ));
    bad.push(token_exchange(200, json!({})));
    let e = c.check_log(&bad).expect_err("two bad entries");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("request #5 (/api/v3/questions/124): GET /questions/{questionId}"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("request #6 (/oauth/access_token/json): POST /oauth/access_token/json"),
        "{e:#?}"
    );
}

#[test]
fn the_token_request_is_held_to_the_sdks_shape() {
    let c = Contract::soe();
    assert_eq!(
        c.check_oauth_token_exchange(&token_exchange(200, json!({"access_token": "t0k"}))),
        Ok(()),
        "the four parameters in the query string, no body"
    );
    // A parameter missing.
    for missing in ["client_id", "code", "redirect_uri", "code_verifier"] {
        let mut r = token_exchange(400, json!({"error_name": "bad_parameter"}));
        r.query.retain(|(k, _)| k != missing);
        one_error(
            c.check_oauth_token_exchange(&r),
            &[&format!(
                "query parameter `{missing}` is required but missing"
            )],
        );
    }
    // The parameters as a form body instead (what the oauth2 crate sends).
    let mut form = token_exchange(200, json!({"access_token": "t0k"}));
    let body: serde_json::Map<String, Value> = form
        .query
        .drain(..)
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    form.body = Some(Value::Object(body));
    let errors = errors(c.check_oauth_token_exchange(&form));
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.contains("request body sent")),
        "{errors:#?}"
    );
    // A verifier that is not one.
    let mut r = token_exchange(200, json!({"access_token": "t0k"}));
    r.query[3].1 = "short".into();
    one_error(c.check_oauth_token_exchange(&r), &["code_verifier"]);
}

#[test]
fn any_fake_can_describe_its_exchanges() {
    let q = question();
    let ex = Exchange {
        method: "get",
        route: "/questions/{questionId}",
        path: "/questions/123",
        query: &[],
        body: None,
        status: 200,
        content_type: Some("application/json"),
        response: Some(&q),
        malformed: false,
    };
    assert_eq!(Contract::soe().check_exchange(&ex), Ok(()));
    let ex = Exchange { status: 500, ..ex };
    one_error(
        Contract::soe().check_exchange(&ex),
        &["GET /questions/{questionId}", "500 is not declared"],
    );
}

#[test]
fn a_contract_for_another_api_checks_required_parameters_and_empty_responses() {
    // The format is not SOE-specific: a tiny contract with a required query parameter and a
    // 204 without a body.
    let doc = json!({
        "operations": {
            "POST /channels/{channel_id}/typing": {
                "parameters": {
                    "channel_id": {"in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                    "reason": {"in": "query", "required": true, "schema": {"type": "string"}}
                },
                "responses": {"204": {}}
            }
        },
        "schemas": {}
    });
    let c = Contract::from_value("inline", &doc).expect("compiles");
    let query = [("reason".to_string(), "test".to_string())];
    let ex = Exchange {
        method: "POST",
        route: "/channels/{channel_id}/typing",
        path: "/api/v10/channels/123/typing",
        query: &query,
        body: None,
        status: 204,
        content_type: None,
        response: None,
        malformed: false,
    };
    assert_eq!(c.check_exchange(&ex), Ok(()));
    one_error(
        c.check_exchange(&Exchange { query: &[], ..ex }),
        &[
            "POST /channels/{channel_id}/typing",
            "query parameter `reason` is required but missing",
        ],
    );
    one_error(
        c.check_exchange(&Exchange {
            path: "/api/v10/channels/general/typing",
            ..ex
        }),
        &["path parameter `channel_id`", "general"],
    );
    let body = json!({"message": "hi"});
    one_error(
        c.check_exchange(&Exchange {
            response: Some(&body),
            content_type: Some("application/json"),
            ..ex
        }),
        &["response 204 has a body"],
    );
}

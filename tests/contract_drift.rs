//! Unit tests of the drift check (`tests/support/contract_drift.rs`) on small inline documents.
//! They need nothing outside the repository; the check against the real document is
//! `cargo run --example contract_drift -- tests/contract/soe-api-v3.contract.json ../shared/specs/soe-api-v3.openapi.json`.

#[path = "support/contract_drift.rs"]
mod contract_drift;

use contract_drift::{drift, drift_report};
use serde_json::{json, Value};

/// A small OpenAPI 3.0 document in the style of the SOE one.
fn official() -> Value {
    json!({
        "openapi": "3.0.1",
        "paths": {
            "/questions/{questionId}": {
                "get": {
                    "parameters": [
                        {"name": "questionId", "in": "path", "required": true,
                         "schema": {"minimum": 1, "type": "integer", "format": "int32"}, "example": 123},
                        {"name": "sort", "in": "query", "schema": {"$ref": "#/components/schemas/SortOrder"}}
                    ],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Question"}}}},
                        "401": {"description": "no", "content": {"text/plain": {
                            "schema": {"type": "string", "example": "Invalid access token"}}}}
                    }
                }
            },
            "/questions": {
                "post": {
                    "requestBody": {"content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewQuestion"}},
                        "text/json": {"schema": {"$ref": "#/components/schemas/NewQuestion"}}}},
                    "responses": {
                        "201": {"description": "created", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Question"}}}}
                    }
                }
            },
            "/search": {
                "get": {
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {
                            "schema": {"type": "array", "items": {"oneOf": [
                                {"$ref": "#/components/schemas/QuestionHit"}]}}}}}
                    }
                }
            }
        },
        "components": {"schemas": {
            "SortOrder": {"title": "Sort order", "enum": ["asc", "desc"], "type": "string"},
            "Question": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "format": "int32", "description": "the id"},
                    "title": {"type": "string"},
                    "lastActivityDate": {"type": "string", "format": "date-time", "nullable": true},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "owner": {"$ref": "#/components/schemas/User"}
                },
                "additionalProperties": false
            },
            "User": {
                "type": "object",
                "properties": {"id": {"type": "integer", "format": "int32"}},
                "additionalProperties": false
            },
            "NewQuestion": {
                "required": ["title", "body"],
                "type": "object",
                "properties": {"title": {"minLength": 1, "type": "string"}, "body": {"type": "string"}},
                "additionalProperties": false
            },
            "HitBase": {
                "type": "object",
                "properties": {"title": {"type": "string", "readOnly": true}},
                "additionalProperties": false
            },
            "QuestionHit": {
                "type": "object",
                "allOf": [{"$ref": "#/components/schemas/HitBase"}],
                "properties": {"type": {"type": "string"}, "questionId": {"type": "integer", "format": "int32"}},
                "additionalProperties": false
            }
        }}
    })
}

/// A contract written from [`official`] the way `tests/contract/*.contract.json` are.
fn contract() -> Value {
    json!({
        "description": "test contract",
        "operations": {
            "GET /questions/{questionId}": {
                "summary": "get one",
                "parameters": {
                    "questionId": {"in": "path", "required": true,
                                   "schema": {"type": "integer", "format": "int32", "minimum": 1}},
                    "sort": {"in": "query", "required": false, "schema": {"$ref": "#/schemas/SortOrder"}}
                },
                "responses": {
                    "200": {"contentType": "application/json", "schema": {"$ref": "#/schemas/Question"}},
                    "401": {"contentType": "text/plain", "schema": {"type": "string"}}
                }
            },
            "POST /questions": {
                "requestBody": {"contentType": "application/json", "schema": {"$ref": "#/schemas/NewQuestion"}},
                "responses": {
                    "201": {"contentType": "application/json", "schema": {"$ref": "#/schemas/Question"}}
                }
            },
            "GET /search": {
                "responses": {
                    "200": {"contentType": "application/json",
                            "schema": {"type": "array", "items": {"oneOf": [{"$ref": "#/schemas/QuestionHit"}]}}}
                }
            }
        },
        "schemas": {
            "SortOrder": {"type": "string", "enum": ["asc", "desc"]},
            "Question": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "format": "int32"},
                    "title": {"type": "string"},
                    "lastActivityDate": {"type": ["string", "null"], "format": "date-time"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "owner": {"$ref": "#/schemas/User"}
                },
                "additionalProperties": false
            },
            "User": {
                "type": "object",
                "properties": {"id": {"type": "integer", "format": "int32"}},
                "additionalProperties": false
            },
            "NewQuestion": {
                "type": "object",
                "required": ["body", "title"],
                "properties": {"title": {"type": "string", "minLength": 1}, "body": {"type": "string"}},
                "additionalProperties": false
            },
            "QuestionHit": {
                "description": "HitBase merged in",
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "type": {"type": "string"},
                    "questionId": {"type": "integer", "format": "int32"}
                },
                "additionalProperties": false
            }
        },
        "outsideOpenApiDocument": {
            "description": "not compared",
            "POST /oauth/access_token/json": {"responses": {"200": {"contentType": "application/json",
                "schema": {"type": "object"}}}}
        }
    })
}

/// Sets (or adds) the member a JSON pointer names; its parent must exist.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
    let key = key.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key, value);
        }
        Some(Value::Array(a)) => a[key.parse::<usize>().expect("an index")] = value,
        _ => panic!("no {parent}"),
    }
}

/// Removes the member a JSON pointer names.
fn remove(doc: &mut Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
    let key = key.replace("~1", "/").replace("~0", "~");
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(&key))
        .unwrap_or_else(|| panic!("no {pointer}"))
}

fn assert_one_drift(contract: &Value, official: &Value, needles: &[&str]) {
    let found = drift(contract, official);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one difference, got {found:#?}"
    );
    for n in needles {
        assert!(
            found[0].contains(n),
            "{:?} does not mention {n:?}",
            found[0]
        );
    }
}

#[test]
fn identical_documents_have_no_drift_and_everything_was_compared() {
    let report = drift_report(&contract(), &official());
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert_eq!(report.operations, 3);
    assert_eq!(report.parameters, 2);
    assert_eq!(report.responses, 4);
    assert_eq!(report.schemas, 5);
    // Question 5 + User 1 + NewQuestion 2 + QuestionHit 3.
    assert_eq!(report.properties, 11);
}

#[test]
fn a_renamed_official_property_is_reported() {
    let mut o = official();
    let title = remove(&mut o, "/components/schemas/Question/properties/title");
    set(
        &mut o,
        "/components/schemas/Question/properties/headline",
        title,
    );
    let found = drift(&contract(), &o);
    assert!(
        found
            .iter()
            .any(|d| d.contains("schema Question property `title`: not in the official model")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|d| d.contains("official property `headline` is missing")),
        "{found:#?}"
    );
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
fn a_changed_property_type_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/Question/properties/id",
        json!({"type": "string"}),
    );
    let found = drift(&contract(), &o);
    assert!(
        found.iter().any(|d| d.contains(
            "schema Question property `id`: type integer in the contract, string officially"
        )),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|d| d.contains("property `id`: format int32")),
        "{found:#?}"
    );
}

#[test]
fn a_changed_format_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/User/properties/id/format",
        json!("int64"),
    );
    assert_one_drift(
        &contract(),
        &o,
        &["schema User property `id`", "format int32", "int64"],
    );
}

#[test]
fn a_removed_path_is_reported() {
    let mut o = official();
    remove(&mut o, "/paths/~1search");
    assert_one_drift(
        &contract(),
        &o,
        &["GET /search", "not in the official document"],
    );
}

#[test]
fn a_removed_method_is_reported() {
    let mut o = official();
    let post = remove(&mut o, "/paths/~1questions/post");
    set(&mut o, "/paths/~1questions", json!({"put": post}));
    assert_one_drift(&contract(), &o, &["POST /questions", "no POST"]);
}

#[test]
fn a_newly_required_parameter_is_reported() {
    let mut o = official();
    let params = o
        .pointer_mut("/paths/~1questions~1{questionId}/get/parameters")
        .and_then(Value::as_array_mut)
        .expect("parameters");
    params.push(
        json!({"name": "team", "in": "query", "required": true, "schema": {"type": "string"}}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "GET /questions/{questionId}",
            "requires query parameter `team`",
        ],
    );
}

#[test]
fn a_new_optional_parameter_is_not_drift() {
    let mut o = official();
    let params = o
        .pointer_mut("/paths/~1questions~1{questionId}/get/parameters")
        .and_then(Value::as_array_mut)
        .expect("parameters");
    params.push(json!({"name": "filter", "in": "query", "schema": {"type": "string"}}));
    assert_eq!(drift(&contract(), &o), Vec::<String>::new());
}

#[test]
fn a_declared_parameter_that_became_required_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/paths/~1questions~1{questionId}/get/parameters/1/required",
        json!(true),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "parameter `sort`",
            "required is false in the contract, true officially",
        ],
    );
}

#[test]
fn a_parameter_whose_location_or_bounds_changed_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/paths/~1questions~1{questionId}/get/parameters/1/in",
        json!("header"),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "parameter `sort`",
            "in query in the contract, in header officially",
        ],
    );

    let mut o = official();
    set(
        &mut o,
        "/paths/~1questions~1{questionId}/get/parameters/0/schema/minimum",
        json!(0),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "parameter `questionId`",
            "minimum 1 in the contract, 0 officially",
        ],
    );
}

#[test]
fn a_removed_parameter_is_reported() {
    let mut o = official();
    o.pointer_mut("/paths/~1questions~1{questionId}/get/parameters")
        .and_then(Value::as_array_mut)
        .expect("parameters")
        .remove(1);
    assert_one_drift(
        &contract(),
        &o,
        &["parameter `sort`", "not in the official document"],
    );
}

#[test]
fn a_changed_enum_is_reported_with_the_values() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/SortOrder/enum",
        json!(["asc", "descending"]),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "schema SortOrder",
            "enum differs",
            "official only: \"descending\"",
            "contract only: \"desc\"",
        ],
    );
}

#[test]
fn nullability_is_compared_by_meaning() {
    // OpenAPI 3.0 `nullable` versus a type array: the same.
    assert_eq!(drift(&contract(), &official()), Vec::<String>::new());
    // OpenAPI 3.1 style on the official side: still the same.
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/Question/properties/lastActivityDate",
        json!({"type": ["string", "null"], "format": "date-time"}),
    );
    assert_eq!(drift(&contract(), &o), Vec::<String>::new());
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/Question/properties/lastActivityDate",
        json!({"oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
    );
    assert_eq!(drift(&contract(), &o), Vec::<String>::new());
    // No longer nullable: drift.
    let mut o = official();
    remove(
        &mut o,
        "/components/schemas/Question/properties/lastActivityDate/nullable",
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "property `lastActivityDate`",
            "nullable is true in the contract, false officially",
        ],
    );
    // A ref that became nullable (3.0 idiom allOf + nullable): drift.
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/Question/properties/owner",
        json!({"allOf": [{"$ref": "#/components/schemas/User"}], "nullable": true}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "property `owner`",
            "nullable is false in the contract, true officially",
        ],
    );
}

#[test]
fn a_changed_ref_target_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/Question/properties/owner/$ref",
        json!("#/components/schemas/NewQuestion"),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "property `owner`",
            "model User in the contract, model NewQuestion officially",
        ],
    );
}

#[test]
fn an_array_item_change_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/Question/properties/tags/items",
        json!({"type": "integer"}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "property `tags` items",
            "type string in the contract, integer officially",
        ],
    );
}

#[test]
fn required_lists_are_compared() {
    // The official model stops requiring `body`.
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/NewQuestion/required",
        json!(["title"]),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "schema NewQuestion property `body`",
            "required is true in the contract, false officially",
        ],
    );
    // The official model requires a property the contract lacks (and, closed, must declare).
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/NewQuestion/required",
        json!(["title", "body", "tags"]),
    );
    set(
        &mut o,
        "/components/schemas/NewQuestion/properties/tags",
        json!({"type": "array", "items": {"type": "string"}}),
    );
    let found = drift(&contract(), &o);
    assert!(
        found
            .iter()
            .any(|d| d.contains("requires property `tags`, which the contract lacks")),
        "{found:#?}"
    );
}

#[test]
fn a_new_official_property_of_a_closed_model_is_reported() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/User/properties/name",
        json!({"type": "string"}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "schema User",
            "official property `name` is missing",
            "closed",
        ],
    );
}

#[test]
fn a_new_official_property_of_an_open_model_is_not_drift() {
    let mut c = contract();
    remove(&mut c, "/schemas/User/additionalProperties");
    let mut o = official();
    remove(&mut o, "/components/schemas/User/additionalProperties");
    set(
        &mut o,
        "/components/schemas/User/properties/name",
        json!({"type": "string"}),
    );
    assert_eq!(drift(&c, &o), Vec::<String>::new());
}

#[test]
fn additional_properties_are_compared() {
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/User/additionalProperties",
        json!({}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "schema User",
            "additionalProperties is false in the contract, true officially",
        ],
    );
}

#[test]
fn all_of_bases_are_merged_and_compared() {
    // The contract's merged QuestionHit matches allOf(HitBase) + own properties.
    assert_eq!(drift(&contract(), &official()), Vec::<String>::new());
    // A change in the base shows up in the merged model.
    let mut o = official();
    set(
        &mut o,
        "/components/schemas/HitBase/properties/title/type",
        json!("integer"),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "schema QuestionHit property `title`",
            "type string in the contract, integer officially",
        ],
    );
}

#[test]
fn one_of_members_are_compared_by_model() {
    let mut o = official();
    let items = o
        .pointer_mut(
            "/paths/~1search/get/responses/200/content/application~1json/schema/items/oneOf",
        )
        .and_then(Value::as_array_mut)
        .expect("oneOf");
    items.push(json!({"$ref": "#/components/schemas/User"}));
    assert_one_drift(
        &contract(),
        &o,
        &[
            "GET /search: response 200",
            "one of QuestionHit in the contract, QuestionHit|User officially",
        ],
    );
}

#[test]
fn response_statuses_and_content_types_are_compared() {
    // A declared status removed officially.
    let mut o = official();
    remove(&mut o, "/paths/~1questions~1{questionId}/get/responses/401");
    assert_one_drift(
        &contract(),
        &o,
        &[
            "GET /questions/{questionId}: response 401",
            "not declared officially",
        ],
    );
    // A new official status the contract lacks.
    let mut o = official();
    set(
        &mut o,
        "/paths/~1questions~1{questionId}/get/responses/404",
        json!({"description": "gone", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &["GET /questions/{questionId}", "declares response 404"],
    );
    // A changed content type.
    let mut o = official();
    let media = remove(
        &mut o,
        "/paths/~1questions~1{questionId}/get/responses/401/content/text~1plain",
    );
    set(
        &mut o,
        "/paths/~1questions~1{questionId}/get/responses/401/content",
        json!({"application/json": media}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "response 401",
            "content type text/plain in the contract, officially application/json",
        ],
    );
    // A response that points at another model.
    let mut o = official();
    set(
        &mut o,
        "/paths/~1questions/post/responses/201/content/application~1json/schema/$ref",
        json!("#/components/schemas/User"),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "POST /questions: response 201",
            "model Question in the contract, model User officially",
        ],
    );
}

#[test]
fn request_bodies_are_compared() {
    let mut o = official();
    set(
        &mut o,
        "/paths/~1questions/post/requestBody/content",
        json!({"text/json": {"schema": {"$ref": "#/components/schemas/NewQuestion"}}}),
    );
    assert_one_drift(
        &contract(),
        &o,
        &[
            "POST /questions",
            "request body content type application/json is not offered",
        ],
    );
    let mut o = official();
    remove(&mut o, "/paths/~1questions/post/requestBody");
    assert_one_drift(
        &contract(),
        &o,
        &["POST /questions", "the contract has a request body"],
    );
}

#[test]
fn a_model_missing_officially_is_reported() {
    let mut o = official();
    let user = remove(&mut o, "/components/schemas/User");
    set(&mut o, "/components/schemas/Person", user);
    let found = drift(&contract(), &o);
    assert!(
        found
            .iter()
            .any(|d| d.contains("schema User: no such model")),
        "{found:#?}"
    );
}

#[test]
fn a_dangling_contract_ref_is_reported() {
    let mut c = contract();
    set(
        &mut c,
        "/schemas/Question/properties/owner/$ref",
        json!("#/schemas/Nobody"),
    );
    let found = drift(&c, &official());
    assert!(
        found
            .iter()
            .any(|d| d.contains("$ref #/schemas/Nobody does not resolve")),
        "{found:#?}"
    );
}

#[test]
fn the_outside_section_is_not_compared() {
    let mut c = contract();
    set(
        &mut c,
        "/outsideOpenApiDocument/POST ~1oauth~1access_token~1json/responses/200/schema",
        json!({"type": "string"}),
    );
    assert_eq!(drift(&c, &official()), Vec::<String>::new());
}

/// [`official`] with a `/teams/{team}` twin of every path, as the SOE document has: the same
/// operations plus a required `team` path parameter.
fn official_with_twins() -> Value {
    let mut doc = official();
    let paths = doc["paths"].as_object().expect("paths").clone();
    for (path, item) in paths {
        let mut twin = item.clone();
        for op in twin.as_object_mut().expect("path item").values_mut() {
            let team = json!({"name": "team", "in": "path", "required": true, "schema": {"type": "string"}});
            match op.get_mut("parameters").and_then(Value::as_array_mut) {
                Some(list) => list.push(team),
                None => op["parameters"] = json!([team]),
            }
        }
        doc["paths"][format!("/teams/{{team}}{path}")] = twin;
    }
    doc
}

fn contract_with_team_prefix() -> Value {
    let mut c = contract();
    c["source"] = json!({"teamPrefix": "/teams/{team}"});
    c
}

#[test]
fn team_twins_are_compared_when_the_contract_has_a_team_prefix() {
    let report = drift_report(&contract_with_team_prefix(), &official_with_twins());
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert_eq!(report.operations, 3);
    assert_eq!(report.team_twins, 3, "every operation's twin was compared");
    // The twins' parameters and responses were compared too (twice the main-site counts).
    assert_eq!(report.parameters, 4);
    assert_eq!(report.responses, 8);
    // Without a prefix, nothing is compared against the twins.
    let report = drift_report(&contract(), &official_with_twins());
    assert_eq!(report.team_twins, 0);
}

#[test]
fn a_missing_team_twin_is_reported() {
    let mut o = official_with_twins();
    remove(&mut o, "/paths/~1teams~1{team}~1search");
    assert_one_drift(
        &contract_with_team_prefix(),
        &o,
        &[
            "GET /search (team twin /teams/{team}/search)",
            "not in the official document",
        ],
    );
    let mut o = official_with_twins();
    remove(&mut o, "/paths/~1teams~1{team}~1questions/post");
    assert_one_drift(
        &contract_with_team_prefix(),
        &o,
        &["POST /questions (team twin", "no POST"],
    );
}

#[test]
fn a_team_twin_that_differs_from_the_main_route_is_reported() {
    // The twin grew a required query parameter; the main-site route did not.
    let mut o = official_with_twins();
    o["paths"]["/teams/{team}/questions/{questionId}"]["get"]["parameters"][1]["required"] =
        json!(true);
    assert_one_drift(
        &contract_with_team_prefix(),
        &o,
        &[
            "team twin /teams/{team}/questions/{questionId}",
            "`sort`",
            "required",
        ],
    );
    // The twin's 200 changed its model.
    let mut o = official_with_twins();
    o["paths"]["/teams/{team}/questions"]["post"]["responses"]["201"]["content"]
        ["application/json"]["schema"] = json!({"$ref": "#/components/schemas/User"});
    assert_one_drift(
        &contract_with_team_prefix(),
        &o,
        &["POST /questions (team twin", "response 201", "model User"],
    );
    // A required path parameter other than the prefix's own is still drift.
    let mut o = official_with_twins();
    o["paths"]["/teams/{team}/search"]["get"]["parameters"]
        .as_array_mut()
        .expect("list")
        .push(
            json!({"name": "site", "in": "path", "required": true, "schema": {"type": "string"}}),
        );
    assert_one_drift(
        &contract_with_team_prefix(),
        &o,
        &["team twin /teams/{team}/search", "`site`"],
    );
}

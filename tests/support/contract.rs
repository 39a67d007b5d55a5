//! Contract checking for the HTTP exchanges the fakes serve.
//!
//! A contract file (`tests/contract/*.contract.json`) is the project's own, compact description
//! of the part of an OpenAPI 3 document that the bot relies on: `operations` keyed
//! `"METHOD /route"` (parameters by name, one request body, responses by status with one content
//! type each) and `schemas`, JSON Schema 2020-12 models referenced as `#/schemas/Name`. This
//! module loads such a file, compiles every schema once with the `jsonschema` crate, and checks
//! exchanges against it. Nothing in here is specific to the SOE API except [`Contract::soe`]
//! and the conversion from the fake site's [`LoggedRequest`]; other fakes describe their
//! exchanges with an [`Exchange`].
//!
//! Include it from a test file with
//! `#[path = "support/contract.rs"] mod contract;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{json, Map, Value};
use soe_bot::fake_soe::log::LoggedRequest;

/// Where the SOE contract lives, relative to the crate root.
pub const SOE_CONTRACT: &str = "tests/contract/soe-api-v3.contract.json";

/// The key of the section that describes exchanges the OpenAPI document does not.
const OUTSIDE_KEY: &str = "outsideOpenApiDocument";
/// The OAuth token exchange, described in [`OUTSIDE_KEY`].
pub const OAUTH_TOKEN_OPERATION: &str = "POST /oauth/access_token/json";

/// Longest validator message kept in an error string (instances can be whole pages).
const MAX_MESSAGE: usize = 300;

/// One HTTP exchange, as any fake server can describe it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The route template relative to the API base, e.g. `/questions/{questionId}`.
    pub route: &'a str,
    /// The concrete request path (its last segments are matched against `route`).
    pub path: &'a str,
    /// Decoded query pairs in order; repeated keys repeat.
    pub query: &'a [(String, String)],
    /// The parsed JSON request body, if any.
    pub body: Option<&'a Value>,
    /// The response status.
    pub status: u16,
    /// The response `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The response body when it was JSON.
    pub response: Option<&'a Value>,
    /// True when the fake deliberately sent a body that is not JSON: the body is not checked.
    pub malformed: bool,
}

impl<'a> From<&'a LoggedRequest> for Exchange<'a> {
    fn from(r: &'a LoggedRequest) -> Self {
        Exchange {
            method: &r.method,
            route: &r.route,
            path: &r.path,
            query: &r.query,
            body: r.body.as_ref(),
            status: r.status,
            content_type: r.response_content_type.as_deref(),
            response: r.response.as_ref(),
            malformed: r.malformed,
        }
    }
}

/// A primitive a query or path value is parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    Integer,
    Number,
    Boolean,
    String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar(Prim),
    Array(Prim),
}

struct Param {
    name: String,
    location: String,
    required: bool,
    shape: Shape,
    validator: Arc<Validator>,
}

struct Body {
    content_type: String,
    validator: Arc<Validator>,
}

struct Response {
    /// `None`: the response has no body.
    content_type: Option<String>,
    validator: Option<Arc<Validator>>,
}

struct Operation {
    key: String,
    params: Vec<Param>,
    body: Option<Body>,
    responses: BTreeMap<u16, Response>,
}

/// A loaded, compiled contract.
pub struct Contract {
    source: String,
    /// The contract's `schemas`, lowered for validation (refs point at `#/$defs/…`).
    defs: Value,
    operations: BTreeMap<String, Operation>,
    outside: BTreeMap<String, Operation>,
    /// Compiled schemas by their lowered text, so each distinct schema compiles once.
    compiled: Mutex<HashMap<String, Arc<Validator>>>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("source", &self.source)
            .field("operations", &self.operations.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Contract {
    /// The SOE API v3 contract, loaded and compiled once per test binary.
    pub fn soe() -> &'static Contract {
        static SOE: OnceLock<Contract> = OnceLock::new();
        SOE.get_or_init(|| Contract::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(SOE_CONTRACT)))
    }

    /// Loads and compiles a contract file. Panics with the reason when it cannot (test support).
    pub fn load(path: impl AsRef<Path>) -> Contract {
        let path = path.as_ref();
        match Self::try_load(path) {
            Ok(c) => c,
            Err(e) => panic!("contract {}: {e}", path.display()),
        }
    }

    /// Loads and compiles a contract file.
    pub fn try_load(path: &Path) -> Result<Contract, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        Self::from_value(&path.display().to_string(), &doc)
    }

    /// Compiles a contract already parsed (`source` names it in messages).
    pub fn from_value(source: &str, doc: &Value) -> Result<Contract, String> {
        let schemas = doc
            .get("schemas")
            .and_then(Value::as_object)
            .ok_or("no `schemas` object")?;
        let defs = Value::Object(schemas.iter().map(|(k, v)| (k.clone(), lower(v))).collect());
        let mut contract = Contract {
            source: source.to_string(),
            defs,
            operations: BTreeMap::new(),
            outside: BTreeMap::new(),
            compiled: Mutex::new(HashMap::new()),
        };
        // Every named schema must compile, referenced or not.
        for name in schemas.keys() {
            contract.compile(&json!({ "$ref": format!("#/schemas/{name}") }))?;
        }
        let ops = doc
            .get("operations")
            .and_then(Value::as_object)
            .ok_or("no `operations` object")?;
        for (key, op) in ops {
            let compiled = contract.operation(doc, key, op)?;
            contract.operations.insert(key.clone(), compiled);
        }
        if let Some(outside) = doc.get(OUTSIDE_KEY).and_then(Value::as_object) {
            for (key, op) in outside {
                if key == "description" {
                    continue;
                }
                let compiled = contract.operation(doc, key, op)?;
                contract.outside.insert(key.clone(), compiled);
            }
        }
        Ok(contract)
    }

    /// Where the contract was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The declared operations, as `"METHOD /route"`.
    pub fn operation_keys(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// True when the contract declares `METHOD route`.
    pub fn has_operation(&self, method: &str, route: &str) -> bool {
        self.operations.contains_key(&op_key(method, route))
    }

    /// Checks a request the fake SOE site served: request and response.
    pub fn check(&self, req: &LoggedRequest) -> Result<(), Vec<String>> {
        self.check_exchange(&Exchange::from(req))
    }

    /// Checks only what the client sent (operation, parameters, body).
    pub fn check_request(&self, req: &LoggedRequest) -> Result<(), Vec<String>> {
        let ex = Exchange::from(req);
        let mut errors = Vec::new();
        if let Some(op) = self.find(&ex, &mut errors) {
            self.request_errors(op, &ex, &mut errors);
        }
        into_result(errors)
    }

    /// Checks only what the fake answered (status, content type, body).
    pub fn check_response(&self, req: &LoggedRequest) -> Result<(), Vec<String>> {
        let ex = Exchange::from(req);
        let mut errors = Vec::new();
        if let Some(op) = self.find(&ex, &mut errors) {
            response_errors(op, &ex, &mut errors);
        }
        into_result(errors)
    }

    /// Checks any exchange against the contract's operations.
    pub fn check_exchange(&self, ex: &Exchange<'_>) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if let Some(op) = self.find(ex, &mut errors) {
            self.request_errors(op, ex, &mut errors);
            response_errors(op, ex, &mut errors);
        }
        into_result(errors)
    }

    /// Checks a `POST /oauth/access_token/json` exchange: the token response the OpenAPI
    /// document does not describe (the schema is in the contract's `outsideOpenApiDocument`).
    pub fn check_oauth_token_response(&self, req: &LoggedRequest) -> Result<(), Vec<String>> {
        let ex = Exchange::from(req);
        let key = op_key(ex.method, ex.route);
        let mut errors = Vec::new();
        match self.outside.get(OAUTH_TOKEN_OPERATION) {
            None => errors.push(format!(
                "{OAUTH_TOKEN_OPERATION}: not in {} `{OUTSIDE_KEY}`",
                self.source
            )),
            Some(_) if key != OAUTH_TOKEN_OPERATION => errors.push(format!(
                "{key}: not the OAuth token exchange ({OAUTH_TOKEN_OPERATION})"
            )),
            Some(op) => response_errors(op, &ex, &mut errors),
        }
        into_result(errors)
    }

    /// Checks a `POST /oauth/access_token/json` exchange whole: what the client sent (the four
    /// query parameters, no body) and, when it succeeded, the token response.
    pub fn check_oauth_token_exchange(&self, req: &LoggedRequest) -> Result<(), Vec<String>> {
        let ex = Exchange::from(req);
        let key = op_key(ex.method, ex.route);
        let mut errors = Vec::new();
        match self.outside.get(OAUTH_TOKEN_OPERATION) {
            None => errors.push(format!(
                "{OAUTH_TOKEN_OPERATION}: not in {} `{OUTSIDE_KEY}`",
                self.source
            )),
            Some(_) if key != OAUTH_TOKEN_OPERATION => errors.push(format!(
                "{key}: not the OAuth token exchange ({OAUTH_TOKEN_OPERATION})"
            )),
            Some(op) => {
                self.request_errors(op, &ex, &mut errors);
                if ex.status == 200 {
                    response_errors(op, &ex, &mut errors);
                }
            }
        }
        into_result(errors)
    }

    /// Checks a whole request log: API calls with [`Contract::check`], OAuth token exchanges
    /// with [`Contract::check_oauth_token_exchange`] (the request always, the response when it
    /// succeeded); other site pages are skipped.
    /// Returns how many entries were checked.
    pub fn check_log(&self, log: &[LoggedRequest]) -> Result<usize, Vec<String>> {
        let mut errors = Vec::new();
        let mut checked = 0;
        for (i, req) in log.iter().enumerate() {
            let result = if req.is_api() {
                self.check(req)
            } else if op_key(&req.method, &req.route) == OAUTH_TOKEN_OPERATION {
                self.check_oauth_token_exchange(req)
            } else {
                continue;
            };
            checked += 1;
            if let Err(e) = result {
                errors.extend(
                    e.into_iter()
                        .map(|e| format!("request #{i} ({}): {e}", req.path)),
                );
            }
        }
        if errors.is_empty() {
            Ok(checked)
        } else {
            Err(errors)
        }
    }

    /// Validates a value against a named contract schema (`schemas.<name>`).
    pub fn validate(&self, name: &str, value: &Value) -> Result<(), Vec<String>> {
        let validator = self
            .compile(&json!({ "$ref": format!("#/schemas/{name}") }))
            .map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        schema_errors(
            &validator,
            value,
            &format!("schema {name}"),
            "value",
            &mut errors,
        );
        into_result(errors)
    }

    fn find<'c>(&'c self, ex: &Exchange<'_>, errors: &mut Vec<String>) -> Option<&'c Operation> {
        let key = op_key(ex.method, ex.route);
        let op = self.operations.get(&key);
        if op.is_none() {
            errors.push(format!("{key}: operation not declared in {}", self.source));
        }
        op
    }

    fn request_errors(&self, op: &Operation, ex: &Exchange<'_>, errors: &mut Vec<String>) {
        let key = &op.key;
        // Path parameters: the route's placeholders, matched against the tail of the path.
        let route_segs: Vec<&str> = ex.route.split('/').skip(1).collect();
        let path_segs: Vec<&str> = ex.path.split('/').skip(1).collect();
        let mut path_values: HashMap<&str, &str> = HashMap::new();
        let mut path_matches = path_segs.len() >= route_segs.len();
        if !path_matches {
            errors.push(format!(
                "{key}: path {:?} does not match the route",
                ex.path
            ));
        } else {
            let tail = &path_segs[path_segs.len() - route_segs.len()..];
            for (t, v) in route_segs.iter().zip(tail) {
                match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) => {
                        path_values.insert(name, v);
                    }
                    None if t != v => {
                        errors.push(format!(
                            "{key}: path {:?} does not match the route",
                            ex.path
                        ));
                        path_matches = false;
                        break;
                    }
                    None => {}
                }
            }
        }
        for name in path_values.keys() {
            if !op
                .params
                .iter()
                .any(|p| p.location == "path" && p.name == *name)
            {
                errors.push(format!("{key}: path parameter `{name}` is not declared"));
            }
        }
        // Query parameters, grouped by name in order of appearance.
        let mut query: Vec<(&str, Vec<&str>)> = Vec::new();
        for (k, v) in ex.query {
            match query.iter_mut().find(|(n, _)| n == k) {
                Some((_, vs)) => vs.push(v),
                None => query.push((k, vec![v])),
            }
        }
        for (name, _) in &query {
            if !op
                .params
                .iter()
                .any(|p| p.location == "query" && p.name == *name)
            {
                errors.push(format!("{key}: query parameter `{name}` is not declared"));
            }
        }
        for p in &op.params {
            let values: Vec<&str> = match p.location.as_str() {
                // Already reported as a whole.
                "path" if !path_matches => continue,
                "path" => path_values
                    .get(p.name.as_str())
                    .map(|v| vec![*v])
                    .unwrap_or_default(),
                "query" => query
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, vs)| vs.clone())
                    .unwrap_or_default(),
                // Headers and cookies are not recorded by the fakes.
                _ => continue,
            };
            let location = format!("{} parameter `{}`", p.location, p.name);
            if values.is_empty() {
                if p.required {
                    errors.push(format!("{key}: {location} is required but missing"));
                }
                continue;
            }
            let parsed = match p.shape {
                Shape::Scalar(prim) => {
                    if values.len() > 1 {
                        errors.push(format!(
                            "{key}: {location} is not an array but was sent {} times",
                            values.len()
                        ));
                        continue;
                    }
                    parse_prim(prim, values[0]).map_err(|e| (String::new(), e))
                }
                Shape::Array(prim) => values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| parse_prim(prim, v).map_err(|e| (format!("/{i}"), e)))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
            };
            match parsed {
                Ok(value) => {
                    let location = format!("{location} (sent {})", values.join("&"));
                    schema_errors(&p.validator, &value, key, &location, errors);
                }
                Err((ptr, e)) => errors.push(format!("{key}: {location} at {ptr:?}: {e}")),
            }
        }
        // Request body.
        match (&op.body, ex.body) {
            (Some(body), Some(value)) => {
                let location = format!("request body ({})", body.content_type);
                schema_errors(&body.validator, value, key, &location, errors);
            }
            (Some(body), None) => errors.push(format!(
                "{key}: request body is missing (expected {})",
                body.content_type
            )),
            (None, Some(_)) => errors.push(format!(
                "{key}: request body sent, but the operation takes none"
            )),
            (None, None) => {}
        }
    }

    fn operation(&self, doc: &Value, key: &str, op: &Value) -> Result<Operation, String> {
        let (method, route) = key
            .split_once(' ')
            .ok_or_else(|| format!("operation key {key:?} is not \"METHOD /route\""))?;
        if method != method.to_ascii_uppercase() || !route.starts_with('/') {
            return Err(format!("operation key {key:?} is not \"METHOD /route\""));
        }
        let mut params = Vec::new();
        if let Some(ps) = op.get("parameters") {
            let ps = ps
                .as_object()
                .ok_or_else(|| format!("{key}: `parameters` is not an object keyed by name"))?;
            for (name, p) in ps {
                let location = p
                    .get("in")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{key}: parameter `{name}` has no `in`"))?;
                let required = p.get("required").and_then(Value::as_bool).ok_or_else(|| {
                    format!("{key}: parameter `{name}` has no boolean `required`")
                })?;
                let schema = p
                    .get("schema")
                    .ok_or_else(|| format!("{key}: parameter `{name}` has no `schema`"))?;
                if location == "path" {
                    if !required {
                        return Err(format!("{key}: path parameter `{name}` must be required"));
                    }
                    if !route.contains(&format!("{{{name}}}")) {
                        return Err(format!(
                            "{key}: path parameter `{name}` is not in the route"
                        ));
                    }
                }
                let shape = param_shape(doc, schema)
                    .map_err(|e| format!("{key}: parameter `{name}`: {e}"))?;
                params.push(Param {
                    name: name.clone(),
                    location: location.to_string(),
                    required,
                    shape,
                    validator: self
                        .compile(schema)
                        .map_err(|e| format!("{key}: {name}: {e}"))?,
                });
            }
        }
        for seg in route.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if !params
                    .iter()
                    .any(|p| p.location == "path" && p.name == name)
                {
                    return Err(format!("{key}: route placeholder `{name}` is not declared"));
                }
            }
        }
        let body = match op.get("requestBody") {
            None => None,
            Some(b) => Some(Body {
                content_type: b
                    .get("contentType")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{key}: requestBody has no `contentType`"))?
                    .to_string(),
                validator: self
                    .compile(
                        b.get("schema")
                            .ok_or_else(|| format!("{key}: requestBody has no `schema`"))?,
                    )
                    .map_err(|e| format!("{key}: requestBody: {e}"))?,
            }),
        };
        let mut responses = BTreeMap::new();
        let rs = op
            .get("responses")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{key}: no `responses` object"))?;
        for (status, r) in rs {
            let code: u16 = status
                .parse()
                .map_err(|_| format!("{key}: response status {status:?} is not a number"))?;
            let content_type = r
                .get("contentType")
                .and_then(Value::as_str)
                .map(str::to_string);
            let validator = match (&content_type, r.get("schema")) {
                (Some(_), Some(s)) => Some(
                    self.compile(s)
                        .map_err(|e| format!("{key}: response {status}: {e}"))?,
                ),
                (Some(_), None) => {
                    return Err(format!(
                        "{key}: response {status} has a contentType but no schema"
                    ))
                }
                (None, Some(_)) => {
                    return Err(format!(
                        "{key}: response {status} has a schema but no contentType"
                    ))
                }
                (None, None) => None,
            };
            responses.insert(
                code,
                Response {
                    content_type,
                    validator,
                },
            );
        }
        Ok(Operation {
            key: key.to_string(),
            params,
            body,
            responses,
        })
    }

    /// Compiles a contract schema (refs `#/schemas/X`) once; later calls share the validator.
    fn compile(&self, schema: &Value) -> Result<Arc<Validator>, String> {
        let lowered = lower(schema);
        let cache_key = lowered.to_string();
        let mut cache = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(&cache_key) {
            return Ok(v.clone());
        }
        let mut root = match lowered {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("allOf".into(), json!([other]));
                m
            }
        };
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("$defs".into(), self.defs.clone());
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|e| format!("schema {schema} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(cache_key, validator.clone());
        Ok(validator)
    }
}

fn response_errors(op: &Operation, ex: &Exchange<'_>, errors: &mut Vec<String>) {
    let key = &op.key;
    let Some(declared) = op.responses.get(&ex.status) else {
        let known: Vec<String> = op.responses.keys().map(u16::to_string).collect();
        errors.push(format!(
            "{key}: response status {} is not declared (declared: {})",
            ex.status,
            known.join(", ")
        ));
        return;
    };
    let location = format!("response {}", ex.status);
    let actual = ex.content_type.map(media_type);
    match (&declared.content_type, &actual) {
        (Some(want), Some(got)) if !want.eq_ignore_ascii_case(got) => {
            // The declared schema is for another media type: nothing more to compare.
            errors.push(format!(
                "{key}: {location} content type is {got}, the contract says {want}"
            ));
            return;
        }
        (Some(want), None) => errors.push(format!(
            "{key}: {location} has no content type, the contract says {want}"
        )),
        (None, _) if ex.response.is_some() || ex.malformed => errors.push(format!(
            "{key}: {location} has a body, the contract says it has none"
        )),
        _ => {}
    }
    if ex.malformed {
        // A deliberately broken body: the client must fail on it, there is nothing to validate.
        return;
    }
    let (Some(want), Some(validator)) = (&declared.content_type, &declared.validator) else {
        return;
    };
    match ex.response {
        Some(value) => schema_errors(validator, value, key, &format!("{location} body"), errors),
        None if is_json(want) => errors.push(format!(
            "{key}: {location} body is missing or not JSON (contract: {want})"
        )),
        None => {}
    }
}

fn op_key(method: &str, route: &str) -> String {
    format!("{} {route}", method.to_ascii_uppercase())
}

fn into_result(errors: Vec<String>) -> Result<(), Vec<String>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `application/json; charset=utf-8` → `application/json`.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Rewrites a contract schema for validation: `#/schemas/X` → `#/$defs/X`, and integers with
/// `format: int32` get the int32 bounds (JSON Schema formats only constrain strings).
fn lower(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let r = match r.strip_prefix("#/schemas/") {
                            Some(name) => format!("#/$defs/{name}"),
                            None => r.clone(),
                        };
                        out.insert(k.clone(), Value::String(r));
                    }
                    _ => {
                        out.insert(k.clone(), lower(v));
                    }
                }
            }
            let is_integer = match m.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if is_integer && m.get("format").and_then(Value::as_str) == Some("int32") {
                out.entry("minimum").or_insert(json!(i32::MIN));
                out.entry("maximum").or_insert(json!(i32::MAX));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(lower).collect()),
        other => other.clone(),
    }
}

/// Follows `#/schemas/…` refs inside the contract.
fn resolve<'d>(doc: &'d Value, mut schema: &'d Value) -> Result<&'d Value, String> {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            None => return Ok(schema),
            Some(r) => {
                schema = r
                    .strip_prefix('#')
                    .and_then(|p| doc.pointer(p))
                    .ok_or_else(|| format!("unresolvable $ref {r:?}"))?;
            }
        }
    }
    Err("$ref chain too long".into())
}

fn prim_of(doc: &Value, schema: &Value) -> Result<(Option<String>, Prim), String> {
    let schema = resolve(doc, schema)?;
    let ty = match schema.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_string),
        _ => None,
    };
    let prim = match ty.as_deref() {
        Some("integer") => Prim::Integer,
        Some("number") => Prim::Number,
        Some("boolean") => Prim::Boolean,
        Some("string") | None => Prim::String,
        Some("array") => Prim::String,
        Some(other) => return Err(format!("type {other} cannot be sent in a path or query")),
    };
    Ok((ty, prim))
}

fn param_shape(doc: &Value, schema: &Value) -> Result<Shape, String> {
    let (ty, prim) = prim_of(doc, schema)?;
    if ty.as_deref() == Some("array") {
        let items = resolve(doc, schema)?
            .get("items")
            .ok_or("array parameter without `items`")?;
        let (item_ty, item) = prim_of(doc, items)?;
        if item_ty.as_deref() == Some("array") {
            return Err("nested arrays cannot be sent as parameters".into());
        }
        Ok(Shape::Array(item))
    } else {
        Ok(Shape::Scalar(prim))
    }
}

fn parse_prim(prim: Prim, raw: &str) -> Result<Value, String> {
    match prim {
        Prim::String => Ok(Value::String(raw.to_string())),
        Prim::Integer => raw
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{raw:?} is not an integer")),
        Prim::Number => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{raw:?} is not a number")),
        Prim::Boolean => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{raw:?} is not a boolean (true or false)")),
        },
    }
}

/// Runs a validator and turns each error into "`op`: `location` at `pointer`: message".
fn schema_errors(
    validator: &Validator,
    value: &Value,
    op: &str,
    location: &str,
    errors: &mut Vec<String>,
) {
    for e in validator.iter_errors(value) {
        errors.push(format!(
            "{op}: {location} at {:?}: {}",
            e.instance_path().as_str(),
            describe(&e)
        ));
    }
}

fn describe(e: &ValidationError<'_>) -> String {
    match e.kind() {
        ValidationErrorKind::OneOfNotValid { context }
        | ValidationErrorKind::OneOfMultipleValid { context }
        | ValidationErrorKind::AnyOf { context } => {
            let branches: Vec<String> = context
                .iter()
                .enumerate()
                .map(|(i, errs)| {
                    let first: Vec<String> = errs
                        .iter()
                        .take(3)
                        .map(|s| {
                            format!(
                                "{:?}: {}",
                                s.instance_path().as_str(),
                                shorten(&s.to_string())
                            )
                        })
                        .collect();
                    if first.is_empty() {
                        format!("branch {i}: valid")
                    } else {
                        format!("branch {i}: {}", first.join("; "))
                    }
                })
                .collect();
            format!("{} [{}]", e.masked(), branches.join(" | "))
        }
        ValidationErrorKind::Enum { options } => {
            shorten(&format!("{} is not one of {options}", e.instance()))
        }
        _ => shorten(&e.to_string()),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX_MESSAGE).collect();
        format!("{cut}…")
    }
}

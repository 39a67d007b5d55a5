//! Drift check: does a contract file (`tests/contract/*.contract.json`) still say what the
//! official OpenAPI 3 document says, for everything the contract declares?
//!
//! Compared, for every operation the contract declares: the path and method exist; each declared
//! parameter exists with the same `in`, required-ness and schema; the official operation has no
//! required parameter the contract lacks; the request body has the same content type and schema;
//! each declared response status exists with the same content type and schema, and the official
//! operation declares no status the contract lacks. For every schema the contract declares:
//! the official model exists; each property exists with the same type, format, nullability,
//! enum, const, bounds, array items and `$ref` target; `required` agrees; properties the official
//! model requires are declared; a closed contract model (`additionalProperties: false`) declares
//! every official property; `additionalProperties` agrees.
//!
//! Nullability is compared by meaning: OpenAPI 3.0 `nullable: true`, a 3.1 / JSON Schema type
//! array with `"null"`, and a `oneOf`/`anyOf` with a `{"type": "null"}` branch are the same.
//! `allOf` members are merged (properties and `required`) before comparing models; a single
//! `allOf: [{$ref}]` wrapper is the same as the `$ref`. Refs are compared by model name (the
//! last path segment), so `#/schemas/X` in the contract matches `#/components/schemas/X`.
//! `description`, `summary`, `example`, `readOnly` and `title` are not compared.
//!
//! Private-team twins: when the contract's `source.teamPrefix` is set (SOE: `/teams/{team}`),
//! every declared operation is compared a second time against the official
//! `{teamPrefix}{route}` (the bot sends the same request under a private team), where the
//! prefix's own path parameters (`team`) are expected and need no declaration. A twin that is
//! missing or differs is drift like any other, named `… (team twin /teams/{team}/…)`.
//!
//! Include it with `#[path = "support/contract_drift.rs"] mod contract_drift;` (from `tests/`)
//! or `#[path = "../tests/support/contract_drift.rs"]` (from `examples/`). Only serde_json.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The key of the contract section that the official document does not describe (not compared).
pub const OUTSIDE_KEY: &str = "outsideOpenApiDocument";

/// What a drift check compared and found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DriftReport {
    /// One line per difference. Empty: no drift.
    pub differences: Vec<String>,
    /// Operations compared.
    pub operations: usize,
    /// Private-team twins compared (see the module docs).
    pub team_twins: usize,
    /// Parameters compared.
    pub parameters: usize,
    /// Response statuses compared.
    pub responses: usize,
    /// Named schemas compared.
    pub schemas: usize,
    /// Model properties compared.
    pub properties: usize,
}

/// Every difference between the contract and the official document, for what the contract
/// declares. Empty when there is no drift.
pub fn drift(contract: &Value, official: &Value) -> Vec<String> {
    drift_report(contract, official).differences
}

/// As [`drift`], with counts of what was compared.
pub fn drift_report(contract: &Value, official: &Value) -> DriftReport {
    let mut d = Drift {
        contract: Doc { root: contract },
        official: Doc { root: official },
        report: DriftReport::default(),
    };
    d.run();
    d.report
}

#[derive(Clone, Copy)]
struct Doc<'a> {
    root: &'a Value,
}

impl<'a> Doc<'a> {
    /// Resolves a local `$ref` (`#/…`) to the value it points at.
    fn pointer(&self, r: &str) -> Option<&'a Value> {
        r.strip_prefix('#').and_then(|p| self.root.pointer(p))
    }

    /// Follows `$ref`s (of parameters, bodies, responses) to the object they name.
    fn deref(&self, mut v: &'a Value) -> Option<&'a Value> {
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => v = self.pointer(r)?,
                None => return Some(v),
            }
        }
        None
    }
}

struct Drift<'a> {
    contract: Doc<'a>,
    official: Doc<'a>,
    report: DriftReport,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Bounds compared on both sides when either declares them.
const BOUNDS: [&str; 9] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
];

impl<'a> Drift<'a> {
    fn diff(&mut self, s: String) {
        self.report.differences.push(s);
    }

    fn run(&mut self) {
        let contract = self.contract.root;
        match contract.get("operations").and_then(Value::as_object) {
            Some(ops) => {
                for (key, op) in ops {
                    self.operation(key, op);
                }
            }
            None => self.diff("contract: no `operations` object".into()),
        }
        if let Some(schemas) = contract.get("schemas").and_then(Value::as_object) {
            for (name, schema) in schemas {
                self.named_schema(name, schema);
            }
        }
        self.dangling_refs();
    }

    fn operation(&mut self, key: &str, cop: &'a Value) {
        self.report.operations += 1;
        let Some((method, path)) = key.split_once(' ') else {
            self.diff(format!("{key}: contract key is not \"METHOD /path\""));
            return;
        };
        self.compare_operation(key, method, path, cop, &[]);
        let prefix = self
            .contract
            .root
            .pointer("/source/teamPrefix")
            .and_then(Value::as_str);
        if let Some(prefix) = prefix {
            self.report.team_twins += 1;
            let twin = format!("{}{path}", prefix.trim_end_matches('/'));
            let label = format!("{key} (team twin {twin})");
            let implicit = placeholders(prefix);
            self.compare_operation(&label, method, &twin, cop, &implicit);
        }
    }

    /// Compares the contract's operation `cop` with the official `method path`. `implicit`
    /// names path parameters the official operation may require without the contract
    /// declaring them (a team twin's `team`).
    fn compare_operation(
        &mut self,
        key: &str,
        method: &str,
        path: &str,
        cop: &'a Value,
        implicit: &[String],
    ) {
        let Some(item) = self.official.root.get("paths").and_then(|p| p.get(path)) else {
            self.diff(format!(
                "{key}: path {path} is not in the official document"
            ));
            return;
        };
        let Some(item) = self.official.deref(item) else {
            self.diff(format!("{key}: path item $ref does not resolve"));
            return;
        };
        let lower = method.to_ascii_lowercase();
        if !METHODS.contains(&lower.as_str()) {
            self.diff(format!("{key}: {method} is not an HTTP method"));
            return;
        }
        let Some(oop) = item.get(&lower) else {
            self.diff(format!(
                "{key}: the official document has no {method} on {path}"
            ));
            return;
        };
        let cdep = cop
            .get("deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let odep = oop
            .get("deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if cdep != odep {
            self.diff(format!(
                "{key}: deprecated is {cdep} in the contract, {odep} officially"
            ));
        }
        self.parameters(key, cop, item, oop, implicit);
        self.request_body(key, cop, oop);
        self.responses(key, cop, oop);
    }

    fn parameters(
        &mut self,
        key: &str,
        cop: &'a Value,
        item: &'a Value,
        oop: &'a Value,
        implicit: &[String],
    ) {
        // Official parameters: path-item level, overridden by operation level (same name + in).
        let mut official: Vec<&'a Value> = Vec::new();
        for list in [item.get("parameters"), oop.get("parameters")]
            .into_iter()
            .flatten()
        {
            for p in list.as_array().into_iter().flatten() {
                let Some(p) = self.official.deref(p) else {
                    self.diff(format!(
                        "{key}: an official parameter $ref does not resolve"
                    ));
                    continue;
                };
                official
                    .retain(|q| !(q.get("name") == p.get("name") && q.get("in") == p.get("in")));
                official.push(p);
            }
        }
        let declared = cop
            .get("parameters")
            .and_then(Value::as_object)
            .unwrap_or(empty());
        for (name, cp) in declared {
            self.report.parameters += 1;
            let ctx = format!("{key}: parameter `{name}`");
            let cin = cp.get("in").and_then(Value::as_str).unwrap_or("?");
            let candidates: Vec<&&Value> = official
                .iter()
                .filter(|p| p.get("name").and_then(Value::as_str) == Some(name))
                .collect();
            let op = candidates
                .iter()
                .find(|p| p.get("in").and_then(Value::as_str) == Some(cin))
                .or(candidates.first());
            let Some(op) = op else {
                self.diff(format!("{ctx}: not in the official document"));
                continue;
            };
            let oin = op.get("in").and_then(Value::as_str).unwrap_or("?");
            if cin != oin {
                self.diff(format!(
                    "{ctx}: in {cin} in the contract, in {oin} officially"
                ));
            }
            let creq = cp.get("required").and_then(Value::as_bool).unwrap_or(false);
            let oreq = op.get("required").and_then(Value::as_bool).unwrap_or(false);
            if creq != oreq {
                self.diff(format!(
                    "{ctx}: required is {creq} in the contract, {oreq} officially"
                ));
            }
            match (cp.get("schema"), op.get("schema")) {
                (Some(cs), Some(os)) => self.schema(&ctx, cs, os),
                (None, None) => {}
                (Some(_), None) => self.diff(format!("{ctx}: no schema officially")),
                (None, Some(_)) => self.diff(format!("{ctx}: no schema in the contract")),
            }
        }
        for op in &official {
            let name = op.get("name").and_then(Value::as_str).unwrap_or("?");
            let oin = op.get("in").and_then(Value::as_str).unwrap_or("?");
            let required = op.get("required").and_then(Value::as_bool).unwrap_or(false);
            let implied = oin == "path" && implicit.iter().any(|p| p == name);
            if required && !declared.contains_key(name) && !implied {
                self.diff(format!(
                    "{key}: the official document requires {oin} parameter `{name}`, which the contract lacks"
                ));
            }
        }
    }

    fn request_body(&mut self, key: &str, cop: &'a Value, oop: &'a Value) {
        let obody = oop.get("requestBody").and_then(|b| self.official.deref(b));
        match (cop.get("requestBody"), obody) {
            (None, None) => {}
            (None, Some(ob)) => {
                if ob.get("required").and_then(Value::as_bool).unwrap_or(false) {
                    self.diff(format!(
                        "{key}: the official document requires a request body, the contract has none"
                    ));
                }
            }
            (Some(_), None) => self.diff(format!(
                "{key}: the contract has a request body, the official document none"
            )),
            (Some(cb), Some(ob)) => {
                let ct = cb.get("contentType").and_then(Value::as_str).unwrap_or("?");
                match ob.get("content").and_then(|c| c.get(ct)) {
                    None => self.diff(format!(
                        "{key}: request body content type {ct} is not offered officially (offered: {})",
                        keys(ob.get("content"))
                    )),
                    Some(media) => {
                        let ctx = format!("{key}: request body");
                        match (cb.get("schema"), media.get("schema")) {
                            (Some(cs), Some(os)) => self.schema(&ctx, cs, os),
                            (None, None) => {}
                            _ => self.diff(format!("{ctx}: schema present on one side only")),
                        }
                    }
                }
            }
        }
    }

    fn responses(&mut self, key: &str, cop: &'a Value, oop: &'a Value) {
        let cresps = cop
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(empty());
        let oresps = oop
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(empty());
        for (status, cr) in cresps {
            self.report.responses += 1;
            let ctx = format!("{key}: response {status}");
            let Some(or) = oresps.get(status).and_then(|r| self.official.deref(r)) else {
                self.diff(format!("{ctx}: status not declared officially"));
                continue;
            };
            let ocontent = or
                .get("content")
                .and_then(Value::as_object)
                .filter(|c| !c.is_empty());
            match (cr.get("contentType").and_then(Value::as_str), ocontent) {
                (None, None) => {}
                (None, Some(c)) => self.diff(format!(
                    "{ctx}: the contract says no body, officially {}",
                    c.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
                (Some(ct), None) => {
                    self.diff(format!("{ctx}: the contract says {ct}, officially no body"))
                }
                (Some(ct), Some(c)) => match c.get(ct) {
                    None => self.diff(format!(
                        "{ctx}: content type {ct} in the contract, officially {}",
                        c.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                    Some(media) => match (cr.get("schema"), media.get("schema")) {
                        (Some(cs), Some(os)) => self.schema(&ctx, cs, os),
                        (None, None) => {}
                        (Some(_), None) => self.diff(format!("{ctx}: no schema officially")),
                        (None, Some(_)) => self.diff(format!("{ctx}: no schema in the contract")),
                    },
                },
            }
        }
        for status in oresps.keys() {
            if !cresps.contains_key(status) {
                self.diff(format!(
                    "{key}: the official document declares response {status}, which the contract lacks"
                ));
            }
        }
    }

    fn named_schema(&mut self, name: &str, cs: &'a Value) {
        self.report.schemas += 1;
        let ctx = format!("schema {name}");
        let Some(os) = self
            .official
            .root
            .pointer("/components/schemas")
            .and_then(|s| s.get(name))
        else {
            self.diff(format!(
                "{ctx}: no such model in the official components/schemas"
            ));
            return;
        };
        self.schema(&ctx, cs, os);
    }

    /// Compares two schemas by meaning (see the module docs).
    fn schema(&mut self, ctx: &str, cs: &'a Value, os: &'a Value) {
        let c = Norm::of(self.contract, cs);
        let o = Norm::of(self.official, os);
        if c.nullable != o.nullable {
            self.diff(format!(
                "{ctx}: nullable is {} in the contract, {} officially",
                c.nullable, o.nullable
            ));
        }
        if c.reference.is_some() || o.reference.is_some() {
            if c.reference != o.reference {
                self.diff(format!(
                    "{ctx}: refers to {} in the contract, {} officially",
                    show_ref(&c.reference),
                    show_ref(&o.reference)
                ));
            }
            // Named models are compared on their own.
            return;
        }
        if c.types != o.types {
            self.diff(format!(
                "{ctx}: type {} in the contract, {} officially",
                show_set(&c.types),
                show_set(&o.types)
            ));
        }
        if c.format != o.format {
            self.diff(format!(
                "{ctx}: format {} in the contract, {} officially",
                c.format.as_deref().unwrap_or("(none)"),
                o.format.as_deref().unwrap_or("(none)")
            ));
        }
        if c.enumeration != o.enumeration {
            let cset = c.enumeration.clone().unwrap_or_default();
            let oset = o.enumeration.clone().unwrap_or_default();
            let missing: Vec<&String> = oset.difference(&cset).collect();
            let extra: Vec<&String> = cset.difference(&oset).collect();
            self.diff(format!(
                "{ctx}: enum differs (contract {}, official {}; official only: {}; contract only: {})",
                show_opt_set(&c.enumeration),
                show_opt_set(&o.enumeration),
                join(&missing),
                join(&extra)
            ));
        }
        if c.constant != o.constant {
            self.diff(format!(
                "{ctx}: const {} in the contract, {} officially",
                c.constant.as_deref().unwrap_or("(none)"),
                o.constant.as_deref().unwrap_or("(none)")
            ));
        }
        for b in BOUNDS {
            if c.bounds.get(b) != o.bounds.get(b) {
                self.diff(format!(
                    "{ctx}: {b} {} in the contract, {} officially",
                    c.bounds.get(b).map_or("(none)", String::as_str),
                    o.bounds.get(b).map_or("(none)", String::as_str)
                ));
            }
        }
        // `pattern` only constrains strings (the SOE document puts one on an integer).
        let strings = c.types.contains("string") || o.types.contains("string");
        if strings && c.pattern != o.pattern {
            self.diff(format!(
                "{ctx}: pattern {} in the contract, {} officially",
                c.pattern.as_deref().unwrap_or("(none)"),
                o.pattern.as_deref().unwrap_or("(none)")
            ));
        }
        match (c.items, o.items) {
            (Some(ci), Some(oi)) => self.schema(&format!("{ctx} items"), ci, oi),
            (None, None) => {}
            (Some(_), None) => self.diff(format!("{ctx}: items declared in the contract only")),
            (None, Some(_)) => self.diff(format!("{ctx}: items declared officially only")),
        }
        self.alternatives(ctx, &c.alternatives, &o.alternatives);
        let object = c.types.contains("object")
            || o.types.contains("object")
            || !c.properties.is_empty()
            || !o.properties.is_empty();
        if object {
            self.object(ctx, &c, &o);
        }
    }

    fn alternatives(&mut self, ctx: &str, c: &[&'a Value], o: &[&'a Value]) {
        if c.is_empty() && o.is_empty() {
            return;
        }
        let cn: Vec<Norm> = c.iter().map(|s| Norm::of(self.contract, s)).collect();
        let on: Vec<Norm> = o.iter().map(|s| Norm::of(self.official, s)).collect();
        let all_refs = cn.iter().chain(&on).all(|n| n.reference.is_some());
        if all_refs {
            let cs: BTreeSet<String> = cn.iter().filter_map(|n| n.reference.clone()).collect();
            let os: BTreeSet<String> = on.iter().filter_map(|n| n.reference.clone()).collect();
            if cs != os {
                self.diff(format!(
                    "{ctx}: one of {} in the contract, {} officially",
                    show_set(&cs),
                    show_set(&os)
                ));
            }
        } else if c.len() != o.len() {
            self.diff(format!(
                "{ctx}: {} alternatives in the contract, {} officially",
                c.len(),
                o.len()
            ));
        } else {
            for (i, (cs, os)) in c.iter().zip(o).enumerate() {
                self.schema(&format!("{ctx} alternative {i}"), cs, os);
            }
        }
    }

    fn object(&mut self, ctx: &str, c: &Norm<'a>, o: &Norm<'a>) {
        for (name, cp) in &c.properties {
            self.report.properties += 1;
            let pctx = format!("{ctx} property `{name}`");
            match o.properties.get(name) {
                None => self.diff(format!("{pctx}: not in the official model")),
                Some(op) => self.schema(&pctx, cp, op),
            }
            let creq = c.required.contains(name);
            let oreq = o.required.contains(name);
            if creq != oreq {
                self.diff(format!(
                    "{pctx}: required is {creq} in the contract, {oreq} officially"
                ));
            }
        }
        for name in &o.required {
            if !c.properties.contains_key(name) {
                self.diff(format!(
                    "{ctx}: the official model requires property `{name}`, which the contract lacks"
                ));
            }
        }
        for name in &c.required {
            if !c.properties.contains_key(name) && !o.required.contains(name) {
                self.diff(format!(
                    "{ctx}: the contract requires undeclared property `{name}`"
                ));
            }
        }
        if c.closed == Some(true) {
            for name in o.properties.keys() {
                if !c.properties.contains_key(name) {
                    self.diff(format!(
                        "{ctx}: official property `{name}` is missing from the contract, whose model is closed (additionalProperties: false)"
                    ));
                }
            }
        }
        let cclosed = c.closed.unwrap_or(false);
        let oclosed = o.closed.unwrap_or(false);
        if cclosed != oclosed {
            self.diff(format!(
                "{ctx}: additionalProperties is {} in the contract, {} officially",
                !cclosed, !oclosed
            ));
        }
    }

    /// Contract refs must name a schema the contract declares.
    fn dangling_refs(&mut self) {
        let mut refs = BTreeSet::new();
        collect_refs(self.contract.root, &mut refs);
        for r in refs {
            if self.contract.pointer(&r).is_none() {
                self.diff(format!(
                    "contract: $ref {r} does not resolve inside the contract"
                ));
            }
        }
    }
}

/// The `{placeholders}` of a path template (`/teams/{team}` → `team`).
fn placeholders(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// An empty object, for absent `parameters` / `responses`.
fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(r) = x.as_str() {
                        out.insert(r.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A schema reduced to what the drift check compares.
#[derive(Debug, Default)]
struct Norm<'a> {
    reference: Option<String>,
    types: BTreeSet<String>,
    nullable: bool,
    format: Option<String>,
    enumeration: Option<BTreeSet<String>>,
    constant: Option<String>,
    pattern: Option<String>,
    bounds: BTreeMap<&'static str, String>,
    items: Option<&'a Value>,
    /// `oneOf`/`anyOf` branches (without a `null` branch).
    alternatives: Vec<&'a Value>,
    /// Properties after merging `allOf` members.
    properties: BTreeMap<String, &'a Value>,
    required: BTreeSet<String>,
    /// `Some(true)`: `additionalProperties: false`; `Some(false)`: open; `None`: unsaid.
    closed: Option<bool>,
}

impl<'a> Norm<'a> {
    fn of(doc: Doc<'a>, s: &'a Value) -> Norm<'a> {
        let mut n = Norm::default();
        n.absorb(doc, s, 0);
        n
    }

    fn absorb(&mut self, doc: Doc<'a>, s: &'a Value, depth: usize) {
        let Some(m) = s.as_object() else {
            return;
        };
        if depth > 16 {
            return;
        }
        if m.get("nullable").and_then(Value::as_bool) == Some(true) {
            self.nullable = true;
        }
        if let Some(r) = m.get("$ref").and_then(Value::as_str) {
            self.reference = Some(r.rsplit('/').next().unwrap_or(r).to_string());
        }
        match m.get("type") {
            Some(Value::String(t)) => self.add_type(t),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .for_each(|t| self.add_type(t)),
            _ => {}
        }
        if let Some(f) = m.get("format").and_then(Value::as_str) {
            self.format = Some(f.to_string());
        }
        if let Some(e) = m.get("enum").and_then(Value::as_array) {
            let mut set = BTreeSet::new();
            for v in e {
                if v.is_null() {
                    self.nullable = true;
                } else {
                    set.insert(v.to_string());
                }
            }
            self.enumeration = Some(set);
        }
        if let Some(c) = m.get("const") {
            if c.is_null() {
                self.nullable = true;
            } else {
                self.constant = Some(c.to_string());
            }
        }
        if let Some(p) = m.get("pattern").and_then(Value::as_str) {
            self.pattern = Some(p.to_string());
        }
        for b in BOUNDS {
            if let Some(v) = m.get(b) {
                self.bounds.insert(b, v.to_string());
            }
        }
        if let Some(items) = m.get("items") {
            self.items = Some(items);
        }
        for key in ["oneOf", "anyOf"] {
            let Some(alts) = m.get(key).and_then(Value::as_array) else {
                continue;
            };
            let non_null: Vec<&'a Value> = alts.iter().filter(|a| !is_null_schema(a)).collect();
            if non_null.len() < alts.len() {
                self.nullable = true;
            }
            if non_null.len() == 1 && non_null.len() < alts.len() {
                // `oneOf: [X, {type: null}]`: a nullable X.
                self.absorb(doc, non_null[0], depth + 1);
            } else {
                self.alternatives.extend(non_null);
            }
        }
        if let Some(all) = m.get("allOf").and_then(Value::as_array) {
            let has_own_shape = m.contains_key("properties") || m.contains_key("type");
            for member in all {
                if !has_own_shape && all.len() == 1 {
                    // `allOf: [{$ref}]` (+ nullable, description): the same as the ref.
                    self.absorb(doc, member, depth + 1);
                } else {
                    // A base model: merge its properties (following its ref).
                    let target = doc.deref(member).unwrap_or(member);
                    let base = Norm::of_object(doc, target, depth + 1);
                    self.properties.extend(base.properties);
                    self.required.extend(base.required);
                    if !self.types.contains("object") && base.types.contains("object") {
                        self.types.insert("object".into());
                    }
                }
            }
        }
        if let Some(props) = m.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                self.properties.insert(k.clone(), v);
            }
        }
        if let Some(req) = m.get("required").and_then(Value::as_array) {
            self.required
                .extend(req.iter().filter_map(Value::as_str).map(str::to_string));
        }
        match m.get("additionalProperties") {
            Some(Value::Bool(false)) => self.closed = Some(true),
            Some(_) => self.closed = Some(false),
            None => {}
        }
    }

    /// A base model's properties, following nested `allOf`s.
    fn of_object(doc: Doc<'a>, s: &'a Value, depth: usize) -> Norm<'a> {
        let mut n = Norm::default();
        n.absorb(doc, s, depth);
        n.reference = None;
        n
    }

    fn add_type(&mut self, t: &str) {
        if t == "null" {
            self.nullable = true;
        } else {
            self.types.insert(t.to_string());
        }
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        || v.get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.len() == 1 && e[0].is_null())
        || v.get("const").is_some_and(Value::is_null)
}

fn keys(v: Option<&Value>) -> String {
    v.and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|| "(none)".into())
}

fn show_ref(r: &Option<String>) -> String {
    r.as_deref()
        .map_or("an inline schema".into(), |r| format!("model {r}"))
}

fn show_set(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        "(none)".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join("|")
    }
}

fn show_opt_set(s: &Option<BTreeSet<String>>) -> String {
    match s {
        None => "(none)".into(),
        Some(s) => format!("[{}]", s.iter().cloned().collect::<Vec<_>>().join(", ")),
    }
}

fn join(v: &[&String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

//! `rollback-drill schema`: the JSON Schema of a scenario file, saying what
//! the validator says wherever a JSON Schema can.
//!
//! The shape comes from the serde mirror (`schemars`); the rules the
//! mirror cannot carry are added here from the same tables the validator
//! reads: the fields each mechanism, fault kind and staging kind takes and
//! needs, the required top-level sections, exactly one of `below` and
//! `above`, the `${NAME}` syntax, plain `http://` URLs, one `execute` step,
//! percentages within 0% to 100%. What no JSON Schema can say (a route
//! named elsewhere in the file, weights summing to 100, the order of the
//! steps) stays the validator's; `tests/schema.rs` lists those cases.

use serde_json::{Map, Value, json};

use super::validate::{
    SET_MECHANISMS, fault_fields, mechanism_fields, mechanism_required, staging_fields,
};
use super::vocab::{Action, Decision, FaultKind, Mechanism, StagingKind};

/// The top-level sections a scenario cannot do without.
const REQUIRED: &[&str] = &[
    "change",
    "duration",
    "registry",
    "traffic",
    "release",
    "procedure",
];

/// Text that may hold `${NAME}` references, and nothing else after a `$`
/// and `{` but a whole reference.
const TEMPLATE: &str = r"^(?:[^$]|\$(?!\{)|\$\{[A-Za-z_][A-Za-z0-9_]*\})*$";

/// A URL template: plain `http://`, or a variable holding the whole URL.
const URL: &str = r"^(?=http://|\$\{)(?:[^$]|\$(?!\{)|\$\{[A-Za-z_][A-Za-z0-9_]*\})*$";

/// The longest name whose report file (`NAME.json`) a file system holds.
const MAX_NAME: u64 = 250;

/// The schema, as `rollback-drill schema` prints it.
pub fn schema() -> Value {
    let mut v = serde_json::to_value(schemars::schema_for!(super::raw::RawScenario))
        .expect("a schema serializes");
    let top = v.as_object_mut().expect("an object schema");
    top.insert("required".into(), json!(REQUIRED));
    if let Some(name) = top
        .get_mut("properties")
        .and_then(|p| p.get_mut("name"))
        .and_then(Value::as_object_mut)
    {
        name.insert("maxLength".into(), json!(MAX_NAME));
        name.insert("pattern".into(), json!(r"\S"));
    }
    if let Some(procedure) = top
        .get_mut("properties")
        .and_then(|p| p.get_mut("procedure"))
        .and_then(Value::as_object_mut)
    {
        procedure.insert(
            "contains".into(),
            json!({"type": "object", "required": ["execute"]}),
        );
        procedure.insert("minContains".into(), json!(1));
        procedure.insert("maxContains".into(), json!(1));
    }
    let defs = v
        .get_mut("$defs")
        .and_then(Value::as_object_mut)
        .expect("definitions");
    rules(defs);
    v
}

fn def<'a>(defs: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    defs.get_mut(name)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("the schema defines {name}"))
}

fn prop<'a>(
    defs: &'a mut Map<String, Value>,
    name: &str,
    field: &str,
) -> &'a mut Map<String, Value> {
    def(defs, name)
        .get_mut("properties")
        .and_then(|p| p.get_mut(field))
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{name} has {field}"))
}

fn all_of(defs: &mut Map<String, Value>, name: &str, rules: Vec<Value>) {
    let d = def(defs, name);
    let list = d.entry("allOf").or_insert_with(|| json!([]));
    list.as_array_mut().expect("allOf is a list").extend(rules);
}

/// `if tag = value then needs / forbids`: each variant's fields.
fn by_tag(tag: &str, value: &str, fields: &[&str], needs: &[&str], takes: &[&str]) -> Value {
    let forbid: Map<String, Value> = fields
        .iter()
        .filter(|f| !takes.contains(f) && **f != tag)
        .map(|f| ((*f).to_string(), Value::Bool(false)))
        .collect();
    json!({
        "if": {"properties": {tag: {"const": value}}, "required": [tag]},
        "then": {"required": needs, "properties": forbid}
    })
}

fn field_names(defs: &mut Map<String, Value>, name: &str) -> Vec<String> {
    def(defs, name)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn rules(defs: &mut Map<String, Value>) {
    // Percentages within 0% to 100%, digits with an optional decimal part.
    def(defs, "Percentage").insert(
        "pattern".into(),
        json!(r"^0*(?:100(?:\.0+)?|[0-9]{1,2}(?:\.[0-9]+)?)%$"),
    );
    prop(defs, "RawCandidate", "weight").insert("maximum".into(), json!(100));

    // Exactly one of `below` and `above`.
    let one_bound = json!({"oneOf": [
        {"required": ["below"], "not": {"required": ["above"]}},
        {"required": ["above"], "not": {"required": ["below"]}}
    ]});
    for name in ["RawVerify", "RawWaitFor", "RawCondition"] {
        all_of(defs, name, vec![one_bound.clone()]);
    }
    def(defs, "RawWaitFor").insert("required".into(), json!(["prometheus"]));
    all_of(
        defs,
        "RawRelease",
        vec![json!({"not": {"required": ["weight", "steps"]}})],
    );

    let fields = field_names(defs, "RawExecute");
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let per: Vec<Value> = Mechanism::ALL
        .iter()
        .map(|&m| {
            let needs: Vec<&str> = mechanism_required(m).iter().map(|(f, _)| *f).collect();
            by_tag(
                "mechanism",
                m.as_str(),
                &fields,
                &needs,
                mechanism_fields(m),
            )
        })
        .collect();
    all_of(defs, "RawExecute", per);

    let fields = field_names(defs, "RawFault");
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let per: Vec<Value> = FaultKind::ALL
        .iter()
        .map(|&k| {
            let f = fault_fields(k);
            by_tag("kind", k.as_str(), &fields, f, f)
        })
        .collect();
    all_of(defs, "RawFault", per);

    let fields = field_names(defs, "RawStaging");
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let mut per: Vec<Value> = StagingKind::ALL
        .iter()
        .map(|&k| {
            let (takes, needs) = staging_fields(k);
            by_tag("kind", k.as_str(), &fields, needs, takes)
        })
        .collect();
    // Without a kind, the built-in registry: no field of another kind.
    let builtin: Map<String, Value> = fields
        .iter()
        .filter(|f| **f != "kind")
        .map(|f| ((*f).to_string(), Value::Bool(false)))
        .collect();
    per.push(json!({"if": {"not": {"required": ["kind"]}}, "then": {"properties": builtin}}));
    per.push(json!({
        "if": {"properties": {"kind": {"const": StagingKind::Mlflow.as_str()}}, "required": ["kind"]},
        "then": {"oneOf": [{"required": ["model"]}, {"required": ["prompt"]}]}
    }));
    all_of(defs, "RawStaging", per);

    all_of(
        defs,
        "RawTrigger",
        vec![json!({
            "if": {"properties": {"action": {"const": Action::Observe.as_str()}}},
            "then": {"required": ["observe_for"]},
            "else": {"properties": {"observe_for": false}}
        })],
    );
    all_of(
        defs,
        "RawResponder",
        vec![json!({
            "if": {"properties": {"decision": {"const": Decision::RollForward.as_str()}}, "required": ["decision"]},
            "then": {"required": ["roll_forward"]}
        })],
    );

    // One route of a release set rolls back by a switch.
    let switches: Vec<&str> = SET_MECHANISMS.iter().map(|m| m.as_str()).collect();
    prop(defs, "RawChange", "mechanism").insert(
        "anyOf".into(),
        json!([{"enum": switches}, {"type": "null"}]),
    );

    // `${NAME}` syntax, and plain http:// where a URL is asked for.
    for (name, field) in [
        ("RawHttp", "url"),
        ("RawPrometheus", "url"),
        ("RawPromQuery", "url"),
        ("RawStaging", "url"),
        ("RawStaging", "proxy"),
    ] {
        prop(defs, name, field).insert("pattern".into(), json!(URL));
    }
    for (name, field) in [
        ("RawHttp", "body"),
        ("RawExec", "command"),
        ("RawStaging", "key"),
    ] {
        prop(defs, name, field).insert("pattern".into(), json!(TEMPLATE));
    }
    for (name, field) in [("RawHttp", "headers"), ("RawPrometheus", "headers")] {
        prop(defs, name, field).insert(
            "additionalProperties".into(),
            json!({"type": "string", "pattern": TEMPLATE}),
        );
    }
    // One query per known metric, each selecting the version judged.
    let queries = prop(defs, "RawPrometheus", "queries");
    if let Some(per) = queries.get_mut("properties").and_then(Value::as_object_mut) {
        for q in per.values_mut() {
            q["pattern"] = json!(r"\{version\}");
        }
    }
    queries.insert("additionalProperties".into(), Value::Bool(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_land_where_the_validator_has_them() {
        let s = schema();
        assert_eq!(s["required"], json!(REQUIRED));
        let execute = &s["$defs"]["RawExecute"]["allOf"];
        let redeploy = execute
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["if"]["properties"]["mechanism"]["const"] == "redeploy")
            .unwrap();
        assert_eq!(
            redeploy["then"]["required"],
            json!(["replicas", "per_replica"])
        );
        assert_eq!(redeploy["then"]["properties"]["stages"], json!(false));
        assert!(redeploy["then"]["properties"].get("surge").is_none());
        let pager = s["$defs"]["RawFault"]["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["if"]["properties"]["kind"]["const"] == "pager_down")
            .unwrap();
        assert_eq!(pager["then"]["required"], json!(["for"]));
        assert_eq!(pager["then"]["properties"]["ttl"], json!(false));
    }
}

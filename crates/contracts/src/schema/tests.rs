//! The registry against the source (every `impl Event` listed once) and every schema
//! against the JSON its type really reads and writes.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::{Money, Sku};

/// Every `(type name, event type)` that an `impl Event for X` in `src/` declares. The
/// folder is read at test time rather than through `include_str!` so that a payload in a
/// module added later is found too.
fn events_in_source() -> Vec<(String, String)> {
    fn visit(dir: &Path, found: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read the source folder")
            .map(|entry| entry.expect("a source folder entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                visit(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source file");
                let mut lines = text.lines().map(str::trim_start);
                while let Some(line) = lines.next() {
                    let Some(rest) = line.strip_prefix("impl Event for ") else {
                        continue;
                    };
                    let name = rest.trim_end_matches(" {").to_owned();
                    let event_type = lines
                        .find_map(|l| l.strip_prefix("const TYPE: &'static str = \""))
                        .and_then(|l| l.strip_suffix("\";"))
                        .unwrap_or_else(|| panic!("{name} in {} has no TYPE", path.display()));
                    found.push((name, event_type.to_owned()));
                }
            }
        }
    }
    let mut found = Vec::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    found
}

#[test]
fn every_event_in_the_source_is_registered_once() {
    let in_source = events_in_source();
    let registered: Vec<&str> = registry().iter().map(|e| e.event_type).collect();
    let unique: BTreeSet<&str> = registered.iter().copied().collect();
    assert_eq!(
        unique.len(),
        registered.len(),
        "an event type is listed twice"
    );
    let missing: Vec<String> = in_source
        .iter()
        .filter(|(_, event_type)| !unique.contains(event_type.as_str()))
        .map(|(name, event_type)| format!("{name} ({event_type})"))
        .collect();
    assert!(
        missing.is_empty(),
        "add these to `events!` in schema.rs: {}",
        missing.join(", ")
    );
    assert_eq!(
        in_source.len(),
        registered.len(),
        "`impl Event for` count in src/ and registry size differ"
    );
}

#[test]
fn event_types_are_named_service_aggregate_event_version() {
    for entry in registry() {
        let parts: Vec<&str> = entry.event_type.split('.').collect();
        let well_formed = parts.len() == 4
            && parts[..3]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            && parts[3]
                .strip_prefix('v')
                .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1));
        assert!(well_formed, "{}", entry.event_type);
    }
}

#[test]
fn schemas_are_draft_2020_12_and_titled_by_their_type() {
    for entry in registry() {
        assert_eq!(
            entry.schema["$schema"],
            json!("https://json-schema.org/draft/2020-12/schema"),
            "{}",
            entry.event_type
        );
        assert!(entry.schema["title"].is_string(), "{}", entry.event_type);
        assert_eq!(check_compatible(&entry.schema, &entry.schema), Ok(()));
    }
}

/// Follows `$ref`s (local to `root`) until a schema that is not one.
fn deref<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(target) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
    {
        schema = target;
    }
    schema
}

/// A value the schema accepts: with every property when `full`, else only the required
/// ones. Never `null` where something else is allowed, so a full sample that reads
/// back unchanged proves each property's name and type.
fn sample(root: &Value, schema: &Value, full: bool) -> Value {
    let schema = deref(root, schema);
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null);
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(branches) = schema[keyword].as_array() {
            let branch = branches
                .iter()
                .find(|b| deref(root, b)["type"] != json!("null"))
                .unwrap_or(&branches[0]);
            return sample(root, branch, full);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        // No type: anything goes (a `serde_json::Value`).
        _ => return json!({ "any": [1, "two", null] }),
    };
    match kind {
        "string" => json!("SKU-1.a_b"),
        "integer" => json!(7),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "array" => json!([sample(root, &schema["items"], full)]),
        "object" => {
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut object = serde_json::Map::new();
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                if full || required.contains(name.as_str()) {
                    object.insert(name.clone(), sample(root, property, full));
                }
            }
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

/// Where `value` does not fit `schema`: wrong types, values outside an enum, missing
/// required properties, and (stricter than JSON Schema, to prove the names match)
/// properties the schema does not name.
fn misfits(root: &Value, schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    let schema = deref(root, schema);
    if schema == &json!(true) {
        return;
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(branches) = schema[keyword].as_array() {
            let fits = branches.iter().any(|branch| {
                let mut inner = Vec::new();
                misfits(root, branch, value, path, &mut inner);
                inner.is_empty()
            });
            if !fits {
                found.push(format!("{path}: {value} fits no branch"));
            }
            return;
        }
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        found.push(format!("{path}: {value} is not {expected}"));
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        found.push(format!("{path}: {value} is not in the enum"));
    }
    let kinds: Vec<&str> = match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => return,
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let accepted = kinds.contains(&kind) || (kind == "integer" && kinds.contains(&"number"));
    if !accepted {
        found.push(format!("{path}: {kind} where {kinds:?} was expected"));
        return;
    }
    match value {
        Value::Array(items) => {
            for item in items {
                misfits(root, &schema["items"], item, &format!("{path}[]"), found);
            }
        }
        Value::Object(object) => {
            for name in schema["required"].as_array().into_iter().flatten() {
                if let Some(name) = name.as_str().filter(|n| !object.contains_key(*n)) {
                    found.push(format!("{path}.{name}: required but absent"));
                }
            }
            for (name, property) in object {
                let inner = format!("{path}.{name}");
                match schema["properties"].get(name) {
                    Some(property_schema) => {
                        misfits(root, property_schema, property, &inner, found)
                    }
                    None => found.push(format!("{inner}: not in the schema")),
                }
            }
        }
        _ => {}
    }
}

#[test]
fn every_schema_describes_the_json_its_type_reads_and_writes() {
    let schemas = registry();
    for (event_type, round_trip) in round_trips() {
        let schema = &schemas
            .iter()
            .find(|e| e.event_type == event_type)
            .expect("every round trip has a schema")
            .schema;

        // Everything the schema names, filled in: the type reads all of it and writes
        // back exactly the same, so names, types and enum values agree.
        let full = sample(schema, schema, true);
        let written = round_trip(full.clone())
            .unwrap_or_else(|e| panic!("{event_type}: the type refuses {full}: {e}"));
        assert_eq!(written, full, "{event_type}");

        // Only what the schema requires: the type needs nothing more, and what it
        // writes (with its defaults) fits the schema.
        let minimal = sample(schema, schema, false);
        let written = round_trip(minimal.clone())
            .unwrap_or_else(|e| panic!("{event_type}: the type refuses {minimal}: {e}"));
        let mut found = Vec::new();
        misfits(schema, schema, &written, "", &mut found);
        assert!(found.is_empty(), "{event_type}: {found:?}");
    }
}

#[test]
fn money_and_sku_schemas_match_their_json() {
    let generator = || SchemaSettings::draft2020_12().into_generator();
    let money = generator().into_root_schema_for::<Money>().to_value();
    let price = Money::price(1999, "usd").expect("a valid price");
    let mut found = Vec::new();
    let json = serde_json::to_value(&price).expect("money serializes");
    misfits(&money, &money, &json, "", &mut found);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(json, json!({ "amount": 1999, "currency": "USD" }));

    // A sku is written as its bare text; the schema says so and states its rules.
    let sku = generator().into_root_schema_for::<Sku>().to_value();
    let written = serde_json::to_value(Sku::try_from("SKU-1.a_b".to_owned()).expect("a sku"))
        .expect("a sku serializes");
    assert_eq!(written, json!("SKU-1.a_b"));
    misfits(&sku, &sku, &written, "", &mut found);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(sku["type"], json!("string"));
    assert_eq!(sku["minLength"], json!(1));
    assert_eq!(sku["maxLength"], json!(64));
    assert_eq!(sku["pattern"], json!("^[A-Za-z0-9._-]+$"));
}

#[test]
fn coordination_events_name_their_instance_or_service() {
    use crate::coordination::{
        ConfigUpdated, HealthChanged, ServiceDeregistered, ServiceRegistered,
    };

    let registered = ServiceRegistered {
        service: "ordering".into(),
        instance_id: "ordering-1".into(),
        address: "http://127.0.0.1:8084".into(),
        version: "0.1.0".into(),
    };
    assert_eq!(registered.subject(), "ordering-1");
    let gone = ServiceDeregistered {
        service: "ordering".into(),
        instance_id: "ordering-1".into(),
        address: "http://127.0.0.1:8084".into(),
        reason: "expired".into(),
    };
    assert_eq!(gone.subject(), "ordering-1");
    let health = HealthChanged {
        service: "ordering".into(),
        instance_id: "ordering-1".into(),
        address: "http://127.0.0.1:8084".into(),
        from: "up".into(),
        to: "down".into(),
    };
    assert_eq!(health.subject(), "ordering-1");
    let config = ConfigUpdated {
        service: "gateway".into(),
        version: 3,
        values: json!({ "rate_limits": { "public_per_minute": 100 } }),
        needs_restart: vec![],
    };
    assert_eq!(config.subject(), "gateway");
    assert_eq!(
        serde_json::to_value(&config).expect("config serializes"),
        json!({
            "service": "gateway",
            "version": 3,
            "values": { "rate_limits": { "public_per_minute": 100 } },
            "needs_restart": [],
        })
    );
}

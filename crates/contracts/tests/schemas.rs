//! The checked-in event schemas (`crates/contracts/schemas/<event_type>.json`) against
//! what the payload types generate today.
//!
//! These files are the published contract: a consumer written against one must keep
//! reading every later version. So a payload change that removes or retypes a field, or
//! requires a new one, fails here and needs a new `vN` event type instead; a compatible
//! change (a new optional field, a new enum value, a reworded doc comment) only needs the
//! files rewritten with `VISCOUNT_BLESS_SCHEMAS=1 cargo test -p contracts`, which refuses
//! to write an incompatible one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use contracts::schema::{EventSchema, check_compatible, registry};
use serde_json::Value;

const BLESS: &str = "VISCOUNT_BLESS_SCHEMAS=1 cargo test -p contracts";

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn file_of(event_type: &str) -> PathBuf {
    schemas_dir().join(format!("{event_type}.json"))
}

/// How a schema is checked in: pretty JSON, keys sorted, with a trailing newline.
fn pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(schema)).expect("a schema serializes");
    text.push('\n');
    text
}

/// `schema` with every object's keys in order, so the files stay byte-identical even if
/// another crate turns on serde_json's `preserve_order` in a workspace build.
fn sorted(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), sorted(&object[key])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn blessing() -> bool {
    std::env::var_os("VISCOUNT_BLESS_SCHEMAS").is_some_and(|v| v == "1")
}

/// Rewrites every checked-in schema that is missing or differs compatibly from the
/// generated one. An incompatible one is left alone: the test that compares them says
/// why. Each write goes through a rename, so a test reading the folder at the same time
/// sees the old file or the new one, never half of one.
fn bless(generated: &[EventSchema]) {
    std::fs::create_dir_all(schemas_dir()).expect("create the schemas folder");
    for entry in generated {
        let path = file_of(entry.event_type);
        let text = pretty(&entry.schema);
        if let Ok(current) = std::fs::read_to_string(&path) {
            if current == text {
                continue;
            }
            let compatible = serde_json::from_str::<Value>(&current)
                .is_ok_and(|old| check_compatible(&old, &entry.schema).is_ok());
            if !compatible {
                continue;
            }
        }
        let temporary = schemas_dir().join(format!(
            ".{}.json.{}.tmp",
            entry.event_type,
            std::process::id()
        ));
        std::fs::write(&temporary, text).expect("write a schema");
        std::fs::rename(&temporary, &path).expect("move a schema into place");
    }
}

/// The checked-in schemas by event type (blessed first when asked to).
fn checked_in() -> BTreeMap<String, String> {
    // Once per process: the tests of one process share its id in their temporary
    // file names (nextest's processes each have their own).
    static BLESSED: Once = Once::new();
    if blessing() {
        BLESSED.call_once(|| bless(&registry()));
    }
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(schemas_dir()).expect("read the schemas folder") {
        let path = entry.expect("a schemas folder entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if let Some(event_type) = name.strip_suffix(".json") {
            let text = std::fs::read_to_string(&path).expect("read a checked-in schema");
            files.insert(event_type.to_owned(), text);
        }
    }
    files
}

fn parse(event_type: &str, text: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("schemas/{event_type}.json is not JSON: {e}"))
}

#[test]
fn every_event_type_has_a_checked_in_schema_and_every_schema_an_event_type() {
    let files = checked_in();
    let generated = registry();
    let mut problems = Vec::new();
    for entry in &generated {
        if !files.contains_key(entry.event_type) {
            problems.push(format!(
                "{}: no checked-in schema; run `{BLESS}` to add {}",
                entry.event_type,
                file_of(entry.event_type).display()
            ));
        }
    }
    for event_type in files.keys() {
        if !generated.iter().any(|e| e.event_type == event_type) {
            // Never deleted by the bless path: events of a type that is gone can still
            // sit in streams and outboxes, and consumers may still read them.
            problems.push(format!(
                "{event_type}: checked in but no payload has this type; keep the payload \
                 (a new version is a new type beside it), or delete the file by hand if \
                 the type is retired for good"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn payload_types_stay_compatible_with_their_checked_in_schemas() {
    let files = checked_in();
    let mut problems = Vec::new();
    for entry in registry() {
        let Some(text) = files.get(entry.event_type) else {
            continue;
        };
        if let Err(incompatibilities) =
            check_compatible(&parse(entry.event_type, text), &entry.schema)
        {
            for found in incompatibilities {
                problems.push(format!(
                    "{}: {}: {}",
                    entry.event_type, found.field, found.reason
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "backward-incompatible payload changes (`{BLESS}` will not accept these): keep \
         the field as it was and add optional fields instead, or publish the change as a \
         new `vN` event type:\n{}",
        problems.join("\n")
    );
}

#[test]
fn checked_in_schemas_are_what_the_payload_types_generate() {
    let files = checked_in();
    // Incompatible ones are the test above's to report: blessing cannot fix them.
    let stale: Vec<&str> = registry()
        .iter()
        .filter(|entry| {
            files.get(entry.event_type).is_some_and(|text| {
                *text != pretty(&entry.schema)
                    && check_compatible(&parse(entry.event_type, text), &entry.schema).is_ok()
            })
        })
        .map(|entry| entry.event_type)
        .collect();
    assert!(
        stale.is_empty(),
        "these checked-in schemas differ from their payload types; if the change is \
         intended, re-run with `{BLESS}` to rewrite them (it refuses incompatible \
         changes): {}",
        stale.join(", ")
    );
}

/// The acceptance case: a schema change that removes a field fails the
/// compatibility test.
#[test]
fn removing_a_field_from_a_checked_in_schema_fails_the_compatibility_check() {
    let files = checked_in();
    let text = files
        .get("ordering.order.created.v1")
        .expect("ordering.order.created.v1 is checked in");
    let old = parse("ordering.order.created.v1", text);
    assert_eq!(check_compatible(&old, &old), Ok(()));

    let mut without_order_id = old.clone();
    let top = without_order_id
        .as_object_mut()
        .expect("the schema is an object");
    top["properties"]
        .as_object_mut()
        .expect("the payload has properties")
        .remove("order_id")
        .expect("order_id was a property");
    top["required"]
        .as_array_mut()
        .expect("the payload has required properties")
        .retain(|name| name != "order_id");
    let found = check_compatible(&old, &without_order_id).expect_err("a removed field");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "order_id");
    assert_eq!(found[0].reason, "property removed");

    // A field removed from a shared definition is reported wherever it is used.
    let mut without_amount = old.clone();
    without_amount["$defs"]["Money"]["properties"]
        .as_object_mut()
        .expect("Money has properties")
        .remove("amount");
    let found = check_compatible(&old, &without_amount).expect_err("a removed field");
    let fields: Vec<&str> = found.iter().map(|f| f.field.as_str()).collect();
    assert!(fields.contains(&"total.amount"), "{fields:?}");
    assert!(fields.contains(&"items[].unit_price.amount"), "{fields:?}");

    // So is a retyped one.
    let mut retyped = old.clone();
    retyped["$defs"]["OrderLine"]["properties"]["quantity"] =
        serde_json::json!({ "type": "string" });
    let found = check_compatible(&old, &retyped).expect_err("a retyped field");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "items[].quantity");
}

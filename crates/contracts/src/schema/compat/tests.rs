//! One test per compatibility rule, on small hand-written schemas shaped like the ones
//! schemars generates.

use serde_json::{Value, json};

use super::*;

/// An order-like payload: a `$ref`'d money total and an array of lines.
fn order() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Order",
        "type": "object",
        "properties": {
            "order_id": { "type": "string" },
            "note": { "type": ["string", "null"] },
            "status": { "$ref": "#/$defs/Status" },
            "total": { "$ref": "#/$defs/Money", "description": "The total." },
            "lines": { "type": "array", "items": { "$ref": "#/$defs/Line" } },
            "quantity": { "type": "integer", "format": "uint32", "minimum": 0 }
        },
        "required": ["order_id", "total", "lines"],
        "$defs": {
            "Money": {
                "type": "object",
                "properties": {
                    "amount": { "type": "integer", "format": "int64" },
                    "currency": { "type": "string" }
                },
                "required": ["amount", "currency"]
            },
            "Line": {
                "type": "object",
                "properties": {
                    "sku": { "type": "string" },
                    "quantity": { "type": "integer" }
                },
                "required": ["sku", "quantity"]
            },
            "Status": {
                "oneOf": [
                    { "type": "string", "const": "pending", "description": "Waiting." },
                    { "type": "string", "const": "paid" }
                ]
            }
        }
    })
}

/// The incompatibilities of `old → new` as `field: reason` lines.
fn problems(old: &Value, new: &Value) -> Vec<String> {
    match check_compatible(old, new) {
        Ok(()) => Vec::new(),
        Err(found) => found
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.reason))
            .collect(),
    }
}

fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut schema = order();
    edit(&mut schema);
    schema
}

fn remove(object: &mut Value, key: &str) {
    object
        .as_object_mut()
        .and_then(|o| o.remove(key))
        .unwrap_or_else(|| panic!("{key} was there"));
}

#[test]
fn a_schema_is_compatible_with_itself() {
    assert_eq!(problems(&order(), &order()), Vec::<String>::new());
}

#[test]
fn removing_a_property_is_incompatible() {
    let new = edited(|s| remove(&mut s["properties"], "note"));
    assert_eq!(problems(&order(), &new), ["note: property removed"]);
}

#[test]
fn removals_behind_refs_and_in_array_items_are_named_by_their_path() {
    let new = edited(|s| {
        remove(&mut s["$defs"]["Money"]["properties"], "amount");
        remove(&mut s["$defs"]["Line"]["properties"], "sku");
    });
    assert_eq!(
        problems(&order(), &new),
        [
            "lines[].sku: property removed",
            "total.amount: property removed"
        ]
    );
}

#[test]
fn retyping_a_property_is_incompatible() {
    let integer_to_string =
        edited(|s| s["$defs"]["Line"]["properties"]["quantity"] = json!({ "type": "string" }));
    assert_eq!(
        problems(&order(), &integer_to_string),
        ["lines[].quantity: type changed from integer to string"]
    );

    let object_to_array = edited(|s| {
        s["properties"]["total"] = json!({ "type": "array", "items": { "$ref": "#/$defs/Money" } });
    });
    assert_eq!(
        problems(&order(), &object_to_array),
        ["total: type changed from object to array"]
    );

    let no_longer_nullable = edited(|s| s["properties"]["note"] = json!({ "type": "string" }));
    assert_eq!(
        problems(&order(), &no_longer_nullable),
        ["note: type changed from null or string to string"]
    );

    let any_to_object = json!({ "type": "object", "properties": { "values": true } });
    let narrowed = json!({ "type": "object", "properties": { "values": { "type": "object" } } });
    assert_eq!(
        problems(&any_to_object, &narrowed),
        ["values: type changed from any value to object"]
    );
}

#[test]
fn widening_a_type_is_compatible() {
    let wider = edited(|s| {
        s["$defs"]["Line"]["properties"]["quantity"] = json!({ "type": "number" });
        s["properties"]["order_id"] = json!({ "type": ["string", "null"] });
        s["properties"]["note"] = json!({ "description": "Anything now." });
        s["properties"]["quantity"] = json!({ "type": "integer", "format": "int64" });
    });
    assert_eq!(problems(&order(), &wider), Vec::<String>::new());
}

#[test]
fn narrowing_a_numeric_format_is_incompatible() {
    let new = edited(|s| s["$defs"]["Money"]["properties"]["amount"]["format"] = json!("uint32"));
    assert_eq!(
        problems(&order(), &new),
        ["total.amount: format changed from int64 to uint32"]
    );
}

#[test]
fn removing_an_enum_value_is_incompatible_and_adding_one_is_not() {
    let fewer = edited(|s| {
        s["$defs"]["Status"] = json!({ "type": "string", "enum": ["pending"] });
    });
    assert_eq!(
        problems(&order(), &fewer),
        ["status: enum value \"paid\" removed"]
    );

    let more = edited(|s| {
        s["$defs"]["Status"]["oneOf"]
            .as_array_mut()
            .expect("status is a oneOf")
            .push(json!({ "type": "string", "const": "refunded" }));
    });
    assert_eq!(problems(&order(), &more), Vec::<String>::new());

    let any_string = edited(|s| s["$defs"]["Status"] = json!({ "type": "string" }));
    assert_eq!(problems(&order(), &any_string), Vec::<String>::new());
    assert_eq!(
        problems(&any_string, &order()),
        ["status: type changed from string to one of \"pending\", \"paid\""]
    );
}

#[test]
fn an_optional_property_becoming_required_is_incompatible() {
    let new = edited(|s| {
        s["required"]
            .as_array_mut()
            .expect("required is a list")
            .push(json!("note"));
    });
    assert_eq!(
        problems(&order(), &new),
        ["note: optional property became required"]
    );
}

#[test]
fn a_new_required_property_is_incompatible_and_a_new_optional_one_is_not() {
    let optional =
        edited(|s| s["$defs"]["Money"]["properties"]["minor_units"] = json!({ "type": "integer" }));
    assert_eq!(problems(&order(), &optional), Vec::<String>::new());

    let required = edited(|s| {
        s["$defs"]["Money"]["properties"]["minor_units"] = json!({ "type": "integer" });
        s["$defs"]["Money"]["required"]
            .as_array_mut()
            .expect("required is a list")
            .push(json!("minor_units"));
    });
    assert_eq!(
        problems(&order(), &required),
        ["total.minor_units: new required property"]
    );
}

#[test]
fn refs_are_followed_in_each_document_separately() {
    // The new document inlines what the old one referenced, under another name too.
    let inlined = edited(|s| {
        let money = s["$defs"]["Money"].clone();
        s["properties"]["total"] = money;
        s["$defs"]["Item"] = s["$defs"]["Line"].clone();
        remove(&mut s["$defs"], "Line");
        s["properties"]["lines"]["items"] = json!({ "$ref": "#/$defs/Item" });
    });
    assert_eq!(problems(&order(), &inlined), Vec::<String>::new());
    assert_eq!(problems(&inlined, &order()), Vec::<String>::new());
}

#[test]
fn nullable_refs_read_as_the_referenced_type_or_null() {
    let optional_total = edited(|s| {
        s["properties"]["total"] =
            json!({ "anyOf": [{ "$ref": "#/$defs/Money" }, { "type": "null" }] });
    });
    assert_eq!(problems(&order(), &optional_total), Vec::<String>::new());
    assert_eq!(
        problems(&optional_total, &order()),
        ["total: type changed from null or object to object"]
    );
}

#[test]
fn a_dangling_ref_is_reported_rather_than_trusted() {
    let new = edited(|s| s["properties"]["total"] = json!({ "$ref": "#/$defs/Nowhere" }));
    assert_eq!(
        problems(&order(), &new),
        ["total: $ref #/$defs/Nowhere points nowhere"]
    );
}

#[test]
fn map_values_are_compared_too() {
    let old = json!({
        "type": "object",
        "properties": { "limits": { "type": "object", "additionalProperties": { "type": "integer" } } }
    });
    let new = json!({
        "type": "object",
        "properties": { "limits": { "type": "object", "additionalProperties": { "type": "string" } } }
    });
    assert_eq!(
        problems(&old, &new),
        ["limits.*: type changed from integer to string"]
    );
}

#[test]
fn a_type_that_contains_itself_is_compared_once() {
    let tree = |child: &str| {
        json!({
            "$ref": "#/$defs/Node",
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": { "type": child },
                        "children": { "type": "array", "items": { "$ref": "#/$defs/Node" } }
                    }
                }
            }
        })
    };
    assert_eq!(
        problems(&tree("string"), &tree("string")),
        Vec::<String>::new()
    );
    assert_eq!(
        problems(&tree("string"), &tree("integer")),
        ["name: type changed from string to integer"]
    );
}

#[test]
fn a_changed_root_is_named_as_the_root() {
    assert_eq!(
        problems(&order(), &json!({ "type": "array" })),
        ["(root): type changed from object to array"]
    );
}

#[test]
fn a_schema_that_explodes_through_refs_is_refused_quickly() {
    // Each definition holds the next one twice: 2^40 paths from a 40-definition document.
    let mut defs = serde_json::Map::new();
    for level in 0..40 {
        let next = json!({ "$ref": format!("#/$defs/L{}", level + 1) });
        defs.insert(
            format!("L{level}"),
            json!({ "type": "object", "properties": { "a": next.clone(), "b": next } }),
        );
    }
    defs.insert("L40".to_owned(), json!({ "type": "string" }));
    let bomb = json!({ "$ref": "#/$defs/L0", "$defs": defs });
    let started = std::time::Instant::now();
    assert_eq!(
        problems(&bomb, &bomb),
        ["(root): schema too large to compare"]
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

//! Whether a new version of an event's JSON Schema may replace the old one.
//!
//! Events stay in outboxes, streams and dead-letter tables long after they were written,
//! and consumers are deployed apart from producers, so a payload may only change in ways
//! both sides survive. Backward-incompatible here means any of:
//! - a property was removed;
//! - a property accepts less than before: its type changed (integer → string, object →
//!   array, nullable → not), an enum value was removed, or its numeric format narrowed
//!   (`int64` → `uint32`);
//! - a property that was optional became required, or a new property is required.
//!
//! Adding optional properties, adding enum values and widening a type (integer →
//! number, string → string or null) are compatible. Only the subset of JSON Schema that
//! schemars generates is understood: `type`, `enum`, `const`, `properties`, `required`,
//! `items`, `additionalProperties`, `format`, `anyOf`/`oneOf`/`allOf` (read as the union
//! of their branches) and local `$ref`s, each followed into its own document.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

/// One reason a new schema cannot replace the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incompatibility {
    /// Where, as a path of property names: `total.amount`, `lines[].sku` (`[]` is an
    /// array's items, `.*` a map's values), or `(root)` for the payload itself.
    pub field: String,
    /// What changed, e.g. `property removed`.
    pub reason: String,
}

/// Checks that `new` accepts every payload `old` described and needs nothing `old` did
/// not promise; the error lists every incompatible change found.
pub fn check_compatible(old: &Value, new: &Value) -> Result<(), Vec<Incompatibility>> {
    let mut checker = Checker {
        old_root: old,
        new_root: new,
        stack: Vec::new(),
        budget: MAX_COMPARISONS,
        found: Vec::new(),
    };
    checker.compare("", old, new);
    if checker.found.is_empty() {
        Ok(())
    } else {
        Err(checker.found)
    }
}

/// How deep `$ref` chains and `anyOf` nesting are followed inside one schema before it
/// is given up on; far beyond anything schemars generates, it only stops a schema that
/// refers to itself.
const MAX_DEPTH: usize = 32;

/// How many (sub)schema pairs one check compares at most. Schemas come from requests
/// too (`POST /api/v1/schemas/check`), and `$ref`s let a small document describe an
/// exponentially large tree; real payloads need a few hundred.
const MAX_COMPARISONS: usize = 20_000;

/// What one schema accepts, with its references followed and its branches merged.
#[derive(Default)]
struct Shape<'a> {
    /// No restriction at all (`true`, `{}`).
    any: bool,
    /// JSON types accepted whole (`string`, `integer`, ...).
    types: BTreeSet<&'a str>,
    /// Single values accepted (`enum`, `const`).
    values: Vec<&'a Value>,
    properties: BTreeMap<&'a str, &'a Value>,
    required: BTreeSet<&'a str>,
    items: Option<&'a Value>,
    map_values: Option<&'a Value>,
    format: Option<&'a str>,
    /// The `$ref`s followed to reach this shape: what the recursion guard compares.
    refs: Vec<&'a str>,
    /// `$ref`s that point nowhere in their document.
    unresolved: Vec<&'a str>,
}

impl<'a> Shape<'a> {
    fn of(root: &'a Value, schema: &'a Value) -> Self {
        let mut shape = Shape::default();
        shape.collect(root, schema, 0);
        shape
    }

    fn collect(&mut self, root: &'a Value, schema: &'a Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let object = match schema {
            Value::Bool(true) => {
                self.any = true;
                return;
            }
            Value::Object(object) => object,
            // `false` accepts nothing; anything else is not a schema.
            _ => return,
        };
        let mut restricted = false;
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            restricted = true;
            match resolve(root, reference) {
                // A union holding one definition twice accepts nothing more the second
                // time; skipping it keeps `anyOf` chains from growing exponentially.
                Some(_) if self.refs.contains(&reference) => {}
                Some(target) => {
                    self.refs.push(reference);
                    self.collect(root, target, depth + 1);
                }
                None => self.unresolved.push(reference),
            }
        }
        for keyword in ["anyOf", "oneOf", "allOf"] {
            if let Some(branches) = object.get(keyword).and_then(Value::as_array) {
                restricted = true;
                for branch in branches {
                    self.collect(root, branch, depth + 1);
                }
            }
        }
        if let Some(value) = object.get("const") {
            restricted = true;
            self.values.push(value);
        } else if let Some(values) = object.get("enum").and_then(Value::as_array) {
            // The enum already restricts the values; a `type` beside it adds nothing.
            restricted = true;
            self.values.extend(values);
        } else if let Some(types) = object.get("type") {
            restricted = true;
            match types {
                Value::String(name) => {
                    self.types.insert(name);
                }
                Value::Array(names) => self.types.extend(names.iter().filter_map(Value::as_str)),
                _ => {}
            }
        }
        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            if !restricted {
                self.types.insert("object");
                restricted = true;
            }
            self.properties.extend(
                properties
                    .iter()
                    .map(|(name, schema)| (name.as_str(), schema)),
            );
        }
        if let Some(required) = object.get("required").and_then(Value::as_array) {
            self.required
                .extend(required.iter().filter_map(Value::as_str));
        }
        if let Some(items) = object.get("items") {
            if !restricted {
                self.types.insert("array");
                restricted = true;
            }
            self.items.get_or_insert(items);
        }
        if let Some(values) = object.get("additionalProperties").filter(|v| v.is_object()) {
            self.map_values.get_or_insert(values);
        }
        if let Some(format) = object.get("format").and_then(Value::as_str) {
            self.format.get_or_insert(format);
        }
        if !restricted {
            // `{}` or only annotations (`description`, `title`): any value.
            self.any = true;
        }
    }

    /// Whether a value of JSON type `name` is accepted whole.
    fn accepts_type(&self, name: &str) -> bool {
        self.any
            || self.types.contains(name)
            || (name == "integer" && self.types.contains("number"))
    }

    fn accepts_value(&self, value: &Value) -> bool {
        self.accepts_type(json_type(value)) || self.values.contains(&value)
    }

    fn accepts_objects(&self) -> bool {
        self.accepts_type("object")
    }

    fn describe(&self) -> String {
        if self.any {
            return "any value".to_owned();
        }
        let mut parts: Vec<String> = self.types.iter().map(|t| (*t).to_owned()).collect();
        if !self.values.is_empty() {
            let values: Vec<String> = self.values.iter().map(|v| v.to_string()).collect();
            parts.push(format!("one of {}", values.join(", ")));
        }
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(" or ")
        }
    }
}

/// The target of a local reference (`#`, `#/$defs/Money`) inside its own document.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    reference
        .strip_prefix('#')
        .and_then(|pointer| root.pointer(pointer))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The values a numeric format can hold, so a widening (`uint32` → `int64`, `float` →
/// `double`) passes and a narrowing does not.
fn numeric_range(format: &str) -> Option<(i128, i128)> {
    let bits = |n: u32| (-(1i128 << (n - 1)), (1i128 << (n - 1)) - 1);
    let unsigned = |n: u32| (0, (1i128 << n) - 1);
    Some(match format {
        "int8" => bits(8),
        "int16" => bits(16),
        "int32" => bits(32),
        "int64" | "int" => bits(64),
        "int128" => (i128::MIN, i128::MAX),
        "uint8" => unsigned(8),
        "uint16" => unsigned(16),
        "uint32" => unsigned(32),
        "uint64" | "uint" => unsigned(64),
        "uint128" => (0, i128::MAX),
        // Floats: ordered by precision only.
        "float" => (-1, 1),
        "double" => (-2, 2),
        _ => return None,
    })
}

fn format_narrowed(old: &str, new: &str) -> bool {
    if old == new {
        return false;
    }
    match (numeric_range(old), numeric_range(new)) {
        (Some((old_min, old_max)), Some((new_min, new_max))) => {
            new_min > old_min || new_max < old_max
        }
        _ => true,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

struct Checker<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// The pairs of referenced definitions being compared on the way down, so a type
    /// that contains itself is compared once rather than forever.
    stack: Vec<(Vec<&'a str>, Vec<&'a str>)>,
    /// Comparisons left before the check gives up (see [`MAX_COMPARISONS`]).
    budget: usize,
    found: Vec<Incompatibility>,
}

impl<'a> Checker<'a> {
    fn report(&mut self, path: &str, reason: String) {
        let field = if path.is_empty() { "(root)" } else { path };
        self.found.push(Incompatibility {
            field: field.to_owned(),
            reason,
        });
    }

    fn compare(&mut self, path: &str, old: &'a Value, new: &'a Value) {
        match self.budget {
            0 => return,
            1 => {
                self.budget = 0;
                // Too large to judge is judged incompatible: a check that cannot finish
                // must not let a change through.
                self.report("", "schema too large to compare".to_owned());
                return;
            }
            _ => self.budget -= 1,
        }
        let old = Shape::of(self.old_root, old);
        let new = Shape::of(self.new_root, new);
        for reference in &old.unresolved {
            self.report(
                path,
                format!("old schema's $ref {reference} points nowhere"),
            );
        }
        for reference in &new.unresolved {
            self.report(path, format!("$ref {reference} points nowhere"));
        }
        if !(old.unresolved.is_empty() && new.unresolved.is_empty()) {
            // What the missing part would have accepted is unknown; comparing the rest
            // would only add guesses to the one certain problem.
            return;
        }
        let key = (old.refs.clone(), new.refs.clone());
        if !(key.0.is_empty() && key.1.is_empty()) && self.stack.contains(&key) {
            return;
        }
        self.stack.push(key);
        self.compare_shapes(path, &old, &new);
        self.stack.pop();
    }

    fn compare_shapes(&mut self, path: &str, old: &Shape<'a>, new: &Shape<'a>) {
        if old.any {
            if !new.any {
                self.report(
                    path,
                    format!("type changed from any value to {}", new.describe()),
                );
            }
            return;
        }
        if new.any {
            return;
        }
        let lost_types: Vec<&str> = old
            .types
            .iter()
            .copied()
            .filter(|t| !new.accepts_type(t))
            .collect();
        if !lost_types.is_empty() {
            self.report(
                path,
                format!("type changed from {} to {}", old.describe(), new.describe()),
            );
            // Whatever lies below a retyped value is moot; reporting it too would bury
            // the one change that matters.
            return;
        }
        for value in &old.values {
            if !new.accepts_value(value) {
                self.report(path, format!("enum value {value} removed"));
            }
        }
        if let (Some(old_format), Some(new_format)) = (old.format, new.format)
            && format_narrowed(old_format, new_format)
        {
            self.report(
                path,
                format!("format changed from {old_format} to {new_format}"),
            );
        }
        if old.accepts_objects() && new.accepts_objects() {
            self.compare_properties(path, old, new);
        }
        if let (Some(old_items), Some(new_items)) = (old.items, new.items) {
            self.compare(&format!("{path}[]"), old_items, new_items);
        }
        if let (Some(old_values), Some(new_values)) = (old.map_values, new.map_values) {
            self.compare(&join(path, "*"), old_values, new_values);
        }
    }

    fn compare_properties(&mut self, path: &str, old: &Shape<'a>, new: &Shape<'a>) {
        for (name, old_property) in &old.properties {
            match new.properties.get(name) {
                Some(new_property) => self.compare(&join(path, name), old_property, new_property),
                None => self.report(&join(path, name), "property removed".to_owned()),
            }
        }
        for name in &new.required {
            if old.required.contains(name) {
                continue;
            }
            let reason = if old.properties.contains_key(name) {
                "optional property became required"
            } else {
                "new required property"
            };
            self.report(&join(path, name), reason.to_owned());
        }
    }
}

#[cfg(test)]
mod tests;

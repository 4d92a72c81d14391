//! Catalog's rules, free of I/O: validated product and category inputs, the
//! [`Product`] aggregate (in `product`: a sellable item or a variant of one, and what
//! its changes announce) and the category tree (in `category`).

mod category;
mod product;

pub use category::{Category, with_descendants};
pub use contracts::types::{Invalid, Text};
pub use contracts::{Money, Sku};
pub use product::{Product, ProductFilter, ProductInput, ProductText, Revision};

/// A product name.
pub type ProductName = Text<200>;
/// A product description (may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl TryFrom<String> for Description {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let text = raw.trim();
        if text.chars().count() > 5000 {
            return Err(Invalid("must be at most 5000 characters"));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(text.to_owned()))
    }
}

impl Description {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category name.
pub type CategoryName = Text<100>;

/// Free-form attributes (colour, size, material…): a JSON object of at most 50 keys of
/// up to 50 characters, whose values are strings (up to 200 characters), numbers or
/// booleans.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes(serde_json::Map<String, serde_json::Value>);

impl TryFrom<serde_json::Value> for Attributes {
    type Error = Invalid;

    fn try_from(raw: serde_json::Value) -> Result<Self, Self::Error> {
        let serde_json::Value::Object(map) = raw else {
            return Err(Invalid("must be a JSON object"));
        };
        if map.len() > 50 {
            return Err(Invalid("must have at most 50 keys"));
        }
        for (key, value) in &map {
            if key.is_empty() || key.chars().count() > 50 {
                return Err(Invalid("keys must be 1 to 50 characters"));
            }
            let ok = match value {
                serde_json::Value::String(s) => s.chars().count() <= 200,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => true,
                _ => false,
            };
            if !ok {
                return Err(Invalid(
                    "values must be strings of at most 200 characters, numbers or booleans",
                ));
            }
        }
        Ok(Self(map))
    }
}

impl Attributes {
    /// No attributes.
    pub fn empty() -> Self {
        Self(serde_json::Map::new())
    }

    /// The JSON object.
    pub fn as_value(&self) -> serde_json::Value {
        serde_json::Value::Object(self.0.clone())
    }

    /// The text the search index sees: every value, keys included for context.
    pub fn search_text(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_flat_and_bounded() {
        let ok =
            Attributes::try_from(serde_json::json!({"colour": "red", "size": 42, "organic": true}))
                .expect("valid");
        assert!(ok.search_text().contains("colour red"));
        assert!(Attributes::try_from(serde_json::json!({"nested": {"x": 1}})).is_err());
        assert!(Attributes::try_from(serde_json::json!([1])).is_err());
        assert!(Attributes::try_from(serde_json::json!({"long": "x".repeat(201)})).is_err());
    }

    #[test]
    fn names_and_descriptions_are_checked() {
        assert!(ProductName::try_from("  ".to_owned()).is_err());
        assert!(ProductName::try_from("n".repeat(201)).is_err());
        assert!(Description::try_from(String::new()).is_ok());
        assert!(Description::try_from("line one\nline two".to_owned()).is_ok());
        assert!(Description::try_from("bell\u{7}".to_owned()).is_err());
    }
}

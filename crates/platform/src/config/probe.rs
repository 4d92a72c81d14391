//! What a typed section's struct knows and consumed: a probing deserializer that
//! records the field names of every struct it is asked for (by path), the key segments
//! `serde_ignored` reports, and the nearest known key to a mistyped one.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use figment::value::Value;
use serde::de::{self, IntoDeserializer as _, Visitor};

use super::ENV_PREFIX;

/// The known key nearest to `key` by edit distance, if it is near enough to be the one
/// meant (at most a third of its letters, and at least two, changed).
pub(super) fn nearest<'a>(key: &str, candidates: &BTreeSet<&'a str>) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    let limit = (key.chars().count() / 3).max(2);
    candidates
        .iter()
        .filter(|candidate| !candidate.starts_with("$__"))
        .map(|candidate| (strsim::levenshtein(&key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// The environment variable that sets the key at `path`.
pub(super) fn variable_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join("__").to_ascii_uppercase())
}

/// A `serde_ignored` path as key segments (an `Option` or newtype adds none).
pub(super) fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut segments = segments(parent);
            segments.push(index.to_string());
            segments
        }
        Path::Map { parent, key } => {
            let mut segments = segments(parent);
            segments.push(key.clone());
            segments
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    }
}

/// A deserializer over a figment value that hands tables and arrays to the visitor entry
/// by entry (so `serde_ignored`, wrapped around it, sees each key and whether it was
/// consumed) and records the field names of every struct it is asked for, by path: the
/// keys a reader knows, for suggesting the nearest one. Everything else it leaves to
/// figment's own deserializer of the value.
pub(super) struct Probe<'a> {
    /// The value being read.
    pub(super) value: &'a Value,
    /// Its key path from the section's root.
    pub(super) path: Vec<String>,
    /// Field names of the structs asked for, by the path of the table holding them.
    pub(super) known: &'a RefCell<BTreeMap<Vec<String>, BTreeSet<&'static str>>>,
}

impl<'a> Probe<'a> {
    fn child(&self, key: String, value: &'a Value) -> Probe<'a> {
        let mut path = self.path.clone();
        path.push(key);
        Probe {
            value,
            path,
            known: self.known,
        }
    }
}

/// Hands the rest to figment's deserializer of the value.
macro_rules! delegate {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.value.$method($($arg,)* visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = figment::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Dict(..) => self.deserialize_map(visitor),
            Value::Array(..) => self.deserialize_seq(visitor),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.known
            .borrow_mut()
            .entry(self.path.clone())
            .or_default()
            .extend(fields.iter().copied());
        match self.value {
            Value::Dict(..) => self.deserialize_map(visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Dict(_, entries) => visitor.visit_map(ProbeMap {
                entries: entries.iter(),
                pending: None,
                parent: self,
            }),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Array(_, items) => visitor.visit_seq(ProbeSeq {
                items: items.iter().enumerate(),
                parent: self,
            }),
            other => other.deserialize_seq(visitor),
        }
    }

    // Only an empty value (a `None` laid in by code) is `None`; TOML has no null.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Empty(..) => self.value.deserialize_option(visitor),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    delegate! {
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }
}

/// A table's entries for a visitor, each value a [`Probe`] of its own.
struct ProbeMap<'a> {
    entries: std::collections::btree_map::Iter<'a, String, Value>,
    pending: Option<(&'a String, &'a Value)>,
    parent: Probe<'a>,
}

impl<'de> de::MapAccess<'de> for ProbeMap<'_> {
    type Error = figment::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        seed.deserialize(key.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| figment::Error::from("a value asked for before its key"))?;
        seed.deserialize(self.parent.child(key.clone(), value))
    }
}

/// An array's items for a visitor, each a [`Probe`] of its own.
struct ProbeSeq<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    parent: Probe<'a>,
}

impl<'de> de::SeqAccess<'de> for ProbeSeq<'_> {
    type Error = figment::Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        match self.items.next() {
            Some((index, value)) => seed
                .deserialize(self.parent.child(index.to_string(), value))
                .map(Some),
            None => Ok(None),
        }
    }
}

//! The event schema registry: the JSON Schema of every event payload in `contracts`
//! (generated once at start), and the backward-compatibility check of a proposed new
//! schema for a registered event type.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{CoordinationApp, CoordinationError};

/// Every event type's schema, by event type.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    by_type: BTreeMap<&'static str, Value>,
}

impl Schemas {
    /// The schemas generated from the payload types of `contracts`.
    pub fn from_contracts() -> Self {
        Self {
            by_type: contracts::schema::registry()
                .into_iter()
                .map(|entry| (entry.event_type, entry.schema))
                .collect(),
        }
    }

    /// Every (event type, schema), by event type.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.by_type
            .iter()
            .map(|(event_type, schema)| (*event_type, schema))
    }

    /// The schema of `event_type`.
    pub fn get(&self, event_type: &str) -> Option<&Value> {
        self.by_type.get(event_type)
    }
}

impl CoordinationApp {
    /// The registered schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// Whether `proposed` could replace the registered schema of `event_type` without
    /// breaking a consumer of events already written: no property removed or retyped,
    /// none newly required.
    pub fn check_schema(
        &self,
        event_type: &str,
        proposed: &Value,
    ) -> Result<(), CoordinationError> {
        let registered = self
            .schemas
            .get(event_type)
            .ok_or(CoordinationError::NotFound("event type"))?;
        contracts::schema::check_compatible(registered, proposed).map_err(|found| {
            CoordinationError::Incompatible(
                found
                    .into_iter()
                    .map(|incompatibility| (incompatibility.field, incompatibility.reason))
                    .collect(),
            )
        })
    }
}

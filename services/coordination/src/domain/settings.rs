//! Configuration documents: which keys each service applies while it runs (the rest
//! take effect at its next start), what type those keys must have, and what a new
//! version of a document changed.
//!
//! The table follows the services' own configuration sections: a live key here must
//! be a field of that section, read by the service through `platform::live`.

use std::collections::BTreeSet;

use platform::service::ServiceKind;
use serde_json::{Map, Value};

/// A service's configuration document: its version and values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// Grows by one with each accepted change; 0 before the first.
    pub version: u64,
    /// Setting name to value.
    pub values: Map<String, Value>,
}

/// What a value of a live key must be.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// A non-empty string of at most 256 characters (a log filter, e.g.
    /// `info,ordering=debug`).
    Text,
    /// An integer in the range.
    Integer { min: i64, max: i64 },
    /// `true` or `false`.
    Flag,
    /// An object whose named members follow their rules (other members are kept as
    /// they are).
    Object(&'static [(&'static str, Rule)]),
}

/// A key a service applies without a restart, and the type its value must have.
#[derive(Debug, Clone, Copy)]
pub struct LiveKey {
    /// The key, as in the service's configuration section.
    pub key: &'static str,
    rule: Rule,
}

const U32_MAX: i64 = u32::MAX as i64;

/// Every service rebuilds its log filter when this changes.
const EVERY_SERVICE: &[LiveKey] = &[LiveKey {
    key: "log_level",
    rule: Rule::Text,
}];

/// The gateway's rate-limit tiers (`[gateway.rate_limits]`).
const GATEWAY: &[LiveKey] = &[LiveKey {
    key: "rate_limits",
    rule: Rule::Object(&[
        ("enabled", Rule::Flag),
        (
            "anonymous_per_minute",
            Rule::Integer {
                min: 0,
                max: U32_MAX,
            },
        ),
        (
            "user_per_minute",
            Rule::Integer {
                min: 0,
                max: U32_MAX,
            },
        ),
        (
            "premium_per_minute",
            Rule::Integer {
                min: 0,
                max: U32_MAX,
            },
        ),
        (
            "window_secs",
            Rule::Integer {
                min: 1,
                max: 86_400,
            },
        ),
    ]),
}];

/// Payments' fraud limits (`PaymentsConfig`).
const PAYMENTS: &[LiveKey] = &[
    LiveKey {
        key: "max_amount_minor",
        rule: Rule::Integer {
            min: 0,
            max: i64::MAX,
        },
    },
    LiveKey {
        key: "fraud_max_attempts_per_minute",
        rule: Rule::Integer {
            min: 0,
            max: U32_MAX,
        },
    },
];

/// Inventory's low-stock threshold of skus without their own (`InventoryConfig`).
const INVENTORY: &[LiveKey] = &[LiveKey {
    key: "default_low_stock_threshold",
    rule: Rule::Integer {
        min: 0,
        max: i64::MAX,
    },
}];

/// The keys `service` applies without a restart.
pub fn live_keys(service: ServiceKind) -> impl Iterator<Item = &'static LiveKey> {
    let own: &[LiveKey] = match service {
        ServiceKind::Gateway => GATEWAY,
        ServiceKind::Payments => PAYMENTS,
        ServiceKind::Inventory => INVENTORY,
        _ => &[],
    };
    EVERY_SERVICE.iter().chain(own)
}

/// Whether `service` applies `key` without a restart.
pub fn is_live(service: ServiceKind, key: &str) -> bool {
    live_keys(service).any(|live| live.key == key)
}

/// The values of a new document: a JSON object whose live keys have the types their
/// service reads. Errors name the field as `values.<key>` (`values.<key>.<member>`
/// inside an object).
pub fn check_values(
    service: ServiceKind,
    values: Value,
) -> Result<Map<String, Value>, Vec<(String, String)>> {
    let Value::Object(values) = values else {
        return Err(vec![("values".into(), "must be a JSON object".into())]);
    };
    let mut errors = Vec::new();
    for live in live_keys(service) {
        if let Some(value) = values.get(live.key) {
            check(
                &format!("values.{}", live.key),
                value,
                live.rule,
                &mut errors,
            );
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn check(field: &str, value: &Value, rule: Rule, errors: &mut Vec<(String, String)>) {
    let problem = match rule {
        Rule::Text => match value.as_str() {
            Some(text) if !text.trim().is_empty() && text.chars().count() <= 256 => None,
            _ => Some("must be a non-empty string of at most 256 characters".to_owned()),
        },
        Rule::Integer { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => None,
            _ => Some(format!("must be an integer between {min} and {max}")),
        },
        Rule::Flag => (!value.is_boolean()).then(|| "must be true or false".to_owned()),
        Rule::Object(members) => match value.as_object() {
            Some(object) => {
                for (name, rule) in members {
                    if let Some(member) = object.get(*name) {
                        check(&format!("{field}.{name}"), member, *rule, errors);
                    }
                }
                None
            }
            None => Some("must be a JSON object".to_owned()),
        },
    };
    if let Some(message) = problem {
        errors.push((field.to_owned(), message));
    }
}

/// What a new document changed, by top-level key, split by when it takes effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Changed keys the service applies at once.
    pub applied_live: Vec<String>,
    /// Changed keys that take effect at the service's next start.
    pub needs_restart: Vec<String>,
}

impl ConfigChange {
    /// The keys added, removed or given another value from `before` to `after`, in
    /// name order.
    pub fn between(
        service: ServiceKind,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Self {
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let mut change = Self::default();
        for key in keys {
            if before.get(key) == after.get(key) {
                continue;
            }
            if is_live(service, key) {
                change.applied_live.push(key.clone());
            } else {
                change.needs_restart.push(key.clone());
            }
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(service: ServiceKind, values: Value) -> Vec<String> {
        check_values(service, values)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    #[test]
    fn every_service_applies_its_log_level_live_and_some_more() {
        for service in ServiceKind::all() {
            assert!(is_live(*service, "log_level"), "{service}");
        }
        assert!(is_live(ServiceKind::Gateway, "rate_limits"));
        assert!(is_live(ServiceKind::Payments, "max_amount_minor"));
        assert!(is_live(
            ServiceKind::Payments,
            "fraud_max_attempts_per_minute"
        ));
        assert!(is_live(
            ServiceKind::Inventory,
            "default_low_stock_threshold"
        ));
        assert!(!is_live(ServiceKind::Inventory, "max_amount_minor"));
        assert!(!is_live(ServiceKind::Gateway, "request_timeout_secs"));
    }

    #[test]
    fn live_keys_must_have_the_type_their_service_reads() {
        assert_eq!(fields(ServiceKind::Catalog, json!([1])), ["values"]);
        assert_eq!(
            fields(ServiceKind::Catalog, json!({"log_level": 3})),
            ["values.log_level"]
        );
        assert_eq!(
            fields(
                ServiceKind::Payments,
                json!({"max_amount_minor": "lots", "fraud_max_attempts_per_minute": -1})
            ),
            [
                "values.max_amount_minor",
                "values.fraud_max_attempts_per_minute"
            ]
        );
        assert_eq!(
            fields(
                ServiceKind::Gateway,
                json!({"rate_limits": {"anonymous_per_minute": 1.5, "enabled": "yes", "other": 1}})
            ),
            [
                "values.rate_limits.enabled",
                "values.rate_limits.anonymous_per_minute"
            ]
        );
        assert_eq!(
            fields(ServiceKind::Gateway, json!({"rate_limits": 100})),
            ["values.rate_limits"]
        );
        // Keys that are not live are kept whatever they hold.
        assert!(
            check_values(
                ServiceKind::Inventory,
                json!({"default_low_stock_threshold": 3, "anything": [1]})
            )
            .is_ok()
        );
    }

    #[test]
    fn a_change_names_the_keys_it_changed_by_when_they_apply() {
        let before = json!({"log_level": "info", "max_amount_minor": 100, "currency": "USD"});
        let after = json!({"log_level": "debug", "max_amount_minor": 100, "provider": "sandbox"});
        let change = ConfigChange::between(
            ServiceKind::Payments,
            before.as_object().expect("object"),
            after.as_object().expect("object"),
        );
        assert_eq!(change.applied_live, ["log_level"]);
        assert_eq!(change.needs_restart, ["currency", "provider"]);
    }
}

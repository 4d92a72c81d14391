//! Configuration documents: what type the keys each service applies while it runs
//! must have, and what a new version of a document changed (applied live, or at the
//! service's next start).
//!
//! Which keys are live is not decided here: `platform::live::live_keys` is the one
//! table, and the services' `LiveSection`s lay exactly those keys over their settings.
//! This module only knows each live key's type, taken from the service's configuration
//! section (a value that does not fit would be ignored by the service, so it is refused
//! here, naming the field).

use std::collections::BTreeSet;

use platform::live::{is_live, live_keys};
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

const U32_MAX: i64 = u32::MAX as i64;

/// A count that fits the `u32` its service reads.
const COUNT_U32: Rule = Rule::Integer {
    min: 0,
    max: U32_MAX,
};

/// A non-negative integer (the service reads a `u64`, `usize` or non-negative `i64`).
const NON_NEGATIVE: Rule = Rule::Integer {
    min: 0,
    max: i64::MAX,
};

/// The gateway's rate-limit tiers (`[gateway.rate_limits]`, `RateLimits`).
const RATE_LIMITS: Rule = Rule::Object(&[
    ("enabled", Rule::Flag),
    ("anonymous_per_minute", COUNT_U32),
    ("user_per_minute", COUNT_U32),
    ("premium_per_minute", COUNT_U32),
    ("webhooks_per_minute", COUNT_U32),
    (
        "window_secs",
        Rule::Integer {
            min: 1,
            max: 86_400,
        },
    ),
]);

/// The gateway's response cache (`[gateway.cache]`, `CacheSettings`).
const CACHE: Rule = Rule::Object(&[
    ("enabled", Rule::Flag),
    ("ttl_secs", NON_NEGATIVE),
    ("max_entries", NON_NEGATIVE),
    ("max_body_bytes", NON_NEGATIVE),
]);

/// The type of the live key `key`, by its name in the service's section; `None` for a
/// key no service reads live. (A name means the same setting in every service that has
/// it, so one lookup serves them all.)
fn rule_of(key: &str) -> Option<Rule> {
    Some(match key {
        // Every service: its log filter.
        "log_level" => Rule::Text,
        // Gateway.
        "rate_limits" => RATE_LIMITS,
        "cache" => CACHE,
        // Payments' fraud limits (`PaymentsConfig`).
        "max_amount_minor" => NON_NEGATIVE,
        "fraud_max_attempts_per_minute" => COUNT_U32,
        // Inventory's low-stock threshold of skus without their own (`InventoryConfig`).
        "default_low_stock_threshold" => NON_NEGATIVE,
        _ => return None,
    })
}

/// The values of a new document: a JSON object whose live keys have the types their
/// service reads (other keys are kept as they are: they take effect at the next
/// start, when the service reads its configuration as a whole). Errors name the field as `values.<key>` (`values.<key>.<member>`
/// inside an object).
pub fn check_values(
    service: ServiceKind,
    values: Value,
) -> Result<Map<String, Value>, Vec<(String, String)>> {
    let Value::Object(values) = values else {
        return Err(vec![("values".into(), "must be a JSON object".into())]);
    };
    let mut errors = Vec::new();
    for key in live_keys(service) {
        // Every live key has a rule (a test holds the two tables together).
        if let (Some(value), Some(rule)) = (values.get(*key), rule_of(key)) {
            check(&format!("values.{key}"), value, rule, &mut errors);
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
    fn every_key_a_service_applies_live_has_a_type_here() {
        for service in ServiceKind::all() {
            for key in live_keys(*service) {
                assert!(rule_of(key).is_some(), "{service}.{key} has no rule");
            }
        }
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
        assert_eq!(
            fields(
                ServiceKind::Gateway,
                json!({"cache": {"enabled": 1, "ttl_secs": -1, "max_entries": "many",
                                 "max_body_bytes": 0.5, "other": null}})
            ),
            [
                "values.cache.enabled",
                "values.cache.ttl_secs",
                "values.cache.max_entries",
                "values.cache.max_body_bytes"
            ]
        );
        assert!(
            check_values(
                ServiceKind::Gateway,
                json!({"cache": {"enabled": false, "ttl_secs": 0, "max_entries": 10,
                                 "max_body_bytes": 65536}})
            )
            .is_ok()
        );
        // `cache` is the gateway's: another service keeps it as it is, for its next start.
        assert!(check_values(ServiceKind::Catalog, json!({"cache": 1})).is_ok());
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

        let before = json!({"cache": {"ttl_secs": 60}, "request_timeout_secs": 35});
        let after = json!({"cache": {"ttl_secs": 5}, "request_timeout_secs": 10});
        let change = ConfigChange::between(
            ServiceKind::Gateway,
            before.as_object().expect("object"),
            after.as_object().expect("object"),
        );
        assert_eq!(change.applied_live, ["cache"]);
        assert_eq!(change.needs_restart, ["request_timeout_secs"]);
    }
}

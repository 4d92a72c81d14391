//! Configuration that changes while the platform runs.
//!
//! Coordination keeps a versioned document of values per service (`GET/PUT
//! /api/v1/config/{service}`). Every process holds one [`LiveConfig`]: the latest
//! document of each service it runs. In the embedded shape coordination runs in the same
//! process and publishes each accepted change straight into it; in the distributed shape
//! the process's discovery agent sees a newer `config_version` in its heartbeat's answer
//! and fetches the document. A service reads its settings through a [`LiveSection`]:
//! its static section (defaults < `viscount.toml` < environment) with the document's
//! live values laid over it, re-read only when the version moves, so the hot path costs
//! one version comparison.
//!
//! Only some settings can change live, and [`live_keys`] is the one table of them:
//! [`LiveSection`] lays only those keys over the section, and coordination type-checks
//! exactly those keys and tells the writer of a document which of its changes apply at
//! once. Values of other keys are kept in the document but take effect at the next
//! start (when the static configuration is built from them, not through this module).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{ConfigError, ConfigSource};
use crate::service::ServiceKind;

/// The top-level keys of `kind`'s configuration section that its running processes
/// apply without a restart. This is the only list of them: coordination checks the
/// types of these keys and reports every other changed key as needing a restart, and
/// [`LiveSection`] lays only these over the static section.
pub fn live_keys(kind: ServiceKind) -> &'static [&'static str] {
    // Every process rebuilds its log filter when `log_level` changes
    // ([`follow_log_level`]); the others are read per use through a `LiveSection`.
    match kind {
        ServiceKind::Gateway => &["log_level", "rate_limits", "cache"],
        ServiceKind::Payments => &[
            "log_level",
            "max_amount_minor",
            "fraud_max_attempts_per_minute",
        ],
        ServiceKind::Inventory => &["log_level", "default_low_stock_threshold"],
        ServiceKind::Coordination
        | ServiceKind::Identity
        | ServiceKind::Catalog
        | ServiceKind::Ordering
        | ServiceKind::Fulfillment
        | ServiceKind::Notifications
        | ServiceKind::Ingestion
        | ServiceKind::Analytics
        | ServiceKind::Support => &["log_level"],
    }
}

/// Whether `kind` applies `key` without a restart (see [`live_keys`]).
pub fn is_live(kind: ServiceKind, key: &str) -> bool {
    live_keys(kind).contains(&key)
}

/// One service's configuration document as coordination holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    /// Grows by one with each accepted change; 0 before the first.
    pub version: u64,
    /// The values (a JSON object; keys as in the service's configuration section).
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// The latest configuration document of each service, shared by a process.
#[derive(Clone, Default)]
pub struct LiveConfig {
    channels: Arc<Mutex<HashMap<ServiceKind, watch::Sender<Versioned>>>>,
}

impl LiveConfig {
    /// An empty set: every service at version 0 with no values.
    pub fn new() -> Self {
        Self::default()
    }

    fn channel(&self, kind: ServiceKind) -> watch::Sender<Versioned> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels
            .entry(kind)
            .or_insert_with(|| watch::channel(Versioned::default()).0)
            .clone()
    }

    /// Takes `document` as `kind`'s current one, unless a newer one is already held (two
    /// sources may deliver the same change out of order). Returns whether it was taken.
    pub fn publish(&self, kind: ServiceKind, document: Versioned) -> bool {
        self.channel(kind).send_if_modified(|current| {
            if document.version > current.version {
                *current = document;
                true
            } else {
                false
            }
        })
    }

    /// `kind`'s current document.
    pub fn current(&self, kind: ServiceKind) -> Versioned {
        self.channel(kind).borrow().clone()
    }

    /// Follows `kind`'s document.
    pub fn watch(&self, kind: ServiceKind) -> watch::Receiver<Versioned> {
        self.channel(kind).subscribe()
    }
}

/// Applies the `log_level` value of `kinds`' documents to the process's log filter
/// whenever one changes (in the embedded shape one process runs every service, so the
/// latest change of any of them wins).
pub fn follow_log_level(live: &LiveConfig, kinds: &[ServiceKind], tasks: &crate::tasks::Tasks) {
    for kind in kinds {
        let mut receiver = live.watch(*kind);
        let shutdown = tasks.shutdown().clone();
        let kind = *kind;
        tasks.spawn(async move {
            let mut applied: Option<String> = None;
            loop {
                let wanted = receiver
                    .borrow_and_update()
                    .values
                    .get("log_level")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                if let Some(level) = wanted
                    && applied.as_deref() != Some(level.as_str())
                {
                    match crate::telemetry::set_log_filter(&level) {
                        Ok(()) => {
                            tracing::info!(service = %kind, level = %level, "log level changed")
                        }
                        Err(err) => {
                            tracing::warn!(service = %kind, error = %err, "log level not changed")
                        }
                    }
                    applied = Some(level);
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    changed = receiver.changed() => if changed.is_err() { return },
                }
            }
        });
    }
}

/// A service's typed settings: its static section with the values of its live keys
/// ([`live_keys`]) over it.
pub struct LiveSection<T> {
    base: toml::Table,
    live: watch::Receiver<Versioned>,
    current: RwLock<(u64, Arc<T>)>,
    kind: ServiceKind,
}

impl<T: DeserializeOwned + Send + Sync + 'static> LiveSection<T> {
    /// `kind`'s section of `config`, followed in `live`. Fails when the static section
    /// does not read (as [`ConfigSource::section`] would).
    pub fn new(
        config: &ConfigSource,
        live: &LiveConfig,
        kind: ServiceKind,
    ) -> Result<Self, ConfigError> {
        let section = kind.as_str();
        // Read here from the raw table: note it, so its mistyped keys are reported.
        config.note_read::<T>(section);
        let base = config.table(section);
        let receiver = live.watch(kind);
        let document = receiver.borrow().clone();
        let settings = match overlay(&base, &document, kind) {
            Ok(settings) => settings,
            // Live values that do not fit are ignored; the static section must read.
            Err(_) => read(toml::Value::Table(base.clone()), section)?,
        };
        Ok(Self {
            base,
            live: receiver,
            current: RwLock::new((document.version, Arc::new(settings))),
            kind,
        })
    }

    /// The settings now. A document whose live values do not fit the settings is
    /// ignored (with a warning) and the previous settings stay; its other keys never
    /// count (they wait for the next start).
    pub fn get(&self) -> Arc<T> {
        let version = self.live.borrow().version;
        if let Ok(current) = self.current.read()
            && current.0 == version
        {
            return current.1.clone();
        }
        let document = self.live.borrow().clone();
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 != document.version {
            match overlay(&self.base, &document, self.kind) {
                Ok(settings) => *current = (document.version, Arc::new(settings)),
                Err(err) => {
                    tracing::warn!(
                        section = self.kind.as_str(),
                        version = document.version,
                        error = %crate::telemetry::error_chain(&err),
                        "live configuration does not fit; keeping the previous settings"
                    );
                    current.0 = document.version;
                }
            }
        }
        current.1.clone()
    }

    /// Waits until the document changes (for services that rebuild something on a
    /// change, like the log filter).
    pub async fn changed(&mut self) -> bool {
        self.live.changed().await.is_ok()
    }
}

/// `base` with the values of `document` that `kind` applies live laid over it, read as
/// `T`. Other keys are left out: coordination checks only the live keys' types, so a
/// value of another key could be anything, and it must not keep a live change from
/// applying.
fn overlay<T: DeserializeOwned>(
    base: &toml::Table,
    document: &Versioned,
    kind: ServiceKind,
) -> Result<T, ConfigError> {
    let mut merged = base.clone();
    for key in live_keys(kind) {
        let Some(value) = document.values.get(*key) else {
            continue;
        };
        // A JSON null has no TOML form: it leaves the static value in place.
        if let Ok(value) = toml::Value::try_from(value) {
            merge(&mut merged, key, value);
        }
    }
    read(toml::Value::Table(merged), kind.as_str())
}

/// Sets `key` in `table`, merging nested tables key by key.
fn merge(table: &mut toml::Table, key: &str, value: toml::Value) {
    match (table.get_mut(key), value) {
        (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
            for (inner_key, inner_value) in incoming {
                merge(existing, &inner_key, inner_value);
            }
        }
        (_, value) => {
            table.insert(key.to_owned(), value);
        }
    }
}

fn read<T: DeserializeOwned>(value: toml::Value, section: &str) -> Result<T, ConfigError> {
    value
        .try_into()
        .map_err(|source: toml::de::Error| ConfigError::invalid(section, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section shaped like the gateway's: two live keys (`rate_limits`, `cache`) and
    /// one that is not (`request_timeout_secs`).
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Gateway {
        rate_limits: Limits,
        cache: Nested,
        request_timeout_secs: u64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Limits {
        per_minute: u64,
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(default)]
    struct Nested {
        a: u64,
        b: u64,
    }

    impl Default for Gateway {
        fn default() -> Self {
            Self {
                rate_limits: Limits::default(),
                cache: Nested { a: 1, b: 2 },
                request_timeout_secs: 35,
            }
        }
    }

    impl Default for Limits {
        fn default() -> Self {
            Self {
                per_minute: 100,
                name: "default".into(),
            }
        }
    }

    fn document(version: u64, json: serde_json::Value) -> Versioned {
        Versioned {
            version,
            values: json.as_object().cloned().unwrap_or_default(),
        }
    }

    fn gateway_section(live: &LiveConfig) -> LiveSection<Gateway> {
        let config = ConfigSource::from_parts(
            "[gateway]\nrequest_timeout_secs = 20\n[gateway.rate_limits]\nname = \"file\"\n\
             [gateway.cache]\nb = 5\n",
            [],
        )
        .expect("config");
        LiveSection::new(&config, live, ServiceKind::Gateway).expect("section")
    }

    #[test]
    fn live_values_lie_over_the_static_section_and_bad_ones_are_ignored() {
        let live = LiveConfig::new();
        let section = gateway_section(&live);
        assert_eq!(section.get().rate_limits.per_minute, 100);
        assert_eq!(section.get().rate_limits.name, "file");

        assert!(live.publish(
            ServiceKind::Gateway,
            document(
                2,
                serde_json::json!({"rate_limits": {"per_minute": 7}, "cache": {"a": 9}})
            )
        ));
        let now = section.get();
        assert_eq!(now.rate_limits.per_minute, 7);
        assert_eq!(now.rate_limits.name, "file");
        assert_eq!(now.cache, Nested { a: 9, b: 5 });

        // An older version delivered late changes nothing.
        assert!(!live.publish(
            ServiceKind::Gateway,
            document(1, serde_json::json!({"rate_limits": {"per_minute": 1}}))
        ));
        assert_eq!(section.get().rate_limits.per_minute, 7);

        // A live value of the wrong type keeps the previous settings.
        assert!(live.publish(
            ServiceKind::Gateway,
            document(
                3,
                serde_json::json!({"rate_limits": {"per_minute": "many"}})
            )
        ));
        assert_eq!(section.get().rate_limits.per_minute, 7);

        // A null leaves the static value in place, and the rest of the document applies.
        assert!(live.publish(
            ServiceKind::Gateway,
            document(
                4,
                serde_json::json!({"rate_limits": null, "cache": {"a": 3}})
            )
        ));
        assert_eq!(section.get().rate_limits.per_minute, 100);
        assert_eq!(section.get().cache, Nested { a: 3, b: 5 });
    }

    #[test]
    fn only_the_live_keys_of_the_service_are_laid_over_its_section() {
        let live = LiveConfig::new();
        let section = gateway_section(&live);
        // A key that is not live waits for the next start, whatever it holds: a good
        // value is not applied, and a bad one does not hold back the live change
        // beside it.
        assert!(live.publish(
            ServiceKind::Gateway,
            document(
                1,
                serde_json::json!({
                    "request_timeout_secs": "soon",
                    "rate_limits": {"per_minute": 9},
                })
            )
        ));
        let now = section.get();
        assert_eq!(now.rate_limits.per_minute, 9);
        assert_eq!(now.request_timeout_secs, 20);
        assert!(live.publish(
            ServiceKind::Gateway,
            document(2, serde_json::json!({"request_timeout_secs": 1}))
        ));
        assert_eq!(section.get().request_timeout_secs, 20);
        // Back to the static value once the live key leaves the document.
        assert_eq!(section.get().rate_limits.per_minute, 100);
    }

    #[test]
    fn every_service_applies_its_log_level_live_and_a_few_more_keys() {
        for kind in ServiceKind::all() {
            assert!(is_live(*kind, "log_level"), "{kind}");
        }
        assert_eq!(
            live_keys(ServiceKind::Gateway),
            ["log_level", "rate_limits", "cache"]
        );
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
        assert_eq!(live_keys(ServiceKind::Catalog), ["log_level"]);
    }
}

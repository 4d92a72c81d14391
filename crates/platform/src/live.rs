//! Configuration that changes while the platform runs.
//!
//! Coordination keeps a versioned document of values per service (`GET/PUT
//! /api/v1/config/{service}`). Every process holds one [`LiveConfig`]: the latest
//! document of each service it runs. In the embedded shape coordination runs in the same
//! process and publishes each accepted change straight into it; in the distributed shape
//! the process's discovery agent fetches its service's document whenever coordination
//! announces a newer version. A service reads its settings through a [`LiveSection`]:
//! its static section (defaults < `viscount.toml` < environment) with the live values
//! laid over it, re-read only when the version moves, so the hot path costs one version
//! comparison.
//!
//! Only some settings can change live; each service names them (see
//! [`LiveSection::new`]'s callers). Values of other keys are kept in the document but
//! take effect at the next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{ConfigError, ConfigSource};
use crate::service::ServiceKind;

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

/// A service's typed settings: its static section with the live values over it.
pub struct LiveSection<T> {
    base: toml::Table,
    live: watch::Receiver<Versioned>,
    current: RwLock<(u64, Arc<T>)>,
    section: &'static str,
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
        let base = config.table(section);
        let receiver = live.watch(kind);
        let document = receiver.borrow().clone();
        let settings = match overlay(&base, &document, section) {
            Ok(settings) => settings,
            // Live values that do not fit are ignored; the static section must read.
            Err(_) => read(toml::Value::Table(base.clone()), section)?,
        };
        Ok(Self {
            base,
            live: receiver,
            current: RwLock::new((document.version, Arc::new(settings))),
            section,
        })
    }

    /// The settings now. A live document whose values do not fit the settings is
    /// ignored (with a warning) and the previous settings stay.
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
            match overlay(&self.base, &document, self.section) {
                Ok(settings) => *current = (document.version, Arc::new(settings)),
                Err(err) => {
                    tracing::warn!(
                        section = self.section,
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

/// `base` with `document`'s values laid over it, read as `T`.
fn overlay<T: DeserializeOwned>(
    base: &toml::Table,
    document: &Versioned,
    section: &str,
) -> Result<T, ConfigError> {
    let mut merged = base.clone();
    for (key, value) in &document.values {
        if let Ok(value) = toml::Value::try_from(value) {
            merge(&mut merged, key, value);
        }
    }
    read(toml::Value::Table(merged), section)
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
    value.try_into().map_err(|source| ConfigError::Invalid {
        section: section.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Limits {
        per_minute: u64,
        name: String,
        nested: Nested,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(default)]
    struct Nested {
        a: u64,
        b: u64,
    }

    impl Default for Limits {
        fn default() -> Self {
            Self {
                per_minute: 100,
                name: "default".into(),
                nested: Nested { a: 1, b: 2 },
            }
        }
    }

    fn values(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn live_values_lie_over_the_static_section_and_bad_ones_are_ignored() {
        let config =
            ConfigSource::from_parts("[gateway]\nname = \"file\"\n[gateway.nested]\nb = 5\n", [])
                .expect("config");
        let live = LiveConfig::new();
        let section: LiveSection<Limits> =
            LiveSection::new(&config, &live, ServiceKind::Gateway).expect("section");
        assert_eq!(section.get().per_minute, 100);
        assert_eq!(section.get().name, "file");

        let document = |version, json| Versioned {
            version,
            values: values(json),
        };
        assert!(live.publish(
            ServiceKind::Gateway,
            document(2, serde_json::json!({"per_minute": 7, "nested": {"a": 9}}))
        ));
        let now = section.get();
        assert_eq!(now.per_minute, 7);
        assert_eq!(now.name, "file");
        assert_eq!(now.nested, Nested { a: 9, b: 5 });

        // An older version delivered late changes nothing.
        assert!(!live.publish(
            ServiceKind::Gateway,
            document(1, serde_json::json!({"per_minute": 1}))
        ));
        assert_eq!(section.get().per_minute, 7);

        // A value of the wrong type keeps the previous settings.
        assert!(live.publish(
            ServiceKind::Gateway,
            document(3, serde_json::json!({"per_minute": "many"}))
        ));
        assert_eq!(section.get().per_minute, 7);
    }
}

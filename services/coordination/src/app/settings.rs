//! Configuration documents: read, replaced under `If-Match` (one winner per version),
//! announced, and published into the process's live configuration so the services
//! running beside coordination apply the live keys at once. Processes elsewhere notice
//! a newer version in their heartbeat's answer (`config_version`) and fetch the
//! document. `coordination.config.updated` announces the change to whoever follows the
//! stream; no process waits on it to apply one.

use platform::live::Versioned;
use platform::service::ServiceKind;
use serde_json::{Map, Value};

use super::{CoordinationApp, CoordinationError};
use crate::domain::{ConfigChange, Document};
use crate::events;
use crate::store;

/// A document written, and what its change does.
#[derive(Debug, Clone)]
pub struct Written {
    /// The document now.
    pub document: Document,
    /// Its changed keys, by when they take effect.
    pub change: ConfigChange,
}

impl CoordinationApp {
    /// `service`'s document (version 0 and no values before the first write).
    pub async fn document(&self, service: ServiceKind) -> Result<Document, CoordinationError> {
        Ok(store::documents::get(self.db.reader(), service)
            .await?
            .unwrap_or_default())
    }

    /// Replaces `service`'s document with `values` if it is still at version
    /// `expected`, announces the new version and applies it to this process's live
    /// configuration.
    #[tracing::instrument(skip_all, fields(%service, expected), err(level = "debug"))]
    pub async fn write_document(
        &self,
        service: ServiceKind,
        expected: u64,
        values: Map<String, Value>,
    ) -> Result<Written, CoordinationError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let current = store::documents::lock(&mut tx, self.db.dialect(), service)
            .await?
            .unwrap_or_default();
        if current.version != expected {
            return Err(CoordinationError::StaleVersion {
                current: current.version,
            });
        }
        // The conditional write is the guard that holds without the row lock too (a
        // first document has no row to lock): of two writers, one finds its version
        // gone.
        if !store::documents::replace(&mut tx, service, expected, &values, now).await? {
            // The winner has committed by now (the losing statement waited on its row),
            // so the version read after this transaction is the one to name.
            tx.rollback().await?;
            let current = store::documents::version(self.db.reader(), service).await?;
            return Err(CoordinationError::StaleVersion { current });
        }
        let change = ConfigChange::between(service, &current.values, &values);
        let document = Document {
            version: expected + 1,
            values,
        };
        self.outbox
            .stage(
                &mut tx,
                &events::config_updated(
                    service,
                    document.version,
                    &document.values,
                    &change.needs_restart,
                ),
            )
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        self.live.publish(
            service,
            Versioned {
                version: document.version,
                values: document.values.clone(),
            },
        );
        tracing::info!(
            version = document.version,
            applied_live = ?change.applied_live,
            needs_restart = ?change.needs_restart,
            "configuration updated"
        );
        Ok(Written { document, change })
    }

    /// Publishes every stored document into this process's live configuration (at
    /// start, so the services beside coordination run with the latest values); how
    /// many.
    pub async fn publish_stored(&self) -> Result<usize, CoordinationError> {
        let documents = store::documents::all(self.db.reader()).await?;
        let count = documents.len();
        for (service, document) in documents {
            self.live.publish(
                service,
                Versioned {
                    version: document.version,
                    values: document.values,
                },
            );
        }
        Ok(count)
    }
}

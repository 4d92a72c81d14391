//! The registry: instances register and heartbeat with the same call, deregister when
//! they shut down, and are swept out when they miss their TTL (never within one TTL of
//! this process's start, when nobody could have heartbeated to it).

use platform::service::ServiceKind;

use super::{CoordinationApp, CoordinationError};
use crate::domain::{Expiry, Instance, Registration};
use crate::events::{self, Departure};
use crate::store;

/// The most expired instances one sweep deletes (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 500;

/// A registration as stored, and what the instance needs to know back.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The instance now.
    pub instance: Instance,
    /// Whether it was new (not a heartbeat).
    pub created: bool,
    /// The current version of its service's configuration document (0: none), so the
    /// instance notices a change on its next heartbeat.
    pub config_version: u64,
}

impl CoordinationApp {
    /// Registers an instance, or takes a heartbeat of a registered one (same service and
    /// instance id): its address, version and TTL as given, last seen now. Only a new
    /// registration is announced.
    #[tracing::instrument(
        skip_all,
        fields(service = %registration.service, instance_id = registration.instance_id.as_str()),
        err
    )]
    pub async fn register(
        &self,
        registration: Registration,
    ) -> Result<Registered, CoordinationError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let created = store::instances::insert_new(&mut tx, &registration, now).await?;
        if !created {
            store::instances::heartbeat(&mut tx, &registration, now).await?;
        }
        let instance = store::instances::get(
            &mut *tx,
            registration.service,
            registration.instance_id.as_str(),
        )
        .await?
        .ok_or(CoordinationError::NotFound("instance"))?;
        if created {
            self.outbox
                .stage(&mut tx, &events::registered(&instance))
                .await?;
        }
        let config_version = store::documents::version(&mut *tx, registration.service).await?;
        tx.commit().await?;
        if created {
            self.outbox.wake();
            tracing::info!(address = instance.address.as_str(), "instance registered");
        }
        Ok(Registered {
            instance,
            created,
            config_version,
        })
    }

    /// Removes an instance that is shutting down.
    #[tracing::instrument(skip_all, fields(%service, instance_id), err(level = "debug"))]
    pub async fn deregister(
        &self,
        service: ServiceKind,
        instance_id: &str,
    ) -> Result<(), CoordinationError> {
        let mut tx = self.db.begin().await?;
        let gone = store::instances::delete(&mut tx, service, instance_id)
            .await?
            .ok_or(CoordinationError::NotFound("instance"))?;
        self.outbox
            .stage(&mut tx, &events::deregistered(&gone, Departure::Shutdown))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!("instance deregistered");
        Ok(())
    }

    /// One registered instance.
    pub async fn instance(
        &self,
        service: ServiceKind,
        instance_id: &str,
    ) -> Result<Instance, CoordinationError> {
        store::instances::get(self.db.reader(), service, instance_id)
            .await?
            .ok_or(CoordinationError::NotFound("instance"))
    }

    /// Every registered instance, or those of `service`.
    pub async fn instances(
        &self,
        service: Option<ServiceKind>,
    ) -> Result<Vec<Instance>, CoordinationError> {
        Ok(store::instances::list(self.db.reader(), service).await?)
    }

    /// Drops the instances whose TTL has passed, both since their last heartbeat and
    /// since this process started (so a restart longer than a TTL drops nobody who
    /// heartbeats within one TTL of it, see [`Expiry`]), and announces each; how many.
    /// Runs on every replica: the delete decides which replica announces an instance.
    pub async fn sweep(&self) -> Result<usize, CoordinationError> {
        let expiry = Expiry {
            now: self.clock.now_millis(),
            started_at: self.started_at,
        };
        // Most sweeps find nothing; asking the read side first keeps them from taking
        // the writer.
        if !store::instances::any_expired(self.db.reader(), expiry).await? {
            return Ok(0);
        }
        let mut tx = self.db.begin().await?;
        let gone = store::instances::delete_expired(&mut tx, expiry, SWEEP_BATCH).await?;
        for instance in &gone {
            self.outbox
                .stage(&mut tx, &events::deregistered(instance, Departure::Expired))
                .await?;
        }
        tx.commit().await?;
        if !gone.is_empty() {
            self.outbox.wake();
            for instance in &gone {
                tracing::info!(
                    service = %instance.service,
                    instance_id = instance.instance_id.as_str(),
                    "instance expired"
                );
            }
        }
        Ok(gone.len())
    }
}

//! Health: a poller asks every registered instance's `/health/ready` and records what
//! it answered (announcing each change), and the health of a service and of the whole
//! platform is aggregated from those records.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use platform::service::ServiceKind;

use super::{CoordinationApp, CoordinationError};
use crate::domain::{self, HealthStatus, Instance, ServiceHealth};
use crate::events;
use crate::store;

/// The health of one service and of each of its instances.
#[derive(Debug, Clone)]
pub struct ServiceHealthReport {
    /// The service.
    pub service: ServiceKind,
    /// Up when every instance is, degraded when some are, down when none is.
    pub status: ServiceHealth,
    /// Its instances.
    pub instances: Vec<Instance>,
}

/// The health of every registered service.
#[derive(Debug, Clone)]
pub struct PlatformHealth {
    /// Up when every service is, down when none is (or none is registered).
    pub status: ServiceHealth,
    /// Each service by name.
    pub services: BTreeMap<&'static str, ServiceSummary>,
}

/// One service in the platform's health.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSummary {
    /// Its health.
    pub status: ServiceHealth,
    /// How many instances are registered.
    pub instances: usize,
    /// How many of them are up.
    pub up: usize,
}

impl CoordinationApp {
    /// Polls every registered instance once and records the answers; how many
    /// instances changed status. Runs on every replica: a change is recorded only from
    /// the status the poll started from, so one replica announces each.
    pub async fn poll_health(&self) -> Result<usize, CoordinationError> {
        let instances = store::instances::list(self.db.reader(), None).await?;
        if instances.is_empty() {
            return Ok(0);
        }
        let timeout = Duration::from_millis(self.config.health_timeout_ms);
        let mut polled: Vec<(Instance, HealthStatus)> = futures_util::stream::iter(instances)
            .map(|instance| async move {
                let status = self.probe(&instance.address, timeout).await;
                (instance, status)
            })
            .buffer_unordered(self.config.health_concurrency.max(1))
            .collect()
            .await;
        // Rows are updated in one order on every replica, so two never wait on each
        // other in a cycle.
        polled.sort_by(|(a, _), (b, _)| {
            (a.service.as_str(), &a.instance_id).cmp(&(b.service.as_str(), &b.instance_id))
        });
        let now = self.clock.now_millis();
        let mut changed = 0;
        let mut tx = self.db.begin().await?;
        for (instance, status) in &polled {
            let recorded = store::instances::record_health(&mut tx, instance, *status, now).await?;
            if recorded && instance.status != *status {
                self.outbox
                    .stage(&mut tx, &events::health_changed(instance, *status))
                    .await?;
                changed += 1;
                tracing::info!(
                    service = %instance.service,
                    instance_id = instance.instance_id.as_str(),
                    from = %instance.status,
                    to = %status,
                    "instance health changed"
                );
            }
        }
        tx.commit().await?;
        if changed > 0 {
            self.outbox.wake();
        }
        Ok(changed)
    }

    /// What `{address}/health/ready` answers within `timeout`: up on 2xx, down on
    /// anything else, no answer included.
    async fn probe(&self, address: &str, timeout: Duration) -> HealthStatus {
        let Ok(request) = http::Request::get(format!("{address}/health/ready")).body(Body::empty())
        else {
            return HealthStatus::Down;
        };
        let answer = tokio::time::timeout(timeout, async {
            let response = self.http.request(request).await.ok()?;
            let status = response.status().as_u16();
            // Read to the end, so the connection goes back to the pool for the next poll.
            let _ = response.into_body().collect().await;
            Some(status)
        })
        .await
        .ok()
        .flatten();
        HealthStatus::of_answer(answer)
    }

    /// The health of `service` and its instances.
    pub async fn service_health(
        &self,
        service: ServiceKind,
    ) -> Result<ServiceHealthReport, CoordinationError> {
        let instances = store::instances::list(self.db.reader(), Some(service)).await?;
        Ok(ServiceHealthReport {
            service,
            status: domain::service_health(instances.iter().map(|i| i.status)),
            instances,
        })
    }

    /// The health of every registered service.
    pub async fn platform_health(&self) -> Result<PlatformHealth, CoordinationError> {
        let instances = store::instances::list(self.db.reader(), None).await?;
        let mut by_service: BTreeMap<&'static str, Vec<HealthStatus>> = BTreeMap::new();
        for instance in &instances {
            by_service
                .entry(instance.service.as_str())
                .or_default()
                .push(instance.status);
        }
        let services: BTreeMap<&'static str, ServiceSummary> = by_service
            .into_iter()
            .map(|(name, statuses)| {
                let summary = ServiceSummary {
                    status: domain::service_health(statuses.iter().copied()),
                    instances: statuses.len(),
                    up: statuses.iter().filter(|s| **s == HealthStatus::Up).count(),
                };
                (name, summary)
            })
            .collect();
        Ok(PlatformHealth {
            status: domain::platform_health(services.values().map(|s| s.status)),
            services,
        })
    }
}

//! Merchants' outbound webhooks: an admin's endpoints (create, read, change, rotate the
//! secret, delete), the delivery log and an operator's resend, and the fan-out of one
//! consumed event to the endpoints subscribed to its type, inside the consumer's
//! transaction (so an event is queued for each endpoint exactly once, whatever the bus
//! redelivers). Sending is the dispatcher's; the retention sweep prunes the log
//! ([`SettledDeliveries`]).

use platform::bus::Envelope;
use platform::db::{Dialect, Tx};
use platform::retention::{DAY_MS, RetentionRule};

use super::{NotificationsApp, NotificationsError};
use crate::domain::{
    Attempt, DeliveryStatus, Endpoint, EndpointSettings, WebhookDelivery, is_subscribable,
    new_secret, payload,
};
use crate::store::webhooks as store;

/// A change to an endpoint; absent parts stay as they are.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    /// A new URL.
    pub url: Option<String>,
    /// A new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New subscriptions, replacing the old ones.
    pub event_types: Option<Vec<String>>,
    /// Switches sending on or off.
    pub enabled: Option<bool>,
}

/// The retention sweep's rule for the delivery log: delivered and failed deliveries
/// (with their attempts) go `log_retention_days` after their last change; pending ones
/// stay until they settle.
pub struct SettledDeliveries {
    dialect: Dialect,
    days: u32,
}

impl SettledDeliveries {
    /// The rule for `app`'s database, keeping the log `days` days.
    pub fn new(app: &NotificationsApp, days: u32) -> Self {
        Self {
            dialect: app.db.dialect(),
            days,
        }
    }
}

#[async_trait::async_trait]
impl RetentionRule for SettledDeliveries {
    fn table(&self) -> &'static str {
        "webhook_deliveries"
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        let before = now.saturating_sub(i64::from(self.days).saturating_mul(DAY_MS));
        store::delete_settled_deliveries(tx, self.dialect, before, limit).await
    }
}

impl NotificationsApp {
    /// Registers an endpoint with a new signing secret.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn create_endpoint(
        &self,
        settings: EndpointSettings,
    ) -> Result<Endpoint, NotificationsError> {
        let now = self.clock.now_millis();
        let endpoint = Endpoint {
            id: platform::ids::new_id(),
            settings,
            secret: new_secret(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_endpoint(&mut tx, &endpoint).await?;
        tx.commit().await?;
        tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint created");
        Ok(endpoint)
    }

    /// Endpoints by id.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn endpoints(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Endpoint>, NotificationsError> {
        Ok(store::endpoints(self.db.reader(), after, limit).await?)
    }

    /// One endpoint.
    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    pub async fn endpoint(&self, id: &str) -> Result<Endpoint, NotificationsError> {
        store::endpoint(self.db.reader(), id)
            .await?
            .ok_or(NotificationsError::NoSuchEndpoint)
    }

    /// Applies `change` to endpoint `id`, checked as a whole.
    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    pub async fn change_endpoint(
        &self,
        id: &str,
        change: EndpointChange,
    ) -> Result<Endpoint, NotificationsError> {
        let mut tx = self.db.begin().await?;
        let mut endpoint = store::endpoint_in(&mut tx, id)
            .await?
            .ok_or(NotificationsError::NoSuchEndpoint)?;
        let old = endpoint.settings.clone();
        endpoint.settings = EndpointSettings::new(
            change.url.as_deref().unwrap_or(&old.url),
            change.description.unwrap_or(old.description),
            change.event_types.unwrap_or(old.event_types),
            change.enabled.unwrap_or(old.enabled),
        )
        .map_err(|(field, why)| NotificationsError::InvalidEndpoint(field, why))?;
        endpoint.updated_at = self.clock.now_millis();
        store::update_endpoint(&mut tx, &endpoint).await?;
        tx.commit().await?;
        // Deliveries of a re-enabled endpoint may be due now.
        self.wake_dispatcher();
        Ok(endpoint)
    }

    /// Gives endpoint `id` a new signing secret; the old one signs nothing from now on.
    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    pub async fn rotate_secret(&self, id: &str) -> Result<Endpoint, NotificationsError> {
        let mut tx = self.db.begin().await?;
        let mut endpoint = store::endpoint_in(&mut tx, id)
            .await?
            .ok_or(NotificationsError::NoSuchEndpoint)?;
        endpoint.secret = new_secret();
        endpoint.updated_at = self.clock.now_millis();
        store::update_endpoint(&mut tx, &endpoint).await?;
        tx.commit().await?;
        tracing::info!(endpoint_id = %id, "webhook signing secret rotated");
        Ok(endpoint)
    }

    /// Deletes endpoint `id` and its delivery log.
    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    pub async fn delete_endpoint(&self, id: &str) -> Result<(), NotificationsError> {
        let mut tx = self.db.begin().await?;
        let deleted = store::delete_endpoint(&mut tx, id).await?;
        tx.commit().await?;
        if deleted {
            Ok(())
        } else {
            Err(NotificationsError::NoSuchEndpoint)
        }
    }

    /// Endpoint `endpoint_id`'s deliveries, newest first.
    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint_id), err(level = "debug"))]
    pub async fn deliveries(
        &self,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, NotificationsError> {
        self.endpoint(endpoint_id).await?;
        Ok(store::deliveries(self.db.reader(), endpoint_id, status, before, limit).await?)
    }

    /// One delivery with its attempts.
    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint_id, delivery_id = %id), err(level = "debug"))]
    pub async fn delivery(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> Result<(WebhookDelivery, Vec<Attempt>), NotificationsError> {
        store::delivery(self.db.reader(), endpoint_id, id)
            .await?
            .ok_or(NotificationsError::NoSuchDelivery)
    }

    /// Sends a delivered or failed delivery once more, now.
    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint_id, delivery_id = %id), err(level = "debug"))]
    pub async fn resend(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> Result<(WebhookDelivery, Vec<Attempt>), NotificationsError> {
        let mut tx = self.db.begin().await?;
        let requeued = store::requeue(&mut tx, endpoint_id, id, self.clock.now_millis()).await?;
        tx.commit().await?;
        if !requeued {
            // Either there is no such delivery or it is still pending.
            self.delivery(endpoint_id, id).await?;
            return Err(NotificationsError::DeliveryPending);
        }
        self.wake_dispatcher();
        self.delivery(endpoint_id, id).await
    }

    /// Queues `event` for every endpoint subscribed to its type, in the consumer's `tx`
    /// (a switched-off endpoint's wait until it is on again); how many were queued.
    pub(crate) async fn fan_out(
        &self,
        tx: &mut Tx,
        event: &Envelope,
    ) -> Result<usize, platform::db::Error> {
        if !is_subscribable(&event.event_type) {
            return Ok(0);
        }
        let endpoints = store::subscribers(tx, &event.event_type).await?;
        if endpoints.is_empty() {
            return Ok(0);
        }
        let body = payload(&event.event_type, &event.time, &event.data);
        let now = self.clock.now_millis();
        let mut queued = 0;
        for endpoint_id in endpoints {
            let delivery = WebhookDelivery {
                id: platform::ids::new_id(),
                endpoint_id,
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                payload: body.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_status_code: None,
                last_error: None,
                created_at: now,
                delivered_at: None,
            };
            if store::insert_delivery(tx, &delivery).await? {
                queued += 1;
            }
        }
        if queued > 0 {
            let wake = self.webhook_wake.clone();
            tx.after_commit(move || wake.notify_one());
        }
        Ok(queued)
    }

    /// Tells the dispatcher that deliveries may be due.
    pub(crate) fn wake_dispatcher(&self) {
        self.webhook_wake.notify_one();
    }
}

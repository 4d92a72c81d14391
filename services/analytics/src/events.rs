//! What analytics consumes: identity's tenants, ingestion's attribution events and
//! touchpoints (the ledger, attribution and read models), and Viscount's own ordering,
//! payments and inventory events (the KPIs). Each event is applied in the consumer's
//! transaction, which also records it as applied, so a redelivery changes nothing.

use async_trait::async_trait;
use contracts::Event;
use contracts::identity::TenantCreated;
use contracts::ingestion::{EventReceived, TouchpointRecorded};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{AnalyticsApp, AnalyticsError};

/// The event types the ledger side acts on; the KPI side names its own
/// ([`crate::app::KPI_EVENTS`]).
const LEDGER_EVENTS: [&str; 3] = [
    TenantCreated::TYPE,
    EventReceived::TYPE,
    TouchpointRecorded::TYPE,
];

/// Applies other services' events to analytics' ledger, read models and KPIs.
pub struct AnalyticsEvents {
    /// The operations.
    pub app: AnalyticsApp,
}

#[async_trait]
impl EventHandler for AnalyticsEvents {
    #[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.event_type), err)]
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let app = &self.app;
        let applied = if event.is::<EventReceived>() {
            app.record_event_in(tx, &event.decode()?).await
        } else if event.is::<TouchpointRecorded>() {
            app.record_touchpoint_in(tx, &event.decode()?).await
        } else if event.is::<TenantCreated>() {
            let created: TenantCreated = event.decode()?;
            crate::store::tenants::put_tenant(
                tx,
                &created.tenant_id,
                &created.name,
                app.clock.now_millis(),
            )
            .await
            .map_err(AnalyticsError::from)
        } else {
            app.record_kpi_in(tx, event).await
        };
        applied.map_err(|err| match err {
            AnalyticsError::Sql(err) => HandlerError::Sql(err),
            other => HandlerError::Rejected(other.to_string()),
        })
    }

    fn handles(&self, event_type: &str) -> bool {
        LEDGER_EVENTS.contains(&event_type) || crate::app::KPI_EVENTS.contains(&event_type)
    }
}

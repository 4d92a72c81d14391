//! After the saga: a paid order follows its parcels (fulfillment's dispatched and
//! delivered events) to `shipped` and `delivered`.

use platform::db::Tx;

use super::OrderingApp;
use crate::domain::{OrderStatus, ShipmentProgress};
use crate::store;

impl OrderingApp {
    /// Moves an order along with its parcels, inside the consumer's transaction.
    /// Progress that does not apply (the order is already further, or was cancelled)
    /// changes nothing.
    #[tracing::instrument(skip_all, fields(order_id = %order_id, ?progress), err(level = "debug"))]
    pub async fn follow_shipment_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        progress: ShipmentProgress,
        reason: &str,
    ) -> Result<Option<OrderStatus>, platform::db::Error> {
        let Some(mut order) = store::orders::for_update(tx, self.db.dialect(), order_id).await?
        else {
            tracing::warn!(order_id, ?progress, "shipment event for an unknown order");
            return Ok(None);
        };
        let change = match order.follow_shipment(progress, reason, self.clock.now_millis()) {
            Ok(change) => change,
            Err(refused) => {
                tracing::debug!(order_id, %refused, "shipment event does not move the order");
                return Ok(None);
            }
        };
        self.save_change(tx, &order, &change).await?;
        self.stage_shipping_event(tx, &order, &change).await?;
        Ok(Some(change.to))
    }
}

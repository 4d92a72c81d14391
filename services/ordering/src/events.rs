//! What ordering consumes: catalog's prices (its own price copy), the saga
//! participants' answers from inventory and payments (with payments' fraud holds),
//! and fulfillment's parcels (the order follows them to shipped and delivered; a
//! received return is refunded) and returns (an open one keeps a delivered order from
//! completing). Each
//! event becomes domain values here and one call of `app`; what ordering emits is built
//! by the domain and staged by `app`, in the same transaction as the change.

use async_trait::async_trait;
use contracts::Event;
use contracts::catalog::{PriceChanged, ProductCreated, ProductDeleted, ProductUpdated};
use contracts::fulfillment::{
    ReturnReceived, ReturnRejected, ReturnRequested, ShipmentDelivered, ShipmentDispatched,
    ShipmentReturned,
};
use contracts::inventory::{ReservationFailed, StockReserved};
use contracts::payments::{
    FraudDecision, FraudDetected, PaymentActionRequired, PaymentAuthorized, PaymentCaptured,
    PaymentFailed, RefundProcessed,
};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{OrderingApp, OrderingError};
use crate::domain::{Price, ProcessedRefund, SagaEvent, ShipmentProgress, Sku};

/// The event types ordering acts on.
const HANDLED: [&str; 18] = [
    ProductCreated::TYPE,
    ProductUpdated::TYPE,
    PriceChanged::TYPE,
    ProductDeleted::TYPE,
    StockReserved::TYPE,
    ReservationFailed::TYPE,
    PaymentAuthorized::TYPE,
    PaymentFailed::TYPE,
    PaymentCaptured::TYPE,
    FraudDetected::TYPE,
    PaymentActionRequired::TYPE,
    RefundProcessed::TYPE,
    ShipmentDispatched::TYPE,
    ShipmentDelivered::TYPE,
    ReturnReceived::TYPE,
    ShipmentReturned::TYPE,
    ReturnRequested::TYPE,
    ReturnRejected::TYPE,
];

/// The answers that can end an order's saga.
const SETTLING: [&str; 3] = [
    ReservationFailed::TYPE,
    PaymentAuthorized::TYPE,
    PaymentFailed::TYPE,
];

/// Applies catalog, inventory, payments and fulfillment events.
pub struct OrderingEvents {
    /// The operations.
    pub app: OrderingApp,
}

/// A sku catalog sent; catalog only sells valid ones, so anything else is refused.
fn sku(raw: String) -> Result<Sku, HandlerError> {
    Sku::try_from(raw).map_err(|invalid| HandlerError::Rejected(format!("invalid sku: {invalid}")))
}

#[async_trait]
impl EventHandler for OrderingEvents {
    #[tracing::instrument(skip_all, fields(event_type = %event.event_type, subject = %event.subject), err)]
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let app = &self.app;
        if event.is::<ProductCreated>() || event.is::<ProductUpdated>() {
            // Both carry the same facts.
            let ProductCreated(facts) = serde::Deserialize::deserialize(&event.data)?;
            let price = Price {
                sku: sku(facts.sku)?,
                product_id: facts.product_id,
                name: facts.name,
                price: facts.price,
            };
            app.set_price_in(tx, &price).await?;
        } else if event.is::<PriceChanged>() {
            let changed: PriceChanged = event.decode()?;
            app.change_price_in(tx, sku(changed.sku)?, changed.product_id, changed.new_price)
                .await?;
        } else if event.is::<ProductDeleted>() {
            let deleted: ProductDeleted = event.decode()?;
            app.remove_price_in(tx, &sku(deleted.sku)?).await?;
        } else if event.is::<StockReserved>() {
            let reserved: StockReserved = event.decode()?;
            app.advance_in(tx, &reserved.order_id, SagaEvent::StockReserved)
                .await?;
        } else if event.is::<ReservationFailed>() {
            let failed: ReservationFailed = event.decode()?;
            app.advance_in(
                tx,
                &failed.order_id,
                SagaEvent::ReservationFailed(failed.reason),
            )
            .await?;
        } else if event.is::<PaymentAuthorized>() {
            let authorized: PaymentAuthorized = event.decode()?;
            app.advance_in(tx, &authorized.order_id, SagaEvent::PaymentAuthorized)
                .await?;
        } else if event.is::<PaymentFailed>() {
            let failed: PaymentFailed = event.decode()?;
            let reason = format!("payment failed: {}", failed.detail);
            app.advance_in(tx, &failed.order_id, SagaEvent::PaymentFailed(reason))
                .await?;
        } else if event.is::<FraudDetected>() {
            // A block is followed by `payment.failed`, which settles the order; a
            // review gives the payment step the review's time.
            let detected: FraudDetected = event.decode()?;
            if let (FraudDecision::Review, Some(timeout)) =
                (detected.decision, detected.review_timeout_secs)
            {
                app.payment_held_in(
                    tx,
                    &detected.order_id,
                    timeout,
                    "payment held for fraud review",
                )
                .await?;
            }
        } else if event.is::<PaymentActionRequired>() {
            // 3-D Secure: the customer's browser authenticates the card; the payment
            // step gets their time.
            let required: PaymentActionRequired = event.decode()?;
            app.payment_held_in(
                tx,
                &required.order_id,
                required.wait_secs,
                "payment waits for the customer to authenticate the card (3-D Secure)",
            )
            .await?;
        } else if event.is::<PaymentCaptured>() {
            let captured: PaymentCaptured = event.decode()?;
            app.captured_in(tx, &captured.order_id, captured.amount.amount)
                .await?;
        } else if event.is::<RefundProcessed>() {
            let refund: RefundProcessed = event.decode()?;
            let processed = ProcessedRefund {
                refund_id: refund.refund_id,
                amount: refund.amount,
                refunded_total: refund.refunded_total.amount,
                captured_total: refund.captured_total.amount,
            };
            app.apply_refund_in(tx, &refund.order_id, &refund.payment_id, &processed)
                .await?;
        } else if event.is::<ShipmentDispatched>() {
            let dispatched: ShipmentDispatched = event.decode()?;
            let reason = format!(
                "shipment {} dispatched with {} ({})",
                dispatched.shipment_id, dispatched.carrier, dispatched.tracking_number
            );
            app.follow_shipment_in(
                tx,
                &dispatched.order_id,
                ShipmentProgress::Dispatched,
                &reason,
            )
            .await?;
        } else if event.is::<ShipmentDelivered>() {
            let delivered: ShipmentDelivered = event.decode()?;
            // One parcel of several arriving does not deliver the order.
            if delivered.order_delivered {
                let reason = format!("shipment {} delivered", delivered.shipment_id);
                app.follow_shipment_in(
                    tx,
                    &delivered.order_id,
                    ShipmentProgress::Delivered,
                    &reason,
                )
                .await?;
            }
        } else if event.is::<ReturnRequested>() {
            let requested: ReturnRequested = event.decode()?;
            app.return_opened_in(tx, &requested.order_id, &requested.return_id)
                .await?;
        } else if event.is::<ReturnRejected>() {
            // Rejected: nothing comes back, so it no longer holds the order open.
            let rejected: ReturnRejected = event.decode()?;
            app.return_closed_in(tx, &rejected.order_id, &rejected.return_id)
                .await?;
        } else if event.is::<ReturnReceived>() || event.is::<ShipmentReturned>() {
            // A parcel back at the sender is refunded like a received return.
            let returned: ReturnReceived = if event.is::<ShipmentReturned>() {
                event.decode::<ShipmentReturned>()?.into()
            } else {
                event.decode()?
            };
            // Back: it no longer holds the order open (a parcel back at the sender
            // closes a return that was never opened, which is harmless).
            app.return_closed_in(tx, &returned.order_id, &returned.return_id)
                .await?;
            match app.refund_return_in(tx, &returned).await {
                Ok(_) => {}
                Err(OrderingError::Sql(err)) => return Err(err.into()),
                Err(err) => {
                    return Err(HandlerError::Rejected(format!(
                        "cannot refund return {} of order {}: {err}",
                        returned.return_id, returned.order_id
                    )));
                }
            }
        }
        Ok(())
    }

    fn handles(&self, event_type: &str) -> bool {
        HANDLED.contains(&event_type)
    }

    fn applied(&self, event: &Envelope) {
        // Whoever waits, waits for an order to settle; of the saga's answers only these
        // can settle one (a reservation moves it on, a capture follows confirmation),
        // so the others wake nobody for a read that would find it unsettled.
        if !SETTLING.contains(&event.event_type.as_str()) {
            return;
        }
        if let Some(order_id) = event.data.get("order_id").and_then(|v| v.as_str()) {
            self.app.order_changed(order_id);
        }
    }
}

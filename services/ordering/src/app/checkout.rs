//! Placing an order: price its lines, create its payment with payments, store it
//! `pending` and emit `order.created`, which starts the saga.

use platform::auth::ForwardedCredentials;

use super::{Caller, OrderingApp, OrderingError};
use crate::domain::{
    self, MAX_LINES, Order, OrderDetails, OrderFacts, OrderSource, PlaceOrder, Sku,
};
use crate::store;

impl OrderingApp {
    /// Places an order. The card goes to payments (with the caller's `credentials`)
    /// and nowhere else; an order from a cart empties the cart.
    #[tracing::instrument(skip_all, fields(order_id), err(level = "debug"))]
    pub async fn place_order(
        &self,
        caller: &Caller,
        credentials: &ForwardedCredentials,
        request: PlaceOrder,
    ) -> Result<OrderDetails, OrderingError> {
        let (wanted, cart_id): (Vec<(Sku, u32)>, Option<String>) = match &request.source {
            OrderSource::Items(items) => (domain::merge_lines(items), None),
            OrderSource::Cart(cart_id) => {
                let mut conn = self.db.reader().acquire().await?;
                let cart = store::carts::of_user(&mut conn, cart_id, caller.user_id())
                    .await?
                    .ok_or(OrderingError::NotFound)?;
                (cart.wanted(), Some(cart.id))
            }
        };
        if wanted.is_empty() {
            return Err(OrderingError::EmptyCart);
        }
        if wanted.len() > MAX_LINES {
            return Err(OrderingError::TooManyLines);
        }
        let skus: Vec<&str> = wanted.iter().map(|(sku, _)| sku.as_str()).collect();
        let prices = store::prices::of(self.db.reader(), &skus).await?;
        let lines = domain::price_lines(&wanted, &prices)?;
        let total = domain::total(lines.iter().map(|l| (&l.unit_price, l.quantity)))
            .ok_or(OrderingError::MixedCurrencies)?;

        let order_id = platform::ids::new_id();
        tracing::Span::current().record("order_id", order_id.as_str());
        let payment = self
            .payments
            .create_payment(credentials, &order_id, &total, &request.payment)
            .await?;

        let now = self.clock.now_millis();
        let order = Order::place(
            OrderFacts {
                id: order_id,
                user_id: caller.user_id().to_owned(),
                total,
                shipping_address: request.shipping_address,
                payment_id: Some(payment.id),
                card_brand: payment.brand,
                card_last4: payment.last4,
                attribution: request.attribution,
                created_at: now,
            },
            now + self.step_timeout_ms(),
        );
        let mut tx = self.db.begin().await?;
        store::orders::insert(&mut tx, &order, &lines, "order placed").await?;
        if let Some(cart_id) = &cart_id {
            // Read as the caller's above, and carts are never deleted: the touch finds it.
            store::carts::touch_own(&mut tx, cart_id, caller.user_id(), now).await?;
            store::carts::clear(&mut tx, cart_id).await?;
        }
        self.outbox
            .stage(&mut tx, &order.created_event(&lines))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(OrderDetails { order, lines })
    }
}

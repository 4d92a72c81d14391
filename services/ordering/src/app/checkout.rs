//! Placing an order: price its lines, hold the loyalty points it redeems at identity
//! (the discount comes off the total), create its payment with payments for what is
//! left, store it `pending` and emit `order.created`, which starts the saga.
//!
//! An order is stored with the customer's `Idempotency-Key`, unique per customer, in the
//! same transaction: the platform's idempotency record (stored after the answer) can be
//! lost with a process killed in between, and the retry that takes over its stale claim
//! must find the order, not place a second one.

use platform::auth::ForwardedCredentials;

use super::{Caller, OrderingApp, OrderingError};
use crate::domain::{
    self, Cart, LoyaltyError, MAX_LINES, Order, OrderDetails, OrderFacts, OrderSource, PlaceOrder,
    Sku,
};
use crate::store;

impl OrderingApp {
    /// Places an order, or answers the one already placed under `idempotency_key`.
    /// The card goes to payments (with the caller's `credentials`) and nowhere else; an
    /// order from a cart empties the cart.
    #[tracing::instrument(skip_all, fields(order_id), err(level = "debug"))]
    pub async fn place_order(
        &self,
        caller: &Caller,
        credentials: &ForwardedCredentials,
        request: PlaceOrder,
        idempotency_key: Option<&str>,
    ) -> Result<OrderDetails, OrderingError> {
        if let Some(placed) = self.placed_under(caller, idempotency_key).await? {
            return Ok(placed);
        }
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
        let subtotal = domain::total(lines.iter().map(|l| (&l.unit_price, l.quantity)))
            .ok_or(OrderingError::MixedCurrencies)?;

        let order_id = platform::ids::new_id();
        tracing::Span::current().record("order_id", order_id.as_str());
        // Held before the payment, keyed by the order id decided above: a retry under
        // the same key finds its order first, so points are never held twice for it.
        // Points held for an order that then fails here are given back at once; if the
        // process dies before the order is stored, identity's sweep of stale
        // reservations gives them back.
        let loyalty = match request.loyalty_points {
            Some(points) => Some(
                self.hold_points(caller, credentials, &order_id, points, &subtotal)
                    .await?,
            ),
            None => None,
        };
        let priced = match &loyalty {
            Some(redemption) => domain::discounted_total(&subtotal, &redemption.discount)
                .ok_or(OrderingError::DiscountExceedsSubtotal),
            None => Ok(subtotal),
        };
        let created = match priced {
            Ok(total) => self
                .payments
                .create_payment(
                    credentials,
                    &order_id,
                    &total,
                    &request.payment,
                    &request.shipping_address.country,
                )
                .await
                .map(|payment| (total, payment))
                .map_err(OrderingError::from),
            Err(err) => Err(err),
        };
        let (total, payment) = match created {
            Ok(created) => created,
            Err(err) => {
                if loyalty.is_some() {
                    self.release_points(caller, credentials, &order_id).await;
                }
                return Err(err);
            }
        };
        // From here to the commit below a cut leaves a payment without its order: the
        // route runs detached from its client (`http::router`), and payments gives up a
        // payment no order took further (its expiry sweep) if the process dies here.
        self.gate.pass().await;

        let now = self.clock.now_millis();
        let order = Order::place(
            OrderFacts {
                id: order_id,
                user_id: caller.user_id().to_owned(),
                total,
                shipping_address: request.shipping_address,
                loyalty,
                payment_id: Some(payment.id),
                card_brand: payment.brand,
                card_last4: payment.last4,
                attribution: request.attribution,
                created_at: now,
            },
            now + self.step_timeout_ms(),
        );
        let mut tx = self.db.begin().await?;
        match store::orders::insert(&mut tx, &order, &lines, "order placed", idempotency_key).await
        {
            Ok(()) => {}
            // A retry under the same key got here first: its order is the answer, and
            // the payment made above is given up by payments' expiry sweep.
            Err(err) if err.is_unique_violation() => {
                drop(tx);
                // The other order may be committed but not yet visible to readers (on
                // SQLite the writer commits in groups): an empty transaction's commit
                // returns only once everything written before it is.
                self.db.begin().await?.commit().await?;
                if let Some(placed) = self.placed_under(caller, idempotency_key).await? {
                    return Ok(placed);
                }
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        }
        if let Some(cart_id) = &cart_id {
            // Read as the caller's above, and carts are never deleted: the touch finds it.
            store::carts::touch_own(&mut tx, cart_id, caller.user_id(), now).await?;
            store::carts::clear(&mut tx, cart_id).await?;
            self.forget_cart_at_commit(&mut tx, cart_id).await;
            // Emptied: a change of its lines like any other.
            let emptied = Cart::new(cart_id.clone(), caller.user_id().to_owned());
            self.outbox
                .stage(&mut tx, &emptied.updated_event(&[]))
                .await?;
        }
        self.outbox
            .stage(&mut tx, &order.created_event(&lines))
            .await?;
        crate::metrics::order_entered(&mut tx, &order, order.status());
        tx.commit().await?;
        self.outbox.wake();
        Ok(OrderDetails { order, lines })
    }

    /// Holds `points` of the caller's loyalty points at identity for `order_id`
    /// (priced in `subtotal`'s currency).
    async fn hold_points(
        &self,
        caller: &Caller,
        credentials: &ForwardedCredentials,
        order_id: &str,
        points: u32,
        subtotal: &domain::Money,
    ) -> Result<domain::Redemption, OrderingError> {
        let identity = self.identity.as_ref().ok_or_else(|| {
            LoyaltyError::Unavailable("no identity service to hold loyalty points".into())
        })?;
        Ok(identity
            .reserve_points(
                credentials,
                caller.user_id(),
                order_id,
                points,
                &subtotal.currency,
            )
            .await?)
    }

    /// Gives back the points held for `order_id`, which will not be placed. Best
    /// effort: identity's sweep of stale reservations gives them back otherwise.
    async fn release_points(
        &self,
        caller: &Caller,
        credentials: &ForwardedCredentials,
        order_id: &str,
    ) {
        let Some(identity) = &self.identity else {
            return;
        };
        if let Err(err) = identity
            .release_points(credentials, caller.user_id(), order_id)
            .await
        {
            tracing::warn!(error = %err, order_id, "held loyalty points not given back");
        }
    }

    /// The order the caller placed under `idempotency_key`, if one was.
    async fn placed_under(
        &self,
        caller: &Caller,
        idempotency_key: Option<&str>,
    ) -> Result<Option<OrderDetails>, OrderingError> {
        let Some(key) = idempotency_key else {
            return Ok(None);
        };
        match store::orders::placed_under(self.db.reader(), caller.user_id(), key).await? {
            Some(id) => Ok(Some(self.order(caller, &id).await?)),
            None => Ok(None),
        }
    }
}

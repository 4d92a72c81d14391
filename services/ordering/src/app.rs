//! Ordering's operations: carts, placing orders, the saga's steps, cancellation,
//! refunds and admin status changes. Each runs in one transaction with the events it
//! emits; the saga's steps run inside the consumer's transaction (with its inbox row),
//! so a redelivered event has no second effect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts::fulfillment::ReturnReceived;
use contracts::ordering::{
    OrderAuthorized, OrderCancelled, OrderConfirmed, OrderCreated, OrderDelivered, OrderLine,
    OrderPartiallyRefunded, OrderRefunded, OrderReserved, OrderShipped, OrderStatusChanged,
    RefundFacts, RefundRequested,
};
use http::HeaderMap;
use platform::bus::Outbox;
use platform::db::{Db, Tx};
use platform::time::Clock;
use tokio::sync::oneshot;

use crate::OrderingConfig;
use crate::domain::{
    self, CartQuantity, MAX_LINES, Money, OrderStatus, Quantity, SagaCommand, SagaEvent,
    ShipmentProgress, ShippingAddress, Sku,
};
use crate::payments::{PaymentsApi, PaymentsError};
use crate::store::{self, CartRecord, LineRecord, OrderFilter, OrderRecord, PriceRecord};

/// Why an ordering operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderingError {
    /// No such cart or order, or it belongs to someone else.
    #[error("not found")]
    NotFound,
    /// A sku is not for sale (unknown to the price list); the index is the line's.
    #[error("unknown sku {1}")]
    UnknownSku(usize, String),
    /// The lines are priced in different currencies.
    #[error("the items are priced in different currencies")]
    MixedCurrencies,
    /// The cart has no items.
    #[error("the cart is empty")]
    EmptyCart,
    /// Too many lines.
    #[error("at most {MAX_LINES} lines")]
    TooManyLines,
    /// The order is past the point where this is possible.
    #[error("the order is {0}")]
    WrongStatus(OrderStatus),
    /// The refund is in another currency than the order.
    #[error("the refund must be in {0}")]
    WrongCurrency(String),
    /// Payments refused or failed.
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// Who is asking: a user id, and whether they are an admin.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id (token subject).
    pub user_id: String,
    /// Admins see and act on every order.
    pub admin: bool,
}

/// What an order is made of.
#[derive(Debug, Clone)]
pub enum OrderSource {
    /// The caller's cart (emptied once the order is placed).
    Cart(String),
    /// Explicit lines.
    Items(Vec<(Sku, Quantity)>),
}

/// A validated order request.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    /// The lines.
    pub source: OrderSource,
    /// Where it goes.
    pub shipping_address: ShippingAddress,
    /// The payment object as the client sent it; passed to payments unread.
    pub payment: serde_json::Value,
}

/// A priced cart line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CartLine {
    /// The sku.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Current unit price.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// A cart priced now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CartView {
    /// Id.
    pub id: String,
    /// Lines.
    pub items: Vec<CartLine>,
    /// Sum of the lines (null for an empty cart with no currency yet).
    pub total: Option<Money>,
}

/// Who waits for which order to settle (`Prefer: wait`).
#[derive(Default)]
struct Waiters {
    by_order: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
}

impl Waiters {
    fn register(&self, order_id: &str) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut map) = self.by_order.lock() {
            map.entry(order_id.to_owned()).or_default().push(sender);
        }
        receiver
    }

    fn wake(&self, order_id: &str) {
        let senders = self
            .by_order
            .lock()
            .ok()
            .and_then(|mut map| map.remove(order_id));
        for sender in senders.into_iter().flatten() {
            let _ = sender.send(());
        }
    }

    fn forget(&self, order_id: &str) {
        if let Ok(mut map) = self.by_order.lock()
            && let Some(list) = map.get_mut(order_id)
        {
            list.retain(|s| !s.is_closed());
            if list.is_empty() {
                map.remove(order_id);
            }
        }
    }
}

/// Ordering's operations.
#[derive(Clone)]
pub struct OrderingApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: OrderingConfig,
    pub(crate) payments: PaymentsApi,
    waiters: Arc<Waiters>,
}

impl OrderingApp {
    pub(crate) fn new(
        db: Db,
        outbox: Outbox,
        clock: Clock,
        config: OrderingConfig,
        payments: PaymentsApi,
    ) -> Self {
        Self {
            db,
            outbox,
            clock,
            config,
            payments,
            waiters: Arc::default(),
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    // ---- prices (from catalog events) ----

    /// Keeps a sku's price current.
    pub async fn set_price_in(
        &self,
        tx: &mut Tx,
        price: &PriceRecord,
    ) -> Result<(), platform::db::Error> {
        store::upsert_price(tx, price, self.clock.now_millis()).await
    }

    /// Stops selling a sku.
    pub async fn remove_price_in(&self, tx: &mut Tx, sku: &str) -> Result<(), platform::db::Error> {
        store::delete_price(tx, sku).await
    }

    // ---- carts ----

    /// Creates an empty cart for `user_id`.
    pub async fn create_cart(&self, user_id: &str) -> Result<CartView, OrderingError> {
        let id = platform::ids::new_id();
        let mut tx = self.db.begin().await?;
        store::insert_cart(&mut tx, &id, user_id, self.clock.now_millis()).await?;
        tx.commit().await?;
        Ok(CartView {
            id,
            items: Vec::new(),
            total: None,
        })
    }

    /// A cart of `user_id`, priced now.
    pub async fn cart(&self, user_id: &str, cart_id: &str) -> Result<CartView, OrderingError> {
        let mut conn = self.db.reader().acquire().await?;
        let cart = store::cart(&mut conn, cart_id, user_id)
            .await?
            .ok_or(OrderingError::NotFound)?;
        self.price_cart(cart).await
    }

    /// Sets (or with 0 removes) a cart line.
    pub async fn set_cart_item(
        &self,
        user_id: &str,
        cart_id: &str,
        sku: &Sku,
        quantity: CartQuantity,
    ) -> Result<CartView, OrderingError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        if !store::touch_own_cart(&mut tx, cart_id, user_id, now).await? {
            return Err(OrderingError::NotFound);
        }
        let mut cart = CartRecord {
            id: cart_id.to_owned(),
            user_id: user_id.to_owned(),
            items: store::cart_lines(&mut tx, cart_id).await?,
        };
        // The lines as read, changed the way the statement changes them (a new line
        // goes last: it is the latest added), rather than read again.
        let existing = cart.items.iter().position(|(s, _)| s == sku.as_str());
        match quantity {
            CartQuantity::Remove => {
                store::remove_cart_line(&mut tx, cart_id, sku.as_str()).await?;
                if let Some(index) = existing {
                    cart.items.remove(index);
                }
            }
            CartQuantity::Set(quantity) => {
                if existing.is_none() && cart.items.len() >= MAX_LINES {
                    return Err(OrderingError::TooManyLines);
                }
                store::set_cart_line(&mut tx, cart_id, sku.as_str(), quantity.get(), now).await?;
                match existing {
                    Some(index) => cart.items[index].1 = quantity.get(),
                    None => cart.items.push((sku.as_str().to_owned(), quantity.get())),
                }
            }
        }
        // Priced inside the transaction: a sku without a price leaves the cart as it was.
        let skus: Vec<&str> = cart.items.iter().map(|(s, _)| s.as_str()).collect();
        let prices = store::prices(&mut *tx, &skus).await?;
        if !prices.iter().any(|p| p.sku == sku.as_str())
            && cart.items.iter().any(|(s, _)| s == sku.as_str())
        {
            return Err(OrderingError::UnknownSku(0, sku.as_str().to_owned()));
        }
        tx.commit().await?;
        cart_view(cart, prices)
    }

    async fn price_cart(&self, cart: CartRecord) -> Result<CartView, OrderingError> {
        let skus: Vec<&str> = cart.items.iter().map(|(s, _)| s.as_str()).collect();
        let prices = store::prices(self.db.reader(), &skus).await?;
        cart_view(cart, prices)
    }

    /// Prices lines from the price copy; a sku without a price is `UnknownSku`.
    async fn price_lines(&self, wanted: &[(&str, u32)]) -> Result<Vec<LineRecord>, OrderingError> {
        let skus: Vec<&str> = wanted.iter().map(|(s, _)| *s).collect();
        priced_lines(wanted, store::prices(self.db.reader(), &skus).await?)
    }

    // ---- orders ----

    /// Places an order: prices its lines, creates its payment with payments (the card
    /// goes there and nowhere else), stores it `pending` and emits `order.created`,
    /// which starts the saga.
    pub async fn place_order(
        &self,
        caller: &Caller,
        credentials: &HeaderMap,
        request: PlaceOrder,
    ) -> Result<OrderRecord, OrderingError> {
        let (wanted, cart_id): (Vec<(String, u32)>, Option<String>) = match &request.source {
            OrderSource::Items(items) => {
                // One line per sku, in the order first named.
                let mut merged: Vec<(String, u32)> = Vec::new();
                for (sku, quantity) in items {
                    match merged.iter_mut().find(|(s, _)| s == sku.as_str()) {
                        Some((_, q)) => *q = q.saturating_add(quantity.get()),
                        None => merged.push((sku.as_str().to_owned(), quantity.get())),
                    }
                }
                (merged, None)
            }
            OrderSource::Cart(cart_id) => {
                let mut conn = self.db.reader().acquire().await?;
                let cart = store::cart(&mut conn, cart_id, &caller.user_id)
                    .await?
                    .ok_or(OrderingError::NotFound)?;
                (cart.items, Some(cart.id))
            }
        };
        if wanted.is_empty() {
            return Err(OrderingError::EmptyCart);
        }
        if wanted.len() > MAX_LINES {
            return Err(OrderingError::TooManyLines);
        }
        let wanted_refs: Vec<(&str, u32)> = wanted.iter().map(|(s, q)| (s.as_str(), *q)).collect();
        let lines = self.price_lines(&wanted_refs).await?;
        let total = domain::total(lines.iter().map(|l| (&l.unit_price, l.quantity)))
            .ok_or(OrderingError::MixedCurrencies)?;

        let order_id = platform::ids::new_id();
        let payment = self
            .payments
            .create(credentials, &order_id, &total, &request.payment)
            .await?;

        let now = self.clock.now_millis();
        let order = OrderRecord {
            id: order_id,
            user_id: caller.user_id.clone(),
            status: OrderStatus::Pending,
            total,
            shipping_address: request.shipping_address,
            payment_id: Some(payment.id),
            card_brand: payment.brand,
            card_last4: payment.last4,
            cancel_reason: None,
            captured: 0,
            refunded: 0,
            deadline_at: Some(now + self.step_timeout_ms()),
            items: lines,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_order(&mut tx, &order, "order placed").await?;
        if let Some(cart_id) = &cart_id {
            // Read as the caller's above, and carts are never deleted: the touch finds it.
            store::touch_own_cart(&mut tx, cart_id, &caller.user_id, now).await?;
            store::clear_cart(&mut tx, cart_id).await?;
        }
        self.outbox
            .stage(
                &mut tx,
                &OrderCreated {
                    order_id: order.id.clone(),
                    user_id: order.user_id.clone(),
                    items: order
                        .items
                        .iter()
                        .map(|l| OrderLine {
                            sku: l.sku.clone(),
                            quantity: l.quantity,
                            unit_price: l.unit_price.clone(),
                        })
                        .collect(),
                    total: order.total.clone(),
                    payment_id: order.payment_id.clone(),
                },
            )
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(order)
    }

    fn step_timeout_ms(&self) -> i64 {
        i64::try_from(self.config.saga_step_timeout_secs)
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000)
    }

    /// An order without its lines, if the caller may see it (its owner or an admin);
    /// anyone else's is not found.
    async fn visible_order(&self, caller: &Caller, id: &str) -> Result<OrderRecord, OrderingError> {
        store::order_head(self.db.reader(), id)
            .await?
            .filter(|o| caller.admin || o.user_id == caller.user_id)
            .ok_or(OrderingError::NotFound)
    }

    /// An order the caller may see, with its lines.
    pub async fn order(&self, caller: &Caller, id: &str) -> Result<OrderRecord, OrderingError> {
        let mut order = self.visible_order(caller, id).await?;
        order.items = self.lines_of(id).await?;
        Ok(order)
    }

    async fn lines_of(&self, id: &str) -> Result<Vec<LineRecord>, OrderingError> {
        Ok(store::order_lines(self.db.reader(), &[id])
            .await?
            .remove(id)
            .unwrap_or_default())
    }

    /// An order's status history.
    pub async fn history(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<store::HistoryEntry>, OrderingError> {
        self.visible_order(caller, id).await?;
        Ok(store::history(self.db.reader(), id).await?)
    }

    /// Orders newest first: the caller's own, or everyone's for an admin.
    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<OrderStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, OrderingError> {
        let filter = OrderFilter {
            user_id: (!caller.admin).then(|| caller.user_id.clone()),
            status,
        };
        let mut orders = store::list_orders(self.db.reader(), &filter, before, limit).await?;
        let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
        let mut lines = store::order_lines(self.db.reader(), &ids).await?;
        for order in &mut orders {
            order.items = lines.remove(&order.id).unwrap_or_default();
        }
        Ok(orders)
    }

    /// Waits up to `wait` for an order to settle and returns it as it is then.
    pub async fn wait_until_settled(
        &self,
        caller: &Caller,
        id: &str,
        wait: Duration,
    ) -> Result<OrderRecord, OrderingError> {
        let deadline = tokio::time::Instant::now() + wait;
        // Another replica may run the step that settles it, and only this replica's
        // steps wake us: look again now and then, less often the longer it takes.
        let mut poll = Duration::from_millis(250);
        loop {
            // Register before reading, so a step committed in between still wakes us.
            let woken = self.waiters.register(id);
            // The head tells whether it settled; the lines are read once, for the answer.
            let mut order = self.visible_order(caller, id).await?;
            if order.status.is_settled() || tokio::time::Instant::now() >= deadline {
                self.waiters.forget(id);
                order.items = self.lines_of(id).await?;
                return Ok(order);
            }
            let look_again = tokio::time::Instant::now() + poll;
            tokio::select! {
                _ = woken => {}
                () = tokio::time::sleep_until(look_again.min(deadline)) => {
                    poll = (poll * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Wakes whoever waits for `order_id` (after a committed step).
    pub(crate) fn order_changed(&self, order_id: &str) {
        self.waiters.wake(order_id);
    }

    // ---- the saga ----

    /// Applies a participant's answer to an order, inside `tx`. Returns the status the
    /// order ended in, or `None` when the event did not apply (unknown order, or late).
    pub async fn advance_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        event: SagaEvent,
    ) -> Result<Option<OrderStatus>, platform::db::Error> {
        let Some(order) = store::order_for_update(tx, self.db.dialect(), order_id).await? else {
            tracing::warn!(order_id, ?event, "saga event for an unknown order");
            return Ok(None);
        };
        let Some(step) = domain::saga_step(order.status, &event) else {
            tracing::debug!(order_id, status = %order.status, ?event, "saga event does not apply");
            return Ok(None);
        };
        let now = self.clock.now_millis();
        // A step that waits for the next participant gives it its own time.
        let deadline =
            (step.command == SagaCommand::AuthorizePayment).then(|| now + self.step_timeout_ms());
        let mut status = order.status;
        for (next, reason) in &step.entered {
            if !store::set_status_until(tx, order_id, status, *next, Some(reason), now, deadline)
                .await?
            {
                // The row is locked, so this cannot happen; refuse rather than guess.
                return Err(platform::db::Error::Protocol(format!(
                    "order {order_id} left {status} under its lock"
                )));
            }
            status = *next;
        }
        self.emit(
            tx,
            &order,
            step.command,
            step.entered.last().map(|(_, r)| r.as_str()),
        )
        .await?;
        Ok(Some(status))
    }

    async fn emit(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
        command: SagaCommand,
        reason: Option<&str>,
    ) -> Result<(), platform::db::Error> {
        let payment_id = order.payment_id.clone();
        match command {
            SagaCommand::AuthorizePayment => {
                let Some(payment_id) = payment_id else {
                    return Err(platform::db::Error::Protocol(format!(
                        "order {} has no payment",
                        order.id
                    )));
                };
                self.outbox
                    .stage(
                        tx,
                        &OrderReserved {
                            order_id: order.id.clone(),
                            user_id: order.user_id.clone(),
                            payment_id,
                            amount: order.total.clone(),
                        },
                    )
                    .await?;
            }
            SagaCommand::Confirm => {
                // The confirmation carries the order's lines and address to those who
                // act on it (fulfillment keeps them with the shipments, notifications
                // lists them in the email); they are read here, once per order, rather
                // than carried on every saga hop.
                let items = store::order_lines(&mut **tx, &[order.id.as_str()])
                    .await?
                    .remove(&order.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|line| OrderLine {
                        sku: line.sku,
                        quantity: line.quantity,
                        unit_price: line.unit_price,
                    })
                    .collect();
                self.outbox
                    .stage(
                        tx,
                        &OrderAuthorized {
                            order_id: order.id.clone(),
                            payment_id: payment_id.clone().unwrap_or_default(),
                        },
                    )
                    .await?;
                self.outbox
                    .stage(
                        tx,
                        &OrderConfirmed {
                            order_id: order.id.clone(),
                            user_id: Some(order.user_id.clone()),
                            payment_id,
                            total: Some(order.total.clone()),
                            shipping_address: Some(order.shipping_address.clone()),
                            items,
                        },
                    )
                    .await?;
            }
            SagaCommand::Compensate => {
                self.outbox
                    .stage(
                        tx,
                        &OrderCancelled {
                            order_id: order.id.clone(),
                            reason: reason.unwrap_or("cancelled").to_owned(),
                            payment_id,
                        },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Cancels every unsettled order whose current step did not answer in time.
    pub async fn expire_overdue(&self) -> Result<usize, OrderingError> {
        let due = store::overdue_orders(self.db.reader(), self.clock.now_millis(), 100).await?;
        let mut cancelled = 0;
        for order_id in due {
            match self.expire_one(&order_id).await {
                Ok(true) => cancelled += 1,
                Ok(false) => {}
                Err(err) => tracing::warn!(order_id, error = %err, "cannot time out order"),
            }
        }
        if cancelled > 0 {
            self.outbox.wake();
        }
        Ok(cancelled)
    }

    async fn expire_one(&self, order_id: &str) -> Result<bool, platform::db::Error> {
        let mut tx = self.db.begin().await?;
        let Some(order) = store::order_for_update(&mut tx, self.db.dialect(), order_id).await?
        else {
            return Ok(false);
        };
        let waiting_for = match order.status {
            OrderStatus::Pending => "stock",
            OrderStatus::Reserved => "payment",
            _ => "",
        };
        if order
            .deadline_at
            .is_none_or(|d| d > self.clock.now_millis())
            || waiting_for.is_empty()
        {
            return Ok(false);
        }
        let reason = format!("timed out waiting for {waiting_for}");
        let moved = self
            .advance_in(&mut tx, order_id, SagaEvent::TimedOut(reason))
            .await?;
        tx.commit().await?;
        self.order_changed(order_id);
        Ok(moved.is_some())
    }

    /// Cancels an order before shipment (owner or admin). Stock goes back and the
    /// payment is voided or refunded, by the participants reacting to `cancelled`.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<OrderRecord, OrderingError> {
        let mut tx = self.db.begin().await?;
        let order = store::order_for_update(&mut tx, self.db.dialect(), id)
            .await?
            .filter(|o| caller.admin || o.user_id == caller.user_id)
            .ok_or(OrderingError::NotFound)?;
        if !order.status.can_cancel() {
            return Err(OrderingError::WrongStatus(order.status));
        }
        let now = self.clock.now_millis();
        store::set_status(
            &mut tx,
            id,
            order.status,
            OrderStatus::Cancelled,
            Some(reason),
            now,
        )
        .await?;
        self.emit(&mut tx, &order, SagaCommand::Compensate, Some(reason))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        self.order_changed(id);
        self.order(caller, id).await
    }

    /// Admin status change along the allowed transitions (a cancellation compensates
    /// like [`OrderingApp::cancel`]).
    pub async fn set_status(
        &self,
        caller: &Caller,
        id: &str,
        next: OrderStatus,
        reason: &str,
    ) -> Result<OrderRecord, OrderingError> {
        if next == OrderStatus::Cancelled {
            return self.cancel(caller, id, reason).await;
        }
        let mut tx = self.db.begin().await?;
        let order = store::order_for_update(&mut tx, self.db.dialect(), id)
            .await?
            .ok_or(OrderingError::NotFound)?;
        if !order.status.admin_can_set(next) {
            return Err(OrderingError::WrongStatus(order.status));
        }
        store::set_status(
            &mut tx,
            id,
            order.status,
            next,
            Some(reason),
            self.clock.now_millis(),
        )
        .await?;
        self.stage_status_change(&mut tx, &order, next).await?;
        tx.commit().await?;
        self.outbox.wake();
        self.order(caller, id).await
    }

    /// Moves an order along with its parcels (fulfillment's dispatched and delivered
    /// events), inside the consumer's transaction. Progress that does not apply (the
    /// order is already further, or was cancelled) changes nothing.
    pub async fn follow_shipment_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        progress: ShipmentProgress,
        reason: &str,
    ) -> Result<Option<OrderStatus>, platform::db::Error> {
        let Some(order) = store::order_for_update(tx, self.db.dialect(), order_id).await? else {
            tracing::warn!(order_id, ?progress, "shipment event for an unknown order");
            return Ok(None);
        };
        let Some(next) = domain::status_after_shipment(order.status, progress) else {
            tracing::debug!(order_id, status = %order.status, ?progress, "shipment event does not move the order");
            return Ok(None);
        };
        let now = self.clock.now_millis();
        if !store::set_status(tx, order_id, order.status, next, Some(reason), now).await? {
            return Err(platform::db::Error::Protocol(format!(
                "order {order_id} left {} under its lock",
                order.status
            )));
        }
        self.stage_status_change(tx, &order, next).await?;
        Ok(Some(next))
    }

    /// Stages the event of a shipping status an order entered (other statuses have
    /// their own events, staged where they happen).
    async fn stage_status_change(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
        next: OrderStatus,
    ) -> Result<(), platform::db::Error> {
        let change = OrderStatusChanged {
            order_id: order.id.clone(),
            user_id: order.user_id.clone(),
            from: order.status.as_str().to_owned(),
            to: next.as_str().to_owned(),
        };
        match next {
            OrderStatus::Shipped => {
                self.outbox.stage(tx, &OrderShipped(change)).await?;
            }
            OrderStatus::Delivered => {
                self.outbox.stage(tx, &OrderDelivered(change)).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Asks payments to refund what a received return is worth at the prices paid,
    /// inside the consumer's transaction; the order's refund totals and status follow
    /// when payments answers with `refund.processed`. A return that names nothing of
    /// the order, or an order without payment, is refused (dead-lettered, visible).
    pub async fn refund_return_in(
        &self,
        tx: &mut Tx,
        returned: &ReturnReceived,
    ) -> Result<Result<Money, OrderingError>, platform::db::Error> {
        let order_id = returned.order_id.as_str();
        let Some(order) = store::order_for_update(tx, self.db.dialect(), order_id).await? else {
            return Ok(Err(OrderingError::NotFound));
        };
        let Some(payment_id) = order.payment_id.clone() else {
            return Ok(Err(OrderingError::WrongStatus(order.status)));
        };
        let ordered: Vec<(String, Money, u32)> = store::order_lines(&mut **tx, &[order_id])
            .await?
            .remove(order_id)
            .unwrap_or_default()
            .into_iter()
            .map(|line| (line.sku, line.unit_price, line.quantity))
            .collect();
        let returned_lines = returned.lines.iter().map(|l| (l.sku.as_str(), l.quantity));
        let Some(amount) = domain::returned_value(&ordered, returned_lines) else {
            return Ok(Err(OrderingError::NotFound));
        };
        let reason = format!("return {}", returned.return_id);
        store::append_history(
            tx,
            order_id,
            order.status,
            Some(&format!(
                "{reason} received; refund of {} {} requested",
                amount.amount, amount.currency
            )),
            self.clock.now_millis(),
        )
        .await?;
        self.outbox
            .stage(
                tx,
                &RefundRequested {
                    order_id: order_id.to_owned(),
                    payment_id,
                    amount: amount.clone(),
                    request_id: returned.return_id.clone(),
                    reason,
                },
            )
            .await?;
        Ok(Ok(amount))
    }

    /// Refunds `amount` of an order (none: everything not yet refunded), through
    /// payments, which refuses anything beyond what was captured.
    pub async fn refund(
        &self,
        caller: &Caller,
        credentials: &HeaderMap,
        id: &str,
        amount: Option<Money>,
        idempotency_key: Option<&str>,
    ) -> Result<OrderRecord, OrderingError> {
        let order = self.order(caller, id).await?;
        if !order.status.can_refund() {
            return Err(OrderingError::WrongStatus(order.status));
        }
        if let Some(amount) = &amount
            && amount.currency != order.total.currency
        {
            return Err(OrderingError::WrongCurrency(order.total.currency));
        }
        let payment_id = order
            .payment_id
            .clone()
            .ok_or(OrderingError::WrongStatus(order.status))?;
        let refund = self
            .payments
            .refund(credentials, &payment_id, amount.as_ref(), idempotency_key)
            .await?;
        let mut tx = self.db.begin().await?;
        self.apply_refund_in(
            &mut tx,
            id,
            &payment_id,
            &refund.refund_id,
            &refund.amount,
            refund.refunded_total,
            refund.captured_total,
        )
        .await?;
        tx.commit().await?;
        self.outbox.wake();
        self.order(caller, id).await
    }

    /// Records a refund once (it may arrive as an answer and again as an event), moves
    /// the order to `refunded` or `partially_refunded` (a cancelled order stays
    /// cancelled) and emits the matching event.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_refund_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        payment_id: &str,
        refund_id: &str,
        amount: &Money,
        refunded_total: i64,
        captured_total: i64,
    ) -> Result<(), platform::db::Error> {
        let now = self.clock.now_millis();
        let Some(order) = store::order_for_update(tx, self.db.dialect(), order_id).await? else {
            return Ok(());
        };
        if !store::record_refund(tx, refund_id, order_id, amount.amount, refunded_total, now)
            .await?
        {
            return Ok(());
        }
        let facts = RefundFacts {
            order_id: order_id.to_owned(),
            payment_id: payment_id.to_owned(),
            amount: amount.clone(),
            refunded_total: Money {
                amount: refunded_total,
                currency: amount.currency.clone(),
            },
        };
        let next = domain::status_after_refund(refunded_total, captured_total);
        let reason = format!(
            "refunded {} {} of {}",
            amount.amount, amount.currency, captured_total
        );
        if order.status == OrderStatus::Cancelled {
            store::append_history(tx, order_id, OrderStatus::Cancelled, Some(&reason), now).await?;
        } else if order.status != next {
            store::set_status(tx, order_id, order.status, next, Some(&reason), now).await?;
        } else {
            store::append_history(tx, order_id, next, Some(&reason), now).await?;
        }
        match next {
            OrderStatus::Refunded => self.outbox.stage(tx, &OrderRefunded(facts)).await?,
            _ => {
                self.outbox
                    .stage(tx, &OrderPartiallyRefunded(facts))
                    .await?
            }
        };
        Ok(())
    }

    /// Records what payments captured for an order.
    pub async fn captured_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        amount: i64,
    ) -> Result<(), platform::db::Error> {
        store::set_captured(tx, order_id, amount, self.clock.now_millis()).await
    }
}

/// `wanted` lines priced from `prices`; a sku without a price is `UnknownSku` (with
/// its index in `wanted`).
fn priced_lines(
    wanted: &[(&str, u32)],
    prices: Vec<PriceRecord>,
) -> Result<Vec<LineRecord>, OrderingError> {
    let known: HashMap<String, PriceRecord> =
        prices.into_iter().map(|p| (p.sku.clone(), p)).collect();
    wanted
        .iter()
        .enumerate()
        .map(|(i, (sku, quantity))| {
            let price = known
                .get(*sku)
                .ok_or_else(|| OrderingError::UnknownSku(i, (*sku).to_owned()))?;
            Ok(LineRecord {
                sku: (*sku).to_owned(),
                name: price.name.clone(),
                quantity: *quantity,
                unit_price: price.price.clone(),
            })
        })
        .collect()
}

/// `cart` priced from `prices` (which must hold every sku it has).
fn cart_view(cart: CartRecord, prices: Vec<PriceRecord>) -> Result<CartView, OrderingError> {
    let wanted: Vec<(&str, u32)> = cart.items.iter().map(|(s, q)| (s.as_str(), *q)).collect();
    let lines = priced_lines(&wanted, prices)?;
    let total = domain::total(lines.iter().map(|l| (&l.unit_price, l.quantity)));
    if total.is_none() && !lines.is_empty() {
        return Err(OrderingError::MixedCurrencies);
    }
    Ok(CartView {
        id: cart.id,
        items: lines
            .into_iter()
            .map(|l| CartLine {
                line_total: Money {
                    amount: l.unit_price.amount.saturating_mul(i64::from(l.quantity)),
                    currency: l.unit_price.currency.clone(),
                },
                sku: l.sku,
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect(),
        total,
    })
}

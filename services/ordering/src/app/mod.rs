//! Ordering's operations, one file per idea: the price copy (`prices`), carts
//! (`carts`), placing an order (`checkout`), reading orders (`orders`), waiting for
//! one to settle (`waiters`), the saga's steps and timeouts (`saga`), following the
//! parcels (`shipping`), refunds (`refunds`), completing delivered orders once their
//! return window closed (`completion`), and cancellations and admin changes
//! (`admin`); `cached` keeps stored carts by id for their reads, and `hold` lets tests
//! stop checkouts at their most fragile point.
//!
//! Each operation runs in one transaction with the events it emits (built by the
//! domain); the saga's steps run inside the consumer's transaction (with its inbox
//! row), so a redelivered event has no second effect. Who may see or act on an order
//! is decided by [`POLICY`], once.

mod admin;
mod cached;
mod carts;
mod checkout;
mod completion;
mod hold;
mod orders;
mod prices;
mod refunds;
mod saga;
mod shipping;
#[cfg(test)]
mod tests;
mod waiters;

use std::sync::Arc;

use platform::auth::{Policy, Principal, PrincipalKind};
use platform::bus::Outbox;
use platform::cache::Cache;
use platform::db::{Db, Tx};
use platform::time::Clock;

use crate::config::OrderingConfig;
use crate::domain::{
    IdentityPort, IllegalTransition, LoyaltyError, MAX_LINES, Order, OrderStatus, PaymentsError,
    PaymentsPort, PricingError, RefundRefused, ShippingEvent, Sku, StatusChange, TooManyLines,
};
use crate::store;

pub use cached::cart_cache;
pub use hold::CheckoutHold;

/// Ordering's authorization: a customer sees and acts on their own carts and orders;
/// admins manage everyone's (machine clients have no manage scope here).
pub const POLICY: Policy = Policy::admin_only();

/// Why an ordering operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderingError {
    /// No such cart or order, or it belongs to someone else.
    #[error("not found")]
    NotFound,
    /// A sku is not for sale (unknown to the price list); the index is the line's.
    #[error("unknown sku {}", .1.as_str())]
    UnknownSku(usize, Sku),
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
    /// Identity did not hold the loyalty points asked for.
    #[error(transparent)]
    Loyalty(#[from] LoyaltyError),
    /// The loyalty discount is as much as the order's lines cost or more (a payment
    /// of nothing cannot be made).
    #[error("the loyalty discount leaves nothing to pay")]
    DiscountExceedsSubtotal,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

impl From<PricingError> for OrderingError {
    fn from(err: PricingError) -> Self {
        match err {
            PricingError::UnknownSku(index, sku) => Self::UnknownSku(index, sku),
            PricingError::MixedCurrencies => Self::MixedCurrencies,
        }
    }
}

impl From<TooManyLines> for OrderingError {
    fn from(_: TooManyLines) -> Self {
        Self::TooManyLines
    }
}

impl From<IllegalTransition> for OrderingError {
    fn from(err: IllegalTransition) -> Self {
        Self::WrongStatus(err.from())
    }
}

impl From<RefundRefused> for OrderingError {
    fn from(err: RefundRefused) -> Self {
        match err {
            RefundRefused::Status(status) => Self::WrongStatus(status),
            RefundRefused::Currency(currency) => Self::WrongCurrency(currency),
        }
    }
}

/// Who is asking: a signed-in person, or someone who may manage ordering. Carts and
/// orders belong to users; a machine client without that right has none.
#[derive(Debug, Clone)]
pub struct Caller(Principal);

impl Caller {
    /// The caller, if it may have carts and orders at all.
    pub fn new(principal: Principal) -> Option<Self> {
        (principal.kind == PrincipalKind::User || POLICY.may_manage(&principal))
            .then_some(Self(principal))
    }

    /// The user id (the token's subject): the owner of what the caller creates.
    pub fn user_id(&self) -> &str {
        &self.0.subject
    }

    /// Whether the caller may see and act on what `owner` owns.
    pub fn may_see(&self, owner: &str) -> bool {
        POLICY.may_see(&self.0, owner)
    }

    /// Whether the caller manages ordering (sees every order).
    pub fn may_manage(&self) -> bool {
        POLICY.may_manage(&self.0)
    }
}

/// Ordering's operations.
#[derive(Clone)]
pub struct OrderingApp {
    db: Db,
    outbox: Outbox,
    clock: Clock,
    config: OrderingConfig,
    payments: Arc<dyn PaymentsPort>,
    /// Where loyalty points are held (none: orders cannot redeem points).
    identity: Option<Arc<dyn IdentityPort>>,
    waiters: Arc<waiters::Waiters>,
    gate: Arc<hold::CheckoutGate>,
    /// Stored carts (lines, not prices) by cart id.
    carts: Cache,
}

impl OrderingApp {
    pub(crate) fn new(
        db: Db,
        outbox: Outbox,
        clock: Clock,
        config: OrderingConfig,
        payments: impl PaymentsPort + 'static,
    ) -> Self {
        Self {
            db,
            outbox,
            clock,
            config,
            payments: Arc::new(payments),
            identity: None,
            waiters: Arc::default(),
            gate: Arc::default(),
            carts: Cache::off("ordering.cart"),
        }
    }

    /// The same operations, reading stored carts through `carts` (see `cached`).
    pub(crate) fn with_cart_cache(mut self, carts: Cache) -> Self {
        self.carts = carts;
        self
    }

    /// The same operations, holding loyalty points at `identity`.
    pub(crate) fn with_identity(mut self, identity: impl IdentityPort + 'static) -> Self {
        self.identity = Some(Arc::new(identity));
        self
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// How long each saga step may take, in ms.
    fn step_timeout_ms(&self) -> i64 {
        i64::try_from(self.config.saga_step_timeout_secs)
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000)
    }

    /// Writes a status change an order made under its row lock: the conditional update
    /// cannot miss, so a miss is refused rather than guessed around.
    async fn save_change(
        &self,
        tx: &mut Tx,
        order: &Order,
        change: &StatusChange,
    ) -> Result<(), platform::db::Error> {
        if store::orders::save_change(tx, order, change).await? {
            crate::metrics::order_entered(tx, order, change.to);
            return Ok(());
        }
        Err(platform::db::Error::Protocol(format!(
            "order {} left {} under its lock",
            order.id(),
            change.from
        )))
    }

    /// Stages the event of a shipping status an order entered, if `change` entered one.
    async fn stage_shipping_event(
        &self,
        tx: &mut Tx,
        order: &Order,
        change: &StatusChange,
    ) -> Result<(), platform::db::Error> {
        match order.shipping_event(change) {
            Some(ShippingEvent::Shipped(event)) => self.outbox.stage(tx, &event).await?,
            Some(ShippingEvent::Delivered(event)) => self.outbox.stage(tx, &event).await?,
            None => return Ok(()),
        };
        Ok(())
    }
}

//! Loyalty points: reading a user's balance and history, holding points for an order
//! being placed (ordering asks, with the customer's own credentials), and the effects
//! of ordering's events — an order confirmed spends its held points and records what
//! it charged, delivered earns, refunded reverses what was earned and gives back the
//! refunded share of what was spent, cancelled gives held or spent points back — plus
//! the sweep that gives back holds whose order never came.
//!
//! Each effect is one transaction: the ledger row and the conditional update of the
//! account (and, for events, the consumer's inbox row), so no race or redelivery moves
//! a point twice.

use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderDelivered, RefundFacts};
use platform::auth::Principal;
use platform::db::Tx;

use super::{IdentityApp, POLICY};
use crate::domain::loyalty::{
    EntryKind, LoyaltyBalance, LoyaltyEntry, OrderPoints, Reservation, ReservationStatus,
    discount_minor, points_earned,
};
use crate::store;

/// Most stale reservations one sweep pass releases.
const SWEEP_BATCH: i64 = 100;

/// Why a loyalty operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LoyaltyError {
    /// Not the caller's points, and the caller is no admin.
    #[error("only the user and admins may use a user's loyalty points")]
    Forbidden,
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// Points cannot be redeemed in this currency (or loyalty is off).
    #[error("loyalty points cannot be redeemed in {0}")]
    NoRate(String),
    /// Fewer points are available than asked.
    #[error("not enough loyalty points: {available} available")]
    Insufficient {
        /// What is available.
        available: i64,
    },
    /// The order already holds points of another user or another amount, or its
    /// points were spent.
    #[error("the order already holds other loyalty points, or spent them")]
    Conflict,
    /// The order holds none of the user's points.
    #[error("the order holds no loyalty points of this user")]
    NoReservation,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// A user's points and one page of their history.
#[derive(Debug, Clone)]
pub struct LoyaltyStatement {
    /// Balance and held points.
    pub balance: LoyaltyBalance,
    /// History, newest first (one more than the page when another follows).
    pub entries: Vec<LoyaltyEntry>,
}

impl IdentityApp {
    /// `user_id`'s points and history after the entry `before`: the user's own, or any
    /// user's for admins.
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "info"))]
    pub async fn loyalty(
        &self,
        caller: &Principal,
        user_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<LoyaltyStatement, LoyaltyError> {
        if !POLICY.may_see(caller, user_id) {
            return Err(LoyaltyError::Forbidden);
        }
        if !store::user_exists(self.db.reader(), user_id).await? {
            return Err(LoyaltyError::NotFound);
        }
        Ok(LoyaltyStatement {
            balance: store::loyalty_balance(self.db.reader(), user_id).await?,
            entries: store::loyalty_entries(self.db.reader(), user_id, before, limit).await?,
        })
    }

    /// Holds `points` of `user_id`'s for `order_id` in `currency` and answers the
    /// discount they buy. The same order asking again gets the same answer; points
    /// another order holds are not available.
    #[tracing::instrument(skip_all, fields(user_id = %user_id, order_id = %order_id), err(level = "info"))]
    pub async fn reserve_loyalty(
        &self,
        caller: &Principal,
        user_id: &str,
        order_id: &str,
        points: i64,
        currency: &str,
    ) -> Result<Reservation, LoyaltyError> {
        if !POLICY.may_see(caller, user_id) {
            return Err(LoyaltyError::Forbidden);
        }
        let rate = self
            .config
            .loyalty
            .rate(currency)
            .ok_or_else(|| LoyaltyError::NoRate(currency.to_owned()))?;
        let same = |held: Reservation| {
            if held.user_id == user_id && held.points == points && held.currency == currency {
                Ok(held)
            } else {
                Err(LoyaltyError::Conflict)
            }
        };
        if let Some(held) = store::loyalty_reservation(self.db.reader(), order_id).await? {
            return same(held);
        }
        let now = self.clock.now_millis();
        let reservation = Reservation {
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            points,
            discount_minor: discount_minor(points, rate.point_value_minor),
            currency: currency.to_owned(),
            status: ReservationStatus::Reserved,
            created_at: now,
        };
        let mut tx = self.db.begin().await?;
        if !store::insert_loyalty_reservation(&mut tx, &reservation).await? {
            // A concurrent request for the same order got there first: its answer.
            drop(tx);
            self.db.begin().await?.commit().await?;
            return match store::loyalty_reservation(self.db.reader(), order_id).await? {
                Some(held) => same(held),
                None => Err(LoyaltyError::Conflict),
            };
        }
        if !store::hold_loyalty_points(&mut tx, user_id, points, now).await? {
            drop(tx);
            let balance = store::loyalty_balance(self.db.reader(), user_id).await?;
            return Err(LoyaltyError::Insufficient {
                available: balance.available(),
            });
        }
        self.append(
            &mut tx,
            user_id,
            EntryKind::Reserved,
            -points,
            order_id,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(reservation)
    }

    /// Gives back the points `order_id` holds of `user_id`'s, before the order exists:
    /// ordering calls it when placing the order failed after the hold. Answers whether
    /// the order holds nothing now (a redeemed hold stays: only cancelling the order
    /// gives those back).
    #[tracing::instrument(skip_all, fields(user_id = %user_id, order_id = %order_id), err(level = "info"))]
    pub async fn release_loyalty(
        &self,
        caller: &Principal,
        user_id: &str,
        order_id: &str,
    ) -> Result<(), LoyaltyError> {
        // Not the customer: their order could still confirm, with the discount, after
        // the points were back. Ordering (the platform's service token) gives back the
        // hold of an order it failed to place; an admin may too.
        if !(caller.is_admin() || caller.require_scope(platform::auth::SCOPE_SERVICE).is_ok()) {
            return Err(LoyaltyError::Forbidden);
        }
        let mut tx = self.db.begin().await?;
        let held = match store::loyalty_reservation(&mut *tx, order_id).await? {
            Some(held) if held.user_id == user_id => held,
            _ => return Err(LoyaltyError::NoReservation),
        };
        let now = self.clock.now_millis();
        if store::move_loyalty_reservation(
            &mut tx,
            order_id,
            ReservationStatus::Reserved,
            ReservationStatus::Released,
        )
        .await?
        {
            if !store::end_loyalty_hold(&mut tx, user_id, held.points, false, now).await? {
                return Err(held_points_missing(order_id));
            }
            self.append(
                &mut tx,
                user_id,
                EntryKind::Released,
                held.points,
                order_id,
                now,
            )
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        match store::loyalty_reservation(&mut *tx, order_id).await? {
            Some(now_held) if now_held.status == ReservationStatus::Redeemed => {
                Err(LoyaltyError::Conflict)
            }
            _ => Ok(()),
        }
    }

    /// `order.confirmed`: remembers what the order charged (to earn on delivery) and
    /// spends the points it held.
    pub async fn loyalty_order_confirmed_in(
        &self,
        tx: &mut Tx,
        event: &OrderConfirmed,
    ) -> Result<(), LoyaltyError> {
        if let (Some(user_id), Some(total)) = (&event.user_id, &event.total) {
            store::record_order_paid(tx, &event.order_id, user_id, &total.currency, total.amount)
                .await?;
        }
        let Some(held) = store::loyalty_reservation(&mut **tx, &event.order_id).await? else {
            return Ok(());
        };
        let now = self.clock.now_millis();
        let order_id = &event.order_id;
        if store::move_loyalty_reservation(
            tx,
            order_id,
            ReservationStatus::Reserved,
            ReservationStatus::Redeemed,
        )
        .await?
        {
            if !store::end_loyalty_hold(tx, &held.user_id, held.points, true, now).await? {
                return Err(held_points_missing(order_id));
            }
        } else if store::move_loyalty_reservation(
            tx,
            order_id,
            ReservationStatus::Expired,
            ReservationStatus::Redeemed,
        )
        .await?
        {
            // The sweep gave the points back before this late confirmation, but the
            // order was charged less for them: spend them from the balance (which may
            // go below zero), as a reversal would. (A released hold is not spent: its
            // order was cancelled, or never placed.)
            store::add_loyalty_balance(tx, &held.user_id, -held.points, now).await?;
        } else {
            return Ok(());
        }
        self.append(
            tx,
            &held.user_id,
            EntryKind::Redeemed,
            -held.points,
            order_id,
            now,
        )
        .await
    }

    /// `order.cancelled`: gives back the points the order held, or spent if it had
    /// been confirmed.
    pub async fn loyalty_order_cancelled_in(
        &self,
        tx: &mut Tx,
        event: &OrderCancelled,
    ) -> Result<(), LoyaltyError> {
        let order_id = &event.order_id;
        // Locked first, as a refund locks it: of spent points, what refunds already
        // gave back is not given again.
        let restored = store::lock_order_points(tx, self.db.dialect(), order_id)
            .await?
            .map_or(0, |order| order.restored);
        let Some(held) = store::loyalty_reservation(&mut **tx, order_id).await? else {
            return Ok(());
        };
        let now = self.clock.now_millis();
        let given_back = if store::move_loyalty_reservation(
            tx,
            order_id,
            ReservationStatus::Reserved,
            ReservationStatus::Released,
        )
        .await?
        {
            if !store::end_loyalty_hold(tx, &held.user_id, held.points, false, now).await? {
                return Err(held_points_missing(order_id));
            }
            held.points
        } else if store::move_loyalty_reservation(
            tx,
            order_id,
            ReservationStatus::Redeemed,
            ReservationStatus::Released,
        )
        .await?
        {
            let rest = held.points.saturating_sub(restored).max(0);
            if rest == 0 {
                return Ok(());
            }
            store::add_loyalty_balance(tx, &held.user_id, rest, now).await?;
            rest
        } else {
            return Ok(());
        };
        self.append(
            tx,
            &held.user_id,
            EntryKind::Released,
            given_back,
            order_id,
            now,
        )
        .await
    }

    /// `order.delivered`: earns on what the order charged less what was refunded so
    /// far, once.
    pub async fn loyalty_order_delivered_in(
        &self,
        tx: &mut Tx,
        event: &OrderDelivered,
    ) -> Result<(), LoyaltyError> {
        let order_id = &event.0.order_id;
        let dialect = self.db.dialect();
        let Some(order) = store::lock_order_points(tx, dialect, order_id).await? else {
            tracing::info!(order_id = %order_id, "delivered order unknown to loyalty, nothing earned");
            return Ok(());
        };
        let (Some((user_id, currency, total)), None) = (&order.paid, order.earned) else {
            return Ok(());
        };
        let earned = match (
            self.config.loyalty.rate(currency),
            contracts::types::minor_unit_exponent(currency),
        ) {
            (Some(rate), Some(exponent)) => points_earned(
                total.saturating_sub(order.refunded_minor),
                exponent,
                rate.earn_per_unit,
            ),
            _ => 0,
        };
        if !store::set_order_earned(tx, order_id, earned, order.refunded_minor).await?
            || earned == 0
        {
            return Ok(());
        }
        let now = self.clock.now_millis();
        store::add_loyalty_balance(tx, user_id, earned, now).await?;
        self.append(tx, user_id, EntryKind::Earned, earned, order_id, now)
            .await
    }

    /// `order.refunded` / `order.partially_refunded`: reverses the refunded share of
    /// what the order earned (cumulative, never more than earned). The balance may go
    /// below zero when the points were spent: they were earned on money that came back.
    pub async fn loyalty_order_refunded_in(
        &self,
        tx: &mut Tx,
        facts: &RefundFacts,
    ) -> Result<(), LoyaltyError> {
        let order_id = &facts.order_id;
        store::record_order_refunded(tx, order_id, facts.refunded_total.amount).await?;
        let dialect = self.db.dialect();
        let Some(order) = store::lock_order_points(tx, dialect, order_id).await? else {
            return Ok(());
        };
        let OrderPoints {
            paid: Some((user_id, _, _)),
            reversed,
            ..
        } = &order
        else {
            return Ok(());
        };
        let now = self.clock.now_millis();
        let due = order.reversal_due();
        if due > *reversed && store::set_order_reversed(tx, order_id, *reversed, due).await? {
            let points = due - reversed;
            store::add_loyalty_balance(tx, user_id, -points, now).await?;
            self.append(tx, user_id, EntryKind::Reversed, -points, order_id, now)
                .await?;
        }
        self.restore_refunded_share(tx, &order, user_id, now).await
    }

    /// Gives back the refunded share of the points `order` spent at checkout (while its
    /// reservation is redeemed: a cancelled order gave them back already), beyond what
    /// earlier refunds gave back.
    async fn restore_refunded_share(
        &self,
        tx: &mut Tx,
        order: &OrderPoints,
        user_id: &str,
        now: i64,
    ) -> Result<(), LoyaltyError> {
        let order_id = &order.order_id;
        let Some(spent) = store::loyalty_reservation(&mut **tx, order_id)
            .await?
            .filter(|r| r.status == ReservationStatus::Redeemed)
        else {
            return Ok(());
        };
        let due = order.restoration_due(spent.points);
        if due <= order.restored
            || !store::set_order_restored(tx, order_id, order.restored, due).await?
        {
            return Ok(());
        }
        let points = due - order.restored;
        store::add_loyalty_balance(tx, user_id, points, now).await?;
        self.append(tx, user_id, EntryKind::Restored, points, order_id, now)
            .await
    }

    /// Gives back the points of reservations older than `reservation_ttl_secs` whose
    /// order was never confirmed (it may never have been stored); each once, whatever
    /// the number of replicas sweeping.
    pub async fn release_stale_loyalty(&self) -> Result<usize, LoyaltyError> {
        let ttl_ms = i64::try_from(self.config.loyalty.reservation_ttl_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let now = self.clock.now_millis();
        let stale = store::stale_loyalty_reservations(
            self.db.reader(),
            now.saturating_sub(ttl_ms),
            SWEEP_BATCH,
        )
        .await?;
        let mut released = 0;
        for held in stale {
            let mut tx = self.db.begin().await?;
            if !store::move_loyalty_reservation(
                &mut tx,
                &held.order_id,
                ReservationStatus::Reserved,
                ReservationStatus::Expired,
            )
            .await?
            {
                continue;
            }
            if !store::end_loyalty_hold(&mut tx, &held.user_id, held.points, false, now).await? {
                return Err(held_points_missing(&held.order_id));
            }
            self.append(
                &mut tx,
                &held.user_id,
                EntryKind::Released,
                held.points,
                &held.order_id,
                now,
            )
            .await?;
            tx.commit().await?;
            released += 1;
        }
        if released > 0 {
            tracing::info!(released, "stale loyalty reservations released");
        }
        Ok(released)
    }

    /// Appends a ledger line inside `tx`.
    async fn append(
        &self,
        tx: &mut Tx,
        user_id: &str,
        kind: EntryKind,
        points: i64,
        order_id: &str,
        at: i64,
    ) -> Result<(), LoyaltyError> {
        let entry = LoyaltyEntry {
            id: platform::ids::new_id(),
            user_id: user_id.to_owned(),
            kind,
            points,
            order_id: order_id.to_owned(),
            at,
        };
        if !store::insert_loyalty_entry(tx, &entry).await? {
            // Guarded above by a conditional update, so a second line of a kind that
            // exists once means the account moved without its explanation: refuse.
            return Err(platform::db::Error::Protocol(format!(
                "order {order_id} already has a {} loyalty entry",
                kind.as_str()
            ))
            .into());
        }
        Ok(())
    }
}

/// A reservation whose points the account does not hold: the account and the
/// reservations disagree, which no operation here can cause; refuse rather than guess.
fn held_points_missing(order_id: &str) -> LoyaltyError {
    platform::db::Error::Protocol(format!(
        "order {order_id}'s reserved loyalty points are not held by the account"
    ))
    .into()
}

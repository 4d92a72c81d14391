//! Payments' operations. Each runs in one transaction with its ledger rows and events;
//! the `*_in` forms run inside a transaction the caller owns (the event consumer's,
//! which also holds the inbox row), so HTTP and events share one code path.
//!
//! Provider calls that move money happen inside that transaction, with idempotency keys
//! derived from the payment, so when the transaction rolls back and the work is done
//! again the provider answers as the first time instead of moving money twice.

use std::sync::Arc;

use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderReserved, RefundRequested};
use contracts::payments::{
    PaymentAuthorized, PaymentCaptured, PaymentFailed, PaymentVoided, RefundProcessed,
};
use platform::bus::Outbox;
use platform::db::{Db, Tx, is_unique_violation};
use platform::time::Clock;
use serde::Serialize;

use crate::PaymentsConfig;
use crate::domain::{
    AttemptFacts, Brand, CardDetails, Expiry, FailureReason, FraudRules, LedgerKind, Money,
    PaymentStatus,
};
use crate::provider::{Decline, PaymentProvider};
use crate::store::{self, Key, LedgerRow, PaymentMethodRecord, PaymentRecord};

/// The actor recorded on ledger rows written for ordering's events.
pub const ORDERING_ACTOR: &str = "ordering";
/// The window of the velocity fraud rule.
const ATTEMPT_WINDOW_MS: i64 = 60_000;

/// Why a payments operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// No such payment (or not the caller's).
    #[error("payment not found")]
    NotFound,
    /// The order already has a payment.
    #[error("the order already has a payment")]
    OrderHasPayment,
    /// No such saved card for this user.
    #[error("no such saved card")]
    UnknownPaymentMethod,
    /// The saved card has expired.
    #[error("the saved card has expired")]
    PaymentMethodExpired,
    /// Nothing of the payment was captured, so nothing can be refunded.
    #[error("nothing was captured, so nothing can be refunded")]
    NothingCaptured,
    /// The refund would take the refunded total above the captured total.
    #[error("the refund exceeds what remains refundable ({refundable} minor units)")]
    OverRefund {
        /// What could still be refunded when the refund was refused.
        refundable: i64,
    },
    /// The refund amount is not usable for this payment (currency, sign).
    #[error("{0}")]
    InvalidAmount(&'static str),
    /// An event does not fit the payment it names (a saga bug, kept visible).
    #[error("{0}")]
    Mismatch(String),
    /// The payment is not in a status that allows the change.
    #[error("the payment is {}", .0.as_str())]
    WrongStatus(PaymentStatus),
    /// The provider refused or could not answer.
    #[error("the payment provider refused: {0}")]
    Provider(#[from] Decline),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// A payment as the API shows it: never the number, the code or the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentView {
    /// Id.
    pub id: String,
    /// The order it pays.
    pub order_id: String,
    /// The owner.
    pub user_id: String,
    /// Where it is in its life.
    pub status: PaymentStatus,
    /// The amount.
    pub amount: Money,
    /// Captured so far.
    pub captured: Money,
    /// Refunded so far.
    pub refunded: Money,
    /// Card brand.
    pub brand: Brand,
    /// Last four digits.
    pub last4: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    /// Creation, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

impl From<&PaymentRecord> for PaymentView {
    fn from(p: &PaymentRecord) -> Self {
        let money = |amount| Money {
            amount,
            currency: p.currency.clone(),
        };
        Self {
            id: p.id.clone(),
            order_id: p.order_id.clone(),
            user_id: p.user_id.clone(),
            status: p.status(),
            amount: money(p.amount),
            captured: money(p.captured),
            refunded: money(p.refunded),
            brand: Brand::parse(&p.brand),
            last4: p.last4.clone(),
            failure_reason: p
                .failure_reason
                .as_deref()
                .and_then(|r| serde_json::from_value(serde_json::Value::from(r)).ok()),
            created_at: platform::time::rfc3339(p.created_at),
            updated_at: platform::time::rfc3339(p.updated_at),
        }
    }
}

/// A saved card as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentMethodView {
    /// Id.
    pub id: String,
    /// Card brand.
    pub brand: Brand,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: i64,
    /// Expiry year.
    pub exp_year: i64,
    /// Creation, RFC 3339.
    pub created_at: String,
}

impl From<&PaymentMethodRecord> for PaymentMethodView {
    fn from(m: &PaymentMethodRecord) -> Self {
        Self {
            id: m.id.clone(),
            brand: Brand::parse(&m.brand),
            last4: m.last4.clone(),
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            created_at: platform::time::rfc3339(m.created_at),
        }
    }
}

/// A ledger row as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionView {
    /// Id.
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Its order.
    pub order_id: String,
    /// `authorize`, `capture`, `void` or `refund`.
    pub kind: String,
    /// The amount moved or held.
    pub amount: Money,
    /// The provider's reference.
    pub provider_ref: String,
    /// Who caused it.
    pub actor: String,
    /// When, RFC 3339.
    pub created_at: String,
}

impl From<LedgerRow> for TransactionView {
    fn from(r: LedgerRow) -> Self {
        Self {
            id: r.id,
            payment_id: r.payment_id,
            order_id: r.order_id,
            kind: r.kind,
            amount: Money {
                amount: r.amount,
                currency: r.currency,
            },
            provider_ref: r.provider_ref,
            actor: r.actor,
            created_at: platform::time::rfc3339(r.created_at),
        }
    }
}

/// A refund made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundOutcome {
    /// The refund (its ledger row).
    pub refund_id: String,
    /// This refund.
    pub amount: Money,
    /// The payment after it.
    pub payment: PaymentView,
}

/// What pays for a new payment.
#[derive(Debug, Clone)]
pub enum PaymentSource {
    /// A card typed in now; tokenized and then forgotten.
    Card(CardDetails),
    /// A saved card of the payment's owner, by id.
    Saved(String),
}

/// A payment to create (inputs already checked at the edge).
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// The order it pays; one payment per order.
    pub order_id: String,
    /// The owner (the user the order belongs to).
    pub user_id: String,
    /// A payable amount.
    pub amount: Money,
    /// The card.
    pub source: PaymentSource,
}

/// What an ordering event did to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The payment moved to this status (its event is staged).
    Moved(PaymentStatus),
    /// The payment could not be authorized (or the event did not match it);
    /// `payments.payment.failed` is staged.
    Failed(FailureReason),
    /// Nothing to do: already done, not applicable, or no payment.
    Unchanged,
}

/// The payments service's operations.
#[derive(Clone)]
pub struct PaymentsApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: PaymentsConfig,
    pub(crate) provider: Arc<dyn PaymentProvider>,
}

impl PaymentsApp {
    /// Operations over `db`, staging events in `outbox`, with cards at `provider`.
    pub fn new(
        db: Db,
        outbox: Outbox,
        clock: Clock,
        config: PaymentsConfig,
        provider: Arc<dyn PaymentProvider>,
    ) -> Self {
        Self {
            db,
            outbox,
            clock,
            config,
            provider,
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The clock the rules read (expiry, the fraud window).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Creates a `pending` payment for an order: tokenizes the card (or takes a saved
    /// one of the same user) and keeps the token, brand, last four and expiry.
    pub async fn create_payment(&self, new: NewPayment) -> Result<PaymentView, PaymentsError> {
        if store::payment_by_order(self.db.reader(), &new.order_id)
            .await?
            .is_some()
        {
            return Err(PaymentsError::OrderHasPayment);
        }
        let now = self.clock.now_millis();
        let (token, brand, last4, exp_month, exp_year, method_id) = match &new.source {
            PaymentSource::Card(card) => {
                let token = self.provider.tokenize(card).await?;
                (
                    token.token,
                    token.brand,
                    token.last4,
                    i64::from(token.exp_month),
                    i64::from(token.exp_year),
                    None,
                )
            }
            PaymentSource::Saved(id) => {
                let method = store::payment_method(self.db.reader(), &new.user_id, id)
                    .await?
                    .ok_or(PaymentsError::UnknownPaymentMethod)?;
                if Expiry::stored(method.exp_month, method.exp_year).has_passed(now) {
                    return Err(PaymentsError::PaymentMethodExpired);
                }
                (
                    method.token,
                    Brand::parse(&method.brand),
                    method.last4,
                    method.exp_month,
                    method.exp_year,
                    Some(method.id),
                )
            }
        };
        let payment = PaymentRecord {
            id: platform::ids::new_id(),
            order_id: new.order_id,
            user_id: new.user_id,
            status: PaymentStatus::Pending.as_str().to_owned(),
            amount: new.amount.amount,
            currency: new.amount.currency,
            captured: 0,
            refunded: 0,
            token,
            brand: brand.as_str().to_owned(),
            last4,
            exp_month,
            exp_year,
            payment_method_id: method_id,
            provider_ref: None,
            failure_reason: None,
            failure_detail: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_payment(&mut tx, &payment)
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    PaymentsError::OrderHasPayment
                } else {
                    err.into()
                }
            })?;
        tx.commit().await?;
        Ok(PaymentView::from(&payment))
    }

    /// A payment by id.
    pub async fn payment(&self, id: &str) -> Result<PaymentView, PaymentsError> {
        store::payment(self.db.reader(), id)
            .await?
            .map(|p| PaymentView::from(&p))
            .ok_or(PaymentsError::NotFound)
    }

    /// The payment of an order.
    pub async fn payment_by_order(&self, order_id: &str) -> Result<PaymentView, PaymentsError> {
        store::payment_by_order(self.db.reader(), order_id)
            .await?
            .map(|p| PaymentView::from(&p))
            .ok_or(PaymentsError::NotFound)
    }

    /// Refunds `amount` of a captured payment (`None`: everything captured and not yet
    /// refunded), recording `actor` on the ledger row. Never more than captured in
    /// total, however many refunds run at once.
    pub async fn refund(
        &self,
        payment_id: &str,
        amount: Option<Money>,
        actor: &str,
    ) -> Result<RefundOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        // A refund asked for over HTTP is new each time (the Idempotency-Key middleware
        // answers repeats of the request before they get here).
        let key = platform::ids::new_id();
        let outcome = self
            .refund_in(&mut tx, Key::Id(payment_id), amount, actor, &key)
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Refunds what ordering asked for (returned items), inside the consumer's
    /// transaction: at most what is still refundable — an admin may have refunded part
    /// of the payment already — and nothing when nothing is left. The request's id
    /// names the refund at the provider.
    pub async fn refund_requested_in(
        &self,
        tx: &mut Tx,
        request: &RefundRequested,
    ) -> Result<EventOutcome, PaymentsError> {
        let Some(payment) = store::payment(&mut **tx, &request.payment_id).await? else {
            return Err(PaymentsError::Mismatch(format!(
                "refund requested for unknown payment {}",
                request.payment_id
            )));
        };
        if payment.order_id != request.order_id || payment.currency != request.amount.currency {
            return Err(PaymentsError::Mismatch(format!(
                "refund request {} does not match payment {}",
                request.request_id, payment.id
            )));
        }
        let amount = request
            .amount
            .amount
            .min(payment.captured - payment.refunded);
        if amount <= 0 {
            tracing::warn!(
                payment_id = %payment.id,
                request_id = %request.request_id,
                "refund requested with nothing left to refund"
            );
            return Ok(EventOutcome::Unchanged);
        }
        let money = Money {
            amount,
            currency: payment.currency.clone(),
        };
        let actor = format!("ordering: {}", request.reason);
        let outcome = self
            .refund_in(
                tx,
                Key::Id(&payment.id),
                Some(money),
                &actor,
                &request.request_id,
            )
            .await?;
        Ok(EventOutcome::Moved(outcome.payment.status))
    }

    /// Refunds inside `tx`. `idempotency_key` names the refund at the provider, so a
    /// rolled-back attempt repeated with the same key does not refund twice.
    pub async fn refund_in(
        &self,
        tx: &mut Tx,
        key: Key<'_>,
        amount: Option<Money>,
        actor: &str,
        idempotency_key: &str,
    ) -> Result<RefundOutcome, PaymentsError> {
        let payment = match key {
            Key::Id(id) => store::payment(&mut **tx, id).await?,
            Key::Order(order) => store::payment_by_order(&mut **tx, order).await?,
        }
        .ok_or(PaymentsError::NotFound)?;
        if payment.captured == 0 {
            return Err(PaymentsError::NothingCaptured);
        }
        let refundable = payment.captured - payment.refunded;
        let amount = match amount {
            Some(money) if money.currency != payment.currency => {
                return Err(PaymentsError::InvalidAmount(
                    "the currency must be the payment's currency",
                ));
            }
            Some(money) if money.amount <= 0 => {
                return Err(PaymentsError::InvalidAmount(
                    "amount must be more than zero",
                ));
            }
            Some(money) => money.amount,
            None if refundable == 0 => return Err(PaymentsError::OverRefund { refundable }),
            None => refundable,
        };
        let now = self.clock.now_millis();
        // The guard against over-refunding is this conditional update, not the read
        // above: concurrent refunds all read the same totals, and only those that still
        // fit when their update runs succeed.
        if !store::add_refund(tx, &payment.id, amount, now).await? {
            let refundable = store::payment(&mut **tx, &payment.id)
                .await?
                .map_or(0, |p| p.captured - p.refunded);
            return Err(PaymentsError::OverRefund { refundable });
        }
        let money = Money {
            amount,
            currency: payment.currency.clone(),
        };
        let authorization = payment.provider_ref.as_deref().unwrap_or_default();
        let reference = self
            .provider
            .refund(authorization, &money, idempotency_key)
            .await?;
        let row = LedgerRow::new(
            &payment,
            LedgerKind::Refund,
            amount,
            reference.as_str(),
            actor,
            now,
        );
        store::insert_ledger_row(tx, &row).await?;
        let after = store::payment(&mut **tx, &payment.id)
            .await?
            .ok_or(PaymentsError::NotFound)?;
        let total = |amount| Money {
            amount,
            currency: after.currency.clone(),
        };
        self.outbox
            .stage(
                tx,
                &RefundProcessed {
                    refund_id: row.id.clone(),
                    payment_id: after.id.clone(),
                    order_id: after.order_id.clone(),
                    amount: money.clone(),
                    refunded_total: total(after.refunded),
                    captured_total: total(after.captured),
                },
            )
            .await?;
        Ok(RefundOutcome {
            refund_id: row.id,
            amount: money,
            payment: PaymentView::from(&after),
        })
    }

    /// Authorizes the payment an `ordering.order.reserved` event names (see
    /// [`PaymentsApp::authorize_in`]), in a transaction of its own.
    pub async fn authorize(&self, order: &OrderReserved) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let outcome = self.authorize_in(&mut tx, order).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Authorizes inside `tx` a pending payment that matches the order (same order,
    /// owner, amount and currency), after the fraud rules and the expiry check. A
    /// decline, a fraud block or a mismatch fails it and stages
    /// `payments.payment.failed` so the saga cancels the order. An unknown payment fails
    /// the order the same way. A payment already past pending (authorized by an earlier
    /// delivery, or cancelled before this event arrived) is left alone.
    pub async fn authorize_in(
        &self,
        tx: &mut Tx,
        order: &OrderReserved,
    ) -> Result<EventOutcome, PaymentsError> {
        let found =
            store::payment_for_update(tx, self.db.dialect(), Key::Id(&order.payment_id)).await?;
        let Some(payment) = found.filter(|p| p.order_id == order.order_id) else {
            // Unknown, or another order's payment: fail this order, touch nothing.
            self.outbox
                .stage(
                    tx,
                    &PaymentFailed {
                        payment_id: order.payment_id.clone(),
                        order_id: order.order_id.clone(),
                        reason: FailureReason::Mismatch,
                        detail: "no payment for this order".into(),
                    },
                )
                .await?;
            return Ok(EventOutcome::Failed(FailureReason::Mismatch));
        };
        if payment.status() != PaymentStatus::Pending {
            return Ok(EventOutcome::Unchanged);
        }
        if payment.user_id != order.user_id
            || payment.amount != order.amount.amount
            || payment.currency != order.amount.currency
        {
            return self
                .fail_in(
                    tx,
                    &payment,
                    FailureReason::Mismatch,
                    "the payment does not match the order's owner or amount",
                )
                .await;
        }
        let now = self.clock.now_millis();
        let recent =
            store::attempts_since(tx, &payment.user_id, now - ATTEMPT_WINDOW_MS + 1).await?;
        store::insert_attempt(tx, &payment.user_id, &payment.id, now).await?;
        let rules = FraudRules {
            max_amount_minor: self.config.max_amount_minor,
            max_attempts_per_minute: self.config.fraud_max_attempts_per_minute,
        };
        let facts = AttemptFacts {
            amount_minor: payment.amount,
            recent_attempts: u32::try_from(recent).unwrap_or(u32::MAX),
        };
        if let Err(blocked) = rules.assess(&facts) {
            return self
                .fail_in(tx, &payment, FailureReason::Fraud, blocked.0)
                .await;
        }
        if Expiry::stored(payment.exp_month, payment.exp_year).has_passed(now) {
            return self
                .fail_in(
                    tx,
                    &payment,
                    FailureReason::ExpiredCard,
                    "the card has expired",
                )
                .await;
        }
        let amount = Money {
            amount: payment.amount,
            currency: payment.currency.clone(),
        };
        let key = format!("{}:authorize", payment.id);
        let reference = match self.provider.authorize(&payment.token, &amount, &key).await {
            Ok(reference) => reference,
            Err(decline) => {
                return self
                    .fail_in(tx, &payment, decline.reason, &decline.detail)
                    .await;
            }
        };
        if !store::set_authorized(tx, &payment.id, reference.as_str(), now).await? {
            return Ok(EventOutcome::Unchanged);
        }
        let row = LedgerRow::new(
            &payment,
            LedgerKind::Authorize,
            payment.amount,
            reference.as_str(),
            ORDERING_ACTOR,
            now,
        );
        store::insert_ledger_row(tx, &row).await?;
        self.outbox
            .stage(
                tx,
                &PaymentAuthorized {
                    payment_id: payment.id.clone(),
                    order_id: payment.order_id.clone(),
                    amount,
                },
            )
            .await?;
        Ok(EventOutcome::Moved(PaymentStatus::Authorized))
    }

    async fn fail_in(
        &self,
        tx: &mut Tx,
        payment: &PaymentRecord,
        reason: FailureReason,
        detail: &str,
    ) -> Result<EventOutcome, PaymentsError> {
        let code = serde_json::to_value(reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let now = self.clock.now_millis();
        if !store::set_failed(tx, &payment.id, &code, detail, now).await? {
            return Ok(EventOutcome::Unchanged);
        }
        self.outbox
            .stage(
                tx,
                &PaymentFailed {
                    payment_id: payment.id.clone(),
                    order_id: payment.order_id.clone(),
                    reason,
                    detail: detail.to_owned(),
                },
            )
            .await?;
        Ok(EventOutcome::Failed(reason))
    }

    /// Captures for an `ordering.order.confirmed` event (see
    /// [`PaymentsApp::capture_in`]), in a transaction of its own.
    pub async fn capture(&self, order: &OrderConfirmed) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let outcome = self.capture_in(&mut tx, order).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Captures inside `tx` the authorized payment of a confirmed order (the order's
    /// total, or the authorized amount when the event carries none). Already captured:
    /// nothing. Not authorized, or a total that does not fit: an error, since the saga
    /// only confirms authorized orders.
    pub async fn capture_in(
        &self,
        tx: &mut Tx,
        order: &OrderConfirmed,
    ) -> Result<EventOutcome, PaymentsError> {
        let key = match &order.payment_id {
            Some(id) => Key::Id(id),
            None => Key::Order(&order.order_id),
        };
        let Some(payment) = store::payment_for_update(tx, self.db.dialect(), key).await? else {
            return match order.payment_id {
                // An order confirmed without a payment has nothing to capture.
                None => Ok(EventOutcome::Unchanged),
                Some(_) => Err(PaymentsError::NotFound),
            };
        };
        if payment.order_id != order.order_id {
            return Err(PaymentsError::Mismatch(format!(
                "payment {} belongs to another order",
                payment.id
            )));
        }
        match payment.status() {
            PaymentStatus::Authorized => {}
            PaymentStatus::Captured
            | PaymentStatus::PartiallyRefunded
            | PaymentStatus::Refunded => return Ok(EventOutcome::Unchanged),
            other => return Err(PaymentsError::WrongStatus(other)),
        }
        let amount = match &order.total {
            Some(total)
                if total.currency == payment.currency
                    && total.amount > 0
                    && total.amount <= payment.amount =>
            {
                total.clone()
            }
            Some(_) => {
                return Err(PaymentsError::Mismatch(format!(
                    "the order total does not fit payment {}",
                    payment.id
                )));
            }
            None => Money {
                amount: payment.amount,
                currency: payment.currency.clone(),
            },
        };
        let now = self.clock.now_millis();
        if !store::set_captured(tx, &payment.id, amount.amount, now).await? {
            return Ok(EventOutcome::Unchanged);
        }
        let authorization = payment.provider_ref.as_deref().unwrap_or_default();
        let reference = self
            .provider
            .capture(authorization, &amount, &format!("{}:capture", payment.id))
            .await?;
        let row = LedgerRow::new(
            &payment,
            LedgerKind::Capture,
            amount.amount,
            reference.as_str(),
            ORDERING_ACTOR,
            now,
        );
        store::insert_ledger_row(tx, &row).await?;
        self.outbox
            .stage(
                tx,
                &PaymentCaptured {
                    payment_id: payment.id.clone(),
                    order_id: payment.order_id.clone(),
                    amount,
                },
            )
            .await?;
        Ok(EventOutcome::Moved(PaymentStatus::Captured))
    }

    /// Compensates for an `ordering.order.cancelled` event (see
    /// [`PaymentsApp::cancel_in`]), in a transaction of its own.
    pub async fn cancel(&self, order: &OrderCancelled) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let outcome = self.cancel_in(&mut tx, order).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Compensates inside `tx` for a cancelled order: a pending payment is cancelled (so
    /// a late `reserved` event cannot authorize it), an authorized one voided, a
    /// captured one refunded for whatever is not refunded yet. Anything else: nothing.
    pub async fn cancel_in(
        &self,
        tx: &mut Tx,
        order: &OrderCancelled,
    ) -> Result<EventOutcome, PaymentsError> {
        let Some(payment) =
            store::payment_for_update(tx, self.db.dialect(), Key::Order(&order.order_id)).await?
        else {
            return Ok(EventOutcome::Unchanged);
        };
        if order
            .payment_id
            .as_ref()
            .is_some_and(|id| *id != payment.id)
        {
            tracing::warn!(
                order_id = %order.order_id,
                "cancelled order names a payment other than the order's; compensating the order's payment"
            );
        }
        let now = self.clock.now_millis();
        match payment.status() {
            PaymentStatus::Pending => {
                let moved = store::transition(
                    tx,
                    &payment.id,
                    PaymentStatus::Pending,
                    PaymentStatus::Cancelled,
                    now,
                )
                .await?;
                Ok(if moved {
                    EventOutcome::Moved(PaymentStatus::Cancelled)
                } else {
                    EventOutcome::Unchanged
                })
            }
            PaymentStatus::Authorized => {
                if !store::transition(
                    tx,
                    &payment.id,
                    PaymentStatus::Authorized,
                    PaymentStatus::Voided,
                    now,
                )
                .await?
                {
                    return Ok(EventOutcome::Unchanged);
                }
                let authorization = payment.provider_ref.as_deref().unwrap_or_default();
                let reference = self.provider.void(authorization).await?;
                let row = LedgerRow::new(
                    &payment,
                    LedgerKind::Void,
                    payment.amount,
                    reference.as_str(),
                    ORDERING_ACTOR,
                    now,
                );
                store::insert_ledger_row(tx, &row).await?;
                self.outbox
                    .stage(
                        tx,
                        &PaymentVoided {
                            payment_id: payment.id.clone(),
                            order_id: payment.order_id.clone(),
                        },
                    )
                    .await?;
                Ok(EventOutcome::Moved(PaymentStatus::Voided))
            }
            PaymentStatus::Captured | PaymentStatus::PartiallyRefunded => {
                let key = format!("{}:cancel-refund", payment.id);
                let outcome = self
                    .refund_in(tx, Key::Id(&payment.id), None, ORDERING_ACTOR, &key)
                    .await;
                match outcome {
                    Ok(refund) => Ok(EventOutcome::Moved(refund.payment.status)),
                    Err(PaymentsError::OverRefund { .. }) => Ok(EventOutcome::Unchanged),
                    Err(err) => Err(err),
                }
            }
            PaymentStatus::Refunded
            | PaymentStatus::Failed
            | PaymentStatus::Cancelled
            | PaymentStatus::Voided => Ok(EventOutcome::Unchanged),
        }
    }

    /// Saves a card for `user_id`: tokenized at the provider, kept as token and last
    /// four.
    pub async fn save_card(
        &self,
        user_id: &str,
        card: &CardDetails,
    ) -> Result<PaymentMethodView, PaymentsError> {
        let token = self.provider.tokenize(card).await?;
        let method = PaymentMethodRecord {
            id: platform::ids::new_id(),
            user_id: user_id.to_owned(),
            token: token.token,
            brand: token.brand.as_str().to_owned(),
            last4: token.last4,
            exp_month: i64::from(token.exp_month),
            exp_year: i64::from(token.exp_year),
            created_at: self.clock.now_millis(),
        };
        let mut tx = self.db.begin().await?;
        store::insert_payment_method(&mut tx, &method).await?;
        tx.commit().await?;
        Ok(PaymentMethodView::from(&method))
    }

    /// One of `user_id`'s saved cards.
    pub async fn payment_method(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<PaymentMethodView, PaymentsError> {
        store::payment_method(self.db.reader(), user_id, id)
            .await?
            .map(|m| PaymentMethodView::from(&m))
            .ok_or(PaymentsError::UnknownPaymentMethod)
    }

    /// `user_id`'s saved cards by id after `after` (up to `limit`).
    pub async fn payment_methods(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PaymentMethodView>, PaymentsError> {
        Ok(
            store::payment_methods(self.db.reader(), user_id, after, limit)
                .await?
                .iter()
                .map(PaymentMethodView::from)
                .collect(),
        )
    }

    /// Deletes one of `user_id`'s saved cards; `false` if they have no such card.
    pub async fn delete_payment_method(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<bool, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let deleted = store::delete_payment_method(&mut tx, user_id, id).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Ledger rows by id after `after` (up to `limit`), of one payment or all.
    pub async fn transactions(
        &self,
        payment_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TransactionView>, PaymentsError> {
        Ok(store::ledger(
            self.db.reader(),
            payment_id.unwrap_or_default(),
            after,
            limit,
        )
        .await?
        .into_iter()
        .map(TransactionView::from)
        .collect())
    }

    /// Whether a payment's captured and refunded totals equal the sums of its ledger.
    pub async fn ledger_agrees(&self, payment_id: &str) -> Result<bool, PaymentsError> {
        let payment = store::payment(self.db.reader(), payment_id)
            .await?
            .ok_or(PaymentsError::NotFound)?;
        let (captured, refunded) = store::ledger_sums(self.db.reader(), payment_id).await?;
        Ok(payment.captured == captured && payment.refunded == refunded)
    }

    /// Ids of every payment whose totals differ from its ledger (empty when the books
    /// balance).
    pub async fn reconcile(&self) -> Result<Vec<String>, PaymentsError> {
        Ok(store::disagreeing_payments(self.db.reader()).await?)
    }
}

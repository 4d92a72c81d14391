//! The payment aggregate: an amount on a card for one order, its totals, and where it
//! is in its life.
//!
//! A [`Payment`] changes only through its transition methods, which refuse what the
//! state machine ([`Action::from`]) does not allow with a [`TransitionError`]. Each
//! returns what the store writes — a [`Transition`] (written `… WHERE status = <from>`,
//! so two deliveries of one event cannot both act) or a [`RefundChange`] (one conditional
//! update on the totals) — with the event the change emits.

use contracts::ordering::OrderReserved;
use contracts::payments::{
    PaymentAuthorized, PaymentCaptured, PaymentFailed, PaymentInitiated, PaymentMethodKind,
    PaymentVoided, RefundProcessed,
};

use super::status::{
    Action, RefundChange, Transition, TransitionError, refund_status, refund_statuses,
};
use super::{FailureReason, Money, PaymentStatus, StoredCard};

/// Why a payment failed, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The stable code.
    pub reason: FailureReason,
    /// For people.
    pub detail: String,
}

/// A provider's client secret of an intent, kept for the customer's browser (3-D
/// Secure): the customer's credential, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

/// What changes over a payment's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentState {
    /// Where it is.
    pub status: PaymentStatus,
    /// Captured so far, minor units of the payment's currency.
    pub captured: i64,
    /// Refunded so far, minor units of the payment's currency.
    pub refunded: i64,
    /// Refunds recorded and not yet answered by the provider, minor units: promised,
    /// so no other refund may take them.
    pub refunding: i64,
    /// The provider's intent (from its creation on; a payment from before intents:
    /// once authorized).
    pub provider_ref: Option<String>,
    /// Why it failed, once it did.
    pub failure: Option<Failure>,
    /// While the provider waits for the customer to authenticate the card (3-D
    /// Secure): the intent's client secret their browser needs.
    pub customer_action: Option<ClientSecret>,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// A payment for one order: an amount on a card, and where it is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Id.
    pub id: String,
    /// The order it pays (one payment per order).
    pub order_id: String,
    /// The owner.
    pub user_id: String,
    /// The amount authorized (or to be).
    pub amount: Money,
    /// The card.
    pub card: StoredCard,
    /// The saved card it was paid with, if any.
    pub payment_method_id: Option<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    state: PaymentState,
}

impl Payment {
    /// A new `pending` payment of `amount` on `card`.
    pub fn open(
        id: String,
        order_id: String,
        user_id: String,
        amount: Money,
        card: StoredCard,
        payment_method_id: Option<String>,
        now: i64,
    ) -> Self {
        Self {
            id,
            order_id,
            user_id,
            amount,
            card,
            payment_method_id,
            created_at: now,
            state: PaymentState {
                status: PaymentStatus::Pending,
                captured: 0,
                refunded: 0,
                refunding: 0,
                provider_ref: None,
                failure: None,
                customer_action: None,
                updated_at: now,
            },
        }
    }

    /// This payment with the provider's intent `intent` opened for it.
    pub fn at_provider(mut self, intent: String) -> Self {
        self.state.provider_ref = Some(intent);
        self
    }

    /// This payment as it was stored with `state` (for the store, which decoded it).
    pub fn restored(mut self, state: PaymentState) -> Self {
        self.state = state;
        self
    }

    /// What changes over its life.
    pub fn state(&self) -> &PaymentState {
        &self.state
    }

    /// Where it is.
    pub fn status(&self) -> PaymentStatus {
        self.state.status
    }

    /// Captured so far.
    pub fn captured(&self) -> Money {
        self.in_currency(self.state.captured)
    }

    /// Refunded so far.
    pub fn refunded(&self) -> Money {
        self.in_currency(self.state.refunded)
    }

    /// What could still be refunded, minor units: captured, less refunded and
    /// being refunded.
    pub fn refundable(&self) -> i64 {
        self.state.captured - self.state.refunded - self.state.refunding
    }

    /// The provider's intent, once there is one.
    pub fn provider_ref(&self) -> Option<&str> {
        self.state.provider_ref.as_deref()
    }

    /// Why it failed.
    pub fn failure(&self) -> Option<&Failure> {
        self.state.failure.as_ref()
    }

    /// Last change, epoch ms.
    pub fn updated_at(&self) -> i64 {
        self.state.updated_at
    }

    /// Whether its money moved (captured, and maybe refunded since): a capture of it is
    /// already done.
    pub fn was_captured(&self) -> bool {
        use PaymentStatus::*;
        matches!(self.state.status, Captured | PartiallyRefunded | Refunded)
    }

    /// Whether it pays what a reservation says: the same owner, amount and currency.
    pub fn pays_for(&self, order: &OrderReserved) -> bool {
        self.order_id == order.order_id
            && self.user_id == order.user_id
            && self.amount == order.amount
    }

    /// How a cancelled order is compensated: a pending payment is cancelled (so a late
    /// reservation cannot authorize it), an authorized one voided, a captured one
    /// refunded for what is left. `None`: nothing to undo.
    pub fn compensation(&self) -> Option<Action> {
        [Action::Cancel, Action::Void, Action::Refund]
            .into_iter()
            .find(|action| action.allowed_from(self.state.status))
    }

    /// What becomes of this payment when no order takes it further in time: a payment
    /// still `pending` `expiry.pending_ms` after it was created is cancelled (no order
    /// had it authorized: the order never came to exist — its checkout stopped between
    /// creating the payment and storing the order — or it was cancelled), one still
    /// `authorized` `expiry.authorized_ms` after its authorization is voided (the
    /// confirmation or cancellation of its order never reached payments, and the
    /// provider would let the hold lapse). `None`: not due, or nothing to give up.
    pub fn expiry(&self, now: i64, expiry: &PaymentExpiry) -> Option<Action> {
        match self.state.status {
            PaymentStatus::Pending if now - self.created_at >= expiry.pending_ms => {
                Some(Action::Cancel)
            }
            PaymentStatus::Authorized if now - self.state.updated_at >= expiry.authorized_ms => {
                Some(Action::Void)
            }
            _ => None,
        }
    }

    /// The provider holds the amount under `provider_ref`.
    pub fn authorize(
        &mut self,
        provider_ref: &str,
        now: i64,
    ) -> Result<Transition<PaymentAuthorized>, TransitionError> {
        let from = self.enter(Action::Authorize, PaymentStatus::Authorized, now)?;
        self.state.provider_ref = Some(provider_ref.to_owned());
        Ok(self.moved(
            from,
            PaymentAuthorized {
                payment_id: self.id.clone(),
                order_id: self.order_id.clone(),
                amount: self.amount.clone(),
            },
        ))
    }

    /// Authorization was refused for `reason`.
    pub fn fail(
        &mut self,
        reason: FailureReason,
        detail: &str,
        now: i64,
    ) -> Result<Transition<PaymentFailed>, TransitionError> {
        let from = self.enter(Action::Fail, PaymentStatus::Failed, now)?;
        self.state.failure = Some(Failure {
            reason,
            detail: detail.to_owned(),
        });
        Ok(self.moved(
            from,
            PaymentFailed {
                payment_id: self.id.clone(),
                order_id: self.order_id.clone(),
                reason,
                detail: detail.to_owned(),
            },
        ))
    }

    /// The order was cancelled before authorization. Nothing is emitted: the order
    /// already knows.
    pub fn cancel(&mut self, now: i64) -> Result<Transition<()>, TransitionError> {
        let from = self.enter(Action::Cancel, PaymentStatus::Cancelled, now)?;
        Ok(self.moved(from, ()))
    }

    /// The held money moves: `total` (at most the amount, same currency, more than
    /// zero), or the whole amount when `None`.
    pub fn capture(
        &mut self,
        total: Option<&Money>,
        now: i64,
    ) -> Result<Transition<PaymentCaptured>, TransitionError> {
        if !Action::Capture.allowed_from(self.state.status) {
            return Err(TransitionError::WrongStatus(self.state.status));
        }
        let amount = match total {
            Some(total)
                if total.currency == self.amount.currency
                    && total.amount > 0
                    && total.amount <= self.amount.amount =>
            {
                total.clone()
            }
            Some(_) => return Err(TransitionError::TotalDoesNotFit(self.id.clone())),
            None => self.amount.clone(),
        };
        let from = self.enter(Action::Capture, PaymentStatus::Captured, now)?;
        self.state.captured = amount.amount;
        Ok(self.moved(
            from,
            PaymentCaptured {
                payment_id: self.id.clone(),
                order_id: self.order_id.clone(),
                amount,
            },
        ))
    }

    /// The hold is released without capture.
    pub fn void(&mut self, now: i64) -> Result<Transition<PaymentVoided>, TransitionError> {
        let from = self.enter(Action::Void, PaymentStatus::Voided, now)?;
        Ok(self.moved(
            from,
            PaymentVoided {
                payment_id: self.id.clone(),
                order_id: self.order_id.clone(),
            },
        ))
    }

    /// `amount` of what was captured goes back (`None`: everything not refunded yet).
    /// Never more than captured in total; the store enforces the same against
    /// concurrent refunds, which this payment cannot see.
    pub fn refund(
        &mut self,
        amount: Option<&Money>,
        now: i64,
    ) -> Result<RefundChange, TransitionError> {
        if self.state.captured == 0 {
            return Err(TransitionError::NothingCaptured);
        }
        let refundable = self.refundable();
        let amount = match amount {
            Some(money) if money.currency != self.amount.currency => {
                return Err(TransitionError::InvalidAmount(
                    "the currency must be the payment's currency",
                ));
            }
            Some(money) if money.amount <= 0 => {
                return Err(TransitionError::InvalidAmount(
                    "amount must be more than zero",
                ));
            }
            Some(money) => money.amount,
            None => refundable,
        };
        if amount > refundable || refundable == 0 {
            return Err(TransitionError::OverRefund { refundable });
        }
        let refunded = self.state.refunded + amount;
        let to = refund_status(self.state.captured, refunded);
        self.enter(Action::Refund, to, now)?;
        self.state.refunded = refunded;
        let (settled, partial) = refund_statuses();
        Ok(RefundChange {
            amount: self.in_currency(amount),
            from: Action::Refund.from(),
            settled,
            partial,
        })
    }

    /// What a refund of `amount` under `refund_id` emits, from the payment as the
    /// refund left it.
    pub fn refund_processed(&self, refund_id: &str, amount: &Money) -> RefundProcessed {
        RefundProcessed {
            refund_id: refund_id.to_owned(),
            payment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            amount: amount.clone(),
            refunded_total: self.refunded(),
            captured_total: self.captured(),
        }
    }

    /// What recording this new payment emits (`payments.payment.initiated`): who pays
    /// what for which order, and whether with a saved card; never the card itself.
    pub fn initiated(&self) -> PaymentInitiated {
        PaymentInitiated {
            payment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            amount: self.amount.clone(),
            method: if self.payment_method_id.is_some() {
                PaymentMethodKind::SavedCard
            } else {
                PaymentMethodKind::Card
            },
        }
    }

    /// Moves to `to` if `action` is allowed from the current status; the status left.
    fn enter(
        &mut self,
        action: Action,
        to: PaymentStatus,
        now: i64,
    ) -> Result<PaymentStatus, TransitionError> {
        let from = self.state.status;
        if !action.allowed_from(from) || !action.to().contains(&to) {
            return Err(TransitionError::WrongStatus(from));
        }
        self.state.status = to;
        self.state.updated_at = now;
        Ok(from)
    }

    fn moved<E>(&self, from: PaymentStatus, event: E) -> Transition<E> {
        Transition {
            from,
            to: self.state.status,
            event,
        }
    }

    fn in_currency(&self, amount: i64) -> Money {
        Money {
            amount,
            currency: self.amount.currency.clone(),
        }
    }
}

/// How long payments wait for their order before they are given up (see
/// [`Payment::expiry`]), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentExpiry {
    /// A payment no order had authorized.
    pub pending_ms: i64,
    /// An authorization never captured.
    pub authorized_ms: i64,
}

/// What a reservation naming no payment of its order emits: the order fails, and no
/// payment changes.
pub fn no_payment_for(order: &OrderReserved) -> PaymentFailed {
    PaymentFailed {
        payment_id: order.payment_id.clone(),
        order_id: order.order_id.clone(),
        reason: FailureReason::Mismatch,
        detail: "no payment for this order".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CardBrand, Expiry};
    use PaymentStatus::*;

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    fn payment_in(status: PaymentStatus, captured: i64, refunded: i64) -> Payment {
        let card = StoredCard {
            token: "tok".into(),
            brand: CardBrand::Visa,
            last4: "4242".into(),
            expiry: Expiry::stored(12, 2099).expect("expiry"),
            customer: None,
        };
        Payment::open(
            "p-1".into(),
            "o-1".into(),
            "u-1".into(),
            usd(10_000),
            card,
            None,
            1,
        )
        .restored(PaymentState {
            status,
            captured,
            refunded,
            refunding: 0,
            provider_ref: Some("auth-1".into()),
            failure: None,
            customer_action: None,
            updated_at: 1,
        })
    }

    /// A payment in `status` with totals that fit it.
    fn payment(status: PaymentStatus) -> Payment {
        match status {
            Captured => payment_in(status, 10_000, 0),
            PartiallyRefunded => payment_in(status, 10_000, 4_000),
            Refunded => payment_in(status, 10_000, 10_000),
            _ => payment_in(status, 0, 0),
        }
    }

    /// Applies `action` the way its use case does; the status after, or the refusal.
    fn apply(payment: &mut Payment, action: Action) -> Result<PaymentStatus, TransitionError> {
        match action {
            Action::Authorize => payment.authorize("auth-2", 2).map(|t| t.to),
            Action::Fail => payment
                .fail(FailureReason::Declined, "declined", 2)
                .map(|t| t.to),
            Action::Cancel => payment.cancel(2).map(|t| t.to),
            Action::Capture => payment.capture(None, 2).map(|t| t.to),
            Action::Void => payment.void(2).map(|t| t.to),
            Action::Refund => payment
                .refund(Some(&usd(1_000)), 2)
                .map(|_| payment.status()),
        }
    }

    #[test]
    fn each_action_moves_only_from_its_statuses() {
        // (from, action, status after; None: refused)
        let table: &[(PaymentStatus, Action, Option<PaymentStatus>)] = &[
            (Pending, Action::Authorize, Some(Authorized)),
            (Pending, Action::Fail, Some(Failed)),
            (Pending, Action::Cancel, Some(Cancelled)),
            (Authorized, Action::Capture, Some(Captured)),
            (Authorized, Action::Void, Some(Voided)),
            (Captured, Action::Refund, Some(PartiallyRefunded)),
            (PartiallyRefunded, Action::Refund, Some(PartiallyRefunded)),
        ];
        for from in PaymentStatus::ALL {
            for action in Action::ALL {
                let expected = table
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .and_then(|(_, _, to)| *to);
                let mut payment = payment(from);
                let before = payment.clone();
                let outcome = apply(&mut payment, action);
                assert_eq!(
                    outcome.as_ref().ok().copied(),
                    expected,
                    "{from:?} {action:?}"
                );
                if outcome.is_err() {
                    assert_eq!(payment, before, "a refused {action:?} changes nothing");
                } else {
                    assert_eq!(payment.status(), expected.unwrap_or(from));
                    assert_eq!(payment.updated_at(), 2);
                }
            }
        }
    }

    #[test]
    fn refunds_never_exceed_what_was_captured() {
        // (captured, refunded, asked, outcome: status after or refusal)
        type Case = (
            i64,
            i64,
            Option<i64>,
            Result<PaymentStatus, TransitionError>,
        );
        let table: &[Case] = &[
            (10_000, 0, Some(2_500), Ok(PartiallyRefunded)),
            (10_000, 0, Some(10_000), Ok(Refunded)),
            (10_000, 0, None, Ok(Refunded)),
            (10_000, 2_500, Some(7_500), Ok(Refunded)),
            (10_000, 2_500, None, Ok(Refunded)),
            (
                10_000,
                2_500,
                Some(7_501),
                Err(TransitionError::OverRefund { refundable: 7_500 }),
            ),
            (
                10_000,
                10_000,
                None,
                Err(TransitionError::OverRefund { refundable: 0 }),
            ),
            (
                10_000,
                10_000,
                Some(1),
                Err(TransitionError::OverRefund { refundable: 0 }),
            ),
            (0, 0, Some(1), Err(TransitionError::NothingCaptured)),
            (0, 0, None, Err(TransitionError::NothingCaptured)),
            (
                10_000,
                0,
                Some(0),
                Err(TransitionError::InvalidAmount(
                    "amount must be more than zero",
                )),
            ),
        ];
        for (captured, refunded, asked, expected) in table {
            let status = match (*captured, *refunded) {
                (0, _) => Authorized,
                (c, r) if r >= c => Refunded,
                (_, 0) => Captured,
                _ => PartiallyRefunded,
            };
            let mut payment = payment_in(status, *captured, *refunded);
            let outcome = payment
                .refund(asked.map(usd).as_ref(), 2)
                .map(|_| payment.status());
            assert_eq!(&outcome, expected, "{captured} {refunded} {asked:?}");
            if outcome.is_ok() {
                assert!(payment.state().refunded <= payment.state().captured);
            }
        }
        let eur = Money {
            amount: 1,
            currency: "EUR".into(),
        };
        assert!(matches!(
            payment(Captured).refund(Some(&eur), 2),
            Err(TransitionError::InvalidAmount(_))
        ));
    }

    #[test]
    fn a_refund_names_the_statuses_the_store_binds() {
        let mut payment = payment(Captured);
        let change = payment.refund(Some(&usd(3_000)), 2).expect("refund");
        assert_eq!(change.from, [Captured, PartiallyRefunded]);
        assert_eq!(
            (change.settled, change.partial),
            (Refunded, PartiallyRefunded)
        );
        assert_eq!(change.amount, usd(3_000));
        let event = payment.refund_processed("r-1", &change.amount);
        assert_eq!(
            (event.refunded_total, event.captured_total),
            (usd(3_000), usd(10_000))
        );
    }

    #[test]
    fn a_capture_takes_the_order_total_when_it_fits() {
        let eur = Money {
            amount: 5_000,
            currency: "EUR".into(),
        };
        let table: &[(Option<Money>, Option<i64>)] = &[
            (None, Some(10_000)),
            (Some(usd(8_000)), Some(8_000)),
            (Some(usd(10_000)), Some(10_000)),
            (Some(usd(10_001)), None),
            (Some(usd(0)), None),
            (Some(eur), None),
        ];
        for (total, captured) in table {
            let mut payment = payment(Authorized);
            let outcome = payment.capture(total.as_ref(), 2);
            assert_eq!(
                outcome.as_ref().ok().map(|t| t.event.amount.amount),
                *captured,
                "{total:?}"
            );
            if let Some(captured) = captured {
                assert_eq!(payment.captured(), usd(*captured));
            } else {
                assert!(matches!(outcome, Err(TransitionError::TotalDoesNotFit(_))));
            }
        }
    }

    #[test]
    fn transitions_keep_what_they_learn_and_emit_their_event() {
        let mut payment = payment(Pending);
        let authorized = payment.authorize("auth-9", 2).expect("authorize");
        assert_eq!((authorized.from, authorized.to), (Pending, Authorized));
        assert_eq!(authorized.event.amount, usd(10_000));
        assert_eq!(payment.provider_ref(), Some("auth-9"));

        let mut failed = self::payment(Pending);
        let event = failed
            .fail(FailureReason::Fraud, "blocked", 2)
            .expect("fail")
            .event;
        assert_eq!(
            (event.reason, event.detail.as_str()),
            (FailureReason::Fraud, "blocked")
        );
        assert_eq!(
            failed.failure().map(|f| f.reason),
            Some(FailureReason::Fraud)
        );
    }

    #[test]
    fn a_cancelled_order_is_compensated_by_status() {
        let table = [
            (Pending, Some(Action::Cancel)),
            (Authorized, Some(Action::Void)),
            (Captured, Some(Action::Refund)),
            (PartiallyRefunded, Some(Action::Refund)),
            (Refunded, None),
            (Failed, None),
            (Cancelled, None),
            (Voided, None),
        ];
        for (status, compensation) in table {
            assert_eq!(payment(status).compensation(), compensation, "{status:?}");
        }
    }

    #[test]
    fn a_reservation_must_match_order_owner_and_amount() {
        let payment = payment(Pending);
        let order = OrderReserved {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            payment_id: "p-1".into(),
            amount: usd(10_000),
        };
        assert!(payment.pays_for(&order));
        for other in [
            OrderReserved {
                user_id: "u-2".into(),
                ..order.clone()
            },
            OrderReserved {
                amount: usd(9_999),
                ..order.clone()
            },
            OrderReserved {
                amount: Money {
                    amount: 10_000,
                    currency: "EUR".into(),
                },
                ..order.clone()
            },
        ] {
            assert!(!payment.pays_for(&other), "{other:?}");
        }
    }

    #[test]
    fn only_payments_no_order_took_further_in_time_expire() {
        let expiry = PaymentExpiry {
            pending_ms: 100,
            authorized_ms: 1_000,
        };
        // `payment_in` makes payments created and last changed at 1.
        // (status, now, what expiry does)
        let table = [
            (Pending, 100, None),
            (Pending, 101, Some(Action::Cancel)),
            (Authorized, 101, None),
            (Authorized, 1_000, None),
            (Authorized, 1_001, Some(Action::Void)),
            (Captured, 1_000_000, None),
            (PartiallyRefunded, 1_000_000, None),
            (Refunded, 1_000_000, None),
            (Failed, 1_000_000, None),
            (Cancelled, 1_000_000, None),
            (Voided, 1_000_000, None),
        ];
        for (status, now, expected) in table {
            assert_eq!(
                payment(status).expiry(now, &expiry),
                expected,
                "{status:?} at {now}"
            );
        }
        // An authorization's age counts from the authorization, not the payment.
        let mut authorized = payment(Pending);
        let _ = authorized.authorize("auth-9", 5_000).expect("authorize");
        assert_eq!(authorized.expiry(5_999, &expiry), None);
        assert_eq!(authorized.expiry(6_000, &expiry), Some(Action::Void));
    }
}

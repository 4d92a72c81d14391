//! The order aggregate: what an order is (its [`OrderFacts`], fixed when placed) and
//! where it is (its [`OrderState`]), which changes only through [`Order`]'s
//! transitions. Each transition consults the tables in `status`, refuses what they do
//! not allow with an [`IllegalTransition`], and returns the [`StatusChange`] the store
//! writes as a conditional update on the status it moved from.

mod changes;
mod emits;
mod parts;
#[cfg(test)]
pub(crate) mod tests;

pub use changes::{
    IllegalTransition, Recorded, RefundRecorded, RefundRefused, ReturnRefused, SagaMove,
    StatusChange,
};
pub use emits::{RefundEvent, ShippingEvent};
pub use parts::{
    HistoryEntry, OrderDetails, OrderFacts, OrderLine, OrderSource, OrderState, PlaceOrder,
};

use contracts::ordering::RefundRequested;

use crate::domain::{
    Money, OrderStatus, ProcessedRefund, SagaCommand, SagaEvent, ShipmentProgress, saga_step,
    status_after_refund, status_after_shipment,
};

/// An order: its facts, and its state, which only its transitions change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// What it is.
    pub facts: OrderFacts,
    state: OrderState,
}

impl Order {
    /// A new order, `pending` until `deadline_at` for its stock.
    pub fn place(facts: OrderFacts, deadline_at: i64) -> Self {
        let state = OrderState {
            status: OrderStatus::Pending,
            cancel_reason: None,
            captured: 0,
            refunded: 0,
            deadline_at: Some(deadline_at),
            delivered_at: None,
            updated_at: facts.created_at,
        };
        Self { facts, state }
    }

    /// An order as stored (by [`Order::place`] and its transitions).
    pub fn restore(facts: OrderFacts, state: OrderState) -> Self {
        Self { facts, state }
    }

    /// Its facts and state, to render (nothing changes an order taken apart).
    pub fn into_parts(self) -> (OrderFacts, OrderState) {
        (self.facts, self.state)
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.facts.id
    }

    /// Where it is.
    pub fn state(&self) -> &OrderState {
        &self.state
    }

    /// Its status.
    pub fn status(&self) -> OrderStatus {
        self.state.status
    }

    /// Applies a saga participant's answer along [`saga_step`]. A step that waits for
    /// the next participant gives it until `next_deadline`.
    pub fn advance(
        &mut self,
        event: &SagaEvent,
        now: i64,
        next_deadline: i64,
    ) -> Result<SagaMove, IllegalTransition> {
        let step = saga_step(self.state.status, event).ok_or(IllegalTransition::Saga {
            from: self.state.status,
            event: event.name(),
        })?;
        let deadline = (step.command == SagaCommand::AuthorizePayment).then_some(next_deadline);
        let changes = step
            .entered
            .into_iter()
            .map(|(to, reason)| self.enter(to, reason, now, deadline))
            .collect();
        Ok(SagaMove {
            changes,
            command: step.command,
        })
    }

    /// The timeout to apply with [`Order::advance`] if the step the order waits for is
    /// past its deadline at `now`.
    pub fn overdue(&self, now: i64) -> Option<SagaEvent> {
        let waiting_for = match self.state.status {
            OrderStatus::Pending => "stock",
            OrderStatus::Reserved => "payment",
            _ => return None,
        };
        if self.state.deadline_at.is_none_or(|d| d > now) {
            return None;
        }
        Some(SagaEvent::TimedOut(format!(
            "timed out waiting for {waiting_for}"
        )))
    }

    /// Cancels before shipment (the owner or an admin asked).
    pub fn cancel(&mut self, reason: &str, now: i64) -> Result<StatusChange, IllegalTransition> {
        if !self.state.status.can_cancel() {
            return Err(IllegalTransition::Status {
                from: self.state.status,
                to: OrderStatus::Cancelled,
            });
        }
        Ok(self.enter(OrderStatus::Cancelled, reason.to_owned(), now, None))
    }

    /// An admin's change, along [`OrderStatus::admin_can_set`].
    pub fn set_by_admin(
        &mut self,
        next: OrderStatus,
        reason: &str,
        now: i64,
    ) -> Result<StatusChange, IllegalTransition> {
        if !self.state.status.admin_can_set(next) {
            return Err(IllegalTransition::Status {
                from: self.state.status,
                to: next,
            });
        }
        Ok(self.enter(next, reason.to_owned(), now, None))
    }

    /// Follows the order's parcels along [`status_after_shipment`].
    pub fn follow_shipment(
        &mut self,
        progress: ShipmentProgress,
        reason: &str,
        now: i64,
    ) -> Result<StatusChange, IllegalTransition> {
        let next = status_after_shipment(self.state.status, progress).ok_or(
            IllegalTransition::Shipment {
                from: self.state.status,
                progress,
            },
        )?;
        Ok(self.enter(next, reason.to_owned(), now, None))
    }

    /// Completes the order (see [`OrderStatus::can_complete`]) if its return window,
    /// `window_ms` from when it was delivered, has closed at `now` and no return of it
    /// is open (`open_return`): from here nothing more happens to it in the normal
    /// course. The sweep that calls this checks the same, so a refusal means another
    /// replica (or a return) got there first.
    pub fn complete(
        &mut self,
        window_ms: i64,
        open_return: bool,
        now: i64,
    ) -> Result<StatusChange, IllegalTransition> {
        let from = self.state.status;
        let refuse = |why| Err(IllegalTransition::Completion { from, why });
        if !from.can_complete() {
            return refuse("it is not delivered");
        }
        let Some(delivered_at) = self.state.delivered_at else {
            return refuse("it is not delivered");
        };
        if delivered_at.saturating_add(window_ms) > now {
            return refuse("its return window is open");
        }
        if open_return {
            return refuse("a return is open");
        }
        Ok(self.enter(
            OrderStatus::Completed,
            "return window closed".to_owned(),
            now,
            None,
        ))
    }

    /// The payment to refund `amount` of (none: all that is left), if the order may be
    /// refunded so.
    pub fn refundable(&self, amount: Option<&Money>) -> Result<&str, RefundRefused> {
        let status = self.state.status;
        if !status.can_refund() {
            return Err(RefundRefused::Status(status));
        }
        if let Some(amount) = amount
            && amount.currency != self.facts.total.currency
        {
            return Err(RefundRefused::Currency(self.facts.total.currency.clone()));
        }
        self.facts
            .payment_id
            .as_deref()
            .ok_or(RefundRefused::Status(status))
    }

    /// Applies a refund of `payment_id` that payments processed (once per refund; the
    /// store keeps that). The order moves to `refunded` or `partially_refunded` along
    /// [`status_after_refund`], except that a cancelled order stays cancelled and a
    /// completed one completed (so it completes once; the refund is noted).
    pub fn record_refund(
        &mut self,
        payment_id: &str,
        refund: &ProcessedRefund,
        now: i64,
    ) -> RefundRecorded {
        let amount = &refund.amount;
        let next = status_after_refund(refund.refunded_total, refund.captured_total);
        let reason = format!(
            "refunded {} {} of {}",
            amount.amount, amount.currency, refund.captured_total
        );
        // Payments' running total is the authority; it never moves backwards.
        self.state.refunded = self.state.refunded.max(refund.refunded_total);
        self.state.updated_at = now;
        let status = self.state.status;
        let ended = matches!(status, OrderStatus::Cancelled | OrderStatus::Completed);
        let recorded = if !ended && status != next {
            Recorded::Moved(self.enter(next, reason, now, None))
        } else {
            Recorded::Noted(HistoryEntry {
                status,
                reason: Some(reason),
                at: now,
            })
        };
        RefundRecorded {
            recorded,
            event: self.refund_event(payment_id, refund, next),
        }
    }

    /// The refund to ask payments for when returned units come back, worth what they
    /// cost (see [`super::returned_value`]), and the note that it was asked for. `lines`
    /// are the order's.
    pub fn refund_of_return<'a>(
        &self,
        lines: &[OrderLine],
        return_id: &str,
        returned: impl IntoIterator<Item = (&'a str, u32)>,
        now: i64,
    ) -> Result<(RefundRequested, HistoryEntry), ReturnRefused> {
        let Some(payment_id) = self.facts.payment_id.as_deref() else {
            return Err(ReturnRefused::NoPayment(self.state.status));
        };
        let amount =
            super::returned_value(lines, returned).ok_or(ReturnRefused::NothingOfTheOrder)?;
        let note = HistoryEntry {
            status: self.state.status,
            reason: Some(format!(
                "return {return_id} received; refund of {} {} requested",
                amount.amount, amount.currency
            )),
            at: now,
        };
        Ok((
            self.refund_requested_event(payment_id, return_id, amount),
            note,
        ))
    }

    /// Enters `to`: a status that waits for a participant keeps the deadline it had
    /// (or takes `new_deadline`); any other clears it. An order placed without a
    /// deadline never gets one.
    fn enter(
        &mut self,
        to: OrderStatus,
        reason: String,
        at: i64,
        new_deadline: Option<i64>,
    ) -> StatusChange {
        let deadline_at = match self.state.deadline_at {
            Some(current) if to.has_deadline() => Some(new_deadline.unwrap_or(current)),
            _ => None,
        };
        let change = StatusChange {
            from: self.state.status,
            to,
            reason,
            at,
            deadline_at,
        };
        self.state.status = to;
        self.state.updated_at = at;
        self.state.deadline_at = deadline_at;
        if let Some(at) = change.delivered_at() {
            self.state.delivered_at = Some(at);
        }
        if let Some(reason) = change.cancel_reason() {
            self.state.cancel_reason = Some(reason.to_owned());
        }
        change
    }
}

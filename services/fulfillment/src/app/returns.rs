//! Returns: a customer asks to send back delivered units within the return window
//! and reads their returns; an operator lists every return, approves or rejects, then
//! receives them, which announces the units for restocking and refunding.

use super::{FulfillmentApp, FulfillmentError, POLICY};
use crate::domain::{
    self, NewReturn, Return, ReturnDecision, ReturnRefusal, ReturnStatus, ReturnTransitionError,
    Sku, Text,
};
use crate::store;
use platform::auth::Principal;

/// A customer's request to send units back, checked.
#[derive(Debug, Clone)]
pub struct ReturnRequest {
    /// The order the items came with.
    pub order_id: String,
    /// (sku, quantity) as asked, in order.
    pub lines: Vec<(Sku, u32)>,
    /// The customer's reason.
    pub reason: Text<500, true>,
}

impl FulfillmentApp {
    /// Opens a return of delivered items of an order the caller owns (or any, for an
    /// operator), within the return window; nothing is written when any rule fails.
    #[tracing::instrument(
        skip_all,
        fields(order_id = %request.order_id, return_id = tracing::field::Empty),
        err
    )]
    pub async fn create_return(
        &self,
        caller: &Principal,
        request: ReturnRequest,
    ) -> Result<Return, FulfillmentError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let owner = store::facts::lock(&mut tx, self.db.dialect(), &request.order_id).await?;
        let Some(owner) = owner.filter(|o| POLICY.may_see(caller, o)) else {
            return Err(FulfillmentError::NotFound);
        };
        let returnable = store::returns::returnables(&mut tx, &request.order_id).await?;
        let days = self.config.return_window_days;
        let lines =
            domain::plan_return(&request.lines, &returnable, now, days).map_err(|refusal| {
                match refusal {
                    ReturnRefusal::NotDelivered => FulfillmentError::NotDelivered,
                    ReturnRefusal::WindowClosed { closed_at } => FulfillmentError::WindowClosed {
                        days,
                        closed_at: platform::time::rfc3339(closed_at),
                    },
                    ReturnRefusal::Lines(lines) => FulfillmentError::ReturnLines(lines),
                }
            })?;
        let record = Return::request(
            NewReturn {
                id: platform::ids::new_id(),
                order_id: request.order_id,
                user_id: owner,
                reason: request.reason,
                lines,
            },
            now,
        );
        tracing::Span::current().record("return_id", record.id.as_str());
        store::returns::insert(&mut tx, &record).await?;
        self.outbox
            .stage(&mut tx, &record.requested_event())
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(record)
    }

    /// A return the caller may see.
    #[tracing::instrument(skip_all, fields(return_id = %id), err(level = "debug"))]
    pub async fn return_of(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<Return, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let mut conn = self.db.reader().acquire().await?;
        match store::returns::get(&mut conn, id).await? {
            Some(r) if POLICY.may_see(caller, &r.user_id) => Ok(r),
            _ => Err(FulfillmentError::NotFound),
        }
    }

    /// The returns `caller` may see, newest first: every one for operators, their own
    /// for anyone else; in `status` or (with `None`) any, before the id `before`.
    #[tracing::instrument(skip_all, fields(status = status.map(ReturnStatus::as_str)), err(level = "debug"))]
    pub async fn returns(
        &self,
        caller: &Principal,
        status: Option<ReturnStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Return>, FulfillmentError> {
        let owner = (!POLICY.may_manage(caller)).then_some(caller.subject.as_str());
        let mut conn = self.db.reader().acquire().await?;
        Ok(store::returns::list(&mut conn, owner, status, before, limit).await?)
    }

    /// Applies an operator's decision to a return (approve, reject, receive);
    /// receiving announces the returned units, per warehouse, for restocking and
    /// refunding.
    #[tracing::instrument(skip_all, fields(return_id = %id, decision = ?decision), err(level = "debug"))]
    pub async fn decide_return(
        &self,
        id: &str,
        decision: ReturnDecision,
    ) -> Result<Return, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let mut record = store::returns::get(&mut tx, id)
            .await?
            .ok_or(FulfillmentError::NotFound)?;
        let from = record.decide(decision, now)?;
        if !store::returns::save_decision(&mut tx, &record, from).await? {
            // Another decision came first.
            let to = decision.target();
            return Err(ReturnTransitionError { from, to }.into());
        }
        match record.status() {
            ReturnStatus::Received => {
                self.outbox.stage(&mut tx, &record.received_event()).await?;
            }
            ReturnStatus::Rejected => {
                self.outbox.stage(&mut tx, &record.rejected_event()).await?;
            }
            _ => {}
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(record)
    }
}

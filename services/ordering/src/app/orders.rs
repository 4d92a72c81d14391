//! Reading orders: one (with its lines), its history, and lists, as [`super::POLICY`]
//! lets the caller see them (anyone else's order is not found).

use platform::auth::ForwardedCredentials;

use super::{Caller, OrderingApp, OrderingError};
use crate::domain::{HistoryEntry, NextAction, Order, OrderDetails, OrderLine, OrderStatus};
use crate::store;
use crate::store::orders::OrderFilter;

impl OrderingApp {
    /// An order without its lines, if the caller may see it.
    pub(super) async fn visible_order(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Order, OrderingError> {
        store::orders::head(self.db.reader(), id)
            .await?
            .filter(|o| caller.may_see(&o.facts.user_id))
            .ok_or(OrderingError::NotFound)
    }

    /// An order's lines.
    pub(super) async fn lines_of(&self, id: &str) -> Result<Vec<OrderLine>, OrderingError> {
        Ok(store::orders::lines(self.db.reader(), &[id])
            .await?
            .remove(id)
            .unwrap_or_default())
    }

    /// An order the caller may see, with its lines.
    #[tracing::instrument(skip_all, fields(order_id = %id), err(level = "debug"))]
    pub async fn order(&self, caller: &Caller, id: &str) -> Result<OrderDetails, OrderingError> {
        let order = self.visible_order(caller, id).await?;
        let lines = self.lines_of(id).await?;
        Ok(OrderDetails { order, lines })
    }

    /// What the customer has to do for `order`'s payment to go on (3-D Secure), asked
    /// of payments as the caller while the order waits for its payment; `None` when
    /// nothing, or when payments cannot say now (the order is answered anyway).
    pub async fn payment_action(
        &self,
        credentials: &ForwardedCredentials,
        order: &Order,
    ) -> Option<NextAction> {
        if order.status() != OrderStatus::Reserved {
            return None;
        }
        let payment_id = order.facts.payment_id.as_deref()?;
        match self.payments.next_action(credentials, payment_id).await {
            Ok(action) => action,
            Err(err) => {
                tracing::debug!(error = %err, "cannot read the payment's next action");
                None
            }
        }
    }

    /// An order's status history, oldest first.
    #[tracing::instrument(skip_all, fields(order_id = %id), err(level = "debug"))]
    pub async fn history(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<HistoryEntry>, OrderingError> {
        self.visible_order(caller, id).await?;
        Ok(store::orders::history(self.db.reader(), id).await?)
    }

    /// Orders newest first: `owner`'s, or the caller's own when none is named (everyone's
    /// for those who manage ordering). Another user's orders are not found unless the
    /// caller manages ordering.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn list(
        &self,
        caller: &Caller,
        owner: Option<&str>,
        status: Option<OrderStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OrderDetails>, OrderingError> {
        let user_id = match owner {
            Some(owner) if caller.may_see(owner) => Some(owner.to_owned()),
            Some(_) => return Err(OrderingError::NotFound),
            None => (!caller.may_manage()).then(|| caller.user_id().to_owned()),
        };
        let filter = OrderFilter { user_id, status };
        let orders = store::orders::list(self.db.reader(), &filter, before, limit).await?;
        let ids: Vec<&str> = orders.iter().map(Order::id).collect();
        let mut lines = store::orders::lines(self.db.reader(), &ids).await?;
        Ok(orders
            .into_iter()
            .map(|order| OrderDetails {
                lines: lines.remove(order.id()).unwrap_or_default(),
                order,
            })
            .collect())
    }
}

//! Notifications' own directory, fed by events: the users it writes to, each order's
//! owner, and the events parked until the user or order they name is known. The
//! event consumer calls these inside its transaction.

use std::time::Duration;

use platform::db::Tx;

use super::NotificationsApp;
use crate::domain::{OrderOwner, Recipient};
use crate::store;

impl NotificationsApp {
    /// Records (or refreshes) a user in the directory.
    #[tracing::instrument(skip_all, fields(user_id = %user.id), err(level = "debug"))]
    pub async fn remember_user_in(
        &self,
        tx: &mut Tx,
        user: &Recipient,
    ) -> Result<(), platform::db::Error> {
        store::upsert_user(tx, user, self.clock.now_millis()).await
    }

    /// Forgets a deleted user (see [`store::forget_user`]).
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    pub async fn forget_user_in(
        &self,
        tx: &mut Tx,
        user_id: &str,
    ) -> Result<(), platform::db::Error> {
        store::forget_user(tx, user_id, self.clock.now_millis()).await
    }

    /// Records an order's owner.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id, user_id = %order.user_id), err(level = "debug"))]
    pub async fn remember_order_in(
        &self,
        tx: &mut Tx,
        order: &OrderOwner,
    ) -> Result<(), platform::db::Error> {
        store::insert_order(tx, order, self.clock.now_millis()).await
    }

    /// A user as the directory knows them (deleted ones as tombstones).
    pub async fn user_in(
        &self,
        tx: &mut Tx,
        user_id: &str,
    ) -> Result<Option<Recipient>, platform::db::Error> {
        store::user(&mut **tx, user_id).await
    }

    /// Every live admin.
    pub async fn admins_in(&self, tx: &mut Tx) -> Result<Vec<Recipient>, platform::db::Error> {
        store::admins(&mut **tx).await
    }

    /// An order's owner, when the order is known.
    pub async fn order_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
    ) -> Result<Option<OrderOwner>, platform::db::Error> {
        store::order(&mut **tx, order_id).await
    }

    /// Sets event `event_id` (its envelope as `body`) aside until `waits_for`
    /// (`user:<id>` or `order:<id>`) is known.
    pub async fn park_in(
        &self,
        tx: &mut Tx,
        event_id: &str,
        event_type: &str,
        waits_for: &str,
        body: &str,
    ) -> Result<(), platform::db::Error> {
        let now = self.clock.now_millis();
        store::park(tx, event_id, waits_for, event_type, body, now).await
    }

    /// Takes the events parked for `waits_for`, oldest first.
    pub async fn take_parked_in(
        &self,
        tx: &mut Tx,
        waits_for: &str,
    ) -> Result<Vec<String>, platform::db::Error> {
        store::take_parked(tx, waits_for).await
    }

    /// Whether any event is parked (the replay sweeper asks for its lease only then).
    pub async fn any_parked(&self) -> Result<bool, platform::db::Error> {
        store::any_parked(self.db.reader()).await
    }

    /// What parked events wait for that is known by now (see
    /// [`store::parked_now_known`]).
    pub async fn parked_now_known_in(
        &self,
        tx: &mut Tx,
    ) -> Result<Vec<String>, platform::db::Error> {
        store::parked_now_known(tx).await
    }

    /// Drops events that waited longer than `ttl` for their recipient.
    pub async fn expire_parked(&self, ttl: Duration) -> Result<usize, platform::db::Error> {
        let before = self.clock.now_millis() - i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.db.begin().await?;
        let dropped = store::expire_parked(&mut tx, before).await?;
        tx.commit().await?;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "events dropped after waiting too long for their recipient"
            );
        }
        Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
    }
}

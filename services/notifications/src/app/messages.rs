//! Reading messages: one by id, a user's list, and what the local outbox kept.

use super::{NotificationsApp, NotificationsError};
use crate::domain::{Message, Status};
use crate::store;

impl NotificationsApp {
    /// A notification by id.
    #[tracing::instrument(skip_all, fields(notification_id = %id), err(level = "info"))]
    pub async fn notification(&self, id: &str) -> Result<Message, NotificationsError> {
        store::message(self.db.reader(), id)
            .await?
            .ok_or(NotificationsError::NotFound)
    }

    /// A user's notifications, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    pub async fn notifications_of(
        &self,
        user_id: &str,
        status: Option<Status>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Message>, NotificationsError> {
        Ok(store::list_for_user(self.db.reader(), user_id, status, before, limit).await?)
    }

    /// Messages kept in the local outbox, newest first.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn local_outbox(
        &self,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Message>, NotificationsError> {
        Ok(store::list_outbox(self.db.reader(), before, limit).await?)
    }
}

//! Saved cards: tokenized at the provider (or tokenized there by the browser), kept as
//! the provider's method id, brand, last four and expiry — what the provider answered,
//! nothing the customer typed — and used to pay later by their owner only.

use super::{CardSource, PaymentMethodView, PaymentsApp, PaymentsError};
use crate::domain::PaymentMethod;
use crate::store;

impl PaymentsApp {
    /// Saves a card for `user_id`: tokenized at the provider (or a token of the
    /// provider looked up), kept as the provider's id for it, brand, last four and
    /// expiry.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn save_card(
        &self,
        user_id: &str,
        card: &CardSource,
    ) -> Result<PaymentMethodView, PaymentsError> {
        let card = self.card_at_provider(card).await?;
        let method = PaymentMethod {
            id: platform::ids::new_id(),
            user_id: user_id.to_owned(),
            card,
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
}

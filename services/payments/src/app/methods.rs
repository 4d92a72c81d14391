//! Saved cards: tokenized at the provider (or tokenized there by the browser) and
//! attached to the user's customer there, kept as the provider's customer and method
//! ids, brand, last four and expiry — what the provider answered, nothing the customer
//! typed — and used to pay later by their owner only.
//!
//! Each call to the provider here moves no money, so none is journalled. The customer
//! is made under an idempotency key of the user's, so two first saves at once make one
//! (a provider without such keys may make two: payments keeps the first, the other is
//! never named); a card attached whose row then fails to commit is an attached card
//! never used.

use super::{CardSource, PaymentMethodView, PaymentsApp, PaymentsError};
use crate::domain::{CardTokenRef, PaymentMethod};
use crate::store;

impl PaymentsApp {
    /// Saves a card for `user_id`: tokenized at the provider (or the browser's token
    /// taken), attached to the user's customer there (made on their first save), and
    /// kept as the provider's ids for both, brand, last four and expiry.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn save_card(
        &self,
        user_id: &str,
        card: &CardSource,
    ) -> Result<PaymentMethodView, PaymentsError> {
        let token = match card {
            CardSource::Token(token) => token.clone(),
            CardSource::Raw(_) => {
                let tokenized = self.card_at_provider(card).await?;
                CardTokenRef::try_from(tokenized.token.as_str())
                    .map_err(|_| PaymentsError::UnknownCardToken)?
            }
        };
        let customer = self.provider_customer(user_id).await?;
        let mut card: crate::domain::StoredCard =
            self.provider.attach(&token, &customer).await?.into();
        card.customer = Some(customer);
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

    /// Deletes one of `user_id`'s saved cards, and detaches it from their customer
    /// at the provider so it can never pay again; `false` if they have no such card.
    /// Payments already authorized with it keep their holds; one not authorized yet
    /// is then refused by the provider when it is (the owner took the card back).
    pub async fn delete_payment_method(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<bool, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let deleted = store::delete_payment_method(&mut tx, user_id, id).await?;
        tx.commit().await?;
        let Some(method) = deleted else {
            return Ok(false);
        };
        // After the commit: the card is gone from the shop either way, and one the
        // provider could not detach now is one nothing here will ever name again.
        if let Some(customer) = &method.card.customer
            && let Err(decline) = self.provider.detach(&method.card.token, customer).await
        {
            tracing::warn!(
                reason = decline.reason.as_str(),
                "cannot detach a deleted saved card at the provider"
            );
        }
        Ok(true)
    }

    /// `user_id`'s customer at the provider: the one kept, or a new one kept now.
    async fn provider_customer(&self, user_id: &str) -> Result<String, PaymentsError> {
        if let Some(customer) = store::provider_customer(self.db.reader(), user_id).await? {
            return Ok(customer);
        }
        let made = match self.provider.new_customer(user_id).await {
            Ok(made) => made,
            Err(decline) => {
                // Two first saves at once: Stripe answers the second one's call, under
                // the same idempotency key, with a conflict; the first one's customer
                // is then the user's.
                if let Some(kept) = store::provider_customer(self.db.reader(), user_id).await? {
                    return Ok(kept);
                }
                return Err(decline.into());
            }
        };
        let mut tx = self.db.begin().await?;
        let kept =
            store::insert_provider_customer(&mut tx, user_id, &made, self.clock.now_millis())
                .await?;
        tx.commit().await?;
        Ok(kept)
    }
}

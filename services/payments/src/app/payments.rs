//! Creating a payment for an order (a card typed in, or a saved one) and reading
//! payments back.

use platform::db::is_unique_violation;

use super::{PaymentView, PaymentsApp, PaymentsError};
use crate::domain::{CardDetails, CardTokenRef, Money, Payment, PaymentOrigin, StoredCard};
use crate::store;

/// A card given now, to pay with or to save.
#[derive(Debug, Clone)]
pub enum CardSource {
    /// Typed in (the sandbox only); tokenized at the provider and then forgotten.
    Raw(CardDetails),
    /// Tokenized in the browser by the provider; looked up there.
    Token(CardTokenRef),
}

/// What pays for a new payment.
#[derive(Debug, Clone)]
pub enum PaymentSource {
    /// A card given now.
    Card(CardSource),
    /// A saved card of the payment's owner, by id.
    Saved(String),
}

impl PaymentsApp {
    /// The card `source` stands for, as the provider keeps it: a raw card tokenized
    /// (refused when the provider takes none), a token looked up.
    pub(super) async fn card_at_provider(
        &self,
        source: &CardSource,
    ) -> Result<StoredCard, PaymentsError> {
        let card = match source {
            CardSource::Raw(_) if !self.provider.takes_raw_cards() => {
                return Err(PaymentsError::RawCardRefused);
            }
            CardSource::Raw(card) => self.provider.tokenize(card).await?,
            CardSource::Token(token) => self.provider.card_from_token(token).await?,
        };
        Ok(card.into())
    }
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
    /// Where it comes from (client address, billing and shipping countries).
    pub origin: PaymentOrigin,
}

impl PaymentsApp {
    /// Creates a `pending` payment for an order: tokenizes the card, or looks up the
    /// provider's token (or takes a saved one of the same user), opens its intent at
    /// the provider, and keeps the token, brand, last four and expiry. Stages
    /// `payments.payment.initiated` with the row.
    #[tracing::instrument(skip_all, fields(order_id = %new.order_id), err(level = "debug"))]
    pub async fn create_payment(&self, new: NewPayment) -> Result<PaymentView, PaymentsError> {
        if store::payment_by_order(self.db.reader(), &new.order_id)
            .await?
            .is_some()
        {
            return Err(PaymentsError::OrderHasPayment);
        }
        let now = self.clock.now_millis();
        let (card, method_id): (StoredCard, _) = match &new.source {
            PaymentSource::Card(card) => (self.card_at_provider(card).await?, None),
            PaymentSource::Saved(id) => {
                let method = store::payment_method(self.db.reader(), &new.user_id, id)
                    .await?
                    .ok_or(PaymentsError::UnknownPaymentMethod)?;
                if method.has_expired(now) {
                    return Err(PaymentsError::PaymentMethodExpired);
                }
                (method.card, Some(method.id))
            }
        };
        let id = platform::ids::new_id();
        // The intent at the provider moves no money; opened before the row is written,
        // so every payment names its intent and every later call has one to name. A
        // payment whose row is then refused leaves an intent never confirmed.
        let intent = self
            .provider
            .open(&card.token, card.customer.as_deref(), &new.amount, &id)
            .await?;
        let payment = Payment::open(
            id,
            new.order_id,
            new.user_id,
            new.amount,
            card,
            method_id,
            now,
        )
        .at_provider(intent.0);
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
        store::origins::insert_origin(&mut tx, &payment.id, &new.origin, now).await?;
        crate::metrics::payment_entered(&mut tx, &payment, payment.status());
        self.outbox.stage(&mut tx, &payment.initiated()).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(PaymentView::from(&payment))
    }

    /// A payment by id.
    #[tracing::instrument(skip_all, fields(payment_id = %id), err(level = "debug"))]
    pub async fn payment(&self, id: &str) -> Result<PaymentView, PaymentsError> {
        store::payment(self.db.reader(), id)
            .await?
            .map(|p| PaymentView::from(&p))
            .ok_or(PaymentsError::NotFound)
    }

    /// The payment of an order.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn payment_by_order(&self, order_id: &str) -> Result<PaymentView, PaymentsError> {
        store::payment_by_order(self.db.reader(), order_id)
            .await?
            .map(|p| PaymentView::from(&p))
            .ok_or(PaymentsError::NotFound)
    }
}

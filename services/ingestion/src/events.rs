//! What ingestion consumes: Viscount's own confirmed orders (ordering), captured
//! payments and processed refunds (payments), which become the built-in tenant's
//! attribution events (see `app::own`), so analytics sees one kind of event for every
//! tenant. Every other event of those streams is ignored.

use async_trait::async_trait;
use contracts::ordering::OrderConfirmed;
use contracts::payments::{PaymentCaptured, RefundProcessed};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{IngestionApp, IngestionError};
use crate::domain::own::{OwnEvent, OwnTopic};

/// Turns Viscount's own sales into attribution events.
pub struct OwnEvents {
    /// The operations.
    pub app: IngestionApp,
}

#[async_trait]
impl EventHandler for OwnEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let Some(own) = decode(event)? else {
            return Ok(());
        };
        self.app
            .record_own(tx, &event.id, &event.time, &own)
            .await
            .map(|_| ())
            .map_err(|err| match err {
                IngestionError::Sql(err) => HandlerError::Sql(err),
                // Identity, PayPal and the random generator are the other causes: worth
                // a retry, and named (they hold no personal data).
                other => HandlerError::Rejected(other.to_string()),
            })
    }

    fn handles(&self, event_type: &str) -> bool {
        OwnTopic::parse(event_type).is_some()
    }
}

/// The own event `envelope` carries; `None` for a type ingestion does not take.
fn decode(envelope: &Envelope) -> Result<Option<OwnEvent>, serde_json::Error> {
    let Some(topic) = OwnTopic::parse(&envelope.event_type) else {
        return Ok(None);
    };
    Ok(Some(match topic {
        OwnTopic::OrderConfirmed => OwnEvent::OrderConfirmed(envelope.decode::<OrderConfirmed>()?),
        OwnTopic::PaymentCaptured => {
            OwnEvent::PaymentCaptured(envelope.decode::<PaymentCaptured>()?)
        }
        OwnTopic::RefundProcessed => {
            OwnEvent::RefundProcessed(envelope.decode::<RefundProcessed>()?)
        }
    }))
}

#[cfg(test)]
mod tests {
    use contracts::Money;
    use contracts::identity::UserDeleted;
    use platform::service::ServiceKind;

    use super::*;

    #[test]
    fn only_the_three_own_types_are_taken_and_each_decodes_to_its_event() {
        let usd = |amount| Money {
            amount,
            currency: "USD".into(),
        };
        let captured = PaymentCaptured {
            payment_id: "p1".into(),
            order_id: "o1".into(),
            amount: usd(2500),
        };
        let envelope = Envelope::new(ServiceKind::Payments, &captured).expect("envelope");
        assert_eq!(
            decode(&envelope).expect("decodes"),
            Some(OwnEvent::PaymentCaptured(captured))
        );
        let other = Envelope::new(
            ServiceKind::Identity,
            &UserDeleted {
                user_id: "u1".into(),
            },
        )
        .expect("envelope");
        assert_eq!(decode(&other).expect("ignored"), None);

        let mut broken = envelope.clone();
        broken.data = serde_json::json!({"payment_id": "p1"});
        assert!(
            decode(&broken).is_err(),
            "a payload of the wrong shape is an error"
        );
    }
}

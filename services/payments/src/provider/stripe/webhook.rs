//! Stripe's webhook events (`{"id": "evt_...", "type": ..., "data": {"object": ...}}`)
//! read into payments' [`Notice`]s: the intent events (`payment_intent.succeeded`,
//! `payment_intent.amount_capturable_updated`, `payment_intent.payment_failed`), the
//! charge's refunds (`charge.refunded`) and disputes (`charge.dispute.created`). Any
//! other type is acknowledged and ignored. The signature is checked before this reads
//! a byte (`platform::webhook_signature`).

use serde::Deserialize;

use super::wire::{Intent, payments_amount};
use super::{Change, IntentStatus, Notice};
use crate::provider::Decline;

/// Why a signed body is not an event payments can read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// A charge as `charge.refunded` carries it.
#[derive(Deserialize)]
struct Charge {
    id: String,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    amount_refunded: i64,
    currency: String,
}

/// A dispute as `charge.dispute.created` carries it.
#[derive(Deserialize)]
struct Dispute {
    id: String,
    charge: String,
    #[serde(default)]
    payment_intent: Option<String>,
    amount: i64,
    currency: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    evidence_details: Option<EvidenceDetails>,
}

#[derive(Deserialize)]
struct EvidenceDetails {
    #[serde(default)]
    due_by: Option<i64>,
}

fn object<T: serde::de::DeserializeOwned>(
    kind: &str,
    value: serde_json::Value,
) -> Result<T, Unreadable> {
    serde_json::from_value(value)
        .map_err(|err| Unreadable(format!("a {kind} event's object does not read: {err}")))
}

fn money(amount: i64, currency: &str) -> Result<contracts::Money, Unreadable> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Unreadable(
            "the event's currency is not an ISO 4217 code".to_owned(),
        ));
    }
    payments_amount(amount, currency).map_err(|d: Decline| Unreadable(d.detail))
}

/// The notice a Stripe event `body` gives.
pub fn read_notice(body: &[u8]) -> Result<Notice, Unreadable> {
    let event: Event = serde_json::from_slice(body)
        .map_err(|err| Unreadable(format!("the body is not a stripe event: {err}")))?;
    let kind = event.kind.as_str();
    let change = match kind {
        "payment_intent.succeeded" => {
            let state = object::<Intent>(kind, event.data.object)?
                .state()
                .map_err(|d| Unreadable(d.detail))?;
            // A server without `amount_received` (localstripe) says it by the charge.
            let amount = if state.captured.amount > 0 {
                state.captured
            } else {
                state.amount
            };
            Change::Captured {
                intent: state.id,
                charge: state.charge,
                amount,
            }
        }
        "payment_intent.amount_capturable_updated" => {
            let state = object::<Intent>(kind, event.data.object)?
                .state()
                .map_err(|d| Unreadable(d.detail))?;
            if state.status == IntentStatus::RequiresCapture {
                Change::Held { intent: state.id }
            } else {
                Change::Ignored
            }
        }
        "payment_intent.payment_failed" => {
            let state = object::<Intent>(kind, event.data.object)?
                .state()
                .map_err(|d| Unreadable(d.detail))?;
            Change::Failed {
                intent: state.id,
                decline: state.last_failure.unwrap_or_else(|| {
                    Decline::new(
                        crate::domain::FailureReason::Declined,
                        "the card was declined",
                    )
                }),
            }
        }
        "charge.refunded" => {
            let charge: Charge = object(kind, event.data.object)?;
            Change::Refunded {
                total: money(charge.amount_refunded, &charge.currency)?,
                intent: charge.payment_intent,
                charge: charge.id,
            }
        }
        "charge.dispute.created" => {
            let dispute: Dispute = object(kind, event.data.object)?;
            Change::Disputed {
                amount: money(dispute.amount, &dispute.currency)?,
                intent: dispute.payment_intent,
                charge: dispute.charge,
                dispute: dispute.id,
                reason: dispute.reason.unwrap_or_else(|| "unknown".to_owned()),
                evidence_due_by: dispute.evidence_details.and_then(|e| e.due_by),
            }
        }
        _ => Change::Ignored,
    };
    Ok(Notice {
        id: event.id,
        kind: event.kind,
        change,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::FailureReason;

    fn usd(amount: i64) -> contracts::Money {
        contracts::Money {
            amount,
            currency: "USD".into(),
        }
    }

    fn read(kind: &str, object: serde_json::Value) -> Change {
        let body =
            json!({"id": "evt_1", "object": "event", "type": kind, "data": {"object": object}});
        read_notice(body.to_string().as_bytes())
            .expect("reads")
            .change
    }

    #[test]
    fn stripes_documented_events_read_into_changes() {
        let captured = read(
            "payment_intent.succeeded",
            json!({"id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 5000,
                   "amount_received": 4000, "currency": "usd", "latest_charge": "ch_1"}),
        );
        assert_eq!(
            captured,
            Change::Captured {
                intent: "pi_1".into(),
                charge: Some("ch_1".into()),
                amount: usd(4000)
            }
        );
        let failed = read(
            "payment_intent.payment_failed",
            json!({"id": "pi_2", "status": "requires_payment_method", "amount": 5000, "currency": "usd",
                   "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}}),
        );
        assert!(
            matches!(failed, Change::Failed { ref intent, ref decline } if intent == "pi_2" && decline.reason == FailureReason::InsufficientFunds),
            "{failed:?}"
        );
        let held = read(
            "payment_intent.amount_capturable_updated",
            json!({"id": "pi_3", "status": "requires_capture", "amount": 700, "amount_capturable": 700, "currency": "usd"}),
        );
        assert_eq!(
            held,
            Change::Held {
                intent: "pi_3".into()
            }
        );
        let refunded = read(
            "charge.refunded",
            json!({"id": "ch_4", "object": "charge", "payment_intent": "pi_4", "amount": 5000,
                   "amount_refunded": 1500, "currency": "usd", "refunded": false}),
        );
        assert_eq!(
            refunded,
            Change::Refunded {
                intent: Some("pi_4".into()),
                charge: "ch_4".into(),
                total: usd(1500)
            }
        );
        let disputed = read(
            "charge.dispute.created",
            json!({"id": "dp_5", "object": "dispute", "charge": "ch_5", "payment_intent": "pi_5",
                   "amount": 5000, "currency": "usd", "reason": "fraudulent", "status": "needs_response",
                   "evidence_details": {"due_by": 1_800_000_000, "has_evidence": false}}),
        );
        assert_eq!(
            disputed,
            Change::Disputed {
                intent: Some("pi_5".into()),
                charge: "ch_5".into(),
                dispute: "dp_5".into(),
                amount: usd(5000),
                reason: "fraudulent".into(),
                evidence_due_by: Some(1_800_000_000),
            }
        );
        assert_eq!(
            read("customer.created", json!({"id": "cus_1"})),
            Change::Ignored
        );
    }

    #[test]
    fn bodies_that_are_not_events_are_refused_with_a_reason() {
        for body in [
            &b"not json"[..],
            br#"{"id": "evt_1"}"#,
            br#"{"id": "evt_1", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}}"#,
            br#"{"id": "evt_1", "type": "charge.refunded", "data": {"object": {"id": "ch_1", "amount_refunded": 1, "currency": "usd!"}}}"#,
        ] {
            let refused = read_notice(body);
            assert!(refused.as_ref().is_err_and(|e| !e.0.is_empty()), "{}: {refused:?}", String::from_utf8_lossy(body));
        }
    }
}

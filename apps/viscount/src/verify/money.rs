//! `payments_balanced`: every payment's captured and refunded totals equal its ledger,
//! none is left pending or authorized, and every order's money agrees with payments to
//! the cent: a sold order's total captured, a cancelled one's all given back, and the
//! refunds ordering recorded the very refunds payments made.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use contracts::payments::PaymentStatus;
use ordering::domain::OrderStatus;
use platform::db::{Db, query};

use super::Check;
use super::data::Orders;

/// The ledger's names for captures and refunds (payments' `LedgerKind`).
const CAPTURE: &str = "capture";
const REFUND: &str = "refund";

/// One payment as payments stores it.
struct Payment {
    order_id: String,
    status: String,
    amount: i64,
    currency: String,
    captured: i64,
    refunded: i64,
    created_at: i64,
}

pub(super) async fn balanced(db: &Db, orders: &Orders, now: i64) -> anyhow::Result<Check> {
    let mut check = Check::new("payments_balanced");
    let payments = load_payments(db).await?;
    let mut ledger: HashMap<String, (i64, i64)> = HashMap::new();
    for row in query(
        "SELECT payment_id, kind, CAST(SUM(amount) AS BIGINT) AS total \
         FROM transactions WHERE kind IN ($1, $2) GROUP BY payment_id, kind",
    )
    .bind(CAPTURE)
    .bind(REFUND)
    .fetch_all(db.reader())
    .await
    .context("cannot read the payments ledger")?
    {
        let kind: String = row.try_get("kind")?;
        let total: i64 = row.try_get("total")?;
        let sums = ledger.entry(row.try_get("payment_id")?).or_default();
        if kind == CAPTURE {
            sums.0 = total;
        } else {
            sums.1 = total;
        }
    }
    let mut refunds: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
    for row in query("SELECT id, payment_id, amount FROM transactions WHERE kind = $1")
        .bind(REFUND)
        .fetch_all(db.reader())
        .await
        .context("cannot read refunds")?
    {
        refunds
            .entry(row.try_get("payment_id")?)
            .or_default()
            .insert(row.try_get("id")?, row.try_get("amount")?);
    }

    for (id, payment) in &payments {
        check.examined();
        let (captured, refunded) = ledger.get(id).copied().unwrap_or((0, 0));
        if payment.captured != captured {
            check.violation(format!(
                "payment {id}: captured {} but its ledger's captures sum to {captured}",
                payment.captured
            ));
        }
        if payment.refunded != refunded {
            check.violation(format!(
                "payment {id}: refunded {} but its ledger's refunds sum to {refunded}",
                payment.refunded
            ));
        }
        if payment.refunded > payment.captured {
            check.violation(format!(
                "payment {id}: refunded {} exceeds captured {}",
                payment.refunded, payment.captured
            ));
        }
        if payment.captured > payment.amount {
            check.violation(format!(
                "payment {id}: captured {} exceeds its amount {}",
                payment.captured, payment.amount
            ));
        }
        let status = PaymentStatus::parse(&payment.status);
        match status {
            None => check.violation(format!(
                "payment {id} has an unknown status {:?}",
                payment.status
            )),
            Some(PaymentStatus::Pending | PaymentStatus::Authorized) => {
                check.violation(format!(
                    "payment {id} of order {} is {} (created {}s ago)",
                    payment.order_id,
                    payment.status,
                    (now - payment.created_at).max(0) / 1000
                ));
            }
            Some(status) => {
                if let Some(why) = totals_disagree(status, payment) {
                    check.violation(format!("payment {id} is {}, {why}", payment.status));
                }
            }
        }
        if !orders.by_id.contains_key(&payment.order_id) && payment.captured > payment.refunded {
            check.violation(format!(
                "payment {id} holds {} {} captured for order {}, which does not exist",
                payment.captured - payment.refunded,
                payment.currency,
                payment.order_id
            ));
        }
    }

    let by_order: HashMap<&str, (&String, &Payment)> = payments
        .iter()
        .map(|(id, payment)| (payment.order_id.as_str(), (id, payment)))
        .collect();
    let no_refunds = BTreeMap::new();
    for (order_id, order) in &orders.by_id {
        let Some(status) = order.status() else {
            continue;
        };
        // An unsettled order's money is still moving (orders_settled reports it).
        if !status.is_settled() {
            continue;
        }
        check.examined();
        let payment = match (order.payment_id.as_deref(), by_order.get(order_id.as_str())) {
            (Some(payment_id), Some((id, payment))) if *id == payment_id => payment,
            (Some(payment_id), _) => {
                check.violation(format!(
                    "order {order_id} names payment {payment_id}, which payments does not have for it"
                ));
                continue;
            }
            (None, Some((id, _))) => {
                check.violation(format!(
                    "order {order_id} names no payment but payments has {id} for it"
                ));
                continue;
            }
            (None, None) => {
                if order.is_sold() {
                    check.violation(format!("order {order_id} is {status} without a payment"));
                }
                continue;
            }
        };
        if order.is_sold() {
            if payment.captured != order.total || payment.currency != order.currency {
                check.violation(format!(
                    "order {order_id} totals {} {} but its payment captured {} {}",
                    order.total, order.currency, payment.captured, payment.currency
                ));
            }
        } else if status == OrderStatus::Cancelled && payment.captured != payment.refunded {
            check.violation(format!(
                "cancelled order {order_id} kept {} {}: captured {}, refunded {}",
                payment.captured - payment.refunded,
                payment.currency,
                payment.captured,
                payment.refunded
            ));
        }
        if order.captured != payment.captured {
            check.violation(format!(
                "order {order_id} records {} captured, its payment {}",
                order.captured, payment.captured
            ));
        }
        if order.refunded != payment.refunded {
            check.violation(format!(
                "order {order_id} records {} refunded, its payment {}",
                order.refunded, payment.refunded
            ));
        }
        let recorded = orders.refunds.get(order_id).unwrap_or(&no_refunds);
        let made = order
            .payment_id
            .as_ref()
            .and_then(|id| refunds.get(id))
            .unwrap_or(&no_refunds);
        if recorded != made {
            check.violation(format!(
                "order {order_id}: ordering recorded refunds {recorded:?}, payments made {made:?}"
            ));
        }
    }
    Ok(check)
}

/// Why a settled payment's totals do not fit its status, if they do not.
fn totals_disagree(status: PaymentStatus, payment: &Payment) -> Option<String> {
    let (captured, refunded) = (payment.captured, payment.refunded);
    let fits = match status {
        PaymentStatus::Failed | PaymentStatus::Cancelled | PaymentStatus::Voided => {
            captured == 0 && refunded == 0
        }
        PaymentStatus::Captured => captured > 0 && refunded == 0,
        PaymentStatus::PartiallyRefunded => refunded > 0 && refunded < captured,
        PaymentStatus::Refunded => captured > 0 && refunded == captured,
        PaymentStatus::Pending | PaymentStatus::Authorized => true,
    };
    (!fits).then(|| format!("yet captured {captured} and refunded {refunded}"))
}

async fn load_payments(db: &Db) -> anyhow::Result<BTreeMap<String, Payment>> {
    let mut payments = BTreeMap::new();
    for row in query(
        "SELECT id, order_id, status, amount, currency, captured, refunded, created_at FROM payments",
    )
    .fetch_all(db.reader())
    .await
    .context("cannot read payments")?
    {
        payments.insert(
            row.try_get("id")?,
            Payment {
                order_id: row.try_get("order_id")?,
                status: row.try_get("status")?,
                amount: row.try_get("amount")?,
                currency: row.try_get("currency")?,
                captured: row.try_get("captured")?,
                refunded: row.try_get("refunded")?,
                created_at: row.try_get("created_at")?,
            },
        );
    }
    Ok(payments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(captured: i64, refunded: i64) -> Payment {
        Payment {
            order_id: "o".into(),
            status: String::new(),
            amount: 1000,
            currency: "USD".into(),
            captured,
            refunded,
            created_at: 0,
        }
    }

    #[test]
    fn a_settled_status_must_fit_the_totals() {
        use PaymentStatus::*;
        let table = [
            (Captured, 1000, 0, true),
            (Captured, 0, 0, false),
            (PartiallyRefunded, 1000, 400, true),
            (PartiallyRefunded, 1000, 1000, false),
            (Refunded, 1000, 1000, true),
            (Refunded, 1000, 999, false),
            (Voided, 0, 0, true),
            (Failed, 1000, 0, false),
            (Cancelled, 0, 0, true),
        ];
        for (status, captured, refunded, fits) in table {
            assert_eq!(
                totals_disagree(status, &payment(captured, refunded)).is_none(),
                fits,
                "{status:?} {captured}/{refunded}"
            );
        }
    }
}

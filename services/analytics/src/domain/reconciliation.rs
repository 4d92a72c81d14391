//! Reconciliation: matching a tenant's orders to its payments by reference.
//!
//! A payment refers to an order through its `order_ref` (Stripe `metadata.order_id`,
//! PayPal `invoice_number` or `custom`, the order id of Viscount's own payments). An
//! order is `matched` when the payments referring to it sum to its amount in its
//! currency, an `amount_mismatch` when they refer to it with another sum (or another
//! currency), a `missing_payment` when none refers to it; a payment whose reference
//! names no known order (or that has none) is a `missing_order`.

use std::collections::BTreeMap;

/// An order as reconciliation sees it: its amount as it stands (adjustments included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    /// The order's external id (what payments refer to).
    pub external_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
}

/// A payment as reconciliation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFacts {
    /// The provider's id of the charge or sale.
    pub external_id: String,
    /// The order it names, if any.
    pub order_ref: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
}

/// What a discrepancy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    // The discriminants index a tally's counts.
    /// Payments refer to the order with another sum or currency.
    AmountMismatch = 0,
    /// No payment refers to the order.
    MissingPayment = 1,
    /// The payment refers to no known order.
    MissingOrder = 2,
}

impl Category {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::AmountMismatch => "amount_mismatch",
            Category::MissingPayment => "missing_payment",
            Category::MissingOrder => "missing_order",
        }
    }

    /// The category named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Category::AmountMismatch,
            Category::MissingPayment,
            Category::MissingOrder,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

/// One thing that does not reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// What it is.
    pub category: Category,
    /// The order reference it is about (the payment's own id for a payment without one).
    pub reference: String,
    /// The order's amount, when there is an order.
    pub order_amount: Option<i64>,
    /// What the payments referring to it sum to, when there are any.
    pub payment_amount: Option<i64>,
    /// The currency (the order's, else the payments').
    pub currency: Option<String>,
    /// The payments involved.
    pub payment_ids: Vec<String>,
}

/// A run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Orders whose payments sum to their amount.
    pub matched: u64,
    /// Everything else, orders first by reference.
    pub discrepancies: Vec<Discrepancy>,
}

impl Outcome {
    /// How many discrepancies of `category`.
    pub fn count(&self, category: Category) -> u64 {
        self.discrepancies
            .iter()
            .filter(|d| d.category == category)
            .count() as u64
    }
}

/// A run's outcome gathered page by page: exact counts, and the first discrepancies
/// up to a limit (a year of a large shop could have hundreds of thousands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Orders whose payments sum to their amount.
    pub matched: u64,
    counts: [u64; 3],
    /// The discrepancies kept, in the order they were found.
    pub kept: Vec<Discrepancy>,
    keep: usize,
}

impl Tally {
    /// An empty tally keeping at most `keep` discrepancies.
    pub fn new(keep: usize) -> Self {
        Self {
            matched: 0,
            counts: [0; 3],
            kept: Vec::new(),
            keep,
        }
    }

    /// Adds the outcome of one page.
    pub fn absorb(&mut self, outcome: Outcome) {
        self.matched += outcome.matched;
        for found in outcome.discrepancies {
            self.counts[found.category as usize] += 1;
            if self.kept.len() < self.keep {
                self.kept.push(found);
            }
        }
    }

    /// How many discrepancies of `category` were found (kept or not).
    pub fn count(&self, category: Category) -> u64 {
        self.counts[category as usize]
    }
}

/// Matches `orders` to `payments`. Deterministic: discrepancies are ordered by
/// category, then reference.
pub fn reconcile(orders: &[OrderFacts], payments: &[PaymentFacts]) -> Outcome {
    let orders_by_ref: BTreeMap<&str, &OrderFacts> = orders
        .iter()
        .map(|order| (order.external_id.as_str(), order))
        .collect();
    let mut paying: BTreeMap<&str, Vec<&PaymentFacts>> = BTreeMap::new();
    let mut outcome = Outcome::default();
    for payment in payments {
        match payment.order_ref.as_deref() {
            Some(reference) if orders_by_ref.contains_key(reference) => {
                paying.entry(reference).or_default().push(payment);
            }
            reference => outcome.discrepancies.push(Discrepancy {
                category: Category::MissingOrder,
                reference: reference.unwrap_or(&payment.external_id).to_owned(),
                order_amount: None,
                payment_amount: Some(payment.amount),
                currency: Some(payment.currency.clone()),
                payment_ids: vec![payment.external_id.clone()],
            }),
        }
    }
    for (reference, order) in &orders_by_ref {
        let Some(payments) = paying.get(reference) else {
            outcome.discrepancies.push(Discrepancy {
                category: Category::MissingPayment,
                reference: (*reference).to_owned(),
                order_amount: Some(order.amount),
                payment_amount: None,
                currency: Some(order.currency.clone()),
                payment_ids: Vec::new(),
            });
            continue;
        };
        let same_currency = payments.iter().all(|p| p.currency == order.currency);
        // Amounts come from outside: a sum that would overflow is no match.
        let paid = payments
            .iter()
            .try_fold(0i64, |sum, p| sum.checked_add(p.amount));
        if same_currency && paid == Some(order.amount) {
            outcome.matched += 1;
        } else {
            outcome.discrepancies.push(Discrepancy {
                category: Category::AmountMismatch,
                reference: (*reference).to_owned(),
                order_amount: Some(order.amount),
                // A sum across currencies (or one too large) means nothing: none.
                payment_amount: paid.filter(|_| same_currency),
                currency: Some(order.currency.clone()),
                payment_ids: payments.iter().map(|p| p.external_id.clone()).collect(),
            });
        }
    }
    outcome
        .discrepancies
        .sort_by(|a, b| (a.category, &a.reference).cmp(&(b.category, &b.reference)));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, amount: i64) -> OrderFacts {
        OrderFacts {
            external_id: id.into(),
            amount,
            currency: "USD".into(),
        }
    }

    fn payment(id: &str, reference: Option<&str>, amount: i64, currency: &str) -> PaymentFacts {
        PaymentFacts {
            external_id: id.into(),
            order_ref: reference.map(Into::into),
            amount,
            currency: currency.into(),
        }
    }

    #[test]
    fn each_category_is_found() {
        let orders = [
            order("o-1", 1000),
            order("o-2", 2000),
            order("o-3", 3000),
            order("o-4", 4000),
            order("o-5", 500),
        ];
        let payments = [
            payment("p-1", Some("o-1"), 1000, "USD"),
            payment("p-2", Some("o-2"), 1999, "USD"),
            payment("p-4a", Some("o-4"), 2500, "USD"),
            payment("p-4b", Some("o-4"), 1500, "USD"),
            payment("p-5", Some("o-5"), 500, "EUR"),
            payment("p-9", Some("o-9"), 900, "USD"),
            payment("p-x", None, 100, "USD"),
        ];
        let outcome = reconcile(&orders, &payments);
        // o-1 exactly, o-4 by two payments that add up.
        assert_eq!(outcome.matched, 2);
        assert_eq!(
            outcome.count(Category::AmountMismatch),
            2,
            "o-2 and o-5 (currency)"
        );
        assert_eq!(outcome.count(Category::MissingPayment), 1, "o-3");
        assert_eq!(outcome.count(Category::MissingOrder), 2, "p-9 and p-x");
        let mismatch = &outcome.discrepancies[0];
        assert_eq!(mismatch.reference, "o-2");
        assert_eq!(
            (mismatch.order_amount, mismatch.payment_amount),
            (Some(2000), Some(1999))
        );
        let orphan = outcome
            .discrepancies
            .iter()
            .find(|d| d.reference == "p-x")
            .map(|d| d.category);
        assert_eq!(orphan, Some(Category::MissingOrder));
        assert_eq!(reconcile(&orders, &payments), outcome, "deterministic");

        // Page by page as a run reads (orders with the payments naming them, then the
        // payments naming none), keeping two: the counts stay exact.
        let mut tally = Tally::new(2);
        tally.absorb(reconcile(&orders[..2], &payments[..2]));
        tally.absorb(reconcile(&orders[2..], &payments[2..5]));
        tally.absorb(reconcile(&[], &payments[5..]));
        assert_eq!(tally.matched, 2);
        assert_eq!(tally.kept.len(), 2);
        for category in [
            Category::AmountMismatch,
            Category::MissingPayment,
            Category::MissingOrder,
        ] {
            assert_eq!(
                tally.count(category),
                outcome.count(category),
                "{category:?}"
            );
        }
    }
}

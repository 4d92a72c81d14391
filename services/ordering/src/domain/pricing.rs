//! Prices: ordering's copy of catalog's price list, lines priced from it, totals, and
//! what returned units are worth at the prices they were ordered at.

use std::collections::HashMap;

use super::{Money, OrderLine, Quantity, Sku};

/// One catalog price as ordering knows it (kept current from catalog's events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The sku.
    pub sku: Sku,
    /// Its product.
    pub product_id: String,
    /// Its name (kept on order lines).
    pub name: String,
    /// Its price.
    pub price: Money,
}

/// Why lines could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A sku is not for sale (unknown to the price list); the index is the line's.
    #[error("unknown sku {}", .1.as_str())]
    UnknownSku(usize, Sku),
    /// The lines are priced in different currencies (or their sum overflows).
    #[error("the items are priced in different currencies")]
    MixedCurrencies,
}

/// `wanted` lines priced from `prices`; a sku without a price is
/// [`PricingError::UnknownSku`] (with its index in `wanted`).
pub fn price_lines(
    wanted: &[(Sku, u32)],
    prices: &[Price],
) -> Result<Vec<OrderLine>, PricingError> {
    let known: HashMap<&str, &Price> = prices.iter().map(|p| (p.sku.as_str(), p)).collect();
    wanted
        .iter()
        .enumerate()
        .map(|(i, (sku, quantity))| {
            let price = known
                .get(sku.as_str())
                .ok_or_else(|| PricingError::UnknownSku(i, sku.clone()))?;
            Ok(OrderLine {
                sku: sku.clone(),
                name: price.name.clone(),
                quantity: *quantity,
                unit_price: price.price.clone(),
            })
        })
        .collect()
}

/// One line per sku, in the order first named, quantities of repeated skus added up.
pub fn merge_lines(items: &[(Sku, Quantity)]) -> Vec<(Sku, u32)> {
    let mut merged: Vec<(Sku, u32)> = Vec::with_capacity(items.len());
    for (sku, quantity) in items {
        match merged.iter_mut().find(|(s, _)| s == sku) {
            Some((_, q)) => *q = q.saturating_add(quantity.get()),
            None => merged.push((sku.clone(), quantity.get())),
        }
    }
    merged
}

/// The total of priced lines, or `None` if they mix currencies or overflow.
pub fn total<'a>(lines: impl IntoIterator<Item = (&'a Money, u32)>) -> Option<Money> {
    let mut total: Option<Money> = None;
    for (unit, quantity) in lines {
        let line = unit.amount.checked_mul(i64::from(quantity))?;
        match &mut total {
            None => {
                total = Some(Money {
                    amount: line,
                    currency: unit.currency.clone(),
                })
            }
            Some(t) if t.currency == unit.currency => t.amount = t.amount.checked_add(line)?,
            Some(_) => return None,
        }
    }
    total
}

/// What returned units are worth at the prices they were ordered at: each returned
/// sku is priced from the order's line for it, and never more units of it than were
/// ordered (a sku may come back in several lines, from several warehouses). `None`
/// when nothing came back, a returned sku is not on the order, or the sum overflows.
pub fn returned_value<'a>(
    ordered: &[OrderLine],
    returned: impl IntoIterator<Item = (&'a str, u32)>,
) -> Option<Money> {
    let mut per_sku: Vec<(&str, u32)> = Vec::new();
    for (sku, quantity) in returned {
        match per_sku.iter_mut().find(|(s, _)| *s == sku) {
            Some((_, sum)) => *sum = sum.saturating_add(quantity),
            None => per_sku.push((sku, quantity)),
        }
    }
    let mut priced = Vec::with_capacity(per_sku.len());
    for (sku, quantity) in per_sku {
        let line = ordered.iter().find(|l| l.sku.as_str() == sku)?;
        priced.push((&line.unit_price, quantity.min(line.quantity)));
    }
    total(priced)
}

/// A cart priced now (see [`super::Cart::priced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCart {
    /// The cart's id.
    pub id: String,
    /// Its lines at current prices, in the order they were added.
    pub lines: Vec<OrderLine>,
    /// Sum of the lines (none for an empty cart, which has no currency yet).
    pub total: Option<Money>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    pub(crate) fn sku(raw: &str) -> Sku {
        Sku::try_from(raw.to_owned()).expect("sku")
    }

    pub(crate) fn line(raw: &str, unit: i64, quantity: u32) -> OrderLine {
        OrderLine {
            sku: sku(raw),
            name: format!("{raw} name"),
            quantity,
            unit_price: usd(unit),
        }
    }

    fn price(raw: &str, money: Money) -> Price {
        Price {
            sku: sku(raw),
            product_id: format!("p-{raw}"),
            name: format!("{raw} name"),
            price: money,
        }
    }

    #[test]
    fn returns_are_worth_what_was_paid_for_at_most_what_was_ordered() {
        let ordered = vec![line("A", 1250, 2), line("B", 300, 1)];
        assert_eq!(returned_value(&ordered, [("A", 1)]), Some(usd(1250)));
        assert_eq!(
            returned_value(&ordered, [("A", 1), ("B", 1)]),
            Some(usd(1550))
        );
        // Split across warehouses, and more than ordered: capped per sku.
        assert_eq!(
            returned_value(&ordered, [("A", 2), ("A", 3)]),
            Some(usd(2500))
        );
        assert_eq!(returned_value(&ordered, [("C", 1)]), None);
        assert_eq!(returned_value(&ordered, []), None);
    }

    #[test]
    fn totals_add_lines_and_refuse_mixed_currencies() {
        let a = usd(250);
        let b = usd(100);
        assert_eq!(total([(&a, 2), (&b, 3)]), Some(usd(800)));
        let eur = Money {
            amount: 1,
            currency: "EUR".into(),
        };
        assert_eq!(total([(&a, 1), (&eur, 1)]), None);
        let huge = usd(i64::MAX);
        assert_eq!(total([(&huge, 2)]), None);
    }

    #[test]
    fn lines_are_priced_from_the_list_and_unknown_skus_named_by_index() {
        let prices = [price("A", usd(250)), price("B", usd(100))];
        let lines = price_lines(&[(sku("B"), 2), (sku("A"), 1)], &prices).expect("priced");
        assert_eq!(lines, [line("B", 100, 2), line("A", 250, 1)]);
        assert_eq!(
            price_lines(&[(sku("A"), 1), (sku("C"), 1)], &prices),
            Err(PricingError::UnknownSku(1, sku("C")))
        );
    }

    #[test]
    fn repeated_skus_merge_into_their_first_line() {
        let q = |n| Quantity::try_from(n).expect("quantity");
        let merged = merge_lines(&[(sku("A"), q(1)), (sku("B"), q(2)), (sku("A"), q(1000))]);
        assert_eq!(merged, [(sku("A"), 1001), (sku("B"), 2)]);
    }
}

//! The cart aggregate: a user's lines (one per sku, in the order first added), changed
//! only through [`Cart::set`], which keeps it within [`MAX_LINES`] and says what the
//! store must write.

use contracts::ordering::{CartCreated, CartFacts, CartLine, CartUpdated};

use super::{CartQuantity, MAX_LINES, Money, Price, PricedCart, PricingError, Quantity, Sku};

/// One cart line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartItem {
    /// The sku.
    pub sku: Sku,
    /// How many.
    pub quantity: Quantity,
}

/// What a cart update changed, for the store to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartChange {
    /// The sku's line is gone (if it was there at all).
    Remove(Sku),
    /// The sku's line holds this many now (a new line goes last).
    Set(CartItem),
}

/// A cart may hold at most [`MAX_LINES`] lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {MAX_LINES} lines")]
pub struct TooManyLines;

/// A user's cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    items: Vec<CartItem>,
}

impl Cart {
    /// A new, empty cart.
    pub fn new(id: String, user_id: String) -> Self {
        Self::restore(id, user_id, Vec::new())
    }

    /// A cart as stored, its lines in the order they were added.
    pub fn restore(id: String, user_id: String, items: Vec<CartItem>) -> Self {
        Self { id, user_id, items }
    }

    /// The lines, in the order they were added.
    pub fn items(&self) -> &[CartItem] {
        &self.items
    }

    /// Whether the cart has a line of `sku`.
    pub fn contains(&self, sku: &Sku) -> bool {
        self.items.iter().any(|item| item.sku == *sku)
    }

    /// The skus of the lines, to look their prices up.
    pub fn skus(&self) -> Vec<&str> {
        self.items.iter().map(|item| item.sku.as_str()).collect()
    }

    /// Sets (or with [`CartQuantity::Remove`] removes) the line of `sku`; a new line
    /// beyond [`MAX_LINES`] is refused and changes nothing.
    pub fn set(&mut self, sku: Sku, quantity: CartQuantity) -> Result<CartChange, TooManyLines> {
        let existing = self.items.iter().position(|item| item.sku == sku);
        match quantity {
            CartQuantity::Remove => {
                if let Some(index) = existing {
                    self.items.remove(index);
                }
                Ok(CartChange::Remove(sku))
            }
            CartQuantity::Set(quantity) => {
                let item = CartItem { sku, quantity };
                match existing {
                    Some(index) => self.items[index] = item.clone(),
                    None if self.items.len() >= MAX_LINES => return Err(TooManyLines),
                    None => self.items.push(item.clone()),
                }
                Ok(CartChange::Set(item))
            }
        }
    }

    /// What ordering the cart would buy: its lines as (sku, quantity).
    pub fn wanted(&self) -> Vec<(Sku, u32)> {
        self.items
            .iter()
            .map(|item| (item.sku.clone(), item.quantity.get()))
            .collect()
    }

    /// The cart priced from `prices`, which must hold every sku it has.
    pub fn priced(&self, prices: &[Price]) -> Result<PricedCart, PricingError> {
        let lines = super::price_lines(&self.wanted(), prices)?;
        let total = super::total(lines.iter().map(|l| (&l.unit_price, l.quantity)));
        if total.is_none() && !lines.is_empty() {
            return Err(PricingError::MixedCurrencies);
        }
        Ok(PricedCart {
            id: self.id.clone(),
            lines,
            total,
        })
    }

    /// The cart as its events carry it, priced from `prices`: a line whose sku has no
    /// price any more (its product was deleted) is carried without one, and then, as
    /// with mixed currencies, the cart has no subtotal. Unlike [`Cart::priced`] this
    /// never fails: the event says what the cart holds, sellable or not.
    pub fn facts(&self, prices: &[Price]) -> CartFacts {
        let items: Vec<CartLine> = self
            .items
            .iter()
            .map(|item| {
                let quantity = item.quantity.get();
                let unit_price = prices
                    .iter()
                    .find(|p| p.sku == item.sku)
                    .map(|p| p.price.clone());
                let line_total = unit_price.as_ref().and_then(|unit| {
                    Some(Money {
                        amount: unit.amount.checked_mul(i64::from(quantity))?,
                        currency: unit.currency.clone(),
                    })
                });
                CartLine {
                    sku: item.sku.as_str().to_owned(),
                    quantity,
                    unit_price,
                    line_total,
                }
            })
            .collect();
        let priced: Option<Vec<(&Money, u32)>> = items
            .iter()
            .map(|line| line.unit_price.as_ref().map(|unit| (unit, line.quantity)))
            .collect();
        let subtotal = priced.and_then(super::total);
        CartFacts {
            cart_id: self.id.clone(),
            user_id: self.user_id.clone(),
            items,
            subtotal,
        }
    }

    /// `ordering.cart.created`.
    pub fn created_event(&self, prices: &[Price]) -> CartCreated {
        CartCreated(self.facts(prices))
    }

    /// `ordering.cart.updated`: its lines changed.
    pub fn updated_event(&self, prices: &[Price]) -> CartUpdated {
        CartUpdated(self.facts(prices))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pricing::tests::{sku, usd};

    fn q(n: i64) -> Quantity {
        Quantity::try_from(n).expect("quantity")
    }

    fn set(n: i64) -> CartQuantity {
        CartQuantity::Set(q(n))
    }

    fn skus(cart: &Cart) -> Vec<(&str, u32)> {
        cart.items()
            .iter()
            .map(|i| (i.sku.as_str(), i.quantity.get()))
            .collect()
    }

    #[test]
    fn updates_set_replace_and_remove_lines_in_the_order_first_added() {
        let mut cart = Cart::new("c1".into(), "u1".into());
        // (sku, update, expected change, lines after)
        type Row<'a> = (&'a str, CartQuantity, CartChange, Vec<(&'a str, u32)>);
        let item = |s: &str, n: i64| {
            CartChange::Set(CartItem {
                sku: sku(s),
                quantity: q(n),
            })
        };
        let table: Vec<Row> = vec![
            ("A", set(1), item("A", 1), vec![("A", 1)]),
            ("B", set(2), item("B", 2), vec![("A", 1), ("B", 2)]),
            ("A", set(5), item("A", 5), vec![("A", 5), ("B", 2)]),
            (
                "A",
                CartQuantity::Remove,
                CartChange::Remove(sku("A")),
                vec![("B", 2)],
            ),
            // Removing what is not there changes nothing, and says so to the store anyway.
            (
                "C",
                CartQuantity::Remove,
                CartChange::Remove(sku("C")),
                vec![("B", 2)],
            ),
            ("A", set(1), item("A", 1), vec![("B", 2), ("A", 1)]),
        ];
        for (raw, update, change, after) in table {
            assert_eq!(cart.set(sku(raw), update), Ok(change), "{raw} {update:?}");
            assert_eq!(skus(&cart), after, "{raw} {update:?}");
        }
    }

    #[test]
    fn a_full_cart_refuses_a_new_line_but_changes_the_ones_it_has() {
        let items = (0..MAX_LINES)
            .map(|i| CartItem {
                sku: sku(&format!("S{i}")),
                quantity: q(1),
            })
            .collect();
        let mut cart = Cart::restore("c1".into(), "u1".into(), items);
        assert_eq!(cart.set(sku("NEW"), set(1)), Err(TooManyLines));
        assert!(!cart.contains(&sku("NEW")));
        assert!(cart.set(sku("S0"), set(3)).is_ok());
        assert!(cart.set(sku("S1"), CartQuantity::Remove).is_ok());
        assert!(cart.set(sku("NEW"), set(1)).is_ok());
    }

    #[test]
    fn a_priced_cart_totals_its_lines_and_an_empty_one_has_no_total() {
        let price = |s: &str, amount| Price {
            sku: sku(s),
            product_id: "p".into(),
            name: s.into(),
            price: usd(amount),
        };
        let mut cart = Cart::new("c1".into(), "u1".into());
        assert_eq!(cart.priced(&[]).map(|p| p.total), Ok(None));
        cart.set(sku("A"), set(2)).expect("set");
        cart.set(sku("B"), set(1)).expect("set");
        let priced = cart
            .priced(&[price("A", 250), price("B", 100)])
            .expect("priced");
        assert_eq!(priced.total, Some(usd(600)));
        assert_eq!(
            cart.priced(&[price("A", 250)]),
            Err(PricingError::UnknownSku(1, sku("B")))
        );
        // The events carry every line; one without a price leaves the cart without a
        // subtotal instead of failing.
        let facts = cart.facts(&[price("A", 250), price("B", 100)]);
        assert_eq!(
            (facts.cart_id.as_str(), facts.user_id.as_str()),
            ("c1", "u1")
        );
        assert_eq!(facts.items[0].line_total, Some(usd(500)));
        assert_eq!(facts.subtotal, Some(usd(600)));
        let facts = cart.updated_event(&[price("A", 250)]).0;
        assert_eq!(facts.items.len(), 2);
        assert_eq!(facts.items[1].unit_price, None);
        assert_eq!(facts.subtotal, None);
        assert_eq!(
            Cart::new("c2".into(), "u1".into()).facts(&[]).subtotal,
            None
        );
    }
}

//! Which delivered units a return may take back: the return window, what earlier
//! returns already hold, and from which shipment (and so which warehouse) each unit
//! comes.

use std::fmt;

use super::{DAY_MS, Invalid, Sku};

/// Most lines in one return.
pub const MAX_RETURN_LINES: usize = 100;
/// Most units of one sku in one return line.
pub const MAX_RETURN_QUANTITY: u32 = 1_000;

/// One sku of one delivered shipment, as far as a return may take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returnable {
    /// The shipment it came in.
    pub shipment_id: String,
    /// The warehouse the shipment left from (the one the items go back to).
    pub warehouse_id: String,
    /// The sku.
    pub sku: Sku,
    /// When the shipment was delivered, epoch ms.
    pub delivered_at: i64,
    /// Units delivered less those already in returns that were not rejected.
    pub remaining: u32,
}

/// Units of one sku a return takes back from one shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAllocation {
    /// The shipment they came in.
    pub shipment_id: String,
    /// The warehouse they go back to.
    pub warehouse_id: String,
    /// The sku.
    pub sku: Sku,
    /// How many (at least one).
    pub quantity: u32,
}

/// Why one requested return line cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineRefusal {
    /// No delivered shipment of the order carried this sku.
    NotDelivered,
    /// It was delivered, but the window for every such shipment has closed.
    WindowClosed,
    /// More than is left to return; `remaining` can still be.
    TooMany {
        /// Units that can still be returned.
        remaining: u32,
    },
}

impl fmt::Display for LineRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDelivered => f.write_str("was not delivered with this order"),
            Self::WindowClosed => f.write_str("the return window for this item has closed"),
            Self::TooMany { remaining } => {
                write!(f, "at most {remaining} can be returned")
            }
        }
    }
}

/// Why a return cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnRefusal {
    /// Nothing of the order was delivered yet.
    NotDelivered,
    /// Every delivered shipment is past the window; it closed at this epoch ms.
    WindowClosed {
        /// When the last window closed.
        closed_at: i64,
    },
    /// Some lines cannot be taken: (index of the line as requested, why).
    Lines(Vec<(usize, LineRefusal)>),
}

/// Plans a return of `requested` (sku, quantity) lines against what the order's
/// delivered shipments still hold, keeping only shipments delivered within
/// `window_days` of `now`. Lines of the same sku are added together (errors name the
/// first). Each sku is taken from the most recently delivered shipment first.
pub fn plan_return(
    requested: &[(Sku, u32)],
    delivered: &[Returnable],
    now: i64,
    window_days: u32,
) -> Result<Vec<ReturnAllocation>, ReturnRefusal> {
    if delivered.is_empty() {
        return Err(ReturnRefusal::NotDelivered);
    }
    let window = i64::from(window_days) * DAY_MS;
    let open = |r: &Returnable| now <= r.delivered_at.saturating_add(window);
    if !delivered.iter().any(open) {
        let last = delivered.iter().map(|r| r.delivered_at).max().unwrap_or(0);
        return Err(ReturnRefusal::WindowClosed {
            closed_at: last.saturating_add(window),
        });
    }
    // sku -> (first index, total quantity), in the order first asked.
    let mut wanted: Vec<(&Sku, usize, u32)> = Vec::new();
    for (index, (sku, quantity)) in requested.iter().enumerate() {
        match wanted.iter_mut().find(|(s, _, _)| *s == sku) {
            Some(entry) => entry.2 = entry.2.saturating_add(*quantity),
            None => wanted.push((sku, index, *quantity)),
        }
    }
    let mut plan = Vec::new();
    let mut refusals = Vec::new();
    for (sku, index, quantity) in wanted {
        let mut sources: Vec<&Returnable> = delivered.iter().filter(|r| &r.sku == sku).collect();
        if sources.is_empty() {
            refusals.push((index, LineRefusal::NotDelivered));
            continue;
        }
        sources.retain(|r| open(r));
        if sources.is_empty() {
            refusals.push((index, LineRefusal::WindowClosed));
            continue;
        }
        sources.sort_by(|a, b| {
            b.delivered_at
                .cmp(&a.delivered_at)
                .then(a.shipment_id.cmp(&b.shipment_id))
        });
        let remaining: u32 = sources.iter().map(|r| r.remaining).sum();
        if quantity > remaining {
            refusals.push((index, LineRefusal::TooMany { remaining }));
            continue;
        }
        let mut left = quantity;
        for source in sources {
            if left == 0 {
                break;
            }
            let take = left.min(source.remaining);
            if take > 0 {
                plan.push(ReturnAllocation {
                    shipment_id: source.shipment_id.clone(),
                    warehouse_id: source.warehouse_id.clone(),
                    sku: sku.clone(),
                    quantity: take,
                });
                left -= take;
            }
        }
    }
    if refusals.is_empty() {
        Ok(plan)
    } else {
        Err(ReturnRefusal::Lines(refusals))
    }
}

/// A return line quantity: 1 to [`MAX_RETURN_QUANTITY`].
pub fn return_quantity(raw: i64) -> Result<u32, Invalid> {
    match u32::try_from(raw) {
        Ok(q) if (1..=MAX_RETURN_QUANTITY).contains(&q) => Ok(q),
        _ => Err(Invalid("must be between 1 and 1000")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(raw: &str) -> Sku {
        Sku::try_from(raw.to_owned()).expect("sku")
    }

    fn delivered(shipment: &str, sku_: &str, at_day: i64, remaining: u32) -> Returnable {
        Returnable {
            shipment_id: shipment.into(),
            warehouse_id: format!("wh-{shipment}"),
            sku: sku(sku_),
            delivered_at: at_day * DAY_MS,
            remaining,
        }
    }

    fn take(shipment: &str, sku_: &str, quantity: u32) -> ReturnAllocation {
        ReturnAllocation {
            shipment_id: shipment.into(),
            warehouse_id: format!("wh-{shipment}"),
            sku: sku(sku_),
            quantity,
        }
    }

    #[test]
    fn a_return_needs_a_delivery_within_the_window() {
        let lines = [(sku("A"), 1)];
        assert_eq!(
            plan_return(&lines, &[], 0, 30),
            Err(ReturnRefusal::NotDelivered)
        );
        let one = [delivered("s1", "A", 10, 2)];
        // Day 40 is the last day of a 30-day window opened on day 10.
        assert_eq!(
            plan_return(&lines, &one, 40 * DAY_MS, 30),
            Ok(vec![take("s1", "A", 1)])
        );
        assert_eq!(
            plan_return(&lines, &one, 40 * DAY_MS + 1, 30),
            Err(ReturnRefusal::WindowClosed {
                closed_at: 40 * DAY_MS
            })
        );
    }

    #[test]
    fn return_lines_are_checked_against_what_is_left() {
        let parcels = [
            delivered("s1", "A", 1, 1),
            delivered("s2", "A", 5, 2),
            delivered("s2", "B", 5, 1),
            delivered("old", "C", -60, 3),
        ];
        let now = 10 * DAY_MS;
        let plan = |lines: &[(&str, u32)]| {
            let lines: Vec<(Sku, u32)> = lines.iter().map(|(s, q)| (sku(s), *q)).collect();
            plan_return(&lines, &parcels, now, 30)
        };
        // The most recent delivery first, then older ones.
        assert_eq!(
            plan(&[("A", 3)]),
            Ok(vec![take("s2", "A", 2), take("s1", "A", 1)])
        );
        // Repeated skus add up.
        assert_eq!(
            plan(&[("A", 1), ("B", 1), ("A", 1)]),
            Ok(vec![take("s2", "A", 2), take("s2", "B", 1)])
        );
        assert_eq!(
            plan(&[("B", 1), ("A", 4), ("Z", 1), ("C", 1)]),
            Err(ReturnRefusal::Lines(vec![
                (1, LineRefusal::TooMany { remaining: 3 }),
                (2, LineRefusal::NotDelivered),
                (3, LineRefusal::WindowClosed),
            ]))
        );
    }

    #[test]
    fn return_quantities_are_bounded() {
        assert!(return_quantity(0).is_err());
        assert!(return_quantity(1001).is_err());
        assert!(return_quantity(-1).is_err());
        assert_eq!(return_quantity(3), Ok(3));
    }
}

//! Loyalty points, free of I/O: the rates (points earned per whole currency unit paid,
//! minor units one point is worth at redemption), the arithmetic of earning, reversing
//! and redeeming, and the kinds of ledger entries.
//!
//! Every computation is integer and floors, so the platform never gives away a point or
//! a cent it did not mean to: an order earns floor(paid major units × rate), a refund
//! reverses floor(earned × refunded share) cumulatively (a full refund reverses exactly
//! all), and a discount is points × point value.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Invalid;

/// Most points one reservation may ask for (keeps every product inside `i64`).
pub const MAX_POINTS: i64 = 1_000_000_000;

/// The loyalty settings (`[identity.loyalty]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LoyaltyConfig {
    /// Whether orders earn points and points can be redeemed.
    pub enabled: bool,
    /// Rates per ISO 4217 currency (`[identity.loyalty.rates.USD]`); an order in a
    /// currency without a rate earns nothing and cannot redeem.
    pub rates: BTreeMap<String, LoyaltyRate>,
    /// How long a reservation may wait for its order's confirmation before the sweep
    /// gives the points back (the order may never have been stored).
    pub reservation_ttl_secs: u64,
}

impl Default for LoyaltyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rates: BTreeMap::from([("USD".to_owned(), LoyaltyRate::default())]),
            reservation_ttl_secs: 3600,
        }
    }
}

impl LoyaltyConfig {
    /// Refuses rates no order could use: a key that is no ISO 4217 code this platform
    /// prices in, or points worth nothing at checkout.
    pub fn check(&self) -> Result<(), String> {
        for (code, rate) in &self.rates {
            if contracts::types::minor_unit_exponent(&code.to_ascii_uppercase()).is_none() {
                return Err(format!(
                    "loyalty.rates.{code} is not a known ISO 4217 currency"
                ));
            }
            if rate.point_value_minor == 0 {
                return Err(format!(
                    "loyalty.rates.{code}.point_value_minor must be at least 1"
                ));
            }
        }
        Ok(())
    }

    /// The rate of `currency`, when loyalty is on and the currency has one. Codes
    /// compare without case: environment variables reach the map lower-cased.
    pub fn rate(&self, currency: &str) -> Option<LoyaltyRate> {
        if !self.enabled {
            return None;
        }
        self.rates
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case(currency))
            .map(|(_, rate)| *rate)
    }
}

/// How points are earned and redeemed in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LoyaltyRate {
    /// Points per whole currency unit paid (1: one point per dollar).
    pub earn_per_unit: u32,
    /// Minor units one point is worth at redemption (1: 100 points are 1.00).
    pub point_value_minor: u32,
}

impl Default for LoyaltyRate {
    fn default() -> Self {
        Self {
            earn_per_unit: 1,
            point_value_minor: 1,
        }
    }
}

/// What happened to a user's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A delivered order earned points (+ balance).
    Earned,
    /// A refund took earned points back (- balance; may go below zero).
    Reversed,
    /// An order being placed holds points (+ reserved).
    Reserved,
    /// A hold ended without spending (- reserved), or spent points came back because
    /// the confirmed order was cancelled (+ balance).
    Released,
    /// The order was confirmed: the held points are spent (- balance, - reserved).
    Redeemed,
    /// A refund gave back its share of the points the order spent (+ balance).
    Restored,
}

impl EntryKind {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earned => "earned",
            Self::Reversed => "reversed",
            Self::Reserved => "reserved",
            Self::Released => "released",
            Self::Redeemed => "redeemed",
            Self::Restored => "restored",
        }
    }
}

impl TryFrom<&str> for EntryKind {
    type Error = Invalid;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Ok(match name {
            "earned" => Self::Earned,
            "reversed" => Self::Reversed,
            "reserved" => Self::Reserved,
            "released" => Self::Released,
            "redeemed" => Self::Redeemed,
            "restored" => Self::Restored,
            _ => return Err(Invalid("unknown loyalty entry kind")),
        })
    }
}

/// One line of a user's loyalty history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyEntry {
    /// Id (UUIDv7: orders by time).
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// What happened.
    pub kind: EntryKind,
    /// Signed points: what the customer gained (+) or gave up (-) by it.
    pub points: i64,
    /// The order it is about.
    pub order_id: String,
    /// When, epoch ms.
    pub at: i64,
}

/// A user's points: the balance (may be negative after a reversal of spent points) and
/// what open reservations hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoyaltyBalance {
    /// Earned minus reversed minus redeemed.
    pub balance: i64,
    /// Held by orders not yet confirmed.
    pub reserved: i64,
}

impl LoyaltyBalance {
    /// What can still be reserved (never below zero).
    pub fn available(self) -> i64 {
        self.balance.saturating_sub(self.reserved).max(0)
    }
}

/// Where a reservation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    /// Held for an order being placed.
    Reserved,
    /// Spent: the order was confirmed.
    Redeemed,
    /// Given back: the order was cancelled, or ordering could not place it.
    Released,
    /// Given back by the sweep: no confirmation came within the hold's lifetime. Only
    /// such a hold is still spent by a confirmation that comes later (the order was
    /// charged less for it); a released one never is, so a cancellation handled before
    /// its order's confirmation cannot be undone by it.
    Expired,
}

impl ReservationStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Redeemed => "redeemed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

impl TryFrom<&str> for ReservationStatus {
    type Error = Invalid;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Ok(match name {
            "reserved" => Self::Reserved,
            "redeemed" => Self::Redeemed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            _ => return Err(Invalid("unknown reservation status")),
        })
    }
}

/// What identity knows of an order to earn and reverse its points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPoints {
    /// The order.
    pub order_id: String,
    /// Its customer, its currency and what it charged (from `order.confirmed`; absent
    /// when a refund arrived first).
    pub paid: Option<(String, String, i64)>,
    /// Refunded so far, minor units.
    pub refunded_minor: i64,
    /// Points earned on delivery (none before).
    pub earned: Option<i64>,
    /// What had been refunded when the points were earned.
    pub refunded_at_earn: i64,
    /// Points reversed since.
    pub reversed: i64,
    /// Points the order spent (redeemed at checkout) that refunds gave back.
    pub restored: i64,
}

impl OrderPoints {
    /// Points a refund of `refunded_minor` in total should have reversed by now,
    /// counting only refunds after the earning (those before lowered what was earned).
    pub fn reversal_due(&self) -> i64 {
        let (Some(earned), Some((_, _, total))) = (self.earned, &self.paid) else {
            return 0;
        };
        points_to_reverse(
            earned,
            total.saturating_sub(self.refunded_at_earn),
            self.refunded_minor.saturating_sub(self.refunded_at_earn),
        )
    }

    /// Of the `redeemed` points the order spent, those its refunds so far should have
    /// given back: the refunded share of what it charged (all of them once everything
    /// is refunded), by the same rule as [`OrderPoints::reversal_due`].
    pub fn restoration_due(&self, redeemed: i64) -> i64 {
        let Some((_, _, total)) = &self.paid else {
            return 0;
        };
        points_to_reverse(redeemed, *total, self.refunded_minor)
    }
}

/// Points an order holds, and the discount they buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The order.
    pub order_id: String,
    /// Whose points.
    pub user_id: String,
    /// How many.
    pub points: i64,
    /// What they are worth, in minor units of `currency`.
    pub discount_minor: i64,
    /// The order's currency.
    pub currency: String,
    /// Where it is.
    pub status: ReservationStatus,
    /// When it was made, epoch ms.
    pub created_at: i64,
}

/// Points a payment of `paid_minor` (minor units of a currency with `exponent`
/// decimals) earns: floor(paid major units × `earn_per_unit`); nothing for nothing
/// paid.
pub fn points_earned(paid_minor: i64, exponent: u32, earn_per_unit: u32) -> i64 {
    if paid_minor <= 0 {
        return 0;
    }
    let scale = 10_i128.pow(exponent);
    let points = i128::from(paid_minor) * i128::from(earn_per_unit) / scale;
    i64::try_from(points).unwrap_or(i64::MAX)
}

/// Points reversed in total once `refunded_minor` of the `basis_minor` the order
/// earned `earned` points on has come back: floor(earned × refunded / basis), so a
/// partial refund never takes more than its share and a full one takes exactly all;
/// never more than earned.
pub fn points_to_reverse(earned: i64, basis_minor: i64, refunded_minor: i64) -> i64 {
    if earned <= 0 || refunded_minor <= 0 {
        return 0;
    }
    if basis_minor <= 0 || refunded_minor >= basis_minor {
        return earned;
    }
    let reversed = i128::from(earned) * i128::from(refunded_minor) / i128::from(basis_minor);
    i64::try_from(reversed).unwrap_or(earned).min(earned)
}

/// The discount `points` buy at `point_value_minor` each, in minor units.
pub fn discount_minor(points: i64, point_value_minor: u32) -> i64 {
    points.saturating_mul(i64::from(point_value_minor))
}

/// Points asked for a reservation: 1 to [`MAX_POINTS`].
pub fn reservation_points(raw: i64) -> Result<i64, Invalid> {
    if (1..=MAX_POINTS).contains(&raw) {
        Ok(raw)
    } else {
        Err(Invalid("must be between 1 and 1000000000"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_give_back_the_refunded_share_of_spent_points() {
        let order = |refunded_minor: i64, paid: bool| OrderPoints {
            order_id: "o-1".to_owned(),
            paid: paid.then(|| ("u-1".to_owned(), "USD".to_owned(), 700)),
            refunded_minor,
            earned: None,
            refunded_at_earn: 0,
            reversed: 0,
            restored: 0,
        };
        // (refunded of 700, spent points back)
        for (refunded, due) in [
            (0, 0),
            (1, 0),
            (350, 150),
            (699, 299),
            (700, 300),
            (900, 300),
        ] {
            assert_eq!(
                order(refunded, true).restoration_due(300),
                due,
                "{refunded}"
            );
        }
        // Nothing known of what it charged (a refund before the confirmation): nothing.
        assert_eq!(order(700, false).restoration_due(300), 0);
        assert_eq!(order(700, true).restoration_due(0), 0);
        assert_eq!(EntryKind::try_from("restored"), Ok(EntryKind::Restored));
        assert_eq!(EntryKind::Restored.as_str(), "restored");
    }

    #[test]
    fn earning_floors_whole_units_paid_times_the_rate() {
        let cases = [
            // (paid minor, exponent, rate, points)
            (1999, 2, 1, 19),
            (2000, 2, 1, 20),
            (99, 2, 1, 0),
            (1999, 2, 3, 59),
            (1000, 0, 1, 1000),
            (1999, 3, 10, 19),
            (0, 2, 1, 0),
            (-500, 2, 1, 0),
        ];
        for (paid, exponent, rate, points) in cases {
            assert_eq!(
                points_earned(paid, exponent, rate),
                points,
                "{paid} at 10^{exponent}, rate {rate}"
            );
        }
    }

    #[test]
    fn reversals_follow_the_refunded_share_and_a_full_refund_takes_all() {
        let cases = [
            // (earned, basis, refunded so far, reversed in total)
            (19, 1999, 0, 0),
            (19, 1999, 1000, 9),
            (19, 1999, 1999, 19),
            (19, 1999, 5000, 19),
            (20, 2000, 500, 5),
            (20, 2000, 1500, 15),
            (7, 0, 1, 7),
            (0, 2000, 2000, 0),
        ];
        for (earned, basis, refunded, reversed) in cases {
            assert_eq!(
                points_to_reverse(earned, basis, refunded),
                reversed,
                "{earned} on {basis}, {refunded} refunded"
            );
        }
        // Cumulative: the steps of a partial then full refund add up to what was earned.
        let first = points_to_reverse(19, 1999, 1000);
        let all = points_to_reverse(19, 1999, 1999);
        assert_eq!(first + (all - first), 19);
    }

    #[test]
    fn refunds_before_delivery_lower_the_basis_of_later_reversals() {
        let mut order = OrderPoints {
            order_id: "o".into(),
            paid: Some(("u".into(), "USD".into(), 3000)),
            refunded_minor: 1000,
            earned: Some(points_earned(3000 - 1000, 2, 1)),
            refunded_at_earn: 1000,
            reversed: 0,
            restored: 0,
        };
        assert_eq!(order.earned, Some(20));
        assert_eq!(
            order.reversal_due(),
            0,
            "the early refund is already priced in"
        );
        order.refunded_minor = 2000;
        assert_eq!(order.reversal_due(), 10);
        order.refunded_minor = 3000;
        assert_eq!(order.reversal_due(), 20);
        order.earned = None;
        assert_eq!(
            order.reversal_due(),
            0,
            "nothing earned, nothing to reverse"
        );
    }

    #[test]
    fn discounts_and_reservation_sizes() {
        assert_eq!(discount_minor(250, 1), 250);
        assert_eq!(discount_minor(250, 5), 1250);
        assert!(reservation_points(0).is_err());
        assert!(reservation_points(-3).is_err());
        assert!(reservation_points(MAX_POINTS + 1).is_err());
        assert_eq!(reservation_points(10), Ok(10));
    }

    #[test]
    fn rates_are_checked_and_found_without_case() {
        let mut config = LoyaltyConfig::default();
        assert_eq!(config.check(), Ok(()));
        config.rates.insert(
            "eur".into(),
            LoyaltyRate {
                earn_per_unit: 2,
                point_value_minor: 5,
            },
        );
        assert_eq!(config.rate("EUR").map(|r| r.point_value_minor), Some(5));
        assert_eq!(config.check(), Ok(()));
        config.rates.insert("XXX".into(), LoyaltyRate::default());
        assert!(config.check().is_err());
        config.rates.remove("XXX");
        config.rates.insert(
            "GBP".into(),
            LoyaltyRate {
                earn_per_unit: 1,
                point_value_minor: 0,
            },
        );
        assert!(config.check().is_err());
        config.enabled = false;
        assert_eq!(config.rate("USD"), None, "off: no rates");
    }

    #[test]
    fn available_never_shows_below_zero() {
        let negative = LoyaltyBalance {
            balance: -5,
            reserved: 0,
        };
        assert_eq!(negative.available(), 0);
        let held = LoyaltyBalance {
            balance: 100,
            reserved: 30,
        };
        assert_eq!(held.available(), 70);
    }

    #[test]
    fn kinds_and_statuses_read_back() {
        for kind in [
            EntryKind::Earned,
            EntryKind::Reversed,
            EntryKind::Reserved,
            EntryKind::Released,
            EntryKind::Redeemed,
        ] {
            assert_eq!(EntryKind::try_from(kind.as_str()), Ok(kind));
        }
        for status in [
            ReservationStatus::Reserved,
            ReservationStatus::Redeemed,
            ReservationStatus::Released,
        ] {
            assert_eq!(ReservationStatus::try_from(status.as_str()), Ok(status));
        }
        assert!(EntryKind::try_from("spent").is_err());
    }
}

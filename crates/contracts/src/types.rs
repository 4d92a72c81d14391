//! Values every service agrees on the rules of: skus, money and short texts.

use serde::{Deserialize, Serialize};

/// Why a value was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Invalid {}

/// A stock-keeping unit: 1 to 64 of `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Sku(String);

impl TryFrom<String> for Sku {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let sku = raw.trim();
        if sku.is_empty() || sku.len() > 64 {
            return Err(Invalid("must be 1 to 64 characters"));
        }
        if !sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Invalid("may contain only letters, digits, - _ and ."));
        }
        Ok(Self(sku.to_owned()))
    }
}

impl Sku {
    /// The sku text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A trimmed text of 1 to `MAX` characters without control characters (newlines are
/// allowed where `MULTILINE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize, const MULTILINE: bool = false>(String);

impl<const MAX: usize, const MULTILINE: bool> TryFrom<String> for Text<MAX, MULTILINE> {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if text.chars().count() > MAX {
            return Err(Invalid("is too long"));
        }
        if text
            .chars()
            .any(|c| c.is_control() && !(MULTILINE && (c == '\n' || c == '\t')))
        {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(text.to_owned()))
    }
}

impl<const MAX: usize, const MULTILINE: bool> Text<MAX, MULTILINE> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// ISO 4217 codes the platform accepts.
pub const CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP",
    "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NGN",
    "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "RON", "SAR", "SEK", "SGD", "THB", "TRY", "TWD",
    "UAH", "USD", "VND", "ZAR",
];

/// An amount of money: integer minor units and an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD).
    pub amount: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// A price: zero or more minor units, at most 10^12, in a known currency.
    pub fn price(amount: i64, currency: &str) -> Result<Self, Invalid> {
        if amount < 0 {
            return Err(Invalid("amount must not be negative"));
        }
        if amount > 1_000_000_000_000 {
            return Err(Invalid("amount is too large"));
        }
        let currency = currency.trim().to_ascii_uppercase();
        if !CURRENCIES.contains(&currency.as_str()) {
            return Err(Invalid("currency must be a known ISO 4217 code"));
        }
        Ok(Self { amount, currency })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_checked() {
        assert!(Sku::try_from("SKU-1.a_b".to_owned()).is_ok());
        assert!(Sku::try_from("bad sku".to_owned()).is_err());
        assert!(Sku::try_from("x".repeat(65)).is_err());
    }

    #[test]
    fn prices_need_a_known_currency_and_no_sign() {
        assert_eq!(
            Money::price(1999, "usd").map(|m| m.currency),
            Ok("USD".to_owned())
        );
        assert!(Money::price(-1, "USD").is_err());
        assert!(Money::price(1, "XXX").is_err());
    }
}

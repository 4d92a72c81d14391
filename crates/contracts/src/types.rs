//! Values every service agrees on the rules of: skus, money, countries and short texts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema, ToSchema)]
pub struct Sku(
    // The schema states the rules `try_from` enforces, so a consumer of the schema
    // knows what a sku can look like without reading this file.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))] String,
);

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

/// A two-letter ISO 3166-1 alpha-2 country code, upper case (any case is accepted and
/// raised). Whether the code is assigned is not checked: a shop ships where its
/// carriers go, and a list here would lag the standard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Country(String);

impl TryFrom<String> for Country {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(Invalid("must be a two-letter ISO 3166-1 country code"))
        }
    }
}

impl Country {
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// ISO 4217 codes the platform accepts.
pub const CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BGN", "BHD", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK",
    "EGP", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JOD", "JPY", "KRW", "KWD",
    "MXN", "MYR", "NGN", "NOK", "NZD", "OMR", "PEN", "PHP", "PKR", "PLN", "RON", "SAR", "SEK",
    "SGD", "THB", "TND", "TRY", "TWD", "UAH", "USD", "VND", "ZAR",
];

/// How many decimal places the minor unit of `currency` has, as ISO 4217 lists it
/// (`USD` 2: cents; `JPY` 0; `KWD` 3: fils), for the codes in [`CURRENCIES`] (upper
/// case, exactly); `None` for any other text.
///
/// Every code is spelled out rather than defaulted to 2, so a code added to
/// [`CURRENCIES`] without its exponent fails the test below instead of being priced
/// a hundred times off.
pub fn minor_unit_exponent(currency: &str) -> Option<u32> {
    match currency {
        "CLP" | "ISK" | "JPY" | "KRW" | "VND" => Some(0),
        "AED" | "ARS" | "AUD" | "BGN" | "BRL" | "CAD" | "CHF" | "CNY" | "COP" | "CZK" | "DKK"
        | "EGP" | "EUR" | "GBP" | "HKD" | "HUF" | "IDR" | "ILS" | "INR" | "MXN" | "MYR" | "NGN"
        | "NOK" | "NZD" | "PEN" | "PHP" | "PKR" | "PLN" | "RON" | "SAR" | "SEK" | "SGD" | "THB"
        | "TRY" | "TWD" | "UAH" | "USD" | "ZAR" => Some(2),
        "BHD" | "JOD" | "KWD" | "OMR" | "TND" => Some(3),
        _ => None,
    }
}

/// An amount of money: integer minor units and an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
    fn every_accepted_currency_has_its_iso_4217_exponent() {
        for code in CURRENCIES {
            assert!(
                minor_unit_exponent(code).is_some(),
                "{code} has no exponent"
            );
        }
        let cases = [
            ("USD", Some(2)),
            ("EUR", Some(2)),
            ("HUF", Some(2)),
            ("TWD", Some(2)),
            ("CLP", Some(0)),
            ("ISK", Some(0)),
            ("JPY", Some(0)),
            ("KRW", Some(0)),
            ("VND", Some(0)),
            ("BHD", Some(3)),
            ("JOD", Some(3)),
            ("KWD", Some(3)),
            ("OMR", Some(3)),
            ("TND", Some(3)),
            ("XXX", None),
            ("usd", None),
            ("", None),
        ];
        for (code, exponent) in cases {
            assert_eq!(minor_unit_exponent(code), exponent, "{code}");
        }
        // The 43 earlier codes and the five three-decimal ones, each once, sorted.
        assert_eq!(CURRENCIES.len(), 48);
        assert!(CURRENCIES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn three_decimal_currencies_are_prices_too() {
        assert_eq!(
            Money::price(1_234_567, "kwd").map(|m| m.currency),
            Ok("KWD".to_owned())
        );
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

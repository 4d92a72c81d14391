//! Amounts that providers write as decimal text (`"59.00"`, Shopify and WooCommerce
//! totals, PayPal's `amount.total`), turned into integer minor units of the currency's
//! ISO 4217 exponent without ever passing through a float: `"0.1"` must be 10 cents,
//! not 10.000000000000000555 of them.
//!
//! It also holds the bounds of what ingestion takes ([`AMOUNT_MAX`], [`QUANTITY_MAX`]):
//! analytics adds and multiplies these numbers in `i64`, so an absurd amount must stop
//! here rather than overflow a sum there.

use contracts::Money;
use contracts::types::minor_unit_exponent;

/// The largest amount ingestion takes, in minor units: 10^15, about 10 trillion in a
/// two-decimal currency. No real order, payment or refund comes near it, and it is far
/// enough below `i64::MAX` (about 9.2 × 10^18) that thousands of the largest amounts
/// still add up without overflow downstream. Larger amounts (and smaller than its
/// negative) are refused, never clamped.
pub const AMOUNT_MAX: i64 = 1_000_000_000_000_000;

/// [`AMOUNT_MAX`] as reasons write it.
pub const AMOUNT_MAX_TEXT: &str = "10^15 minor units";

/// The largest quantity of a line item ingestion takes: 10^9.
pub const QUANTITY_MAX: i64 = 1_000_000_000;

/// [`QUANTITY_MAX`] as reasons write it.
pub const QUANTITY_MAX_TEXT: &str = "10^9";

/// Whether `amount` (minor units, either sign) is within [`AMOUNT_MAX`].
pub fn within_amount_max(amount: i64) -> bool {
    (-AMOUNT_MAX..=AMOUNT_MAX).contains(&amount)
}

/// Why a decimal amount was refused. Messages never repeat the input: it came from a
/// payload and may be anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Nothing but whitespace.
    #[error("amount is empty")]
    Empty,
    /// Not `[-]digits[.digits]`: exponents, `+`, grouping, currency signs, inner spaces
    /// and a bare `.` are all refused rather than guessed at.
    #[error("amount is not a plain decimal number")]
    NotADecimal,
    /// Non-zero digits beyond the currency's minor unit (`"59.001"` in USD): rounding
    /// would invent money, so the amount is refused.
    #[error("amount has more than {exponent} decimal places")]
    TooPrecise {
        /// The currency's exponent.
        exponent: u32,
    },
    /// More than [`AMOUNT_MAX`] minor units (either sign).
    #[error("amount is more than 10^15 minor units")]
    TooLarge,
    /// Not one of the platform's ISO 4217 codes.
    #[error("currency is not a known ISO 4217 code")]
    UnknownCurrency,
}

/// `"59.00"`, `"59"`, `"59.5"`, `"1234.567"` (KWD) → exact minor units for the
/// currency's exponent, never through floats.
///
/// Rules, each a decision rather than an accident:
/// - surrounding ASCII whitespace is ignored; anything else must be
///   `[-]digits[.digits]` (digits on both sides of a point; no `+`, no exponent);
/// - a leading `-` gives a negative amount (PayPal writes some refunds as `"-10.00"`);
///   callers that want a magnitude take it themselves;
/// - fraction digits beyond the exponent are accepted only when they are all zeros
///   (`"59.000"` is 5900 cents, `"59.001"` is an error; JPY `"5900.00"` is 5900);
/// - the currency is matched case-insensitively (`"usd"`) and returned upper case;
/// - more than [`AMOUNT_MAX`] minor units, either sign, is [`MoneyError::TooLarge`]
///   (however many digits the text has: no step can overflow).
pub fn parse_decimal(text: &str, currency: &str) -> Result<Money, MoneyError> {
    let currency = currency.trim().to_ascii_uppercase();
    let exponent = minor_unit_exponent(&currency).ok_or(MoneyError::UnknownCurrency)?;
    let amount = minor_units(text, exponent)?;
    Ok(Money { amount, currency })
}

/// Like [`parse_decimal`], but digits beyond the exponent are rounded half away from
/// zero instead of refused. Only for a line item's unit price, which WooCommerce
/// derives by division (`10.00 / 3` is sent as `3.3333333333333335`); totals are never
/// rounded.
pub(crate) fn parse_decimal_rounded(text: &str, currency: &str) -> Result<Money, MoneyError> {
    let currency = currency.trim().to_ascii_uppercase();
    let exponent = minor_unit_exponent(&currency).ok_or(MoneyError::UnknownCurrency)?;
    let parts = split(text)?;
    let extra = parts.fraction.get(exponent as usize..).unwrap_or("");
    let round_up = extra.bytes().next().is_some_and(|digit| digit >= b'5');
    let units = units(parts.whole, parts.fraction, exponent)?;
    let units = if round_up { bounded(units + 1)? } else { units };
    let amount = if parts.negative { -units } else { units };
    Ok(Money { amount, currency })
}

/// The minor units `text` names at `exponent` decimal places.
fn minor_units(text: &str, exponent: u32) -> Result<i64, MoneyError> {
    let parts = split(text)?;
    let extra = parts.fraction.get(exponent as usize..).unwrap_or("");
    if extra.bytes().any(|digit| digit != b'0') {
        return Err(MoneyError::TooPrecise { exponent });
    }
    let units = units(parts.whole, parts.fraction, exponent)?;
    // `units` is never negative, so negating it cannot overflow.
    Ok(if parts.negative { -units } else { units })
}

/// A decimal split into its sign and its (ASCII-digit-only) whole and fraction parts.
struct Parts<'a> {
    negative: bool,
    whole: &'a str,
    fraction: &'a str,
}

fn split(text: &str) -> Result<Parts<'_>, MoneyError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        // A point needs digits after it: "5." is refused like a bare ".".
        Some((_, "")) => return Err(MoneyError::NotADecimal),
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MoneyError::NotADecimal);
    }
    Ok(Parts {
        negative,
        whole,
        fraction,
    })
}

/// `whole` and the first `exponent` digits of `fraction` (zero-padded) as one integer,
/// at most [`AMOUNT_MAX`]. Both are ASCII digits only, so indexing them by byte is
/// indexing them by digit.
fn units(whole: &str, fraction: &str, exponent: u32) -> Result<i64, MoneyError> {
    let fraction = fraction.as_bytes();
    let mut units: i64 = 0;
    let padded = (0..exponent as usize).map(|i| fraction.get(i).copied().unwrap_or(b'0'));
    for digit in whole.bytes().chain(padded) {
        // Checked at every digit, so `units` stays at most AMOUNT_MAX and the next
        // `* 10 + 9` cannot overflow an i64 however long the text is.
        units = bounded(units * 10 + i64::from(digit - b'0'))?;
    }
    Ok(units)
}

/// `units`, refused when above [`AMOUNT_MAX`].
fn bounded(units: i64) -> Result<i64, MoneyError> {
    if units > AMOUNT_MAX {
        Err(MoneyError::TooLarge)
    } else {
        Ok(units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_exact_minor_units() {
        let cases: &[(&str, &str, Result<i64, MoneyError>)] = &[
            ("59.00", "USD", Ok(5900)),
            ("59", "USD", Ok(5900)),
            ("59.5", "USD", Ok(5950)),
            ("0.5", "USD", Ok(50)),
            ("0.1", "USD", Ok(10)),
            ("0.29", "USD", Ok(29)),
            ("007.50", "EUR", Ok(750)),
            ("-10.00", "USD", Ok(-1000)),
            ("-0.00", "USD", Ok(0)),
            ("59.000", "USD", Ok(5900)),
            ("59.001", "USD", Err(MoneyError::TooPrecise { exponent: 2 })),
            (" 59.00\n", "USD", Ok(5900)),
            ("\t-1.25 ", "GBP", Ok(-125)),
            ("5900", "JPY", Ok(5900)),
            ("5900.00", "JPY", Ok(5900)),
            ("5900.5", "JPY", Err(MoneyError::TooPrecise { exponent: 0 })),
            ("1234.567", "KWD", Ok(1_234_567)),
            ("1.5", "KWD", Ok(1500)),
            ("1.5678", "KWD", Err(MoneyError::TooPrecise { exponent: 3 })),
            ("59.00", "usd", Ok(5900)),
            // The bound is AMOUNT_MAX minor units, whatever the exponent.
            ("10000000000000.00", "USD", Ok(AMOUNT_MAX)),
            ("-10000000000000.00", "USD", Ok(-AMOUNT_MAX)),
            ("10000000000000.01", "USD", Err(MoneyError::TooLarge)),
            ("-10000000000000.01", "USD", Err(MoneyError::TooLarge)),
            ("1000000000000000", "JPY", Ok(AMOUNT_MAX)),
            ("1000000000000001", "JPY", Err(MoneyError::TooLarge)),
            ("1000000000000.000", "KWD", Ok(AMOUNT_MAX)),
            ("1000000000000.001", "KWD", Err(MoneyError::TooLarge)),
            // Far beyond the bound (and beyond i64): refused, never wrapped.
            ("92233720368547758.07", "USD", Err(MoneyError::TooLarge)),
            ("9223372036854775807", "JPY", Err(MoneyError::TooLarge)),
            (
                "99999999999999999999999999",
                "USD",
                Err(MoneyError::TooLarge),
            ),
            (
                "1000000000000000000000000000000",
                "JPY",
                Err(MoneyError::TooLarge),
            ),
            ("", "USD", Err(MoneyError::Empty)),
            ("   ", "USD", Err(MoneyError::Empty)),
            (".", "USD", Err(MoneyError::NotADecimal)),
            ("-", "USD", Err(MoneyError::NotADecimal)),
            (".5", "USD", Err(MoneyError::NotADecimal)),
            ("5.", "USD", Err(MoneyError::NotADecimal)),
            ("1e3", "USD", Err(MoneyError::NotADecimal)),
            ("1E3", "USD", Err(MoneyError::NotADecimal)),
            ("+5.00", "USD", Err(MoneyError::NotADecimal)),
            ("--5", "USD", Err(MoneyError::NotADecimal)),
            ("5 9", "USD", Err(MoneyError::NotADecimal)),
            ("- 5", "USD", Err(MoneyError::NotADecimal)),
            ("1,000.00", "USD", Err(MoneyError::NotADecimal)),
            ("1.2.3", "USD", Err(MoneyError::NotADecimal)),
            ("$5", "USD", Err(MoneyError::NotADecimal)),
            ("٥", "USD", Err(MoneyError::NotADecimal)),
            ("5\u{a0}", "USD", Err(MoneyError::NotADecimal)),
            ("NaN", "USD", Err(MoneyError::NotADecimal)),
            ("59.00", "XYZ", Err(MoneyError::UnknownCurrency)),
            ("59.00", "", Err(MoneyError::UnknownCurrency)),
        ];
        for (text, currency, expected) in cases {
            let got = parse_decimal(text, currency).map(|money| money.amount);
            assert_eq!(&got, expected, "{text:?} {currency}");
        }
    }

    #[test]
    fn the_bounds_are_the_documented_powers_of_ten() {
        assert_eq!(AMOUNT_MAX, 10_i64.pow(15), "{AMOUNT_MAX_TEXT}");
        assert_eq!(QUANTITY_MAX, 10_i64.pow(9), "{QUANTITY_MAX_TEXT}");
        // Headroom downstream: thousands of the largest amounts add up in an i64.
        assert!(AMOUNT_MAX.checked_mul(9_000).is_some());
        assert!(within_amount_max(AMOUNT_MAX) && within_amount_max(-AMOUNT_MAX));
        assert!(!within_amount_max(AMOUNT_MAX + 1) && !within_amount_max(-AMOUNT_MAX - 1));
        assert!(!within_amount_max(i64::MIN) && !within_amount_max(i64::MAX));
    }

    #[test]
    fn the_currency_comes_back_upper_case() {
        let money = parse_decimal("1", " kwd ").expect("a known currency");
        assert_eq!(
            money,
            Money {
                amount: 1000,
                currency: "KWD".to_owned()
            }
        );
    }

    #[test]
    fn unit_prices_round_half_away_from_zero() {
        let cases: &[(&str, &str, Result<i64, MoneyError>)] = &[
            ("3.3333333333333335", "USD", Ok(333)),
            ("6.666666666666667", "USD", Ok(667)),
            ("0.005", "USD", Ok(1)),
            ("0.0049", "USD", Ok(0)),
            ("-0.005", "USD", Ok(-1)),
            ("12", "USD", Ok(1200)),
            ("99.5", "JPY", Ok(100)),
            ("9999999999999.994", "USD", Ok(AMOUNT_MAX - 1)),
            ("9999999999999.995", "USD", Ok(AMOUNT_MAX)),
            ("9999999999999.999", "USD", Ok(AMOUNT_MAX)),
            ("10000000000000.004", "USD", Ok(AMOUNT_MAX)),
            ("10000000000000.005", "USD", Err(MoneyError::TooLarge)),
            ("-10000000000000.005", "USD", Err(MoneyError::TooLarge)),
            ("92233720368547758.075", "USD", Err(MoneyError::TooLarge)),
            ("1e3", "USD", Err(MoneyError::NotADecimal)),
        ];
        for (text, currency, expected) in cases {
            let got = parse_decimal_rounded(text, currency).map(|money| money.amount);
            assert_eq!(&got, expected, "{text:?} {currency}");
        }
    }
}

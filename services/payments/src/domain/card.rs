//! Cards: numbers (Luhn, brand, length), verification codes and expiry, the card a
//! customer typed ([`CardDetails`]) and the card payments keeps instead ([`StoredCard`]).
//!
//! A full card number lives only in a [`CardNumber`] for as long as it takes to hand it
//! to the provider; nothing here can print, serialize or store it.

use std::fmt;

use super::{CardBrand, Invalid};

/// The card network of a number given as ASCII digits, from its leading digits: Visa
/// starts with 4, Mastercard 51–55 and 2221–2720, Amex 34 and 37, Discover 6011 and 65;
/// anything else that passes the Luhn check is [`CardBrand::Unknown`].
pub fn brand_of(digits: &str) -> CardBrand {
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    if digits.starts_with('4') {
        CardBrand::Visa
    } else if matches!(prefix(2), Some(34 | 37)) {
        CardBrand::Amex
    } else if matches!(prefix(2), Some(51..=55)) || matches!(prefix(4), Some(2221..=2720)) {
        CardBrand::Mastercard
    } else if prefix(4) == Some(6011) || prefix(2) == Some(65) {
        CardBrand::Discover
    } else {
        CardBrand::Unknown
    }
}

/// Whether ASCII digits pass the Luhn (mod 10) check.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A primary account number: 12 to 19 digits (spaces and dashes dropped) that pass the
/// Luhn check. Its `Debug` shows only the last four digits; it has no `Display` and no
/// `Serialize`, so it cannot reach a log line, a response or a row by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl TryFrom<&str> for CardNumber {
    type Error = Invalid;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid(
                "must contain only digits (spaces and dashes are ignored)",
            ));
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(Invalid("must be 12 to 19 digits"));
        }
        if !luhn_valid(&digits) {
            return Err(Invalid("is not a valid card number (Luhn check failed)"));
        }
        Ok(Self(digits))
    }
}

impl CardNumber {
    /// The digits. Only a provider adapter calls this, to send the number to the
    /// processor; nothing else may keep or print what it returns.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The card network.
    pub fn brand(&self) -> CardBrand {
        brand_of(&self.0)
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(****{})", self.last4())
    }
}

/// A card as the provider tokenized it in the customer's browser (Stripe.js: a
/// PaymentMethod id `pm_...`, a token `tok_...`), or a test token of the provider:
/// 1 to 255 printable ASCII characters without spaces. Which tokens exist is the
/// provider's to say; this only keeps text no provider issues from reaching one.
/// Its `Debug` shows only the kind (`tok_…`): a single-use token stands for the card
/// until it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct CardTokenRef(String);

impl fmt::Debug for CardTokenRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.0.find('_').map_or("", |end| &self.0[..=end]);
        write!(f, "CardTokenRef({kind}…)")
    }
}

impl TryFrom<&str> for CardTokenRef {
    type Error = Invalid;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        if raw.is_empty() || raw.len() > 255 {
            return Err(Invalid("must be 1 to 255 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid(
                "must be printable ASCII without spaces (a token of the payment provider)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl CardTokenRef {
    /// The token as the provider issued it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A card verification code: 3 or 4 digits. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Cvc(String);

impl TryFrom<&str> for Cvc {
    type Error = Invalid;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        let cvc = raw.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid("must be 3 or 4 digits"));
        }
        Ok(Self(cvc.to_owned()))
    }
}

impl Cvc {
    /// The code, for the provider adapter only.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}

/// An expiry month, 1 to 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpMonth(u8);

impl TryFrom<i64> for ExpMonth {
    type Error = Invalid;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        u8::try_from(raw)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .map(Self)
            .ok_or(Invalid("must be a month from 1 to 12"))
    }
}

/// An expiry year, written with four digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpYear(u16);

impl TryFrom<i64> for ExpYear {
    type Error = Invalid;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        u16::try_from(raw)
            .ok()
            .filter(|y| (1000..=9999).contains(y))
            .map(Self)
            .ok_or(Invalid("must be a four-digit year"))
    }
}

/// When a card stops working: it is valid through the last day of its month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// 1 to 12.
    pub month: u8,
    /// Four digits.
    pub year: u16,
}

impl Expiry {
    /// An expiry that has not passed at `now_millis`; a past one is refused (against
    /// the year, where clients show the error).
    pub fn current(month: ExpMonth, year: ExpYear, now_millis: i64) -> Result<Self, Invalid> {
        let expiry = Self {
            month: month.0,
            year: year.0,
        };
        if expiry.has_passed(now_millis) {
            return Err(Invalid("the card has expired"));
        }
        Ok(expiry)
    }

    /// An expiry read back from storage: a real month and a four-digit year, not
    /// checked against now (a stored card may have expired since).
    pub fn stored(month: i64, year: i64) -> Result<Self, Invalid> {
        Ok(Self {
            month: ExpMonth::try_from(month)?.0,
            year: ExpYear::try_from(year)?.0,
        })
    }

    /// Whether the card no longer works at `now_millis`.
    pub fn has_passed(&self, now_millis: i64) -> bool {
        let (year, month) = year_month(now_millis);
        (i64::from(self.year), u32::from(self.month)) < (year, month)
    }
}

/// The UTC (year, month) of epoch milliseconds (Howard Hinnant's civil-from-days).
pub fn year_month(millis: i64) -> (i64, u32) {
    let days = millis.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1))
}

/// A card as a customer typed it, checked. Handed to the provider to tokenize and then
/// dropped; `Debug` redacts the number and the code.
#[derive(Clone)]
pub struct CardDetails {
    /// The number.
    pub number: CardNumber,
    /// The expiry.
    pub expiry: Expiry,
    /// The verification code.
    pub cvc: Cvc,
}

impl fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardDetails")
            .field("brand", &self.number.brand())
            .field("last4", &self.number.last4())
            .field("exp_month", &self.expiry.month)
            .field("exp_year", &self.expiry.year)
            .finish_non_exhaustive()
    }
}

/// A card as payments keeps it, on a payment or saved for later: the provider's token
/// and what a customer recognises the card by. Never the number or the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCard {
    /// The provider's handle for the card.
    pub token: String,
    /// The card network.
    pub brand: CardBrand,
    /// The last four digits.
    pub last4: String,
    /// When it stops working.
    pub expiry: Expiry,
    /// The provider's customer the card is attached to: a saved card (and a payment
    /// made with one), which the provider takes only on that customer's intents.
    /// `None` for a card given for one payment.
    pub customer: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22T10:00:00Z.
    const NOV_2026: i64 = 1_795_341_600_000;

    #[test]
    fn luhn_accepts_test_cards_and_refuses_typos() {
        for good in [
            "4242424242424242",
            "4000000000000002",
            "4000000000009995",
            "4100000000000019",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(luhn_valid(good), "{good}");
        }
        for bad in ["4242424242424241", "1234567812345678", "", "42a2"] {
            assert!(!luhn_valid(bad), "{bad}");
        }
    }

    #[test]
    fn card_numbers_ignore_spaces_and_dashes_and_check_length() {
        let number = CardNumber::try_from("4242 4242-4242 4242").expect("valid");
        assert_eq!(number.digits(), "4242424242424242");
        assert_eq!(number.last4(), "4242");
        let cases: &[(&str, bool)] = &[
            ("4242424242424241", false),
            ("42424242424", false),
            ("4242 4242 4242 4242 4242", false),
            ("4242x42424242424", false),
            ("000000000000", true),
            ("4242424242424242424", false),
            ("4222222222222", true),
        ];
        for (raw, ok) in cases {
            assert_eq!(CardNumber::try_from(*raw).is_ok(), *ok, "{raw}");
        }
    }

    #[test]
    fn brands_come_from_the_leading_digits() {
        let cases = [
            ("4242424242424242", CardBrand::Visa),
            ("5105105105105100", CardBrand::Mastercard),
            ("5555555555554444", CardBrand::Mastercard),
            ("2221000000000009", CardBrand::Mastercard),
            ("2720999999999996", CardBrand::Mastercard),
            ("2220999999999999", CardBrand::Unknown),
            ("2721000000000004", CardBrand::Unknown),
            ("378282246310005", CardBrand::Amex),
            ("340000000000009", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
            ("6500000000000002", CardBrand::Discover),
            ("3530111333300000", CardBrand::Unknown),
            ("5600000000000000", CardBrand::Unknown),
        ];
        for (digits, brand) in cases {
            assert_eq!(brand_of(digits), brand, "{digits}");
            assert_eq!(CardBrand::parse(brand.as_str()), Some(brand));
        }
    }

    #[test]
    fn debug_never_shows_the_number_or_the_code() {
        let card = CardDetails {
            number: CardNumber::try_from("4242424242424242").expect("number"),
            expiry: Expiry::stored(12, 2030).expect("expiry"),
            cvc: Cvc::try_from("123").expect("cvc"),
        };
        let shown = format!("{card:?} {:?} {:?}", card.number, card.cvc);
        assert!(!shown.contains("4242424242424242"), "{shown}");
        assert!(!shown.contains("123"), "{shown}");
        assert!(shown.contains("4242"), "last four are fine: {shown}");
    }

    #[test]
    fn card_tokens_are_printable_ascii_without_spaces() {
        let long = "t".repeat(255);
        for good in [
            "tok_visa",
            "pm_card_visa",
            "card_1AbC",
            "sbx_tok_ok_x",
            "x",
            &long,
        ] {
            assert_eq!(
                CardTokenRef::try_from(good).map(|t| t.as_str().to_owned()),
                Ok(good.to_owned())
            );
        }
        let shown = format!(
            "{:?}",
            CardTokenRef::try_from("tok_1Secret").expect("token")
        );
        assert_eq!(shown, "CardTokenRef(tok_…)");
        let too_long = "t".repeat(256);
        for bad in [
            "",
            &too_long,
            "tok visa",
            " tok_visa",
            "tok_visa\n",
            "tok_\u{e9}",
            "tok\t1",
            "tok\u{0}",
        ] {
            assert!(CardTokenRef::try_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn months_years_and_codes_are_checked() {
        assert!(ExpMonth::try_from(1).is_ok() && ExpMonth::try_from(12).is_ok());
        assert!(ExpMonth::try_from(0).is_err() && ExpMonth::try_from(13).is_err());
        assert!(ExpYear::try_from(2030).is_ok());
        assert!(ExpYear::try_from(30).is_err() && ExpYear::try_from(20300).is_err());
        assert!(
            Expiry::stored(12, 2020).is_ok(),
            "a stored expiry may have passed"
        );
        assert!(Expiry::stored(13, 2030).is_err() && Expiry::stored(1, 30).is_err());
        assert!(Cvc::try_from("123").is_ok() && Cvc::try_from("1234").is_ok());
        for bad in ["12", "12345", "12a", ""] {
            assert!(Cvc::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_calendar_month_comes_from_epoch_millis() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(NOV_2026), (2026, 11));
        assert_eq!(year_month(951_782_400_000), (2000, 2), "2000-02-29");
        assert_eq!(year_month(-1), (1969, 12));
        assert_eq!(year_month(4_102_444_799_999), (2099, 12));
    }

    #[test]
    fn a_card_works_through_the_end_of_its_month() {
        let expiry = |m: i64, y: i64| {
            Expiry::current(
                ExpMonth::try_from(m).expect("month"),
                ExpYear::try_from(y).expect("year"),
                NOV_2026,
            )
        };
        assert!(expiry(11, 2026).is_ok(), "this month still works");
        assert!(expiry(12, 2026).is_ok());
        assert!(expiry(1, 2027).is_ok());
        assert!(expiry(10, 2026).is_err());
        assert!(expiry(12, 2025).is_err());
        let this_month = Expiry::stored(11, 2026).expect("expiry");
        let december_first = 1_796_083_200_000;
        assert!(!this_month.has_passed(december_first - 1));
        assert!(this_month.has_passed(december_first));
    }
}

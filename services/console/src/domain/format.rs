//! Money, dates and statuses as a shop's people read them.

/// Minor units of `amount` in `currency` as text: `$12.34`, `€5.00`, `¥500`,
/// `12.34 CHF`.
pub fn money(amount: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    let number = if digits == 0 {
        group(magnitude)
    } else {
        let scale = 10u64.pow(digits);
        format!(
            "{}.{:0width$}",
            group(magnitude / scale),
            magnitude % scale,
            width = digits as usize
        )
    };
    match currency {
        "USD" => format!("{sign}${number}"),
        "EUR" => format!("{sign}€{number}"),
        "GBP" => format!("{sign}£{number}"),
        "JPY" => format!("{sign}¥{number}"),
        other => format!("{sign}{number} {other}"),
    }
}

/// Digits after the point of `currency` (ISO 4217; the common zero- and three-digit ones).
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// `1234567` as `1,234,567`.
fn group(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An RFC 3339 time as `2026-12-06 14:05 UTC` (the API's times are UTC); text that is not
/// one is shown as it is.
pub fn when(rfc3339: &str) -> String {
    match time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) {
        Ok(at) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// A status or channel name (`partially_refunded`) as words (`Partially refunded`).
pub fn words(name: &str) -> String {
    let spaced = name.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A `YYYY-MM-DD` day as typed (surrounding space allowed), if it is one.
fn typed_day(typed: &str) -> Option<time::Date> {
    let mut parts = typed.trim().splitn(3, '-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

/// The exclusive end the API takes for the last day of a period as people type it: a
/// `YYYY-MM-DD` day means through that day, so the day after; anything else (a time,
/// or text the API then refuses by name) goes as typed.
pub fn through_day(typed: &str) -> String {
    match typed_day(typed).and_then(time::Date::next_day) {
        Some(next) => format!(
            "{:04}-{:02}-{:02}",
            next.year(),
            u8::from(next.month()),
            next.day()
        ),
        None => typed.trim().to_owned(),
    }
}

/// Whether a period typed as `from` and `to` (its last day, included) runs backwards:
/// both days, the last before the first. (The API, taking `to` as an exclusive end,
/// would read such a period as empty rather than refuse it.)
pub fn ends_before_it_starts(from: &str, to: &str) -> bool {
    matches!((typed_day(from), typed_day(to)), (Some(from), Some(to)) if to < from)
}

/// An amount typed in a form (`12.34`, `12`, `12.3`; `500` for yen) as minor units of
/// `currency`; `None` when it is not one (or has more decimals than the currency).
pub fn parse_amount(text: &str, currency: &str) -> Option<i64> {
    let digits = minor_digits(currency) as usize;
    let text = text.trim().trim_start_matches(['$', '€', '£', '¥']);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || fraction.len() > digits
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<digits$}").parse().ok()?
    };
    whole
        .checked_mul(10_i64.pow(digits as u32))?
        .checked_add(fraction)
}

/// A price in dollars typed in a form, as cents (the storefront's filters).
pub fn parse_price(text: &str) -> Option<i64> {
    parse_amount(text, "USD")
}

/// Minor units of `currency` as a form shows them for editing (`12.50`, `500`).
pub fn plain_amount(amount: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return amount.to_string();
    }
    let scale = 10_i64.pow(digits);
    let sign = if amount < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        (amount / scale).abs(),
        (amount % scale).abs(),
        width = digits as usize
    )
}

/// `text` with its first letter up and nothing else touched (an API's detail, a
/// decline's reason with a sku in it).
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(money(123_456, "USD"), "$1,234.56");
        assert_eq!(money(5, "EUR"), "€0.05");
        assert_eq!(money(-250, "GBP"), "-£2.50");
        assert_eq!(money(500, "JPY"), "¥500");
        assert_eq!(money(1_000, "CHF"), "10.00 CHF");
        assert_eq!(money(1_234, "KWD"), "1.234 KWD");
    }

    #[test]
    fn times_and_names() {
        assert_eq!(when("2026-12-06T14:05:09.123Z"), "2026-12-06 14:05 UTC");
        assert_eq!(when("soon"), "soon");
        assert_eq!(words("partially_refunded"), "Partially refunded");
    }

    #[test]
    fn amounts_typed_in_forms_follow_the_currency() {
        assert_eq!(parse_amount("500", "JPY"), Some(500));
        assert_eq!(parse_amount("5.5", "JPY"), None);
        assert_eq!(parse_amount("1.5", "KWD"), Some(1_500));
        assert_eq!(plain_amount(1_250, "USD"), "12.50");
        assert_eq!(plain_amount(500, "JPY"), "500");
        assert_eq!(
            sentence("insufficient stock for DEMO-1"),
            "Insufficient stock for DEMO-1"
        );
    }

    #[test]
    fn prices_typed_in_forms() {
        assert_eq!(parse_price("12.34"), Some(1234));
        assert_eq!(parse_price("$12"), Some(1200));
        assert_eq!(parse_price("0.5"), Some(50));
        for bad in ["", ".", "1.234", "-1", "1e3", "abc"] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_typed_last_day_is_included() {
        assert_eq!(through_day("2026-12-06"), "2026-12-07");
        assert_eq!(through_day(" 2026-12-31 "), "2027-01-01");
        assert_eq!(through_day("2028-02-28"), "2028-02-29");
        for as_typed in [
            "2026-12-06T10:00:00Z",
            "2026-13-01",
            "+202-01-01",
            "2026-+1-05",
            "",
        ] {
            assert_eq!(through_day(as_typed), as_typed);
        }
        assert!(ends_before_it_starts("2026-12-07", "2026-12-06"));
        assert!(
            !ends_before_it_starts("2026-12-06", "2026-12-06"),
            "one day"
        );
        assert!(
            !ends_before_it_starts("2026-12-07", "yesterday"),
            "the API names that"
        );
    }
}

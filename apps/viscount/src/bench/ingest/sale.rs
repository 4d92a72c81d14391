//! What one `bench ingest` delivery is about: a [`Sale`] drawn at random, with one to
//! three line items in one of several currencies (zero-decimal JPY among them), a
//! customer with the personal details real payloads carry (so the service's stripping
//! has real work to do), and a marketing attribution spread over every channel of the
//! taxonomy. Also the amount and time formats the providers write.

use crate::bench::Rng;

/// A currency a sale can be in.
#[derive(Debug, PartialEq, Eq)]
pub struct Currency {
    /// ISO 4217 code.
    pub code: &'static str,
    /// Decimal places of its minor unit.
    pub exponent: u32,
    /// WooCommerce's `currency_symbol`.
    pub symbol: &'static str,
}

const fn currency(code: &'static str, exponent: u32, symbol: &'static str) -> Currency {
    Currency {
        code,
        exponent,
        symbol,
    }
}

/// The currencies sales are drawn from; US dollars three times as often as the rest.
const CURRENCIES: [Currency; 9] = [
    currency("USD", 2, "$"),
    currency("USD", 2, "$"),
    currency("USD", 2, "$"),
    currency("EUR", 2, "€"),
    currency("GBP", 2, "£"),
    currency("CAD", 2, "$"),
    currency("AUD", 2, "$"),
    currency("SEK", 2, "kr"),
    currency("JPY", 0, "¥"),
];

/// Where a customer came from: UTM parameters on the landing URL, the referring site,
/// and WooCommerce's name for the kind of visit (`_wc_order_attribution_source_type`).
#[derive(Debug, PartialEq, Eq)]
pub struct Attribution {
    /// `utm_source`, `utm_medium`, `utm_campaign`.
    pub utm: Option<(&'static str, &'static str, &'static str)>,
    /// The referring page.
    pub referrer: Option<&'static str>,
    /// WooCommerce's source type: `utm`, `organic`, `referral` or `typein`.
    pub source_type: &'static str,
}

const fn utm(
    source: &'static str,
    medium: &'static str,
    campaign: &'static str,
    referrer: Option<&'static str>,
) -> Attribution {
    Attribution {
        utm: Some((source, medium, campaign)),
        referrer,
        source_type: "utm",
    }
}

const fn referred(referrer: &'static str, source_type: &'static str) -> Attribution {
    Attribution {
        utm: None,
        referrer: Some(referrer),
        source_type,
    }
}

/// Visits of every default channel (paid and organic search and social, email,
/// affiliate, referral, marketplace, direct — direct twice, as it is common).
pub const ATTRIBUTIONS: [Attribution; 14] = [
    utm(
        "google",
        "cpc",
        "spring_sale",
        Some("https://www.google.com/"),
    ),
    utm("bing", "ppc", "brand_terms", Some("https://www.bing.com/")),
    referred("https://www.google.com/search?q=steady+widget", "organic"),
    referred("https://duckduckgo.com/", "organic"),
    utm(
        "facebook",
        "paid_social",
        "retargeting_q3",
        Some("https://l.facebook.com/"),
    ),
    utm(
        "pinterest",
        "cpc",
        "home_decor",
        Some("https://www.pinterest.com/"),
    ),
    utm(
        "instagram",
        "social",
        "influencer_drop",
        Some("https://l.instagram.com/"),
    ),
    referred("https://t.co/x8Qz2", "referral"),
    utm("newsletter", "email", "weekly_digest", None),
    utm("partnerize", "affiliate", "cashback", None),
    referred("https://blog.example.org/best-widgets-2026", "referral"),
    utm(
        "amazon",
        "marketplace",
        "prime_day",
        Some("https://www.amazon.com/"),
    ),
    Attribution {
        utm: None,
        referrer: None,
        source_type: "typein",
    },
    Attribution {
        utm: None,
        referrer: None,
        source_type: "typein",
    },
];

/// Products line items are drawn from: (title, sku, slug).
pub const PRODUCTS: [(&str, &str, &str); 8] = [
    ("Steady Widget", "WID-STEADY-01", "steady-widget"),
    ("Nimble Gadget", "GAD-NIMBLE-02", "nimble-gadget"),
    ("Quiet Sprocket", "SPR-QUIET-03", "quiet-sprocket"),
    ("Bright Gizmo", "GIZ-BRIGHT-04", "bright-gizmo"),
    ("Sturdy Bracket", "BRK-STURDY-05", "sturdy-bracket"),
    ("Humble Spindle", "SPN-HUMBLE-06", "humble-spindle"),
    ("Calm Lever", "LEV-CALM-07", "calm-lever"),
    ("Rapid Pulley", "PUL-RAPID-08", "rapid-pulley"),
];

/// A customer: the personal details providers send (and the service must drop).
#[derive(Debug, PartialEq, Eq)]
pub struct Person {
    /// First name.
    pub first: &'static str,
    /// Last name.
    pub last: &'static str,
    /// City.
    pub city: &'static str,
    /// Province or state code.
    pub province: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// Postal code.
    pub zip: &'static str,
}

const fn person([first, last, city, province, country, zip]: [&'static str; 6]) -> Person {
    Person {
        first,
        last,
        city,
        province,
        country,
        zip,
    }
}

/// The customers sales are drawn from.
const PEOPLE: [Person; 6] = [
    person(["Ada", "Lovelace", "Springfield", "IL", "US", "62701"]),
    person(["Grace", "Hopper", "Arlington", "VA", "US", "22201"]),
    person(["Alan", "Turing", "Manchester", "ENG", "GB", "M1 1AE"]),
    person(["Katherine", "Johnson", "Toronto", "ON", "CA", "M5H 2N2"]),
    person(["Edsger", "Dijkstra", "Rotterdam", "ZH", "NL", "3011 AA"]),
    person(["Hedy", "Lamarr", "Vienna", "9", "AT", "1010"]),
];

/// Every customer's street address lines.
pub const STREET: (&str, &str) = ("1 Load Test Lane", "Suite 200");
/// Every customer's phone number, as Shopify's and WooCommerce's forms take it.
pub const PHONE: &str = "+1 555 010 0199";
/// The same number as Shopify's and Stripe's APIs normalize it.
pub const PHONE_E164: &str = "+15550100199";
/// The browser every customer used.
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0";

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Index into [`PRODUCTS`].
    pub product: usize,
    /// Unit price in minor units.
    pub unit: i64,
    /// How many.
    pub quantity: i64,
}

/// What one delivery is about: an order, a charge or a sale, drawn at random.
#[derive(Debug, Clone)]
pub struct Sale {
    /// Its currency.
    pub currency: &'static Currency,
    /// One to three lines.
    pub lines: Vec<Line>,
    /// Index into [`PEOPLE`].
    person: usize,
    /// Makes the customer's email one of many (so customer refs vary).
    customer_number: u64,
    /// Index into [`ATTRIBUTIONS`].
    attribution: usize,
    /// When it happened (unix seconds).
    pub created_unix: i64,
    /// The last octet of the customer's (documentation-range) IP address.
    ip_octet: u64,
}

impl Sale {
    /// A sale drawn with `rng`, happening at `now_unix`.
    pub fn draw(rng: &mut Rng, now_unix: i64) -> Self {
        let currency = &CURRENCIES[rng.below(CURRENCIES.len())];
        let count = 1 + rng.below(3);
        let lines = rng
            .distinct(count, PRODUCTS.len())
            .into_iter()
            .map(|product| {
                // 4 to 149 whole units, and for cents currencies a .99, .50, .95 or .00.
                let whole = 4 + rng.below(146) as i64;
                let unit = if currency.exponent == 0 {
                    whole * 100
                } else {
                    let cents = [99, 50, 95, 0][rng.below(4)];
                    whole * 100 + cents
                };
                Line {
                    product,
                    unit,
                    quantity: 1 + rng.below(3) as i64,
                }
            })
            .collect();
        Self {
            currency,
            lines,
            person: rng.below(PEOPLE.len()),
            customer_number: rng.next_u64() % 50_000,
            attribution: rng.below(ATTRIBUTIONS.len()),
            created_unix: now_unix,
            ip_octet: 1 + rng.next_u64() % 254,
        }
    }

    /// The order total in minor units (no tax or shipping: lines only).
    pub fn total(&self) -> i64 {
        self.lines
            .iter()
            .map(|line| line.unit * line.quantity)
            .sum()
    }

    /// A partial refund: the first line's unit price.
    pub fn refund(&self) -> i64 {
        self.lines.first().map_or(0, |line| line.unit)
    }

    /// The marketing attribution.
    pub fn attribution(&self) -> &'static Attribution {
        &ATTRIBUTIONS[self.attribution]
    }

    /// The customer.
    pub fn person(&self) -> &'static Person {
        &PEOPLE[self.person]
    }

    /// The customer's email address.
    pub fn email(&self) -> String {
        let person = self.person();
        format!(
            "{}.{}.{}@example.com",
            person.first.to_lowercase(),
            person.last.to_lowercase(),
            self.customer_number
        )
    }

    /// `minor` units of the sale's currency as the providers write them.
    pub fn money(&self, minor: i64) -> String {
        money(minor, self.currency.exponent)
    }

    /// Shopify's `landing_site`: a product page, with the UTM parameters when any.
    pub fn landing_site(&self) -> String {
        let slug = PRODUCTS[self.lines.first().map_or(0, |line| line.product)].2;
        match self.attribution().utm {
            Some((source, medium, campaign)) => format!(
                "/products/{slug}?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
            ),
            None => format!("/products/{slug}"),
        }
    }

    /// The customer's IP address (from the documentation range).
    pub fn ip(&self) -> String {
        format!("203.0.113.{}", self.ip_octet)
    }
}

/// `minor` units as the decimal text providers send: `5900` with exponent 2 is
/// `"59.00"`, with exponent 0 `"5900"`; negative amounts keep their sign.
pub fn money(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u64.pow(exponent);
    let width = exponent as usize;
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
}

/// RFC 3339 UTC with `Z` (`2026-12-01T10:00:00Z`), as PayPal writes times.
pub fn utc(unix: i64) -> String {
    platform::time::rfc3339(unix.saturating_mul(1_000))
}

/// `2026-12-01T10:00:00+00:00`, as Shopify writes times.
pub fn shopify_time(unix: i64) -> String {
    let text = utc(unix);
    match text.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => text,
    }
}

/// `2026-12-01T10:00:00`, WooCommerce's `_gmt` times (no zone).
pub fn woo_time(unix: i64) -> String {
    let text = utc(unix);
    text.strip_suffix('Z').map(str::to_owned).unwrap_or(text)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_with_the_currency_exponent() {
        let cases = [
            (5_900, 2, "59.00"),
            (5_950, 2, "59.50"),
            (5, 2, "0.05"),
            (5_900, 0, "5900"),
            (-1_000, 2, "-10.00"),
            (1_234_567, 3, "1234.567"),
            (0, 2, "0.00"),
        ];
        for (minor, exponent, text) in cases {
            assert_eq!(money(minor, exponent), text, "{minor} e{exponent}");
        }
    }

    #[test]
    fn sales_have_one_to_three_lines_and_exact_totals() {
        let mut rng = Rng::new(11);
        let mut currencies = std::collections::BTreeSet::new();
        let mut attributions = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let sale = Sale::draw(&mut rng, 1_790_000_000);
            assert!((1..=3).contains(&sale.lines.len()));
            let sum: i64 = sale.lines.iter().map(|l| l.unit * l.quantity).sum();
            assert_eq!(sale.total(), sum);
            assert!(sale.refund() > 0 && sale.refund() <= sale.total());
            if sale.currency.exponent == 0 {
                assert!(sale.lines.iter().all(|l| l.unit % 100 == 0));
            }
            currencies.insert(sale.currency.code);
            attributions.insert(sale.attribution);
        }
        assert_eq!(currencies.len(), 7, "{currencies:?}");
        assert_eq!(attributions.len(), ATTRIBUTIONS.len());
    }

    #[test]
    fn the_shopify_landing_site_carries_the_utm_parameters() {
        let mut rng = Rng::new(3);
        let mut seen_utm = false;
        for _ in 0..100 {
            let sale = Sale::draw(&mut rng, 1_790_000_000);
            let landing = sale.landing_site();
            assert!(landing.starts_with("/products/"), "{landing}");
            match sale.attribution().utm {
                Some((source, medium, _)) => {
                    seen_utm = true;
                    assert!(landing.contains(&format!("utm_source={source}&utm_medium={medium}")));
                }
                None => assert!(!landing.contains('?'), "{landing}"),
            }
        }
        assert!(seen_utm);
    }

    #[test]
    fn times_are_written_as_each_provider_does() {
        assert_eq!(utc(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(shopify_time(1_790_000_000), "2026-09-21T14:13:20+00:00");
        assert_eq!(woo_time(1_790_000_000), "2026-09-21T14:13:20");
    }
}

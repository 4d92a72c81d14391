//! The carriers fulfillment ships with, behind [`Carrier`]: the built-in
//! [`LocalCourier`] (zones by postal code, a weight-band rate table, `LC` tracking
//! numbers), the registry that finds a carrier by code, and the signature check of
//! carrier webhooks.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::{Carrier, Money, Parcel, Place, Quote};

/// The header a carrier signs its webhooks in: `sha256=<hex of HMAC-SHA256(body)>`.
pub const SIGNATURE_HEADER: &str = "x-carrier-signature";

/// Weight bands of the local courier (upper bound in grams, inclusive) and the price in
/// minor units per zone 1 to 4.
const LOCAL_RATES: [(u32, [i64; 4]); 6] = [
    (500, [499, 599, 799, 1_999]),
    (1_000, [599, 749, 999, 2_499]),
    (2_000, [799, 999, 1_299, 3_499]),
    (5_000, [1_199, 1_499, 1_999, 5_999]),
    (10_000, [1_799, 2_299, 2_999, 9_999]),
    (20_000, [2_999, 3_799, 4_999, 17_999]),
];
/// Above the last band: each started kilogram adds this much per zone.
const LOCAL_EXTRA_PER_KG: [i64; 4] = [150, 190, 250, 900];

/// The pricing zone between two places: 1 same postal area (first three characters),
/// 2 same region (first character), 3 same country, 4 abroad or unknown.
pub fn zone(from: &Place, to: Option<&Place>) -> u8 {
    let Some(to) = to else {
        // No address: price as the farthest zone rather than under-charge.
        return 4;
    };
    if !from.country.eq_ignore_ascii_case(&to.country) {
        return 4;
    }
    let normal = |code: &str| -> String {
        code.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let (a, b) = (normal(&from.postal_code), normal(&to.postal_code));
    let same_prefix = |n: usize| a.len() >= n && b.len() >= n && a[..n] == b[..n];
    if same_prefix(3) {
        1
    } else if same_prefix(1) {
        2
    } else {
        3
    }
}

/// The local courier's price, in minor units, of `weight_grams` in `zone` (1 to 4).
pub fn local_rate(weight_grams: u32, zone: u8) -> i64 {
    let column = usize::from(zone.clamp(1, 4) - 1);
    if let Some((_, prices)) = LOCAL_RATES.iter().find(|(max, _)| weight_grams <= *max) {
        return prices[column];
    }
    let (last_max, last_prices) = LOCAL_RATES[LOCAL_RATES.len() - 1];
    let extra_kg = i64::from((weight_grams - last_max).div_ceil(1_000));
    last_prices[column] + extra_kg * LOCAL_EXTRA_PER_KG[column]
}

/// The built-in carrier: a courier delivering from the shop's warehouses.
#[derive(Debug, Clone)]
pub struct LocalCourier {
    currency: String,
    secret: Vec<u8>,
    tracking_url: Option<String>,
}

impl LocalCourier {
    /// Its code on shipments.
    pub const CODE: &'static str = "local";

    /// A courier pricing in `currency`, signing webhooks with `secret`, and linking to
    /// `tracking_url` (with `{tracking_number}` replaced) when given.
    pub fn new(currency: &str, secret: &str, tracking_url: Option<String>) -> Self {
        Self {
            currency: currency.to_owned(),
            secret: secret.as_bytes().to_vec(),
            tracking_url,
        }
    }
}

impl Carrier for LocalCourier {
    fn code(&self) -> &'static str {
        Self::CODE
    }

    fn name(&self) -> &str {
        "Local Courier"
    }

    fn quote(&self, parcel: &Parcel) -> Quote {
        let zone = zone(&parcel.from, parcel.to.as_ref());
        Quote {
            carrier: Self::CODE.to_owned(),
            zone,
            rate: Money {
                amount: local_rate(parcel.weight_grams, zone),
                currency: self.currency.clone(),
            },
        }
    }

    fn new_tracking_number(&self) -> String {
        // 12 random digits: a collision is caught by the unique index and retried.
        let bytes = platform::ids::random_bytes::<8>();
        let n = u64::from_le_bytes(bytes) % 1_000_000_000_000;
        format!("LC{n:012}")
    }

    fn tracking_url(&self, tracking_number: &str) -> Option<String> {
        self.tracking_url
            .as_ref()
            .map(|t| t.replace("{tracking_number}", tracking_number))
    }

    fn webhook_secret(&self) -> &[u8] {
        &self.secret
    }
}

/// The carriers this service ships with, by code.
#[derive(Clone)]
pub struct Carriers {
    all: Arc<Vec<Arc<dyn Carrier>>>,
}

impl Carriers {
    /// A registry of `carriers`; the first is the one new shipments go with.
    pub fn new(carriers: Vec<Arc<dyn Carrier>>) -> Self {
        Self {
            all: Arc::new(carriers),
        }
    }

    /// The carrier new shipments go with.
    pub fn default_carrier(&self) -> Option<&Arc<dyn Carrier>> {
        self.all.first()
    }

    /// The carrier with `code`.
    pub fn get(&self, code: &str) -> Option<&Arc<dyn Carrier>> {
        self.all.iter().find(|c| c.code() == code)
    }

    /// Every carrier.
    pub fn all(&self) -> &[Arc<dyn Carrier>] {
        &self.all
    }
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`,
/// compared in constant time.
pub fn signature_is_valid(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(given) = data_encoding::HEXLOWER_PERMISSIVE.decode(hex.as_bytes()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    given.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&given))
}

/// The signature header value a carrier sends for `body` (used by tests and tools that
/// play the carrier).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!(
                "sha256={}",
                data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
            )
        }
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(country: &str, postal_code: &str) -> Place {
        Place {
            country: country.into(),
            postal_code: postal_code.into(),
        }
    }

    #[test]
    fn zones_grow_with_distance() {
        let from = place("US", "10001");
        let table = [
            (Some(place("US", "10003")), 1),
            (Some(place("us", "100-99")), 1),
            (Some(place("US", "14850")), 2),
            (Some(place("US", "94105")), 3),
            (Some(place("CA", "10001")), 4),
            (Some(place("US", "")), 3),
            (None, 4),
        ];
        for (to, expected) in table {
            assert_eq!(zone(&from, to.as_ref()), expected, "{to:?}");
        }
    }

    #[test]
    fn rates_follow_weight_bands_and_zones() {
        // (grams, zone, minor units)
        let table = [
            (0, 1, 499),
            (500, 1, 499),
            (501, 1, 599),
            (1_000, 2, 749),
            (1_500, 3, 1_299),
            (5_000, 4, 5_999),
            (20_000, 1, 2_999),
            (20_001, 1, 2_999 + 150),
            (22_000, 3, 4_999 + 2 * 250),
            (22_001, 4, 17_999 + 3 * 900),
        ];
        for (grams, zone, expected) in table {
            assert_eq!(
                local_rate(grams, zone),
                expected,
                "{grams} g in zone {zone}"
            );
        }
        assert_eq!(local_rate(100, 0), local_rate(100, 1), "zones clamp");
    }

    #[test]
    fn the_local_courier_quotes_in_its_currency_and_issues_lc_numbers() {
        let courier = LocalCourier::new(
            "EUR",
            "s",
            Some("https://t.example/{tracking_number}".into()),
        );
        let quote = courier.quote(&Parcel {
            weight_grams: 1_000,
            from: place("DE", "10115"),
            to: Some(place("DE", "10117")),
        });
        assert_eq!(quote.zone, 1);
        assert_eq!(
            quote.rate,
            Money {
                amount: 599,
                currency: "EUR".into()
            }
        );
        let a = courier.new_tracking_number();
        let b = courier.new_tracking_number();
        assert!(a.starts_with("LC") && a.len() == 14 && a[2..].bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(a, b);
        assert_eq!(
            courier.tracking_url("LC1").as_deref(),
            Some("https://t.example/LC1")
        );
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_raw_body() {
        let body = br#"{"status":"in_transit"}"#;
        let good = sign(b"secret", body);
        assert!(good.starts_with("sha256="));
        assert!(signature_is_valid(b"secret", body, Some(&good)));
        assert!(signature_is_valid(
            b"secret",
            body,
            Some(&good.to_uppercase().replace("SHA256=", "sha256="))
        ));
        assert!(!signature_is_valid(b"other", body, Some(&good)));
        assert!(!signature_is_valid(b"secret", b"{}", Some(&good)));
        assert!(!signature_is_valid(b"secret", body, None));
        assert!(!signature_is_valid(b"secret", body, Some("sha256=zz")));
        assert!(!signature_is_valid(b"secret", body, Some(&good[..20])));
        // Known vector (RFC 4231 test case 2).
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

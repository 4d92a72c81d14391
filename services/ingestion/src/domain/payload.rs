//! Layer 1 of personal-data stripping: the allow-listed projection of a provider's
//! webhook payload, and the per-tenant key that turns a customer's email into an
//! opaque `customer_ref`.
//!
//! Only the fields normalization reads survive [`strip`]; everything else (names,
//! addresses, phones, IPs, card data, notes, free text, keys nobody has seen before) is
//! dropped because it is not on the list, not because someone thought to remove it.
//! The stripped payload is what the service keeps of a delivery: it is stored with a
//! dead letter and normalized again on replay, so `normalize(strip(raw))` is the whole
//! pipeline and [`super::normalize`] reads nothing else.
//!
//! What is kept, per provider (paths in the provider's own names):
//! - Shopify orders: `id`, `created_at`, `processed_at`, `currency`, `total_price`,
//!   `source_name`, `line_items[].{sku, quantity, price}`; the landing URL reduced to its
//!   `utm_source`/`utm_medium`/`utm_campaign` (as `landing_site_utm`), the referring
//!   site reduced to its host (as `referring_host`).
//! - Shopify refunds: `id`, `order_id`, `created_at`, `processed_at`,
//!   `transactions[].{amount, currency, kind, status}`.
//! - Stripe: `id`, `type`, `created`, `data.object.{id, object, amount,
//!   amount_refunded, currency, created, metadata.order_id}`,
//!   `data.previous_attributes.amount_refunded`.
//! - PayPal: `id`, `event_type`, `create_time`, `resource.{id, state, create_time,
//!   invoice_number, custom, amount.{total, currency}}`.
//! - WooCommerce: `id`, `status`, `currency`, `total`, `date_created_gmt`,
//!   `date_modified_gmt`, `line_items[].{sku, quantity, price}`, `refunds[].{id, total}`;
//!   the `_wc_order_attribution_{utm_source, utm_medium, utm_campaign, source_type}`
//!   meta values and `_wc_order_attribution_referrer` reduced to its host (as
//!   `attribution`).
//! - Every provider: the customer's email, when the payload has one, as
//!   `customer_ref` (never the email itself).
//!
//! Length caps, so a hostile payload cannot bloat a stored row: a kept string is cut at
//! its field's cap (the `*_MAX_CHARS` constants below: ids and references 200, skus 64,
//! UTM values 200, source names 64, hosts 253, amounts 40, currencies 8, timestamps 64,
//! types and statuses 64). Values normalization checks exactly (ids, amounts,
//! currencies, timestamps, types, statuses, skus, references) are cut one character
//! *past* their cap, so normalization still sees that the original was too long and
//! refuses it (an id, an amount) or leaves it out (a sku, a reference) instead of
//! taking a different, shorter value; free text (UTM values, source names) is simply
//! cut at the cap. Lists that are summed or copied (at most 500 line items, 100 refund
//! transactions or refunds) are cut one entry past their cap for the same reason. A
//! container where a scalar belongs is kept as an empty `{}` / `[]`, and a scalar where
//! a container belongs as `null`, so normalization can name the problem without any of
//! the content surviving.
//!
//! The allow-list decides what is kept; on top of it, the kept values a merchant or
//! customer typed (UTM values, source names, skus, order references) are dropped when
//! [`super::pii`] finds an email, phone, card number or IP address in them: an email in
//! `utm_campaign` would otherwise make the store's guard refuse the whole event.

use contracts::ingestion::Provider;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::{Host, Url};

use super::{Topic, pii};

/// Longest id, event id or order reference kept (characters).
pub const ID_MAX_CHARS: usize = 200;
/// Longest sku kept (characters), the platform's own sku limit.
pub const SKU_MAX_CHARS: usize = 64;
/// Longest UTM value kept (characters); longer ones are cut.
pub const UTM_MAX_CHARS: usize = 200;
/// Longest source name (Shopify `source_name`, WooCommerce source type) kept; longer
/// ones are cut.
pub const SOURCE_NAME_MAX_CHARS: usize = 64;
/// Longest referring host kept (a DNS name is at most 253 characters); longer ones are
/// dropped.
pub const HOST_MAX_CHARS: usize = 253;
/// Longest decimal amount text kept (characters).
pub const AMOUNT_MAX_CHARS: usize = 40;
/// Longest currency code text kept (characters).
pub const CURRENCY_MAX_CHARS: usize = 8;
/// Longest timestamp text kept (characters).
pub const TIMESTAMP_MAX_CHARS: usize = 64;
/// Longest event type, status or transaction kind kept (characters).
pub const WORD_MAX_CHARS: usize = 64;
/// Most line items an order may have.
pub const LINE_ITEMS_MAX: usize = 500;
/// Most refund transactions (Shopify) or refunds (WooCommerce) an event may have.
pub const REFUNDS_MAX: usize = 100;
/// Longest email hashed into a `customer_ref` (RFC 5321's limit); a longer one is not
/// an address and gives no `customer_ref`.
const EMAIL_MAX_CHARS: usize = 320;
/// Longest landing URL looked at for UTM parameters; the rest is ignored.
const LANDING_URL_MAX_CHARS: usize = 4096;

/// Names of the keys [`strip`] derives (they are not the provider's own).
pub(crate) mod keys {
    /// The keyed hash of the customer's email.
    pub const CUSTOMER_REF: &str = "customer_ref";
    /// Shopify: `{utm_source, utm_medium, utm_campaign}` of `landing_site`.
    pub const LANDING_SITE_UTM: &str = "landing_site_utm";
    /// Shopify: the host of `referring_site`.
    pub const REFERRING_HOST: &str = "referring_host";
    /// WooCommerce: `{utm_source, utm_medium, utm_campaign, referring_host, source_type}`
    /// from the `_wc_order_attribution_*` meta.
    pub const ATTRIBUTION: &str = "attribution";
    /// The UTM parameters kept.
    pub const UTM: [&str; 3] = ["utm_source", "utm_medium", "utm_campaign"];
    /// WooCommerce's source type (`utm`, `organic`, `referral`, `typein`, `admin`, ...).
    pub const SOURCE_TYPE: &str = "source_type";
}

/// A tenant's key for `customer_ref` hashing (32 random bytes, stored by ingestion per
/// tenant). Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerRefKey([u8; 32]);

/// The operating system gave no random bytes for a new [`CustomerRefKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no random bytes available for a customer reference key")]
pub struct RandomUnavailable;

impl std::fmt::Debug for CustomerRefKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerRefKey([redacted])")
    }
}

impl CustomerRefKey {
    /// The key made of `bytes` (as stored).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key from the operating system's generator. Fails rather than
    /// falling back to anything weaker: a guessable key would make every
    /// `customer_ref` reversible by hashing candidate emails.
    pub fn generate() -> Result<Self, RandomUnavailable> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| RandomUnavailable)?;
        Ok(Self(bytes))
    }

    /// The key's bytes, to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex HMAC-SHA256 of the normalized identifier (trimmed, lowercased).
    /// Used for order emails AND touchpoint `customer_ref`s so one customer's visits
    /// and orders meet.
    pub fn customer_ref(&self, email_or_customer_id: &str) -> String {
        let normalized = email_or_customer_id.trim().to_lowercase();
        // HMAC pads a key shorter than the hash's 64-byte block with zeros, so the
        // padded block *is* this key; building from the fixed-size block is infallible
        // where `new_from_slice` would hand back a `Result` that can never be `Err`.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into());
        mac.update(normalized.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }
}

/// A provider payload reduced to its allow-listed fields (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct StrippedPayload {
    /// Which webhook delivered it.
    pub topic: Topic,
    /// The provider's id of the delivery or event (see [`strip`]).
    pub event_id: String,
    /// The kept fields, in the provider's shape plus the derived keys.
    pub body: Value,
}

/// A correctly signed delivery whose body is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Malformed {
    /// The delivery id from the header, else `sha256:<hex of the raw body>`.
    pub event_id: String,
    /// Why, with a position but never any of the body's text.
    pub reason: String,
}

/// Keeps the allow-listed fields of `raw` for `topic` and hashes the customer's email
/// with `key`.
///
/// `event_id`: for Stripe and PayPal the body's event `id` (`evt_…`, `WH-…`: stable
/// across the provider's retries), else the delivery id; for Shopify and WooCommerce
/// the delivery id from the header (their body `id` is the order's, shared by every
/// `orders/updated`); else `sha256:<hex of the raw body>`. An id is used only when it is
/// 1 to [`ID_MAX_CHARS`] printable ASCII characters.
///
/// Malformed JSON, or JSON that is not an object → `Err(Malformed)` (reason like
/// `malformed JSON at line 1 column 7`; the body is never quoted).
pub fn strip(
    topic: Topic,
    delivery_id: Option<&str>,
    raw: &[u8],
    key: &CustomerRefKey,
) -> Result<StrippedPayload, Malformed> {
    let object = match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(Malformed {
                event_id: event_id(topic.provider(), delivery_id, None, raw),
                reason: "payload is not a JSON object".to_owned(),
            });
        }
        Err(error) => {
            return Err(Malformed {
                event_id: event_id(topic.provider(), delivery_id, None, raw),
                reason: malformed_reason(&error),
            });
        }
    };
    let event_id = event_id(topic.provider(), delivery_id, object.get("id"), raw);
    let mut body = match topic {
        Topic::ShopifyOrderCreated | Topic::ShopifyOrderUpdated => {
            let mut body = project(&object, SHOPIFY_ORDER);
            if let Some(landing) = object.get("landing_site").and_then(Value::as_str) {
                let utm = utm_parameters(landing);
                if !utm.is_empty() {
                    body.insert(keys::LANDING_SITE_UTM.to_owned(), Value::Object(utm));
                }
            }
            if let Some(host) = object
                .get("referring_site")
                .and_then(Value::as_str)
                .and_then(referring_host)
            {
                body.insert(keys::REFERRING_HOST.to_owned(), Value::String(host));
            }
            body
        }
        Topic::ShopifyRefundCreated => project(&object, SHOPIFY_REFUND),
        Topic::StripeChargeSucceeded | Topic::StripeChargeRefunded => project(&object, STRIPE),
        Topic::PaypalSaleCompleted | Topic::PaypalSaleRefunded => project(&object, PAYPAL),
        Topic::WoocommerceOrderCreated | Topic::WoocommerceOrderUpdated => {
            let mut body = project(&object, WOOCOMMERCE);
            let attribution = woocommerce_attribution(object.get("meta_data"));
            if !attribution.is_empty() {
                body.insert(keys::ATTRIBUTION.to_owned(), Value::Object(attribution));
            }
            body
        }
    };
    if let Some(email) = customer_email(&object, email_paths(topic.provider())) {
        body.insert(
            keys::CUSTOMER_REF.to_owned(),
            Value::String(key.customer_ref(email)),
        );
    }
    Ok(StrippedPayload {
        topic,
        event_id,
        body: Value::Object(body),
    })
}

/// How a kept string is cut.
#[derive(Clone, Copy)]
enum Cap {
    /// Checked exactly by normalization: cut one character past the cap, so an
    /// over-long value stays visibly over-long.
    Exact(usize),
    /// Like `Exact`, for text a merchant or customer chose (order references, skus):
    /// dropped altogether when [`pii::find`] sees personal data in it, since the event
    /// is usable without it and the store would refuse the row with it.
    Screened(usize),
    /// Free text (UTM values, source names): cut at the cap, control characters
    /// dropped, and dropped altogether when [`pii::find`] sees personal data in it.
    Text(usize),
}

/// One allow-listed key of an object.
enum Rule {
    /// A scalar, kept with its JSON type.
    Scalar(&'static str, Cap),
    /// An object, of which only `rules` are kept.
    Object(&'static str, &'static [Rule]),
    /// A list of objects (at most the given number, plus one), of each only `rules`.
    List(&'static str, usize, &'static [Rule]),
}

use Cap::{Exact, Screened, Text};
use Rule::{List, Object, Scalar};

const ID: Cap = Exact(ID_MAX_CHARS);
const AMOUNT: Cap = Exact(AMOUNT_MAX_CHARS);
const CURRENCY: Cap = Exact(CURRENCY_MAX_CHARS);
const TIMESTAMP: Cap = Exact(TIMESTAMP_MAX_CHARS);
const WORD: Cap = Exact(WORD_MAX_CHARS);
const SKU: Cap = Screened(SKU_MAX_CHARS);
const REFERENCE: Cap = Screened(ID_MAX_CHARS);

const LINE_ITEM: &[Rule] = &[
    Scalar("sku", SKU),
    Scalar("quantity", WORD),
    Scalar("price", AMOUNT),
];

const SHOPIFY_ORDER: &[Rule] = &[
    Scalar("id", ID),
    Scalar("created_at", TIMESTAMP),
    Scalar("processed_at", TIMESTAMP),
    Scalar("currency", CURRENCY),
    Scalar("total_price", AMOUNT),
    Scalar("source_name", Text(SOURCE_NAME_MAX_CHARS)),
    List("line_items", LINE_ITEMS_MAX, LINE_ITEM),
];

const SHOPIFY_REFUND: &[Rule] = &[
    Scalar("id", ID),
    Scalar("order_id", ID),
    Scalar("created_at", TIMESTAMP),
    Scalar("processed_at", TIMESTAMP),
    List(
        "transactions",
        REFUNDS_MAX,
        &[
            Scalar("amount", AMOUNT),
            Scalar("currency", CURRENCY),
            Scalar("kind", WORD),
            Scalar("status", WORD),
        ],
    ),
];

const STRIPE: &[Rule] = &[
    Scalar("id", ID),
    Scalar("type", WORD),
    Scalar("created", TIMESTAMP),
    Object(
        "data",
        &[
            Object(
                "object",
                &[
                    Scalar("id", ID),
                    Scalar("object", WORD),
                    Scalar("amount", AMOUNT),
                    Scalar("amount_refunded", AMOUNT),
                    Scalar("currency", CURRENCY),
                    Scalar("created", TIMESTAMP),
                    Object("metadata", &[Scalar("order_id", REFERENCE)]),
                ],
            ),
            Object("previous_attributes", &[Scalar("amount_refunded", AMOUNT)]),
        ],
    ),
];

const PAYPAL: &[Rule] = &[
    Scalar("id", ID),
    Scalar("event_type", WORD),
    Scalar("create_time", TIMESTAMP),
    Object(
        "resource",
        &[
            Scalar("id", ID),
            Scalar("state", WORD),
            Scalar("create_time", TIMESTAMP),
            Scalar("invoice_number", REFERENCE),
            Scalar("custom", REFERENCE),
            Object(
                "amount",
                &[Scalar("total", AMOUNT), Scalar("currency", CURRENCY)],
            ),
        ],
    ),
];

const WOOCOMMERCE: &[Rule] = &[
    Scalar("id", ID),
    Scalar("status", WORD),
    Scalar("currency", CURRENCY),
    Scalar("total", AMOUNT),
    Scalar("date_created_gmt", TIMESTAMP),
    Scalar("date_modified_gmt", TIMESTAMP),
    List("line_items", LINE_ITEMS_MAX, LINE_ITEM),
    List(
        "refunds",
        REFUNDS_MAX,
        &[Scalar("id", ID), Scalar("total", AMOUNT)],
    ),
];

/// Where each provider puts the customer's email, in order of preference.
fn email_paths(provider: Provider) -> &'static [&'static [&'static str]] {
    match provider {
        Provider::Shopify => &[&["email"], &["customer", "email"], &["contact_email"]],
        Provider::Stripe => &[
            &["data", "object", "billing_details", "email"],
            &["data", "object", "receipt_email"],
        ],
        Provider::Paypal => &[
            &["resource", "payer", "payer_info", "email"],
            &["resource", "payer", "email_address"],
        ],
        Provider::Woocommerce => &[&["billing", "email"]],
        // Viscount's own events arrive decoded from the bus, never as a payload.
        Provider::Viscount => &[],
    }
}

/// The allow-listed part of `object`.
fn project(object: &Map<String, Value>, rules: &[Rule]) -> Map<String, Value> {
    let mut kept = Map::new();
    for rule in rules {
        let (name, value) = match rule {
            Scalar(name, cap) => (name, object.get(*name).map(|value| scalar(value, *cap))),
            Object(name, rules) => (
                name,
                object.get(*name).map(|value| match value {
                    Value::Object(inner) => Value::Object(project(inner, rules)),
                    _ => Value::Null,
                }),
            ),
            List(name, max, rules) => (
                name,
                object.get(*name).map(|value| match value {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .take(max.saturating_add(1))
                            .map(|item| match item {
                                Value::Object(inner) => Value::Object(project(inner, rules)),
                                _ => Value::Null,
                            })
                            .collect(),
                    ),
                    _ => Value::Null,
                }),
            ),
        };
        if let Some(value) = value {
            kept.insert((*name).to_owned(), value);
        }
    }
    kept
}

/// A scalar slot's value: strings cut, containers emptied (their type kept).
fn scalar(value: &Value, cap: Cap) -> Value {
    match value {
        Value::String(text) => {
            let kept = match cap {
                Exact(max) => return Value::String(cut(text, max.saturating_add(1))),
                Screened(max) => cut(text, max.saturating_add(1)),
                Text(max) => free_text(text, max),
            };
            if pii::find(&kept).is_some() {
                Value::Null
            } else {
                Value::String(kept)
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
    }
}

/// The first `max` characters of `text` (never splitting a character).
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text.get(..end).unwrap_or_default().to_owned(),
        None => text.to_owned(),
    }
}

/// `text` trimmed, without control characters, cut at `max` characters.
fn free_text(text: &str, max: usize) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// [`free_text`], or nothing when it is empty or holds personal data.
fn screened_text(text: &str, max: usize) -> Option<String> {
    let kept = free_text(text, max);
    (!kept.is_empty() && pii::find(&kept).is_none()).then_some(kept)
}

/// A value someone typed, kept as a webhook's UTM value or sku is: trimmed, without
/// control characters, cut at `max` characters, and nothing when it is empty or holds
/// personal data (Viscount's own orders' attribution and skus go through it too).
pub fn screened(text: &str, max: usize) -> Option<String> {
    screened_text(text, max)
}

/// The first non-empty email at one of `paths`.
fn customer_email<'a>(object: &'a Map<String, Value>, paths: &[&[&str]]) -> Option<&'a str> {
    paths.iter().find_map(|path| {
        let (last, parents) = path.split_last()?;
        let mut current = object;
        for parent in parents {
            current = current.get(*parent)?.as_object()?;
        }
        let email = current.get(*last)?.as_str()?.trim();
        (!email.is_empty() && email.chars().count() <= EMAIL_MAX_CHARS).then_some(email)
    })
}

/// `utm_source`, `utm_medium` and `utm_campaign` of a landing URL, absolute or relative
/// to the shop (`/products/x?utm_source=...`); every other part of it is dropped.
fn utm_parameters(landing: &str) -> Map<String, Value> {
    let mut utm = Map::new();
    let landing = cut(landing.trim(), LANDING_URL_MAX_CHARS);
    // A relative landing site is resolved against a placeholder shop; only its query
    // is read, so the placeholder never shows.
    let Ok(base) = Url::parse("https://shop.invalid/") else {
        return utm;
    };
    let Ok(url) = base.join(&landing) else {
        return utm;
    };
    for (name, value) in url.query_pairs() {
        if let Some(key) = keys::UTM.iter().find(|key| **key == name)
            && !utm.contains_key(*key)
            && let Some(value) = screened_text(&value, UTM_MAX_CHARS)
        {
            utm.insert((*key).to_owned(), Value::String(value));
        }
    }
    utm
}

/// The UTM fields of a landing URL (a touchpoint's, or an order's landing site).
pub fn landing_fields(landing: &str) -> contracts::ingestion::ChannelFields {
    let utm = utm_parameters(landing);
    let field = |key: &str| utm.get(key).and_then(Value::as_str).map(str::to_owned);
    contracts::ingestion::ChannelFields {
        utm_source: field("utm_source"),
        utm_medium: field("utm_medium"),
        utm_campaign: field("utm_campaign"),
        referring_site: None,
        source_name: None,
    }
}

/// The lowercased host of a referring URL (`https://www.google.com/search?q=...` →
/// `www.google.com`); `None` for no host, an IP address (that is a person's, not a
/// site's), or anything but a DNS name of at most [`HOST_MAX_CHARS`] characters.
pub fn referring_host(referrer: &str) -> Option<String> {
    let referrer = cut(referrer.trim(), LANDING_URL_MAX_CHARS);
    if referrer.is_empty() {
        return None;
    }
    let url = Url::parse(&referrer).ok().or_else(|| {
        // "www.google.com/search": a host without a scheme.
        (!referrer.starts_with('/'))
            .then(|| Url::parse(&format!("https://{referrer}")).ok())
            .flatten()
    })?;
    match url.host()? {
        Host::Domain(domain) => {
            let domain = domain.trim_end_matches('.').to_lowercase();
            // A DNS name (internationalized ones arrive punycoded); anything else,
            // such as WooCommerce's "(none)", names no site.
            let usable = !domain.is_empty()
                && domain.len() <= HOST_MAX_CHARS
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            usable.then_some(domain)
        }
        Host::Ipv4(_) | Host::Ipv6(_) => None,
    }
}

/// WooCommerce's order attribution (`_wc_order_attribution_*` meta entries): the UTM
/// values, the source type and the referrer's host.
fn woocommerce_attribution(meta: Option<&Value>) -> Map<String, Value> {
    let mut attribution = Map::new();
    let Some(entries) = meta.and_then(Value::as_array) else {
        return attribution;
    };
    for entry in entries {
        let (Some(name), Some(value)) = (
            entry.get("key").and_then(Value::as_str),
            entry.get("value").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Some(name) = name.strip_prefix("_wc_order_attribution_") else {
            continue;
        };
        let kept = match name {
            "utm_source" | "utm_medium" | "utm_campaign" => {
                screened_text(value, UTM_MAX_CHARS).map(|value| (name, value))
            }
            "source_type" => {
                screened_text(value, SOURCE_NAME_MAX_CHARS).map(|value| (keys::SOURCE_TYPE, value))
            }
            "referrer" => referring_host(value).map(|host| (keys::REFERRING_HOST, host)),
            _ => None,
        };
        if let Some((key, value)) = kept
            && !attribution.contains_key(key)
        {
            attribution.insert(key.to_owned(), Value::String(value));
        }
    }
    attribution
}

/// The event id [`strip`] documents.
fn event_id(
    provider: Provider,
    delivery_id: Option<&str>,
    body_id: Option<&Value>,
    raw: &[u8],
) -> String {
    let usable = |id: &str| {
        let id = id.trim();
        let fits =
            !id.is_empty() && id.len() <= ID_MAX_CHARS && id.bytes().all(|b| b.is_ascii_graphic());
        fits.then(|| id.to_owned())
    };
    let delivery = delivery_id.and_then(usable);
    let body = body_id.and_then(Value::as_str).and_then(usable);
    let chosen = match provider {
        Provider::Stripe | Provider::Paypal => body.or(delivery),
        // Viscount's own events are not webhooks; should one ever be, its delivery id
        // is the only stable id.
        Provider::Shopify | Provider::Woocommerce | Provider::Viscount => delivery,
    };
    chosen.unwrap_or_else(|| {
        format!(
            "sha256:{}",
            data_encoding::HEXLOWER.encode(&Sha256::digest(raw))
        )
    })
}

/// Where the JSON broke, never what it said: serde_json's own messages may quote the
/// input.
fn malformed_reason(error: &serde_json::Error) -> String {
    let position = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        serde_json::error::Category::Eof => format!("malformed JSON: it ends early, at {position}"),
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Data
        | serde_json::error::Category::Io => format!("malformed JSON at {position}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CustomerRefKey {
        CustomerRefKey::from_bytes(*b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn customer_refs_are_hmac_sha256_of_the_trimmed_lowercased_identifier() {
        // Golden value: printf 'jon@doe.ca' | openssl dgst -sha256 -mac HMAC \
        //   -macopt key:0123456789abcdef0123456789abcdef
        let expected = "1f4b970528a7eaf016516540f1e3c12df191c45b46891d7cc6fa3a1fbacf26c2";
        let cases = ["jon@doe.ca", "  Jon@Doe.CA\n", "JON@DOE.CA"];
        for email in cases {
            assert_eq!(key().customer_ref(email), expected, "{email:?}");
        }
        assert_ne!(key().customer_ref("jon@doe.com"), expected);
        let other = CustomerRefKey::from_bytes([7; 32]);
        assert_ne!(other.customer_ref("jon@doe.ca"), expected);
    }

    #[test]
    fn keys_are_random_and_never_printed() {
        let first = CustomerRefKey::generate().expect("the OS has randomness");
        let second = CustomerRefKey::generate().expect("the OS has randomness");
        assert_ne!(first.as_bytes(), second.as_bytes());
        assert_eq!(
            CustomerRefKey::from_bytes(*first.as_bytes()).as_bytes(),
            first.as_bytes()
        );
        let printed = format!("{first:?}");
        assert_eq!(printed, "CustomerRefKey([redacted])");
    }

    #[test]
    fn event_ids_come_from_where_each_provider_keeps_them_stable() {
        let body = br#"{"id": "evt_1"}"#;
        let hashed = format!(
            "sha256:{}",
            data_encoding::HEXLOWER.encode(&Sha256::digest(body))
        );
        let long = "x".repeat(ID_MAX_CHARS + 1);
        let cases: &[(Topic, Option<&str>, &str)] = &[
            (Topic::StripeChargeSucceeded, None, "evt_1"),
            (Topic::StripeChargeSucceeded, Some("tx-9"), "evt_1"),
            (Topic::PaypalSaleCompleted, Some("tx-9"), "evt_1"),
            (Topic::ShopifyOrderCreated, Some(" b2c3-d4 "), "b2c3-d4"),
            (Topic::ShopifyOrderCreated, None, &hashed),
            (Topic::WoocommerceOrderUpdated, Some(""), &hashed),
            (Topic::WoocommerceOrderUpdated, Some("with space"), &hashed),
            (Topic::WoocommerceOrderUpdated, Some(&long), &hashed),
        ];
        for (topic, delivery, expected) in cases {
            let stripped = strip(*topic, *delivery, body, &key()).expect("an object");
            assert_eq!(&stripped.event_id, expected, "{topic:?} {delivery:?}");
        }
    }

    #[test]
    fn malformed_json_is_refused_without_quoting_it() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"id": "evt_1", "email": "jon@doe.ca""#,
                "malformed JSON: it ends early, at line 1 column 37",
            ),
            (
                br#"{"email": "jon@doe.ca", "total": tru}"#,
                "malformed JSON at line 1 column 37",
            ),
            (b"jon@doe.ca", "malformed JSON at line 1 column 1"),
            (br#"["jon@doe.ca"]"#, "payload is not a JSON object"),
            (br#""jon@doe.ca""#, "payload is not a JSON object"),
            (b"", "malformed JSON: it ends early, at line 1 column 0"),
        ];
        for (raw, reason) in cases {
            let refused = strip(Topic::StripeChargeSucceeded, Some("d-1"), raw, &key())
                .expect_err("not a JSON object");
            assert_eq!(&refused.reason, reason);
            assert!(!refused.reason.contains("jon"));
            assert_eq!(refused.event_id, "d-1");
        }
    }

    #[test]
    fn landing_urls_keep_only_their_utm_parameters() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "/products/x?utm_source=google&utm_medium=cpc&utm_campaign=spring&email=jon%40doe.ca",
                &[
                    ("utm_source", "google"),
                    ("utm_medium", "cpc"),
                    ("utm_campaign", "spring"),
                ],
            ),
            (
                "https://shop.example/?utm_campaign=black+friday%202026&utm_source=",
                &[("utm_campaign", "black friday 2026")],
            ),
            (
                "/?utm_source=first&utm_source=second",
                &[("utm_source", "first")],
            ),
            (
                "/?utm_source=newsletter&utm_campaign=jon%40doe.ca&utm_medium=%2B1%20613%20555%200199",
                &[("utm_source", "newsletter")],
            ),
            ("/products/x", &[]),
            ("", &[]),
            ("::::", &[]),
        ];
        for (landing, expected) in cases {
            let kept = utm_parameters(landing);
            let expected: Map<String, Value> = expected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect();
            assert_eq!(kept, expected, "{landing:?}");
        }
        let long = format!("/?utm_source={}", "é".repeat(500));
        let kept = utm_parameters(&long);
        let source = kept.get("utm_source").and_then(Value::as_str).unwrap_or("");
        assert_eq!(source.chars().count(), UTM_MAX_CHARS);
    }

    #[test]
    fn referrers_keep_only_their_host() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://www.Google.com/search?q=jon%40doe.ca",
                Some("www.google.com"),
            ),
            (
                "http://jon:secret@l.facebook.com/l.php?u=x",
                Some("l.facebook.com"),
            ),
            ("www.bing.com/search?q=x", Some("www.bing.com")),
            (
                "android-app://com.google.android.gm/",
                Some("com.google.android.gm"),
            ),
            ("https://203.0.113.7/page", None),
            ("http://[2001:db8::1]/", None),
            ("/relative/path", None),
            ("(none)", None),
            ("https://bücher.example/", Some("xn--bcher-kva.example")),
            ("", None),
            ("   ", None),
        ];
        for (referrer, expected) in cases {
            assert_eq!(
                referring_host(referrer).as_deref(),
                *expected,
                "{referrer:?}"
            );
        }
    }

    #[test]
    fn kept_strings_are_capped_and_containers_emptied() {
        let long_id = "9".repeat(5000);
        let raw = serde_json::json!({
            "id": long_id,
            "total_price": {"amount": "jon@doe.ca"},
            "currency": ["jon@doe.ca"],
            "source_name": format!("  web{}\u{7}", "x".repeat(100)),
            "line_items": "jon@doe.ca",
        });
        let raw = serde_json::to_vec(&raw).expect("serializable");
        let stripped =
            strip(Topic::ShopifyOrderCreated, Some("d"), &raw, &key()).expect("an object");
        let body = &stripped.body;
        assert_eq!(
            body["id"].as_str().map(|id| id.chars().count()),
            Some(ID_MAX_CHARS + 1)
        );
        assert_eq!(body["total_price"], serde_json::json!({}));
        assert_eq!(body["currency"], serde_json::json!([]));
        assert_eq!(body["line_items"], Value::Null);
        let source = body["source_name"].as_str().unwrap_or("");
        assert!(source.starts_with("webx"));
        assert_eq!(source.chars().count(), SOURCE_NAME_MAX_CHARS);
        assert!(
            !serde_json::to_string(body)
                .unwrap_or_default()
                .contains("jon")
        );
    }

    #[test]
    fn cutting_never_splits_a_character() {
        let cases = [
            ("héllo", 2, "hé"),
            ("héllo", 10, "héllo"),
            ("", 3, ""),
            ("日本語", 1, "日"),
        ];
        for (text, max, expected) in cases {
            assert_eq!(cut(text, max), expected);
        }
    }
}

//! Whether a webhook delivery really comes from the provider that claims to send it:
//! each provider's own signature scheme, checked over the raw body before anything
//! parses it, with every MAC compared in constant time. The provider side of the same
//! schemes ([`sign`]) and a sandbox PayPal key pair ([`sandbox`]) live here too, so the
//! load generator and the tests sign exactly what the verifier checks.
//!
//! Schemes:
//! - Shopify: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256(secret, body).
//! - WooCommerce: `X-WC-Webhook-Signature` = base64 HMAC-SHA256(secret, body).
//! - Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`, each `v1` a hex
//!   HMAC-SHA256(secret, `<t>.<body>`); any `v1` may match; `t` within
//!   [`STRIPE_TOLERANCE_SECS`] of now. The scheme is `platform::webhook_signature`,
//!   shared with the payments service; `stripe` maps its errors to ours.
//! - PayPal: `PAYPAL-TRANSMISSION-SIG` = base64 RSASSA-PKCS1-v1_5 SHA-256 signature of
//!   `<transmission id>|<transmission time>|<webhook id>|<crc32 of body, decimal>`,
//!   checked with the RSA key of the source's X.509 certificate.
//!
//! Error messages name the header or the reason, never a header's value, a secret or
//! the body: they are logged and returned in problem+json.

mod hmac_body;
mod paypal;
pub mod sandbox;
pub mod sign;
mod stripe;
#[cfg(test)]
mod tests;

use contracts::ingestion::Provider;

pub use paypal::{certificate_is_usable, paypal_certificate_url_allowed};

/// How far (either way) a Stripe signature's timestamp may be from now; the scheme is
/// the platform's, shared with the payments service.
pub use platform::webhook_signature::STRIPE_TOLERANCE_SECS;

/// Longest delivery id taken from a header (provider ids are UUIDs or 32-hex hashes).
const MAX_DELIVERY_ID_LEN: usize = 128;

/// Request headers as the domain sees them (names case-insensitive).
pub trait Headers {
    /// The value of the header `name` (compared case-insensitively), if present.
    fn header(&self, name: &str) -> Option<&str>;
}

/// What a source verifies with.
#[derive(Clone, Copy)]
pub enum VerificationKey<'a> {
    /// Shopify, Stripe, WooCommerce: the shared HMAC secret.
    Hmac(&'a [u8]),
    /// PayPal: the webhook id the signed message names and the signing certificate (PEM;
    /// the first certificate of a chain is used).
    Paypal {
        /// PayPal's id of the tenant's webhook.
        webhook_id: &'a str,
        /// The X.509 signing certificate, PEM.
        certificate_pem: &'a str,
    },
}

impl std::fmt::Debug for VerificationKey<'_> {
    // Credentials: say which kind, never the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerificationKey::Hmac(_) => f.write_str("Hmac(<redacted>)"),
            VerificationKey::Paypal { .. } => {
                f.write_str("Paypal { webhook_id: <redacted>, certificate_pem: <redacted> }")
            }
        }
    }
}

/// A verified delivery: the provider's delivery id from a header, when it sends one
/// (X-Shopify-Webhook-Id, X-WC-Webhook-Delivery-ID, PAYPAL-TRANSMISSION-ID; Stripe: None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The provider's id of this delivery.
    pub delivery_id: Option<String>,
}

/// Why a delivery was not accepted as the provider's. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header the scheme needs is absent or empty.
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    /// A header is present but cannot be read (bad encoding, bad syntax, too long).
    #[error("the `{0}` header is malformed")]
    MalformedHeader(&'static str),
    /// The signature is well-formed but was not made over this body with this key.
    #[error("the signature does not match the delivery")]
    Mismatch,
    /// A Stripe signature whose timestamp is too far from now (a replay, or a clock off).
    #[error(
        "the signature's timestamp is more than {} seconds away from now",
        STRIPE_TOLERANCE_SECS
    )]
    Stale,
    /// The source's PayPal certificate does not parse or has no usable RSA key.
    #[error(
        "the source's PayPal certificate is not a PEM X.509 certificate with an RSA key of 2048 to 8192 bits"
    )]
    UnusableCertificate,
    /// `PAYPAL-AUTH-ALGO` names something other than `SHA256withRSA`.
    #[error("the `PAYPAL-AUTH-ALGO` header names an algorithm other than SHA256withRSA")]
    UnsupportedAlgorithm,
    /// The source holds a key of the wrong kind for this provider (an HMAC secret for
    /// PayPal, a certificate for the others).
    #[error("the source's key is not of the kind this provider signs with")]
    WrongKeyKind,
    /// The source's secret or webhook id is empty: nothing could be verified with it.
    #[error("the source's secret is empty")]
    EmptyKey,
    /// The provider sends no webhooks (Viscount's own events come from the bus), so no
    /// signature of it is ever valid.
    #[error("this provider sends no webhooks")]
    NotAWebhookProvider,
}

/// Check that `body`, delivered with `headers`, was signed by `provider` with `key`.
/// `now_unix_secs` is the receiving time (only Stripe's scheme carries a timestamp).
/// Works on the raw bytes; the body is never parsed here.
pub fn verify(
    provider: Provider,
    key: VerificationKey<'_>,
    headers: &dyn Headers,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<Verified, SignatureError> {
    match (provider, key) {
        (Provider::Shopify, VerificationKey::Hmac(secret)) => {
            hmac_body::verify(&hmac_body::SHOPIFY, non_empty(secret)?, headers, body)
        }
        (Provider::Woocommerce, VerificationKey::Hmac(secret)) => {
            hmac_body::verify(&hmac_body::WOOCOMMERCE, non_empty(secret)?, headers, body)
        }
        (Provider::Stripe, VerificationKey::Hmac(secret)) => {
            stripe::verify(non_empty(secret)?, headers, body, now_unix_secs)
        }
        (
            Provider::Paypal,
            VerificationKey::Paypal {
                webhook_id,
                certificate_pem,
            },
        ) => paypal::verify(webhook_id, certificate_pem, headers, body),
        (Provider::Paypal, VerificationKey::Hmac(_))
        | (
            Provider::Shopify | Provider::Stripe | Provider::Woocommerce,
            VerificationKey::Paypal { .. },
        ) => Err(SignatureError::WrongKeyKind),
        (Provider::Viscount, _) => Err(SignatureError::NotAWebhookProvider),
    }
}

/// An empty HMAC key would let anyone sign: refuse it even if a store let one through.
fn non_empty(secret: &[u8]) -> Result<&[u8], SignatureError> {
    if secret.is_empty() {
        Err(SignatureError::EmptyKey)
    } else {
        Ok(secret)
    }
}

/// The trimmed value of a header the scheme needs; absent or blank is missing.
fn required<'h>(headers: &'h dyn Headers, name: &'static str) -> Result<&'h str, SignatureError> {
    match headers.header(name).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(SignatureError::MissingHeader(name)),
    }
}

/// A delivery id header, when sent: at most [`MAX_DELIVERY_ID_LEN`] visible ASCII
/// characters (it becomes a stored event id, so nothing else gets through).
fn delivery_id(
    headers: &dyn Headers,
    name: &'static str,
) -> Result<Option<String>, SignatureError> {
    match headers.header(name).map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) if is_token(value) => Ok(Some(value.to_owned())),
        Some(_) => Err(SignatureError::MalformedHeader(name)),
    }
}

/// 1 to [`MAX_DELIVERY_ID_LEN`] visible ASCII characters.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_DELIVERY_ID_LEN
        && value.bytes().all(|b| b.is_ascii_graphic())
}

//! Shopify's and WooCommerce's scheme: one header holding the base64 HMAC-SHA256 of
//! the raw body under the shared secret, and a separate (unsigned) delivery id header.

use data_encoding::BASE64;
use ring::hmac;

use super::{Headers, SignatureError, Verified, delivery_id, required};

/// The headers one provider uses for the scheme.
pub(super) struct Scheme {
    /// Holds the base64 MAC.
    pub signature_header: &'static str,
    /// Holds the provider's delivery id.
    pub delivery_header: &'static str,
}

/// Shopify's header names.
pub(super) const SHOPIFY: Scheme = Scheme {
    signature_header: "X-Shopify-Hmac-Sha256",
    delivery_header: "X-Shopify-Webhook-Id",
};

/// WooCommerce's header names.
pub(super) const WOOCOMMERCE: Scheme = Scheme {
    signature_header: "X-WC-Webhook-Signature",
    delivery_header: "X-WC-Webhook-Delivery-ID",
};

/// Length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// Verify a delivery under `scheme`.
pub(super) fn verify(
    scheme: &Scheme,
    secret: &[u8],
    headers: &dyn Headers,
    body: &[u8],
) -> Result<Verified, SignatureError> {
    let encoded = required(headers, scheme.signature_header)?;
    let tag = BASE64
        .decode(encoded.as_bytes())
        .ok()
        .filter(|tag| tag.len() == TAG_LEN)
        .ok_or(SignatureError::MalformedHeader(scheme.signature_header))?;
    let delivery_id = delivery_id(headers, scheme.delivery_header)?;
    // ring's verify compares in constant time.
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), body, &tag)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(Verified { delivery_id })
}

/// The header value the provider sends for `body`.
pub(super) fn sign(secret: &[u8], body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), body);
    BASE64.encode(tag.as_ref())
}

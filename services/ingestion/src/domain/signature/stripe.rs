//! Stripe deliveries through ingestion's verifier: the scheme itself (parsing
//! `Stripe-Signature`, the HMAC, the tolerance) is `platform::webhook_signature`, shared
//! with the payments service; this adapter only reads the header and turns the scheme's
//! errors into ingestion's [`SignatureError`], so every provider answers alike.

use platform::webhook_signature::{self, STRIPE_SIGNATURE_HEADER as HEADER, StripeSignatureError};

use super::{Headers, SignatureError, Verified};

/// Verify a Stripe delivery received at `now_unix_secs`. Stripe sends no delivery id in
/// a header, so a verified delivery carries none.
pub(super) fn verify(
    secret: &[u8],
    headers: &dyn Headers,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<Verified, SignatureError> {
    webhook_signature::verify_stripe(secret, headers.header(HEADER), body, now_unix_secs)
        .map_err(into_signature_error)?;
    Ok(Verified { delivery_id: None })
}

/// The scheme's reasons as ingestion names them (the same variants every provider uses).
fn into_signature_error(error: StripeSignatureError) -> SignatureError {
    match error {
        StripeSignatureError::EmptySecret => SignatureError::EmptyKey,
        StripeSignatureError::Missing => SignatureError::MissingHeader(HEADER),
        StripeSignatureError::Malformed => SignatureError::MalformedHeader(HEADER),
        StripeSignatureError::Mismatch => SignatureError::Mismatch,
        StripeSignatureError::Stale => SignatureError::Stale,
    }
}

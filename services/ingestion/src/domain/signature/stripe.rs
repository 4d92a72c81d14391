//! Stripe's scheme: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` the
//! hex HMAC-SHA256 of `<t>.<body>` under the endpoint secret. Several `v1` values are
//! sent while a secret is being rolled; any may match. Other schemes (`v0`, future
//! ones) are ignored, as Stripe's libraries do, so a header with only `v0` never
//! verifies. The signature is checked first, then the timestamp, also as Stripe's
//! libraries do: a stale but genuine delivery says `Stale`, a forged one `Mismatch`.

use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};
use ring::hmac;
use subtle::{Choice, ConstantTimeEq};

use super::{Headers, STRIPE_TOLERANCE_SECS, SignatureError, Verified, required};

/// The header Stripe signs in.
const HEADER: &str = "Stripe-Signature";

/// Longest `t` value read (i64 has 19 digits; Stripe's are 10).
const MAX_TIMESTAMP_DIGITS: usize = 18;

/// Verify a Stripe delivery received at `now_unix_secs`.
pub(super) fn verify(
    secret: &[u8],
    headers: &dyn Headers,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<Verified, SignatureError> {
    let header = parse(required(headers, HEADER)?)?;
    let expected = tag(secret, header.timestamp_text, body);
    // Every candidate is compared (no early exit), each in constant time; a candidate
    // that is not 32 bytes of hex simply does not match, as in Stripe's libraries.
    let matched = header
        .v1
        .iter()
        .filter_map(|hex| HEXLOWER_PERMISSIVE.decode(hex.as_bytes()).ok())
        .fold(Choice::from(0), |any, candidate| {
            any | expected.as_ref().ct_eq(candidate.as_slice())
        });
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }
    // abs_diff cannot overflow, whatever the clock or header say.
    if now_unix_secs.abs_diff(header.timestamp) > STRIPE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(Verified { delivery_id: None })
}

/// The full header value Stripe sends for `body` at `timestamp`.
pub(super) fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let text = timestamp.to_string();
    let tag = tag(secret, &text, body);
    format!("t={text},v1={}", HEXLOWER.encode(tag.as_ref()))
}

/// HMAC-SHA256 of `<t>.<body>`, with `t` exactly as the header spells it.
fn tag(secret: &[u8], timestamp_text: &str, body: &[u8]) -> hmac::Tag {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, secret));
    context.update(timestamp_text.as_bytes());
    context.update(b".");
    context.update(body);
    context.sign()
}

/// A parsed `Stripe-Signature` header.
struct SignatureHeader<'h> {
    /// `t` as sent: the signed text.
    timestamp_text: &'h str,
    /// `t` as a number.
    timestamp: i64,
    /// Every `v1` value, unchecked.
    v1: Vec<&'h str>,
}

/// Split `t=..,v1=..,…`; exactly one `t` of decimal digits, every item `key=value`.
fn parse(value: &str) -> Result<SignatureHeader<'_>, SignatureError> {
    let malformed = SignatureError::MalformedHeader(HEADER);
    let mut timestamp_text = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or(malformed.clone())?;
        match key {
            "t" if timestamp_text.is_none() => timestamp_text = Some(value),
            "t" => return Err(malformed),
            "v1" => v1.push(value),
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(malformed.clone())?;
    if timestamp_text.is_empty()
        || timestamp_text.len() > MAX_TIMESTAMP_DIGITS
        || !timestamp_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed);
    }
    let timestamp = timestamp_text.parse().map_err(|_| malformed)?;
    Ok(SignatureHeader {
        timestamp_text,
        timestamp,
        v1,
    })
}

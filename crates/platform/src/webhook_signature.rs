//! Stripe's webhook signature scheme, both sides: checking that a delivery was signed by
//! Stripe with an endpoint secret, and producing the header Stripe would send. It lives
//! here because more than one service receives Stripe webhooks (ingestion's sources and
//! payments' own endpoint), and the scheme must exist once.
//!
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` the hex HMAC-SHA256 of
//! `<t>.<body>` under the endpoint secret. Several `v1` values are sent while a secret is
//! being rolled; any may match. Other schemes (`v0`, future ones) are ignored, as Stripe's
//! libraries do, so a header with only `v0` never verifies. The signature is checked
//! first, then the timestamp, also as Stripe's libraries do: a stale but genuine delivery
//! says `Stale`, a forged one `Mismatch`. Every MAC is compared in constant time, over the
//! raw body before anything parses it.
//!
//! Error messages name the header or the reason, never the header's value, the secret or
//! the body: callers log them and return them in problem+json.

use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};
use ring::hmac;
use subtle::{Choice, ConstantTimeEq};

/// The header Stripe signs in.
pub const STRIPE_SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How far (either way) a Stripe signature's timestamp may be from now: Stripe's own
/// libraries' default tolerance, 5 minutes.
pub const STRIPE_TOLERANCE_SECS: i64 = 300;

/// Longest `t` value read (i64 has 19 digits; Stripe's are 10).
const MAX_TIMESTAMP_DIGITS: usize = 18;

/// Why a delivery was not accepted as Stripe's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StripeSignatureError {
    /// The endpoint secret is empty: anyone could sign with it, so nothing verifies.
    #[error("the Stripe webhook secret is empty")]
    EmptySecret,
    /// The `Stripe-Signature` header is absent or blank.
    #[error("the `Stripe-Signature` header is missing")]
    Missing,
    /// The header cannot be read: no single decimal `t`, or an item that is not
    /// `key=value`.
    #[error("the `Stripe-Signature` header is malformed")]
    Malformed,
    /// The header is well-formed but no `v1` was made over this body with this secret.
    #[error("the signature does not match the delivery")]
    Mismatch,
    /// A genuine signature whose timestamp is more than [`STRIPE_TOLERANCE_SECS`] from
    /// now (a replay, or a clock off).
    #[error(
        "the signature's timestamp is more than {} seconds away from now",
        STRIPE_TOLERANCE_SECS
    )]
    Stale,
}

/// Check that `body` was signed by Stripe with `secret`: `header_value` is the
/// `Stripe-Signature` header as received (`None` when absent), `now_unix_secs` the
/// receiving time. Checks, in order: the secret is not empty, the header is present and
/// readable, some `v1` matches, the timestamp is within [`STRIPE_TOLERANCE_SECS`].
pub fn verify_stripe(
    secret: &[u8],
    header_value: Option<&str>,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<(), StripeSignatureError> {
    if secret.is_empty() {
        return Err(StripeSignatureError::EmptySecret);
    }
    let header = match header_value.map(str::trim) {
        Some(value) if !value.is_empty() => parse(value)?,
        _ => return Err(StripeSignatureError::Missing),
    };
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
        return Err(StripeSignatureError::Mismatch);
    }
    // abs_diff cannot overflow, whatever the clock or header say.
    if now_unix_secs.abs_diff(header.timestamp) > STRIPE_TOLERANCE_SECS.unsigned_abs() {
        return Err(StripeSignatureError::Stale);
    }
    Ok(())
}

/// The full `Stripe-Signature` value (`t=..,v1=..`) Stripe sends for `body` signed at
/// `timestamp` (unix seconds; the verifier takes only non-negative ones, as Stripe
/// sends). For load generators and tests, so what is signed and what is verified are one
/// implementation.
pub fn sign_stripe(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
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
fn parse(value: &str) -> Result<SignatureHeader<'_>, StripeSignatureError> {
    use StripeSignatureError::Malformed;
    let mut timestamp_text = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or(Malformed)?;
        match key {
            "t" if timestamp_text.is_none() => timestamp_text = Some(value),
            "t" => return Err(Malformed),
            "v1" => v1.push(value),
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(Malformed)?;
    // Digits only: `parse` alone would take a sign (`+123`), which Stripe never sends.
    if timestamp_text.is_empty()
        || timestamp_text.len() > MAX_TIMESTAMP_DIGITS
        || !timestamp_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Malformed);
    }
    let timestamp = timestamp_text.parse().map_err(|_| Malformed)?;
    Ok(SignatureHeader {
        timestamp_text,
        timestamp,
        v1,
    })
}

#[cfg(test)]
mod tests {
    //! The scheme against stripe-dotnet's published vector, an openssl golden vector, a
    //! table of valid / tampered / wrong-secret / missing / malformed headers and the
    //! tolerance boundaries, and hostile header values, which must give errors and never
    //! panic.

    use super::*;
    use StripeSignatureError::*;

    /// stripe-dotnet, src/StripeTests/Services/Events/EventUtilityTest.cs (secret
    /// `webhook_secret`, t=1533204620, its v1 and v0) over
    /// src/StripeTests/Resources/event_test_signature.json (LF line endings), copied byte
    /// for byte to fixtures/published/.
    const PUBLISHED_BODY: &[u8] =
        include_bytes!("../fixtures/published/stripe-dotnet-event_test_signature.json");
    const PUBLISHED_SECRET: &[u8] = b"webhook_secret";
    const PUBLISHED_TIMESTAMP: i64 = 1_533_204_620;
    const PUBLISHED_HEADER: &str = "t=1533204620,\
        v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,\
        v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";

    /// Golden vector, computed in a shell with openssl:
    ///   printf '%s' "$T.$BODY" | openssl dgst -sha256 -hmac "$SECRET"
    const GOLDEN_SECRET: &[u8] = b"whsec_viscount_golden";
    const GOLDEN_T: i64 = 1_767_225_600;
    const GOLDEN_BODY: &[u8] = br#"{"id":"evt_golden","type":"charge.succeeded"}"#;
    const GOLDEN_V1: &str = "3eb6a6098556f0571722fed6c42b79e47ef1bf0a5b966ed36fb792fac4539417";

    /// Receiving time for the table: 5 s after the golden timestamp.
    const NOW: i64 = GOLDEN_T + 5;

    fn golden_header(t: i64) -> String {
        sign_stripe(GOLDEN_SECRET, t, GOLDEN_BODY)
    }

    #[test]
    fn stripe_dotnet_published_vector_verifies_within_tolerance_only() {
        let at =
            |body: &[u8], now| verify_stripe(PUBLISHED_SECRET, Some(PUBLISHED_HEADER), body, now);
        // stripe-dotnet's ConstructEvent: now = t + 100.
        assert_eq!(at(PUBLISHED_BODY, PUBLISHED_TIMESTAMP + 100), Ok(()));
        // RejectOutdatedTimestamp: now = t + tolerance + 100.
        assert_eq!(
            at(
                PUBLISHED_BODY,
                PUBLISHED_TIMESTAMP + STRIPE_TOLERANCE_SECS + 100
            ),
            Err(Stale)
        );
        // RejectIncorrectSignature: the body with text appended.
        let mut tampered = PUBLISHED_BODY.to_vec();
        tampered.extend_from_slice(b"this_changes_the_json");
        assert_eq!(at(&tampered, PUBLISHED_TIMESTAMP), Err(Mismatch));
        // Our signer makes the same v1.
        assert!(PUBLISHED_HEADER.starts_with(&sign_stripe(
            PUBLISHED_SECRET,
            PUBLISHED_TIMESTAMP,
            PUBLISHED_BODY
        )));
    }

    #[test]
    fn the_signer_reproduces_the_openssl_golden_vector() {
        assert_eq!(
            sign_stripe(GOLDEN_SECRET, GOLDEN_T, GOLDEN_BODY),
            format!("t={GOLDEN_T},v1={GOLDEN_V1}")
        );
    }

    /// One row of the table: a header (None: absent) checked with a secret over a body
    /// at a time.
    struct Case {
        name: &'static str,
        secret: &'static [u8],
        header: Option<String>,
        body: &'static [u8],
        now: i64,
        expected: Result<(), StripeSignatureError>,
    }

    fn case(
        name: &'static str,
        header: Option<String>,
        expected: Result<(), StripeSignatureError>,
    ) -> Case {
        Case {
            name,
            secret: GOLDEN_SECRET,
            header,
            body: GOLDEN_BODY,
            now: NOW,
            expected,
        }
    }

    fn cases() -> Vec<Case> {
        let t = GOLDEN_T;
        let v1 = GOLDEN_V1;
        let other_v1 = sign_stripe(b"whsec_rolled_out", t, GOLDEN_BODY);
        let other_v1 = other_v1.rsplit('=').next().unwrap_or_default().to_owned();
        let header = |value: String| Some(value);

        let mut cases = vec![
            case("valid", header(golden_header(t)), Ok(())),
            case(
                "valid with spaces around the value",
                header(format!("  {}\t", golden_header(t))),
                Ok(()),
            ),
            Case {
                body: br#"{"id":"evt_golden","type":"charge.refunded"}"#,
                ..case("tampered body", header(golden_header(t)), Err(Mismatch))
            },
            Case {
                secret: b"whsec_someone_else",
                ..case("wrong secret", header(golden_header(t)), Err(Mismatch))
            },
            Case {
                secret: b"",
                ..case("empty secret", header(golden_header(t)), Err(EmptySecret))
            },
            // The secret is checked before the header, so an empty one is always named.
            Case {
                secret: b"",
                ..case("empty secret, no header", None, Err(EmptySecret))
            },
            case("missing header", None, Err(Missing)),
            case("empty header", header(String::new()), Err(Missing)),
            case("blank header", header(" \t ".to_owned()), Err(Missing)),
            case(
                "signed timestamp changed",
                header(format!("t={},v1={v1}", t + 1)),
                Err(Mismatch),
            ),
            case(
                "several v1, the last matches",
                header(format!("t={t},v1={other_v1},v1={v1}")),
                Ok(()),
            ),
            case(
                "several v1, the first matches",
                header(format!("t={t},v1={v1},v1={other_v1},v0={other_v1}")),
                Ok(()),
            ),
            case(
                "several v1, none matches",
                header(format!("t={t},v1={other_v1},v1={other_v1}")),
                Err(Mismatch),
            ),
            case(
                "unreadable v1 beside a good one is ignored",
                header(format!("t={t},v1=bad_signature,v1={v1}")),
                Ok(()),
            ),
            case(
                "uppercase hex v1",
                header(format!("t={t},v1={}", v1.to_uppercase())),
                Ok(()),
            ),
            case(
                "spaces after commas",
                header(format!("t={t}, v1={v1}")),
                Ok(()),
            ),
            case(
                "v0 only is refused",
                header(format!("t={t},v0={v1}")),
                Err(Mismatch),
            ),
            case("no v1 at all", header(format!("t={t}")), Err(Mismatch)),
            case("no timestamp", header(format!("v1={v1}")), Err(Malformed)),
            case(
                "empty timestamp",
                header(format!("t=,v1={v1}")),
                Err(Malformed),
            ),
            case(
                "signed timestamp",
                header(format!("t=+{t},v1={v1}")),
                Err(Malformed),
            ),
            case(
                "negative timestamp",
                header(format!("t=-{t},v1={v1}")),
                Err(Malformed),
            ),
            case(
                "two timestamps",
                header(format!("t={t},t={t},v1={v1}")),
                Err(Malformed),
            ),
            case(
                "timestamp overflows",
                header(format!("t=99999999999999999999,v1={v1}")),
                Err(Malformed),
            ),
            case(
                "item without =",
                header(format!("v1,t={t}")),
                Err(Malformed),
            ),
            case("empty items", header(",,".to_owned()), Err(Malformed)),
        ];
        // The tolerance, both ways, at and just past the boundary.
        for (name, now, expected) in [
            ("300 s old", t + 300, Ok(())),
            ("301 s old", t + 301, Err(Stale)),
            ("a day old", t + 86_400, Err(Stale)),
            ("300 s ahead", t - 300, Ok(())),
            ("301 s ahead", t - 301, Err(Stale)),
            ("clock at i64::MIN", i64::MIN, Err(Stale)),
            ("clock at i64::MAX", i64::MAX, Err(Stale)),
        ] {
            cases.push(Case {
                now,
                ..case(name, header(golden_header(t)), expected)
            });
        }
        // Signature before timestamp: a forged and stale delivery is a mismatch.
        cases.push(Case {
            secret: b"whsec_someone_else",
            now: t + 86_400,
            ..case("forged and stale", header(golden_header(t)), Err(Mismatch))
        });
        cases
    }

    #[test]
    fn only_what_stripe_signed_verifies() {
        for c in cases() {
            let got = verify_stripe(c.secret, c.header.as_deref(), c.body, c.now);
            assert_eq!(got, c.expected, "case `{}`", c.name);
        }
    }

    #[test]
    fn error_messages_never_quote_secrets_bodies_or_header_values() {
        let secrets = [
            "whsec_viscount_golden",
            "whsec_someone_else",
            "evt_golden",
            GOLDEN_V1,
            "bad_signature",
            "1767225600",
        ];
        let mut checked = 0;
        for c in cases() {
            if let Err(error) = verify_stripe(c.secret, c.header.as_deref(), c.body, c.now) {
                let message = error.to_string();
                assert!(
                    !message.is_empty() && !message.ends_with('.'),
                    "`{message}`"
                );
                for secret in secrets {
                    assert!(
                        !message.contains(secret),
                        "case `{}` quotes `{secret}`",
                        c.name
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 15, "only {checked} errors checked");
    }

    #[test]
    fn the_tolerance_is_stripes_five_minutes() {
        assert_eq!(STRIPE_TOLERANCE_SECS, 5 * 60);
        assert!(Stale.to_string().contains("300 seconds"));
    }

    #[test]
    fn what_the_signer_makes_verifies_with_that_secret_only() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        let header = sign_stripe(b"k", 1_000, body);
        assert_eq!(verify_stripe(b"k", Some(&header), body, 1_000), Ok(()));
        assert_eq!(
            verify_stripe(b"K", Some(&header), body, 1_000),
            Err(Mismatch)
        );
    }

    // Hostile header values (errors, never panics) are fuzzed through each
    // receiver (ingestion's signature tests), which reach this verifier.
}

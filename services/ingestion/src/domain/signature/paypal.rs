//! PayPal's scheme: an RSA (PKCS#1 v1.5, SHA-256) signature over
//! `<transmission id>|<transmission time>|<webhook id>|<crc32 of body, unsigned decimal>`,
//! checked with the public key of the X.509 certificate the source holds (or, when the
//! service is configured to fetch certificates, one fetched from `PAYPAL-CERT-URL`,
//! which [`paypal_certificate_url_allowed`] guards). Certificate validity dates and the
//! chain are not checked here: the certificate is the tenant's configured trust anchor.

use data_encoding::BASE64;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{Headers, SignatureError, Verified, is_token, required};

/// PayPal's id of this delivery; part of the signed message.
const TRANSMISSION_ID: &str = "PAYPAL-TRANSMISSION-ID";
/// When PayPal sent it; part of the signed message.
const TRANSMISSION_TIME: &str = "PAYPAL-TRANSMISSION-TIME";
/// The base64 signature.
const TRANSMISSION_SIG: &str = "PAYPAL-TRANSMISSION-SIG";
/// The signature algorithm; only `SHA256withRSA` is taken.
const AUTH_ALGO: &str = "PAYPAL-AUTH-ALGO";
/// The one algorithm PayPal signs webhooks with.
const SHA256_WITH_RSA: &str = "SHA256withRSA";

/// Hosts PayPal serves its webhook signing certificates from.
const CERTIFICATE_HOSTS: [&str; 4] = [
    "api.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// RSA moduli the verification algorithm accepts (ring's RSA_PKCS1_2048_8192_SHA256).
const RSA_MODULUS_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// Verify a PayPal delivery for the webhook `webhook_id` with `certificate_pem`.
pub(super) fn verify(
    webhook_id: &str,
    certificate_pem: &str,
    headers: &dyn Headers,
    body: &[u8],
) -> Result<Verified, SignatureError> {
    if webhook_id.trim().is_empty() {
        return Err(SignatureError::EmptyKey);
    }
    let algorithm = required(headers, AUTH_ALGO)?;
    let transmission_id = token(headers, TRANSMISSION_ID)?;
    let transmission_time = token(headers, TRANSMISSION_TIME)?;
    let signature = BASE64
        .decode(required(headers, TRANSMISSION_SIG)?.as_bytes())
        .map_err(|_| SignatureError::MalformedHeader(TRANSMISSION_SIG))?;
    if !algorithm.eq_ignore_ascii_case(SHA256_WITH_RSA) {
        return Err(SignatureError::UnsupportedAlgorithm);
    }

    let der = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
        .map_err(|_| SignatureError::UnusableCertificate)?;
    let certificate =
        webpki::EndEntityCert::try_from(&der).map_err(|_| SignatureError::UnusableCertificate)?;
    // Checked before verifying so that a too-small or non-RSA key is reported as the
    // configuration problem it is, not as a forged delivery.
    if !has_usable_rsa_key(&certificate) {
        return Err(SignatureError::UnusableCertificate);
    }

    let message = signed_message(transmission_id, transmission_time, webhook_id, body);
    certificate
        .verify_signature(
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            message.as_bytes(),
            &signature,
        )
        .map_err(|error| match error {
            webpki::Error::InvalidSignatureForPublicKey => SignatureError::Mismatch,
            _ => SignatureError::UnusableCertificate,
        })?;
    Ok(Verified {
        delivery_id: Some(transmission_id.to_owned()),
    })
}

/// The text PayPal signs.
pub(super) fn signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    format!(
        "{transmission_id}|{transmission_time}|{webhook_id}|{}",
        crc32fast::hash(body)
    )
}

/// A required header that is a short visible-ASCII token (the signed message joins
/// fields with `|`, so a field is never allowed to be arbitrary text).
fn token<'h>(headers: &'h dyn Headers, name: &'static str) -> Result<&'h str, SignatureError> {
    let value = required(headers, name)?;
    if is_token(value) && !value.contains('|') {
        Ok(value)
    } else {
        Err(SignatureError::MalformedHeader(name))
    }
}

/// Whether `certificate_pem` holds (first) a PEM X.509 certificate whose key can check
/// PayPal's signatures: RSA, 2048 to 8192 bits. For validating a source's settings.
pub fn certificate_is_usable(certificate_pem: &str) -> bool {
    let Ok(der) = CertificateDer::from_pem_slice(certificate_pem.as_bytes()) else {
        return false;
    };
    webpki::EndEntityCert::try_from(&der).is_ok_and(|certificate| has_usable_rsa_key(&certificate))
}

/// Whether a PAYPAL-CERT-URL may be fetched: https, host api.paypal.com /
/// api.sandbox.paypal.com / api-m.paypal.com / api-m.sandbox.paypal.com (PayPal's own
/// hosts), no userinfo, no port other than 443.
pub fn paypal_certificate_url_allowed(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    // `Url` lowercases the host and drops a default port, so `:443` reads as None.
    url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && url.port().is_none_or(|port| port == 443)
        && matches!(url.host(), Some(url::Host::Domain(host)) if CERTIFICATE_HOSTS.contains(&host))
}

/// Whether the certificate's key is RSA with a modulus of [`RSA_MODULUS_BITS`].
fn has_usable_rsa_key(certificate: &webpki::EndEntityCert<'_>) -> bool {
    rsa_modulus_bits(certificate.subject_public_key_info().as_ref())
        .is_some_and(|bits| RSA_MODULUS_BITS.contains(&bits))
}

/// DER of the rsaEncryption algorithm OID, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION_OID: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// The bit length of the modulus of an RSA SubjectPublicKeyInfo; None when it is not
/// one. SPKI ::= SEQUENCE { SEQUENCE { OID, params }, BIT STRING { RSAPublicKey } },
/// RSAPublicKey ::= SEQUENCE { INTEGER n, INTEGER e }.
pub(super) fn rsa_modulus_bits(spki: &[u8]) -> Option<usize> {
    let (spki, _) = der_element(spki, TAG_SEQUENCE)?;
    let (algorithm, rest) = der_element(spki, TAG_SEQUENCE)?;
    if !algorithm.starts_with(&RSA_ENCRYPTION_OID) {
        return None;
    }
    let (bits, _) = der_element(rest, TAG_BIT_STRING)?;
    // A key's bit string has no unused bits.
    let (&0, public_key) = bits.split_first()? else {
        return None;
    };
    let (public_key, _) = der_element(public_key, TAG_SEQUENCE)?;
    let (modulus, _) = der_element(public_key, TAG_INTEGER)?;
    // Skip the sign byte(s); what is left starts with the top non-zero byte.
    let start = modulus.iter().position(|&b| b != 0)?;
    let top = *modulus.get(start)?;
    let bytes_after_top = modulus.len().checked_sub(start)?.checked_sub(1)?;
    let top_bits = usize::try_from(u8::BITS.checked_sub(top.leading_zeros())?).ok()?;
    bytes_after_top.checked_mul(8)?.checked_add(top_bits)
}

/// DER SEQUENCE tag.
const TAG_SEQUENCE: u8 = 0x30;
/// DER BIT STRING tag.
const TAG_BIT_STRING: u8 = 0x03;
/// DER INTEGER tag.
const TAG_INTEGER: u8 = 0x02;

/// The contents of the DER element at the start of `input` if it has tag `tag`, and
/// what follows it. Definite lengths up to 4 bytes; every access bounds-checked.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(count)?;
        let len = len_bytes.iter().try_fold(0usize, |len, &b| {
            len.checked_mul(256)?.checked_add(usize::from(b))
        })?;
        (len, rest)
    };
    rest.split_at_checked(len)
}

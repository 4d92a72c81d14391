//! The provider side of each scheme: the header values Shopify, WooCommerce, Stripe and
//! PayPal would send for a body. For the load generator and the tests, so that what is
//! signed and what is verified are one implementation of each scheme (Stripe's is
//! `platform::webhook_signature`, shared with the payments service).

use data_encoding::BASE64;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;

/// `X-Shopify-Hmac-Sha256` for `body`.
pub fn shopify(secret: &[u8], body: &[u8]) -> String {
    super::hmac_body::sign(secret, body)
}

/// `X-WC-Webhook-Signature` for `body`.
pub fn woocommerce(secret: &[u8], body: &[u8]) -> String {
    super::hmac_body::sign(secret, body)
}

/// The full `Stripe-Signature` value (`t=..,v1=..`) for `body` signed at `timestamp`
/// (unix seconds; the verifier takes only non-negative ones, as Stripe sends).
pub fn stripe(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    platform::webhook_signature::sign_stripe(secret, timestamp, body)
}

/// `PAYPAL-TRANSMISSION-SIG` (base64) for a delivery of `body` to `webhook_id`.
pub fn paypal(
    signer: &PaypalSigner,
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> Result<String, SigningError> {
    let message =
        super::paypal::signed_message(transmission_id, transmission_time, webhook_id, body);
    let mut signature = vec![0; signer.key.public().modulus_len()];
    signer
        .key
        .sign(
            &RSA_PKCS1_SHA256,
            &signer.rng,
            message.as_bytes(),
            &mut signature,
        )
        .map_err(|_| SigningError::SigningFailed)?;
    Ok(BASE64.encode(&signature))
}

/// An RSA private key that signs PayPal-style webhook messages (RSASSA-PKCS1-v1_5,
/// SHA-256). Shareable across threads.
pub struct PaypalSigner {
    /// The key pair.
    key: RsaKeyPair,
    /// ring's signing needs a random source (blinding).
    rng: SystemRandom,
}

impl PaypalSigner {
    /// From a PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SigningError> {
        let key = RsaKeyPair::from_pkcs8(der)
            .map_err(|rejected| SigningError::KeyRejected(rejected.to_string()))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// From a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SigningError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| SigningError::NotPkcs8Pem)?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }
}

impl std::fmt::Debug for PaypalSigner {
    // A private key: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaypalSigner(<redacted>)")
    }
}

/// Why a PayPal signer could not be built or could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The text holds no `PRIVATE KEY` PEM section.
    #[error("the key is not a PKCS#8 PEM private key")]
    NotPkcs8Pem,
    /// ring refused the key (not RSA, wrong size, bad encoding); ring's reason names the
    /// defect, never the key.
    #[error("the RSA key was rejected: {0}")]
    KeyRejected(String),
    /// ring could not sign (its random source failed).
    #[error("signing failed")]
    SigningFailed,
}

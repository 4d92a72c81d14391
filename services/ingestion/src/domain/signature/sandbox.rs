//! A sandbox PayPal key pair: an RSA-2048 key and a self-signed certificate for it,
//! generated with `openssl` for Viscount and checked in under
//! `services/ingestion/fixtures/`. It has no value outside the tests and the load
//! generator (`viscount bench ingest` configures it as a tenant's PayPal certificate and
//! signs its deliveries with the key); no real PayPal account ever trusts it.

use super::sign::{PaypalSigner, SigningError};

/// The sandbox signing certificate (PEM), to configure as a tenant's PayPal source.
pub const PAYPAL_CERTIFICATE_PEM: &str = include_str!("../../../fixtures/paypal-sandbox-cert.pem");

/// The sandbox private key (PKCS#8 PEM) the certificate certifies.
const PAYPAL_PRIVATE_KEY_PEM: &str = include_str!("../../../fixtures/paypal-sandbox-key.pem");

/// A signer holding the sandbox private key: what it signs verifies with
/// [`PAYPAL_CERTIFICATE_PEM`]. Fallible only in form (the checked-in key is tested to
/// load), so callers never have to panic.
pub fn paypal_signer() -> Result<PaypalSigner, SigningError> {
    PaypalSigner::from_pkcs8_pem(PAYPAL_PRIVATE_KEY_PEM)
}

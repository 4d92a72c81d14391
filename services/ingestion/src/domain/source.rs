//! A tenant's source: one provider it takes webhooks from, and what that provider's
//! deliveries are verified with. The secret and the certificate are credentials: they
//! are never shown, returned or logged (their `Debug` says only that they are set).

use contracts::ingestion::Provider;

use super::signature::VerificationKey;

/// Longest webhook secret accepted.
pub const MAX_SECRET_LEN: usize = 512;
/// Longest PayPal webhook id accepted.
pub const MAX_WEBHOOK_ID_LEN: usize = 128;
/// Largest certificate accepted (a PEM certificate chain is a few KB).
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// What a source's deliveries are verified with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Shopify, Stripe and WooCommerce: a shared HMAC secret.
    Hmac {
        /// The secret the provider signs with.
        secret: String,
    },
    /// PayPal: the webhook id its messages name and the certificate they are signed
    /// with (absent when certificates are fetched from PayPal by `PAYPAL-CERT-URL`).
    Paypal {
        /// PayPal's id of the tenant's webhook.
        webhook_id: String,
        /// The X.509 signing certificate, PEM.
        certificate_pem: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Hmac { .. } => f.write_str("Hmac { secret: <redacted> }"),
            Credentials::Paypal {
                certificate_pem, ..
            } => write!(
                f,
                "Paypal {{ webhook_id: <redacted>, certificate: {} }}",
                if certificate_pem.is_some() {
                    "<set>"
                } else {
                    "<fetched>"
                }
            ),
        }
    }
}

/// Why a source's settings were refused; the field is named, the value never.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {message}")]
pub struct InvalidSource {
    /// The request field.
    pub field: &'static str,
    /// Why.
    pub message: &'static str,
}

impl Credentials {
    /// An HMAC secret: 1 to [`MAX_SECRET_LEN`] characters, no surrounding whitespace
    /// (a pasted secret with a trailing newline would never verify anything).
    pub fn hmac(secret: String) -> Result<Self, InvalidSource> {
        let invalid = |message| InvalidSource {
            field: "secret",
            message,
        };
        if secret.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(invalid("is too long"));
        }
        if secret.trim() != secret || secret.chars().any(char::is_control) {
            return Err(invalid(
                "must not contain whitespace at its ends or control characters",
            ));
        }
        Ok(Credentials::Hmac { secret })
    }

    /// PayPal's webhook id and, unless certificates are fetched, its certificate (a
    /// PEM X.509 certificate that parses).
    pub fn paypal(
        webhook_id: String,
        certificate_pem: Option<String>,
        certificate_required: bool,
    ) -> Result<Self, InvalidSource> {
        let webhook_id = webhook_id.trim().to_owned();
        if webhook_id.is_empty()
            || webhook_id.len() > MAX_WEBHOOK_ID_LEN
            || !webhook_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidSource {
                field: "webhook_id",
                message: "must be 1 to 128 letters, digits, - or _",
            });
        }
        let invalid_certificate = |message| InvalidSource {
            field: "certificate_pem",
            message,
        };
        match &certificate_pem {
            None if certificate_required => return Err(invalid_certificate("is required")),
            None => {}
            Some(pem) if pem.len() > MAX_CERTIFICATE_LEN => {
                return Err(invalid_certificate("is too long"));
            }
            Some(pem) if !super::signature::certificate_is_usable(pem) => {
                return Err(invalid_certificate(
                    "is not a PEM X.509 certificate with an RSA key",
                ));
            }
            Some(_) => {}
        }
        Ok(Credentials::Paypal {
            webhook_id,
            certificate_pem,
        })
    }

    /// Whether these credentials are of the kind `provider` signs with.
    pub fn fits(&self, provider: Provider) -> bool {
        matches!(
            (self, provider),
            (Credentials::Paypal { .. }, Provider::Paypal)
                | (
                    Credentials::Hmac { .. },
                    Provider::Shopify | Provider::Stripe | Provider::Woocommerce
                )
        )
    }

    /// The key to verify with, given the certificate to use for PayPal (the stored one,
    /// or one fetched for this delivery).
    pub fn key<'a>(&'a self, fetched_certificate: Option<&'a str>) -> Option<VerificationKey<'a>> {
        match self {
            Credentials::Hmac { secret } => Some(VerificationKey::Hmac(secret.as_bytes())),
            Credentials::Paypal {
                webhook_id,
                certificate_pem,
            } => Some(VerificationKey::Paypal {
                webhook_id,
                certificate_pem: certificate_pem.as_deref().or(fetched_certificate)?,
            }),
        }
    }
}

/// A tenant's configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The tenant.
    pub tenant_id: String,
    /// The provider.
    pub provider: Provider,
    /// What its deliveries are verified with.
    pub credentials: Credentials,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let source = Credentials::hmac("shpss_very-secret".into()).expect("valid");
        assert!(!format!("{source:?}").contains("very-secret"));
        let paypal = Credentials::paypal("WH-123".into(), None, false).expect("valid");
        assert!(!format!("{paypal:?}").contains("WH-123"));
    }

    #[test]
    fn unusable_settings_name_their_field() {
        assert_eq!(
            Credentials::hmac(String::new()).map_err(|e| e.field),
            Err("secret")
        );
        assert_eq!(
            Credentials::hmac(" padded".into()).map_err(|e| e.field),
            Err("secret")
        );
        assert_eq!(
            Credentials::paypal("WH 1".into(), None, false).map_err(|e| e.field),
            Err("webhook_id")
        );
        assert_eq!(
            Credentials::paypal("WH-1".into(), None, true).map_err(|e| e.field),
            Err("certificate_pem")
        );
        assert_eq!(
            Credentials::paypal("WH-1".into(), Some("not a certificate".into()), true)
                .map_err(|e| e.field),
            Err("certificate_pem")
        );
    }

    #[test]
    fn credentials_fit_only_their_kind_of_provider() {
        let hmac = Credentials::hmac("s".into()).expect("valid");
        assert!(hmac.fits(Provider::Shopify) && hmac.fits(Provider::Stripe));
        assert!(!hmac.fits(Provider::Paypal));
    }
}

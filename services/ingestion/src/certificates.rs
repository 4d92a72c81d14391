//! [`CertificateSource`] over HTTPS: PayPal's signing certificates, fetched from the
//! address a delivery names only after the domain has checked it is one of PayPal's,
//! with a timeout and a size limit, never following redirects elsewhere.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::ports::{CertificateSource, PortError};
use crate::domain::source::MAX_CERTIFICATE_LEN;

/// PayPal's certificate addresses over HTTPS.
#[derive(Clone)]
pub struct PaypalCertificates {
    client: reqwest::Client,
}

impl PaypalCertificates {
    /// A fetcher with a 5-second timeout that follows no redirects.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .https_only(true)
                .build()?,
        })
    }
}

#[async_trait]
impl CertificateSource for PaypalCertificates {
    async fn certificate(&self, url: &str) -> Result<String, PortError> {
        let unavailable = |err: reqwest::Error| {
            tracing::warn!(error = %err, "cannot fetch a PayPal certificate");
            PortError::Unavailable("PayPal's certificate address")
        };
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?;
        if response
            .content_length()
            .is_some_and(|length| length > MAX_CERTIFICATE_LEN as u64)
        {
            return Err(PortError::Refused(
                "PayPal's certificate is too large".into(),
            ));
        }
        let body = response.bytes().await.map_err(unavailable)?;
        if body.len() > MAX_CERTIFICATE_LEN {
            return Err(PortError::Refused(
                "PayPal's certificate is too large".into(),
            ));
        }
        String::from_utf8(body.to_vec())
            .map_err(|_| PortError::Refused("PayPal's certificate is not PEM text".into()))
    }
}

//! Tenants' sources and their credentials. Credentials are written and read here and
//! go nowhere else: no list of them exists.

use contracts::ingestion::Provider;
use platform::db::{Executor, Row, Tx};

use super::guard::{self, Cell, StoreError};
use crate::domain::source::{Credentials, Source};

/// Stores `source`, replacing the tenant's earlier settings for that provider.
pub async fn put_source(tx: &mut Tx, source: &Source, now: i64) -> Result<(), StoreError> {
    let (secret, webhook_id, certificate) = match &source.credentials {
        Credentials::Hmac { secret } => (Some(secret.as_str()), None, None),
        Credentials::Paypal {
            webhook_id,
            certificate_pem,
        } => (None, Some(webhook_id.as_str()), certificate_pem.as_deref()),
    };
    guard::insert(
        tx,
        "sources",
        &[
            ("tenant_id", Cell::Text(&source.tenant_id)),
            ("provider", Cell::Text(source.provider.as_str())),
            ("secret", Cell::Credential(secret)),
            ("webhook_id", Cell::Credential(webhook_id)),
            ("certificate_pem", Cell::Credential(certificate)),
            ("updated_at", Cell::Int(now)),
        ],
        "ON CONFLICT (tenant_id, provider) DO UPDATE SET secret = excluded.secret, \
         webhook_id = excluded.webhook_id, certificate_pem = excluded.certificate_pem, \
         updated_at = excluded.updated_at",
    )
    .await?;
    Ok(())
}

/// The tenant's source for `provider`, if configured.
pub async fn source<'e>(
    ex: impl Executor<'e>,
    tenant_id: &str,
    provider: Provider,
) -> Result<Option<Source>, platform::db::Error> {
    platform::db::query(
        "SELECT tenant_id, provider, secret, webhook_id, certificate_pem FROM sources \
         WHERE tenant_id = $1 AND provider = $2",
    )
    .bind(tenant_id)
    .bind(provider.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(source_from)
    .transpose()
}

fn source_from(row: &Row) -> Result<Source, platform::db::Error> {
    let provider: String = row.try_get("provider")?;
    let provider = platform::db::named("provider", &provider, Provider::parse)?;
    let secret: Option<String> = row.try_get("secret")?;
    let webhook_id: Option<String> = row.try_get("webhook_id")?;
    let certificate_pem: Option<String> = row.try_get("certificate_pem")?;
    let credentials = match (provider, secret, webhook_id) {
        (Provider::Paypal, None, Some(webhook_id)) => Credentials::Paypal {
            webhook_id,
            certificate_pem,
        },
        (Provider::Shopify | Provider::Stripe | Provider::Woocommerce, Some(secret), None) => {
            Credentials::Hmac { secret }
        }
        _ => {
            return Err(platform::db::Error::undecodable(
                "secret",
                "credentials do not fit the provider",
            ));
        }
    };
    Ok(Source {
        tenant_id: row.try_get("tenant_id")?,
        provider,
        credentials,
    })
}

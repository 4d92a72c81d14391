//! Ordering's copy of catalog's prices, kept current from catalog's events inside the
//! consumer's transaction, so pricing a cart or an order never calls catalog.

use platform::db::Tx;

use super::OrderingApp;
use crate::domain::{Money, Price, Sku};
use crate::store;

impl OrderingApp {
    /// Keeps a sku's price (and name) current.
    #[tracing::instrument(skip_all, fields(sku = %price.sku.as_str()), err(level = "debug"))]
    pub async fn set_price_in(
        &self,
        tx: &mut Tx,
        price: &Price,
    ) -> Result<(), platform::db::Error> {
        store::prices::upsert(tx, price, self.clock.now_millis()).await
    }

    /// Changes a sku's price. The name is not in catalog's price event (the updated
    /// event that accompanies it carries it), so the known name is kept; a sku not
    /// known yet is named by itself until then.
    #[tracing::instrument(skip_all, fields(sku = %sku.as_str()), err(level = "debug"))]
    pub async fn change_price_in(
        &self,
        tx: &mut Tx,
        sku: Sku,
        product_id: String,
        price: Money,
    ) -> Result<(), platform::db::Error> {
        let known = store::prices::of(&mut **tx, &[sku.as_str()]).await?;
        let name = known
            .into_iter()
            .next()
            .map(|p| p.name)
            .unwrap_or_else(|| sku.as_str().to_owned());
        let price = Price {
            sku,
            product_id,
            name,
            price,
        };
        store::prices::upsert(tx, &price, self.clock.now_millis()).await
    }

    /// Stops selling a sku.
    #[tracing::instrument(skip_all, fields(sku = %sku.as_str()), err(level = "debug"))]
    pub async fn remove_price_in(&self, tx: &mut Tx, sku: &Sku) -> Result<(), platform::db::Error> {
        store::prices::delete(tx, sku).await
    }
}

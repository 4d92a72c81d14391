//! The stock flag: inventory's latest availability of a sku, which products show as
//! `in_stock` (and listings filter on), and the sell-out it announces.

use contracts::catalog::AvailabilityChanged;
use platform::bus::Outbox;
use platform::cache::Cache;
use platform::db::Tx;

use crate::domain::Sku;
use crate::store;

/// Records that `available` units of `sku` are available as of `now`, inside the
/// consumer's transaction (with its inbox row, so a redelivery changes nothing), and
/// announces it when the sku became sellable or stopped being so.
///
/// Stopping being so is also the sell-out of the product that sells the sku
/// (`catalog.product.out_of_stock`): a product has one sku, so its total is that sku's.
/// Because only a flip announces anything, the sell-out is announced once, not again
/// while the sku stays at zero, and again after a restock and a new sell-out. A sku
/// that never had stock never sold out, and a sku no product sells has no product to
/// announce.
///
/// The product's cached copy (in `products`) is dropped once the flip commits.
pub async fn record_stock_in(
    tx: &mut Tx,
    outbox: &Outbox,
    products: &Cache,
    now: i64,
    sku: &Sku,
    available: i64,
) -> Result<(), platform::db::Error> {
    if !store::set_stock(tx, sku, available, now).await? {
        return Ok(());
    }
    let in_stock = available > 0;
    let event = AvailabilityChanged {
        sku: sku.as_str().to_owned(),
        in_stock,
    };
    outbox.stage(tx, &event).await?;
    if let Some(product) = store::product_by_sku(&mut **tx, sku).await? {
        if !in_stock {
            outbox.stage(tx, &product.out_of_stock_event()).await?;
        }
        products.invalidate_after_commit(tx, product.id);
    }
    Ok(())
}

//! The stock flag: inventory's latest availability of a sku, which products show as
//! `in_stock` (and listings filter on).

use platform::db::Tx;

use crate::domain::Sku;
use crate::store;

/// Records that `available` units of `sku` are available as of `now`, inside the
/// consumer's transaction (with its inbox row, so a redelivery changes nothing).
pub async fn record_stock_in(
    tx: &mut Tx,
    now: i64,
    sku: &Sku,
    available: i64,
) -> Result<(), platform::db::Error> {
    store::set_stock(tx, sku, available, now).await
}

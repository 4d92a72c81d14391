//! The stock flag: inventory's latest availability of a sku, which products show as
//! `in_stock` (and listings filter on).

use contracts::catalog::AvailabilityChanged;
use platform::bus::Outbox;
use platform::db::Tx;

use crate::domain::Sku;
use crate::store;

/// Records that `available` units of `sku` are available as of `now`, inside the
/// consumer's transaction (with its inbox row, so a redelivery changes nothing), and
/// announces it when the sku became sellable or stopped being so.
pub async fn record_stock_in(
    tx: &mut Tx,
    outbox: &Outbox,
    now: i64,
    sku: &Sku,
    available: i64,
) -> Result<(), platform::db::Error> {
    if store::set_stock(tx, sku, available, now).await? {
        let event = AvailabilityChanged {
            sku: sku.as_str().to_owned(),
            in_stock: available > 0,
        };
        outbox.stage(tx, &event).await?;
    }
    Ok(())
}

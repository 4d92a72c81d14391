//! Ordering's SQL, and the only place rows become aggregates and back: the price copy
//! ([`prices`]), carts ([`carts`]) and orders with their lines, history and refunds
//! ([`orders`]), and the returns open against them ([`returns`]).
//!
//! A row that cannot be decoded (an unknown status, an invalid sku or quantity, a
//! corrupt address) is an error, never a default. An order's status only changes
//! through [`orders::save_change`], a conditional update on the status the aggregate's
//! transition moved it from, inside a transaction that locked the row
//! ([`orders::for_update`]); so the saga's consumer, the timeout sweeper and a user's
//! cancel can never both move the same order.

pub mod carts;
pub mod orders;
pub mod prices;
pub mod returns;
#[cfg(test)]
mod tests;

use platform::db::Error;

use crate::domain::{Quantity, Sku};

/// `column`'s stored value did not decode.
/// A stored sku.
fn sku(raw: String) -> Result<Sku, Error> {
    Sku::try_from(raw).map_err(|invalid| platform::db::Error::undecodable("sku", invalid))
}

/// A stored cart quantity (1 to [`crate::domain::MAX_QUANTITY`]).
fn quantity(raw: i64) -> Result<Quantity, Error> {
    Quantity::try_from(raw).map_err(|invalid| platform::db::Error::undecodable("quantity", invalid))
}

/// A stored order line quantity (at least 1).
fn line_quantity(raw: i64) -> Result<u32, Error> {
    u32::try_from(raw).ok().filter(|q| *q > 0).ok_or_else(|| {
        platform::db::Error::undecodable("quantity", format!("{raw} is not a line quantity"))
    })
}

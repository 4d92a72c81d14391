//! Payments' SQL, and the only translator between rows and the domain: payments
//! ([`payments`]), the transaction ledger ([`ledger`](mod@ledger)), saved cards
//! ([`methods`]), invoices and credit notes with their number counters
//! ([`invoices`]), fraud reviews with the facts the fraud rules read ([`reviews`]),
//! where each payment came from ([`origins`]), the journal of calls to the provider
//! ([`calls`]) and the provider's notices applied ([`notices`]).
//!
//! A row that does not decode (an unknown status, brand, failure reason or ledger kind)
//! is the column's decode error ([`platform::db::named`]), never a default. Every status change is a
//! conditional update whose statuses come from the aggregate's transition, so two
//! deliveries of one event cannot both act; refunds are a conditional update on the
//! totals, so no interleaving of refunds can exceed what was captured. Each money
//! movement writes a ledger entry in the same transaction as the totals it changes.

pub mod calls;
pub mod invoices;
pub mod ledger;
pub mod methods;
pub mod notices;
pub mod origins;
pub mod payments;
pub mod reviews;

pub use invoices::{insert_invoice, invoice, invoice_of_payment, invoices_of_order, next_sequence};
pub use ledger::{disagreeing_payments, insert_ledger_entry, ledger, ledger_sums};
pub use methods::{
    delete_payment_method, insert_payment_method, insert_provider_customer, payment_method,
    payment_methods, provider_customer,
};
pub use payments::{
    Key, attempts_since, insert_attempt, insert_payment, keep_intent, payment, payment_by_order,
    payment_for_update, reserve_refund, save_transition, set_customer_action, settle_refund,
    waiting_since,
};

use platform::db::Tx;

use crate::domain::{CardBrand, Expiry, StoredCard};

/// A card's expiry from its stored month and year, or a decode error.
fn expiry_from(row: &platform::db::Row) -> Result<Expiry, platform::db::Error> {
    Expiry::stored(row.try_get("exp_month")?, row.try_get("exp_year")?)
        .map_err(|invalid| platform::db::Error::undecodable("exp_month", invalid.to_string()))
}

/// The card of a payment or saved-card row: its token, brand, last four, expiry and
/// the provider's customer it is attached to.
fn card_from(row: &platform::db::Row) -> Result<StoredCard, platform::db::Error> {
    let brand: String = row.try_get("brand")?;
    Ok(StoredCard {
        token: row.try_get("token")?,
        brand: platform::db::named("brand", &brand, CardBrand::parse)?,
        last4: row.try_get("last4")?,
        expiry: expiry_from(row)?,
        customer: row.try_get("provider_customer")?,
    })
}

/// A table pruned by age: its name, its key column and the column of the time each
/// row was made (names of this file's own, never a caller's input).
pub(crate) struct Aged {
    pub(crate) table: &'static str,
    pub(crate) key: &'static str,
    pub(crate) at: &'static str,
}

impl Aged {
    /// Deletes up to `limit` rows made before `before`; how many went.
    pub(crate) async fn prune(
        &self,
        tx: &mut Tx,
        before: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        let Self { table, key, at } = self;
        platform::db::query(&format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {key} FROM {table} WHERE {at} < $1 LIMIT $2)"
        ))
        .bind(before)
        .bind(limit)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected())
    }
}

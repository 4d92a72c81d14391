//! Reading the transaction ledger, and checking that every payment's totals agree with
//! it (the books balance).

use super::{PaymentsApp, PaymentsError, TransactionView};
use crate::store;

impl PaymentsApp {
    /// Ledger entries by id after `after` (up to `limit`), of one payment or all.
    pub async fn transactions(
        &self,
        payment_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TransactionView>, PaymentsError> {
        Ok(store::ledger(
            self.db.reader(),
            payment_id.unwrap_or_default(),
            after,
            limit,
        )
        .await?
        .into_iter()
        .map(TransactionView::from)
        .collect())
    }

    /// Whether a payment's captured and refunded totals equal the sums of its ledger.
    pub async fn ledger_agrees(&self, payment_id: &str) -> Result<bool, PaymentsError> {
        let payment = store::payment(self.db.reader(), payment_id)
            .await?
            .ok_or(PaymentsError::NotFound)?;
        let (captured, refunded) = store::ledger_sums(self.db.reader(), payment_id).await?;
        let state = payment.state();
        Ok(state.captured == captured && state.refunded == refunded)
    }

    /// Ids of every payment whose totals differ from its ledger (empty when the books
    /// balance).
    pub async fn reconcile(&self) -> Result<Vec<String>, PaymentsError> {
        Ok(store::disagreeing_payments(self.db.reader()).await?)
    }
}

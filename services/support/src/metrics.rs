//! Support's metrics, declared once here through `platform::http::metrics`: ticket
//! changes by what happened (opened, replied by a customer or an agent, closed), and
//! knowledge-base searches by whether they found anything. A ticket change is counted
//! when the transaction holding it commits ([`platform::db::Tx::after_commit`]), so a
//! change rolled back never counts.

use std::sync::LazyLock;

use platform::db::Tx;
use platform::http::metrics::{self, IntCounterVec};

static TICKETS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "support_ticket_changes_total",
        "Support ticket changes, by action (opened; customer_reply, agent_reply; assigned; \
         closed)",
        &["action"],
    )
});

static SEARCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "support_article_searches_total",
        "Knowledge-base searches, by result (found: at least one article the caller may \
         see; empty: none, a question the knowledge base does not answer yet)",
        &["result"],
    )
});

/// Counts a ticket change `action` made in `tx`, once `tx` commits.
pub(crate) fn ticket(tx: &mut Tx, action: &'static str) {
    tx.after_commit(move || TICKETS.with_label_values(&[action]).inc());
}

/// Counts a search that found `found` articles (on its first page).
pub(crate) fn search(found: bool) {
    let result = if found { "found" } else { "empty" };
    SEARCHES.with_label_values(&[result]).inc();
}

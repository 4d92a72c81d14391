//! Notifications' SQL, and the only place rows become domain values and back: the user
//! directory and order map fed by events (`directory`), events parked until their
//! recipient is known (`parked`), templates (`templates`), preferences
//! (`preferences`), the messages themselves with the sender's claim (`messages`), and
//! merchants' webhook endpoints with their deliveries and the dispatcher's claim
//! (`webhooks`).
//!
//! Every statement is portable (SQLite and PostgreSQL). A row that cannot be read
//! (an unknown status, channel or category) is a decode error, never a default.

mod directory;
mod messages;
mod parked;
mod preferences;
mod templates;
pub mod webhooks;

use platform::db::Row;

pub use directory::{admins, forget_user, insert_order, order, upsert_user, user};
pub use messages::{
    Claimed, claim_due, give_up_unreadable, insert_message, list_for_user, list_outbox, message,
    next_due, settle,
};
pub use parked::{any_parked, expire_parked, park, parked_now_known, take_parked};
pub use preferences::{preferences, set_preference};
pub use templates::{list_templates, put_template, template, templates_for_key};

/// Column `column` of `row`, read with `parse` (an enum's `parse`).
fn parsed<T>(
    row: &Row,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, platform::db::Error> {
    let raw: String = row.try_get(column)?;
    parse(&raw).ok_or_else(|| platform::db::Error::unknown(column, &raw))
}

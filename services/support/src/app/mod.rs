//! Support's operations, one file per idea: `tickets` (opening, replying, assigning,
//! closing, reading them) and `articles` (the knowledge base and its search, with the
//! index kept in step with the database). A write is one transaction with its events;
//! an article write then updates the search index.

mod articles;

pub use articles::LAYOUT;
mod tickets;

use platform::bus::Outbox;
use platform::db::Db;
use platform::time::Clock;

pub use articles::ArticleQuery;
pub use tickets::TicketRequest;

use crate::domain::TicketConflict;
use crate::peers::{PeerError, Peers};

/// Why a support operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// No such ticket, or not the caller's.
    #[error("ticket not found")]
    TicketNotFound,
    /// No such article, or a draft the caller may not see.
    #[error("article not found")]
    ArticleNotFound,
    /// The order is not one the caller may see.
    #[error("no such order of yours")]
    UnknownOrder,
    /// The assignee is not an admin.
    #[error("must be the id of an admin")]
    NotAnAdmin,
    /// The state machine refuses the change.
    #[error(transparent)]
    Conflict(#[from] TicketConflict),
    /// The ticket changed while this change was being made.
    #[error("the ticket changed meanwhile; try again")]
    Raced,
    /// Another service did not answer.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The search index failed.
    #[error(transparent)]
    Search(#[from] fulltext::SearchError),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// Support's operations.
#[derive(Clone)]
pub struct SupportApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) index: fulltext::SearchIndex,
    pub(crate) peers: Peers,
}

impl SupportApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

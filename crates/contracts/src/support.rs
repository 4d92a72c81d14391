//! Events emitted by the support service: a customer's ticket opened, a reply on it,
//! and its closing. They carry who and what state, not the text of the conversation:
//! a consumer that needs the words asks support's API for them, so the bus and every
//! copy of its log hold no more of what customers wrote than the subject line.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// A customer opened a support ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct TicketOpened {
    /// The ticket.
    pub ticket_id: String,
    /// The customer whose ticket it is.
    pub user_id: String,
    /// The subject line.
    pub subject: String,
    /// The order it is about, if any.
    #[serde(default)]
    pub order_id: Option<String>,
    /// RFC 3339 time it was opened.
    pub opened_at: String,
}

impl Event for TicketOpened {
    const TYPE: &'static str = "support.ticket.opened.v1";
    fn subject(&self) -> String {
        self.ticket_id.clone()
    }
}

/// Someone replied on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct TicketReplied {
    /// The ticket.
    pub ticket_id: String,
    /// The customer whose ticket it is.
    pub user_id: String,
    /// The new message.
    pub message_id: String,
    /// Who wrote it.
    pub author_id: String,
    /// `customer` (the ticket's owner) or `agent` (an operator).
    pub author_role: String,
    /// The ticket's status after the reply: `open` (waiting for an agent) or
    /// `pending` (waiting for the customer).
    pub status: String,
    /// RFC 3339 time of the reply.
    pub replied_at: String,
}

impl Event for TicketReplied {
    const TYPE: &'static str = "support.ticket.replied.v1";
    fn subject(&self) -> String {
        self.ticket_id.clone()
    }
}

/// A ticket was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct TicketClosed {
    /// The ticket.
    pub ticket_id: String,
    /// The customer whose ticket it is.
    pub user_id: String,
    /// Who closed it.
    pub closed_by: String,
    /// RFC 3339 time it was closed.
    pub closed_at: String,
}

impl Event for TicketClosed {
    const TYPE: &'static str = "support.ticket.closed.v1";
    fn subject(&self) -> String {
        self.ticket_id.clone()
    }
}

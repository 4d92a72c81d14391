//! The events support emits, built from the ticket they announce; staged in the outbox
//! in the same transaction as the change (see `app::tickets`). Support consumes no
//! events: what it needs of others (an order's owner, an admin's role) it asks their
//! API at the moment it needs it.

use contracts::support::{TicketClosed, TicketOpened, TicketReplied};
use platform::time::rfc3339;

use crate::domain::{Message, Ticket};

/// `support.ticket.opened.v1` of a new ticket.
pub fn opened(t: &Ticket) -> TicketOpened {
    TicketOpened {
        ticket_id: t.id.clone(),
        user_id: t.user_id.clone(),
        subject: t.subject.clone(),
        order_id: t.order_id.clone(),
        opened_at: rfc3339(t.created_at),
    }
}

/// `support.ticket.replied.v1` of `m`, just added to `t`.
pub fn replied(t: &Ticket, m: &Message) -> TicketReplied {
    TicketReplied {
        ticket_id: t.id.clone(),
        user_id: t.user_id.clone(),
        message_id: m.id.clone(),
        author_id: m.author_id.clone(),
        author_role: m.author_role.as_str().to_owned(),
        status: t.status.as_str().to_owned(),
        replied_at: rfc3339(m.created_at),
    }
}

/// `support.ticket.closed.v1` of `t`, just closed by `by`.
pub fn closed(t: &Ticket, by: &str) -> TicketClosed {
    TicketClosed {
        ticket_id: t.id.clone(),
        user_id: t.user_id.clone(),
        closed_by: by.to_owned(),
        closed_at: rfc3339(t.closed_at.unwrap_or(t.updated_at)),
    }
}

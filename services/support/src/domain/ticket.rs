//! The `Ticket` aggregate: a customer's question, its conversation, who works on it and
//! where it stands.
//!
//! The state machine (the only place it exists; the store's conditional updates follow
//! from it):
//!
//! ```text
//!            agent replies                      customer replies
//!   open ─────────────────────▶ pending ─────────────────────────▶ open
//!   open ◀── customer replies   pending ◀── agent replies
//!   open | pending ── close (owner or admin) ──▶ closed
//!   closed ── reply | close | assign ──▶ 409 (closed is final)
//! ```
//!
//! `open` means the ticket waits for an agent, `pending` that it waits for the
//! customer. The author's role is decided by who the author is: the ticket's owner is
//! the customer (even an admin who opened a ticket of their own), anyone else an agent.
//! Assigning changes who works on it, not its status.

use super::{Body, Subject};

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    /// Waiting for an agent.
    Open,
    /// Waiting for the customer.
    Pending,
    /// Done; nothing changes it any more.
    Closed,
}

impl TicketStatus {
    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Closed => "closed",
        }
    }

    /// The status named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "pending" => Some(Self::Pending),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// Who wrote a message, relative to the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorRole {
    /// The ticket's owner.
    Customer,
    /// An operator answering it.
    Agent,
}

impl AuthorRole {
    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
        }
    }

    /// The role named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "customer" => Some(Self::Customer),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// Why a change of a ticket is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketConflict {
    /// The ticket is closed: no reply, assignment or second close.
    #[error("the ticket is closed")]
    Closed,
}

/// One message of a ticket's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Id.
    pub id: String,
    /// Who wrote it.
    pub author_id: String,
    /// As whom.
    pub author_role: AuthorRole,
    /// The text.
    pub body: String,
    /// When (epoch ms).
    pub created_at: i64,
}

/// What a new ticket is made of, checked.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The customer it belongs to.
    pub user_id: String,
    /// Subject line.
    pub subject: Subject,
    /// The first message.
    pub body: Body,
    /// The order it is about (already checked to be the customer's).
    pub order_id: Option<String>,
}

/// A support ticket with its conversation, oldest message first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// The customer it belongs to.
    pub user_id: String,
    /// Subject line.
    pub subject: String,
    /// The order it is about.
    pub order_id: Option<String>,
    /// The admin working on it.
    pub assignee: Option<String>,
    /// Where it stands.
    pub status: TicketStatus,
    /// Opened (epoch ms).
    pub created_at: i64,
    /// Last change (epoch ms).
    pub updated_at: i64,
    /// Closed (epoch ms).
    pub closed_at: Option<i64>,
    /// The conversation (empty in lists).
    pub messages: Vec<Message>,
}

impl Ticket {
    /// Opens a ticket: status open, the body as its first message.
    pub fn open(new: NewTicket, id: String, message_id: String, now: i64) -> Self {
        Self {
            messages: vec![Message {
                id: message_id,
                author_id: new.user_id.clone(),
                author_role: AuthorRole::Customer,
                body: new.body.into_string(),
                created_at: now,
            }],
            id,
            user_id: new.user_id,
            subject: new.subject.into_string(),
            order_id: new.order_id,
            assignee: None,
            status: TicketStatus::Open,
            created_at: now,
            updated_at: now,
            closed_at: None,
        }
    }

    /// The role `author` writes in on this ticket.
    pub fn role_of(&self, author: &str) -> AuthorRole {
        if author == self.user_id {
            AuthorRole::Customer
        } else {
            AuthorRole::Agent
        }
    }

    /// Adds a reply by `author`: a customer's reopens the ticket (open), an agent's
    /// waits for the customer (pending). Returns the message.
    pub fn reply(
        &mut self,
        author: &str,
        body: Body,
        id: String,
        now: i64,
    ) -> Result<Message, TicketConflict> {
        self.ensure_not_closed()?;
        let role = self.role_of(author);
        self.status = match role {
            AuthorRole::Customer => TicketStatus::Open,
            AuthorRole::Agent => TicketStatus::Pending,
        };
        self.updated_at = now;
        let message = Message {
            id,
            author_id: author.to_owned(),
            author_role: role,
            body: body.into_string(),
            created_at: now,
        };
        self.messages.push(message.clone());
        Ok(message)
    }

    /// Gives the ticket to `assignee` (an admin); the status stays.
    pub fn assign(&mut self, assignee: String, now: i64) -> Result<(), TicketConflict> {
        self.ensure_not_closed()?;
        self.assignee = Some(assignee);
        self.updated_at = now;
        Ok(())
    }

    /// Closes the ticket, for good.
    pub fn close(&mut self, now: i64) -> Result<(), TicketConflict> {
        self.ensure_not_closed()?;
        self.status = TicketStatus::Closed;
        self.updated_at = now;
        self.closed_at = Some(now);
        Ok(())
    }

    fn ensure_not_closed(&self) -> Result<(), TicketConflict> {
        if self.status == TicketStatus::Closed {
            return Err(TicketConflict::Closed);
        }
        Ok(())
    }
}

/// Which tickets a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Only this customer's (set for every caller who is not an admin).
    pub user_id: Option<String>,
    /// Only in this status.
    pub status: Option<TicketStatus>,
    /// Only assigned to this admin.
    pub assignee: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket::open(
            NewTicket {
                user_id: "cust".into(),
                subject: Subject::try_from("Where is my parcel".to_owned()).expect("subject"),
                body: Body::try_from("It has been a week.".to_owned()).expect("body"),
                order_id: None,
            },
            "t1".into(),
            "m1".into(),
            1,
        )
    }

    fn body(text: &str) -> Body {
        Body::try_from(text.to_owned()).expect("body")
    }

    #[test]
    fn replies_move_the_ticket_between_open_and_pending() {
        // (author, status after the reply, role recorded)
        let table = [
            ("agent", TicketStatus::Pending, AuthorRole::Agent),
            ("agent", TicketStatus::Pending, AuthorRole::Agent),
            ("cust", TicketStatus::Open, AuthorRole::Customer),
            ("cust", TicketStatus::Open, AuthorRole::Customer),
            ("agent", TicketStatus::Pending, AuthorRole::Agent),
        ];
        let mut t = ticket();
        assert_eq!(t.status, TicketStatus::Open);
        for (i, (author, status, role)) in table.into_iter().enumerate() {
            let now = i64::try_from(i).unwrap_or(0) + 2;
            let message = t
                .reply(author, body("hello"), format!("m{now}"), now)
                .expect("reply");
            assert_eq!(t.status, status, "after reply {i} by {author}");
            assert_eq!(message.author_role, role);
            assert_eq!(t.updated_at, now);
        }
        assert_eq!(t.messages.len(), 6);
    }

    #[test]
    fn closed_is_final() {
        let mut t = ticket();
        t.assign("agent".into(), 2).expect("assign");
        assert_eq!(t.status, TicketStatus::Open, "assigning keeps the status");
        t.close(3).expect("close");
        assert_eq!(t.status, TicketStatus::Closed);
        assert_eq!(t.closed_at, Some(3));
        assert_eq!(t.close(4), Err(TicketConflict::Closed));
        assert_eq!(
            t.reply("cust", body("again"), "m9".into(), 4).err(),
            Some(TicketConflict::Closed)
        );
        assert_eq!(t.assign("other".into(), 4), Err(TicketConflict::Closed));
        assert_eq!(t.messages.len(), 1);
    }

    #[test]
    fn names_round_trip() {
        for status in [
            TicketStatus::Open,
            TicketStatus::Pending,
            TicketStatus::Closed,
        ] {
            assert_eq!(TicketStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TicketStatus::parse("waiting"), None);
        for role in [AuthorRole::Customer, AuthorRole::Agent] {
            assert_eq!(AuthorRole::parse(role.as_str()), Some(role));
        }
    }
}

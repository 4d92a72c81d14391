//! Tickets: a customer opens one (about one of their orders, optionally), customers and
//! agents reply, an admin assigns it, the owner or an admin closes it. The owner sees
//! their own, admins all; anyone else is answered "not found", so ids do not leak.

use platform::auth::{ForwardedCredentials, Policy, Principal};

use super::{SupportApp, SupportError};
use crate::domain::{AuthorRole, Body, NewTicket, Subject, Ticket, TicketFilter};
use crate::{events, store};

/// Only admins manage support (see every ticket, assign, answer as an agent).
pub const POLICY: Policy = Policy::admin_only();

/// A new ticket as asked, checked.
#[derive(Debug, Clone)]
pub struct TicketRequest {
    /// Subject line.
    pub subject: Subject,
    /// The first message.
    pub body: Body,
    /// The order it is about (checked with ordering: the caller's own).
    pub order_id: Option<String>,
}

impl SupportApp {
    /// Opens a ticket for the caller; an order must be one ordering shows the caller.
    #[tracing::instrument(skip_all, fields(ticket_id = tracing::field::Empty), err)]
    pub async fn open_ticket(
        &self,
        caller: &Principal,
        credentials: &ForwardedCredentials,
        request: TicketRequest,
    ) -> Result<Ticket, SupportError> {
        if let Some(order_id) = &request.order_id
            && !self.peers.order_visible(credentials, order_id).await?
        {
            return Err(SupportError::UnknownOrder);
        }
        let ticket = Ticket::open(
            NewTicket {
                user_id: caller.subject.clone(),
                subject: request.subject,
                body: request.body,
                order_id: request.order_id,
            },
            platform::ids::new_id(),
            platform::ids::new_id(),
            self.clock.now_millis(),
        );
        tracing::Span::current().record("ticket_id", ticket.id.as_str());
        let mut tx = self.db.begin().await?;
        store::tickets::insert(&mut tx, &ticket).await?;
        self.outbox.stage(&mut tx, &events::opened(&ticket)).await?;
        crate::metrics::ticket(&mut tx, "opened");
        tx.commit().await?;
        self.outbox.wake();
        Ok(ticket)
    }

    /// A ticket the caller may see, with its conversation.
    #[tracing::instrument(skip_all, fields(ticket_id = %id), err(level = "debug"))]
    pub async fn ticket(&self, caller: &Principal, id: &str) -> Result<Ticket, SupportError> {
        let mut conn = self.db.reader().acquire().await?;
        store::tickets::get(&mut conn, id)
            .await?
            .filter(|t| POLICY.may_see(caller, &t.user_id))
            .ok_or(SupportError::TicketNotFound)
    }

    /// One page of tickets: the caller's own, or (admins) all matching `filter`.
    pub async fn tickets(
        &self,
        caller: &Principal,
        mut filter: TicketFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Ticket>, SupportError> {
        if !POLICY.may_manage(caller) {
            filter.user_id = Some(caller.subject.clone());
        }
        Ok(store::tickets::list(self.db.reader(), &filter, after, limit).await?)
    }

    /// Adds the caller's reply (as the customer when it is their ticket, else as an
    /// agent) and moves the status as the state machine says.
    #[tracing::instrument(skip_all, fields(ticket_id = %id), err(level = "debug"))]
    pub async fn reply(
        &self,
        caller: &Principal,
        id: &str,
        body: Body,
    ) -> Result<Ticket, SupportError> {
        self.change(caller, id, |ticket, now| {
            let message = ticket.reply(&caller.subject, body, platform::ids::new_id(), now)?;
            Ok(Change::Replied(message))
        })
        .await
    }

    /// Gives the ticket to `assignee`, who must be an admin (admins only).
    #[tracing::instrument(skip_all, fields(ticket_id = %id), err(level = "debug"))]
    pub async fn assign(
        &self,
        caller: &Principal,
        credentials: &ForwardedCredentials,
        id: &str,
        assignee: String,
    ) -> Result<Ticket, SupportError> {
        if !self.peers.is_admin(credentials, &assignee).await? {
            return Err(SupportError::NotAnAdmin);
        }
        self.change(caller, id, |ticket, now| {
            ticket.assign(assignee, now)?;
            Ok(Change::Assigned)
        })
        .await
    }

    /// Closes the ticket (its owner or an admin).
    #[tracing::instrument(skip_all, fields(ticket_id = %id), err(level = "debug"))]
    pub async fn close(&self, caller: &Principal, id: &str) -> Result<Ticket, SupportError> {
        self.change(caller, id, |ticket, now| {
            ticket.close(now)?;
            Ok(Change::Closed)
        })
        .await
    }

    /// Applies one transition to a ticket the caller may see, in one transaction with
    /// its event: the row is locked, the aggregate decides, and the update is
    /// conditional on the status it decided from.
    async fn change(
        &self,
        caller: &Principal,
        id: &str,
        transition: impl FnOnce(&mut Ticket, i64) -> Result<Change, SupportError>,
    ) -> Result<Ticket, SupportError> {
        let mut tx = self.db.begin().await?;
        let Some(mut ticket) = store::tickets::lock(&mut tx, self.db.dialect(), id)
            .await?
            .filter(|t| POLICY.may_see(caller, &t.user_id))
        else {
            return Err(SupportError::TicketNotFound);
        };
        let was = ticket.status;
        let now = self.clock.now_millis().max(ticket.updated_at);
        let change = transition(&mut ticket, now)?;
        if !store::tickets::update(&mut tx, &ticket, was).await? {
            return Err(SupportError::Raced);
        }
        match &change {
            Change::Replied(message) => {
                store::tickets::insert_message(&mut tx, &ticket.id, message).await?;
                let action = match message.author_role {
                    AuthorRole::Customer => "customer_reply",
                    AuthorRole::Agent => "agent_reply",
                };
                crate::metrics::ticket(&mut tx, action);
                self.outbox
                    .stage(&mut tx, &events::replied(&ticket, message))
                    .await?;
            }
            Change::Closed => {
                crate::metrics::ticket(&mut tx, "closed");
                self.outbox
                    .stage(&mut tx, &events::closed(&ticket, &caller.subject))
                    .await?;
            }
            Change::Assigned => crate::metrics::ticket(&mut tx, "assigned"),
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(ticket)
    }
}

/// What a transition did, for what else the transaction writes.
enum Change {
    Replied(crate::domain::Message),
    Assigned,
    Closed,
}

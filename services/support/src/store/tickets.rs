//! Tickets (`tickets`) and their conversations (`ticket_messages`), read into and
//! written from [`Ticket`].

use platform::db::{Conn, Dialect, Error, Executor, Row, Tx, named};

use crate::domain::{AuthorRole, Message, Ticket, TicketFilter, TicketStatus};

const COLUMNS: &str =
    "id, user_id, subject, order_id, assignee, status, created_at, updated_at, closed_at";

fn ticket(row: &Row) -> Result<Ticket, Error> {
    let status: String = row.try_get("status")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        subject: row.try_get("subject")?,
        order_id: row.try_get("order_id")?,
        assignee: row.try_get("assignee")?,
        status: named("status", &status, TicketStatus::parse)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
        messages: Vec::new(),
    })
}

fn message(row: &Row) -> Result<Message, Error> {
    let role: String = row.try_get("author_role")?;
    Ok(Message {
        id: row.try_get("id")?,
        author_id: row.try_get("author_id")?,
        author_role: named("author_role", &role, AuthorRole::parse)?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a new ticket and its messages.
pub async fn insert(tx: &mut Tx, t: &Ticket) -> Result<(), Error> {
    platform::db::query(
        "INSERT INTO tickets (id, user_id, subject, order_id, assignee, status, created_at, updated_at, closed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.id)
    .bind(&t.user_id)
    .bind(&t.subject)
    .bind(&t.order_id)
    .bind(&t.assignee)
    .bind(t.status.as_str())
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.closed_at)
    .execute(&mut **tx)
    .await?;
    for m in &t.messages {
        insert_message(tx, &t.id, m).await?;
    }
    Ok(())
}

/// Appends a message to a ticket's conversation.
pub async fn insert_message(tx: &mut Tx, ticket_id: &str, m: &Message) -> Result<(), Error> {
    platform::db::query(
        "INSERT INTO ticket_messages (id, ticket_id, author_id, author_role, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&m.id)
    .bind(ticket_id)
    .bind(&m.author_id)
    .bind(m.author_role.as_str())
    .bind(&m.body)
    .bind(m.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A ticket with its conversation, locked for the rest of `tx` (for a change).
pub async fn lock(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<Ticket>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets WHERE id = $1{}",
        dialect.row_lock()
    );
    let Some(row) = platform::db::query(&sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let mut t = ticket(&row)?;
    t.messages = messages(&mut **tx, id).await?;
    Ok(Some(t))
}

/// A ticket with its conversation.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Ticket>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE id = $1");
    let Some(row) = platform::db::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut t = ticket(&row)?;
    t.messages = messages(&mut *conn, id).await?;
    Ok(Some(t))
}

async fn messages<'c>(ex: impl Executor<'c>, ticket_id: &str) -> Result<Vec<Message>, Error> {
    platform::db::query(
        "SELECT id, author_id, author_role, body, created_at FROM ticket_messages \
         WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(ticket_id)
    .fetch_all(ex)
    .await?
    .iter()
    .map(message)
    .collect()
}

/// Writes a ticket's state back, if it is still in the status `was` (the state machine
/// moved it from there); returns whether it was.
pub async fn update(tx: &mut Tx, t: &Ticket, was: TicketStatus) -> Result<bool, Error> {
    let done = platform::db::query(
        "UPDATE tickets SET status = $1, assignee = $2, updated_at = $3, closed_at = $4 \
         WHERE id = $5 AND status = $6",
    )
    .bind(t.status.as_str())
    .bind(&t.assignee)
    .bind(t.updated_at)
    .bind(t.closed_at)
    .bind(&t.id)
    .bind(was.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One page of tickets matching `filter`, newest first, after the ticket `after`
/// (without their conversations).
pub async fn list<'c>(
    ex: impl Executor<'c>,
    filter: &TicketFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Ticket>, Error> {
    // Each condition is present or a no-op on a NULL parameter, so one SQL text serves
    // every combination of filters.
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets \
         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR assignee = $3) AND ($4 IS NULL OR id < $4) \
         ORDER BY id DESC LIMIT $5"
    );
    platform::db::query(&sql)
        .bind(&filter.user_id)
        .bind(filter.status.map(TicketStatus::as_str))
        .bind(&filter.assignee)
        .bind(after)
        .bind(limit)
        .fetch_all(ex)
        .await?
        .iter()
        .map(ticket)
        .collect()
}

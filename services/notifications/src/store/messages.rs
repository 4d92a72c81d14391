//! The messages: one row per [`Message`] (and one per file it carries), the sender's
//! claim, and the conditional updates that record its transitions.
//!
//! A message row counts its files (`attachments`); they are read, in a second query,
//! only for the rows that have some, and a row whose files are not all there is a
//! decode error (never an email quietly sent without its report). Files are stored as
//! base64 text, the one portable type for bytes across both dialects.
//!
//! Claiming due rows is one conditional `UPDATE … RETURNING` that moves
//! `next_attempt_at` past a lease: under PostgreSQL a second replica racing for the
//! same row re-checks the condition after the first one's update and skips it; under
//! SQLite the single writer serializes them. Every status condition comes from
//! [`Transition`]: the status a transition starts from is the one a row must still
//! have for its result to be written.

use std::collections::HashMap;

use data_encoding::BASE64;
use platform::db::{Conn, Executor, Reader, Row, Tx};

use super::parsed;
use crate::domain::{
    Attachment, Category, Channel, Composed, Content, Delivery, Message, Origin, Status,
    Transition, Transport,
};

const MESSAGE_COLUMNS: &str = "id, dedupe_key, user_id, template_id, channel, category, \
    recipient, subject, body, html, status, attempts, last_error, next_attempt_at, transport, \
    created_at, sent_at, event_type, event_subject, event_time, attachments";

/// Message ids bound in one `IN` list when their files are read, well under either
/// dialect's limit on bound values.
const IDS_PER_QUERY: usize = 500;

/// Files by message id, each message's in order, or why one of them cannot be read
/// (which makes only that message unreadable).
type Files = HashMap<String, Result<Vec<Attachment>, platform::db::Error>>;

/// Whether the message in `row` counts files (an unreadable count reads as some, so
/// [`message_from`] reports it).
fn has_files(row: &Row) -> bool {
    row.try_get::<i64, _>("attachments")
        .map_or(true, |n| n != 0)
}

/// The files of the messages in `rows` that count some, read on `conn`.
async fn files_of(conn: &mut Conn, rows: &[Row]) -> Result<Files, platform::db::Error> {
    let ids: Vec<String> = rows
        .iter()
        .filter(|row| has_files(row))
        .filter_map(|row| row.try_get::<String, _>("id").ok())
        .collect();
    let mut files = Files::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let sql = format!(
            "SELECT notification_id, file_name, content_type, content_base64 \
             FROM notification_attachments WHERE notification_id IN {} \
             ORDER BY notification_id, position",
            platform::db::in_list(1, chunk.len())
        );
        let mut query = platform::db::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("notification_id")?;
            let file = attachment_from(&row);
            let entry = files.entry(id).or_insert_with(|| Ok(Vec::new()));
            match (entry, file) {
                (Ok(list), Ok(file)) => list.push(file),
                (entry @ Ok(_), Err(err)) => *entry = Err(err),
                // The message is unreadable already; its first reason stands.
                (Err(_), _) => {}
            }
        }
    }
    Ok(files)
}

/// [`files_of`] on a connection of the read side, leased only when a row has files.
async fn files_on(reader: &Reader, rows: &[Row]) -> Result<Files, platform::db::Error> {
    if !rows.iter().any(has_files) {
        return Ok(Files::new());
    }
    let mut conn = reader.acquire().await?;
    files_of(&mut conn, rows).await
}

fn attachment_from(row: &Row) -> Result<Attachment, platform::db::Error> {
    let encoded: String = row.try_get("content_base64")?;
    let content = platform::db::decoded("content_base64", BASE64.decode(encoded.as_bytes()))?;
    Ok(Attachment::restore(
        row.try_get("file_name")?,
        row.try_get("content_type")?,
        content,
    ))
}

/// The status a claimable row has, as an SQL literal rather than a bound value: the
/// due-message index is partial (`WHERE status = 'queued'`), and a planner can match
/// it only against the literal.
fn claimable() -> &'static str {
    Transition::Claim.from().as_str()
}

/// The message in `row`, with its files taken from `files`.
fn message_from(row: &Row, files: &mut Files) -> Result<Message, platform::db::Error> {
    let id: String = row.try_get("id")?;
    let counted: i64 = row.try_get("attachments")?;
    let attachments = files.remove(&id).transpose()?.unwrap_or_default();
    if i64::try_from(attachments.len()).ok() != Some(counted) {
        return Err(platform::db::Error::undecodable(
            "attachments",
            format!(
                "the message counts {counted} files and {} are stored",
                attachments.len()
            ),
        ));
    }
    let attempts: i64 = row.try_get("attempts")?;
    let transport: Option<String> = row.try_get("transport")?;
    let event_type: Option<String> = row.try_get("event_type")?;
    let event_subject: Option<String> = row.try_get("event_subject")?;
    let event_time: Option<i64> = row.try_get("event_time")?;
    let origin = match (event_type, event_subject) {
        (Some(event_type), Some(subject)) => Some(Origin {
            event_type,
            subject,
            time: event_time,
        }),
        (None, None) if event_time.is_none() => None,
        // Written together from one `Origin`.
        _ => {
            return Err(platform::db::Error::Decode(
                "a message names only part of the event behind it".into(),
            ));
        }
    };
    let composed = Composed {
        id,
        dedupe_key: row.try_get("dedupe_key")?,
        user_id: row.try_get("user_id")?,
        template_id: row.try_get("template_id")?,
        channel: parsed(row, "channel", Channel::parse)?,
        category: parsed(row, "category", Category::parse)?,
        to: row.try_get("recipient")?,
        content: Content {
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            html: row.try_get("html")?,
        },
        attachments,
        origin,
        created_at: row.try_get("created_at")?,
    };
    let delivery = Delivery {
        status: parsed(row, "status", Status::parse)?,
        attempts: u32::try_from(attempts).map_err(|err| platform::db::Error::ColumnDecode {
            column: "attempts".into(),
            source: Box::new(err),
        })?,
        last_error: row.try_get("last_error")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        transport: transport
            .map(|raw| {
                Transport::parse(&raw)
                    .ok_or_else(|| platform::db::Error::unknown("transport", &raw))
            })
            .transpose()?,
        sent_at: row.try_get("sent_at")?,
    };
    Ok(Message::restore(composed, delivery))
}

/// Inserts a message unless one with its dedupe key exists; returns whether it was
/// inserted.
pub async fn insert_message(tx: &mut Tx, message: &Message) -> Result<bool, platform::db::Error> {
    let (m, d) = (message.composed(), message.delivery());
    let origin = m.origin.as_ref();
    let inserted = platform::db::query(&format!(
        "INSERT INTO notifications ({MESSAGE_COLUMNS}, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $16) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(&m.id)
    .bind(&m.dedupe_key)
    .bind(&m.user_id)
    .bind(&m.template_id)
    .bind(m.channel.as_str())
    .bind(m.category.as_str())
    .bind(&m.to)
    .bind(&m.content.subject)
    .bind(&m.content.body)
    .bind(&m.content.html)
    .bind(d.status.as_str())
    .bind(i64::from(d.attempts))
    .bind(&d.last_error)
    .bind(d.next_attempt_at)
    .bind(d.transport.map(Transport::as_str))
    .bind(m.created_at)
    .bind(d.sent_at)
    .bind(origin.map(|o| o.event_type.as_str()))
    .bind(origin.map(|o| o.subject.as_str()))
    .bind(origin.and_then(|o| o.time))
    .bind(i64::try_from(m.attachments.len()).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Ok(false);
    }
    for (position, file) in m.attachments.iter().enumerate() {
        platform::db::query(
            "INSERT INTO notification_attachments \
             (notification_id, position, file_name, content_type, content_base64) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&m.id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(file.file_name())
        .bind(file.content_type())
        .bind(BASE64.encode(file.content()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// The messages in `rows`, with their files, read on `reader`.
async fn messages_on(reader: &Reader, rows: &[Row]) -> Result<Vec<Message>, platform::db::Error> {
    let mut files = files_on(reader, rows).await?;
    rows.iter()
        .map(|row| message_from(row, &mut files))
        .collect()
}

/// A message by id.
pub async fn message(reader: &Reader, id: &str) -> Result<Option<Message>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_all(reader)
    .await?;
    Ok(messages_on(reader, &rows).await?.into_iter().next())
}

/// A user's messages, newest first, before id `before`, optionally of one status.
pub async fn list_for_user(
    reader: &Reader,
    user_id: &str,
    status: Option<Status>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Message>, platform::db::Error> {
    // `~` sorts after every id character, so "before ~" is "from the newest".
    let rows = platform::db::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM notifications WHERE user_id = $1 AND id < $2 \
         AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(user_id)
    .bind(before.unwrap_or("~"))
    .bind(status.map_or("", Status::as_str))
    .bind(limit)
    .fetch_all(reader)
    .await?;
    messages_on(reader, &rows).await
}

/// Messages delivered to the local outbox, newest first, before id `before`.
pub async fn list_outbox(
    reader: &Reader,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Message>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM notifications WHERE transport = $1 \
         AND id < $2 ORDER BY id DESC LIMIT $3"
    ))
    .bind(Transport::Outbox.as_str())
    .bind(before.unwrap_or("~"))
    .bind(limit)
    .fetch_all(reader)
    .await?;
    messages_on(reader, &rows).await
}

/// When the earliest claimable message is due (or its claim lapses), epoch ms.
pub async fn next_due<'e>(ex: impl Executor<'e>) -> Result<Option<i64>, platform::db::Error> {
    platform::db::query_scalar(&format!(
        "SELECT MIN(next_attempt_at) FROM notifications WHERE status = '{}'",
        claimable()
    ))
    .fetch_one(ex)
    .await
}

/// What a claim took.
#[derive(Debug, Default)]
pub struct Claimed {
    /// The claimed messages, each with its new attempt count.
    pub messages: Vec<Message>,
    /// Claimed rows that cannot be read, by id: they are not delivered (the sender gives
    /// up on them), and one corrupt row never holds up the rest.
    pub unreadable: Vec<(String, platform::db::Error)>,
}

/// Claims up to `limit` due messages ([`Transition::Claim`]): each gets one more
/// attempt and is hidden from other senders until `lease_until`.
pub async fn claim_due(
    tx: &mut Tx,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Claimed, platform::db::Error> {
    let from = claimable();
    let rows = platform::db::query(&format!(
        "UPDATE notifications SET next_attempt_at = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE status = '{from}' AND next_attempt_at <= $2 AND id IN (\
           SELECT id FROM notifications WHERE status = '{from}' AND next_attempt_at <= $2 \
           ORDER BY next_attempt_at, id LIMIT $3) \
         RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let mut files = files_of(tx, &rows).await?;
    let mut claimed = Claimed::default();
    for row in &rows {
        match message_from(row, &mut files) {
            Ok(message) => claimed.messages.push(message),
            Err(err) => claimed
                .unreadable
                .push((row.try_get("id").unwrap_or_default(), err)),
        }
    }
    Ok(claimed)
}

/// Gives up on a claimed row that cannot be read ([`Transition::GiveUp`]): it is never
/// delivered, so it is failed at once (with why, for an operator) instead of being
/// claimed again at every lease. The stored values stay as they are for inspection.
pub async fn give_up_unreadable(
    tx: &mut Tx,
    id: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE notifications SET status = $1, last_error = $2, updated_at = $3 \
         WHERE id = $4 AND status = $5",
    )
    .bind(Transition::GiveUp.to().as_str())
    .bind("the stored message cannot be read")
    .bind(now)
    .bind(id)
    .bind(Transition::GiveUp.from().as_str())
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Writes `message` after `transition` ended its attempt, if the claim is still this
/// sender's: the row is still in the status the transition starts from, with the
/// attempt count of the claim. Returns whether it was.
pub async fn settle(
    tx: &mut Tx,
    message: &Message,
    transition: Transition,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let delivery = message.delivery();
    let updated = platform::db::query(
        "UPDATE notifications SET status = $1, last_error = $2, next_attempt_at = $3, \
         transport = $4, sent_at = $5, updated_at = $6 \
         WHERE id = $7 AND attempts = $8 AND status = $9",
    )
    .bind(delivery.status.as_str())
    .bind(&delivery.last_error)
    .bind(delivery.next_attempt_at)
    .bind(delivery.transport.map(Transport::as_str))
    .bind(delivery.sent_at)
    .bind(now)
    .bind(message.id())
    .bind(i64::from(delivery.attempts))
    .bind(transition.from().as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Cancels a deleted user's queued messages ([`Transition::Cancel`]) and redacts the
/// address and text of all of them.
pub(super) async fn cancel_and_redact(
    tx: &mut Tx,
    user_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE notifications SET status = $3, last_error = 'the recipient was deleted', \
         updated_at = $2 WHERE user_id = $1 AND status = $4",
    )
    .bind(user_id)
    .bind(now)
    .bind(Transition::Cancel.to().as_str())
    .bind(Transition::Cancel.from().as_str())
    .execute(&mut **tx)
    .await?;
    platform::db::query(
        "DELETE FROM notification_attachments WHERE notification_id IN \
         (SELECT id FROM notifications WHERE user_id = $1)",
    )
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    platform::db::query(
        "UPDATE notifications SET recipient = '', subject = NULL, body = '', html = NULL, \
         attachments = 0, updated_at = $2 WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;
    use crate::MIGRATIONS;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "notifications");
        let db = Db::connect(&url, &MIGRATIONS).await.expect("db");
        (dir, db)
    }

    fn queued(id: &str, created_at: i64) -> Message {
        Message::queue(Composed {
            id: id.into(),
            dedupe_key: format!("test:{id}"),
            user_id: "u1".into(),
            template_id: "welcome.email".into(),
            channel: Channel::Email,
            category: Category::Transactional,
            to: "u1@example.com".into(),
            content: Content {
                subject: Some("Hi".into()),
                body: "Hello".into(),
                html: None,
            },
            attachments: Vec::new(),
            origin: Some(Origin {
                event_type: "identity.user.created.v1".into(),
                subject: "u1".into(),
                time: Some(created_at - 5),
            }),
            created_at,
        })
    }

    async fn insert(db: &Db, message: &Message) {
        let mut tx = db.begin().await.expect("begin");
        assert!(insert_message(&mut tx, message).await.expect("insert"));
        tx.commit().await.expect("commit");
    }

    async fn corrupt(db: &Db, id: &str, column: &str, value: &str) {
        let mut tx = db.begin().await.expect("begin");
        platform::db::query(&format!(
            "UPDATE notifications SET {column} = $1 WHERE id = $2"
        ))
        .bind(value)
        .bind(id)
        .execute(&mut *tx)
        .await
        .expect("update");
        tx.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn a_message_reads_back_as_it_was_written() {
        let (_dir, db) = db().await;
        let message = queued("n1", 1_000);
        insert(&db, &message).await;
        let read = super::message(db.reader(), "n1").await.expect("read");
        assert_eq!(read, Some(message));
    }

    fn with_files(id: &str) -> Message {
        let mut composed = queued(id, 1_000).composed().clone();
        composed.attachments = vec![
            Attachment::new(
                "report.pdf",
                "application/pdf",
                vec![0, 255, 37, 80, 68, 70],
            )
            .expect("file"),
            Attachment::new(
                "report.csv",
                "text/csv; charset=utf-8",
                b"a,b\r\n1,2\n".to_vec(),
            )
            .expect("file"),
        ];
        Message::queue(composed)
    }

    #[tokio::test]
    async fn a_message_with_files_reads_back_with_them_in_order() {
        let (_dir, db) = db().await;
        let message = with_files("n1");
        insert(&db, &message).await;
        insert(&db, &queued("n2", 1_000)).await;
        let read = super::message(db.reader(), "n1").await.expect("read");
        assert_eq!(read.as_ref(), Some(&message));
        let listed = list_for_user(db.reader(), "u1", None, None, 10)
            .await
            .expect("list");
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1], message, "oldest last");
        assert!(listed[0].composed().attachments.is_empty());
        let mut tx = db.begin().await.expect("begin");
        let claimed = claim_due(&mut tx, 2_000, 9_000, 10).await.expect("claim");
        tx.commit().await.expect("commit");
        assert_eq!(claimed.messages.len(), 2);
        let n1 = claimed
            .messages
            .iter()
            .find(|m| m.id() == "n1")
            .expect("claimed");
        assert_eq!(n1.composed().attachments, message.composed().attachments);
        assert_eq!(n1.outgoing().attachments, message.composed().attachments);
    }

    #[tokio::test]
    async fn a_message_whose_files_are_missing_or_corrupt_is_unreadable_alone() {
        let (_dir, db) = db().await;
        insert(&db, &with_files("n1")).await;
        insert(&db, &with_files("n2")).await;
        insert(&db, &queued("n3", 1_000)).await;
        let mut tx = db.begin().await.expect("begin");
        platform::db::query(
            "DELETE FROM notification_attachments WHERE notification_id = 'n1' AND position = 1",
        )
        .execute(&mut *tx)
        .await
        .expect("delete");
        platform::db::query(
            "UPDATE notification_attachments SET content_base64 = '!!' WHERE notification_id = 'n2'",
        )
        .execute(&mut *tx)
        .await
        .expect("update");
        tx.commit().await.expect("commit");
        for id in ["n1", "n2"] {
            let err = super::message(db.reader(), id)
                .await
                .expect_err("never sent without its files");
            assert!(
                matches!(&err, platform::db::Error::ColumnDecode { .. }),
                "{id}: {err:?}"
            );
        }
        let mut tx = db.begin().await.expect("begin");
        let claimed = claim_due(&mut tx, 2_000, 9_000, 10).await.expect("claim");
        tx.commit().await.expect("commit");
        let ids: Vec<&str> = claimed.messages.iter().map(Message::id).collect();
        assert_eq!(ids, ["n3"]);
        let mut unreadable: Vec<&str> = claimed
            .unreadable
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        unreadable.sort_unstable();
        assert_eq!(unreadable, ["n1", "n2"]);
    }

    #[tokio::test]
    async fn a_row_with_an_unknown_status_is_a_decode_error() {
        let (_dir, db) = db().await;
        insert(&db, &queued("n1", 1_000)).await;
        corrupt(&db, "n1", "status", "leased").await;
        let err = super::message(db.reader(), "n1")
            .await
            .expect_err("an unknown status is not read as anything");
        assert!(
            matches!(&err, platform::db::Error::ColumnDecode { column, .. } if column == "status"),
            "{err:?}"
        );
        let listed = list_for_user(db.reader(), "u1", None, None, 10).await;
        assert!(listed.is_err(), "a listing surfaces it too");
    }

    #[tokio::test]
    async fn an_unreadable_claimed_row_does_not_hold_up_the_others() {
        let (_dir, db) = db().await;
        insert(&db, &queued("n1", 1_000)).await;
        insert(&db, &queued("n2", 1_000)).await;
        corrupt(&db, "n1", "channel", "fax").await;
        let mut tx = db.begin().await.expect("begin");
        let claimed = claim_due(&mut tx, 2_000, 9_000, 10).await.expect("claim");
        tx.commit().await.expect("commit");
        let ids: Vec<&str> = claimed.messages.iter().map(Message::id).collect();
        assert_eq!(ids, ["n2"]);
        assert_eq!(claimed.messages[0].delivery().attempts, 1);
        assert_eq!(claimed.messages[0].delivery().next_attempt_at, 9_000);
        assert_eq!(claimed.unreadable.len(), 1);
        assert_eq!(claimed.unreadable[0].0, "n1");
        assert_eq!(next_due(db.reader()).await.expect("due"), Some(9_000));
    }

    #[tokio::test]
    async fn an_unreadable_claimed_row_is_given_up_once_and_not_claimed_again() {
        let (_dir, db) = db().await;
        insert(&db, &queued("n1", 1_000)).await;
        corrupt(&db, "n1", "channel", "fax").await;
        let mut tx = db.begin().await.expect("begin");
        let claimed = claim_due(&mut tx, 2_000, 9_000, 10).await.expect("claim");
        assert!(
            give_up_unreadable(&mut tx, &claimed.unreadable[0].0, 2_000)
                .await
                .expect("give up")
        );
        tx.commit().await.expect("commit");
        let (status, error): (String, Option<String>) =
            platform::db::query("SELECT status, last_error FROM notifications WHERE id = 'n1'")
                .fetch_one(db.reader())
                .await
                .map(|row| {
                    (
                        row.try_get("status").expect("status"),
                        row.try_get("last_error").expect("error"),
                    )
                })
                .expect("row");
        assert_eq!(status, "failed");
        assert_eq!(error.as_deref(), Some("the stored message cannot be read"));
        let mut tx = db.begin().await.expect("begin");
        let again = claim_due(&mut tx, 20_000, 30_000, 10).await.expect("claim");
        assert!(
            !give_up_unreadable(&mut tx, "n1", 20_000)
                .await
                .expect("give up")
        );
        tx.commit().await.expect("commit");
        assert!(again.messages.is_empty() && again.unreadable.is_empty());
    }

    #[tokio::test]
    async fn a_settlement_is_written_only_while_the_claim_holds() {
        let (_dir, db) = db().await;
        insert(&db, &queued("n1", 1_000)).await;
        let mut tx = db.begin().await.expect("begin");
        let mut claimed = claim_due(&mut tx, 2_000, 9_000, 10).await.expect("claim");
        tx.commit().await.expect("commit");
        let mut message = claimed.messages.remove(0);
        let mut stale = message.clone();

        // Another sender took it over after the lease lapsed: one more attempt.
        let mut tx = db.begin().await.expect("begin");
        let taken = claim_due(&mut tx, 9_000, 20_000, 10).await.expect("claim");
        tx.commit().await.expect("commit");
        assert_eq!(taken.messages.len(), 1);
        let transition = stale.mark_sent(Transport::Smtp, 9_500).expect("queued");
        let mut tx = db.begin().await.expect("begin");
        assert!(
            !settle(&mut tx, &stale, transition, 9_500)
                .await
                .expect("settle"),
            "the lapsed claim writes nothing"
        );
        tx.commit().await.expect("commit");

        message = taken.messages.into_iter().next().unwrap_or(message);
        let transition = message
            .give_up("550 no such mailbox".into())
            .expect("queued");
        let mut tx = db.begin().await.expect("begin");
        assert!(
            settle(&mut tx, &message, transition, 10_000)
                .await
                .expect("settle")
        );
        tx.commit().await.expect("commit");
        let read = super::message(db.reader(), "n1")
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read.status(), Status::Failed);
        assert_eq!(
            read.delivery().last_error.as_deref(),
            Some("550 no such mailbox")
        );
        assert_eq!(read.delivery().attempts, 2);
    }
}

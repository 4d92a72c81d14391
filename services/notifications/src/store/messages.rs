//! The messages: one row per [`Message`], the sender's claim, and the conditional
//! updates that record its transitions.
//!
//! Claiming due rows is one conditional `UPDATE … RETURNING` that moves
//! `next_attempt_at` past a lease: under PostgreSQL a second replica racing for the
//! same row re-checks the condition after the first one's update and skips it; under
//! SQLite the single writer serializes them. Every status condition comes from
//! [`Transition`]: the status a transition starts from is the one a row must still
//! have for its result to be written.

use platform::db::{Executor, Row, Tx};

use super::parsed;
use crate::domain::{
    Category, Channel, Composed, Content, Delivery, Message, Origin, Status, Transition, Transport,
};

const MESSAGE_COLUMNS: &str = "id, dedupe_key, user_id, template_id, channel, category, \
    recipient, subject, body, html, status, attempts, last_error, next_attempt_at, transport, \
    created_at, sent_at, event_type, event_subject, event_time";

/// The status a claimable row has, as an SQL literal rather than a bound value: the
/// due-message index is partial (`WHERE status = 'queued'`), and a planner can match
/// it only against the literal.
fn claimable() -> &'static str {
    Transition::Claim.from().as_str()
}

fn message_from(row: &Row) -> Result<Message, platform::db::Error> {
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
        id: row.try_get("id")?,
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
         $20, $16) \
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
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A message by id.
pub async fn message<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Message>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(message_from)
    .transpose()
}

/// A user's messages, newest first, before id `before`, optionally of one status.
pub async fn list_for_user<'e>(
    ex: impl Executor<'e>,
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
    .fetch_all(ex)
    .await?;
    rows.iter().map(message_from).collect()
}

/// Messages delivered to the local outbox, newest first, before id `before`.
pub async fn list_outbox<'e>(
    ex: impl Executor<'e>,
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
    .fetch_all(ex)
    .await?;
    rows.iter().map(message_from).collect()
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
    let mut claimed = Claimed::default();
    for row in &rows {
        match message_from(row) {
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
        "UPDATE notifications SET recipient = '', subject = NULL, body = '', html = NULL, \
         updated_at = $2 WHERE user_id = $1",
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

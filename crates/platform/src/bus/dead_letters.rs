//! Dead letters: the events a consumer gave up on, kept in its own database, and what
//! an operator does with them — list them, apply one once more (replay), or give up on
//! one for good (discard).
//!
//! A consumer writes a dead letter after its last failed attempt ([`super::consumer`]),
//! with the whole CloudEvents envelope, the error chain as one text (as the logs show
//! it) and, since that text cannot be split back reliably (a cause's own message may
//! hold `": "`), each cause apart. Every service serves its letters to admins under
//! [`PATH`] ([`desk`]); the gateway merges every service's list into one.
//!
//! A replay applies the event through the consumer's handler in one transaction with
//! the mark that it was replayed (and the inbox row that keeps any later redelivery
//! harmless), so the effect happens once or the letter stays waiting; a replay that
//! fails again only counts one more attempt and records the new error. Retention
//! ([`crate::retention`]) deletes replayed letters `dead_letter_days` after their replay
//! and never a waiting one; discarding deletes a letter at once, replayed or not: the
//! operator has dealt with it.

mod desk;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{Envelope, HandlerError, Subscription};
use crate::db::{Db, Row, Tx, query, query_scalar};
use crate::http::{List, Page, encode_cursor};

pub use desk::{DeadLetterDesk, DeadLetterQuery, api, router};

/// Where every service serves its dead letters (and the gateway all of them).
pub const PATH: &str = "/api/v1/admin/dead-letters";

/// Whether a dead letter still waits for someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterStatus {
    /// Not replayed yet.
    Waiting,
    /// Replayed: its event took effect (or was found applied already).
    Replayed,
}

impl DeadLetterStatus {
    /// The status named `raw` (`waiting`, `replayed`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "waiting" => Some(Self::Waiting),
            "replayed" => Some(Self::Replayed),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Replayed => "replayed",
        }
    }
}

/// An event a consumer gave up on, as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    /// The dead letter's id (UUIDv7, unique across services).
    pub id: String,
    /// The service whose database holds it.
    pub service: String,
    /// The consumer that failed (the consuming service's name).
    pub consumer: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type (`unknown` when the message was not an envelope).
    pub event_type: String,
    /// The stored CloudEvents envelope (an object); for a message that was not JSON,
    /// its text.
    pub event: serde_json::Value,
    /// The last error with its causes, as the logs show it.
    pub error: String,
    /// The same causes one by one, outermost first.
    pub error_chain: Vec<String>,
    /// Attempts made, replays included.
    pub attempts: i64,
    /// When the consumer gave up on it (RFC 3339).
    pub failed_at: String,
    /// When it was replayed, if it was (RFC 3339).
    pub replayed_at: Option<String>,
    /// `waiting` or `replayed`.
    pub status: DeadLetterStatus,
}

/// An event a consumer gave up on (the name the bus tests know it by).
pub type DeadLetter = DeadLetterView;

impl DeadLetterView {
    /// The cursor of "the letters after this one" in a list newest first: what a
    /// service's list answers as `next_cursor` when this is its page's last item, and
    /// what the gateway passes a service to continue after an item it has shown.
    pub fn cursor_after(&self) -> String {
        encode_cursor(&position_of(self))
    }

    /// The order of every list of dead letters: newest first, ties by id, newest id
    /// first (the service's SQL and the gateway's merge of several services agree).
    pub fn newest_first(a: &Self, b: &Self) -> Ordering {
        let at = |letter: &Self| crate::time::parse_rfc3339(&letter.failed_at).unwrap_or(0);
        at(b).cmp(&at(a)).then_with(|| b.id.cmp(&a.id))
    }
}

/// Which dead letters a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only waiting or only replayed ones.
    pub status: Option<DeadLetterStatus>,
    /// Only events of this type.
    pub event_type: Option<String>,
}

/// The path and query of a desk's list (what the gateway asks each service, and
/// clients the gateway): `filter`, `limit` and the `cursor` to continue after.
pub fn list_uri(filter: &DeadLetterFilter, limit: u32, cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    if let Some(status) = filter.status {
        query.append_pair("status", status.as_str());
    }
    if let Some(event_type) = &filter.event_type {
        query.append_pair("event_type", event_type);
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", cursor);
    }
    format!("{PATH}?{}", query.finish())
}

/// The path of the dead letter `id`, or of what `then` names under it (`/replay`), with
/// the id escaped.
pub fn letter_path(id: &str, then: &str) -> String {
    let escaped: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    // `byte_serialize` writes a space as `+`, which a path would keep as a plus.
    format!("{PATH}/{}{then}", escaped.replace('+', "%20"))
}

/// The position after `letter` in a list, which its cursor encodes.
fn position_of(letter: &DeadLetterView) -> String {
    format!("{}|{}", letter.failed_at, letter.id)
}

/// The position a [`DeadLetterView::cursor_after`] cursor names, decoded by
/// [`crate::http::PageQuery::page`]: `(failed_at in ms, id)`; `None` when it is not one.
fn position(after: &str) -> Option<(i64, String)> {
    let (failed_at, id) = after.split_once('|')?;
    Some((crate::time::parse_rfc3339(failed_at)?, id.to_owned()))
}

/// Whether a page's cursor is one of this list's.
pub fn is_cursor(page: &Page) -> bool {
    page.after
        .as_deref()
        .is_none_or(|after| position(after).is_some())
}

const COLUMNS: &str = "id, consumer, event_id, event_type, body, error, causes, attempts, \
                       failed_at, replayed_at";

/// One page of the dead letters in `db` (owned by `service`), newest first.
pub async fn list(
    db: &Db,
    service: &str,
    filter: &DeadLetterFilter,
    page: &Page,
) -> Result<List<DeadLetterView>, crate::db::Error> {
    let (after_at, after_id) = page
        .after
        .as_deref()
        .and_then(position)
        .unwrap_or((i64::MAX, String::new()));
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM dead_letters \
         WHERE (failed_at < $1 OR (failed_at = $1 AND id < $2)) \
         AND ($3 = '' OR event_type = $3) \
         AND ($4 = '' OR ($4 = 'waiting' AND replayed_at IS NULL) \
              OR ($4 = 'replayed' AND replayed_at IS NOT NULL)) \
         ORDER BY failed_at DESC, id DESC LIMIT $5"
    ))
    .bind(after_at)
    .bind(after_id)
    .bind(filter.event_type.as_deref().unwrap_or(""))
    .bind(filter.status.map_or("", DeadLetterStatus::as_str))
    .bind(page.fetch_limit())
    .fetch_all(db.reader())
    .await?;
    let letters = rows
        .iter()
        .map(|row| view(row, service))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(List::from_rows(letters, page, position_of))
}

/// The dead letter `id` in `db` (owned by `service`), if there is one.
pub async fn letter(
    db: &Db,
    service: &str,
    id: &str,
) -> Result<Option<DeadLetterView>, crate::db::Error> {
    let row = query(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.map(|row| view(&row, service)).transpose()
}

/// The dead letters in `db`, newest first, at most `limit` (each named by its consumer).
pub async fn dead_letters(db: &Db, limit: i64) -> Result<Vec<DeadLetter>, crate::db::Error> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let consumer: String = row.try_get("consumer")?;
            view(row, &consumer)
        })
        .collect()
}

fn view(row: &Row, service: &str) -> Result<DeadLetterView, crate::db::Error> {
    let body: String = row.try_get("body")?;
    let error: String = row.try_get("error")?;
    let causes: Option<String> = row.try_get("causes")?;
    let replayed_at: Option<i64> = row.try_get("replayed_at")?;
    Ok(DeadLetterView {
        id: row.try_get("id")?,
        service: service.to_owned(),
        consumer: row.try_get("consumer")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        // A message that was not JSON (an unreadable envelope) is shown as its text.
        event: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        error_chain: causes
            .and_then(|causes| serde_json::from_str(&causes).ok())
            // Written before the causes were kept apart: the whole text is one.
            .unwrap_or_else(|| vec![error.clone()]),
        error,
        attempts: row.try_get("attempts")?,
        failed_at: crate::time::rfc3339(row.try_get("failed_at")?),
        replayed_at: replayed_at.map(crate::time::rfc3339),
        status: if replayed_at.is_some() {
            DeadLetterStatus::Replayed
        } else {
            DeadLetterStatus::Waiting
        },
    })
}

/// Why a dead letter was not replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// There is no dead letter with that id.
    #[error("dead letter not found")]
    NotFound,
    /// It was replayed already.
    #[error("the dead letter was replayed already")]
    Replayed,
    /// It belongs to a consumer this service does not run (or it runs none).
    #[error("the dead letter belongs to the consumer {0}, which does not run here")]
    Foreign(String),
    /// The event failed again; the letter counts the attempt and keeps the new error.
    #[error("the event failed again")]
    Failed(#[source] HandlerError),
    /// The database failed around the replay; nothing changed.
    #[error("database error")]
    Sql(#[from] crate::db::Error),
}

/// Applies the dead letter `id` once more through `subscription`'s handler: its effect
/// and the letter's `replayed_at` commit together, or neither does and the failure is
/// counted on the letter ([`ReplayError::Failed`]).
pub async fn replay(subscription: &Subscription, id: &str) -> Result<(), ReplayError> {
    let db = &subscription.db;
    let mut tx = db.begin().await?;
    // Marking first takes the row (PostgreSQL) or the writer (SQLite) for the whole
    // replay, so two replays of one letter cannot both apply it.
    let marked = query(
        "UPDATE dead_letters SET replayed_at = $1 \
         WHERE id = $2 AND consumer = $3 AND replayed_at IS NULL",
    )
    .bind(crate::time::now_millis())
    .bind(id)
    .bind(&subscription.consumer)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if marked == 0 {
        tx.rollback().await?;
        return Err(why_not_waiting(db, id, Some(&subscription.consumer)).await?);
    }
    let body: String = query_scalar("SELECT body FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    match apply(subscription, &mut tx, &body).await {
        Ok(applied) => {
            tx.commit().await?;
            if let Some(event) = applied {
                if let Some(outbox) = &subscription.outbox {
                    outbox.wake();
                }
                subscription.handler.applied(&event);
            }
            tracing::info!(consumer = %subscription.consumer, dead_letter = id, "dead letter replayed");
            Ok(())
        }
        Err(err) => {
            tx.rollback().await?;
            let error = crate::telemetry::error_chain(&err);
            tracing::warn!(consumer = %subscription.consumer, dead_letter = id, error = %error, "replayed dead letter failed again");
            let mut tx = db.begin().await?;
            query(
                "UPDATE dead_letters SET attempts = attempts + 1, error = $1, causes = $2 \
                 WHERE id = $3 AND replayed_at IS NULL",
            )
            .bind(error)
            .bind(causes_json(&causes(&err)))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Err(ReplayError::Failed(err))
        }
    }
}

/// Why the letter `id` cannot be replayed by `consumer` (`None`: no consumer runs).
pub(crate) async fn why_not_waiting(
    db: &Db,
    id: &str,
    consumer: Option<&str>,
) -> Result<ReplayError, crate::db::Error> {
    let row = query("SELECT consumer, replayed_at FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    let Some(row) = row else {
        return Ok(ReplayError::NotFound);
    };
    let owner: String = row.try_get("consumer")?;
    Ok(if row.try_get::<Option<i64>, _>("replayed_at")?.is_some() {
        ReplayError::Replayed
    } else if consumer != Some(owner.as_str()) {
        ReplayError::Foreign(owner)
    } else {
        // Replayed or discarded between the two statements.
        ReplayError::NotFound
    })
}

/// The letter's event applied in `tx` (with its inbox row); `None` when it took no
/// effect now (a type the handler ignores, or applied before).
async fn apply(
    subscription: &Subscription,
    tx: &mut Tx,
    body: &str,
) -> Result<Option<Envelope>, HandlerError> {
    let event: Envelope = serde_json::from_str(body)?;
    if !subscription.handler.handles(&event.event_type)
        || !super::consumer::claim_in_inbox(tx, subscription, &event).await?
    {
        return Ok(None);
    }
    subscription.handler.handle(tx, &event).await?;
    Ok(Some(event))
}

/// Applies a dead-lettered event once more through `subscription`'s handler (see
/// [`replay`]). Returns `Ok(false)` when there is no such dead letter waiting.
pub async fn replay_dead_letter(
    subscription: &Subscription,
    id: &str,
) -> Result<bool, HandlerError> {
    match replay(subscription, id).await {
        Ok(()) => Ok(true),
        Err(ReplayError::NotFound | ReplayError::Replayed | ReplayError::Foreign(_)) => Ok(false),
        Err(ReplayError::Failed(err)) => Err(err),
        Err(ReplayError::Sql(err)) => Err(HandlerError::Sql(err)),
    }
}

/// Deletes the dead letter `id` from `db`; `false` when there was none.
pub async fn discard(db: &Db, id: &str) -> Result<bool, crate::db::Error> {
    let mut tx = db.begin().await?;
    let deleted = query("DELETE FROM dead_letters WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted > 0)
}

/// Records a message that could not even be parsed as an envelope (and moves the
/// cursor past it, if the consumer keeps one, in the same transaction).
pub(crate) async fn dead_letter_unreadable(
    subscription: &Subscription,
    event_id: &str,
    body: &str,
    err: &serde_json::Error,
    cursor: Option<(&str, i64)>,
) {
    let letter = Letter {
        event_id,
        event_type: "unknown",
        body,
        error: &format!("unreadable envelope: {err}"),
        causes: &["unreadable envelope".to_owned(), err.to_string()],
        attempts: 1,
    };
    let result = insert(subscription, &letter, cursor).await;
    if let Err(db_err) = result {
        tracing::error!(error = %db_err, event_id, "cannot write dead letter for unreadable message");
    }
}

/// Records `event` as given up on after `attempts` (and moves the cursor past it, if
/// the consumer keeps one, in the same transaction).
pub(crate) async fn store_dead_letter(
    subscription: &Subscription,
    event: &Envelope,
    attempts: u32,
    err: &HandlerError,
    cursor: Option<(&str, i64)>,
) -> Result<(), crate::db::Error> {
    let body = serde_json::to_string(event).map_err(|e| crate::db::Error::Encode(Box::new(e)))?;
    let letter = Letter {
        event_id: &event.id,
        event_type: &event.event_type,
        body: &body,
        error: &crate::telemetry::error_chain(err),
        causes: &causes(err),
        attempts,
    };
    insert(subscription, &letter, cursor).await
}

/// A dead letter about to be written.
struct Letter<'a> {
    event_id: &'a str,
    event_type: &'a str,
    body: &'a str,
    error: &'a str,
    causes: &'a [String],
    attempts: u32,
}

async fn insert(
    subscription: &Subscription,
    letter: &Letter<'_>,
    cursor: Option<(&str, i64)>,
) -> Result<(), crate::db::Error> {
    let mut tx = subscription.db.begin().await?;
    query(
        "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, causes, \
         attempts, failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(crate::ids::new_id())
    .bind(&subscription.consumer)
    .bind(letter.event_id)
    .bind(letter.event_type)
    .bind(letter.body)
    .bind(letter.error)
    .bind(causes_json(letter.causes))
    .bind(i64::from(letter.attempts))
    .bind(crate::time::now_millis())
    .execute(&mut *tx)
    .await?;
    if let Some((key, position)) = cursor {
        super::cursor::save_cursor_in(&mut tx, key, position).await?;
    }
    tx.commit().await
}

/// The causes of `err`, outermost first, each with its own words only: a message that
/// ends with its cause's (`"send failed: {0}"`) is cut before it, and one that is only
/// its cause's (a transparent wrapper) is left out. [`crate::telemetry::error_chain`]
/// joins the same chain into one text.
fn causes(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut causes = Vec::new();
    let mut current = Some(err);
    while let Some(error) = current {
        let text = error.to_string();
        let source = error.source();
        let own = match source.map(ToString::to_string) {
            Some(inner) if !inner.is_empty() && text.ends_with(&inner) => text
                [..text.len() - inner.len()]
                .trim_end_matches([':', ' '])
                .to_owned(),
            _ => text,
        };
        if !own.is_empty() {
            causes.push(own);
        }
        current = source;
    }
    causes
}

fn causes_json(causes: &[String]) -> String {
    serde_json::to_string(causes).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused: os error 111")]
    struct Refused;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot reach the ledger: {0}")]
    struct Echoing(#[source] Refused);

    #[derive(Debug, thiserror::Error)]
    #[error("payment failed")]
    struct Outer(#[source] Echoing);

    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct Transparent(Outer);

    #[test]
    fn causes_are_kept_apart_even_when_their_messages_hold_colons() {
        let err = Transparent(Outer(Echoing(Refused)));
        assert_eq!(
            causes(&err),
            vec![
                "payment failed".to_owned(),
                "cannot reach the ledger".to_owned(),
                "connection refused: os error 111".to_owned(),
            ]
        );
        assert_eq!(
            crate::telemetry::error_chain(&err),
            "payment failed: cannot reach the ledger: connection refused: os error 111"
        );
        let rejected = HandlerError::Rejected("sku bad sku!: must be letters".into());
        assert_eq!(causes(&rejected), vec!["sku bad sku!: must be letters"]);
    }

    fn letter(failed_at: i64, id: &str) -> DeadLetterView {
        DeadLetterView {
            id: id.into(),
            service: "catalog".into(),
            consumer: "catalog".into(),
            event_id: "e".into(),
            event_type: "t".into(),
            event: serde_json::Value::Null,
            error: "x".into(),
            error_chain: vec!["x".into()],
            attempts: 1,
            failed_at: crate::time::rfc3339(failed_at),
            replayed_at: None,
            status: DeadLetterStatus::Waiting,
        }
    }

    #[test]
    fn lists_are_newest_first_and_a_cursor_names_the_position_after_an_item() {
        // 1 s and 1.5 s: RFC 3339 drops a zero fraction, so text order would be wrong.
        let mut letters = [letter(1_000, "b"), letter(1_500, "a"), letter(1_500, "c")];
        letters.sort_by(DeadLetterView::newest_first);
        let ids: Vec<&str> = letters.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        let page = crate::http::PageQuery {
            limit: Some(2),
            cursor: Some(letters[1].cursor_after()),
        }
        .page()
        .expect("a cursor this API issued");
        assert!(is_cursor(&page));
        assert_eq!(
            page.after.as_deref().and_then(position),
            Some((1_500, "a".to_owned()))
        );
        let foreign = crate::http::PageQuery {
            limit: None,
            cursor: Some(encode_cursor("not a position")),
        }
        .page()
        .expect("decodes");
        assert!(!is_cursor(&foreign));
    }

    #[test]
    fn the_paths_of_a_desk_escape_what_they_carry() {
        let filter = DeadLetterFilter {
            status: Some(DeadLetterStatus::Waiting),
            event_type: Some("a b&c".into()),
        };
        assert_eq!(
            list_uri(&filter, 5, Some("x=y")),
            "/api/v1/admin/dead-letters?limit=5&status=waiting&event_type=a+b%26c&cursor=x%3Dy"
        );
        assert_eq!(
            list_uri(&DeadLetterFilter::default(), 20, None),
            "/api/v1/admin/dead-letters?limit=20"
        );
        assert_eq!(
            letter_path("a b/c?", "/replay"),
            "/api/v1/admin/dead-letters/a%20b%2Fc%3F/replay"
        );
    }

    #[test]
    fn a_status_is_named_as_the_api_names_it() {
        assert_eq!(
            DeadLetterStatus::parse("waiting"),
            Some(DeadLetterStatus::Waiting)
        );
        assert_eq!(
            DeadLetterStatus::parse("replayed"),
            Some(DeadLetterStatus::Replayed)
        );
        assert_eq!(DeadLetterStatus::parse("gone"), None);
        assert_eq!(
            serde_json::to_value(DeadLetterStatus::Replayed).ok(),
            Some(serde_json::json!("replayed"))
        );
    }
}

//! Notifications' SQL: the user directory and order map fed by events, parked events,
//! templates, preferences, and the notifications themselves with the sender's claim.
//!
//! Every statement is portable (SQLite and PostgreSQL). Claiming due rows is one
//! conditional `UPDATE … RETURNING` that moves `next_attempt_at` past a lease: under
//! PostgreSQL a second replica racing for the same row re-checks the condition after the
//! first one's update and skips it; under SQLite the single writer serializes them.

use contracts::Money;
use platform::db::{Executor, Row, Tx};

use crate::domain::{Channel, ChannelPreference};

/// A user as notifications knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// User id.
    pub id: String,
    /// Email address (empty once deleted).
    pub email: String,
    /// Display name (empty once deleted).
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the account was deleted.
    pub deleted: bool,
}

impl UserRecord {
    /// Whether the user holds the admin role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == platform::auth::ROLE_ADMIN)
    }
}

fn user_from(row: &Row) -> Result<UserRecord, platform::db::Error> {
    let roles: String = row.try_get("roles")?;
    Ok(UserRecord {
        id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        roles: roles.split_whitespace().map(str::to_owned).collect(),
        deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
    })
}

/// Inserts or refreshes a user (a deleted user stays deleted).
pub async fn upsert_user(
    tx: &mut Tx,
    user: &UserRecord,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO users (user_id, email, name, roles, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name, \
         roles = excluded.roles, updated_at = excluded.updated_at \
         WHERE users.deleted_at IS NULL",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.roles.join(" "))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A user by id.
pub async fn user<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
) -> Result<Option<UserRecord>, platform::db::Error> {
    platform::db::query(
        "SELECT user_id, email, name, roles, deleted_at FROM users WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(user_from)
    .transpose()
}

/// Every live admin.
pub async fn admins<'e>(ex: impl Executor<'e>) -> Result<Vec<UserRecord>, platform::db::Error> {
    // The LIKE narrows the scan; the exact role check is done on the parsed list.
    let rows = platform::db::query(
        "SELECT user_id, email, name, roles, deleted_at FROM users \
         WHERE deleted_at IS NULL AND roles LIKE '%admin%' ORDER BY user_id",
    )
    .fetch_all(ex)
    .await?;
    let users: Result<Vec<UserRecord>, _> = rows.iter().map(user_from).collect();
    Ok(users?.into_iter().filter(UserRecord::is_admin).collect())
}

/// Forgets a deleted user: a tombstone instead of their details, no preferences, no
/// parked events, queued messages cancelled and every message's address and text
/// redacted.
pub async fn forget_user(tx: &mut Tx, user_id: &str, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO users (user_id, email, name, roles, updated_at, deleted_at) \
         VALUES ($1, '', '', '', $2, $2) \
         ON CONFLICT (user_id) DO UPDATE SET email = '', name = '', roles = '', \
         updated_at = excluded.updated_at, deleted_at = excluded.deleted_at",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    platform::db::query("DELETE FROM preferences WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    platform::db::query("DELETE FROM parked_events WHERE waits_for = $1")
        .bind(format!("user:{user_id}"))
        .execute(&mut **tx)
        .await?;
    platform::db::query(
        "UPDATE notifications SET status = 'cancelled', last_error = 'the recipient was deleted', \
         updated_at = $2 WHERE user_id = $1 AND status = 'queued'",
    )
    .bind(user_id)
    .bind(now)
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

/// An order's owner and total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its total.
    pub total: Option<Money>,
}

/// Remembers an order's owner (once).
pub async fn insert_order(
    tx: &mut Tx,
    order: &OrderRecord,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO orders (order_id, user_id, total_amount, currency, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&order.order_id)
    .bind(&order.user_id)
    .bind(order.total.as_ref().map(|m| m.amount))
    .bind(order.total.as_ref().map(|m| m.currency.clone()))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// An order by id.
pub async fn order<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Option<OrderRecord>, platform::db::Error> {
    let Some(row) = platform::db::query(
        "SELECT order_id, user_id, total_amount, currency FROM orders WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(ex)
    .await?
    else {
        return Ok(None);
    };
    let amount: Option<i64> = row.try_get("total_amount")?;
    let currency: Option<String> = row.try_get("currency")?;
    Ok(Some(OrderRecord {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        total: amount
            .zip(currency)
            .map(|(amount, currency)| Money { amount, currency }),
    }))
}

/// Sets an event aside until `waits_for` (`user:<id>` or `order:<id>`) is known.
pub async fn park(
    tx: &mut Tx,
    event_id: &str,
    waits_for: &str,
    event_type: &str,
    body: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO parked_events (event_id, waits_for, event_type, body, parked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(waits_for)
    .bind(event_type)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Takes (removes and returns) the events waiting for `waits_for`, oldest first.
pub async fn take_parked(tx: &mut Tx, waits_for: &str) -> Result<Vec<String>, platform::db::Error> {
    let bodies: Vec<String> = platform::db::query_scalar(
        "SELECT body FROM parked_events WHERE waits_for = $1 ORDER BY parked_at, event_id",
    )
    .bind(waits_for)
    .fetch_all(&mut **tx)
    .await?;
    if !bodies.is_empty() {
        platform::db::query("DELETE FROM parked_events WHERE waits_for = $1")
            .bind(waits_for)
            .execute(&mut **tx)
            .await?;
    }
    Ok(bodies)
}

/// What parked events wait for that is known by now. Normally the arrival itself
/// releases them; this catches an event parked by a transaction that ran beside the
/// arrival's, which (under PostgreSQL's read committed) could not see the parked row.
pub async fn parked_now_known(tx: &mut Tx) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT DISTINCT p.waits_for FROM parked_events p \
         WHERE EXISTS (SELECT 1 FROM users u WHERE 'user:' || u.user_id = p.waits_for) \
            OR EXISTS (SELECT 1 FROM orders o WHERE 'order:' || o.order_id = p.waits_for)",
    )
    .fetch_all(&mut **tx)
    .await
}

/// Drops events parked before `before`; returns how many.
pub async fn expire_parked(tx: &mut Tx, before: i64) -> Result<u64, platform::db::Error> {
    Ok(
        platform::db::query("DELETE FROM parked_events WHERE parked_at < $1")
            .bind(before)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    /// `<key>.<channel>`.
    pub id: String,
    /// The key.
    pub key: String,
    /// The channel.
    pub channel: String,
    /// `transactional` or `marketing`.
    pub category: String,
    /// Subject template.
    pub subject: Option<String>,
    /// Body template.
    pub body: String,
    /// HTML template.
    pub html: Option<String>,
    /// Whether messages are made from it.
    pub enabled: bool,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// The admin who last changed it (none for an untouched default).
    pub updated_by: Option<String>,
}

const TEMPLATE_COLUMNS: &str = "id, template_key, channel, category, subject, body, html, \
                                enabled, created_at, updated_at, updated_by";

fn template_from(row: &Row) -> Result<TemplateRecord, platform::db::Error> {
    Ok(TemplateRecord {
        id: row.try_get("id")?,
        key: row.try_get("template_key")?,
        channel: row.try_get("channel")?,
        category: row.try_get("category")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        html: row.try_get("html")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// Inserts a template, or replaces the stored one with the same id when `replace`.
/// Returns whether it was new.
pub async fn put_template(
    tx: &mut Tx,
    template: &TemplateRecord,
    replace: bool,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(&format!(
        "INSERT INTO templates ({TEMPLATE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
    ))
    .bind(&template.id)
    .bind(&template.key)
    .bind(&template.channel)
    .bind(&template.category)
    .bind(&template.subject)
    .bind(&template.body)
    .bind(&template.html)
    .bind(i64::from(template.enabled))
    .bind(template.created_at)
    .bind(template.updated_at)
    .bind(&template.updated_by)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted && replace {
        platform::db::query(
            "UPDATE templates SET category = $2, subject = $3, body = $4, html = $5, \
             enabled = $6, updated_at = $7, updated_by = $8 WHERE id = $1",
        )
        .bind(&template.id)
        .bind(&template.category)
        .bind(&template.subject)
        .bind(&template.body)
        .bind(&template.html)
        .bind(i64::from(template.enabled))
        .bind(template.updated_at)
        .bind(&template.updated_by)
        .execute(&mut **tx)
        .await?;
    }
    Ok(inserted)
}

/// A template by id.
pub async fn template<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<TemplateRecord>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(template_from)
    .transpose()
}

/// The enabled templates of `key`, one per channel, by channel.
pub async fn templates_for_key<'e>(
    ex: impl Executor<'e>,
    key: &str,
) -> Result<Vec<TemplateRecord>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE template_key = $1 AND enabled = 1 \
         ORDER BY channel"
    ))
    .bind(key)
    .fetch_all(ex)
    .await?;
    rows.iter().map(template_from).collect()
}

/// Templates by id after `after`.
pub async fn list_templates<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TemplateRecord>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(template_from).collect()
}

/// A user's stored preferences, by channel (channels never set are absent).
pub async fn preferences<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
) -> Result<Vec<(Channel, ChannelPreference)>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT channel, address, marketing FROM preferences WHERE user_id = $1 ORDER BY channel",
    )
    .bind(user_id)
    .fetch_all(ex)
    .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let channel: String = row.try_get("channel")?;
        let Some(channel) = Channel::parse(&channel) else {
            continue;
        };
        found.push((
            channel,
            ChannelPreference {
                address: row.try_get("address")?,
                marketing: row.try_get::<i64, _>("marketing")? != 0,
            },
        ));
    }
    Ok(found)
}

/// Stores a user's preference for one channel.
pub async fn set_preference(
    tx: &mut Tx,
    user_id: &str,
    channel: Channel,
    preference: &ChannelPreference,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO preferences (user_id, channel, address, marketing, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, channel) DO UPDATE SET \
         address = excluded.address, marketing = excluded.marketing, \
         updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(channel.as_str())
    .bind(&preference.address)
    .bind(i64::from(preference.marketing))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Id.
    pub id: String,
    /// Makes a redelivered cause create nothing twice.
    pub dedupe_key: String,
    /// The recipient user.
    pub user_id: String,
    /// The template it was rendered from (`adhoc` for API text).
    pub template_id: String,
    /// The channel.
    pub channel: String,
    /// `transactional` or `marketing`.
    pub category: String,
    /// Address, phone number or device token.
    pub recipient: String,
    /// Rendered subject.
    pub subject: Option<String>,
    /// Rendered body.
    pub body: String,
    /// Rendered HTML.
    pub html: Option<String>,
    /// `queued`, `sent`, `failed`, `suppressed` or `cancelled`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it is due (or its claim lapses), epoch ms.
    pub next_attempt_at: i64,
    /// `smtp`, `webhook` or `outbox`, once sent.
    pub transport: Option<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Acceptance by the channel (the SMTP server's reply to DATA, the webhook's 2xx),
    /// epoch ms.
    pub sent_at: Option<i64>,
    /// The CloudEvents type of the event that caused it (none for an admin's send).
    pub event_type: Option<String>,
    /// That event's subject (the order, the user, the shipment).
    pub event_subject: Option<String>,
    /// That event's time, epoch ms: `sent_at - event_time` is the delay from the event
    /// to the message leaving.
    pub event_time: Option<i64>,
}

const NOTIFICATION_COLUMNS: &str = "id, dedupe_key, user_id, template_id, channel, category, \
    recipient, subject, body, html, status, attempts, last_error, next_attempt_at, transport, \
    created_at, sent_at, event_type, event_subject, event_time";

fn notification_from(row: &Row) -> Result<NotificationRecord, platform::db::Error> {
    Ok(NotificationRecord {
        id: row.try_get("id")?,
        dedupe_key: row.try_get("dedupe_key")?,
        user_id: row.try_get("user_id")?,
        template_id: row.try_get("template_id")?,
        channel: row.try_get("channel")?,
        category: row.try_get("category")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        html: row.try_get("html")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        transport: row.try_get("transport")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
        event_type: row.try_get("event_type")?,
        event_subject: row.try_get("event_subject")?,
        event_time: row.try_get("event_time")?,
    })
}

/// Inserts a notification unless one with its dedupe key exists; returns whether it
/// was inserted.
pub async fn insert_notification(
    tx: &mut Tx,
    n: &NotificationRecord,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(&format!(
        "INSERT INTO notifications ({NOTIFICATION_COLUMNS}, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $16) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(&n.id)
    .bind(&n.dedupe_key)
    .bind(&n.user_id)
    .bind(&n.template_id)
    .bind(&n.channel)
    .bind(&n.category)
    .bind(&n.recipient)
    .bind(&n.subject)
    .bind(&n.body)
    .bind(&n.html)
    .bind(&n.status)
    .bind(n.attempts)
    .bind(&n.last_error)
    .bind(n.next_attempt_at)
    .bind(&n.transport)
    .bind(n.created_at)
    .bind(n.sent_at)
    .bind(&n.event_type)
    .bind(&n.event_subject)
    .bind(n.event_time)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A notification by id.
pub async fn notification<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<NotificationRecord>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(notification_from)
    .transpose()
}

/// A user's notifications, newest first, before id `before`, optionally of one status.
pub async fn list_for_user<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
    status: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<NotificationRecord>, platform::db::Error> {
    // `~` sorts after every id character, so "before ~" is "from the newest".
    let rows = platform::db::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 AND id < $2 \
         AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(user_id)
    .bind(before.unwrap_or("~"))
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(notification_from).collect()
}

/// Messages delivered to the local outbox, newest first, before id `before`.
pub async fn list_outbox<'e>(
    ex: impl Executor<'e>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<NotificationRecord>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE transport = 'outbox' \
         AND id < $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(before.unwrap_or("~"))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(notification_from).collect()
}

/// When the earliest queued message is due (or its claim lapses), epoch ms.
pub async fn next_due<'e>(ex: impl Executor<'e>) -> Result<Option<i64>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notifications WHERE status = 'queued'",
    )
    .fetch_one(ex)
    .await
}

/// Claims up to `limit` due messages: each gets one more attempt and is hidden from
/// other senders until `lease_until`. Returns them with their new attempt count.
pub async fn claim_due(
    tx: &mut Tx,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<NotificationRecord>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "UPDATE notifications SET next_attempt_at = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE status = 'queued' AND next_attempt_at <= $2 AND id IN (\
           SELECT id FROM notifications WHERE status = 'queued' AND next_attempt_at <= $2 \
           ORDER BY next_attempt_at, id LIMIT $3) \
         RETURNING {NOTIFICATION_COLUMNS}"
    ))
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(notification_from).collect()
}

/// The end of attempt number `attempts` of a claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement<'a> {
    /// Accepted through `transport`.
    Sent {
        /// `smtp`, `webhook` or `outbox`.
        transport: &'a str,
        /// When the channel accepted it, epoch ms (`sent_at`).
        at: i64,
    },
    /// Failed; due again at the given time.
    Retry {
        /// The failure.
        error: &'a str,
        /// Next attempt, epoch ms.
        at: i64,
    },
    /// Failed for good.
    Failed {
        /// The failure.
        error: &'a str,
    },
}

/// Records how attempt `attempts` of `id` ended, if the claim is still this sender's
/// (the row is queued with that attempt count); returns whether it was.
pub async fn settle(
    tx: &mut Tx,
    id: &str,
    attempts: i64,
    settlement: &Settlement<'_>,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let query = match settlement {
        Settlement::Sent { transport, at } => platform::db::query(
            "UPDATE notifications SET status = 'sent', transport = $3, sent_at = $4, \
             updated_at = $5 WHERE id = $1 AND attempts = $2 AND status = 'queued'",
        )
        .bind(id)
        .bind(attempts)
        .bind(*transport)
        .bind(*at)
        .bind(now),
        Settlement::Retry { error, at } => platform::db::query(
            "UPDATE notifications SET last_error = $3, next_attempt_at = $4, updated_at = $5 \
             WHERE id = $1 AND attempts = $2 AND status = 'queued'",
        )
        .bind(id)
        .bind(attempts)
        .bind(*error)
        .bind(*at)
        .bind(now),
        Settlement::Failed { error } => platform::db::query(
            "UPDATE notifications SET status = 'failed', last_error = $3, updated_at = $4 \
             WHERE id = $1 AND attempts = $2 AND status = 'queued'",
        )
        .bind(id)
        .bind(attempts)
        .bind(*error)
        .bind(now),
    };
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

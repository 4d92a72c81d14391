//! `events_delivered` (no event left unhandled) and `dead_letters` (the events a
//! consumer gave up on, each one listed).
//!
//! An event is delivered once it left its producer's outbox (published, in the
//! distributed shape) and every consumer that handles its type applied it:
//! distributed, every durable consumer has nothing pending or unacknowledged;
//! embedded, no event of a type the consumer handles lies past its cursor in the
//! producer's log. The cursor alone does not tell: a dispatcher passes over the types
//! its consumer does not handle without storing the move (not worth a commit), so a
//! cursor may rest before a tail of events nobody needed. Hence [`handled_event_types`].
//! Notifications' parked events (waiting for a user or an order that never came) are
//! not delivered either.

use std::collections::BTreeMap;
use std::str::FromStr;

use anyhow::Context;
use contracts::Event;
use contracts::{catalog, fulfillment, identity, ingestion, inventory, ordering, payments};
use platform::bus::NatsBus;
use platform::db::{Db, query, query_scalar};
use platform::service::ServiceKind;

use super::{Check, Databases, MAX_LISTED};
use crate::Storage;

/// What catalog's consumer handles.
const CATALOG: &[&str] = &[inventory::StockUpdated::TYPE];

/// What identity's consumer handles (loyalty points follow orders).
const IDENTITY: &[&str] = &[
    ordering::OrderConfirmed::TYPE,
    ordering::OrderDelivered::TYPE,
    ordering::OrderRefunded::TYPE,
    ordering::OrderPartiallyRefunded::TYPE,
    ordering::OrderCancelled::TYPE,
];

/// What inventory's consumer handles.
const INVENTORY: &[&str] = &[
    ordering::OrderCreated::TYPE,
    ordering::OrderCancelled::TYPE,
    ordering::OrderConfirmed::TYPE,
    fulfillment::ReturnReceived::TYPE,
    fulfillment::ShipmentReturned::TYPE,
];

/// What ordering's consumer handles.
const ORDERING: &[&str] = &[
    catalog::ProductCreated::TYPE,
    catalog::ProductUpdated::TYPE,
    catalog::PriceChanged::TYPE,
    catalog::ProductDeleted::TYPE,
    inventory::StockReserved::TYPE,
    inventory::ReservationFailed::TYPE,
    payments::PaymentAuthorized::TYPE,
    payments::PaymentFailed::TYPE,
    payments::PaymentCaptured::TYPE,
    payments::RefundProcessed::TYPE,
    fulfillment::ShipmentDispatched::TYPE,
    fulfillment::ShipmentDelivered::TYPE,
    fulfillment::ReturnReceived::TYPE,
    fulfillment::ShipmentReturned::TYPE,
    fulfillment::ReturnRequested::TYPE,
    fulfillment::ReturnRejected::TYPE,
    payments::FraudDetected::TYPE,
    payments::PaymentActionRequired::TYPE,
];

/// What payments' consumer handles.
const PAYMENTS: &[&str] = &[
    ordering::OrderReserved::TYPE,
    ordering::OrderConfirmed::TYPE,
    ordering::OrderCancelled::TYPE,
    ordering::RefundRequested::TYPE,
];

/// What fulfillment's consumer handles.
const FULFILLMENT: &[&str] = &[
    ordering::OrderConfirmed::TYPE,
    ordering::OrderCancelled::TYPE,
    inventory::StockCommitted::TYPE,
];

/// What ingestion's consumer handles.
const INGESTION: &[&str] = &[
    ordering::OrderConfirmed::TYPE,
    payments::PaymentCaptured::TYPE,
    payments::RefundProcessed::TYPE,
];

/// What analytics' consumer handles.
const ANALYTICS: &[&str] = &[
    identity::TenantCreated::TYPE,
    ingestion::EventReceived::TYPE,
    ingestion::TouchpointRecorded::TYPE,
    ordering::OrderCreated::TYPE,
    ordering::OrderConfirmed::TYPE,
    ordering::OrderCancelled::TYPE,
    payments::PaymentAuthorized::TYPE,
    payments::PaymentFailed::TYPE,
    payments::RefundProcessed::TYPE,
    inventory::StockCommitted::TYPE,
    inventory::StockUpdated::TYPE,
];

/// The event types `consumer`'s event handler applies (its `EventHandler::handles`),
/// for a checker that has the databases but not the running services. The services
/// keep their lists private to their `events` modules; the test
/// `handled_event_types_match_the_services` compares this table with every running
/// service's handler, so the two cannot drift apart unnoticed. Notifications handles
/// every event a merchant's webhook endpoint can subscribe to (its own messages come
/// from some of them), which its domain lists.
pub fn handled_event_types(consumer: ServiceKind) -> Vec<&'static str> {
    match consumer {
        ServiceKind::Catalog => CATALOG.to_vec(),
        ServiceKind::Identity => IDENTITY.to_vec(),
        ServiceKind::Inventory => INVENTORY.to_vec(),
        ServiceKind::Ordering => ORDERING.to_vec(),
        ServiceKind::Payments => PAYMENTS.to_vec(),
        ServiceKind::Fulfillment => FULFILLMENT.to_vec(),
        ServiceKind::Notifications => notifications::domain::subscribable(),
        ServiceKind::Ingestion => INGESTION.to_vec(),
        ServiceKind::Analytics => ANALYTICS.to_vec(),
        ServiceKind::Gateway | ServiceKind::Coordination | ServiceKind::Support => Vec::new(),
    }
}

/// The producers whose events `consumer` handles, each with those event types: an
/// event type starts with its producer's name (`ordering.order.created.v1`).
fn handled_by_producer(consumer: ServiceKind) -> BTreeMap<ServiceKind, Vec<&'static str>> {
    let mut by_producer: BTreeMap<ServiceKind, Vec<&'static str>> = BTreeMap::new();
    for event_type in handled_event_types(consumer) {
        let producer = event_type
            .split('.')
            .next()
            .and_then(|name| ServiceKind::from_str(name).ok());
        if let Some(producer) = producer {
            by_producer.entry(producer).or_default().push(event_type);
        }
    }
    by_producer
}

/// One outbox row, as a violation names it.
struct LogRow {
    seq: i64,
    id: String,
    event_type: String,
    subject: String,
}

/// The outbox rows `sql` selects, its `$1` bound to `after` and the next placeholders
/// to `binds`.
async fn log_rows(db: &Db, sql: &str, binds: &[&str], after: i64) -> anyhow::Result<Vec<LogRow>> {
    let mut select = query(sql).bind(after);
    for value in binds {
        select = select.bind(*value);
    }
    let mut rows = Vec::new();
    for row in select.fetch_all(db.reader()).await? {
        rows.push(LogRow {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            event_type: row.try_get("event_type")?,
            subject: row.try_get("subject")?,
        });
    }
    Ok(rows)
}

pub(super) async fn delivered(databases: &Databases, storage: &Storage) -> anyhow::Result<Check> {
    let mut check = Check::new("events_delivered");
    // Both shapes: nothing left in an outbox. (The embedded log's rows are written as
    // published, its log being the outbox itself.)
    for (producer, db) in databases.iter() {
        check.examined();
        let unpublished: i64 =
            query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(db.reader())
                .await
                .with_context(|| format!("cannot read {producer}'s outbox"))?;
        let rows = log_rows(
            db,
            &format!(
                "SELECT seq, id, event_type, subject FROM outbox \
                 WHERE published_at IS NULL AND seq > $1 ORDER BY seq LIMIT {MAX_LISTED}"
            ),
            &[],
            0,
        )
        .await?;
        for row in &rows {
            check.violation(format!(
                "{producer}'s outbox holds {} {} (subject {}, seq {}) unpublished",
                row.event_type, row.id, row.subject, row.seq
            ));
        }
        check.unlisted((unpublished as u64).saturating_sub(rows.len() as u64));
    }
    match storage {
        Storage::Embedded { .. } => embedded_cursors(databases, &mut check).await?,
        Storage::Distributed { nats, .. } => {
            let bus = NatsBus::connect(nats).await.with_context(|| {
                format!(
                    "cannot connect to NATS at {}",
                    platform::config::redact_url(&nats.url)
                )
            })?;
            nats_consumers(&bus, &mut check).await?;
        }
    }
    parked_events(databases.get(ServiceKind::Notifications)?, &mut check).await?;
    Ok(check)
}

/// Embedded: no event a consumer handles lies past its cursor in its producer's log.
async fn embedded_cursors(databases: &Databases, check: &mut Check) -> anyhow::Result<()> {
    for (consumer, consumer_db) in databases.iter() {
        for (producer, types) in handled_by_producer(consumer) {
            let log = databases.get(producer)?;
            check.examined();
            let position = cursor(consumer, consumer_db, producer, log).await?;
            let list = platform::db::in_list(2, types.len());
            let pending: i64 = {
                let sql =
                    format!("SELECT COUNT(*) FROM outbox WHERE seq > $1 AND event_type IN {list}");
                let mut count = query_scalar(&sql).bind(position);
                for event_type in &types {
                    count = count.bind(*event_type);
                }
                count
                    .fetch_one(log.reader())
                    .await
                    .with_context(|| format!("cannot read {producer}'s outbox"))?
            };
            if pending == 0 {
                continue;
            }
            let rows = log_rows(
                log,
                &format!(
                    "SELECT seq, id, event_type, subject FROM outbox \
                     WHERE seq > $1 AND event_type IN {list} ORDER BY seq LIMIT {MAX_LISTED}"
                ),
                &types,
                position,
            )
            .await?;
            for row in &rows {
                check.violation(format!(
                    "{consumer} has not applied {} {} (subject {}) at seq {} of {producer}'s log (its cursor is at {position})",
                    row.event_type, row.id, row.subject, row.seq
                ));
            }
            check.unlisted((pending as u64).saturating_sub(rows.len() as u64));
        }
    }
    Ok(())
}

/// How far `consumer` has applied `producer`'s log, as the embedded bus stores it: a
/// cursor named `<consumer><-<producer>` in the consumer's database, or (written by
/// earlier versions) one named after the consumer in the producer's database.
async fn cursor(
    consumer: ServiceKind,
    consumer_db: &Db,
    producer: ServiceKind,
    log: &Db,
) -> anyhow::Result<i64> {
    let read = |db: &Db, key: String| {
        let reader = db.reader().clone();
        async move {
            query_scalar::<i64>("SELECT position FROM bus_cursors WHERE consumer = $1")
                .bind(key)
                .fetch_optional(&reader)
                .await
        }
    };
    if let Some(position) = read(consumer_db, format!("{consumer}<-{producer}")).await? {
        return Ok(position);
    }
    Ok(read(log, consumer.to_string()).await?.unwrap_or(0))
}

/// Distributed: every durable consumer has nothing pending or unacknowledged, and each
/// consumer that handles a producer's events has its durable consumer on that stream.
async fn nats_consumers(bus: &NatsBus, check: &mut Check) -> anyhow::Result<()> {
    let backlogs = bus
        .backlogs()
        .await
        .context("cannot read the NATS consumers")?;
    for backlog in &backlogs {
        check.examined();
        if backlog.pending > 0 || backlog.ack_pending > 0 {
            check.violation(format!(
                "consumer {} of stream {} has {} events not delivered and {} not acknowledged",
                backlog.consumer, backlog.stream, backlog.pending, backlog.ack_pending
            ));
        }
    }
    for consumer in ServiceKind::backends() {
        for producer in handled_by_producer(consumer).into_keys() {
            let streams: Vec<&str> = backlogs
                .iter()
                .filter(|b| b.producer == producer)
                .map(|b| b.stream.as_str())
                .collect();
            // A stream no consumer has opened yet has no events either: its producer
            // creates it before its first publish, its consumers on subscribing.
            let Some(stream) = streams.first() else {
                continue;
            };
            let subscribed = backlogs
                .iter()
                .any(|b| b.producer == producer && b.consumer == consumer.as_str());
            if !subscribed {
                check.violation(format!(
                    "{consumer} has no durable consumer on stream {stream}, so {producer}'s events never reach it"
                ));
            }
        }
    }
    Ok(())
}

/// Notifications' events parked for a user or an order that never arrived.
async fn parked_events(db: &Db, check: &mut Check) -> anyhow::Result<()> {
    let rows = query(
        "SELECT event_id, waits_for, event_type FROM parked_events ORDER BY parked_at, event_id",
    )
    .fetch_all(db.reader())
    .await
    .context("cannot read notifications' parked events")?;
    for row in rows {
        check.examined();
        let event_id: String = row.try_get("event_id")?;
        let waits_for: String = row.try_get("waits_for")?;
        let event_type: String = row.try_get("event_type")?;
        check.violation(format!(
            "notifications parked {event_type} {event_id}, still waiting for {waits_for}"
        ));
    }
    Ok(())
}

/// Every dead letter not yet replayed, in every service: an event its consumer gave up
/// on, whose effect is missing until someone replays it.
pub(super) async fn dead_letters(databases: &Databases) -> anyhow::Result<Check> {
    let mut check = Check::new("dead_letters");
    for (service, db) in databases.iter() {
        let all: i64 = query_scalar("SELECT COUNT(*) FROM dead_letters")
            .fetch_one(db.reader())
            .await
            .with_context(|| format!("cannot read {service}'s dead letters"))?;
        check.checked += all as u64;
        let open: i64 = query_scalar("SELECT COUNT(*) FROM dead_letters WHERE replayed_at IS NULL")
            .fetch_one(db.reader())
            .await?;
        let rows = query(&format!(
            "SELECT id, consumer, event_id, event_type, error, attempts FROM dead_letters \
             WHERE replayed_at IS NULL ORDER BY failed_at, id LIMIT {MAX_LISTED}"
        ))
        .fetch_all(db.reader())
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let consumer: String = row.try_get("consumer")?;
            let event_id: String = row.try_get("event_id")?;
            let event_type: String = row.try_get("event_type")?;
            let error: String = row.try_get("error")?;
            let attempts: i64 = row.try_get("attempts")?;
            check.violation(format!(
                "dead letter {id} in {service}: {consumer} gave up on {event_type} {event_id} after {attempts} attempts: {error}"
            ));
        }
        check.unlisted((open as u64).saturating_sub(rows.len() as u64));
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handled_types_are_grouped_by_their_producer() {
        let inventory = handled_by_producer(ServiceKind::Inventory);
        assert_eq!(
            inventory.keys().copied().collect::<Vec<_>>(),
            [ServiceKind::Ordering, ServiceKind::Fulfillment]
        );
        assert!(inventory[&ServiceKind::Ordering].contains(&"ordering.order.created.v1"));
        assert!(handled_by_producer(ServiceKind::Coordination).is_empty());
        // Every handled type names a producer that exists.
        for consumer in ServiceKind::backends() {
            let grouped: usize = handled_by_producer(consumer).values().map(Vec::len).sum();
            assert_eq!(grouped, handled_event_types(consumer).len(), "{consumer}");
        }
    }
}

//! Recording an ingested order, payment or refund: its ledger row, its split over
//! channels under every model, and what it adds to the read models, all in the
//! consumer's transaction.

use contracts::ingestion::{EventKind, EventReceived};
use platform::db::Tx;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::attribution::{self, Model};
use crate::domain::ledger::{LedgerEntry, LedgerKind, Split};
use crate::domain::period::{Period, instant};
use crate::store::buckets::{self, ChannelFigures, Totals};
use crate::store::journeys::{self, Conversion};
use crate::store::{ledger, tenants};

/// Each model's weights per channel for one conversion.
pub(crate) type Weights = Vec<(Model, Vec<(contracts::ingestion::Channel, f64)>)>;

impl AnalyticsApp {
    /// Records `events` in one transaction, as the consumer would one by one (for
    /// loading a history, e.g. the benchmark's million rows).
    pub async fn record_events(&self, events: &[EventReceived]) -> Result<(), AnalyticsError> {
        let mut tx = self.db.begin().await?;
        for event in events {
            self.record_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records `event` (a redelivery records nothing twice).
    pub(crate) async fn record_event_in(
        &self,
        tx: &mut Tx,
        event: &EventReceived,
    ) -> Result<(), AnalyticsError> {
        let now = self.clock.now_millis();
        // An event's own time decides its buckets; one without a readable time (never
        // from ingestion, which checks it) counts when it was received.
        let occurred_at = platform::time::parse_rfc3339(&event.occurred_at)
            .or_else(|| platform::time::parse_rfc3339(&event.received_at))
            .unwrap_or(now);
        tenants::ensure_tenant(tx, &event.tenant_id, now).await?;
        let (kind, sign) = LedgerKind::of_event(event.kind);
        let mut entry = LedgerEntry {
            id: platform::ids::new_id(),
            tenant_id: event.tenant_id.clone(),
            source_event_id: event.id.clone(),
            kind,
            provider: event.provider.as_str().to_owned(),
            external_id: event.external_id.clone(),
            order_ref: event.order_ref.clone(),
            amount: sign * event.amount.amount,
            currency: event.amount.currency.to_string(),
            channel: event.channel,
            customer_ref: event.customer_ref.clone(),
            conversion_id: None,
            occurred_at,
            recorded_at: now,
        };
        match event.kind {
            EventKind::Order => {
                // One customer's journey and one order change one at a time across
                // replicas (customer first, then order, in every path: no deadlock).
                if let Some(customer) = &entry.customer_ref {
                    tx.lock(&customer_key(&entry.tenant_id, customer)).await?;
                }
                tx.lock(&order_key(&entry.tenant_id, &entry.external_id))
                    .await?;
                self.record_order(tx, entry).await
            }
            EventKind::Refund => {
                let reference = event.order_ref.as_deref().unwrap_or(&event.external_id);
                let referred =
                    journeys::conversion_referred(tx, &entry.tenant_id, &entry.provider, reference)
                        .await?;
                // A conversion's customer never changes, so it can be read before the
                // locks; its refund is then serialized with re-attributions of it.
                if let Some(customer) = referred.as_ref().and_then(|c| c.customer_ref.as_ref()) {
                    tx.lock(&customer_key(&entry.tenant_id, customer)).await?;
                }
                tx.lock(&order_key(&entry.tenant_id, reference)).await?;
                let conversion =
                    journeys::conversion_referred(tx, &entry.tenant_id, &entry.provider, reference)
                        .await?
                        .filter(|conversion| conversion.currency == entry.currency);
                entry.conversion_id = conversion.as_ref().map(|c| c.id.clone());
                if !ledger::insert_entry(tx, &entry).await? {
                    return Ok(());
                }
                let split = match &conversion {
                    Some(conversion) => {
                        let weights = self.weights(tx, conversion).await?;
                        split_by(&weights, entry.amount)
                    }
                    // A refund of an order analytics has not seen (yet: webhooks are
                    // not ordered; or ever: placed before the tenant's source was
                    // configured) stays with its own channel until its order arrives.
                    None => Split::whole(entry.channel, entry.amount),
                };
                self.store_split(tx, &entry, entry.conversion_id.as_deref(), &split, now)
                    .await?;
                add_split(tx, &entry, &split, 1).await?;
                add_totals(tx, &entry).await
            }
            EventKind::Payment => {
                if ledger::insert_entry(tx, &entry).await? {
                    add_totals(tx, &entry).await?;
                }
                Ok(())
            }
        }
    }

    /// An order: a new conversion, or an adjustment when a later update of a known
    /// order changed its amount (an update that changed no money records nothing).
    async fn record_order(
        &self,
        tx: &mut Tx,
        mut entry: LedgerEntry,
    ) -> Result<(), AnalyticsError> {
        let now = entry.recorded_at;
        let known =
            journeys::conversion_of(tx, &entry.tenant_id, &entry.provider, &entry.external_id)
                .await?;
        let conversion = match known {
            None => {
                let conversion = Conversion {
                    id: platform::ids::new_id(),
                    tenant_id: entry.tenant_id.clone(),
                    provider: entry.provider.clone(),
                    external_id: entry.external_id.clone(),
                    customer_ref: entry.customer_ref.clone(),
                    channel: entry.channel,
                    amount: entry.amount,
                    currency: entry.currency.clone(),
                    occurred_at: entry.occurred_at,
                };
                entry.conversion_id = Some(conversion.id.clone());
                if !ledger::insert_entry(tx, &entry).await? {
                    return Ok(());
                }
                journeys::insert_conversion(tx, &conversion).await?;
                self.adopt_orphan_refunds(tx, &conversion, now).await?;
                conversion
            }
            Some(conversion) => {
                let delta = entry.amount - conversion.amount;
                if delta == 0 || entry.currency != conversion.currency {
                    if entry.currency != conversion.currency {
                        tracing::warn!(
                            conversion_id = %conversion.id,
                            "an order update changed its currency; the update is not recorded"
                        );
                    }
                    return Ok(());
                }
                entry.kind = LedgerKind::Adjustment;
                entry.amount = delta;
                entry.conversion_id = Some(conversion.id.clone());
                if !ledger::insert_entry(tx, &entry).await? {
                    return Ok(());
                }
                journeys::set_amount(tx, &conversion.id, conversion.amount + delta).await?;
                conversion
            }
        };
        let weights = self.weights(tx, &conversion).await?;
        let split = split_by(&weights, entry.amount);
        self.store_split(tx, &entry, Some(&conversion.id), &split, now)
            .await?;
        add_split(tx, &entry, &split, 1).await?;
        add_totals(tx, &entry).await
    }

    /// Refunds of `conversion`'s order that arrived before it: each is split like the
    /// conversion from now on, and the read models move from its own channel.
    async fn adopt_orphan_refunds(
        &self,
        tx: &mut Tx,
        conversion: &Conversion,
        now: i64,
    ) -> Result<(), AnalyticsError> {
        let orphans =
            ledger::orphan_refunds(tx, &conversion.tenant_id, &conversion.external_id).await?;
        let orphans: Vec<_> = orphans
            .into_iter()
            .filter(|(entry, _)| entry.currency == conversion.currency)
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        let weights = self.weights(tx, conversion).await?;
        for (entry, old) in orphans {
            let new = split_by(&weights, entry.amount);
            if let Some(old) = &old {
                add_split(tx, &entry, old, -1).await?;
            }
            self.store_split(tx, &entry, Some(&conversion.id), &new, now)
                .await?;
            add_split(tx, &entry, &new, 1).await?;
        }
        Ok(())
    }

    /// Each model's weights for `conversion`: its journey is the customer's touches in
    /// the lookback window before it, then its own channel.
    pub(crate) async fn weights(
        &self,
        tx: &mut Tx,
        conversion: &Conversion,
    ) -> Result<Weights, AnalyticsError> {
        let settings = self.attribution_settings();
        let touches = match &conversion.customer_ref {
            Some(customer) => {
                let lookback = settings.lookback.whole_milliseconds() as i64;
                journeys::touches(
                    tx,
                    &conversion.tenant_id,
                    customer,
                    Period {
                        from: conversion.occurred_at.saturating_sub(lookback),
                        to: conversion.occurred_at,
                    },
                )
                .await?
            }
            None => Vec::new(),
        };
        let at = instant(conversion.occurred_at);
        let journey = attribution::journey(&touches, at, conversion.channel, &settings);
        Ok(Model::ALL
            .into_iter()
            .map(|model| (model, attribution::weights(model, &journey, at, &settings)))
            .collect())
    }

    /// Writes a split of a row of `conversion` through the store's sum guard.
    pub(crate) async fn store_split(
        &self,
        tx: &mut Tx,
        entry: &LedgerEntry,
        conversion: Option<&str>,
        split: &Split,
        now: i64,
    ) -> Result<(), AnalyticsError> {
        Ok(ledger::put_split(tx, entry, conversion, split, now).await?)
    }
}

/// The lock of a tenant's customer's journey.
pub(crate) fn customer_key(tenant: &str, customer: &str) -> String {
    format!("analytics:customer:{tenant}:{customer}")
}

/// The lock of a tenant's order (by its external id, whoever's).
fn order_key(tenant: &str, order: &str) -> String {
    format!("analytics:order:{tenant}:{order}")
}

/// `amount` split by each model's weights.
pub(crate) fn split_by(weights: &Weights, amount: i64) -> Split {
    Split::by(|model| {
        weights
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, w)| attribution::split(amount, w))
            .unwrap_or_default()
    })
}

/// Adds (`sign` 1) or takes back (`sign` -1) what a revenue row's split gives each
/// channel in the read models.
pub(crate) async fn add_split(
    tx: &mut Tx,
    entry: &LedgerEntry,
    split: &Split,
    sign: i64,
) -> Result<(), AnalyticsError> {
    for (model, allocations) in split.models() {
        for allocation in allocations {
            let figures = ChannelFigures {
                revenue: sign * allocation.amount,
                refunds: if entry.kind == LedgerKind::Refund {
                    -sign * allocation.amount
                } else {
                    0
                },
                conversions: if entry.kind == LedgerKind::Order {
                    sign
                } else {
                    0
                },
            };
            buckets::add_to_channel(
                tx,
                &entry.tenant_id,
                model,
                &entry.currency,
                entry.occurred_at,
                allocation.channel,
                figures,
            )
            .await?;
        }
    }
    Ok(())
}

/// Adds a row to its tenant's totals.
async fn add_totals(tx: &mut Tx, entry: &LedgerEntry) -> Result<(), AnalyticsError> {
    let totals = match entry.kind {
        LedgerKind::Order => Totals {
            conversions: 1,
            revenue: entry.amount,
            ..Totals::default()
        },
        LedgerKind::Adjustment => Totals {
            revenue: entry.amount,
            ..Totals::default()
        },
        LedgerKind::Refund => Totals {
            revenue: entry.amount,
            refunds: -entry.amount,
            ..Totals::default()
        },
        LedgerKind::Payment => Totals {
            payments: entry.amount,
            ..Totals::default()
        },
    };
    buckets::add_to_totals(
        tx,
        &entry.tenant_id,
        &entry.currency,
        entry.occurred_at,
        totals,
    )
    .await?;
    Ok(())
}

//! What the revenue read models answer: realtime revenue by channel under a model
//! (`GET /api/v1/attribution/revenue/realtime`) and channel performance per day
//! (`GET /api/v1/attribution/channels`). Whole days and hours come from the buckets the
//! consumer keeps; only the partial hours at a period's ends are read row by row, so an
//! answer costs the same for a day as for a year.

use std::collections::BTreeMap;

use contracts::Money;
use contracts::ingestion::Channel;
use serde::Serialize;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::attribution::Model;
use crate::domain::ledger::LedgerKind;
use crate::domain::period::{Period, Piece};
use crate::store::buckets::{self, ChannelFigures};
use crate::store::ledger;

/// Rows read per query of a partial hour.
const ROWS_PAGE: i64 = 5_000;

/// A revenue question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueQuery {
    /// The tenant.
    pub tenant: String,
    /// The attribution model.
    pub model: Model,
    /// The period.
    pub period: Period,
    /// The currency, when the caller named one.
    pub currency: Option<String>,
}

/// One channel's share of realtime revenue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RealtimeChannel {
    /// The channel.
    pub channel: Channel,
    /// Its net revenue under the model.
    pub revenue: Money,
    /// Orders that gave it credit.
    pub conversions: i64,
}

/// Realtime revenue: API.md's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Realtime {
    /// The tenant.
    pub tenant: String,
    /// The model.
    pub model: &'static str,
    /// The period's start (RFC 3339).
    pub from: String,
    /// The period's end (RFC 3339, exclusive).
    pub to: String,
    /// Net revenue (orders and adjustments less refunds).
    pub total: Money,
    /// Orders.
    pub conversions: i64,
    /// Refunded (positive).
    pub refunds: Money,
    /// Per channel, largest revenue first.
    pub by_channel: Vec<RealtimeChannel>,
    /// When it was answered (RFC 3339).
    pub as_of: String,
}

/// One channel's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChannelDay {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// The channel.
    pub channel: Channel,
    /// Net revenue under the model.
    pub revenue: Money,
    /// Orders that gave it credit.
    pub conversions: i64,
    /// Average order value: revenue over conversions (none without conversions).
    pub average_order_value: Option<Money>,
    /// Refunded (positive).
    pub refunds: Money,
}

impl AnalyticsApp {
    /// The currency a question is answered in: the one named, else the only one the
    /// tenant has in the period, else the default.
    async fn currency_for(&self, query: &RevenueQuery) -> Result<String, AnalyticsError> {
        if let Some(currency) = &query.currency {
            return Ok(currency.clone());
        }
        let found = buckets::currencies(self.db.reader(), &query.tenant, query.period).await?;
        match found.as_slice() {
            [] => Ok(self.config.default_currency.clone()),
            [only] => Ok(only.clone()),
            several => Err(AnalyticsError::invalid(
                "currency",
                format!(
                    "is required: the period has revenue in {}",
                    several.join(", ")
                ),
            )),
        }
    }

    /// Realtime revenue by channel.
    pub async fn realtime(&self, query: &RevenueQuery) -> Result<Realtime, AnalyticsError> {
        self.require_tenant(&query.tenant).await?;
        let currency = self.currency_for(query).await?;
        let mut reader = self.db.reader().acquire().await?;
        let mut by_channel: BTreeMap<Channel, ChannelFigures> = BTreeMap::new();
        let mut conversions = 0;
        for piece in query.period.pieces() {
            match piece {
                Piece::Buckets(grain, part) => {
                    for (channel, figures) in buckets::channel_sums(
                        &mut reader,
                        &query.tenant,
                        query.model,
                        &currency,
                        grain,
                        part,
                    )
                    .await?
                    {
                        let sum = by_channel.entry(channel).or_default();
                        sum.revenue += figures.revenue;
                        sum.refunds += figures.refunds;
                        sum.conversions += figures.conversions;
                    }
                    conversions +=
                        buckets::totals_sum(&mut reader, &query.tenant, &currency, grain, part)
                            .await?
                            .conversions;
                }
                Piece::Rows(part) => {
                    let mut after: Option<(i64, String)> = None;
                    loop {
                        let rows = ledger::page(
                            &mut reader,
                            &query.tenant,
                            part,
                            after.as_ref().map(|(at, id)| (*at, id.as_str())),
                            ROWS_PAGE,
                        )
                        .await?;
                        let full = rows.len() as i64 == ROWS_PAGE;
                        for (entry, split) in &rows {
                            if entry.currency != currency {
                                continue;
                            }
                            if entry.kind == LedgerKind::Order {
                                conversions += 1;
                            }
                            let Some(split) = split else { continue };
                            for allocation in split.of(query.model) {
                                let sum = by_channel.entry(allocation.channel).or_default();
                                sum.revenue += allocation.amount;
                                if entry.kind == LedgerKind::Refund {
                                    sum.refunds -= allocation.amount;
                                }
                                if entry.kind == LedgerKind::Order {
                                    sum.conversions += 1;
                                }
                            }
                        }
                        after = rows
                            .last()
                            .map(|(entry, _)| (entry.occurred_at, entry.id.clone()));
                        if !full {
                            break;
                        }
                    }
                }
            }
        }
        let money = |amount| Money {
            amount,
            currency: currency.clone(),
        };
        let total = by_channel.values().map(|f| f.revenue).sum();
        let refunds = by_channel.values().map(|f| f.refunds).sum();
        let mut channels: Vec<RealtimeChannel> = by_channel
            .into_iter()
            .filter(|(_, f)| *f != ChannelFigures::default())
            .map(|(channel, f)| RealtimeChannel {
                channel,
                revenue: money(f.revenue),
                conversions: f.conversions,
            })
            .collect();
        channels.sort_by_key(|c| std::cmp::Reverse(c.revenue.amount));
        Ok(Realtime {
            tenant: query.tenant.clone(),
            model: query.model.as_str(),
            from: platform::time::rfc3339(query.period.from),
            to: platform::time::rfc3339(query.period.to),
            total: money(total),
            conversions,
            refunds: money(refunds),
            by_channel: channels,
            as_of: platform::time::rfc3339(self.clock.now_millis()),
        })
    }

    /// Channel performance per day (whole days of the period).
    pub async fn channel_days(
        &self,
        query: &RevenueQuery,
    ) -> Result<Vec<ChannelDay>, AnalyticsError> {
        self.require_tenant(&query.tenant).await?;
        let currency = self.currency_for(query).await?;
        let rows = buckets::channel_days(
            self.db.reader(),
            &query.tenant,
            query.model,
            &currency,
            query.period,
        )
        .await?;
        let money = |amount| Money {
            amount,
            currency: currency.clone(),
        };
        Ok(rows
            .into_iter()
            .filter(|(_, _, f)| *f != ChannelFigures::default())
            .map(|(day, channel, f)| ChannelDay {
                day: platform::time::rfc3339(day)
                    .get(..10)
                    .unwrap_or_default()
                    .to_owned(),
                channel,
                revenue: money(f.revenue),
                conversions: f.conversions,
                average_order_value: (f.conversions > 0).then(|| money(f.revenue / f.conversions)),
                refunds: money(f.refunds),
            })
            .collect())
    }
}

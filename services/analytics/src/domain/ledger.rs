//! The revenue ledger's rows and their split over channels.
//!
//! A row is one order (+), order adjustment (±: a later update changed the order's
//! amount), refund (−) or payment (+) of a tenant, in integer minor units. Orders,
//! adjustments and refunds are revenue and are split over channels under every model;
//! payments are only matched by reconciliation. Rows are never changed; a late
//! touchpoint replaces a row's split, never the row.

use contracts::ingestion::{Channel, EventKind};
use serde_json::{Map, Value};

use super::attribution::{Allocation, Model, SumMismatch, check_sum};

/// What a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    /// A conversion: the order's amount when first seen.
    Order,
    /// A later change of an order's amount (the difference).
    Adjustment,
    /// Money given back (negative).
    Refund,
    /// A charge or sale at a payment provider (never revenue).
    Payment,
}

impl LedgerKind {
    /// Every kind.
    pub const ALL: [LedgerKind; 4] = [
        LedgerKind::Order,
        LedgerKind::Adjustment,
        LedgerKind::Refund,
        LedgerKind::Payment,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Order => "order",
            LedgerKind::Adjustment => "adjustment",
            LedgerKind::Refund => "refund",
            LedgerKind::Payment => "payment",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the row is revenue (split over channels).
    pub fn is_revenue(self) -> bool {
        self != LedgerKind::Payment
    }

    /// The ledger kind of an ingested event's kind, with the sign its amount takes.
    pub fn of_event(kind: EventKind) -> (Self, i64) {
        match kind {
            EventKind::Order => (LedgerKind::Order, 1),
            EventKind::Refund => (LedgerKind::Refund, -1),
            EventKind::Payment => (LedgerKind::Payment, 1),
        }
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The row's id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The ingested event it came from (each event makes at most one row).
    pub source_event_id: String,
    /// What it records.
    pub kind: LedgerKind,
    /// The provider (`shopify`, ..., `viscount`).
    pub provider: String,
    /// The provider's id of the order, charge or refund.
    pub external_id: String,
    /// The order a payment or refund is for.
    pub order_ref: Option<String>,
    /// Signed minor units: orders and payments positive, refunds negative.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// The row's own channel (from its channel fields).
    pub channel: Channel,
    /// The customer's keyed hash.
    pub customer_ref: Option<String>,
    /// The conversion a revenue row belongs to, when it is known.
    pub conversion_id: Option<String>,
    /// When it happened, ms since the epoch.
    pub occurred_at: i64,
    /// When analytics recorded it, ms since the epoch.
    pub recorded_at: i64,
}

/// A revenue row's split over channels under every model. Each model's allocations sum
/// exactly to the row's amount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    per_model: Vec<(Model, Vec<Allocation>)>,
}

/// A split that cannot be stored: a model is missing, or its allocations do not sum to
/// the row's amount.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadSplit {
    /// A model has no allocations.
    #[error("the split has no allocations for `{0}`")]
    Missing(&'static str),
    /// A model's allocations do not add up.
    #[error("`{model}`: {mismatch}")]
    Sum {
        /// The model.
        model: &'static str,
        /// What was found.
        mismatch: SumMismatch,
    },
}

impl Split {
    /// The split of `amount` made by `allocate` for each model.
    pub fn by(mut allocate: impl FnMut(Model) -> Vec<Allocation>) -> Self {
        Self {
            per_model: Model::ALL
                .into_iter()
                .map(|model| (model, allocate(model)))
                .collect(),
        }
    }

    /// All of `amount` to one channel under every model (a refund of an order analytics
    /// never saw).
    pub fn whole(channel: Channel, amount: i64) -> Self {
        Self::by(|_| vec![Allocation { channel, amount }])
    }

    /// The allocations under `model` (empty when it has none).
    pub fn of(&self, model: Model) -> &[Allocation] {
        self.per_model
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, allocations)| allocations.as_slice())
            .unwrap_or(&[])
    }

    /// Every model with its allocations.
    pub fn models(&self) -> impl Iterator<Item = (Model, &[Allocation])> {
        self.per_model.iter().map(|(m, a)| (*m, a.as_slice()))
    }

    /// The sum-equality guard (the seed's rule): every model present, each summing
    /// exactly to `amount`.
    pub fn check(&self, amount: i64) -> Result<(), BadSplit> {
        for model in Model::ALL {
            let Some((_, allocations)) = self.per_model.iter().find(|(m, _)| *m == model) else {
                return Err(BadSplit::Missing(model.as_str()));
            };
            check_sum(allocations, amount).map_err(|mismatch| BadSplit::Sum {
                model: model.as_str(),
                mismatch,
            })?;
        }
        Ok(())
    }

    /// As stored: `{"last_touch": [["email", 1000]], ...}`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (model, allocations) in &self.per_model {
            let pairs = allocations
                .iter()
                .map(|a| Value::Array(vec![a.channel.as_str().into(), a.amount.into()]))
                .collect();
            map.insert(model.as_str().to_owned(), Value::Array(pairs));
        }
        Value::Object(map)
    }

    /// From its stored text (what [`Split::to_json`] wrote); `None` when it is not one.
    /// Read straight into borrowed pairs, not through a JSON tree: an export reads a
    /// million of them.
    pub fn parse(text: &str) -> Option<Self> {
        let stored: std::collections::BTreeMap<&str, Vec<(&str, i64)>> =
            serde_json::from_str(text).ok()?;
        let mut per_model = Vec::with_capacity(stored.len());
        for (name, pairs) in stored {
            let allocations = pairs
                .into_iter()
                .map(|(channel, amount)| {
                    Some(Allocation {
                        channel: Channel::parse(channel)?,
                        amount,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            per_model.push((Model::parse(name)?, allocations));
        }
        per_model.sort_by_key(|(model, _)| Model::ALL.iter().position(|m| m == model));
        Some(Self { per_model })
    }

    /// From its stored form; `None` when it is not one.
    pub fn from_json(value: &Value) -> Option<Self> {
        let mut per_model = Vec::new();
        for (name, pairs) in value.as_object()? {
            let model = Model::parse(name)?;
            let mut allocations = Vec::new();
            for pair in pairs.as_array()? {
                let [channel, amount] = pair.as_array()?.as_slice() else {
                    return None;
                };
                allocations.push(Allocation {
                    channel: Channel::parse(channel.as_str()?)?,
                    amount: amount.as_i64()?,
                });
            }
            per_model.push((model, allocations));
        }
        // JSON objects do not keep their order; the split's is Model::ALL's, so a split
        // read back equals the one written.
        per_model.sort_by_key(|(model, _)| Model::ALL.iter().position(|m| m == model));
        Some(Self { per_model })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_round_trips_and_checks_its_sums() {
        let split = Split::by(|model| match model {
            Model::LastTouch => vec![Allocation {
                channel: Channel::Email,
                amount: 100,
            }],
            _ => vec![
                Allocation {
                    channel: Channel::Email,
                    amount: 34,
                },
                Allocation {
                    channel: Channel::PaidSearch,
                    amount: 66,
                },
            ],
        });
        assert_eq!(split.check(100), Ok(()));
        assert!(matches!(split.check(101), Err(BadSplit::Sum { .. })));
        let back = Split::from_json(&split.to_json());
        assert_eq!(back.as_ref(), Some(&split));
        assert_eq!(
            Split::parse(&split.to_json().to_string()).as_ref(),
            Some(&split)
        );
        assert_eq!(Split::parse(r#"{"linear": [["nowhere", 1]]}"#), None);
        assert_eq!(Split::parse("not json"), None);
        let partial = Split::from_json(&serde_json::json!({"linear": [["email", 100]]}));
        assert!(matches!(
            partial.map(|s| s.check(100)),
            Some(Err(BadSplit::Missing(_)))
        ));
        assert_eq!(
            Split::from_json(&serde_json::json!({"linear": [["nowhere", 1]]})),
            None
        );
    }
}

//! The return aggregate: delivered units a customer sends back, its status state
//! machine (requested, then approved or rejected, then received), and the events it
//! announces. Which units a return may take is `returnable`'s question.

use std::fmt;

use contracts::fulfillment::{
    ParcelLine, ReturnReceived, ReturnRejected, ReturnRequested, ReturnedLine,
};

use super::{ReturnAllocation, Sku, Text, merge};

/// Where a return is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnStatus {
    /// The customer asked.
    Requested,
    /// An operator agreed; the customer may send the items.
    Approved,
    /// The items arrived back (restocked and refunded from here).
    Received,
    /// An operator refused.
    Rejected,
}

impl ReturnStatus {
    /// Every status.
    pub const ALL: [ReturnStatus; 4] = [
        Self::Requested,
        Self::Approved,
        Self::Received,
        Self::Rejected,
    ];

    /// The status in which a return no longer holds the units it names (they may be
    /// asked for again).
    pub const RELEASED: ReturnStatus = Self::Rejected;

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Received => "received",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether a return may move to `next`.
    pub fn can_become(self, next: ReturnStatus) -> bool {
        use ReturnStatus::*;
        matches!(
            (self, next),
            (Requested, Approved | Rejected) | (Approved, Received)
        )
    }
}

impl fmt::Display for ReturnStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operator decides about a return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnDecision {
    /// The customer may send the items.
    Approve,
    /// The return is refused.
    Reject,
    /// The items arrived back.
    Receive,
}

impl ReturnDecision {
    /// The status the decision moves a return to.
    pub fn target(self) -> ReturnStatus {
        match self {
            Self::Approve => ReturnStatus::Approved,
            Self::Reject => ReturnStatus::Rejected,
            Self::Receive => ReturnStatus::Received,
        }
    }
}

/// A move the return state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a return that is {from} cannot become {to}")]
pub struct ReturnTransitionError {
    /// Its status.
    pub from: ReturnStatus,
    /// The status asked for.
    pub to: ReturnStatus,
}

/// What a return is, fixed when it is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReturn {
    /// Id.
    pub id: String,
    /// The order the items came with.
    pub order_id: String,
    /// The customer (the order's owner).
    pub user_id: String,
    /// The customer's reason.
    pub reason: Text<500, true>,
    /// Which units come back, from which shipment, to which warehouse.
    pub lines: Vec<ReturnAllocation>,
}

/// Where a return stands and since when; changed only by its transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnState {
    /// Its status.
    pub status: ReturnStatus,
    /// Request, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// Approval, epoch ms.
    pub approved_at: Option<i64>,
    /// Rejection, epoch ms.
    pub rejected_at: Option<i64>,
    /// Arrival, epoch ms.
    pub received_at: Option<i64>,
}

/// Delivered units of one order a customer sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    /// Id.
    pub id: String,
    /// The order the items came with.
    pub order_id: String,
    /// The customer (the order's owner).
    pub user_id: String,
    /// The customer's reason.
    pub reason: Text<500, true>,
    /// Which units come back, from which shipment, to which warehouse.
    pub lines: Vec<ReturnAllocation>,
    state: ReturnState,
}

impl Return {
    /// A return requested now.
    pub fn request(new: NewReturn, now: i64) -> Self {
        Self::restore(
            new,
            ReturnState {
                status: ReturnStatus::Requested,
                created_at: now,
                updated_at: now,
                approved_at: None,
                rejected_at: None,
                received_at: None,
            },
        )
    }

    /// A stored return: what was requested, and where it stands.
    pub fn restore(new: NewReturn, state: ReturnState) -> Self {
        let NewReturn {
            id,
            order_id,
            user_id,
            reason,
            lines,
        } = new;
        Self {
            id,
            order_id,
            user_id,
            reason,
            lines,
            state,
        }
    }

    /// Its status.
    pub fn status(&self) -> ReturnStatus {
        self.state.status
    }

    /// Where it stands and since when.
    pub fn state(&self) -> ReturnState {
        self.state
    }

    /// Applies an operator's decision now; returns the status it left (the store's
    /// condition for writing the change).
    pub fn decide(
        &mut self,
        decision: ReturnDecision,
        now: i64,
    ) -> Result<ReturnStatus, ReturnTransitionError> {
        let (from, to) = (self.state.status, decision.target());
        if !from.can_become(to) {
            return Err(ReturnTransitionError { from, to });
        }
        let stamp = match decision {
            ReturnDecision::Approve => &mut self.state.approved_at,
            ReturnDecision::Reject => &mut self.state.rejected_at,
            ReturnDecision::Receive => &mut self.state.received_at,
        };
        *stamp = Some(now);
        self.state.status = to;
        self.state.updated_at = now;
        Ok(from)
    }

    /// Its units per sku, by sku.
    pub fn skus(&self) -> Vec<(Sku, u32)> {
        merge(self.lines.iter().map(|l| (l.sku.clone(), l.quantity)))
    }

    /// The announcement that it was requested.
    pub fn requested_event(&self) -> ReturnRequested {
        ReturnRequested {
            return_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            lines: self
                .skus()
                .into_iter()
                .map(|(sku, quantity)| ParcelLine {
                    sku: sku.as_str().to_owned(),
                    quantity,
                })
                .collect(),
            reason: self.reason.as_str().to_owned(),
        }
    }

    /// The announcement that it was rejected (nothing comes back).
    pub fn rejected_event(&self) -> ReturnRejected {
        ReturnRejected {
            return_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
        }
    }

    /// The announcement that its units arrived, per sku and warehouse, for restocking
    /// and refunding.
    pub fn received_event(&self) -> ReturnReceived {
        let lines = merge(
            self.lines
                .iter()
                .map(|l| ((l.sku.clone(), l.warehouse_id.clone()), l.quantity)),
        );
        ReturnReceived {
            return_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            lines: lines
                .into_iter()
                .map(|((sku, warehouse_id), quantity)| ReturnedLine {
                    sku: sku.as_str().to_owned(),
                    warehouse_id,
                    quantity,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReturnDecision::*;
    use super::ReturnStatus::*;
    use super::*;

    #[test]
    fn returns_are_approved_or_rejected_then_received() {
        let allowed = [
            (Requested, Approved),
            (Requested, Rejected),
            (Approved, Received),
        ];
        for from in ReturnStatus::ALL {
            assert_eq!(ReturnStatus::parse(from.as_str()), Some(from));
            for to in ReturnStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert_eq!(ReturnStatus::parse("lost"), None);
    }

    fn sku(raw: &str) -> Sku {
        Sku::try_from(raw.to_owned()).expect("sku")
    }

    fn line(shipment: &str, warehouse: &str, sku_: &str, quantity: u32) -> ReturnAllocation {
        ReturnAllocation {
            shipment_id: shipment.into(),
            warehouse_id: warehouse.into(),
            sku: sku(sku_),
            quantity,
        }
    }

    fn requested() -> Return {
        Return::request(
            NewReturn {
                id: "r1".into(),
                order_id: "o1".into(),
                user_id: "u1".into(),
                reason: Text::try_from("too small".to_owned()).expect("reason"),
                lines: vec![
                    line("s1", "wh-a", "A", 1),
                    line("s2", "wh-b", "A", 2),
                    line("s3", "wh-a", "A", 3),
                    line("s1", "wh-a", "B", 1),
                ],
            },
            1,
        )
    }

    fn return_in(status: ReturnStatus) -> Return {
        let mut r = requested();
        r.state.status = status;
        r
    }

    #[test]
    fn decisions_move_a_return_only_where_the_machine_allows() {
        // (status, decision, status after; `None`: refused)
        let table = [
            (Requested, Approve, Some(Approved)),
            (Requested, Reject, Some(Rejected)),
            (Requested, Receive, None),
            (Approved, Receive, Some(Received)),
            (Approved, Approve, None),
            (Approved, Reject, None),
            (Rejected, Approve, None),
            (Rejected, Receive, None),
            (Received, Reject, None),
            (Received, Receive, None),
        ];
        for (status, decision, expected) in table {
            let mut r = return_in(status);
            let result = r.decide(decision, 7);
            match expected {
                Some(to) => {
                    assert_eq!(result, Ok(status), "{status} {decision:?}");
                    assert_eq!(r.status(), to);
                    assert_eq!(r.state().updated_at, 7);
                }
                None => {
                    assert_eq!(
                        result,
                        Err(ReturnTransitionError {
                            from: status,
                            to: decision.target()
                        })
                    );
                    assert_eq!(r, return_in(status), "{status} {decision:?} changed it");
                }
            }
        }
    }

    #[test]
    fn each_decision_stamps_its_own_time() {
        let mut r = requested();
        r.decide(Approve, 5).expect("approve");
        r.decide(Receive, 9).expect("receive");
        let state = r.state();
        assert_eq!(
            (state.approved_at, state.rejected_at, state.received_at),
            (Some(5), None, Some(9))
        );
        assert_eq!((state.created_at, state.updated_at), (1, 9));
    }

    #[test]
    fn events_add_units_per_sku_and_per_warehouse() {
        let r = requested();
        let asked: Vec<(String, u32)> = r
            .requested_event()
            .lines
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect();
        assert_eq!(asked, [("A".to_owned(), 6), ("B".to_owned(), 1)]);
        let back: Vec<(String, String, u32)> = r
            .received_event()
            .lines
            .into_iter()
            .map(|l| (l.sku, l.warehouse_id, l.quantity))
            .collect();
        assert_eq!(
            back,
            [
                ("A".to_owned(), "wh-a".to_owned(), 4),
                ("A".to_owned(), "wh-b".to_owned(), 2),
                ("B".to_owned(), "wh-a".to_owned(), 1),
            ]
        );
    }
}

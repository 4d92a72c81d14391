//! What an admin may do to a shipment from the console, by its status: the buttons a
//! page offers follow fulfillment's state machine, so a parcel already on its way is
//! not offered "Dispatch" only for the API to refuse it.

/// The actions (path segment, button label) a shipment in `status` can take:
/// dispatched once its label exists, marked delivered while the carrier has it.
pub fn shipment_actions(status: &str) -> Vec<(&'static str, &'static str)> {
    match status {
        "label_created" => vec![("dispatch", "Dispatch")],
        "dispatched" | "in_transit" | "out_for_delivery" => vec![("deliver", "Mark delivered")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::shipment_actions;

    #[test]
    fn a_shipment_is_offered_only_the_next_step() {
        assert_eq!(
            shipment_actions("label_created"),
            [("dispatch", "Dispatch")]
        );
        for moving in ["dispatched", "in_transit", "out_for_delivery"] {
            assert_eq!(shipment_actions(moving), [("deliver", "Mark delivered")]);
        }
        for done in [
            "pending",
            "delivered",
            "failed_delivery",
            "returned",
            "cancelled",
        ] {
            assert!(shipment_actions(done).is_empty(), "{done}");
        }
    }
}

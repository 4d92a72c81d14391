//! Touchpoints: a tenant's batch is written in one transaction, every row through the
//! guard, so a refused row writes nothing of its batch.

use platform::db::Tx;

use super::guard::{self, Cell, StoreError};
use crate::domain::event::Touchpoint;

/// Stores one touchpoint.
pub async fn insert_touchpoint(tx: &mut Tx, touchpoint: &Touchpoint) -> Result<(), StoreError> {
    let fields = &touchpoint.channel_fields;
    guard::insert(
        tx,
        "touchpoints",
        &[
            ("id", Cell::Text(&touchpoint.id)),
            ("tenant_id", Cell::Text(&touchpoint.tenant_id)),
            ("customer_ref", Cell::Text(&touchpoint.customer_ref)),
            ("occurred_at", Cell::Int(touchpoint.occurred_at)),
            ("utm_source", Cell::MaybeText(fields.utm_source.as_deref())),
            ("utm_medium", Cell::MaybeText(fields.utm_medium.as_deref())),
            (
                "utm_campaign",
                Cell::MaybeText(fields.utm_campaign.as_deref()),
            ),
            (
                "referring_site",
                Cell::MaybeText(fields.referring_site.as_deref()),
            ),
            ("channel", Cell::Text(touchpoint.channel.as_str())),
            ("received_at", Cell::Int(touchpoint.received_at)),
        ],
        "",
    )
    .await?;
    Ok(())
}

//! A user's settings per channel: where SMS and push go, and whether marketing is
//! wanted (transactional messages have no setting: they cannot be switched off).

use platform::db::{Executor, Tx};

use crate::domain::{Channel, ChannelPreference};

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
        found.push((
            super::parsed(&row, "channel", Channel::parse)?,
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

/// Forgets every preference of a (deleted) user.
pub(super) async fn delete_all(tx: &mut Tx, user_id: &str) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM preferences WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

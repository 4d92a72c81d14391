//! A user's notification preferences: where SMS and push go, and whether marketing is
//! wanted on each channel (transactional messages cannot be switched off).

use super::{NotificationsApp, NotificationsError};
use crate::domain::{Channel, ChannelPreference, Recipient};
use crate::store;

/// One channel of a user's preferences, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelSettings {
    /// Where this channel's messages go (email: the account's address).
    pub to: Option<String>,
    /// Always true: transactional messages cannot be switched off.
    pub transactional: bool,
    /// Whether marketing messages are wanted.
    pub marketing: bool,
}

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// The user.
    pub user_id: String,
    /// Email.
    pub email: ChannelSettings,
    /// SMS.
    pub sms: ChannelSettings,
    /// Push.
    pub push: ChannelSettings,
}

/// A change to one channel's preferences (already validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferenceChange {
    /// `Some(None)` removes the address, `Some(Some(a))` sets it, `None` keeps it.
    pub address: Option<Option<String>>,
    /// New marketing setting, if given.
    pub marketing: Option<bool>,
}

impl NotificationsApp {
    /// A user's preferences (defaults for channels never set).
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    pub async fn preferences(&self, user_id: &str) -> Result<Preferences, NotificationsError> {
        let stored = store::preferences(self.db.reader(), user_id).await?;
        let user = store::user(self.db.reader(), user_id).await?;
        Ok(preferences_view(user_id, user.as_ref(), &stored))
    }

    /// Applies `changes` to a user's preferences and returns them.
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    pub async fn set_preferences(
        &self,
        user_id: &str,
        changes: &[(Channel, PreferenceChange)],
    ) -> Result<Preferences, NotificationsError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let mut stored = store::preferences(&mut *tx, user_id).await?;
        for (channel, change) in changes {
            let mut preference = ChannelPreference::of(&stored, *channel);
            if let Some(address) = &change.address {
                preference.address = address.clone();
            }
            if let Some(marketing) = change.marketing {
                preference.marketing = marketing;
            }
            store::set_preference(&mut tx, user_id, *channel, &preference, now).await?;
            stored.retain(|(c, _)| c != channel);
            stored.push((*channel, preference));
        }
        let user = store::user(&mut *tx, user_id).await?;
        tx.commit().await?;
        Ok(preferences_view(user_id, user.as_ref(), &stored))
    }
}

fn preferences_view(
    user_id: &str,
    user: Option<&Recipient>,
    stored: &[(Channel, ChannelPreference)],
) -> Preferences {
    let settings = |channel: Channel| {
        let preference = ChannelPreference::of(stored, channel);
        ChannelSettings {
            to: match channel {
                Channel::Email => user.map(|u| u.email.clone()).filter(|e| !e.is_empty()),
                Channel::Sms | Channel::Push => preference.address,
            },
            transactional: true,
            marketing: preference.marketing,
        }
    };
    Preferences {
        user_id: user_id.to_owned(),
        email: settings(Channel::Email),
        sms: settings(Channel::Sms),
        push: settings(Channel::Push),
    }
}

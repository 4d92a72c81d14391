//! Who messages go to: the users notifications knows from identity's events (its own
//! directory), the owner of each order, a recipient's per-channel preferences and
//! contact addresses, and the preference rule (transactional always, marketing by
//! opt-out).

use contracts::Money;

use super::{Category, Channel, Invalid};

/// A user as notifications knows them, from identity's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// User id.
    pub id: String,
    /// Email address (empty once deleted).
    pub email: String,
    /// Display name (empty once deleted).
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the account was deleted: nothing more is sent to it.
    pub deleted: bool,
}

/// The id prefix of a recipient that is an email address and no user.
///
/// A scheduled report goes to the address its schedule names (a finance mailbox, say),
/// which need not be anyone's account. Such a message records `mailto:<address>` where
/// a user's message records the user id: user ids are UUIDs, so the two never meet, a
/// user's deletion never touches it, and it shows as nobody's in events.
pub const ADDRESS_PREFIX: &str = "mailto:";

/// Whether `id` (a message's `user_id`) names a user rather than an address.
pub fn is_user_id(id: &str) -> bool {
    !id.starts_with(ADDRESS_PREFIX)
}

impl Recipient {
    /// A recipient that is only an email address; `None` when `email` does not look
    /// like one (an `@` between a local part and a domain, no spaces or control
    /// characters, at most 254 characters).
    pub fn address(email: &str) -> Option<Self> {
        let email = email.trim();
        let (local, domain) = email.rsplit_once('@')?;
        let plausible = email.len() <= 254
            && !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        plausible.then(|| Self {
            id: format!("{ADDRESS_PREFIX}{email}"),
            email: email.to_owned(),
            name: String::new(),
            roles: Vec::new(),
            deleted: false,
        })
    }

    /// A live user as identity announced them.
    pub fn live(id: String, email: String, name: String, roles: Vec<String>) -> Self {
        Self {
            id,
            email,
            name,
            roles,
            deleted: false,
        }
    }

    /// Whether the user holds the admin role (stock alerts go to every admin).
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == platform::auth::ROLE_ADMIN)
    }

    /// Where their messages on `channel` go: the account's email, or the SMS or push
    /// address they registered in `preference`.
    pub fn address_on(&self, channel: Channel, preference: &ChannelPreference) -> Option<String> {
        match channel {
            Channel::Email => Some(self.email.clone()).filter(|e| !e.is_empty()),
            Channel::Sms | Channel::Push => preference.address.clone(),
        }
    }
}

/// An order's owner and total, from ordering's `order.created`, for events that name
/// only the order (payment failures, refunds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOwner {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its total.
    pub total: Option<Money>,
}

/// A checked contact address for a channel whose address the user registers through
/// preferences (an email address comes from the account and is not set here).
pub fn contact_address(channel: Channel, raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    match channel {
        Channel::Email => Err(Invalid(
            "the email address is the account's; change it through the account",
        )),
        Channel::Sms => {
            // E.164: a plus and 8 to 15 digits, the first not zero.
            let digits = raw.strip_prefix('+').unwrap_or("");
            if (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Ok(raw.to_owned())
            } else {
                Err(Invalid("must be an E.164 phone number, e.g. +15551234567"))
            }
        }
        Channel::Push => {
            if !raw.is_empty() && raw.len() <= 4096 && raw.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(raw.to_owned())
            } else {
                Err(Invalid(
                    "must be a device token of 1 to 4096 printable characters without spaces",
                ))
            }
        }
    }
}

/// One recipient's settings for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPreference {
    /// Where messages on this channel go (for SMS and push; email uses the account's).
    pub address: Option<String>,
    /// Whether marketing messages are wanted.
    pub marketing: bool,
}

impl Default for ChannelPreference {
    /// Marketing is opt-out: on until the recipient switches it off.
    fn default() -> Self {
        Self {
            address: None,
            marketing: true,
        }
    }
}

impl ChannelPreference {
    /// The stored preference of `channel` among `stored`, or the default.
    pub fn of(stored: &[(Channel, ChannelPreference)], channel: Channel) -> Self {
        stored
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }
}

/// Whether a message of `category` may go to a recipient with `preference` on its
/// channel. Transactional messages always may: they are about the recipient's own
/// orders and account, and the recipient cannot switch them off.
pub fn allows(category: Category, preference: &ChannelPreference) -> bool {
    match category {
        Category::Transactional => true,
        Category::Marketing => preference.marketing,
    }
}

/// Checks a requested `transactional` setting: only `true` is accepted.
pub fn transactional_setting(wanted: bool) -> Result<(), Invalid> {
    if wanted {
        Ok(())
    } else {
        Err(Invalid("transactional messages cannot be switched off"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_messages_always_go_and_marketing_follows_the_opt_out() {
        let opted_in = ChannelPreference::default();
        let opted_out = ChannelPreference {
            address: None,
            marketing: false,
        };
        let cases = [
            (Category::Transactional, &opted_in, true),
            (Category::Transactional, &opted_out, true),
            (Category::Marketing, &opted_in, true),
            (Category::Marketing, &opted_out, false),
        ];
        for (category, preference, want) in cases {
            assert_eq!(
                allows(category, preference),
                want,
                "{category:?} {preference:?}"
            );
        }
        assert!(transactional_setting(true).is_ok());
        assert!(transactional_setting(false).is_err());
    }

    #[test]
    fn contact_addresses_are_checked_per_channel() {
        let cases = [
            (Channel::Sms, "+15551234567", true),
            (Channel::Sms, " +4915112345678 ", true),
            (Channel::Sms, "15551234567", false),
            (Channel::Sms, "+0555123456", false),
            (Channel::Sms, "+1555", false),
            (Channel::Sms, "+1555123456789012", false),
            (Channel::Push, "device-token:abc", true),
            (Channel::Push, "has space", false),
            (Channel::Push, "", false),
            (Channel::Email, "a@example.com", false),
        ];
        for (channel, raw, ok) in cases {
            assert_eq!(
                contact_address(channel, raw).is_ok(),
                ok,
                "{channel:?} {raw}"
            );
        }
    }

    #[test]
    fn an_address_is_a_recipient_of_email_only_and_no_user() {
        let finance = Recipient::address(" finance@shop.example ").expect("an address");
        assert_eq!(finance.id, "mailto:finance@shop.example");
        assert!(!is_user_id(&finance.id));
        assert!(is_user_id("0190a000-0000-7000-8000-000000000001"));
        let preference = ChannelPreference::default();
        assert_eq!(
            finance.address_on(Channel::Email, &preference).as_deref(),
            Some("finance@shop.example")
        );
        assert_eq!(finance.address_on(Channel::Sms, &preference), None);
        assert!(!finance.is_admin());
        for bad in [
            "",
            "finance",
            "@shop.example",
            "finance@",
            "finance@localhost",
            "finance@.example",
            "fin ance@shop.example",
            "finance@shop.example\r\nBcc: x@y.z",
        ] {
            assert_eq!(Recipient::address(bad), None, "{bad:?}");
        }
        assert_eq!(
            Recipient::address(&format!("{}@shop.example", "a".repeat(250))),
            None
        );
    }

    #[test]
    fn messages_go_to_the_accounts_email_or_the_registered_address() {
        let user = Recipient::live(
            "u1".into(),
            "u1@example.com".into(),
            "U".into(),
            vec!["customer".into(), "admin".into()],
        );
        let sms = ChannelPreference {
            address: Some("+15551234567".into()),
            marketing: true,
        };
        assert_eq!(
            user.address_on(Channel::Email, &sms).as_deref(),
            Some("u1@example.com")
        );
        assert_eq!(
            user.address_on(Channel::Sms, &sms).as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            user.address_on(Channel::Push, &ChannelPreference::default()),
            None
        );
        let forgotten = Recipient {
            email: String::new(),
            ..user.clone()
        };
        assert_eq!(forgotten.address_on(Channel::Email, &sms), None);
        assert!(user.is_admin());
        assert!(
            !Recipient {
                roles: vec!["administrator".into()],
                ..user
            }
            .is_admin()
        );
    }
}

//! Templates as the domain keeps them: the id (`<key>.<channel>`), the editable text,
//! and the stored [`Template`] with its category and who last changed it. Rendering
//! and checking the text is `crate::templates`'.

use super::{Category, Channel, Invalid};

/// A template's id: `<key>.<channel>`, e.g. `order_confirmed.email`. The key names what
/// the message is about (an event's template key, or an admin's own, like `promotion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId {
    key: String,
    channel: Channel,
}

impl TryFrom<String> for TemplateId {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let Some((key, channel)) = raw.rsplit_once('.') else {
            return Err(Invalid(
                "must be <key>.<channel>, e.g. order_confirmed.email",
            ));
        };
        let channel =
            Channel::parse(channel).ok_or(Invalid("channel must be email, sms or push"))?;
        if key.is_empty()
            || key.len() > 64
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Invalid("key must be 1 to 64 of a-z 0-9 _"));
        }
        Ok(Self {
            key: key.to_owned(),
            channel,
        })
    }
}

impl TemplateId {
    /// The id for `key` on `channel` (keys from code are trusted).
    pub fn new(key: &str, channel: Channel) -> Self {
        Self {
            key: key.to_owned(),
            channel,
        }
    }

    /// What the message is about.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }
}

impl std::fmt::Display for TemplateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.key, self.channel.as_str())
    }
}

/// The editable parts of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateText {
    /// Subject line (email) or title (push).
    pub subject: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// HTML body (email).
    pub html: Option<String>,
}

/// A stored template: what messages of one key on one channel are rendered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Its id (key and channel).
    pub id: TemplateId,
    /// Whether its messages can be switched off by the recipient.
    pub category: Category,
    /// Its text.
    pub text: TemplateText,
    /// Whether messages are made from it.
    pub enabled: bool,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// The admin who last changed it (none for an untouched default).
    pub updated_by: Option<String>,
}

impl Template {
    /// A default template as the service starts with it: enabled, changed by nobody.
    pub fn seeded(id: TemplateId, category: Category, text: TemplateText, now: i64) -> Self {
        Self {
            id,
            category,
            text,
            enabled: true,
            created_at: now,
            updated_at: now,
            updated_by: None,
        }
    }

    /// Template `id` after `actor`'s edit, replacing `existing` when there is one: it
    /// keeps its creation time, and its category unless `category` names one (a new
    /// template is transactional unless told otherwise).
    pub fn edited(
        existing: Option<&Template>,
        id: TemplateId,
        text: TemplateText,
        category: Option<Category>,
        enabled: bool,
        actor: &str,
        now: i64,
    ) -> Self {
        Self {
            id,
            category: category
                .or(existing.map(|t| t.category))
                .unwrap_or(Category::Transactional),
            text,
            enabled,
            created_at: existing.map_or(now, |t| t.created_at),
            updated_at: now,
            updated_by: Some(actor.to_owned()),
        }
    }

    /// Whether an admin changed it (a default that was never edited is not).
    pub fn customized(&self) -> bool {
        self.updated_by.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_name_a_key_and_a_channel() {
        let cases: &[(&str, Option<(&str, Channel)>)] = &[
            (
                "order_confirmed.email",
                Some(("order_confirmed", Channel::Email)),
            ),
            ("promo_2.sms", Some(("promo_2", Channel::Sms))),
            ("welcome.push", Some(("welcome", Channel::Push))),
            ("welcome", None),
            ("welcome.fax", None),
            (".email", None),
            ("Welcome.email", None),
            ("a-b.email", None),
            ("a.b.email", None),
        ];
        for (raw, want) in cases {
            let got = TemplateId::try_from((*raw).to_owned())
                .ok()
                .map(|id| (id.key().to_owned(), id.channel()));
            assert_eq!(got, want.map(|(k, c)| (k.to_owned(), c)), "{raw}");
        }
        assert_eq!(
            TemplateId::new("welcome", Channel::Email).to_string(),
            "welcome.email"
        );
    }

    #[test]
    fn an_edit_keeps_the_creation_and_category_unless_told_otherwise() {
        let id = TemplateId::new("promotion", Channel::Email);
        let text = |body: &str| TemplateText {
            subject: Some("Hi".into()),
            body: body.into(),
            html: None,
        };
        let seeded = Template::seeded(id.clone(), Category::Marketing, text("a"), 10);
        assert!(!seeded.customized());
        let edited = Template::edited(
            Some(&seeded),
            id.clone(),
            text("b"),
            None,
            false,
            "admin",
            20,
        );
        assert_eq!(
            (
                edited.category,
                edited.created_at,
                edited.updated_at,
                edited.enabled
            ),
            (Category::Marketing, 10, 20, false)
        );
        assert!(edited.customized());
        let recategorized = Template::edited(
            Some(&edited),
            id.clone(),
            text("c"),
            Some(Category::Transactional),
            true,
            "admin",
            30,
        );
        assert_eq!(recategorized.category, Category::Transactional);
        let fresh = Template::edited(None, id, text("d"), None, true, "admin", 40);
        assert_eq!(
            (fresh.category, fresh.created_at),
            (Category::Transactional, 40)
        );
    }
}

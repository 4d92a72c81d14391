//! The optional parts of a profile a user (or an admin) may set beside the name: a
//! phone number in E.164 form and the address of an avatar image.

use super::Invalid;

/// Most characters an avatar URL may have (what browsers and CDNs reliably accept).
pub const MAX_AVATAR_URL_CHARS: usize = 2048;

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0 (a country
/// code never starts with 0). Surrounding spaces are trimmed; nothing else is
/// rewritten, so what is stored is what a carrier dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl TryFrom<String> for Phone {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let phone = raw.trim();
        let valid = phone.strip_prefix('+').is_some_and(|digits| {
            (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if valid {
            Ok(Self(phone.to_owned()))
        } else {
            Err(Invalid(
                "must be an E.164 number: + and 8 to 15 digits, the first not 0",
            ))
        }
    }
}

impl Phone {
    /// The number, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The address of a user's avatar image: an absolute `https` URL with a host, at most
/// [`MAX_AVATAR_URL_CHARS`] characters, without credentials in it. Only `https`, since
/// pages that show it are served over TLS and a plain `http` image would leak who
/// looks at whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl TryFrom<String> for AvatarUrl {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let text = raw.trim();
        if text.chars().count() > MAX_AVATAR_URL_CHARS {
            return Err(Invalid("must be at most 2048 characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid("must be an https URL"));
        }
        let parsed = url::Url::parse(text).map_err(|_| Invalid("must be an https URL"))?;
        let has_host = parsed.host_str().is_some_and(|h| !h.is_empty());
        if parsed.scheme() != "https" || !has_host {
            return Err(Invalid("must be an https URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Invalid("must not contain credentials"));
        }
        Ok(Self(text.to_owned()))
    }
}

impl AvatarUrl {
    /// The URL as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_e164() {
        for good in [
            "+14155550123",
            "+4930123456",
            "+12345678",
            "+123456789012345",
        ] {
            assert_eq!(
                Phone::try_from(format!(" {good} ")).map(|p| p.0),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "",
            "14155550123",
            "+1234567",
            "+1234567890123456",
            "+04155550123",
            "+1 415 555 0123",
            "+1-415-555-0123",
            "+",
            "++14155550123",
            "+١٢٣٤٥٦٧٨٩",
        ] {
            assert!(Phone::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn avatars_are_https_urls_of_bounded_length() {
        assert!(AvatarUrl::try_from("https://cdn.example.com/a/ann.png".to_owned()).is_ok());
        for bad in [
            "",
            "cdn.example.com/ann.png",
            "http://cdn.example.com/ann.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "https://",
            "https://user:secret@cdn.example.com/ann.png",
            "https://cdn.example.com/a b.png",
        ] {
            assert!(AvatarUrl::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        let long = format!("https://cdn.example.com/{}", "a".repeat(2048));
        assert!(AvatarUrl::try_from(long).is_err());
        let fits = format!("https://cdn.example.com/{}", "a".repeat(2048 - 24));
        assert_eq!(fits.len(), 2048);
        assert!(AvatarUrl::try_from(fits).is_ok());
    }
}

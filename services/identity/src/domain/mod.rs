//! Identity's rules, free of I/O: the validated inputs (this file), the [`User`]
//! aggregate with its MFA state and lifecycle (`user`), roles (`role`), sign-in rules —
//! the lockout per account and client address, the limit per address, and
//! refresh-token rotation (`sessions`), API keys (`api_key`), tenants (`tenant`),
//! TOTP (`totp`, RFC 6238), a profile's phone and avatar (`profile`), the
//! authentication log (`auth_log`) and loyalty points (`loyalty`).
//!
//! Nothing here knows SQL or HTTP: `store` turns rows into these types (and refuses
//! rows it cannot read), `app` runs the use cases with them.

mod api_key;
mod auth_log;
pub mod loyalty;
pub mod oidc;
mod profile;
mod role;
mod sessions;
mod tenant;
pub mod totp;
mod user;

pub use api_key::{ApiKey, Grant};
pub use auth_log::{AuthEvent, AuthEventKind, Origin};
pub use profile::{AvatarUrl, Phone};
pub use role::{Role, Roles};
pub use sessions::{
    AccountFailures, AccountLock, FailureWindow, LockoutPolicy, RefreshOutcome, RefreshToken,
    SignInRefused, refresh_outcome,
};
pub use tenant::Tenant;
pub use user::{Mfa, ProfileChange, Refused, TotpSecret, User, UserParts, UserStatus};

/// Longest accepted password, in characters; argon2 over megabytes of input is a
/// denial-of-service lever, and no human types more.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why an input was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// A normalised (trimmed, lowercase) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let email = raw.trim().to_lowercase();
        if email.chars().count() > 254 {
            return Err(Invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(Invalid("must be an email address"));
        };
        let ok_chars = |s: &str| {
            !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        };
        let domain_ok = ok_chars(domain)
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if !ok_chars(local) || local.chars().count() > 64 || !domain_ok {
            return Err(Invalid("must be an email address"));
        }
        Ok(Self(email))
    }
}

impl Email {
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy (length only, as NIST SP 800-63B advises).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl TryFrom<String> for Password {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(Invalid("must be at least 10 characters"));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(Invalid("must be at most 256 characters"));
        }
        Ok(Self(raw))
    }
}

impl Password {
    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name (of a user, an API key or a tenant): trimmed, 1 to 100 characters,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl TryFrom<String> for UserName {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let name = raw.trim().to_owned();
        if name.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(Invalid("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(name))
    }
}

impl UserName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's free-form preferences: a JSON object of at most 16 KiB.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences(serde_json::Map<String, serde_json::Value>);

impl TryFrom<serde_json::Value> for Preferences {
    type Error = Invalid;

    fn try_from(raw: serde_json::Value) -> Result<Self, Self::Error> {
        let serde_json::Value::Object(map) = raw else {
            return Err(Invalid("must be a JSON object"));
        };
        if serde_json::to_string(&map)
            .map(|s| s.len())
            .unwrap_or(usize::MAX)
            > 16 * 1024
        {
            return Err(Invalid("must be at most 16 KiB"));
        }
        Ok(Self(map))
    }
}

impl Preferences {
    /// No preferences: what a new account starts with.
    pub fn empty() -> Self {
        Self(serde_json::Map::new())
    }

    /// The JSON object.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::Value::Object(self.0.clone())
    }
}

/// API key scopes: 1 to 32 of `[a-z0-9:._*-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl TryFrom<Vec<String>> for Scopes {
    type Error = Invalid;

    fn try_from(raw: Vec<String>) -> Result<Self, Self::Error> {
        if raw.is_empty() || raw.len() > 32 {
            return Err(Invalid("must list 1 to 32 scopes"));
        }
        let valid = |s: &String| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._*-".contains(&b))
        };
        if !raw.iter().all(valid) {
            return Err(Invalid("each scope must be 1 to 64 of a-z 0-9 : . _ * -"));
        }
        let mut scopes = raw;
        scopes.sort();
        scopes.dedup();
        Ok(Self(scopes))
    }
}

impl Scopes {
    /// The scopes, sorted and unique.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::try_from(" Ann@Example.COM ".to_owned()).map(|e| e.0),
            Ok("ann@example.com".to_owned())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@@x.com",
            "ann@x..com",
        ] {
            assert!(Email::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert!(Email::try_from(format!("{}@example.com", "a".repeat(300))).is_err());
        assert!(Email::try_from("zoë@exämple.com".to_owned()).is_ok());
    }

    #[test]
    fn passwords_need_ten_to_256_characters() {
        assert!(Password::try_from("short".to_owned()).is_err());
        assert!(Password::try_from("long enough".to_owned()).is_ok());
        assert!(
            Password::try_from("ééééééééé".to_owned()).is_err(),
            "counts characters, not bytes"
        );
        assert!(Password::try_from("x".repeat(257)).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert!(UserName::try_from("   ".to_owned()).is_err());
        assert!(UserName::try_from("a\u{0}b".to_owned()).is_err());
        assert!(UserName::try_from("n".repeat(101)).is_err());
        assert_eq!(
            UserName::try_from(" 李小龍 ".to_owned()).map(|n| n.0),
            Ok("李小龍".to_owned())
        );
    }

    #[test]
    fn scopes_are_checked_sorted_and_deduplicated() {
        let scopes = Scopes::try_from(vec!["b:write".into(), "a:read".into(), "b:write".into()])
            .expect("valid");
        assert_eq!(scopes.as_slice(), ["a:read", "b:write"]);
        assert!(Scopes::try_from(vec![]).is_err());
        assert!(Scopes::try_from(vec!["Admin".into()]).is_err());
    }
}

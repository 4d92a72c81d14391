//! Identity's rules, free of I/O: validated inputs, roles, the lockout rule, refresh
//! token rotation outcomes and TOTP (RFC 6238).

use hmac::{Hmac, Mac};
use sha1::Sha1;

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

/// A display name: trimmed, 1 to 100 characters, no control characters.
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
    /// The JSON object.
    pub fn into_value(self) -> serde_json::Value {
        serde_json::Value::Object(self.0)
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

/// The lockout rule: `threshold` failures within `window_ms` lock for `duration_ms`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures that lock the account.
    pub threshold: u32,
    /// How far back failures count.
    pub window_ms: i64,
    /// How long the lock lasts.
    pub duration_ms: i64,
}

impl LockoutPolicy {
    /// The lock end to set after a failure, given the failures (including this one)
    /// within the window; `None` while under the threshold.
    pub fn lock_after_failure(&self, failures_in_window: i64, now_ms: i64) -> Option<i64> {
        (failures_in_window >= i64::from(self.threshold)).then_some(now_ms + self.duration_ms)
    }
}

/// What presenting a refresh token means, given its stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: rotate it.
    Rotate,
    /// Already rotated: someone replayed it; revoke the family.
    ReuseDetected,
    /// Revoked or expired.
    Refused,
}

/// Classifies a stored refresh token presented at `now_ms`.
pub fn refresh_outcome(
    rotated: bool,
    revoked: bool,
    expires_at_ms: i64,
    now_ms: i64,
) -> RefreshOutcome {
    if revoked {
        RefreshOutcome::Refused
    } else if rotated {
        RefreshOutcome::ReuseDetected
    } else if expires_at_ms <= now_ms {
        RefreshOutcome::Refused
    } else {
        RefreshOutcome::Rotate
    }
}

/// TOTP (RFC 6238) with SHA-1, 30-second steps and 6 digits, as authenticator apps use.
pub mod totp {
    use super::*;

    /// Seconds per step.
    pub const STEP_SECS: i64 = 30;
    /// Steps of clock drift accepted either way.
    pub const DRIFT_STEPS: i64 = 1;

    /// The code for step number `step`.
    pub fn code_at_step(secret: &[u8], step: i64) -> u32 {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
            return 0;
        };
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let binary = (u32::from(digest[offset]) & 0x7f) << 24
            | u32::from(digest[offset + 1]) << 16
            | u32::from(digest[offset + 2]) << 8
            | u32::from(digest[offset + 3]);
        binary % 1_000_000
    }

    /// The step number at `unix_secs`.
    pub fn step_at(unix_secs: i64) -> i64 {
        unix_secs.div_euclid(STEP_SECS)
    }

    /// The step `code` matches at `unix_secs` (within drift), if any and if it is later
    /// than `last_used_step` — a code is good once.
    pub fn verify(
        secret: &[u8],
        code: &str,
        unix_secs: i64,
        last_used_step: Option<i64>,
    ) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let wanted: u32 = code.parse().ok()?;
        let now = step_at(unix_secs);
        (now - DRIFT_STEPS..=now + DRIFT_STEPS)
            .filter(|step| last_used_step.is_none_or(|last| *step > last))
            .find(|step| code_at_step(secret, *step) == wanted)
    }

    /// The `otpauth://` URL authenticator apps scan.
    pub fn otpauth_url(issuer: &str, account: &str, secret_base32: &str) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        format!(
            "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits=6&period=30",
            enc(issuer),
            enc(account),
            enc(issuer)
        )
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

    #[test]
    fn lockout_triggers_at_the_threshold() {
        let policy = LockoutPolicy {
            threshold: 5,
            window_ms: 900_000,
            duration_ms: 900_000,
        };
        assert_eq!(policy.lock_after_failure(4, 1000), None);
        assert_eq!(policy.lock_after_failure(5, 1000), Some(901_000));
    }

    #[test]
    fn refresh_outcomes_follow_the_table() {
        use RefreshOutcome::*;
        let table = [
            (false, false, 2000, 1000, Rotate),
            (true, false, 2000, 1000, ReuseDetected),
            (true, true, 2000, 1000, Refused),
            (false, true, 2000, 1000, Refused),
            (false, false, 1000, 1000, Refused),
        ];
        for (rotated, revoked, expires, now, want) in table {
            assert_eq!(refresh_outcome(rotated, revoked, expires, now), want);
        }
    }

    #[test]
    fn totp_matches_rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret, truncated to 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(totp::code_at_step(secret, totp::step_at(59)), 287_082);
        assert_eq!(
            totp::code_at_step(secret, totp::step_at(1_111_111_109)),
            81_804
        );
        assert_eq!(
            totp::code_at_step(secret, totp::step_at(2_000_000_000)),
            279_037
        );
    }

    #[test]
    fn totp_accepts_drift_and_refuses_reuse() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_109;
        let code = format!("{:06}", totp::code_at_step(secret, totp::step_at(now) - 1));
        let step = totp::verify(secret, &code, now, None).expect("drift of one step accepted");
        assert_eq!(
            totp::verify(secret, &code, now, Some(step)),
            None,
            "a code is good once"
        );
        assert_eq!(totp::verify(secret, "12345", now, None), None);
        assert_eq!(totp::verify(secret, &code, now + 120, None), None);
    }
}

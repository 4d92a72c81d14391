//! The authentication log: what happened to a user's sign-ins and credentials, from
//! which address and user agent, kept for the user and admins to read (and pruned after
//! `auth_log_retention_days`). It is personal data: it is shown to the user and admins
//! only, deleted with the account, and never written to the service's own logs.

use super::Invalid;

/// Most characters of a user agent the log keeps; the rest is cut (a header can be
/// kilobytes long, and no real browser's is).
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEventKind {
    /// A sign-in with the right password (MFA off) started a session.
    LoginSucceeded,
    /// A sign-in gave a wrong password.
    LoginFailed,
    /// Repeated failures locked the account for the address they came from.
    LockedOut,
    /// A sign-in with MFA gave a right one-time code and started a session.
    MfaChallengePassed,
    /// A sign-in with MFA gave a wrong (or used) one-time code.
    MfaChallengeFailed,
    /// MFA was turned on (enrolment verified with a code).
    MfaEnabled,
    /// A spent refresh token was presented again: its session was ended.
    RefreshReuseDetected,
    /// The password was changed (the other sessions ended).
    PasswordChanged,
    /// A session was ended by signing out (or revoking its refresh token).
    Logout,
}

impl AuthEventKind {
    /// Every kind, as stored and shown.
    pub const ALL: [Self; 9] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LockedOut,
        Self::MfaChallengePassed,
        Self::MfaChallengeFailed,
        Self::MfaEnabled,
        Self::RefreshReuseDetected,
        Self::PasswordChanged,
        Self::Logout,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LockedOut => "locked_out",
            Self::MfaChallengePassed => "mfa_challenge_passed",
            Self::MfaChallengeFailed => "mfa_challenge_failed",
            Self::MfaEnabled => "mfa_enabled",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::PasswordChanged => "password_changed",
            Self::Logout => "logout",
        }
    }
}

impl TryFrom<&str> for AuthEventKind {
    type Error = Invalid;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or(Invalid("unknown authentication event kind"))
    }
}

/// Where a request came from: the key the sign-in guard counts attempts under, and the
/// address and user agent the log records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The guard's key of the client address (an IPv6 address by its /64).
    pub client: String,
    /// The client's address, as the gateway forwarded it; `None` for an in-process
    /// call without one.
    pub ip: Option<String>,
    /// The `User-Agent` the client sent, cut to [`MAX_USER_AGENT_CHARS`] and without
    /// control characters.
    pub user_agent: Option<String>,
}

impl Origin {
    /// The origin of a request from `ip` (`client` its guard key) with `user_agent`.
    pub fn new(client: String, ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
            })
            .map(|ua| ua.trim().to_owned())
            .filter(|ua| !ua.is_empty());
        Self {
            client,
            ip,
            user_agent,
        }
    }
}

/// One line of a user's authentication log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// Id (UUIDv7: ordered by time).
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// What happened.
    pub kind: AuthEventKind,
    /// From which address.
    pub ip: Option<String>,
    /// With which user agent.
    pub user_agent: Option<String>,
    /// When, epoch ms.
    pub at: i64,
}

impl AuthEvent {
    /// `kind` happening to `user_id` now (`at`), from `origin`.
    pub fn new(
        id: String,
        user_id: &str,
        kind: AuthEventKind,
        origin: Option<&Origin>,
        at: i64,
    ) -> Self {
        Self {
            id,
            user_id: user_id.to_owned(),
            kind,
            ip: origin.and_then(|o| o.ip.clone()),
            user_agent: origin.and_then(|o| o.user_agent.clone()),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_by_name() {
        for kind in AuthEventKind::ALL {
            assert_eq!(AuthEventKind::try_from(kind.as_str()), Ok(kind));
        }
        assert!(AuthEventKind::try_from("login").is_err());
    }

    #[test]
    fn user_agents_are_cut_and_cleaned() {
        let origin = Origin::new(
            "k".into(),
            None,
            Some(&format!("a\u{7}{}", "b".repeat(600))),
        );
        let ua = origin.user_agent.expect("kept");
        assert_eq!(ua.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(ua.starts_with("ab"));
        assert_eq!(Origin::new("k".into(), None, Some("  ")).user_agent, None);
    }
}

//! A browser session: its CSRF token, and once signed in, who it is and the tokens the
//! console calls the API with on its behalf. The browser holds only the session's id
//! (an HttpOnly cookie); the tokens never leave the server.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Seconds before an access token's expiry at which it is refreshed, so a call made
/// with it does not expire on its way.
pub const REFRESH_MARGIN_SECS: i64 = 30;

/// One browser's session, signed in or not (a visitor signing up needs a CSRF token
/// before they have an account).
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// The token every form of this session carries back.
    pub csrf: String,
    /// When the session began (epoch seconds).
    pub started_at: i64,
    /// When it was last written (its idle expiry counts from there).
    #[serde(default)]
    pub touched_at: i64,
    /// Who is signed in, if anyone.
    pub user: Option<SignedIn>,
    /// The signed-in buyer's open cart.
    pub cart_id: Option<String>,
}

/// The signed-in user of a session and the API tokens issued to the console for them.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignedIn {
    /// The user's id (`sub`).
    pub user_id: String,
    /// Their email.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their roles when they signed in.
    pub roles: Vec<String>,
    /// The access token the console calls the API with.
    pub access_token: String,
    /// When it expires (epoch seconds).
    pub access_expires_at: i64,
    /// The refresh token that renews it.
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for SignedIn {
    // Tokens are secrets: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user_id", &self.user_id)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Session {
    // The CSRF token is a secret of the browser's: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("started_at", &self.started_at)
            .field("user", &self.user)
            .field("cart_id", &self.cart_id)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    /// Whether the user may open the admin.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|role| role == "admin")
    }

    /// Whether the access token must be refreshed before a call at `now`.
    pub fn needs_refresh(&self, now: i64) -> bool {
        now + REFRESH_MARGIN_SECS >= self.access_expires_at
    }
}

impl Session {
    /// A new session, not signed in, started at `now`.
    pub fn new(now: i64) -> Self {
        Self {
            csrf: platform::ids::random_token(""),
            started_at: now,
            touched_at: now,
            user: None,
            cart_id: None,
        }
    }

    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// Whether the session has outlived `max_age_secs` at `now`.
    pub fn expired(&self, now: i64, max_age_secs: u64) -> bool {
        now.saturating_sub(self.started_at) >= i64::try_from(max_age_secs).unwrap_or(i64::MAX)
    }

    /// The session after `user` signed in: a new CSRF token (a token seen before the
    /// sign-in is not trusted after it) and no cart of a previous user.
    pub fn signed_in(now: i64, user: SignedIn) -> Self {
        Self {
            user: Some(user),
            ..Self::new(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_matches_only_its_own_token() {
        let session = Session::new(0);
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches("forged"));
        assert!(!Session::new(0).csrf_matches(&session.csrf));
    }

    #[test]
    fn a_session_ends_at_its_age() {
        let session = Session::new(100);
        assert!(!session.expired(199, 100));
        assert!(session.expired(200, 100));
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        let user = SignedIn {
            user_id: "u".into(),
            email: "e".into(),
            name: "n".into(),
            roles: vec!["customer".into()],
            access_token: "secret-token".into(),
            access_expires_at: 1_000,
            refresh_token: None,
        };
        assert!(!user.needs_refresh(1_000 - REFRESH_MARGIN_SECS - 1));
        assert!(user.needs_refresh(1_000 - REFRESH_MARGIN_SECS));
        assert!(!format!("{user:?}").contains("secret-token"));
        let session = Session::signed_in(0, user.clone());
        assert!(!format!("{session:?}").contains(&session.csrf));
        assert!(!user.is_admin());
    }
}

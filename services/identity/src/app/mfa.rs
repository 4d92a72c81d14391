//! MFA enrolment: a new TOTP secret for the caller's authenticator app, then a code
//! from the app that proves it, after which sign-in needs a code too.

use platform::auth::Principal;

use super::{IdentityApp, IdentityError};
use crate::domain::{AuthEventKind, Origin, TotpSecret, totp};
use crate::store;

impl IdentityApp {
    /// Starts MFA enrolment: a new secret the caller adds to an authenticator app.
    /// Returns it (base32) and its `otpauth://` URL.
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject), err(level = "info"))]
    pub async fn mfa_enable(&self, caller: &Principal) -> Result<(String, String), IdentityError> {
        let mut user = self.me(caller).await?;
        let secret = TotpSecret::from_bytes(&platform::ids::random_bytes::<20>());
        user.start_mfa(secret.clone(), self.clock.now_millis())?;
        let mut tx = self.db.begin().await?;
        if !store::start_mfa(&mut tx, &user).await? {
            // Turned on by another request since `user` was read.
            return Err(IdentityError::MfaAlreadyEnabled);
        }
        tx.commit().await?;
        let url = totp::otpauth_url(
            &self.config.mfa_issuer_name,
            user.email().as_str(),
            secret.as_base32(),
        );
        Ok((secret.as_base32().to_owned(), url))
    }

    /// Finishes MFA enrolment with a code from the app; from now on login needs one.
    /// Logged, with `origin`.
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject), err(level = "info"))]
    pub async fn mfa_verify(
        &self,
        caller: &Principal,
        code: &str,
        origin: &Origin,
    ) -> Result<(), IdentityError> {
        let mut user = self.me(caller).await?;
        user.enable_mfa(code, self.clock.now_secs(), self.clock.now_millis())?;
        let mut tx = self.db.begin().await?;
        if !store::enable_mfa(&mut tx, &user).await? {
            // The enrolment restarted (another secret) or finished since `user` was
            // read: the code proved a secret that is no longer pending.
            return Err(IdentityError::InvalidMfaCode);
        }
        self.log_auth(&mut tx, user.id(), AuthEventKind::MfaEnabled, Some(origin))
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

//! The [`User`] aggregate: an account with its typed email, name, roles and
//! preferences, its MFA state and its lifecycle, and the events that announce its
//! changes.
//!
//! ```text
//! MFA:      off ─start─▶ pending(secret) ─start─▶ pending(new secret)
//!                        pending(secret) ─enable with a code of it─▶ on(secret, step)
//!           on(secret, step) ─sign in with a later step's code─▶ on(secret, later step)
//! account:  active ─delete─▶ deleted (personal data scrubbed; never read again)
//! roles:    active ─set roles─▶ active with the new roles, unless that takes `admin`
//!           from the last admin
//! ```
//!
//! A user changes only through these methods, which refuse what their state does not
//! allow with [`Refused`]; the store writes each change under the condition the change
//! started from (MFA still pending with the secret the code proved, not deleted yet).
//! Sign-in lockouts are not the account's state: they hold per client address (see
//! `sessions`).

use contracts::identity::{UserCreated, UserDeleted, UserUpdated};
use data_encoding::BASE32_NOPAD;
use platform::time::rfc3339;

use super::{AvatarUrl, Email, Invalid, Phone, Preferences, Role, Roles, UserName, totp};

/// A TOTP secret, as authenticator apps show it (base32) and as codes are computed from
/// it (bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret {
    base32: String,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// The secret of `bytes` (random, from the caller).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            base32: BASE32_NOPAD.encode(bytes),
            bytes: bytes.to_vec(),
        }
    }

    /// A secret from its base32 text (as stored).
    pub fn from_base32(base32: String) -> Result<Self, Invalid> {
        let bytes = BASE32_NOPAD
            .decode(base32.as_bytes())
            .map_err(|_| Invalid("must be unpadded base32"))?;
        Ok(Self { base32, bytes })
    }

    /// The base32 text (shown once at enrolment, and stored).
    pub fn as_base32(&self) -> &str {
        &self.base32
    }
}

/// Where a user's multi-factor authentication stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mfa {
    /// Never started: sign-in needs the password only.
    Off,
    /// Started: a secret waits for a code from the app before it counts.
    Pending(TotpSecret),
    /// On: sign-in needs a code too, each step's code good once.
    On {
        /// The secret.
        secret: TotpSecret,
        /// The step of the last code used.
        last_step: Option<i64>,
    },
}

impl Mfa {
    /// Whether sign-in needs a code.
    pub fn is_enabled(&self) -> bool {
        matches!(self, Self::On { .. })
    }

    /// The secret, pending or enabled.
    pub fn secret(&self) -> Option<&TotpSecret> {
        match self {
            Self::Off => None,
            Self::Pending(secret) | Self::On { secret, .. } => Some(secret),
        }
    }

    /// The step of the last code used, once on.
    pub fn last_step(&self) -> Option<i64> {
        match self {
            Self::On { last_step, .. } => *last_step,
            Self::Off | Self::Pending(_) => None,
        }
    }
}

/// Whether an account still exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// In use.
    Active,
    /// Deleted: its personal data is scrubbed and its id never reused.
    Deleted,
}

/// A change a user's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// MFA is on already.
    #[error("multi-factor authentication is already enabled")]
    MfaAlreadyEnabled,
    /// MFA was never started, so there is no secret to prove.
    #[error("multi-factor authentication was not started")]
    MfaNotStarted,
    /// MFA is not on, so there is no code to check at sign-in.
    #[error("multi-factor authentication is not enabled")]
    MfaNotEnabled,
    /// The code is not the secret's at this time, or its step was used.
    #[error("the one-time code is invalid")]
    InvalidCode,
    /// The account is deleted.
    #[error("the account is deleted")]
    Deleted,
    /// The change takes `admin` from the only admin, which would leave the platform
    /// without one.
    #[error("the last admin cannot lose the admin role")]
    LastAdmin,
}

/// A change to a profile: each part `None` stays as it is; `phone` and `avatar_url`
/// are `Some(None)` to clear them. A user's own change leaves `email` alone (changing
/// it is an admin's); an admin's replacement sets every part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChange {
    /// A new email (admins only: it is how the user signs in).
    pub email: Option<Email>,
    /// A new display name.
    pub name: Option<UserName>,
    /// New preferences, replacing the old.
    pub preferences: Option<Preferences>,
    /// A new phone number, or `Some(None)` to clear it.
    pub phone: Option<Option<Phone>>,
    /// A new avatar address, or `Some(None)` to clear it.
    pub avatar_url: Option<Option<AvatarUrl>>,
}

/// Everything a user is made of, for the store to restore one from a row.
#[derive(Debug, Clone, PartialEq)]
pub struct UserParts {
    /// Id.
    pub id: String,
    /// Normalised email.
    pub email: Email,
    /// Display name.
    pub name: UserName,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Free-form preferences.
    pub preferences: Preferences,
    /// Phone number (E.164), if given.
    pub phone: Option<Phone>,
    /// Avatar image address, if given.
    pub avatar_url: Option<AvatarUrl>,
    /// MFA state.
    pub mfa: Mfa,
    /// Lifecycle.
    pub status: UserStatus,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// An account.
#[derive(Debug, Clone, PartialEq)]
pub struct User(UserParts);

impl User {
    /// A new account: no preferences, MFA off, active.
    pub fn register(
        id: String,
        email: Email,
        name: UserName,
        password_hash: String,
        roles: &[Role],
        now: i64,
    ) -> Self {
        Self(UserParts {
            id,
            email,
            name,
            password_hash,
            roles: roles.to_vec(),
            preferences: Preferences::empty(),
            phone: None,
            avatar_url: None,
            mfa: Mfa::Off,
            status: UserStatus::Active,
            created_at: now,
            updated_at: now,
        })
    }

    /// A user as stored (for the store).
    pub fn restore(parts: UserParts) -> Self {
        Self(parts)
    }

    /// Id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Email.
    pub fn email(&self) -> &Email {
        &self.0.email
    }

    /// Display name.
    pub fn name(&self) -> &UserName {
        &self.0.name
    }

    /// argon2id PHC string of the password.
    pub fn password_hash(&self) -> &str {
        &self.0.password_hash
    }

    /// Roles.
    pub fn roles(&self) -> &[Role] {
        &self.0.roles
    }

    /// Roles by name, as tokens and events carry them.
    pub fn role_names(&self) -> Vec<String> {
        self.0.roles.iter().map(|r| r.as_str().to_owned()).collect()
    }

    /// Free-form preferences.
    pub fn preferences(&self) -> &Preferences {
        &self.0.preferences
    }

    /// Phone number (E.164), if given.
    pub fn phone(&self) -> Option<&Phone> {
        self.0.phone.as_ref()
    }

    /// Avatar image address, if given.
    pub fn avatar_url(&self) -> Option<&AvatarUrl> {
        self.0.avatar_url.as_ref()
    }

    /// MFA state.
    pub fn mfa(&self) -> &Mfa {
        &self.0.mfa
    }

    /// Lifecycle.
    pub fn status(&self) -> UserStatus {
        self.0.status
    }

    /// Creation, epoch ms.
    pub fn created_at(&self) -> i64 {
        self.0.created_at
    }

    /// Last change, epoch ms.
    pub fn updated_at(&self) -> i64 {
        self.0.updated_at
    }

    fn active(&self) -> Result<(), Refused> {
        match self.0.status {
            UserStatus::Active => Ok(()),
            UserStatus::Deleted => Err(Refused::Deleted),
        }
    }

    /// Applies `change` to the profile (what it leaves `None` stays); returns the event
    /// announcing the profile as it is then.
    pub fn update_profile(
        &mut self,
        change: ProfileChange,
        now: i64,
    ) -> Result<UserUpdated, Refused> {
        self.active()?;
        let ProfileChange {
            email,
            name,
            preferences,
            phone,
            avatar_url,
        } = change;
        if let Some(email) = email {
            self.0.email = email;
        }
        if let Some(name) = name {
            self.0.name = name;
        }
        if let Some(preferences) = preferences {
            self.0.preferences = preferences;
        }
        if let Some(phone) = phone {
            self.0.phone = phone;
        }
        if let Some(avatar_url) = avatar_url {
            self.0.avatar_url = avatar_url;
        }
        self.0.updated_at = now;
        Ok(self.updated_event())
    }

    /// Replaces the password (already hashed).
    pub fn change_password_hash(&mut self, hash: String, now: i64) -> Result<(), Refused> {
        self.active()?;
        self.0.password_hash = hash;
        self.0.updated_at = now;
        Ok(())
    }

    /// Starts MFA enrolment with a new `secret` (replacing a pending one).
    pub fn start_mfa(&mut self, secret: TotpSecret, now: i64) -> Result<(), Refused> {
        self.active()?;
        if self.0.mfa.is_enabled() {
            return Err(Refused::MfaAlreadyEnabled);
        }
        self.0.mfa = Mfa::Pending(secret);
        self.0.updated_at = now;
        Ok(())
    }

    /// Turns MFA on with `code` from the app, proving it holds the pending secret at
    /// `unix_secs`; returns the step of the code.
    pub fn enable_mfa(&mut self, code: &str, unix_secs: i64, now: i64) -> Result<i64, Refused> {
        self.active()?;
        let secret = match &self.0.mfa {
            Mfa::Off => return Err(Refused::MfaNotStarted),
            Mfa::On { .. } => return Err(Refused::MfaAlreadyEnabled),
            Mfa::Pending(secret) => secret,
        };
        let step =
            totp::verify(&secret.bytes, code, unix_secs, None).ok_or(Refused::InvalidCode)?;
        self.0.mfa = Mfa::On {
            secret: secret.clone(),
            last_step: Some(step),
        };
        self.0.updated_at = now;
        Ok(step)
    }

    /// Checks a sign-in `code` at `unix_secs`: it must be the secret's, of a later step
    /// than the last one used; returns its step, now the last used.
    pub fn use_code(&mut self, code: &str, unix_secs: i64) -> Result<i64, Refused> {
        self.active()?;
        let Mfa::On { secret, last_step } = &mut self.0.mfa else {
            return Err(Refused::MfaNotEnabled);
        };
        let step =
            totp::verify(&secret.bytes, code, unix_secs, *last_step).ok_or(Refused::InvalidCode)?;
        *last_step = Some(step);
        Ok(step)
    }

    /// Replaces the roles; `other_admins` is how many other live users hold `admin`
    /// (the caller keeps it from changing while this change is written). Returns the
    /// event announcing the profile with its new roles.
    pub fn set_roles(
        &mut self,
        roles: Roles,
        other_admins: i64,
        now: i64,
    ) -> Result<UserUpdated, Refused> {
        self.active()?;
        let loses_admin = self.0.roles.contains(&Role::Admin) && !roles.contains(Role::Admin);
        if loses_admin && other_admins <= 0 {
            return Err(Refused::LastAdmin);
        }
        self.0.roles = roles.as_slice().to_vec();
        self.0.updated_at = now;
        Ok(self.updated_event())
    }

    /// Deletes the account (the store scrubs its personal data as it writes this);
    /// returns the event announcing it.
    pub fn delete(&mut self, now: i64) -> Result<UserDeleted, Refused> {
        self.active()?;
        self.0.status = UserStatus::Deleted;
        self.0.updated_at = now;
        Ok(UserDeleted {
            user_id: self.0.id.clone(),
        })
    }

    /// `identity.user.created.v1`, announcing the new account.
    pub fn created_event(&self) -> UserCreated {
        UserCreated {
            user_id: self.0.id.clone(),
            email: self.0.email.as_str().to_owned(),
            name: self.0.name.as_str().to_owned(),
            roles: self.role_names(),
            created_at: rfc3339(self.0.created_at),
        }
    }

    /// `identity.user.updated.v1`, announcing the profile as it is now.
    fn updated_event(&self) -> UserUpdated {
        UserUpdated {
            user_id: self.0.id.clone(),
            email: self.0.email.as_str().to_owned(),
            name: self.0.name.as_str().to_owned(),
            roles: self.role_names(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_SECS: i64 = 1_111_111_109;

    fn user() -> User {
        User::register(
            "u1".into(),
            Email::try_from("ann@example.com".to_owned()).expect("email"),
            UserName::try_from("Ann".to_owned()).expect("name"),
            "$argon2id$...".into(),
            &[Role::Customer],
            1_000,
        )
    }

    fn secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890")
    }

    fn code(step_offset: i64) -> String {
        let step = totp::step_at(NOW_SECS) + step_offset;
        format!("{:06}", totp::code_at_step(b"12345678901234567890", step))
    }

    fn with_mfa(mfa: Mfa) -> User {
        let mut user = user();
        user.0.mfa = mfa;
        user
    }

    #[test]
    fn mfa_turns_on_only_from_pending_with_a_code_of_its_secret() {
        let pending = Mfa::Pending(secret());
        let on = Mfa::On {
            secret: secret(),
            last_step: Some(1),
        };
        let table: [(&Mfa, String, Result<(), Refused>); 4] = [
            (&Mfa::Off, code(0), Err(Refused::MfaNotStarted)),
            (&pending, "000000".into(), Err(Refused::InvalidCode)),
            (&pending, code(0), Ok(())),
            (&on, code(0), Err(Refused::MfaAlreadyEnabled)),
        ];
        for (mfa, code, want) in table {
            let mut user = with_mfa(mfa.clone());
            let before = user.clone();
            let got = user.enable_mfa(&code, NOW_SECS, 2_000);
            assert_eq!(got.map(|_| ()), want, "{mfa:?}");
            if want.is_ok() {
                assert!(user.mfa().is_enabled());
                assert_eq!(user.mfa().last_step(), Some(totp::step_at(NOW_SECS)));
                assert_eq!(user.updated_at(), 2_000);
            } else {
                assert_eq!(user, before, "a refusal changes nothing");
            }
        }
    }

    #[test]
    fn enrolment_can_restart_until_mfa_is_on() {
        for (mfa, want) in [
            (Mfa::Off, Ok(())),
            (Mfa::Pending(TotpSecret::from_bytes(b"old")), Ok(())),
            (
                Mfa::On {
                    secret: secret(),
                    last_step: None,
                },
                Err(Refused::MfaAlreadyEnabled),
            ),
        ] {
            let mut user = with_mfa(mfa.clone());
            assert_eq!(user.start_mfa(secret(), 2_000), want, "{mfa:?}");
            if want.is_ok() {
                assert_eq!(user.mfa(), &Mfa::Pending(secret()));
            }
        }
    }

    #[test]
    fn a_sign_in_code_is_good_once_and_only_with_mfa_on() {
        let mut user = with_mfa(Mfa::On {
            secret: secret(),
            last_step: None,
        });
        let step = user.use_code(&code(0), NOW_SECS).expect("the current code");
        assert_eq!(user.use_code(&code(0), NOW_SECS), Err(Refused::InvalidCode));
        assert_eq!(
            user.use_code(&code(1), NOW_SECS),
            Ok(step + 1),
            "the next step's code (within drift) is another code"
        );
        for mfa in [Mfa::Off, Mfa::Pending(secret())] {
            assert_eq!(
                with_mfa(mfa).use_code(&code(0), NOW_SECS),
                Err(Refused::MfaNotEnabled)
            );
        }
    }

    #[test]
    fn a_deleted_account_changes_no_more() {
        let mut user = user();
        let deleted = user.delete(3_000).expect("active");
        assert_eq!(deleted.user_id, "u1");
        assert_eq!(user.status(), UserStatus::Deleted);
        assert_eq!(user.delete(4_000), Err(Refused::Deleted));
        assert_eq!(
            user.update_profile(ProfileChange::default(), 4_000),
            Err(Refused::Deleted)
        );
        assert_eq!(
            user.change_password_hash("x".into(), 4_000),
            Err(Refused::Deleted)
        );
        assert_eq!(user.start_mfa(secret(), 4_000), Err(Refused::Deleted));
        let roles = Roles::try_from(vec![Role::Premium]).expect("roles");
        assert_eq!(user.set_roles(roles, 1, 4_000), Err(Refused::Deleted));
    }

    #[test]
    fn roles_change_unless_the_last_admin_would_lose_admin() {
        use Role::*;
        let roles = |r: &[Role]| Roles::try_from(r.to_vec()).expect("valid roles");
        // (roles before, roles after, other admins, allowed)
        let table: [(&[Role], &[Role], i64, bool); 6] = [
            (&[Customer], &[Customer, Premium], 0, true),
            (&[Customer, Premium], &[Customer], 0, true),
            (&[Admin], &[Admin, Premium], 0, true),
            (&[Admin], &[Customer], 0, false),
            (&[Admin], &[Customer], 1, true),
            (&[Customer], &[Admin], 0, true),
        ];
        for (before, after, other_admins, allowed) in table {
            let mut user = user();
            user.0.roles = before.to_vec();
            let unchanged = user.clone();
            let got = user.set_roles(roles(after), other_admins, 2_000);
            if allowed {
                let event = got.expect("allowed");
                assert_eq!(
                    user.roles(),
                    roles(after).as_slice(),
                    "{before:?} -> {after:?}"
                );
                assert_eq!(event.roles, user.role_names());
                assert_eq!(user.updated_at(), 2_000);
            } else {
                assert_eq!(got, Err(Refused::LastAdmin), "{before:?} -> {after:?}");
                assert_eq!(user, unchanged, "a refusal changes nothing");
            }
        }
    }

    #[test]
    fn events_carry_the_profile_as_it_is() {
        let mut user = user();
        let created = user.created_event();
        assert_eq!(
            (created.email.as_str(), created.name.as_str(), created.roles),
            ("ann@example.com", "Ann", vec!["customer".to_owned()])
        );
        let updated = user
            .update_profile(
                ProfileChange {
                    name: Some(UserName::try_from("Ann B".to_owned()).expect("name")),
                    phone: Some(Some(
                        Phone::try_from("+14155550123".to_owned()).expect("phone"),
                    )),
                    ..ProfileChange::default()
                },
                2_000,
            )
            .expect("active");
        assert_eq!(updated.name, "Ann B");
        assert_eq!(user.updated_at(), 2_000);
        assert_eq!(user.phone().map(Phone::as_str), Some("+14155550123"));
        user.update_profile(
            ProfileChange {
                phone: Some(None),
                ..ProfileChange::default()
            },
            3_000,
        )
        .expect("active");
        assert_eq!(user.phone(), None, "Some(None) clears");
        assert_eq!(user.name().as_str(), "Ann B", "None leaves the name");
    }
}

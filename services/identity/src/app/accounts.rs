//! Accounts: registering (and the bootstrap admin), the caller's own account and
//! password, seeing, finding and deleting users, an admin replacing a user's profile or
//! setting their roles, anyone seeing a user's public profile, and whether a token's
//! subject still exists.

use platform::auth::{Principal, PrincipalKind};
use platform::db::is_unique_violation;
use tracing::field::Empty;

use super::{IdentityApp, IdentityError, POLICY};
use crate::domain::{
    AuthEventKind, Email, Origin, Password, ProfileChange, Role, Roles, User, UserName,
};
use crate::store;

/// The lock every role change holds: changes run one at a time, across replicas too,
/// so two admins taking `admin` from each other at once cannot leave the platform
/// without one.
const ROLE_CHANGES_LOCK: &str = "identity.roles";

impl IdentityApp {
    /// Creates an account with `roles`.
    #[tracing::instrument(skip_all, fields(user_id = Empty), err(level = "info"))]
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        name: UserName,
        roles: &[Role],
    ) -> Result<User, IdentityError> {
        let user = User::register(
            platform::ids::new_id(),
            email,
            name,
            self.hasher.hash(password.expose()).await?,
            roles,
            self.clock.now_millis(),
        );
        tracing::Span::current().record("user_id", user.id());
        let mut tx = self.db.begin().await?;
        store::insert_user(&mut tx, &user).await.map_err(|err| {
            if is_unique_violation(&err) {
                IdentityError::EmailTaken
            } else {
                err.into()
            }
        })?;
        self.outbox.stage(&mut tx, &user.created_event()).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Creates an admin unless the email already has an account (bootstrap and CLI);
    /// returns whether one was created.
    pub async fn ensure_admin(
        &self,
        email: Email,
        password: Password,
    ) -> Result<bool, IdentityError> {
        let name = UserName::try_from("Administrator".to_owned())
            .map_err(|_| IdentityError::Forbidden("bad name"))?;
        match self.register(email, password, name, &[Role::Admin]).await {
            Ok(_) => Ok(true),
            Err(IdentityError::EmailTaken) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The caller's own account.
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject), err(level = "info"))]
    pub async fn me(&self, caller: &Principal) -> Result<User, IdentityError> {
        store::user_by_id(self.db.reader(), &caller.subject)
            .await?
            .ok_or(IdentityError::NotFound("user"))
    }

    /// Changes the caller's own profile (its email stays: changing it is an admin's).
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject), err(level = "info"))]
    pub async fn update_me(
        &self,
        caller: &Principal,
        change: ProfileChange,
    ) -> Result<User, IdentityError> {
        let change = ProfileChange {
            email: None,
            ..change
        };
        self.change_profile(&caller.subject, change).await
    }

    /// Replaces user `id`'s profile (admins only): every part of `change` is set. A
    /// taken email is [`IdentityError::EmailTaken`].
    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "info"))]
    pub async fn update_user(
        &self,
        caller: &Principal,
        id: &str,
        change: ProfileChange,
    ) -> Result<User, IdentityError> {
        if !POLICY.may_manage(caller) {
            return Err(IdentityError::Forbidden(
                "only admins may change another user's profile",
            ));
        }
        let user = self.change_profile(id, change).await?;
        tracing::info!(by = %caller.subject, "profile replaced by an admin");
        Ok(user)
    }

    /// Applies `change` to user `id`'s profile and announces it, in one transaction.
    async fn change_profile(&self, id: &str, change: ProfileChange) -> Result<User, IdentityError> {
        let mut tx = self.db.begin().await?;
        let mut user = store::user_by_id(&mut *tx, id)
            .await?
            .ok_or(IdentityError::NotFound("user"))?;
        let updated = user.update_profile(change, self.clock.now_millis())?;
        let written = store::update_profile(&mut tx, &user).await.map_err(|err| {
            if is_unique_violation(&err) {
                IdentityError::EmailTaken
            } else {
                err.into()
            }
        })?;
        if !written {
            return Err(IdentityError::NotFound("user"));
        }
        self.outbox.stage(&mut tx, &updated).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// A live user's public profile, which anyone may see (the view shows its name and
    /// avatar only).
    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "info"))]
    pub async fn public_profile(&self, id: &str) -> Result<User, IdentityError> {
        store::user_by_id(self.db.reader(), id)
            .await?
            .ok_or(IdentityError::NotFound("user"))
    }

    /// Changes the caller's password and ends their other sessions; logged, with
    /// `origin`.
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject), err(level = "info"))]
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: &str,
        new: Password,
        origin: &Origin,
    ) -> Result<(), IdentityError> {
        let mut user = self.me(caller).await?;
        if !self
            .hasher
            .verify(Some(user.password_hash()), current)
            .await
        {
            return Err(IdentityError::WrongCurrentPassword);
        }
        let hash = self.hasher.hash(new.expose()).await?;
        let now = self.clock.now_millis();
        user.change_password_hash(hash, now)?;
        let mut tx = self.db.begin().await?;
        store::set_password_hash(&mut tx, &user).await?;
        store::revoke_user_sessions(&mut tx, user.id(), caller.session_id.as_deref(), now).await?;
        self.log_auth(
            &mut tx,
            user.id(),
            AuthEventKind::PasswordChanged,
            Some(origin),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user the caller may see (self or admin); others are "not found".
    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "info"))]
    pub async fn get_user(&self, caller: &Principal, id: &str) -> Result<User, IdentityError> {
        if !POLICY.may_see(caller, id) {
            return Err(IdentityError::NotFound("user"));
        }
        store::user_by_id(self.db.reader(), id)
            .await?
            .ok_or(IdentityError::NotFound("user"))
    }

    /// Live users whose email or name contains `needle`, by id after `after` (the
    /// caller's right to search is the handler's check).
    #[tracing::instrument(skip_all, err)]
    pub async fn search_users(
        &self,
        needle: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>, IdentityError> {
        Ok(store::search_users(self.db.reader(), needle, after, limit).await?)
    }

    /// Deletes a user (self or admin): personal data scrubbed, sessions revoked.
    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "info"))]
    pub async fn delete_user(&self, caller: &Principal, id: &str) -> Result<(), IdentityError> {
        if !POLICY.may_see(caller, id) {
            return Err(IdentityError::NotFound("user"));
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        // Dropped from the subject cache once the deletion commits, whatever becomes of
        // this request (a token of a deleted user must not be honoured for the cache's
        // TTL), and again below before the answer, so the very next request with the
        // user's token is refused.
        self.users.invalidate_after_commit(&mut tx, id.to_owned());
        let mut user = store::user_by_id(&mut *tx, id)
            .await?
            .ok_or(IdentityError::NotFound("user"))?;
        let deleted = user.delete(now)?;
        if !store::delete_user(&mut tx, &user).await? {
            return Err(IdentityError::NotFound("user"));
        }
        store::revoke_user_sessions(&mut tx, id, None, now).await?;
        // The log holds addresses and user agents: personal data goes with the account.
        store::delete_user_auth_log(&mut tx, id).await?;
        self.outbox.stage(&mut tx, &deleted).await?;
        tx.commit().await?;
        self.users.invalidate(id).await;
        self.outbox.wake();
        Ok(())
    }

    /// Sets a user's roles (admins only). New access tokens carry them: the user's next
    /// sign-in and refresh read them from the store; tokens issued before keep theirs
    /// until they expire.
    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "info"))]
    pub async fn set_roles(
        &self,
        caller: &Principal,
        id: &str,
        roles: Roles,
    ) -> Result<User, IdentityError> {
        if !POLICY.may_manage(caller) {
            return Err(IdentityError::Forbidden("only admins may change roles"));
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        tx.lock(ROLE_CHANGES_LOCK).await?;
        let mut user = store::user_by_id(&mut *tx, id)
            .await?
            .ok_or(IdentityError::NotFound("user"))?;
        let other_admins = store::count_other_admins(&mut *tx, id).await?;
        let updated = user.set_roles(roles, other_admins, now)?;
        if !store::set_roles(&mut tx, &user).await? {
            return Err(IdentityError::NotFound("user"));
        }
        self.outbox.stage(&mut tx, &updated).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(roles = ?user.role_names(), by = %caller.subject, "roles changed");
        Ok(user)
    }

    /// Whether a token's subject may still act: users must exist (asked of the
    /// subject cache first, see `cached`); API-key clients must still have an
    /// unrevoked key.
    pub async fn subject_is_active(&self, principal: &Principal) -> Result<bool, IdentityError> {
        match principal.kind {
            PrincipalKind::User => {
                let id = principal.subject.as_str();
                self.users
                    .get_or_load(id, || async {
                        Ok::<_, IdentityError>(store::user_exists(self.db.reader(), id).await?)
                    })
                    .await
            }
            PrincipalKind::Client => Ok(true),
        }
    }
}

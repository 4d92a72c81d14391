//! The subject cache: whether a user exists, by user id, for the check every request
//! with an access token makes (is the token's user still here?), so a session's
//! requests do not each read the database for it.
//!
//! A user leaves only by deletion and user ids are never reused, so either answer
//! stays true until a deletion: "gone" is kept as well as "here". A deletion drops the
//! user's entry once it has committed, and a check that read the user just before the
//! deletion committed cannot put them back (`platform::cache` keeps a load only under
//! the key's generation its lookup saw).
//!
//! In the distributed shape the entries live in Redis, shared by every identity
//! replica: a deletion through one replica is seen by all of them at once, from the
//! very next request (the per-process memory this replaced trusted a user for up to
//! 5 s on the replicas that had not made the deletion). In the embedded shape they live
//! in this process's memory; a `serve` process without Redis keeps none and asks the
//! database on every request, since a memory of its own would miss other replicas'
//! deletions.

use std::time::Duration;

use platform::cache::Cache;
use platform::service::ServiceContext;

/// Most users one process keeps in memory.
const MEMORY_CAPACITY: usize = 16_384;

/// The cache of whether users exist, by user id, each answer kept `ttl` (off when
/// zero).
pub fn user_cache(context: &ServiceContext, ttl: Duration) -> Cache {
    context.cache("identity.user", ttl, MEMORY_CAPACITY)
}

#[cfg(test)]
mod tests {
    use platform::auth::{Principal, PrincipalKind};
    use platform::bus::{Bus, EmbeddedBus};
    use platform::db::Db;
    use platform::service::ServiceKind;
    use platform::tasks::Tasks;
    use platform::time::Clock;

    use super::*;
    use crate::app::{IdentityApp, IdentityError};
    use crate::config::IdentityConfig;
    use crate::domain::{Email, Password, Role, UserName};
    use crate::keys::KeyRing;
    use crate::passwords::{Argon2Settings, PasswordHasher};
    use crate::store;

    /// Identity on a fresh SQLite database, its subject cache in memory.
    async fn app() -> (tempfile::TempDir, IdentityApp) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "identity");
        let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
        let outbox = EmbeddedBus::new()
            .attach_producer(ServiceKind::Identity, db.clone(), &Tasks::default())
            .await
            .expect("outbox");
        let clock = Clock::system();
        let config = IdentityConfig::default();
        let keys = KeyRing::load(db.clone(), clock.clone(), config.access_token_ttl_secs)
            .await
            .expect("keys");
        // Cheap hashing: these tests are about the cache, not the passwords.
        let hasher = PasswordHasher::new(Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("hasher");
        let id_tokens = crate::id_tokens::IdTokenSigner::new(db.clone(), clock.clone());
        let app = IdentityApp {
            db,
            outbox,
            keys,
            hasher,
            clock,
            config,
            users: Cache::memory("identity.user", Duration::from_secs(60), 100),
            id_tokens,
        };
        (dir, app)
    }

    /// A registered customer and the principal of their access token.
    async fn customer(app: &IdentityApp, email: &str) -> Principal {
        let user = app
            .register(
                Email::try_from(email.to_owned()).expect("email"),
                Password::try_from("correct horse battery".to_owned()).expect("password"),
                UserName::try_from("Ann".to_owned()).expect("name"),
                &[Role::Customer],
            )
            .await
            .expect("registered");
        user_principal(user.id())
    }

    fn user_principal(id: &str) -> Principal {
        Principal {
            subject: id.to_owned(),
            kind: PrincipalKind::User,
            roles: vec!["customer".into()],
            scopes: Vec::new(),
            session_id: None,
            tenant: None,
        }
    }

    async fn active(app: &IdentityApp, principal: &Principal) -> bool {
        app.subject_is_active(principal).await.expect("checked")
    }

    #[tokio::test]
    async fn a_deleted_users_very_next_check_is_refused() {
        let (_dir, app) = app().await;
        let ann = customer(&app, "ann@example.com").await;
        let bob = customer(&app, "bob@example.com").await;
        assert!(active(&app, &ann).await);
        assert!(active(&app, &ann).await, "kept, still here");
        assert!(active(&app, &bob).await);
        app.delete_user(&ann, &ann.subject).await.expect("deleted");
        assert!(!active(&app, &ann).await);
        assert!(
            active(&app, &bob).await,
            "only the deleted user's answer moved"
        );
    }

    #[tokio::test]
    async fn the_answer_is_kept_rather_than_read_on_every_request() {
        let (_dir, app) = app().await;
        let ann = customer(&app, "ann@example.com").await;
        assert!(active(&app, &ann).await);
        // Deleted in the database without a word to the cache (as by a process that
        // shares neither this memory nor a Redis with it).
        let mut tx = app.db.begin().await.expect("begin");
        let user = store::user_by_id(&mut *tx, &ann.subject)
            .await
            .expect("read")
            .expect("user");
        assert!(store::delete_user(&mut tx, &user).await.expect("delete"));
        tx.commit().await.expect("commit");
        assert!(active(&app, &ann).await, "answered from the cache");
        app.users.invalidate(&ann.subject).await;
        assert!(!active(&app, &ann).await);
    }

    #[tokio::test]
    async fn a_check_that_read_the_user_before_their_deletion_does_not_keep_them() {
        let (_dir, app) = app().await;
        let ann = customer(&app, "ann@example.com").await;
        // A check reads the user, and the deletion commits before it keeps its answer.
        let answered = app
            .users
            .get_or_load(&ann.subject, || async {
                let exists = store::user_exists(app.db.reader(), &ann.subject).await?;
                app.delete_user(&ann, &ann.subject).await?;
                Ok::<_, IdentityError>(exists)
            })
            .await
            .expect("checked");
        assert!(answered, "that check answered from its own read");
        assert!(!active(&app, &ann).await, "but did not keep it");
    }

    #[tokio::test]
    async fn an_unknown_user_is_refused_every_time_and_a_client_is_not_asked_about() {
        let (_dir, app) = app().await;
        let ghost = user_principal("never-registered");
        assert!(!active(&app, &ghost).await);
        assert!(!active(&app, &ghost).await, "kept as gone");
        let client = Principal {
            kind: PrincipalKind::Client,
            ..user_principal("some-key")
        };
        assert!(active(&app, &client).await);
    }
}

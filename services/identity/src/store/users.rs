//! Users: the account rows, read into [`User`]s and written from them. A deleted user
//! keeps its row (ids stay unique, tokens can be refused) with personal data scrubbed;
//! reads see live users only.

use platform::db::{Executor, Row, Tx};

use crate::domain::{
    AvatarUrl, Email, Mfa, Phone, Preferences, Role, TotpSecret, User, UserName, UserParts,
    UserStatus,
};

const USER_COLUMNS: &str = "id, email, name, password_hash, roles, preferences, phone, \
     avatar_url, mfa_secret, mfa_enabled, mfa_last_step, deleted_at, created_at, updated_at";

fn user_from(row: &Row) -> Result<User, platform::db::Error> {
    let email: String = row.try_get("email")?;
    let name: String = row.try_get("name")?;
    let roles: String = row.try_get("roles")?;
    let preferences: String = row.try_get("preferences")?;
    let preferences: serde_json::Value = serde_json::from_str(&preferences)
        .map_err(|err| platform::db::Error::undecodable("preferences", err))?;
    let secret: Option<String> = row.try_get("mfa_secret")?;
    let secret = secret
        .map(TotpSecret::from_base32)
        .transpose()
        .map_err(|err| platform::db::Error::undecodable("mfa_secret", err))?;
    let mfa = match (row.try_get::<i64, _>("mfa_enabled")? != 0, secret) {
        (false, None) => Mfa::Off,
        (false, Some(secret)) => Mfa::Pending(secret),
        (true, Some(secret)) => Mfa::On {
            secret,
            last_step: row.try_get("mfa_last_step")?,
        },
        (true, None) => {
            return Err(platform::db::Error::undecodable(
                "mfa_secret",
                "MFA is on without a secret",
            ));
        }
    };
    Ok(User::restore(UserParts {
        id: row.try_get("id")?,
        email: Email::try_from(email)
            .map_err(|err| platform::db::Error::undecodable("email", err))?,
        name: UserName::try_from(name)
            .map_err(|err| platform::db::Error::undecodable("name", err))?,
        password_hash: row.try_get("password_hash")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| {
                Role::parse(r).ok_or_else(|| {
                    platform::db::Error::undecodable("roles", format!("unknown role {r:?}"))
                })
            })
            .collect::<Result<_, _>>()?,
        preferences: Preferences::try_from(preferences)
            .map_err(|err| platform::db::Error::undecodable("preferences", err))?,
        phone: row
            .try_get::<Option<String>, _>("phone")?
            .map(|phone| platform::db::decoded("phone", Phone::try_from(phone)))
            .transpose()?,
        avatar_url: row
            .try_get::<Option<String>, _>("avatar_url")?
            .map(|url| platform::db::decoded("avatar_url", AvatarUrl::try_from(url)))
            .transpose()?,
        mfa,
        status: match row.try_get::<Option<i64>, _>("deleted_at")? {
            None => UserStatus::Active,
            Some(_) => UserStatus::Deleted,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

fn role_list(user: &User) -> String {
    user.role_names().join(",")
}

/// Inserts a user; a taken email is a unique violation.
pub async fn insert_user(tx: &mut Tx, user: &User) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO users (id, email, name, password_hash, roles, preferences, mfa_enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
    )
    .bind(user.id())
    .bind(user.email().as_str())
    .bind(user.name().as_str())
    .bind(user.password_hash())
    .bind(role_list(user))
    .bind(user.preferences().to_value().to_string())
    .bind(user.created_at())
    .bind(user.updated_at())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A live (not deleted) user by id.
pub async fn user_by_id<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<User>, platform::db::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    platform::db::query(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(user_from)
        .transpose()
}

/// A live user by normalised email.
pub async fn user_by_email<'e>(
    ex: impl Executor<'e>,
    email: &str,
) -> Result<Option<User>, platform::db::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL");
    platform::db::query(&sql)
        .bind(email)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(user_from)
        .transpose()
}

/// Whether a live user has this id.
pub async fn user_exists<'e>(ex: impl Executor<'e>, id: &str) -> Result<bool, platform::db::Error> {
    let found: Option<i64> =
        platform::db::query_scalar("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(ex)
            .await?;
    Ok(found.is_some())
}

/// Live users whose email or name contains `needle` (case-insensitive), by id after `after`.
pub async fn search_users<'e>(
    ex: impl Executor<'e>,
    needle: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, platform::db::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL \
         AND (LOWER(email) LIKE $1 ESCAPE '\\' OR LOWER(name) LIKE $1 ESCAPE '\\') AND id > $2 \
         ORDER BY id LIMIT $3"
    );
    let pattern = format!("%{}%", platform::db::like_escape(&needle.to_lowercase()));
    let rows = platform::db::query(&sql)
        .bind(pattern)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(user_from).collect()
}

/// Writes a changed profile (email, name, preferences, phone, avatar), if the user is
/// not deleted; returns whether it was. A taken email is a unique violation.
pub async fn update_profile(tx: &mut Tx, user: &User) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET email = $1, name = $2, preferences = $3, phone = $4, avatar_url = $5, \
         updated_at = $6 WHERE id = $7 AND deleted_at IS NULL",
    )
    .bind(user.email().as_str())
    .bind(user.name().as_str())
    .bind(user.preferences().to_value().to_string())
    .bind(user.phone().map(Phone::as_str))
    .bind(user.avatar_url().map(AvatarUrl::as_str))
    .bind(user.updated_at())
    .bind(user.id())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Writes a changed password hash.
pub async fn set_password_hash(tx: &mut Tx, user: &User) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(user.password_hash())
        .bind(user.updated_at())
        .bind(user.id())
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Writes a started MFA enrolment (its pending secret), if MFA is still not on, as
/// the start requires; returns whether it was.
pub async fn start_mfa(tx: &mut Tx, user: &User) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET mfa_secret = $1, updated_at = $2 WHERE id = $3 AND mfa_enabled = 0",
    )
    .bind(user.mfa().secret().map(TotpSecret::as_base32))
    .bind(user.updated_at())
    .bind(user.id())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Writes MFA turned on, if it is still pending with the secret the code proved (a
/// restarted enrolment replaced it otherwise); returns whether it was.
pub async fn enable_mfa(tx: &mut Tx, user: &User) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET mfa_enabled = 1, mfa_last_step = $1, updated_at = $2 \
         WHERE id = $3 AND mfa_enabled = 0 AND mfa_secret = $4",
    )
    .bind(user.mfa().last_step())
    .bind(user.updated_at())
    .bind(user.id())
    .bind(user.mfa().secret().map(TotpSecret::as_base32))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Writes the TOTP step a sign-in just used, if it is later than the stored one;
/// `false` when another request used this step (or a later one) first.
pub async fn use_mfa_step(tx: &mut Tx, user: &User) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET mfa_last_step = $1 WHERE id = $2 AND (mfa_last_step IS NULL OR mfa_last_step < $1)",
    )
    .bind(user.mfa().last_step())
    .bind(user.id())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Writes changed roles, if the user is not deleted; returns whether it was.
pub async fn set_roles(tx: &mut Tx, user: &User) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(role_list(user))
    .bind(user.updated_at())
    .bind(user.id())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// How many live users other than `id` hold the admin role.
pub async fn count_other_admins<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<i64, platform::db::Error> {
    // Roles are stored comma-separated; framing the list in commas matches whole names.
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM users WHERE deleted_at IS NULL AND id <> $1 \
         AND (',' || roles || ',') LIKE $2",
    )
    .bind(id)
    .bind(format!("%,{},%", Role::Admin.as_str()))
    .fetch_one(ex)
    .await
}

/// Writes a deletion, if the user is not deleted yet: the row stays (its id is never
/// reused) with personal data scrubbed, which also frees the email for a new account.
/// Returns whether it was.
pub async fn delete_user(tx: &mut Tx, user: &User) -> Result<bool, platform::db::Error> {
    let id = user.id();
    let updated = platform::db::query(
        "UPDATE users SET email = $1, name = '', password_hash = '', preferences = '{}', phone = NULL, \
         avatar_url = NULL, mfa_secret = NULL, mfa_enabled = 0, deleted_at = $2, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(format!("deleted+{id}@invalid"))
    .bind(user.updated_at())
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;
    use crate::MIGRATIONS;

    async fn db_with_ann() -> (tempfile::TempDir, Db, User) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "identity");
        let db = Db::connect(&url, &MIGRATIONS).await.expect("db");
        let user = User::register(
            "u1".into(),
            Email::try_from("ann@example.com".to_owned()).expect("email"),
            UserName::try_from("Ann".to_owned()).expect("name"),
            "$argon2id$hash".into(),
            &[Role::Customer, Role::Admin],
            1_000,
        );
        let mut tx = db.begin().await.expect("begin");
        insert_user(&mut tx, &user).await.expect("insert");
        tx.commit().await.expect("commit");
        (dir, db, user)
    }

    async fn set(db: &Db, column: &str, value: &str) {
        let mut tx = db.begin().await.expect("begin");
        platform::db::query(&format!("UPDATE users SET {column} = $1 WHERE id = 'u1'"))
            .bind(value)
            .execute(&mut *tx)
            .await
            .expect("update");
        tx.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn a_user_reads_back_as_it_was_written() {
        let (_dir, db, user) = db_with_ann().await;
        let read = user_by_id(db.reader(), "u1").await.expect("read");
        assert_eq!(read, Some(user));
    }

    #[tokio::test]
    async fn roles_are_written_and_admins_counted_by_whole_name() {
        let (_dir, db, mut user) = db_with_ann().await;
        assert_eq!(
            count_other_admins(db.reader(), "u1").await.expect("count"),
            0
        );
        assert_eq!(
            count_other_admins(db.reader(), "u2").await.expect("count"),
            1
        );
        let roles =
            crate::domain::Roles::try_from(vec![Role::Premium, Role::Customer]).expect("roles");
        user.set_roles(roles, 1, 2_000).expect("allowed");
        let mut tx = db.begin().await.expect("begin");
        assert!(set_roles(&mut tx, &user).await.expect("write"));
        tx.commit().await.expect("commit");
        let read = user_by_id(db.reader(), "u1").await.expect("read");
        assert_eq!(
            read.as_ref().map(User::roles),
            Some(&[Role::Customer, Role::Premium][..])
        );
        assert_eq!(
            count_other_admins(db.reader(), "u2").await.expect("count"),
            0
        );
        set(&db, "roles", "customer,administrator").await;
        // Not a valid row, but the count must not take a longer name for `admin`.
        assert_eq!(
            count_other_admins(db.reader(), "u2").await.expect("count"),
            0
        );
    }

    #[tokio::test]
    async fn an_unknown_role_or_corrupt_state_is_a_decode_error() {
        let cases = [
            ("roles", "customer,root"),
            ("preferences", "not json"),
            ("mfa_secret", "not base32!"),
            ("email", "not an email"),
            ("phone", "0800 123"),
            ("avatar_url", "http://example.com/a.png"),
        ];
        for (column, value) in cases {
            let (_dir, db, _) = db_with_ann().await;
            set(&db, column, value).await;
            let err = user_by_id(db.reader(), "u1")
                .await
                .map(|_| ())
                .expect_err(column);
            assert!(
                matches!(&err, platform::db::Error::ColumnDecode { column: c, .. } if c == column),
                "{column}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn mfa_turns_on_only_with_the_secret_the_code_proved() {
        let (_dir, db, mut user) = db_with_ann().await;
        user.start_mfa(TotpSecret::from_bytes(b"first secret"), 2_000)
            .expect("off");
        let mut tx = db.begin().await.expect("begin");
        assert!(start_mfa(&mut tx, &user).await.expect("start"));
        tx.commit().await.expect("commit");
        let unix_secs = 1_111_111_109;
        let step = crate::domain::totp::step_at(unix_secs);
        let code = format!(
            "{:06}",
            crate::domain::totp::code_at_step(b"first secret", step)
        );
        let mut proved = user.clone();
        proved.enable_mfa(&code, unix_secs, 3_000).expect("pending");

        // Meanwhile the enrolment restarted with another secret.
        let mut restarted = user.clone();
        restarted
            .start_mfa(TotpSecret::from_bytes(b"second secret"), 2_500)
            .expect("pending");
        let mut tx = db.begin().await.expect("begin");
        assert!(start_mfa(&mut tx, &restarted).await.expect("restart"));
        assert!(
            !enable_mfa(&mut tx, &proved).await.expect("enable"),
            "the code proved a secret that is no longer pending"
        );
        tx.commit().await.expect("commit");
        let read = user_by_id(db.reader(), "u1")
            .await
            .expect("read")
            .expect("found");
        assert!(!read.mfa().is_enabled());
    }
}

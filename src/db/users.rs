//! Dashboard users and their logins.
//!
//! Passwords are stored as argon2id PHC strings (salt and cost parameters inside the string).
//! A login is a random 256-bit token in the browser's cookie; the database keeps only its
//! SHA-256, so rows read from a leaked database cannot be presented as cookies. Like API keys,
//! tokens carry enough randomness that a plain hash is safe and lets a request find its row by
//! an indexed lookup.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{now_us, Result, Store, StoreError};

/// Shortest password `users create` accepts ([`validate_password`]).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted anywhere (hashing cost does not depend on it much, but a request
/// body of megabytes should not reach the hasher).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest user name.
pub const MAX_NAME_CHARS: usize = 64;

/// A signed-in user, as a request sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A stored user, for `threadline users list`.
#[derive(Clone, Debug, PartialEq)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    /// Unexpired logins (signed-in browsers).
    pub logins: i64,
}

/// At most this many password verifications run at once: each takes ~19 MiB and tens of
/// milliseconds of a core, so a burst of login attempts queues instead of exhausting memory.
static VERIFY_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A hash of a password nobody knows, verified against when the user name does not exist, so
/// an unknown name costs as much time as a wrong password and names cannot be probed.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    hash_password(&hex::encode(secret)).expect("hashing a random password")
});

/// Computes the dummy hash now (argon2: tens of milliseconds of a core), so the first sign-in
/// with an unknown name does not pay for it on an async worker. Called when the server starts.
pub fn prepare_dummy_hash() {
    LazyLock::force(&DUMMY_HASH);
}

/// The argon2id PHC string of `password` with a fresh random salt (the crate's default cost:
/// 19 MiB, 2 passes, 1 lane, as OWASP recommends).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::thread_rng());
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

/// True when `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks a user name: 1–64 characters, no spaces or control characters.
pub fn validate_name(name: &str) -> Result<()> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "user names are 1–{MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::Invalid(
            "user names cannot contain spaces or control characters".into(),
        ));
    }
    Ok(())
}

/// Checks a new password's length.
pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "passwords need at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "passwords are at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Runs CPU-heavy hashing off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Invalid(format!("password hashing failed: {e}")))
}

impl Store {
    /// Creates a user; fails when the name is taken or invalid. The password policy
    /// ([`validate_password`]) is checked by `users create` as soon as it has the password.
    pub async fn create_user(&self, name: &str, password: &str) -> Result<i64> {
        validate_name(name)?;
        if self.user_id(name).await?.is_some() {
            return Err(StoreError::Invalid(format!(
                "a user `{name}` already exists"
            )));
        }
        let password = password.to_string();
        let hash = blocking(move || hash_password(&password)).await??;
        let row = sqlx::query(
            "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(hash)
        .bind(now_us())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    async fn user_id(&self, name: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Every user with the number of its current logins.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.created_at, \
                    (SELECT COUNT(*) FROM login_sessions s \
                     WHERE s.user_id = u.id AND s.expires_at > $1) \
             FROM users u ORDER BY u.name",
        )
        .bind(now_us())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserInfo {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    logins: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn user_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Deletes a user and signs out all of its browsers (its `login_sessions` rows go with it:
    /// `ON DELETE CASCADE`, which SQLite honours because every connection turns `foreign_keys`
    /// on); false when no such user exists.
    pub async fn delete_user(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether a project with this id exists (the header's project switcher).
    pub async fn project_exists(&self, id: i64) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The user when `name` and `password` match. Unknown names are checked against a dummy
    /// hash so that they take as long as a wrong password; so are names no user can have
    /// ([`validate_name`]: too long, control characters such as NUL, which PostgreSQL would
    /// refuse as text), which never reach the database.
    pub async fn check_password(&self, name: &str, password: &str) -> Result<Option<User>> {
        let row = if password.len() > MAX_PASSWORD_BYTES || validate_name(name).is_err() {
            None
        } else {
            sqlx::query("SELECT id, password_hash FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
        };
        let (id, hash) = match row {
            Some(r) => (Some(r.try_get::<i64, _>(0)?), r.try_get::<String, _>(1)?),
            None => (None, DUMMY_HASH.clone()),
        };
        let _slot = VERIFY_SLOTS
            .acquire()
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let password = password.to_string();
        let matches = blocking(move || verify_password(&password, &hash)).await?;
        Ok(match (id, matches) {
            (Some(id), true) => Some(User {
                id,
                name: name.to_string(),
            }),
            _ => None,
        })
    }

    /// Starts a login for `user_id` valid until `expires_at` (epoch µs); returns the token for
    /// the cookie. Expired logins of every user are cleared on the way.
    pub async fn create_login(&self, user_id: i64, expires_at: i64) -> Result<String> {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let now = now_us();
        sqlx::query("DELETE FROM login_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO login_sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash_token(&token))
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The user of an unexpired login token.
    pub async fn login_user(&self, token: &str) -> Result<Option<User>> {
        if token.len() != 64 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT u.id, u.name FROM login_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(hash_token(token))
        .bind(now_us())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(User {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
            })
        })
        .transpose()
    }

    /// Ends a login (sign-out); unknown tokens are ignored.
    pub async fn delete_login(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_sessions WHERE token_hash = $1")
            .bind(hash_token(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_to_salted_argon2id_strings() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(!a.contains("correct horse"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsf", &a));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(validate_name("ada").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}

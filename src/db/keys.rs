//! Projects and API keys. A key is shown once at creation; only its SHA-256 is stored. Keys are
//! 256 random bits, so a plain hash (no salt, no slow KDF) is safe and lets a request find its
//! key by an indexed lookup.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use super::{now_us, Result, Store, StoreError};

const KEY_PREFIX: &str = "tl_";

/// A stored key, without its secret.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyInfo {
    pub id: i64,
    pub project: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Who a valid key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub key_id: i64,
    pub project_id: i64,
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Store {
    /// The project's id, creating the project when it does not exist yet.
    pub async fn ensure_project(&self, name: &str) -> Result<i64> {
        if name.trim().is_empty() || name.chars().count() > 128 {
            return Err(StoreError::Invalid(
                "project names are 1–128 characters".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO projects (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_us())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id FROM projects WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Creates a key for `project` (created if missing); returns the key's id and its secret.
    pub async fn create_key(&self, project: &str, name: &str) -> Result<(i64, String)> {
        let project_id = self.ensure_project(project).await?;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let row = sqlx::query(
            "INSERT INTO api_keys (project_id, name, prefix, hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(project_id)
        .bind(name)
        .bind(&secret[..KEY_PREFIX.len() + 8])
        .bind(hash_key(&secret))
        .bind(now_us())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, secret))
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let rows = sqlx::query(
            "SELECT k.id, p.name, k.name, k.prefix, k.created_at, k.revoked_at \
             FROM api_keys k JOIN projects p ON p.id = k.project_id ORDER BY k.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    id: r.try_get(0)?,
                    project: r.try_get(1)?,
                    name: r.try_get(2)?,
                    prefix: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    revoked_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Revokes a key by id or by its shown prefix; false when nothing matched.
    pub async fn revoke_key(&self, id_or_prefix: &str) -> Result<bool> {
        let id: i64 = id_or_prefix.parse().unwrap_or(-1);
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 \
             WHERE revoked_at IS NULL AND (id = $2 OR prefix = $3)",
        )
        .bind(now_us())
        .bind(id)
        .bind(id_or_prefix)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The owner of a presented key, if it is valid and not revoked.
    pub async fn verify_key(&self, presented: &str) -> Result<Option<KeyOwner>> {
        if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
            return Ok(None);
        }
        let hash = hash_key(presented);
        let row = sqlx::query(
            "SELECT id, project_id, hash FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get(2)?;
        // The index found the row; compare again without data-dependent timing.
        if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(None);
        }
        Ok(Some(KeyOwner {
            key_id: row.try_get(0)?,
            project_id: row.try_get(1)?,
        }))
    }

    /// Every project as (id, name), by name: the dashboard's project switcher.
    pub async fn list_projects(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT id, name FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The id of a key named `name` in the default project, created when missing. Used by the
    /// demo generator, which writes as a client would.
    pub async fn internal_key(&self, name: &str) -> Result<KeyOwner> {
        let row = sqlx::query(
            "SELECT id, project_id FROM api_keys WHERE name = $1 AND project_id = $2 \
             AND revoked_at IS NULL ORDER BY id LIMIT 1",
        )
        .bind(name)
        .bind(super::DEFAULT_PROJECT_ID)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(KeyOwner {
                key_id: row.try_get(0)?,
                project_id: row.try_get(1)?,
            });
        }
        let (key_id, _) = self.create_key("default", name).await?;
        Ok(KeyOwner {
            key_id,
            project_id: super::DEFAULT_PROJECT_ID,
        })
    }
}

//! API keys: created with a random secret shown once, stored as a hash, looked up per request.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Error, Result, sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lists and searches.
    Reader,
    /// Also uploads and deletes documents.
    Writer,
    /// Also creates and deletes collections.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Writer, Role::Admin];

    /// The name the database, the CLI (`--role`) and messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| format!("unknown role '{value}': use reader, writer or admin"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant: String,
    pub role: Role,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: the row, and the secret to hand over once.
pub struct Created {
    pub key: ApiKey,
    pub secret: String,
}

/// Makes a key for `tenant` with `role`.
pub async fn create(
    executor: impl PgExecutor<'_>,
    tenant: &str,
    role: Role,
    name: &str,
) -> Result<Created> {
    // Two v4 UUIDs: 244 bits from the operating system's CSPRNG (uuid draws them via getrandom).
    let secret = format!("adb_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let prefix: String = secret.chars().take(12).collect();
    let key = sqlx::query_as::<_, ApiKey>(
        "INSERT INTO api_key (id, tenant, role, name, prefix, secret_sha256)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, tenant, role, name, prefix, created_at, revoked_at",
    )
    .bind(Uuid::new_v4())
    .bind(tenant)
    .bind(role)
    .bind(name)
    .bind(&prefix)
    .bind(sha256(&secret).as_slice())
    .fetch_one(executor)
    .await?;
    Ok(Created { key, secret })
}

/// The live (not revoked) key with this secret, if any.
pub async fn authenticate(executor: impl PgExecutor<'_>, secret: &str) -> Result<Option<ApiKey>> {
    Ok(sqlx::query_as::<_, ApiKey>(
        "SELECT id, tenant, role, name, prefix, created_at, revoked_at FROM api_key
         WHERE secret_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(sha256(secret).as_slice())
    .fetch_optional(executor)
    .await?)
}

/// Keys, newest first; one tenant's or all.
pub async fn list(executor: impl PgExecutor<'_>, tenant: Option<&str>) -> Result<Vec<ApiKey>> {
    Ok(sqlx::query_as::<_, ApiKey>(
        "SELECT id, tenant, role, name, prefix, created_at, revoked_at FROM api_key
         WHERE $1::text IS NULL OR tenant = $1 ORDER BY created_at DESC",
    )
    .bind(tenant)
    .fetch_all(executor)
    .await?)
}

/// Revokes the key with this id or prefix; revoking twice keeps the first time.
pub async fn revoke(executor: impl PgExecutor<'_>, id_or_prefix: &str) -> Result<ApiKey> {
    let id = Uuid::parse_str(id_or_prefix).ok();
    sqlx::query_as::<_, ApiKey>(
        "UPDATE api_key SET revoked_at = coalesce(revoked_at, now())
         WHERE id = $1 OR prefix = $2
         RETURNING id, tenant, role, name, prefix, created_at, revoked_at",
    )
    .bind(id)
    .bind(id_or_prefix)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| Error::KeyNotFound(id_or_prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_displays_as_the_name_it_is_parsed_from_and_stored_as() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(Role::Writer.to_string(), "writer");
        assert!("Writer".parse::<Role>().is_err());
    }
}

//! Collections: tenant-scoped corpora, found by (tenant, name).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Error, Result, dialect, violated_constraint};

/// What it takes to create a collection.
#[derive(Debug, Clone)]
pub struct NewCollection {
    pub tenant: String,
    pub name: String,
    pub embedding_model: String,
    pub dimensions: i64,
    pub keyword_language: String,
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Collection {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub embedding_model: String,
    pub dimensions: i32,
    pub keyword_language: String,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The rule the database also enforces (`collection_name_format`), checked first for a clear error.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The columns of the row type, in a macro so queries are `concat!`ed `&'static str`s.
macro_rules! columns {
    () => {
        "id, tenant, name, embedding_model, dimensions, keyword_language, settings, created_at"
    };
}

/// Creates a collection and, for a new embedding size, the vector index that will serve it.
pub async fn create(conn: &mut PgConnection, new: &NewCollection) -> Result<Collection> {
    if !is_valid_name(&new.name) {
        return Err(Error::InvalidCollectionName(new.name.clone()));
    }
    let dimensions = dialect::Dimensions::new(new.dimensions)?;
    let mut tx = conn.begin().await?;
    dialect::ensure_vector_index(&mut tx, dimensions).await?;
    let collection = sqlx::query_as::<_, Collection>(concat!(
        "INSERT INTO collection (id, tenant, name, embedding_model, dimensions, keyword_language, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING ",
        columns!(),
    ))
    .bind(Uuid::new_v4())
    .bind(&new.tenant)
    .bind(&new.name)
    .bind(&new.embedding_model)
    .bind(i32::from(dimensions.get()))
    .bind(&new.keyword_language)
    .bind(&new.settings)
    .fetch_one(&mut *tx)
    .await
    .map_err(|err| match violated_constraint(&err) {
        Some("collection_tenant_name_key") => Error::CollectionExists(new.name.clone()),
        Some("collection_name_format") => Error::InvalidCollectionName(new.name.clone()),
        _ => err.into(),
    })?;
    tx.commit().await?;
    Ok(collection)
}

/// The tenant's collection of that name; another tenant's collection is "not found", never "forbidden".
pub async fn get(executor: impl PgExecutor<'_>, tenant: &str, name: &str) -> Result<Collection> {
    sqlx::query_as::<_, Collection>(concat!(
        "SELECT ",
        columns!(),
        " FROM collection WHERE tenant = $1 AND name = $2",
    ))
    .bind(tenant)
    .bind(name)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| Error::CollectionNotFound(name.to_owned()))
}

pub async fn get_by_id(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Collection> {
    sqlx::query_as::<_, Collection>(concat!(
        "SELECT ",
        columns!(),
        " FROM collection WHERE id = $1",
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| Error::CollectionNotFound(id.to_string()))
}

/// The tenant's collections, by name.
pub async fn list(executor: impl PgExecutor<'_>, tenant: &str) -> Result<Vec<Collection>> {
    Ok(sqlx::query_as::<_, Collection>(concat!(
        "SELECT ",
        columns!(),
        " FROM collection WHERE tenant = $1 ORDER BY name",
    ))
    .bind(tenant)
    .fetch_all(executor)
    .await?)
}

/// Deletes a collection with its documents, chunks and jobs (foreign keys cascade, one statement).
pub async fn delete(executor: impl PgExecutor<'_>, tenant: &str, name: &str) -> Result<Uuid> {
    sqlx::query_scalar("DELETE FROM collection WHERE tenant = $1 AND name = $2 RETURNING id")
        .bind(tenant)
        .bind(name)
        .fetch_optional(executor)
        .await?
        .ok_or_else(|| Error::CollectionNotFound(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::is_valid_name;

    #[test]
    fn collection_names_are_url_and_log_safe() {
        for good in ["docs", "hr-policies", "kb_2026", "0day", &"a".repeat(63)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Docs",
            "-docs",
            "_docs",
            "a b",
            "文档",
            "a/b",
            "x'; drop table collection; --",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}

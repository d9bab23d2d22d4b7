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

/// Creates a collection and, for a new embedding size, the vector table that will hold its vectors.
pub async fn create(conn: &mut PgConnection, new: &NewCollection) -> Result<Collection> {
    if !is_valid_name(&new.name) {
        return Err(Error::InvalidCollectionName(new.name.clone()));
    }
    let mut tx = conn.begin().await?;
    let dialect = dialect::Dialect::of(&mut tx).await?;
    let dimensions = dialect.dimensions(new.dimensions)?;
    dialect::ensure_vector_table(&mut tx, dialect, dimensions).await?;
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

/// Deletes a collection with everything derived from it: documents, chunks, vectors, keyword
/// statistics, jobs, tombstones, and the embedding-cache entries no other chunk of the tenant
/// uses. Each table is emptied by name, in one transaction, so it holds on AnalyticDB too, where
/// foreign keys do not cascade.
pub async fn delete(conn: &mut PgConnection, tenant: &str, name: &str) -> Result<Uuid> {
    let mut tx = conn.begin().await?;
    let (id, dimensions): (Uuid, i32) = sqlx::query_as(
        "SELECT id, dimensions FROM collection WHERE tenant = $1 AND name = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::CollectionNotFound(name.to_owned()))?;
    dialect::delete_vectors(&mut tx, dimensions, "WHERE v.collection_id = $1", id).await?;
    let hashes: Vec<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT DISTINCT embedding_sha256 FROM chunk WHERE collection_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    for statement in [
        "DELETE FROM reindex_vector WHERE collection_id = $1",
        "DELETE FROM keyword_posting WHERE collection_id = $1",
        "DELETE FROM keyword_term WHERE collection_id = $1",
        "DELETE FROM keyword_stats WHERE collection_id = $1",
        "DELETE FROM chunk WHERE collection_id = $1",
        "DELETE FROM ingest_job WHERE collection_id = $1",
        "DELETE FROM tombstone WHERE collection_id = $1",
        "DELETE FROM document WHERE collection_id = $1",
        "DELETE FROM collection WHERE id = $1",
    ] {
        sqlx::query(statement).bind(id).execute(&mut *tx).await?;
    }
    let hashes: Vec<Vec<u8>> = hashes.into_iter().flatten().collect();
    super::embedding_cache::forget(&mut *tx, tenant, &hashes).await?;
    tx.commit().await?;
    Ok(id)
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

//! The embedding cache: `(tenant, model, dimensions, sha256 of the embedded text) → vector`.
//!
//! Re-ingesting unchanged text costs no API call. Entries belong to one tenant, so a cache hit says
//! nothing about another tenant's documents. The cache holds derived personal data: deleting or
//! purging a document removes the entries no remaining chunk of its tenant uses ([`forget`]).

use std::collections::HashMap;

use sqlx::PgExecutor;

use super::Result;

/// The cached vectors among `hashes`, by hash.
pub async fn lookup(
    executor: impl PgExecutor<'_>,
    tenant: &str,
    model: &str,
    dimensions: usize,
    hashes: &[[u8; 32]],
) -> Result<HashMap<[u8; 32], Vec<f32>>> {
    if hashes.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<&[u8]> = hashes.iter().map(<[u8; 32]>::as_slice).collect();
    let rows: Vec<(Vec<u8>, Vec<f32>)> = sqlx::query_as(
        "SELECT text_sha256, embedding FROM embedding_cache
         WHERE tenant = $4 AND model = $1 AND dimensions = $2 AND text_sha256 = ANY($3)",
    )
    .bind(model)
    .bind(i32::try_from(dimensions).unwrap_or(i32::MAX))
    .bind(&keys)
    .bind(tenant)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(hash, vector)| Some((<[u8; 32]>::try_from(hash).ok()?, vector)))
        .collect())
}

/// Adds entries (all of `dimensions` floats); ones already cached are left as they are.
pub async fn insert(
    executor: impl PgExecutor<'_>,
    tenant: &str,
    model: &str,
    dimensions: usize,
    entries: &[([u8; 32], &[f32])],
) -> Result<u64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let keys: Vec<&[u8]> = entries.iter().map(|(hash, _)| hash.as_slice()).collect();
    let vectors: Vec<f32> = entries
        .iter()
        .flat_map(|(_, vector)| vector.iter().copied())
        .collect();
    Ok(sqlx::query(
        "INSERT INTO embedding_cache (tenant, model, dimensions, text_sha256, embedding)
         SELECT $5, $1, $2, e.hash, ($4::real[])[(e.n - 1) * $2 + 1 : e.n * $2]
         FROM unnest($3::bytea[]) WITH ORDINALITY AS e(hash, n)
         ON CONFLICT DO NOTHING",
    )
    .bind(model)
    .bind(i32::try_from(dimensions).unwrap_or(i32::MAX))
    .bind(&keys)
    .bind(&vectors)
    .bind(tenant)
    .execute(executor)
    .await?
    .rows_affected())
}

/// Removes `tenant`'s entries among `hashes` that no chunk of the tenant uses any more (call it
/// after deleting chunks, in the same transaction). Returns how many went.
pub async fn forget(
    executor: impl PgExecutor<'_>,
    tenant: &str,
    hashes: &[Vec<u8>],
) -> Result<u64> {
    if hashes.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(
        "DELETE FROM embedding_cache e
         WHERE e.tenant = $1 AND e.text_sha256 = ANY($2)
           AND NOT EXISTS (
               SELECT 1 FROM chunk c JOIN collection col ON col.id = c.collection_id
               WHERE c.embedding_sha256 = e.text_sha256 AND col.tenant = e.tenant)",
    )
    .bind(tenant)
    .bind(hashes)
    .execute(executor)
    .await?
    .rows_affected())
}

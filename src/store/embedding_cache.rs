//! The embedding cache: `(model, dimensions, sha256 of the embedded text) → vector`.
//!
//! Re-ingesting unchanged text costs no API call. The cache holds derived personal data, so purge
//! removes the entries no remaining chunk uses.

use std::collections::HashMap;

use sqlx::PgExecutor;

use super::Result;

/// The cached vectors among `hashes`, by hash.
pub async fn lookup(
    executor: impl PgExecutor<'_>,
    model: &str,
    dimensions: usize,
    hashes: &[[u8; 32]],
) -> Result<HashMap<[u8; 32], Vec<f32>>> {
    if hashes.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<&[u8]> = hashes.iter().map(<[u8; 32]>::as_slice).collect();
    let rows: Vec<(Vec<u8>, Vec<f32>)> = sqlx::query_as(
        "SELECT text_sha256, embedding::real[] FROM embedding_cache
         WHERE model = $1 AND dimensions = $2 AND text_sha256 = ANY($3)",
    )
    .bind(model)
    .bind(i32::try_from(dimensions).unwrap_or(i32::MAX))
    .bind(&keys)
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
        "INSERT INTO embedding_cache (model, dimensions, text_sha256, embedding)
         SELECT $1, $2, e.hash, ($4::real[])[(e.n - 1) * $2 + 1 : e.n * $2]::vector
         FROM unnest($3::bytea[]) WITH ORDINALITY AS e(hash, n)
         ON CONFLICT DO NOTHING",
    )
    .bind(model)
    .bind(i32::try_from(dimensions).unwrap_or(i32::MAX))
    .bind(&keys)
    .bind(&vectors)
    .execute(executor)
    .await?
    .rows_affected())
}
